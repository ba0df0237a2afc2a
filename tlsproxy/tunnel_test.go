package tlsproxy

import (
	"bufio"
	"context"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// startTunnel serves a Tunnel to o.Servers with the kiosk certificate in kiosk (nil for none).
func startTunnel(t *testing.T, pki *testPKI, kiosk *Paths, o TunnelOptions) (*Tunnel, string, func() error) {
	t.Helper()
	o.CAFile = filepath.Join(pki.dir, CACertFile)
	if kiosk != nil {
		o.CertFile, o.KeyFile = kiosk.Cert, kiosk.Key
	}
	tun, err := NewTunnel(&o)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	wait := serveInBackground(t, func() error { return tun.Serve(l) })
	t.Cleanup(func() { tun.Close() })
	return tun, l.Addr().String(), wait
}

func dialKiosk(t *testing.T, addr string) (*net.TCPConn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn), bufio.NewReader(c)
}

func TestTunnelEndToEnd(t *testing.T) {
	pki := newPKI(t)
	kiosk, err := IssueClient(pki.dir, "KIOSK-MAIN", "MAIN", filepath.Join(t.TempDir(), "kiosk"))
	if err != nil {
		t.Fatal(err)
	}
	server := startEcho(t, "127.0.0.1:0", pki.serverConfig(t, ClientCertRequired).TLSConfig())
	tun, addr, wait := startTunnel(t, pki, &kiosk, TunnelOptions{Servers: []string{server.addr}})

	c, r := dialKiosk(t, addr)
	for _, msg := range []string{"9300CNkiosk|COsecret|\r", "9900302.00\r"} {
		if got := roundTrip(t, c, r, msg); got != msg {
			t.Fatalf("echo %q, want %q", got, msg)
		}
	}
	// The kiosk's FIN becomes a TLS close at the server, and the server's close comes back as a FIN.
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	expectEOF(t, c, r)

	if err := tun.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := wait(); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	server.stop()
	if ids := server.identities(); len(ids) != 1 || ids[0].Profile != "KIOSK-MAIN" || ids[0].Institution != "MAIN" {
		t.Fatalf("server saw identities %+v", ids)
	}
}

func TestTunnelServerRestart(t *testing.T) {
	pki := newPKI(t)
	tlsCfg := pki.serverConfig(t, ClientCertNone).TLSConfig()
	server := startEcho(t, "127.0.0.1:0", tlsCfg)
	_, addr, _ := startTunnel(t, pki, nil, TunnelOptions{
		Servers: []string{server.addr}, BackoffMin: time.Millisecond, BackoffMax: 10 * time.Millisecond,
	})

	first, firstR := dialKiosk(t, addr)
	if got := roundTrip(t, first, firstR, "9900302.00\r"); got != "9900302.00\r" {
		t.Fatalf("echo %q", got)
	}

	// The server goes away: the kiosk connection tied to it ends.
	server.stop()
	expectEOF(t, first, firstR)

	// It comes back on the same address: the kiosk's next connection gets through.
	restarted := startEcho(t, server.addr, tlsCfg)
	second, secondR := dialKiosk(t, addr)
	if got := roundTrip(t, second, secondR, "9300CNkiosk|COsecret|\r"); got != "9300CNkiosk|COsecret|\r" {
		t.Fatalf("echo after restart %q", got)
	}
	restarted.stop()
}

