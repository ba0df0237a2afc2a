package store

import (
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
var registeredMigrations []migration

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
