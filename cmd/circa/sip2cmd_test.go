package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/circa-ils/circa/fixtures"
	"github.com/circa-ils/circa/sip2"
	"github.com/circa-ils/circa/sip2/selfcheck"
	"github.com/circa-ils/circa/tlsproxy"
)

// sip2Server serves SIP2 with the self-check handler for a seeded data
// directory on a loopback port, over TLS when tlsCfg is given.
func sip2Server(t *testing.T, tlsCfg ...*tls.Config) string {
	t.Helper()
	b, err := openBackend(seededDir(t))
	if err != nil {
		t.Fatal(err)
	}
	reg, err := b.registry(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	h, err := selfcheck.NewHandler(selfcheck.Options{Service: b.svc, Profiles: reg, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	srv := sip2.NewServer(&sip2.Options{Handler: h, Logger: zerolog.Nop()})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if len(tlsCfg) > 0 {
		ln = tlsproxy.NewListener(ln, tlsCfg[0], 0)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
		b.Close()
	})
	return addr
}

func TestSIP2Send(t *testing.T) {
	addr := sip2Server(t)
	login := fixtures.KioskLogin + ":" + fixtures.KioskPassword
	r := run(t, "sip2", "send", "--addr", addr, "--login", login,
		"23 language=001 AO=MAIN AA="+fixtures.PatronGood+" AC= AD="+fixtures.DemoPIN,
		`63 summary="  Y       " AO=MAIN AA=`+fixtures.PatronGood+" AD="+fixtures.DemoPIN,
		"9900402.00")
	if r.code != 0 {
		t.Fatalf("send: %+v", r)
	}
	for _, want := range []string{"logged in to " + addr + " as kiosk1", "< 24 Patron Status Response",
		`valid patron               "Y"`, "Eleanor Whitfield", "< 64 Patron Information Response",
		`charged items              "31000000000008"`, "< 98 ACS Status", "checksum", "verified",
		`AD patron password            "***"`} {
		if !strings.Contains(r.out, want) {
			t.Errorf("output lacks %q:\n%s", want, r.out)
		}
	}
	if strings.Contains(r.out, `"`+fixtures.DemoPIN+`"`) {
		t.Errorf("the PIN is printed:\n%s", r.out)
	}
	r = run(t, "sip2", "send", "--addr", addr, "--login", "kiosk1:wrong", "23 AA=1")
	if r.code != 1 || !strings.Contains(r.errOut, "login as kiosk1 refused") {
		t.Errorf("wrong password: %+v", r)
	}
	for _, args := range [][]string{
		{"sip2", "send", "--addr", addr, "23 AA=1"},                           // no --login
		{"sip2", "send", "--addr", addr, "--login", login, "23 nosuch=1"},     // unknown fixed field
		{"sip2", "send", "--addr", addr, "--login", login, `23 AA="open`},     // unbalanced quote
		{"sip2", "send", "--addr", addr, "--login", "nocolon", "23 AA=1"},     // bad --login
		{"sip2", "send", "--addr", addr, "--login", login, "--ca", "x", "99"}, // --ca without --tls
	} {
		if r := run(t, args...); r.code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, r.code, r.errOut)
		}
	}
}

func TestSIP2Shell(t *testing.T) {
	addr := sip2Server(t)
	in := strings.NewReader("help\nhelp 11\nhelp fields\n\n17 AO=MAIN AB=" + fixtures.ItemAvailable +
		"\n23 bad=1\n1720260310    100405AOMAIN|AB" + fixtures.ItemOnLoan + "|\nquit\n17 never=sent\n")
	var out, errOut bytes.Buffer
	code := execute(context.Background(), []string{"sip2", "shell", "--addr", addr, "--login",
		fixtures.KioskLogin + ":" + fixtures.KioskPassword}, in, &out, &errOut)
	if code != 0 {
		t.Fatalf("shell: exit %d: %s", code, errOut.String())
	}
	for _, want := range []string{"Item Information", "sc_renewal_policy", "CY  hold patron id", "< 18 Item Information Response",
		"The quiet harbor", "error: sip2: message 23 has no fixed field", `due date                   "20`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("shell output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestMessagesCommands(t *testing.T) {
	dir := seededDir(t)
	d := []string{"--data-dir", dir}
	r := run(t, append([]string{"messages", "list", "--lang", "ger"}, d...)...)
	if r.code != 0 || !strings.Contains(r.out, "end_session") || !strings.Contains(r.out, "Vielen Dank, auf Wiedersehen") {
		t.Fatalf("list: %+v", r)
	}
	r = run(t, append([]string{"messages", "set", "--profile", fixtures.KioskLogin, "--lang", "fra", "end_session", "À bientôt !"}, d...)...)
	if r.code != 0 || !strings.Contains(r.out, "set end_session (fre)") {
		t.Fatalf("set: %+v", r)
	}
	r = run(t, append([]string{"messages", "list", "--profile", fixtures.KioskLogin, "--lang", "fre"}, d...)...)
	if r.code != 0 || !strings.Contains(r.out, "À bientôt ! *") || !strings.Contains(r.out, "Bienvenue") {
		t.Fatalf("list with the override: %+v", r)
	}
	r = run(t, append([]string{"messages", "set", "--profile", fixtures.KioskLogin, "--lang", "fre", "end_session", ""}, d...)...)
	if r.code != 0 || !strings.Contains(r.out, "removed") {
		t.Fatalf("remove: %+v", r)
	}
	r = run(t, append([]string{"messages", "list", "--profile", fixtures.KioskLogin, "--lang", "fre"}, d...)...)
	if strings.Contains(r.out, "À bientôt") {
		t.Errorf("override still listed: %s", r.out)
	}
	for _, args := range [][]string{
		{"messages", "set", "--profile", fixtures.KioskLogin, "no_such_code", "x"},
		{"messages", "set", "end_session", "x"},
		{"messages", "list", "--lang", "english"},
	} {
		if r := run(t, append(args, d...)...); r.code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, r.code, r.errOut)
		}
	}
	if r := run(t, append([]string{"messages", "set", "--profile", "nosuch", "end_session", "x"}, d...)...); r.code != 1 {
		t.Errorf("unknown profile: %+v", r)
	}
	if r := run(t, append([]string{"messages", "set", "--profile", fixtures.KioskLogin, "end_session", "a|b"}, d...)...); r.code != 1 {
		t.Errorf("a delimiter in a text must be refused: %+v", r)
	}
}

