package tlsproxy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestInitCAFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	p, err := InitCA(dir, []string{"sip.example.org", "10.0.0.5"})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		name string
		mode os.FileMode
	}{{CACertFile, 0o644}, {CAKeyFile, 0o600}, {ServerCertFile, 0o644}, {ServerKeyFile, 0o600}} {
		st, err := os.Stat(filepath.Join(dir, f.name))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != f.mode {
			t.Errorf("%s mode %v, want %v", f.name, st.Mode().Perm(), f.mode)
		}
	}
	ca, _, err := loadCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	if k, ok := ca.PublicKey.(*ecdsa.PublicKey); !ok || k.Curve != elliptic.P256() {
		t.Fatalf("CA key %T, want ECDSA P-256", ca.PublicKey)
	}
	pair, err := tls.LoadX509KeyPair(p.Cert, p.Key)
	if err != nil {
		t.Fatal(err)
	}
	leaf := pair.Leaf
	if !slices.Equal(leaf.DNSNames, []string{"sip.example.org"}) || len(leaf.IPAddresses) != 1 ||
		!leaf.IPAddresses[0].Equal(net.ParseIP("10.0.0.5")) {
		t.Fatalf("server names %v %v", leaf.DNSNames, leaf.IPAddresses)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "sip.example.org", Roots: pool}); err != nil {
		t.Fatalf("server certificate does not verify for its name: %v", err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err == nil {
		t.Fatal("server certificate is usable as a client certificate")
	}
}

func TestEnsureSelfSigned(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "tls")
	p, created, err := EnsureSelfSigned(dir, nil)
	if err != nil || !created {
		t.Fatalf("first call: created=%v err=%v", created, err)
	}
	pair, err := tls.LoadX509KeyPair(p.Cert, p.Key)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(pair.Leaf.DNSNames, []string{"localhost"}) || !pair.Leaf.IPAddresses[0].Equal(net.IPv4(127, 0, 0, 1)) {
		t.Fatalf("default names %v %v", pair.Leaf.DNSNames, pair.Leaf.IPAddresses)
	}
	first, _ := os.ReadFile(p.Cert)

	if _, created, err := EnsureSelfSigned(dir, nil); err != nil || created {
		t.Fatalf("second call: created=%v err=%v", created, err)
	}
	if again, _ := os.ReadFile(p.Cert); string(again) != string(first) {
		t.Fatal("second call replaced the certificate")
	}

	// With only the CA left, a server certificate is issued from it rather than a new CA made.
	caBefore, _ := os.ReadFile(p.CACert)
	os.Remove(p.Cert)
	os.Remove(p.Key)
	if _, created, err := EnsureSelfSigned(dir, nil); err != nil || !created {
		t.Fatalf("after removing the server pair: created=%v err=%v", created, err)
	}
	if caAfter, _ := os.ReadFile(p.CACert); string(caAfter) != string(caBefore) {
		t.Fatal("a new CA was made although one existed")
	}
	sc, err := NewServerConfig(ServerOptions{CertFile: p.Cert, KeyFile: p.Key})
	if err != nil {
		t.Fatal(err)
	}
	if sc.Certificate().Subject.CommonName != "127.0.0.1" {
		t.Fatalf("CN %q", sc.Certificate().Subject.CommonName)
	}
}

func TestIssueClient(t *testing.T) {
	pki := newPKI(t)
	out := filepath.Join(t.TempDir(), "kiosks")
	p, err := IssueClient(pki.dir, "SC-EAST", "EAST", out)
	if err != nil {
		t.Fatal(err)
	}
	want := Paths{
		CACert: filepath.Join(out, CACertFile),
		Cert:   filepath.Join(out, "SC-EAST.pem"),
		Key:    filepath.Join(out, "SC-EAST-key.pem"),
	}
	if p != want {
		t.Fatalf("paths %+v, want %+v", p, want)
	}
	if st, err := os.Stat(p.Key); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", st, err)
	}
	pair, err := tls.LoadX509KeyPair(p.Cert, p.Key)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(pair.Leaf.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}) {
		t.Fatalf("ext key usage %v", pair.Leaf.ExtKeyUsage)
	}
	if len(pair.Leaf.URIs) != 1 || pair.Leaf.URIs[0].String() != "urn:circa:institution:EAST" {
		t.Fatalf("URIs %v", pair.Leaf.URIs)
	}

	for _, bad := range []string{"", "..", "a/b", `a\b`, " lead", "tab\there", "é", string(make([]byte, 65))} {
		if _, err := IssueClient(pki.dir, bad, "", out); err == nil {
			t.Errorf("profile %q accepted", bad)
		}
	}
	if _, err := IssueClient(pki.dir, "SC", "A/B", out); err == nil {
		t.Error("institution with a slash accepted")
	}
	if _, err := IssueClient(filepath.Join(t.TempDir(), "nothing"), "SC", "", out); err == nil {
		t.Error("issued without a CA")
	}
}
