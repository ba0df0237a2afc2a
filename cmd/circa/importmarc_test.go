package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/circa-ils/circa/marc"
)

func marcField(tag string, sub ...string) marc.DataField {
	f := marc.DataField{Tag: tag, Ind1: " ", Ind2: " "}
	for i := 0; i+1 < len(sub); i += 2 {
		f.Subfields = append(f.Subfields, marc.Subfield{Code: sub[i], Value: sub[i+1]})
	}
	return f
}

func marcRecord(id, title string, fields ...marc.DataField) *marc.Record {
	r := &marc.Record{Leader: "00000nam a2200000 a 4500"}
	if id != "" {
		r.Control = []marc.ControlField{{Tag: "001", Value: id}}
	}
	r.Data = append([]marc.DataField{marcField("245", "a", title)}, fields...)
	return r
}

// kohaFile writes records as Koha exports them, ISO 2709 with 952 items.
func kohaFile(t *testing.T, recs ...*marc.Record) string {
	t.Helper()
	var data []byte
	for _, r := range recs {
		b, err := marc.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		data = append(data, b...)
	}
	path := filepath.Join(t.TempDir(), "koha.mrc")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func kohaRecords() []*marc.Record {
	return []*marc.Record{
		marcRecord("kb1", "The first import",
			marcField("952", "a", "MAIN", "b", "MAIN", "c", "MAIN-STACKS", "o", "QA76 .F1", "p", "39000000000001", "y", "BOOK"),
			marcField("952", "a", "BRANCH", "c", "BRANCH-STACKS", "p", "39000000000002", "y", "BOOK", "1", "4", "g", "12.50", "x", "Gift")),
		marcRecord("", "A record without a control number",
			marcField("952", "a", "MAIN", "c", "MAIN-REF", "p", "39000000000003", "y", "REFERENCE")),
		marcRecord("kb3", "Shelved nowhere",
			marcField("952", "a", "MAIN", "c", "NOWHERE", "p", "39000000000004", "y", "BOOK")),
		marcRecord("kb4", "Duplicate barcode",
			marcField("952", "a", "MAIN", "c", "MAIN-STACKS", "p", "39000000000001", "y", "BOOK")),
	}
}

// dbStats is what `circa db stats` counts: every bucket's records, the
// journal and the import checkpoints among them. The audit trail is left
// out: it records every run, one that changed nothing too.
func dbStats(t *testing.T, dir string) string {
	t.Helper()
	r := run(t, "db", "stats", "--data-dir", dir)
	if r.code != 0 {
		t.Fatalf("db stats: %+v", r)
	}
	var keep []string
	for _, l := range strings.Split(r.out, "\n") {
		if !strings.HasPrefix(l, "audit ") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

func TestImportMARCKohaFile(t *testing.T) {
	dir := seededDir(t)
	d := []string{"--data-dir", dir}
	file := kohaFile(t, kohaRecords()...)

	// A dry run reports what the import would do and changes nothing.
	before := dbStats(t, dir)
	r := run(t, append([]string{"import", "marc", file, "--items", "koha", "--dry-run"}, d...)...)
	if r.code != 1 || !strings.Contains(r.out, "bibs created") || !strings.Contains(r.out, "would not be imported") && !strings.Contains(r.errOut, "would not be imported") {
		t.Fatalf("dry run: %+v", r)
	}
	if after := dbStats(t, dir); after != before {
		t.Fatalf("the dry run changed the database:\n%s\n%s", before, after)
	}

	// --strict imports nothing while a record has a problem.
	r = run(t, append([]string{"import", "marc", file, "--items", "koha", "--strict"}, d...)...)
	if r.code != 1 || !strings.Contains(r.errOut, "nothing imported") {
		t.Fatalf("strict: %+v", r)
	}
	if after := dbStats(t, dir); after != before {
		t.Fatalf("the strict run changed the database:\n%s\n%s", before, after)
	}

	r = run(t, append([]string{"import", "marc", file, "--items", "koha"}, d...)...)
	if r.code != 1 {
		t.Fatalf("import: %+v", r)
	}
	for _, want := range []string{
		`record 3 (kb3): item 39000000000004: unknown location code "NOWHERE"`,
		"record 4 (kb4): barcode 39000000000001 belongs to an item of the record with 001 kb1",
		"bibs created             2", "items created            3", "holdings created         3", "problems                 2",
	} {
		if !strings.Contains(r.out, want) {
			t.Errorf("report lacks %q:\n%s", want, r.out)
		}
	}
	show := run(t, append([]string{"item", "show", "39000000000002", "--json"}, d...)...)
	if show.code != 0 || !strings.Contains(show.out, `"missing"`) || !strings.Contains(show.out, "BRANCH-STACKS") ||
		!strings.Contains(show.out, `"price": 1250`) || !strings.Contains(show.out, `"note": "Gift"`) {
		t.Fatalf("item show: %+v", show)
	}

	// The same file again changes nothing.
	before = dbStats(t, dir)
	r = run(t, append([]string{"import", "marc", file, "--items", "koha"}, d...)...)
	if !strings.Contains(r.out, "bibs unchanged           2") || !strings.Contains(r.out, "items unchanged          3") ||
		strings.Contains(r.out, "created") || strings.Contains(r.out, "updated") {
		t.Fatalf("second run: %+v", r)
	}
	if after := dbStats(t, dir); after != before {
		t.Fatalf("the second run changed the database:\n%s\n%s", before, after)
	}
}

func TestImportMARCAlmaXML(t *testing.T) {
	dir := seededDir(t)
	d := []string{"--data-dir", dir}
	doc := `<?xml version="1.0" encoding="UTF-8"?>
<collection xmlns="http://www.loc.gov/MARC21/slim">
<record><leader>00000nam a2200000 a 4500</leader>
<controlfield tag="001">991234567890001</controlfield>
<datafield tag="245" ind1="1" ind2="0"><subfield code="a">Published from Alma</subfield></datafield>
<datafield tag="852" ind1="0" ind2=" "><subfield code="8">22101</subfield><subfield code="b">MAIN</subfield><subfield code="c">MAIN-MEDIA</subfield><subfield code="h">PN1997</subfield><subfield code="i">.A1 2001</subfield></datafield>
<datafield tag="876" ind1=" " ind2=" "><subfield code="8">22101</subfield><subfield code="a">23101</subfield><subfield code="p">A0001</subfield></datafield>
<datafield tag="876" ind1=" " ind2=" "><subfield code="8">22101</subfield><subfield code="a">23102</subfield><subfield code="p">A0002</subfield></datafield>
</record>
</collection>`
	file := filepath.Join(t.TempDir(), "alma.xml")
	if err := os.WriteFile(file, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	mapping := filepath.Join(t.TempDir(), "alma.yaml")
	yml := "tag: \"876\"\nbarcode: p\nholdings: {tag: \"852\", link: \"8\", library: b, location: c, call_number: hi}\ndefaults: {policy: VIDEO, media_type: \"006\"}\n"
	if err := os.WriteFile(mapping, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	r := run(t, append([]string{"import", "marc", file, "--items", mapping}, d...)...)
	if r.code != 0 || !strings.Contains(r.out, "items created            2") {
		t.Fatalf("import: %+v", r)
	}
	show := run(t, append([]string{"item", "show", "A0002", "--json"}, d...)...)
	for _, want := range []string{"MAIN-MEDIA", "PN1997 .A1 2001", `"VIDEO"`} {
		if !strings.Contains(show.out, want) {
			t.Errorf("item show lacks %s: %s", want, show.out)
		}
	}
	// The preset reads the same file, given a default policy it lacks.
	if r := run(t, append([]string{"import", "marc", file, "--items", "alma"}, d...)...); r.code != 1 || !strings.Contains(r.out, "has no item policy") {
		t.Fatalf("alma preset without policy: %+v", r)
	}
}

func TestImportMARCBadArguments(t *testing.T) {
	dir := seededDir(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"import", "marc", "x.mrc"}, "--items is required"},
		{[]string{"import", "marc", "x.mrc", "--items", "kohaa"}, `did you mean "koha"`},
		{[]string{"import", "marc", "x.mrc", "--items", "koha", "--match", "lccn"}, "one of 001, 035 or isbn"},
	} {
		r := run(t, append(c.args, "--data-dir", dir)...)
		if r.code != 2 || !strings.Contains(r.errOut, c.want) {
			t.Errorf("%v: %+v", c.args, r)
		}
	}
}

func TestImportMARCMatchByISBNAnd035(t *testing.T) {
	dir := seededDir(t)
	d := []string{"--data-dir", dir}
	existing := filepath.Join(t.TempDir(), "bib.xml")
	doc := `<record xmlns="http://www.loc.gov/MARC21/slim"><leader>00000nam a2200000 a 4500</leader>` +
		`<controlfield tag="001">old-1</controlfield>` +
		`<datafield tag="020" ind1=" " ind2=" "><subfield code="a">0306406152</subfield></datafield>` +
		`<datafield tag="035" ind1=" " ind2=" "><subfield code="a">(OCoLC)ocm00777</subfield></datafield>` +
		`<datafield tag="245" ind1="0" ind2="0"><subfield code="a">Loaded before</subfield></datafield></record>`
	if err := os.WriteFile(existing, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := run(t, append([]string{"bib", "add", existing}, d...)...); r.code != 0 {
		t.Fatalf("bib add: %+v", r)
	}
	byISBN := kohaFile(t, marcRecord("koha-1", "Loaded before", marcField("020", "a", "978-0-306-40615-7"),
		marcField("952", "a", "MAIN", "c", "MAIN-STACKS", "p", "39000000000101", "y", "BOOK")))
	r := run(t, append([]string{"import", "marc", byISBN, "--items", "koha", "--match", "isbn"}, d...)...)
	if r.code != 0 || !strings.Contains(r.out, "bibs updated             1") || strings.Contains(r.out, "bibs created") {
		t.Fatalf("--match isbn: %+v", r)
	}
	// The bib now has 001 koha-1 and no 035; a record with the 035 of
	// another bib and no match creates one.
	by035 := kohaFile(t, marcRecord("", "Loaded before", marcField("035", "a", "(OCoLC)777"),
		marcField("952", "a", "MAIN", "c", "MAIN-STACKS", "p", "39000000000102", "y", "BOOK")))
	r = run(t, append([]string{"import", "marc", by035, "--items", "koha", "--match", "035"}, d...)...)
	if r.code != 0 || !strings.Contains(r.out, "bibs created             1") {
		t.Fatalf("--match 035: %+v", r)
	}
	r = run(t, append([]string{"import", "marc", by035, "--items", "koha", "--match", "035"}, d...)...)
	if r.code != 0 || !strings.Contains(r.out, "bibs unchanged           1") || !strings.Contains(r.out, "items unchanged          1") {
		t.Fatalf("--match 035 again: %+v", r)
	}
}
