package main

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/circa-ils/circa/fixtures"
	"github.com/circa-ils/circa/internal/conformance"
	"github.com/circa-ils/circa/sip2"
)

const testStaffPassword = "correct-horse-battery"

// staff runs a staff command with the password on standard input.
func staff(t *testing.T, dir, password string, args ...string) result {
	t.Helper()
	var out, errOut strings.Builder
	code := execute(context.Background(), append([]string{"--data-dir", dir, "staff"}, args...), strings.NewReader(password+"\n"), &out, &errOut)
	return result{code, out.String(), errOut.String()}
}

func TestStaffCommands(t *testing.T) {
	dir := seededDir(t)
	if r := staff(t, dir, "", "list"); r.code != 0 || !strings.Contains(r.out, "no staff accounts") {
		t.Fatalf("empty list: %+v", r)
	}
	if r := staff(t, dir, testStaffPassword, "add", "ada"); r.code != 0 || r.out != "staff account ada added\n" {
		t.Fatalf("add: %+v", r)
	}
	for _, c := range []struct {
		password string
		args     []string
		err      string
	}{
		{testStaffPassword, []string{"add", "ada"}, "exists"},
		{"short", []string{"add", "bob"}, "at least 10 characters"},
		{testStaffPassword, []string{"add", "bob smith"}, "only letters"},
		{testStaffPassword, []string{"passwd", "nobody"}, "no staff account"},
		{"", []string{"remove", "nobody"}, "no staff account"},
		{"", []string{"add", "bob"}, "the password is empty"},
	} {
		if r := staff(t, dir, c.password, c.args...); r.code == 0 || !strings.Contains(r.errOut, c.err) {
			t.Errorf("%v: %+v, want an error saying %q", c.args, r, c.err)
		}
	}
	if r := staff(t, dir, "another-long-one", "passwd", "ada"); r.code != 0 || r.out != "password of ada set\n" {
		t.Fatalf("passwd: %+v", r)
	}
	r := staff(t, dir, "", "list", "--json")
	if r.code != 0 || !strings.Contains(r.out, `"name": "ada"`) || strings.Contains(r.out, "argon2") {
		t.Fatalf("list --json: %+v", r)
	}
	if r := staff(t, dir, "", "remove", "ada"); r.code != 0 || r.out != "staff account ada removed\n" {
		t.Fatalf("remove: %+v", r)
	}
	// A password is never a flag's value.
	if r := staff(t, dir, "", "add", "bob", "--password", testStaffPassword); r.code != 2 {
		t.Errorf("--password accepted: %+v", r)
	}
}

// Staff commands reach a running server through its admin socket, and the
// page follows at once: a removed account is signed out.
func TestStaffCommandsThroughRunningServer(t *testing.T) {
	s := startDemoServer(t)
	if r := staff(t, s.dir, testStaffPassword, "add", "ada"); r.code != 0 {
		t.Fatalf("add through the admin socket: %+v", r)
	}
	c := staffBrowser(t)
	if resp := signInStatus(t, c, s.httpURL, "ada", testStaffPassword); resp.StatusCode != http.StatusOK || !strings.Contains(readBody(t, resp), `id="kiosks"`) {
		t.Fatalf("page after sign-in: %s", resp.Status)
	}
	if r := staff(t, s.dir, "", "remove", "ada"); r.code != 0 {
		t.Fatalf("remove through the admin socket: %+v", r)
	}
	resp, err := c.Get(s.httpURL + "/status")
	if err != nil {
		t.Fatal(err)
	}
	if body := readBody(t, resp); !strings.Contains(body, `name="password"`) {
		t.Fatalf("a removed account still sees the page: %s", resp.Status)
	}
}

func staffBrowser(t *testing.T) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 30 * time.Second}
}

