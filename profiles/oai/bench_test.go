package oai

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"
)

// benchRepo holds n records of the size of a typical catalogue record.
func benchRepo(n int) *memRepo {
	repo := newRepo()
	full := repo.recs[0]
	repo.recs = nil
	for i := range n {
		r := full
		r.ID = fmt.Sprintf("b%07d", i)
		r.Datestamp = day(1).Add(time.Duration(i) * time.Second)
		repo.recs = append(repo.recs, r)
	}
	return repo
}

// cpuTime is the process's user and system time. The machine is shared, so
// benchmarks report CPU time per operation beside the wall-clock ns/op.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}

// discard is a ResponseWriter that counts bytes.
type discard struct {
	h http.Header
	n int
}

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { d.n += len(b); return len(b), nil }
func (d *discard) WriteHeader(int)             {}

func benchmarkList(b *testing.B, query string, gzip bool) {
	const page = 100
	h := NewHandler(benchRepo(page+1), Options{PageSize: page, TokenKey: []byte("bench"), Now: func() time.Time { return testNow }})
	req := httptest.NewRequest("GET", "/oai?"+query, nil)
	if gzip {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	var bytes int
	b.ReportAllocs()
	cpu := cpuTime()
	for b.Loop() {
		w := &discard{h: http.Header{}}
		h.ServeHTTP(w, req)
		bytes = w.n
	}
	reportCPU(b, cpu)
	b.ReportMetric(float64(page*b.N)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(bytes), "bytes/page")
}

// The repository here is an in-memory slice, so these measure the handler:
// parsing stored MARCXML, normalising, crosswalking and writing a 100-record page.
func BenchmarkListRecordsMARC21(b *testing.B) {
	benchmarkList(b, "verb=ListRecords&metadataPrefix=marc21", false)
}

func BenchmarkListRecordsHoldings(b *testing.B) {
	benchmarkList(b, "verb=ListRecords&metadataPrefix=marc21_holdings", false)
}

func BenchmarkListRecordsOAIDC(b *testing.B) {
	benchmarkList(b, "verb=ListRecords&metadataPrefix=oai_dc", false)
}

func BenchmarkListRecordsMARC21Gzip(b *testing.B) {
	benchmarkList(b, "verb=ListRecords&metadataPrefix=marc21", true)
}

func BenchmarkListIdentifiers(b *testing.B) {
	benchmarkList(b, "verb=ListIdentifiers&metadataPrefix=marc21", false)
}

func BenchmarkParseMARC(b *testing.B) {
	raw := newRepo().recs[0].MARCXML
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	cpu := cpuTime()
	for b.Loop() {
		if _, _, err := parseMARC(raw); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, cpu)
}

func BenchmarkToken(b *testing.B) {
	key := []byte("bench")
	st := listState{verb: "ListRecords", prefix: "marc21", set: "lib:MAIN", from: day(1), until: testNow, after: Key{day(3), "b0001234"}, cursor: 1200}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeToken(key, encodeToken(key, st)); err != nil {
			b.Fatal(err)
		}
	}
}
