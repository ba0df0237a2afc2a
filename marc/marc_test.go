package marc

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

// book is a realistic bibliographic record with two items in Koha's 952.
func book(id string) *Record {
	return &Record{
		Leader: "00000cam a2200000 i 4500",
		Control: []ControlField{
			{Tag: "001", Value: id},
			{Tag: "003", Value: "OCoLC"},
			{Tag: "008", Value: "150817s2016    nyua     b    001 0 eng d"},
		},
		Data: []DataField{
			{Tag: "020", Ind1: " ", Ind2: " ", Subfields: []Subfield{{"a", "9780134190440"}, {"q", "(paperback)"}}},
			{Tag: "050", Ind1: "0", Ind2: "0", Subfields: []Subfield{{"a", "QA76.73.G63"}, {"b", "D66 2016"}}},
			{Tag: "100", Ind1: "1", Ind2: " ", Subfields: []Subfield{{"a", "Donovan, Alan A. A.,"}, {"e", "author."}}},
			{Tag: "245", Ind1: "1", Ind2: "4", Subfields: []Subfield{{"a", "The Go programming language /"}, {"c", "Alan A.A. Donovan, Brian W. Kernighan."}}},
			{Tag: "264", Ind1: " ", Ind2: "1", Subfields: []Subfield{{"a", "New York :"}, {"b", "Addison-Wesley,"}, {"c", "[2016]"}}},
			{Tag: "300", Ind1: " ", Ind2: " ", Subfields: []Subfield{{"a", "xvii, 380 pages :"}, {"b", "illustrations ;"}, {"c", "24 cm."}}},
			{Tag: "650", Ind1: " ", Ind2: "0", Subfields: []Subfield{{"a", "Go (Computer program language)"}}},
			{Tag: "700", Ind1: "1", Ind2: " ", Subfields: []Subfield{{"a", "Kernighan, Brian W.,"}, {"e", "author."}}},
			{Tag: "952", Ind1: " ", Ind2: " ", Subfields: []Subfield{{"a", "MAIN"}, {"b", "MAIN"}, {"c", "STACKS"}, {"o", "QA76.73.G63 D66 2016"}, {"p", "31000000001"}, {"y", "BOOK"}, {"g", "45.00"}}},
			{Tag: "952", Ind1: " ", Ind2: " ", Subfields: []Subfield{{"a", "BRANCH"}, {"b", "BRANCH"}, {"c", "STACKS"}, {"o", "QA76.73.G63 D66 2016 c.2"}, {"p", "31000000002"}, {"y", "BOOK"}, {"g", "45.00"}}},
		},
	}
}

// utf8Leader is what Marshal makes of book's leader.
func marshal(t testing.TB, r *Record) []byte {
	t.Helper()
	b, err := Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// readAll reads every record, collecting record errors.
func readAll(t testing.TB, r RecordReader) ([]*Record, []*RecordError) {
	t.Helper()
	var recs []*Record
	var bad []*RecordError
	for {
		rec, err := r.Next()
		if err == io.EOF {
			return recs, bad
		}
		var rerr *RecordError
		if errors.As(err, &rerr) {
			bad = append(bad, rerr)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	var file []byte
	for _, id := range []string{"r1", "r2", "r3"} {
		file = append(file, marshal(t, book(id))...)
	}
	r := NewReader(bytes.NewReader(file))
	recs, bad := readAll(t, r)
	if len(bad) != 0 || len(recs) != 3 {
		t.Fatalf("%d records, errors %v", len(recs), bad)
	}
	if r.Offset() != int64(len(file)) {
		t.Errorf("offset %d, file %d bytes", r.Offset(), len(file))
	}
	for i, rec := range recs {
		want := book([]string{"r1", "r2", "r3"}[i])
		if !reflect.DeepEqual(rec.Control, want.Control) || !reflect.DeepEqual(rec.Data, want.Data) {
			t.Errorf("record %d changed:\n got %+v\nwant %+v", i, rec, want)
		}
		if rec.Leader[5:12] != "cam a22" || rec.Leader[17:] != " i 4500" {
			t.Errorf("leader %q", rec.Leader)
		}
		if n := len(rec.Fields("952")); n != 2 {
			t.Errorf("repeated 952: %d", n)
		}
	}
	if got := recs[0].Fields("245")[0].Value("a"); got != "The Go programming language /" {
		t.Errorf("245 $a %q", got)
	}
}

const xmlCollection = `<?xml version="1.0" encoding="UTF-8"?>
<marc:collection xmlns:marc="http://www.loc.gov/MARC21/slim">
 <marc:record type="Bibliographic">
  <marc:leader>00000cam a2200000 i 4500</marc:leader>
  <marc:controlfield tag="001">x1</marc:controlfield>
  <marc:datafield tag="245" ind1="1" ind2="0"><marc:subfield code="a">P&eacute;rez &amp; Co</marc:subfield></marc:datafield>
 </marc:record>
 <marc:record>
  <marc:controlfield tag="001">x2</marc:controlfield>
  <marc:datafield tag="24" ind1="1" ind2="0"><marc:subfield code="a">bad tag</marc:subfield></marc:datafield>
 </marc:record>
 <marc:record>
  <marc:controlfield tag="001">x3</marc:controlfield>
 </marc:record>
</marc:collection>`

func TestXMLReader(t *testing.T) {
	r := NewXMLReader(strings.NewReader(xmlCollection))
	recs, bad := readAll(t, r)
	if len(recs) != 2 || recs[0].ControlValue("001") != "x1" || recs[1].ControlValue("001") != "x3" {
		t.Fatalf("records %+v", recs)
	}
	if recs[0].Type != "Bibliographic" || recs[0].Fields("245")[0].Value("a") != "Pérez & Co" {
		t.Errorf("first record %+v", recs[0])
	}
	if recs[1].Leader != DefaultLeader {
		t.Errorf("missing leader became %q", recs[1].Leader)
	}
	if len(bad) != 1 || bad[0].N != 2 || bad[0].ID != "x2" || !strings.Contains(bad[0].Reason, `tag "24"`) {
		t.Errorf("errors %+v", bad)
	}
	if r.Offset() != int64(len(xmlCollection)) {
		t.Errorf("offset %d of %d", r.Offset(), len(xmlCollection))
	}
}

func TestOpenSniffs(t *testing.T) {
	iso := marshal(t, book("iso1"))
	for name, in := range map[string][]byte{
		"iso":      iso,
		"xml":      []byte("\n  " + string(book("iso1").AppendXML(nil))),
		"xml bom":  append([]byte("\xef\xbb\xbf"), book("iso1").AppendXML(nil)...),
		"iso crlf": append([]byte("\r\n"), iso...),
	} {
		r, err := Open(bytes.NewReader(in))
		if err != nil {
			t.Fatal(name, err)
		}
		recs, bad := readAll(t, r)
		if len(recs) != 1 || len(bad) != 0 || recs[0].ControlValue("001") != "iso1" {
			t.Errorf("%s: %d records, %v", name, len(recs), bad)
		}
	}
}

func TestMARC8Latin(t *testing.T) {
	got, reason := decodeMARC8([]byte("P\xe2erez, Jos\xe2e. \xa5sop \xe8u\xe1a"))
	if reason != "" || got != "Pérez, José. Æsop üà" {
		t.Errorf("got %q %s", got, reason)
	}
}
