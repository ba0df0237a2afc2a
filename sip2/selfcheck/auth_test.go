package selfcheck

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/fixtures"
)

// dialFrom connects from a chosen loopback address (127.0.0.2 and up work
// on Linux), so the server sees another source.
func (e *env) dialFrom(ip string) *kiosk {
	e.t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", e.addr)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	return &kiosk{t: e.t, c: c, r: bufio.NewReader(c)}
}

// After a few wrong passwords from a source, its logins are refused
// unchecked, the right password too (even remembered as verified); a
// kiosk at another address still logs in. Before the throttle the right password worked after 1,700
// failures.
func TestLoginThrottledPerSource(t *testing.T) {
	e := newEnv(t).start()
	// The right password is now remembered as verified: the throttle must
	// refuse it all the same.
	e.dialFrom("127.0.0.1").login(fixtures.KioskLogin, fixtures.KioskPassword)
	for i := range 8 {
		k := e.dialFrom("127.0.0.1")
		if got := k.send("9300CN" + fixtures.KioskLogin + "|COwrong|"); !strings.HasPrefix(got, "940") {
			t.Fatalf("wrong password %d: %q", i, got)
		}
	}
	k := e.dialFrom("127.0.0.1")
	if got := k.send("9300CN" + fixtures.KioskLogin + "|CO" + fixtures.KioskPassword + "|"); !strings.HasPrefix(got, "940") {
		t.Fatalf("right password from a throttled source: %q", got)
	}
	e.dialFrom("127.0.0.2").login(fixtures.KioskLogin, fixtures.KioskPassword)
	st := e.svc.Logins().Stats()
	// The free failures, then one more that locks the source.
	if st.WrongPassword != circLoginFree+1 || st.SourceThrottled != 9-circLoginFree-1 {
		t.Fatalf("stats %+v", st)
	}
	if !strings.Contains(e.logs.String(), circ.LoginSourceThrottled) {
		t.Fatalf("refusal reason not logged: %s", e.logs.String())
	}
}

// circLoginFree is the source's free failures (circ's loginSourceFree).
const circLoginFree = 5

// A patron's PIN locks after too many wrong ones, across messages and
// restarts: CQ N with a screen message that says so, and a checkout with
// the right PIN is refused with the same message.
func TestPatronPINLockedAnswers(t *testing.T) {
	e := newEnv(t).start()
	k := e.dial()
	k.login(fixtures.KioskLogin, fixtures.KioskPassword)
	status := func(pin string) string {
		return k.send("2300020260310    150405AOMAIN|AA" + fixtures.PatronGood + "|AC|AD" + pin + "|")
	}
	for i := range circ.PINFreeFailures + 1 {
		m := decode(t, status("0000"))
		if m.Value("CQ") != "N" || !strings.Contains(m.Value("AF"), "Wrong PIN") {
			t.Fatalf("wrong PIN %d: %q", i, m.Raw)
		}
	}
	e.restart()
	k = e.dial()
	k.login(fixtures.KioskLogin, fixtures.KioskPassword)
	m := decode(t, status(fixtures.DemoPIN))
	if m.Value("CQ") != "N" || !strings.Contains(m.Value("AF"), "PIN is locked") {
		t.Fatalf("right PIN while locked: %q", m.Raw)
	}
	co := decode(t, k.send("11YN20260310    15040520260310    150405AOMAIN|AA"+fixtures.PatronGood+"|AB"+fixtures.ItemBranch+"|AC|AD"+fixtures.DemoPIN+"|"))
	if co.Fixed[0] != '0' || !strings.Contains(co.Value("AF"), "PIN is locked") {
		t.Fatalf("checkout while locked: %q", co.Raw)
	}
	if err := e.svc.UnlockPIN(t.Context(), fixtures.PatronGood); err != nil {
		t.Fatal(err)
	}
	if m := decode(t, status(fixtures.DemoPIN)); m.Value("CQ") != "Y" {
		t.Fatalf("after unlock: %q", m.Raw)
	}
}
