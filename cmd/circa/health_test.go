package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/circa-ils/circa/store"
)

func TestHealthzReportsAFailingStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), store.DefaultFile)
	var fail atomic.Bool
	db, err := store.Open(path, store.Options{WriteFault: func() error {
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
	srv := httptest.NewServer(healthHandler(db))
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
		return db.Update(context.Background(), func(tx *store.Tx) error { return tx.SetMeta("x", 1) })
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
