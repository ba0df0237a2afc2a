package statuspage

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/rs/zerolog"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/profiles"
	"github.com/circa-ils/circa/sip2"
	"github.com/circa-ils/circa/store"
)

// Options configure a Handler. New copies them.
type Options struct {
	DB       store.DB
	Circ     *circ.Service
	Registry *profiles.Registry
	// SIP2 are the SIP2 servers whose logged-in kiosks the page lists.
	SIP2 []SIP2Listener
	// Listeners returns the server's sockets, asked at each collection.
	Listeners func() []Listener
	// Health is the store's health as /healthz reports it.
	Health func(ctx context.Context) store.Health
	// Logger gets sign-ins and their failures (names of known accounts
	// and addresses, never a password).
	Logger zerolog.Logger
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// Refresh is how often the page reloads itself (default 30 seconds).
	Refresh time.Duration
	// CacheFor is how long one collection answers every viewer (default
	// 5 seconds), so that many open pages cost one collection.
	CacheFor time.Duration
}

// SIP2Listener is a SIP2 server and the name of its listener.
type SIP2Listener struct {
	Name   string
	Server *sip2.Server
}

// Listener is a socket the server listens on.
type Listener struct {
	Name string
	Addr string
	// CertExpires is when the certificate it presents expires; zero for
	// a listener without TLS.
	CertExpires time.Time
}

// Handler serves the status page under /status: the page itself, the
// sign-in form (/status/login) and signing out (/status/logout).
type Handler struct {
	o       Options
	serve   http.Handler // the paths below behind Go's cross-origin protection
	logins  *circ.LoginGuard
	signIns signIns

	mu       sync.Mutex // one collection at a time; guards the fields below
	cached   *view
	cachedAt time.Time
	tally    dayTally
}

// Paths the handler answers.
const (
	PagePath   = "/status"
	loginPath  = "/status/login"
	logoutPath = "/status/logout"
)

// New returns the status page handler.
func New(o Options) (*Handler, error) {
	if o.DB == nil || o.Circ == nil || o.Registry == nil || o.Health == nil {
		return nil, errors.New("statuspage: DB, Circ, Registry and Health are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Refresh <= 0 {
		o.Refresh = 30 * time.Second
	}
	if o.CacheFor <= 0 {
		o.CacheFor = 5 * time.Second
	}
	h := &Handler{o: o}
	h.logins = circ.NewLoginGuard(func() time.Time { return h.now() })
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+PagePath, h.page)
	mux.HandleFunc("GET "+loginPath, h.loginForm)
	mux.HandleFunc("POST "+loginPath, h.login)
	mux.HandleFunc("POST "+logoutPath, h.logout)
	h.serve = http.NewCrossOriginProtection().Handler(mux)
	return h, nil
}

func (h *Handler) now() time.Time { return h.o.Now().UTC() }

// ServeHTTP answers the status page's paths. Form posts from another
// site are refused (Go's cross-origin protection), besides the cookie
// being SameSite=Strict.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	h.serve.ServeHTTP(w, r)
}

func (h *Handler) page(w http.ResponseWriter, r *http.Request) {
	name, ok := h.current(r)
	if !ok {
		http.Redirect(w, r, loginPath, http.StatusSeeOther)
		return
	}
	v, err := h.view(r.Context())
	if err != nil {
		h.o.Logger.Error().Err(err).Msg("status page: collecting failed")
		http.Error(w, "the status could not be read: "+err.Error(), http.StatusInternalServerError)
		return
	}
	render(w, http.StatusOK, "page", pageData{view: v, Staff: name, Refresh: int(h.o.Refresh / time.Second)})
}

// view returns the latest collection, collecting again when it is older
// than CacheFor. Viewers arriving during a collection wait for it.
func (h *Handler) view(ctx context.Context) (*view, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cached != nil && h.now().Sub(h.cachedAt) < h.o.CacheFor {
		return h.cached, nil
	}
	v, err := h.collect(ctx)
	if err != nil {
		return nil, err
	}
	h.cached, h.cachedAt = v, v.At
	return v, nil
}

