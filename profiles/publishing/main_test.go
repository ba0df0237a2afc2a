package publishing

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/beevik/etree"
	"go.uber.org/goleak"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/fixtures"
	"github.com/circa-ils/circa/internal/conformance"
	"github.com/circa-ils/circa/profiles/oai"
	"github.com/circa-ils/circa/schemas"
	"github.com/circa-ils/circa/store"
	"github.com/circa-ils/circa/store/boltstore"
)

var templateDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "publishing-template")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	templateDir = dir
	goleak.VerifyTestMain(cleanupAfter{m, func() { os.RemoveAll(dir) }})
}

// cleanupAfter removes the seeded template once the tests have run, before
// goleak checks and exits.
type cleanupAfter struct {
	m     *testing.M
	after func()
}

func (c cleanupAfter) Run() int {
	defer c.after()
	return c.m.Run()
}

// seedNow is when the demo library is seeded; every change stamp of the
// seeded catalogue is at or before it.
var seedNow = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

var ctx = context.Background()

// testOptions is the identity the tests publish under.
var testOptions = Options{Name: "Circa Demo Library", AdminEmails: []string{"oai@library.example.edu"},
	RepositoryID: "library.example.edu"}

// demoFile returns a fresh copy of the seeded demo library.
func demoFile(t testing.TB) string {
	t.Helper()
	tmpl, err := fixtures.SeedTemplate(templateDir, seedNow)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), boltstore.DefaultFile)
	if err := fixtures.CopyFile(tmpl, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func openDB(t testing.TB, path string) *boltstore.DB {
	t.Helper()
	db, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// clock is a settable clock for handlers, services and publishers.
type clock struct{ t atomic.Pointer[time.Time] }

func newClock(t time.Time) *clock {
	c := &clock{}
	c.set(t)
	return c
}

func (c *clock) set(t time.Time)     { c.t.Store(&t) }
func (c *clock) now() time.Time      { return *c.t.Load() }
func (c *clock) add(d time.Duration) { c.set(c.now().Add(d)) }

// server is an OAI-PMH endpoint over a database, reached over real HTTP.
type server struct {
	t     *testing.T
	url   string
	http  *http.Client
	pages [][]byte
}

func startServer(t *testing.T, db store.DB, oo oai.Options) *server {
	t.Helper()
	h, err := Handler(db, testOptions, oo)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	tr := &http.Transport{}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		srv.Close()
	})
	return &server{t: t, url: srv.URL + "/oai", http: &http.Client{Transport: tr}}
}

func (s *server) get(query string) *etree.Document {
	s.t.Helper()
	resp, err := s.http.Get(s.url + "?" + query)
	if err != nil {
		s.t.Fatal(err)
	}
	return s.read(resp)
}

func (s *server) post(form url.Values) *etree.Document {
	s.t.Helper()
	resp, err := s.http.PostForm(s.url, form)
	if err != nil {
		s.t.Fatal(err)
	}
	return s.read(resp)
}

func (s *server) read(resp *http.Response) *etree.Document {
	s.t.Helper()
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		s.t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	s.pages = append(s.pages, body)
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(body); err != nil {
		s.t.Fatalf("response is not well-formed: %v", err)
	}
	return doc
}

// harvest lists the server with oai.Harvest, validating every page when the
// schemas are available, and returns the records by identifier.
func (s *server) harvest(o oai.HarvestOptions) (map[string]oai.HarvestedRecord, oai.HarvestSummary) {
	s.t.Helper()
	o.Client = s.http
	if o.Validate == nil {
		o.Validate = func(page []byte) error {
			s.pages = append(s.pages, page)
			return nil
		}
	}
	recs := map[string]oai.HarvestedRecord{}
	sum, err := oai.Harvest(ctx, s.url, o, func(r oai.HarvestedRecord) error {
		if _, dup := recs[r.Identifier]; dup {
			return fmt.Errorf("%s listed twice", r.Identifier)
		}
		recs[r.Identifier] = r
		return nil
	})
	if err != nil {
		s.t.Fatal(err)
	}
	return recs, sum
}

// validate checks every page the server sent against the OAI-PMH, oai_dc
// and MARC21slim schemas with xmllint, offline.
func (s *server) validate() {
	s.t.Helper()
	pages := s.pages
	s.t.Run("Schema", func(t *testing.T) { validatePages(t, pages) })
}

func validatePages(t *testing.T, pages [][]byte) {
	t.Helper()
	conformance.Tool(t, "xmllint")
	if len(pages) == 0 {
		t.Fatal("no pages to validate")
	}
	if err := oai.ValidatePages(filepath.Join(conformance.SchemaDir(t), schemas.OAIDir), pages); err != nil {
		for i, p := range pages {
			if strings.Contains(err.Error(), fmt.Sprintf("page%03d.xml fails", i)) {
				t.Logf("page%03d.xml:\n%s", i, p)
			}
		}
		t.Fatal(err)
	}
}

func errorCodes(doc *etree.Document) []string {
	var codes []string
	for _, e := range doc.FindElements("/OAI-PMH/error") {
		codes = append(codes, e.SelectAttrValue("code", ""))
	}
	return codes
}

func texts(doc *etree.Document, path string) []string {
	var out []string
	for _, e := range doc.FindElements(path) {
		out = append(out, strings.TrimSpace(e.Text()))
	}
	return out
}

// catalogue lists the publishable bibs of a database: id → deleted.
func catalogue(t *testing.T, db store.DB) map[uint64]bool {
	t.Helper()
	out := map[uint64]bool{}
	err := db.View(ctx, func(tx store.Tx) error {
		return tx.ForEachBib(func(b store.Bib) bool {
			if !b.Temporary {
				out[b.ID] = b.Deleted || b.Suppressed
			}
			return true
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func oaiID(id uint64) string { return fmt.Sprintf("oai:library.example.edu:%d", id) }

// service returns a circulation service on db with the given clock.
func service(t *testing.T, db store.DB, c *clock) *circ.Service {
	t.Helper()
	svc, err := circ.New(db, circ.WithClock(c.now))
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

var staff = circ.Agent{Protocol: "cli", Account: "test", Library: "MAIN"}

// itemOf returns an item by barcode.
func itemOf(t *testing.T, db store.DB, barcode string) store.Item {
	t.Helper()
	var it store.Item
	err := db.View(ctx, func(tx store.Tx) error {
		var err error
		it, err = tx.ItemByBarcode(barcode)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return it
}

// newRecord is a MARCXML record to add, held nowhere yet.
func newRecord(control, title string) []circ.MARCRecord {
	recs, err := circ.ParseMARCXML([]byte(`<record xmlns="http://www.loc.gov/MARC21/slim"><leader>00000cam a2200000 i 4500</leader>` +
		`<controlfield tag="001">` + control + `</controlfield>` +
		`<datafield tag="050" ind1="0" ind2="0"><subfield code="a">Z699</subfield><subfield code="b">.C57 2026</subfield></datafield>` +
		`<datafield tag="245" ind1="0" ind2="0"><subfield code="a">` + title + `</subfield></datafield></record>`))
	if err != nil {
		panic(err)
	}
	return recs
}

// shelveNewRecord adds a record with one item at a location.
func shelveNewRecord(t *testing.T, svc *circ.Service, control, title, barcode, location, policy string) {
	t.Helper()
	added, err := svc.PutBibs(ctx, staff, newRecord(control, title))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.AddItem(ctx, staff, circ.NewItem{BibID: added[0].Bib.ID, Barcode: barcode, Location: location, Policy: policy}); err != nil {
		t.Fatal(err)
	}
}
