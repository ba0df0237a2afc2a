package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// copyBatch is how many records one write transaction of a copy carries:
// big enough that commits do not dominate, small enough that a million
// bibs never sit in one transaction.
const copyBatch = 500

// CopyKinds are the kinds of record Copy moves, in the order it moves them
// (what a record refers to comes before it).
var CopyKinds = []string{"settings", "libraries", "locations", "desks", "groups", "policies", "bibs", "holdings",
	"items", "patrons", "pin failures", "loans", "requests", "fees", "storage states", "journal events",
	"stored answers", "cursors", "profiles", "staff accounts", "audit entries"}

// Copy moves everything src holds into dst, which must be empty: every
// record with its id, the change and idempotency journals with their
// sequence numbers, the settings and the installation key (so tokens signed
// and patron references made before the copy stay valid). It then counts
// each kind again in dst and returns the counts, or an error naming the
// first kind whose counts differ. progress, when not nil, is called after
// each kind.
func Copy(ctx context.Context, src, dst DB, progress func(kind string, n int)) (map[string]int, error) {
	empty := true
	if err := dst.View(ctx, func(tx Tx) error {
		empty = tx.JournalHead() == 0 && countOf(tx, "bibs") == 0 && countOf(tx, "patrons") == 0 && countOf(tx, "libraries") == 0
		return nil
	}); err != nil {
		return nil, err
	}
	if !empty {
		return nil, fmt.Errorf("store: %s is not empty: copy only into a new store", dst.Describe())
	}
	counts := map[string]int{}
	w := &copyWriter{ctx: ctx, dst: dst}
	err := src.View(ctx, func(tx Tx) error {
		for _, kind := range CopyKinds {
			n, err := copyKind(tx, kind, w)
			if err != nil {
				return fmt.Errorf("copy %s: %w", kind, err)
			}
			if err := w.flush(); err != nil {
				return fmt.Errorf("copy %s: %w", kind, err)
			}
			counts[kind] = n
			if progress != nil {
				progress(kind, n)
			}
		}
		return nil
	})
	if err != nil {
		return counts, err
	}
	if err := dst.Update(ctx, func(tx Tx) error { return tx.FinishCopy() }); err != nil {
		return counts, err
	}
	return counts, dst.View(ctx, func(tx Tx) error {
		for _, kind := range CopyKinds {
			if got := countOf(tx, kind); got != counts[kind] {
				return fmt.Errorf("store: copied %d %s but %s holds %d", counts[kind], kind, dst.Describe(), got)
			}
		}
		return nil
	})
}

// copyWriter gathers writes into batches of copyBatch, each one Update of
// the destination. A batch's writes hold copies of their records, so a
// transaction that runs again writes the same.
type copyWriter struct {
	ctx context.Context
	dst DB
	ops []func(Tx) error
}

func (w *copyWriter) add(op func(Tx) error) error {
	w.ops = append(w.ops, op)
	if len(w.ops) < copyBatch {
		return nil
	}
	return w.flush()
}

func (w *copyWriter) flush() error {
	ops := w.ops
	w.ops = nil
	if len(ops) == 0 {
		return nil
	}
	return w.dst.Update(w.ctx, func(tx Tx) error {
		for _, op := range ops {
			if err := op(tx); err != nil {
				return err
			}
		}
		return nil
	})
}

// each runs one write per record of a ForEach, stopping at the first error.
func each[T any](forEach func(func(T) bool) error, w *copyWriter, write func(T) func(Tx) error) (int, error) {
	n := 0
	var werr error
	err := forEach(func(v T) bool {
		n++
		werr = w.add(write(v))
		return werr == nil
	})
	return n, errors.Join(err, werr)
}

// all is each for the kinds read as one list.
func all[T any](list func() ([]T, error), w *copyWriter, write func(T) func(Tx) error) (int, error) {
	vs, err := list()
	if err != nil {
		return 0, err
	}
	for _, v := range vs {
		if err := w.add(write(v)); err != nil {
			return 0, err
		}
	}
	return len(vs), nil
}

