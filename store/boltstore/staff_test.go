package boltstore

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/circa-ils/circa/store"
	bolt "go.etcd.io/bbolt"
)

func TestStaffAccounts(t *testing.T) {
	db := openTest(t)
	at := time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)
	mustUpdate(t, db, func(tx store.Tx) error {
		for _, n := range []string{"rosa", "ada"} {
			if err := tx.PutStaff(&store.StaffAccount{Name: n, PasswordHash: "$argon2id$x", Created: at, PasswordSet: at}); err != nil {
				return err
			}
		}
		return nil
	})
	mustView(t, db, func(tx store.Tx) error {
		all, err := tx.StaffAccounts()
		if err != nil || len(all) != 2 || all[0].Name != "ada" || all[1].Name != "rosa" {
			t.Fatalf("StaffAccounts = %+v, %v; want ada, rosa", all, err)
		}
		s, err := tx.Staff("rosa")
		if err != nil || s.PasswordHash != "$argon2id$x" || !s.PasswordSet.Equal(at) {
			t.Fatalf("Staff(rosa) = %+v, %v", s, err)
		}
		return nil
	})
	mustUpdate(t, db, func(tx store.Tx) error { return tx.DeleteStaff("rosa") })
	mustView(t, db, func(tx store.Tx) error {
		if _, err := tx.Staff("rosa"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Staff after delete: %v, want ErrNotFound", err)
		}
		if err := tx.DeleteStaff("rosa"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("DeleteStaff twice: %v, want ErrNotFound", err)
		}
		return nil
	})
}

// A version 5 file has no staff bucket; opening it migrates to the
// current version with an empty one that takes accounts.
func TestMigrateStaffBucket(t *testing.T) {
	db := openBare(t)
	db = reopenAs(t, db, 5, func(btx *bolt.Tx) error { return btx.DeleteBucket(bucketStaff) })
	defer db.Close()
	if v, _ := db.Version(); v != SchemaVersion {
		t.Fatalf("version %d after migrating, want %d", v, SchemaVersion)
	}
	mustUpdate(t, db, func(tx store.Tx) error { return tx.PutStaff(&store.StaffAccount{Name: "ada", PasswordHash: "h"}) })
}

// The count reads the due index alone, so loans need no items here.
func TestCountOpenLoansDueBefore(t *testing.T) {
	db := openBare(t)
	defer db.Close()
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	mustUpdate(t, db, func(tx store.Tx) error {
		for i, due := range []time.Duration{-48 * time.Hour, -time.Minute, time.Hour} {
			l := store.Loan{ItemID: uint64(i + 1), PatronID: 1, Library: "MAIN", Out: now.Add(-72 * time.Hour), Due: now.Add(due)}
			if err := tx.OpenLoan(&l); err != nil {
				return err
			}
		}
		return nil
	})
	mustView(t, db, func(tx store.Tx) error {
		if n := tx.CountOpenLoansDueBefore(now); n != 2 {
			t.Fatalf("overdue = %d, want 2", n)
		}
		return nil
	})
}

func mustView(t *testing.T, db *DB, fn func(store.Tx) error) {
	t.Helper()
	if err := db.View(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

// openBare opens a fresh database without the consistency check at the
// end that openTest adds.
func openBare(t *testing.T) *DB {
	t.Helper()
	db, err := Open(filepath.Join(t.TempDir(), DefaultFile), Options{})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func TestJournalStart(t *testing.T) {
	db := openBare(t)
	defer db.Close()
	day := time.Date(2026, 12, 6, 5, 0, 0, 0, time.UTC)
	mustView(t, db, func(tx store.Tx) error {
		if seq, err := tx.JournalStart(day); err != nil || seq != 0 {
			t.Fatalf("empty journal: %d, %v", seq, err)
		}
		return nil
	})
	mustUpdate(t, db, func(tx store.Tx) error {
		for _, at := range []time.Time{day.Add(-2 * time.Hour), day.Add(-time.Second), day, day.Add(time.Hour)} {
			if _, err := tx.Emit(store.Event{At: at, Kind: "checkout"}); err != nil {
				return err
			}
		}
		return nil
	})
	mustView(t, db, func(tx store.Tx) error {
		for _, c := range []struct {
			from time.Time
			want uint64
		}{{day, 2}, {day.Add(-time.Hour), 1}, {day.Add(-3 * time.Hour), 0}, {day.Add(2 * time.Hour), 4}} {
			if seq, err := tx.JournalStart(c.from); err != nil || seq != c.want {
				t.Errorf("JournalStart(%s) = %d, %v; want %d", c.from, seq, err, c.want)
			}
		}
		return nil
	})
}
