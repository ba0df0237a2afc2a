package store

import (
	"context"
	"fmt"
	"time"
)

// Health is what the store knows of its ability to write.
type Health struct {
	// OK is false from a commit the disk refused until a later commit
	// succeeds, and while a commit has been writing for longer than
	// StallAfter.
	OK        bool      `json:"ok"`
	Committed time.Time `json:"last_commit,omitzero"`  // end of the latest successful commit
	Failed    time.Time `json:"last_failure,omitzero"` // end of the latest failed commit
	// Failure is why the latest failed commit failed (the operating
	// system's error, such as "no space left on device"); it names the
	// file but never a record's content.
	Failure      string    `json:"failure,omitempty"`
	Failures     uint64    `json:"failures"`               // failed commits since Open
	WritingSince time.Time `json:"writing_since,omitzero"` // start of the commit in progress
}

// StallAfter is how long a commit may take before Health reports the store
// failing: a disk that takes this long to sync holds every kiosk waiting.
const StallAfter = 10 * time.Second

// ProbeAfter is how old the latest commit may be before CheckHealth writes
// a probe: an idle server would otherwise report the disk it last saw.
const ProbeAfter = 5 * time.Second

// keyHealthProbe holds the time of the latest probe in the meta bucket.
var keyHealthProbe = []byte("health_probe")

// Health reports the outcome of the latest commit without writing.
func (db *DB) Health() Health {
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
func (db *DB) CheckHealth(ctx context.Context) Health {
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
			db.Update(context.Background(), func(tx *Tx) error {
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
