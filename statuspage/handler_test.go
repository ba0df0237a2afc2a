package statuspage

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/fixtures"
	"github.com/circa-ils/circa/profiles"
	"github.com/circa-ils/circa/sip2"
	"github.com/circa-ils/circa/sip2/selfcheck"
	"github.com/circa-ils/circa/store"
	"github.com/circa-ils/circa/store/boltstore"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	staffName     = "ada"
	staffPassword = "correct-horse-battery"
)

// env is the demo library in a real store, a SIP2 server on a real
// socket and the status page on a real HTTP server.
type env struct {
	t       *testing.T
	db      store.DB
	svc     *circ.Service
	sip     *sip2.Server
	sipAddr string
	h       *Handler
	srv     *httptest.Server
	clock   atomic.Pointer[time.Time]
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{t: t}
	now := time.Now().UTC()
	e.clock.Store(&now)
	db, err := boltstore.Open(filepath.Join(t.TempDir(), boltstore.DefaultFile), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e.db = db
	if _, err := fixtures.Seed(ctx, db, fixtures.Options{Now: now.Add(-time.Hour).Truncate(time.Second), Scale: 200}); err != nil {
		t.Fatal(err)
	}
	if e.svc, err = circ.New(db); err != nil {
		t.Fatal(err)
	}
	reg, err := profiles.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if err := fixtures.SeedProfiles(ctx, reg); err != nil {
		t.Fatal(err)
	}
	sc, err := selfcheck.NewHandler(selfcheck.Options{Service: e.svc, Profiles: reg})
	if err != nil {
		t.Fatal(err)
	}
	e.sip = sip2.NewServer(&sip2.Options{Handler: sc, Location: time.UTC})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.sipAddr = ln.Addr().String()
	served := make(chan error, 1)
	go func() { served <- e.sip.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		e.sip.Shutdown(ctx)
		<-served
	})
	e.h, err = New(Options{DB: db, Circ: e.svc, Registry: reg, SIP2: []SIP2Listener{{Name: "sip2", Server: e.sip}},
		Listeners: func() []Listener {
			return []Listener{{Name: "sip2", Addr: e.sipAddr}, {Name: "https", Addr: "127.0.0.1:8443", CertExpires: now.Add(10 * 24 * time.Hour)}}
		},
		Health: func(ctx context.Context) store.Health { return db.CheckHealth(ctx) },
		Now:    func() time.Time { return *e.clock.Load() }})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(e.h)
	t.Cleanup(e.srv.Close)
	if err := AddStaff(ctx, db, staffName, staffPassword, now); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) advance(d time.Duration) {
	n := e.clock.Load().Add(d)
	e.clock.Store(&n)
}

