package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/circa-ils/circa/fixtures"
	"github.com/circa-ils/circa/internal/conformance"
	"github.com/circa-ils/circa/ncip"
	"github.com/circa-ils/circa/sip2"
	"github.com/circa-ils/circa/tlsproxy"
)

// demoServer is `circa serve --demo` running in-process on free ports.
type demoServer struct {
	dir                              string
	sip2, sip2TLS, httpURL, httpsURL string
	debugURL                         string
	ca                               string
	logs                             *syncBuffer // what serve logged
}

func startDemoServer(t *testing.T) *demoServer {
	t.Helper()
	return startDemoServerIn(t, seededDir(t))
}

// startDemoServerIn serves the data directory dir, with extra serve flags.
func startDemoServerIn(t *testing.T, dir string, extra ...string) *demoServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out, logs := &syncBuffer{}, &syncBuffer{}
	done := make(chan int, 1)
	args := append([]string{"serve", "--demo", "--data-dir", dir, "--http-addr", "127.0.0.1:0",
		"--sip2-addr", "127.0.0.1:0", "--sip2-tls-addr", "127.0.0.1:0", "--https-addr", "127.0.0.1:0", "--debug-addr", "127.0.0.1:0",
		"--log-level", "warn"}, extra...)
	go func() { done <- execute(ctx, args, nil, out, logs) }()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("serve exit %d", code)
			}
		case <-time.After(20 * time.Second):
			t.Error("serve did not stop")
		}
	})
	waitServing(t, out, done)
	s := &demoServer{dir: dir, ca: filepath.Join(dir, "tls", tlsproxy.CACertFile), logs: logs}
	for _, line := range strings.Split(out.String(), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "sip2":
			s.sip2 = f[1]
		case "sip2-tls":
			s.sip2TLS = f[1]
		case "http":
			s.httpURL = f[1]
		case "https":
			s.httpsURL = f[1]
		case "debug":
			s.debugURL = strings.TrimSuffix(f[1], "/debug/pprof/")
		}
	}
	if s.sip2 == "" || s.sip2TLS == "" || s.httpURL == "" || s.httpsURL == "" {
		t.Fatalf("addresses not printed: %q", out.String())
	}
	return s
}

func (s *demoServer) tlsConfig(t *testing.T) *tls.Config {
	pem, err := os.ReadFile(s.ca)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
}

// kioskSession runs a complete self-check session and checks each answer.
// Sessions on one server differ in their transaction dates and in the item
// they place a hold on, so none is mistaken for a retransmission of another.
func kioskSession(t *testing.T, conn net.Conn, now time.Time, holdItem string) {
	t.Helper()
	c := sip2.NewClient(conn, sip2.ClientOptions{Timeout: 20 * time.Second})
	defer c.Close()
	ctx := context.Background()
	steps := []struct {
		code  string
		specs []string
		want  string // response code
		ok    func(fixed string) bool
	}{
		{"93", []string{"CN=" + fixtures.KioskLogin, "CO=" + fixtures.KioskPassword, "CP=MAIN"}, "94", func(f string) bool { return f[0] == '1' }},
		{"99", []string{"max_print_width=040"}, "98", func(f string) bool { return f[0] == 'Y' }},
		{"23", []string{"AO=MAIN", "AA=" + fixtures.PatronGood, "AD=" + fixtures.DemoPIN}, "24", func(f string) bool { return f[0] == ' ' }},
		{"63", []string{"AO=MAIN", "AA=" + fixtures.PatronGood, "AD=" + fixtures.DemoPIN, "summary=  Y       "}, "64", func(string) bool { return true }},
		{"11", []string{"AO=MAIN", "AA=" + fixtures.PatronGood, "AD=" + fixtures.DemoPIN, "AB=" + fixtures.ItemBranch}, "12", func(f string) bool { return f[0] == '1' }},
		{"29", []string{"AO=MAIN", "AA=" + fixtures.PatronGood, "AD=" + fixtures.DemoPIN, "AB=" + fixtures.ItemBranch}, "30", func(f string) bool { return f[0] == '1' }},
		{"65", []string{"AO=MAIN", "AA=" + fixtures.PatronGood, "AD=" + fixtures.DemoPIN}, "66", func(f string) bool { return f[0] == '1' }},
		{"09", []string{"AO=MAIN", "AP=MAIN", "AB=" + fixtures.ItemBranch}, "10", func(f string) bool { return f[0] == '1' }},
		{"17", []string{"AO=MAIN", "AB=" + fixtures.ItemHeld}, "18", func(f string) bool { return f[:2] == "03" }},
		{"37", []string{"AO=MAIN", "AA=" + fixtures.PatronFees, "AD=" + fixtures.DemoPIN, "BV=1.00", "BH=USD", "BK=E2E-" + fmt.Sprint(now.UnixNano())}, "38", func(f string) bool { return f[0] == 'Y' }},
		{"15", []string{"hold_mode=+", "AO=MAIN", "AA=" + fixtures.PatronGood, "AD=" + fixtures.DemoPIN, "AB=" + holdItem}, "16", func(f string) bool { return f[0] == '1' }},
		{"35", []string{"AO=MAIN", "AA=" + fixtures.PatronGood, "AD=" + fixtures.DemoPIN}, "36", func(f string) bool { return f[0] == 'Y' }},
	}
	for _, st := range steps {
		m, err := sip2.ParseFieldSpec(st.code, st.specs, now)
		if err != nil {
			t.Fatalf("%s: %v", st.code, err)
		}
		reply, err := c.Send(ctx, m)
		if err != nil {
			t.Fatalf("%s: %v", st.code, err)
		}
		if reply.Code != st.want || len(reply.Fixed) == 0 || !st.ok(reply.Fixed) {
			t.Fatalf("%s answered %s %q %v", st.code, reply.Code, reply.Fixed, reply.Fields)
		}
	}
}

