package tlsproxy

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// File names inside a certificate directory.
const (
	CACertFile     = "ca.pem"
	CAKeyFile      = "ca-key.pem"
	ServerCertFile = "server.pem"
	ServerKeyFile  = "server-key.pem"
)

// Validity periods of the certificates this package makes.
const (
	caValidity     = 10 * 365 * 24 * time.Hour
	leafValidity   = 825 * 24 * time.Hour
	backdate       = time.Hour // tolerate kiosk clocks a little behind the server's
	maxCodeLength  = 64
	institutionURN = "urn:circa:institution:"
)

// defaultHosts are the names a server certificate carries when none are given.
var defaultHosts = []string{"127.0.0.1", "localhost"}

// Paths names the files one certificate operation wrote.
type Paths struct {
	CACert string // the CA certificate, what clients verify against
	Cert   string // the issued certificate
	Key    string // its private key (mode 0600)
}

// InitCA creates a new CA (ECDSA P-256) in dir and a server certificate signed by it for hosts (host names or IP
// addresses; 127.0.0.1 and localhost when empty). It refuses to replace an existing CA: the error then wraps
// fs.ErrExist.
func InitCA(dir string, hosts []string) (Paths, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Paths{}, fmt.Errorf("tlsproxy: create %s: %w", dir, err)
	}
	caKeyPath := filepath.Join(dir, CAKeyFile)
	if _, err := os.Stat(caKeyPath); err == nil {
		return Paths{}, fmt.Errorf("tlsproxy: CA key %s: %w", caKeyPath, fs.ErrExist)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Paths{}, fmt.Errorf("tlsproxy: generate CA key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return Paths{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "circa CA " + serial.Text(16)[:8], Organization: []string{"circa"}},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		SubjectKeyId:          keyID(&key.PublicKey),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return Paths{}, fmt.Errorf("tlsproxy: create CA certificate: %w", err)
	}
	// The key goes first: a crash between the two writes leaves a key without a certificate, which InitCA
	// refuses to overwrite rather than silently making a second CA.
	if err := writeKey(caKeyPath, key); err != nil {
		return Paths{}, err
	}
	if err := writeCert(filepath.Join(dir, CACertFile), der); err != nil {
		return Paths{}, err
	}
	return IssueServer(dir, dir, hosts)
}

// IssueServer makes a new server certificate and key, signed by the CA in caDir, for hosts (host names or IP
// addresses; 127.0.0.1 and localhost when empty), and writes them to outDir as server.pem and server-key.pem,
// replacing any that are there. A running server picks them up on [ServerConfig.Reload].
func IssueServer(caDir, outDir string, hosts []string) (Paths, error) {
	if len(hosts) == 0 {
		hosts = defaultHosts
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: strings.TrimSpace(hosts[0])},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		h = strings.TrimSpace(h)
		if h == "" {
			return Paths{}, errors.New("tlsproxy: empty host name")
		}
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	return issue(caDir, outDir, ServerCertFile, ServerKeyFile, tmpl)
}

// IssueClient makes a client certificate for the group of kiosks that log in with self-check profile code profile at
// institution (may be empty), signed by the CA in caDir. It writes PROFILE.pem, PROFILE-key.pem and a copy of the CA
// certificate into outDir, following the convention in the package documentation.
func IssueClient(caDir, profile, institution, outDir string) (Paths, error) {
	if err := checkCode("profile", profile, true); err != nil {
		return Paths{}, err
	}
	if err := checkCode("institution", institution, false); err != nil {
		return Paths{}, err
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: profile},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if institution != "" {
		tmpl.Subject.Organization = []string{institution}
		u, err := url.Parse(institutionURN + url.PathEscape(institution))
		if err != nil {
			return Paths{}, fmt.Errorf("tlsproxy: institution %q: %w", institution, err)
		}
		tmpl.URIs = []*url.URL{u}
	}
	p, err := issue(caDir, outDir, profile+".pem", profile+"-key.pem", tmpl)
	if err != nil {
		return Paths{}, err
	}
	caPEM, err := os.ReadFile(filepath.Join(caDir, CACertFile))
	if err != nil {
		return Paths{}, fmt.Errorf("tlsproxy: read CA certificate: %w", err)
	}
	p.CACert = filepath.Join(outDir, CACertFile)
	if filepath.Clean(caDir) != filepath.Clean(outDir) {
		if err := writeFileAtomic(p.CACert, caPEM, 0o644); err != nil {
			return Paths{}, err
		}
	}
	return p, nil
}

// EnsureSelfSigned makes sure dir holds a server certificate and key, as `circa serve --demo` needs. When
// server.pem and server-key.pem exist it does nothing; when only the CA exists it issues a server certificate from
// it; otherwise it creates a CA and a server certificate with [InitCA]. The CA certificate in dir is what kiosks,
// stunnel or a [Tunnel] verify against. created reports whether anything was written.
func EnsureSelfSigned(dir string, hosts []string) (p Paths, created bool, err error) {
	p = Paths{
		CACert: filepath.Join(dir, CACertFile),
		Cert:   filepath.Join(dir, ServerCertFile),
		Key:    filepath.Join(dir, ServerKeyFile),
	}
	if exists(p.Cert) && exists(p.Key) {
		return p, false, nil
	}
	if exists(p.CACert) && exists(filepath.Join(dir, CAKeyFile)) {
		p, err = IssueServer(dir, dir, hosts)
		return p, err == nil, err
	}
	p, err = InitCA(dir, hosts)
	return p, err == nil, err
}

