package boltstore

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/circa-ils/circa/marc"
	"github.com/circa-ils/circa/store"
)

// migration moves the file from version to version+1 in one transaction.
type migration struct {
	to          uint64
	description string
	apply       func(tx *Tx) error
}

// registeredMigrations is the forward plan, in order. Version 1 is the first
// layout; a change of layout appends a step here and bumps SchemaVersion.
var registeredMigrations = []migration{
	{to: 2, description: "hot records (items, patrons, loans, bibs, holdings, requests, fees, journal, stored answers) from JSON to the binary layout",
		apply: binaryFromJSON},
	{to: 3, description: "stored answers keep their retry window, journal head and changed records (only payment ids and partner charge ids carry over); a bucket for patron PIN failure counters",
		apply: idemWithWindows},
	{to: 4, description: "bibs keep the system control numbers of their 035 fields, indexed with their ISBNs for matching imported records; items have a price and a note",
		apply: func(tx *Tx) error {
			if err := bibNumbers(tx); err != nil {
				return err
			}
			return reencode(tx, bucketItems, func() any { return &itemV3{} }, func(r any) any { return &r.(*itemV3).Item })
		}},
	{to: 5, description: "patron groups and item policies as records: one for every user group patrons and the rules name, one for every item policy items and the rules name",
		apply: groupsAndPolicies},
	{to: 6, description: "a bucket for staff accounts, the logins of the status page",
		apply: func(tx *Tx) error {
			_, err := tx.btx.CreateBucketIfNotExists(bucketStaff)
			return err
		}},
	{to: 7, description: "an audit trail of the changes staff make through the command line and the admin socket",
		apply: func(tx *Tx) error {
			_, err := tx.btx.CreateBucketIfNotExists(bucketAudit)
			return err
		}},
}

// groupsAndPolicies creates the group and policy records that version 3
// only knew as strings on patrons, items and the rules, so every existing
// reference names a record. A record's name is its code until staff give
// it another.
func groupsAndPolicies(tx *Tx) error {
	groups, policies := map[string]bool{}, map[string]bool{}
	err := tx.ForEachPatron(func(p store.Patron) bool {
		groups[p.UserGroup] = true
		return true
	})
	if err != nil {
		return err
	}
	if err := tx.ForEachItem(func(it store.Item) bool {
		policies[it.Policy] = true
		return true
	}); err != nil {
		return err
	}
	r, err := tx.Rules()
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	for _, lr := range r.Loans {
		groups[lr.UserGroup] = true
		policies[lr.ItemPolicy] = true
	}
	for _, g := range r.Groups {
		groups[g.UserGroup] = true
	}
	for _, f := range r.RentalFees {
		policies[f.ItemPolicy] = true
	}
	now := time.Now().UTC()
	for code := range groups {
		if code == "" {
			continue
		}
		if _, err := tx.Group(code); err == nil {
			continue
		}
		if err := tx.PutGroup(&store.Group{Code: code, Name: code, Created: now, Updated: now}); err != nil {
			return err
		}
	}
	for code := range policies {
		if code == "" {
			continue
		}
		if _, err := tx.Policy(code); err == nil {
			continue
		}
		if err := tx.PutPolicy(&store.Policy{Code: code, Name: code, Created: now, Updated: now}); err != nil {
			return err
		}
	}
	return nil
}

// reencode rewrites every record of a bucket from an old layout (old gives
// a fresh record of it) to the current one (current converts).
func reencode(tx *Tx, bucket []byte, old func() any, current func(any) any) error {
	b := tx.b(bucket)
	return rewriteChunked(b, func(k, v []byte) (func() error, error) {
		rec := old()
		if err := decodeRecord(v, rec); err != nil {
			return nil, fmt.Errorf("%s record %x: %w", bucket, k, err)
		}
		return putLater(b, k, encodeRecord(current(rec))), nil
	})
}

// bibNumbers re-encodes every bib with the 035 $a system numbers of its
// MARCXML and indexes bibs by them and by ISBN.
func bibNumbers(tx *Tx) error {
	b := tx.b(bucketBibs)
	return rewriteChunked(b, func(k, v []byte) (func() error, error) {
		var old bibV3
		if err := decodeRecord(v, &old); err != nil {
			return nil, fmt.Errorf("bib %d: %w", decodeU64(k), err)
		}
		bib := old.Bib
		// A record that cannot be read has no system numbers.
		if raw := tx.b(bucketMARC).Get(k); raw != nil {
			if rec, err := marc.NewXMLReader(bytes.NewReader(raw)).Next(); err == nil {
				bib.SystemNumbers = store.SystemNumbersOf(rec)
			}
		}
		return func() error {
			if err := putRecord(b, u64(bib.ID), &bib); err != nil {
				return err
			}
			return tx.indexBibNumbers(&store.Bib{}, &bib)
		}, nil
	})
}

// rewriteChunked reads every record of a bucket and makes the writes read
// returns for them, a chunk of records at a time, because bbolt cursors
// must not run across their own bucket's writes.
func rewriteChunked(b *bolt.Bucket, read func(k, v []byte) (write func() error, err error)) error {
	const chunk = 4096
	var after []byte
	for {
		var writes []func() error
		c := b.Cursor()
		k, v := c.First()
		if after != nil {
			if k, v = c.Seek(after); bytes.Equal(k, after) {
				k, v = c.Next()
			}
		}
		for ; k != nil && len(writes) < chunk; k, v = c.Next() {
			w, err := read(k, v)
			if err != nil {
				return err
			}
			writes = append(writes, w)
			after = append(after[:0], k...)
		}
		for _, w := range writes {
			if err := w(); err != nil {
				return err
			}
		}
		if len(writes) < chunk {
			return nil
		}
	}
}

