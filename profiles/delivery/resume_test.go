package delivery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/circa-ils/circa/profiles/delivery/sftptest"
)

// TestCrashAtEverySave kills the "process" at each save of a delivery,
// once after the save reached the disk and once before, then resumes from
// whatever record survived with a new client: every case must end with
// exactly one complete data file and manifest and no temporary files.
func TestCrashAtEverySave(t *testing.T) {
	srv := startServer(t)
	content := payload(200 << 10)

	targets := map[string]func(t *testing.T) (Target, string){
		"sftp": func(t *testing.T) (Target, string) {
			dir := fmt.Sprintf("/m%d", len(dirNames(t, srv.Root)))
			if err := os.Mkdir(srv.Path(dir), 0o755); err != nil {
				t.Fatal(err)
			}
			return sftpTarget(srv, dir), srv.Path(dir)
		},
		"local": func(t *testing.T) (Target, string) {
			dir := t.TempDir()
			return Target{Kind: KindLocal, LocalDir: dir}, dir
		},
	}
	const saves = 8 // pending … done, as TestDeliverSFTP lists them
	for kind, mk := range targets {
		for k := range saves {
			for _, persisted := range []bool{true, false} {
				t.Run(fmt.Sprintf("%s/save%d/persisted=%v", kind, k, persisted), func(t *testing.T) {
					tg, dir := mk(t)
					d := prepare(t, "crash.dat", content)
					st := &memStore{kill: func(n int, _ Delivery) (bool, bool) { return n == k, persisted }}
					_, err := newClient(t, tg, fastRetry).Deliver(context.Background(), st, d)
					if !errors.Is(err, errKilled) {
						t.Fatalf("want the simulated kill, got %v", err)
					}
					st.kill = nil
					rec := d // no record survived: the caller starts over
					if len(st.saves) > 0 {
						rec = st.last(t)
					}
					got, err := newClient(t, tg, fastRetry).Resume(context.Background(), st, rec)
					if err != nil {
						t.Fatal(err)
					}
					if got.Step != StepDone {
						t.Fatalf("resumed delivery ended as %+v", got)
					}
					assertDelivered(t, dir, d, content)
				})
			}
		}
	}
}

func TestLocalTarget(t *testing.T) {
	dir := t.TempDir()
	c := newClient(t, Target{Kind: KindLocal, LocalDir: dir}, fastRetry)
	content := payload(70 << 10)
	d := prepare(t, "local.csv", content)
	got, err := c.Deliver(context.Background(), &memStore{}, d)
	if err != nil || got.Step != StepDone {
		t.Fatalf("local delivery: %+v, %v", got, err)
	}
	assertDelivered(t, dir, d, content)

	// A stale temp from a dead run is overwritten, not appended to.
	d2 := prepare(t, "again.csv", content)
	if err := os.WriteFile(filepath.Join(dir, ".again.csv.part"), payload(1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Deliver(context.Background(), &memStore{}, d2); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "again.csv")); err != nil || len(b) != len(content) {
		t.Fatalf("again.csv: %d bytes, %v", len(b), err)
	}
	if _, err := os.Stat(filepath.Join(dir, ".again.csv.part")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temp left behind: %v", err)
	}
}

func TestLocalTargetMissingDir(t *testing.T) {
	c := newClient(t, Target{Kind: KindLocal, LocalDir: filepath.Join(t.TempDir(), "nope")}, fastRetry)
	got, err := c.Deliver(context.Background(), &memStore{}, prepare(t, "x.csv", []byte("x")))
	if !errors.Is(err, ErrNoDir) || !IsPermanent(err) || got.Attempts != 1 {
		t.Fatalf("missing dir: %+v, %v", got, err)
	}
}

