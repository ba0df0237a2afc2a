package importer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/marc"
	"github.com/circa-ils/circa/store"
	"github.com/circa-ils/circa/store/boltstore"
)

// catalogueService is a store with two libraries, their locations and loan
// rules and record of the item policy BOOK.
func catalogueService(t testing.TB) (*circ.Service, store.DB) {
	t.Helper()
	db, err := boltstore.Open(filepath.Join(t.TempDir(), boltstore.DefaultFile), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	err = db.Update(context.Background(), func(tx store.Tx) error {
		for _, l := range []store.Library{{Code: "MAIN", Timezone: "UTC", Currency: "USD"}, {Code: "BRANCH", Timezone: "UTC", Currency: "USD"}} {
			if err := tx.PutLibrary(&l); err != nil {
				return err
			}
		}
		for _, l := range []store.Location{{Code: "MAIN-STACKS", Library: "MAIN"}, {Code: "BRANCH-STACKS", Library: "BRANCH"}} {
			if err := tx.PutLocation(&l); err != nil {
				return err
			}
		}
		if err := tx.PutPolicy(&store.Policy{Code: "BOOK", Name: "Book", MediaType: "001"}); err != nil {
			return err
		}
		return tx.PutRules(&store.Rules{Currency: "USD", Loans: []store.LoanRule{{ItemPolicy: "BOOK", Circulates: true, LoanDays: 21}}})
	})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := circ.New(db)
	if err != nil {
		t.Fatal(err)
	}
	return svc, db
}

// kohaRecord is a record as Koha exports it, with items items.
func kohaRecord(n, items int) *marc.Record {
	r := &marc.Record{Leader: marc.DefaultLeader, Control: []marc.ControlField{{Tag: "001", Value: fmt.Sprintf("k%07d", n)}}}
	r.Data = append(r.Data,
		marc.DataField{Tag: "020", Ind1: " ", Ind2: " ", Subfields: []marc.Subfield{{Code: "a", Value: fmt.Sprintf("97803064%05d", n%100000)}}},
		marc.DataField{Tag: "100", Ind1: "1", Ind2: " ", Subfields: []marc.Subfield{{Code: "a", Value: "Author, An,"}, {Code: "d", Value: "1950-"}}},
		marc.DataField{Tag: "245", Ind1: "1", Ind2: "0", Subfields: []marc.Subfield{{Code: "a", Value: fmt.Sprintf("Title number %d :", n)}, {Code: "b", Value: "a subtitle /"}, {Code: "c", Value: "An Author."}}},
		marc.DataField{Tag: "264", Ind1: " ", Ind2: "1", Subfields: []marc.Subfield{{Code: "a", Value: "New York :"}, {Code: "b", Value: "Publisher,"}, {Code: "c", Value: "2001."}}},
		marc.DataField{Tag: "300", Ind1: " ", Ind2: " ", Subfields: []marc.Subfield{{Code: "a", Value: "320 pages ;"}, {Code: "c", Value: "24 cm"}}},
		marc.DataField{Tag: "650", Ind1: " ", Ind2: "0", Subfields: []marc.Subfield{{Code: "a", Value: "Libraries"}, {Code: "x", Value: "Automation."}}},
	)
	for i := 0; i < items; i++ {
		lib, loc := "MAIN", "MAIN-STACKS"
		if i%2 == 1 {
			lib, loc = "BRANCH", "BRANCH-STACKS"
		}
		r.Data = append(r.Data, marc.DataField{Tag: "952", Ind1: " ", Ind2: " ", Subfields: []marc.Subfield{
			{Code: "0", Value: "0"}, {Code: "1", Value: "0"}, {Code: "7", Value: "0"},
			{Code: "a", Value: lib}, {Code: "b", Value: lib}, {Code: "c", Value: loc},
			{Code: "d", Value: "2020-01-15"}, {Code: "g", Value: "25.00"},
			{Code: "o", Value: fmt.Sprintf("823.914 T%d", n)}, {Code: "p", Value: fmt.Sprintf("39%06d%04d", n, i)},
			{Code: "y", Value: "BOOK"},
		}})
	}
	return r
}

func writeISO(t testing.TB, path string, recs []*marc.Record) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, r := range recs {
		b, err := marc.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(b); err != nil {
			t.Fatal(err)
		}
	}
}

// failAfter passes on n records of src and then fails, as a crash would.
type failAfter struct {
	src  Source
	n    int
	seen int
}

func (f *failAfter) Next() (Record, error) {
	if f.seen == f.n {
		return Record{}, errDiskGone
	}
	f.seen++
	return f.src.Next()
}

