package exchange

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/fixtures"
	"github.com/circa-ils/circa/profiles"
	"github.com/circa-ils/circa/profiles/delivery"
	"github.com/circa-ils/circa/profiles/delivery/sftptest"
	"github.com/circa-ils/circa/store"
	"github.com/circa-ils/circa/store/boltstore"
)

// templateDir holds the seeded demo database the tests copy.
var templateDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "circa-exchange-template")
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

// seededAt is the instant the demo library was seeded at; the test clock
// starts there.
var seededAt = time.Date(2026, 11, 2, 14, 0, 0, 0, time.UTC)

var (
	templateOnce sync.Once
	templatePath string
	templateErr  error
)

// env is a demo library in a real database file, with its circulation
// service on a clock the test moves, a profile registry and a scheduler.
type env struct {
	t     *testing.T
	db    store.DB
	svc   *circ.Service
	reg   *profiles.Registry
	dir   string
	now   atomic.Pointer[time.Time]
	sched *Scheduler

	mu      sync.Mutex
	reports []Report
	reportC chan Report
}

func newEnv(t *testing.T) *env {
	t.Helper()
	templateOnce.Do(func() { templatePath, templateErr = fixtures.SeedTemplate(templateDir, seededAt) })
	if templateErr != nil {
		t.Fatal(templateErr)
	}
	path := filepath.Join(t.TempDir(), boltstore.DefaultFile)
	if err := fixtures.CopyFile(templatePath, path); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, dir: t.TempDir(), reportC: make(chan Report, 1000)}
	e.now.Store(&seededAt)
	return e.open(path)
}

// open (re)opens the database, as a restarted process would.
func (e *env) open(path string) *env {
	t := e.t
	db, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e.db = db
	if e.svc, err = circ.New(db, circ.WithClock(func() time.Time { return *e.now.Load() })); err != nil {
		t.Fatal(err)
	}
	if e.reg, err = profiles.Open(ctx, db); err != nil {
		t.Fatal(err)
	}
	e.sched = e.newScheduler()
	return e
}

func (e *env) newScheduler() *Scheduler {
	s, err := NewScheduler(Options{DB: e.db, Circ: e.svc, Registry: e.reg, Dir: e.dir,
		Retry: delivery.Retry{Attempts: 3, Initial: time.Millisecond, Max: 5 * time.Millisecond},
		Observer: func(r Report) {
			e.mu.Lock()
			e.reports = append(e.reports, r)
			e.mu.Unlock()
			e.reportC <- r
		}})
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

func (e *env) advance(d time.Duration) {
	n := e.now.Load().Add(d)
	e.now.Store(&n)
}

func (e *env) save(p *profiles.Exchange) {
	e.t.Helper()
	if err := e.reg.Save(ctx, p); err != nil {
		e.t.Fatal(err)
	}
}

// sftpTarget starts an SFTP server with /out and /in and returns it with
// a target for /out.
func sftpTarget(t *testing.T) (*sftptest.Server, delivery.Target) {
	srv := sftptest.Start(t)
	for _, d := range []string{"/out", "/in"} {
		if err := os.Mkdir(srv.Path(d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return srv, delivery.Target{Kind: delivery.KindSFTP, Host: srv.Host, Port: srv.Port, User: srv.User,
		PrivateKey: string(srv.ClientKeyPEM), KnownHosts: srv.KnownHosts, RemoteDir: "/out"}
}

func bursarProfile(tg delivery.Target) *profiles.Exchange {
	p := profiles.NewExchange(profiles.TypeBursar, "BURSAR")
	p.Library, p.Target, p.ImportDir = fixtures.LibraryMain, tg, "/in"
	p.Bursar.ImportPattern = "payments_*.xml"
	return p
}

// dataFiles lists the delivered data files of a directory (no manifests,
// no temporaries), sorted; with noTemps, a temporary file fails the test.
func dataFiles(t *testing.T, dir string, noTemps ...bool) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		n := e.Name()
		if e.IsDir() || strings.HasSuffix(n, delivery.ManifestSuffix) {
			continue
		}
		if strings.HasPrefix(n, ".") {
			if len(noTemps) > 0 && noTemps[0] {
				t.Errorf("temporary file %s left behind", n)
			}
			continue
		}
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// fees returns the demo library's fees by status.
func (e *env) fees() map[store.FeeStatus][]store.Fee {
	e.t.Helper()
	out := map[store.FeeStatus][]store.Fee{}
	if err := e.db.View(ctx, func(tx store.Tx) error {
		return tx.ForEachFee(func(f store.Fee) bool {
			out[f.Status] = append(out[f.Status], f)
			return true
		})
	}); err != nil {
		e.t.Fatal(err)
	}
	return out
}

// deliveredTxns parses every bursar file in dir and returns its
// transaction ids, failing on any repeat.
func deliveredTxns(t *testing.T, dir string) map[string]bool {
	t.Helper()
	seen := map[string]bool{}
	for _, n := range dataFiles(t, dir, true) {
		data, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		lines, err := ParseBursar(n, data)
		if err != nil {
			t.Fatalf("delivered file does not parse: %v", err)
		}
		m, err := os.ReadFile(filepath.Join(dir, delivery.ManifestName(n)))
		if err != nil {
			t.Fatalf("no manifest for %s: %v", n, err)
		}
		man, err := delivery.ParseManifest(m)
		if err != nil || man.Records != len(lines) || man.Size != int64(len(data)) {
			t.Fatalf("manifest of %s: %+v, %v (lines %d)", n, man, err, len(lines))
		}
		for _, l := range lines {
			if seen[l.TransactionID] {
				t.Errorf("transaction %s delivered twice", l.TransactionID)
			}
			seen[l.TransactionID] = true
		}
	}
	return seen
}

// exportedTxns returns the bursar transaction ids of fees marked exported:
// their numbers, as the files write them.
func (e *env) exportedTxns() map[string]bool {
	out := map[string]bool{}
	for _, st := range []store.FeeStatus{store.FeeExported, store.FeeExportedPaid} {
		for _, f := range e.fees()[st] {
			for _, tr := range f.Transactions {
				if tr.Kind == store.TxnExport {
					out[strconv.FormatUint(f.ID, 10)] = true
				}
			}
		}
	}
	return out
}

func sameKeys(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}
