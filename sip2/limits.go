package sip2

import "net/netip"

// Limit names the limit that closed a connection.
type Limit string

// The limits of a Server.
const (
	LimitConns           Limit = "max_conns"             // Options.MaxConns
	LimitUnauthPerSource Limit = "max_unauth_per_source" // Options.MaxUnauthPerSource
	LimitFiles           Limit = "open_files"            // accept found no free file descriptor
)

// refusalMessage is the log line of a limit's refusals.
func refusalMessage(limit Limit) string {
	if limit == LimitConns {
		return "connection limit reached; oldest connections not logged in closed, or new ones refused"
	}
	return "connection limit reached; connections refused"
}

// refused logs a refusal at a bounded rate: per source for the per-source
// limit, one line for all sources for a total one.
func (s *Server) refused(limit Limit, value int, src netip.Addr) {
	if limit != LimitUnauthPerSource {
		src = netip.Addr{}
	}
	s.refusals.Refused(string(limit), value, src, refusalMessage(limit))
}
