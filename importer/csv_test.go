package importer

import (
	"errors"
	"io"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/store"
)

// readAll reads src to the end: the records and the problems' texts.
func readAll(t *testing.T, src Source) ([]Record, []string) {
	t.Helper()
	var recs []Record
	var probs []string
	for {
		rec, err := src.Next()
		if errors.Is(err, io.EOF) {
			return recs, probs
		}
		var p *Problem
		if errors.As(err, &p) {
			probs = append(probs, p.Error())
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}
}

func patronSource(t *testing.T, m PatronMapping, data, encoding string) *CSVSource {
	t.Helper()
	src, err := NewCSVSource(strings.NewReader(data), CSVOptions{Encoding: encoding, UniqueKey: "barcode"})
	if err != nil {
		t.Fatal(err)
	}
	parse, err := m.PatronParser(src)
	if err != nil {
		t.Fatal(err)
	}
	src.SetParse(parse)
	return src
}

func TestCSVSourceLinesBOMAndBadRows(t *testing.T) {
	data := "\ufeffcardnumber,surname,firstname\n" +
		"2001,Smith,Ann\n" + // line 2
		"2002,\"Multi\nline\",Bo\n" + // lines 3–4
		"2003,Short\n" + // line 5: a field missing
		"2004,Qu\"ote,Cy\n" + // line 6: a bare quote
		"2001,Again,Di\n" + // line 7: duplicate
		"\n" +
		"2005,Last,Ed\n" // line 9
	recs, probs := readAll(t, patronSource(t, KohaPatrons, data, ""))
	var got []string
	for _, r := range recs {
		got = append(got, r.Key+"@"+strconv.Itoa(r.N))
	}
	if strings.Join(got, " ") != "2001@2 2002@3 2005@9" {
		t.Errorf("records %v", got)
	}
	want := []string{
		"line 5: 2 fields where the header has 3",
		`line 6: unreadable CSV: bare " in non-quoted-field`,
		"line 7 (2001): duplicate barcode: line 2 has it too",
	}
	if strings.Join(probs, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(probs, "\n"), strings.Join(want, "\n"))
	}
	if p := recs[1].Value.(circ.PatronImport); p.LastName != "Multi\nline" {
		t.Errorf("quoted newline: %q", p.LastName)
	}
	if recs[0].Value.(circ.PatronImport).Barcode != "2001" {
		t.Error("the byte-order mark was not skipped: the first column is not cardnumber")
	}
}

func TestCSVSourceWindows1252(t *testing.T) {
	data := "cardnumber,surname\n2001,Dub\xe9\n2002,\x80uro\n"
	recs, probs := readAll(t, patronSource(t, KohaPatrons, data, "windows-1252"))
	if len(probs) != 0 || len(recs) != 2 || recs[0].Value.(circ.PatronImport).LastName != "Dubé" ||
		recs[1].Value.(circ.PatronImport).LastName != "€uro" {
		t.Errorf("records %+v problems %v", recs, probs)
	}
	recs, _ = readAll(t, patronSource(t, KohaPatrons, "cardnumber,surname\n2001,Dub\xe9\n", "latin-1"))
	if recs[0].Value.(circ.PatronImport).LastName != "Dubé" {
		t.Errorf("latin-1: %+v", recs[0].Value)
	}
	if _, err := NewCSVSource(strings.NewReader("a\n"), CSVOptions{Encoding: "ebcdic"}); err == nil {
		t.Error("an unknown encoding was accepted")
	}
	if _, err := NewCSVSource(strings.NewReader("a,A\n"), CSVOptions{}); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("a header naming a column twice: %v", err)
	}
}

