package oai

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"
	"go.uber.org/goleak"

	"github.com/circa-ils/circa/internal/conformance"
	"github.com/circa-ils/circa/schemas"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// memRepo is the reference Repository for tests: records in a slice.
type memRepo struct {
	mu       sync.Mutex
	ident    Identity
	sets     []Set
	recs     []Record
	listErr  error // returned by List after failAfter records
	failAt   int
	countErr error
}

// update changes the repository while servers may be reading it.
func (m *memRepo) update(fn func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	fn()
}

func (m *memRepo) Identity(context.Context) (Identity, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ident, nil
}

func (m *memRepo) Sets(context.Context) ([]Set, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sets, nil
}

func (m *memRepo) Record(_ context.Context, id string) (Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.recs {
		if r.ID == id {
			return r, nil
		}
	}
	return Record{}, fmt.Errorf("bib %s: %w", id, ErrNotFound)
}

func (m *memRepo) matching(r Range) []Record {
	m.mu.Lock()
	recs := slices.Clone(m.recs)
	m.mu.Unlock()
	slices.SortFunc(recs, func(a, b Record) int { return compareKeys(Key{a.Datestamp, a.ID}, Key{b.Datestamp, b.ID}) })
	var out []Record
	for _, rec := range recs {
		ds := rec.Datestamp.Truncate(time.Second)
		if (r.From.IsZero() || !ds.Before(r.From)) && !ds.After(r.Until) && InSet(rec.Sets, r.Set) {
			out = append(out, rec)
		}
	}
	return out
}

// compareKeys orders by datestamp, then by id as a string.
func compareKeys(a, b Key) int {
	if c := a.Datestamp.Compare(b.Datestamp); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

func (m *memRepo) List(_ context.Context, req ListRequest, fn func(Record) error) error {
	m.mu.Lock()
	listErr, failAt := m.listErr, m.failAt
	m.mu.Unlock()
	n := 0
	for _, rec := range m.matching(req.Range) {
		if compareKeys(Key{rec.Datestamp, rec.ID}, req.After) <= 0 {
			continue
		}
		if n == req.Limit {
			return nil
		}
		if listErr != nil && n == failAt {
			return listErr
		}
		if req.HeadersOnly {
			rec.MARCXML, rec.Holdings = nil, nil
		}
		if err := fn(rec); err != nil {
			return err
		}
		n++
	}
	return nil
}

func (m *memRepo) Count(_ context.Context, r Range) (int, error) {
	m.mu.Lock()
	countErr := m.countErr
	m.mu.Unlock()
	if countErr != nil {
		return 0, countErr
	}
	return len(m.matching(r)), nil
}

// marcXML builds a stored MARCXML record with 001 = id, 245 $a = title and
// the extra fields given as raw XML.
func marcXML(id, title string, extra ...string) []byte {
	return []byte(`<?xml version="1.0" encoding="UTF-8"?>` +
		`<record xmlns="http://www.loc.gov/MARC21/slim"><leader>00000cam a2200000 i 4500</leader>` +
		`<controlfield tag="001">` + id + `</controlfield>` +
		`<controlfield tag="008">190312s2019    nyu           000 0 eng d</controlfield>` +
		`<datafield tag="245" ind1="1" ind2="0"><subfield code="a">` + title + `</subfield></datafield>` +
		strings.Join(extra, "") + `</record>`)
}

var testNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func day(d int, hms ...int) time.Time {
	t := time.Date(2025, 1, d, 0, 0, 0, 0, time.UTC)
	if len(hms) == 3 {
		t = t.Add(time.Duration(hms[0])*time.Hour + time.Duration(hms[1])*time.Minute + time.Duration(hms[2])*time.Second)
	}
	return t
}

// newRepo returns the standard test catalogue: five live records and one deletion.
func newRepo() *memRepo {
	full := marcXML("b1", "Moby Dick, or, The whale /",
		`<datafield tag="020" ind1=" " ind2=" "><subfield code="a">978-0-14-243724-7 (pbk.)</subfield></datafield>`,
		`<datafield tag="100" ind1="1" ind2=" "><subfield code="a">Melville, Herman,</subfield><subfield code="d">1819-1891.</subfield></datafield>`,
		`<datafield tag="264" ind1=" " ind2="1"><subfield code="a">New York :</subfield><subfield code="b">Penguin Books,</subfield><subfield code="c">c2003.</subfield></datafield>`,
		`<datafield tag="300" ind1=" " ind2=" "><subfield code="a">xxx, 720 pages ;</subfield><subfield code="c">20 cm</subfield></datafield>`,
		`<datafield tag="520" ind1=" " ind2=" "><subfield code="a">A whaling voyage &amp; an obsession.</subfield></datafield>`,
		`<datafield tag="650" ind1=" " ind2="0"><subfield code="a">Whaling</subfield><subfield code="v">Fiction.</subfield></datafield>`,
		`<datafield tag="700" ind1="1" ind2=" "><subfield code="a">Delbanco, Andrew.</subfield></datafield>`,
		`<datafield tag="852" ind1=" " ind2=" "><subfield code="b">OLD</subfield></datafield>`,
		`<datafield tag="900" ind1=" " ind2=" "><subfield code="a">local</subfield></datafield>`)
	return &memRepo{
		ident: Identity{Name: "Circa Test Library", BaseURL: "http://library.example.edu/oai",
			AdminEmails: []string{"oai@library.example.edu"}, RepositoryIdentifier: "library.example.edu",
			EarliestDatestamp: day(2, 9, 0, 0)},
		sets: []Set{{"lib", "All libraries"}, {"lib:MAIN", "Main library"}, {"lib:LAW", "Law library"}},
		recs: []Record{
			{ID: "b1", Datestamp: day(2, 9, 0, 0), Sets: []string{"lib:MAIN"}, MARCXML: full,
				Holdings: []Holding{{ID: "2201", Institution: "CIRCA", Library: "MAIN", Location: "stacks", CallNumber: "PS2384 .M6 2003",
					CallNumberType: "lc", Items: []Item{{ID: "2301", Barcode: "39000001", Status: "available"}}},
					{ID: "2202", Institution: "CIRCA", Library: "MAIN", Location: "reserve", CallNumber: "PS2384 .M6 2003 c.2",
						CallNumberType: "local", Items: []Item{{ID: "2302", Barcode: "39000002", Status: "on_loan", UseRestriction: "In library use"}}}}},
			{ID: "b2", Datestamp: day(3, 10, 0, 0), Sets: []string{"lib:LAW"}, MARCXML: marcXML("b2", "Law &amp; order")},
			{ID: "b3", Datestamp: day(3, 10, 0, 0), Deleted: true, Sets: []string{"lib:MAIN"}},
			{ID: "b4", Datestamp: day(4, 23, 59, 59), Sets: []string{"lib:MAIN"}, MARCXML: marcXML("b4", "Night owls")},
			{ID: "b5", Datestamp: day(5, 0, 0, 0), MARCXML: marcXML("b5", "Dawn")},
			{ID: "b 6/é", Datestamp: day(6, 8, 30, 0), Sets: []string{"lib:MAIN"}, MARCXML: marcXML("b6", "Odd id")},
		},
	}
}

// oaiClient talks to a test server and keeps every page for schema validation.
type oaiClient struct {
	t     *testing.T
	url   string
	http  *http.Client
	pages [][]byte
}

func newServer(t *testing.T, repo Repository, o Options) (*oaiClient, *Handler) {
	t.Helper()
	if o.Now == nil {
		o.Now = func() time.Time { return testNow }
	}
	if o.TokenKey == nil {
		o.TokenKey = []byte("test key 0123456789abcdef")
	}
	h := NewHandler(repo, o)
	srv := httptest.NewServer(h)
	tr := &http.Transport{}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		srv.Close()
	})
	return &oaiClient{t: t, url: srv.URL + "/oai", http: &http.Client{Transport: tr}}, h
}

