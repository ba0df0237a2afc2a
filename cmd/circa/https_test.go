package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/circa-ils/circa/fixtures"
	"github.com/circa-ils/circa/internal/conformance"
	"github.com/circa-ils/circa/ncip"
	"github.com/circa-ils/circa/netlimit"
	"github.com/circa-ils/circa/tlsproxy"
)

// httpsClient trusts the demo CA, presents cert when not nil and speaks
// HTTP/2 when the server offers it.
func (s *demoServer) httpsClient(t *testing.T, cert *tls.Certificate) *http.Client {
	t.Helper()
	cfg := s.tlsConfig(t)
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	tr := &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 20 * time.Second}
}

// postNCIP sends a request of service built from fields, with the demo
// partner's key and the extra headers, and returns its first Problem
// type ("" for none).
func postNCIP(t *testing.T, c *http.Client, url string, hdr map[string]string, service string, fields ...string) string {
	t.Helper()
	req, err := ncip.BuildRequest(service, fields)
	if err != nil {
		t.Fatal(err)
	}
	body, err := ncip.EncodeRequest(req, ncip.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	hreq, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	hreq.Header.Set("X-API-Key", fixtures.PartnerKey)
	for k, v := range hdr {
		hreq.Header.Set(k, v)
	}
	resp, err := c.Do(hreq)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	m, err := ncip.DecodeResponse(out, ncip.DecodeOptions{})
	if err != nil {
		t.Fatalf("%s: not an NCIP answer (%v): %s", service, err, out)
	}
	if len(m.Problems) > 0 {
		return m.Problems[0].Type.Value
	}
	return ""
}

// Partners talk NCIP over circa serve's HTTPS listener (HTTP/2 when they
// offer it), harvesters get an https baseURL and staff the status page's
// sign-in; /metrics is not there. A
// partner whose profile requires a client certificate gets in with the one
// circa tls issue made for it, through circa ncip send, and is refused
// with none, with another profile's, and over plain HTTP.
func TestNCIPOverHTTPS(t *testing.T) {
	s := startDemoServer(t)
	d := []string{"--data-dir", s.dir}
	c := s.httpsClient(t, nil)
	lookup := []string{"from=" + fixtures.PartnerAgency, "user=" + fixtures.PatronGood}
	if p := postNCIP(t, c, s.httpsURL+"/ncip", nil, "LookupUser", lookup...); p != "" {
		t.Fatalf("LookupUser over HTTPS: %s", p)
	}
	resp, err := c.Get(s.httpsURL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 {
		t.Fatalf("healthz over HTTPS: %s %s", resp.Proto, resp.Status)
	}
	if resp, err = c.Get(s.httpsURL + "/metrics"); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("/metrics over HTTPS: %s, want 404", resp.Status)
	}
	// Staff reach the status page's sign-in over HTTPS.
	if resp, err = c.Get(s.httpsURL + "/status"); err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), "Sign in with a staff account") {
		t.Fatalf("/status over HTTPS: %s\n%s", resp.Status, page)
	}
	if resp, err = c.Get(s.httpsURL + "/oai?verb=Identify"); err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := "<baseURL>" + s.httpsURL + "/oai</baseURL>"; !strings.Contains(string(body), want) {
		t.Fatalf("Identify over HTTPS lacks %s:\n%s", want, body)
	}

	if r := run(t, append([]string{"profile", "ncip", "edit", fixtures.PartnerCode, "--client-cert"}, d...)...); r.code != 0 {
		t.Fatalf("profile ncip edit --client-cert: %+v", r)
	}
	out := t.TempDir()
	for _, code := range []string{fixtures.PartnerCode, fixtures.KioskLogin} {
		if r := run(t, append([]string{"tls", "issue", "--profile", code, "--out", out}, d...)...); r.code != 0 {
			t.Fatalf("tls issue %s: %+v", code, r)
		}
	}
	send := func(url string, tlsFlags ...string) result {
		t.Helper()
		args := append([]string{"ncip", "send", "--url", url + "/ncip", "--key", fixtures.PartnerKey, "--service", "LookupUser"}, tlsFlags...)
		return run(t, append(args, lookup...)...)
	}
	certOf := func(code string) []string {
		return []string{"--ca", s.ca, "--cert", filepath.Join(out, code+".pem"), "--cert-key", filepath.Join(out, code+"-key.pem")}
	}
	if r := send(s.httpsURL, certOf(fixtures.PartnerCode)...); r.code != 0 || !strings.Contains(r.out, "LookupUserResponse") {
		t.Fatalf("ncip send with the partner's certificate: %+v", r)
	}
	for name, r := range map[string]result{
		"no certificate":               send(s.httpsURL, "--ca", s.ca),
		"another profile's":            send(s.httpsURL, certOf(fixtures.KioskLogin)...),
		"plain HTTP, no certificate":   send(s.httpURL),
		"a certificate over plain URL": send(s.httpURL, certOf(fixtures.PartnerCode)...),
	} {
		if r.code == 0 {
			t.Errorf("%s: served: %+v", name, r)
		}
		if name != "a certificate over plain URL" && !strings.Contains(r.errOut, ncip.AgencyAuthenticationFailed) {
			t.Errorf("%s: %q, want %s", name, r.errOut, ncip.AgencyAuthenticationFailed)
		}
	}
}

