package importer

import (
	"context"
	"flag"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/fixtures"
	"github.com/circa-ils/circa/marc"
	"github.com/circa-ils/circa/store/boltstore"
)

var benchItems = flag.Int("importmarc.items", 3000, "items BenchmarkImportMARC imports and seeds (BENCHMARKS.md uses 100000)")
var benchBatch = flag.Int("importmarc.batch", MARCBatch, "records per transaction")

// BenchmarkImportMARC imports N items with their bibs from a Koha-shaped
// ISO 2709 file (1.5 items a record, as in the demo library; MARCBatch
// records a transaction, as the command does) and, in the same run, seeds
// N items as `circa db seed --scale N` does, each into a fresh database.
// It reports both rates, their ratio (the goal is ≥ 0.5)
// and the import's peak heap.
func BenchmarkImportMARC(b *testing.B) {
	n := *benchItems
	file := filepath.Join(b.TempDir(), "export.mrc")
	var recs []*marc.Record
	for items, i := 0, 1; items < n; i++ {
		k := 1 + i%2
		k = min(k, n-items)
		recs = append(recs, kohaRecord(i, k))
		items += k
	}
	writeISO(b, file, recs)
	recs = nil
	m, err := LoadItemMapping("koha")
	if err != nil {
		b.Fatal(err)
	}
	now := time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)

	var importTime, seedTime time.Duration
	var peak uint64
	for b.Loop() {
		b.StopTimer()
		svc, _ := catalogueService(b)
		runtime.GC()
		stop := sampleHeap(&peak)
		b.StartTimer()
		start := time.Now()
		src := NewMARCSource(file)
		rep, err := Run(context.Background(), svc, src, MARCApply(m, circ.MatchControlNumber), Options{Key: "marc/bench", Batch: *benchBatch})
		src.Close()
		importTime += time.Since(start)
		b.StopTimer()
		stop()
		if err != nil || rep.Problems != 0 || rep.Counts["items created"] != n {
			b.Fatalf("import: %v %+v", err, rep)
		}

		db, err := boltstore.Open(filepath.Join(b.TempDir(), boltstore.DefaultFile), boltstore.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start = time.Now()
		if _, err := fixtures.Seed(context.Background(), db, fixtures.Options{Now: now, Scale: max(n, fixtures.MinScale)}); err != nil {
			b.Fatal(err)
		}
		seedTime += time.Since(start)
		b.StopTimer()
		db.Close()
		b.StartTimer()
	}
	importRate := float64(n*b.N) / importTime.Seconds()
	seedRate := float64(max(n, fixtures.MinScale)*b.N) / seedTime.Seconds()
	b.ReportMetric(importRate, "import-items/s")
	b.ReportMetric(seedRate, "seed-items/s")
	b.ReportMetric(importRate/seedRate, "import/seed")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
}

// sampleHeap records the largest live heap seen until stop is called.
func sampleHeap(peak *uint64) (stop func()) {
	var done atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		for !done.Load() {
			runtime.ReadMemStats(&ms)
			*peak = max(*peak, ms.HeapInuse)
			time.Sleep(20 * time.Millisecond)
		}
	}()
	return func() { done.Store(true); wg.Wait() }
}