func TestTunnelBackoffGivesUp(t *testing.T) {
	pki := newPKI(t)
	logs := newLogSink()
	_, addr, _ := startTunnel(t, pki, nil, TunnelOptions{
		Servers: []string{deadAddr(t)}, BackoffMin: time.Millisecond, BackoffMax: 4 * time.Millisecond,
		MaxAttempts: 5, Logger: zerolog.New(logs),
	})
	c, r := dialKiosk(t, addr)
	expectEOF(t, c, r)

	out := logs.String()
	if n := strings.Count(out, "upstream unreachable, retrying"); n != 4 {
		t.Fatalf("%d retries logged, want 4:\n%s", n, out)
	}
	if !strings.Contains(out, `"attempts":5`) {
		t.Fatalf("give-up after 5 attempts not logged:\n%s", out)
	}
	// The waits double from BackoffMin and stop at BackoffMax (each jittered into its upper half).
	var retries []string
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "retrying") {
			retries = append(retries, line)
		}
	}
	for i, want := range []time.Duration{time.Millisecond, 2 * time.Millisecond, 4 * time.Millisecond, 4 * time.Millisecond} {
		d := retryIn(t, retries[i])
		if d < want/2 || d > want {
			t.Errorf("retry %d waited %v, want within [%v, %v]", i+1, d, want/2, want)
		}
	}
}

// retryIn reads the retry_in field (milliseconds, zerolog's default) from a JSON log line.
func retryIn(t *testing.T, line string) time.Duration {
	t.Helper()
	_, rest, ok := strings.Cut(line, `"retry_in":`)
	if !ok {
		t.Fatalf("no retry_in in %s", line)
	}
	end := strings.IndexAny(rest, ",}")
	d, err := time.ParseDuration(rest[:end] + "ms")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestTunnelWaitsForServer(t *testing.T) {
	pki := newPKI(t)
	logs := newLogSink()
	serverAddr := deadAddr(t)
	_, addr, _ := startTunnel(t, pki, nil, TunnelOptions{
		Servers: []string{serverAddr}, BackoffMin: 20 * time.Millisecond, BackoffMax: 50 * time.Millisecond, MaxAttempts: 1000, Logger: zerolog.New(logs),
	})
	c, r := dialKiosk(t, addr)
	// The kiosk sends at once; the bytes wait in the tunnel until the server is there.
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte("9900302.00\r")); err != nil {
		t.Fatal(err)
	}
	logs.waitFor(t, "upstream unreachable, retrying")

	startEcho(t, serverAddr, pki.serverConfig(t, ClientCertNone).TLSConfig())
	line, err := r.ReadString('\r')
	if err != nil || line != "9900302.00\r" {
		t.Fatalf("answer after the server came up: %q, %v", line, err)
	}
}

func TestTunnelRefusesUnknownServer(t *testing.T) {
	pki := newPKI(t)
	impostor := newPKI(t)
	server := startEcho(t, "127.0.0.1:0", impostor.serverConfig(t, ClientCertNone).TLSConfig())
	logs := newLogSink()
	_, addr, _ := startTunnel(t, pki, nil, TunnelOptions{
		Servers: []string{server.addr}, BackoffMin: time.Millisecond, BackoffMax: time.Millisecond, MaxAttempts: 2, Logger: zerolog.New(logs),
	})
	c, r := dialKiosk(t, addr)
	expectEOF(t, c, r)
	if !strings.Contains(logs.String(), "certificate") {
		t.Fatalf("certificate failure not logged:\n%s", logs.String())
	}
}

func TestTunnelShutdownReleasesKiosks(t *testing.T) {
	pki := newPKI(t)
	server := startEcho(t, "127.0.0.1:0", pki.serverConfig(t, ClientCertNone).TLSConfig())
	tun, addr, wait := startTunnel(t, pki, nil, TunnelOptions{
		Servers: []string{server.addr}, BackoffMin: time.Hour, BackoffMax: time.Hour,
	})
	idle, idleR := dialKiosk(t, addr)
	roundTrip(t, idle, idleR, "9900302.00\r")

	if err := tun.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	expectEOF(t, idle, idleR)
	if err := wait(); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Fatal("tunnel still accepting after Shutdown")
	}
}

