package netlimit

import (
	"bytes"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func TestSource(t *testing.T) {
	src := func(s string) string {
		return SourceString(Source(net.TCPAddrFromAddrPort(netip.MustParseAddrPort(s))))
	}
	for in, want := range map[string]string{
		"192.0.2.7:6001":              "192.0.2.7",
		"[::ffff:192.0.2.7]:6001":     "192.0.2.7",
		"[2001:db8:1:2:a:b:c:d]:6001": "2001:db8:1:2::/64",
		"[2001:db8:1:2::ffff]:40000":  "2001:db8:1:2::/64",
		"[2001:db8:1:3::1]:6001":      "2001:db8:1:3::/64",
		"[fe80::1%eth0]:6001":         "fe80::/64",
		"[::1]:6001":                  "::/64",
	} {
		if got := src(in); got != want {
			t.Errorf("%s counts as %s, want %s", in, got, want)
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestListenerCaps: over real loopback sockets from several source
// addresses, a connection over the per-source or the total cap is closed at
// once, the others are served, and a closed connection gives its place back.
func TestListenerCaps(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	var mu sync.Mutex
	refused := map[string]int{}
	l := NewListener(inner, 5, 3, &RefusalLog{Log: zerolog.New(&logs), Proto: "http"}, func(limit string) {
		mu.Lock()
		refused[limit]++
		mu.Unlock()
	})
	defer l.Close()
	served := make(chan net.Conn, 64)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			served <- c
		}
	}()
	dial := func(src string) net.Conn {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 2 * time.Second}
		c, err := d.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// closedAtOnce reports whether the server closed c without serving it.
	closedAtOnce := func(c net.Conn) bool {
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, err := c.Read(make([]byte, 1))
		return err == io.EOF
	}
	accepted := func(n int) []net.Conn {
		t.Helper()
		var out []net.Conn
		for range n {
			select {
			case c := <-served:
				out = append(out, c)
			case <-time.After(2 * time.Second):
				t.Fatalf("only %d of %d connections served", len(out), n)
			}
		}
		return out
	}

	for range 3 {
		dial("127.0.0.2")
	}
	first := accepted(3)
	if c := dial("127.0.0.2"); !closedAtOnce(c) {
		t.Fatal("a fourth connection from one source was kept")
	}
	dial("127.0.0.3")
	dial("127.0.0.4")
	accepted(2)
	if c := dial("127.0.0.5"); !closedAtOnce(c) {
		t.Fatal("a sixth connection in all was kept")
	}
	// A place given back is taken by the next connection, once only even
	// if the connection is closed twice.
	first[0].Close()
	first[0].Close()
	dial("127.0.0.2")
	accepted(1)
	if c := dial("127.0.0.6"); !closedAtOnce(c) {
		t.Fatal("a double Close gave back two places")
	}
	mu.Lock()
	defer mu.Unlock()
	if refused[LimitConnsPerSource] != 1 || refused[LimitConns] != 2 {
		t.Fatalf("refusals %v", refused)
	}
	if n := strings.Count(logs.String(), `"limit":"max_conns"`); n != 1 {
		t.Fatalf("%d log lines for two refusals by the total cap within an interval, want 1:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), `"source":"127.0.0.2"`) {
		t.Fatalf("the per-source refusal does not name its source:\n%s", logs.String())
	}
}

// TestSharedCaps: two listeners sharing caps count one source's
// connections to both together, and a place given back on one is free on
// the other.
func TestSharedCaps(t *testing.T) {
	listen := func() net.Listener {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	plainInner, tlsInner := listen(), listen()
	plain := NewListener(plainInner, 0, 2, &RefusalLog{}, nil)
	second := plain.Share(tlsInner)
	defer plain.Close()
	defer second.Close()
	served := make(chan net.Conn, 8)
	for _, l := range []*Listener{plain, second} {
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				served <- c
			}
		}()
	}
	dial := func(addr string) net.Conn {
		t.Helper()
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	take := func() net.Conn {
		t.Helper()
		select {
		case c := <-served:
			return c
		case <-time.After(2 * time.Second):
			t.Fatal("connection not served")
		}
		return nil
	}
	dial(plainInner.Addr().String())
	first := take()
	dial(tlsInner.Addr().String())
	take()
	c := dial(tlsInner.Addr().String())
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("a third connection from one source across both listeners was kept: %v", err)
	}
	first.Close()
	dial(tlsInner.Addr().String())
	take()
}