func copyKind(tx Tx, kind string, w *copyWriter) (int, error) {
	switch kind {
	case "settings":
		return copySettings(tx, w)
	case "libraries":
		return all(tx.Libraries, w, func(l Library) func(Tx) error { return func(d Tx) error { return d.PutLibrary(&l) } })
	case "locations":
		return all(tx.Locations, w, func(l Location) func(Tx) error { return func(d Tx) error { return d.PutLocation(&l) } })
	case "desks":
		return all(tx.Desks, w, func(x Desk) func(Tx) error { return func(d Tx) error { return d.PutDesk(&x) } })
	case "groups":
		return all(tx.Groups, w, func(g Group) func(Tx) error { return func(d Tx) error { return d.PutGroup(&g) } })
	case "policies":
		return all(tx.Policies, w, func(p Policy) func(Tx) error { return func(d Tx) error { return d.PutPolicy(&p) } })
	case "bibs":
		var merr error
		n, err := each(tx.ForEachBib, w, func(b Bib) func(Tx) error {
			if b.MARCXML == "" {
				b.MARCXML, merr = tx.BibMARC(b.ID)
				if errors.Is(merr, ErrNotFound) {
					merr = nil
				}
			}
			changed := b.Changed
			return func(d Tx) error {
				c := b
				return d.PutBib(&c, changed)
			}
		})
		return n, errors.Join(err, merr)
	case "holdings":
		return each(tx.ForEachHolding, w, func(h Holding) func(Tx) error {
			return func(d Tx) error { c := h; return d.PutHolding(&c, time.Time{}) }
		})
	case "items":
		return each(tx.ForEachItem, w, func(it Item) func(Tx) error {
			return func(d Tx) error { c := it; return d.PutItem(&c, it.Updated) }
		})
	case "patrons":
		return each(tx.ForEachPatron, w, func(p Patron) func(Tx) error {
			return func(d Tx) error { c := p; return d.PutPatron(&c, p.Updated) }
		})
	case "pin failures":
		n := 0
		var werr error
		err := tx.ForEachPINFailures(func(id uint64, f PINFailures) bool {
			n++
			werr = w.add(func(d Tx) error { return d.PutPINFailures(id, f) })
			return werr == nil
		})
		return n, errors.Join(err, werr)
	case "loans":
		return each(tx.ForEachLoan, w, func(l Loan) func(Tx) error {
			return func(d Tx) error { c := l; return d.CopyLoan(&c) }
		})
	case "requests":
		return each(tx.ForEachRequest, w, func(r Request) func(Tx) error {
			return func(d Tx) error { c := r; return d.PutRequest(&c) }
		})
	case "fees":
		return each(tx.ForEachFee, w, func(f Fee) func(Tx) error {
			return func(d Tx) error { c := f; return d.PutFee(&c) }
		})
	case "storage states":
		return each(tx.ForEachStorageState, w, func(s StorageState) func(Tx) error {
			return func(d Tx) error { return d.AddStorageState(s) }
		})
	case "journal events":
		return each(func(fn func(Event) bool) error { return tx.JournalAfter(0, fn) }, w, func(e Event) func(Tx) error {
			return func(d Tx) error { return d.CopyEvent(e) }
		})
	case "stored answers":
		n := 0
		var werr error
		err := tx.ForEachRemembered(func(key string, e IdemEntry) bool {
			n++
			werr = w.add(func(d Tx) error { return d.Remember(key, e) })
			return werr == nil
		})
		return n, errors.Join(err, werr)
	case "cursors":
		n := 0
		var werr error
		err := tx.ForEachCursor(func(name string, seq uint64) bool {
			n++
			werr = w.add(func(d Tx) error { return d.SetCursor(name, seq) })
			return werr == nil
		})
		return n, errors.Join(err, werr)
	case "profiles":
		n := 0
		var werr error
		err := tx.ForEachProfile(func(typ, code string, doc []byte) error {
			n++
			doc = append([]byte(nil), doc...)
			if werr = w.add(func(d Tx) error { return d.PutProfile(typ, code, doc) }); werr != nil {
				return werr
			}
			return nil
		})
		return n, err
	case "staff accounts":
		return all(tx.StaffAccounts, w, func(s StaffAccount) func(Tx) error { return func(d Tx) error { return d.PutStaff(&s) } })
	case "audit entries":
		return each(func(fn func(AuditEntry) bool) error { return tx.ForEachAudit(AuditFilter{}, fn) }, w, func(e AuditEntry) func(Tx) error {
			return func(d Tx) error { return d.CopyAuditEntry(e) }
		})
	}
	return 0, fmt.Errorf("store: no such kind %q", kind)
}

