package marc

import (
	"io"
	"runtime"
	"strings"
	"testing"
)

func xmlRecord(id, title string) string {
	return `<record><controlfield tag="001">` + id + `</controlfield><datafield tag="245" ind1="1" ind2="0"><subfield code="a">` + title + `</subfield></datafield></record>`
}

func TestXMLReaderShapes(t *testing.T) {
	for name, tc := range map[string]struct {
		doc string
		ids []string
	}{
		"bare record":       {xmlRecord("a", "T"), []string{"a"}},
		"no namespace":      {"<collection>" + xmlRecord("a", "T") + xmlRecord("b", "U") + "</collection>", []string{"a", "b"}},
		"default namespace": {`<collection xmlns="http://www.loc.gov/MARC21/slim">` + xmlRecord("a", "T") + `</collection>`, []string{"a"}},
		"oai-pmh": {`<?xml version="1.0"?><OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><ListRecords>
<record><header><identifier>oai:x:1</identifier></header><metadata><marc:record xmlns:marc="http://www.loc.gov/MARC21/slim"><marc:controlfield tag="001">a</marc:controlfield></marc:record></metadata></record>
<record><header status="deleted"><identifier>oai:x:2</identifier></header></record>
<record><header><identifier>oai:x:3</identifier></header><metadata><record xmlns="http://www.loc.gov/MARC21/slim"><controlfield tag="001">c</controlfield></record></metadata></record>
<resumptionToken>abc</resumptionToken></ListRecords></OAI-PMH>`, []string{"a", "c"}},
		"html entities": {xmlRecord("a", "Caf&eacute; &amp; &nbsp;bar"), []string{"a"}},
	} {
		recs, errs := readAll(t, NewXMLReader(strings.NewReader(tc.doc)))
		var ids []string
		for _, r := range recs {
			ids = append(ids, r.ControlValue("001"))
		}
		if len(errs) != 0 || strings.Join(ids, ",") != strings.Join(tc.ids, ",") {
			t.Errorf("%s: records %v, errors %v", name, ids, errs)
		}
	}
}

func TestXMLReaderResynchronises(t *testing.T) {
	huge := `<record><controlfield tag="001">big</controlfield><datafield tag="500">` +
		strings.Repeat(`<subfield code="a">`+strings.Repeat("x", 1000)+`</subfield>`, 1100) + `</datafield></record>`
	for name, tc := range map[string]struct{ bad, reason string }{
		"mismatched tags": {`<record><controlfield tag="001">b</controlfield><datafield tag="245"><subfield code="a">x</datafield></record>`, "not well-formed XML at line 3: element <subfield> closed by </datafield>"},
		"invalid utf-8":   {xmlRecord("b", "P\xe9rez"), "not well-formed XML at line 3: invalid UTF-8"},
		"no fields":       {`<record><leader>00000nam a2200000   4500</leader></record>`, "record has no fields"},
		"bad code":        {`<record><datafield tag="245"><subfield code="ab">x</subfield></datafield></record>`, `field 245: subfield code "ab" is not one character`},
		"too big":         {huge, "record larger than 1048576 bytes of text"},
		"huge text":       {xmlRecord("b", strings.Repeat("y", 2<<20)), "not well-formed XML at line 3: more than 1 MiB of text without markup"},
		"too deep":        {`<record>` + strings.Repeat("<x>", 100) + strings.Repeat("</x>", 100) + `</record>`, "not well-formed XML at line 3: elements nested more than 64 deep"},
		"unknown entity":  {xmlRecord("b", "&bogus;"), "not well-formed XML at line 3: invalid character entity &bogus;"},
	} {
		doc := "<collection>\n" + xmlRecord("a", "First") + "\n" + tc.bad + "\n" + xmlRecord("c", "Third") + "\n</collection>\n"
		r := NewXMLReader(strings.NewReader(doc))
		recs, errs := readAll(t, r)
		if len(recs) != 2 || recs[0].ControlValue("001") != "a" || recs[1].ControlValue("001") != "c" {
			t.Errorf("%s: %d records, errors %v", name, len(recs), errs)
			continue
		}
		if len(errs) != 1 || errs[0].N != 2 || !strings.Contains(errs[0].Reason, tc.reason) {
			t.Errorf("%s: errors %v, want %q", name, errs, tc.reason)
		}
		if name == "too big" && errs[0].ID != "big" {
			t.Errorf("too big record named %q", errs[0].ID)
		}
		if r.Offset() != int64(len(doc)) {
			t.Errorf("%s: offset %d of %d", name, r.Offset(), len(doc))
		}
	}
}

func TestXMLReaderFatal(t *testing.T) {
	for name, tc := range map[string]struct{ doc, err string }{
		"empty":   {"", "no MARCXML record found"},
		"no xml":  {"hello", "no MARCXML record found"},
		"latin1":  {`<?xml version="1.0" encoding="ISO-8859-1"?>` + xmlRecord("a", "T"), "MARCXML must be UTF-8, not ISO-8859-1"},
		"garbage": {"<<<>>>", "MARCXML is not well-formed and holds no record"},
	} {
		_, err := NewXMLReader(strings.NewReader(tc.doc)).Next()
		if err == nil || err == io.EOF || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: %v, want %q", name, err, tc.err)
		}
	}
}

func TestXMLReaderCutOffEnd(t *testing.T) {
	doc := "<collection>" + xmlRecord("a", "T") + "</collec"
	recs, errs := readAll(t, NewXMLReader(strings.NewReader(doc)))
	if len(recs) != 1 || len(errs) != 0 {
		t.Errorf("%d records, errors %v", len(recs), errs)
	}
	doc = "<collection>" + xmlRecord("a", "T") + "<record><controlfield tag=\"001\">b</control"
	recs, errs = readAll(t, NewXMLReader(strings.NewReader(doc)))
	if len(recs) != 1 || len(errs) != 1 || errs[0].N != 2 {
		t.Errorf("%d records, errors %v", len(recs), errs)
	}
}

// TestXMLReaderBoundedMemory feeds a 30 MB text node: it is refused after
// 1 MiB, without the decoder holding the rest.
func TestXMLReaderBoundedMemory(t *testing.T) {
	in := io.MultiReader(strings.NewReader(`<collection><record><controlfield tag="001">`),
		io.LimitReader(repeatReader('z'), 30<<20), strings.NewReader(`</controlfield></record></collection>`))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	recs, errs := readAll(t, NewXMLReader(in))
	runtime.ReadMemStats(&after)
	if len(recs) != 0 || len(errs) != 1 {
		t.Errorf("%d records, errors %v", len(recs), errs)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 8<<20 {
		t.Errorf("allocated %d bytes reading 30 MB", n)
	}
}
