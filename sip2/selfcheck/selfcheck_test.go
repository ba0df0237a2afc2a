package selfcheck

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding/charmap"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/fixtures"
	"github.com/circa-ils/circa/profiles"
	"github.com/circa-ils/circa/tlsproxy"
)

const (
	D = "20260310    100405"
	B = "                  "
)

var placeholder = regexp.MustCompile(`\{[a-z]+\}`)

func TestEveryCodeHasMessage(t *testing.T) {
	for _, c := range circ.Codes() {
		code, ok := codeMessages[c]
		if !ok {
			t.Errorf("circ code %d (%s) has no screen message", c, c)
			continue
		}
		for _, lang := range BuiltinLanguages() {
			if _, ok := builtin[lang][code]; !ok {
				t.Errorf("%s: no %s text", code, lang)
			}
		}
	}
	eng := builtin[DefaultLanguage]
	for _, lang := range BuiltinLanguages() {
		if len(builtin[lang]) != len(eng) {
			t.Errorf("%s has %d texts, English %d", lang, len(builtin[lang]), len(eng))
		}
		for code, text := range builtin[lang] {
			want := placeholder.FindAllString(eng[code], -1)
			got := placeholder.FindAllString(text, -1)
			slices.Sort(want)
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("%s/%s: placeholders %v, English has %v", lang, code, got, want)
			}
			if strings.ContainsAny(text, "|\r\n") {
				t.Errorf("%s/%s contains a delimiter or line break", lang, code)
			}
		}
	}
	for _, code := range MessageCodes() {
		if !regexp.MustCompile(`^[a-z_]{2,40}$`).MatchString(code) {
			t.Errorf("message code %q cannot be overridden in a profile", code)
		}
	}
}

func TestLanguages(t *testing.T) {
	for sip, iso := range map[string]string{"001": "eng", "002": "fre", "003": "ger", "008": "spa", "011": "fre", "000": "", "999": ""} {
		if got := ISOLanguage(sip); got != iso {
			t.Errorf("ISOLanguage(%s) = %q, want %q", sip, got, iso)
		}
	}
	for iso, sip := range map[string]string{"eng": "001", "fre": "002", "fra": "002", "deu": "003", "spa": "008", "xxx": "000", "": "000"} {
		if got := SIPLanguage(iso); got != sip {
			t.Errorf("SIPLanguage(%s) = %q, want %q", iso, got, sip)
		}
	}
	p := profiles.NewSelfCheck("p")
	p.Messages = map[string]map[string]string{"fre": {"end_session": "À bientôt"}, "eng": {"patron_ok": "Hello"}}
	cases := []struct{ lang, code, want string }{
		{"fre", "end_session", "À bientôt"},
		{"fra", "end_session", "À bientôt"},
		{"ger", "end_session", "Vielen Dank, auf Wiedersehen"},
		{"ita", "patron_ok", "Hello"},
		{"fre", "patron_ok", "Bienvenue"},
		{"", "end_session", "Thank you, goodbye"},
		{"eng", "no_such_code", "no_such_code"},
	}
	for _, c := range cases {
		if got := Message(p, c.lang, c.code); got != c.want {
			t.Errorf("Message(%s, %s) = %q, want %q", c.lang, c.code, got, c.want)
		}
	}
	for _, c := range []struct{ text, want string }{
		{"{title} due {due} {other}", "T due D {other}"},
		{"{{title}} {due", "{T} {due"},
		{"{due}{due} {title}", "DD T"},
		{"no placeholders", "no placeholders"},
		{"} {", "} {"},
	} {
		if got := expand(c.text, "title", "T", "due", "D"); got != c.want {
			t.Errorf("expand(%q) = %q, want %q", c.text, got, c.want)
		}
	}
	if got := expand("{title}", "title", "{due}", "due", "D"); got != "{due}" {
		t.Errorf("a value is not expanded again: %q", got)
	}
}