func TestSourceChanged(t *testing.T) {
	srv := startServer(t)
	c := newClient(t, sftpTarget(srv, "/out"), fastRetry)
	d := prepare(t, "changed.dat", []byte("original content"))
	if err := os.WriteFile(d.Source, []byte("edited content!!"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := c.Deliver(context.Background(), &memStore{}, d)
	if !errors.Is(err, ErrSourceChanged) || !IsPermanent(err) || got.Attempts != 1 {
		t.Fatalf("changed source: %+v, %v", got, err)
	}
	if names := dirNames(t, srv.Path("/out")); len(names) != 0 {
		t.Fatalf("changed source left %q on the server", names)
	}

	if err := os.Remove(d.Source); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Deliver(context.Background(), &memStore{}, d); !errors.Is(err, ErrSourceChanged) {
		t.Fatalf("missing source: %v", err)
	}
}

func TestRemoteDirMissing(t *testing.T) {
	srv := startServer(t)
	c := newClient(t, sftpTarget(srv, "/nowhere"), fastRetry)
	got, err := c.Deliver(context.Background(), &memStore{}, prepare(t, "x.dat", []byte("x")))
	if !errors.Is(err, ErrNoDir) || !IsPermanent(err) || got.Attempts != 1 {
		t.Fatalf("missing remote dir: %+v, %v", got, err)
	}
}

func TestRemoteFileReplacedBeforeVerify(t *testing.T) {
	srv := startServer(t)
	c := newClient(t, sftpTarget(srv, "/out"), fastRetry)
	content := []byte("ours\n")
	d := prepare(t, "v.dat", content)
	st := &memStore{kill: func(_ int, d Delivery) (bool, bool) { return d.Step == StepRenamed, true }}
	if _, err := c.Deliver(context.Background(), st, d); !errors.Is(err, errKilled) {
		t.Fatalf("want the simulated kill, got %v", err)
	}
	st.kill = nil

	// The partner replaced the file before we verified: that is a conflict.
	if err := os.WriteFile(srv.Path("/out/v.dat"), []byte("theirs\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Resume(context.Background(), st, st.last(t)); !errors.Is(err, ErrConflict) || !IsPermanent(err) {
		t.Fatalf("replaced file: %v", err)
	}

	// The partner collected it before we verified: that counts as delivered.
	if err := os.Remove(srv.Path("/out/v.dat")); err != nil {
		t.Fatal(err)
	}
	got, err := c.Resume(context.Background(), st, st.last(t))
	if err != nil || got.Step != StepDone {
		t.Fatalf("collected file: %+v, %v", got, err)
	}
}

func TestResumeRejectsBadRecord(t *testing.T) {
	c := newClient(t, Target{Kind: KindLocal, LocalDir: t.TempDir()}, fastRetry)
	for name, d := range map[string]Delivery{
		"empty":     {},
		"bad step":  {Name: "a", Source: "/x", SHA256: "00" + string(make([]byte, 0)), Step: "flying"},
		"hidden":    {Name: ".a", Source: "/x", SHA256: "0000000000000000000000000000000000000000000000000000000000000000"},
		"traversal": {Name: "../a", Source: "/x", SHA256: "0000000000000000000000000000000000000000000000000000000000000000"},
	} {
		if _, err := c.Resume(context.Background(), &memStore{}, d); !errors.Is(err, ErrInvalid) || !IsPermanent(err) {
			t.Errorf("%s: err %v, want ErrInvalid", name, err)
		}
	}
}

func TestCancelDuringBackoff(t *testing.T) {
	srv := startServer(t)
	srv.SetFaults(sftptest.Faults{CutAfterBytes: 1000})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The first attempt is cut; its failure record is the signal that
	// Resume is about to wait an hour before the next try.
	failed := make(chan struct{}, 1)
	st := StateStoreFunc(func(_ context.Context, d Delivery) error {
		if d.LastError != "" {
			select {
			case failed <- struct{}{}:
			default:
			}
		}
		return nil
	})
	c := newClient(t, sftpTarget(srv, "/out"), Retry{Attempts: 10, Initial: time.Hour, Max: time.Hour})
	d := prepare(t, "c.dat", payload(64<<10))
	done := make(chan error, 1)
	go func() {
		_, err := c.Deliver(ctx, st, d)
		done <- err
	}()
	<-failed
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) || IsPermanent(err) {
		t.Fatalf("cancelled delivery: %v", err)
	}
}

// TestStalledServerTimesOut: a server that accepts and then says nothing
// must not hang a delivery; the stall is a transient failure.
func TestStalledServerTimesOut(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
		close(accepted)
	}()
	defer func() {
		ln.Close()
		for c := range accepted {
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	srv := startServer(t) // only for a key pair
	tg := Target{Kind: KindSFTP, Host: "127.0.0.1", Port: port, User: "u", PrivateKey: string(srv.ClientKeyPEM),
		KnownHosts: knownhosts.Line([]string{knownhosts.Normalize(net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))}, srv.HostKey),
		RemoteDir:  "/out", Timeout: 200 * time.Millisecond}
	got, err := newClient(t, tg, Retry{Attempts: 1}).Deliver(context.Background(), &memStore{}, prepare(t, "s.dat", []byte("s")))
	if err == nil || IsPermanent(err) || got.Attempts != 1 {
		t.Fatalf("stalled server: %+v, %v", got, err)
	}
}
