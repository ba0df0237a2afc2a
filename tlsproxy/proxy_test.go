package tlsproxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// gatedUpstream is a plaintext line echo server whose answers to checkout requests ("11…") wait until release is
// closed, standing in for a SIP2 server busy with a message. With holdAfterEOF it keeps a connection open after the
// client's end of input, as a server that ignores half-closes would.
type gatedUpstream struct {
	l            net.Listener
	received     chan string // each gated request, on arrival
	release      chan struct{}
	holdAfterEOF bool
	stopped      chan struct{}

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func startGated(t *testing.T, holdAfterEOF bool) *gatedUpstream {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &gatedUpstream{
		l: l, received: make(chan string, 16), release: make(chan struct{}), holdAfterEOF: holdAfterEOF,
		stopped: make(chan struct{}), conns: make(map[net.Conn]struct{}),
	}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			g.mu.Lock()
			g.conns[c] = struct{}{}
			g.mu.Unlock()
			g.wg.Add(1)
			go g.handle(c)
		}
	}()
	t.Cleanup(func() {
		close(g.stopped)
		l.Close()
		g.mu.Lock()
		for c := range g.conns {
			c.Close()
		}
		g.mu.Unlock()
		g.wg.Wait()
	})
	return g
}

func (g *gatedUpstream) handle(c net.Conn) {
	defer g.wg.Done()
	defer c.Close()
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\r')
		if err != nil {
			if g.holdAfterEOF {
				<-g.stopped
			}
			return
		}
		if strings.HasPrefix(line, "11") {
			g.received <- line
			select {
			case <-g.release:
			case <-g.stopped:
				return
			}
		}
		if _, err := io.WriteString(c, line); err != nil {
			return
		}
	}
}

// startProxy serves a Proxy with the PKI's server certificate in front of upstream.
func startProxy(t *testing.T, pki *testPKI, auth ClientAuth, upstream string, o ProxyOptions) (*Proxy, string, func() error) {
	t.Helper()
	o.Upstream = upstream
	o.TLSConfig = pki.serverConfig(t, auth).TLSConfig()
	p, err := NewProxy(&o)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	wait := serveInBackground(t, func() error { return p.Serve(l) })
	t.Cleanup(func() { p.Close() })
	return p, l.Addr().String(), wait
}

