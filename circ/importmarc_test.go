package circ

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/circa-ils/circa/store"
)

func importRecord(id, title string, fields ...DataField) *MARCRecord {
	r := &MARCRecord{Leader: "00000nam a2200000 a 4500"}
	if id != "" {
		r.Control = append(r.Control, ControlField{Tag: "001", Value: id})
	}
	r.Data = append(r.Data, DataField{Tag: "245", Ind1: "1", Ind2: "0", Subfields: []Subfield{{Code: "a", Value: title}}})
	r.Data = append(r.Data, fields...)
	return r
}

// importOne runs ImportMARC in its own batch.
func (l *testLib) importOne(rec *MARCRecord, items ...ImportItem) (ImportedBib, error) {
	l.t.Helper()
	var res ImportedBib
	var problem error
	err := l.svc.Import(ctx, atMain, func(b *ImportBatch) error {
		var err error
		res, err = b.ImportMARC(rec, items, MatchControlNumber)
		var p *ImportProblem
		if errors.As(err, &p) {
			problem = err
			return nil
		}
		return err
	})
	if err != nil {
		l.t.Fatal(err)
	}
	return res, problem
}

func (l *testLib) itemByBarcode(bc string) store.Item {
	l.t.Helper()
	var it store.Item
	if err := l.db.View(ctx, func(tx store.Tx) (err error) { it, err = tx.ItemByBarcode(bc); return err }); err != nil {
		l.t.Fatal(err)
	}
	return it
}

func TestImportMARCCreatesUpdatesAndLeavesUnchanged(t *testing.T) {
	l := newLib(t)
	rec := importRecord("b1", "Moby Dick")
	items := []ImportItem{
		{Barcode: "31000000000001", Library: "MAIN", Location: "STACKS", CallNumber: "PS2384 .M6", Policy: "BOOK"},
		{Barcode: "31000000000002", Location: "BSTACKS", Policy: "VIDEO", MediaType: "006", Status: store.ItemMissing},
	}
	res, err := l.importOne(rec, items...)
	if err != nil {
		t.Fatal(err)
	}
	if res.Bib != "created" || res.ItemsCreated != 2 || res.HoldingsCreated != 2 {
		t.Fatalf("first import: %+v", res)
	}
	it := l.itemByBarcode("31000000000001")
	if it.BibID != res.BibID || it.Library != "MAIN" || it.Location != "STACKS" || it.CallNumber != "PS2384 .M6" ||
		it.Policy != "BOOK" || it.MediaType != "001" || it.Status != store.ItemAvailable {
		t.Fatalf("item 1: %+v", it)
	}
	it2 := l.itemByBarcode("31000000000002")
	if it2.Library != "BRANCH" || it2.MediaType != "006" || it2.Status != store.ItemMissing {
		t.Fatalf("item 2: %+v", it2)
	}

	// The same record again: nothing written, nothing journalled.
	head := l.journalHead()
	res, err = l.importOne(importRecord("b1", "Moby Dick"), items...)
	if err != nil {
		t.Fatal(err)
	}
	if res.Bib != "unchanged" || res.ItemsUnchanged != 2 || res.ItemsCreated+res.ItemsUpdated+res.HoldingsCreated != 0 {
		t.Fatalf("second import: %+v", res)
	}
	if l.journalHead() != head {
		t.Fatal("an unchanged record was journalled")
	}

	// A changed title and a moved item: the bib and that item are updated.
	items[0].Location = "READING"
	res, err = l.importOne(importRecord("b1", "Moby-Dick; or, The Whale"), items...)
	if err != nil {
		t.Fatal(err)
	}
	if res.Bib != "updated" || res.ItemsUpdated != 1 || res.ItemsUnchanged != 1 || res.HoldingsCreated != 1 {
		t.Fatalf("third import: %+v", res)
	}
	if moved := l.itemByBarcode("31000000000001"); moved.Location != "READING" || moved.ID != it.ID {
		t.Fatalf("moved item: %+v", moved)
	}
	var bib store.Bib
	l.db.View(ctx, func(tx store.Tx) (err error) { bib, err = tx.BibByControlNumber("b1"); return err })
	if bib.Title != "Moby-Dick; or, The Whale" || bib.ID != res.BibID {
		t.Fatalf("bib: %+v", bib)
	}
}

