package circ

import (
	"net"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Account logins (SIP2 93) are throttled in memory, per source address and
// per account; LoginGuard holds both. The rules:
//
//   - A source (an IPv4 address, or an IPv6 /64) has 5 free failed logins
//     in a row; each further failure refuses the source for 1 s, doubling
//     to 15 minutes. A success from the source ends its run. Past the free
//     failures a source has one attempt in flight at a time, so a thousand
//     logins sent at once cost at most 5 hashes.
//   - An account has 20 free failures from all sources together; each
//     further failure locks the account for 1 minute, doubling to an hour.
//     A success does not end the account's run (a guesser would profit from
//     every kiosk login), 24 hours without a failure does.
//   - A source that logged in to the account within the last 30 days is
//     exempt from the account's lock (never from its own): a stranger can
//     lock an account against other strangers, not against the kiosks that
//     use it. A kiosk new to the account, or one whose server restarted
//     during an attack, waits for the lock or for staff's unlock.
//
// Failures are also forgotten after 24 hours without one, so the memory
// held is bounded by the sources and accounts that failed in a day (at most
// maxLoginSources sources; beyond that the oldest unlocked ones go first).
// A server behind a TLS-terminating proxy sees the proxy as the only source;
// tlsproxy's listener wrapper keeps the kiosks' own addresses.
const (
	loginSourceFree   = 5
	loginSourceFirst  = time.Second
	loginSourceMax    = 15 * time.Minute
	loginAccountFree  = 20
	loginAccountFirst = time.Minute
	loginAccountMax   = time.Hour
	loginForget       = 24 * time.Hour
	loginTrusted      = 30 * 24 * time.Hour
	maxLoginSources   = 1 << 16
	maxTrusted        = 1024 // trusted sources kept per account
)

// Reasons a login is refused before its password is checked.
const (
	LoginSourceThrottled  = "source throttled"
	LoginAccountThrottled = "account throttled"
)

// run is a run of failures and the lock it imposed.
type run struct {
	failures    int
	pending     int // attempts begun and not yet ended
	last        time.Time
	lockedUntil time.Time
	account     string // for a source: the account of its last failure
}

// admits reports whether one more attempt may start at now.
func (r *run) admits(now time.Time, free int) bool {
	if now.Before(r.lockedUntil) {
		return false
	}
	return r.failures+r.pending < free || r.pending == 0
}

func (r *run) fail(now time.Time, free int, first, max time.Duration) {
	r.failures++
	r.last = now
	if r.failures > free {
		d := first
		for i := free + 1; i < r.failures && d < max; i++ {
			d *= 2
		}
		r.lockedUntil = now.Add(min(d, max))
	}
}

// stale reports whether a run can be forgotten.
func (r *run) stale(now time.Time) bool {
	return r.pending == 0 && !now.Before(r.lockedUntil) && now.Sub(r.last) >= loginForget
}

type accountRun struct {
	run
	trusted map[string]time.Time // source → last successful login
}

// LoginGuard throttles account logins. The zero value is not usable; a
// Service has one (Service.Logins).
type LoginGuard struct {
	now      func() time.Time
	mu       sync.Mutex
	sources  map[string]*run
	accounts map[string]*accountRun
	stats    loginCounters
}

type loginCounters struct {
	wrongPassword, unknownAccount, otherFailure atomic.Uint64
	sourceThrottled, accountThrottled, busy     atomic.Uint64
}

func newLoginGuard(now func() time.Time) *LoginGuard {
	return &LoginGuard{now: now, sources: map[string]*run{}, accounts: map[string]*accountRun{}}
}

// SourceOf is the key a remote address is throttled under: the IP address,
// or for IPv6 its /64, since one host commonly holds a whole /64.
func SourceOf(addr net.Addr) string {
	var ip netip.Addr
	switch a := addr.(type) {
	case *net.TCPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	case nil:
		return ""
	default:
		if ap, err := netip.ParseAddrPort(addr.String()); err == nil {
			ip = ap.Addr()
		}
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	if !ip.IsValid() {
		return addr.String()
	}
	return ip.String()
}

// LoginAttempt is a login admitted by the guard. Exactly one of Succeed,
// Fail or Abandon ends it.
type LoginAttempt struct {
	g               *LoginGuard
	source, account string
}

// Begin admits a login from remote to account ("" for a login name that
// names no account), or returns why not: LoginSourceThrottled or
// LoginAccountThrottled. It must come before any check of the password,
// the memory of verified passwords included.
func (g *LoginGuard) Begin(account string, remote net.Addr) (*LoginAttempt, string) {
	src := SourceOf(remote)
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.source(src, now)
	if !s.admits(now, loginSourceFree) {
		g.stats.sourceThrottled.Add(1)
		return nil, LoginSourceThrottled
	}
	var a *accountRun
	if account != "" {
		a = g.account(account, now)
		if t, ok := a.trusted[src]; (!ok || now.Sub(t) > loginTrusted) && !a.admits(now, loginAccountFree) {
			g.stats.accountThrottled.Add(1)
			return nil, LoginAccountThrottled
		}
		a.pending++
	}
	s.pending++
	return &LoginAttempt{g: g, source: src, account: account}, ""
}

func (g *LoginGuard) source(src string, now time.Time) *run {
	s, ok := g.sources[src]
	if ok && s.stale(now) {
		*s = run{}
	}
	if !ok {
		if len(g.sources) >= maxLoginSources {
			g.pruneSources(now)
		}
		s = &run{}
		g.sources[src] = s
	}
	return s
}

// pruneSources makes room: stale runs go, then, if that is not enough,
// every run that neither locks nor waits (they hold at most the free
// failures).
func (g *LoginGuard) pruneSources(now time.Time) {
	for k, s := range g.sources {
		if s.stale(now) {
			delete(g.sources, k)
		}
	}
	if len(g.sources) < maxLoginSources {
		return
	}
	for k, s := range g.sources {
		if s.pending == 0 && !now.Before(s.lockedUntil) {
			delete(g.sources, k)
		}
	}
}

func (g *LoginGuard) account(code string, now time.Time) *accountRun {
	a, ok := g.accounts[code]
	if !ok {
		a = &accountRun{trusted: map[string]time.Time{}}
		g.accounts[code] = a
	} else if a.stale(now) {
		a.run = run{}
	}
	return a
}

func (at *LoginAttempt) end() (*run, *accountRun, time.Time) {
	g := at.g
	now := g.now()
	s := g.sources[at.source] // never pruned while pending
	s.pending--
	var a *accountRun
	if at.account != "" {
		a = g.accounts[at.account]
		a.pending--
	}
	return s, a, now
}

// Succeed ends an attempt whose login was accepted: the source's run ends
// and the source is trusted by the account.
func (at *LoginAttempt) Succeed() {
	at.g.mu.Lock()
	defer at.g.mu.Unlock()
	s, a, now := at.end()
	*s = run{pending: s.pending}
	if a != nil {
		if len(a.trusted) >= maxTrusted {
			var oldest string
			for k, t := range a.trusted {
				if oldest == "" || t.Before(a.trusted[oldest]) {
					oldest = k
				}
			}
			delete(a.trusted, oldest)
		}
		a.trusted[at.source] = now
	}
}

// Login failure reasons for LoginStats.
const (
	LoginWrongPassword  = "wrong_password"
	LoginUnknownAccount = "unknown_account"
	LoginOtherFailure   = "refused" // inactive account, certificate mismatch
)

// Fail ends an attempt whose login was refused, counting it against the
// source and the account.
func (at *LoginAttempt) Fail(reason string) {
	at.g.mu.Lock()
	defer at.g.mu.Unlock()
	s, a, now := at.end()
	s.fail(now, loginSourceFree, loginSourceFirst, loginSourceMax)
	s.account = at.account
	if a != nil {
		a.fail(now, loginAccountFree, loginAccountFirst, loginAccountMax)
	}
	switch reason {
	case LoginWrongPassword:
		at.g.stats.wrongPassword.Add(1)
	case LoginUnknownAccount:
		at.g.stats.unknownAccount.Add(1)
	default:
		at.g.stats.otherFailure.Add(1)
	}
}

// Abandon ends an attempt that decided nothing (the password check was
// refused as busy).
func (at *LoginAttempt) Abandon() {
	at.g.mu.Lock()
	defer at.g.mu.Unlock()
	at.end()
	at.g.stats.busy.Add(1)
}

// LoginStats counts login failures and refusals since the start.
type LoginStats struct {
	WrongPassword, UnknownAccount, OtherFailure uint64
	SourceThrottled, AccountThrottled, Busy     uint64
}

// Stats returns the login counters.
func (g *LoginGuard) Stats() LoginStats {
	c := &g.stats
	return LoginStats{WrongPassword: c.wrongPassword.Load(), UnknownAccount: c.unknownAccount.Load(),
		OtherFailure: c.otherFailure.Load(), SourceThrottled: c.sourceThrottled.Load(),
		AccountThrottled: c.accountThrottled.Load(), Busy: c.busy.Load()}
}

// SourceLock is a source's run of failed logins.
type SourceLock struct {
	Source      string    `json:"source"`
	Failures    int       `json:"failures"`
	LockedUntil time.Time `json:"locked_until,omitempty"`
}

// AccountLogins is an account's login throttle state.
type AccountLogins struct {
	Failures    int       `json:"failures"` // failed logins in a row (forgotten after a day without one)
	LockedUntil time.Time `json:"locked_until,omitempty"`
	Trusted     int       `json:"trusted_sources"` // sources exempt from the account's lock
	// Sources are the sources whose last failure named the account, with
	// a run of failures still remembered.
	Sources []SourceLock `json:"sources,omitempty"`
}

// Account returns an account's login throttle state.
func (g *LoginGuard) Account(code string) AccountLogins {
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	var st AccountLogins
	if a, ok := g.accounts[code]; ok && !a.stale(now) {
		st.Failures, st.LockedUntil = a.failures, a.lockedUntil
		for _, t := range a.trusted {
			if now.Sub(t) <= loginTrusted {
				st.Trusted++
			}
		}
	}
	for k, s := range g.sources {
		if s.account == code && s.failures > 0 && !s.stale(now) {
			st.Sources = append(st.Sources, SourceLock{Source: k, Failures: s.failures, LockedUntil: s.lockedUntil})
		}
	}
	sort.Slice(st.Sources, func(i, j int) bool { return st.Sources[i].Source < st.Sources[j].Source })
	return st
}

// Unlock ends an account's run of failures and those of the sources whose
// last failure named it. The account's trusted sources stay trusted.
func (g *LoginGuard) Unlock(code string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if a, ok := g.accounts[code]; ok {
		a.run = run{pending: a.pending}
	}
	for _, s := range g.sources {
		if s.account == code {
			*s = run{pending: s.pending}
		}
	}
}
