package responder

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/fixtures"
	"github.com/circa-ils/circa/internal/conformance"
	"github.com/circa-ils/circa/ncip"
	"github.com/circa-ils/circa/profiles"
	"github.com/circa-ils/circa/store"
	"github.com/circa-ils/circa/store/boltstore"
)

// seededAt is when the demo library is seeded; every test's clock starts there.
var seededAt = time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)

// template is a demo database with the demo profiles, seeded once and
// copied into each test.
var template string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "responder-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	template, err = seed(dir)
	code := 1
	if err != nil {
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

func seed(dir string) (string, error) {
	demo, err := fixtures.SeedTemplate(dir, seededAt)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "with-profiles.db")
	if err := fixtures.CopyFile(demo, path); err != nil {
		return "", err
	}
	db, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		return "", err
	}
	reg, err := profiles.Open(context.Background(), db)
	if err == nil {
		err = fixtures.SeedProfiles(context.Background(), reg)
	}
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	return path, err
}

// env is one test's server: a copy of the template behind a real HTTP
// listener on 127.0.0.1.
type env struct {
	t    *testing.T
	db   store.DB
	svc  *circ.Service
	reg  *profiles.Registry
	srv  *httptest.Server
	now  atomic.Pointer[time.Time]
	path string

	mu     sync.Mutex
	bodies [][]byte // responses to validate against the schema
	// failing is set while a test makes the store fail on purpose, when a
	// Temporary Processing Failure is the right answer.
	failing bool
}

func newEnv(t *testing.T) *env { t.Helper(); return newEnvWith(t, boltstore.Options{}) }

// newEnvWith opens the copy of the template with the given store options.
func newEnvWith(t *testing.T, o boltstore.Options) *env {
	t.Helper()
	path := filepath.Join(t.TempDir(), boltstore.DefaultFile)
	if err := fixtures.CopyFile(template, path); err != nil {
		t.Fatal(err)
	}
	db, err := boltstore.Open(path, o)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, db: db, path: path}
	e.now.Store(&seededAt)
	e.serve()
	t.Cleanup(func() {
		e.srv.Close()
		e.validate()
		probs, err := e.db.Check()
		if err != nil {
			t.Error(err)
		}
		for _, p := range probs {
			t.Errorf("db check: %s", p)
		}
		e.db.Close()
	})
	return e
}

// serve starts the service and the HTTP server over e.db.
func (e *env) serve() {
	e.t.Helper()
	var err error
	e.svc, err = circ.New(e.db, circ.WithClock(func() time.Time { return *e.now.Load() }))
	if err != nil {
		e.t.Fatal(err)
	}
	e.reg, err = profiles.Open(context.Background(), e.db)
	if err != nil {
		e.t.Fatal(err)
	}
	e.srv = httptest.NewServer(ncip.NewHandler(New(e.svc, e.reg.Current), ncip.HandlerOptions{MaxBodyBytes: 64 << 10}))
}

// restart closes the server and the store and opens the same file again,
// as after a process restart.
func (e *env) restart() {
	e.t.Helper()
	e.srv.Close()
	if err := e.db.Close(); err != nil {
		e.t.Fatal(err)
	}
	db, err := boltstore.Open(e.path, boltstore.Options{})
	if err != nil {
		e.t.Fatal(err)
	}
	e.db = db
	e.serve()
}

func (e *env) advance(d time.Duration) {
	n := e.now.Load().Add(d)
	e.now.Store(&n)
}

func (e *env) head() uint64 {
	var h uint64
	if err := e.db.View(context.Background(), func(tx store.Tx) error { h = tx.JournalHead(); return nil }); err != nil {
		e.t.Fatal(err)
	}
	return h
}

// validate checks every collected response against ncip_v2_02.xsd in one
// xmllint run.
func (e *env) validate() {
	e.t.Helper()
	e.mu.Lock()
	bodies := e.bodies
	e.mu.Unlock()
	if len(bodies) > 0 && conformance.Have(e.t, "xmllint") {
		conformance.ValidateNCIP(e.t, bodies...)
	}
}

// post sends a raw body to path with an API key and returns the status
// and the body; a success or Problem body is kept for schema validation
// unless raw is set.
func (e *env) post(path, key, body string, keep bool) (int, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/xml")
	if key != "" {
		req.Header.Set("X-API-Key", key)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		e.t.Fatal(err)
	}
	if bytes.Contains(buf.Bytes(), []byte(ncip.TemporaryProcessingFailure)) && !e.failing {
		e.t.Errorf("the responder failed on:\n%s\n%s", body, buf.Bytes())
	}
	if keep {
		e.mu.Lock()
		e.bodies = append(e.bodies, buf.Bytes())
		e.mu.Unlock()
	}
	return resp.StatusCode, buf.Bytes()
}

