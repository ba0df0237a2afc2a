package circ

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/circa-ils/circa/marc"
	"github.com/circa-ils/circa/store"
)

const catalogRecord = `<?xml version="1.0" encoding="UTF-8"?>
<marc:collection xmlns:marc="http://www.loc.gov/MARC21/slim">
 <marc:record>
  <marc:leader>00000cam a2200000 i 4500</marc:leader>
  <marc:controlfield tag="001">cat000000001</marc:controlfield>
  <marc:datafield tag="020" ind1=" " ind2=" "><marc:subfield code="a">978-0-306-40615-7 (pbk.)</marc:subfield></marc:datafield>
  <marc:datafield tag="050" ind1="0" ind2="0"><marc:subfield code="a">QA76.73.G63</marc:subfield><marc:subfield code="b">D66 2016</marc:subfield></marc:datafield>
  <marc:datafield tag="100" ind1="1" ind2=" "><marc:subfield code="a">Donovan, Alan A. A.,</marc:subfield><marc:subfield code="e">author.</marc:subfield></marc:datafield>
  <marc:datafield tag="245" ind1="1" ind2="4"><marc:subfield code="a">The Go programming language /</marc:subfield><marc:subfield code="c">Alan Donovan &amp; Brian Kernighan.</marc:subfield></marc:datafield>
 </marc:record>
 <marc:record>
  <marc:controlfield tag="001">cat000000002</marc:controlfield>
  <marc:datafield tag="099" ind1=" " ind2=" "><marc:subfield code="a">DVD</marc:subfield><marc:subfield code="a">1234</marc:subfield></marc:datafield>
  <marc:datafield tag="245" ind1="0" ind2="0"><marc:subfield code="a">Harbour lights :</marc:subfield><marc:subfield code="b">a film /</marc:subfield></marc:datafield>
  <marc:datafield tag="700" ind1="1" ind2=" "><marc:subfield code="a">Varda, Agnès,</marc:subfield></marc:datafield>
 </marc:record>
</marc:collection>`

func TestParseMARCXMLAndExtract(t *testing.T) {
	recs, err := ParseMARCXML([]byte(catalogRecord))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 {
		t.Fatalf("%d records", len(recs))
	}
	got := ExtractBib(&recs[0])
	want := BibFields{ControlNumber: "cat000000001", Title: "The Go programming language", Author: "Donovan, Alan A. A.",
		ISBN: "9780306406157", CallNumber: "QA76.73.G63 D66 2016", MaterialType: "book"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("extract:\n got %+v\nwant %+v", got, want)
	}
	got = ExtractBib(&recs[1])
	want = BibFields{ControlNumber: "cat000000002", Title: "Harbour lights : a film", Author: "Varda, Agnès",
		CallNumber: "DVD 1234", MaterialType: "book"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("extract:\n got %+v\nwant %+v", got, want)
	}
	if recs[1].Leader != marc.DefaultLeader {
		t.Errorf("missing leader became %q", recs[1].Leader)
	}
	out := string(recs[0].AppendXML(nil))
	if !strings.HasPrefix(out, `<record xmlns="http://www.loc.gov/MARC21/slim"><leader>00000cam a2200000 i 4500</leader>`) ||
		!strings.Contains(out, `Alan Donovan &amp; Brian Kernighan.`) {
		t.Errorf("re-serialised record: %s", out)
	}
	again, err := ParseMARCXML([]byte(out))
	if err != nil || len(again) != 1 || string(again[0].AppendXML(nil)) != out {
		t.Errorf("round trip changed the record: %v", err)
	}
}

