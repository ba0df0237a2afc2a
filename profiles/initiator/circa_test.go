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

	"github.com/circa-ils/circa/fixtures"
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
	fac = newEnv(t)
	p := profiles.NewNCIPPartner(libraryPartner)
	p.AgencyIDs, p.LocalAgency, p.Library = []string{fixtures.LocalAgency}, fixtures.StorageAgency, fixtures.LibraryMain
	p.Auth.ClientCert = true
	p.Services = []string{"RequestItem", "CancelRequestItem"}
	if err := fac.reg.Save(ctx, p); err != nil {
		t.Fatal(err)
	}
	caDir, out := t.TempDir(), t.TempDir()
	srvPaths, err := tlsproxy.InitCA(caDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	client, err := tlsproxy.IssueClient(caDir, libraryPartner, "", out)
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
	srv := &http.Server{Handler: ncip.NewHandler(responder.New(fac.svc, fac.reg.Current), ncip.HandlerOptions{}),
		ErrorLog: log.New(io.Discard, "", 0)} // refused handshakes are expected
	go srv.Serve(tls.NewListener(ln, cfg.TLSConfig()))
	t.Cleanup(func() { srv.Close() })
	return fac, "https://" + ln.Addr().String() + "/ncip", client.CACert, client.Cert, client.Key
}

// facilityRequests returns the facility circa's requests placed by the
// library, by their RequestId.
func facilityRequests(t *testing.T, fac *env) map[string]store.Request {
	t.Helper()
	out := map[string]store.Request{}
	err := fac.db.View(ctx, func(tx *store.Tx) error {
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
	if err := fac.db.View(ctx, func(tx *store.Tx) (err error) { pt, err = tx.PatronByBarcode(fixtures.PatronGood); return err }); err != nil || pt.ID != r.PatronID {
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