// Forwarded headers move the logged address, the address a partner's
// allow-list sees and the OAI baseURL's scheme only when the peer is a
// trusted proxy; from another address they are ignored.
func TestForwardedHeadersFromTrustedProxiesOnly(t *testing.T) {
	s := startDemoServerIn(t, seededDir(t), "--http-trusted-proxies", "127.0.0.1", "--log-level", "info")
	if r := run(t, "profile", "ncip", "edit", fixtures.PartnerCode, "--allow-ip", "203.0.113.0/24", "--data-dir", s.dir); r.code != 0 {
		t.Fatalf("profile ncip edit --allow-ip: %+v", r)
	}
	from := func(src string) *http.Client {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
		tr := &http.Transport{DialContext: d.DialContext}
		t.Cleanup(tr.CloseIdleConnections)
		return &http.Client{Transport: tr, Timeout: 20 * time.Second}
	}
	proxy, stranger := from("127.0.0.1"), from("127.0.0.2")
	lookup := []string{"from=" + fixtures.PartnerAgency, "user=" + fixtures.PatronGood}
	viaProxy := map[string]string{"X-Forwarded-For": "198.51.100.66, 203.0.113.9", "X-Forwarded-Proto": "https"}
	if p := postNCIP(t, proxy, s.httpURL+"/ncip", viaProxy, "LookupUser", lookup...); p != "" {
		t.Fatalf("a partner's request through the trusted proxy: %s", p)
	}
	if p := postNCIP(t, proxy, s.httpURL+"/ncip", nil, "LookupUser", lookup...); p != ncip.AgencyAuthenticationFailed {
		t.Fatalf("the proxy's own address passed the partner's allow-list: %q", p)
	}
	for _, h := range []map[string]string{viaProxy, {"Forwarded": "for=203.0.113.9;proto=https"}} {
		if p := postNCIP(t, stranger, s.httpURL+"/ncip", h, "LookupUser", lookup...); p != ncip.AgencyAuthenticationFailed {
			t.Fatalf("headers from an untrusted peer were believed (%v): %q", h, p)
		}
	}
	logs := s.logs.String()
	if !strings.Contains(logs, `"remote":"203.0.113.9:0"`) || !strings.Contains(logs, `"remote":"127.0.0.2:`) ||
		strings.Contains(logs, "198.51.100.66") {
		t.Fatalf("logged sources: want the client behind the proxy and the untrusted peer itself:\n%s", grepLines(logs, `"proto":"ncip"`))
	}

	baseURL := func(c *http.Client) string {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, s.httpURL+"/oai?verb=Identify", nil)
		req.Host = "library.example.edu"
		req.Header.Set("X-Forwarded-Proto", "https")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		_, rest, _ := strings.Cut(string(body), "<baseURL>")
		u, _, _ := strings.Cut(rest, "</baseURL>")
		return u
	}
	if got := baseURL(proxy); got != "https://library.example.edu/oai" {
		t.Errorf("baseURL through the proxy = %q", got)
	}
	if got := baseURL(stranger); got != "http://library.example.edu/oai" {
		t.Errorf("baseURL from an untrusted peer = %q", got)
	}
}

