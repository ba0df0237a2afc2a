package boltstore

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/circa-ils/circa/store"
	bolt "go.etcd.io/bbolt"
)

var t0 = time.Date(2026, 3, 2, 15, 4, 5, 0, time.UTC)

// openTest opens a fresh database and checks its consistency at cleanup.
func openTest(t *testing.T) *DB {
	t.Helper()
	db, err := Open(filepath.Join(t.TempDir(), DefaultFile), Options{})
	if err != nil {
		t.Fatal(err)
	}
	seedPlaces(t, db)
	t.Cleanup(func() {
		probs, err := db.Check()
		if err != nil {
			t.Error(err)
		}
		for _, p := range probs {
			t.Errorf("check: %s", p)
		}
		db.Close()
	})
	return db
}

// seedPlaces puts the library, locations and group the tests' records name, so
// that the check's reference test passes on them.
func seedPlaces(t *testing.T, db *DB) {
	t.Helper()
	// Straight through bbolt, so tests counting commits see only theirs.
	err := db.bolt.Update(func(btx *bolt.Tx) error {
		tx := &Tx{btx: btx}
		if err := tx.PutLibrary(&store.Library{Code: "MAIN"}); err != nil {
			return err
		}
		for _, l := range []string{"STACKS", "ANNEX"} {
			if err := tx.PutLocation(&store.Location{Code: l, Library: "MAIN"}); err != nil {
				return err
			}
		}
		return tx.PutGroup(&store.Group{Code: "G", Name: "Test group"})
	})
	if err != nil {
		t.Fatal(err)
	}
}