// get sends a GET with the raw query and returns the parsed page.
func (c *oaiClient) get(query string) *etree.Document {
	c.t.Helper()
	resp, err := c.http.Get(c.url + "?" + query)
	if err != nil {
		c.t.Fatal(err)
	}
	return c.read(resp)
}

func (c *oaiClient) post(form url.Values) *etree.Document {
	c.t.Helper()
	resp, err := c.http.PostForm(c.url, form)
	if err != nil {
		c.t.Fatal(err)
	}
	return c.read(resp)
}

func (c *oaiClient) read(resp *http.Response) *etree.Document {
	c.t.Helper()
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		c.t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/xml; charset=UTF-8" {
		c.t.Fatalf("Content-Type %q", ct)
	}
	c.pages = append(c.pages, body)
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(body); err != nil {
		c.t.Fatalf("response is not well-formed: %v\n%s", err, body)
	}
	if !bytes.HasPrefix(body, []byte(`<?xml version="1.0" encoding="UTF-8"?>`)) {
		c.t.Fatalf("missing XML declaration")
	}
	return doc
}

// validate checks every page this client received against the OAI-PMH, oai_dc and
// MARC21slim schemas with xmllint, offline, through their XML catalog.
func (c *oaiClient) validate() {
	c.t.Helper()
	pages := c.pages
	c.t.Run("schema", func(t *testing.T) {
		validatePages(t, pages)
	})
}

func validatePages(t *testing.T, pages [][]byte) {
	t.Helper()
	conformance.Tool(t, "xmllint")
	if len(pages) == 0 {
		t.Fatal("no pages to validate")
	}
	if err := ValidatePages(filepath.Join(conformance.SchemaDir(t), schemas.OAIDir), pages); err != nil {
		for i, p := range pages {
			if strings.Contains(err.Error(), fmt.Sprintf("page%03d.xml fails", i)) {
				t.Logf("page%03d.xml:\n%s", i, p)
			}
		}
		t.Fatal(err)
	}
}

const (
	nsOAI  = "http://www.openarchives.org/OAI/2.0/"
	nsMARC = "http://www.loc.gov/MARC21/slim"
)

// errorCodes returns the codes of the page's error elements.
func errorCodes(doc *etree.Document) []string {
	var codes []string
	for _, e := range doc.FindElements("/OAI-PMH/error") {
		codes = append(codes, e.SelectAttrValue("code", ""))
	}
	return codes
}

// requestAttrs returns the request element's attributes as a map.
func requestAttrs(doc *etree.Document) map[string]string {
	m := map[string]string{}
	for _, a := range doc.FindElement("/OAI-PMH/request").Attr {
		m[a.Key] = a.Value
	}
	return m
}

func texts(doc *etree.Document, path string) []string {
	var out []string
	for _, e := range doc.FindElements(path) {
		out = append(out, e.Text())
	}
	return out
}

func text(t *testing.T, doc *etree.Document, path string) string {
	t.Helper()
	e := doc.FindElement(path)
	if e == nil {
		t.Fatalf("no %s in response", path)
	}
	return e.Text()
}
