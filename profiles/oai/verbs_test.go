package oai

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/rs/zerolog"
)

const base = "verb=GetRecord&metadataPrefix=oai_dc&identifier=oai:library.example.edu:"

func TestIdentify(t *testing.T) {
	c, _ := newServer(t, newRepo(), Options{})
	doc := c.get("verb=Identify")
	checks := map[string]string{
		"/OAI-PMH/responseDate":                                             "2025-06-01T12:00:00Z",
		"/OAI-PMH/request":                                                  "http://library.example.edu/oai",
		"/OAI-PMH/Identify/repositoryName":                                  "Circa Test Library",
		"/OAI-PMH/Identify/baseURL":                                         "http://library.example.edu/oai",
		"/OAI-PMH/Identify/protocolVersion":                                 "2.0",
		"/OAI-PMH/Identify/adminEmail":                                      "oai@library.example.edu",
		"/OAI-PMH/Identify/earliestDatestamp":                               "2025-01-02T09:00:00Z",
		"/OAI-PMH/Identify/deletedRecord":                                   "persistent",
		"/OAI-PMH/Identify/granularity":                                     "YYYY-MM-DDThh:mm:ssZ",
		"/OAI-PMH/Identify/compression":                                     "gzip",
		"/OAI-PMH/Identify/description/oai-identifier/scheme":               "oai",
		"/OAI-PMH/Identify/description/oai-identifier/delimiter":            ":",
		"/OAI-PMH/Identify/description/oai-identifier/repositoryIdentifier": "library.example.edu",
		"/OAI-PMH/Identify/description/oai-identifier/sampleIdentifier":     "oai:library.example.edu:b1",
	}
	for path, want := range checks {
		if got := text(t, doc, path); got != want {
			t.Errorf("%s = %q, want %q", path, got, want)
		}
	}
	if got := requestAttrs(doc); len(got) != 1 || got["verb"] != "Identify" {
		t.Errorf("request attributes %v", got)
	}

	// An empty repository publishes the response time as its earliest datestamp,
	// and the base URL comes from the request when the identity has none.
	empty := &memRepo{ident: Identity{Name: "Empty", AdminEmails: []string{"a@b.example"}, RepositoryIdentifier: "empty.example"}}
	c2, _ := newServer(t, empty, Options{})
	doc = c2.get("verb=Identify")
	if got := text(t, doc, "/OAI-PMH/Identify/earliestDatestamp"); got != "2025-06-01T12:00:00Z" {
		t.Errorf("earliestDatestamp of an empty repository = %s", got)
	}
	if got := text(t, doc, "/OAI-PMH/Identify/baseURL"); got != c2.url {
		t.Errorf("derived baseURL = %s, want %s", got, c2.url)
	}
	doc = c2.get("verb=Identify&set=x")
	if codes := errorCodes(doc); !slices.Equal(codes, []string{"badArgument"}) {
		t.Errorf("Identify with an argument: %v", codes)
	}
	c.validate()
	c2.validate()
}

func TestListMetadataFormats(t *testing.T) {
	repo := newRepo()
	repo.recs = append(repo.recs, Record{ID: "broken", Datestamp: day(7), MARCXML: []byte("<record><leader>")})
	c, _ := newServer(t, repo, Options{})
	for _, q := range []string{"verb=ListMetadataFormats", "verb=ListMetadataFormats&identifier=oai:library.example.edu:b1",
		"verb=ListMetadataFormats&identifier=oai:library.example.edu:b3"} {
		doc := c.get(q)
		if got := texts(doc, "//metadataFormat/metadataPrefix"); !slices.Equal(got, []string{"oai_dc", "marc21", "marc21_holdings"}) {
			t.Errorf("%s: prefixes %v", q, got)
		}
		if got := texts(doc, "//metadataFormat/metadataNamespace"); !slices.Equal(got, []string{dcNS, nsMARC, nsMARC}) {
			t.Errorf("%s: namespaces %v", q, got)
		}
		if got := texts(doc, "//metadataFormat/schema"); !slices.Equal(got, []string{dcSchema, marcSchema, marcSchema}) {
			t.Errorf("%s: schemas %v", q, got)
		}
	}
	for q, want := range map[string]string{
		"verb=ListMetadataFormats&identifier=oai:library.example.edu:nope":   "idDoesNotExist",
		"verb=ListMetadataFormats&identifier=oai:other.example.org:b1":       "idDoesNotExist",
		"verb=ListMetadataFormats&identifier=oai:library.example.edu:broken": "noMetadataFormats",
		"verb=ListMetadataFormats&identifier=oai:library.example.edu:b%zz":   "badArgument",
		"verb=ListMetadataFormats&metadataPrefix=oai_dc":                     "badArgument",
	} {
		doc := c.get(q)
		if codes := errorCodes(doc); !slices.Equal(codes, []string{want}) {
			t.Errorf("%s: %v, want %s", q, codes, want)
		}
		attrs := requestAttrs(doc)
		if want == "badArgument" && len(attrs) != 0 {
			t.Errorf("%s: request attributes %v on badArgument", q, attrs)
		}
		if want == "idDoesNotExist" && attrs["identifier"] == "" {
			t.Errorf("%s: request attributes not echoed: %v", q, attrs)
		}
	}
	c.validate()
}

