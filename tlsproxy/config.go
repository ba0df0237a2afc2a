package tlsproxy

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ClientAuth says whether a listener asks kiosks for a client certificate.
type ClientAuth uint8

const (
	// ClientCertNone never asks for a client certificate.
	ClientCertNone ClientAuth = iota
	// ClientCertOptional asks for one and verifies it when given; clients without one still connect.
	ClientCertOptional
	// ClientCertRequired refuses a handshake without a certificate that verifies against the CA bundle.
	ClientCertRequired
	// ClientCertRequest asks for a certificate from any issuer and leaves it unverified, for a server that
	// verifies it per caller with [VerifyClient] once it knows who the caller claims to be (an NCIP partner
	// whose certificate comes from its own CA). The CA bundle is optional and only read for [ServerConfig.ClientCAs].
	// ParseClientAuth never returns it: a listener whose peers are trusted by certificate alone must not use it.
	ClientCertRequest
)

// String returns the name ParseClientAuth accepts.
func (a ClientAuth) String() string {
	switch a {
	case ClientCertNone:
		return "none"
	case ClientCertOptional:
		return "optional"
	case ClientCertRequired:
		return "required"
	case ClientCertRequest:
		return "request"
	}
	return fmt.Sprintf("ClientAuth(%d)", uint8(a))
}

// ParseClientAuth reads "none", "optional" or "required" (any case; empty means none), as given on the command line.
func ParseClientAuth(s string) (ClientAuth, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "none":
		return ClientCertNone, nil
	case "optional":
		return ClientCertOptional, nil
	case "required":
		return ClientCertRequired, nil
	}
	return 0, fmt.Errorf("tlsproxy: client certificates %q: want none, optional or required", s)
}

// ServerOptions names the files a [ServerConfig] reads.
type ServerOptions struct {
	CertFile     string     // PEM certificate chain, leaf first
	KeyFile      string     // PEM private key of the leaf
	ClientAuth   ClientAuth // whether kiosks present a certificate
	ClientCAFile string     // PEM bundle client certificates must chain to; required for optional and required
}

// cipherSuites are the TLS 1.2 suites offered: forward secrecy and AEAD only. TLS 1.3 suites are not configurable
// and are all AEAD.
var cipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// ServerConfig is the server side TLS policy of one listener: the current certificate, re-read from its files by
// Reload, and the client-certificate rule. It is safe for concurrent use.
type ServerConfig struct {
	opts   ServerOptions
	mu     sync.Mutex // serialises Reload
	loaded atomic.Pointer[loadedFiles]
}

// loadedFiles is one consistent reading of the files; Reload swaps in a new one.
type loadedFiles struct {
	cert    *tls.Certificate
	cas     *x509.CertPool
	caCerts []*x509.Certificate // the bundle's certificates, for their expiry
}

// NewServerConfig reads the certificate, key and (when client certificates are asked for) CA bundle. It fails when
// any of them is missing, unreadable, mismatched or expired.
func NewServerConfig(o ServerOptions) (*ServerConfig, error) {
	if o.ClientAuth > ClientCertRequest {
		return nil, fmt.Errorf("tlsproxy: unknown client certificate mode %d", o.ClientAuth)
	}
	if o.CertFile == "" || o.KeyFile == "" {
		return nil, errors.New("tlsproxy: certificate and key files are required")
	}
	if (o.ClientAuth == ClientCertOptional || o.ClientAuth == ClientCertRequired) && o.ClientCAFile == "" {
		return nil, fmt.Errorf("tlsproxy: client certificates %s need a CA bundle file", o.ClientAuth)
	}
	s := &ServerConfig{opts: o}
	if err := s.Reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// Reload re-reads the certificate, key and CA bundle. On success the next handshake uses them; connections
// already established are not touched. On any error the previous files stay in use and the error says why.
func (s *ServerConfig) Reload() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cert, err := tls.LoadX509KeyPair(s.opts.CertFile, s.opts.KeyFile)
	if err != nil {
		return fmt.Errorf("tlsproxy: load %s: %w", s.opts.CertFile, err)
	}
	if now := time.Now(); now.After(cert.Leaf.NotAfter) {
		return fmt.Errorf("tlsproxy: %s expired on %s", s.opts.CertFile, cert.Leaf.NotAfter.UTC().Format(time.DateOnly))
	}
	next := &loadedFiles{cert: &cert}
	if s.opts.ClientAuth != ClientCertNone && s.opts.ClientCAFile != "" {
		if next.cas, next.caCerts, err = readCABundle(s.opts.ClientCAFile); err != nil {
			return err
		}
	}
	s.loaded.Store(next)
	return nil
}

// ReadCAFile reads a PEM bundle of CA certificates into a pool. It fails when the file cannot be read or holds
// no certificate.
func ReadCAFile(path string) (*x509.CertPool, error) {
	pool, _, err := readCABundle(path)
	return pool, err
}

// readCABundle reads a PEM bundle of CA certificates as a pool and as the
// certificates in it, from one read of the file.
func readCABundle(path string) (*x509.CertPool, []*x509.Certificate, error) {
	bundle, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("tlsproxy: read CA bundle: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(bundle) {
		return nil, nil, fmt.Errorf("tlsproxy: %s holds no PEM certificate", path)
	}
	return pool, parseCerts(bundle), nil
}

// ClientCAs returns the client CA bundle as last loaded, or nil when the config has none.
func (s *ServerConfig) ClientCAs() *x509.CertPool {
	return s.loaded.Load().cas
}

