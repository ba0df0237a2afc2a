package oai

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"net/http/httptest"
	"regexp"
	"testing"
	"time"
)

// wellFormed decodes b completely with encoding/xml.
func wellFormed(b []byte) error {
	d := xml.NewDecoder(bytes.NewReader(b))
	for {
		_, err := d.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// FuzzRequest feeds arbitrary query strings to the argument parser and to the
// whole handler: the parser's verdicts must be consistent and every answer
// well-formed XML.
func FuzzRequest(f *testing.F) {
	for _, s := range []string{
		"verb=Identify", "verb=ListRecords&metadataPrefix=oai_dc&from=2025-01-01&until=2025-01-31&set=lib:MAIN",
		"verb=GetRecord&identifier=oai:library.example.edu:b1&metadataPrefix=marc21_holdings",
		"verb=ListIdentifiers&resumptionToken=AQIGbWFyYzIxAACAg-KDDcDUvfcMAmIyAgCOD7glM490ME80GlZ80WgG",
		"verb=ListSets", "verb=ListMetadataFormats&identifier=oai%3Alibrary.example.edu%3Ab%25206",
		"verb=ListRecords&metadataPrefix=oai_dc&from=2025-01-01T00:00:00Z&until=2025-01-02", "verb=Bad&verb=Identify",
		"verb=ListRecords&metadataPrefix=oai_dc&from=%zz&foo=%00", "verb=GetRecord&metadataPrefix=a&identifier=x:%C3%28",
	} {
		f.Add(s)
	}
	h := NewHandler(newRepo(), Options{PageSize: 2, TokenKey: []byte("fuzz"), Now: func() time.Time { return testNow }})
	f.Fuzz(func(t *testing.T, q string) {
		req, errs := parseRequest(splitArgs(q))
		for _, e := range errs {
			if e.code == codeBadVerb && len(errs) != 1 {
				t.Fatalf("badVerb with other errors: %v", errs)
			}
		}
		if len(errs) == 0 {
			if _, ok := verbRules[req.verb]; !ok {
				t.Fatalf("accepted verb %q", req.verb)
			}
			for k, v := range req.args {
				if !validText(v) {
					t.Fatalf("accepted %s=%q that XML cannot carry", k, v)
				}
			}
			if !req.from.IsZero() && !req.until.IsZero() && req.from.After(req.until) {
				t.Fatalf("accepted from %v after until %v", req.from, req.until)
			}
		}
		w := httptest.NewRecorder()
		r := httptest.NewRequest("GET", "/oai", nil)
		r.URL.RawQuery = q
		h.ServeHTTP(w, r)
		if w.Code != 200 {
			t.Fatalf("status %d for %q", w.Code, q)
		}
		if err := wellFormed(w.Body.Bytes()); err != nil {
			t.Fatalf("%q: response not well-formed: %v\n%s", q, err, w.Body.Bytes())
		}
	})
}

// FuzzDecodeToken checks the token decoder refuses everything it did not issue
// and never panics; a token it accepts re-encodes to itself.
func FuzzDecodeToken(f *testing.F) {
	key := []byte("fuzz key")
	for _, st := range []listState{
		{verb: "ListRecords", prefix: "oai_dc", until: testNow, after: Key{day(3), "b2"}, cursor: 2},
		{verb: "ListIdentifiers", prefix: "marc21", set: "lib:MAIN", from: day(1), until: day(31), after: Key{day(5), "b 6/é"}, cursor: 100, expires: testNow},
		{verb: "ListSets", until: testNow, after: Key{ID: "lib:LAW"}, cursor: 2},
	} {
		f.Add(encodeToken(key, st))
	}
	f.Add("")
	f.Add("AQ")
	f.Add("not a token")
	f.Fuzz(func(t *testing.T, tok string) {
		st, err := decodeToken(key, tok)
		if err != nil {
			return
		}
		if again := encodeToken(key, st); again != tok {
			t.Fatalf("token %q decodes to %+v which encodes to %q", tok, st, again)
		}
	})
}

// The MARC21slim.xsd patterns for the leader and a pair of indicators.
var (
	leaderPattern    = regexp.MustCompile(`^[\d ]{5}[\dA-Za-z ][\dA-Za-z][\dA-Za-z ]{3}(2| )(2| )[\d ]{5}[\dA-Za-z ]{3}(4500|    )$`)
	indicatorPattern = regexp.MustCompile(`^[\da-z ]{2}$`)
)

// FuzzParseMARC feeds arbitrary stored MARCXML to the reader: whatever it
// accepts must render, in every format, to well-formed XML of allowed characters.
func FuzzParseMARC(f *testing.F) {
	f.Add(marcXML("b1", "Moby Dick", `<datafield tag="650" ind1=" " ind2="0"><subfield code="a">Whaling</subfield></datafield>`))
	f.Add(dirtyRepo().recs[0].MARCXML)
	f.Add([]byte(`<record><leader>x</leader><datafield tag="020" ind1="" ind2=""><subfield code="a">0-306-40615-2</subfield></datafield></record>`))
	f.Add([]byte("<collection><record/></collection>"))
	f.Add([]byte("<record>&#1;&#x0;&#65;&nbsp;</record>"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, _, err := parseMARC(raw)
		if err != nil {
			return
		}
		holdings := []Holding{{ID: "A\x00", Institution: "B", Library: "C", Location: "D\xff", CallNumber: "E F", CallNumberType: "lc",
			Items: []Item{{ID: "G", Barcode: "H\x1f", Status: "I"}}}}
		var buf bytes.Buffer
		bw := bufio.NewWriter(&buf)
		x := xmlWriter{w: bw}
		x.raw("<root>")
		writeMARC(&x, m)
		writeMARC(&x, m.withHoldings(holdings, func(Issue) {}))
		writeDC(&x, crosswalkDC(m))
		x.raw("</root>")
		bw.Flush()
		out := buf.Bytes()
		if err := wellFormed(out); err != nil {
			t.Fatalf("rendering of %q is not well-formed: %v\n%s", raw, err, out)
		}
		if i := bytes.IndexFunc(out, func(r rune) bool { return !isXMLChar(r) }); i >= 0 {
			t.Fatalf("forbidden character in rendering at %d: %q", i, out)
		}
		if !leaderPattern.MatchString(m.leader) {
			t.Fatalf("leader %q does not match the schema", m.leader)
		}
		for _, fd := range m.data {
			if !validDataTag(fd.tag) || len(fd.subs) == 0 || !indicatorPattern.MatchString(fd.ind1+fd.ind2) {
				t.Fatalf("field %+v kept", fd)
			}
			for _, s := range fd.subs {
				if !validSubfieldCode(s.code) {
					t.Fatalf("subfield code %q kept", s.code)
				}
			}
		}
	})
}

// FuzzParsePage feeds arbitrary pages to the harvester's reader.
func FuzzParsePage(f *testing.F) {
	f.Add([]byte(`<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><ListRecords>` + stubRecord + `<resumptionToken cursor="0" completeListSize="9">t</resumptionToken></ListRecords></OAI-PMH>`))
	f.Add([]byte(`<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><error code="badVerb">x</error></OAI-PMH>`))
	f.Add([]byte(`<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/" xmlns:m="urn:m"><ListRecords><record><header status="deleted"><identifier>i</identifier></header><metadata><m:x/></metadata></record></ListRecords></OAI-PMH>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parsePage(b, "ListRecords")
		if err != nil {
			return
		}
		for _, r := range p.records {
			if r.Identifier == "" {
				t.Fatal("record without identifier accepted")
			}
			if r.Metadata != nil {
				if err := wellFormed(r.Metadata); err != nil {
					t.Fatalf("metadata %q not well-formed: %v", r.Metadata, err)
				}
			}
		}
	})
}