// SIGHUP makes the HTTPS listener serve a renewed certificate without a
// restart.
func TestHTTPSReloadsCertificateOnSIGHUP(t *testing.T) {
	// Held for the whole test, so a SIGHUP that arrives before the server
	// listens for it cannot end the test process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	s := startDemoServer(t)
	served := func() string {
		t.Helper()
		cfg := s.tlsConfig(t)
		conn, err := tls.Dial("tcp", strings.TrimPrefix(s.httpsURL, "https://"), cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	before := served()
	if _, err := tlsproxy.IssueServer(filepath.Join(s.dir, "tls"), filepath.Join(s.dir, "tls"), []string{"127.0.0.1", "localhost"}); err != nil {
		t.Fatal(err)
	}
	if served() != before {
		t.Fatal("the new certificate was served before SIGHUP")
	}
	deadline := time.Now().Add(15 * time.Second)
	for served() == before {
		if time.Now().After(deadline) {
			t.Fatal("the HTTPS listener still serves the old certificate after SIGHUP")
		}
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if p := postNCIP(t, s.httpsClient(t, nil), s.httpsURL+"/ncip", nil, "LookupUser",
		"from="+fixtures.PartnerAgency, "user="+fixtures.PatronGood); p != "" {
		t.Fatalf("NCIP after the reload: %s", p)
	}
}

// The HTTPS listener as serve builds it, with short timeouts: a peer that
// never starts its handshake, one that sends its headers a byte at a time
// and one that opens more connections than its share are all cut off
// quickly, while a well-behaved client is served over HTTP/2.
func TestHTTPSListenerLimits(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	pki, err := tlsproxy.InitCA(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := httpsTLSConfig(tlsFiles{cert: pki.Cert, key: pki.Key, clientCA: pki.CACert})
	if err != nil {
		t.Fatal(err)
	}
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	const perSource = 3
	refused := make(chan string, 16)
	limits := netlimit.NewListener(inner, 0, perSource, &netlimit.RefusalLog{Log: zerolog.Nop()}, func(limit string) { refused <- limit })
	timeouts := httpTimeouts{handshake: time.Second, header: time.Second, read: 2 * time.Second,
		write: 2 * time.Second, idle: 2 * time.Second}
	var logs syncBuffer
	srv := newHTTPServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.Proto) }), timeouts,
		zerolog.New(&logs).Level(zerolog.DebugLevel))
	served := make(chan error, 1)
	go func() { served <- srv.Serve(httpsListener(limits, sc, timeouts.handshake)) }()
	defer func() {
		srv.Close()
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Error(err)
		}
	}()
	addr := inner.Addr().String()
	// cutOff reports how long the server took to close c, failing past limit.
	cutOff := func(what string, c net.Conn, limit time.Duration) time.Duration {
		t.Helper()
		start := time.Now()
		c.SetReadDeadline(start.Add(limit))
		_, err := io.Copy(io.Discard, c)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("%s: still open after %v", what, limit)
		}
		return time.Since(start)
	}

	silent, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	cutOff("a peer that never starts its handshake", silent, 5*time.Second)
	for start := time.Now(); !strings.Contains(logs.String(), `"level":"debug","message":"http: TLS handshake error`); time.Sleep(20 * time.Millisecond) {
		if time.Since(start) > 5*time.Second {
			t.Fatalf("the failed handshake was not logged at debug level: %q", logs.String())
		}
	}

	slow, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	go func() {
		for _, b := range []byte("GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ") {
			if _, err := slow.Write([]byte{b}); err != nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	cutOff("a peer sending its headers a byte at a time", slow, 5*time.Second)

	// One connection more than the cap: whichever of them the listener
	// accepts last is refused at once, not held for a handshake's time.
	var held []net.Conn
	for range perSource + 1 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		held = append(held, c)
	}
	select {
	case limit := <-refused:
		if limit != netlimit.LimitConnsPerSource {
			t.Fatalf("refused by %s, want the per-source cap", limit)
		}
	case <-time.After(timeouts.handshake * 3 / 10):
		t.Fatalf("a connection over the per-source cap was not refused within %v", timeouts.handshake*3/10)
	}
	for _, c := range held {
		c.Close()
	}

	pool, err := tlsproxy.ReadCAFile(pki.CACert)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	var resp *http.Response
	for start := time.Now(); ; {
		// The held connections give their places back once the server sees them closed.
		if resp, err = (&http.Client{Transport: tr}).Get("https://" + addr + "/"); err == nil || time.Since(start) > 5*time.Second {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	proto, _ := bufio.NewReader(resp.Body).ReadString('\n')
	resp.Body.Close()
	if proto != "HTTP/2.0" {
		t.Fatalf("served over %q, want HTTP/2.0", proto)
	}
}

// curl, a partner's client built on another TLS stack, sends NCIP over
// HTTPS with the client certificate circa tls issue made, over HTTP/2 when
// it can, and is refused without it.
func TestConformanceCurlPartnerWithClientCertificate(t *testing.T) {
	curl := conformance.Tool(t, "curl")
	s := startDemoServer(t)
	d := []string{"--data-dir", s.dir}
	if r := run(t, append([]string{"profile", "ncip", "edit", fixtures.PartnerCode, "--client-cert"}, d...)...); r.code != 0 {
		t.Fatalf("profile ncip edit --client-cert: %+v", r)
	}
	out := t.TempDir()
	if r := run(t, append([]string{"tls", "issue", "--profile", fixtures.PartnerCode, "--out", out}, d...)...); r.code != 0 {
		t.Fatalf("tls issue: %+v", r)
	}
	req, err := ncip.BuildRequest("LookupUser", []string{"from=" + fixtures.PartnerAgency, "user=" + fixtures.PatronGood})
	if err != nil {
		t.Fatal(err)
	}
	body, err := ncip.EncodeRequest(req, ncip.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	reqFile := filepath.Join(out, "lookup.xml")
	if err := os.WriteFile(reqFile, body, 0o600); err != nil {
		t.Fatal(err)
	}
	post := func(extra ...string) (answer, version string) {
		t.Helper()
		args := append([]string{"-sS", "--max-time", "20", "--cacert", s.ca, "-H", "X-API-Key: " + fixtures.PartnerKey,
			"-H", "Content-Type: application/xml", "--data-binary", "@" + reqFile, "-w", "\nHTTP %{http_version}"}, extra...)
		b, err := exec.Command(curl, append(args, s.httpsURL+"/ncip")...).CombinedOutput()
		if err != nil {
			t.Fatalf("curl: %v\n%s", err, b)
		}
		answer, version, _ = strings.Cut(string(b), "\nHTTP ")
		return answer, strings.TrimSpace(version)
	}
	answer, version := post("--cert", filepath.Join(out, fixtures.PartnerCode+".pem"), "--key", filepath.Join(out, fixtures.PartnerCode+"-key.pem"))
	if !strings.Contains(answer, "LookupUserResponse") || strings.Contains(answer, "Problem") {
		t.Fatalf("curl with the partner's certificate:\n%s", answer)
	}
	if v, _ := exec.Command(curl, "-V").Output(); bytes.Contains(v, []byte("HTTP2")) && version != "2" {
		t.Errorf("curl supports HTTP/2 but spoke HTTP/%s", version)
	}
	if answer, _ = post(); !strings.Contains(answer, ncip.AgencyAuthenticationFailed) {
		t.Fatalf("curl without a certificate:\n%s", answer)
	}
}

// The nginx server block of docs/https.md, with the test's addresses and
// files, in front of circa serve: the partner's allow-list sees the client
// behind nginx, the log names it, and the OAI baseURL is https with the
// host the client asked for.
func TestConformanceNginxInFront(t *testing.T) {
	nginx := conformance.Tool(t, "nginx", "/usr/sbin/nginx")
	s := startDemoServerIn(t, seededDir(t), "--http-trusted-proxies", "127.0.0.1", "--log-level", "info")
	if r := run(t, "profile", "ncip", "edit", fixtures.PartnerCode, "--allow-ip", "127.0.0.2", "--data-dir", s.dir); r.code != 0 {
		t.Fatalf("profile ncip edit --allow-ip: %+v", r)
	}
	page, err := os.ReadFile(filepath.Join("..", "..", "docs", "https.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, block, _ := strings.Cut(string(page), "```nginx\n")
	block, _, _ = strings.Cut(block, "```")
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := free.Addr().String()
	free.Close()
	for shown, real := range map[string]string{
		"listen 443 ssl;":                               "listen " + addr + " ssl;",
		"/etc/ssl/ncip.library.example.edu.pem":         filepath.Join(s.dir, "tls", tlsproxy.ServerCertFile),
		"/etc/ssl/private/ncip.library.example.edu.key": filepath.Join(s.dir, "tls", tlsproxy.ServerKeyFile),
		"http://127.0.0.1:8080":                         s.httpURL,
	} {
		if !strings.Contains(block, shown) {
			t.Fatalf("the nginx block of docs/https.md no longer has %q", shown)
		}
		block = strings.ReplaceAll(block, shown, real)
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "nginx.conf")
	err = os.WriteFile(conf, []byte("daemon off;\nmaster_process off;\npid "+dir+"/nginx.pid;\nerror_log "+dir+"/error.log;\n"+
		"events {}\nhttp {\n  access_log off;\n  client_body_temp_path "+dir+"/body;\n  proxy_temp_path "+dir+"/proxy;\n"+
		"  fastcgi_temp_path "+dir+"/fastcgi;\n  uwsgi_temp_path "+dir+"/uwsgi;\n  scgi_temp_path "+dir+"/scgi;\n"+block+"}\n"), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(nginx, "-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log"))
	var nginxOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &nginxOut, &nginxOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if time.Since(start) > 10*time.Second {
			errLog, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx does not listen on %s:\n%s%s", addr, nginxOut.String(), errLog)
		}
	}

	from := func(src string) *http.Client {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
		tr := &http.Transport{DialContext: d.DialContext, TLSClientConfig: s.tlsConfig(t)}
		t.Cleanup(tr.CloseIdleConnections)
		return &http.Client{Transport: tr, Timeout: 20 * time.Second}
	}
	url := "https://" + addr
	lookup := []string{"from=" + fixtures.PartnerAgency, "user=" + fixtures.PatronGood}
	if p := postNCIP(t, from("127.0.0.2"), url+"/ncip", nil, "LookupUser", lookup...); p != "" {
		t.Fatalf("the allowed partner address through nginx: %s", p)
	}
	if p := postNCIP(t, from("127.0.0.3"), url+"/ncip", nil, "LookupUser", lookup...); p != ncip.AgencyAuthenticationFailed {
		t.Fatalf("another address through nginx passed the allow-list: %q", p)
	}
	if logs := s.logs.String(); !strings.Contains(logs, `"remote":"127.0.0.2:0"`) {
		t.Fatalf("the log does not name the client behind nginx:\n%s", grepLines(logs, `"proto":"ncip"`))
	}
	req, _ := http.NewRequest(http.MethodGet, url+"/oai?verb=Identify", nil)
	req.Host = "ncip.library.example.edu"
	resp, err := from("127.0.0.2").Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "<baseURL>https://ncip.library.example.edu/oai</baseURL>") {
		t.Fatalf("Identify through nginx:\n%s", body)
	}
}

// http.trusted_proxies and https.addr are settings like the others: from
// the file as a list, from CIRCA_ variables comma-separated, and an entry
// that is no address or prefix is named with its line.
func TestHTTPSSettings(t *testing.T) {
	dir := t.TempDir()
	file := writeConfig(t, dir, "http:\n  trusted_proxies: [127.0.0.1, 10.0.0.0/8]\nhttps:\n  addr: \"127.0.0.1:8443\"\n")
	got := showSettings(t, "--config", file)
	if got["http.trusted_proxies"] != [2]string{"127.0.0.1,10.0.0.0/8", file + ":2"} || got["https.addr"] != [2]string{"127.0.0.1:8443", file + ":4"} {
		t.Fatalf("from the file: %v %v", got["http.trusted_proxies"], got["https.addr"])
	}
	t.Setenv("CIRCA_HTTP_TRUSTED_PROXIES", "192.0.2.7,2001:db8::/32")
	if g := showSettings(t, "--config", file)["http.trusted_proxies"]; g != [2]string{"192.0.2.7,2001:db8::/32", "env CIRCA_HTTP_TRUSTED_PROXIES"} {
		t.Fatalf("from the environment: %v", g)
	}
	bad := writeConfig(t, dir, "http:\n  trusted_proxies: [127.0.0.1, proxy.example.org]\n")
	if r := run(t, "config", "check", bad); r.code != 1 ||
		!strings.Contains(r.errOut, bad+`:2: http.trusted_proxies: trusted proxy "proxy.example.org": not an IP address or prefix`) {
		t.Fatalf("config check of a proxy given by name: %+v", r)
	}
	if r := run(t, "serve", "--data-dir", dir, "--http-trusted-proxies", "10.0.0.0/33"); r.code != 2 || !strings.Contains(r.errOut, "10.0.0.0/33") {
		t.Fatalf("serve with a bad --http-trusted-proxies: %+v", r)
	}
}
