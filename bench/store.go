package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/circa-ils/circa/store"
	"github.com/circa-ils/circa/store/boltstore"
)

// StoreLimits are the store's durable-commit rates measured on a disk:
// many writers through the group-committing DB.Update, and the same
// writers with one fsync'd transaction each (DB.UpdateDirect).
type StoreLimits struct {
	Writers       int     `json:"writers"`
	GroupCommit   float64 `json:"group_commit_ops"`
	FsyncUpdate   float64 `json:"fsync_update_ops"`
	OpsPerCommit  float64 `json:"ops_per_commit"`
	MeasuredForMS int64   `json:"measured_ms"`
}

// loanLike is about the size of a loan record with its item and patron
// references, written as one checkout-like operation.
type loanLike struct {
	ID       uint64    `json:"id"`
	ItemID   uint64    `json:"item_id"`
	PatronID uint64    `json:"patron_id"`
	Library  string    `json:"library"`
	Out      time.Time `json:"out"`
	Due      time.Time `json:"due"`
	Agent    string    `json:"agent"`
	Note     string    `json:"note"`
}

// MeasureStore measures the store's limits with a fresh database in dir
// (the disk the server writes to), each for d, with the given writers.
func MeasureStore(ctx context.Context, dir string, writers int, d time.Duration) (StoreLimits, error) {
	tmp, err := os.MkdirTemp(dir, "bench-store-")
	if err != nil {
		return StoreLimits{}, err
	}
	defer os.RemoveAll(tmp)
	db, err := boltstore.Open(filepath.Join(tmp, boltstore.DefaultFile), boltstore.Options{})
	if err != nil {
		return StoreLimits{}, fmt.Errorf("store baseline: %w", err)
	}
	defer db.Close()
	lim := StoreLimits{Writers: writers, MeasuredForMS: 2 * d.Milliseconds()}
	s0 := db.CommitStats()
	lim.GroupCommit, err = storeRate(writers, d, func(w int, i uint64) error {
		return db.Update(ctx, func(tx store.Tx) error { return tx.SetMeta(benchKey(w), loanOf(w, i)) })
	})
	if err != nil {
		return lim, err
	}
	s1 := db.CommitStats()
	if s1.Commits > s0.Commits {
		lim.OpsPerCommit = float64(s1.Operations-s0.Operations) / float64(s1.Commits-s0.Commits)
	}
	lim.FsyncUpdate, err = storeRate(writers, d, func(w int, i uint64) error {
		return db.UpdateDirect(func(tx store.Tx) error { return tx.SetMeta(benchKey(w), loanOf(w, i)) })
	})
	return lim, err
}

func benchKey(w int) string { return "bench/" + strconv.Itoa(w) }

func loanOf(w int, i uint64) loanLike {
	now := time.Now()
	return loanLike{ID: i, ItemID: uint64(w), PatronID: uint64(w) + 1_000_000, Library: "MAIN", Out: now,
		Due: now.Add(21 * 24 * time.Hour), Agent: "sip2/kiosk1", Note: "checkout-like record written by circa bench"}
}

// storeRate runs op from writers goroutines for d and returns ops/s.
func storeRate(writers int, d time.Duration, op func(w int, i uint64) error) (float64, error) {
	var (
		n     atomic.Uint64
		wg    sync.WaitGroup
		first atomic.Pointer[error]
	)
	start := time.Now()
	stop := start.Add(d)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := uint64(0); time.Now().Before(stop); i++ {
				if err := op(w, i); err != nil {
					first.CompareAndSwap(nil, &err)
					return
				}
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	if e := first.Load(); e != nil {
		return 0, fmt.Errorf("store baseline: %w", *e)
	}
	return float64(n.Load()) / time.Since(start).Seconds(), nil
}