// copySettings copies the named settings, the rules, the audit retention
// and the installation key; it counts the named settings.
func copySettings(tx Tx, w *copyWriter) (int, error) {
	key := tx.InstallKey()
	retention := tx.AuditRetention()
	rules, err := tx.Rules()
	hasRules := err == nil
	if err != nil && !errors.Is(err, ErrNotFound) {
		return 0, err
	}
	if err := w.add(func(d Tx) error {
		if err := d.SetInstallKey(key); err != nil {
			return err
		}
		if hasRules {
			r := rules
			if err := d.PutRules(&r); err != nil {
				return err
			}
		}
		return d.SetAuditRetention(retention)
	}); err != nil {
		return 0, err
	}
	n := 0
	var werr error
	err = tx.ForEachMeta(func(name string, raw json.RawMessage) bool {
		n++
		werr = w.add(func(d Tx) error { return d.SetMeta(name, raw) })
		return werr == nil
	})
	return n, errors.Join(err, werr)
}

// countOf counts the records of one kind, as Copy moved them.
func countOf(tx Tx, kind string) int {
	n := 0
	count := func(fn func(func() bool) error) int {
		if fn(func() bool { n++; return true }) != nil {
			return -1
		}
		return n
	}
	length := func(l int, err error) int {
		if err != nil {
			return -1
		}
		return l
	}
	switch kind {
	case "settings":
		return count(func(f func() bool) error {
			return tx.ForEachMeta(func(string, json.RawMessage) bool { return f() })
		})
	case "libraries":
		v, err := tx.Libraries()
		return length(len(v), err)
	case "locations":
		v, err := tx.Locations()
		return length(len(v), err)
	case "desks":
		v, err := tx.Desks()
		return length(len(v), err)
	case "groups":
		v, err := tx.Groups()
		return length(len(v), err)
	case "policies":
		v, err := tx.Policies()
		return length(len(v), err)
	case "bibs":
		return count(func(f func() bool) error { return tx.ForEachBib(func(Bib) bool { return f() }) })
	case "holdings":
		return count(func(f func() bool) error { return tx.ForEachHolding(func(Holding) bool { return f() }) })
	case "items":
		return count(func(f func() bool) error { return tx.ForEachItem(func(Item) bool { return f() }) })
	case "patrons":
		return count(func(f func() bool) error { return tx.ForEachPatron(func(Patron) bool { return f() }) })
	case "pin failures":
		return count(func(f func() bool) error {
			return tx.ForEachPINFailures(func(uint64, PINFailures) bool { return f() })
		})
	case "loans":
		return count(func(f func() bool) error { return tx.ForEachLoan(func(Loan) bool { return f() }) })
	case "requests":
		return count(func(f func() bool) error { return tx.ForEachRequest(func(Request) bool { return f() }) })
	case "fees":
		return count(func(f func() bool) error { return tx.ForEachFee(func(Fee) bool { return f() }) })
	case "storage states":
		return count(func(f func() bool) error {
			return tx.ForEachStorageState(func(StorageState) bool { return f() })
		})
	case "journal events":
		return count(func(f func() bool) error { return tx.JournalAfter(0, func(Event) bool { return f() }) })
	case "stored answers":
		return count(func(f func() bool) error {
			return tx.ForEachRemembered(func(string, IdemEntry) bool { return f() })
		})
	case "cursors":
		return count(func(f func() bool) error { return tx.ForEachCursor(func(string, uint64) bool { return f() }) })
	case "profiles":
		return count(func(f func() bool) error {
			return tx.ForEachProfile(func(string, string, []byte) error { f(); return nil })
		})
	case "staff accounts":
		v, err := tx.StaffAccounts()
		return length(len(v), err)
	case "audit entries":
		return count(func(f func() bool) error {
			return tx.ForEachAudit(AuditFilter{}, func(AuditEntry) bool { return f() })
		})
	}
	return -1
}