// changing lists requests that change the store, each valid on the demo
// library at the start of a test.
var changing = []struct{ name, line string }{
	{"checkout", "11YN" + D + B + "AOMAIN|AA21000000000001|AB31000000000001|AC|AD1234|AY3AZ????"},
	{"own item renews", "11YN" + D + B + "AOMAIN|AA21000000000001|AB31000000000008|AC|AD1234|AY4AZ????"},
	{"checkin", "09N" + D + D + "APMAIN|AOMAIN|AB31000000000008|AC|AY5AZ????"},
	{"renew", "29NN" + D + B + "AOMAIN|AA21000000000001|AD1234|AB31000000000008|AC|AY6AZ????"},
	{"renew all", "65" + D + "AOMAIN|AA21000000000001|AD1234|AC|AY7AZ????"},
	{"fee without BK", "37" + D + "0400USDBV1.00|AOMAIN|AA21000000000004|AC|AD1234|AY8AZ????"},
	{"hold", "15+" + D + "BSMAIN|AOMAIN|AA21000000000001|AD1234|AB31000000000007|AC|AY9AZ????"},
	{"refusal", "11YN" + D + B + "AOMAIN|AA21000000000002|AB31000000000001|AC|AD1234|AY0AZ????"},
}

// TestRetransmissionAcrossConnections sends each changing request on one
// connection, then the same bytes on another: the reply is the same and
// nothing more happens.
func TestRetransmissionAcrossConnections(t *testing.T) {
	for _, c := range changing {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t).start()
			a := e.dial()
			a.login(fixtures.KioskLogin, fixtures.KioskPassword)
			first := a.send(c.line)
			head := e.head()
			b := e.dial()
			b.login(fixtures.KioskLogin, fixtures.KioskPassword)
			if again := b.send(c.line); again != first {
				t.Errorf("retransmission answered differently:\n first: %q\n again: %q", first, again)
			}
			if h := e.head(); h != head {
				t.Errorf("the retransmission acted again: journal head %d → %d", head, h)
			}
		})
	}
}

// A cancel (11 with BI=Y) retransmitted on another connection after it took
// the item back gets the same answer, not "cannot be cancelled".
func TestCancelledCheckoutRetransmitted(t *testing.T) {
	e := newEnv(t).start()
	a := e.dial()
	a.login(fixtures.KioskLogin, fixtures.KioskPassword)
	if got := a.send("11YN" + D + B + "AOMAIN|AA21000000000001|AB31000000000002|AC|AD1234|AY1AZ????"); !strings.HasPrefix(got, "121") {
		t.Fatalf("checkout: %q", got)
	}
	cancel := "11YN" + D + B + "AOMAIN|AA21000000000001|AB31000000000002|AC|AD1234|BIY|AY2AZ????"
	first := a.send(cancel)
	if !strings.HasPrefix(first, "121") || !strings.Contains(first, "Checkout cancelled") {
		t.Fatalf("cancel: %q", first)
	}
	head := e.head()
	b := e.dial()
	b.login(fixtures.KioskLogin, fixtures.KioskPassword)
	if again := b.send(cancel); again != first {
		t.Errorf("retransmitted cancel answered differently:\n first: %q\n again: %q", first, again)
	}
	if h := e.head(); h != head {
		t.Errorf("the retransmission acted again: journal head %d → %d", head, h)
	}
	// Someone else's loan is not cancelled, and nothing changes.
	if got := a.send("11YN" + D + B + "AOMAIN|AA21000000000001|AB31000000000002|AC|AD1234|AY3AZ????"); !strings.HasPrefix(got, "121") {
		t.Fatalf("checkout again: %q", got)
	}
	head = e.head()
	if got := a.send("11YN" + D + B + "AOMAIN|AA21000000000005|AB31000000000002|AC|AD1234|BIY|AY4AZ????"); !strings.HasPrefix(got, "120") || !strings.Contains(got, "cannot be cancelled") {
		t.Fatalf("another patron's cancel: %q", got)
	}
	if h := e.head(); h != head {
		t.Errorf("a refused cancel changed the store: journal head %d → %d", head, h)
	}
}

// TestRetransmissionAfterRestart drops the connection after each changing
// request (its reply lost), restarts the server on the same file, and sends
// the same frame again: it is answered once and acts once.
func TestRetransmissionAfterRestart(t *testing.T) {
	e := newEnv(t).start()
	for _, c := range changing {
		k := e.dial()
		k.login(fixtures.KioskLogin, fixtures.KioskPassword)
		first := k.send(c.line)
		k.c.Close()
		head := e.head()
		e.restart()
		k = e.dial()
		k.login(fixtures.KioskLogin, fixtures.KioskPassword)
		if again := k.send(c.line); again != first {
			t.Errorf("%s after restart:\n first: %q\n again: %q", c.name, first, again)
		}
		if h := e.head(); h != head {
			t.Errorf("%s: the retransmission after restart acted again: journal head %d → %d", c.name, head, h)
		}
	}
	// A new request with the same content but another sequence number acts.
	k := e.dial()
	k.login(fixtures.KioskLogin, fixtures.KioskPassword)
	head := e.head()
	k.send("11YN" + D + B + "AOMAIN|AA21000000000001|AB31000000000002|AC|AD1234|AY1AZ????")
	if h := e.head(); h == head {
		t.Error("a new checkout changed nothing")
	}
}