func TestKohaPresetRow(t *testing.T) {
	data := "cardnumber,surname,firstname,branchcode,categorycode,dateexpiry,dateofbirth,email,phone,smsalertnumber,address,address2,city,state,zipcode,country,userid,password,lang,borrowernotes\n" +
		"23000001,Nakamura,Aiko,CPL,PT,2027-06-30,2001-04-02,aiko@example.edu,555-0101,+1 607 555 0177,12 Elm St,Apt 3,Ithaca,NY,14850,US,anakamura,4321,en,hello\n" +
		"23000002,Bell,,CPL,PT,0000-00-00,,,,,,,,,,,,$2a$08$abcdefghijklmnopqrstuv,default,\n" +
		"23000003,Dubois,,CPL,PT,30/06/2027,,,,,,,,,,,,,fr-FR,\n"
	m := mergeMapping(KohaPatrons, PatronMapping{Codes: map[string]map[string]string{"group": {"PT": "UNDERGRAD"}, "library": {"CPL": "MAIN"}}})
	recs, probs := readAll(t, patronSource(t, m, data, ""))
	want := []string{
		"line 3 (23000002): the PIN column holds a password hash, not a PIN; leave the column out of the mapping",
		`line 4 (23000003): expiry: bad date "30/06/2027" (write YYYY-MM-DD, or YYYY-MM-DD HH:MM[:SS] in the library's time zone)`,
	}
	if strings.Join(probs, "\n") != strings.Join(want, "\n") || len(recs) != 1 {
		t.Fatalf("problems:\n%s", strings.Join(probs, "\n"))
	}
	got := recs[0].Value.(circ.PatronImport)
	wantP := circ.PatronImport{Barcode: "23000001", LastName: "Nakamura", FirstName: "Aiko", HomeLibrary: "MAIN",
		Group: "UNDERGRAD", Expiry: circ.WallTime{Year: 2027, Month: 6, Day: 30, DateOnly: true}, Birthdate: "2001-04-02",
		Email: "aiko@example.edu", Phone: "555-0101", SMS: "+1 607 555 0177", PIN: "4321", Language: "eng",
		Address:     store.Contact{Line1: "12 Elm St", Line2: "Apt 3", City: "Ithaca", Region: "NY", Postal: "14850", Country: "US"},
		Identifiers: []store.Identifier{{Type: "userid", Value: "anakamura"}}}
	if !reflect.DeepEqual(got, wantP) {
		t.Errorf("row:\n%+v\nwant:\n%+v", got, wantP)
	}
}

func TestAlmaPresetAndMappingFile(t *testing.T) {
	m, err := ParsePatronMapping([]byte(`
preset: alma
columns:
  Student Number: identifier:university_id
codes:
  group: {Undergraduate: UNDERGRAD}
defaults:
  home_library: MAIN
`))
	if err != nil {
		t.Fatal(err)
	}
	data := "Primary Identifier,First Name,Last Name,User Group,Expiry Date,Preferred Email,Student Number\n" +
		"jdoe1,Jane,Doe,Undergraduate,2027-05-31,jane@example.edu,S100\n"
	recs, probs := readAll(t, patronSource(t, m, data, ""))
	if len(probs) != 0 || len(recs) != 1 {
		t.Fatalf("records %+v problems %v", recs, probs)
	}
	p := recs[0].Value.(circ.PatronImport)
	if p.Barcode != "jdoe1" || p.Group != "UNDERGRAD" || p.HomeLibrary != "MAIN" || p.Email != "jane@example.edu" ||
		len(p.Identifiers) != 1 || p.Identifiers[0] != (store.Identifier{Type: "university_id", Value: "S100"}) {
		t.Errorf("row %+v", p)
	}

	for _, c := range []struct{ yaml, want string }{
		{"columns: {card: barcode, name: lastname}", `unknown field "lastname" (did you mean "last_name"?)`},
		{"columns: {name: last_name}", "no column is mapped to barcode"},
		{"preset: kohaa\ncolumns: {}", `unknown preset "kohaa"`},
		{"columns: {card: barcode}\ndefaults: {pin: '1234'}", `"pin" cannot have a default`},
		{"columns: {card: barcode}\ndefaults: {expiry: 06/30/2027}", `bad date "06/30/2027"`},
		{"columns: {card: barcode}\ncodes: {branch: {}}", `unknown table "branch"`},
		{"colums: {card: barcode}", "field colums not found"},
	} {
		if _, err := ParsePatronMapping([]byte(c.yaml)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.yaml, err, c.want)
		}
	}
	if _, err := LoadPatronMapping("kohaa"); err == nil || !strings.Contains(err.Error(), `did you mean "koha"?`) {
		t.Errorf("a misspelt preset: %v", err)
	}
	src, _ := NewCSVSource(strings.NewReader("name\nx\n"), CSVOptions{})
	if _, err := KohaPatrons.PatronParser(src); err == nil || !strings.Contains(err.Error(), "no barcode column") {
		t.Errorf("a file without the barcode column: %v", err)
	}
}

