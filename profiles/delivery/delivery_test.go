package delivery

import (
	"bytes"
	"context"
	"errors"
	"os"
	"slices"
	"testing"

	"github.com/circa-ils/circa/profiles/delivery/sftptest"
)

func TestDeliverSFTP(t *testing.T) {
	srv := startServer(t)
	c := newClient(t, sftpTarget(srv, "/out"), fastRetry)
	content := payload(300 << 10)
	d := prepare(t, "circa_bursar_r1_20261127T040000Z_1.xml", content)
	st := &memStore{}

	got, err := c.Deliver(context.Background(), st, d)
	if err != nil {
		t.Fatal(err)
	}
	if got.Step != StepDone || got.Attempts != 1 || got.LastError != "" {
		t.Fatalf("delivery ended as %+v", got)
	}
	assertDelivered(t, srv.Path("/out"), d, content)
	want := []string{
		"pending/pending", "uploaded-temp/pending", "renamed/pending", "verified/pending",
		"verified/uploaded-temp", "verified/renamed", "verified/verified", "done/verified",
	}
	if s := st.steps(); !slices.Equal(s, want) {
		t.Fatalf("saved steps %q, want %q", s, want)
	}

	// Resuming a finished delivery does nothing, not even connect.
	logins := srv.Logins()
	again, err := c.Resume(context.Background(), st, got)
	if err != nil || again.Step != StepDone || srv.Logins() != logins {
		t.Fatalf("resume of done delivery: %+v, %v, logins %d→%d", again, err, logins, srv.Logins())
	}

	// Delivering the same prepared file again (its record lost) finds it
	// in place and sends nothing twice.
	st2 := &memStore{}
	again, err = c.Deliver(context.Background(), st2, d)
	if err != nil || again.Step != StepDone {
		t.Fatalf("re-delivery: %+v, %v", again, err)
	}
	if s := st2.steps(); slices.Contains(s, "uploaded-temp/pending") {
		t.Fatalf("re-delivery uploaded again: %q", s)
	}
	assertDelivered(t, srv.Path("/out"), d, content)
}

func TestDeliverNoManifest(t *testing.T) {
	srv := startServer(t)
	c := newClient(t, sftpTarget(srv, "out"), fastRetry) // relative to the login directory
	content := []byte("<x/>\n")
	d := prepare(t, "a.xml", content)
	d.NoManifest = true
	if _, err := c.Deliver(context.Background(), &memStore{}, d); err != nil {
		t.Fatal(err)
	}
	if got := dirNames(t, srv.Path("/out")); !slices.Equal(got, []string{"a.xml"}) {
		t.Fatalf("directory holds %q", got)
	}
}

func TestConnectionCutMidUpload(t *testing.T) {
	srv := startServer(t)
	content := payload(1 << 20)
	d := prepare(t, "cut.dat", content)
	st := &memStore{}

	// One attempt only: the cut leaves a partial temp and no final file.
	srv.SetFaults(sftptest.Faults{CutAfterBytes: 400 << 10})
	c1 := newClient(t, sftpTarget(srv, "/out"), Retry{Attempts: 1})
	got, err := c1.Deliver(context.Background(), st, d)
	if err == nil || IsPermanent(err) {
		t.Fatalf("cut upload: err %v (permanent %v), want a transient error", err, IsPermanent(err))
	}
	if got.Step != StepPending || got.LastError == "" {
		t.Fatalf("after the cut: %+v", got)
	}
	if names := dirNames(t, srv.Path("/out")); !slices.Equal(names, []string{".cut.dat.part"}) {
		t.Fatalf("after the cut the directory holds %q", names)
	}
	// Concurrent writes land out of order, so the temp may even be full
	// length, but never complete.
	if b, err := os.ReadFile(srv.Path("/out/.cut.dat.part")); err != nil || bytes.Equal(b, content) {
		t.Fatalf("temp after the cut: %d bytes, %v", len(b), err)
	}

	// A new client resumes from the saved record.
	c2 := newClient(t, sftpTarget(srv, "/out"), fastRetry)
	got, err = c2.Resume(context.Background(), st, st.last(t))
	if err != nil {
		t.Fatal(err)
	}
	if got.Step != StepDone {
		t.Fatalf("resumed delivery ended as %+v", got)
	}
	assertDelivered(t, srv.Path("/out"), d, content)
}

