package boltstore

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/circa-ils/circa/store"
	bolt "go.etcd.io/bbolt"
)

// The Transfer role: a library read and written whole, for circa db copy.

// ForEachLoan calls fn with every loan, open and returned, in id order.
func (t *Tx) ForEachLoan(fn func(store.Loan) bool) error {
	c := t.b(bucketLoans).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		var l store.Loan
		if err := decodeRecord(v, &l); err != nil {
			return err
		}
		if !fn(l) {
			return nil
		}
	}
	return nil
}

// ForEachStorageState calls fn with every remote-storage history entry, by
// item and then in the order they were added.
func (t *Tx) ForEachStorageState(fn func(store.StorageState) bool) error {
	return forEachJSON(t.b(bucketStorage).Cursor(), func(_ []byte, s store.StorageState) bool { return fn(s) })
}

// ForEachPINFailures calls fn with every patron's run of wrong PINs.
func (t *Tx) ForEachPINFailures(fn func(patronID uint64, f store.PINFailures) bool) error {
	return forEachJSON(t.b(bucketPINFails).Cursor(), func(k []byte, f store.PINFailures) bool { return fn(decodeU64(k), f) })
}

// ForEachRemembered calls fn with every stored answer and its key.
func (t *Tx) ForEachRemembered(fn func(key string, e store.IdemEntry) bool) error {
	c := t.b(bucketIdem).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		var e store.IdemEntry
		if err := decodeRecord(v, &e); err != nil {
			return err
		}
		if !fn(string(k), e) {
			return nil
		}
	}
	return nil
}

// ForEachCursor calls fn with every journal reader's saved position.
func (t *Tx) ForEachCursor(fn func(name string, seq uint64) bool) error {
	c := t.b(bucketMeta).Cursor()
	p := []byte(cursorPrefix)
	for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
		if !fn(strings.TrimPrefix(string(k), cursorPrefix), decodeU64(v)) {
			return nil
		}
	}
	return nil
}

// ForEachMeta calls fn with every named setting (SetMeta) as its JSON.
func (t *Tx) ForEachMeta(fn func(name string, raw json.RawMessage) bool) error {
	c := t.b(bucketMeta).Cursor()
	p := []byte(settingPrefix)
	for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
		if !fn(strings.TrimPrefix(string(k), settingPrefix), bytes.Clone(v)) {
			return nil
		}
	}
	return nil
}

// CopyLoan writes a loan exactly as given, with its id, open or returned.
func (t *Tx) CopyLoan(l *store.Loan) error {
	if l.Open() {
		if t.b(idxLoanOpenItem).Get(u64(l.ItemID)) != nil {
			return store.ErrConflict
		}
		if err := t.b(idxLoanOpenItem).Put(u64(l.ItemID), u64(l.ID)); err != nil {
			return err
		}
		if err := t.b(idxLoanOpenPatron).Put(pair(l.PatronID, l.ID), nil); err != nil {
			return err
		}
		if err := t.b(idxLoanOpenDue).Put(timeKey(l.Due, l.ID), nil); err != nil {
			return err
		}
	} else if err := t.b(idxLoanHistPatron).Put(pair(l.PatronID, l.ID), nil); err != nil {
		return err
	}
	return putRecord(t.b(bucketLoans), u64(l.ID), l)
}

// CopyEvent writes a journal event under its own sequence number.
func (t *Tx) CopyEvent(e store.Event) error {
	e.At = e.At.UTC()
	return putRecord(t.b(bucketJournal), u64(e.Seq), &e)
}

// CopyAuditEntry writes an audit entry under its own time and sequence.
func (t *Tx) CopyAuditEntry(e store.AuditEntry) error {
	e.At = e.At.UTC()
	return putJSON(t.b(bucketAudit), timeKey(e.At, e.Seq), &e)
}

// SetInstallKey replaces the installation key, so a copied library keeps
// the keys circ derives from it (signed tokens, patron references).
func (t *Tx) SetInstallKey(key []byte) error {
	return t.b(bucketMeta).Put(keyInstallKey, bytes.Clone(key))
}

// FinishCopy moves each bucket's id sequence past the largest id written
// by the copy, so the records created next get new ids.
func (t *Tx) FinishCopy() error {
	for _, name := range [][]byte{bucketBibs, bucketHoldings, bucketItems, bucketPatrons, bucketLoans, bucketRequests, bucketFees, bucketJournal} {
		b := t.b(name)
		k, _ := b.Cursor().Last()
		if last := decodeU64(k); last > b.Sequence() {
			if err := b.SetSequence(last); err != nil {
				return err
			}
		}
	}
	// Audit keys are time ‖ sequence: the largest sequence is anywhere.
	b := t.b(bucketAudit)
	max := b.Sequence()
	c := b.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		max = maxU64(max, pairSecond(k))
	}
	return b.SetSequence(max)
}

func maxU64(a, b uint64) uint64 {
	if a > b {
		return a
	}
	return b
}

// forEachJSON decodes every JSON value under a cursor and calls fn with it
// and its key until fn returns false.
func forEachJSON[T any](c *bolt.Cursor, fn func(k []byte, v T) bool) error {
	for k, raw := c.First(); k != nil; k, raw = c.Next() {
		var v T
		if err := json.Unmarshal(raw, &v); err != nil {
			return fmt.Errorf("store: decode record %x: %w", k, err)
		}
		if !fn(k, v) {
			return nil
		}
	}
	return nil
}
