package delivery

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/circa-ils/circa/profiles/delivery/sftptest"
)

// TestLogsHoldNoSecrets delivers a file holding patron data through a
// failing and then a working server and checks the log: one line per
// delivery and per failure, never the key or the file's content.
func TestLogsHoldNoSecrets(t *testing.T) {
	srv := startServer(t)
	var buf bytes.Buffer
	c, err := NewClient(sftpTarget(srv, "/out"), Options{Logger: zerolog.New(&buf), Retry: fastRetry})
	if err != nil {
		t.Fatal(err)
	}
	content := []byte("<patronName>Lovelace, Ada</patronName><email>ada@example.org</email>\n")
	d := prepare(t, "patrons.xml", content)
	srv.SetFaults(sftptest.Faults{CutAfterBytes: 10})
	if _, err := c.Deliver(context.Background(), &memStore{}, d); err != nil {
		t.Fatal(err)
	}
	log := buf.String()
	if n := strings.Count(log, `"message":"delivered"`); n != 1 {
		t.Fatalf("%d delivered lines in\n%s", n, log)
	}
	if n := strings.Count(log, `"message":"delivery attempt failed"`); n != 1 {
		t.Fatalf("%d failure lines in\n%s", n, log)
	}
	for _, secret := range []string{"PRIVATE KEY", "Lovelace", "ada@example.org", strings.Fields(string(srv.ClientKeyPEM))[4]} {
		if strings.Contains(log, secret) {
			t.Fatalf("log holds %q:\n%s", secret, log)
		}
	}
}

func TestCheck(t *testing.T) {
	srv := startServer(t)
	caps, err := newClient(t, sftpTarget(srv, "/out"), fastRetry).Check(context.Background())
	if err != nil || !caps.PosixRename || caps.Fsync {
		t.Fatalf("check: %+v, %v (pkg/sftp's server offers posix-rename but not fsync)", caps, err)
	}
	srv.SetFaults(sftptest.Faults{NoPosixRename: true})
	if caps, err := newClient(t, sftpTarget(srv, "/out"), fastRetry).Check(context.Background()); err != nil || caps.PosixRename {
		t.Fatalf("check without posix-rename: %+v, %v", caps, err)
	}
	if _, err := newClient(t, sftpTarget(srv, "/missing"), fastRetry).Check(context.Background()); !IsPermanent(err) {
		t.Fatalf("check of a missing dir: %v", err)
	}
	caps, err = newClient(t, Target{Kind: KindLocal, LocalDir: t.TempDir()}, fastRetry).Check(context.Background())
	if err != nil || !caps.PosixRename || !caps.Fsync {
		t.Fatalf("local check: %+v, %v", caps, err)
	}
}

// TestCheckProvesTheTargetTakesFiles: a check fails, naming the problem,
// on a missing or unwritable local directory and on a host whose key is
// not the pinned one, and leaves nothing behind where it passes.
func TestCheckProvesTheTargetTakesFiles(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if _, err := newClient(t, Target{Kind: KindLocal, LocalDir: dir}, fastRetry).Check(ctx); err != nil {
		t.Fatalf("check of a writable directory: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("check left %v behind", ents)
	}
	_, err := newClient(t, Target{Kind: KindLocal, LocalDir: filepath.Join(dir, "missing")}, fastRetry).Check(ctx)
	if !errors.Is(err, ErrNoDir) || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("check of a missing directory: %v", err)
	}
	// A directory that refuses new files: one without write permission, or
	// for root (whom permissions do not stop) sysfs.
	readOnly := filepath.Join(dir, "ro")
	if os.Geteuid() == 0 {
		readOnly = "/sys"
	} else if err := os.Mkdir(readOnly, 0o500); err != nil {
		t.Fatal(err)
	}
	_, err = newClient(t, Target{Kind: KindLocal, LocalDir: readOnly}, fastRetry).Check(ctx)
	if !errors.Is(err, ErrPermission) || !IsPermanent(err) || !strings.Contains(err.Error(), "cannot create a file") {
		t.Fatalf("check of a directory that takes no files: %v", err)
	}

	srv, other := startServer(t), sftptest.Start(t)
	tg := sftpTarget(srv, "/out")
	// The pinned line names srv's address with another server's key.
	tg.KnownHosts = strings.Fields(srv.KnownHosts)[0] + " " + strings.Join(strings.Fields(other.KnownHosts)[1:], " ")
	if _, err := newClient(t, tg, fastRetry).Check(ctx); !errors.Is(err, ErrHostKey) {
		t.Fatalf("check of a host with another key: %v", err)
	}
	if n := srv.Logins(); n != 0 {
		t.Fatalf("the client logged in to a host it does not know (%d logins)", n)
	}
}
