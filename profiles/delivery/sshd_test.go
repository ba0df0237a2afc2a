package delivery

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/circa-ils/circa/profiles/delivery/sftptest"
)

// TestOpenSSH runs delivery and pick-up against Debian's OpenSSH sshd,
// started as a throw-away daemon on a loopback port with its own config,
// keys and pid file (reference/publishing.md 5.3).
func TestOpenSSH(t *testing.T) {
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

// startSSHD starts Debian's sshd and returns a target for it (RemoteDir
// unset) and its scratch directory.
func startSSHD(t *testing.T) (Target, string) {
	t.Helper()
	o := sftptest.StartOpenSSH(t)
	return Target{Kind: KindSFTP, Host: o.Host, Port: o.Port, User: o.User, PrivateKey: string(o.ClientKeyPEM),
		KnownHosts: o.KnownHosts}, o.Dir
}
