package boltstore_test

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/circa-ils/circa/fixtures"
	"github.com/circa-ils/circa/store"
	"github.com/circa-ils/circa/store/boltstore"
)

// A seeded library copied into a new file holds the same records, journal
// and keys; the copy's next ids do not collide with copied ones; and a copy
// into a store that is not empty is refused.
func TestCopyKeepsEveryRecordAndItsID(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	src, err := boltstore.Open(filepath.Join(dir, "src.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if _, err := fixtures.Seed(ctx, src, fixtures.Options{Now: time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC), Scale: 300}); err != nil {
		t.Fatal(err)
	}
	if err := src.Update(ctx, func(tx store.Tx) error {
		if err := tx.SetCursor("exchange/x", 7); err != nil {
			return err
		}
		return tx.Remember("kiosk/1", store.IdemEntry{At: time.Now(), Until: time.Now().Add(time.Hour), Result: []byte("answer")})
	}); err != nil {
		t.Fatal(err)
	}
	dst, err := boltstore.Open(filepath.Join(dir, "dst.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	counts, err := store.Copy(ctx, src, dst, nil)
	if err != nil {
		t.Fatal(err)
	}
	if counts["bibs"] == 0 || counts["items"] == 0 || counts["patrons"] == 0 || counts["loans"] == 0 || counts["journal events"] == 0 {
		t.Fatalf("counts %v: the seeded library should have every kind", counts)
	}

	type snapshot struct {
		Key       []byte
		Head      uint64
		Cursor    uint64
		Answer    store.IdemEntry
		Patrons   []store.Patron
		Loans     []store.Loan
		Items     []store.Item
		Bibs      []store.Bib
		MARC      string
		Institute store.Institution
	}
	snap := func(db store.DB) snapshot {
		var s snapshot
		if err := db.View(ctx, func(tx store.Tx) error {
			s.Key, s.Head, s.Cursor = tx.InstallKey(), tx.JournalHead(), tx.Cursor("exchange/x")
			s.Answer, _, _ = tx.Remembered("kiosk/1")
			tx.ForEachPatron(func(p store.Patron) bool { s.Patrons = append(s.Patrons, p); return true })
			tx.ForEachLoan(func(l store.Loan) bool { s.Loans = append(s.Loans, l); return true })
			tx.ForEachItem(func(it store.Item) bool { s.Items = append(s.Items, it); return true })
			tx.ForEachBib(func(b store.Bib) bool { s.Bibs = append(s.Bibs, b); return true })
			s.MARC, _ = tx.BibMARC(s.Bibs[len(s.Bibs)-1].ID)
			s.Institute, _ = tx.Institution()
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return s
	}
	a, b := snap(src), snap(dst)
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("the copy differs from its source")
	}
	if probs, err := dst.Check(); err != nil || len(probs) > 0 {
		t.Fatalf("check of the copy: %v %v", probs, err)
	}

	// New records get ids past the copied ones.
	if err := dst.Update(ctx, func(tx store.Tx) error {
		p := store.Patron{Barcode: "NEW-AFTER-COPY", LastName: "New"}
		if err := tx.PutPatron(&p, time.Now()); err != nil {
			return err
		}
		if p.ID <= a.Patrons[len(a.Patrons)-1].ID {
			t.Errorf("new patron got id %d, not past the copied %d", p.ID, a.Patrons[len(a.Patrons)-1].ID)
		}
		seq, err := tx.Emit(store.Event{At: time.Now(), Kind: "test"})
		if seq != a.Head+1 {
			t.Errorf("next event %d, want %d", seq, a.Head+1)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}

	if _, err := store.Copy(ctx, src, dst, nil); err == nil {
		t.Fatal("a copy into a store holding a library was accepted")
	}
}