func TestTunnelShutdownReleasesWaitingKiosk(t *testing.T) {
	pki := newPKI(t)
	logs := newLogSink()
	tun, addr, wait := startTunnel(t, pki, nil, TunnelOptions{
		Servers: []string{deadAddr(t)}, BackoffMin: time.Hour, BackoffMax: time.Hour, Logger: zerolog.New(logs),
	})
	c, r := dialKiosk(t, addr)
	logs.waitFor(t, "upstream unreachable, retrying")
	if err := tun.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	expectEOF(t, c, r)
	if err := wait(); err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

func TestNewTunnelErrors(t *testing.T) {
	pki := newPKI(t)
	for _, o := range []TunnelOptions{
		{},
		{Servers: []string{"nohostport"}},
		{Servers: []string{"127.0.0.1:6443", ""}},
		{Servers: []string{"127.0.0.1:6443", "127.0.0.2:6443", "127.0.0.1:6443"}},
		{Servers: []string{"127.0.0.1:6443"}, CertFile: pki.server.Cert},
		{Servers: []string{"127.0.0.1:6443"}, CertFile: pki.server.Cert, KeyFile: filepath.Join(pki.dir, "missing.pem")},
		{Servers: []string{"127.0.0.1:6443"}, CAFile: pki.server.Key},
	} {
		if _, err := NewTunnel(&o); err == nil {
			t.Errorf("NewTunnel(%+v) accepted", o)
		}
	}
}

// silentServer accepts TCP connections and never answers, like a server that hangs: a TLS handshake with it
// lasts until the client's timeout.
type silentServer struct {
	addr     string
	mu       sync.Mutex
	accepted []net.Conn
}

func startSilent(t *testing.T) *silentServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &silentServer{addr: l.Addr().String()}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.accepted = append(s.accepted, c)
			s.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, c := range s.accepted {
			c.Close()
		}
	})
	return s
}

func (s *silentServer) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.accepted)
}

// connections counts the kiosk connections a server has completed a handshake with.
func (e *echoServer) connections() int { return len(e.identities()) }

func TestTunnelFailsOverToSecondServer(t *testing.T) {
	const dialTimeout = 300 * time.Millisecond
	for _, tc := range []struct {
		name  string
		first func(t *testing.T) (addr string, dialled func() int)
	}{
		{"refused", func(t *testing.T) (string, func() int) { return deadAddr(t), nil }},
		{"silent", func(t *testing.T) (string, func() int) { s := startSilent(t); return s.addr, s.count }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pki := newPKI(t)
			first, dialled := tc.first(t)
			second := startEcho(t, "127.0.0.1:0", pki.serverConfig(t, ClientCertNone).TLSConfig())
			logs := newLogSink()
			// No backoff wait fits in the test: moving to the second server must happen within one attempt.
			_, addr, _ := startTunnel(t, pki, nil, TunnelOptions{
				Servers: []string{first, second.addr}, DialTimeout: dialTimeout,
				BackoffMin: time.Hour, BackoffMax: time.Hour, Logger: zerolog.New(logs),
			})

			start := time.Now()
			c, r := dialKiosk(t, addr)
			if got := roundTrip(t, c, r, "9900302.00\r"); got != "9900302.00\r" {
				t.Fatalf("echo %q", got)
			}
			t.Logf("first server %s: the kiosk's first answer came from the second after %v (dial timeout %v)",
				tc.name, time.Since(start), dialTimeout)
			if n := second.connections(); n != 1 {
				t.Fatalf("second server saw %d connections, want 1", n)
			}
			if !strings.Contains(logs.String(), `"next":"`+second.addr+`"`) {
				t.Fatalf("move to the second server not logged:\n%s", logs.String())
			}

			// The next kiosk connection goes straight to the server that answered.
			start = time.Now()
			c2, r2 := dialKiosk(t, addr)
			if got := roundTrip(t, c2, r2, "9900302.00\r"); got != "9900302.00\r" {
				t.Fatalf("echo %q", got)
			}
			t.Logf("first server %s: the next kiosk's answer after %v", tc.name, time.Since(start))
			if n := strings.Count(logs.String(), "trying the next"); n != 1 {
				t.Fatalf("the dead server was tried again (%d moves logged):\n%s", n, logs.String())
			}
			if dialled != nil && dialled() != 1 {
				t.Fatalf("the silent server was dialled %d times, want 1", dialled())
			}
			if n := second.connections(); n != 2 {
				t.Fatalf("second server saw %d connections, want 2", n)
			}
		})
	}
}