func TestFeePaymentIdempotentByTransactionID(t *testing.T) {
	e := newEnv(t).start()
	pay := func(k *kiosk, seq string) string {
		return k.send("37" + D + "0400USDBV2.00|AOMAIN|AA21000000000004|AC|AD1234|BKKIOSK-77|AY" + seq + "AZ????")
	}
	a := e.dial()
	a.login(fixtures.KioskLogin, fixtures.KioskPassword)
	first := pay(a, "1")
	head := e.head()
	b := e.dial()
	b.login(fixtures.KioskLogin, fixtures.KioskPassword)
	again := pay(b, "6") // another sequence number: only BK ties it to the first
	strip := func(s string) string { return s[:strings.Index(s, "AY")] }
	recorded := "AFPayment already recorded, nothing charged. Still owed: 10.50 USD|"
	if !strings.HasPrefix(first, "38Y") || strings.Contains(first, "already recorded") ||
		strip(again) != first[:strings.Index(first, "AF")]+recorded+"AGPayment already recorded, nothing charged. Still owed: 10.50 USD|" {
		t.Errorf("second payment with the same BK:\n first: %q\n again: %q", first, again)
	}
	if h := e.head(); h != head {
		t.Errorf("the repeated payment was booked: journal head %d → %d", head, h)
	}
	sum, err := e.svc.PatronStatus(context.Background(), circ.PatronQuery{Patron: fixtures.PatronFees})
	if err != nil || sum.Standing.Balance != 1050 {
		t.Errorf("balance %d (%v), want 1050 after one payment of 2.00", sum.Standing.Balance, err)
	}
}

// TestBadInputChangesNothing sends garbage, bad checksums, requests before
// login and failed logins: each gets the protocol's answer and the store
// stays as it was.
func TestBadInputChangesNothing(t *testing.T) {
	e := newEnv(t).start()
	head := e.head()
	checkout := "11YN" + D + B + "AOMAIN|AA21000000000001|AB31000000000001|AC|AD1234|"

	// Not SIP2 at all before login: the connection is closed.
	k := e.dial()
	k.c.Write([]byte("GET / HTTP/1.1\r\n"))
	k.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := k.r.ReadByte(); err == nil {
		t.Errorf("garbage before login was answered with %q", n)
	}

	k = e.dial()
	cases := []struct{ send, want string }{
		{checkout + "AY1AZ0000", "96"}, // bad checksum
		{checkout, "120NUU"},           // before login
		{"09N" + D + D + "APMAIN|AOMAIN|AB31000000000008|AC|", "100NUN"},
		{"37" + D + "0400USDBV1.00|AOMAIN|AA21000000000004|AC|", "38N"},
		{"15+" + D + "AOMAIN|AA21000000000001|AB31000000000007|", "160N"},
		{"01N" + D + "AOMAIN|ALx|AA21000000000001|AC|", "24YYYY"},
		{"25" + D + "AOMAIN|AA21000000000002|AC|", "26YYYY"},
		{"19" + D + "AOMAIN|AB31000000000001|CHx|", "200"},
		{"9300CNkiosk1|COwrong|", "940"},
		{"9300CNnobody|COx|", "940"},
		{"9300CNinactive|COinactivepass|", "940"},
		{"11YN", "96"},                                // fixed part too short
		{"5500AB31000000000001|", "96"},               // unknown message
		{"9300CNkiosk1|COkiosk1pass|AY1AZFFFF", "96"}, // bad checksum on login
		{"65" + D + "AOMAIN|AA21000000000001|", "660"},
	}
	for _, c := range cases {
		if got := k.send(c.send); !strings.HasPrefix(got, c.want) {
			t.Errorf("%.12q: got %q, want %s…", c.send, got, c.want)
		}
	}
	k.login(fixtures.KioskLogin, fixtures.KioskPassword)
	for _, c := range []struct{ send, want string }{
		{checkout + "AY2AZ0000", "96"},
		{"11YN" + D + B + "AOBRANCH|AA21000000000001|AB31000000000001|AC|", "120"},
		{"37" + D + "0400USDBV-1|AOMAIN|AA21000000000004|AC|AD1234|", "38N"},
		{"37" + D + "0400USDBV0|AOMAIN|AA21000000000004|AC|AD1234|", "38N"},
		{"15+" + D + "AOMAIN|AA21000000000001|AD1234|AJnot-a-number|", "160N"},
		{"29NN" + D + B + "AOMAIN|AA21000000000001|AD1234|AJNo such title|", "300"},
	} {
		if got := k.send(c.send); !strings.HasPrefix(got, c.want) {
			t.Errorf("%.12q: got %q, want %s…", c.send, got, c.want)
		}
	}
	if h := e.head(); h != head {
		t.Errorf("bad input changed the store: journal head %d → %d", head, h)
	}
}

