package boltstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/circa-ils/circa/store"
	bolt "go.etcd.io/bbolt"
)

var testScope = store.AuditScope{Actor: store.Actor{User: "libadmin", UID: "1001", Via: store.ViaCommandLine}, Command: "circa patron edit"}

func auditEntries(t *testing.T, db *DB, f store.AuditFilter) []store.AuditEntry {
	t.Helper()
	var out []store.AuditEntry
	err := db.View(context.Background(), func(tx store.Tx) error {
		return tx.ForEachAudit(f, func(e store.AuditEntry) bool { out = append(out, e); return true })
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestAuditRecordsEachChangedRecordOnceWithActorAndMaskedPIN(t *testing.T) {
	db := openTest(t)
	ctx := store.WithAudit(context.Background(), testScope)
	p := store.Patron{Barcode: "P1", LastName: "Doe", UserGroup: "G", HomeLibrary: "MAIN", PINHash: "$argon2id$v=19$old"}
	if err := db.Update(ctx, func(tx store.Tx) error { return tx.PutPatron(&p, t0) }); err != nil {
		t.Fatal(err)
	}
	// Two writes of the same record in one operation are one entry with the
	// first before and the last after.
	err := db.Update(ctx, func(tx store.Tx) error {
		p.PINHash = "$argon2id$v=19$new"
		if err := tx.PutPatron(&p, t0); err != nil {
			return err
		}
		p.Blocks = []store.Block{{Type: "manual", Note: "lost card", Created: t0}}
		return tx.PutPatron(&p, t0)
	})
	if err != nil {
		t.Fatal(err)
	}
	// Writes without a scope (a kiosk's) are not in the trail.
	if err := db.Update(context.Background(), func(tx store.Tx) error { p.Language = "eng"; return tx.PutPatron(&p, t0) }); err != nil {
		t.Fatal(err)
	}
	es := auditEntries(t, db, store.AuditFilter{})
	if len(es) != 2 {
		t.Fatalf("%d entries, want 2: %+v", len(es), es)
	}
	created, changed := es[0], es[1]
	if created.Kind != "patron" || created.Key != "P1" || created.Patron != "P1" || created.Before != nil || created.After == nil {
		t.Errorf("creation entry: %+v", created)
	}
	if changed.Actor != testScope.Actor || changed.Command != "circa patron edit" || changed.At.IsZero() || changed.Seq <= created.Seq {
		t.Errorf("change entry: %+v", changed)
	}
	var before, after map[string]any
	json.Unmarshal(changed.Before, &before)
	json.Unmarshal(changed.After, &after)
	if before["pin_hash"] != store.Masked || after["pin_hash"] != store.MaskedChanged {
		t.Errorf("pin_hash before %v after %v", before["pin_hash"], after["pin_hash"])
	}
	if before["blocks"] != nil || after["blocks"] == nil {
		t.Errorf("blocks before %v after %v", before["blocks"], after["blocks"])
	}
	db.View(context.Background(), func(tx store.Tx) error {
		raw := tx.(*Tx).b(bucketAudit)
		raw.ForEach(func(k, v []byte) error {
			if bytes.Contains(v, []byte("argon2")) {
				t.Errorf("a PIN hash is in the trail: %s", v)
			}
			return nil
		})
		return nil
	})
}

func TestAuditOfAnOperationRunAgainIsWrittenOnce(t *testing.T) {
	db := openTest(t)
	// The first operation holds the committer while the next two queue, so
	// they share a batch; the failing one makes the audited one run again.
	release := make(chan struct{})
	firstDone := make(chan error, 1)
	go func() {
		firstDone <- db.Update(context.Background(), func(tx store.Tx) error { <-release; return nil })
	}()
	time.Sleep(50 * time.Millisecond)
	var runs atomic.Int32
	var wg sync.WaitGroup
	wg.Add(2)
	var auditedErr, failedErr error
	go func() {
		defer wg.Done()
		auditedErr = db.Update(store.WithAudit(context.Background(), testScope), func(tx store.Tx) error {
			runs.Add(1)
			return tx.PutLibrary(&store.Library{Code: "EAST", Name: "East"})
		})
	}()
	time.Sleep(30 * time.Millisecond)
	go func() {
		defer wg.Done()
		failedErr = db.Update(context.Background(), func(tx store.Tx) error { return errors.New("refused") })
	}()
	time.Sleep(30 * time.Millisecond)
	close(release)
	wg.Wait()
	if err := <-firstDone; err != nil || auditedErr != nil || failedErr == nil {
		t.Fatalf("errors: first %v audited %v failing %v", err, auditedErr, failedErr)
	}
	if runs.Load() < 2 {
		t.Fatalf("the audited operation ran %d times; the test needs it run again", runs.Load())
	}
	es := auditEntries(t, db, store.AuditFilter{Kind: "library"})
	if len(es) != 1 || es[0].Key != "EAST" {
		t.Fatalf("entries: %+v", es)
	}
}

func TestAuditFilterSelectsByTimePatronProfileAndKind(t *testing.T) {
	db := openTest(t)
	ctx := store.WithAudit(context.Background(), testScope)
	mustUpdate(t, db, func(tx store.Tx) error { return nil })
	err := db.Update(ctx, func(tx store.Tx) error {
		p := store.Patron{Barcode: "P2", LastName: "Roe", UserGroup: "G", HomeLibrary: "MAIN"}
		if err := tx.PutPatron(&p, t0); err != nil {
			return err
		}
		if err := tx.PutFee(&store.Fee{PatronID: p.ID, Amount: 100, Balance: 100, Status: store.FeeOpen}); err != nil {
			return err
		}
		return tx.PutProfile("selfcheck", "K1", []byte(`{"code":"K1","password_hash":"h"}`))
	})
	if err != nil {
		t.Fatal(err)
	}
	if es := auditEntries(t, db, store.AuditFilter{Patron: "p2"}); len(es) != 2 || es[1].Kind != "fee" {
		t.Errorf("patron P2: %+v", es)
	}
	if es := auditEntries(t, db, store.AuditFilter{Profile: "K1"}); len(es) != 1 || es[0].Key != "selfcheck K1" {
		t.Errorf("profile K1: %+v", es)
	}
	if es := auditEntries(t, db, store.AuditFilter{Kind: "fee"}); len(es) != 1 {
		t.Errorf("kind fee: %+v", es)
	}
	now := time.Now()
	if es := auditEntries(t, db, store.AuditFilter{Since: now.Add(time.Minute)}); len(es) != 0 {
		t.Errorf("since the future: %+v", es)
	}
	if es := auditEntries(t, db, store.AuditFilter{Until: now.Add(-time.Minute)}); len(es) != 0 {
		t.Errorf("until the past: %+v", es)
	}
	if es := auditEntries(t, db, store.AuditFilter{Since: now.Add(-time.Minute), Until: now.Add(time.Minute)}); len(es) != 3 {
		t.Errorf("within the minute: %d entries", len(es))
	}
}

func TestAuditRetentionPrunesInBoundedBatches(t *testing.T) {
	db := openTest(t)
	now := time.Now().UTC()
	const old = 2*store.AuditPruneBatch + 10 + auditPruneOnWrite
	mustUpdate(t, db, func(tx store.Tx) error {
		for i := range old {
			if err := tx.(*Tx).putAudit(&store.AuditEntry{At: now.Add(-40*24*time.Hour + time.Duration(i)), Kind: "patron", Key: "old"}); err != nil {
				return err
			}
		}
		for range 5 {
			if err := tx.(*Tx).putAudit(&store.AuditEntry{At: now.Add(-2 * 24 * time.Hour), Kind: "patron", Key: "recent"}); err != nil {
				return err
			}
		}
		return nil
	})
	if err := db.Update(store.WithAudit(context.Background(), testScope), func(tx store.Tx) error { return tx.SetAuditRetention(30 * 24 * time.Hour) }); err != nil {
		t.Fatal(err)
	}
	// The audited write trimmed only a few.
	if n := len(auditEntries(t, db, store.AuditFilter{})); n != old+5+1-auditPruneOnWrite {
		t.Fatalf("%d entries after one audited write; want %d", n, old+5+1-auditPruneOnWrite)
	}
	commits := db.CommitStats().Commits
	n, err := db.PruneAudit(context.Background(), now)
	if err != nil || n != old-auditPruneOnWrite {
		t.Fatalf("pruned %d (%v), want %d", n, err, old-auditPruneOnWrite)
	}
	if c := db.CommitStats().Commits - commits; c != 3 {
		t.Errorf("pruned in %d transactions, want 3 of at most %d", c, store.AuditPruneBatch)
	}
	es := auditEntries(t, db, store.AuditFilter{})
	if len(es) != 6 || es[5].Kind != "setting" || es[5].Key != "audit retention" {
		t.Fatalf("left: %+v", es)
	}
	if string(es[5].Before) != `"400d"` || string(es[5].After) != `"30d"` {
		t.Errorf("retention change: %s → %s", es[5].Before, es[5].After)
	}
	if err := db.Update(context.Background(), func(tx store.Tx) error { return tx.SetAuditRetention(time.Hour) }); !errors.Is(err, store.ErrConflict) {
		t.Errorf("an hour's retention: %v", err)
	}
}

func TestMigrateToV7AddsTheAuditTrail(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), DefaultFile), Options{})
	if err != nil {
		t.Fatal(err)
	}
	mustUpdate(t, db, func(tx store.Tx) error { return tx.PutLibrary(&store.Library{Code: "WEST"}) })
	db = reopenAs(t, db, 6, func(btx *bolt.Tx) error { return btx.DeleteBucket(bucketAudit) })
	defer db.Close()
	if v, _ := db.Version(); v != 7 {
		t.Fatalf("version %d after opening a version 6 file", v)
	}
	if err := db.Update(store.WithAudit(context.Background(), testScope), func(tx store.Tx) error {
		return tx.DeleteLibrary("WEST")
	}); err != nil {
		t.Fatal(err)
	}
	es := auditEntries(t, db, store.AuditFilter{})
	if len(es) != 1 || es[0].Kind != "library" || es[0].Before == nil || es[0].After != nil {
		t.Fatalf("entries after migrating: %+v", es)
	}
}
