package main

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	bolt "go.etcd.io/bbolt"

	"github.com/circa-ils/circa/fixtures"
	"github.com/circa-ils/circa/ldapauth"
	"github.com/circa-ils/circa/profiles"
	"github.com/circa-ils/circa/sip2"
	"github.com/circa-ils/circa/sip2/selfcheck"
	"github.com/circa-ils/circa/store"
	"github.com/circa-ils/circa/store/boltstore"
)

func TestHealthzReportsAFailingStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), boltstore.DefaultFile)
	var fail atomic.Bool
	db, err := boltstore.Open(path, boltstore.Options{WriteFault: func() error {
		if fail.Load() {
			return &os.PathError{Op: "write", Path: path, Err: syscall.ENOSPC}
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	metrics := prometheus.NewRegistry()
	registerStoreMetrics(metrics, db)
	srv := httptest.NewServer(healthHandler(db, ldapauth.New(func() *profiles.Snapshot { return &profiles.Snapshot{} }, zerolog.Nop())))
	defer srv.Close()
	get := func() (int, healthReport) {
		t.Helper()
		resp, err := http.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var rep healthReport
		if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
			t.Fatal(err)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q", ct)
		}
		return resp.StatusCode, rep
	}
	write := func() error {
		return db.Update(context.Background(), func(tx store.Tx) error { return tx.SetMeta("x", 1) })
	}
	if code, rep := get(); code != http.StatusOK || rep.Status != "ok" || !rep.Store.OK {
		t.Fatalf("healthy: %d %+v", code, rep)
	}

	fail.Store(true)
	if err := write(); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("write on a full disk: %v", err)
	}
	code, rep := get()
	if code != http.StatusServiceUnavailable || rep.Status != "failing" || rep.Store.OK ||
		!strings.Contains(rep.Store.Failure, "no space left on device") || rep.Store.Failed.IsZero() {
		t.Fatalf("failing: %d %+v", code, rep)
	}
	if v := metricValue(t, metrics, "circa_store_healthy"); v != 0 {
		t.Errorf("circa_store_healthy %v while failing", v)
	}
	if v := metricValue(t, metrics, "circa_store_commit_failures_total"); v != 1 {
		t.Errorf("circa_store_commit_failures_total %v", v)
	}
	// Reads still work, and asking again does not clear it.
	if code, _ := get(); code != http.StatusServiceUnavailable {
		t.Fatalf("a second look: %d", code)
	}

	fail.Store(false)
	if err := write(); err != nil {
		t.Fatal(err)
	}
	if code, rep := get(); code != http.StatusOK || !rep.Store.OK || rep.Store.Failures != 1 {
		t.Fatalf("after a commit succeeded: %d %+v", code, rep)
	}
	if v := metricValue(t, metrics, "circa_store_healthy"); v != 1 {
		t.Errorf("circa_store_healthy %v after recovery", v)
	}
}

// metricValue reads one unlabelled gauge or counter.
func metricValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			m := mf.GetMetric()[0]
			return m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}

