package sip2

import (
	"net/netip"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Limit names the limit that closed a connection.
type Limit string

// The limits of a Server.
const (
	LimitConns           Limit = "max_conns"             // Options.MaxConns
	LimitUnauthPerSource Limit = "max_unauth_per_source" // Options.MaxUnauthPerSource
	LimitFiles           Limit = "open_files"            // accept found no free file descriptor
)

// refusalLogEvery is how often one limit refusing one source is logged: a
// flood must not turn into a flood of log lines.
const refusalLogEvery = 10 * time.Second

// refusalLog writes one line per limit and source per refusalLogEvery,
// with the count of refusals since the last line.
type refusalLog struct {
	log  zerolog.Logger
	mu   sync.Mutex
	seen map[refusalKey]*refusalCount
}

type refusalKey struct {
	limit Limit
	src   netip.Addr
}

type refusalCount struct {
	at      time.Time
	pending int
}

func (r *refusalLog) refused(limit Limit, value int, src netip.Addr) {
	now := time.Now()
	k := refusalKey{limit, src}
	if limit != LimitUnauthPerSource {
		k.src = netip.Addr{} // a total limit: one line for all sources, naming the latest
	}
	r.mu.Lock()
	if r.seen == nil {
		r.seen = map[refusalKey]*refusalCount{}
	}
	c := r.seen[k]
	if c == nil {
		if len(r.seen) >= 4096 { // many sources: forget those quiet for an interval
			for k, c := range r.seen {
				if now.Sub(c.at) >= refusalLogEvery {
					delete(r.seen, k)
				}
			}
		}
		c = &refusalCount{}
		r.seen[k] = c
	}
	c.pending++
	if !c.at.IsZero() && now.Sub(c.at) < refusalLogEvery {
		r.mu.Unlock()
		return
	}
	n := c.pending
	c.at, c.pending = now, 0
	r.mu.Unlock()
	ev := r.log.Warn().Str("proto", "sip2").Str("limit", string(limit))
	if value > 0 {
		ev = ev.Int("max", value)
	}
	if src.IsValid() {
		ev = ev.Str("source", sourceString(src))
	}
	msg := "connection limit reached; connections refused"
	if limit == LimitConns {
		msg = "connection limit reached; oldest connections not logged in closed, or new ones refused"
	}
	ev.Int("refused", n).Dur("interval", refusalLogEvery).Msg(msg)
}