func TestParseWallTime(t *testing.T) {
	for _, s := range []string{"2024-03-01", "2024-03-01 14:05", "2024-03-01 14:05:09", "2024-03-01T14:05:09"} {
		if w, err := ParseWallTime(s); err != nil || w.Year != 2024 || w.Month != 3 || w.Day != 1 || w.DateOnly != (len(s) == 10) {
			t.Errorf("%q: %+v %v", s, w, err)
		}
	}
	for _, s := range []string{"01/03/2024", "2024-02-30", "2024-3-1", "1.3.2024", "2024-03-01 25:00", "20240301"} {
		if _, err := ParseWallTime(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

func circSource(t *testing.T, data string, parser func(CircMapping, *CSVSource) (func(Row) (string, any, error), error)) *CSVSource {
	t.Helper()
	src, err := NewCSVSource(strings.NewReader(data), CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	parse, err := parser(CircMapping{}, src)
	if err != nil {
		t.Fatal(err)
	}
	src.SetParse(parse)
	return src
}

func TestHoldsTakeQueueOrder(t *testing.T) {
	data := "cardnumber,biblionumber,reservedate,branchcode,priority\n" +
		"P3,B1,2024-01-03,MAIN,3\n" +
		"P1,B1,2024-01-01,MAIN,1\n" +
		"P9,B2,2024-01-01,MAIN,1\n" +
		"P2,B1,2024-01-02,MAIN,2\n" +
		"P4,B1,yesterday,MAIN,4\n"
	src, err := QueueOrder(circSource(t, data, CircMapping.HoldParser))
	if err != nil {
		t.Fatal(err)
	}
	recs, probs := readAll(t, src)
	var got []string
	for _, r := range recs {
		h := r.Value.(heldRow)
		got = append(got, h.Patron+"/"+h.Bib)
	}
	if strings.Join(got, " ") != "P1/B1 P9/B2 P2/B1 P3/B1" {
		t.Errorf("order %v", got)
	}
	if len(probs) != 1 || !strings.Contains(probs[0], `line 6 (B1): placed: bad date "yesterday"`) {
		t.Errorf("problems %v", probs)
	}
}

func TestCircLayouts(t *testing.T) {
	recs, probs := readAll(t, circSource(t, "cardnumber,barcode,issuedate,date_due,renewals_count\n"+
		"P1,I1,2024-03-01 14:05:00,2024-03-22,2\nP1,I2,2024-03-01,,0\nP1,I3,2024-03-01,2024-03-22,two\n", CircMapping.LoanParser))
	if len(recs) != 1 || recs[0].Value.(circ.LoanImport).Renewals != 2 || recs[0].Value.(circ.LoanImport).Out.Hour != 14 {
		t.Errorf("loans %+v", recs)
	}
	if strings.Join(probs, "\n") != "line 3 (I2): no due date\nline 4 (I3): renewals \"two\" is not a count" {
		t.Errorf("problems %v", probs)
	}

	recs, probs = readAll(t, circSource(t, "cardnumber,amount,amountoutstanding,debit_type_code,date,description\n"+
		"P1,0.50,0.50,OVERDUE,2024-03-01,Late\nP1,0.50,0.50,OVERDUE,2024-03-01,Late\nP1,2,2,LOST,2024-03-01,\nP1,2,2,SUNDRY,2024-03-01,\n", CircMapping.FeeParser))
	if len(recs) != 3 {
		t.Fatalf("fees %+v %v", recs, probs)
	}
	a, b, c := recs[0].Value.(circ.FeeImport), recs[1].Value.(circ.FeeImport), recs[2].Value.(circ.FeeImport)
	if a.Type != "04" || a.Occurrence != 1 || b.Occurrence != 2 || c.Type != "07" || c.Occurrence != 1 {
		t.Errorf("fees %+v %+v %+v", a, b, c)
	}
	if len(probs) != 1 || !strings.Contains(probs[0], `line 5 (P1): unknown fee type "SUNDRY"`) {
		t.Errorf("problems %v", probs)
	}

	src, _ := NewCSVSource(strings.NewReader("cardnumber,amount\n"), CSVOptions{})
	if _, err := (CircMapping{}).FeeParser(src); err == nil || !strings.Contains(err.Error(), "no type column") {
		t.Errorf("fees without a type column: %v", err)
	}
	src, _ = NewCSVSource(strings.NewReader("borrower,barcode,out,due\n"), CSVOptions{})
	m := CircMapping{Columns: map[string]string{"borrower": "patron", "out": "checkout_date", "due": "due_date"}}
	if _, err := m.LoanParser(src); err != nil {
		t.Errorf("a mapping naming the columns: %v", err)
	}
	m.Columns["due"] = "due"
	if _, err := m.LoanParser(src); err == nil || !strings.Contains(err.Error(), `loans have no field "due"`) {
		t.Errorf("a mapping to an unknown field: %v", err)
	}
}

// FuzzPatronRow reads arbitrary bytes as a Koha patron file: the source
// never panics or stops with anything but a problem, and every record it
// yields is a patron with a barcode whose line is within the file.
func FuzzPatronRow(f *testing.F) {
	f.Add("cardnumber,surname,dateexpiry,password,lang\n2001,Smith,2027-06-30,1234,en\n")
	f.Add("\ufeffcardnumber,surname\n\"20\n01\",\"a\"\"b\"\n2002,x,y\n")
	f.Add("cardnumber,surname,dateofbirth\n2001,Smith,2024-02-30\n2001,Dup,\n")
	f.Fuzz(func(t *testing.T, data string) {
		src, err := NewCSVSource(strings.NewReader(data), CSVOptions{UniqueKey: "barcode"})
		if err != nil {
			return
		}
		parse, err := KohaPatrons.PatronParser(src)
		if err != nil {
			return
		}
		src.SetParse(parse)
		lines := strings.Count(data, "\n") + 1
		for range 10000 {
			rec, err := src.Next()
			if errors.Is(err, io.EOF) {
				return
			}
			var p *Problem
			if errors.As(err, &p) {
				if p.N < 1 || p.N > lines {
					t.Fatalf("problem on line %d of %d", p.N, lines)
				}
				continue
			}
			if err != nil {
				t.Fatalf("the source stopped: %v", err)
			}
			in := rec.Value.(circ.PatronImport)
			if in.Barcode == "" || rec.Key != in.Barcode || rec.N < 2 || rec.N > lines {
				t.Fatalf("record %+v", rec)
			}
		}
		t.Fatal("the source never ended")
	})
}

// countingReader counts what is read of r.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func TestCSVSourceBoundsARow(t *testing.T) {
	// A long row within the bound reads.
	long := strings.Repeat("x", maxRow-100)
	recs, probs := readAll(t, patronSource(t, KohaPatrons, "cardnumber,surname\n2001,"+long+"\n2002,Smith\n", ""))
	if len(recs) != 2 || len(probs) != 0 || recs[0].Value.(circ.PatronImport).LastName != long {
		t.Fatalf("%d records, problems %v: want the long row and the next", len(recs), probs)
	}

	// A quote left open on line 3 would take the rest of a large file
	// into one field; the source stops soon after the bound instead.
	rest := strings.Repeat("2003,Jones\n", 64<<20/11)
	in := &countingReader{r: strings.NewReader("cardnumber,surname\n2001,Smith\n2002,\"Open\n" + rest)}
	src, err := NewCSVSource(in, CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	src.SetParse(func(r Row) (string, any, error) { return r.Get("cardnumber"), nil, nil })
	if _, err := src.Next(); err != nil {
		t.Fatal(err)
	}
	_, err = src.Next()
	if !errors.Is(err, errRowTooLong) || isProblem(err) {
		t.Fatalf("err %v, want the run stopped by a row over the bound", err)
	}
	if want := "after line 2: a row is longer than 1048576 bytes: is a quote left open?"; err.Error() != want {
		t.Errorf("err %q, want %q", err, want)
	}
	if in.n > 2*maxRow {
		t.Errorf("%d bytes read for a row bounded at %d", in.n, maxRow)
	}

	// So is a header with no end.
	if _, err := NewCSVSource(strings.NewReader("cardnumber,\""+rest), CSVOptions{}); !errors.Is(err, errRowTooLong) {
		t.Errorf("header: err %v, want the bound's", err)
	}
}