func TestListSets(t *testing.T) {
	repo := newRepo()
	c, _ := newServer(t, repo, Options{})
	doc := c.get("verb=ListSets")
	if got := texts(doc, "//set/setSpec"); !slices.Equal(got, []string{"lib", "lib:LAW", "lib:MAIN"}) {
		t.Errorf("setSpecs %v", got)
	}
	if got := texts(doc, "//set/setName"); !slices.Equal(got, []string{"All libraries", "Law library", "Main library"}) {
		t.Errorf("setNames %v", got)
	}
	if doc.FindElement("//resumptionToken") != nil {
		t.Error("a list that fits in one response carries a resumptionToken")
	}

	// Paged: two per page.
	cp, _ := newServer(t, repo, Options{PageSize: 2})
	doc = cp.get("verb=ListSets")
	tok := doc.FindElement("//resumptionToken")
	if got := texts(doc, "//set/setSpec"); !slices.Equal(got, []string{"lib", "lib:LAW"}) || tok == nil {
		t.Fatalf("first page %v, token %v", got, tok)
	}
	doc = cp.get("verb=ListSets&resumptionToken=" + url.QueryEscape(tok.Text()))
	if got := texts(doc, "//set/setSpec"); !slices.Equal(got, []string{"lib:MAIN"}) {
		t.Errorf("second page %v", got)
	}
	last := doc.FindElement("//resumptionToken")
	if last == nil || last.Text() != "" || last.SelectAttrValue("cursor", "") != "2" || last.SelectAttrValue("completeListSize", "") != "3" {
		t.Errorf("closing token %v", last)
	}
	if codes := errorCodes(cp.get("verb=ListSets&resumptionToken=bogus")); !slices.Equal(codes, []string{"badResumptionToken"}) {
		t.Errorf("bogus token: %v", codes)
	}

	// Sets whose setSpec breaks the syntax are left out and reported.
	var got reports
	cr, _ := newServer(t, &memRepo{ident: repo.ident, sets: []Set{{"ok", "Fine"}, {"not ok", "Bad"}, {"", "Empty"}}}, Options{OnProblem: got.add})
	if specs := texts(cr.get("verb=ListSets"), "//set/setSpec"); !slices.Equal(specs, []string{"ok"}) {
		t.Errorf("setSpecs with invalid ones %v", specs)
	}
	if reps := got.take(); len(reps) != 2 || reps[0].Issues[0].Kind != IssueSetSpec {
		t.Errorf("invalid sets reported as %+v", reps)
	}
	cr2, _ := newServer(t, &memRepo{ident: repo.ident, sets: []Set{{"not ok", "Bad"}}}, Options{})
	if codes := errorCodes(cr2.get("verb=ListSets")); !slices.Equal(codes, []string{"noSetHierarchy"}) {
		t.Errorf("only invalid sets: %v", codes)
	}
	cr.validate()
	cr2.validate()

	// No sets at all.
	repo.update(func() { repo.sets = nil })
	for _, q := range []string{"verb=ListSets", "verb=ListRecords&metadataPrefix=oai_dc&set=lib"} {
		if codes := errorCodes(c.get(q)); !slices.Equal(codes, []string{"noSetHierarchy"}) {
			t.Errorf("%s without sets: %v", q, codes)
		}
	}
	c.validate()
	cp.validate()
}