// browser is an HTTP client that keeps cookies and does not follow
// redirects, so each answer can be checked.
func (e *env) browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func (e *env) get(c *http.Client, path string) (*http.Response, string) {
	e.t.Helper()
	resp, err := c.Get(e.srv.URL + path)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func (e *env) signIn(c *http.Client, name, password string) (*http.Response, string) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+loginPath, strings.NewReader(url.Values{"name": {name}, "password": {password}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// wantSignedOut checks that the page sends the browser to the sign-in form.
func (e *env) wantSignedOut(c *http.Client, why string) {
	e.t.Helper()
	resp, _ := e.get(c, PagePath)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != loginPath {
		e.t.Fatalf("%s: page answered %s (Location %q), want a redirect to the sign-in form", why, resp.Status, resp.Header.Get("Location"))
	}
}

// kiosk logs in as the demo kiosk and stays connected.
func (e *env) kiosk() (*sip2.Client, net.Conn) {
	e.t.Helper()
	conn, err := net.Dial("tcp", e.sipAddr)
	if err != nil {
		e.t.Fatal(err)
	}
	c := sip2.NewClient(conn, sip2.ClientOptions{Timeout: 10 * time.Second})
	e.t.Cleanup(func() { c.Close() })
	e.send(c, "93", "94", "CN="+fixtures.KioskLogin, "CO="+fixtures.KioskPassword, "CP=MAIN")
	return c, conn
}

func (e *env) send(c *sip2.Client, code, want string, specs ...string) *sip2.Message {
	e.t.Helper()
	m, err := sip2.ParseFieldSpec(code, specs, time.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	reply, err := c.Send(context.Background(), m)
	if err != nil || reply.Code != want {
		e.t.Fatalf("%s: %v %v", code, reply, err)
	}
	return reply
}

// row returns the cells of the table row whose first cell is first.
func row(page, table, first string) []string {
	i := strings.Index(page, `<table id="`+table+`">`)
	if i < 0 {
		return nil
	}
	tbl := page[i:]
	tbl = tbl[:strings.Index(tbl, "</table>")]
	for _, tr := range strings.Split(tbl, "<tr>")[1:] {
		cells := regexp.MustCompile(`<td[^>]*>(.*?)</td>`).FindAllStringSubmatch(strings.ReplaceAll(tr, "\n", " "), -1)
		var out []string
		for _, c := range cells {
			out = append(out, strings.TrimSpace(regexp.MustCompile(`<[^>]+>`).ReplaceAllString(c[1], "")))
		}
		if len(out) > 0 && out[0] == first {
			return out
		}
	}
	return nil
}

func TestPageShowsKiosksCirculationAndNoPatronData(t *testing.T) {
	e := newEnv(t)
	k, kconn := e.kiosk()
	pin := "AD=" + fixtures.DemoPIN
	e.send(k, "11", "12", "AO=MAIN", "AA="+fixtures.PatronGood, pin, "AB="+fixtures.ItemAvailable)
	e.send(k, "09", "10", "AO=MAIN", "AP=MAIN", "AB="+fixtures.ItemAvailable)
	refused := e.send(k, "11", "12", "AO=MAIN", "AA="+fixtures.PatronBlocked, pin, "AB="+fixtures.ItemDiacritics)
	if refused.Fixed[0] != '0' {
		t.Fatalf("a blocked patron's checkout was not refused: %q", refused.Fixed)
	}
	stranger, err := net.Dial("tcp", e.sipAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()

	c := e.browser()
	if resp, _ := e.signIn(c, staffName, staffPassword); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != PagePath {
		t.Fatalf("sign-in: %s", resp.Status)
	}
	resp, page := e.get(c, PagePath)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("page: %s %s", resp.Status, page)
	}
	for _, want := range []string{`<meta http-equiv="refresh" content="30">`, `<strong id="staff">ada</strong>`, "(10 days)", `<span class="ok">ok</span>`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	kioskRow := row(page, "kiosks", "kiosk1")
	if len(kioskRow) != 9 || kioskRow[1] != "MAIN" || kioskRow[2] != kconn.LocalAddr().String() || kioskRow[3] != "sip2" ||
		!strings.HasPrefix(kioskRow[5], "11 Checkout") || kioskRow[7] != "4" || kioskRow[8] != "0" {
		t.Errorf("kiosk row: %q", kioskRow)
	}
	if !strings.Contains(page, "1 connection(s) open without a login") {
		t.Error("the connection without a login is not counted")
	}
	today := time.Now().In(mustZone(t, "America/New_York")).Format(dateLayout)
	if got, want := row(page, "today", "MAIN"), []string{"MAIN", today, "1", "1", "1"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("MAIN today: %q, want %q", got, want)
	}
	var overdue int
	e.db.View(context.Background(), func(tx store.Tx) error { overdue = tx.CountOpenLoansDueBefore(*e.clock.Load()); return nil })
	if overdue == 0 || !strings.Contains(page, `<td id="overdue">`+strconv.Itoa(overdue)+`</td>`) {
		t.Errorf("overdue count %d not shown", overdue)
	}
	for _, secret := range []string{fixtures.PatronGood, fixtures.PatronBlocked, fixtures.ItemAvailable, "Whitfield", "Eleanor", "Marcus", "Bell",
		fixtures.KioskPassword, "AD" + fixtures.DemoPIN, "stolen"} {
		if strings.Contains(page, secret) {
			t.Errorf("the page shows %q", secret)
		}
	}
}

func mustZone(t *testing.T, name string) *time.Location {
	z, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return z
}

func TestSignInAndOut(t *testing.T) {
	e := newEnv(t)
	c := e.browser()
	e.wantSignedOut(c, "without a sign-in")
	if resp, form := e.get(c, loginPath); resp.StatusCode != http.StatusOK || !strings.Contains(form, `name="password" type="password"`) {
		t.Fatalf("sign-in form: %s %s", resp.Status, form)
	}
	for _, bad := range [][2]string{{staffName, "wrong-password-1"}, {"nobody", staffPassword}, {"", ""}} {
		resp, body := e.signIn(c, bad[0], bad[1])
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "wrong name or password") || len(resp.Cookies()) != 0 {
			t.Fatalf("sign-in as %q: %s, cookies %v", bad[0], resp.Status, resp.Cookies())
		}
		e.wantSignedOut(c, "after a failed sign-in")
	}
	resp, _ := e.signIn(c, staffName, staffPassword)
	cookies := resp.Cookies()
	if len(cookies) != 1 {
		t.Fatalf("cookies: %v", cookies)
	}
	ck := cookies[0]
	if ck.Name != cookieName || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Secure || ck.Path != "/status" || len(ck.Value) < 40 {
		t.Errorf("cookie over plain loopback HTTP: %+v", ck)
	}
	if resp, _ := e.get(c, PagePath); resp.StatusCode != http.StatusOK || resp.Header.Get("Cache-Control") != "no-store" ||
		!strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Fatalf("page after sign-in: %s %v", resp.Status, resp.Header)
	}
	// A made-up token is no sign-in.
	forged := e.browser()
	u, _ := url.Parse(e.srv.URL)
	forged.Jar.SetCookies(u, []*http.Cookie{{Name: cookieName, Value: strings.Repeat("A", 43), Path: "/status"}})
	e.wantSignedOut(forged, "with a made-up token")

	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+logoutPath, nil)
	if resp, err := c.Do(req); err != nil || resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign out: %v %v", resp, err)
	}
	e.wantSignedOut(c, "after signing out")

	// A sign-in ends an hour after the last page view.
	c2 := e.browser()
	e.signIn(c2, staffName, staffPassword)
	e.advance(sessionIdle + time.Second)
	e.wantSignedOut(c2, "after an idle hour")
}

// Over HTTPS the cookie is Secure; over plain HTTP a password is taken
// only from this machine.
func TestSignInNeedsTLSOrLoopback(t *testing.T) {
	e := newEnv(t)
	form := url.Values{"name": {staffName}, "password": {staffPassword}}.Encode()
	post := func(remote string, secure bool) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "http://circa.example"+loginPath, strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.RemoteAddr = remote
		if secure {
			req.TLS = &tls.ConnectionState{}
		}
		w := httptest.NewRecorder()
		e.h.ServeHTTP(w, req)
		return w
	}
	if w := post("192.0.2.7:50000", false); w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), "HTTPS") || len(w.Result().Cookies()) != 0 {
		t.Fatalf("plain HTTP from another machine: %d %s", w.Code, w.Body)
	}
	w := post("192.0.2.7:50000", true)
	if w.Code != http.StatusSeeOther || len(w.Result().Cookies()) != 1 || !w.Result().Cookies()[0].Secure {
		t.Fatalf("HTTPS from another machine: %d %v", w.Code, w.Result().Cookies())
	}
	if w := post("[::1]:50000", false); w.Code != http.StatusSeeOther {
		t.Fatalf("plain HTTP over IPv6 loopback: %d", w.Code)
	}
}

