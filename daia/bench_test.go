package daia

import (
	"context"
	"errors"
	"flag"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/fixtures"
	"github.com/circa-ils/circa/store"
	"github.com/circa-ils/circa/store/boltstore"
)

// benchBibs is the size of the catalogue BenchmarkAvailability reads; the
// figure in BENCHMARKS.md is taken with -daia.bibs 1000000.
var benchBibs = flag.Int("daia.bibs", 10_000, "bibliographic records in BenchmarkAvailability's library")

var (
	largeOnce sync.Once
	largePath string
	largeBibs int
	largeErr  error
)

// largeLibrary seeds the benchmark's library once per test binary: the
// demo generator scaled so that it has about benchBibs bibs (bibs are two
// thirds of the items).
func largeLibrary(b *testing.B) (string, int) {
	largeOnce.Do(func() {
		largePath = filepath.Join(filepath.Dir(template), "large.db")
		db, err := boltstore.Open(largePath, boltstore.Options{})
		if err != nil {
			largeErr = err
			return
		}
		var sum fixtures.Summary
		sum, largeErr = fixtures.Seed(context.Background(), db, fixtures.Options{Now: seededAt, Scale: max(*benchBibs*1515/1000, fixtures.MinScale)})
		largeBibs = sum.Bibs
		if err := db.Close(); largeErr == nil {
			largeErr = err
		}
	})
	if largeErr != nil {
		b.Fatal(largeErr)
	}
	return largePath, largeBibs
}

// BenchmarkAvailability asks, through the handler as circa serve mounts
// it, for the availability of one title and of a result list of 100
// titles, chosen at random from the whole catalogue and named as VuFind
// names them (ppn:001, joined by |). Each iteration sends one request of
// each kind, so both meet the same machine; it reports each kind's median
// and 99th percentile and the ratio of the 99th percentiles.
func BenchmarkAvailability(b *testing.B) {
	path, bibs := largeLibrary(b)
	db, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	svc, err := circ.New(db, circ.WithClock(func() time.Time { return seededAt }))
	if err != nil {
		b.Fatal(err)
	}
	h, err := NewHandler(Options{Service: svc, Logger: zerolog.New(io.Discard)})
	if err != nil {
		b.Fatal(err)
	}
	// A pool of record ids from across the catalogue, read once.
	rng := rand.New(rand.NewPCG(1, 2))
	var pool []string
	err = db.View(context.Background(), func(tx store.Tx) error {
		for len(pool) < 20_000 {
			bib, err := tx.Bib(uint64(rng.IntN(bibs) + 1))
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if bib.ControlNumber != "" && !bib.Deleted && !bib.Suppressed {
				pool = append(pool, "ppn:"+bib.ControlNumber)
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	query := func(n int) string {
		ids := make([]string, n)
		for i := range ids {
			ids[i] = pool[rng.IntN(len(pool))]
		}
		return "id=" + url.QueryEscape(strings.Join(ids, "|")) + "&format=json"
	}
	ask := func(q string, want int) time.Duration {
		req := httptest.NewRequest(http.MethodGet, Path+"?"+q, nil)
		rec := httptest.NewRecorder()
		start := time.Now()
		h.ServeHTTP(rec, req)
		took := time.Since(start)
		if rec.Code != http.StatusOK || strings.Count(rec.Body.String(), `"requested":`) != want || rec.Header().Get("Link") != "" {
			b.Fatalf("status %d, link %q, want %d documents:\n%.2000s", rec.Code, rec.Header().Get("Link"), want, rec.Body.String())
		}
		return took
	}
	var one, hundred []time.Duration
	b.ReportAllocs()
	for b.Loop() {
		q1, q100 := query(1), query(100)
		one = append(one, ask(q1, 1))
		hundred = append(hundred, ask(q100, distinct(q100)))
	}
	p50one, p99one := percentile(one, 50), percentile(one, 99)
	p50, p99 := percentile(hundred, 50), percentile(hundred, 99)
	b.ReportMetric(float64(p50one.Microseconds()), "p50-1id-µs")
	b.ReportMetric(float64(p99one.Microseconds()), "p99-1id-µs")
	b.ReportMetric(float64(p50.Microseconds()), "p50-100ids-µs")
	b.ReportMetric(float64(p99.Microseconds()), "p99-100ids-µs")
	b.ReportMetric(float64(p99)/float64(p99one), "p99-ratio")
	b.ReportMetric(float64(bibs), "bibs")
}

// distinct counts the different ids of a query the benchmark built.
func distinct(q string) int {
	v, _ := url.ParseQuery(q)
	ids := strings.Split(v.Get("id"), "|")
	slices.Sort(ids)
	return len(slices.Compact(ids))
}

func percentile(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}