func mustUpdate(t *testing.T, db *DB, fn func(store.Tx) error) {
	t.Helper()
	if err := db.Update(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

// reopenAs has edit give db's file the content of an older version, marks
// the file version v and opens it again, which migrates it.
func reopenAs(t *testing.T, db *DB, v uint64, edit func(*bolt.Tx) error) *DB {
	t.Helper()
	err := db.bolt.Update(func(btx *bolt.Tx) error {
		if err := edit(btx); err != nil {
			return err
		}
		return btx.Bucket(bucketMeta).Put(keySchemaVersion, u64(v))
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, err = Open(db.path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func seedItem(t *testing.T, db *DB, barcode string) (store.Bib, store.Item) {
	t.Helper()
	var b store.Bib
	var it store.Item
	mustUpdate(t, db, func(tx store.Tx) error {
		b = store.Bib{Title: "T " + barcode, MARCXML: "<record/>"}
		if err := tx.PutBib(&b, t0); err != nil {
			return err
		}
		it = store.Item{Barcode: barcode, BibID: b.ID, Library: "MAIN", Location: "STACKS", Status: store.ItemAvailable, Pieces: 1}
		return tx.PutItem(&it, t0)
	})
	return b, it
}

func TestKeyOrderIsNumericOrder(t *testing.T) {
	vals := []uint64{0, 1, 255, 256, 65535, 1 << 32, 1<<63 + 5, ^uint64(0)}
	for i := 1; i < len(vals); i++ {
		if bytes.Compare(u64(vals[i-1]), u64(vals[i])) >= 0 {
			t.Fatalf("u64(%d) !< u64(%d)", vals[i-1], vals[i])
		}
		if bytes.Compare(pair(7, vals[i-1]), pair(7, vals[i])) >= 0 {
			t.Fatalf("pair order broken at %d", vals[i])
		}
	}
	a := timeKey(t0, 9)
	b := timeKey(t0.Add(time.Nanosecond), 1)
	if bytes.Compare(a, b) >= 0 {
		t.Fatal("time keys do not order by time first")
	}
}

func TestItemIndexesFollowChanges(t *testing.T) {
	db := openTest(t)
	_, it := seedItem(t, db, "31000000000001")
	mustUpdate(t, db, func(tx store.Tx) error {
		got, err := tx.ItemByBarcode(" 31000000000001 ")
		if err != nil || got.ID != it.ID {
			t.Fatalf("lookup by padded barcode: %v %v", got.ID, err)
		}
		got.Barcode = "X1"
		return tx.PutItem(&got, t0)
	})
	db.View(context.Background(), func(tx store.Tx) error {
		if _, err := tx.ItemByBarcode("31000000000001"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("old barcode still indexed: %v", err)
		}
		if got, err := tx.ItemByBarcode("x1"); err != nil || got.ID != it.ID {
			t.Errorf("new barcode not found case-insensitively: %v", err)
		}
		return nil
	})
	// A second item may not take a barcode in use.
	err := db.Update(context.Background(), func(tx store.Tx) error {
		other := store.Item{Barcode: "X1", BibID: it.BibID, Status: store.ItemAvailable}
		return tx.PutItem(&other, t0)
	})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate barcode: got %v", err)
	}
}

func TestOneOpenLoanPerItem(t *testing.T) {
	db := openTest(t)
	_, it := seedItem(t, db, "I1")
	var p store.Patron
	mustUpdate(t, db, func(tx store.Tx) error {
		p = store.Patron{Barcode: "P1", LastName: "x", UserGroup: "G"}
		return tx.PutPatron(&p, t0)
	})
	mustUpdate(t, db, func(tx store.Tx) error {
		it.Status = store.ItemOnLoan
		if err := tx.PutItem(&it, t0); err != nil {
			return err
		}
		return tx.OpenLoan(&store.Loan{ItemID: it.ID, PatronID: p.ID, Out: t0, Due: t0.Add(time.Hour)})
	})
	err := db.Update(context.Background(), func(tx store.Tx) error {
		return tx.OpenLoan(&store.Loan{ItemID: it.ID, PatronID: p.ID, Out: t0, Due: t0.Add(time.Hour)})
	})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second open loan: got %v", err)
	}
	mustUpdate(t, db, func(tx store.Tx) error {
		l, open, err := tx.OpenLoanOfItem(it.ID)
		if err != nil || !open {
			t.Fatalf("open loan missing: %v", err)
		}
		l.Due = l.Due.Add(24 * time.Hour)
		if err := tx.UpdateLoan(&l); err != nil {
			return err
		}
		if err := tx.CloseLoan(&l, t0.Add(2*time.Hour), "MAIN"); err != nil {
			return err
		}
		it.Status = store.ItemAvailable
		return tx.PutItem(&it, t0)
	})
	db.View(context.Background(), func(tx store.Tx) error {
		if open, _ := tx.OpenLoansOfPatron(p.ID); len(open) != 0 {
			t.Errorf("open loans after close: %d", len(open))
		}
		if hist, _ := tx.LoanHistoryOfPatron(p.ID); len(hist) != 1 {
			t.Errorf("history: %d loans", len(hist))
		}
		return nil
	})
}

func TestGroupCommitIsolatesFailures(t *testing.T) {
	db := openTest(t)
	const n = 200
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = db.Update(context.Background(), func(tx store.Tx) error {
				if _, err := tx.Emit(store.Event{At: t0, Kind: "test"}); err != nil {
					return err
				}
				if i%10 == 0 {
					return errors.New("boom")
				}
				return tx.Remember(string(rune('a'+i%26))+string(rune(i)), store.IdemEntry{At: t0, Result: []byte("x")})
			})
		}()
	}
	wg.Wait()
	failed := 0
	for i, err := range errs {
		if (i%10 == 0) != (err != nil) {
			t.Fatalf("op %d: err %v", i, err)
		}
		if err != nil {
			failed++
		}
	}
	db.View(context.Background(), func(tx store.Tx) error {
		count := 0
		tx.JournalAfter(0, func(store.Event) bool { count++; return true })
		if count != n-failed {
			t.Errorf("journal holds %d events, want %d (failed ops must leave nothing)", count, n-failed)
		}
		return nil
	})
	st := db.CommitStats()
	if st.Operations != uint64(n-failed) {
		t.Errorf("committed ops %d, want %d", st.Operations, n-failed)
	}
	t.Logf("%d ops in %d commits", st.Operations, st.Commits)
}

func TestPanicInOperationIsAnError(t *testing.T) {
	db := openTest(t)
	err := db.Update(context.Background(), func(tx store.Tx) error { panic("bad") })
	if err == nil {
		t.Fatal("panic not reported")
	}
	mustUpdate(t, db, func(tx store.Tx) error { return nil })
}

func TestOpenFailsFastWhenLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), DefaultFile)
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	start := time.Now()
	_, err = Open(path, Options{LockTimeout: 200 * time.Millisecond})
	if !errors.Is(err, store.ErrLocked) {
		t.Fatalf("second open: got %v, want ErrLocked", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("second open did not give up")
	}
}

func TestRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), DefaultFile)
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	db.bolt.Update(func(btx *bolt.Tx) error {
		return btx.Bucket(bucketMeta).Put(keySchemaVersion, u64(SchemaVersion+1))
	})
	db.Close()
	if _, err := Open(path, Options{}); !errors.Is(err, store.ErrNewer) {
		t.Fatalf("got %v, want ErrNewer", err)
	}
}

func TestMigrationBacksUpAndStepsForward(t *testing.T) {
	path := filepath.Join(t.TempDir(), DefaultFile)
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, it := seedItem(t, db, "M1")
	// Pretend the file predates version 1.
	db.bolt.Update(func(btx *bolt.Tx) error { return btx.Bucket(bucketMeta).Put(keySchemaVersion, u64(0)) })
	db.Close()

	steps := []migration{{to: 1, description: "mark items", apply: func(tx *Tx) error {
		got, err := tx.Item(it.ID)
		if err != nil {
			return err
		}
		got.Properties = "migrated"
		return tx.PutItem(&got, t0)
	}}}
	if got := planFrom(steps, 0); len(got) != 1 || got[0].From != 0 || got[0].To != 1 {
		t.Fatalf("plan: %+v", got)
	}
	db, err = openWith(path, Options{}, steps)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if v, _ := db.Version(); v != 1 {
		t.Fatalf("version after migrate: %d", v)
	}
	if _, err := os.Stat(BackupPath(path, 0)); err != nil {
		t.Fatalf("no backup before migrating: %v", err)
	}
	db.View(context.Background(), func(tx store.Tx) error {
		got, _ := tx.Item(it.ID)
		if got.Properties != "migrated" {
			t.Error("migration step not applied")
		}
		return nil
	})
	backup, err := Open(BackupPath(path, 0), Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer backup.Close()
	backup.View(context.Background(), func(tx store.Tx) error {
		got, _ := tx.Item(it.ID)
		if got.Properties != "" {
			t.Error("backup holds migrated data")
		}
		return nil
	})
}

func TestCheckFindsBrokenIndexes(t *testing.T) {
	path := filepath.Join(t.TempDir(), DefaultFile)
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	seedPlaces(t, db)
	_, it := seedItem(t, db, "C1")
	if probs, _ := db.Check(); len(probs) != 0 {
		t.Fatalf("clean db has problems: %v", probs)
	}
	db.bolt.Update(func(btx *bolt.Tx) error {
		return btx.Bucket(idxItemBarcode).Delete([]byte("C1"))
	})
	probs, _ := db.Check()
	if len(probs) == 0 {
		t.Fatal("missing index entry not found")
	}
	db.bolt.Update(func(btx *bolt.Tx) error {
		return btx.Bucket(idxItemBarcode).Put([]byte("C1"), u64(it.ID))
	})
	// An item marked on loan without a loan breaks an invariant.
	mustUpdate(t, db, func(tx store.Tx) error {
		it.Status = store.ItemOnLoan
		return tx.PutItem(&it, t0)
	})
	if probs, _ := db.Check(); len(probs) != 1 {
		t.Fatalf("want one invariant problem, got %v", probs)
	}
	mustUpdate(t, db, func(tx store.Tx) error {
		it.Status = store.ItemAvailable
		return tx.PutItem(&it, t0)
	})
}

func TestBibChangeStampMovesForward(t *testing.T) {
	db := openTest(t)
	b, it := seedItem(t, db, "S1")
	later := t0.Add(90 * time.Minute)
	mustUpdate(t, db, func(tx store.Tx) error {
		it.Location = "ANNEX"
		return tx.PutItem(&it, later)
	})
	db.View(context.Background(), func(tx store.Tx) error {
		got, _ := tx.Bib(b.ID)
		if !got.Changed.Equal(later) {
			t.Errorf("bib changed %v, want %v", got.Changed, later)
		}
		n := 0
		tx.BibsChanged(later, later, time.Time{}, 0, func(store.Bib) bool { n++; return true })
		if n != 1 {
			t.Errorf("BibsChanged at the new stamp: %d", n)
		}
		n = 0
		tx.BibsChanged(t0, later.Add(-time.Second), time.Time{}, 0, func(store.Bib) bool { n++; return true })
		if n != 0 {
			t.Errorf("old stamp still indexed: %d", n)
		}
		if m, err := tx.BibMARC(b.ID); err != nil || m != "<record/>" {
			t.Errorf("MARC: %q %v", m, err)
		}
		return nil
	})
}

func TestIdempotencyJournal(t *testing.T) {
	db := openTest(t)
	window := store.IdemEntry{At: t0, Until: t0.Add(time.Minute), Head: 7, Match: "frame",
		Refs: []store.Ref{{Kind: "item", ID: 3}, {Kind: "loan", ID: 9}}, Result: []byte("r1")}
	mustUpdate(t, db, func(tx store.Tx) error { return tx.Remember("k1", window) })
	mustUpdate(t, db, func(tx store.Tx) error { return tx.Remember("k2", store.IdemEntry{At: t0, Result: []byte("paid")}) })
	mustUpdate(t, db, func(tx store.Tx) error {
		return tx.Remember("k3", store.IdemEntry{At: t0.Add(48 * time.Hour), Until: t0.Add(49 * time.Hour), Result: []byte("r3")})
	})
	mustUpdate(t, db, func(tx store.Tx) error {
		e, ok, err := tx.Remembered("k1")
		if err != nil || !ok || !reflect.DeepEqual(e, window) {
			t.Fatalf("remembered: %v %v %+v", ok, err, e)
		}
		n, err := tx.ForgetBefore(t0.Add(24 * time.Hour))
		if n != 1 || err != nil {
			t.Fatalf("forget: %d %v", n, err)
		}
		if _, ok, _ := tx.Remembered("k1"); ok {
			t.Fatal("entry past its window kept")
		}
		if _, ok, _ := tx.Remembered("k2"); !ok {
			t.Fatal("entry kept for good was dropped")
		}
		if _, ok, _ := tx.Remembered("k3"); !ok {
			t.Fatal("entry within its window dropped")
		}
		if err := tx.Forget("k3"); err != nil {
			return err
		}
		if _, ok, _ := tx.Remembered("k3"); ok {
			t.Fatal("forgotten entry still there")
		}
		return tx.Forget("absent")
	})
}

// An operation learns what it wrote from Touched, also when its
// transaction carries neighbours' operations; ChangedSince finds a later
// event naming one of those records and ignores the rest.
func TestTouchedAndChangedSince(t *testing.T) {
	db := openTest(t)
	_, it := seedItem(t, db, "T1")
	var head uint64
	var mine []store.Ref
	mustUpdate(t, db, func(tx store.Tx) error {
		p := store.Patron{Barcode: "PT1"} // a neighbour's write, untracked
		if err := tx.PutPatron(&p, t0); err != nil {
			return err
		}
		before := tx.Track()
		l := store.Loan{ItemID: it.ID, PatronID: p.ID, Library: "MAIN", Out: t0, Due: t0.Add(time.Hour)}
		if err := tx.OpenLoan(&l); err != nil {
			return err
		}
		it.Status = store.ItemOnLoan
		if err := tx.PutItem(&it, t0); err != nil {
			return err
		}
		mine = append(mine, tx.Touched()[before:]...)
		if _, err := tx.Emit(store.Event{At: t0, Kind: "checkout", Refs: mine}); err != nil {
			return err
		}
		head = tx.JournalHead()
		return nil
	})
	if want := []store.Ref{{Kind: "loan", ID: 1}, {Kind: "item", ID: it.ID}}; !reflect.DeepEqual(mine, want) {
		t.Fatalf("touched %+v, want %+v", mine, want)
	}
	changed := func() bool {
		var c bool
		db.View(context.Background(), func(tx store.Tx) error {
			var err error
			c, err = tx.ChangedSince(head, mine)
			if err != nil {
				t.Fatal(err)
			}
			return nil
		})
		return c
	}
	mustUpdate(t, db, func(tx store.Tx) error {
		_, err := tx.Emit(store.Event{At: t0, Kind: "other", Refs: []store.Ref{{Kind: "item", ID: it.ID + 1}, {Kind: "patron", ID: 1}}})
		return err
	})
	if changed() {
		t.Fatal("an event about other records counted as a change")
	}
	mustUpdate(t, db, func(tx store.Tx) error {
		_, err := tx.Emit(store.Event{At: t0, Kind: "checkin", Refs: []store.Ref{{Kind: "loan", ID: 1}}})
		return err
	})
	if !changed() {
		t.Fatal("a later event about the loan not seen")
	}
}

// Version 2 kept every stored answer without saying what it changed:
// version 3 keeps payment ids, partner charge ids and returned-item markers
// for good and drops the rest, so their repeats act as new requests.
func TestMigrateStoredAnswersToV3(t *testing.T) {
	path := filepath.Join(t.TempDir(), DefaultFile)
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{
		"pay\x00BK77": true,
		"ncip\x00broker\x00CreateUserFiscalTransaction\x00R1": true,
		"ill.checkin\x0042":                                true,
		"sip2\x00kiosk\x000\x00ABCD\x00ffff":               false,
		"ncip\x00broker\x00CheckOutItem\x00R1\x00I1\x00P1": false,
	}
	db = reopenAs(t, db, 2, func(btx *bolt.Tx) error {
		for k := range keys {
			if err := btx.Bucket(bucketIdem).Put([]byte(k), encodeRecord(&idemEntryV2{At: t0, Result: []byte("answer " + k)})); err != nil {
				return err
			}
		}
		return nil
	})
	defer db.Close()
	if v, _ := db.Version(); v != SchemaVersion {
		t.Fatalf("version %d after opening a version 2 file", v)
	}
	db.View(context.Background(), func(tx store.Tx) error {
		for k, kept := range keys {
			e, ok, err := tx.Remembered(k)
			if err != nil || ok != kept {
				t.Errorf("%q: found %v (%v), want %v", k, ok, err, kept)
			}
			if ok && (string(e.Result) != "answer "+k || !e.At.Equal(t0) || !e.Until.IsZero()) {
				t.Errorf("%q: %+v", k, e)
			}
		}
		return nil
	})
}

func TestProfilesByType(t *testing.T) {
	db := openTest(t)
	mustUpdate(t, db, func(tx store.Tx) error {
		tx.PutProfile("selfcheck", "b", []byte("B"))
		tx.PutProfile("selfcheck", "a", []byte("A"))
		return tx.PutProfile("ncip", "a", []byte("N"))
	})
	db.View(context.Background(), func(tx store.Tx) error {
		var codes []string
		tx.Profiles("selfcheck", func(code string, doc []byte) error { codes = append(codes, code+string(doc)); return nil })
		if len(codes) != 2 || codes[0] != "aA" || codes[1] != "bB" {
			t.Errorf("profiles: %v", codes)
		}
		return nil
	})
}

func TestBackupIsConsistentCopy(t *testing.T) {
	db := openTest(t)
	seedItem(t, db, "B1")
	dst := filepath.Join(t.TempDir(), "copy.db")
	if _, err := db.BackupFile(dst); err != nil {
		t.Fatal(err)
	}
	cp, err := Open(dst, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Close()
	cp.View(context.Background(), func(tx store.Tx) error {
		if _, err := tx.ItemByBarcode("B1"); err != nil {
			t.Errorf("backup lacks item: %v", err)
		}
		return nil
	})
}

// With CommitStamps a change is stamped no earlier than the commit that
// writes it, and a reader that waits for the commits started before it sees
// every change stamped before that.
func TestCommitStampsAndWaitCommitted(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), DefaultFile), Options{CommitStamps: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	b, it := seedItem(t, db, "W1")
	longAgo := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	before := time.Now().Truncate(time.Second)
	mustUpdate(t, db, func(tx store.Tx) error {
		it.Location = "ANNEX"
		return tx.PutItem(&it, longAgo)
	})
	db.View(context.Background(), func(tx store.Tx) error {
		got, _ := tx.Bib(b.ID)
		if got.Changed.Before(before) {
			t.Errorf("stamp %v is earlier than the commit (after %v)", got.Changed, before)
		}
		return nil
	})

	// Hold a commit in flight; WaitCommitted for a later instant must wait.
	release := make(chan struct{})
	entered := make(chan struct{})
	go db.Update(context.Background(), func(tx store.Tx) error {
		close(entered)
		<-release
		return nil
	})
	<-entered
	waited := make(chan struct{})
	go func() {
		db.WaitCommitted(time.Now())
		close(waited)
	}()
	select {
	case <-waited:
		t.Fatal("WaitCommitted returned while an earlier commit was in flight")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	select {
	case <-waited:
	case <-time.After(10 * time.Second):
		t.Fatal("WaitCommitted did not return after the commit")
	}
	// Nothing in flight: it returns at once.
	db.WaitCommitted(time.Now())
}

// A patron's PIN failures survive a restart, and a version 2 file gains
// their bucket when opened.
func TestPINFailuresPersistAndMigrate(t *testing.T) {
	path := filepath.Join(t.TempDir(), DefaultFile)
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Make the file a version 2 file: no failure bucket yet.
	db = reopenAs(t, db, 2, func(btx *bolt.Tx) error { return btx.DeleteBucket(bucketPINFails) })
	want := store.PINFailures{Count: 7, Last: t0, LockedUntil: t0.Add(4 * time.Minute)}
	mustUpdate(t, db, func(tx store.Tx) error { return tx.PutPINFailures(42, want) })
	db.Close()

	db, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if v, _ := db.Version(); v != SchemaVersion {
		t.Fatalf("version %d", v)
	}
	var got store.PINFailures
	db.View(context.Background(), func(tx store.Tx) error { got, err = tx.PINFailures(42); return err })
	if err != nil || got != want {
		t.Fatalf("after restart: %+v %v, want %+v", got, err, want)
	}
	mustUpdate(t, db, func(tx store.Tx) error { return tx.PutPINFailures(42, store.PINFailures{}) })
	db.View(context.Background(), func(tx store.Tx) error { got, err = tx.PINFailures(42); return err })
	if err != nil || got.Count != 0 {
		t.Fatalf("after reset: %+v %v", got, err)
	}
	if probs, err := db.Check(); err != nil || len(probs) > 0 {
		t.Fatalf("check: %v %v", probs, err)
	}
}

// TestCheckFindsDanglingReferences: records naming a library, location,
// desk or item that does not exist are problems.
func TestCheckFindsDanglingReferences(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), DefaultFile), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	seedPlaces(t, db)
	_, it := seedItem(t, db, "C1")
	if probs, _ := db.Check(); len(probs) != 0 {
		t.Fatalf("clean db has problems: %v", probs)
	}
	mustUpdate(t, db, func(tx store.Tx) error {
		it.Location, it.Library, it.Policy = "ATTIC", "BRANCH", "GONEPOL"
		if err := tx.PutItem(&it, t0); err != nil {
			return err
		}
		if err := tx.PutLocation(&store.Location{Code: "ORPHAN", Library: "GONE"}); err != nil {
			return err
		}
		if err := tx.PutDesk(&store.Desk{Code: "D1", Library: "MAIN", Locations: []string{"NOPE"}}); err != nil {
			return err
		}
		p := store.Patron{Barcode: "P1", UserGroup: "GONE", HomeLibrary: "MAIN"}
		if err := tx.PutPatron(&p, t0); err != nil {
			return err
		}
		if err := tx.OpenLoan(&store.Loan{ItemID: 999, PatronID: p.ID, Library: "MAIN", Out: t0, Due: t0.Add(time.Hour)}); err != nil {
			return err
		}
		if err := tx.PutProfile("selfcheck", "k1", []byte(`{"code":"k1","library":"GONE","desk":"NODESK"}`)); err != nil {
			return err
		}
		return tx.PutRules(&store.Rules{Currency: "USD", Loans: []store.LoanRule{{Library: "GONE", UserGroup: "NOGROUP", ItemPolicy: "NOPOL", Circulates: true, LoanDays: 1}},
			Groups: []store.GroupRule{{UserGroup: "NOGROUP2", LoanLimit: 3}}, RentalFees: []store.RentalFee{{ItemPolicy: "NOPOL2", Amount: 100}}})
	})
	probs, err := db.Check()
	if err != nil {
		t.Fatal(err)
	}
	var all []string
	for _, p := range probs {
		all = append(all, p.String())
	}
	got := strings.Join(all, "\n")
	for _, want := range []string{
		`items: item 1 (C1) names library "BRANCH", which does not exist`,
		`items: item 1 (C1) names location "ATTIC", which does not exist`,
		`locations: location ORPHAN names library "GONE", which does not exist`,
		`desks: desk D1 names location "NOPE", which does not exist`,
		`loans: open loan 1 names item 999, which does not exist`,
		`profiles: profile selfcheck k1 names library "GONE", which does not exist`,
		`profiles: profile selfcheck k1 names desk "NODESK", which does not exist`,
		`rules: loan rule 1 names library "GONE", which does not exist`,
		`items: item 1 (C1) names item policy "GONEPOL", which does not exist`,
		`patrons: patron 1 names group "GONE", which does not exist`,
		`rules: loan rule 1 names group "NOGROUP", which does not exist`,
		`rules: loan rule 1 names item policy "NOPOL", which does not exist`,
		`rules: group rule 1 names group "NOGROUP2", which does not exist`,
		`rules: rental fee 1 names item policy "NOPOL2", which does not exist`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in\n%s", want, got)
		}
	}
}

