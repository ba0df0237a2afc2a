package boltstore

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/circa-ils/circa/store"
	bolt "go.etcd.io/bbolt"
)

func openLib(t *testing.T, path, code string) *DB {
	t.Helper()
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(context.Background(), func(tx store.Tx) error {
		return tx.PutLibrary(&store.Library{Code: code, Name: code, Timezone: "UTC", Currency: "USD"})
	})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func libraryCodes(t *testing.T, path string) string {
	t.Helper()
	db, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var codes []string
	db.View(context.Background(), func(tx store.Tx) error {
		libs, err := tx.Libraries()
		for _, l := range libs {
			codes = append(codes, l.Code)
		}
		return err
	})
	return strings.Join(codes, " ")
}

func TestRestore(t *testing.T) {
	dir := t.TempDir()
	live := filepath.Join(dir, "data", DefaultFile)
	backup := filepath.Join(dir, "backup.db")
	db := openLib(t, backup, "OLD")
	db.Close()
	db = openLib(t, live, "NEW")

	// While a process holds the file, restore refuses and leaves it alone.
	err := Restore(backup, live, 100*time.Millisecond)
	if !errors.Is(err, store.ErrLocked) {
		t.Fatalf("restore under a running server: %v, want ErrLocked", err)
	}
	db.Close()
	if got := libraryCodes(t, live); got != "NEW" {
		t.Fatalf("after a refused restore the file holds %q", got)
	}

	// Not a circa database: a text file, and a bbolt file of another program.
	text := filepath.Join(dir, "notes.txt")
	os.WriteFile(text, []byte("not a database\n"), 0o600)
	other := filepath.Join(dir, "other.db")
	bdb, err := bolt.Open(other, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	bdb.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("x")); return err })
	bdb.Close()
	for _, f := range []string{text, other, filepath.Join(dir, "missing.db")} {
		err := Restore(f, live, time.Second)
		if err == nil || !strings.Contains(err.Error(), "is not a circa database") {
			t.Errorf("restore of %s: %v", filepath.Base(f), err)
		}
	}
	if got := libraryCodes(t, live); got != "NEW" {
		t.Fatalf("after refused restores the file holds %q", got)
	}

	if err := Restore(backup, live, time.Second); err != nil {
		t.Fatal(err)
	}
	if got := libraryCodes(t, live); got != "OLD" {
		t.Errorf("restored file holds %q", got)
	}
	if got := libraryCodes(t, live+".bak"); got != "NEW" {
		t.Errorf("kept file holds %q", got)
	}
	if _, err := os.Stat(live + ".restore"); !os.IsNotExist(err) {
		t.Errorf("temporary file left: %v", err)
	}

	// Into a data directory that does not exist yet: nothing to keep.
	fresh := filepath.Join(dir, "new", DefaultFile)
	if err := Restore(backup, fresh, time.Second); err != nil {
		t.Fatal(err)
	}
	if got := libraryCodes(t, fresh); got != "OLD" {
		t.Errorf("restored into a new directory: %q", got)
	}
	if _, err := os.Stat(fresh + ".bak"); !os.IsNotExist(err) {
		t.Errorf("a .bak of nothing: %v", err)
	}
}

func TestRestoreRefusesNewerSchema(t *testing.T) {
	dir := t.TempDir()
	backup := filepath.Join(dir, "backup.db")
	db := openLib(t, backup, "OLD")
	db.Close()
	bdb, err := bolt.Open(backup, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	bdb.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keySchemaVersion, u64(SchemaVersion+1)) })
	bdb.Close()
	live := filepath.Join(dir, DefaultFile)
	db = openLib(t, live, "NEW")
	db.Close()
	if err := Restore(backup, live, time.Second); !errors.Is(err, store.ErrNewer) {
		t.Fatalf("restore of a newer schema: %v, want ErrNewer", err)
	}
	if got := libraryCodes(t, live); got != "NEW" {
		t.Errorf("file holds %q", got)
	}
}
