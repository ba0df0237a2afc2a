package delivery

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/circa-ils/circa/profiles/delivery/sftptest"
)

// deliverAll sends n files of size bytes over one session and returns what
// it prepared, with each file's content.
func deliverAll(t *testing.T, ss *Session, st StateStore, prefix string, n, size int) ([]Delivery, [][]byte) {
	t.Helper()
	ds := make([]Delivery, n)
	contents := make([][]byte, n)
	for i := range ds {
		contents[i] = append([]byte(fmt.Sprintf("%s %d\n", prefix, i)), payload(size)...)
		ds[i] = prepare(t, fmt.Sprintf("%s_%03d.dat", prefix, i), contents[i])
		got, err := ss.Deliver(context.Background(), st, ds[i])
		if err != nil || got.Step != StepDone {
			t.Fatalf("file %d: %+v, %v", i, got, err)
		}
	}
	return ds, contents
}

// assertAllDelivered checks that dir holds each file once, complete, with
// its manifest, and nothing else (no temporaries).
func assertAllDelivered(t *testing.T, dir string, ds []Delivery, contents [][]byte) {
	t.Helper()
	var want []string
	for i, d := range ds {
		want = append(want, d.Name, ManifestName(d.Name))
		b, err := os.ReadFile(filepath.Join(dir, d.Name))
		if err != nil || string(b) != string(contents[i]) {
			t.Fatalf("%s: %d bytes, %v; want the %d sent", d.Name, len(b), err, len(contents[i]))
		}
	}
	slices.Sort(want)
	if got := dirNames(t, dir); !slices.Equal(got, want) {
		t.Fatalf("directory holds %q, want %q", got, want)
	}
}

// TestSessionDeliversManyFilesOverOneConnection: the files of a run share
// one SSH login, and a Check before them shares it too.
func TestSessionDeliversManyFilesOverOneConnection(t *testing.T) {
	srv := startServer(t)
	ss := newClient(t, sftpTarget(srv, "/out"), fastRetry).Open()
	defer ss.Close()
	if _, err := ss.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	ds, contents := deliverAll(t, ss, &memStore{}, "sms", 25, 200)
	if n := srv.Logins(); n != 1 {
		t.Fatalf("a check and %d files took %d logins, want 1", len(ds), n)
	}
	assertAllDelivered(t, srv.Path("/out"), ds, contents)
}

// TestSessionResumesAfterConnectionDroppedMidRun: the connection is cut in
// the middle of the third file's upload; the session opens a new one, the
// third file is sent again from its saved step and the rest follow on the
// new connection, each file arriving once and whole.
func TestSessionResumesAfterConnectionDroppedMidRun(t *testing.T) {
	srv := startServer(t)
	ss := newClient(t, sftpTarget(srv, "/out"), fastRetry).Open()
	defer ss.Close()
	const size = 64 << 10
	ds, contents := deliverAll(t, ss, &memStore{}, "before", 2, size)
	srv.SetFaults(sftptest.Faults{CutAfterBytes: size / 2})
	st := &memStore{}
	more, moreContents := deliverAll(t, ss, st, "after", 4, size)
	if n := srv.Logins(); n != 2 {
		t.Fatalf("%d logins, want 2: one before the cut, one after", n)
	}
	var retried []string
	for _, d := range st.saves {
		if d.LastError != "" && !slices.Contains(retried, d.Name) {
			retried = append(retried, d.Name)
		}
	}
	if !slices.Equal(retried, []string{more[0].Name}) {
		t.Fatalf("files retried: %q, want only the one cut", retried)
	}
	assertAllDelivered(t, srv.Path("/out"), append(ds, more...), append(contents, moreContents...))
}

// TestSessionSurvivesPausesBetweenFiles: a connection kept for a run waits
// between its files (the next file is being built) longer than the stall
// timeout without being taken for a stalled one.
func TestSessionSurvivesPausesBetweenFiles(t *testing.T) {
	srv := startServer(t)
	tg := sftpTarget(srv, "/out")
	tg.Timeout = 150 * time.Millisecond
	ss := newClient(t, tg, Retry{Attempts: 1}).Open()
	defer ss.Close()
	ds, contents := deliverAll(t, ss, &memStore{}, "first", 1, 1<<10)
	time.Sleep(4 * tg.Timeout)
	more, moreContents := deliverAll(t, ss, &memStore{}, "second", 1, 1<<10)
	if n := srv.Logins(); n != 1 {
		t.Fatalf("%d logins: the pause broke the connection", n)
	}
	assertAllDelivered(t, srv.Path("/out"), append(ds, more...), append(contents, moreContents...))
}

// TestSessionKeepsConnectionAfterRefusal: a permanent failure of one file
// (its source changed) does not cost the next file a new login.
func TestSessionKeepsConnectionAfterRefusal(t *testing.T) {
	srv := startServer(t)
	ss := newClient(t, sftpTarget(srv, "/out"), fastRetry).Open()
	defer ss.Close()
	bad := prepare(t, "changed.dat", []byte("as prepared"))
	if err := os.WriteFile(bad.Source, []byte("changed since"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ss.Deliver(context.Background(), &memStore{}, bad); !IsPermanent(err) ||
		!strings.Contains(err.Error(), "changed") {
		t.Fatalf("changed source: %v", err)
	}
	ds, contents := deliverAll(t, ss, &memStore{}, "next", 2, 1<<10)
	if n := srv.Logins(); n != 1 {
		t.Fatalf("%d logins, want 1", n)
	}
	assertAllDelivered(t, srv.Path("/out"), ds, contents)
}