// A form posted from another site (a page that would sign staff in or
// out behind their back) is refused before anything is checked.
func TestCrossSitePostsRefused(t *testing.T) {
	e := newEnv(t)
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+loginPath, strings.NewReader(url.Values{"name": {staffName}, "password": {staffPassword}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := e.browser().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || len(resp.Cookies()) != 0 {
		t.Fatalf("cross-site sign-in: %s", resp.Status)
	}
}

// Wrong passwords lock out their source after five, and the account after
// twenty from anywhere, except for sources that signed in to it before;
// nothing is hashed for a locked attempt.
func TestSignInThrottled(t *testing.T) {
	e := newEnv(t)
	c := e.browser()
	for i := range 5 {
		if resp, _ := e.signIn(c, staffName, "wrong-password-"+strconv.Itoa(i)); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("wrong password %d: %s", i, resp.Status)
		}
	}
	e.signIn(c, staffName, "wrong-password-5") // the sixth locks the source
	resp, body := e.signIn(c, staffName, staffPassword)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "too many failed sign-ins") {
		t.Fatalf("the right password from a locked source: %s", resp.Status)
	}
	e.wantSignedOut(c, "while locked")
	e.advance(2 * time.Second)
	if resp, _ := e.signIn(c, staffName, staffPassword); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("after the lock: %s", resp.Status)
	}

	// The account's twenty-first wrong password in a row (six came from
	// loopback above) locks it for new sources; the loopback source signed
	// in before and is exempt.
	ctx := context.Background()
	for i := range 15 {
		src := &net.TCPAddr{IP: net.IPv4(198, 51, 100, byte(i+1)), Port: 4000}
		// Over-long guesses, refused without hashing, keep the test quick.
		guess := strings.Repeat("g", maxPasswordLen) + strconv.Itoa(i)
		if _, err := e.h.authenticate(ctx, staffName, guess, src); !errors.Is(err, errWrongLogin) {
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	stranger := &net.TCPAddr{IP: net.IPv4(203, 0, 113, 9), Port: 4000}
	if _, err := e.h.authenticate(ctx, staffName, staffPassword, stranger); !errors.Is(err, errThrottled) {
		t.Fatalf("a new source on a locked account: %v", err)
	}
	if resp, _ := e.signIn(e.browser(), staffName, staffPassword); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("a source that signed in before, on a locked account: %s", resp.Status)
	}
}

