package boltstore

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/circa-ils/circa/store"
)

// faultyDisk stands in for a disk whose writes fail while err is set.
type faultyDisk struct{ err atomic.Pointer[error] }

func (d *faultyDisk) set(err error) {
	if err == nil {
		d.err.Store(nil)
		return
	}
	d.err.Store(&err)
}

func (d *faultyDisk) fault() error {
	if p := d.err.Load(); p != nil {
		return *p
	}
	return nil
}

func TestHealthFollowsCommits(t *testing.T) {
	disk := &faultyDisk{}
	path := filepath.Join(t.TempDir(), DefaultFile)
	db, err := Open(path, Options{WriteFault: disk.fault})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	if h := db.Health(); !h.OK || h.Failure != "" || h.Failures != 0 {
		t.Fatalf("fresh store: %+v", h)
	}
	mustUpdate(t, db, func(tx store.Tx) error { return tx.SetMeta("a", 1) })
	before := db.CommitStats()
	if before.Last <= 0 || before.Last < before.Write {
		t.Fatalf("latest commit took %s, writing %s", before.Last, before.Write)
	}

	disk.set(&os.PathError{Op: "write", Path: path, Err: syscall.ENOSPC})
	// Operations sharing the failed commit all learn why.
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = db.Update(ctx, func(tx store.Tx) error { return tx.SetMeta("b", i) })
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if !errors.Is(err, store.ErrUnavailable) || !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("operation %d: %v", i, err)
		}
	}
	h := db.Health()
	if h.OK || !strings.Contains(h.Failure, "no space left on device") || h.Failed.IsZero() || h.Failures == 0 ||
		h.Committed.After(h.Failed) {
		t.Fatalf("after a refused write: %+v", h)
	}
	if st := db.CommitStats(); st.Commits != before.Commits || st.Operations != before.Operations || st.Failed == 0 || st.Last != before.Last {
		t.Errorf("a failed commit was counted as committed: %+v then %+v", before, st)
	}
	var v int
	if err := db.View(ctx, func(tx store.Tx) error { return tx.Meta("b", &v) }); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a failed commit left its record: %v %d", err, v)
	}
	// A refusal inside an operation is the operation's, not the disk's.
	disk.set(nil)
	if err := db.Update(ctx, func(store.Tx) error { return store.ErrConflict }); !errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("operation error: %v", err)
	}
	if h := db.Health(); h.OK {
		t.Fatalf("a rolled-back operation is not a commit: %+v", h)
	}
	mustUpdate(t, db, func(tx store.Tx) error { return tx.SetMeta("b", 2) })
	if h := db.Health(); !h.OK || !h.Committed.After(h.Failed) || h.Failures == 0 {
		t.Fatalf("after a commit succeeded again: %+v", h)
	}
}

func TestCheckHealthProbesAnIdleStore(t *testing.T) {
	disk := &faultyDisk{}
	db, err := Open(filepath.Join(t.TempDir(), DefaultFile), Options{WriteFault: disk.fault})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	// Fresh knowledge is reported as it is, without writing.
	commits := db.CommitStats().Commits
	if h := db.CheckHealth(ctx); !h.OK || db.CommitStats().Commits != commits {
		t.Fatalf("a fresh store was probed: %+v", h)
	}
	db.probeAfter = time.Millisecond
	time.Sleep(2 * time.Millisecond)
	disk.set(syscall.EIO)
	if h := db.CheckHealth(ctx); h.OK || !strings.Contains(h.Failure, "input/output error") {
		t.Fatalf("an idle store on a failed disk: %+v", h)
	}
	disk.set(nil)
	time.Sleep(2 * time.Millisecond)
	if h := db.CheckHealth(ctx); !h.OK || db.CommitStats().Commits != commits+1 {
		t.Fatalf("an idle store on a repaired disk: %+v", h)
	}
	// Many checks at once share one probe.
	time.Sleep(2 * time.Millisecond)
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() { defer wg.Done(); db.CheckHealth(ctx) }()
	}
	wg.Wait()
	if n := db.CommitStats().Commits; n > commits+3 {
		t.Errorf("20 concurrent checks made %d probes", n-commits-1)
	}
}

// TestHealthOnFullFilesystem fills a real (tmpfs) file system under the
// store. It needs the right to mount, which root has in CI.
func TestHealthOnFullFilesystem(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "fs")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=8m"); err != nil {
		t.Skipf("cannot mount a small file system here: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	path := filepath.Join(dir, DefaultFile)
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	filler := filepath.Join(dir, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	f.Close()
	// A record larger than any free page run makes the file grow.
	big := strings.Repeat("x", 1<<20)
	err = db.Update(context.Background(), func(tx store.Tx) error { return tx.SetMeta("big", big) })
	if !errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), "no space left on device") {
		t.Fatalf("write to a full disk: %v", err)
	}
	if h := db.Health(); h.OK || !strings.Contains(h.Failure, "no space left on device") {
		t.Fatalf("health on a full disk: %+v", h)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	mustUpdate(t, db, func(tx store.Tx) error { return tx.SetMeta("big", big) })
	if h := db.Health(); !h.OK {
		t.Fatalf("health after space was freed: %+v", h)
	}
	if probs, err := db.Check(); err != nil || len(probs) > 0 {
		t.Fatalf("check after the failed commit: %v %v", probs, err)
	}
}

func TestHealthReportsAStalledCommit(t *testing.T) {
	release := make(chan struct{})
	var stall atomic.Bool
	db, err := Open(filepath.Join(t.TempDir(), DefaultFile), Options{WriteFault: func() error {
		if stall.Load() {
			<-release
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.stallAfter = 10 * time.Millisecond
	stall.Store(true)
	done := make(chan error, 1)
	go func() { done <- db.Update(context.Background(), func(tx store.Tx) error { return tx.SetMeta("a", 1) }) }()
	deadline := time.Now().Add(10 * time.Second)
	for db.Health().OK {
		if time.Now().After(deadline) {
			t.Fatal("a commit stuck in its write still reports healthy")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if h := db.Health(); h.WritingSince.IsZero() || !strings.Contains(h.Failure, "a commit has been writing for") {
		t.Errorf("stalled: %+v", h)
	}
	// A check does not queue a probe behind the stuck commit.
	if h := db.CheckHealth(context.Background()); h.OK {
		t.Errorf("check while stalled: %+v", h)
	}
	stall.Store(false)
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if h := db.Health(); !h.OK || !h.WritingSince.IsZero() {
		t.Errorf("after the write finished: %+v", h)
	}
}
