package circ

import (
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"
)

func tcpAddr(s string) net.Addr { return net.TCPAddrFromAddrPort(netip.MustParseAddrPort(s)) }

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

// A thousand logins sent at once from one source: five are admitted to a
// password check, the rest refused unchecked; after the free failures the
// source waits a doubling period and then has one attempt at a time.
func TestLoginSourceThrottle(t *testing.T) {
	c := &fakeClock{t: start}
	g := newLoginGuard(c.now)
	src := tcpAddr("192.0.2.7:40000")
	var admitted []*LoginAttempt
	for i := range 1000 {
		at, why := g.Begin("KIOSK", tcpAddr(fmt.Sprintf("192.0.2.7:%d", 40000+i)))
		if why == "" {
			admitted = append(admitted, at)
		} else if why != LoginSourceThrottled {
			t.Fatalf("refused for %q", why)
		}
	}
	if len(admitted) != loginSourceFree {
		t.Fatalf("%d attempts admitted at once, want %d", len(admitted), loginSourceFree)
	}
	for _, at := range admitted {
		at.Fail(LoginWrongPassword)
	}
	// The free failures are spent: the next failure locks for 1 s, then 2 s.
	for _, lock := range []time.Duration{loginSourceFirst, 2 * loginSourceFirst} {
		at, why := g.Begin("KIOSK", src)
		if why != "" {
			t.Fatalf("refused after the lock ended: %q", why)
		}
		if _, why := g.Begin("KIOSK", src); why != LoginSourceThrottled {
			t.Fatalf("second attempt in flight past the free ones: %q", why)
		}
		at.Fail(LoginWrongPassword)
		c.advance(lock - time.Millisecond)
		if _, why := g.Begin("KIOSK", src); why != LoginSourceThrottled {
			t.Fatalf("admitted within the %v lock: %q", lock, why)
		}
		c.advance(time.Millisecond)
	}
	// Another source is not affected; a success ends the source's run.
	if at, why := g.Begin("KIOSK", tcpAddr("192.0.2.8:1")); why != "" {
		t.Fatalf("other source: %q", why)
	} else {
		at.Succeed()
	}
	at, _ := g.Begin("KIOSK", src)
	at.Succeed()
	for range loginSourceFree {
		if _, why := g.Begin("KIOSK", src); why != "" {
			t.Fatalf("after a success: %q", why)
		}
	}
	st := g.Stats()
	if st.WrongPassword != 7 || st.SourceThrottled < 995 {
		t.Fatalf("stats %+v", st)
	}
}

// Failures from many sources lock the account against sources it does not
// know, never against a kiosk that logged in to it; staff's unlock ends it.
func TestLoginAccountThrottleSparesKnownKiosks(t *testing.T) {
	c := &fakeClock{t: start}
	g := newLoginGuard(c.now)
	kiosk := tcpAddr("127.0.0.2:5000")
	at, _ := g.Begin("KIOSK", kiosk)
	at.Succeed()
	for i := range loginAccountFree + 1 {
		at, why := g.Begin("KIOSK", tcpAddr(fmt.Sprintf("198.51.100.%d:1", i+1)))
		if why != "" {
			t.Fatalf("guess %d refused: %q", i, why)
		}
		at.Fail(LoginWrongPassword)
	}
	if _, why := g.Begin("KIOSK", tcpAddr("198.51.100.200:1")); why != LoginAccountThrottled {
		t.Fatalf("new source during the account lock: %q", why)
	}
	if _, why := g.Begin("OTHER", tcpAddr("198.51.100.200:1")); why != "" {
		t.Fatalf("another account: %q", why)
	}
	at, why := g.Begin("KIOSK", kiosk)
	if why != "" {
		t.Fatalf("known kiosk refused: %q", why)
	}
	at.Succeed()
	st := g.Account("KIOSK")
	if st.Failures != loginAccountFree+1 || !st.LockedUntil.Equal(c.t.Add(loginAccountFirst)) || st.Trusted != 1 || len(st.Sources) != loginAccountFree+1 {
		t.Fatalf("state %+v", st)
	}
	g.Unlock("KIOSK")
	if _, why := g.Begin("KIOSK", tcpAddr("198.51.100.200:1")); why != "" {
		t.Fatalf("after unlock: %q", why)
	}
	if st := g.Account("KIOSK"); st.Failures != 0 || len(st.Sources) != 0 || st.Trusted != 1 {
		t.Fatalf("after unlock: %+v", st)
	}
}

// A day without failures forgets a run, so memory and locks do not pile up.
func TestLoginFailuresForgotten(t *testing.T) {
	c := &fakeClock{t: start}
	g := newLoginGuard(c.now)
	src := tcpAddr("192.0.2.7:1")
	for range loginSourceFree + 3 {
		at, why := g.Begin("KIOSK", src)
		if why != "" {
			c.advance(loginSourceMax)
			at, _ = g.Begin("KIOSK", src)
		}
		at.Fail(LoginWrongPassword)
	}
	c.advance(loginForget)
	for range loginSourceFree {
		if _, why := g.Begin("KIOSK", src); why != "" {
			t.Fatalf("a day later: %q", why)
		}
	}
}

func TestSourceOf(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7:1":                 "192.0.2.7",
		"[::ffff:192.0.2.7]:1":        "192.0.2.7",
		"[2001:db8:1:2:3:4:5:6]:6443": "2001:db8:1:2::/64",
	} {
		if got := SourceOf(tcpAddr(in)); got != want {
			t.Errorf("SourceOf(%s) = %s, want %s", in, got, want)
		}
	}
}