func TestMARCImportResumesAfterACrash(t *testing.T) {
	svc, db := catalogueService(t)
	dir := t.TempDir()
	var recs []*marc.Record
	for i := 1; i <= 10; i++ {
		recs = append(recs, kohaRecord(i, 2))
	}
	path := filepath.Join(dir, "export.mrc")
	writeISO(t, path, recs)
	m, err := LoadItemMapping("koha")
	if err != nil {
		t.Fatal(err)
	}
	o := Options{Key: "marc/test", Batch: 3}
	src := NewMARCSource(path)
	_, err = Run(context.Background(), svc, &failAfter{src: src, n: 7}, MARCApply(m, circ.MatchControlNumber), o)
	src.Close()
	if !errors.Is(err, errDiskGone) {
		t.Fatalf("first run: %v", err)
	}
	if n := countItems(t, db); n != 12 {
		t.Fatalf("after the crash: %d items, want the 6 records of two batches", n)
	}

	src = NewMARCSource(path)
	defer src.Close()
	rep, err := Run(context.Background(), svc, src, MARCApply(m, circ.MatchControlNumber), o)
	if err != nil {
		t.Fatal(err)
	}
	if rep.ResumedAt != 6 || rep.Counts["bibs created"] != 10 || rep.Counts["items created"] != 20 || rep.Problems != 0 {
		t.Fatalf("resumed run: %+v", rep)
	}
	if n := countItems(t, db); n != 20 {
		t.Fatalf("%d items", n)
	}
}

func countItems(t *testing.T, db store.DB) int {
	t.Helper()
	n := 0
	db.View(context.Background(), func(tx store.Tx) error {
		return tx.ForEachItem(func(store.Item) bool { n++; return true })
	})
	return n
}

func TestMARCSourceNumbersAcrossFilesAndReportsBadRecords(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.mrc"), filepath.Join(dir, "b.xml")
	writeISO(t, a, []*marc.Record{kohaRecord(1, 1), kohaRecord(2, 1)})
	// A truncated ISO 2709 record at the end of the first file.
	f, _ := os.OpenFile(a, os.O_APPEND|os.O_WRONLY, 0)
	f.Write([]byte("01000nam a2200000 a 4500"))
	f.Close()
	xml := `<collection xmlns="http://www.loc.gov/MARC21/slim"><record><controlfield tag="001">x1</controlfield>` +
		`<datafield tag="245" ind1=" " ind2=" "><subfield code="a">XML</subfield></datafield></record></collection>`
	os.WriteFile(b, []byte(xml), 0o600)

	src := NewMARCSource(a, b)
	defer src.Close()
	var got []string
	for {
		rec, err := src.Next()
		if err != nil && !isProblem(err) {
			break
		}
		if err != nil {
			got = append(got, err.Error())
			continue
		}
		got = append(got, fmt.Sprintf("%d %s", rec.N, rec.Key))
	}
	want := []string{"1 k0000001", "2 k0000002", "record 3: truncated record: leader says 1000 bytes, 24 left", "4 x1"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}

func TestMARCApplyStoresTheBibWithoutItsItems(t *testing.T) {
	svc, db := catalogueService(t)
	m, err := LoadItemMapping("koha")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "export.mrc")
	rec := kohaRecord(1, 2)
	writeISO(t, path, []*marc.Record{rec})
	run := func(key string) Report {
		t.Helper()
		src := NewMARCSource(path)
		defer src.Close()
		rep, err := Run(context.Background(), svc, src, MARCApply(m, circ.MatchControlNumber), Options{Key: key})
		if err != nil || rep.Problems != 0 {
			t.Fatalf("%+v %v", rep, err)
		}
		return rep
	}
	run("marc/1")
	err = db.View(context.Background(), func(tx store.Tx) error {
		b, err := tx.BibByControlNumber("k0000001")
		if err != nil {
			return err
		}
		x, err := tx.BibMARC(b.ID)
		if strings.Contains(x, `tag="952"`) || !strings.Contains(x, `tag="245"`) {
			t.Errorf("stored MARCXML: %s", x)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// The export again with one item now lost: the bib is unchanged.
	rec.Data[len(rec.Data)-1].Subfields[1].Value = "1"
	writeISO(t, path, []*marc.Record{rec})
	rep := run("marc/2")
	if rep.Counts["bibs unchanged"] != 1 || rep.Counts["items updated"] != 1 || rep.Counts["items unchanged"] != 1 {
		t.Fatalf("second run: %+v", rep.Counts)
	}
}