// putLater is the write of value under a copy of k (cursor keys are only
// valid until the cursor moves).
func putLater(b *bolt.Bucket, k, value []byte) func() error {
	k = append([]byte(nil), k...)
	return func() error { return b.Put(k, value) }
}

func binaryFromJSON(tx *Tx) error {
	for _, bb := range binaryBuckets {
		fresh := bb.fresh
		switch {
		case bytes.Equal(bb.name, bucketIdem):
			// Version 2's layout of a stored answer; version 3 converts it.
			fresh = func() any { return &idemEntryV2{} }
		case bytes.Equal(bb.name, bucketBibs):
			// Version 2's layouts of a bib and an item; version 4
			// converts them.
			fresh = func() any { return &bibV3{} }
		case bytes.Equal(bb.name, bucketItems):
			fresh = func() any { return &itemV3{} }
		}
		if err := reencodeJSON(tx, bb.name, fresh); err != nil {
			return err
		}
	}
	return nil
}

// idemWithWindows converts the idempotency bucket to version 3. A version 2
// answer was replayed for any repeat of its key; it does not say what it
// changed, so it cannot be told apart from a stale one and is dropped — the
// repeat acts as a new request. Payment ids, partner charge ids and the
// markers of items a partner returned or deleted name a payment, a charge
// or a state rather than a message: they are kept for good.
func idemWithWindows(tx *Tx) error {
	b := tx.b(bucketIdem)
	var keep, drop [][]byte
	var kept [][]byte
	err := b.ForEach(func(k, v []byte) error {
		var old idemEntryV2
		if err := decodeRecord(v, &old); err != nil {
			return fmt.Errorf("idempotency record %q: %w", k, err)
		}
		key := append([]byte(nil), k...)
		if !keptForGood(string(k)) {
			drop = append(drop, key)
			return nil
		}
		keep = append(keep, key)
		kept = append(kept, encodeRecord(&store.IdemEntry{At: old.At, Result: old.Result}))
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range drop {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	for i, k := range keep {
		if err := b.Put(k, kept[i]); err != nil {
			return err
		}
	}
	return nil
}

// keptForGood recognises, by the key forms of version 2, the entries that
// name a payment (circ "pay" keys), a partner's charge (the NCIP
// CreateUserFiscalTransaction keys) or an item a partner returned or
// deleted.
func keptForGood(key string) bool {
	if strings.HasPrefix(key, "pay\x00") || strings.HasPrefix(key, "ill.checkin\x00") || strings.HasPrefix(key, "ill.deleted\x00") {
		return true
	}
	parts := strings.Split(key, "\x00")
	return len(parts) >= 4 && parts[0] == "ncip" && parts[2] == "CreateUserFiscalTransaction"
}

// reencodeJSON rewrites every JSON record of a bucket in the binary layout.
func reencodeJSON(tx *Tx, bucket []byte, fresh func() any) error {
	b := tx.b(bucket)
	return rewriteChunked(b, func(k, v []byte) (func() error, error) {
		rec := fresh()
		if err := json.Unmarshal(v, rec); err != nil {
			return nil, fmt.Errorf("%s record %x: %w", bucket, k, err)
		}
		return putLater(b, k, encodeRecord(rec)), nil
	})
}

// MigrationStep describes one planned step.
type MigrationStep struct {
	From, To    uint64
	Description string
}

// Plan lists the steps that would bring a file at version from up to date.
func Plan(from uint64) []MigrationStep {
	return planFrom(registeredMigrations, from)
}

func planFrom(ms []migration, from uint64) []MigrationStep {
	var steps []MigrationStep
	for _, m := range ms {
		if m.to > from {
			steps = append(steps, MigrationStep{From: m.to - 1, To: m.to, Description: m.description})
		}
	}
	return steps
}

// BackupPath is where a hot backup is written before migrating from version.
func BackupPath(dbPath string, from uint64) string {
	return fmt.Sprintf("%s.bak-v%d", dbPath, from)
}

// migrate applies every step above version, each in its own transaction that
// also bumps the stored version, after a hot backup of the file as it was.
func (db *DB) migrate(version uint64) error {
	var pending []migration
	for _, m := range db.migrations {
		if m.to > version {
			pending = append(pending, m)
		}
	}
	if len(pending) == 0 {
		return nil
	}
	if _, err := db.BackupFile(BackupPath(db.path, version)); err != nil {
		return fmt.Errorf("store: backup before migrating: %w", err)
	}
	for _, m := range pending {
		err := db.bolt.Update(func(btx *bolt.Tx) error {
			for _, name := range allBuckets {
				if _, err := btx.CreateBucketIfNotExists(name); err != nil {
					return err
				}
			}
			if err := m.apply(&Tx{btx: btx}); err != nil {
				return err
			}
			return btx.Bucket(bucketMeta).Put(keySchemaVersion, u64(m.to))
		})
		if err != nil {
			return fmt.Errorf("store: migrate to version %d (%s): %w", m.to, m.description, err)
		}
	}
	return nil
}