func TestStrictProfile(t *testing.T) {
	e := newEnv(t).start()
	k := e.dial()
	if got := k.sendRaw("9300CNstrict|COstrictpass|"); !strings.HasPrefix(got, "941AZ") || !strings.HasSuffix(got, "\r\n") {
		t.Fatalf("login: %q (the profile's terminator is CRLF)", got)
	}
	if got := k.send("9900402.00"); got != "96AZFEF6" {
		t.Errorf("unsigned request with checksums required: %q", got)
	}
	st := decode(t, k.send("9900402.00AY1AZ????"))
	if st.Fixed[:12] != "YYYNNY450002" {
		t.Errorf("98 flags, timeout and retries: %q", st.Fixed[:12])
	}
	if bx := st.Value("BX"); bx != "YYYNYNYYYNNNNNNN" {
		t.Errorf("BX %q does not follow the allowed messages", bx)
	}
	if st.Seq != "1" || st.Checksum == "" {
		t.Errorf("reply not signed: %+v", st)
	}
	if got := k.send("29NN" + D + B + "AOMAIN|AA21000000000001|AD1234|AB31000000000008|AC|AY2AZ????"); !strings.Contains(got, "AFThis service is not available at this terminal|") || !strings.HasPrefix(got, "300") {
		t.Errorf("renew not allowed: %q", got)
	}
	r := decode(t, k.send("23000"+D+"AOMAIN|AA21000000000001|AC|AY3AZ????"))
	if r.Value("CQ") != "N" || r.Value("AF") != "Please enter your PIN" || r.Value("AE") != "" {
		t.Errorf("23 without PIN: %+v", r.Fields)
	}
	r = decode(t, k.send("11YN"+D+B+"AOMAIN|AA21000000000001|AB31000000000001|AC|AY4AZ????"))
	if !strings.HasPrefix(r.Fixed, "0") || r.Value("AF") != "Please enter your PIN" {
		t.Errorf("checkout without PIN: %q %+v", r.Fixed, r.Fields)
	}
	r = decode(t, k.send("11YN"+D+B+"AOMAIN|AA21000000000001|AB31000000000001|AC|AD1234|AY5AZ????"))
	if r.Value("AH") != "2026-03-31 23:59" || r.Value("AF") != "Enjoy The quiet harbor : a history of the Finger Lakes until 2026-03-31" {
		t.Errorf("checkout: AH %q AF %q", r.Value("AH"), r.Value("AF"))
	}
	r = decode(t, k.send("11YN"+D+B+"AOMAIN|AA21000000000001|AB31000000000008|AC|AD1234|AY6AZ????"))
	if r.Fixed[0] != '0' || r.Value("AF") != "You already have this item on loan, due 2026-03-24" {
		t.Errorf("own item with OwnItemRenews off: %q %v", r.Fixed, r.Fields)
	}
	r = decode(t, k.send("09N"+D+D+"APMAIN|AOMAIN|AB31000000000001|AC|AY7AZ????"))
	if r.Fixed[0] != '1' || r.Value("CL") != "B2" {
		t.Errorf("checkin: ok %c, CL %q (MAIN-STACKS maps to B2)", r.Fixed[0], r.Value("CL"))
	}
	r = decode(t, k.send("09N"+D+D+"APMAIN|AOMAIN|AB31000000000001|AC|AY8AZ????"))
	if r.Fixed[0] != '1' || r.Value("AF") != "This item was not on loan" {
		t.Errorf("checkin of an item not on loan with CheckinNotOnLoanOK: %q %v", r.Fixed, r.Fields)
	}
	// The hold rule: an item trapped for a hold sorts to HOLD → B1.
	if _, err := e.svc.PlaceHold(context.Background(), circ.HoldRequest{Agent: circ.Agent{Protocol: "cli", Library: "MAIN"},
		Patron: fixtures.PatronExternal, Item: fixtures.ItemOnLoan}); err != nil {
		t.Fatal(err)
	}
	r = decode(t, k.send("09N"+D+D+"APMAIN|AOMAIN|AB31000000000008|AC|AY9AZ????"))
	if r.Value("CL") != "B1" || r.Value("CV") != "01" {
		t.Errorf("held item: CL %q CV %q", r.Value("CL"), r.Value("CV"))
	}
}

