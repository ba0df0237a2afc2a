package initiator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/fixtures"
	"github.com/circa-ils/circa/ncip"
	"github.com/circa-ils/circa/profiles"
	"github.com/circa-ils/circa/store"
	"github.com/circa-ils/circa/store/boltstore"
)

var templateDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "circa-initiator-template")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	templateDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

var ctx = context.Background()

var seededAt = time.Date(2026, 11, 2, 14, 0, 0, 0, time.UTC)

var (
	templateOnce sync.Once
	templatePath string
	templateErr  error
)

// env is the demo library in a real database file, its circulation
// service on a clock the test moves, its profiles and a sender.
type env struct {
	t    *testing.T
	path string
	db   store.DB
	svc  *circ.Service
	reg  *profiles.Registry
	now  atomic.Pointer[time.Time]
	snd  *Sender

	mu      sync.Mutex
	reports []Report
}

func newEnv(t *testing.T) *env {
	t.Helper()
	templateOnce.Do(func() { templatePath, templateErr = fixtures.SeedTemplate(templateDir, seededAt) })
	if templateErr != nil {
		t.Fatal(templateErr)
	}
	e := &env{t: t, path: filepath.Join(t.TempDir(), boltstore.DefaultFile)}
	if err := fixtures.CopyFile(templatePath, e.path); err != nil {
		t.Fatal(err)
	}
	e.now.Store(&seededAt)
	e.open()
	return e
}

