package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

var testScope = AuditScope{Actor: Actor{User: "libadmin", UID: "1001", Via: ViaCommandLine}, Command: "circa patron edit"}

func auditEntries(t *testing.T, db *DB, f AuditFilter) []AuditEntry {
	t.Helper()
	var out []AuditEntry
	err := db.View(context.Background(), func(tx *Tx) error {
		return tx.ForEachAudit(f, func(e AuditEntry) bool { out = append(out, e); return true })
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestAuditRecordsEachChangedRecordOnceWithActorAndMaskedPIN(t *testing.T) {
	db := openTest(t)
	ctx := WithAudit(context.Background(), testScope)
	p := Patron{Barcode: "P1", LastName: "Doe", UserGroup: "G", HomeLibrary: "MAIN", PINHash: "$argon2id$v=19$old"}
	if err := db.Update(ctx, func(tx *Tx) error { return tx.PutPatron(&p, t0) }); err != nil {
		t.Fatal(err)
	}
	// Two writes of the same record in one operation are one entry with the
	// first before and the last after.
	err := db.Update(ctx, func(tx *Tx) error {
		p.PINHash = "$argon2id$v=19$new"
		if err := tx.PutPatron(&p, t0); err != nil {
			return err
		}
		p.Blocks = []Block{{Type: "manual", Note: "lost card", Created: t0}}
		return tx.PutPatron(&p, t0)
	})
	if err != nil {
		t.Fatal(err)
	}
	// Writes without a scope (a kiosk's) are not in the trail.
	if err := db.Update(context.Background(), func(tx *Tx) error { p.Language = "eng"; return tx.PutPatron(&p, t0) }); err != nil {
		t.Fatal(err)
	}
	es := auditEntries(t, db, AuditFilter{})
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
	if before["pin_hash"] != Masked || after["pin_hash"] != MaskedChanged {
		t.Errorf("pin_hash before %v after %v", before["pin_hash"], after["pin_hash"])
	}
	if before["blocks"] != nil || after["blocks"] == nil {
		t.Errorf("blocks before %v after %v", before["blocks"], after["blocks"])
	}
	db.View(context.Background(), func(tx *Tx) error {
		raw := tx.b(bucketAudit)
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
		firstDone <- db.Update(context.Background(), func(tx *Tx) error { <-release; return nil })
	}()
	time.Sleep(50 * time.Millisecond)
	var runs atomic.Int32
	var wg sync.WaitGroup
	wg.Add(2)
	var auditedErr, failedErr error
	go func() {
		defer wg.Done()
		auditedErr = db.Update(WithAudit(context.Background(), testScope), func(tx *Tx) error {
			runs.Add(1)
			return tx.PutLibrary(&Library{Code: "EAST", Name: "East"})
		})
	}()
	time.Sleep(30 * time.Millisecond)
	go func() {
		defer wg.Done()
		failedErr = db.Update(context.Background(), func(tx *Tx) error { return errors.New("refused") })
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
	es := auditEntries(t, db, AuditFilter{Kind: "library"})
	if len(es) != 1 || es[0].Key != "EAST" {
		t.Fatalf("entries: %+v", es)
	}
}

func TestAuditFilterSelectsByTimePatronProfileAndKind(t *testing.T) {
	db := openTest(t)
	ctx := WithAudit(context.Background(), testScope)
	mustUpdate(t, db, func(tx *Tx) error { return nil })
	err := db.Update(ctx, func(tx *Tx) error {
		p := Patron{Barcode: "P2", LastName: "Roe", UserGroup: "G", HomeLibrary: "MAIN"}
		if err := tx.PutPatron(&p, t0); err != nil {
			return err
		}
		if err := tx.PutFee(&Fee{PatronID: p.ID, Amount: 100, Balance: 100, Status: FeeOpen}); err != nil {
			return err
		}
		return tx.PutProfile("selfcheck", "K1", []byte(`{"code":"K1","password_hash":"h"}`))
	})
	if err != nil {
		t.Fatal(err)
	}
	if es := auditEntries(t, db, AuditFilter{Patron: "p2"}); len(es) != 2 || es[1].Kind != "fee" {
		t.Errorf("patron P2: %+v", es)
	}
	if es := auditEntries(t, db, AuditFilter{Profile: "K1"}); len(es) != 1 || es[0].Key != "selfcheck K1" {
		t.Errorf("profile K1: %+v", es)
	}
	if es := auditEntries(t, db, AuditFilter{Kind: "fee"}); len(es) != 1 {
		t.Errorf("kind fee: %+v", es)
	}
	now := time.Now()
	if es := auditEntries(t, db, AuditFilter{Since: now.Add(time.Minute)}); len(es) != 0 {
		t.Errorf("since the future: %+v", es)
	}
	if es := auditEntries(t, db, AuditFilter{Until: now.Add(-time.Minute)}); len(es) != 0 {
		t.Errorf("until the past: %+v", es)
	}
	if es := auditEntries(t, db, AuditFilter{Since: now.Add(-time.Minute), Until: now.Add(time.Minute)}); len(es) != 3 {
		t.Errorf("within the minute: %d entries", len(es))
	}
}

func TestAuditRetentionPrunesInBoundedBatches(t *testing.T) {
	db := openTest(t)
	now := time.Now().UTC()
	const old = 2*AuditPruneBatch + 10 + auditPruneOnWrite
	mustUpdate(t, db, func(tx *Tx) error {
		for i := range old {
			if err := tx.putAudit(&AuditEntry{At: now.Add(-40*24*time.Hour + time.Duration(i)), Kind: "patron", Key: "old"}); err != nil {
				return err
			}
		}
		for range 5 {
			if err := tx.putAudit(&AuditEntry{At: now.Add(-2 * 24 * time.Hour), Kind: "patron", Key: "recent"}); err != nil {
				return err
			}
		}
		return nil
	})
	if err := db.Update(WithAudit(context.Background(), testScope), func(tx *Tx) error { return tx.SetAuditRetention(30 * 24 * time.Hour) }); err != nil {
		t.Fatal(err)
	}
	// The audited write trimmed only a few.
	if n := len(auditEntries(t, db, AuditFilter{})); n != old+5+1-auditPruneOnWrite {
		t.Fatalf("%d entries after one audited write; want %d", n, old+5+1-auditPruneOnWrite)
	}
	commits := db.CommitStats().Commits
	n, err := db.PruneAudit(context.Background(), now)
	if err != nil || n != old-auditPruneOnWrite {
		t.Fatalf("pruned %d (%v), want %d", n, err, old-auditPruneOnWrite)
	}
	if c := db.CommitStats().Commits - commits; c != 3 {
		t.Errorf("pruned in %d transactions, want 3 of at most %d", c, AuditPruneBatch)
	}
	es := auditEntries(t, db, AuditFilter{})
	if len(es) != 6 || es[5].Kind != "setting" || es[5].Key != "audit retention" {
		t.Fatalf("left: %+v", es)
	}
	if string(es[5].Before) != `"400d"` || string(es[5].After) != `"30d"` {
		t.Errorf("retention change: %s → %s", es[5].Before, es[5].After)
	}
	if err := db.Update(context.Background(), func(tx *Tx) error { return tx.SetAuditRetention(time.Hour) }); !errors.Is(err, ErrConflict) {
		t.Errorf("an hour's retention: %v", err)
	}
}

func TestMigrateToV7AddsTheAuditTrail(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), DefaultFile), Options{})
	if err != nil {
		t.Fatal(err)
	}
	mustUpdate(t, db, func(tx *Tx) error { return tx.PutLibrary(&Library{Code: "WEST"}) })
	db = reopenAs(t, db, 6, func(btx *bolt.Tx) error { return btx.DeleteBucket(bucketAudit) })
	defer db.Close()
	if v, _ := db.Version(); v != 7 {
		t.Fatalf("version %d after opening a version 6 file", v)
	}
	if err := db.Update(WithAudit(context.Background(), testScope), func(tx *Tx) error {
		return tx.DeleteLibrary("WEST")
	}); err != nil {
		t.Fatal(err)
	}
	es := auditEntries(t, db, AuditFilter{})
	if len(es) != 1 || es[0].Kind != "library" || es[0].Before == nil || es[0].After != nil {
		t.Fatalf("entries after migrating: %+v", es)
	}
}

func TestIsSecretField(t *testing.T) {
	for name, want := range map[string]bool{
		"pin_hash": true, "password_hash": true, "api_key_hash": true, "shared_secret_hash": true, "private_key": true,
		"password": true, "sftp_password": true, "passphrase": true, "token": true, "pin": true,
		"api_key_file": false, "client_key_file": false, "require_pin": true, "known_hosts": false, "barcode": false,
		"pinned": false, "last_name": false, "keyboard": false,
	} {
		if got := IsSecretField(name); got != want {
			t.Errorf("IsSecretField(%q) = %v, want %v", name, got, want)
		}
	}
	// A long value (a file's content) is summarised.
	long := strings.Repeat("x", auditValueLimit+1)
	if _, a, err := maskedPair(nil, []byte(`{"content":"`+long+`","name":"f"}`)); err != nil ||
		string(a) != `{"content":"(4097 characters left out)","name":"f"}` {
		t.Errorf("long value: %.100s %v", a, err)
	}
	// require_pin names a secret but holds a flag: kept.
	b, a, err := maskedPair([]byte(`{"require_pin":true,"x":{"pin":"1234"}}`), []byte(`{"require_pin":false,"x":{"pin":"1234"}}`))
	if err != nil || string(b) != `{"require_pin":true,"x":{"pin":"(secret)"}}` || string(a) != `{"require_pin":false,"x":{"pin":"(secret)"}}` {
		t.Errorf("masked: %s %s %v", b, a, err)
	}
}

// FuzzMaskedPair: whatever two versions of a record hold, no string under a
// secret field survives masking, and masking never fails on valid JSON.
func FuzzMaskedPair(f *testing.F) {
	f.Add(`{"pin_hash":"$argon2id$x","a":[{"password":"p"}]}`, `{"pin_hash":"$argon2id$y","a":[]}`)
	f.Add(`{"auth":{"api_key_hash":"k","shared_secret_hash":""}}`, `null`)
	f.Add(`[1,"x",{"private_key":{"pem":"-----BEGIN"}}]`, `{"require_pin":true}`)
	f.Fuzz(func(t *testing.T, before, after string) {
		if !json.Valid([]byte(before)) || !json.Valid([]byte(after)) {
			return
		}
		b, a, err := maskedPair([]byte(before), []byte(after))
		if err != nil {
			t.Fatalf("masking valid JSON: %v", err)
		}
		for _, out := range [][]byte{b, a} {
			var v any
			if err := json.Unmarshal(out, &v); err != nil {
				t.Fatalf("masked output is not JSON: %s", out)
			}
			assertNoSecret(t, v)
		}
	})
}

func assertNoSecret(t *testing.T, v any) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if s, ok := e.(string); ok && IsSecretField(k) && s != "" && s != Masked && s != MaskedChanged {
				t.Fatalf("secret field %q kept %q", k, s)
			}
			if IsSecretField(k) && isSecretValue(e) {
				if _, ok := e.(string); !ok {
					t.Fatalf("secret field %q kept %v", k, e)
				}
			}
			assertNoSecret(t, e)
		}
	case []any:
		for _, e := range x {
			assertNoSecret(t, e)
		}
	}
}