// issue signs tmpl with the CA in caDir under a fresh P-256 key and writes both to outDir.
func issue(caDir, outDir, certName, keyName string, tmpl *x509.Certificate) (Paths, error) {
	caCert, caKey, err := loadCA(caDir)
	if err != nil {
		return Paths{}, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Paths{}, fmt.Errorf("tlsproxy: generate key: %w", err)
	}
	if tmpl.SerialNumber, err = newSerial(); err != nil {
		return Paths{}, err
	}
	now := time.Now()
	tmpl.NotBefore = now.Add(-backdate)
	tmpl.NotAfter = now.Add(leafValidity)
	if tmpl.NotAfter.After(caCert.NotAfter) {
		tmpl.NotAfter = caCert.NotAfter
	}
	tmpl.BasicConstraintsValid = true
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return Paths{}, fmt.Errorf("tlsproxy: sign certificate: %w", err)
	}
	if err := os.MkdirAll(outDir, 0o700); err != nil {
		return Paths{}, fmt.Errorf("tlsproxy: create %s: %w", outDir, err)
	}
	p := Paths{
		CACert: filepath.Join(caDir, CACertFile),
		Cert:   filepath.Join(outDir, certName),
		Key:    filepath.Join(outDir, keyName),
	}
	// Key before certificate: a server reloading between the two writes sees a mismatched pair and keeps its
	// old certificate, and the next reload picks up the complete pair.
	if err := writeKey(p.Key, key); err != nil {
		return Paths{}, err
	}
	if err := writeCert(p.Cert, der); err != nil {
		return Paths{}, err
	}
	return p, nil
}

func loadCA(dir string) (*x509.Certificate, crypto.Signer, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, CACertFile))
	if err != nil {
		return nil, nil, fmt.Errorf("tlsproxy: read CA certificate: %w", err)
	}
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, nil, fmt.Errorf("tlsproxy: %s: no PEM certificate", filepath.Join(dir, CACertFile))
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("tlsproxy: parse CA certificate: %w", err)
	}
	if !cert.IsCA {
		return nil, nil, fmt.Errorf("tlsproxy: %s is not a CA certificate", filepath.Join(dir, CACertFile))
	}
	keyPath := filepath.Join(dir, CAKeyFile)
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, nil, fmt.Errorf("tlsproxy: read CA key: %w", err)
	}
	block, _ = pem.Decode(keyPEM)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, nil, fmt.Errorf("tlsproxy: %s: no PKCS #8 PEM private key", keyPath)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("tlsproxy: parse CA key: %w", err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, nil, fmt.Errorf("tlsproxy: %s: unsupported key type %T", keyPath, k)
	}
	if pub, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(cert.PublicKey) {
		return nil, nil, fmt.Errorf("tlsproxy: %s does not match %s", keyPath, CACertFile)
	}
	return cert, signer, nil
}

// checkCode accepts codes that are safe as file names and as certificate names: printable ASCII without path
// separators, at most 64 characters.
func checkCode(what, s string, required bool) error {
	if s == "" {
		if required {
			return fmt.Errorf("tlsproxy: %s code is required", what)
		}
		return nil
	}
	if len(s) > maxCodeLength {
		return fmt.Errorf("tlsproxy: %s code longer than %d characters", what, maxCodeLength)
	}
	if s == "." || s == ".." || strings.TrimSpace(s) != s {
		return fmt.Errorf("tlsproxy: %s code %q is not allowed", what, s)
	}
	for _, r := range s {
		if r < 0x20 || r > 0x7e || r == '/' || r == '\\' {
			return fmt.Errorf("tlsproxy: %s code %q: only printable ASCII without / or \\ is allowed", what, s)
		}
	}
	return nil
}

func newSerial() (*big.Int, error) {
	s, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("tlsproxy: serial number: %w", err)
	}
	return s.Add(s, big.NewInt(1)), nil // never zero
}

func keyID(pub *ecdsa.PublicKey) []byte {
	der, _ := x509.MarshalPKIXPublicKey(pub) // a P-256 key always marshals
	sum := sha256.Sum256(der)
	return sum[:20]
}

func writeKey(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("tlsproxy: encode key: %w", err)
	}
	return writeFileAtomic(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
}

func writeCert(path string, der []byte) error {
	return writeFileAtomic(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

// writeFileAtomic writes data to a temporary file beside path, syncs it and renames it over path.
func writeFileAtomic(path string, data []byte, mode os.FileMode) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("tlsproxy: write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err = f.Chmod(mode); err != nil {
		return fmt.Errorf("tlsproxy: write %s: %w", path, err)
	}
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("tlsproxy: write %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("tlsproxy: write %s: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("tlsproxy: write %s: %w", path, err)
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("tlsproxy: write %s: %w", path, err)
	}
	return nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
