// Package netlimit bounds what peers who have not proved who they are can
// hold of a server: it names the source a connection counts against, logs
// refusals at a bounded rate, and wraps a listener with a total and a
// per-source cap on open connections. The SIP2 server and the HTTP
// listener share it.
package netlimit

import (
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Source is the source a connection counts against: its IPv4 address, or
// the /64 of its IPv6 address, as one IPv6 host has a whole /64 to pick
// addresses from.
func Source(a net.Addr) netip.Addr {
	var ip netip.Addr
	if ta, ok := a.(*net.TCPAddr); ok {
		ip = ta.AddrPort().Addr().Unmap()
	} else if a != nil {
		ap, _ := netip.ParseAddrPort(a.String())
		ip = ap.Addr().Unmap()
	}
	if ip.Is6() {
		p, _ := ip.WithZone("").Prefix(64)
		return p.Addr()
	}
	return ip
}

// SourceString names a source in a log line.
func SourceString(src netip.Addr) string {
	if src.Is6() {
		return netip.PrefixFrom(src, 64).String()
	}
	return src.String()
}

// RefusalLogEvery is how often one limit refusing one source is logged: a
// flood must not turn into a flood of log lines.
const RefusalLogEvery = 10 * time.Second

// RefusalLog writes one line per limit and source per RefusalLogEvery,
// with the count of refusals since the last line. The zero value logs
// nothing until Log is set.
type RefusalLog struct {
	Log   zerolog.Logger
	Proto string // the proto field of each line

	mu   sync.Mutex
	seen map[refusalKey]*refusalCount
}

type refusalKey struct {
	limit string
	src   netip.Addr
}

type refusalCount struct {
	at      time.Time
	pending int
}

// Refused counts one refusal by limit (whose value is max, 0 when it has
// none) of a connection from src. An invalid src is a total limit: one line
// for all sources.
func (r *RefusalLog) Refused(limit string, max int, src netip.Addr, msg string) {
	now := time.Now()
	k := refusalKey{limit, src}
	r.mu.Lock()
	if r.seen == nil {
		r.seen = map[refusalKey]*refusalCount{}
	}
	c := r.seen[k]
	if c == nil {
		if len(r.seen) >= 4096 { // many sources: forget those quiet for an interval
			for k, c := range r.seen {
				if now.Sub(c.at) >= RefusalLogEvery {
					delete(r.seen, k)
				}
			}
		}
		c = &refusalCount{}
		r.seen[k] = c
	}
	c.pending++
	if !c.at.IsZero() && now.Sub(c.at) < RefusalLogEvery {
		r.mu.Unlock()
		return
	}
	n := c.pending
	c.at, c.pending = now, 0
	r.mu.Unlock()
	ev := r.Log.Warn().Str("proto", r.Proto).Str("limit", limit)
	if max > 0 {
		ev = ev.Int("max", max)
	}
	if src.IsValid() {
		ev = ev.Str("source", SourceString(src))
	}
	ev.Int("refused", n).Dur("interval", RefusalLogEvery).Msg(msg)
}
