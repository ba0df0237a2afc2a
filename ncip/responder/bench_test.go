package responder

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/fixtures"
	"github.com/circa-ils/circa/ncip"
	"github.com/circa-ils/circa/profiles"
	"github.com/circa-ils/circa/store"
	"github.com/circa-ils/circa/store/boltstore"
)

// benchServer is the whole NCIP path as circa serve mounts it: handler,
// responder, circ and a copy of the seeded demo store (fsync on), logging
// every request to a discarded JSON logger.
func benchServer(b *testing.B) http.Handler {
	h, _ := benchService(b)
	return h
}

// benchService is benchServer that also returns the circ service.
func benchService(b *testing.B) (http.Handler, *circ.Service) {
	b.Helper()
	path := filepath.Join(b.TempDir(), boltstore.DefaultFile)
	if err := fixtures.CopyFile(template, path); err != nil {
		b.Fatal(err)
	}
	db, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	svc, err := circ.New(db, circ.WithClock(func() time.Time { return seededAt }))
	if err != nil {
		b.Fatal(err)
	}
	reg, err := profiles.Open(context.Background(), db)
	if err != nil {
		b.Fatal(err)
	}
	return ncip.NewHandler(New(svc, reg.Current), ncip.HandlerOptions{
		Logger: zerolog.New(io.Discard), Observer: func(ncip.Observation) {}}), svc
}

// benchBody is a request as the ILL broker sends it.
func benchBody(b *testing.B, service string, fields ...string) []byte {
	b.Helper()
	req, err := ncip.BuildRequest(service, append([]string{"from=" + fixtures.PartnerAgency, "to=" + fixtures.LocalAgency}, fields...))
	if err != nil {
		b.Fatal(err)
	}
	body, err := ncip.EncodeRequest(req, ncip.WriteOptions{})
	if err != nil {
		b.Fatal(err)
	}
	return body
}

// do posts body to h in process and checks the answer names want and
// carries no Problem.
func do(b *testing.B, h http.Handler, body []byte, want string) {
	req := httptest.NewRequest(http.MethodPost, "/ncip", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/xml; charset=utf-8")
	req.Header.Set("X-API-Key", fixtures.PartnerKey)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || !bytes.Contains(rec.Body.Bytes(), []byte(want)) || bytes.Contains(rec.Body.Bytes(), []byte("Problem>")) {
		b.Fatalf("status %d:\n%s", rec.Code, rec.Body.Bytes())
	}
}

// echoHandler is the baseline: it reads the body and answers a fixed NCIP
// response, as the bench harness's HTTP echo does.
func echoHandler(resp []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/xml; charset=utf-8")
		_, _ = w.Write(resp)
	})
}

// echoLookupUser is about the size of a LookupUser answer.
var echoLookupUser = []byte(`<?xml version="1.0" encoding="UTF-8"?>
<ncip:NCIPMessage xmlns:ncip="http://www.niso.org/2008/ncip" ncip:version="http://www.niso.org/schemas/ncip/v2_02/ncip_v2_02.xsd"><ncip:LookupUserResponse><ncip:ResponseHeader><ncip:FromAgencyId><ncip:AgencyId>DEMO-LIBRARY</ncip:AgencyId></ncip:FromAgencyId><ncip:ToAgencyId><ncip:AgencyId>DEMO-BROKER</ncip:AgencyId></ncip:ToAgencyId></ncip:ResponseHeader><ncip:UserId><ncip:AgencyId>DEMO-LIBRARY</ncip:AgencyId><ncip:UserIdentifierValue>21000000000001</ncip:UserIdentifierValue></ncip:UserId></ncip:LookupUserResponse></ncip:NCIPMessage>
`)

