package exchange

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/circa-ils/circa/profiles/delivery"
	"github.com/circa-ils/circa/profiles/delivery/sftptest"
	"github.com/circa-ils/circa/store"
)

// TestCheckTargetsOverSFTP: a profile's delivery and import directories
// are both checked, and a host whose key is not pinned is named.
func TestCheckTargetsOverSFTP(t *testing.T) {
	_, tg := sftpTarget(t)
	p := bursarProfile(tg)
	if err := CheckTargets(ctx, p); err != nil {
		t.Fatalf("check of a working profile: %v", err)
	}
	p.ImportDir = "/nowhere"
	if err := CheckTargets(ctx, p); !errors.Is(err, delivery.ErrNoDir) || !strings.Contains(err.Error(), "/nowhere") {
		t.Fatalf("check of a missing import directory: %v", err)
	}
	p.Bursar.ImportPattern = "" // no import: the import directory is not used
	if err := CheckTargets(ctx, p); err != nil {
		t.Fatalf("check of a profile that imports nothing: %v", err)
	}
	_, other := sftpTarget(t)
	p.Target.KnownHosts = strings.Fields(tg.KnownHosts)[0] + " " + strings.Join(strings.Fields(other.KnownHosts)[1:], " ")
	if err := CheckTargets(ctx, p); !errors.Is(err, delivery.ErrHostKey) {
		t.Fatalf("check of a host with another key: %v", err)
	}
}

// TestRemoveKeepsFilesThatReachedTheTarget: a file already under its final
// name on the removed profile's target is not handed over (the bursar would
// get it twice) and the profile stays.
func TestRemoveKeepsFilesThatReachedTheTarget(t *testing.T) {
	e := newEnv(t)
	srv, tg := sftpTarget(t)
	e.save(bursarProfile(tg))
	other := bursarProfile(delivery.Target{Kind: delivery.KindLocal, LocalDir: t.TempDir()})
	other.Code = "OTHER"
	e.save(other)
	killed := errors.New("killed")
	e.sched.afterSave = func(d delivery.Delivery) error {
		if d.Step == delivery.StepRenamed {
			return killed
		}
		return nil
	}
	if _, err := e.sched.RunNow(ctx, "BURSAR", RunOptions{}); err == nil {
		t.Fatal("want the simulated kill")
	}
	e.sched.afterSave = nil
	if _, err := e.sched.Remove(ctx, "BURSAR", ""); !errors.Is(err, ErrUndelivered) {
		t.Fatalf("remove without --hand-to: %v", err)
	}
	if _, err := e.sched.Remove(ctx, "BURSAR", "OTHER"); err == nil || !strings.Contains(err.Error(), "reached") {
		t.Fatalf("hand-over of a file at the target: %v", err)
	}
	if _, ok := e.reg.Current().Exchange["BURSAR"]; !ok {
		t.Fatal("the profile was removed")
	}
	if st, _ := ProfileStatus(ctx, e.db, "OTHER"); len(st.Pending) != 0 {
		t.Fatalf("OTHER got %v", st.Pending)
	}
	// Finishing the delivery frees the profile for removal.
	exactlyOnce(t, e, srv)
	if moved, err := e.sched.Remove(ctx, "BURSAR", ""); err != nil || len(moved) != 0 {
		t.Fatalf("remove once delivered: %v, %v", moved, err)
	}
}