func TestTunnelFailoverIsSticky(t *testing.T) {
	pki := newPKI(t)
	tlsCfg := pki.serverConfig(t, ClientCertNone).TLSConfig()
	a := startEcho(t, "127.0.0.1:0", tlsCfg)
	b := startEcho(t, "127.0.0.1:0", tlsCfg)
	_, addr, _ := startTunnel(t, pki, nil, TunnelOptions{
		Servers: []string{a.addr, b.addr}, BackoffMin: time.Hour, BackoffMax: time.Hour,
	})
	kiosk := func() (*net.TCPConn, *bufio.Reader) {
		t.Helper()
		c, r := dialKiosk(t, addr)
		if got := roundTrip(t, c, r, "9300CNkiosk|COsecret|\r"); got != "9300CNkiosk|COsecret|\r" {
			t.Fatalf("echo %q", got)
		}
		return c, r
	}
	expectConns := func(step string, e *echoServer, want int) {
		t.Helper()
		if got := e.connections(); got != want {
			t.Fatalf("%s: server %s saw %d connections, want %d", step, e.addr, got, want)
		}
	}

	first, firstR := kiosk()
	expectConns("both up", a, 1)
	expectConns("both up", b, 0)

	// The server in use dies: its kiosk connection ends, and the kiosk's next one goes to the other.
	a.stop()
	expectEOF(t, first, firstR)
	second, secondR := kiosk()
	expectConns("first down", b, 1)

	// The first server comes back: the tunnel stays on the one that works.
	a = startEcho(t, a.addr, tlsCfg)
	third, thirdR := kiosk()
	expectConns("first back", b, 2)
	expectConns("first back", a, 0)

	// Until that one fails in turn.
	b.stop()
	expectEOF(t, second, secondR)
	expectEOF(t, third, thirdR)
	kiosk()
	expectConns("second down", a, 1)
}

func TestTunnelAllServersDown(t *testing.T) {
	pki := newPKI(t)
	logs := newLogSink()
	first, second := deadAddr(t), deadAddr(t)
	_, addr, _ := startTunnel(t, pki, nil, TunnelOptions{
		Servers: []string{first, second}, BackoffMin: time.Millisecond, BackoffMax: 2 * time.Millisecond,
		MaxAttempts: 3, Logger: zerolog.New(logs),
	})
	c, r := dialKiosk(t, addr)
	expectEOF(t, c, r)

	// Each attempt tries both servers in list order; the backoff comes between attempts.
	out := logs.String()
	moved := `"upstream":"` + first + `","next":"` + second + `"`
	if n := strings.Count(out, moved); n != 3 {
		t.Fatalf("%d moves from the first server to the second logged, want 3:\n%s", n, out)
	}
	if n := strings.Count(out, "upstream unreachable, retrying"); n != 2 {
		t.Fatalf("%d retries logged, want 2:\n%s", n, out)
	}
	if !strings.Contains(out, `"upstream":"`+second+`","attempts":3`) {
		t.Fatalf("give-up after 3 attempts ending at the second server not logged:\n%s", out)
	}
}

