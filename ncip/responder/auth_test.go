package responder

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/fixtures"
	"github.com/circa-ils/circa/ncip"
	"github.com/circa-ils/circa/profiles"
	"github.com/circa-ils/circa/tlsproxy"
)

// editPartner changes the demo ILL partner's profile.
func (e *env) editPartner(fn func(p *profiles.NCIPPartner)) {
	e.t.Helper()
	p := *e.reg.Current().NCIP[fixtures.PartnerCode]
	fn(&p)
	if err := profiles.Prepare(&p); err != nil {
		e.t.Fatal(err)
	}
	if err := e.reg.Save(context.Background(), &p); err != nil {
		e.t.Fatal(err)
	}
}

func TestCallerAuthentication(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	checkout := []string{"from=" + fixtures.PartnerAgency, "item=" + fixtures.ItemAvailable, "user=" + brokerUser}
	e.unchanged("refused callers", func() {
		problem(t, "wrong key", e.call("not-the-key", "CheckOutItem", checkout...), ncip.AgencyAuthenticationFailed)
		problem(t, "no key", e.call("", "CheckOutItem", checkout...), ncip.AgencyAuthenticationFailed)
		problem(t, "another caller's key", e.call(fixtures.StorageKey, "CheckOutItem", checkout...), ncip.AgencyAuthenticationFailed)
		p := problem(t, "unknown agency", e.call(fixtures.PartnerKey, "CheckOutItem", "from=NOT-A-PARTNER", "item="+fixtures.ItemAvailable, "user=x"),
			ncip.UnknownAgency)
		if p.Type.Scheme != ncip.SchemeGeneralProcessingError {
			t.Fatalf("scheme %q", p.Type.Scheme)
		}
		problem(t, "neither agency nor key", e.call("", "LookupUser", "user="+fixtures.PatronGood), ncip.AgencyAuthenticationFailed)
		problem(t, "wrong key, no agency", e.call("wrong", "LookupUser", "user="+fixtures.PatronGood), ncip.AgencyAuthenticationFailed)
	})
	// The key alone names the partner; also as a bearer token or in the path.
	ok(t, "key only", e.call(fixtures.PartnerKey, "LookupUser", "user="+fixtures.PatronGood))
	req, _ := ncip.BuildRequest("LookupUser", []string{"user=" + fixtures.PatronGood})
	body, _ := ncip.EncodeRequest(req, ncip.WriteOptions{})
	status, out := e.post("/ncip/"+fixtures.PartnerKey, "", string(body), true)
	if status != http.StatusOK || bytes.Contains(out, []byte("Problem")) {
		t.Fatalf("path token: %d\n%s", status, out)
	}
	hr, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/ncip", bytes.NewReader(body))
	hr.Header.Set("Authorization", "Bearer "+fixtures.PartnerKey)
	resp, err := e.srv.Client().Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	resp.Body.Close()
	if bytes.Contains(buf.Bytes(), []byte("Problem")) {
		t.Fatalf("bearer token:\n%s", buf.Bytes())
	}
	if bytes.Contains(buf.Bytes(), []byte(fixtures.PartnerKey)) {
		t.Fatal("the key was echoed")
	}

	t.Run("services allowed", func(t *testing.T) {
		e.editPartner(func(p *profiles.NCIPPartner) { p.Services = []string{"LookupUser"} })
		ok(t, "allowed", e.ill("LookupUser", "user="+fixtures.PatronGood))
		e.unchanged("a service not allowed", func() {
			problem(t, "not allowed", e.ill("CheckOutItem", "item="+fixtures.ItemAvailable), ncip.UnauthorizedServiceForAgency)
		})
		e.editPartner(func(p *profiles.NCIPPartner) { p.Services = nil })
	})
	t.Run("allow-list", func(t *testing.T) {
		e.editPartner(func(p *profiles.NCIPPartner) { p.Auth.AllowIPs = profiles.AllowList{"192.0.2.0/24"} })
		problem(t, "address not allowed", e.ill("LookupUser", "user="+fixtures.PatronGood), ncip.AgencyAuthenticationFailed)
		e.editPartner(func(p *profiles.NCIPPartner) { p.Auth.AllowIPs = profiles.AllowList{"127.0.0.1"} })
		ok(t, "address allowed", e.ill("LookupUser", "user="+fixtures.PatronGood))
	})
	t.Run("shared secret", func(t *testing.T) {
		e.editPartner(func(p *profiles.NCIPPartner) { p.Auth.SharedSecret = "open sesame" })
		problem(t, "no secret", e.ill("LookupUser", "user="+fixtures.PatronGood), ncip.AgencyAuthenticationFailed)
		problem(t, "wrong secret", e.ill("LookupUser", "user="+fixtures.PatronGood, "from-auth=close sesame"), ncip.AgencyAuthenticationFailed)
		r := e.ill("LookupUser", "user="+fixtures.PatronGood, "from-auth=open sesame")
		ok(t, "right secret", r)
		if bytes.Contains(r.Body, []byte("sesame")) {
			t.Fatal("the shared secret was echoed")
		}
		e.editPartner(func(p *profiles.NCIPPartner) { p.Auth.SharedSecretHash = "" })
	})
	t.Run("inactive", func(t *testing.T) {
		e.editPartner(func(p *profiles.NCIPPartner) { p.Active = false })
		problem(t, "inactive partner", e.ill("LookupUser", "user="+fixtures.PatronGood), ncip.AgencyAuthenticationFailed)
		e.editPartner(func(p *profiles.NCIPPartner) { p.Active = true })
	})
	t.Run("compat", func(t *testing.T) {
		e.editPartner(func(p *profiles.NCIPPartner) { p.Compat = profiles.NCIPCompat{BareVersion: true, ExactProblem: true} })
		req, _ := ncip.BuildRequest("LookupUser", []string{"from=" + fixtures.PartnerAgency, "user=NOBODY"})
		b, _ := ncip.EncodeRequest(req, ncip.WriteOptions{})
		_, out := e.post("/ncip", fixtures.PartnerKey, string(b), false)
		if !bytes.Contains(out, []byte(` version="`)) || bytes.Contains(out, []byte(`ncip:version=`)) ||
			bytes.Contains(out, []byte("Scheme=")) || !bytes.Contains(out, []byte(">Unknown User<")) {
			t.Fatalf("legacy form not written:\n%s", out)
		}
		e.editPartner(func(p *profiles.NCIPPartner) {
			p.Compat = profiles.NCIPCompat{ProblemTypes: map[string]string{"Unknown User": "User Unknown"}}
		})
		_, out = e.post("/ncip", fixtures.PartnerKey, string(b), false)
		if !bytes.Contains(out, []byte(">User Unknown<")) {
			t.Fatalf("Problem type not renamed for the partner:\n%s", out)
		}
		e.editPartner(func(p *profiles.NCIPPartner) { p.Compat = profiles.NCIPCompat{} })
	})
}

