package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// systemdSocket listens as systemd does for a Type=notify service and
// points NOTIFY_SOCKET at it.
func systemdSocket(t *testing.T, watchdogUsec string) *net.UnixConn {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Net: "unixgram", Name: path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	t.Setenv("WATCHDOG_USEC", watchdogUsec)
	t.Setenv("WATCHDOG_PID", "")
	return c
}

func nextState(t *testing.T, c *net.UnixConn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("no word to systemd: %v", err)
	}
	return string(buf[:n])
}

// startServe runs `circa serve` on dir with the extra flags until the test
// ends, and returns what it printed so far and its exit channel.
func startServe(t *testing.T, dir string, extra ...string) (context.CancelFunc, *syncBuffer, chan int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan int, 1)
	args := append([]string{"serve", "--demo", "--data-dir", dir, "--http-addr", "127.0.0.1:0",
		"--sip2-addr", "127.0.0.1:0", "--sip2-tls-addr", "127.0.0.1:0"}, extra...)
	go func() { done <- execute(ctx, args, nil, out, &syncBuffer{}) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("serve did not stop")
		}
	})
	return cancel, out, done
}

func printedAddr(t *testing.T, out, name string) string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == name {
			return f[1]
		}
	}
	t.Fatalf("%s not printed: %q", name, out)
	return ""
}

// Under a Type=notify unit circa says READY=1 only once every listener is
// bound and served, feeds the watchdog while the store commits, and says
// STOPPING=1 on SIGTERM.
func TestServeTellsSystemdReadyWatchdogAndStopping(t *testing.T) {
	sock := systemdSocket(t, "400000")
	cancel, out, done := startServe(t, seededDir(t), "--log-level", "warn")

	if got := nextState(t, sock); got != "READY=1" {
		t.Fatalf("first word %q, want READY=1", got)
	}
	// Ready means serving: every address is printed and answers now.
	printed := out.String()
	resp, err := http.Get(printedAddr(t, printed, "http") + "/healthz")
	if err != nil {
		t.Fatalf("ready but HTTP refuses: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz %d", resp.StatusCode)
	}
	for _, name := range []string{"sip2", "sip2-tls"} {
		c, err := net.Dial("tcp", printedAddr(t, printed, name))
		if err != nil {
			t.Fatalf("ready but %s refuses: %v", name, err)
		}
		c.Close()
	}
	for i := 0; i < 2; i++ {
		if got := nextState(t, sock); got != "WATCHDOG=1" {
			t.Fatalf("beat %d: %q", i, got)
		}
	}
	cancel()
	for {
		got := nextState(t, sock)
		if got == "STOPPING=1" {
			break
		}
		if got != "WATCHDOG=1" {
			t.Fatalf("on shutdown: %q", got)
		}
	}
	if code := <-done; code != 0 {
		t.Fatalf("serve exit %d", code)
	}
	done <- 0 // for the cleanup
}

// logrotate renames the file and sends SIGHUP: the lines after it go to a
// new file at the same path, the old one keeps what came before.
func TestServeReopensItsLogFileOnSIGHUP(t *testing.T) {
	logs := filepath.Join(t.TempDir(), "circa.log")
	cancel, out, done := startServe(t, seededDir(t), "--log-file", logs)
	waitServing(t, out, done)
	waitForLine(t, logs, "serving")

	rotated := logs + ".1"
	if err := os.Rename(logs, rotated); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	// The certificate reload follows the reopen and logs to the new file.
	waitForLine(t, logs, "TLS certificate reloaded")
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("serve exit %d", code)
	}
	done <- 0
	waitForLine(t, logs, "stopped")
	old, err := os.ReadFile(rotated)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(old), "reloaded") || strings.Contains(string(old), "stopped") {
		t.Errorf("lines after the reopen went to the rotated file:\n%s", old)
	}
	if fi, err := os.Stat(logs); err != nil || fi.Mode().Perm()&0o007 != 0 {
		t.Errorf("new log file: %v %v (others must not read it)", fi.Mode(), err)
	}
}

// waitForLine waits until the JSON log file at path has a line whose
// message is msg.
func waitForLine(t *testing.T, path, msg string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if hasLogLine(t, path, msg) {
			return
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(path)
			t.Fatalf("%s: no line %q in\n%s", path, msg, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func hasLogLine(t *testing.T, path, msg string) bool {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return false
	} else if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var line struct {
			Message string `json:"message"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("%s: not a JSON line: %q", path, sc.Text())
		}
		if line.Message == msg {
			return true
		}
	}
	return false
}

func TestLogFileReopenKeepsTheOldFileWhenTheNewCannotBeOpened(t *testing.T) {
	path := filepath.Join(t.TempDir(), "circa.log")
	lf, err := openLogFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	lf.Write([]byte("one\n"))
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := lf.Reopen(); err != nil {
		t.Fatal(err)
	}
	lf.Write([]byte("two\n"))
	// A directory where the file should be: the reopen fails (for root
	// too) and lines go on to the file in use.
	if err := os.Rename(path, path+".2"); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(path, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := lf.Reopen(); err == nil {
		t.Fatal("reopen onto a directory succeeded")
	}
	if _, err := lf.Write([]byte("three\n")); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{".1": "one\n", ".2": "two\nthree\n"} {
		b, err := os.ReadFile(path + name)
		if err != nil || string(b) != want {
			t.Errorf("%s: %q %v, want %q", name, b, err, want)
		}
	}
}