func TestImportMARCWithoutControlNumberMatchesOnRerun(t *testing.T) {
	l := newLib(t)
	first, err := l.importOne(importRecord("", "Untitled pamphlet"), ImportItem{Barcode: "X1", Location: "STACKS", Policy: "BOOK"})
	if err != nil || first.Bib != "created" {
		t.Fatalf("%+v %v", first, err)
	}
	again, err := l.importOne(importRecord("", "Untitled pamphlet"), ImportItem{Barcode: "X1", Location: "STACKS", Policy: "BOOK"})
	if err != nil || again.Bib != "unchanged" || again.BibID != first.BibID || again.ItemsUnchanged != 1 {
		t.Fatalf("rerun: %+v %v", again, err)
	}
	var bib store.Bib
	l.db.View(ctx, func(tx store.Tx) (err error) { bib, err = tx.Bib(first.BibID); return err })
	if !strings.HasPrefix(bib.ControlNumber, GeneratedControlPrefix) {
		t.Fatalf("control number %q", bib.ControlNumber)
	}
}

func TestImportMARCProblemsWriteNothing(t *testing.T) {
	l := newLib(t)
	l.item("31000000000099", "BOOK", "MAIN", "STACKS")
	for _, c := range []struct {
		name  string
		items []ImportItem
		want  string
	}{
		{"unknown location", []ImportItem{{Barcode: "A1", Location: "NOWHERE", Policy: "BOOK"}}, `unknown location code "NOWHERE"`},
		{"misspelt location", []ImportItem{{Barcode: "A1", Location: "STAKCS", Policy: "BOOK"}}, `unknown location code "STAKCS" (did you mean "STACKS"?)`},
		{"unknown library", []ImportItem{{Barcode: "A1", Library: "ELSEWHERE", Location: "STACKS", Policy: "BOOK"}}, `unknown library code "ELSEWHERE"`},
		{"location of another library", []ImportItem{{Barcode: "A1", Library: "BRANCH", Location: "STACKS", Policy: "BOOK"}}, "belongs to library MAIN, not BRANCH"},
		{"no barcode", []ImportItem{{Barcode: "A1", Location: "STACKS", Policy: "BOOK"}, {Barcode: " ", Location: "STACKS", Policy: "BOOK"}}, "without a barcode"},
		{"barcode twice", []ImportItem{{Barcode: "A1", Location: "STACKS", Policy: "BOOK"}, {Barcode: "a1", Location: "STACKS", Policy: "BOOK"}}, "given twice"},
		{"barcode of another bib", []ImportItem{{Barcode: "A1", Location: "STACKS", Policy: "BOOK"}, {Barcode: "31000000000099", Location: "STACKS", Policy: "BOOK"}}, "barcode 31000000000099 belongs to an item of bib"},
		{"unknown policy", []ImportItem{{Barcode: "A1", Location: "STACKS", Policy: "ZINE"}}, `unknown item policy "ZINE"`},
		{"no policy", []ImportItem{{Barcode: "A1", Location: "STACKS"}}, "no item policy"},
		{"circulating status", []ImportItem{{Barcode: "A1", Location: "STACKS", Policy: "BOOK", Status: store.ItemOnLoan}}, "cannot be imported"},
	} {
		t.Run(c.name, func(t *testing.T) {
			head := l.journalHead()
			_, err := l.importOne(importRecord("p1", "Problem"), c.items...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %q", err, c.want)
			}
			if l.journalHead() != head {
				t.Fatal("a refused record was journalled")
			}
			l.db.View(ctx, func(tx store.Tx) error {
				if _, err := tx.BibByControlNumber("p1"); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("bib written: %v", err)
				}
				if _, err := tx.ItemByBarcode("A1"); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("item written: %v", err)
				}
				return nil
			})
		})
	}
}

func TestImportMARCKeepsTheStatusOfALoan(t *testing.T) {
	l := newLib(t)
	res, err := l.importOne(importRecord("c1", "Circulating"), ImportItem{Barcode: "C1", Location: "STACKS", Policy: "BOOK"})
	if err != nil {
		t.Fatal(err)
	}
	l.patron("21000000000001", "UNDERGRAD")
	if _, err := l.checkout("21000000000001", "C1"); err != nil {
		t.Fatal(err)
	}
	// The export still says available (or lost): the loan decides.
	got, err := l.importOne(importRecord("c1", "Circulating"), ImportItem{Barcode: "C1", Location: "STACKS", Policy: "BOOK", Status: store.ItemLost})
	if err != nil {
		t.Fatal(err)
	}
	if got.ItemsUnchanged != 1 || got.BibID != res.BibID {
		t.Fatalf("%+v", got)
	}
	if it := l.itemByBarcode("C1"); it.Status != store.ItemOnLoan {
		t.Fatalf("status %s", it.Status)
	}
}