func TestConnectionCutRetriedInPlace(t *testing.T) {
	srv := startServer(t)
	content := payload(512 << 10)
	d := prepare(t, "retry.dat", content)
	srv.SetFaults(sftptest.Faults{CutAfterBytes: 100 << 10})
	c := newClient(t, sftpTarget(srv, "/out"), fastRetry)
	got, err := c.Deliver(context.Background(), &memStore{}, d)
	if err != nil {
		t.Fatal(err)
	}
	if got.Attempts != 2 {
		t.Fatalf("attempts = %d, want 2", got.Attempts)
	}
	assertDelivered(t, srv.Path("/out"), d, content)
}

func TestLostRenameReply(t *testing.T) {
	srv := startServer(t)
	content := payload(64 << 10)
	d := prepare(t, "lost.dat", content)
	srv.SetFaults(sftptest.Faults{CutAfterRename: true})
	c := newClient(t, sftpTarget(srv, "/out"), fastRetry)
	st := &memStore{}
	got, err := c.Deliver(context.Background(), st, d)
	if err != nil {
		t.Fatal(err)
	}
	if got.Attempts != 2 {
		t.Fatalf("attempts = %d, want 2", got.Attempts)
	}
	// The second attempt found the rename done rather than uploading again.
	mb, err := d.Manifest().Encode()
	if err != nil {
		t.Fatal(err)
	}
	if sent, want := srv.BytesWritten(), int64(len(content)+len(mb)); sent != want {
		t.Fatalf("server received %d bytes, want %d (each file once)", sent, want)
	}
	assertDelivered(t, srv.Path("/out"), d, content)
}

func TestServerRefusesRename(t *testing.T) {
	srv := startServer(t)
	content := payload(10 << 10)
	d := prepare(t, "refused.dat", content)
	srv.SetFaults(sftptest.Faults{RefuseRename: true})
	c := newClient(t, sftpTarget(srv, "/out"), fastRetry)
	st := &memStore{}
	got, err := c.Deliver(context.Background(), st, d)
	if !IsPermanent(err) || !errors.Is(err, ErrPermission) {
		t.Fatalf("refused rename: err %v, want permanent permission error", err)
	}
	if got.Attempts != 1 || got.Step != StepUploadedTemp {
		t.Fatalf("after refusal: %+v", got)
	}
	if _, err := os.Stat(srv.Path("/out/refused.dat")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("final file exists after a refused rename: %v", err)
	}

	// Once the server allows it, resuming completes the delivery.
	srv.SetFaults(sftptest.Faults{})
	got, err = c.Resume(context.Background(), st, st.last(t))
	if err != nil || got.Step != StepDone {
		t.Fatalf("resume: %+v, %v", got, err)
	}
	assertDelivered(t, srv.Path("/out"), d, content)
}

func TestWithoutPosixRename(t *testing.T) {
	srv := startServer(t)
	srv.SetFaults(sftptest.Faults{NoPosixRename: true})
	c := newClient(t, sftpTarget(srv, "/out"), fastRetry)

	t.Run("fresh", func(t *testing.T) {
		content := payload(20 << 10)
		d := prepare(t, "plain.dat", content)
		if _, err := c.Deliver(context.Background(), &memStore{}, d); err != nil {
			t.Fatal(err)
		}
		if b, err := os.ReadFile(srv.Path("/out/plain.dat")); err != nil || len(b) != len(content) {
			t.Fatalf("plain rename delivery: %d bytes, %v", len(b), err)
		}
	})

	t.Run("final exists with other content", func(t *testing.T) {
		dir := srv.Path("/out2")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		c := newClient(t, sftpTarget(srv, "/out2"), fastRetry)
		content := payload(30 << 10)
		d := prepare(t, "old.dat", content)
		if err := os.WriteFile(dir+"/old.dat", []byte("stale"), 0o644); err != nil {
			t.Fatal(err)
		}
		// Simulate the record of a run that uploaded the temp and died.
		st := &memStore{kill: func(n int, d Delivery) (bool, bool) { return d.Step == StepUploadedTemp, true }}
		if _, err := c.Deliver(context.Background(), st, d); !errors.Is(err, errKilled) {
			t.Fatalf("want the simulated kill, got %v", err)
		}
		st.kill = nil
		if _, err := c.Resume(context.Background(), st, st.last(t)); err != nil {
			t.Fatal(err)
		}
		assertDelivered(t, dir, d, content)
	})
}
