package sip2

import (
	"cmp"
	"crypto/tls"
	"net"
	"slices"
	"time"
)

// SessionInfo describes one logged-in connection for operators: who it is
// and how its traffic goes, never what a patron sent.
type SessionInfo struct {
	ID          uint64
	RemoteAddr  net.Addr
	TLS         bool
	Since       time.Time // when the connection was accepted
	Account     string    // the account it logged in to (its self-check profile)
	Institution string
	Messages    uint64        // messages answered
	LastCode    string        // the code of the last message answered
	LastAt      time.Time     // when it was answered
	LastTook    time.Duration // how long answering it took
	// Errors counts malformed messages and messages answered with a
	// failure response because the Session failed, panicked or does not
	// implement them. Refusals (ok=0 for a patron) are not errors.
	Errors uint64
}

// Snapshot is the server's connections at one moment.
type Snapshot struct {
	Sessions []SessionInfo // logged-in connections, oldest first
	// NotLoggedIn counts connections that have not logged in (yet); they
	// are not listed, as strangers can open any number of them.
	NotLoggedIn int
}

// connStats is what Snapshot reads of a connection; guarded by conn.mu.
// The last code is copied into an array: a substring would keep the whole
// frame, PIN included, alive for as long as the kiosk stays idle.
type connStats struct {
	since                time.Time
	account, institution string
	messages, errors     uint64
	lastCode             [2]byte
	lastAt               time.Time
	lastTook             time.Duration
}

// Snapshot returns the connections open now. It holds the server's lock
// while it copies, a few hundred nanoseconds per connection.
func (s *Server) Snapshot() Snapshot {
	var snap Snapshot
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if c.evicted {
			continue
		}
		c.mu.Lock()
		st := c.stats
		c.mu.Unlock()
		if c.unauthLinked {
			snap.NotLoggedIn++
			continue
		}
		_, isTLS := c.nc.(*tls.Conn)
		info := SessionInfo{ID: c.info.ID, RemoteAddr: c.info.RemoteAddr, TLS: isTLS, Since: st.since,
			Account: st.account, Institution: st.institution, Messages: st.messages,
			LastAt: st.lastAt, LastTook: st.lastTook, Errors: st.errors}
		if st.messages > 0 {
			info.LastCode = string(st.lastCode[:])
		}
		snap.Sessions = append(snap.Sessions, info)
	}
	slices.SortFunc(snap.Sessions, func(a, b SessionInfo) int { return cmp.Compare(a.ID, b.ID) })
	return snap
}

// noteLogin records the account a connection logged in to.
func (c *conn) noteLogin(account, institution string) {
	c.mu.Lock()
	c.stats.account, c.stats.institution = account, institution
	c.mu.Unlock()
}

// noteMessage records a message answered (or refused as malformed), and
// whether it was an error.
func (c *conn) noteMessage(code string, at time.Time, took time.Duration, failed bool) {
	c.mu.Lock()
	st := &c.stats
	st.messages++
	copy(st.lastCode[:], code)
	st.lastAt, st.lastTook = at, took
	if failed {
		st.errors++
	}
	c.mu.Unlock()
}