// A partner that requires a client certificate is served over HTTPS only
// with one from the CA trusted for it that names it; any other request is
// refused as an authentication failure and changes nothing.
func TestClientCertificate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.editPartner(func(p *profiles.NCIPPartner) { p.Auth.ClientCert = true })
	problem(t, "plain HTTP", e.ill("LookupUser", "user="+fixtures.PatronGood), ncip.AgencyAuthenticationFailed)

	dir := t.TempDir()
	pki, err := tlsproxy.InitCA(filepath.Join(dir, "tls"), nil)
	if err != nil {
		t.Fatal(err)
	}
	issue := func(code string) tls.Certificate {
		p, err := tlsproxy.IssueClient(filepath.Join(dir, "tls"), code, "", filepath.Join(dir, "out"))
		if err != nil {
			t.Fatal(err)
		}
		c, err := tls.LoadX509KeyPair(p.Cert, p.Key)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	sc, err := tlsproxy.NewServerConfig(tlsproxy.ServerOptions{CertFile: pki.Cert, KeyFile: pki.Key,
		ClientAuth: tlsproxy.ClientCertRequest, ClientCAFile: pki.CACert})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(ncip.NewHandler(New(e.svc, e.reg.Current, WithClientCAs(sc.ClientCAs)), ncip.HandlerOptions{}))
	srv.TLS = sc.TLSConfig()
	srv.StartTLS()
	defer srv.Close()
	send := func(cert *tls.Certificate, service string, fields ...string) *ncip.Result {
		t.Helper()
		c := srv.Client()
		tr := c.Transport.(*http.Transport).Clone()
		if cert != nil {
			tr.TLSClientConfig.Certificates = []tls.Certificate{*cert}
		}
		defer tr.CloseIdleConnections()
		req, err := ncip.BuildRequest(service, append([]string{"from=" + fixtures.PartnerAgency}, fields...))
		if err != nil {
			t.Fatal(err)
		}
		cl := &ncip.Client{URL: srv.URL + "/ncip", APIKey: fixtures.PartnerKey, HTTP: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
		res, err := cl.Do(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	lookup := "user=" + fixtures.PatronGood
	ours, other := issue(fixtures.PartnerCode), issue("SOMEONE-ELSE")
	forged := selfSigned(t, fixtures.PartnerCode, "")

	ok(t, "certificate from our CA naming the partner", send(&ours, "LookupUser", lookup))
	for name, cert := range map[string]*tls.Certificate{"no certificate": nil, "self-signed, naming the partner": &forged,
		"from our CA, naming another": &other} {
		problem(t, name, send(cert, "LookupUser", lookup), ncip.AgencyAuthenticationFailed)
		e.unchanged(name, func() {
			problem(t, name, send(cert, "CheckInItem", "item="+fixtures.ItemOnLoan), ncip.AgencyAuthenticationFailed)
		})
	}

	// The partner's own CA (here its self-signed certificate) and the name it
	// carries as a DNS subject alternative name.
	theirs := selfSigned(t, "Broker Ltd", "ncip.broker.example")
	theirsFile := filepath.Join(dir, "broker-ca.pem")
	if err := os.WriteFile(theirsFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: theirs.Certificate[0]}), 0o644); err != nil {
		t.Fatal(err)
	}
	e.editPartner(func(p *profiles.NCIPPartner) {
		p.Auth.ClientCA, p.Auth.ClientCertName = theirsFile, "NCIP.broker.example"
	})
	ok(t, "the partner's own certificate", send(&theirs, "LookupUser", lookup))
	problem(t, "our CA's certificate when the partner has its own CA", send(&ours, "LookupUser", lookup), ncip.AgencyAuthenticationFailed)
	e.editPartner(func(p *profiles.NCIPPartner) { p.Auth.ClientCertName = "other.broker.example" })
	problem(t, "the partner's CA, another name", send(&theirs, "LookupUser", lookup), ncip.AgencyAuthenticationFailed)
	e.editPartner(func(p *profiles.NCIPPartner) { p.Auth.ClientCA = filepath.Join(dir, "gone.pem") })
	problem(t, "a CA file that is gone", send(&theirs, "LookupUser", lookup), ncip.TemporaryProcessingFailure)
}

// selfSigned makes a client certificate signed by its own key, naming cn
// and, when given, a DNS name.
func selfSigned(t *testing.T, cn, dns string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	if dns != "" {
		tmpl.DNSNames = []string{dns}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func TestBadInputChangesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	bomb := `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">` +
		`<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;"><!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>` +
		`<NCIPMessage xmlns="http://www.niso.org/2008/ncip" version="2.02"><CheckInItem><ItemId><ItemIdentifierValue>&lol4;</ItemIdentifierValue></ItemId></CheckInItem></NCIPMessage>`
	dtd := `<?xml version="1.0"?><!DOCTYPE NCIPMessage SYSTEM "http://www.niso.org/ncip/v1_0/imp1/dtd/ncip_v1_0.dtd" [<!ENTITY e "x">]>` +
		`<NCIPMessage version="http://www.niso.org/ncip/v1_0/imp1/dtd/ncip_v1_0.dtd"><CheckInItem><UniqueItemId><ItemIdentifierValue>` +
		fixtures.ItemOnLoan + `</ItemIdentifierValue></UniqueItemId></CheckInItem></NCIPMessage>`
	// A renewal that would be granted, in another namespace or of a version
	// that is neither NCIP 1.x nor 2.x.
	renew := `<RenewItem><UserId><UserIdentifierValue>` + fixtures.PatronGood + `</UserIdentifierValue></UserId>` +
		`<ItemId><ItemIdentifierValue>` + fixtures.ItemOnLoan + `</ItemIdentifierValue></ItemId></RenewItem>`
	foreign := `<NCIPMessage xmlns="urn:example:not-ncip" version="2.02">` + renew + `</NCIPMessage>`
	version := `<NCIPMessage xmlns="http://www.niso.org/2008/ncip" version="3.0">` + renew + `</NCIPMessage>`
	cases := []struct {
		name, body string
		status     int
	}{
		{"not XML", "this is not XML at all", http.StatusOK},
		{"truncated", `<NCIPMessage xmlns="http://www.niso.org/2008/ncip" version="2.02"><CheckInItem><ItemId>`, http.StatusOK},
		{"XML bomb", bomb, http.StatusOK},
		{"DTD with an internal subset", dtd, http.StatusOK},
		{"foreign namespace", foreign, http.StatusOK},
		{"unknown version", version, http.StatusOK},
		{"unknown service", `<NCIPMessage xmlns="http://www.niso.org/2008/ncip" version="2.02"><FlyToTheMoon/></NCIPMessage>`, http.StatusOK},
		{"unsupported service", `<NCIPMessage xmlns="http://www.niso.org/2008/ncip" version="2.02"><UpdateUser/></NCIPMessage>`, http.StatusOK},
		{"oversized", `<NCIPMessage xmlns="http://www.niso.org/2008/ncip" version="2.02"><CheckInItem><ItemId><ItemIdentifierValue>` +
			strings.Repeat("9", 70<<10) + `</ItemIdentifierValue></ItemId></CheckInItem></NCIPMessage>`, http.StatusRequestEntityTooLarge},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.unchanged(c.name, func() {
				status, out := e.post("/ncip", fixtures.PartnerKey, c.body, c.status == http.StatusOK)
				if status != c.status {
					t.Fatalf("status %d, want %d\n%s", status, c.status, out)
				}
				m, err := ncip.DecodeResponse(out, ncip.DecodeOptions{})
				if err != nil || len(m.Problems) == 0 {
					t.Fatalf("no Problem (%v):\n%s", err, out)
				}
				if bytes.Contains(out, []byte("lollol")) {
					t.Fatal("entities were expanded")
				}
			})
		})
	}
	// The renewal refused above is granted in NCIP's namespace and version.
	_, out := e.post("/ncip", fixtures.PartnerKey, `<NCIPMessage xmlns="http://www.niso.org/2008/ncip" version="2.02">`+renew+`</NCIPMessage>`, true)
	if m, err := ncip.DecodeResponse(out, ncip.DecodeOptions{}); err != nil || len(m.Problems) > 0 || m.DateDue.IsZero() {
		t.Fatalf("renewal refused (%v):\n%s", err, out)
	}
}

