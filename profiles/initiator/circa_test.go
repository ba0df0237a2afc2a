package initiator

import (
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/fixtures"
	"github.com/circa-ils/circa/internal/conformance"
	"github.com/circa-ils/circa/ncip"
	"github.com/circa-ils/circa/ncip/responder"
	"github.com/circa-ils/circa/profiles"
	"github.com/circa-ils/circa/store"
	"github.com/circa-ils/circa/tlsproxy"
)

// libraryPartner is the facility circa's profile of the library: it
// calls with its agency and a client certificate named after the profile.
const libraryPartner = "LIBRARY"

// secondCirca is another circa, with its own copy of the demo library,
// answering NCIP over TLS and requiring the library's client certificate:
// the facility. It returns its URL, the CA file its server certificate
// chains to, and the library's client certificate and key.
func secondCirca(t *testing.T) (fac *env, url, caFile, cert, key string) {
	t.Helper()
	fac = newEnv(t)
	p := profiles.NewNCIPPartner(libraryPartner)
	p.AgencyIDs, p.LocalAgency, p.Library = []string{fixtures.LocalAgency}, fixtures.StorageAgency, fixtures.LibraryMain
	p.Auth.ClientCert = true
	p.Services = []string{"RequestItem", "CancelRequestItem"}
	if err := fac.reg.Save(ctx, p); err != nil {
		t.Fatal(err)
	}
	url, caFile, cert, key = serveNCIPOverTLS(t, fac, libraryPartner)
	return fac, url, caFile, cert, key
}

