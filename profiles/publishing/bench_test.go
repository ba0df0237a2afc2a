package publishing

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/circa-ils/circa/fixtures"
	"github.com/circa-ils/circa/profiles/oai"
	"github.com/circa-ils/circa/store/boltstore"
)

// largeScale seeds about 100,000 bibliographic records (bibs are two thirds
// of the items).
const largeScale = 151_500

var (
	largeOnce sync.Once
	largePath string
	largeErr  error
)

// largeFile seeds the large library once per benchmark binary.
func largeFile(b *testing.B) string {
	largeOnce.Do(func() {
		largePath = filepath.Join(templateDir, "large.db")
		db, err := boltstore.Open(largePath, boltstore.Options{})
		if err != nil {
			largeErr = err
			return
		}
		_, largeErr = fixtures.Seed(ctx, db, fixtures.Options{Now: seedNow, Scale: largeScale})
		if err := db.Close(); largeErr == nil {
			largeErr = err
		}
	})
	if largeErr != nil {
		b.Fatal(largeErr)
	}
	return largePath
}

// heapSampler records the largest live heap seen while it runs.
type heapSampler struct {
	stop chan struct{}
	done chan struct{}
	peak uint64
}

func sampleHeap() *heapSampler {
	h := &heapSampler{stop: make(chan struct{}), done: make(chan struct{})}
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	go func() {
		defer close(h.done)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			h.peak = max(h.peak, s[0].Value.Uint64())
			select {
			case <-h.stop:
				return
			case <-t.C:
			}
		}
	}()
	return h
}

func (h *heapSampler) end() uint64 {
	close(h.stop)
	<-h.done
	return h.peak
}

// BenchmarkHarvest100k lists about 100,000 records in a single ListRecords
// response (marc21) over HTTP from a seeded store and reports the rate, the
// response size and the peak live heap while it streamed: the page is
// written as it is read, so the heap stays a small fraction of the page.
func BenchmarkHarvest100k(b *testing.B) {
	db := openDB(b, largeFile(b))
	h, err := Handler(db, testOptions, oai.Options{PageSize: 200_000})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer srv.Client().Transport.(*http.Transport).CloseIdleConnections()
	var records, size int64
	var peak uint64
	for b.Loop() {
		runtime.GC()
		hs := sampleHeap()
		resp, err := srv.Client().Get(srv.URL + "?verb=ListRecords&metadataPrefix=marc21")
		if err != nil {
			b.Fatal(err)
		}
		n, count, err := countRecords(resp.Body)
		resp.Body.Close()
		p := hs.end()
		if err != nil {
			b.Fatal(err)
		}
		records, size, peak = count, n, max(peak, p)
	}
	if records < 95_000 {
		b.Fatalf("listed %d records", records)
	}
	b.ReportMetric(float64(records)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(size)/(1<<20), "response-MiB")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
}

// countRecords reads a response to its end, counting bytes and <record>
// elements without keeping it.
func countRecords(r io.Reader) (int64, int64, error) {
	buf := make([]byte, 64<<10)
	tag := []byte("<record>")
	var n, recs int64
	var carry []byte
	for {
		k, err := r.Read(buf)
		if k > 0 {
			chunk := append(carry, buf[:k]...)
			recs += int64(bytes.Count(chunk, tag))
			n += int64(k)
			cut := max(0, len(chunk)-len(tag)+1)
			carry = append(carry[:0], chunk[cut:]...) // too short to hold a whole tag
		}
		if err == io.EOF {
			return n, recs, nil
		}
		if err != nil {
			return n, recs, err
		}
	}
}