func TestGetRecordOAIDC(t *testing.T) {
	c, _ := newServer(t, newRepo(), Options{})
	doc := c.get(base + "b1")
	if got := requestAttrs(doc); got["identifier"] != "oai:library.example.edu:b1" || got["metadataPrefix"] != "oai_dc" || got["verb"] != "GetRecord" {
		t.Errorf("request attributes %v", got)
	}
	if got := text(t, doc, "//header/identifier"); got != "oai:library.example.edu:b1" {
		t.Errorf("identifier %s", got)
	}
	if got := text(t, doc, "//header/datestamp"); got != "2025-01-02T09:00:00Z" {
		t.Errorf("datestamp %s", got)
	}
	dc := doc.FindElement("//metadata/dc")
	if dc == nil || dc.NamespaceURI() != dcNS {
		t.Fatalf("no oai_dc:dc in the oai_dc namespace")
	}
	if !strings.Contains(dc.SelectAttrValue("xsi:schemaLocation", ""), dcSchema) {
		t.Errorf("oai_dc schemaLocation %q", dc.SelectAttrValue("xsi:schemaLocation", ""))
	}
	want := map[string][]string{
		"title":       {"Moby Dick, or, The whale"},
		"creator":     {"Melville, Herman, 1819-1891", "Delbanco, Andrew"},
		"subject":     {"Whaling--Fiction"},
		"description": {"A whaling voyage & an obsession"},
		"publisher":   {"Penguin Books"},
		"date":        {"2003"},
		"type":        {"Text"},
		"format":      {"xxx, 720 pages ; 20 cm"},
		"identifier":  {"urn:ISBN:9780142437247"},
		"language":    {"eng"},
	}
	for name, values := range want {
		if got := texts(doc, "//metadata/dc/"+name); !slices.Equal(got, values) {
			t.Errorf("dc:%s = %q, want %q", name, got, values)
		}
	}
	c.validate()
}

func TestGetRecordMARC(t *testing.T) {
	c, _ := newServer(t, newRepo(), Options{})
	doc := c.get("verb=GetRecord&metadataPrefix=marc21&identifier=oai:library.example.edu:b1")
	rec := doc.FindElement("//metadata/record")
	if rec == nil || rec.NamespaceURI() != nsMARC {
		t.Fatal("no MARC record in the slim namespace")
	}
	if got := text(t, doc, "//metadata/record/leader"); got != "00000cam a2200000 i 4500" {
		t.Errorf("leader %q", got)
	}
	if got := texts(doc, "//metadata/record/datafield[@tag='852']/subfield"); !slices.Equal(got, []string{"OLD"}) {
		t.Errorf("marc21 keeps the stored 852: %v", got)
	}
	if got := texts(doc, "//metadata/record/datafield[@tag='520']/subfield"); !slices.Equal(got, []string{"A whaling voyage & an obsession."}) {
		t.Errorf("520 %v", got)
	}

	doc = c.get("verb=GetRecord&metadataPrefix=marc21_holdings&identifier=oai:library.example.edu:b1")
	var tags []string
	for _, f := range doc.FindElements("//metadata/record/datafield") {
		tags = append(tags, f.SelectAttrValue("tag", ""))
	}
	if !slices.Equal(tags, []string{"245", "020", "100", "264", "300", "520", "650", "700", "852", "852", "876", "876", "900"}) {
		t.Errorf("field order %v", tags)
	}
	// Alma's enrichment: 852 per holdings record, first indicator from the
	// shelving scheme, the LC call number split into its class and item
	// parts, the holdings id in $8; 876 per item.
	var inv []*etree.Element
	for _, f := range doc.FindElements("//metadata/record/datafield") {
		if tag := f.SelectAttrValue("tag", ""); tag == "852" || tag == "876" {
			inv = append(inv, f)
		}
	}
	for i, want := range []string{
		"852 0  $a CIRCA $b MAIN $c stacks $h PS2384 $i .M6 2003 $8 2201",
		"852 8  $a CIRCA $b MAIN $c reserve $h PS2384 .M6 2003 c.2 $8 2202",
		"876    $a 2301 $j available $p 39000001 $8 2201",
		"876    $a 2302 $h In library use $j on_loan $p 39000002 $8 2202",
	} {
		if i >= len(inv) {
			t.Fatalf("%d inventory fields", len(inv))
		}
		f := inv[i]
		got := f.SelectAttrValue("tag", "") + " " + f.SelectAttrValue("ind1", "") + f.SelectAttrValue("ind2", "")
		for _, s := range f.SelectElements("subfield") {
			got += " $" + s.SelectAttrValue("code", "") + " " + s.Text()
		}
		if got != want {
			t.Errorf("inventory field %d = %q, want %q", i+1, got, want)
		}
	}
	c.validate()
}

