package tlsproxy

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// dialTLS connects to addr and completes the handshake.
func dialTLS(t testing.TB, addr string, cfg *tls.Config) (*tls.Conn, error) {
	t.Helper()
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Close() })
	return c, nil
}

func servedSerial(t *testing.T, addr string, cfg *tls.Config) *big.Int {
	t.Helper()
	c, err := dialTLS(t, addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber
}

func TestReloadKeepsOpenConnectionsAndServesNewCertificate(t *testing.T) {
	pki := newPKI(t)
	sc := pki.serverConfig(t, ClientCertNone)
	echo := startEcho(t, "127.0.0.1:0", sc.TLSConfig())
	ccfg := pki.clientConfig(t, nil)

	open, err := dialTLS(t, echo.addr, ccfg)
	if err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(open)
	if got := roundTrip(t, open, r, "9900302.00\r"); got != "9900302.00\r" {
		t.Fatalf("echo = %q", got)
	}
	oldSerial := open.ConnectionState().PeerCertificates[0].SerialNumber

	if _, err := IssueServer(pki.dir, pki.dir, []string{"127.0.0.1", "localhost"}); err != nil {
		t.Fatal(err)
	}
	if err := sc.Reload(); err != nil {
		t.Fatal(err)
	}
	if sc.Certificate().SerialNumber.Cmp(oldSerial) == 0 {
		t.Fatal("Certificate() still reports the old certificate after Reload")
	}

	// The connection made before the reload carries on.
	if got := roundTrip(t, open, r, "9300CNkiosk|COsecret|\r"); got != "9300CNkiosk|COsecret|\r" {
		t.Fatalf("echo after reload = %q", got)
	}
	// The next client gets the new certificate.
	if got := servedSerial(t, echo.addr, ccfg); got.Cmp(sc.Certificate().SerialNumber) != 0 || got.Cmp(oldSerial) == 0 {
		t.Fatalf("served serial %x, want the new %x", got, sc.Certificate().SerialNumber)
	}
}

func TestBadReloadKeepsOldCertificate(t *testing.T) {
	pki := newPKI(t)
	sc := pki.serverConfig(t, ClientCertNone)
	echo := startEcho(t, "127.0.0.1:0", sc.TLSConfig())
	ccfg := pki.clientConfig(t, nil)
	before := servedSerial(t, echo.addr, ccfg)

	goodCert, err := os.ReadFile(pki.server.Cert)
	if err != nil {
		t.Fatal(err)
	}
	// A key from another issue does not match the certificate.
	other, err := IssueServer(pki.dir, filepath.Join(t.TempDir(), "other"), nil)
	if err != nil {
		t.Fatal(err)
	}
	otherKey, err := os.ReadFile(other.Key)
	if err != nil {
		t.Fatal(err)
	}
	goodKey, err := os.ReadFile(pki.server.Key)
	if err != nil {
		t.Fatal(err)
	}
	expiredCert, expiredKey := expiredPair(t, pki.dir)
	cases := []struct {
		name       string
		cert, key  []byte
		removeCert bool
	}{
		{name: "expired certificate", cert: expiredCert, key: expiredKey},
		{name: "garbage certificate", cert: []byte("-----BEGIN CERTIFICATE-----\nnot base64\n"), key: goodKey},
		{name: "empty key", cert: goodCert, key: nil},
		{name: "mismatched key", cert: goodCert, key: otherKey},
		{name: "missing certificate", removeCert: true, key: goodKey},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.removeCert {
				if err := os.Remove(pki.server.Cert); err != nil {
					t.Fatal(err)
				}
			} else if err := os.WriteFile(pki.server.Cert, tc.cert, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(pki.server.Key, tc.key, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := sc.Reload(); err == nil {
				t.Fatal("Reload accepted a bad pair")
			}
			if got := servedSerial(t, echo.addr, ccfg); got.Cmp(before) != 0 {
				t.Fatalf("served %x after a failed reload, want the old %x", got, before)
			}
		})
	}
}

func TestTLS11Refused(t *testing.T) {
	pki := newPKI(t)
	sc := pki.serverConfig(t, ClientCertNone)
	echo := startEcho(t, "127.0.0.1:0", sc.TLSConfig())
	ccfg := pki.clientConfig(t, nil)
	ccfg.MinVersion = tls.VersionTLS10
	ccfg.MaxVersion = tls.VersionTLS11
	if c, err := dialTLS(t, echo.addr, ccfg); err == nil {
		t.Fatalf("TLS 1.1 handshake succeeded with version %x", c.ConnectionState().Version)
	}
	echo.stop()
	if errs := echo.handshakeErrors(); len(errs) != 1 {
		t.Fatalf("server handshake errors = %v, want one", errs)
	}

	// TLS 1.2 with the policy's suites works.
	echo2 := startEcho(t, "127.0.0.1:0", sc.TLSConfig())
	ccfg.MaxVersion = tls.VersionTLS12
	c, err := dialTLS(t, echo2.addr, ccfg)
	if err != nil {
		t.Fatal(err)
	}
	if v := c.ConnectionState().Version; v != tls.VersionTLS12 {
		t.Fatalf("version %x, want TLS 1.2", v)
	}
}

func TestClientCertificates(t *testing.T) {
	pki := newPKI(t)
	kioskDir := filepath.Join(t.TempDir(), "kiosk")
	kiosk, err := IssueClient(pki.dir, "KIOSK-MAIN", "MAIN", kioskDir)
	if err != nil {
		t.Fatal(err)
	}
	stranger := newPKI(t)
	strangerCert, err := IssueClient(stranger.dir, "KIOSK-MAIN", "MAIN", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}

	t.Run("required", func(t *testing.T) {
		echo := startEcho(t, "127.0.0.1:0", pki.serverConfig(t, ClientCertRequired).TLSConfig())
		// Without a certificate: refused. TLS 1.3 clients learn it on their first read.
		if c, err := dialTLS(t, echo.addr, pki.clientConfig(t, nil)); err == nil {
			if _, err := bufio.NewReader(c).ReadByte(); err == nil {
				t.Fatal("connection without a client certificate was served")
			}
		}
		// With a certificate from another CA: refused.
		if c, err := dialTLS(t, echo.addr, pki.clientConfig(t, &strangerCert)); err == nil {
			if _, err := bufio.NewReader(c).ReadByte(); err == nil {
				t.Fatal("connection with a foreign client certificate was served")
			}
		}
		// With the issued one: served, identity extracted.
		c, err := dialTLS(t, echo.addr, pki.clientConfig(t, &kiosk))
		if err != nil {
			t.Fatal(err)
		}
		if got := roundTrip(t, c, bufio.NewReader(c), "9900302.00\r"); got != "9900302.00\r" {
			t.Fatalf("echo = %q", got)
		}
		echo.stop()
		ids := echo.identities()
		if len(ids) != 1 || ids[0].Profile != "KIOSK-MAIN" || ids[0].Institution != "MAIN" || ids[0].Serial == "" {
			t.Fatalf("identities = %+v, want one KIOSK-MAIN at MAIN", ids)
		}
		if n := len(echo.handshakeErrors()); n != 2 {
			t.Fatalf("%d refused handshakes, want 2", n)
		}
	})

	t.Run("optional", func(t *testing.T) {
		echo := startEcho(t, "127.0.0.1:0", pki.serverConfig(t, ClientCertOptional).TLSConfig())
		for _, cc := range []*Paths{nil, &kiosk} {
			c, err := dialTLS(t, echo.addr, pki.clientConfig(t, cc))
			if err != nil {
				t.Fatal(err)
			}
			if got := roundTrip(t, c, bufio.NewReader(c), "9900302.00\r"); got != "9900302.00\r" {
				t.Fatalf("echo = %q", got)
			}
		}
		echo.stop()
		ids := echo.identities()
		if len(ids) != 2 || ids[0] != (ClientIdentity{}) || ids[1].Profile != "KIOSK-MAIN" {
			t.Fatalf("identities = %+v, want none then KIOSK-MAIN", ids)
		}
	})

	t.Run("reloaded CA bundle", func(t *testing.T) {
		sc := pki.serverConfig(t, ClientCertRequired)
		echo := startEcho(t, "127.0.0.1:0", sc.TLSConfig())
		if c, err := dialTLS(t, echo.addr, pki.clientConfig(t, &strangerCert)); err == nil {
			if _, err := bufio.NewReader(c).ReadByte(); err == nil {
				t.Fatal("foreign client certificate served before the bundle names its CA")
			}
		}
		// Add the other CA to the bundle and reload: its kiosks get in, ours still do.
		ours, _ := os.ReadFile(filepath.Join(pki.dir, CACertFile))
		theirs, _ := os.ReadFile(filepath.Join(stranger.dir, CACertFile))
		bundle := filepath.Join(t.TempDir(), "bundle.pem")
		if err := os.WriteFile(bundle, append(ours, theirs...), 0o644); err != nil {
			t.Fatal(err)
		}
		sc.opts.ClientCAFile = bundle
		if err := sc.Reload(); err != nil {
			t.Fatal(err)
		}
		for _, cc := range []*Paths{&strangerCert, &kiosk} {
			c, err := dialTLS(t, echo.addr, pki.clientConfig(t, cc))
			if err != nil {
				t.Fatal(err)
			}
			if got := roundTrip(t, c, bufio.NewReader(c), "9900302.00\r"); got != "9900302.00\r" {
				t.Fatalf("echo = %q", got)
			}
		}
	})
}

func TestNewServerConfigErrors(t *testing.T) {
	pki := newPKI(t)
	cases := []struct {
		name string
		o    ServerOptions
	}{
		{"no files", ServerOptions{}},
		{"missing key", ServerOptions{CertFile: pki.server.Cert, KeyFile: filepath.Join(pki.dir, "nope.pem")}},
		{"required without CA", ServerOptions{CertFile: pki.server.Cert, KeyFile: pki.server.Key, ClientAuth: ClientCertRequired}},
		{"CA bundle without certificates", ServerOptions{CertFile: pki.server.Cert, KeyFile: pki.server.Key,
			ClientAuth: ClientCertOptional, ClientCAFile: pki.server.Key}},
		{"unknown mode", ServerOptions{CertFile: pki.server.Cert, KeyFile: pki.server.Key, ClientAuth: 7}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewServerConfig(tc.o); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestParseClientAuth(t *testing.T) {
	for in, want := range map[string]ClientAuth{
		"": ClientCertNone, "none": ClientCertNone, "Optional": ClientCertOptional, " REQUIRED ": ClientCertRequired,
	} {
		got, err := ParseClientAuth(in)
		if err != nil || got != want {
			t.Errorf("ParseClientAuth(%q) = %v, %v; want %v", in, got, err, want)
		}
		if back, _ := ParseClientAuth(got.String()); back != got {
			t.Errorf("%v does not round-trip through String", got)
		}
	}
	if _, err := ParseClientAuth("sometimes"); err == nil {
		t.Error("ParseClientAuth accepted an unknown mode")
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestIdentityConvention(t *testing.T) {
	cases := []struct {
		name   string
		cert   x509.Certificate
		want   ClientIdentity
		wantOK bool
	}{
		{"URN institution", x509.Certificate{Subject: pkix.Name{CommonName: "SC1", Organization: []string{"IGNORED"}},
			URIs: []*url.URL{mustURL(t, "https://example.org/"), mustURL(t, "urn:circa:institution:MAIN")}},
			ClientIdentity{Profile: "SC1", Institution: "MAIN"}, true},
		{"URN case-insensitive and percent-encoded", x509.Certificate{Subject: pkix.Name{CommonName: "SC1"},
			URIs: []*url.URL{mustURL(t, "URN:Circa:Institution:Main%20Branch")}},
			ClientIdentity{Profile: "SC1", Institution: "Main Branch"}, true},
		{"organization fallback", x509.Certificate{Subject: pkix.Name{CommonName: " SC2 ", Organization: []string{"", "BRANCH"}}},
			ClientIdentity{Profile: "SC2", Institution: "BRANCH"}, true},
		{"empty URN code falls back", x509.Certificate{Subject: pkix.Name{CommonName: "SC3", Organization: []string{"ORG"}},
			URIs: []*url.URL{mustURL(t, "urn:circa:institution:")}},
			ClientIdentity{Profile: "SC3", Institution: "ORG"}, true},
		{"no institution", x509.Certificate{Subject: pkix.Name{CommonName: "SC4"}},
			ClientIdentity{Profile: "SC4"}, true},
		{"no profile", x509.Certificate{Subject: pkix.Name{Organization: []string{"MAIN"}}}, ClientIdentity{}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := &tls.ConnectionState{HandshakeComplete: true, VerifiedChains: [][]*x509.Certificate{{&tc.cert}}}
			got, ok := Identity(st)
			if ok != tc.wantOK || got != tc.want {
				t.Fatalf("Identity = %+v, %v; want %+v, %v", got, ok, tc.want, tc.wantOK)
			}
		})
	}
	// A peer certificate that was not verified names nobody.
	cert := &x509.Certificate{Subject: pkix.Name{CommonName: "SC1"}}
	for _, st := range []*tls.ConnectionState{
		nil,
		{HandshakeComplete: true, PeerCertificates: []*x509.Certificate{cert}},
		{HandshakeComplete: false, VerifiedChains: [][]*x509.Certificate{{cert}}},
	} {
		if id, ok := Identity(st); ok {
			t.Errorf("Identity(%+v) = %+v, want none", st, id)
		}
	}
}

func TestIdentityRoundTripsIssuedCertificate(t *testing.T) {
	pki := newPKI(t)
	for _, inst := range []string{"MAIN", "Main Branch", "a%b:c", ""} {
		p, err := IssueClient(pki.dir, "SC-1", inst, t.TempDir())
		if err != nil {
			t.Fatalf("institution %q: %v", inst, err)
		}
		pair, err := tls.LoadX509KeyPair(p.Cert, p.Key)
		if err != nil {
			t.Fatal(err)
		}
		id, ok := identityOf(pair.Leaf)
		if !ok || id.Profile != "SC-1" || id.Institution != inst {
			t.Errorf("institution %q: identity %+v, %v", inst, id, ok)
		}
	}
}

func FuzzInstitutionURI(f *testing.F) {
	for _, s := range []string{
		"urn:circa:institution:MAIN", "URN:CIRCA:INSTITUTION:Main%20Branch", "urn:circa:institution:",
		"urn:circa:institution:%zz", "urn:isbn:0451450523", "https://example.org/x", "urn:circa:institution:a/b?c#d",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := url.Parse(s)
		if err != nil {
			return
		}
		code, ok := parseInstitutionURI(u)
		if !ok {
			return
		}
		if code == "" {
			t.Fatalf("%q: accepted an empty code", s)
		}
		// What IssueClient would write for this code reads back as the same code.
		again, err := url.Parse(institutionURN + url.PathEscape(code))
		if err != nil {
			t.Fatalf("%q: re-encoded form does not parse: %v", s, err)
		}
		if back, ok := parseInstitutionURI(again); !ok || back != code {
			t.Fatalf("%q: code %q came back as %q, %v", s, code, back, ok)
		}
	})
}

func TestInitCARefusesExistingCA(t *testing.T) {
	pki := newPKI(t)
	if _, err := InitCA(pki.dir, nil); !errors.Is(err, os.ErrExist) {
		t.Fatalf("second InitCA: %v, want an fs.ErrExist error", err)
	}
}

// expiredPair returns PEM certificate and key files, signed by the CA in caDir, that expired yesterday.
func expiredPair(t *testing.T, caDir string) (certPEM, keyPEM []byte) {
	t.Helper()
	ca, caKey, err := loadCA(caDir)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(42),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-48 * time.Hour),
		NotAfter:     time.Now().Add(-24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}

// A listener in ClientCertRequest mode takes a certificate from any issuer
// without judging it; VerifyClient then tells the right issuer from others.
func TestRequestedClientCertificates(t *testing.T) {
	pki := newPKI(t)
	ours, err := IssueClient(pki.dir, "BROKER", "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	stranger := newPKI(t)
	theirs, err := IssueClient(stranger.dir, "BROKER", "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sc, err := NewServerConfig(ServerOptions{CertFile: pki.server.Cert, KeyFile: pki.server.Key,
		ClientAuth: ClientCertRequest, ClientCAFile: pki.server.CACert})
	if err != nil {
		t.Fatal(err)
	}
	if sc.ClientCAs() == nil {
		t.Fatal("the CA bundle was not loaded")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := NewListener(l, sc.TLSConfig(), 5*time.Second)
	defer ln.Close()
	peers := make(chan []*x509.Certificate, 1)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if err := Handshake(c, 5*time.Second); err != nil {
				peers <- nil
			} else {
				st := c.(*tls.Conn).ConnectionState()
				if len(st.VerifiedChains) > 0 {
					t.Error("a requested certificate was verified in the handshake")
				}
				peers <- st.PeerCertificates
				c.Write([]byte{1})
			}
			c.Close()
		}
	}()
	present := func(cc *Paths) []*x509.Certificate {
		c, err := dialTLS(t, l.Addr().String(), pki.clientConfig(t, cc))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := bufio.NewReader(c).ReadByte(); err != nil {
			t.Fatal(err)
		}
		return <-peers
	}
	if got := present(nil); len(got) != 0 {
		t.Fatalf("%d certificates from a client without one", len(got))
	}
	if err := VerifyClient(nil, sc.ClientCAs()); err == nil {
		t.Fatal("no certificate verified")
	}
	mine := present(&ours)
	if err := VerifyClient(mine, sc.ClientCAs()); err != nil {
		t.Fatalf("our own client certificate: %v", err)
	}
	foreign := present(&theirs)
	if len(foreign) == 0 {
		t.Fatal("a certificate from another CA was not sent: the request named an issuer")
	}
	if err := VerifyClient(foreign, sc.ClientCAs()); err == nil {
		t.Fatal("a certificate from another CA verified against ours")
	}
	theirCA, err := ReadCAFile(filepath.Join(stranger.dir, CACertFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyClient(foreign, theirCA); err != nil {
		t.Fatalf("against its own CA: %v", err)
	}
	// A server certificate is not a client certificate, whoever issued it.
	srv, err := tls.LoadX509KeyPair(pki.server.Cert, pki.server.Key)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyClient([]*x509.Certificate{srv.Leaf}, sc.ClientCAs()); err == nil {
		t.Fatal("a server certificate verified as a client's")
	}
	if err := VerifyClient(mine, nil); err == nil {
		t.Fatal("verified without a CA")
	}
}

func TestClientConfig(t *testing.T) {
	pki := newPKI(t)
	kiosk, err := IssueClient(pki.dir, "KIOSK-MAIN", "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ClientConfig(pki.server.CACert, kiosk.Cert, kiosk.Key)
	if err != nil || cfg.RootCAs == nil || len(cfg.Certificates) != 1 || cfg.MinVersion != tls.VersionTLS12 {
		t.Fatalf("ClientConfig = %+v, %v", cfg, err)
	}
	for name, files := range map[string][3]string{
		"certificate without key": {"", kiosk.Cert, ""},
		"key without certificate": {"", "", kiosk.Key},
		"CA file with no PEM":     {kiosk.Key, "", ""},
		"missing CA file":         {filepath.Join(pki.dir, "nope.pem"), "", ""},
	} {
		if _, err := ClientConfig(files[0], files[1], files[2]); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// BenchmarkVerifyClient is what checking a partner's certificate costs per
// request: one chain verification against a one-CA bundle.
func BenchmarkVerifyClient(b *testing.B) {
	pki := newPKI(b)
	p, err := IssueClient(pki.dir, "BROKER", "", b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(p.Cert, p.Key)
	if err != nil {
		b.Fatal(err)
	}
	roots, err := ReadCAFile(pki.server.CACert)
	if err != nil {
		b.Fatal(err)
	}
	chain := []*x509.Certificate{cert.Leaf}
	for b.Loop() {
		if err := VerifyClient(chain, roots); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadCAFile is what reading a partner's own CA file costs per
// request.
func BenchmarkReadCAFile(b *testing.B) {
	pki := newPKI(b)
	for b.Loop() {
		if _, err := ReadCAFile(pki.server.CACert); err != nil {
			b.Fatal(err)
		}
	}
}

// ClientCAs are the bundle's certificates as last loaded: none without
// client certificates, and after a reload the new bundle's, a key or
// other block in it skipped as the pool skips it.
func TestClientCAsFollowReload(t *testing.T) {
	pki := newPKI(t)
	if got := pki.serverConfig(t, ClientCertNone).ClientCACertificates(); len(got) != 0 {
		t.Fatalf("without client certificates: %d CAs", len(got))
	}
	sc := pki.serverConfig(t, ClientCertOptional)
	first := sc.ClientCACertificates()
	if len(first) != 1 || !first[0].IsCA {
		t.Fatalf("CAs %v", first)
	}
	other, err := InitCA(filepath.Join(t.TempDir(), "other"), nil)
	if err != nil {
		t.Fatal(err)
	}
	var bundle []byte
	for _, f := range []string{pki.server.CACert, filepath.Join(pki.dir, CAKeyFile), other.CACert} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		bundle = append(bundle, b...)
	}
	if err := os.WriteFile(pki.server.CACert, bundle, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := sc.Reload(); err != nil {
		t.Fatal(err)
	}
	got := sc.ClientCACertificates()
	if len(got) != 2 || !got[0].Equal(first[0]) || got[1].Equal(first[0]) {
		t.Fatalf("after the reload: %d CAs", len(got))
	}
}
