package daia

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/fixtures"
	"github.com/circa-ils/circa/store"
	"github.com/circa-ils/circa/store/boltstore"
)

var seededAt = time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)

// template is the demo library, seeded once for the test binary.
var template string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "daia-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := 1
	if template, err = fixtures.SeedTemplate(dir, seededAt); err != nil {
		fmt.Fprintln(os.Stderr, "seed:", err)
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// env is a copy of the demo library behind the handler on a real
// loopback HTTP server.
type env struct {
	t   *testing.T
	db  store.DB
	svc *circ.Service
	h   *Handler
	srv *httptest.Server
	now atomic.Pointer[time.Time]
}

func newEnv(t *testing.T, o Options) *env {
	t.Helper()
	path := filepath.Join(t.TempDir(), boltstore.DefaultFile)
	if err := fixtures.CopyFile(template, path); err != nil {
		t.Fatal(err)
	}
	db, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, db: db}
	now := seededAt
	e.now.Store(&now)
	e.svc, err = circ.New(db, circ.WithClock(func() time.Time { return *e.now.Load() }))
	if err != nil {
		t.Fatal(err)
	}
	o.Service, o.Logger = e.svc, zerolog.New(io.Discard)
	if e.h, err = NewHandler(o); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(Path, e.h)
	e.srv = httptest.NewServer(mux)
	t.Cleanup(func() { e.srv.Close(); db.Close() })
	return e
}

// get asks the server for path?query and returns the status, headers and
// body.
func (e *env) get(query string) (int, http.Header, []byte) {
	e.t.Helper()
	return e.do(http.MethodGet, query)
}

func (e *env) do(method, query string) (int, http.Header, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+Path+"?"+query, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, body
}

