package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/circa-ils/circa/store"
)

// The audit trail records every change staff make through the command line
// or the admin socket: who, when, which command, and each record it changed
// as it was before and after, with secrets masked. A write is audited when
// its context carries an AuditScope (WithAudit); kiosk and NCIP traffic
// carries none and is covered by the loans journal instead.

// auditPruneOnWrite is how many expired entries an audited operation
// removes along with its own: a trail written to keeps itself trimmed, and
// no operation ever carries a large prune.
const auditPruneOnWrite = 16

var keyAuditRetention = []byte("audit_retention")

// auditOp collects one operation's changes, each record once with its first
// before and last after, until the operation's function returns.
type auditOp struct {
	scope   store.AuditScope
	changes []*auditChange
}

type auditChange struct {
	kind, key, patron, profile string
	before, after              []byte // unmasked JSON; nil when absent
}

// auditBefore reads a record as it is before a write, when the transaction
// is audited; nil when it is not or the record does not exist.
func auditBefore[T any](t *Tx, read func() (T, error)) ([]byte, error) {
	if t.audit == nil {
		return nil, nil
	}
	v, err := read()
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

// auditNote records a write of kind/key: before as auditBefore read it,
// after the record as written (nil for a removal). patronID, when not 0,
// names the patron the record belongs to.
func (t *Tx) auditNote(kind, key string, before []byte, after any, patronID uint64, profile string) error {
	if t.audit == nil {
		return nil
	}
	var a []byte
	if after != nil {
		var err error
		if a, err = json.Marshal(after); err != nil {
			return fmt.Errorf("store: audit %s %s: %w", kind, key, err)
		}
	}
	patron := ""
	if patronID != 0 {
		if p, err := t.Patron(patronID); err == nil {
			patron = p.Barcode
		}
	}
	if kind == "patron" {
		patron = key
	}
	for _, c := range t.audit.changes {
		if c.kind == kind && c.key == key {
			c.after = a
			return nil
		}
	}
	t.audit.changes = append(t.audit.changes, &auditChange{kind: kind, key: key, patron: patron, profile: profile, before: before, after: a})
	return nil
}

// flushAudit writes the changes the operation noted as entries, leaving
// out writes that changed nothing, and trims a few expired entries.
func (t *Tx) flushAudit(now time.Time) error {
	op := t.audit
	t.audit = nil
	if op == nil || len(op.changes) == 0 {
		return nil
	}
	wrote := false
	for _, c := range op.changes {
		before, after, err := store.MaskAuditPair(c.before, c.after)
		if err != nil {
			return fmt.Errorf("store: audit %s %s: %w", c.kind, c.key, err)
		}
		if bytes.Equal(before, after) {
			continue
		}
		e := store.AuditEntry{At: now, Actor: op.scope.Actor, Command: op.scope.Command, Kind: c.kind, Key: c.key,
			Patron: c.patron, Profile: c.profile, Before: before, After: after}
		if err := t.putAudit(&e); err != nil {
			return err
		}
		wrote = true
	}
	if !wrote {
		return nil
	}
	_, err := t.pruneAudit(now.Add(-t.AuditRetention()), auditPruneOnWrite)
	return err
}

// putAudit stores an entry under its time and the trail's next sequence.
func (t *Tx) putAudit(e *store.AuditEntry) error {
	b := t.b(bucketAudit)
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	e.Seq, e.At = seq, e.At.UTC()
	return putJSON(b, timeKey(e.At, seq), e)
}

// RecordAudit records one entry of its own in the scope ctx carries: a bulk
// run (an import, a file-exchange run) with its counts, or a change made
// outside the store (a certificate issued). what becomes the entry's After.
// Without a scope it records nothing.
func (db *DB) RecordAudit(ctx context.Context, kind, key, profile string, what any) error {
	scope, ok := store.AuditScopeOf(ctx)
	if !ok {
		return nil
	}
	after, err := json.Marshal(what)
	if err != nil {
		return err
	}
	if _, after, err = store.MaskAuditPair(nil, after); err != nil {
		return err
	}
	// The entry is this operation's own record: no per-record trail.
	scope.Summary = true
	return db.update(store.WithAudit(ctx, scope), func(tx *Tx) error {
		return tx.putAudit(&store.AuditEntry{At: time.Now(), Actor: scope.Actor, Command: scope.Command, Kind: kind, Key: key,
			Profile: profile, After: after, Summary: true})
	})
}

// ForEachAudit calls fn with the entries the filter selects, oldest first,
// until fn returns false.
func (t *Tx) ForEachAudit(f store.AuditFilter, fn func(store.AuditEntry) bool) error {
	c := t.b(bucketAudit).Cursor()
	k, v := c.First()
	if !f.Since.IsZero() {
		k, v = c.Seek(timeKey(f.Since, 0))
	}
	patron := store.NormalizeBarcode(f.Patron)
	for ; k != nil; k, v = c.Next() {
		if !f.Until.IsZero() && int64(binary.BigEndian.Uint64(k)) >= f.Until.UnixNano() {
			return nil
		}
		var e store.AuditEntry
		if err := json.Unmarshal(v, &e); err != nil {
			return fmt.Errorf("store: audit entry %x: %w", k, err)
		}
		if (patron != "" && store.NormalizeBarcode(e.Patron) != patron) || (f.Profile != "" && e.Profile != f.Profile) ||
			(f.Kind != "" && e.Kind != f.Kind) {
			continue
		}
		if !fn(e) {
			return nil
		}
	}
	return nil
}

// AuditRetention is how long entries are kept.
func (t *Tx) AuditRetention() time.Duration {
	if v := t.b(bucketMeta).Get(keyAuditRetention); len(v) == 8 {
		return time.Duration(decodeU64(v))
	}
	return store.DefaultAuditRetention
}

// SetAuditRetention sets how long entries are kept (at least a day).
func (t *Tx) SetAuditRetention(d time.Duration) error {
	if d < 24*time.Hour {
		return fmt.Errorf("%w: audit retention %s is less than a day", store.ErrConflict, d)
	}
	before, err := json.Marshal(store.FormatRetention(t.AuditRetention()))
	if err != nil {
		return err
	}
	if err := t.auditNote("setting", "audit retention", before, store.FormatRetention(d), 0, ""); err != nil {
		return err
	}
	return t.b(bucketMeta).Put(keyAuditRetention, u64(uint64(d)))
}

// pruneAudit removes up to limit entries older than cutoff, oldest first.
func (t *Tx) pruneAudit(cutoff time.Time, limit int) (int, error) {
	b := t.b(bucketAudit)
	end := cutoff.UnixNano()
	var expired [][]byte
	c := b.Cursor()
	for k, _ := c.First(); k != nil && len(expired) < limit && int64(binary.BigEndian.Uint64(k)) < end; k, _ = c.Next() {
		expired = append(expired, append([]byte(nil), k...))
	}
	for _, k := range expired {
		if err := b.Delete(k); err != nil {
			return 0, err
		}
	}
	return len(expired), nil
}

// PruneAudit removes the entries older than the retention period before
// now, AuditPruneBatch per transaction so that no commit the kiosks wait
// on carries a large prune. It returns how many it removed.
func (db *DB) PruneAudit(ctx context.Context, now time.Time) (int, error) {
	total := 0
	for {
		n := 0
		err := db.update(ctx, func(tx *Tx) error {
			var err error
			n, err = tx.pruneAudit(now.Add(-tx.AuditRetention()), store.AuditPruneBatch)
			return err
		})
		total += n
		if err != nil || n < store.AuditPruneBatch {
			return total, err
		}
		if err := ctx.Err(); err != nil {
			return total, err
		}
	}
}

// ---- masking ----

// ---- keys the trail names records by ----

func idKeyOf(id uint64) string { return strconv.FormatUint(id, 10) }
