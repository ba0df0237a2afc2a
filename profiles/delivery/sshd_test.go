package delivery

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
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
)

const sshdPath = "/usr/sbin/sshd"

// TestOpenSSH runs delivery and pick-up against Debian's OpenSSH sshd,
// started as a throw-away daemon on a loopback port with its own config,
// keys and pid file (reference/publishing.md 5.3).
func TestOpenSSH(t *testing.T) {
	if os.Getenv("CIRCA_SSHD") != "1" {
		t.Skip("set CIRCA_SSHD=1 to run against OpenSSH's sshd (" + sshdPath + ") on 127.0.0.1")
	}
	tg, dir := startSSHD(t)
	drop := filepath.Join(dir, "drop")
	if err := os.Mkdir(drop, 0o755); err != nil {
		t.Fatal(err)
	}
	tg.RemoteDir = drop
	c := newClient(t, tg, fastRetry)
	ctx := context.Background()

	t.Run("extensions", func(t *testing.T) {
		caps, err := c.Check(ctx)
		if err != nil || !caps.PosixRename || !caps.Fsync {
			t.Fatalf("OpenSSH should offer posix-rename and fsync: %+v, %v", caps, err)
		}
	})

	t.Run("deliver", func(t *testing.T) {
		content := payload(2 << 20)
		d := prepare(t, "circa_bursar_r1_20261127T040000Z_1.xml", content)
		got, err := c.Deliver(ctx, &memStore{}, d)
		if err != nil || got.Step != StepDone || got.Attempts != 1 {
			t.Fatalf("deliver: %+v, %v", got, err)
		}
		assertDelivered(t, drop, d, content)
		// Clean up for the next subtest.
		for _, n := range []string{d.Name, ManifestName(d.Name)} {
			if err := os.Remove(filepath.Join(drop, n)); err != nil {
				t.Fatal(err)
			}
		}
	})

	t.Run("killed before rename, resumed by a new client", func(t *testing.T) {
		content := payload(100 << 10)
		d := prepare(t, "killed.dat", content)
		st := &memStore{kill: func(_ int, d Delivery) (bool, bool) { return d.Step == StepUploadedTemp, true }}
		if _, err := c.Deliver(ctx, st, d); !errors.Is(err, errKilled) {
			t.Fatalf("want the simulated kill, got %v", err)
		}
		st.kill = nil
		got, err := newClient(t, tg, fastRetry).Resume(ctx, st, st.last(t))
		if err != nil || got.Step != StepDone {
			t.Fatalf("resume: %+v, %v", got, err)
		}
		assertDelivered(t, drop, d, content)
	})

	t.Run("collect", func(t *testing.T) {
		local := t.TempDir()
		done, err := c.Collect(ctx, CollectOptions{Pattern: "killed.*", LocalDir: local, RequireManifest: true},
			func(context.Context, Fetched) error { return nil })
		if err != nil || len(done) != 1 || done[0].Manifest == nil {
			t.Fatalf("collect: %+v, %v", done, err)
		}
		if got := dirNames(t, filepath.Join(drop, ArchiveDir)); len(got) != 2 {
			t.Fatalf("archive holds %q", got)
		}
	})

	t.Run("wrong host key", func(t *testing.T) {
		bad := tg
		pub, _, _ := ed25519.GenerateKey(rand.Reader)
		k, _ := ssh.NewPublicKey(pub)
		bad.KnownHosts = knownhosts.Line([]string{knownhosts.Normalize(tg.Addr())}, k)
		_, err := newClient(t, bad, fastRetry).Deliver(ctx, &memStore{}, prepare(t, "nope.dat", []byte("x")))
		if !errors.Is(err, ErrHostKey) || !IsPermanent(err) {
			t.Fatalf("wrong host key: %v", err)
		}
	})

	t.Run("unauthorised key", func(t *testing.T) {
		bad := tg
		_, priv, _ := ed25519.GenerateKey(rand.Reader)
		block, _ := ssh.MarshalPrivateKey(priv, "")
		bad.PrivateKey = string(pem.EncodeToMemory(block))
		_, err := newClient(t, bad, fastRetry).Deliver(ctx, &memStore{}, prepare(t, "nope.dat", []byte("x")))
		if !errors.Is(err, ErrAuth) || !IsPermanent(err) {
			t.Fatalf("unauthorised key: %v", err)
		}
	})
}

// startSSHD starts sshd in the foreground on a free loopback port and
// returns a target for it (RemoteDir unset) and its scratch directory. The
// daemon is killed and reaped, by its own pid, when the test ends.
func startSSHD(t *testing.T) (Target, string) {
	t.Helper()
	if _, err := os.Stat(sshdPath); err != nil {
		t.Fatalf("CIRCA_SSHD=1 but %s is missing (apt-get install openssh-server): %v", sshdPath, err)
	}
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	// sshd refuses to start without its privilege separation directory.
	if _, err := os.Stat("/run/sshd"); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			t.Fatalf("create /run/sshd: %v", err)
		}
		t.Cleanup(func() { os.Remove("/run/sshd") })
	}

	dir := t.TempDir()
	writeKey := func(name string) (ssh.Signer, []byte) {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		block, err := ssh.MarshalPrivateKey(priv, "")
		if err != nil {
			t.Fatal(err)
		}
		pemBytes := pem.EncodeToMemory(block)
		if err := os.WriteFile(filepath.Join(dir, name), pemBytes, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := ssh.NewSignerFromKey(priv)
		if err != nil {
			t.Fatal(err)
		}
		return s, pemBytes
	}
	host, _ := writeKey("host_ed25519")
	client, clientPEM := writeKey("client_ed25519")
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), ssh.MarshalAuthorizedKey(client.PublicKey()), 0o600); err != nil {
		t.Fatal(err)
	}

	// Take a free port from the kernel, then hand it to sshd.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
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
		t.Fatal(err)
	}
	if out, err := exec.Command(sshdPath, "-t", "-f", cfg).CombinedOutput(); err != nil {
		t.Fatalf("sshd -t: %v\n%s", err, out)
	}

	cmd := exec.Command(sshdPath, "-D", "-e", "-f", cfg)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
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
			t.Fatalf("sshd exited before listening:\n%s", strings.Join(stop(), "\n"))
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("sshd did not start listening:\n%s", strings.Join(stop(), "\n"))
	}
	t.Cleanup(func() {
		lines := stop()
		if t.Failed() {
			t.Logf("sshd log:\n%s", strings.Join(lines, "\n"))
		}
	})

	tg := Target{Kind: KindSFTP, Host: "127.0.0.1", Port: port, User: me.Username, PrivateKey: string(clientPEM)}
	tg.KnownHosts = knownhosts.Line([]string{knownhosts.Normalize(tg.Addr())}, host.PublicKey())
	return tg, dir
}
