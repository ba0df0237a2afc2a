package sftptest

import (
	"bufio"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/circa-ils/circa/internal/conformance"
)

// SSHDPath is where Debian's OpenSSH server is installed.
const SSHDPath = "/usr/sbin/sshd"

// OpenSSH is a throw-away OpenSSH sshd serving SFTP on a loopback port.
type OpenSSH struct {
	Host         string
	Port         int
	User         string // the current user, whom the client key logs in as
	ClientKeyPEM []byte
	KnownHosts   string // the host key, pinned for Host:Port
	Dir          string // sshd's scratch directory; paths under it are reachable over SFTP
}

// StartOpenSSH starts Debian's sshd in the foreground on a free loopback
// port, with its own host key, client key and configuration in a temporary
// directory (internal-sftp, public keys only). It runs only in make
// conformance, as root (sshd needs /run/sshd), and fails the test there when
// sshd is missing; elsewhere it skips the test.
// The daemon is killed and reaped when the test ends, and its log shown if
// the test failed.
func StartOpenSSH(tb testing.TB) *OpenSSH {
	tb.Helper()
	conformance.Only(tb, "the check against OpenSSH's sshd ("+SSHDPath+")")
	if _, err := os.Stat(SSHDPath); err != nil {
		tb.Fatalf("%s=1 but %s is missing (apt-get install openssh-server): %v", conformance.Env, SSHDPath, err)
	}
	me, err := user.Current()
	if err != nil {
		tb.Fatal(err)
	}
	// sshd refuses to start without its privilege separation directory. It
	// is left in place afterwards: another package's test may have an sshd
	// running that needs it for every new connection.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		tb.Fatalf("create /run/sshd: %v", err)
	}
	dir := tb.TempDir()
	writeKey := func(name string) (ssh.Signer, []byte) {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			tb.Fatal(err)
		}
		block, err := ssh.MarshalPrivateKey(priv, "")
		if err != nil {
			tb.Fatal(err)
		}
		pemBytes := pem.EncodeToMemory(block)
		if err := os.WriteFile(filepath.Join(dir, name), pemBytes, 0o600); err != nil {
			tb.Fatal(err)
		}
		s, err := ssh.NewSignerFromKey(priv)
		if err != nil {
			tb.Fatal(err)
		}
		return s, pemBytes
	}
	host, _ := writeKey("host_ed25519")
	client, clientPEM := writeKey("client_ed25519")
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), ssh.MarshalAuthorizedKey(client.PublicKey()), 0o600); err != nil {
		tb.Fatal(err)
	}

	// Take a free port from the kernel, then hand it to sshd.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()

	cfg := filepath.Join(dir, "sshd_config")
	conf := fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
HostKey %s
PidFile %s
AuthorizedKeysFile %s
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
Subsystem sftp internal-sftp
LogLevel VERBOSE
`, port, filepath.Join(dir, "host_ed25519"), filepath.Join(dir, "sshd.pid"), filepath.Join(dir, "authorized_keys"))
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		tb.Fatal(err)
	}
	if out, err := exec.Command(SSHDPath, "-t", "-f", cfg).CombinedOutput(); err != nil {
		tb.Fatalf("sshd -t: %v\n%s", err, out)
	}

	cmd := exec.Command(SSHDPath, "-D", "-e", "-f", cfg)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	ready := make(chan bool, 1)
	logDone := make(chan []string, 1)
	go func() {
		var lines []string
		sc := bufio.NewScanner(stderr)
		signalled := false
		for sc.Scan() {
			lines = append(lines, sc.Text())
			if !signalled && strings.Contains(sc.Text(), "Server listening on 127.0.0.1 port") {
				ready <- true
				signalled = true
			}
		}
		if !signalled {
			ready <- false
		}
		logDone <- lines
	}()
	stop := func() []string {
		cmd.Process.Kill()
		lines := <-logDone
		cmd.Wait()
		return lines
	}
	// A guard against a daemon that never comes up, not a timing check.
	select {
	case ok := <-ready:
		if !ok {
			tb.Fatalf("sshd exited before listening:\n%s", strings.Join(stop(), "\n"))
		}
	case <-time.After(30 * time.Second):
		tb.Fatalf("sshd did not start listening:\n%s", strings.Join(stop(), "\n"))
	}
	tb.Cleanup(func() {
		lines := stop()
		if tb.Failed() {
			tb.Logf("sshd log:\n%s", strings.Join(lines, "\n"))
		}
	})
	addr := net.JoinHostPort("127.0.0.1", fmt.Sprint(port))
	return &OpenSSH{Host: "127.0.0.1", Port: port, User: me.Username, ClientKeyPEM: clientPEM, Dir: dir,
		KnownHosts: knownhosts.Line([]string{knownhosts.Normalize(addr)}, host.PublicKey())}
}