// A complete kiosk session over plain TCP, over TLS, and through circa
// tunnel; stunnel's path is TestConformanceStunnel.
func TestKioskSessionOverEveryTransport(t *testing.T) {
	s := startDemoServer(t)
	t.Run("plain", func(t *testing.T) {
		conn, err := net.Dial("tcp", s.sip2)
		if err != nil {
			t.Fatal(err)
		}
		kioskSession(t, conn, time.Now(), fixtures.ItemAvailable)
	})
	t.Run("tls", func(t *testing.T) {
		conn, err := tls.Dial("tcp", s.sip2TLS, s.tlsConfig(t))
		if err != nil {
			t.Fatal(err)
		}
		kioskSession(t, conn, time.Now().Add(time.Second), fixtures.ItemDiacritics)
	})
	t.Run("tunnel", func(t *testing.T) {
		// The first server named is down: the tunnel goes on to the one that answers.
		down := closedAddr(t)
		ctx, cancel := context.WithCancel(context.Background())
		out, logs := &syncBuffer{}, &syncBuffer{}
		done := make(chan int, 1)
		go func() {
			done <- execute(ctx, []string{"tunnel", "--listen", "127.0.0.1:0", "--connect", down + ", " + s.sip2TLS,
				"--ca", s.ca}, nil, out, logs)
		}()
		defer func() {
			cancel()
			if code := <-done; code != 0 {
				t.Errorf("tunnel exit %d: %s", code, logs.String())
			}
		}()
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(out.String(), "(TLS)") && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		start := strings.Fields(out.String())
		if want := []string{"tunnel", "→", down + ",", s.sip2TLS, "(TLS)"}; len(start) != 6 || start[0] != want[0] ||
			!slices.Equal(start[2:], want[1:]) {
			t.Fatalf("start line %q, want the listen address and both servers", out.String())
		}
		conn, err := net.Dial("tcp", start[1])
		if err != nil {
			t.Fatal(err)
		}
		kioskSession(t, conn, time.Now().Add(2*time.Second), fixtures.ItemMagnetic)
		if !strings.Contains(logs.String(), "trying the next") {
			t.Errorf("the move past %s was not logged:\n%s", down, logs.String())
		}
	})
	if r := run(t, "db", "check", "--data-dir", s.dir); r.code != 0 {
		t.Fatalf("db check after the sessions: %+v", r)
	}
}

