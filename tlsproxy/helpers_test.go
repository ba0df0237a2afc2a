package tlsproxy

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv(memClientEnv) != "" {
		os.Exit(runMemClient())
	}
	goleak.VerifyTestMain(m)
}

// testPKI is a CA made by InitCA in a temporary directory.
type testPKI struct {
	dir    string
	server Paths
}

func newPKI(t testing.TB) *testPKI {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tls")
	p, err := InitCA(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &testPKI{dir: dir, server: p}
}

// serverConfig builds a ServerConfig over the PKI's server certificate.
func (p *testPKI) serverConfig(t testing.TB, auth ClientAuth) *ServerConfig {
	t.Helper()
	sc, err := NewServerConfig(ServerOptions{
		CertFile: p.server.Cert, KeyFile: p.server.Key, ClientAuth: auth, ClientCAFile: p.server.CACert,
	})
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// clientConfig trusts the PKI's CA, optionally presenting the client certificate at clientCert.
func (p *testPKI) clientConfig(t testing.TB, clientCert *Paths) *tls.Config {
	t.Helper()
	pem, err := os.ReadFile(filepath.Join(p.dir, CACertFile))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	cfg := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
	if clientCert != nil {
		c, err := tls.LoadX509KeyPair(clientCert.Cert, clientCert.Key)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{c}
	}
	return cfg
}

// echoServer answers every line with the same line, and on end of input half-closes and closes. With a TLS
// config it runs the handshake with Handshake and records the client identity of each connection.
type echoServer struct {
	t    testing.TB
	l    net.Listener
	addr string

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	idents []ClientIdentity
	errs   []error
	wg     sync.WaitGroup
}

func startEcho(t testing.TB, addr string, cfg *tls.Config) *echoServer {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	e := &echoServer{t: t, addr: l.Addr().String(), conns: make(map[net.Conn]struct{})}
	e.l = l
	if cfg != nil {
		e.l = NewListener(l, cfg, 5*time.Second)
	}
	e.wg.Add(1)
	go e.serve()
	t.Cleanup(e.stop)
	return e
}

func (e *echoServer) serve() {
	defer e.wg.Done()
	for {
		c, err := e.l.Accept()
		if err != nil {
			return
		}
		e.mu.Lock()
		e.conns[c] = struct{}{}
		e.mu.Unlock()
		e.wg.Add(1)
		go e.handle(c)
	}
}

func (e *echoServer) handle(c net.Conn) {
	defer e.wg.Done()
	defer func() {
		e.mu.Lock()
		delete(e.conns, c)
		e.mu.Unlock()
		c.Close()
	}()
	if err := Handshake(c, 5*time.Second); err != nil {
		e.mu.Lock()
		e.errs = append(e.errs, err)
		e.mu.Unlock()
		return
	}
	if tc, ok := c.(*tls.Conn); ok {
		st := tc.ConnectionState()
		id, _ := Identity(&st)
		e.mu.Lock()
		e.idents = append(e.idents, id)
		e.mu.Unlock()
	}
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\r')
		if len(line) > 0 {
			if _, werr := io.WriteString(c, line); werr != nil {
				return
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				closeWrite(c)
			}
			return
		}
	}
}

// stop closes the listener and every open connection and waits for the goroutines. It may be called twice.
func (e *echoServer) stop() {
	e.l.Close()
	e.mu.Lock()
	for c := range e.conns {
		c.Close()
	}
	e.mu.Unlock()
	e.wg.Wait()
}

func (e *echoServer) identities() []ClientIdentity {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]ClientIdentity(nil), e.idents...)
}

func (e *echoServer) handshakeErrors() []error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]error(nil), e.errs...)
}

// roundTrip writes msg (which ends in CR) and reads one CR-terminated line back.
func roundTrip(t testing.TB, c net.Conn, r *bufio.Reader, msg string) string {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatalf("write %q: %v", msg, err)
	}
	got, err := r.ReadString('\r')
	if err != nil {
		t.Fatalf("read answer to %q: %v (got %q)", msg, err, got)
	}
	return got
}

// expectEOF reads until the peer's end of input, failing on any data or other error.
func expectEOF(t testing.TB, c net.Conn, r *bufio.Reader) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := r.ReadByte()
	if err == nil {
		t.Fatalf("got byte %q, want end of input", b)
	}
	if !errors.Is(err, io.EOF) && !isReset(err) {
		t.Fatalf("got %v, want end of input", err)
	}
}

func isReset(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "connection reset") || errors.Is(err, net.ErrClosed))
}

// logSink collects zerolog output and hands each line to waiters.
type logSink struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	lines chan string
}

func newLogSink() *logSink { return &logSink{lines: make(chan string, 256)} }

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	s.buf.Write(p)
	s.mu.Unlock()
	select {
	case s.lines <- string(p):
	default:
	}
	return len(p), nil
}

func (s *logSink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// waitFor blocks until a log line containing want arrives.
func (s *logSink) waitFor(t testing.TB, want string) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case l := <-s.lines:
			if strings.Contains(l, want) {
				return
			}
		case <-timeout:
			t.Fatalf("no log line with %q in:\n%s", want, s.String())
		}
	}
}

// serveInBackground runs serve and returns a function that waits for it and reports its result.
func serveInBackground(t testing.TB, serve func() error) (wait func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- serve() }()
	return func() error {
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			t.Fatal("Serve did not return")
			return nil
		}
	}
}