// item returns a demo item and the bib it belongs to.
func (e *env) item(barcode string) (store.Item, store.Bib) {
	e.t.Helper()
	var it store.Item
	var b store.Bib
	err := e.db.View(context.Background(), func(tx store.Tx) error {
		var err error
		if it, err = tx.ItemByBarcode(barcode); err != nil {
			return err
		}
		b, err = tx.Bib(it.BibID)
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return it, b
}

// The DAIA 1.0 rules a client may rely on, checked on every answer.
var (
	reScheme   = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*:\S+$`)
	reExpected = regexp.MustCompile(`^(unknown|\d{4}-\d\d-\d\d)$`)
	reDelay    = regexp.MustCompile(`^(unknown|-?P(\d+Y)?(\d+M)?(\d+D)?(T(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?)$`)
	services   = []string{"presentation", "loan", "remote", "interloan", "openaccess"}
)

// daiaResponse is a DAIA response read loosely, as a client reads it.
type daiaResponse struct {
	Timestamp string `json:"timestamp"`
	Document  []struct {
		ID        string     `json:"id"`
		Requested string     `json:"requested"`
		About     string     `json:"about"`
		Item      []daiaItem `json:"item"`
	} `json:"document"`
}

type daiaItem struct {
	ID          string            `json:"id"`
	Label       string            `json:"label"`
	Department  map[string]string `json:"department"`
	Storage     map[string]string `json:"storage"`
	Available   []daiaService     `json:"available"`
	Unavailable []daiaService     `json:"unavailable"`
}

type daiaService struct {
	Service    string              `json:"service"`
	Href       string              `json:"href"`
	Delay      string              `json:"delay"`
	Expected   string              `json:"expected"`
	Queue      *int                `json:"queue"`
	Limitation []map[string]string `json:"limitation"`
}

// checkDAIA reads a 200 answer and checks it against DAIA 1.0: headers,
// a document array whose documents each match a request identifier and
// carry URIs as ids, ids unique across documents and items, entities
// never empty, services of the known types, expected dates and delays in
// their forms, queues not negative, and no service both available and
// unavailable with the same limitations.
func checkDAIA(t *testing.T, hd http.Header, body []byte, requested ...string) daiaResponse {
	t.Helper()
	if ct := hd.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if v := hd.Get("X-DAIA-Version"); v != Version {
		t.Errorf("X-DAIA-Version %q", v)
	}
	if o := hd.Get("Access-Control-Allow-Origin"); o != "*" {
		t.Errorf("Access-Control-Allow-Origin %q", o)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatalf("not a JSON object: %v\n%s", err, body)
	}
	if _, ok := raw["document"]; !ok {
		t.Fatalf("no document field: %s", body)
	}
	var r daiaResponse
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("not a DAIA response: %v\n%s", err, body)
	}
	if _, err := time.Parse(time.RFC3339, r.Timestamp); err != nil {
		t.Errorf("timestamp %q: %v", r.Timestamp, err)
	}
	ids := map[string]bool{}
	unique := func(id, what string) {
		if !reScheme.MatchString(id) {
			t.Errorf("%s id %q is not a URI", what, id)
		}
		if ids[id] {
			t.Errorf("%s id %q is not unique in the response", what, id)
		}
		ids[id] = true
	}
	for _, d := range r.Document {
		unique(d.ID, "document")
		if !slices.Contains(requested, d.ID) && !slices.Contains(requested, d.Requested) {
			t.Errorf("document %q (requested %q) matches no request identifier of %q", d.ID, d.Requested, requested)
		}
		for _, it := range d.Item {
			unique(it.ID, "item")
			for what, ent := range map[string]map[string]string{"department": it.Department, "storage": it.Storage} {
				if ent != nil && ent["id"] == "" && ent["href"] == "" && ent["content"] == "" {
					t.Errorf("item %s: empty %s entity", it.ID, what)
				}
			}
			if it.Department != nil && it.Storage != nil && it.Department["id"] != "" && it.Department["id"] == it.Storage["id"] {
				t.Errorf("item %s: storage and department share the id %q", it.ID, it.Storage["id"])
			}
			for _, s := range append(slices.Clone(it.Available), it.Unavailable...) {
				if !slices.Contains(services, s.Service) && !reScheme.MatchString(s.Service) {
					t.Errorf("item %s: service %q", it.ID, s.Service)
				}
				if s.Expected != "" && !reExpected.MatchString(s.Expected) {
					t.Errorf("item %s: expected %q", it.ID, s.Expected)
				}
				if s.Delay != "" && !reDelay.MatchString(s.Delay) {
					t.Errorf("item %s: delay %q", it.ID, s.Delay)
				}
				if s.Queue != nil && *s.Queue < 0 {
					t.Errorf("item %s: queue %d", it.ID, *s.Queue)
				}
				for _, l := range s.Limitation {
					if l["id"] == "" && l["href"] == "" && l["content"] == "" {
						t.Errorf("item %s: empty limitation", it.ID)
					}
				}
			}
			for _, a := range it.Available {
				if a.Expected != "" || a.Queue != nil {
					t.Errorf("item %s: available %s with expected or queue", it.ID, a.Service)
				}
				for _, u := range it.Unavailable {
					if u.Service == a.Service && limitationKey(u.Limitation) == limitationKey(a.Limitation) {
						t.Errorf("item %s: %s both available and unavailable", it.ID, a.Service)
					}
				}
			}
		}
	}
	return r
}

func limitationKey(ls []map[string]string) string {
	var keys []string
	for _, l := range ls {
		keys = append(keys, l["id"]+"\x00"+l["href"]+"\x00"+l["content"])
	}
	slices.Sort(keys)
	return strings.Join(keys, "\x01")
}

// vufindItem is what VuFind's DAIA driver makes of an item for its
// holdings tab and result list (getItemOnSiteStatus with the default
// on-site services loan and presentation).
type vufindItem struct {
	id, callnumber, location, storage string
	availability                      bool
	duedate                           string
	requestsPlaced                    int
	services                          []string
	notes                             []string
}

// vufindHoldings reads an answer as the driver does with multiQuery on:
// the document whose id is the prefixed record id, if it has items; an
// item shows when a service is available, a date is expected or a link
// is given.
func vufindHoldings(t *testing.T, r daiaResponse, docID string) []vufindItem {
	t.Helper()
	onSite := []string{"loan", "presentation"}
	for _, d := range r.Document {
		if d.ID != docID || len(d.Item) == 0 {
			continue
		}
		var out []vufindItem
		for _, it := range d.Item {
			v := vufindItem{id: it.ID, callnumber: cmpOrUnknown(it.Label), location: cmpOrUnknown(it.Department["content"]),
				storage: cmpOrUnknown(it.Storage["content"]), requestsPlaced: -1}
			href := false
			for _, a := range it.Available {
				if slices.Contains(onSite, a.Service) {
					v.services = append(v.services, a.Service)
					v.availability = true
					href = href || a.Href != ""
					for _, l := range a.Limitation {
						if l["content"] != "" {
							v.notes = append(v.notes, l["content"])
						}
					}
				}
			}
			for _, u := range it.Unavailable {
				if !slices.Contains(onSite, u.Service) {
					continue
				}
				v.services = slices.DeleteFunc(v.services, func(s string) bool { return s == u.Service })
				href = href || u.Href != ""
				for _, l := range u.Limitation {
					if l["content"] != "" {
						v.notes = append(v.notes, l["content"])
					}
				}
				if u.Expected != "" {
					// The driver converts with the format Y-m-d; anything
					// else leaves no due date.
					if d, err := time.Parse(time.DateOnly, u.Expected); err == nil {
						v.duedate = d.Format(time.DateOnly)
					} else {
						v.duedate = ""
					}
				}
				if u.Queue != nil {
					v.requestsPlaced = *u.Queue
				}
			}
			if !href && v.duedate == "" && len(v.services) == 0 {
				continue
			}
			out = append(out, v)
		}
		return out
	}
	return nil
}

func cmpOrUnknown(s string) string {
	if s == "" {
		return "Unknown"
	}
	return s
}

// TestAvailabilityVuFind asks, as VuFind's DAIA driver does (multiQuery,
// daiaIdPrefix ppn:, format json, ids joined by an escaped |), for the
// titles of demo items in each state, and checks what the driver would
// show: on the shelf, on loan with its due date in the library's zone,
// reference only, in remote storage, reserved for another patron.
func TestAvailabilityVuFind(t *testing.T) {
	e := newEnv(t, Options{})
	type want struct {
		barcode      string
		availability bool
		services     []string
		duedate      bool
		queue        int
		note         string
	}
	cases := []want{
		{barcode: fixtures.ItemAvailable, availability: true, services: []string{"presentation", "loan"}, queue: -1},
		{barcode: fixtures.ItemOnLoan, availability: false, duedate: true, queue: 0},
		{barcode: fixtures.ItemNonCirculating, availability: true, services: []string{"presentation"}, queue: -1,
			note: "not lent: for use in the library"},
		{barcode: fixtures.ItemAnnex, availability: true, services: []string{"presentation", "loan"}, queue: -1},
		{barcode: fixtures.ItemBranch, availability: true, services: []string{"presentation", "loan"}, queue: -1},
	}
	var ids []string
	bibs := map[string]store.Bib{}
	for _, c := range cases {
		it, b := e.item(c.barcode)
		if b.ControlNumber == "" {
			t.Fatalf("demo bib %d of %s has no 001", b.ID, c.barcode)
		}
		bibs[c.barcode] = b
		ids = append(ids, "ppn:"+b.ControlNumber)
		if it.Status != store.ItemOnLoan && c.duedate {
			t.Fatalf("demo item %s is %s", c.barcode, it.Status)
		}
	}
	unknown := "ppn:no-such-record"
	status, hd, body := e.get("id=" + url.QueryEscape(strings.Join(append(ids, unknown), "|")) + "&format=json")
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, body)
	}
	r := checkDAIA(t, hd, body, append(ids, unknown)...)
	if len(r.Document) != len(cases) {
		t.Fatalf("%d documents for %d known titles and an unknown one:\n%s", len(r.Document), len(cases), body)
	}
	for _, c := range cases {
		b := bibs[c.barcode]
		items := vufindHoldings(t, r, "ppn:"+b.ControlNumber)
		it, _ := e.item(c.barcode)
		var v *vufindItem
		for i := range items {
			if items[i].id == DocPrefix+"item:"+c.barcode {
				v = &items[i]
			}
		}
		if v == nil {
			t.Errorf("%s: VuFind shows no item %s in %+v", c.barcode, c.barcode, items)
			continue
		}
		if v.availability != c.availability || !slices.Equal(v.services, c.services) {
			t.Errorf("%s: availability %v services %v, want %v %v", c.barcode, v.availability, v.services, c.availability, c.services)
		}
		if v.requestsPlaced != c.queue {
			t.Errorf("%s: requests placed %d, want %d", c.barcode, v.requestsPlaced, c.queue)
		}
		if v.callnumber == "Unknown" || v.location == "Unknown" || v.storage == "Unknown" {
			t.Errorf("%s: call number %q, location %q, storage %q", c.barcode, v.callnumber, v.location, v.storage)
		}
		if c.note != "" && !slices.Contains(v.notes, c.note) {
			t.Errorf("%s: notes %q, want %q", c.barcode, v.notes, c.note)
		}
		if c.duedate {
			var loan store.Loan
			err := e.db.View(context.Background(), func(tx store.Tx) error {
				var err error
				loan, _, err = tx.OpenLoanOfItem(it.ID)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if want := loan.Due.In(libraryZone(t, e, it.Library)).Format(time.DateOnly); v.duedate != want {
				t.Errorf("%s: due date %q, want %q", c.barcode, v.duedate, want)
			}
		}
	}
}

func libraryZone(t *testing.T, e *env, library string) *time.Location {
	t.Helper()
	var z *time.Location
	if err := e.db.View(context.Background(), func(tx store.Tx) error { z = e.svc.Zone(tx, library); return nil }); err != nil {
		t.Fatal(err)
	}
	return z
}

// only returns the one item of the one document of an answer.
func only(t *testing.T, r daiaResponse) daiaItem {
	t.Helper()
	if len(r.Document) != 1 || len(r.Document[0].Item) == 0 {
		t.Fatalf("want one document with items, got %+v", r.Document)
	}
	return r.Document[0].Item[0]
}

func serviceOf(list []daiaService, name string) *daiaService {
	for i := range list {
		if list[i].Service == name {
			return &list[i]
		}
	}
	return nil
}

// TestAvailabilityLive: the answer follows circulation as it happens. A
// checkout makes the copy unavailable until its due date; a hold by
// another patron queues on it; the checkin puts it back on the shelf
// (reserved for the hold, so still not available to others).
func TestAvailabilityLive(t *testing.T) {
	e := newEnv(t, Options{})
	it, b := e.item(fixtures.ItemAvailable)
	id := strconv.FormatUint(b.ID, 10) // circa's bib id names a title too
	ask := func() daiaItem {
		t.Helper()
		status, hd, body := e.get("id=" + id)
		if status != http.StatusOK {
			t.Fatalf("status %d: %s", status, body)
		}
		r := checkDAIA(t, hd, body, id)
		if r.Document[0].ID != DocPrefix+id || r.Document[0].Requested != id {
			t.Errorf("document %q requested %q for the bare id %q", r.Document[0].ID, r.Document[0].Requested, id)
		}
		for _, got := range r.Document[0].Item {
			if got.ID == DocPrefix+"item:"+it.Barcode {
				return got
			}
		}
		t.Fatalf("item %s not in %s", it.Barcode, body)
		return daiaItem{}
	}
	if got := ask(); serviceOf(got.Available, "loan") == nil {
		t.Fatalf("before checkout: %+v", got)
	}
	agent := circ.Agent{Protocol: "cli", Library: fixtures.LibraryMain}
	co, err := e.svc.Checkout(context.Background(), circ.CheckoutRequest{Agent: agent, Patron: fixtures.PatronGood, Item: it.Barcode})
	if err != nil {
		t.Fatal(err)
	}
	got := ask()
	loan := serviceOf(got.Unavailable, "loan")
	want := co.Due.In(libraryZone(t, e, it.Library)).Format(time.DateOnly)
	if len(got.Available) != 0 || loan == nil || loan.Expected != want || loan.Queue == nil || *loan.Queue != 0 {
		t.Fatalf("on loan: %+v, want loan unavailable until %s with no queue", got, want)
	}
	if _, err := e.svc.PlaceHold(context.Background(), circ.HoldRequest{Agent: agent, Patron: fixtures.PatronExternal,
		Item: it.Barcode}); err != nil {
		t.Fatal(err)
	}
	if got := ask(); serviceOf(got.Unavailable, "loan").Queue == nil || *serviceOf(got.Unavailable, "loan").Queue != 1 {
		t.Fatalf("with a hold: %+v", got)
	}
	if _, err := e.svc.Checkin(context.Background(), circ.CheckinRequest{Agent: agent, Item: it.Barcode}); err != nil {
		t.Fatal(err)
	}
	got = ask()
	loan = serviceOf(got.Unavailable, "loan")
	if len(got.Available) != 0 || loan == nil || loan.Expected != "unknown" {
		t.Fatalf("trapped for the hold: %+v", got)
	}
}

// TestAvailabilityReserved: a copy on the shelf that another patron asked
// for is not offered, and says when it may come back (unknown).
func TestAvailabilityReserved(t *testing.T) {
	e := newEnv(t, Options{})
	_, b := e.item(fixtures.ItemHeld)
	status, hd, body := e.get("id=" + url.QueryEscape("ppn:"+b.ControlNumber) + "&format=json")
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, body)
	}
	r := checkDAIA(t, hd, body, "ppn:"+b.ControlNumber)
	got := only(t, r)
	loan := serviceOf(got.Unavailable, "loan")
	if len(got.Available) != 0 || loan == nil || loan.Expected != "unknown" || loan.Queue == nil || *loan.Queue < 1 {
		t.Fatalf("reserved copy: %+v", got)
	}
}

// TestAvailabilityRefusals: a request circa cannot answer gets DAIA's
// error response, with the HTTP status in it, and reads nothing.
func TestAvailabilityRefusals(t *testing.T) {
	e := newEnv(t, Options{})
	ids := func(n int, sep string) string {
		var s []string
		for i := range n {
			s = append(s, "ppn:cir"+strconv.Itoa(100000+i))
		}
		return strings.Join(s, sep)
	}
	cases := []struct {
		name, method, query string
		status              int
		code                string
	}{
		{"no id", "GET", "format=json", 422, "invalid_request"},
		{"only bars", "GET", "id=%7C%7C|&format=json", 422, "invalid_request"},
		{"101 ids joined", "GET", "id=" + ids(101, "%7C"), 422, "invalid_request"},
		{"101 ids repeated", "GET", "id=" + ids(101, "&id="), 422, "invalid_request"},
		{"long id", "GET", "id=ppn:" + strings.Repeat("9", 300), 422, "invalid_request"},
		{"control character", "GET", "id=ppn:a%00b", 422, "invalid_request"},
		{"not UTF-8", "GET", "id=ppn:%ff", 422, "invalid_request"},
		{"bad escape", "GET", "id=ppn:%zz", 422, "invalid_request"},
		{"long query", "GET", "id=ppn:1&x=" + strings.Repeat("a", 33<<10), 422, "invalid_request"},
		{"xml", "GET", "id=ppn:1&format=xml", 422, "invalid_request"},
		{"two formats", "GET", "id=ppn:1&format=json&format=json", 422, "invalid_request"},
		{"callback with a call in it", "GET", "id=ppn:1&callback=alert(1)", 422, "invalid_request"},
		{"patron", "GET", "id=ppn:1&patron=21000000000001", 501, "not_implemented"},
		{"patron type", "GET", "id=ppn:1&patron-type=staff", 501, "not_implemented"},
		{"access token", "GET", "id=ppn:1&access_token=x", 501, "not_implemented"},
		{"post", "POST", "id=ppn:1", 405, "invalid_request"},
		{"delete", "DELETE", "id=ppn:1", 405, "invalid_request"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, suppress := range []bool{false, true} {
				q := c.query
				want := c.status
				if suppress && c.name == "long query" {
					break // too long to be read at all
				}
				if suppress && c.method == "GET" {
					q += "&suppress_response_codes"
					want = 200
				}
				status, hd, body := e.do(c.method, q)
				if status != want {
					t.Fatalf("status %d, want %d: %s", status, want, body)
				}
				if ct := hd.Get("Content-Type"); ct != "application/json; charset=utf-8" || hd.Get("X-DAIA-Version") != Version {
					t.Errorf("Content-Type %q, X-DAIA-Version %q", ct, hd.Get("X-DAIA-Version"))
				}
				var r struct {
					Error       string `json:"error"`
					Code        int    `json:"code"`
					Description string `json:"error_description"`
				}
				if err := json.Unmarshal(body, &r); err != nil || r.Error != c.code || r.Code != c.status || r.Description == "" {
					t.Errorf("error response %s (%v), want %s %d", body, err, c.code, c.status)
				}
				if c.status == 405 && hd.Get("Allow") != "GET, HEAD, OPTIONS" {
					t.Errorf("Allow %q", hd.Get("Allow"))
				}
				if c.method != "GET" {
					break
				}
			}
		})
	}
	// A hundred is the limit, not over it; none of them known is an
	// answer with no documents, never a 404.
	status, hd, body := e.get("id=" + ids(50, "|") + "&id=" + ids(50, "%7C"))
	if status != http.StatusOK {
		t.Fatalf("100 ids: status %d: %s", status, body)
	}
	if r := checkDAIA(t, hd, body); len(r.Document) != 0 {
		t.Errorf("unknown ids answered with documents: %s", body)
	}
}

// TestAvailabilityForms: the ways a client may name titles and ask for
// the answer (ids repeated or joined by | escaped or not, with or
// without a scheme, the same title twice; JSONP; HEAD; a browser's
// preflight).
func TestAvailabilityForms(t *testing.T) {
	e := newEnv(t, Options{})
	_, a := e.item(fixtures.ItemAvailable)
	_, b := e.item(fixtures.ItemBranch)
	pa, pb := "ppn:"+a.ControlNumber, "ppn:"+b.ControlNumber
	for _, q := range []string{"id=" + pa + "|" + pb, "id=" + pa + "%7C" + pb, "id=" + pa + "&id=" + pb,
		"id=" + pa + "&id=" + pb + "&id=" + pa + "&id=circa:" + a.ControlNumber + "&id=" + strconv.FormatUint(b.ID, 10)} {
		status, hd, body := e.get(q)
		if status != http.StatusOK {
			t.Fatalf("%s: status %d: %s", q, status, body)
		}
		r := checkDAIA(t, hd, body, pa, pb, DocPrefix+a.ControlNumber, DocPrefix+strconv.FormatUint(b.ID, 10))
		if len(r.Document) != 2 || r.Document[0].ID != pa || r.Document[1].ID != pb {
			t.Errorf("%s: documents %+v", q, r.Document)
		}
	}

	status, hd, body := e.get("id=" + pa + "&callback=show_items")
	if status != http.StatusOK || hd.Get("Content-Type") != "application/javascript; charset=utf-8" ||
		!strings.HasPrefix(string(body), "/**/show_items(") || !strings.HasSuffix(string(body), ");\n") {
		t.Fatalf("JSONP: %d %q %s", status, hd.Get("Content-Type"), body)
	}
	inner := strings.TrimSuffix(strings.TrimPrefix(string(body), "/**/show_items("), ");\n")
	hd.Set("Content-Type", "application/json; charset=utf-8")
	checkDAIA(t, hd, []byte(inner), pa)

	status, hd, body = e.do(http.MethodHead, "id="+pa)
	if status != http.StatusOK || len(body) != 0 || hd.Get("Content-Length") == "0" || hd.Get("X-DAIA-Version") != Version {
		t.Errorf("HEAD: %d %v %q", status, hd, body)
	}
	status, hd, _ = e.do(http.MethodOptions, "id="+pa)
	if status != http.StatusNoContent || !strings.Contains(hd.Get("Access-Control-Allow-Methods"), "GET") ||
		!strings.Contains(hd.Get("Access-Control-Allow-Headers"), "Content-Type") || hd.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("OPTIONS: %d %v", status, hd)
	}
}

// TestAvailabilityBudget: a title's items beyond the per-title limit are
// left out, and titles after the item budget is spent are offered in a
// Link to a next request, which answers them.
func TestAvailabilityBudget(t *testing.T) {
	e := newEnv(t, Options{ItemsPerTitle: 1, ItemBudget: 3})
	// The first title with three items or more, and three with one.
	var big store.Bib
	var singles []store.Bib
	err := e.db.View(context.Background(), func(tx store.Tx) error {
		return tx.ForEachBib(func(b store.Bib) bool {
			items, err := tx.ItemsOfBib(b.ID)
			if err != nil || b.ControlNumber == "" || b.Suppressed || b.Deleted || b.Temporary {
				return err == nil
			}
			switch {
			case len(items) >= 3 && big.ID == 0:
				big = b
			case len(items) == 1 && len(singles) < 3:
				singles = append(singles, b)
			}
			return big.ID == 0 || len(singles) < 3
		})
	})
	if err != nil || big.ID == 0 || len(singles) < 3 {
		t.Fatalf("demo titles: %v %d %d", err, big.ID, len(singles))
	}
	status, hd, body := e.get("id=" + big.ControlNumber)
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, body)
	}
	if r := checkDAIA(t, hd, body, DocPrefix+big.ControlNumber); len(r.Document) != 1 || len(r.Document[0].Item) != 1 || hd.Get("Link") != "" {
		t.Errorf("a title of many items, one per title: %s (Link %q)", body, hd.Get("Link"))
	}

	var ids []string
	for _, b := range singles {
		ids = append(ids, "ppn:"+b.ControlNumber)
	}
	ids = append(ids, "ppn:"+big.ControlNumber)
	status, hd, body = e.get("id=" + url.QueryEscape(strings.Join(ids, "|")))
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, body)
	}
	r := checkDAIA(t, hd, body, ids...)
	if len(r.Document) != 3 {
		t.Errorf("three single-item titles spend the budget: %s", body)
	}
	link := hd.Get("Link")
	m := regexp.MustCompile(`^<([^>]+)>; rel="next"$`).FindStringSubmatch(link)
	if m == nil {
		t.Fatalf("Link %q", link)
	}
	base, _ := url.Parse(e.srv.URL + Path + "?id=x")
	next, err := base.Parse(m[1])
	if err != nil {
		t.Fatal(err)
	}
	status, hd, body = e.get(next.RawQuery)
	if status != http.StatusOK {
		t.Fatalf("next: status %d: %s", status, body)
	}
	if r := checkDAIA(t, hd, body, ids[3]); len(r.Document) != 1 || r.Document[0].ID != ids[3] || hd.Get("Link") != "" {
		t.Errorf("next: %s (Link %q)", body, hd.Get("Link"))
	}
}

// TestAvailabilityBusy: when every turn is taken, a request waits a
// little, then gets 503 with Retry-After instead of queueing without end.
func TestAvailabilityBusy(t *testing.T) {
	e := newEnv(t, Options{MaxConcurrent: 1})
	e.h.wait = 50 * time.Millisecond
	e.h.turns <- struct{}{}
	status, hd, body := e.get("id=1")
	if status != http.StatusServiceUnavailable || hd.Get("Retry-After") == "" || !strings.Contains(string(body), `"service_unavailable"`) {
		t.Errorf("busy: %d %v %s", status, hd, body)
	}
	<-e.h.turns
	if status, _, body := e.get("id=1"); status != http.StatusOK {
		t.Errorf("free again: %d %s", status, body)
	}
}

// TestAvailabilityObserved: every request is reported with its outcome,
// and an answered one with the titles found, unknown and left unread.
func TestAvailabilityObserved(t *testing.T) {
	var mu sync.Mutex
	var seen []Observation
	e := newEnv(t, Options{Observer: func(o Observation) { mu.Lock(); seen = append(seen, o); mu.Unlock() }})
	_, b := e.item(fixtures.ItemAvailable)
	e.get("id=" + url.QueryEscape("ppn:"+b.ControlNumber+"|ppn:nothing"))
	e.get("format=json")
	e.do(http.MethodPost, "id=1")
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 3 {
		t.Fatalf("observations %+v", seen)
	}
	if o := seen[0]; o.Outcome != OutcomeOK || o.IDs != 2 || o.Documents != 1 || o.Unread != 0 || o.Duration <= 0 {
		t.Errorf("answered: %+v", o)
	}
	if seen[1].Outcome != OutcomeRefused || seen[2].Outcome != OutcomeRefused {
		t.Errorf("refused: %+v", seen[1:])
	}
}