// open (re)opens the database and makes a new sender, as a restarted
// process would.
func (e *env) open() {
	t := e.t
	db, err := boltstore.Open(e.path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e.db = db
	clock := func() time.Time { return *e.now.Load() }
	if e.svc, err = circ.New(db, circ.WithClock(clock)); err != nil {
		t.Fatal(err)
	}
	if e.reg, err = profiles.Open(ctx, db); err != nil {
		t.Fatal(err)
	}
	if e.snd, err = New(Options{DB: db, Registry: e.reg, Clock: clock,
		Backoff:  Backoff{Initial: 20 * time.Millisecond, Max: 80 * time.Millisecond},
		Observer: func(r Report) { e.mu.Lock(); e.reports = append(e.reports, r); e.mu.Unlock() }}); err != nil {
		t.Fatal(err)
	}
}

// restart closes the database and opens it again.
func (e *env) restart() {
	if err := e.db.Close(); err != nil {
		e.t.Fatal(err)
	}
	e.open()
}

const facilityKey = "annex-online-key"

// online makes the demo storage profile take requests at f, and catches
// the profile up with the seeded journal.
func (e *env) online(f *facility) *profiles.Storage {
	t := e.t
	keyFile := filepath.Join(t.TempDir(), "annex.key")
	if err := os.WriteFile(keyFile, []byte(facilityKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.reg.Current().Storage[fixtures.StorageCode]; !ok {
		if err := fixtures.SeedProfiles(ctx, e.reg); err != nil {
			t.Fatal(err)
		}
	}
	p := *e.reg.Current().Storage[fixtures.StorageCode]
	p.Online = &profiles.StorageOnline{URL: f.url(), APIKeyFile: keyFile, TimeoutSeconds: 5}
	if err := e.reg.Save(ctx, &p); err != nil {
		t.Fatal(err)
	}
	e.pass()
	f.reset()
	return e.reg.Current().Storage[fixtures.StorageCode]
}

// pass runs one pass of the sender, backoff or not.
func (e *env) pass() {
	e.snd.mu.Lock()
	clear(e.snd.retry)
	e.snd.mu.Unlock()
	e.snd.Pass(ctx)
}

var agent = circ.Agent{Protocol: "cli", Library: fixtures.LibraryMain}

// hold places a hold on the annex item and returns it and its retrieval.
func (e *env) hold(patron string) circ.HoldResult {
	e.t.Helper()
	h, err := e.svc.PlaceHold(ctx, circ.HoldRequest{Agent: agent, Patron: patron, Item: fixtures.ItemAnnex, Pickup: fixtures.LibraryMain})
	if err != nil || h.Retrieval == 0 {
		e.t.Fatalf("hold on the annex item: %+v, %v", h, err)
	}
	return h
}

func (e *env) cancel(h circ.HoldResult) {
	e.t.Helper()
	if _, err := e.svc.CancelHold(ctx, circ.CancelHoldRequest{Agent: agent, RequestID: h.Request}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) message(kind string, request uint64) Message {
	e.t.Helper()
	return e.messageOf(fixtures.StorageCode, kind, request)
}

func (e *env) messageOf(code, kind string, request uint64) Message {
	e.t.Helper()
	var m Message
	var ok bool
	err := e.db.View(ctx, func(tx store.Tx) error {
		var err error
		m, ok, err = loadMessage(tx, code, keyOf(request, kind))
		return err
	})
	if err != nil || !ok {
		e.t.Fatalf("%s of request %d: queued %v, %v", kind, request, ok, err)
	}
	return m
}

func (e *env) request(id uint64) store.Request {
	e.t.Helper()
	var r store.Request
	if err := e.db.View(ctx, func(tx store.Tx) (err error) { r, err = tx.Request(id); return err }); err != nil {
		e.t.Fatal(err)
	}
	return r
}

func (e *env) pending() []string {
	e.t.Helper()
	return e.pendingOf(fixtures.StorageCode)
}

func (e *env) pendingOf(code string) []string {
	e.t.Helper()
	var st state
	if err := e.db.View(ctx, func(tx store.Tx) (err error) { st, err = loadState(tx, code); return err }); err != nil {
		e.t.Fatal(err)
	}
	return st.Pending
}

// received is one message as the facility read it.
type received struct {
	Service   string
	RequestID string
	Item      string
	User      string
	Key       string
}

// facility is a storage facility's NCIP endpoint on a real socket, built
// on circa's NCIP handler. It keeps the requests it holds by RequestId and
// treats a repeat as the same request. It can be down (connection
// refused), answer 503, or refuse every RequestItem with a Problem.
type facility struct {
	t    *testing.T
	addr string

	mu       sync.Mutex
	srv      *http.Server
	busy     bool   // answer 503
	failID   string // answer 503 to messages with this RequestId
	problem  string // refuse RequestItem with this Problem type
	dupProb  bool   // answer a repeated RequestId with Duplicate Request
	got      []received
	held     map[string]string // RequestId → item barcode
	requests int               // distinct requests ever taken
}

func newFacility(t *testing.T) *facility {
	f := &facility{t: t, held: map[string]string{}}
	f.start()
	t.Cleanup(f.stop)
	return f
}

func (f *facility) url() string { return "http://" + f.addr + "/ncip" }

// start listens, on the address it had before when it was stopped.
func (f *facility) start() {
	addr := f.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		f.t.Fatal(err)
	}
	f.addr = ln.Addr().String()
	h := ncip.NewHandler(f, ncip.HandlerOptions{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		f.mu.Lock()
		failed := f.failID != "" && bytes.Contains(body, []byte("RequestIdentifierValue>"+f.failID+"</"))
		if failed {
			f.got = append(f.got, received{Service: "503", RequestID: f.failID})
		}
		busy := f.busy || failed
		f.mu.Unlock()
		if busy {
			http.Error(w, "maintenance", http.StatusServiceUnavailable)
			return
		}
		if r.Header.Get("X-API-Key") != facilityKey {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})}
	f.mu.Lock()
	f.srv = srv
	f.mu.Unlock()
	go srv.Serve(ln)
}

// stop closes the listener: connections are refused until start.
func (f *facility) stop() {
	f.mu.Lock()
	srv := f.srv
	f.srv = nil
	f.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

func (f *facility) reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got, f.held, f.requests = nil, map[string]string{}, 0
}

func (f *facility) received() []received {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]received(nil), f.got...)
}

func (f *facility) record(service string, req *ncip.Identifier, item *ncip.Identifier, user string, c *ncip.Call) {
	r := received{Service: service, User: user, Key: c.APIKey}
	if req != nil {
		r.RequestID = req.Value
	}
	if item != nil {
		r.Item = item.Value
	}
	f.got = append(f.got, r)
}

func (f *facility) RequestItem(_ context.Context, c *ncip.Call, r *ncip.RequestItem) (*ncip.RequestItemResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var item *ncip.Identifier
	if len(r.ItemIDs) > 0 {
		item = &r.ItemIDs[0]
	}
	f.record("RequestItem", r.RequestID, item, r.UserRef.UserIdentifier(), c)
	if f.problem != "" {
		return nil, ncip.NewProblem("RequestItem", f.problem, "no such item in the facility").At("ItemIdentifierValue", item.Value)
	}
	if r.RequestID == nil || item == nil {
		return nil, ncip.NewProblem("RequestItem", ncip.NeededDataMissing, "")
	}
	if _, dup := f.held[r.RequestID.Value]; dup && f.dupProb {
		return nil, ncip.NewProblem("RequestItem", ncip.DuplicateRequest, "request "+r.RequestID.Value+" is held")
	} else if !dup {
		f.held[r.RequestID.Value] = item.Value
		f.requests++
	}
	return &ncip.RequestItemResponse{ItemID: item, RequestID: r.RequestID, UserID: *r.UserRef.UserID,
		RequestType: r.RequestType, RequestScopeType: r.RequestScopeType}, nil
}

func (f *facility) CancelRequestItem(_ context.Context, c *ncip.Call, r *ncip.CancelRequestItem) (*ncip.CancelRequestItemResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("CancelRequestItem", r.RequestID, r.ItemID, r.UserRef.UserIdentifier(), c)
	if r.RequestID == nil {
		return nil, ncip.NewProblem("CancelRequestItem", ncip.NeededDataMissing, "")
	}
	if _, ok := f.held[r.RequestID.Value]; !ok {
		return nil, ncip.NewProblem("CancelRequestItem", ncip.UnknownRequest, "")
	}
	delete(f.held, r.RequestID.Value)
	return &ncip.CancelRequestItemResponse{RequestID: r.RequestID, ItemID: r.ItemID, UserID: *r.UserRef.UserID}, nil
}

var errUnsupported = errors.New("a storage facility answers requests only")

func (f *facility) LookupUser(context.Context, *ncip.Call, *ncip.LookupUser) (*ncip.LookupUserResponse, error) {
	return nil, errUnsupported
}
func (f *facility) CheckOutItem(context.Context, *ncip.Call, *ncip.CheckOutItem) (*ncip.CheckOutItemResponse, error) {
	return nil, errUnsupported
}
func (f *facility) CheckInItem(context.Context, *ncip.Call, *ncip.CheckInItem) (*ncip.CheckInItemResponse, error) {
	return nil, errUnsupported
}
func (f *facility) RenewItem(context.Context, *ncip.Call, *ncip.RenewItem) (*ncip.RenewItemResponse, error) {
	return nil, errUnsupported
}
