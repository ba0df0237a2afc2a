package store

import (
	"bytes"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
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
	// The migration loop creates every bucket of allBuckets, the new one too.
	{to: 3, description: "a bucket for patron PIN failure counters", apply: func(*Tx) error { return nil }},
}

func binaryFromJSON(tx *Tx) error {
	for _, bb := range binaryBuckets {
		if err := reencodeJSON(tx, bb.name, bb.fresh); err != nil {
			return err
		}
	}
	return nil
}

// reencodeJSON rewrites every JSON record of a bucket in the binary layout,
// a chunk at a time, because bbolt cursors must not run across their own
// bucket's writes.
func reencodeJSON(tx *Tx, bucket []byte, fresh func() binaryRecord) error {
	b := tx.b(bucket)
	const chunk = 4096
	var after []byte
	for {
		var keys, values [][]byte
		c := b.Cursor()
		k, v := c.First()
		if after != nil {
			if k, v = c.Seek(after); bytes.Equal(k, after) {
				k, v = c.Next()
			}
		}
		for ; k != nil && len(keys) < chunk; k, v = c.Next() {
			rec := fresh()
			if err := json.Unmarshal(v, rec); err != nil {
				return fmt.Errorf("%s record %x: %w", bucket, k, err)
			}
			keys = append(keys, append([]byte(nil), k...))
			values = append(values, encodeRecord(rec))
		}
		for i := range keys {
			if err := b.Put(keys[i], values[i]); err != nil {
				return err
			}
		}
		if len(keys) < chunk {
			return nil
		}
		after = keys[len(keys)-1]
	}
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