func TestSorterProfile(t *testing.T) {
	e := newEnv(t).start()
	k := e.dial()
	k.login("sorter", "sorterpass")
	raw := k.send("17" + D + "AOBRANCH|AB31000000000002|AC|")
	if !strings.Contains(raw, "AJ\x90loge de la lenteur") || strings.Contains(raw, "\xc3\x89") {
		t.Errorf("title not in code page 850: %q", raw)
	}
	// A checksum over characters (code points) is accepted.
	text := "19" + D + "AOBRANCH|AB31000000000001|AC|CHété|AY1AZ"
	var sum uint32
	for _, r := range text {
		sum += uint32(r)
	}
	line := fmt.Sprintf("%s%04X", text, uint16(-sum))
	wire, err := charmap.CodePage850.NewEncoder().String(line)
	if err != nil {
		t.Fatal(err)
	}
	if got := k.send(wire); !strings.HasPrefix(got, "201") {
		t.Errorf("code-point checksum refused: %q", got)
	}
	r := decode(t, k.send("11YN"+D+B+"AOBRANCH|AA21000000000001|AB31000000000007|AC|AD1234|"))
	if r.Value("AH") != "2026-03-31" {
		t.Errorf("due date in the date format: %q", r.Value("AH"))
	}
	head := e.head()
	r = decode(t, k.send("09N"+D+D+"APBRANCH|AOBRANCH|AB31000000000003|AC|"))
	if r.Fixed[:4] != "0NNY" || r.Value("CV") != "99" || r.Value("AF") != "This item is requested by another patron, please hand it to staff" {
		t.Errorf("held item with HeldItemsBlockCheckin: %q %v", r.Fixed, r.Fields)
	}
	if h := e.head(); h != head {
		t.Errorf("a blocked checkin changed the store: %d → %d", head, h)
	}
	r = decode(t, k.send("09N"+D+D+"APBRANCH|AOBRANCH|AB31000000000001|AC|"))
	if r.Fixed[0] != '0' || r.Value("CL") != "7" || r.Value("CT") != "MAIN" {
		t.Errorf("MAIN item returned at BRANCH: %q CL %q CT %q", r.Fixed, r.Value("CL"), r.Value("CT"))
	}
	if got := k.send("23000" + D + "AOMAIN|AA21000000000001|AC|AD1234|"); !strings.Contains(got, "AFThis terminal belongs to another institution|") {
		t.Errorf("other institution: %q", got)
	}
}

func TestMediaProfile(t *testing.T) {
	e := newEnv(t).start()
	k := e.dial()
	k.login("media", "mediapass")
	if got := k.send("9900402.00AY1AZ0000"); !strings.HasPrefix(got, "98YYYYYY999003") || strings.Contains(got, "AZ") {
		t.Errorf("checksums off, timeout 0 reported as unknown: %q", got)
	}
	if raw := k.send("17" + D + "AOMAIN|AB31000000000002|AC|"); !strings.Contains(raw, "AJ\xc9loge de la lenteur : essai sur les jardins d'\xe9t\xe9|") {
		t.Errorf("title not in ISO-8859-1: %q", raw)
	}
	k.send("11YN" + D + B + "AOMAIN|AA21000000000001|AB31000000000004|AC|AD1234|")
	r := decode(t, k.send("09N"+D+D+"APMAIN|AOMAIN|AB31000000000004|AC|"))
	if r.Value("CL") != "VIDEO-BIN" || r.Fixed[2] != 'Y' {
		t.Errorf("video returned: CL %q, magnetic %c", r.Value("CL"), r.Fixed[2])
	}
}

