package tlsproxy

import (
	"crypto/tls"
	"net"
	"sync/atomic"
	"time"
)

// DefaultHandshakeTimeout bounds a TLS handshake when no timeout is given.
const DefaultHandshakeTimeout = 10 * time.Second

// NewListener wraps inner so that Accept returns server-side *tls.Conn values without running the handshake:
// Accept never waits on a slow or hostile client. Each accepted conn starts with read and write deadlines
// handshakeTimeout ahead ([DefaultHandshakeTimeout] when zero or less), so a handshake triggered by the first
// Read or Write is bounded too. The first deadline the server sets itself, directly or through [Handshake],
// replaces both, which leaves the conn with no deadline the server did not choose.
func NewListener(inner net.Listener, cfg *tls.Config, handshakeTimeout time.Duration) net.Listener {
	if handshakeTimeout <= 0 {
		handshakeTimeout = DefaultHandshakeTimeout
	}
	return &listener{Listener: inner, cfg: cfg, timeout: handshakeTimeout}
}

type listener struct {
	net.Listener
	cfg     *tls.Config
	timeout time.Duration
}

// Accept returns the next connection as a *tls.Conn whose handshake has not started.
func (l *listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if err := c.SetDeadline(time.Now().Add(l.timeout)); err != nil {
			c.Close() // already gone; not the listener's failure
			continue
		}
		return tls.Server(&firstDeadlineConn{Conn: c}, l.cfg), nil
	}
}

// firstDeadlineConn hands the deadlines over to the server: the first call that sets one clears the handshake
// deadline Accept put on both directions before applying the new one.
type firstDeadlineConn struct {
	net.Conn
	owned atomic.Bool
}

func (c *firstDeadlineConn) takeOver() {
	if c.owned.CompareAndSwap(false, true) {
		c.Conn.SetDeadline(time.Time{})
	}
}

func (c *firstDeadlineConn) SetDeadline(t time.Time) error {
	c.owned.Store(true)
	return c.Conn.SetDeadline(t)
}

func (c *firstDeadlineConn) SetReadDeadline(t time.Time) error {
	c.takeOver()
	return c.Conn.SetReadDeadline(t)
}

func (c *firstDeadlineConn) SetWriteDeadline(t time.Time) error {
	c.takeOver()
	return c.Conn.SetWriteDeadline(t)
}

// CloseWrite half-closes the TCP connection underneath, when it has one.
func (c *firstDeadlineConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// Handshake runs the TLS handshake of conn, if it is a *tls.Conn, under a deadline timeout ahead
// ([DefaultHandshakeTimeout] when zero or less), and clears the deadline when it succeeds. Servers call it first
// thing in the connection's goroutine. Other conns are returned unchanged with a nil error, so plain and TLS
// listeners can share one code path. On error the caller closes conn.
func Handshake(conn net.Conn, timeout time.Duration) error {
	tc, ok := conn.(*tls.Conn)
	if !ok {
		return nil
	}
	if timeout <= 0 {
		timeout = DefaultHandshakeTimeout
	}
	if err := tc.SetDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	if err := tc.Handshake(); err != nil {
		return err
	}
	return tc.SetDeadline(time.Time{})
}