// VerifyClient checks a client's certificate chain, leaf first as the client sent it, against roots: the leaf
// must chain to one of them through the others and be valid now for client authentication.
func VerifyClient(chain []*x509.Certificate, roots *x509.CertPool) error {
	if len(chain) == 0 {
		return errors.New("tlsproxy: no client certificate")
	}
	if roots == nil {
		return errors.New("tlsproxy: no CA to verify the client certificate against")
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	return err
}

// Certificate returns the leaf certificate currently served, e.g. to log its expiry after a reload.
func (s *ServerConfig) Certificate() *x509.Certificate {
	return s.loaded.Load().cert.Leaf
}

// ClientCACertificates returns the certificates of the client CA bundle
// currently in use (none when client certificates are not asked for), e.g.
// to watch their expiry.
func (s *ServerConfig) ClientCACertificates() []*x509.Certificate {
	return s.loaded.Load().caCerts
}

// parseCerts returns the certificates of a PEM bundle that parse, as
// x509.CertPool.AppendCertsFromPEM takes them.
func parseCerts(bundle []byte) []*x509.Certificate {
	var out []*x509.Certificate
	for len(bundle) > 0 {
		var b *pem.Block
		b, bundle = pem.Decode(bundle)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" || len(b.Headers) != 0 {
			continue
		}
		if c, err := x509.ParseCertificate(b.Bytes); err == nil {
			out = append(out, c)
		}
	}
	return out
}

// TLSConfig returns a new *tls.Config for a server: TLS 1.2 or newer, the AEAD suites above, the current
// certificate on every handshake, and the client-certificate rule. Pass it to [NewListener], [ProxyOptions] or
// http.Server.TLSConfig (adding the NextProtos it serves). After a reload that changes the CA bundle, handshakes use a copy of the returned config
// (with its fields as the caller left them) holding the new bundle.
func (s *ServerConfig) TLSConfig() *tls.Config {
	first := s.loaded.Load()
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		CipherSuites: cipherSuites,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return s.loaded.Load().cert, nil
		},
	}
	switch s.opts.ClientAuth {
	case ClientCertNone:
		return cfg
	case ClientCertRequest:
		// No ClientCAs: the CertificateRequest then names no issuer, so clients send a certificate from any CA.
		cfg.ClientAuth = tls.RequestClientCert
		return cfg
	case ClientCertOptional:
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	case ClientCertRequired:
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	cfg.ClientCAs = first.cas
	// The CA pool is a config field rather than a callback, so a reloaded bundle is applied by handing the
	// handshake a copy of this config with the new pool. Until a reload changes it, the config itself is used.
	var (
		mu      sync.Mutex
		forPool *x509.CertPool
		derived *tls.Config
	)
	cfg.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		cur := s.loaded.Load().cas
		if cur == first.cas {
			return nil, nil
		}
		mu.Lock()
		defer mu.Unlock()
		if forPool != cur {
			derived = cfg.Clone()
			derived.GetConfigForClient = nil
			derived.ClientCAs = cur
			forPool = cur
		}
		return derived, nil
	}
	return cfg
}

// ClientConfig returns a client's *tls.Config with the package's policy: TLS 1.2 or newer and the AEAD suites,
// the server verified against the CA bundle caFile (the system roots when empty), and the certificate in
// certFile and keyFile presented when given (both or neither).
func ClientConfig(caFile, certFile, keyFile string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, CipherSuites: cipherSuites}
	if (certFile == "") != (keyFile == "") {
		return nil, errors.New("tlsproxy: client certificate and key go together")
	}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("tlsproxy: load client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	if caFile != "" {
		var err error
		if cfg.RootCAs, err = ReadCAFile(caFile); err != nil {
			return nil, err
		}
	}
	return cfg, nil
}

// ClientIdentity is what a verified client certificate says about the kiosks holding it.
type ClientIdentity struct {
	Profile     string // self-check profile code (Subject CN)
	Institution string // institution code; empty when the certificate names none
	Serial      string // certificate serial number in hex, for logs
}

// Identity returns the identity named by the verified client certificate of a completed handshake, following the
// convention in the package documentation. ok is false when there is no verified certificate or it names no
// profile.
func Identity(state *tls.ConnectionState) (id ClientIdentity, ok bool) {
	if state == nil || !state.HandshakeComplete || len(state.VerifiedChains) == 0 || len(state.VerifiedChains[0]) == 0 {
		return ClientIdentity{}, false
	}
	return identityOf(state.VerifiedChains[0][0])
}

func identityOf(c *x509.Certificate) (ClientIdentity, bool) {
	id := ClientIdentity{Profile: strings.TrimSpace(c.Subject.CommonName)}
	if id.Profile == "" {
		return ClientIdentity{}, false
	}
	if c.SerialNumber != nil {
		id.Serial = hex.EncodeToString(c.SerialNumber.Bytes())
	}
	for _, u := range c.URIs {
		if inst, ok := parseInstitutionURI(u); ok {
			id.Institution = inst
			return id, true
		}
	}
	for _, o := range c.Subject.Organization {
		if o = strings.TrimSpace(o); o != "" {
			id.Institution = o
			break
		}
	}
	return id, true
}

// parseInstitutionURI reads urn:circa:institution:CODE. The URN scheme and namespace are matched without regard
// to case (RFC 8141); CODE is percent-decoded and must not be empty.
func parseInstitutionURI(u *url.URL) (string, bool) {
	if u == nil || !strings.EqualFold(u.Scheme, "urn") {
		return "", false
	}
	const prefix = "circa:institution:"
	rest := u.Opaque
	if len(rest) < len(prefix) || !strings.EqualFold(rest[:len(prefix)], prefix) {
		return "", false
	}
	code, err := url.PathUnescape(rest[len(prefix):])
	if err != nil {
		return "", false
	}
	code = strings.TrimSpace(code)
	return code, code != ""
}