func TestProxyEndToEnd(t *testing.T) {
	pki := newPKI(t)
	kiosk, err := IssueClient(pki.dir, "KIOSK-MAIN", "MAIN", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	upstream := startEcho(t, "127.0.0.1:0", nil)
	logs := newLogSink()
	p, addr, wait := startProxy(t, pki, ClientCertRequired, upstream.addr,
		ProxyOptions{Logger: zerolog.New(logs).Level(zerolog.DebugLevel)})

	c, err := dialTLS(t, addr, pki.clientConfig(t, &kiosk))
	if err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	for _, msg := range []string{"9300CNkiosk|COsecret|CPMAIN|\r", "6300120261127    101010Y         AOMAIN|AA2000001XQ|ADPIN4321XQ|\r"} {
		if got := roundTrip(t, c, r, msg); got != msg {
			t.Fatalf("echo %q, want %q", got, msg)
		}
	}
	// The client's end of input reaches the upstream, whose close comes back.
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	expectEOF(t, c, r)

	// A client without a certificate never reaches the upstream.
	if bad, err := dialTLS(t, addr, pki.clientConfig(t, nil)); err == nil {
		if _, err := bufio.NewReader(bad).ReadByte(); err == nil {
			t.Fatal("client without a certificate was relayed")
		}
	}

	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := wait(); err != nil {
		t.Fatalf("Serve after Shutdown: %v", err)
	}
	out := logs.String()
	if !strings.Contains(out, `"profile":"KIOSK-MAIN"`) {
		t.Errorf("log does not name the client certificate's profile:\n%s", out)
	}
	for _, secret := range []string{"COsecret", "PIN4321XQ", "2000001XQ"} {
		if strings.Contains(out, secret) {
			t.Errorf("relayed data %q reached the log:\n%s", secret, out)
		}
	}
}

func TestProxyShutdownDrainsBusyAndReleasesIdle(t *testing.T) {
	pki := newPKI(t)
	upstream := startGated(t, false)
	p, addr, wait := startProxy(t, pki, ClientCertNone, upstream.l.Addr().String(), ProxyOptions{})
	ccfg := pki.clientConfig(t, nil)

	idle, err := dialTLS(t, addr, ccfg)
	if err != nil {
		t.Fatal(err)
	}
	idleR := bufio.NewReader(idle)
	roundTrip(t, idle, idleR, "9900302.00\r")

	busy, err := dialTLS(t, addr, ccfg)
	if err != nil {
		t.Fatal(err)
	}
	busyR := bufio.NewReader(busy)
	const checkout = "11YN20261127    101010                  AOMAIN|AA2000001|AB3000001|AC|\r"
	busy.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(busy, checkout); err != nil {
		t.Fatal(err)
	}
	<-upstream.received

	// A client still in its handshake.
	handshaking, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer handshaking.Close()

	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shut <- p.Shutdown(ctx)
	}()
	// The idle and the handshaking client are let go while the busy one is still waiting for its answer.
	expectEOF(t, idle, idleR)
	handshaking.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadAll(handshaking); err != nil && !isReset(err) {
		t.Fatalf("handshaking client: %v", err)
	}
	// New connections are refused.
	if c, err := tls.Dial("tcp", addr, ccfg); err == nil {
		c.Close()
		t.Fatal("connected after Shutdown began")
	}

	close(upstream.release)
	line, err := busyR.ReadString('\r')
	if err != nil || line != checkout {
		t.Fatalf("busy client got %q, %v; want its answer", line, err)
	}
	expectEOF(t, busy, busyR)
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := wait(); err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

func TestProxyShutdownDeadlineClosesEverything(t *testing.T) {
	pki := newPKI(t)
	upstream := startGated(t, true)
	p, addr, wait := startProxy(t, pki, ClientCertNone, upstream.l.Addr().String(), ProxyOptions{})
	c, err := dialTLS(t, addr, pki.clientConfig(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	roundTrip(t, c, r, "9900302.00\r")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown with an upstream that never closes: %v, want context.Canceled", err)
	}
	expectEOF(t, c, r)
	if err := wait(); err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

func TestProxyUpstreamDownClosesClient(t *testing.T) {
	pki := newPKI(t)
	logs := newLogSink()
	_, addr, _ := startProxy(t, pki, ClientCertNone, deadAddr(t), ProxyOptions{
		BackoffMin: time.Millisecond, BackoffMax: 2 * time.Millisecond, MaxAttempts: 3, Logger: zerolog.New(logs),
	})
	c, err := dialTLS(t, addr, pki.clientConfig(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	expectEOF(t, c, bufio.NewReader(c))
	if n := strings.Count(logs.String(), "upstream unreachable, retrying"); n != 2 {
		t.Fatalf("%d retries logged, want 2:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "giving up") {
		t.Fatalf("no give-up logged:\n%s", logs.String())
	}
}

func TestNewProxyErrors(t *testing.T) {
	cfg := &tls.Config{}
	for _, o := range []ProxyOptions{{TLSConfig: cfg}, {Upstream: "127.0.0.1:6001"}, {Upstream: "nohostport", TLSConfig: cfg}} {
		if _, err := NewProxy(&o); err == nil {
			t.Errorf("NewProxy(%+v) accepted", o)
		}
	}
}

// deadAddr returns a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestProxyIdleTimeout(t *testing.T) {
	pki := newPKI(t)
	upstream := startEcho(t, "127.0.0.1:0", nil)
	_, addr, _ := startProxy(t, pki, ClientCertNone, upstream.addr, ProxyOptions{IdleTimeout: 50 * time.Millisecond})
	c, err := dialTLS(t, addr, pki.clientConfig(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	roundTrip(t, c, r, "9900302.00\r")
	// Nothing moves either way: the proxy lets go of both sides.
	expectEOF(t, c, r)
}

// failingListener fails its first Accept calls with an error that is not net.ErrClosed.
type failingListener struct {
	net.Listener
	mu    sync.Mutex
	fails int
}

func (l *failingListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	if l.fails > 0 {
		l.fails--
		l.mu.Unlock()
		return nil, errors.New("accept: too many open files")
	}
	l.mu.Unlock()
	return l.Listener.Accept()
}

func TestServeSurvivesAcceptErrors(t *testing.T) {
	pki := newPKI(t)
	server := startEcho(t, "127.0.0.1:0", pki.serverConfig(t, ClientCertNone).TLSConfig())
	logs := newLogSink()
	tun, err := NewTunnel(&TunnelOptions{
		Servers: []string{server.addr}, CAFile: filepath.Join(pki.dir, CACertFile), Logger: zerolog.New(logs),
	})
	if err != nil {
		t.Fatal(err)
	}
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	wait := serveInBackground(t, func() error { return tun.Serve(&failingListener{Listener: inner, fails: 3}) })
	c, err := net.Dial("tcp", inner.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := roundTrip(t, c, bufio.NewReader(c), "9900302.00\r"); got != "9900302.00\r" {
		t.Fatalf("echo %q", got)
	}
	if n := strings.Count(logs.String(), "accept failed"); n != 3 {
		t.Fatalf("%d accept failures logged, want 3:\n%s", n, logs.String())
	}
	if err := tun.Close(); err != nil {
		t.Fatal(err)
	}
	if err := wait(); err != nil {
		t.Fatalf("Serve after Close: %v", err)
	}
}

func TestServeAfterCloseReturnsAtOnce(t *testing.T) {
	pki := newPKI(t)
	p, err := NewProxy(&ProxyOptions{Upstream: "127.0.0.1:1", TLSConfig: pki.serverConfig(t, ClientCertNone).TLSConfig()})
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Serve(l); err != nil {
		t.Fatalf("Serve after Close: %v", err)
	}
	if _, err := net.Dial("tcp", l.Addr().String()); err == nil {
		t.Fatal("listener left open")
	}
}