func TestGetRecordDeletedAndEscapedIDs(t *testing.T) {
	c, _ := newServer(t, newRepo(), Options{})
	for _, prefix := range []string{"oai_dc", "marc21", "marc21_holdings"} {
		doc := c.get("verb=GetRecord&metadataPrefix=" + prefix + "&identifier=oai:library.example.edu:b3")
		h := doc.FindElement("//GetRecord/record/header")
		if h == nil || h.SelectAttrValue("status", "") != "deleted" {
			t.Fatalf("%s: deleted record header %v", prefix, h)
		}
		if doc.FindElement("//GetRecord/record/metadata") != nil {
			t.Errorf("%s: deleted record has metadata", prefix)
		}
	}
	// The bib id "b 6/é" is published percent-escaped, and the escaped form finds it.
	doc := c.get("verb=ListIdentifiers&metadataPrefix=oai_dc&from=2025-01-06")
	id := text(t, doc, "//header/identifier")
	if id != "oai:library.example.edu:b%206/%C3%A9" {
		t.Fatalf("escaped identifier %q", id)
	}
	doc = c.get("verb=GetRecord&metadataPrefix=oai_dc&identifier=" + url.QueryEscape(id))
	if got := text(t, doc, "//metadata/dc/title"); got != "Odd id" {
		t.Errorf("title via escaped identifier: %q", got)
	}
	c.validate()
}

func TestGetRecordErrors(t *testing.T) {
	c, _ := newServer(t, newRepo(), Options{})
	cases := []struct {
		query string
		codes []string
		echo  bool
	}{
		{"verb=GetRecord&identifier=oai:library.example.edu:b1", []string{"badArgument"}, false},
		{"verb=GetRecord&metadataPrefix=oai_dc", []string{"badArgument"}, false},
		{"verb=GetRecord", []string{"badArgument", "badArgument"}, false},
		{"verb=GetRecord&metadataPrefix=mods&identifier=oai:library.example.edu:b1", []string{"cannotDisseminateFormat"}, true},
		{"verb=GetRecord&metadataPrefix=mods&identifier=oai:library.example.edu:zzz", []string{"cannotDisseminateFormat", "idDoesNotExist"}, true},
		{"verb=GetRecord&metadataPrefix=oai_dc&identifier=urn:isbn:123", []string{"idDoesNotExist"}, true},
		{"verb=GetRecord&metadataPrefix=oai_dc&identifier=not%20a%20uri", []string{"badArgument"}, false},
		// Identifiers an XML Schema validator would refuse as anyURI are never echoed.
		{"verb=GetRecord&metadataPrefix=oai_dc&identifier=a://x:y:z@h:p", []string{"badArgument"}, false},
		{"verb=GetRecord&metadataPrefix=oai_dc&identifier=a://[", []string{"badArgument"}, false},
		{"verb=GetRecord&metadataPrefix=oai_dc&identifier=a:b%23c%23d", []string{"badArgument"}, false},
		{"verb=GetRecord&metadataPrefix=oai_dc&identifier=http://example.org:8080/x%3Fy%23z", []string{"idDoesNotExist"}, true},
		{"verb=GetRecord&metadataPrefix=oai%20dc&identifier=oai:library.example.edu:b1", []string{"badArgument"}, false},
		{"verb=GetRecord&metadataPrefix=oai%20dc&identifier=oai:library.example.edu:nope", []string{"badArgument", "idDoesNotExist"}, false},
		{"verb=ListRecords&metadataPrefix=mods&set=lib&foo=1", []string{"badArgument", "cannotDisseminateFormat"}, false},
		{"verb=GetRecord&metadataPrefix=oai_dc&metadataPrefix=oai_dc&identifier=oai:library.example.edu:b1", []string{"badArgument"}, false},
		{"verb=GetRecord&metadataPrefix=oai_dc&identifier=oai:library.example.edu:b1&from=2025-01-01", []string{"badArgument"}, false},
	}
	for _, tc := range cases {
		doc := c.get(tc.query)
		if codes := errorCodes(doc); !slices.Equal(codes, tc.codes) {
			t.Errorf("%s: codes %v, want %v", tc.query, codes, tc.codes)
		}
		if attrs := requestAttrs(doc); (len(attrs) > 0) != tc.echo {
			t.Errorf("%s: request attributes %v (echo wanted: %v)", tc.query, attrs, tc.echo)
		}
	}
	c.validate()
}