func TestTunnelWaitsForAnyServer(t *testing.T) {
	pki := newPKI(t)
	logs := newLogSink()
	first, second := deadAddr(t), deadAddr(t)
	_, addr, _ := startTunnel(t, pki, nil, TunnelOptions{
		Servers: []string{first, second}, BackoffMin: 20 * time.Millisecond, BackoffMax: 50 * time.Millisecond,
		MaxAttempts: 1000, Logger: zerolog.New(logs),
	})
	c, r := dialKiosk(t, addr)
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte("9900302.00\r")); err != nil {
		t.Fatal(err)
	}
	logs.waitFor(t, "upstream unreachable, retrying")

	// Only the second server comes up; the waiting kiosk connection reaches it at the next attempt.
	startEcho(t, second, pki.serverConfig(t, ClientCertNone).TLSConfig())
	line, err := r.ReadString('\r')
	if err != nil || line != "9900302.00\r" {
		t.Fatalf("answer after the second server came up: %q, %v", line, err)
	}
}

func TestTunnelServerNamePerServer(t *testing.T) {
	pki := newPKI(t) // the server certificate names 127.0.0.1 and localhost, not 127.0.0.2
	tlsCfg := pki.serverConfig(t, ClientCertNone).TLSConfig()
	other := startEcho(t, "127.0.0.2:0", tlsCfg)
	local := startEcho(t, "127.0.0.1:0", tlsCfg)

	// Each server is checked against its own host: 127.0.0.2 fails, 127.0.0.1 passes.
	logs := newLogSink()
	_, addr, _ := startTunnel(t, pki, nil, TunnelOptions{
		Servers: []string{other.addr, local.addr}, BackoffMin: time.Hour, BackoffMax: time.Hour,
		Logger: zerolog.New(logs),
	})
	c, r := dialKiosk(t, addr)
	roundTrip(t, c, r, "9900302.00\r")
	if other.connections() != 0 || local.connections() != 1 {
		t.Fatalf("connections: %s %d, %s %d; want 0, 1", other.addr, other.connections(), local.addr, local.connections())
	}
	if !strings.Contains(logs.String(), "127.0.0.2") || !strings.Contains(logs.String(), "certificate") {
		t.Fatalf("certificate refusal of %s not logged:\n%s", other.addr, logs.String())
	}

	// --server-name names what every server's certificate must show.
	_, addr, _ = startTunnel(t, pki, nil, TunnelOptions{
		Servers: []string{other.addr, local.addr}, ServerName: "127.0.0.1", BackoffMin: time.Hour, BackoffMax: time.Hour,
	})
	c, r = dialKiosk(t, addr)
	roundTrip(t, c, r, "9900302.00\r")
	if other.connections() != 1 {
		t.Fatalf("with ServerName, %s saw %d connections, want 1", other.addr, other.connections())
	}
}

func TestTunnelTriesOthersInListOrder(t *testing.T) {
	pki := newPKI(t)
	tlsCfg := pki.serverConfig(t, ClientCertNone).TLSConfig()
	a := deadAddr(t)
	b := startEcho(t, "127.0.0.1:0", tlsCfg)
	c := startEcho(t, "127.0.0.1:0", tlsCfg)
	_, addr, _ := startTunnel(t, pki, nil, TunnelOptions{
		Servers: []string{a, b.addr, c.addr}, BackoffMin: time.Hour, BackoffMax: time.Hour,
	})
	first, firstR := dialKiosk(t, addr)
	roundTrip(t, first, firstR, "9900302.00\r")
	if n := b.connections(); n != 1 {
		t.Fatalf("second server saw %d connections, want 1", n)
	}

	// The first server comes up and the second, in use, dies: the next round starts at the second and goes on
	// from the top of the list, to the first server rather than the third.
	aServer := startEcho(t, a, tlsCfg)
	b.stop()
	expectEOF(t, first, firstR)
	second, secondR := dialKiosk(t, addr)
	roundTrip(t, second, secondR, "9900302.00\r")
	if aServer.connections() != 1 || c.connections() != 0 {
		t.Fatalf("after the second server died: first saw %d connections, third %d; want 1, 0",
			aServer.connections(), c.connections())
	}
}
