package netlimit

import (
	"net"
	"net/netip"
	"sync"
)

// The limits of a Listener, as named in logs and metrics.
const (
	LimitConns          = "max_conns"
	LimitConnsPerSource = "max_conns_per_source"
)

// Listener caps the connections open at once, in total and per source. A
// connection over a cap is closed as soon as it is accepted, so a flood
// costs the server one descriptor for a moment per connection and never
// takes the descriptors other listeners, the database and the log need.
type Listener struct {
	net.Listener
	*counts
}

// counts are the caps and open connections one or more listeners share.
type counts struct {
	max, perSource int
	refused        func(limit string)
	log            *RefusalLog

	mu    sync.Mutex
	open  int
	bySrc map[netip.Addr]int
}

// NewListener wraps l. max caps the open connections in total and
// perSource those of one source; 0 leaves a cap off. refused, when not
// nil, is called with the limit each time one closes a connection.
func NewListener(l net.Listener, max, perSource int, log *RefusalLog, refused func(limit string)) *Listener {
	return &Listener{Listener: l, counts: &counts{max: max, perSource: perSource, log: log, refused: refused,
		bySrc: map[netip.Addr]int{}}}
}

// Share wraps another listener under the same caps: connections to either
// count against one total and one count per source, so serving the same
// peers on a second port gives them no more.
func (l *Listener) Share(inner net.Listener) *Listener {
	return &Listener{Listener: inner, counts: l.counts}
}

// Accept returns the next connection within the caps.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		nc, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		src := Source(nc.RemoteAddr())
		limit, max := l.admit(src)
		if limit == "" {
			return &conn{Conn: nc, l: l.counts, src: src}, nil
		}
		// Counted before the close, so a peer that sees its connection
		// closed finds the refusal already counted.
		if l.refused != nil {
			l.refused(limit)
		}
		if limit == LimitConns {
			src = netip.Addr{}
		}
		l.log.Refused(limit, max, src, "connection limit reached; connections refused")
		nc.Close()
	}
}

// admit counts a new connection from src, or names the cap it would pass.
func (l *counts) admit(src netip.Addr) (string, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.max > 0 && l.open >= l.max:
		return LimitConns, l.max
	case l.perSource > 0 && l.bySrc[src] >= l.perSource:
		return LimitConnsPerSource, l.perSource
	}
	l.open++
	l.bySrc[src]++
	return "", 0
}

func (l *counts) release(src netip.Addr) {
	l.mu.Lock()
	l.open--
	if l.bySrc[src]--; l.bySrc[src] <= 0 {
		delete(l.bySrc, src)
	}
	l.mu.Unlock()
}

// conn gives its place back once, on the first Close.
type conn struct {
	net.Conn
	l    *counts
	src  netip.Addr
	once sync.Once
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.src) })
	return err
}
