package responder

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/fixtures"
	"github.com/circa-ils/circa/ncip"
	"github.com/circa-ils/circa/profiles"
	"github.com/circa-ils/circa/store/boltstore"
)

// handlerOver opens a copy of the template and returns the NCIP handler
// over it, in process; log receives the handler's log lines.
func handlerOver(tb testing.TB, log *bytes.Buffer) http.Handler {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), boltstore.DefaultFile)
	if err := fixtures.CopyFile(template, path); err != nil {
		tb.Fatal(err)
	}
	db, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	svc, err := circ.New(db, circ.WithClock(func() time.Time { return seededAt }))
	if err != nil {
		tb.Fatal(err)
	}
	reg, err := profiles.Open(context.Background(), db)
	if err != nil {
		tb.Fatal(err)
	}
	o := ncip.HandlerOptions{MaxBodyBytes: 64 << 10}
	if log != nil {
		o.Logger = zerolog.New(log)
	}
	return ncip.NewHandler(New(svc, reg.Current), o)
}

func serve(h http.Handler, path, key string, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	req.RemoteAddr = "127.0.0.1:40000"
	if key != "" {
		req.Header.Set("X-API-Key", key)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// FuzzServices sends arbitrary messages as the ILL partner and the annex:
// every answer is an NCIP message, never a Temporary Processing Failure
// (which would mean an error or panic in the responder).
func FuzzServices(f *testing.F) {
	for _, s := range []struct {
		service string
		fields  []string
	}{
		{"LookupUser", []string{"from=" + fixtures.PartnerAgency, "barcode=" + fixtures.PatronGood, "pin=1234", "loans=1", "requests=1", "account=1",
			"elements=Name Information,User Address Information,User Privilege,Block Or Trap,User Id"}},
		{"AcceptItem", []string{"from=" + fixtures.PartnerAgency, "request=F-1", "item=F-1", "user=" + fixtures.PatronGood, "title=T"}},
		{"CheckOutItem", []string{"from=" + fixtures.PartnerAgency, "user=B", "item=" + fixtures.ItemAvailable, "request=F-2"}},
		{"CheckInItem", []string{"from=" + fixtures.PartnerAgency, "item=" + fixtures.ItemOnLoan}},
		{"RenewItem", []string{"from=" + fixtures.PartnerAgency, "user=" + fixtures.PatronGood, "item=" + fixtures.ItemOnLoan}},
		{"RequestItem", []string{"from=" + fixtures.PartnerAgency, "user=B", "bib=1", "request=F-3"}},
		{"CancelRequestItem", []string{"from=" + fixtures.PartnerAgency, "user=B", "request=F-3"}},
		{"RecallItem", []string{"from=" + fixtures.PartnerAgency, "item=" + fixtures.ItemOnLoan}},
		{"DeleteItem", []string{"from=" + fixtures.PartnerAgency, "item=F-1"}},
		{"CreateUserFiscalTransaction", []string{"from=" + fixtures.PartnerAgency, "user=" + fixtures.PatronGood, "amount=2.50"}},
		{"LookupItem", []string{"from=" + fixtures.PartnerAgency, "item=" + fixtures.ItemAnnex}},
		{"LookupItemSet", []string{"from=" + fixtures.PartnerAgency, "bib=1", "bib=2", "bib=NO-SUCH-TITLE", "max=2"}},
		{"LookupItemSet", []string{"from=" + fixtures.PartnerAgency, "item=" + fixtures.ItemOnLoan, "item=NO-SUCH-ITEM", "token=AQIDBAUG"}},
		{"LookupRequest", []string{"from=" + fixtures.PartnerAgency, "request=1"}},
		{"LookupAgency", []string{"from=" + fixtures.PartnerAgency, "agency=" + fixtures.LocalAgency}},
		{"CheckOutItem", []string{"from=" + fixtures.StorageAgency, "user=ANNEX", "item=" + fixtures.ItemAnnex}},
		{"CheckInItem", []string{"from=" + fixtures.StorageAgency, "item=" + fixtures.ItemAnnex}},
		{"CancelRequestItem", []string{"from=" + fixtures.StorageAgency, "user=ANNEX", "item=" + fixtures.ItemAnnex}},
		{"ItemShipped", []string{"from=" + fixtures.StorageAgency, "request=1", "item=" + fixtures.ItemAnnex, "address=MAIN", "note=n"}},
		{"ItemShipped", []string{"from=" + fixtures.StorageAgency, "request=999", "address=MAIN"}},
		{"ItemShipped", []string{"from=" + fixtures.PartnerAgency, "item=" + fixtures.ItemAnnex, "address=MAIN"}},
	} {
		req, err := ncip.BuildRequest(s.service, s.fields)
		if err != nil {
			f.Fatal(err)
		}
		b, err := ncip.EncodeRequest(req, ncip.WriteOptions{})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, strings.Contains(s.fields[0], fixtures.StorageAgency))
	}
	f.Add([]byte(vufindItemSet([]string{"1", "2", "x"}, "")), false)
	for _, b := range []string{
		vufindLookupUser(fixtures.PatronGood, fixtures.DemoPIN),
		vufindRenew(fixtures.PatronGood, fixtures.DemoPIN, fixtures.ItemOnLoan),
		vufindRequestItem(fixtures.PatronExternal, fixtures.DemoPIN, "1", fixtures.ItemOnLoan, "2", seededAt.AddDate(0, 2, 0)),
		vufindMessage("CancelRequestItem", vufindPatron(fixtures.PatronExternal, fixtures.DemoPIN)+
			"<ns1:RequestId><ns1:RequestIdentifierValue>1</ns1:RequestIdentifierValue></ns1:RequestId>"+vufindItemID(fixtures.ItemHeld)),
		vufindMessage("LookupAgency", vufindElement("AgencyId", fixtures.LocalAgency, "")+
			vufindElement("AgencyElementType", "Organization Name Information", "")),
	} {
		f.Add([]byte(b), false)
	}
	h := handlerOver(f, nil)
	f.Fuzz(func(t *testing.T, body []byte, annex bool) {
		key := fixtures.PartnerKey
		if annex {
			key = fixtures.StorageKey
		}
		rec := serve(h, "/ncip", key, body)
		if rec.Code != http.StatusOK && rec.Code != http.StatusRequestEntityTooLarge {
			t.Fatalf("status %d", rec.Code)
		}
		m, err := ncip.DecodeResponse(rec.Body.Bytes(), ncip.DecodeOptions{})
		if err != nil {
			t.Fatalf("answer is not NCIP (%v):\n%s", err, rec.Body.Bytes())
		}
		for _, p := range m.Problems {
			if p.Type.Value == ncip.TemporaryProcessingFailure {
				t.Fatalf("Temporary Processing Failure for:\n%q\n%s", body, rec.Body.Bytes())
			}
		}
	})
}

// TestNoSecretsInLogs sends PINs, shared secrets and names through the
// handler and checks none of them reaches a log line.
func TestNoSecretsInLogs(t *testing.T) {
	t.Parallel()
	var log bytes.Buffer
	h := handlerOver(t, &log)
	for _, fields := range [][]string{
		{"from=" + fixtures.PartnerAgency, "from-auth=sekrit-shared", "barcode=" + fixtures.PatronGood, "pin=1234", "elements=Name Information,User Address Information"},
		{"from=" + fixtures.PartnerAgency, "barcode=" + fixtures.PatronGood, "pin=987654"},
		{"from=" + fixtures.PartnerAgency, "barcode=NOBODY", "password=hunter2-pass"},
	} {
		req, _ := ncip.BuildRequest("LookupUser", fields)
		b, _ := ncip.EncodeRequest(req, ncip.WriteOptions{})
		serve(h, "/ncip", fixtures.PartnerKey, b)
	}
	if log.Len() == 0 {
		t.Fatal("nothing was logged")
	}
	// Numeric secrets are looked for as JSON strings and XML text: bare
	// digits also turn up in port numbers and durations.
	for _, secret := range []string{`"1234"`, ">1234<", `"987654"`, ">987654<", "hunter2-pass", "sekrit-shared", fixtures.PartnerKey, "Whitfield", "Eleanor"} {
		if strings.Contains(log.String(), secret) {
			t.Errorf("%q reached the log:\n%s", secret, log.String())
		}
	}
}
