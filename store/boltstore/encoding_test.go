package boltstore

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/circa-ils/circa/store"
	bolt "go.etcd.io/bbolt"
)

// binaryRecords are fresh values of every record kind with a binary layout.
func binaryRecords() []binaryRecord {
	recs := make([]binaryRecord, len(binaryBuckets))
	for i, bb := range binaryBuckets {
		recs[i] = binaryOf(bb.fresh())
	}
	return recs
}

// fillDistinct sets every stored field of v (recursively, two elements per
// list) to a value unlike any other field's, so a field left out of a
// layout, or two fields swapped, cannot go unnoticed.
func fillDistinct(v reflect.Value, n *int) {
	next := func() int { *n++; return *n }
	switch v.Kind() {
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			k := next()
			v.Set(reflect.ValueOf(time.Date(2000+k, time.Month(k%12+1), k%28+1, k%24, k%60, k%60, k*1000+7, time.UTC)))
			return
		}
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).Tag.Get("json") == "-" {
				continue // kept apart, not part of the record
			}
			fillDistinct(v.Field(i), n)
		}
	case reflect.String:
		v.SetString(fmt.Sprintf("s%d-ünï", next()))
	case reflect.Uint64:
		v.SetUint(uint64(next()) * 1_000_003)
	case reflect.Int, reflect.Int64:
		v.SetInt(-int64(next()) * 1_000_003)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			v.SetBytes([]byte(fmt.Sprintf("bytes %d\r\x00", next())))
			return
		}
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := 0; i < 2; i++ {
			fillDistinct(s.Index(i), n)
		}
		v.Set(s)
	default:
		panic("fillDistinct: add " + v.Kind().String())
	}
}

func TestBinaryLayoutsKeepEveryField(t *testing.T) {
	for _, rec := range binaryRecords() {
		name := reflect.TypeOf(rec).Elem().Name()
		t.Run(name, func(t *testing.T) {
			n := 0
			fillDistinct(reflect.ValueOf(rec).Elem(), &n)
			raw := encodeRecord(rec)
			got := reflect.New(reflect.TypeOf(rec).Elem()).Interface().(binaryRecord)
			if err := decodeRecord(raw, got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, rec) {
				t.Fatalf("round trip changed the record\n got %+v\nwant %+v", got, rec)
			}
			// Zero values (zero times, empty lists) survive too.
			zero := reflect.New(reflect.TypeOf(rec).Elem()).Interface().(binaryRecord)
			back := reflect.New(reflect.TypeOf(rec).Elem()).Interface().(binaryRecord)
			if err := decodeRecord(encodeRecord(zero), back); err != nil || !reflect.DeepEqual(back, zero) {
				t.Fatalf("zero record: %+v %v", back, err)
			}
			// Every truncation and any trailing byte is refused.
			for i := range raw {
				if decodeRecord(raw[:i], got) == nil {
					t.Fatalf("a record cut at %d of %d bytes decoded", i, len(raw))
				}
			}
			if decodeRecord(append(raw, 0), got) == nil {
				t.Fatal("a record with a trailing byte decoded")
			}
		})
	}
}

func TestBinaryTimesAreUTCAndExact(t *testing.T) {
	for _, at := range []time.Time{
		time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(2026, 11, 27, 10, 15, 0, 0, time.FixedZone("CET", 3600)),
		time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
	} {
		l := store.Loan{Due: at}
		var got store.Loan
		if err := decodeRecord(encodeRecord(&l), &got); err != nil {
			t.Fatal(err)
		}
		if !got.Due.Equal(at) || got.Due.Location() != time.UTC {
			t.Errorf("%v came back as %v", at, got.Due)
		}
	}
}

func TestBinaryDecodeRefusesHugeCounts(t *testing.T) {
	e := recordEncoder{}
	e.uint(7)       // ID
	e.str("P1")     // Barcode
	e.uint(1 << 40) // Identifiers: far more than the bytes left
	var p store.Patron
	if err := decodeRecord(e.b, &p); err == nil {
		t.Fatal("a list longer than the record decoded")
	}
}

