package selfcheck

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/fixtures"
	"github.com/circa-ils/circa/profiles"
	"github.com/circa-ils/circa/sip2"
	"github.com/circa-ils/circa/store/boltstore"
	"github.com/circa-ils/circa/tlsproxy"
)

// demoSecrets are the configured passwords, PINs and keys of the test
// library: none may appear in any log line.
func demoSecrets() []string {
	s := []string{fixtures.KioskPassword, fixtures.DemoPIN, fixtures.PartnerKey, fixtures.StorageKey}
	for _, p := range testProfiles() {
		s = append(s, p.(*profiles.SelfCheck).Password)
	}
	return s
}

// secretTags are the fields that carry a password or PIN.
var secretTags = []string{"CO", "AD", "AC"}

// frameTemplates are well-formed requests; {S} stands for a secret.
var frameTemplates = []string{
	"9300CN{L}|CO{S}|CPMAIN|",
	"9900402.00",
	"2300120260310    100405AOMAIN|AA21000000000001|AC{S}|AD{S}|",
	"6300120260310    100405Y         AOMAIN|AA21000000000001|AC{S}|AD{S}|BP1|BQ5|",
	"11YN20260310    100405                  AOMAIN|AA21000000000001|AB31000000000001|AC{S}|CHprops|AD{S}|BON|BIN|",
	"09N20260310    10040520260310    100405APMAIN|AOMAIN|AB31000000000008|AC{S}|CHx|BIN|",
	"29NN20260310    100405                  AOMAIN|AA21000000000001|AD{S}|AB31000000000008|AJtitle|AC{S}|CHx|BON|",
	"3720260310    1004050001USDBV1.00|AOMAIN|AA21000000000004|AC{S}|AD{S}|CG04|BKtx1|",
	"1720260310    100405AOMAIN|AB31000000000001|AC{S}|",
	"3520260310    100405AOMAIN|AA21000000000001|AC{S}|AD{S}|",
	"15+20260310    100405                  BS MAIN|BW20260410    100405|AOMAIN|AA21000000000001|AD{S}|AB31000000000003|AC{S}|",
	"6520260310    100405AOMAIN|AA21000000000001|AD{S}|AC{S}|",
	"01N20260310    100405AOMAIN|ALlost card|AA21000000000001|AC{S}|",
	"2520260310    100405AOMAIN|AA21000000000001|AC{S}|AD{S}|",
	"1920260310    1004051AOMAIN|AB31000000000001|AC{S}|",
}

// mutate returns a frame from a template with secrets filled in and then
// broken the ways a faulty kiosk or a stranger breaks frames. The secret
// always follows one of its field identifiers, as in a real frame; what
// moves is where the delimiters, the fixed part and the checksum fall.
func mutate(r *rand.Rand, secrets []string) string {
	secret := func() string { return secrets[r.IntN(len(secrets))] }
	f := frameTemplates[r.IntN(len(frameTemplates))]
	logins := []string{"kiosk1", "strict", "media", "nobody", fixtures.KioskPassword}
	f = strings.ReplaceAll(f, "{L}", logins[r.IntN(len(logins))])
	for strings.Contains(f, "{S}") {
		f = strings.Replace(f, "{S}", secret(), 1)
	}
	for n := r.IntN(4); n > 0; n-- {
		switch r.IntN(10) {
		case 0: // a delimiter replaced, as in 9300CNkiosk1/COpassword
			if i := nthIndex(f, '|', r); i >= 0 {
				f = f[:i] + string("/\\;,: -#"[r.IntN(8)]) + f[i+1:]
			}
		case 1: // a delimiter lost
			if i := nthIndex(f, '|', r); i >= 0 {
				f = f[:i] + f[i+1:]
			}
		case 2: // a secret field inserted anywhere, even into the fixed part
			i := 2 + r.IntN(len(f)-1)
			f = f[:i] + secretTags[r.IntN(3)] + secret() + f[i:]
		case 3: // a secret in a field of unknown meaning
			tags := []string{"XX", "ZZ", "co", "ad", "Q1", "CO", "AD"}
			f += tags[r.IntN(len(tags))] + secret() + "|"
		case 4: // cut short
			f = f[:2+r.IntN(len(f)-1)]
		case 5: // a broken checksum, or a PIN where sequence number or checksum go
			switch r.IntN(3) {
			case 0:
				f += "AY1AZ" + []string{"0000", "1234", "FFFF"}[r.IntN(3)]
			case 1:
				f += "AY" + fixtures.DemoPIN + "AZ1F3C"
			default:
				f += "AZ" + fixtures.DemoPIN
			}
		case 6: // a valid checksum on whatever the frame became
			f = sign(f + "AY" + string(rune('0'+r.IntN(10))) + "AZ????")
		case 7: // noise outside the secrets and their identifiers
			b := []byte(f)
			i := r.IntN(len(b))
			if !nearSecret(f, i, secrets) {
				b[i] = byte(0x21 + r.IntN(0x5e))
				if b[i] == '|' && r.IntN(2) == 0 {
					b[i] = 0xe9
				}
			}
			f = string(b)
		case 8: // not SIP2 at all in front
			f = []string{"GET / HTTP/1.1 ", "\x16\x03\x01", "XX", "ad"}[r.IntN(4)] + f
		case 9: // two frames run together
			f += frameTemplates[r.IntN(len(frameTemplates))]
			f = strings.ReplaceAll(strings.ReplaceAll(f, "{S}", secret()), "{L}", "kiosk1")
		}
	}
	return f
}