// call builds a request of service from key=value fields (ncip.BuildRequest)
// with the partner's header, sends it with key and decodes the answer.
func (e *env) call(key, service string, fields ...string) *ncip.Result {
	e.t.Helper()
	req, err := ncip.BuildRequest(service, fields)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.send(key, req)
}

func (e *env) send(key string, req ncip.Request) *ncip.Result {
	e.t.Helper()
	b, err := ncip.EncodeRequest(req, ncip.WriteOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	status, body := e.post("/ncip", key, string(b), req.Service() != "LookupVersion")
	m, err := ncip.DecodeResponse(body, ncip.DecodeOptions{})
	if err != nil {
		e.t.Fatalf("%s: undecodable response (%v):\n%s", req.Service(), err, body)
	}
	res := &ncip.Result{Status: status, Body: body, Response: m}
	if len(m.Problems) > 0 {
		res.Problem = &m.Problems[0]
	}
	return res
}

// Shorthands for the demo partners.
func (e *env) ill(service string, fields ...string) *ncip.Result {
	e.t.Helper()
	if needsUser[service] && !hasUser(fields) {
		fields = append(fields, "user="+brokerUser)
	}
	return e.call(fixtures.PartnerKey, service, append([]string{"from=" + fixtures.PartnerAgency, "to=" + fixtures.LocalAgency}, fields...)...)
}

func (e *env) annex(service string, fields ...string) *ncip.Result {
	e.t.Helper()
	if needsUser[service] && !hasUser(fields) {
		fields = append(fields, "user="+fixtures.StorageCode)
	}
	return e.call(fixtures.StorageKey, service, append([]string{"from=" + fixtures.StorageAgency, "to=" + fixtures.LocalAgency}, fields...)...)
}

func ok(t *testing.T, what string, r *ncip.Result) *ncip.ResponseMessage {
	t.Helper()
	if r.Status != http.StatusOK || r.Problem != nil {
		t.Fatalf("%s: status %d, problem %+v\n%s", what, r.Status, r.Problem, r.Body)
	}
	return r.Response
}

func problem(t *testing.T, what string, r *ncip.Result, want string) *ncip.Problem {
	t.Helper()
	if r.Problem == nil || r.Problem.Type.Value != want {
		t.Fatalf("%s: want Problem %q, got %+v\n%s", what, want, r.Problem, r.Body)
	}
	if r.Status != http.StatusOK {
		t.Fatalf("%s: a Problem with HTTP %d", what, r.Status)
	}
	return r.Problem
}

// unchanged fails when fn changes the store.
func (e *env) unchanged(what string, fn func()) {
	e.t.Helper()
	before := e.head()
	fn()
	if after := e.head(); after != before {
		e.t.Fatalf("%s changed the store (journal %d → %d)", what, before, after)
	}
}

// brokerUser is a user of the broker's, unknown here: partners name their
// own user in requests the schema requires a user for.
const brokerUser = "BROKER-USER-1"

// needsUser are the services whose requests the schema requires a user in.
var needsUser = map[string]bool{"CheckOutItem": true, "RequestItem": true, "CancelRequestItem": true, "RenewItem": true}

func hasUser(fields []string) bool {
	for _, f := range fields {
		if strings.HasPrefix(f, "user=") || strings.HasPrefix(f, "barcode=") {
			return true
		}
	}
	return false
}

// raw sends a message body (the element inside NCIPMessage) as the ILL
// partner's agency.
func (e *env) raw(key, inner string) *ncip.Result {
	e.t.Helper()
	msg := `<?xml version="1.0"?><NCIPMessage xmlns="http://www.niso.org/2008/ncip" version="2.02">` + inner + `</NCIPMessage>`
	status, body := e.post("/ncip", key, msg, true)
	m, err := ncip.DecodeResponse(body, ncip.DecodeOptions{})
	if err != nil {
		e.t.Fatalf("undecodable response (%v):\n%s", err, body)
	}
	res := &ncip.Result{Status: status, Body: body, Response: m}
	if len(m.Problems) > 0 {
		res.Problem = &m.Problems[0]
	}
	return res
}
