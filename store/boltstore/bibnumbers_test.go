package boltstore

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/circa-ils/circa/store"
	bolt "go.etcd.io/bbolt"
)

func TestNormalizeISBNAndSystemNumber(t *testing.T) {
	for in, want := range map[string]string{
		"0306406152": "9780306406157", "030640615X": "9780306406157", "978-0-306-40615-7": "9780306406157",
		"9780306406157": "9780306406157", "12345": "", "03064061A2": "", "": "",
	} {
		if got := store.NormalizeISBN(in); got != want {
			t.Errorf("NormalizeISBN(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"(OCoLC)ocm00012345": "(OCOLC)12345", "(OCoLC)12345": "(OCOLC)12345", " (OCoLC) on12345 ": "(OCOLC)12345",
		"(DLC) 79109631": "(DLC)79109631", "(Sirsi) a123": "(SIRSI)A123",
	} {
		if got := store.NormalizeSystemNumber(in); got != want {
			t.Errorf("NormalizeSystemNumber(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestBibNumberIndexes(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), DefaultFile), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var b1, b2 store.Bib
	mustUpdate(t, db, func(tx store.Tx) error {
		b1 = store.Bib{Title: "One", ISBN: "0306406152", SystemNumbers: []string{"(OCOLC)1", "(DLC)9"}}
		b2 = store.Bib{Title: "Two", ISBN: "9780306406157", SystemNumbers: []string{"(OCOLC)1"}}
		if err := tx.PutBib(&b1, t0); err != nil {
			return err
		}
		return tx.PutBib(&b2, t0)
	})
	look := func(isbn, sn string) (a, b []uint64) {
		db.View(context.Background(), func(tx store.Tx) error {
			a, b = tx.BibsByISBN(isbn), tx.BibsBySystemNumber(sn)
			return nil
		})
		return
	}
	if a, b := look("978-0-306-40615-7", "(OCoLC)ocm001"); !reflect.DeepEqual(a, []uint64{b1.ID, b2.ID}) || !reflect.DeepEqual(b, []uint64{b1.ID, b2.ID}) {
		t.Fatalf("lookups: %v %v", a, b)
	}
	mustUpdate(t, db, func(tx store.Tx) error {
		b1.ISBN, b1.SystemNumbers = "", []string{"(DLC)9"}
		return tx.PutBib(&b1, t0)
	})
	if a, b := look("0306406152", "(OCOLC)1"); !reflect.DeepEqual(a, []uint64{b2.ID}) || !reflect.DeepEqual(b, []uint64{b2.ID}) {
		t.Fatalf("after the change: %v %v", a, b)
	}
	if _, b := look("", "(DLC)9"); !reflect.DeepEqual(b, []uint64{b1.ID}) {
		t.Fatalf("kept number: %v", b)
	}
	if probs, err := db.Check(); err != nil || len(probs) > 0 {
		t.Fatalf("check: %v %v", probs, err)
	}
}

// A version 3 file gets its bibs' system numbers from their MARCXML, the
// two indexes, and its items' new layout on opening.
func TestMigrationIndexesBibNumbers(t *testing.T) {
	path := filepath.Join(t.TempDir(), DefaultFile)
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	marcxml := `<record xmlns="http://www.loc.gov/MARC21/slim"><leader>00000nam a2200000 a 4500</leader>` +
		`<controlfield tag="001">m1</controlfield>` +
		`<datafield tag="035" ind1=" " ind2=" "><subfield code="a">(OCoLC)ocm00042</subfield></datafield>` +
		`<datafield tag="035" ind1=" " ind2=" "><subfield code="a">(Koha)17</subfield><subfield code="z">(Koha)16</subfield></datafield>` +
		`<datafield tag="245" ind1="0" ind2="0"><subfield code="a">Migrated</subfield></datafield></record>`
	seedPlaces(t, db)
	var b store.Bib
	var it store.Item
	mustUpdate(t, db, func(tx store.Tx) error {
		b = store.Bib{Title: "Migrated", ControlNumber: "m1", ISBN: "0306406152", MARCXML: marcxml}
		if err := tx.PutBib(&b, t0); err != nil {
			return err
		}
		it = store.Item{Barcode: "MIG-1", BibID: b.ID, Library: "MAIN", Location: "STACKS", Status: store.ItemAvailable, Pieces: 1}
		return tx.PutItem(&it, t0)
	})
	// Write the bib and the item as version 3 laid them out, without the
	// new indexes.
	db = reopenAs(t, db, 3, func(btx *bolt.Tx) error {
		old := bibV3{b}
		if err := btx.Bucket(bucketBibs).Put(u64(b.ID), encodeRecord(&old)); err != nil {
			return err
		}
		oldItem := itemV3{it}
		if err := btx.Bucket(bucketItems).Put(u64(it.ID), encodeRecord(&oldItem)); err != nil {
			return err
		}
		for _, idx := range [][]byte{idxBibISBN, idxBibSysNum} {
			if err := btx.DeleteBucket(idx); err != nil {
				return err
			}
		}
		return nil
	})
	defer db.Close()
	if v, _ := db.Version(); v != SchemaVersion {
		t.Fatalf("version %d", v)
	}
	err = db.View(context.Background(), func(tx store.Tx) error {
		got, err := tx.Bib(b.ID)
		if err != nil {
			return err
		}
		if want := []string{"(OCOLC)42", "(KOHA)17"}; !reflect.DeepEqual(got.SystemNumbers, want) {
			t.Errorf("system numbers %q, want %q", got.SystemNumbers, want)
		}
		if ids := tx.BibsBySystemNumber("(OCoLC)42"); !reflect.DeepEqual(ids, []uint64{b.ID}) {
			t.Errorf("by system number: %v", ids)
		}
		if ids := tx.BibsByISBN("9780306406157"); !reflect.DeepEqual(ids, []uint64{b.ID}) {
			t.Errorf("by ISBN: %v", ids)
		}
		if got, err := tx.ItemByBarcode("MIG-1"); err != nil || !reflect.DeepEqual(got, it) {
			t.Errorf("item %+v %v, want %+v", got, err, it)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if probs, err := db.Check(); err != nil || len(probs) > 0 {
		t.Fatalf("check: %v %v", probs, err)
	}
}