// TestCallerKeptFromAuthorize: a service method answers for the caller
// Authorize accepted, and a Call that did not pass through Authorize is
// identified afresh and must name the same partner.
func TestCallerKeptFromAuthorize(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := New(e.svc, e.reg.Current)
	ctx := context.Background()
	req := &ncip.LookupUser{UserRef: ncip.UserRef{UserID: ncip.ID(fixtures.PatronGood)}}
	newCall := func() *ncip.Call {
		return &ncip.Call{Service: "LookupUser", APIKey: fixtures.PartnerKey,
			Header: &ncip.InitiationHeader{FromAgencyID: ncip.SV(fixtures.PartnerAgency)}}
	}
	c := newCall()
	if err := r.Authorize(ctx, c); err != nil {
		t.Fatal(err)
	}
	if cl, ok := c.Auth.(*caller); !ok || cl.code != fixtures.PartnerCode || c.Partner != fixtures.PartnerCode {
		t.Fatalf("Authorize left %+v, partner %q", c.Auth, c.Partner)
	}
	if resp, err := r.LookupUser(ctx, c, req); err != nil || resp.Header.ToAgencyID.Value != fixtures.PartnerAgency {
		t.Fatalf("authorized call: %+v, %v", resp, err)
	}
	// Not through Authorize: looked up again.
	c = newCall()
	c.Partner = fixtures.PartnerCode
	if _, err := r.LookupUser(ctx, c, req); err != nil {
		t.Fatalf("identified call: %v", err)
	}
	// A record for another partner than the Call names is not trusted.
	c.Auth = &caller{code: fixtures.StorageCode, storage: &profiles.Storage{}}
	if _, err := r.LookupUser(ctx, c, req); err != nil {
		t.Fatalf("mismatched record: %v", err)
	}
	c.Auth, c.Partner = nil, fixtures.StorageCode
	var p *ncip.Problem
	if _, err := r.LookupUser(ctx, c, req); !errors.As(err, &p) || p.Type.Value != ncip.AgencyAuthenticationFailed {
		t.Fatalf("partner named wrongly: %v", err)
	}
}

// A patron's PIN locks after too many wrong ones, for LookupUser's
// AuthenticationInput as for every protocol: User Authentication Failed
// saying so, the right PIN too, until staff unlock it.
func TestLookupUserPINLocked(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for range circ.PINFreeFailures + 1 {
		problem(t, "wrong PIN", e.ill("LookupUser", "barcode="+fixtures.PatronGood, "pin=9999"), ncip.UserAuthenticationFailed)
	}
	for _, elements := range []string{"elements=Name Information", "elements=User Privilege"} {
		p := problem(t, "right PIN while locked", e.ill("LookupUser", "barcode="+fixtures.PatronGood, "pin="+fixtures.DemoPIN, elements),
			ncip.UserAuthenticationFailed)
		if !strings.Contains(p.Detail, "locked") || p.Element != "AuthenticationInput" {
			t.Fatalf("locked problem: %+v", p)
		}
	}
	if err := e.svc.UnlockPIN(t.Context(), fixtures.PatronGood); err != nil {
		t.Fatal(err)
	}
	ok(t, "after unlock", e.ill("LookupUser", "barcode="+fixtures.PatronGood, "pin="+fixtures.DemoPIN))
}