func (h *Handler) loginForm(w http.ResponseWriter, r *http.Request) {
	if _, ok := h.current(r); ok {
		http.Redirect(w, r, PagePath, http.StatusSeeOther)
		return
	}
	data := loginData{}
	if !secureEnough(r) {
		data.Problem = errNeedsSecure.Error()
	}
	render(w, http.StatusOK, "login", data)
}

func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	if !secureEnough(r) {
		render(w, http.StatusForbidden, "login", loginData{Problem: errNeedsSecure.Error()})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginBody)
	if err := r.ParseForm(); err != nil {
		render(w, http.StatusBadRequest, "login", loginData{Problem: "the form could not be read"})
		return
	}
	name := r.PostForm.Get("name")
	acct, err := h.authenticate(r.Context(), name, r.PostForm.Get("password"), remoteAddr(r))
	if err != nil {
		code := http.StatusForbidden
		switch {
		case errors.Is(err, errThrottled):
			code = http.StatusTooManyRequests
			w.Header().Set("Retry-After", "60")
		case errors.Is(err, errBusy):
			code = http.StatusServiceUnavailable
			w.Header().Set("Retry-After", "1")
		case !errors.Is(err, errWrongLogin):
			h.o.Logger.Error().Err(err).Msg("status page sign-in failed")
			code, err = http.StatusInternalServerError, errors.New("the sign-in could not be checked")
		}
		data := loginData{Problem: err.Error()}
		if acct.Name != "" {
			data.Name = acct.Name
		}
		render(w, code, "login", data)
		return
	}
	token, err := h.signIns.add(acct.Name, acct.PasswordSet, h.now())
	if err != nil {
		http.Error(w, "the sign-in could not be recorded", http.StatusInternalServerError)
		return
	}
	setCookie(w, r, token)
	http.Redirect(w, r, PagePath, http.StatusSeeOther)
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(cookieName); err == nil {
		h.signIns.remove(c.Value)
	}
	setCookie(w, r, "")
	http.Redirect(w, r, loginPath, http.StatusSeeOther)
}

//go:embed templates/*.html
var templateFiles embed.FS

var templates = template.Must(template.New("").Funcs(template.FuncMap{
	"when":     when,
	"ago":      ago,
	"dur":      dur,
	"bytes":    byteSize,
	"msgName":  sip2.MessageName,
	"truncate": truncate,
	"daysLeft": daysLeft,
}).ParseFS(templateFiles, "templates/*.html"))

type pageData struct {
	*view
	Staff   string
	Refresh int
}

type loginData struct {
	Name    string
	Problem string
}

func render(w http.ResponseWriter, code int, name string, data any) {
	var b strings.Builder
	if err := templates.ExecuteTemplate(&b, name, data); err != nil {
		http.Error(w, "the page could not be drawn: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	io.WriteString(w, b.String())
}

// when shows an instant in the zone, without the date when it is today.
func when(t time.Time, zone *time.Location, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	lt, ln := t.In(zone), now.In(zone)
	if lt.Year() == ln.Year() && lt.YearDay() == ln.YearDay() {
		return lt.Format("15:04:05")
	}
	return lt.Format("2006-01-02 15:04")
}

// ago is how long before now t was, rounded for reading.
func ago(t, now time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh %dm ago", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}

// dur shows a latency in milliseconds with one decimal below 10 ms.
func dur(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	if ms < 10 {
		return fmt.Sprintf("%.1f ms", ms)
	}
	return fmt.Sprintf("%.0f ms", ms)
}

func byteSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, i := float64(n), -1
	for v >= unit && i < 3 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGT"[i])
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// daysLeft is how many whole days remain until t.
func daysLeft(t, now time.Time) int { return int(t.Sub(now).Hours() / 24) }