// BenchmarkLookupUser runs whole LookupUser requests through the handler
// and the responder on the demo store, beside the fixed-response echo:
// "plain" asks for nothing optional (as the bench harness does), "fields"
// for the name, privilege and blocks, "lists" also for loans, requests and
// the fiscal account.
func BenchmarkLookupUser(b *testing.B) {
	h := benchServer(b)
	cases := []struct {
		name   string
		fields []string
	}{
		{"plain", nil},
		{"fields", []string{"elements=Name Information,User Privilege,Block Or Trap"}},
		{"lists", []string{"elements=Name Information,User Privilege,Block Or Trap", "loans=1", "requests=1", "account=1"}},
	}
	b.Run("echo", func(b *testing.B) {
		e := echoHandler(echoLookupUser)
		body := benchBody(b, "LookupUser", "user="+fixtures.PatronGood)
		b.ReportAllocs()
		defer reportCPU(b)()
		for b.Loop() {
			do(b, e, body, "LookupUserResponse>")
		}
	})
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			body := benchBody(b, "LookupUser", append([]string{"user=" + fixtures.PatronGood}, c.fields...)...)
			b.ReportAllocs()
			defer reportCPU(b)()
			for b.Loop() {
				do(b, h, body, "LookupUserResponse>")
			}
		})
	}
}

// BenchmarkCheckOutCheckIn runs CheckOutItem then CheckInItem of one item
// for the partner's lending patron, one pair per op; "keyed" sends a
// RequestId, so the checkout is remembered for retries. Each write waits
// for its fsync'd commit, so cpu-ns/op is the figure to compare.
func BenchmarkCheckOutCheckIn(b *testing.B) {
	h := benchServer(b)
	b.Run("echo", func(b *testing.B) {
		e := echoHandler(echoLookupUser)
		out := benchBody(b, "CheckOutItem", "user="+brokerUser, "item="+fixtures.ItemAvailable)
		in := benchBody(b, "CheckInItem", "item="+fixtures.ItemAvailable)
		b.ReportAllocs()
		defer reportCPU(b)()
		for b.Loop() {
			do(b, e, out, "Response>")
			do(b, e, in, "Response>")
		}
	})
	for _, keyed := range []bool{false, true} {
		name := "plain"
		if keyed {
			name = "keyed"
		}
		b.Run(name, func(b *testing.B) {
			in := benchBody(b, "CheckInItem", "item="+fixtures.ItemAvailable)
			fields := []string{"user=" + brokerUser, "item=" + fixtures.ItemAvailable}
			if keyed {
				fields = append(fields, "request="+benchID)
			}
			out := benchBody(b, "CheckOutItem", fields...)
			at := bytes.Index(out, []byte(benchID))
			b.ReportAllocs()
			defer reportCPU(b)()
			n := uint64(0)
			for b.Loop() {
				if at >= 0 {
					// A new RequestId for every pair, as a broker's would
					// be; a repeated one would be answered as a retry.
					n++
					copy(out[at+len(benchID)-16:], fmt.Appendf(nil, "%016d", n))
				}
				do(b, h, out, "CheckOutItemResponse>")
				do(b, h, in, "CheckInItemResponse>")
			}
		})
	}
}

