package delivery

import (
	"bytes"
	"context"
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