// Removing an account or changing its password signs its browsers out.
func TestRemovedAccountAndNewPasswordSignOut(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.browser()
	e.signIn(c, staffName, staffPassword)
	if err := SetStaffPassword(ctx, e.db, staffName, "another-long-password", e.clock.Load().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	e.wantSignedOut(c, "after a new password")
	if resp, _ := e.signIn(c, staffName, staffPassword); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("the old password: %s", resp.Status)
	}
	if resp, _ := e.signIn(c, staffName, "another-long-password"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the new password: %s", resp.Status)
	}
	if resp, _ := e.get(c, PagePath); resp.StatusCode != http.StatusOK {
		t.Fatalf("page: %s", resp.Status)
	}
	if err := RemoveStaff(ctx, e.db, staffName); err != nil {
		t.Fatal(err)
	}
	e.wantSignedOut(c, "after the account was removed")
	if resp, _ := e.signIn(c, staffName, "another-long-password"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a removed account: %s", resp.Status)
	}
}

func TestStaffAccountRules(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	now := time.Now()
	if err := AddStaff(ctx, e.db, staffName, "yet-another-password", now); !errors.Is(err, ErrStaffExists) {
		t.Errorf("a second %s: %v", staffName, err)
	}
	for _, bad := range [][2]string{{"bob", "short"}, {"", "long-enough-password"}, {"bob smith", "long-enough-password"},
		{"bob", strings.Repeat("x", maxPasswordLen+1)}, {strings.Repeat("b", maxNameLen+1), "long-enough-password"}} {
		if err := AddStaff(ctx, e.db, bad[0], bad[1], now); err == nil {
			t.Errorf("add %q with a password of %d bytes accepted", bad[0], len(bad[1]))
		}
	}
	if err := SetStaffPassword(ctx, e.db, "nobody", "long-enough-password", now); !errors.Is(err, ErrNoStaff) {
		t.Errorf("passwd of nobody: %v", err)
	}
	if err := RemoveStaff(ctx, e.db, "nobody"); !errors.Is(err, ErrNoStaff) {
		t.Errorf("remove nobody: %v", err)
	}
	all, err := ListStaff(ctx, e.db)
	if err != nil || len(all) != 1 || all[0].Name != staffName || !strings.HasPrefix(all[0].PasswordHash, "$argon2id$") ||
		strings.Contains(all[0].PasswordHash, staffPassword) {
		t.Fatalf("accounts: %+v %v", all, err)
	}
}