// BenchmarkHTTP is the G10 set-up in one process: ten clients, each with
// its own keep-alive connection, post to a real loopback HTTP server in a
// closed loop, against the echo and against circa. Client and server share
// the CPU, as in the circa bench run; ns/op is the inverse of throughput,
// so echo ns/op ÷ circa ns/op is the G10 ratio. The checkout mix gives each
// client its own item.
func BenchmarkHTTP(b *testing.B) {
	h, svc := benchService(b)
	const clients = 10
	items := make([]string, clients)
	for i := range items {
		items[i] = fmt.Sprintf("3900000000%04d", i)
	}
	addItems(b, svc, items)
	lookup := [][]byte{benchBody(b, "LookupUser", "user="+fixtures.PatronGood)}
	var pairs [][][]byte
	for _, it := range items {
		pairs = append(pairs, [][]byte{benchBody(b, "CheckOutItem", "user="+brokerUser, "item="+it), benchBody(b, "CheckInItem", "item="+it)})
	}
	for _, c := range []struct {
		name   string
		h      http.Handler
		bodies func(i int) [][]byte
	}{
		{"echo-lookup", echoHandler(echoLookupUser), func(int) [][]byte { return lookup }},
		{"lookup-user", h, func(int) [][]byte { return lookup }},
		{"echo-checkout", echoHandler(echoLookupUser), func(i int) [][]byte { return pairs[i] }},
		{"checkout", h, func(i int) [][]byte { return pairs[i] }},
	} {
		b.Run(c.name, func(b *testing.B) {
			srv := httptest.NewServer(c.h)
			defer srv.Close()
			tr := &http.Transport{MaxIdleConnsPerHost: clients, DisableCompression: true}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr}
			var next atomic.Int32
			b.SetParallelism((clients + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
			b.ReportAllocs()
			defer reportCPU(b)()
			b.RunParallel(func(pb *testing.PB) {
				bodies := c.bodies(int(next.Add(1)-1) % clients)
				for i := 0; pb.Next(); i++ {
					if err := postHTTP(client, srv.URL+"/ncip", bodies[i%len(bodies)]); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// addItems adds available copies of the demo's available item.
func addItems(b *testing.B, svc *circ.Service, barcodes []string) {
	ctx := context.Background()
	sum, err := svc.ItemInfo(ctx, fixtures.ItemAvailable)
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range barcodes {
		_, err := svc.AddItem(ctx, atDesk, circ.NewItem{BibID: sum.Item.BibID, Barcode: bc, Location: sum.Item.Location, Policy: sum.Item.Policy})
		if err != nil {
			b.Fatal(err)
		}
	}
}

func postHTTP(c *http.Client, url string, body []byte) error {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/xml; charset=utf-8")
	req.Header.Set("X-API-Key", fixtures.PartnerKey)
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	switch {
	case err != nil:
		return err
	case resp.StatusCode != http.StatusOK || bytes.Contains(got, []byte("Problem>")):
		return fmt.Errorf("status %d:\n%s", resp.StatusCode, got)
	}
	return nil
}

// benchID is the RequestId of a keyed checkout; its last 16 digits are
// replaced by a counter.
const benchID = "BENCH-0000000000000000"

// reportCPU adds a cpu-ns/op metric: process CPU time (GC included) per
// operation, which neighbours on a shared machine do not inflate.
func reportCPU(b *testing.B) func() {
	start := processCPU()
	return func() {
		if used := processCPU() - start; used > 0 && b.N > 0 {
			b.ReportMetric(float64(used.Nanoseconds())/float64(b.N), "cpu-ns/op")
		}
	}
}

// BenchmarkLookupItemSet runs VuFind's LookupItemSet for one title and for
// a result list of 20 titles (every element type VuFind asks for) through
// the handler and the responder, beside the fixed-response echo.
func BenchmarkLookupItemSet(b *testing.B) {
	h, svc := benchService(b)
	var ids []string
	seen := map[uint64]bool{}
	err := svc.DB().View(context.Background(), func(tx store.Tx) error {
		return tx.ForEachItem(func(it store.Item) bool {
			if b, err := tx.Bib(it.BibID); err == nil && !seen[it.BibID] && !b.Suppressed && !b.Deleted && !b.Temporary {
				seen[it.BibID] = true
				ids = append(ids, fmt.Sprint(it.BibID))
			}
			return len(ids) < 20
		})
	})
	if err != nil || len(ids) < 20 {
		b.Fatalf("%d titles with items: %v", len(ids), err)
	}
	b.Run("echo", func(b *testing.B) {
		e := echoHandler(echoLookupUser)
		body := []byte(vufindItemSet(ids, ""))
		b.ReportAllocs()
		defer reportCPU(b)()
		for b.Loop() {
			do(b, e, body, "Response>")
		}
	})
	for _, n := range []int{1, 20} {
		b.Run(fmt.Sprintf("titles-%d", n), func(b *testing.B) {
			body := []byte(vufindItemSet(ids[:n], ""))
			b.ReportAllocs()
			defer reportCPU(b)()
			for b.Loop() {
				do(b, h, body, "LookupItemSetResponse>")
			}
		})
	}
}
