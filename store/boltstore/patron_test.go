package boltstore

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/circa-ils/circa/store"
)

// Deleting a patron frees its barcode and identifiers, refuses while a loan
// is open, and leaves its returned loans for the item's history without the
// check complaining.
func TestDeletePatron(t *testing.T) {
	db := openTest(t)
	_, it := seedItem(t, db, "I1")
	p := store.Patron{Barcode: "p1", LastName: "Doe", UserGroup: "G",
		Identifiers: []store.Identifier{{Type: "univ_id", Value: "U-1"}}}
	mustUpdate(t, db, func(tx store.Tx) error {
		if err := tx.PutPatron(&p, t0); err != nil {
			return err
		}
		return tx.PutPINFailures(p.ID, store.PINFailures{Count: 2, Last: t0})
	})
	var loan store.Loan
	mustUpdate(t, db, func(tx store.Tx) error {
		loan = store.Loan{ItemID: it.ID, PatronID: p.ID, Out: t0, Due: t0.Add(time.Hour)}
		return tx.OpenLoan(&loan)
	})
	err := db.Update(context.Background(), func(tx store.Tx) error { return tx.DeletePatron(p.ID) })
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("delete with an open loan: got %v", err)
	}
	mustUpdate(t, db, func(tx store.Tx) error { return tx.CloseLoan(&loan, t0.Add(time.Hour), "MAIN") })
	mustUpdate(t, db, func(tx store.Tx) error { return tx.DeletePatron(p.ID) })
	db.View(context.Background(), func(tx store.Tx) error {
		if _, err := tx.Patron(p.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("patron after delete: %v", err)
		}
		if _, err := tx.PatronByIdentifier("univ_id", "u-1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("identifier after delete: %v", err)
		}
		if f, _ := tx.PINFailures(p.ID); f.Count != 0 {
			t.Errorf("PIN failures after delete: %+v", f)
		}
		if hist, _ := tx.LoanHistoryOfPatron(p.ID); len(hist) != 1 {
			t.Errorf("returned loans after delete: %d, want 1", len(hist))
		}
		return nil
	})
	// The barcode and identifier are free for someone else.
	mustUpdate(t, db, func(tx store.Tx) error {
		q := store.Patron{Barcode: "P1", LastName: "Roe", UserGroup: "G", Identifiers: []store.Identifier{{Type: "univ_id", Value: "U-1"}}}
		if err := tx.PutPatron(&q, t0); err != nil {
			return err
		}
		if q.ID == p.ID {
			t.Errorf("a new patron got the deleted one's id %d", q.ID)
		}
		return nil
	})
	err = db.Update(context.Background(), func(tx store.Tx) error { return tx.DeletePatron(999) })
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("delete of a missing patron: got %v", err)
	}
}

// A value is found whatever type holds it, barcode included.
func TestPatronsWithValue(t *testing.T) {
	db := openTest(t)
	var a, b, c store.Patron
	mustUpdate(t, db, func(tx store.Tx) error {
		a = store.Patron{Barcode: "A1", LastName: "x", Identifiers: []store.Identifier{{Type: "univ_id", Value: "SHARED"}}}
		b = store.Patron{Barcode: "SHARED", LastName: "y"}
		c = store.Patron{Barcode: "C1", LastName: "z", Identifiers: []store.Identifier{{Type: "email", Value: "c@x.org"}, {Type: "zz", Value: "A1"}}}
		for _, p := range []*store.Patron{&a, &b, &c} {
			if err := tx.PutPatron(p, t0); err != nil {
				return err
			}
		}
		return nil
	})
	db.View(context.Background(), func(tx store.Tx) error {
		for _, tc := range []struct {
			value string
			want  []uint64
		}{{"shared", []uint64{b.ID, a.ID}}, {"a1", []uint64{a.ID, c.ID}}, {"C@X.ORG", []uint64{c.ID}}, {"nobody", nil}, {" ", nil}} {
			got := tx.PatronsWithValue(tc.value)
			if !slices.Equal(got, tc.want) {
				t.Errorf("PatronsWithValue(%q) = %v, want %v", tc.value, got, tc.want)
			}
		}
		return nil
	})
}
