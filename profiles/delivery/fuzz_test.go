package delivery

import (
	"maps"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh/knownhosts"
)

func FuzzParseManifest(f *testing.F) {
	good := Manifest{File: "circa_bursar_r1_20261127T040000Z_1.xml", Size: 1234,
		SHA256:  strings.Repeat("ab", 32),
		Created: time.Date(2026, 11, 27, 4, 0, 0, 0, time.UTC),
		Summary: Summary{Records: 3, Totals: map[string]string{"USD": "12.50", "EUR": "-1.00"}, FirstID: "B-1", LastID: "B-3"}}
	enc, err := good.Encode()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(enc)
	f.Add([]byte(`{"file":"a.csv","size":0,"sha256":"` + strings.Repeat("E3", 32) + `","records":0}`))
	f.Add([]byte(`{"file":"a.csv","size":10,"sha256":"` + strings.Repeat("0", 64) + `","totals":{"usd":12.5,"gbp":"3"},"extra":[1,2]}`))
	f.Add([]byte(`{"file":"../etc/passwd","size":-1,"sha256":"x"}`))
	f.Add([]byte(`{"file":"a","size":1e3,"sha256":"` + strings.Repeat("0", 64) + `"}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseManifest(b)
		if err != nil {
			return
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("parsed manifest does not validate: %v", err)
		}
		// Strict out: what we write parses back to the same manifest.
		enc, err := m.Encode()
		if err != nil {
			t.Fatalf("a valid manifest does not encode: %v", err)
		}
		again, err := ParseManifest(enc)
		if err != nil {
			t.Fatalf("re-parse of encoded manifest: %v\n%s", err, enc)
		}
		if again.File != m.File || again.Size != m.Size || again.SHA256 != m.SHA256 || again.Records != m.Records ||
			!again.Created.Equal(m.Created) || !maps.Equal(again.Totals, m.Totals) || again.FirstID != m.FirstID {
			t.Fatalf("round trip changed the manifest:\n%+v\n%+v", m, again)
		}
		if err := m.Check(m.Size, strings.ToUpper(m.SHA256)); err != nil {
			t.Fatalf("manifest does not match its own figures: %v", err)
		}
	})
}

func FuzzKnownHosts(f *testing.F) {
	key := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
	f.Add("[127.0.0.1]:2222 "+key, "127.0.0.1", 2222)
	f.Add("127.0.0.1 "+key+" comment\n", "127.0.0.1", 22)
	f.Add("@revoked * "+key+"\n# comment\n\n[h]:1 "+key, "h", 1)
	f.Add("*.example.org,!bad.example.org "+key, "sftp.example.org", 22)
	f.Add("|1|c2FsdA==|aGFzaA== "+key, "host", 22)
	f.Add("@cert-authority * "+key, "x", 22)
	f.Add("garbage", "h", 22)
	f.Fuzz(func(t *testing.T, lines, host string, port int) {
		if port < 0 || port > 65535 || strings.ContainsAny(host, " \t\r\n/@") || host == "" {
			return
		}
		tg := Target{Host: host, Port: port}
		hk, err := newHostKeyChecker(lines, tg.Addr())
		if err != nil {
			return
		}
		if len(hk.algos) == 0 {
			t.Fatal("accepted known_hosts without algorithms")
		}
		// Whatever was accepted must pin some key for the address.
		probe := knownhosts.Normalize(tg.Addr())
		if probe == "" {
			t.Fatal("empty normalised address")
		}
	})
}

func FuzzCheckName(f *testing.F) {
	for _, s := range []string{"a.csv", ".a.part", "../x", "a/b", "a\x00b", "", strings.Repeat("x", 300), "é.xml"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if checkName(name) != nil {
			return
		}
		for _, derived := range []string{"." + name + ".part", ManifestName(name), "." + ManifestName(name) + ".part"} {
			if len(derived) > 255 || strings.ContainsAny(derived, "/\x00") {
				t.Fatalf("accepted name %q yields unusable %q", name, derived)
			}
		}
	})
}
