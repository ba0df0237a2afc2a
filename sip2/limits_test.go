package sip2

import (
	"bufio"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/circa-ils/circa/netlimit"
)

// dialFrom connects from a given loopback source address.
func dialFrom(t *testing.T, src, addr string) *rawConn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return &rawConn{t: t, c: c, br: bufio.NewReader(c)}
}

func (ts *testServer) rejected(l Limit) int {
	return ts.obs.get(func() int { return ts.obs.byLimit[l] })
}

// open reports whether the server still answers r.
func (r *rawConn) open() bool {
	r.t.Helper()
	r.send("9910302.00\r")
	s, err := r.br.ReadString('\r')
	return err == nil && strings.HasPrefix(s, "98")
}

func TestServerUnauthPerSource(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.MaxUnauthPerSource = 3 })
	var held []*rawConn
	for range 3 {
		r := dialFrom(t, "127.0.0.2", ts.addr)
		if !r.open() {
			t.Fatal("a connection under the limit was closed")
		}
		held = append(held, r)
	}
	for range 20 {
		dialFrom(t, "127.0.0.2", ts.addr).expectClosed()
	}
	// Another source is not affected, and logged-in connections do not count.
	other := dialFrom(t, "127.0.0.3", ts.addr)
	login(t, other)
	login(t, held[0])
	r := dialFrom(t, "127.0.0.2", ts.addr)
	if !r.open() {
		t.Fatal("no room after a connection logged in")
	}
	dialFrom(t, "127.0.0.2", ts.addr).expectClosed()
	// One of the held ones leaving makes room too.
	held[1].c.Close()
	waitFor(t, func() bool {
		ts.srv.mu.Lock()
		defer ts.srv.mu.Unlock()
		return ts.srv.unauth[netlimit.Source(r.c.LocalAddr())] == 2
	})
	if !dialFrom(t, "127.0.0.2", ts.addr).open() {
		t.Fatal("no room after a connection left")
	}

	if n := ts.rejected(LimitUnauthPerSource); n != 21 {
		t.Fatalf("%d refusals observed, want 21", n)
	}
	logs := ts.log.String()
	if n := strings.Count(logs, "connections refused"); n != 1 {
		t.Fatalf("%d log lines for 21 refusals from one source, want 1:\n%s", n, logs)
	}
	if !strings.Contains(logs, `"limit":"max_unauth_per_source","max":3,"source":"127.0.0.2","refused":1`) {
		t.Fatalf("the log line does not name the limit and the source:\n%s", logs)
	}
}

func TestServerConnLimitClosesOldestNotLoggedIn(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.MaxConns = 3 })
	stranger1 := dialRaw(t, ts.addr)
	if !stranger1.open() {
		t.Fatal("closed early")
	}
	kiosk := dialRaw(t, ts.addr)
	login(t, kiosk)
	stranger2 := dialRaw(t, ts.addr)
	if !stranger2.open() {
		t.Fatal("closed early")
	}
	// Full: a new connection makes room by closing the oldest one that has
	// not logged in, never a logged-in kiosk.
	kiosk2 := dialRaw(t, ts.addr)
	login(t, kiosk2)
	stranger1.expectClosed()
	kiosk3 := dialRaw(t, ts.addr)
	login(t, kiosk3)
	stranger2.expectClosed()
	// Full of logged-in kiosks: a new connection is refused.
	dialRaw(t, ts.addr).expectClosed()
	for _, k := range []*rawConn{kiosk, kiosk2, kiosk3} {
		if !k.open() {
			t.Fatal("a logged-in kiosk was closed")
		}
	}
	if n := ts.rejected(LimitConns); n != 3 {
		t.Fatalf("%d closed by the limit, want 3", n)
	}
}

// emfileListener fails Accept with EMFILE a number of times, as accept
// does when the process has no free descriptor.
type emfileListener struct {
	net.Listener
	fails int
	calls chan time.Time
}

func (l *emfileListener) Accept() (net.Conn, error) {
	if l.fails > 0 {
		l.fails--
		l.calls <- time.Now()
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

func TestServerAcceptOutOfFiles(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	el := &emfileListener{Listener: l, fails: 30, calls: make(chan time.Time, 30)}
	ts := startServer(t, nil, el)
	// The connection waits in the backlog while accept fails; it is served
	// soon after descriptors are free again, as the server retries often
	// without spinning.
	r := dialRaw(t, ts.addr)
	start := time.Now()
	login(t, r)
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("served %v after accept failed", d)
	}
	var first, prev time.Time
	for i := range 30 {
		at := <-el.calls
		if i == 0 {
			first = at
		} else if at.Sub(prev) < 500*time.Microsecond {
			t.Fatalf("accept retried after %v: spinning", at.Sub(prev))
		}
		prev = at
	}
	if d := prev.Sub(first); d > 3*time.Second {
		t.Fatalf("30 retries took %v: the back-off is too long for a kiosk waiting to log in", d)
	}
	if n := ts.rejected(LimitFiles); n != 30 {
		t.Fatalf("%d observed, want 30", n)
	}
	if n := strings.Count(ts.log.String(), `"limit":"open_files"`); n != 1 {
		t.Fatalf("%d log lines for 30 failures, want 1:\n%s", n, ts.log.String())
	}
}
