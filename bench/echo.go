package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/circa-ils/circa/sip2"
)

// EchoServer is the SIP2 baseline: the same framing as a real server (one
// goroutine per connection, a bufio reader cut at CR, one Write per reply)
// and a fixed, precomputed reply of the right type and sequence number for
// every request, so the generator checks its replies exactly as it checks
// the server's. What the server under test costs above it is the price of
// doing the work.
type EchoServer struct {
	ln      net.Listener
	replies map[string]*[10][]byte
	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	wg      sync.WaitGroup
}

// echoReplies are realistic replies to each request code of the mixes.
func echoReplies() map[string]*[10][]byte {
	now := sipDate(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
	ms := map[string]*sip2.Message{
		"93": msg("94", "1"),
		"99": msg("98", "YYYYNN005003"+now+"2.00", "AO", "MAIN", "AM", "Main Library",
			"BX", "YYYYYYYYYYYNNYYY", "AN", "MAIN-CIRC", "AF", "", "AG", ""),
		"23": msg("24", "              000"+now, "AO", "MAIN", "AA", "21000000001000", "AE", "Patron",
			"BL", "Y", "CQ", "Y", "BH", "USD", "BV", "0.00"),
		"63": msg("64", "              000"+now+"000000010000000000000000", "AO", "MAIN", "AA", "21000000001000",
			"AE", "Patron", "BZ", "0025", "CA", "0000", "CB", "0025", "BL", "Y", "CQ", "Y", "BH", "USD", "BV", "0.00"),
		"17": msg("18", "030001"+now, "CF", "0", "AB", "31000000001000", "AJ", "The quiet harbor : a history of the Finger Lakes",
			"CK", "001", "AQ", "MAIN-STACKS", "AP", "MAIN-STACKS"),
		"11": msg("12", "1NNY"+now, "AO", "MAIN", "AA", "21000000001000", "AB", "31000000001000",
			"AJ", "The quiet harbor : a history of the Finger Lakes", "AH", now, "CK", "001"),
		"29": msg("30", "1YNY"+now, "AO", "MAIN", "AA", "21000000001000", "AB", "31000000001000",
			"AJ", "The quiet harbor : a history of the Finger Lakes", "AH", now, "CK", "001"),
		"09": msg("10", "1YNN"+now, "AO", "MAIN", "AB", "31000000001000", "AQ", "MAIN-STACKS",
			"AJ", "The quiet harbor : a history of the Finger Lakes", "CK", "001"),
	}
	out := map[string]*[10][]byte{}
	for code, m := range ms {
		var r [10][]byte
		for i := range r {
			m.Seq = strconv.Itoa(i)
			r[i] = append(m.AppendTo(nil, &sip2.EncodeOptions{Checksum: true}), '\r')
		}
		out[code] = &r
	}
	return out
}

// StartEcho serves the SIP2 baseline on ln until Close.
func StartEcho(ln net.Listener) *EchoServer {
	s := &EchoServer{ln: ln, replies: echoReplies(), conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.serve()
	return s
}

// Addr is the listening address.
func (s *EchoServer) Addr() string { return s.ln.Addr().String() }

func (s *EchoServer) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.conns == nil {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go s.handle(c)
	}
}

func (s *EchoServer) handle(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	r := bufio.NewReaderSize(c, 4096)
	for {
		line, err := r.ReadSlice('\r')
		if err != nil {
			return
		}
		line = bytes.TrimLeft(line, "\n")
		if _, err := c.Write(s.reply(line)); err != nil {
			return
		}
	}
}

// reply picks the fixed reply for a request: by its code, with the
// sequence number of its AY (or 0).
func (s *EchoServer) reply(req []byte) []byte {
	if len(req) < 2 {
		return []byte("96AZFEF6\r")
	}
	r, ok := s.replies[string(req[:2])]
	if !ok {
		return []byte("96AZFEF6\r")
	}
	seq := 0
	if n := len(req); n >= 10 && req[n-10] == 'A' && req[n-9] == 'Y' && req[n-8] >= '0' && req[n-8] <= '9' {
		seq = int(req[n-8] - '0')
	}
	return r[seq]
}

// Close stops the listener and every connection and waits for them.
func (s *EchoServer) Close() error {
	err := s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.conns = nil
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

// selfSignedTLS makes an in-memory ECDSA P-256 certificate for 127.0.0.1,
// the same key type the demo server uses, and the client configuration
// that trusts it.
func selfSignedTLS() (server, client *tls.Config, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "circa bench echo"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	server = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}}}
	client = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}
	return server, client, nil
}

// HTTPEcho is the NCIP baseline: Go's HTTP/1.1 server reading the whole
// body and answering with a fixed, well-formed NCIP response of the
// request's service.
type HTTPEcho struct {
	srv *http.Server
	ln  net.Listener
	wg  sync.WaitGroup
}

// StartHTTPEcho serves the NCIP baseline on ln until Close.
func StartHTTPEcho(ln net.Listener) *HTTPEcho {
	h := &HTTPEcho{ln: ln}
	h.srv = &http.Server{Handler: http.HandlerFunc(echoNCIP), ReadHeaderTimeout: 10 * time.Second}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		h.srv.Serve(ln)
	}()
	return h
}

// URL is the endpoint to POST to.
func (h *HTTPEcho) URL() string { return "http://" + h.ln.Addr().String() + "/ncip" }

// Close stops the server and waits for it.
func (h *HTTPEcho) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := h.srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = h.srv.Close()
	}
	h.wg.Wait()
	return err
}

func echoNCIP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil || r.Method != http.MethodPost {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	var reply []byte
	for _, svc := range ncipServices {
		if bytes.Contains(body, []byte(svc.name+">")) || bytes.Contains(body, []byte(svc.name+" ")) {
			reply = svc.echo
			break
		}
	}
	if reply == nil {
		http.Error(w, "unknown service", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.Write(reply)
}

// StartTLSEcho serves the SIP2 baseline over TLS on ln with a fresh
// self-signed certificate and returns the client configuration that
// trusts it.
func StartTLSEcho(ln net.Listener) (*EchoServer, *tls.Config, error) {
	server, client, err := selfSignedTLS()
	if err != nil {
		return nil, nil, err
	}
	return StartEcho(tls.NewListener(ln, server)), client, nil
}
