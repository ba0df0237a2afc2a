package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Process is a child process (the server under test or the echo) in its
// own process group, so stopping it stops everything it started.
type Process struct {
	cmd   *exec.Cmd
	done  chan struct{}
	err   error
	Addrs Addrs
}

// Addrs are the addresses a circa process prints on start-up.
type Addrs struct {
	SIP2, SIP2TLS, HTTP string
	CA                  string // the CA file of the TLS listener, when printed
}

// parseAddrLine reads one start-up line ("  sip2      ADDR",
// "  sip2-tls  ADDR (CA FILE)", "  http      http://ADDR (…)").
func (a *Addrs) parseAddrLine(line string) {
	f := strings.Fields(line)
	if len(f) < 2 || !strings.HasPrefix(line, "  ") {
		return
	}
	switch f[0] {
	case "sip2":
		a.SIP2 = f[1]
	case "sip2-tls":
		a.SIP2TLS = f[1]
		if len(f) >= 4 && f[2] == "(CA" {
			a.CA = strings.TrimSuffix(f[3], ")")
		}
	case "http":
		a.HTTP = strings.TrimPrefix(f[1], "http://")
	}
}

// maxChildLog bounds a child's log file: a server logging every message
// writes megabytes a second, and a long run must not fill the disk.
const maxChildLog = 64 << 20

// cappedLog writes up to a limit and then drops the rest, saying so once.
type cappedLog struct {
	f    *os.File
	left int64
}

func (c *cappedLog) Write(p []byte) (int, error) {
	if c.left <= 0 {
		return len(p), nil
	}
	n := int64(len(p))
	if n > c.left {
		n = c.left
	}
	c.left -= n
	if _, err := c.f.Write(p[:n]); err != nil {
		return 0, err
	}
	if c.left == 0 {
		fmt.Fprintf(c.f, "\n[circa bench: log cut at %d MiB]\n", maxChildLog>>20)
	}
	return len(p), nil
}

// StartProcess runs exe with args, its stderr going to logFile (up to
// maxChildLog bytes), and waits until it has printed its HTTP address (the
// last listener it reports).
func StartProcess(ctx context.Context, exe string, args []string, logFile string) (*Process, error) {
	logf, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stderr = &cappedLog{f: logf, left: maxChildLog}
	out, err := cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", filepath.Base(exe), err)
	}
	p := &Process{cmd: cmd, done: make(chan struct{})}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		seen := false
		for sc.Scan() {
			if !seen {
				p.Addrs.parseAddrLine(sc.Text())
				if p.Addrs.HTTP != "" {
					seen = true
					close(ready)
				}
			}
		}
		io.Copy(io.Discard, out)
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	select {
	case <-ready:
		return p, nil
	case <-p.done:
		return nil, fmt.Errorf("%s %s exited before listening (%v); its log is %s", filepath.Base(exe), args[0], p.err, logFile)
	case <-time.After(60 * time.Second):
	case <-ctx.Done():
	}
	p.Kill()
	return nil, fmt.Errorf("%s %s did not start listening; its log is %s", filepath.Base(exe), args[0], logFile)
}

// PID is the child's process id.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Kill sends SIGKILL to the whole process group and waits for the exit.
func (p *Process) Kill() error {
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
	return nil
}

// Stop asks the process group to exit (SIGTERM) and kills it if it has
// not after grace.
func (p *Process) Stop(grace time.Duration) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
		var ee *exec.ExitError
		if errors.As(p.err, &ee) {
			return nil // a signal exit is what was asked for
		}
		return p.err
	case <-time.After(grace):
		return p.Kill()
	}
}