// TestResendOnlyWhileTheContentIsKept: the last KeptFiles delivered files
// can be sent again; an older one is named as no longer kept, and nothing
// is sent.
func TestResendOnlyWhileTheContentIsKept(t *testing.T) {
	e := newEnv(t)
	drop := t.TempDir()
	p := bursarProfile(delivery.Target{Kind: delivery.KindLocal, LocalDir: drop})
	p.MaxRecords, p.Bursar.ImportPattern = 1, ""
	e.save(p)
	if n := len(e.fees()[store.FeeOpen]); n <= KeptFiles {
		t.Fatalf("the demo library has %d open fees; the test needs more than %d", n, KeptFiles)
	}
	var runs []Run
	for total := 0; total <= KeptFiles; {
		run, err := e.sched.RunNow(ctx, "BURSAR", RunOptions{})
		if err != nil || len(run.Files) == 0 {
			t.Fatalf("run: %+v, %v", run, err)
		}
		runs = append(runs, run)
		total += len(run.Files)
	}
	first := runs[0].Files[0]
	os.Remove(filepath.Join(drop, first))
	_, err := e.sched.RunNow(ctx, "BURSAR", RunOptions{Resend: runs[0].ID})
	if err == nil || !strings.Contains(err.Error(), first) || !strings.Contains(err.Error(), "no longer kept") {
		t.Fatalf("resend of a file no longer kept: %v", err)
	}
	if _, err := os.Stat(filepath.Join(drop, first)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the file came back: %v", err)
	}
	last := runs[len(runs)-1]
	for _, f := range last.Files {
		os.Remove(filepath.Join(drop, f))
	}
	before := len(e.exportedTxns())
	run, err := e.sched.RunNow(ctx, "BURSAR", RunOptions{Resend: last.ID})
	if err != nil || len(run.Files) != len(last.Files) || run.Records != 0 {
		t.Fatalf("resend of the last run: %+v, %v", run, err)
	}
	for _, f := range last.Files {
		if _, err := os.Stat(filepath.Join(drop, f)); err != nil {
			t.Fatalf("not resent: %v", err)
		}
	}
	if after := len(e.exportedTxns()); after != before {
		t.Fatalf("a resend exported %d new fees", after-before)
	}
}

// TestTargetChangeRestartsAStuckDelivery: a file stuck at a server that
// refused the rename goes, once the profile points at another server, to
// that server from the start; its temporary copy at the old one does not
// make it count as delivered.
func TestTargetChangeRestartsAStuckDelivery(t *testing.T) {
	e := newEnv(t)
	old, tg := sftpTarget(t)
	p := bursarProfile(tg)
	e.save(p)
	old.SetFaults(sftptest.Faults{RefuseRename: true})
	if _, err := e.sched.RunNow(ctx, "BURSAR", RunOptions{}); err == nil {
		t.Fatal("the refused rename did not fail the run")
	}
	if st, _ := ProfileStatus(ctx, e.db, "BURSAR"); len(st.Pending) != 1 {
		t.Fatalf("pending %v", st.Pending)
	}
	srv, tg2 := sftpTarget(t)
	moved := *p
	moved.Target = tg2
	e.save(&moved)
	exactlyOnce(t, e, srv)
	if got := dataFiles(t, old.Path("/out")); len(got) != 0 {
		t.Fatalf("the old server got %v", got)
	}
}

// TestTargetChangeKeepsAFileThatReachedTheOldTarget: a file already under
// its final name at the old target is not sent to the new one (that would
// bill twice); the run says so and keeps it pending until the profile
// points back.
func TestTargetChangeKeepsAFileThatReachedTheOldTarget(t *testing.T) {
	e := newEnv(t)
	old, tg := sftpTarget(t)
	p := bursarProfile(tg)
	e.save(p)
	killed := errors.New("killed")
	e.sched.afterSave = func(d delivery.Delivery) error {
		if d.Step == delivery.StepRenamed {
			return killed
		}
		return nil
	}
	if _, err := e.sched.RunNow(ctx, "BURSAR", RunOptions{}); err == nil {
		t.Fatal("want the simulated kill")
	}
	e.sched.afterSave = nil
	srv, tg2 := sftpTarget(t)
	moved := *p
	moved.Target = tg2
	e.save(&moved)
	run, err := e.sched.RunNow(ctx, "BURSAR", RunOptions{})
	if err == nil || !strings.Contains(err.Error(), "before the target changed") || run.Result != ResultStopped {
		t.Fatalf("run at the new target: %+v, %v", run, err)
	}
	if got := dataFiles(t, srv.Path("/out")); len(got) != 0 {
		t.Fatalf("the new server got %v", got)
	}
	e.save(p) // back to the old server
	exactlyOnce(t, e, old)
}