// signInStatus posts the sign-in form and follows the redirect to the page.
func signInStatus(t *testing.T, c *http.Client, base, name, password string) *http.Response {
	t.Helper()
	resp, err := c.PostForm(base+"/status/login", url.Values{"name": {name}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// statusKiosk logs in as the demo kiosk over conn, lends an item, is
// refused one, and stays connected.
func statusKiosk(t *testing.T, conn net.Conn, item string) {
	t.Helper()
	c := sip2.NewClient(conn, sip2.ClientOptions{Timeout: 20 * time.Second})
	t.Cleanup(func() { c.Close() })
	now := time.Now()
	for _, st := range []struct{ code, want, ok string }{
		{"93", "94", "1"},
		{"11", "12", "1"},
		{"11", "12", "0"},
	} {
		var specs []string
		switch {
		case st.code == "93":
			specs = []string{"CN=" + fixtures.KioskLogin, "CO=" + fixtures.KioskPassword, "CP=MAIN"}
		case st.ok == "1":
			specs = []string{"AO=MAIN", "AA=" + fixtures.PatronGood, "AD=" + fixtures.DemoPIN, "AB=" + item}
		default:
			specs = []string{"AO=MAIN", "AA=" + fixtures.PatronBlocked, "AD=" + fixtures.DemoPIN, "AB=" + fixtures.ItemMagnetic}
		}
		m, err := sip2.ParseFieldSpec(st.code, specs, now)
		if err != nil {
			t.Fatal(err)
		}
		reply, err := c.Send(context.Background(), m)
		if err != nil || reply.Code != st.want || reply.Fixed[:1] != st.ok {
			t.Fatalf("%s: %v %v", st.code, reply, err)
		}
	}
}

// The status page in Debian's chromium: the demo server with two kiosks
// connected (plain and TLS), a staff sign-in through the form, and what
// the page shows; the screenshot is kept in $CIRCA_ARTIFACTS/status.png.
func TestStatusPageInChromium(t *testing.T) {
	chromium := conformance.Tool(t, "chromium")
	started := time.Now()
	s := startDemoServer(t)
	if r := staff(t, s.dir, testStaffPassword, "add", "ada"); r.code != 0 {
		t.Fatalf("staff add: %+v", r)
	}
	plain, err := net.Dial("tcp", s.sip2)
	if err != nil {
		t.Fatal(err)
	}
	statusKiosk(t, plain, fixtures.ItemAvailable)
	secure, err := tls.Dial("tcp", s.sip2TLS, s.tlsConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	statusKiosk(t, secure, fixtures.ItemDiacritics)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox,
		chromedp.WindowSize(1280, 900), chromedp.Flag("disable-dev-shm-usage", true))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	err = chromedp.Do(bctx, chromedp.Navigate(s.httpURL+"/status"), chromedp.WaitVisible(chromedp.ID("password")))
	if err != nil {
		t.Fatalf("chromium: the sign-in form: %v", err)
	}
	loginURL, err := chromedp.Run(bctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	err = chromedp.Do(bctx, chromedp.SendKeys(chromedp.ID("name"), "ada"), chromedp.SendKeys(chromedp.ID("password"), testStaffPassword),
		chromedp.Submit(chromedp.ID("password")), chromedp.WaitVisible(chromedp.ID("kiosks")))
	if err != nil {
		t.Fatalf("chromium: signing in: %v", err)
	}
	title, err := chromedp.Run(bctx, chromedp.Title())
	if err != nil {
		t.Fatal(err)
	}
	page, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS("body")))
	if err != nil {
		t.Fatal(err)
	}
	cookies, err := chromedp.Run(bctx, chromedp.Evaluate[string]("document.cookie"))
	if err != nil {
		t.Fatal(err)
	}
	shot, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	dir := os.Getenv("CIRCA_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "status.png"), shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("status page checked in chromium in %s; screenshot %s (%d bytes)", time.Since(started).Round(time.Millisecond), filepath.Join(dir, "status.png"), len(shot))

	if !strings.HasSuffix(loginURL, "/status/login") {
		t.Errorf("without a sign-in chromium landed on %s", loginURL)
	}
	if cookies != "" {
		t.Errorf("the sign-in cookie is readable by scripts: %q", cookies)
	}
	if !strings.HasPrefix(title, "OK") {
		t.Errorf("title %q", title)
	}
	for _, want := range []string{"signed in as ada", "kiosk1", plain.LocalAddr().String(),
		secure.LocalAddr().String(), "sip2-tls (TLS)", "11 Checkout", "0 connection(s) open without a login",
		"sip2-tls", "days)", "Overdue loans", "Store\tok"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page in chromium lacks %q", want)
		}
	}
	// Two loans and two refusals at MAIN today, in its zone.
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	if want := "MAIN\t" + time.Now().In(ny).Format("2006-01-02") + "\t2\t0\t2"; !strings.Contains(page, want) {
		t.Errorf("the page in chromium lacks today's row %q", want)
	}
	for _, secret := range []string{fixtures.PatronGood, fixtures.PatronBlocked, fixtures.ItemAvailable, "Whitfield", "Marcus Bell", fixtures.KioskPassword} {
		if strings.Contains(page, secret) {
			t.Errorf("the page in chromium shows %q", secret)
		}
	}
	if len(shot) < 10_000 || string(shot[1:4]) != "PNG" {
		t.Errorf("screenshot of %d bytes is not a PNG of the page", len(shot))
	}
}