// A file written by version 1 (JSON records) opens as version 2 with every
// record unchanged, and passes the consistency check.
func TestMigrationFromJSONRecords(t *testing.T) {
	path := filepath.Join(t.TempDir(), DefaultFile)
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	seedPlaces(t, db)
	// Enough loans to cross the migration's chunk size.
	var it store.Item
	mustUpdate(t, db, func(tx store.Tx) error {
		b := store.Bib{Title: "Migrated", MARCXML: "<record/>", ControlNumber: "ocm1"}
		if err := tx.PutBib(&b, t0); err != nil {
			return err
		}
		h := store.Holding{BibID: b.ID, Library: "MAIN", Location: "STACKS"}
		if err := tx.PutHolding(&h, t0); err != nil {
			return err
		}
		it = store.Item{Barcode: "MIG-1", BibID: b.ID, HoldingID: h.ID, Library: "MAIN", Status: store.ItemAvailable, Pieces: 1}
		if err := tx.PutItem(&it, t0); err != nil {
			return err
		}
		p := store.Patron{Barcode: "P-MIG", LastName: "Näme", Identifiers: []store.Identifier{{Type: "uid", Value: "u1"}},
			Contacts: []store.Contact{{Kind: "email", Value: "a@example.org", Preferred: true}}, Expiry: t0.AddDate(1, 0, 0)}
		if err := tx.PutPatron(&p, t0); err != nil {
			return err
		}
		for i := 0; i < 5000; i++ {
			l := store.Loan{ItemID: it.ID, PatronID: p.ID, Library: "MAIN", Out: t0, Due: t0.Add(time.Duration(i) * time.Hour)}
			if err := tx.OpenLoan(&l); err != nil {
				return err
			}
			if err := tx.CloseLoan(&l, t0.Add(time.Hour), "MAIN"); err != nil {
				return err
			}
		}
		r := store.Request{Kind: store.RequestHold, BibID: b.ID, PatronID: p.ID, Pickup: "MAIN", Status: store.RequestWaiting, Created: t0}
		if err := tx.PutRequest(&r); err != nil {
			return err
		}
		f := store.Fee{PatronID: p.ID, Type: "01", Amount: 250, Balance: 100, Currency: "EUR", Status: store.FeeOpen, Created: t0,
			Transactions: []store.FeeTxn{{Kind: store.TxnPayment, Amount: 150, At: t0, ExternalID: "BK1"}}}
		if err := tx.PutFee(&f); err != nil {
			return err
		}
		if _, err := tx.Emit(store.Event{At: t0, Kind: "checkout", Refs: []store.Ref{{Kind: "item", ID: it.ID}}}); err != nil {
			return err
		}
		return tx.Remember("pay\x00BK1", store.IdemEntry{At: t0, Result: []byte("12 answer\r")})
	})
	// What version 2 reads now, record by record.
	want := map[string]binaryRecord{}
	err = db.bolt.View(func(btx *bolt.Tx) error {
		for _, hb := range binaryBuckets {
			err := btx.Bucket(hb.name).ForEach(func(k, v []byte) error {
				rec := binaryOf(hb.fresh())
				if err := decodeRecord(v, rec); err != nil {
					return err
				}
				want[string(hb.name)+"/"+string(k)] = rec
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(want) < 5000 {
		t.Fatalf("only %d records seeded", len(want))
	}
	// Rewrite them as version 1 did.
	db = reopenAs(t, db, 1, func(btx *bolt.Tx) error {
		for key, rec := range want {
			bucket, k, _ := strings.Cut(key, "/")
			raw, err := json.Marshal(rec)
			if err != nil {
				return err
			}
			if err := btx.Bucket([]byte(bucket)).Put([]byte(k), raw); err != nil {
				return err
			}
		}
		return nil
	})
	defer db.Close()
	if v, _ := db.Version(); v != SchemaVersion {
		t.Fatalf("version %d after opening a version 1 file", v)
	}
	got := 0
	err = db.bolt.View(func(btx *bolt.Tx) error {
		for _, hb := range binaryBuckets {
			err := btx.Bucket(hb.name).ForEach(func(k, v []byte) error {
				rec := binaryOf(hb.fresh())
				if err := decodeRecord(v, rec); err != nil {
					return fmt.Errorf("%s %x not migrated: %w", hb.name, k, err)
				}
				if w := want[string(hb.name)+"/"+string(k)]; !reflect.DeepEqual(rec, w) {
					return fmt.Errorf("%s %x: got %+v, want %+v", hb.name, k, rec, w)
				}
				got++
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got != len(want) {
		t.Fatalf("%d records after migrating, want %d", got, len(want))
	}
	probs, err := db.Check()
	if err != nil || len(probs) > 0 {
		t.Fatalf("check after migrating: %v %v", probs, err)
	}
	db.View(ctx, func(tx store.Tx) error {
		if e, ok, _ := tx.Remembered("pay\x00BK1"); !ok || string(e.Result) != "12 answer\r" || !e.Until.IsZero() {
			t.Errorf("stored answer after migrating: %+v %v", e, ok)
		}
		return nil
	})
}

func FuzzDecodeRecord(f *testing.F) {
	for _, rec := range binaryRecords() {
		n := 0
		fillDistinct(reflect.ValueOf(rec).Elem(), &n)
		f.Add(encodeRecord(rec))
	}
	f.Add([]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02})
	f.Fuzz(func(t *testing.T, raw []byte) {
		for _, rec := range binaryRecords() {
			if decodeRecord(raw, rec) != nil {
				continue
			}
			// What decodes re-encodes to something that decodes the same.
			again := reflect.New(reflect.TypeOf(rec).Elem()).Interface().(binaryRecord)
			if err := decodeRecord(encodeRecord(rec), again); err != nil || !reflect.DeepEqual(again, rec) {
				t.Fatalf("%T: %+v re-decoded as %+v (%v)", rec, rec, again, err)
			}
		}
	})
}