func TestBadVerb(t *testing.T) {
	c, _ := newServer(t, newRepo(), Options{})
	for _, q := range []string{"", "foo=bar", "verb=identify", "verb=Identify&verb=Identify", "verb=ListRecords&verb=GetRecord&metadataPrefix=oai_dc", "verb="} {
		doc := c.get(q)
		if codes := errorCodes(doc); !slices.Equal(codes, []string{"badVerb"}) {
			t.Errorf("%q: codes %v", q, codes)
		}
		if attrs := requestAttrs(doc); len(attrs) != 0 {
			t.Errorf("%q: request attributes %v on badVerb", q, attrs)
		}
		if got := text(t, doc, "/OAI-PMH/request"); got != "http://library.example.edu/oai" {
			t.Errorf("request content %q", got)
		}
	}
	c.validate()
}

func TestBadArgument(t *testing.T) {
	c, _ := newServer(t, newRepo(), Options{})
	cases := []struct {
		query string
		n     int // badArgument errors expected
	}{
		{"verb=ListRecords", 1},
		{"verb=ListRecords&metadataPrefix=oai_dc&from=2025-01-10&until=2025-01-01", 1},
		{"verb=ListRecords&metadataPrefix=oai_dc&from=2025-01-01T00:00:00Z&until=2025-01-02", 1},
		{"verb=ListRecords&metadataPrefix=oai_dc&from=2025-01-01T00:00:00+01:00", 1},
		{"verb=ListRecords&metadataPrefix=oai_dc&from=2025-01-14%2B05:00", 1},
		{"verb=ListRecords&metadataPrefix=oai_dc&from=2025-01-01T00:00:00.5Z", 1},
		{"verb=ListRecords&metadataPrefix=oai_dc&from=2025-01-01T00:00:00", 1},
		{"verb=ListRecords&metadataPrefix=oai_dc&from=0000-01-01", 1},
		{"verb=ListRecords&metadataPrefix=oai_dc&from=2025-02-30", 1},
		{"verb=ListRecords&metadataPrefix=oai_dc&from=", 1},
		{"verb=ListRecords&metadataPrefix=oai_dc&until=yesterday", 1},
		{"verb=ListRecords&metadataPrefix=oai_dc&set=lib::MAIN", 1},
		{"verb=ListRecords&metadataPrefix=oai_dc&set=lib%20MAIN", 1},
		{"verb=ListRecords&metadataPrefix=oai_dc&set=lib&set=lib", 1},
		{"verb=ListRecords&metadataPrefix=oai_dc&identifier=oai:library.example.edu:b1", 1},
		{"verb=ListRecords&metadataPrefix=oai_dc&resumptionToken=abc", 1},
		{"verb=ListIdentifiers&resumptionToken=abc&from=2025-01-01", 1},
		{"verb=ListRecords&metadataPrefix=oai_dc&foo=1&bar=2", 2},
		{"verb=ListRecords&metadataPrefix=oai_dc&from=bad&until=worse&set=::", 3},
		{"verb=ListRecords&metadataPrefix=oai_dc&from=%zz", 1},
		{"verb=ListSets&resumptionToken=%00", 1},
	}
	for _, tc := range cases {
		doc := c.get(tc.query)
		codes := errorCodes(doc)
		if len(codes) != tc.n || slices.ContainsFunc(codes, func(s string) bool { return s != "badArgument" }) {
			t.Errorf("%s: codes %v, want %d badArgument", tc.query, codes, tc.n)
		}
		if attrs := requestAttrs(doc); len(attrs) != 0 {
			t.Errorf("%s: request attributes %v on badArgument", tc.query, attrs)
		}
	}
	// All errors are reported: a syntax error and an unknown format together.
	doc := c.get("verb=ListRecords&metadataPrefix=mods&from=bad")
	if codes := errorCodes(doc); !slices.Equal(codes, []string{"badArgument", "cannotDisseminateFormat"}) {
		t.Errorf("mixed errors: %v", codes)
	}
	c.validate()
}