// TestProfileChangeAppliesToNewLogins: a session keeps the profile it
// logged in with.
func TestProfileChangeAppliesToNewLogins(t *testing.T) {
	e := newEnv(t).start()
	a := e.dial()
	a.login(fixtures.KioskLogin, fixtures.KioskPassword)
	p := *e.reg.Current().SelfCheck[fixtures.KioskLogin]
	p.TimeoutSeconds = 60
	p.AllowedMessages = []string{"23", "99"}
	if err := e.reg.Save(context.Background(), &p); err != nil {
		t.Fatal(err)
	}
	if got := a.send("9900402.00"); !strings.HasPrefix(got, "98YYYYYY300003") {
		t.Errorf("old session: %q", got)
	}
	b := e.dial()
	b.login(fixtures.KioskLogin, fixtures.KioskPassword)
	if got := b.send("9900402.00"); !strings.HasPrefix(got, "98YNNNNN600003") {
		t.Errorf("new session: %q", got)
	}
	if got := b.send("11YN" + D + B + "AOMAIN|AA21000000000001|AB31000000000001|AC|"); !strings.HasPrefix(got, "120") {
		t.Errorf("checkout no longer allowed: %q", got)
	}
}

func TestClientCertificates(t *testing.T) {
	dir := t.TempDir()
	ca, err := tlsproxy.InitCA(filepath.Join(dir, "ca"), []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	issue := func(profile, inst string) tls.Certificate {
		p, err := tlsproxy.IssueClient(filepath.Join(dir, "ca"), profile, inst, filepath.Join(dir, profile))
		if err != nil {
			t.Fatal(err)
		}
		c, err := tls.LoadX509KeyPair(p.Cert, p.Key)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	certKiosk, strict, wrongInst := issue("certkiosk", "MAIN"), issue("strict", ""), issue("kiosk1", "BRANCH")
	cfg, err := tlsproxy.NewServerConfig(tlsproxy.ServerOptions{CertFile: ca.Cert, KeyFile: ca.Key,
		ClientAuth: tlsproxy.ClientCertOptional, ClientCAFile: ca.CACert})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	e.wrap = func(l net.Listener) net.Listener { return tlsproxy.NewListener(l, cfg.TLSConfig(), 0) }
	e.start()
	pem, err := os.ReadFile(ca.CACert)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	dial := func(certs ...tls.Certificate) *kiosk {
		c, err := tls.Dial("tcp", e.addr, &tls.Config{RootCAs: roots, Certificates: certs, ServerName: "127.0.0.1"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return &kiosk{t: t, c: c, r: newReader(c)}
	}

	k := dial(certKiosk)
	if got := k.send("9900402.00"); !strings.HasPrefix(got, "98YYYYYY") || !strings.Contains(got, "AOMAIN|") {
		t.Errorf("status before login for the certificate's profile: %q", got)
	}
	if got := k.send("9300CNkiosk1|COkiosk1pass|"); got != "940" {
		t.Errorf("login as another profile than the certificate's: %q", got)
	}
	if got := k.send("9300CNcertkiosk|COcertpass|"); got != "941" {
		t.Errorf("login with the certificate: %q", got)
	}
	k = dial()
	if got := k.send("9300CNcertkiosk|COcertpass|"); got != "940" {
		t.Errorf("login without the required certificate: %q", got)
	}
	if got := k.send("9300CNkiosk1|COkiosk1pass|"); got != "941" {
		t.Errorf("TLS without certificate for a profile that needs none: %q", got)
	}
	k = dial(strict)
	if got := k.send("9900402.00"); !strings.HasPrefix(got, "98N") {
		t.Errorf("status before login for a profile that does not allow it: %q", got)
	}
	k = dial(wrongInst)
	if got := k.send("9300CNkiosk1|COkiosk1pass|"); got != "940" {
		t.Errorf("certificate naming another institution: %q", got)
	}
}

// TestLogsKeepSecrets runs a session and reads every log line: no PIN,
// password, patron barcode, name, address, e-mail or phone.
func TestLogsKeepSecrets(t *testing.T) {
	e := newEnv(t).start()
	k := e.dial()
	k.send("9300CNkiosk1|COnot-the-password|")
	k.login(fixtures.KioskLogin, fixtures.KioskPassword)
	k.send("9910402.00")
	for _, line := range []string{
		"23000" + D + "AOMAIN|AA21000000000001|AC|AD4321|",
		"63000" + D + "  Y       AOMAIN|AA21000000000001|AC|AD4321|",
		"11YN" + D + B + "AOMAIN|AA21000000000001|AB31000000000001|AC|AD4321|",
		"15+" + D + "BSMAIN|AOMAIN|AA21000000000005|AD4321|AB31000000000008|AC|",
		"09N" + D + D + "APMAIN|AOMAIN|AB31000000000008|AC|",
		"37" + D + "0400USDBV1.00|AOMAIN|AA21000000000004|AC|AD4321|",
	} {
		k.send(line)
	}
	e.stop()
	logs := e.logs.String()
	// The PIN is looked for as a field and as a JSON string: bare digits
	// also turn up in port numbers and durations.
	for _, secret := range []string{"not-the-password", fixtures.KioskPassword, "AD4321", `"4321"`, fixtures.PatronGood,
		fixtures.PatronExternal, "Eleanor", "Whitfield", "Priya", "Raman", "Maple", "example.edu", "607-555"} {
		if strings.Contains(logs, secret) {
			t.Errorf("log output contains %q", secret)
		}
	}
	if !strings.Contains(logs, "patron_ref") || !strings.Contains(logs, "wrong password") || !strings.Contains(logs, "kiosk reports printer out of paper") {
		t.Errorf("expected patron refs and the login failure reason in the logs:\n%s", logs)
	}
}

// A refusal's screen message carries its figures unless the profile hides
// them, and a staff block note only when the profile shows block notes.
func TestRefusalDetailsFollowTheProfile(t *testing.T) {
	e := newEnv(t).start()
	checkout := func(k *kiosk, patron, seq string) string {
		t.Helper()
		r := decode(t, k.send("11YN"+D+B+"AOMAIN|AA"+patron+"|AB31000000000006|AC|AD1234|AY"+seq+"AZ????"))
		if r.Fixed[0] != '0' {
			t.Fatalf("checkout for %s was not refused: %q", patron, r.Fixed)
		}
		return r.Value("AF")
	}
	k := e.dial()
	k.login(fixtures.KioskLogin, fixtures.KioskPassword)
	for _, c := range []struct{ patron, want string }{
		{fixtures.PatronBlocked, "Your account is blocked, please see staff"},
		{fixtures.PatronFees, "Your account is blocked: you owe 12.50 USD, the limit is 10.00 USD"},
		{fixtures.PatronExpired, "Your library card expired on 2026-02-08, please see staff"},
	} {
		if got := checkout(k, c.patron, "1"); got != c.want {
			t.Errorf("default profile, %s: AF %q, want %q", c.patron, got, c.want)
		}
	}

	p := *e.reg.Current().SelfCheck[fixtures.KioskLogin]
	p.ShowBlockNote, p.HideRefusalDetails = true, true
	p.Messages = map[string]map[string]string{"eng": {"patron_blocked_note": "Blocked ({note})"}}
	if err := e.reg.Save(context.Background(), &p); err != nil {
		t.Fatal(err)
	}
	k = e.dial()
	k.login(fixtures.KioskLogin, fixtures.KioskPassword)
	for _, c := range []struct{ patron, want string }{
		{fixtures.PatronBlocked, "Blocked (Library card reported stolen; see the circulation desk)"},
		{fixtures.PatronFees, "Your account is blocked, please see staff"},
		{fixtures.PatronExpired, "Your library card has expired, please see staff"},
	} {
		if got := checkout(k, c.patron, "2"); got != c.want {
			t.Errorf("notes shown, details hidden, %s: AF %q, want %q", c.patron, got, c.want)
		}
	}
	if strings.Contains(e.logs.String(), "stolen") {
		t.Error("the block note reached the log")
	}
}

// Every detailed refusal text exists in every language circa ships.
func TestRefusalDetailTextsInEveryLanguage(t *testing.T) {
	for _, code := range []string{"patron_blocked_note", "patron_blocked_balance", "patron_blocked_overdue",
		"patron_expired_on", "loan_limit_count", "already_on_loan_due", "fee_already_recorded"} {
		for _, lang := range BuiltinLanguages() {
			text, ok := builtin[lang][code]
			if !ok {
				t.Errorf("%s: no %s text", lang, code)
				continue
			}
			for _, ph := range Placeholders(code) {
				if !strings.Contains(text, "{"+ph+"}") {
					t.Errorf("%s %s: %q lacks {%s}", lang, code, text, ph)
				}
			}
		}
	}
}
