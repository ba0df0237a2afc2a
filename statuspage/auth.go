package statuspage

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/store"
)

// Staff sign in with a form; the server keeps the sign-in in memory and
// gives the browser a random token in a cookie (HttpOnly, SameSite=Strict,
// Secure over HTTPS). A password is checked once per sign-in, not on every
// refresh of the page, so the page costs no hashing while it is open.
const (
	cookieName     = "circa_status"
	sessionIdle    = time.Hour      // signed out after this long without a page view
	sessionMaxAge  = 12 * time.Hour // and this long after signing in, whatever happens
	maxSessions    = 1024           // the oldest sign-in goes first beyond this
	maxLoginBody   = 4 << 10
	tokenBytes     = 32
	sessionCheckup = time.Minute // expired sign-ins are swept this often at most
)

// signIn is one signed-in browser.
type signIn struct {
	name        string
	passwordSet time.Time // the account's, at sign-in: a new password ends the sign-in
	created     time.Time
	seen        time.Time
}

// signIns are the signed-in browsers, by the SHA-256 of their token, so
// that the tokens themselves are not kept.
type signIns struct {
	mu    sync.Mutex
	by    map[[sha256.Size]byte]*signIn
	swept time.Time
}

func tokenKey(token string) [sha256.Size]byte { return sha256.Sum256([]byte(token)) }

// add records a sign-in and returns its token.
func (s *signIns) add(name string, passwordSet, now time.Time) (string, error) {
	raw := make([]byte, tokenBytes)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	token := base64.RawURLEncoding.EncodeToString(raw)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.by == nil {
		s.by = map[[sha256.Size]byte]*signIn{}
	}
	s.sweepLocked(now, true)
	if len(s.by) >= maxSessions {
		var oldest [sha256.Size]byte
		var at time.Time
		for k, si := range s.by {
			if at.IsZero() || si.seen.Before(at) {
				oldest, at = k, si.seen
			}
		}
		delete(s.by, oldest)
	}
	s.by[tokenKey(token)] = &signIn{name: name, passwordSet: passwordSet, created: now, seen: now}
	return token, nil
}

// lookup returns the sign-in of a token, marking it seen, or false when
// there is none or it expired.
func (s *signIns) lookup(token string, now time.Time) (signIn, bool) {
	if len(token) != base64.RawURLEncoding.EncodedLen(tokenBytes) {
		return signIn{}, false
	}
	k := tokenKey(token)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepLocked(now, false)
	si, ok := s.by[k]
	if !ok {
		return signIn{}, false
	}
	if expired(si, now) {
		delete(s.by, k)
		return signIn{}, false
	}
	si.seen = now
	return *si, true
}

func (s *signIns) remove(token string) {
	s.mu.Lock()
	delete(s.by, tokenKey(token))
	s.mu.Unlock()
}

func expired(si *signIn, now time.Time) bool {
	return now.Sub(si.seen) > sessionIdle || now.Sub(si.created) > sessionMaxAge
}

// sweepLocked drops expired sign-ins, at most once per sessionCheckup
// unless forced.
func (s *signIns) sweepLocked(now time.Time, force bool) {
	if !force && now.Sub(s.swept) < sessionCheckup {
		return
	}
	s.swept = now
	for k, si := range s.by {
		if expired(si, now) {
			delete(s.by, k)
		}
	}
}

// Outcomes of a sign-in, each with the page's answer.
var (
	errWrongLogin  = errors.New("wrong name or password")
	errThrottled   = errors.New("too many failed sign-ins: wait a while and try again")
	errBusy        = errors.New("the server is busy checking passwords: try again in a moment")
	errNeedsSecure = errors.New("staff sign in over HTTPS, or over plain HTTP only from this machine")
)

// authenticate checks a name and password under the login throttle: the
// throttle is asked before anything is looked up or hashed, and each
// failure counts against the source and the account.
func (h *Handler) authenticate(ctx context.Context, name, password string, remote net.Addr) (store.StaffAccount, error) {
	var acct store.StaffAccount
	known := false
	if CheckName(name) == nil {
		err := h.o.DB.View(ctx, func(tx store.Tx) error {
			var err error
			acct, err = tx.Staff(name)
			return err
		})
		switch {
		case err == nil:
			known = true
		case !errors.Is(err, store.ErrNotFound):
			return acct, err
		}
	}
	account := ""
	if known {
		account = name
	}
	at, throttled := h.logins.Begin(account, remote)
	if throttled != "" {
		// Only a known name is logged: an unknown one may be a password
		// typed in the wrong box.
		h.o.Logger.Warn().Str("staff", account).Str("remote", remote.String()).Str("reason", throttled).Msg("status page sign-in throttled")
		return acct, errThrottled
	}
	if !known {
		at.Fail(circ.LoginUnknownAccount)
		h.o.Logger.Warn().Str("remote", remote.String()).Msg("status page sign-in to an unknown account")
		return acct, errWrongLogin
	}
	var good bool
	var err error
	if len(password) <= maxPasswordLen { // no password is longer: refused unhashed
		good, err = circ.VerifySecret(acct.PasswordHash, password)
	}
	if errors.Is(err, circ.ErrBusy) {
		at.Abandon()
		return acct, errBusy
	}
	if err != nil || !good {
		at.Fail(circ.LoginWrongPassword)
		h.o.Logger.Warn().Str("staff", name).Str("remote", remote.String()).Msg("status page sign-in with a wrong password")
		return acct, errWrongLogin
	}
	at.Succeed()
	h.o.Logger.Info().Str("staff", name).Str("remote", remote.String()).Msg("status page sign-in")
	return acct, nil
}

// secureEnough reports whether a password may travel on this request: over
// TLS, or from this machine (the loopback listener, or a proxy on it that
// terminates TLS).
func secureEnough(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	return err == nil && ap.Addr().Unmap().IsLoopback()
}

// remoteAddr is the request's peer as a net.Addr for the login throttle.
func remoteAddr(r *http.Request) net.Addr {
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return net.TCPAddrFromAddrPort(ap)
	}
	return &net.TCPAddr{}
}

// current returns the account signed in on this request, if any: the
// token must name a live sign-in and the account must still exist with the
// password it signed in with, so removing an account or changing its
// password signs its browsers out at their next page view.
func (h *Handler) current(r *http.Request) (string, bool) {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return "", false
	}
	si, ok := h.signIns.lookup(c.Value, h.now())
	if !ok {
		return "", false
	}
	var acct store.StaffAccount
	err = h.o.DB.View(r.Context(), func(tx store.Tx) error {
		var err error
		acct, err = tx.Staff(si.name)
		return err
	})
	if err != nil || !acct.PasswordSet.Equal(si.passwordSet) {
		h.signIns.remove(c.Value)
		return "", false
	}
	return si.name, true
}

// setCookie gives the browser its token, or ends it when token is "".
func setCookie(w http.ResponseWriter, r *http.Request, token string) {
	c := &http.Cookie{Name: cookieName, Value: token, Path: "/status", HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteStrictMode}
	if token == "" {
		c.MaxAge = -1
	} else {
		c.MaxAge = int(sessionMaxAge / time.Second)
	}
	http.SetCookie(w, c)
}