// serveNCIPOverTLS answers NCIP as e's circa on a real TLS socket whose
// server certificate chains to a new CA, accepting only clients with a
// certificate of that CA, which the responder trusts for partners requiring
// one. It returns the URL, the CA file, and the client certificate and key
// the CA issued to the profile client.
func serveNCIPOverTLS(t *testing.T, e *env, client string) (url, caFile, cert, key string) {
	caDir, out := t.TempDir(), t.TempDir()
	srvPaths, err := tlsproxy.InitCA(caDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	issued, err := tlsproxy.IssueClient(caDir, client, "", out)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := tlsproxy.NewServerConfig(tlsproxy.ServerOptions{CertFile: srvPaths.Cert, KeyFile: srvPaths.Key,
		ClientAuth: tlsproxy.ClientCertRequired, ClientCAFile: filepath.Join(caDir, tlsproxy.CACertFile)})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	svc := responder.New(e.svc, e.reg.Current, responder.WithClientCAs(cfg.ClientCAs))
	srv := &http.Server{Handler: ncip.NewHandler(svc, ncip.HandlerOptions{}),
		ErrorLog: log.New(io.Discard, "", 0)} // refused handshakes are expected
	go srv.Serve(tls.NewListener(ln, cfg.TLSConfig()))
	t.Cleanup(func() { srv.Close() })
	return "https://" + ln.Addr().String() + "/ncip", issued.CACert, issued.Cert, issued.Key
}

// facilityRequests returns the facility circa's requests placed by the
// library, by their RequestId.
func facilityRequests(t *testing.T, fac *env) map[string]store.Request {
	t.Helper()
	out := map[string]store.Request{}
	err := fac.db.View(ctx, func(tx store.Tx) error {
		return tx.ForEachRequest(func(r store.Request) bool {
			if r.Partner == libraryPartner {
				out[r.ExternalID] = r
			}
			return true
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestAgainstASecondCirca: circa's NCIP responder, on a real TLS socket
// that requires the library's client certificate, plays the facility. The
// RequestItem carries the patron (patron_details) and becomes one request
// there even when a crash before the answer was recorded sends it twice;
// the cancellation cancels it there.
func TestAgainstASecondCirca(t *testing.T) {
	fac, url, caFile, cert, key := secondCirca(t)
	e := newEnv(t)
	if err := fixtures.SeedProfiles(ctx, e.reg); err != nil {
		t.Fatal(err)
	}
	p := *e.reg.Current().Storage[fixtures.StorageCode]
	p.Online = &profiles.StorageOnline{URL: url, ClientCertFile: cert, ClientKeyFile: key, CAFile: caFile, PatronDetails: true}
	if err := e.reg.Save(ctx, &p); err != nil {
		t.Fatal(err)
	}
	e.pass() // the seeded journal
	before := len(facilityRequests(t, fac))

	h := e.hold(fixtures.PatronGood)
	e.snd.afterSend = func(Message) error { return errCrash }
	e.pass()
	e.restart()
	e.pass()
	m := e.message(KindRequest, h.Retrieval)
	if m.Status != StatusSent || m.Attempts != 2 {
		t.Fatalf("RequestItem %+v", m)
	}
	t.Logf("answer to the repeat: %s", m.Answer)
	reqs := facilityRequests(t, fac)
	r, ok := reqs[m.RequestID]
	if !ok || len(reqs) != before+1 || !r.Status.Open() {
		t.Fatalf("facility requests %+v, want one open for %s", reqs, m.RequestID)
	}
	var pt store.Patron
	if err := fac.db.View(ctx, func(tx store.Tx) (err error) { pt, err = tx.PatronByBarcode(fixtures.PatronGood); return err }); err != nil || pt.ID != r.PatronID {
		t.Fatalf("facility request for patron %d, want %s (%d, %v)", r.PatronID, fixtures.PatronGood, pt.ID, err)
	}

	e.cancel(h)
	e.pass()
	if m := e.message(KindCancel, h.Retrieval); m.Status != StatusSent {
		t.Fatalf("CancelRequestItem %+v", m)
	}
	if r := facilityRequests(t, fac)[m.RequestID]; r.Status != store.RequestCancelled {
		t.Fatalf("facility request after the cancellation: %+v", r)
	}
}

// TestWrongClientCertificateIsNotDelivered: a facility that refuses the
// handshake gets nothing recorded as sent.
func TestWrongClientCertificateIsNotDelivered(t *testing.T) {
	_, url, caFile, _, _ := secondCirca(t)
	other, err := tlsproxy.InitCA(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	if err := fixtures.SeedProfiles(ctx, e.reg); err != nil {
		t.Fatal(err)
	}
	p := *e.reg.Current().Storage[fixtures.StorageCode]
	// A certificate the facility's CA did not issue.
	p.Online = &profiles.StorageOnline{URL: url, ClientCertFile: other.Cert, ClientKeyFile: other.Key, CAFile: caFile}
	if err := e.reg.Save(ctx, &p); err != nil {
		t.Fatal(err)
	}
	e.pass()
	h := e.hold(fixtures.PatronGood)
	e.pass()
	if m := e.message(KindRequest, h.Retrieval); m.Status != StatusPending || m.Attempts != 1 || m.LastError == "" {
		t.Fatalf("RequestItem %+v", m)
	}
}

// TestUnknownAgencyIsRetried: a facility that does not accept circa's
// agency answers outside any service response; that is its set-up, not a
// refusal of the request, so the message stays queued with the reason.
func TestUnknownAgencyIsRetried(t *testing.T) {
	fac, url, caFile, cert, key := secondCirca(t)
	p := *fac.reg.Current().NCIP[libraryPartner]
	p.AgencyIDs = []string{"SOMEONE-ELSE"}
	if err := fac.reg.Save(ctx, &p); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	if err := fixtures.SeedProfiles(ctx, e.reg); err != nil {
		t.Fatal(err)
	}
	s := *e.reg.Current().Storage[fixtures.StorageCode]
	s.Online = &profiles.StorageOnline{URL: url, ClientCertFile: cert, ClientKeyFile: key, CAFile: caFile}
	if err := e.reg.Save(ctx, &s); err != nil {
		t.Fatal(err)
	}
	e.pass()
	h := e.hold(fixtures.PatronGood)
	e.pass()
	m := e.message(KindRequest, h.Retrieval)
	if m.Status != StatusPending || m.Attempts != 1 || !strings.Contains(m.LastError, ncip.UnknownAgency) {
		t.Fatalf("RequestItem %+v", m)
	}
}

// TestFacilityShipsTheItem: the library's RequestItem reaches a second
// circa playing the facility, which then tells the library over TLS, with
// the client certificate the library issued to its storage profile, that
// the item is on its way: an ItemShipped naming the library's RequestId
// and its own record of the item. The retrieval is fulfilled, the
// patron's hold is in transit to its pickup library, and the report no
// longer lists the retrieval; the same message again changes nothing, and
// one sent without the certificate does not get in.
func TestFacilityShipsTheItem(t *testing.T) {
	fac, facURL, facCA, libCert, libKey := secondCirca(t)
	e := newEnv(t)
	if err := fixtures.SeedProfiles(ctx, e.reg); err != nil {
		t.Fatal(err)
	}
	libURL, libCA, annexCert, annexKey := serveNCIPOverTLS(t, e, fixtures.StorageCode)
	p := *e.reg.Current().Storage[fixtures.StorageCode]
	p.Auth.ClientCert = true
	p.Online = &profiles.StorageOnline{URL: facURL, ClientCertFile: libCert, ClientKeyFile: libKey, CAFile: facCA, PatronDetails: true}
	if err := e.reg.Save(ctx, &p); err != nil {
		t.Fatal(err)
	}
	e.pass() // the seeded journal
	h := e.hold(fixtures.PatronGood)
	e.pass()
	m := e.message(KindRequest, h.Retrieval)
	r, ok := facilityRequests(t, fac)[m.RequestID]
	if m.Status != StatusSent || !ok {
		t.Fatalf("RequestItem %+v; the facility holds %v", m, ok)
	}

	// The facility ships what it was asked for, from its own records.
	var barcode string
	if err := fac.db.View(ctx, func(tx store.Tx) error {
		it, err := tx.Item(r.ItemID)
		barcode = it.Barcode
		return err
	}); err != nil {
		t.Fatal(err)
	}
	shipped := &ncip.ItemShipped{
		Header:      &ncip.InitiationHeader{FromAgencyID: ncip.SV(fixtures.StorageAgency), ToAgencyID: ncip.SV(fixtures.LocalAgency)},
		RequestID:   &ncip.Identifier{AgencyID: ncip.SV(fixtures.LocalAgency), Value: r.ExternalID},
		ItemID:      &ncip.Identifier{AgencyID: ncip.SV(fixtures.StorageAgency), Value: barcode},
		DateShipped: seededAt.Add(time.Hour),
		Shipping: ncip.ShippingInformation{Note: "van 2", Physical: &ncip.PhysicalAddress{Unstructured: r.Pickup,
			Type: ncip.SV("Postal Address")}},
	}
	body, err := ncip.EncodeRequest(shipped, ncip.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	withoutCert, err := httpClient(&profiles.StorageOnline{CAFile: libCA})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := (&ncip.Client{URL: libURL, APIKey: fixtures.StorageKey, HTTP: withoutCert}).Send(ctx, body); err == nil {
		t.Fatalf("ItemShipped without the client certificate was answered: %s", res.Body)
	}
	if r := e.request(h.Retrieval); r.Status != store.RequestWaiting {
		t.Fatalf("retrieval after a refused ItemShipped: %+v", r)
	}
	hc, err := httpClient(&profiles.StorageOnline{CAFile: libCA, ClientCertFile: annexCert, ClientKeyFile: annexKey})
	if err != nil {
		t.Fatal(err)
	}
	library := &ncip.Client{URL: libURL, APIKey: fixtures.StorageKey, HTTP: hc}
	res, err := library.Send(ctx, body)
	if err != nil || res.Status != 200 || res.Response == nil || res.Response.Service != "ItemShipped" || res.Problem != nil {
		t.Fatalf("ItemShipped: %+v, %v", res, err)
	}
	if conformance.Have(t, "xmllint") {
		conformance.ValidateNCIP(t, body, res.Body)
	}

	if r := e.request(h.Retrieval); r.Status != store.RequestFulfilled {
		t.Fatalf("retrieval after ItemShipped: %+v", r)
	}
	hold := e.request(h.Request)
	var it store.Item
	if err := e.db.View(ctx, func(tx store.Tx) (err error) { it, err = tx.ItemByBarcode(fixtures.ItemAnnex); return err }); err != nil {
		t.Fatal(err)
	}
	if hold.Status != store.RequestInTransit || it.Status != store.ItemInTransit || it.TransitTo != hold.Pickup || it.HeldFor != hold.ID {
		t.Fatalf("after ItemShipped: hold %+v, item %+v", hold, it)
	}
	e.now.Store(new(seededAt.AddDate(0, 0, 5)))
	ms, err := e.svc.StorageReport(ctx, circ.StorageReportOptions{Facility: p.Facility, Days: 3})
	if err == nil {
		ms, err = Annotate(ctx, e.db, e.reg.Current(), p.Facility, ms)
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range ms {
		if line.Request == h.Retrieval && line.Kind != circ.MismatchNotReceived {
			t.Fatalf("report still waits for the retrieval: %+v", line)
		}
	}

	journal := func() uint64 {
		var n uint64
		if err := e.db.View(ctx, func(tx store.Tx) error { n = tx.JournalHead(); return nil }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	head := journal()
	if res, err := library.Send(ctx, body); err != nil || res.Problem != nil {
		t.Fatalf("ItemShipped again: %+v, %v", res, err)
	}
	if n := journal(); n != head {
		t.Fatalf("a repeated ItemShipped changed the store (journal %d → %d)", head, n)
	}
}
