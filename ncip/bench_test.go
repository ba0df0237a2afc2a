package ncip

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

func readTestdata(b *testing.B, name string) []byte {
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		b.Fatal(err)
	}
	return data
}

// BenchmarkDecodeCheckOutItem measures reading a realistic CheckOutItem
// request (header with agency authentication, UserId, ItemId, RequestId,
// DesiredDateDue, Ext). Target: ≤ 20 µs.
func BenchmarkDecodeCheckOutItem(b *testing.B) {
	data := readTestdata(b, "checkout.xml")
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		m, err := DecodeRequest(data, DecodeOptions{})
		if err != nil || m.Request.(*CheckOutItem).ItemID.Value == "" {
			b.Fatal(err)
		}
	}
}

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

func BenchmarkEncodeCheckOutItemResponse(b *testing.B) {
	r := &CheckOutItemResponse{Header: hdr, ItemID: Identifier{AgencyID: SV("MAIN"), Value: "31000000012345"}, UserID: Identifier{Value: "ILL-RESHARE"}, DateDue: tDue}
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		if _, err := EncodeResponse(r, WriteOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeLookupUserResponse(b *testing.B) {
	r := responseCases()["LookupUser"]
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		if _, err := EncodeResponse(r, WriteOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

type benchService struct{ fakeService }

func (*benchService) CheckOutItem(_ context.Context, _ *Call, r *CheckOutItem) (*CheckOutItemResponse, error) {
	return &CheckOutItemResponse{ItemID: r.ItemID, UserID: Identifier{Value: r.UserIdentifier()}, DateDue: tDue}, nil
}

// BenchmarkHandlerCheckOutItem runs the whole handler in process: body
// read, decode, dispatch, encode, log line (discarded) and observer.
func BenchmarkHandlerCheckOutItem(b *testing.B) {
	data := readTestdata(b, "checkout.xml")
	h := NewHandler(&benchService{}, HandlerOptions{Observer: func(Observation) {}})
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/ncip", bytes.NewReader(data))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatal(rec.Code)
		}
	}
}