// FuzzParseSIP2Arg feeds the message syntax of sip2 send and shell: it
// never panics, and what it accepts is a message with a two-digit code
// whose quoted words come back whole.
func FuzzParseSIP2Arg(f *testing.F) {
	for _, s := range []string{
		"23 AO=MAIN AA=21000000000001 AC= AD=1234",
		`63 summary="  Y       " AO=MAIN AA=21000000000001`,
		"11 no_block=Y nb_due_date=blank AB=31000000000001",
		"9900402.00",
		"2300120260310    100405AOMAIN|AA21000000000001|AC|AD1234|AY1AZF00D",
		`15 mode=+ AJ="Le Piège" BS=MAIN`,
		"97",
		`"`,
	} {
		f.Add(s)
	}
	now := time.Date(2026, 3, 10, 15, 4, 5, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		words, err := splitWords(s)
		if err == nil {
			for _, w := range words {
				if strings.ContainsAny(w, "\"") {
					t.Fatalf("%q: quote left in word %q", s, w)
				}
			}
		}
		m, err := parseSIP2Arg(s, now)
		if err != nil {
			return
		}
		if len(m.Code) != 2 || m.Code[0] < '0' || m.Code[0] > '9' || m.Code[1] < '0' || m.Code[1] > '9' {
			t.Fatalf("%q: accepted with code %q", s, m.Code)
		}
		m.AppendTo(nil, &sip2.EncodeOptions{Checksum: true})
	})
}

func TestSIP2SendOverTLS(t *testing.T) {
	dir := t.TempDir()
	caDir := filepath.Join(dir, "ca")
	ca, err := tlsproxy.InitCA(caDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	client, err := tlsproxy.IssueClient(caDir, fixtures.KioskLogin, fixtures.KioskInstitution, filepath.Join(dir, "kiosk"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := tlsproxy.NewServerConfig(tlsproxy.ServerOptions{CertFile: ca.Cert, KeyFile: ca.Key,
		ClientAuth: tlsproxy.ClientCertOptional, ClientCAFile: ca.CACert})
	if err != nil {
		t.Fatal(err)
	}
	addr := sip2Server(t, cfg.TLSConfig())
	login := fixtures.KioskLogin + ":" + fixtures.KioskPassword
	r := run(t, "sip2", "send", "--addr", addr, "--tls", "--ca", ca.CACert, "--cert", client.Cert, "--key", client.Key,
		"--login", login, "9900402.00")
	if r.code != 0 || !strings.Contains(r.out, "< 98 ACS Status") || !strings.Contains(r.out, "< AO institution id") {
		t.Fatalf("TLS with a client certificate: %+v", r)
	}
	r = run(t, "sip2", "send", "--addr", addr, "--tls", "--ca", ca.CACert, "--login", login, "9900402.00")
	if r.code != 0 {
		t.Fatalf("TLS without a client certificate: %+v", r)
	}
	if r = run(t, "sip2", "send", "--addr", addr, "--tls", "--login", login, "99"); r.code != 1 {
		t.Errorf("a server certificate from an unknown CA must fail: %+v", r)
	}
	if r = run(t, "sip2", "send", "--addr", addr, "--tls", "--ca", ca.CACert, "--cert", client.Cert, "--login", login, "99"); r.code != 2 {
		t.Errorf("--cert without --key: %+v", r)
	}
}
