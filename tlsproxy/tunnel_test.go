package tlsproxy

import (
	"bufio"
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// startTunnel serves a Tunnel to server with the kiosk certificate in kiosk (nil for none).
func startTunnel(t *testing.T, pki *testPKI, kiosk *Paths, server string, o TunnelOptions) (*Tunnel, string, func() error) {
	t.Helper()
	o.Connect = server
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
	tun, addr, wait := startTunnel(t, pki, &kiosk, server.addr, TunnelOptions{})

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
	_, addr, _ := startTunnel(t, pki, nil, server.addr, TunnelOptions{BackoffMin: time.Millisecond, BackoffMax: 10 * time.Millisecond})

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
	_, addr, _ := startTunnel(t, pki, nil, deadAddr(t), TunnelOptions{
		BackoffMin: time.Millisecond, BackoffMax: 4 * time.Millisecond, MaxAttempts: 5, Logger: zerolog.New(logs),
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
	_, addr, _ := startTunnel(t, pki, nil, serverAddr, TunnelOptions{
		BackoffMin: 20 * time.Millisecond, BackoffMax: 50 * time.Millisecond, MaxAttempts: 1000, Logger: zerolog.New(logs),
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
	_, addr, _ := startTunnel(t, pki, nil, server.addr, TunnelOptions{
		BackoffMin: time.Millisecond, BackoffMax: time.Millisecond, MaxAttempts: 2, Logger: zerolog.New(logs),
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
	tun, addr, wait := startTunnel(t, pki, nil, server.addr, TunnelOptions{
		BackoffMin: time.Hour, BackoffMax: time.Hour,
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
	tun, addr, wait := startTunnel(t, pki, nil, deadAddr(t), TunnelOptions{
		BackoffMin: time.Hour, BackoffMax: time.Hour, Logger: zerolog.New(logs),
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
		{Connect: "nohostport"},
		{Connect: "127.0.0.1:6443", CertFile: pki.server.Cert},
		{Connect: "127.0.0.1:6443", CertFile: pki.server.Cert, KeyFile: filepath.Join(pki.dir, "missing.pem")},
		{Connect: "127.0.0.1:6443", CAFile: pki.server.Key},
	} {
		if _, err := NewTunnel(&o); err == nil {
			t.Errorf("NewTunnel(%+v) accepted", o)
		}
	}
}