func TestImportMARCRefusesATemporaryRecord(t *testing.T) {
	l := newLib(t)
	err := l.db.Update(ctx, func(tx store.Tx) error {
		b := store.Bib{ControlNumber: "ill1", Title: "Borrowed", Temporary: true}
		return tx.PutBib(&b, start)
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.importOne(importRecord("ill1", "Borrowed")); err == nil || !strings.Contains(err.Error(), "temporary") {
		t.Fatalf("got %v", err)
	}
}

func TestImportMARCMatchesBySystemNumberAndISBN(t *testing.T) {
	l := newLib(t)
	sys := func(n string) DataField {
		return DataField{Tag: "035", Ind1: " ", Ind2: " ", Subfields: []Subfield{{Code: "a", Value: n}}}
	}
	isbn := func(n string) DataField {
		return DataField{Tag: "020", Ind1: " ", Ind2: " ", Subfields: []Subfield{{Code: "a", Value: n}}}
	}
	// Bibs loaded earlier from another source, under other 001s.
	first, err := l.importOne(importRecord("oclc-1", "Catalogued before", sys("(OCoLC)ocm00000042"), isbn("0306406152")))
	if err != nil {
		t.Fatal(err)
	}
	other, err := l.importOne(importRecord("oclc-2", "Another"))
	if err != nil {
		t.Fatal(err)
	}

	var res ImportedBib
	err = l.svc.Import(ctx, atMain, func(b *ImportBatch) error {
		var err error
		res, err = b.ImportMARC(importRecord("koha-7", "Catalogued before", sys("(OCoLC)42"), isbn("0306406152")),
			[]ImportItem{{Barcode: "M1", Location: "STACKS", Policy: "BOOK"}}, MatchSystemNumber)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.BibID != first.BibID || res.Bib != "updated" || res.ItemsCreated != 1 {
		t.Fatalf("by 035: %+v", res)
	}
	var bib store.Bib
	l.db.View(ctx, func(tx store.Tx) (err error) { bib, err = tx.Bib(first.BibID); return err })
	if bib.ControlNumber != "koha-7" {
		t.Fatalf("the record's 001 replaces the bib's: %+v", bib)
	}

	// ISBN-13 of the same book, no 001: the bib keeps its control number.
	err = l.svc.Import(ctx, atMain, func(b *ImportBatch) error {
		var err error
		res, err = b.ImportMARC(importRecord("", "Catalogued before", sys("(OCoLC)42"), isbn("978-0-306-40615-7")), nil, MatchISBN)
		return err
	})
	if err != nil || res.BibID != first.BibID {
		t.Fatalf("by ISBN: %+v %v", res, err)
	}
	l.db.View(ctx, func(tx store.Tx) (err error) { bib, err = tx.Bib(first.BibID); return err })
	if bib.ControlNumber != "koha-7" {
		t.Fatalf("a record without 001 takes the matched bib's: %+v", bib)
	}

	// Problems: the 001 of another bib; numbers matching two bibs.
	err = l.svc.Import(ctx, atMain, func(b *ImportBatch) error {
		_, err := b.ImportMARC(importRecord("oclc-2", "Clash", sys("(OCoLC)42")), nil, MatchSystemNumber)
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("001 oclc-2 belongs to bib %d, not to bib %d", other.BibID, first.BibID)) {
			t.Errorf("001 clash: %v", err)
		}
		if _, err := b.ImportMARC(importRecord("oclc-2", "Two", sys("(OCoLC)99")), nil, MatchControlNumber); err != nil {
			return err
		}
		_, err = b.ImportMARC(importRecord("new", "Ambiguous", sys("(OCoLC)42"), sys("(OCoLC)99")), nil, MatchSystemNumber)
		if err == nil || !strings.Contains(err.Error(), "its 035 $a matches 2 records") {
			t.Errorf("ambiguous: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestImportMARCPriceAndNote(t *testing.T) {
	l := newLib(t)
	in := ImportItem{Barcode: "P1", Location: "STACKS", Policy: "BOOK", Price: "24.95", Note: "Signed copy"}
	if _, err := l.importOne(importRecord("pr1", "Priced"), in); err != nil {
		t.Fatal(err)
	}
	if it := l.itemByBarcode("P1"); it.Price != 2495 || it.Note != "Signed copy" {
		t.Fatalf("%+v", it)
	}
	// An export without them keeps what the item has.
	res, err := l.importOne(importRecord("pr1", "Priced"), ImportItem{Barcode: "P1", Location: "STACKS", Policy: "BOOK"})
	if err != nil || res.ItemsUnchanged != 1 {
		t.Fatalf("%+v %v", res, err)
	}
	for price, want := range map[string]string{"24.955": "more decimals than USD", "$24": "not a number"} {
		in.Price = price
		if _, err := l.importOne(importRecord("pr1", "Priced"), in); err == nil || !strings.Contains(err.Error(), "item P1: price: ") || !strings.Contains(err.Error(), want) {
			t.Errorf("price %q: %v", price, err)
		}
	}
}