func TestPOSTAndMethods(t *testing.T) {
	c, _ := newServer(t, newRepo(), Options{})
	doc := c.post(url.Values{"verb": {"GetRecord"}, "metadataPrefix": {"oai_dc"}, "identifier": {"oai:library.example.edu:b2"}})
	if got := text(t, doc, "//metadata/dc/title"); got != "Law & order" {
		t.Errorf("POST GetRecord title %q", got)
	}
	doc = c.post(url.Values{"verb": {"ListRecords"}, "metadataPrefix": {"oai_dc"}, "until": {"2025-01-01"}})
	if codes := errorCodes(doc); !slices.Equal(codes, []string{"noRecordsMatch"}) {
		t.Errorf("POST ListRecords codes %v", codes)
	}
	if got := requestAttrs(doc); got["until"] != "2025-01-01" || got["metadataPrefix"] != "oai_dc" {
		t.Errorf("POST request attributes %v", got)
	}
	for _, tc := range []struct {
		method, ctype string
		status        int
	}{
		{"PUT", "", 405},
		{"DELETE", "", 405},
		{"POST", "multipart/form-data; boundary=x", 415},
		{"POST", "application/json", 415},
	} {
		req, _ := http.NewRequest(tc.method, c.url, strings.NewReader("verb=Identify"))
		if tc.ctype != "" {
			req.Header.Set("Content-Type", tc.ctype)
		}
		resp, err := c.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s %s: status %d, want %d", tc.method, tc.ctype, resp.StatusCode, tc.status)
		}
	}
	big := strings.Repeat("x", 70<<10)
	resp, err := c.http.Post(c.url, "application/x-www-form-urlencoded", strings.NewReader("verb=Identify&pad="+big))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized POST: status %d", resp.StatusCode)
	}
	c.validate()
}

func TestLogging(t *testing.T) {
	var buf bytes.Buffer
	repo := dirtyRepo()
	h := NewHandler(repo, Options{Logger: zerolog.New(&buf), Now: func() time.Time { return testNow }})
	for _, q := range []string{"verb=Identify", "verb=GetRecord&metadataPrefix=marc21&identifier=oai:library.example.edu:d2", "verb=Nope"} {
		r := httptest.NewRequest("GET", "/oai", nil)
		r.URL.RawQuery = q
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	var lines []map[string]any
	for _, l := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		var m map[string]any
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		lines = append(lines, m)
	}
	if len(lines) != 4 {
		t.Fatalf("%d log lines: %s", len(lines), buf.Bytes())
	}
	if lines[0]["verb"] != "Identify" || lines[0]["proto"] != "oai" || lines[0]["level"] != "info" {
		t.Errorf("request line %v", lines[0])
	}
	if lines[1]["level"] != "warn" || lines[1]["identifier"] != "oai:library.example.edu:d2" {
		t.Errorf("unrenderable record line %v", lines[1])
	}
	if codes, _ := lines[3]["codes"].([]any); len(codes) != 1 || codes[0] != "badVerb" {
		t.Errorf("error line %v", lines[3])
	}
}
