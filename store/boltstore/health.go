package boltstore

import (
	"context"
	"fmt"
	"time"

	"github.com/circa-ils/circa/store"
)

// keyHealthProbe holds the time of the latest probe in the meta bucket.
var keyHealthProbe = []byte("health_probe")

// Health reports the outcome of the latest commit without writing.
func (db *DB) Health() store.Health {
	db.statsMu.Lock()
	h := db.health
	db.statsMu.Unlock()
	db.inflightMu.Lock()
	h.WritingSince = db.inflight
	db.inflightMu.Unlock()
	if !h.WritingSince.IsZero() {
		h.WritingSince = h.WritingSince.UTC()
		if d := time.Since(h.WritingSince); d > db.stallAfter {
			h.OK, h.Failure = false, fmt.Sprintf("a commit has been writing for %s", d.Round(time.Second))
		}
	}
	return h
}

// CheckHealth is Health after proving it fresh: when no commit has ended
// for ProbeAfter, it first commits a probe (one small record), so an idle
// server notices a disk that went bad, and a failing one notices the disk
// is back, without a kiosk having to write first. At most one probe runs at
// a time and at most one starts per ProbeAfter, so frequent health checks
// add no writes to a busy server and few to an idle one. It waits for the
// probe until ctx ends; a probe still writing then is reported as such.
func (db *DB) CheckHealth(ctx context.Context) store.Health {
	h := db.Health()
	if db.readOnly || !h.WritingSince.IsZero() {
		return h
	}
	last := db.opened
	for _, t := range []time.Time{h.Committed, h.Failed} {
		if t.After(last) {
			last = t
		}
	}
	if time.Since(last) < db.probeAfter {
		return h
	}
	db.probeMu.Lock()
	done := db.probe
	if done == nil {
		done = make(chan struct{})
		db.probe = done
		go func() {
			// The probe's own error is the commit's, recorded in Health;
			// ErrClosed means there is nothing left to report on.
			db.update(context.Background(), func(tx *Tx) error {
				return tx.b(bucketMeta).Put(keyHealthProbe, u64(uint64(time.Now().UnixNano())))
			})
			db.probeMu.Lock()
			db.probe = nil
			db.probeMu.Unlock()
			close(done)
		}()
	}
	db.probeMu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
	}
	return db.Health()
}
