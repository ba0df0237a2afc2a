package boltstore

import (
	"path/filepath"
	"testing"

	"github.com/circa-ils/circa/store"
)

// A patron naming a group that does not exist is one problem, reported
// once.
func TestCheckReportsAMissingGroupOnce(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), DefaultFile), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	seedPlaces(t, db)
	mustUpdate(t, db, func(tx store.Tx) error {
		return tx.PutPatron(&store.Patron{Barcode: "P1", UserGroup: "GONE", HomeLibrary: "MAIN"}, t0)
	})
	probs, err := db.Check()
	if err != nil {
		t.Fatal(err)
	}
	const want = `patrons: patron 1 names group "GONE", which does not exist`
	if len(probs) != 1 || probs[0].String() != want {
		t.Errorf("problems %q, want only %q", probs, want)
	}
}
