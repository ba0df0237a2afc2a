package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/fixtures"
	"github.com/circa-ils/circa/sip2"
)

func runIn(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	code := execute(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return result{code, out.String(), errOut.String()}
}

// Without a server there is no login throttle to show, and show says so.
func TestSelfCheckShowWithoutServer(t *testing.T) {
	dir := seededDir(t)
	r := run(t, "profile", "selfcheck", "show", fixtures.KioskLogin, "--data-dir", dir)
	if r.code != 0 || !strings.Contains(r.out, "none runs on this data directory") {
		t.Fatalf("show: %+v", r)
	}
}

// A running server's throttles seen and cleared from the command line (the
// commands go through the admin socket) and counted in /metrics.
func TestThrottlesFromTheCommandLine(t *testing.T) {
	s := startDemoServer(t)
	for range 7 {
		conn, err := net.Dial("tcp", s.sip2)
		if err != nil {
			t.Fatal(err)
		}
		c := sip2.NewClient(conn, sip2.ClientOptions{Timeout: 10 * time.Second})
		m, err := sip2.ParseFieldSpec("93", []string{"CN=" + fixtures.KioskLogin, "CO=wrong"}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c.Send(context.Background(), m)
		c.Close()
		if err != nil || resp.Fixed[0] != '0' {
			t.Fatalf("wrong login: %v %v", resp, err)
		}
	}
	r := run(t, "profile", "selfcheck", "show", fixtures.KioskLogin, "--data-dir", s.dir)
	if r.code != 0 || !strings.Contains(r.out, "source 127.0.0.1") || !strings.Contains(r.out, "6 failed in a row, locked until") {
		t.Fatalf("selfcheck show: %+v", r)
	}
	if r = run(t, "profile", "selfcheck", "unlock", fixtures.KioskLogin, "--data-dir", s.dir); r.code != 0 {
		t.Fatalf("selfcheck unlock: %+v", r)
	}
	if r = run(t, "profile", "selfcheck", "show", fixtures.KioskLogin, "--data-dir", s.dir); strings.Contains(r.out, "source 127.0.0.1") {
		t.Fatalf("after unlock: %+v", r)
	}
	if r = run(t, "profile", "selfcheck", "unlock", "NOPE", "--data-dir", s.dir); r.code != 1 {
		t.Fatalf("unlock of an unknown account: %+v", r)
	}

	for range circ.PINFreeFailures + 1 {
		r := runIn(t, "0000\n", "patron", "verify-pin", fixtures.PatronGood, "--data-dir", s.dir)
		if r.code != 1 || strings.TrimSpace(r.errOut) != "circa: PIN check refused: patron PIN or password wrong" {
			t.Fatalf("wrong PIN: %+v", r)
		}
	}
	r = runIn(t, fixtures.DemoPIN+"\n", "patron", "verify-pin", fixtures.PatronGood, "--data-dir", s.dir)
	if r.code != 1 || strings.Count(strings.TrimSpace(r.errOut), "\n") != 0 || !strings.Contains(r.errOut, "PIN locked") {
		t.Fatalf("right PIN while locked: %+v", r)
	}
	r = run(t, "patron", "show", fixtures.PatronGood, "--data-dir", s.dir)
	if r.code != 0 || !strings.Contains(r.out, "PIN: locked until") {
		t.Fatalf("patron show: %+v", r)
	}
	if r = run(t, "patron", "show", fixtures.PatronGood, "--json", "--data-dir", s.dir); !strings.Contains(r.out, `"failures": 6`) {
		t.Fatalf("patron show --json: %+v", r)
	}
	if r = run(t, "patron", "unlock", fixtures.PatronGood, "--data-dir", s.dir); r.code != 0 {
		t.Fatalf("patron unlock: %+v", r)
	}
	if r = runIn(t, fixtures.DemoPIN+"\n", "patron", "verify-pin", fixtures.PatronGood, "--data-dir", s.dir); r.code != 0 {
		t.Fatalf("after unlock: %+v", r)
	}

	resp, err := http.Get(s.httpURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`circa_login_failures_total{reason="wrong_password"} 6`, `circa_login_throttled_total{reason="source"} 1`,
		`circa_pin_failures_total 6`, `circa_pin_refused_total{reason="locked"} 1`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