func nthIndex(s string, c byte, r *rand.Rand) int {
	n := strings.Count(s, string(c))
	if n == 0 {
		return -1
	}
	k := r.IntN(n)
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			if k == 0 {
				return i
			}
			k--
		}
	}
	return -1
}

// nearSecret reports whether byte i is part of a secret or of the two
// bytes before it (its field identifier).
func nearSecret(f string, i int, secrets []string) bool {
	for _, s := range secrets {
		for j := 0; ; {
			k := strings.Index(f[j:], s)
			if k < 0 {
				break
			}
			k += j
			if i >= k-2 && i < k+len(s) {
				return true
			}
			j = k + 1
		}
	}
	return false
}

// logServer is a real SIP2 server over the demo library with every log
// line, at debug level, and the wire transcript captured.
type logServer struct {
	plain, tls string
	logs, wire *syncBuffer
	roots      *x509.CertPool
}

func startLogServer(t *testing.T) *logServer {
	t.Helper()
	e := newEnv(t)
	db, err := boltstore.Open(e.path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	svc, err := circ.New(db, circ.WithClock(e.clock))
	if err != nil {
		t.Fatal(err)
	}
	reg, err := profiles.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	ls := &logServer{logs: &syncBuffer{}, wire: &syncBuffer{}}
	log := zerolog.New(ls.logs).Level(zerolog.DebugLevel)
	h, err := NewHandler(Options{Service: svc, Profiles: reg, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ca, err := tlsproxy.InitCA(filepath.Join(dir, "ca"), []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := tlsproxy.NewServerConfig(tlsproxy.ServerOptions{CertFile: ca.Cert, KeyFile: ca.Key})
	if err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(ca.CACert)
	if err != nil {
		t.Fatal(err)
	}
	ls.roots = x509.NewCertPool()
	ls.roots.AppendCertsFromPEM(pem)
	for _, useTLS := range []bool{false, true} {
		srv := sip2.NewServer(&sip2.Options{Handler: h, Logger: log, Wire: ls.wire, Location: newYork, Now: e.clock})
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		if useTLS {
			ls.tls = ln.Addr().String()
			ln = tlsproxy.NewListener(ln, cfg.TLSConfig(), 0)
		} else {
			ls.plain = ln.Addr().String()
		}
		done := make(chan error, 1)
		go func() { done <- srv.Serve(ln) }()
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := srv.Shutdown(ctx); err != nil {
				t.Errorf("shutdown: %v", err)
			}
			<-done
		})
	}
	return ls
}

// fuzzConn is one kiosk connection of the log test; it reconnects when
// the server closes it.
type fuzzConn struct {
	t      *testing.T
	ls     *logServer
	useTLS bool
	c      net.Conn
	r      *bufio.Reader
}

func (fc *fuzzConn) dial(r *rand.Rand) {
	fc.t.Helper()
	var err error
	if fc.useTLS {
		fc.c, err = tls.Dial("tcp", fc.ls.tls, &tls.Config{RootCAs: fc.ls.roots, ServerName: "127.0.0.1"})
	} else {
		fc.c, err = net.Dial("tcp", fc.ls.plain)
	}
	if err != nil {
		fc.t.Fatal(err)
	}
	fc.r = bufio.NewReader(fc.c)
	switch r.IntN(3) { // before login, logged in as a kiosk, or logged in without checksums
	case 1:
		fc.send("9300CNkiosk1|CO" + fixtures.KioskPassword + "|CPMAIN|")
	case 2:
		fc.send("9300CNmedia|COmediapass|")
	}
}

// send writes a frame and waits for the reply or the close.
func (fc *fuzzConn) send(frame string) bool {
	fc.c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fc.c.Write([]byte(frame + "\r")); err != nil {
		return false
	}
	_, err := fc.r.ReadString('\r')
	return err == nil
}

func (fc *fuzzConn) close() {
	if fc.c != nil {
		fc.c.Close()
		fc.c = nil
	}
}

// TestNoSecretInAnyLogLine drives random and mutated frames, before and
// after login, over plain TCP and TLS, through a real server logging at
// debug level with its wire transcript on, and looks for every configured
// password, PIN and key in every line.
func TestNoSecretInAnyLogLine(t *testing.T) {
	ls := startLogServer(t)
	secrets := demoSecrets()
	r := rand.New(rand.NewPCG(20261204, 1))
	frames := 1500
	if testing.Short() {
		frames = 300
	}
	for _, useTLS := range []bool{false, true} {
		fc := &fuzzConn{t: t, ls: ls, useTLS: useTLS}
		for i := 0; i < frames/2; i++ {
			if fc.c == nil {
				fc.dial(r)
			}
			if !fc.send(mutate(r, secrets)) {
				fc.close()
			}
		}
		fc.close()
	}
	// The frame: the delimiter before CO replaced, so the password
	// became part of the login name.
	fc := &fuzzConn{t: t, ls: ls}
	fc.dial(rand.New(rand.NewPCG(0, 0)))
	fc.send("9300CNkiosk1/CO" + fixtures.KioskPassword + "|CPMAIN|")
	fc.close()

	// Wait until every connection has logged its end.
	deadline := time.Now().Add(10 * time.Second)
	for {
		logs := ls.logs.String()
		if strings.Count(logs, `"connection opened"`) <= strings.Count(logs, "closing connection")+strings.Count(logs, `"connection closed"`) ||
			time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	lines := checkLogLines(t, ls.logs.String(), secrets)
	wire := checkWireLines(t, ls.wire.String(), secrets)
	if lines < frames || wire < frames {
		t.Fatalf("only %d log and %d transcript lines for %d frames", lines, wire, frames)
	}
	for _, want := range []string{"sip2 login refused", "malformed message", "not SIP2 before login", `"item":"31000000000001"`} {
		if !strings.Contains(ls.logs.String(), want) {
			t.Errorf("no log line has %q: the frames did not reach the paths they are meant to", want)
		}
	}
}

// checkLogLines fails the test for a JSON log line with a secret in any
// string value. Numbers (durations, ids) and the addresses' ports are not
// text a frame can put there, and a four-digit PIN turns up in them by
// chance; so does a keyed hash.
func checkLogLines(t *testing.T, logs string, secrets []string) int {
	t.Helper()
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var fields map[string]any
		if err := json.Unmarshal([]byte(line), &fields); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		n++
		for k, v := range fields {
			s, ok := v.(string)
			if !ok || k == "remote" || k == "local" || k == "patron_ref" {
				continue
			}
			for _, sec := range secrets {
				if strings.Contains(s, sec) {
					t.Errorf("log line holds a secret (%s) in %q: %s", sec, k, line)
				}
			}
		}
	}
	return n
}

// checkWireLines does the same for the transcript, each line after its
// "conn N" prefix.
func checkWireLines(t *testing.T, wire string, secrets []string) int {
	t.Helper()
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(wire), "\n") {
		_, frame, ok := strings.Cut(strings.TrimPrefix(line, "conn "), " ")
		if !ok {
			t.Fatalf("transcript line %q", line)
		}
		n++
		for _, sec := range secrets {
			if strings.Contains(frame, sec) {
				t.Errorf("transcript line holds a secret (%s): %s", sec, line)
			}
		}
	}
	return n
}