// TestConformanceStunnel runs the kiosk session through Debian's stunnel in
// client mode, as kiosks of cloud ILS set-ups do. make conformance installs
// stunnel4.
func TestConformanceStunnel(t *testing.T) {
	bin := conformance.Tool(t, "stunnel4", "stunnel")
	s := startDemoServer(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	conf := filepath.Join(t.TempDir(), "stunnel.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf(`foreground = yes
pid =
[sip2]
client = yes
accept = 127.0.0.1:%d
connect = %s
CAfile = %s
verifyChain = yes
checkHost = localhost
`, port, s.sip2TLS, s.ca)), 0o600)
	cmd := exec.Command(bin, conf)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	var conn net.Conn
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if conn, err = net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stunnel did not listen: %v\n%s", err, stderr.String())
		}
	}
	defer func() {
		if t.Failed() {
			t.Logf("stunnel said:\n%s", stderr.String())
		}
	}()
	kioskSession(t, conn, time.Now(), fixtures.ItemAvailable)
}

// The ILL borrowing flow across both protocols against one running server:
// the broker verifies the patron and announces the borrowed item over NCIP,
// the patron checks it out and returns it at a kiosk over SIP2, and the
// broker checks it in and deletes the temporary item.
func TestILLBorrowingAcrossNCIPAndSIP2(t *testing.T) {
	s := startDemoServer(t)
	ctx := context.Background()
	nc := &ncip.Client{URL: s.httpURL + "/ncip", APIKey: fixtures.PartnerKey}
	call := func(service string, fields ...string) *ncip.Result {
		t.Helper()
		req, err := ncip.BuildRequest(service, append([]string{"from=" + fixtures.PartnerAgency, "to=" + fixtures.LocalAgency}, fields...))
		if err != nil {
			t.Fatal(err)
		}
		res, err := nc.Do(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if res.Problem != nil {
			t.Fatalf("%s: problem %s: %s\n%s", service, res.Problem.Type.Value, res.Problem.Detail, res.Body)
		}
		return res
	}
	call("LookupUser", "barcode="+fixtures.PatronGood, "pin="+fixtures.DemoPIN)
	call("AcceptItem", "request=E2E-1", "item=E2E-ILL-1", "user="+fixtures.PatronGood, "title=Borrowed across protocols")

	conn, err := net.Dial("tcp", s.sip2)
	if err != nil {
		t.Fatal(err)
	}
	c := sip2.NewClient(conn, sip2.ClientOptions{Timeout: 20 * time.Second})
	defer c.Close()
	send := func(code string, specs ...string) *sip2.Message {
		t.Helper()
		m, err := sip2.ParseFieldSpec(code, specs, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		reply, err := c.Send(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		return reply
	}
	if r := send("93", "CN="+fixtures.KioskLogin, "CO="+fixtures.KioskPassword); r.Fixed[0] != '1' {
		t.Fatalf("login: %q", r.Fixed)
	}
	if r := send("11", "AO=MAIN", "AA="+fixtures.PatronGood, "AD="+fixtures.DemoPIN, "AB=E2E-ILL-1"); r.Fixed[0] != '1' {
		t.Fatalf("kiosk checkout of the borrowed item: %q %v", r.Fixed, r.Fields)
	}
	if r := send("09", "AO=MAIN", "AP=MAIN", "AB=E2E-ILL-1"); r.Fixed[0] != '1' {
		t.Fatalf("kiosk checkin of the borrowed item: %q %v", r.Fixed, r.Fields)
	}
	call("CheckInItem", "item=E2E-ILL-1")
	call("DeleteItem", "item=E2E-ILL-1")
	if r := run(t, "item", "show", "E2E-ILL-1", "--data-dir", s.dir); r.code != 1 {
		t.Fatalf("temporary item still there: %+v", r)
	}
}

// The HTTP side of a running server: health, metrics after a kiosk session,
// and an OAI-PMH harvest of the whole demo catalogue.
func TestServeHTTPEndpoints(t *testing.T) {
	s := startDemoServer(t)
	conn, err := net.Dial("tcp", s.sip2)
	if err != nil {
		t.Fatal(err)
	}
	kioskSession(t, conn, time.Now(), fixtures.ItemAvailable)
	get := func(path string) string {
		t.Helper()
		resp, err := http.Get(s.httpURL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %s", path, resp.Status)
		}
		return string(body)
	}
	if body := get("/healthz"); !strings.Contains(body, `"status":"ok"`) {
		t.Fatalf("healthz: %q", body)
	}
	metrics := get("/metrics")
	for _, want := range []string{`circa_sip2_message_duration_seconds_count{code="11",listener="sip2",outcome="ok"} 1`,
		"circa_sip2_connections_open", "circa_store_commits_total", "circa_sip2_logins_failed_total",
		"circa_store_pages_written_total", "circa_store_commit_apply_seconds_total", "circa_store_commit_write_seconds_total",
		"circa_store_healthy 1", "circa_store_commit_failures_total 0"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(metrics, fixtures.PatronGood) {
		t.Error("a patron barcode reached the metrics")
	}
	// Profiles answer on their own listener only.
	if resp, err := http.Get(s.debugURL + "/debug/pprof/cmdline"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("pprof on the debug listener: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	if resp, err := http.Get(s.httpURL + "/debug/pprof/cmdline"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("pprof must not be on the public listener: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	if body := get("/oai?verb=Identify"); !strings.Contains(body, "<deletedRecord>persistent</deletedRecord>") {
		t.Fatalf("Identify: %s", body)
	}
	r := run(t, "oai", "harvest", s.httpURL+"/oai", "--prefix", "oai_dc")
	if r.code != 0 || !strings.Contains(r.out, "1984") {
		t.Fatalf("harvest of the demo catalogue: %+v", r)
	}
}

// waitServing waits until a server started in this process with execute
// has printed its addresses (the admin socket's line is the last), failing
// the test if it exits first or takes over 30 s.
func waitServing(t *testing.T, out *syncBuffer, done <-chan int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), "admin") {
		select {
		case code := <-done:
			t.Fatalf("serve exited %d: %s", code, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("server did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
