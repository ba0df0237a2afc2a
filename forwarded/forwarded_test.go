package forwarded

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

func mustProxies(t testing.TB, entries ...string) Proxies {
	t.Helper()
	p, err := ParseProxies(entries)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParseProxies(t *testing.T) {
	p := mustProxies(t, "10.0.0.0/8", " 192.0.2.7 ", "2001:db8::/32", "::ffff:198.51.100.1")
	for a, want := range map[string]bool{"10.1.2.3": true, "192.0.2.7": true, "192.0.2.8": false, "2001:db8::1": true,
		"198.51.100.1": true, "::ffff:10.0.0.1": true, "2001:db9::1": false} {
		if got := p.Contains(netip.MustParseAddr(a)); got != want {
			t.Errorf("Contains(%s) = %v, want %v", a, got, want)
		}
	}
	for _, bad := range []string{"10.0.0.0/33", "proxy.example.org", "10.0.0.1:80"} {
		if _, err := ParseProxies([]string{bad}); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("ParseProxies(%q) = %v, want an error naming it", bad, err)
		}
	}
	if (Proxies(nil)).Contains(netip.MustParseAddr("127.0.0.1")) {
		t.Error("no proxies trusted 127.0.0.1")
	}
}

func TestClient(t *testing.T) {
	peer := netip.MustParseAddr("10.0.0.2")
	proxies := mustProxies(t, "10.0.0.0/8")
	cases := []struct {
		name   string
		h      map[string][]string
		addr   string
		scheme string
	}{
		{"no headers", nil, "10.0.0.2:0", ""},
		{"nginx", map[string][]string{"X-Forwarded-For": {"203.0.113.9"}, "X-Forwarded-Proto": {"https"}}, "203.0.113.9:0", "https"},
		{"spoofed entry before the client", map[string][]string{"X-Forwarded-For": {"198.51.100.66, 203.0.113.9"}}, "203.0.113.9:0", ""},
		{"two proxies", map[string][]string{"X-Forwarded-For": {"203.0.113.9, 10.0.0.5"}, "X-Forwarded-Proto": {"https, http"}}, "203.0.113.9:0", "https"},
		{"repeated headers", map[string][]string{"X-Forwarded-For": {"203.0.113.9", "10.0.0.5"}, "X-Forwarded-Proto": {"HTTPS"}}, "203.0.113.9:0", "https"},
		{"all proxies", map[string][]string{"X-Forwarded-For": {"10.0.0.9, 10.0.0.5"}}, "10.0.0.9:0", ""},
		{"junk ends the walk", map[string][]string{"X-Forwarded-For": {"203.0.113.9, junk, 10.0.0.5"}}, "10.0.0.5:0", ""},
		{"unknown scheme", map[string][]string{"X-Forwarded-For": {"203.0.113.9"}, "X-Forwarded-Proto": {"gopher"}}, "203.0.113.9:0", ""},
		{"IPv6 with port", map[string][]string{"X-Forwarded-For": {"[2001:db8::7]:4711"}}, "[2001:db8::7]:4711", ""},
		{"Forwarded", map[string][]string{"Forwarded": {`for=203.0.113.9;proto=https;by=10.0.0.2`}}, "203.0.113.9:0", "https"},
		{"Forwarded wins", map[string][]string{"Forwarded": {`for="[2001:db8:cafe::17]:4711";proto=https`}, "X-Forwarded-For": {"198.51.100.66"}},
			"[2001:db8:cafe::17]:4711", "https"},
		{"Forwarded chain", map[string][]string{"Forwarded": {`for=198.51.100.66;proto=http, For="203.0.113.9";Proto=HTTPS`, `for=10.0.0.5`}},
			"203.0.113.9:0", "https"},
		{"Forwarded quoted comma", map[string][]string{"Forwarded": {`for=203.0.113.9;host="a,b";proto=https`}}, "203.0.113.9:0", "https"},
		{"Forwarded obfuscated", map[string][]string{"Forwarded": {`for=203.0.113.9, for=_hidden, for=10.0.0.5`}}, "10.0.0.5:0", ""},
		{"Forwarded unknown", map[string][]string{"Forwarded": {`for=unknown;proto=https`}}, "10.0.0.2:0", "https"},
		{"Forwarded scheme only", map[string][]string{"Forwarded": {`proto=https`}}, "10.0.0.2:0", "https"},
		{"scheme only", map[string][]string{"X-Forwarded-Proto": {"https"}}, "10.0.0.2:0", "https"},
		{"junk nearest, scheme of a farther hop", map[string][]string{"Forwarded": {`for=203.0.113.9;proto=https, for=junk`}}, "10.0.0.2:0", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			addr, scheme := Client(peer, http.Header(c.h), proxies)
			if addr.String() != c.addr || scheme != c.scheme {
				t.Fatalf("Client = %s %q, want %s %q", addr, scheme, c.addr, c.scheme)
			}
		})
	}
}

// The rule over a real socket: the same headers move the address and the
// scheme when the peer is a trusted proxy and are gone when it is not.
func TestHandlerTrustsOnlyProxies(t *testing.T) {
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.RemoteAddr+" "+Scheme(r)+" "+r.Header.Get("X-Forwarded-For")+r.Header.Get("Forwarded"))
	})
	get := func(proxies Proxies, hdr map[string]string) string {
		srv := httptest.NewServer(Handler(proxies, echo))
		defer srv.Close()
		req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	xff := map[string]string{"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
	if got := get(mustProxies(t, "127.0.0.1"), xff); got != "203.0.113.9:0 https 203.0.113.9" {
		t.Errorf("from a trusted proxy: %q", got)
	}
	for name, p := range map[string]Proxies{"nobody trusted": nil, "another proxy trusted": mustProxies(t, "10.0.0.0/8")} {
		got := get(p, xff)
		if !strings.HasPrefix(got, "127.0.0.1:") || !strings.HasSuffix(got, " http ") {
			t.Errorf("%s: %q, want the peer, http and no headers", name, got)
		}
		got = get(p, map[string]string{"Forwarded": "for=203.0.113.9;proto=https"})
		if !strings.HasPrefix(got, "127.0.0.1:") || !strings.HasSuffix(got, " http ") {
			t.Errorf("%s, Forwarded: %q", name, got)
		}
	}
}

func FuzzClient(f *testing.F) {
	f.Add(`for=203.0.113.9;proto=https, for="[2001:db8::1]:80"`, "203.0.113.9, 10.0.0.5", "https, http")
	f.Add(`for="\"quoted\\";proto="https"`, "[::1]:1, junk", "HTTPS")
	f.Add("", "::ffff:10.0.0.1", "")
	proxies := Proxies{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")}
	peer := netip.MustParseAddr("10.0.0.2")
	f.Fuzz(func(t *testing.T, fwd, xff, xfp string) {
		h := http.Header{}
		if fwd != "" {
			h.Set("Forwarded", fwd)
		}
		h.Set("X-Forwarded-For", xff)
		h.Set("X-Forwarded-Proto", xfp)
		addr, scheme := Client(peer, h, proxies)
		if !addr.IsValid() || addr.Addr().Zone() != "" || addr.Addr().Is4In6() {
			t.Fatalf("Client returned %v", addr)
		}
		if scheme != "" && scheme != "http" && scheme != "https" {
			t.Fatalf("scheme %q", scheme)
		}
		// An IPv4 client other than the peer was named by a header (IPv6
		// has several spellings, so only IPv4 is compared as text).
		if a := addr.Addr(); a != peer && a.Is4() && !strings.Contains(fwd+","+xff, a.String()) {
			t.Fatalf("client %v appears in no header", addr)
		}
	})
}