// TestServeOnAFullDisk runs circa serve on a real file system that fills
// up (a small tmpfs; it needs the right to mount, which root has in CI):
// kiosks are told the system is unavailable, 98 reports off-line and
// /healthz answers 503 naming ENOSPC, until space is freed and a commit
// succeeds again.
func TestServeOnAFullDisk(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server")
	}
	dir := filepath.Join(t.TempDir(), "fs")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=48m"); err != nil {
		t.Skipf("cannot mount a small file system here: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) }) // after the server's own cleanup
	// A compacted copy has no free pages, so once the disk is full a commit
	// soon needs the file to grow, as on a server that filled its disk.
	compactInto(t, filepath.Join(seededDir(t), boltstore.DefaultFile), filepath.Join(dir, boltstore.DefaultFile))
	s := startDemoServerIn(t, dir)

	conn, err := net.Dial("tcp", s.sip2)
	if err != nil {
		t.Fatal(err)
	}
	c := sip2.NewClient(conn, sip2.ClientOptions{Timeout: 20 * time.Second})
	defer c.Close()
	now := time.Now()
	send := func(code string, specs ...string) *sip2.Message {
		t.Helper()
		now = now.Add(time.Second) // distinct transaction dates: never a retransmission
		m, err := sip2.ParseFieldSpec(code, specs, now)
		if err != nil {
			t.Fatal(err)
		}
		reply, err := c.Send(context.Background(), m)
		if err != nil {
			t.Fatalf("%s: %v", code, err)
		}
		return reply
	}
	healthz := func() (int, healthReport) {
		t.Helper()
		resp, err := http.Get(s.httpURL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var rep healthReport
		if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, rep
	}
	if r := send("93", "CN="+fixtures.KioskLogin, "CO="+fixtures.KioskPassword, "CP=MAIN"); r.Fixed[0] != '1' {
		t.Fatalf("login: %q", r.Fixed)
	}
	if code, rep := healthz(); code != http.StatusOK {
		t.Fatalf("before the disk filled: %d %+v", code, rep)
	}

	filler := filepath.Join(dir, "filler")
	fill(t, filler)
	checkout := []string{"AO=MAIN", "AA=" + fixtures.PatronGood, "AD=" + fixtures.DemoPIN, "AB=" + fixtures.ItemAvailable}
	checkin := []string{"AO=MAIN", "AP=MAIN", "AB=" + fixtures.ItemAvailable}
	// Circulation goes on in the pages the file already has, until a
	// commit needs more.
	var refused *sip2.Message
	i := 0
	for ; i < 2000 && refused == nil; i++ {
		if r := send("11", checkout...); r.Fixed[0] != '1' {
			refused = r
		} else if r := send("09", checkin...); r.Fixed[0] != '1' {
			refused = r
		}
	}
	if refused == nil {
		t.Fatal("2000 checkouts and checkins on a full disk all succeeded")
	}
	t.Logf("refused after %d cycles on the full disk", i)
	unavailable, _ := selfcheck.BuiltinMessage(selfcheck.DefaultLanguage, "system_unavailable")
	if refused.Value("AF") != unavailable {
		t.Errorf("refusal on a full disk: %s %q %v", refused.Code, refused.Fixed, refused.Fields)
	}
	code, rep := healthz()
	if code != http.StatusServiceUnavailable || rep.Status != "failing" || !strings.Contains(rep.Store.Failure, "no space left on device") {
		t.Errorf("/healthz on a full disk: %d %+v", code, rep)
	}
	if st := send("99", "max_print_width=040"); st.Fixed[0] != 'N' || st.Value("AF") != unavailable {
		t.Errorf("98 on a full disk: %q %v", st.Fixed, st.Fields)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	// The kiosk retries what was refused; with room again it succeeds.
	if refused.Code == "12" {
		if r := send("11", checkout...); r.Fixed[0] != '1' {
			t.Errorf("checkout after space was freed: %q %v", r.Fixed, r.Fields)
		}
	} else if r := send("09", checkin...); r.Fixed[0] != '1' {
		t.Errorf("checkin after space was freed: %q %v", r.Fixed, r.Fields)
	}
	if code, rep := healthz(); code != http.StatusOK || rep.Store.Failures == 0 {
		t.Errorf("/healthz after space was freed: %d %+v", code, rep)
	}
	if st := send("99", "max_print_width=040"); st.Fixed[0] != 'Y' {
		t.Errorf("98 after space was freed: %q %v", st.Fixed, st.Fields)
	}
}

// compactInto writes a compacted copy of the bbolt file src to dst.
func compactInto(t *testing.T, src, dst string) {
	t.Helper()
	from, err := bolt.Open(src, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer from.Close()
	to, err := bolt.Open(dst, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := bolt.Compact(to, from, 1<<20); err != nil {
		t.Fatal(err)
	}
	if err := to.Close(); err != nil {
		t.Fatal(err)
	}
}

// fill writes path until its file system has no space left.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			return
		}
	}
}