// A version 4 file knew groups and policies only as strings: opening it
// creates a record for each one that patrons, items and the rules name, and
// keeps the records a file already has.
func TestMigrateGroupsAndPoliciesToV5(t *testing.T) {
	path := filepath.Join(t.TempDir(), DefaultFile)
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	seedPlaces(t, db)
	_, it := seedItem(t, db, "M1")
	mustUpdate(t, db, func(tx store.Tx) error {
		it.Policy = "BOOK"
		if err := tx.PutItem(&it, t0); err != nil {
			return err
		}
		for _, g := range []string{"GRAD", "STAFF"} {
			p := store.Patron{Barcode: "P-" + g, LastName: "Doe", UserGroup: g, HomeLibrary: "MAIN"}
			if err := tx.PutPatron(&p, t0); err != nil {
				return err
			}
		}
		return tx.PutRules(&store.Rules{Currency: "USD",
			Loans: []store.LoanRule{{UserGroup: "FACULTY", ItemPolicy: "VIDEO", Circulates: true, LoanDays: 7},
				{ItemPolicy: "BOOK", Circulates: true, LoanDays: 21}},
			Groups:     []store.GroupRule{{UserGroup: "ILL", LoanLimit: 200}},
			RentalFees: []store.RentalFee{{ItemPolicy: "DVD", Amount: 100}}})
	})
	// Make it a version 4 file: no group or policy buckets.
	db = reopenAs(t, db, 4, func(btx *bolt.Tx) error {
		for _, b := range [][]byte{bucketGroups, bucketPolicies} {
			if err := btx.DeleteBucket(b); err != nil {
				return err
			}
		}
		return nil
	})
	if v, _ := db.Version(); v != SchemaVersion {
		t.Fatalf("version %d after opening a version 4 file", v)
	}
	var groups, policies []string
	db.View(context.Background(), func(tx store.Tx) error {
		gs, err := tx.Groups()
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range gs {
			if g.Name != g.Code || g.Created.IsZero() {
				t.Errorf("group %+v: want its code as name and a creation time", g)
			}
			groups = append(groups, g.Code)
		}
		ps, err := tx.Policies()
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			policies = append(policies, p.Code)
		}
		return nil
	})
	if got := strings.Join(groups, ","); got != "FACULTY,GRAD,ILL,STAFF" {
		t.Errorf("groups after migration: %s", got)
	}
	if got := strings.Join(policies, ","); got != "BOOK,DVD,VIDEO" {
		t.Errorf("policies after migration: %s", got)
	}
	if probs, err := db.Check(); err != nil || len(probs) > 0 {
		t.Errorf("check after migration: %v %v", probs, err)
	}
	if _, err := os.Stat(BackupPath(path, 4)); err != nil {
		t.Errorf("no backup before migrating: %v", err)
	}

	// A group renamed after the migration keeps its name when the step runs
	// again on a file put back to version 4.
	mustUpdate(t, db, func(tx store.Tx) error {
		return tx.PutGroup(&store.Group{Code: "GRAD", Name: "Graduate students", Created: t0, Updated: t0})
	})
	mustUpdate(t, db, func(tx store.Tx) error { return tx.(*Tx).btx.Bucket(bucketMeta).Put(keySchemaVersion, u64(4)) })
	db.Close()
	db, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.View(context.Background(), func(tx store.Tx) error {
		g, err := tx.Group("GRAD")
		if err != nil || g.Name != "Graduate students" {
			t.Errorf("GRAD after a second migration: %+v %v", g, err)
		}
		return nil
	})
}