func TestParseMARCXMLRefusals(t *testing.T) {
	for name, doc := range map[string]string{
		"not xml":        "hello",
		"unclosed":       `<record><leader>x</leader>`,
		"no fields":      `<record><leader>00000nam a2200000   4500</leader></record>`,
		"bad tag":        `<record><controlfield tag="1">x</controlfield></record>`,
		"long code":      `<record><datafield tag="245"><subfield code="ab">x</subfield></datafield></record>`,
		"other root":     `<html><record/></html>`,
		"empty":          ``,
		"latin1 charset": `<?xml version="1.0" encoding="ISO-8859-1"?><record><controlfield tag="001">x</controlfield></record>`,
	} {
		if _, err := ParseMARCXML([]byte(doc)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func FuzzParseMARCXML(f *testing.F) {
	f.Add([]byte(catalogRecord))
	f.Add([]byte(`<record xmlns="http://www.loc.gov/MARC21/slim"><leader>01142cam  2200301 a 4500</leader><controlfield tag="001">1</controlfield><datafield tag="245" ind1="1" ind2="0"><subfield code="a">T &eacute; &#x1F;</subfield></datafield></record>`))
	f.Add([]byte("<collection><record><controlfield tag=\"001\">\xff</controlfield></record></collection>"))
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, err := ParseMARCXML(data)
		if err != nil {
			return
		}
		for _, r := range recs {
			_ = ExtractBib(&r)
			out := r.AppendXML(nil)
			again, err := ParseMARCXML(out)
			if err != nil {
				t.Fatalf("re-serialised record does not parse: %v\n%s", err, out)
			}
			if string(again[0].AppendXML(nil)) != string(out) {
				t.Fatalf("not stable:\n%s\n%s", out, again[0].AppendXML(nil))
			}
		}
	})
}

// events returns the kinds of journal events after seq.
func (l *testLib) events(after uint64) []string {
	var kinds []string
	l.db.View(ctx, func(tx store.Tx) error {
		return tx.JournalAfter(after, func(e store.Event) bool { kinds = append(kinds, e.Kind); return true })
	})
	return kinds
}

func (l *testLib) bib(id uint64) (store.Bib, string) {
	var b store.Bib
	var marc string
	err := l.db.View(ctx, func(tx store.Tx) error {
		var err error
		if b, err = tx.Bib(id); err != nil {
			return err
		}
		marc, err = tx.BibMARC(id)
		return err
	})
	if err != nil {
		l.t.Fatal(err)
	}
	return b, marc
}

func TestCatalogueLifecycle(t *testing.T) {
	l := newLib(t)
	recs, err := ParseMARCXML([]byte(catalogRecord))
	if err != nil {
		t.Fatal(err)
	}
	head := l.journalHead()
	changes, err := l.svc.PutBibs(ctx, atMain, recs)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 2 || !changes[0].Created || !changes[1].Created {
		t.Fatalf("changes %+v", changes)
	}
	id := changes[0].Bib.ID
	b, marc := l.bib(id)
	if b.Title != "The Go programming language" || !b.Changed.Equal(start) || !strings.Contains(marc, "cat000000001") {
		t.Fatalf("stored bib %+v", b)
	}

	// Replacing by 001 keeps the id and moves the change stamp.
	l.advance(time.Minute)
	recs[0].Data[3].Subfields[0].Value = "The Go programming language, second edition /"
	changes, err = l.svc.PutBibs(ctx, atMain, recs[:1])
	if err != nil || changes[0].Created || changes[0].Bib.ID != id {
		t.Fatalf("replace: %+v %v", changes, err)
	}
	b, _ = l.bib(id)
	if b.Title != "The Go programming language, second edition" || !b.Changed.Equal(start.Add(time.Minute)) {
		t.Fatalf("replaced bib %+v", b)
	}

	// Items and holdings.
	l.advance(time.Minute)
	it, err := l.svc.AddItem(ctx, atMain, NewItem{BibID: id, Barcode: "39000000000001", Location: "STACKS", Policy: "BOOK"})
	if err != nil {
		t.Fatal(err)
	}
	if it.Library != "MAIN" || it.CallNumber != "QA76.73.G63 D66 2016" || it.Status != store.ItemAvailable || it.HoldingID == 0 {
		t.Fatalf("item %+v", it)
	}
	if _, err := l.svc.AddItem(ctx, atMain, NewItem{BibID: id, Barcode: "39000000000001", Location: "STACKS", Policy: "BOOK"}); !errors.Is(err, &Error{Code: DuplicateRequest}) {
		t.Errorf("duplicate barcode: %v", err)
	}
	if _, err := l.svc.AddItem(ctx, atMain, NewItem{BibID: id, Barcode: "39000000000002", Location: "NOWHERE", Policy: "BOOK"}); !errors.Is(err, &Error{Code: LocationUnknown}) {
		t.Errorf("unknown location: %v", err)
	}
	l.advance(time.Minute)
	moved, err := l.svc.MoveItem(ctx, atMain, "39000000000001", "BSTACKS", "")
	if err != nil || moved.Library != "BRANCH" || moved.Location != "BSTACKS" || moved.HoldingID == it.HoldingID {
		t.Fatalf("move: %+v %v", moved, err)
	}
	b, _ = l.bib(id)
	if !b.Changed.Equal(start.Add(3 * time.Minute)) {
		t.Errorf("move did not stamp the bib: %v", b.Changed)
	}
	if _, err := l.svc.AddHolding(ctx, atMain, id, "ANNEX", "ANNEX 1"); err != nil {
		t.Fatal(err)
	}

	// A second item on loan blocks deletion; nothing changes.
	l.advance(time.Minute)
	if _, err := l.svc.AddItem(ctx, atMain, NewItem{BibID: id, Barcode: "39000000000003", Location: "STACKS", Policy: "BOOK"}); err != nil {
		t.Fatal(err)
	}
	l.patron("21000000000009", "UNDERGRAD")
	if _, err := l.checkout("21000000000009", "39000000000003"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.svc.DeleteBib(ctx, atMain, id); !errors.Is(err, &Error{Code: ItemHasLoan}) {
		t.Fatalf("delete with a loan: %v", err)
	}
	if _, err := l.svc.RemoveItem(ctx, atMain, "39000000000003"); !errors.Is(err, &Error{Code: ItemHasLoan}) {
		t.Fatalf("remove item on loan: %v", err)
	}
	if _, err := l.svc.Checkin(ctx, CheckinRequest{Agent: atMain, Item: "39000000000003"}); err != nil {
		t.Fatal(err)
	}

	l.advance(time.Minute)
	del, err := l.svc.DeleteBib(ctx, atMain, id)
	if err != nil || !del.Bib.Deleted {
		t.Fatalf("delete: %+v %v", del, err)
	}
	b, marc = l.bib(id)
	if !b.Deleted || marc == "" || !b.Changed.Equal(start.Add(5*time.Minute)) {
		t.Fatalf("tombstone %+v (MARC kept: %v)", b, marc != "")
	}
	var ts Tombstone
	var items []store.Item
	l.db.View(ctx, func(tx store.Tx) error {
		ts, _, _ = TombstoneOf(tx, id)
		items, _ = tx.ItemsOfBib(id)
		return nil
	})
	if len(items) != 0 {
		t.Errorf("items left on a deleted bib: %d", len(items))
	}
	wantPlaces := []Place{{"BRANCH", "BSTACKS"}, {"MAIN", "STACKS"}} // the ANNEX holding has no items
	if len(ts.Places) != 2 || ts.Places[0] != wantPlaces[0] || ts.Places[1] != wantPlaces[1] {
		t.Errorf("tombstone places %+v", ts.Places)
	}
	if _, err := l.svc.AddItem(ctx, atMain, NewItem{BibID: id, Barcode: "39000000000004", Location: "STACKS", Policy: "BOOK"}); !errors.Is(err, &Error{Code: InvalidRequest}) {
		t.Errorf("item on a deleted bib: %v", err)
	}
	again, err := l.svc.DeleteBib(ctx, atMain, id)
	if err != nil || !again.Bib.Changed.Equal(start.Add(5*time.Minute)) {
		t.Errorf("second delete: %+v %v", again, err)
	}

	// Given again, the record comes back.
	l.advance(time.Minute)
	changes, err = l.svc.PutBibs(ctx, atMain, recs[:1])
	if err != nil || !changes[0].Restored || changes[0].Bib.Deleted {
		t.Fatalf("restore: %+v %v", changes, err)
	}

	// Suppression keeps items.
	other := changes[0].Bib.ID + 1
	if _, err := l.svc.SuppressBib(ctx, atMain, other, true); err != nil {
		t.Fatal(err)
	}
	b, _ = l.bib(other)
	if !b.Suppressed {
		t.Error("not suppressed")
	}
	if _, err := l.svc.DeleteBib(ctx, atMain, 999); !errors.Is(err, &Error{Code: InvalidRequest}) {
		t.Errorf("unknown bib: %v", err)
	}

	want := []string{"bib.add", "bib.add", "bib.replace", "item.add", "item.move", "holding.update", "item.add",
		"checkout", "checkin", "bib.delete", "bib.replace", "bib.suppress"}
	if got := l.events(head); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("journal:\n got %v\nwant %v", got, want)
	}
}