// A refresh reads only the journal events since the previous collection,
// and one collection answers every viewer for CacheFor.
func TestCollectionCostIsBounded(t *testing.T) {
	e := newEnv(t)
	c := e.browser()
	e.signIn(c, staffName, staffPassword)
	e.get(c, PagePath)
	first := e.h.cached
	var head uint64
	e.db.View(context.Background(), func(tx store.Tx) error { head = tx.JournalHead(); return nil })
	if e.h.tally.after != head {
		t.Fatalf("tally read up to %d, journal head %d", e.h.tally.after, head)
	}
	e.get(c, PagePath)
	if e.h.cached != first {
		t.Error("a second view within CacheFor collected again")
	}
	e.advance(6 * time.Second)
	e.get(c, PagePath)
	if e.h.cached == first {
		t.Error("a view after CacheFor did not collect again")
	}
}

// Loans count at the library that lent, returns at the one that took the
// item back, each on its own date; a reading the next day starts at that
// day's first event.
func TestDayTally(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.svc.Checkout(ctx, circ.CheckoutRequest{Agent: circ.Agent{Protocol: "test", Library: "MAIN"},
		Patron: fixtures.PatronGood, Item: fixtures.ItemAvailable}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Checkin(ctx, circ.CheckinRequest{Agent: circ.Agent{Protocol: "test", Library: "BRANCH"},
		Item: fixtures.ItemAvailable}); err != nil {
		t.Fatal(err)
	}
	var tally dayTally
	read := func(now time.Time) map[string]libraryDay {
		t.Helper()
		var days map[string]libraryDay
		err := e.db.View(ctx, func(tx store.Tx) error {
			libs, err := tx.Libraries()
			if err != nil {
				return err
			}
			days, err = tally.update(tx, e.svc, libs, now)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return days
	}
	ny := mustZone(t, "America/New_York")
	now := time.Now()
	today := now.In(ny).Format(dateLayout)
	want := map[string]libraryDay{"MAIN": {Date: today, Loans: 1}, "BRANCH": {Date: today, Returns: 1}}
	for range 2 { // the second reading finds nothing new
		days := read(now)
		for lib, w := range want {
			if days[lib] != w {
				t.Errorf("%s: %+v, want %+v", lib, days[lib], w)
			}
		}
	}
	local := now.In(ny)
	tomorrow := time.Date(local.Year(), local.Month(), local.Day()+1, 9, 0, 0, 0, ny)
	days := read(tomorrow)
	if d := days["MAIN"]; d != (libraryDay{Date: tomorrow.Format(dateLayout)}) {
		t.Errorf("MAIN tomorrow: %+v", d)
	}
	var head uint64
	e.db.View(ctx, func(tx store.Tx) error { head = tx.JournalHead(); return nil })
	if tally.after != head {
		t.Errorf("read up to %d of %d", tally.after, head)
	}
}
