package sip2

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// testSession is a small in-memory kiosk back end.
type testSession struct {
	h      *testHandler
	info   ConnInfo
	closed atomic.Bool
}

type testHandler struct {
	checkouts atomic.Int32
	sessions  atomic.Int32
	closed    atomic.Int32
	settings  *ConnSettings // given at login
	// block, when set, makes Checkout of item "SLOW" signal started and
	// wait for release (or ctx).
	started chan struct{}
	release chan struct{}
	mu      sync.Mutex
	infos   []ConnInfo
}

func (h *testHandler) NewSession(ctx context.Context, c ConnInfo) (Session, error) {
	h.sessions.Add(1)
	h.mu.Lock()
	h.infos = append(h.infos, c)
	h.mu.Unlock()
	return &testSession{h: h, info: c}, nil
}

func (s *testSession) Login(ctx context.Context, r *LoginRequest) (*LoginResponse, error) {
	ok := r.UserID == "kiosk" && r.Password == "secret-pw"
	return &LoginResponse{OK: ok, Settings: s.h.settings, Account: "kiosk", Institution: "MAIN"}, nil
}

func (s *testSession) Status(ctx context.Context, r *SCStatus) (*ACSStatus, error) {
	return &ACSStatus{Online: true, CheckinOK: true, CheckoutOK: true, TimeoutPeriod: 100, RetriesAllowed: 3, InstitutionID: "MAIN"}, nil
}

func (s *testSession) PatronStatus(ctx context.Context, r *PatronStatusRequest) (*PatronStatusResponse, error) {
	return &PatronStatusResponse{InstitutionID: r.InstitutionID, PatronID: r.PatronID, PersonalName: "Jane Q Patron", ValidPatron: Yes,
		ValidPatronPassword: FlagOf(r.PatronPassword == "1234")}, nil
}

func (s *testSession) PatronInformation(ctx context.Context, r *PatronInfoRequest) (*PatronInfoResponse, error) {
	return &PatronInfoResponse{InstitutionID: r.InstitutionID, PatronID: r.PatronID, PersonalName: "Jane Q Patron", Email: "jane@example.org", ValidPatron: Yes}, nil
}

func (s *testSession) Checkout(ctx context.Context, r *CheckoutRequest) (*CheckoutResponse, error) {
	s.h.checkouts.Add(1)
	switch r.ItemID {
	case "PANIC":
		panic("boom")
	case "ERROR":
		return nil, errors.New("store unavailable")
	case "SLOW":
		s.h.started <- struct{}{}
		select {
		case <-s.h.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return &CheckoutResponse{OK: true, InstitutionID: r.InstitutionID, PatronID: r.PatronID, ItemID: r.ItemID, TitleID: "Hellström: Sy!",
		DueDate: time.Date(2026, 12, 11, 23, 59, 0, 0, time.UTC)}, nil
}

func (s *testSession) Checkin(ctx context.Context, r *CheckinRequest) (*CheckinResponse, error) {
	return &CheckinResponse{OK: true, InstitutionID: r.InstitutionID, ItemID: r.ItemID, PermanentLocation: "MAIN"}, nil
}

func (s *testSession) Renew(ctx context.Context, r *RenewRequest) (*RenewResponse, error) {
	return &RenewResponse{InstitutionID: r.InstitutionID, PatronID: r.PatronID, ItemID: r.ItemID, ScreenMessage: []string{"Renewal limit reached"}}, nil
}

func (s *testSession) FeePaid(ctx context.Context, r *FeePaidRequest) (*FeePaidResponse, error) {
	return &FeePaidResponse{PaymentAccepted: true, InstitutionID: r.InstitutionID, PatronID: r.PatronID, TransactionID: r.TransactionID}, nil
}

func (s *testSession) ItemInformation(ctx context.Context, r *ItemInfoRequest) (*ItemInfoResponse, error) {
	return &ItemInfoResponse{CirculationStatus: CircAvailable, ItemID: r.ItemID, TitleID: "Hellström: " + r.InstitutionID}, nil
}

func (s *testSession) EndPatronSession(ctx context.Context, r *EndSessionRequest) (*EndSessionResponse, error) {
	return &EndSessionResponse{EndSession: true, InstitutionID: r.InstitutionID, PatronID: r.PatronID}, nil
}

func (s *testSession) Hold(ctx context.Context, r *HoldRequest) (*HoldResponse, error) {
	return &HoldResponse{OK: true, InstitutionID: r.InstitutionID, PatronID: r.PatronID, ItemID: r.ItemID}, nil
}

func (s *testSession) PatronRef(id string) string { return "ref-" + id[max(0, len(id)-2):] }

func (s *testSession) Close() error {
	if s.closed.Swap(true) {
		panic("session closed twice")
	}
	s.h.closed.Add(1)
	return nil
}

// countObserver counts events.
type countObserver struct {
	mu        sync.Mutex
	opened    int
	closed    int
	rejected  int
	byLimit   map[Limit]int
	outcomes  map[Outcome]int
	malformed map[Malformed]int
	loginFail int
	// byAccount counts messages and malformed input by the account they
	// were reported under; logins and closedAs record the accounts named.
	byAccount map[string]int
	logins    []string
	closedAs  []string
}

func newCountObserver() *countObserver {
	return &countObserver{outcomes: map[Outcome]int{}, malformed: map[Malformed]int{}, byLimit: map[Limit]int{},
		byAccount: map[string]int{}}
}
func (o *countObserver) ConnOpened(ConnInfo) { o.mu.Lock(); o.opened++; o.mu.Unlock() }
func (o *countObserver) ConnClosed(_ ConnInfo, account string) {
	o.mu.Lock()
	o.closed++
	o.closedAs = append(o.closedAs, account)
	o.mu.Unlock()
}
func (o *countObserver) ConnRejected(_ net.Addr, l Limit) {
	o.mu.Lock()
	o.rejected++
	o.byLimit[l]++
	o.mu.Unlock()
}
func (o *countObserver) LoggedIn(_ ConnInfo, account, previous string) {
	o.mu.Lock()
	o.logins = append(o.logins, previous+">"+account)
	o.mu.Unlock()
}
func (o *countObserver) LoginFailed(ConnInfo) { o.mu.Lock(); o.loginFail++; o.mu.Unlock() }
func (o *countObserver) Malformed(account string, k Malformed) {
	o.mu.Lock()
	o.malformed[k]++
	o.byAccount[account]++
	o.mu.Unlock()
}
func (o *countObserver) MessageHandled(account, _ string, _ time.Duration, oc Outcome) {
	o.mu.Lock()
	o.outcomes[oc]++
	o.byAccount[account]++
	o.mu.Unlock()
}
func (o *countObserver) get(f func() int) int { o.mu.Lock(); defer o.mu.Unlock(); return f() }

type testServer struct {
	addr string
	srv  *Server
	h    *testHandler
	obs  *countObserver
	log  *syncBuffer
	done chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}
func (b *syncBuffer) String() string { b.mu.Lock(); defer b.mu.Unlock(); return b.b.String() }

func startServer(t *testing.T, configure func(*Options), ln ...net.Listener) *testServer {
	t.Helper()
	ts := &testServer{h: &testHandler{started: make(chan struct{}, 1), release: make(chan struct{})}, obs: newCountObserver(), log: &syncBuffer{}, done: make(chan error, 1)}
	o := Options{Handler: ts.h, Observer: ts.obs, Logger: zerolog.New(ts.log).Level(zerolog.DebugLevel), Wire: ts.log, Location: time.UTC}
	if configure != nil {
		configure(&o)
	}
	var l net.Listener
	if len(ln) > 0 {
		l = ln[0]
	} else {
		var err error
		if l, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	ts.addr = l.Addr().String()
	ts.srv = NewServer(&o)
	go func() { ts.done <- ts.srv.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := ts.srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-ts.done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return ts
}

// rawConn is a test client that speaks bytes.
type rawConn struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return &rawConn{t: t, c: c, br: bufio.NewReader(c)}
}

func (r *rawConn) send(s string) {
	r.t.Helper()
	if _, err := r.c.Write([]byte(s)); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rawConn) read() string {
	r.t.Helper()
	s, err := r.br.ReadString('\r')
	if err != nil {
		r.t.Fatalf("read: %v (got %q)", err, s)
	}
	return s
}

func (r *rawConn) roundTrip(s string) string { r.t.Helper(); r.send(s); return r.read() }

// expectClosed asserts the server closes the connection without sending
// anything more.
func (r *rawConn) expectClosed() {
	r.t.Helper()
	b, err := r.br.ReadByte()
	if err == nil {
		rest, _ := r.br.ReadString('\r')
		r.t.Fatalf("expected close, got %q", string(b)+rest)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		r.t.Fatalf("connection still open: %v", err)
	}
}

// sign appends AY and AZ to a frame.
func sign(frame, seq string) string {
	m, err := Decode([]byte(frame), DecodeOptions{Checksum: ChecksumOff})
	if err != nil {
		panic(err)
	}
	m.Seq = seq
	return string(m.AppendTo(nil, &EncodeOptions{Checksum: true})) + "\r"
}

const (
	loginFrame    = "9300CNkiosk|COsecret-pw|CPMAIN|"
	checkoutFrame = "11YN20261127    101500                  AOMAIN|AA2900001234|AB3900005678|ACterm|AD1234|"
)

func login(t *testing.T, r *rawConn) {
	t.Helper()
	if got := r.roundTrip(sign(loginFrame, "0")); !strings.HasPrefix(got, "941AY0AZ") {
		t.Fatalf("login: %q", got)
	}
}

func verify(t *testing.T, reply string, cs Charset) *Message {
	t.Helper()
	m, err := Decode([]byte(reply), DecodeOptions{Charset: cs, Checksum: ChecksumRequired})
	if err != nil {
		t.Fatalf("reply %q: %v", reply, err)
	}
	return m
}

func TestServerConversation(t *testing.T) {
	ts := startServer(t, nil)
	c, err := Dial(context.Background(), "tcp", ts.addr, ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	send := func(code string, spec ...string) *Message {
		t.Helper()
		m, err := ParseFieldSpec(code, spec, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		reply, err := c.Send(ctx, m)
		if err != nil {
			t.Fatalf("%s: %v", code, err)
		}
		if reply.Seq != m.Seq || reply.Checksum == "" {
			t.Fatalf("%s: seq %q checksum %q", code, reply.Seq, reply.Checksum)
		}
		return reply
	}
	if r := send("93", "CN=kiosk", "CO=secret-pw"); r.Code != "94" || r.Fixed != "1" {
		t.Fatalf("login: %v", r)
	}
	st := send("99")
	// BX: the session implements Hold but none of the other add-ons.
	if st.Code != "98" || st.Value("BX") != "YYYNYYYYYYYNNYYN" || st.Value("AO") != "MAIN" || st.Fixed[6:12] != "100003" {
		t.Fatalf("status: %v", st)
	}
	co := send("11", "AO=MAIN", "AA=2900001234", "AB=3900005678", "AC=", "AD=1234")
	if co.Fixed[0] != '1' || co.Value("AJ") != "Hellström: Sy!" || co.Value("AH") != "20261211   Z235900" {
		t.Fatalf("checkout: %v", co)
	}
	for code, want := range map[string]string{"09": "10", "17": "18", "23": "24", "63": "64", "29": "30", "35": "36", "37": "38", "15": "16"} {
		if r := send(code, "AO=MAIN", "AA=2900001234", "AB=1"); r.Code != want {
			t.Fatalf("%s answered %s", code, r.Code)
		}
	}
	// The log has one line per message with the vocabulary, and no secrets.
	c.Close()
	waitFor(t, func() bool { return ts.h.closed.Load() == 1 })
	log := ts.log.String()
	for _, s := range []string{`"msg":"11"`, `"patron_ref":"ref-34"`, `"item":"3900005678"`, `"account":"kiosk"`, `"inst":"MAIN"`, `"ok":true`, `"dur":`} {
		if !strings.Contains(log, s) {
			t.Errorf("log lacks %s:\n%s", s, log)
		}
	}
	for _, secret := range []string{"secret-pw", "1234|", "2900001234|", "Jane Q Patron", "jane@example.org"} {
		if strings.Contains(log, secret) {
			t.Errorf("log leaks %q:\n%s", secret, log)
		}
	}
}

// waitFor polls a condition that another goroutine makes true; it is a
// synchronisation helper, not a timing assertion.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestServerResendAndChecksum(t *testing.T) {
	ts := startServer(t, nil)
	r := dialRaw(t, ts.addr)
	// 97 before any response: nothing to resend.
	if got := r.roundTrip("97AZFEF5\r"); got != "96AZFEF6\r" {
		t.Fatalf("early 97: %q", got)
	}
	login(t, r)
	first := r.roundTrip(sign(checkoutFrame, "1"))
	if got := r.roundTrip("97AZFEF5\r"); got != first {
		t.Fatalf("97 resent %q, want %q", got, first)
	}
	// A bad checksum gets 96 and the session is not called.
	bad := sign(checkoutFrame, "2")
	bad = bad[:len(bad)-2] + "0\r"
	if bad == sign(checkoutFrame, "2") {
		bad = bad[:len(bad)-2] + "1\r"
	}
	if got := r.roundTrip(bad); got != "96AZFEF6\r" {
		t.Fatalf("bad checksum: %q", got)
	}
	// Unsigned frames on an auto connection get unsigned answers.
	if got := r.roundTrip("9910302.00\r"); strings.Contains(got, "AZ") || !strings.HasPrefix(got, "98") {
		t.Fatalf("unsigned status: %q", got)
	}
	if got := r.roundTrip("98garbage\r"); got != "96\r" {
		t.Fatalf("unknown request: %q", got)
	}
	if n := ts.h.checkouts.Load(); n != 1 {
		t.Fatalf("checkouts = %d, want 1", n)
	}
	if ts.obs.get(func() int { return ts.obs.malformed[MalformedChecksum] }) != 1 ||
		ts.obs.get(func() int { return ts.obs.malformed[MalformedUnknownCode] }) != 1 ||
		ts.obs.get(func() int { return ts.obs.malformed[MalformedShort] }) != 1 {
		t.Fatalf("malformed counts: %v", ts.obs.malformed)
	}
}

// A retransmitted request reaches the Session: the server cannot tell
// whether what the first answer acted on changed since (the self-check
// session asks circ's retry journal).
func TestServerRetransmitReachesSession(t *testing.T) {
	ts := startServer(t, nil)
	r := dialRaw(t, ts.addr)
	login(t, r)
	frame := sign(checkoutFrame, "4")
	first := r.roundTrip(frame)
	if again := r.roundTrip(frame); again != first {
		t.Fatalf("retransmission answered %q, want %q", again, first)
	}
	if n := ts.h.checkouts.Load(); n != 2 {
		t.Fatalf("session called %d times for a request and its retransmission", n)
	}
}

func TestServerMalformedLimit(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.ErrLimit = 2 })
	r := dialRaw(t, ts.addr)
	login(t, r)
	for i := 0; i < 2; i++ {
		if got := r.roundTrip("11YN\r"); got != "96\r" {
			t.Fatalf("short frame %d: %q", i, got)
		}
	}
	r.send("11YN\r")
	r.expectClosed()
	_ = ts
}

func TestServerNotSIPBeforeLogin(t *testing.T) {
	ts := startServer(t, nil)
	r := dialRaw(t, ts.addr)
	r.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	r.expectClosed()
	if ts.obs.get(func() int { return ts.obs.malformed[MalformedFrame] }) != 1 {
		t.Fatal("not observed")
	}
}

func TestServerTooLong(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.MaxMessage = 300 })
	r := dialRaw(t, ts.addr)
	login(t, r)
	r.send("17" + strings.Repeat("x", 400))
	r.expectClosed()
	waitFor(t, func() bool { return ts.obs.get(func() int { return ts.obs.malformed[MalformedTooLong] }) == 1 })
}

func TestServerLongMessageWithinLimit(t *testing.T) {
	ts := startServer(t, nil)
	r := dialRaw(t, ts.addr)
	login(t, r)
	// Longer than the idle read buffer, sent in pieces, with CRLF.
	frame := "1720060110    215612AO" + strings.Repeat("L", 600) + "|AB1|"
	r.send(frame[:100])
	r.send(frame[100:] + "\r\n")
	got, err := Decode([]byte(r.read()), DecodeOptions{})
	if err != nil || got.Code != "18" || !strings.HasSuffix(got.Value("AJ"), strings.Repeat("L", 200)) {
		t.Fatalf("%v", got)
	}
	// Two pipelined messages in one write are answered in order.
	r.send("9910302.00\r1720060110    215612AOX|AB2|\r")
	if a, b := r.read(), r.read(); !strings.HasPrefix(a, "98") || !strings.HasPrefix(b, "18") {
		t.Fatalf("pipelined: %q %q", a, b)
	}
}

func TestServerTimeouts(t *testing.T) {
	t.Run("idle", func(t *testing.T) {
		ts := startServer(t, func(o *Options) { o.IdleTimeout = 50 * time.Millisecond })
		r := dialRaw(t, ts.addr)
		login(t, r)
		r.expectClosed()
		waitFor(t, func() bool { return strings.Contains(ts.log.String(), "idle timeout") })
	})
	t.Run("login", func(t *testing.T) {
		ts := startServer(t, func(o *Options) { o.LoginTimeout = 50 * time.Millisecond })
		r := dialRaw(t, ts.addr)
		if got := r.roundTrip("9910302.00\r"); !strings.HasPrefix(got, "98") {
			t.Fatalf("status before login: %q", got)
		}
		r.expectClosed()
		waitFor(t, func() bool { return strings.Contains(ts.log.String(), "no login in time") })
	})
	t.Run("failed login keeps the deadline", func(t *testing.T) {
		ts := startServer(t, func(o *Options) { o.LoginTimeout = 50 * time.Millisecond })
		r := dialRaw(t, ts.addr)
		if got := r.roundTrip("9300CNkiosk|COwrong|\r"); got != "940\r" {
			t.Fatalf("bad login: %q", got)
		}
		r.expectClosed()
		if ts.obs.get(func() int { return ts.obs.loginFail }) != 1 {
			t.Fatal("login failure not observed")
		}
	})
	t.Run("read inside a message", func(t *testing.T) {
		ts := startServer(t, func(o *Options) { o.ReadTimeout = 50 * time.Millisecond })
		r := dialRaw(t, ts.addr)
		login(t, r)
		r.send("9910")
		r.expectClosed()
		waitFor(t, func() bool { return strings.Contains(ts.log.String(), "read timeout inside a message") })
	})
}

func TestServerShutdownWithMessageInFlight(t *testing.T) {
	ts := startServer(t, nil)
	idle := dialRaw(t, ts.addr)
	login(t, idle)
	busy := dialRaw(t, ts.addr)
	login(t, busy)
	busy.send(sign(strings.Replace(checkoutFrame, "3900005678", "SLOW", 1), "1"))
	<-ts.h.started

	shutdown := make(chan error, 1)
	go func() { shutdown <- ts.srv.Shutdown(context.Background()) }()
	// The idle kiosk is released at once, while the busy one still works.
	idle.expectClosed()
	select {
	case err := <-shutdown:
		t.Fatalf("shutdown returned before the busy message finished: %v", err)
	default:
	}
	close(ts.h.release)
	m := verify(t, busy.read(), UTF8)
	if m.Code != "12" || m.Fixed[0] != '1' {
		t.Fatalf("in-flight checkout: %v", m)
	}
	busy.expectClosed()
	if err := <-shutdown; err != nil {
		t.Fatal(err)
	}
	if err := <-ts.done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	ts.done <- nil // for the cleanup
	if n := ts.h.closed.Load(); n != 2 {
		t.Fatalf("sessions closed: %d", n)
	}
	// New connections are refused.
	if c, err := net.Dial("tcp", ts.addr); err == nil {
		c.Close()
		t.Fatal("listener still open")
	}
}

func TestServerShutdownDeadline(t *testing.T) {
	ts := startServer(t, nil)
	busy := dialRaw(t, ts.addr)
	login(t, busy)
	busy.send(sign(strings.Replace(checkoutFrame, "3900005678", "SLOW", 1), "1"))
	<-ts.h.started
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// The session ignores nothing but its context: Close cancels it.
	if err := ts.srv.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("shutdown: %v", err)
	}
	busy.expectClosed()
	waitFor(t, func() bool { return ts.h.closed.Load() == 1 })
}

func TestServerConnLimit(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.MaxConns = 1 })
	first := dialRaw(t, ts.addr)
	login(t, first)
	second := dialRaw(t, ts.addr)
	second.expectClosed()
	if ts.obs.get(func() int { return ts.obs.rejected }) != 1 {
		t.Fatal("rejection not observed")
	}
	// The first kiosk is unaffected; after it leaves, a new one gets in.
	if got := first.roundTrip("9910302.00\r"); !strings.HasPrefix(got, "98") {
		t.Fatalf("%q", got)
	}
	first.c.Close()
	waitFor(t, func() bool { ts.srv.mu.Lock(); defer ts.srv.mu.Unlock(); return len(ts.srv.conns) == 0 })
	third := dialRaw(t, ts.addr)
	login(t, third)
}

func TestServerPanicIsolation(t *testing.T) {
	ts := startServer(t, nil)
	a := dialRaw(t, ts.addr)
	b := dialRaw(t, ts.addr)
	login(t, a)
	login(t, b)
	m := verify(t, a.roundTrip(sign(strings.Replace(checkoutFrame, "3900005678", "PANIC", 1), "1")), UTF8)
	if m.Code != "12" || m.Fixed[0] != '0' || m.Value("AB") != "PANIC" || m.Value("AF") != genericFailure || m.Seq != "1" {
		t.Fatalf("panic answer: %v", m)
	}
	a.expectClosed()
	if got := b.roundTrip(sign(checkoutFrame, "2")); !strings.HasPrefix(got, "121") {
		t.Fatalf("other connection: %q", got)
	}
	if !strings.Contains(ts.log.String(), "panic in session") {
		t.Fatal("panic not logged")
	}
}

func TestServerSessionErrorAndUnsupported(t *testing.T) {
	ts := startServer(t, nil)
	r := dialRaw(t, ts.addr)
	login(t, r)
	m := verify(t, r.roundTrip(sign(strings.Replace(checkoutFrame, "3900005678", "ERROR", 1), "1")), UTF8)
	if m.Code != "12" || m.Fixed[0] != '0' {
		t.Fatalf("error answer: %v", m)
	}
	// The connection stays usable; 65 is not implemented by the session.
	m = verify(t, r.roundTrip(sign("6520261127    101500AOMAIN|AA2900001234|", "2")), UTF8)
	if m.Code != "66" || m.Fixed[:9] != "000000000" || m.Value("AO") != "MAIN" {
		t.Fatalf("unsupported answer: %v", m)
	}
	waitFor(t, func() bool {
		return ts.obs.get(func() int { return ts.obs.outcomes[OutcomeError] }) == 1 &&
			ts.obs.get(func() int { return ts.obs.outcomes[OutcomeUnsupported] }) == 1
	})
}

func TestServerCP850Settings(t *testing.T) {
	ts := startServer(t, nil)
	ts.h.settings = &ConnSettings{Checksum: ChecksumRequired, Charset: CP850, Terminator: CRLF}
	r := dialRaw(t, ts.addr)
	login(t, r)
	// From now on: CP850 both ways, CRLF, checksums required.
	req := NewMessage("17")
	req.Fixed = "20261127    101500"
	req.Add("AO", "Bibliothèque")
	req.Add("AB", "1")
	req.Seq = "3"
	wire := string(req.AppendTo(nil, &EncodeOptions{Charset: CP850, Checksum: true})) + "\r"
	if !strings.Contains(wire, "Biblioth\x8aque") {
		t.Fatalf("test frame not in cp850: %q", wire)
	}
	reply := r.roundTrip(wire)
	if lf, _ := r.br.ReadByte(); lf != '\n' {
		t.Fatalf("terminator: got %q after CR", lf)
	}
	m := verify(t, reply, CP850)
	if m.Value("AJ") != "Hellström: Bibliothèque" || !strings.Contains(reply, "Hellstr\x94m") {
		t.Fatalf("cp850 reply %q → %v", reply, m)
	}
	// Unsigned frames are now refused.
	if got := r.roundTrip("9910302.00\r"); got != "96AZFEF6\r" {
		t.Fatalf("unsigned after login: %q", got)
	}
}

func TestServerTLS(t *testing.T) {
	cert := selfSigned(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tl := tls.NewListener(l, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	ts := startServer(t, nil, tl)
	conn, err := tls.Dial("tcp", ts.addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	c := NewClient(conn, ClientOptions{})
	defer c.Close()
	m, _ := ParseFieldSpec("93", []string{"CN=kiosk", "CO=secret-pw"}, time.Now())
	if reply, err := c.Send(context.Background(), m); err != nil || reply.Fixed != "1" {
		t.Fatalf("login over TLS: %v %v", reply, err)
	}
	ts.h.mu.Lock()
	info := ts.h.infos[0]
	ts.h.mu.Unlock()
	if info.TLS == nil || !info.TLS.HandshakeComplete || info.RemoteAddr == nil || info.LocalAddr.String() != ts.addr {
		t.Fatalf("conn info: %+v", info)
	}
	// A client that never finishes the handshake does not block others.
	stuck := dialRaw(t, ts.addr)
	_ = stuck
	conn2, err := tls.Dial("tcp", ts.addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	conn2.Close()
}

func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// failingListener fails Accept a few times before handing out a real
// listener's connections.
type failingListener struct {
	net.Listener
	fails atomic.Int32
}

func (l *failingListener) Accept() (net.Conn, error) {
	if l.fails.Add(-1) >= 0 {
		return nil, errors.New("accept: too many open files")
	}
	return l.Listener.Accept()
}

func TestServerAcceptErrors(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fl := &failingListener{Listener: l}
	fl.fails.Store(3)
	ts := startServer(t, nil, fl)
	r := dialRaw(t, ts.addr)
	login(t, r)
	if !strings.Contains(ts.log.String(), "accept failed") {
		t.Fatal("accept errors not logged")
	}
}

func TestServeAfterShutdownAndClose(t *testing.T) {
	srv := NewServer(&Options{Handler: &testHandler{}})
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(l); err != nil {
		t.Fatalf("Serve after Close: %v", err)
	}
	if _, err := l.Accept(); err == nil {
		t.Fatal("listener left open")
	}
	// A listener closed behind the server's back ends Serve with an error.
	srv2 := NewServer(&Options{Handler: &testHandler{}})
	l2, _ := net.Listen("tcp", "127.0.0.1:0")
	done := make(chan error, 1)
	go func() { done <- srv2.Serve(l2) }()
	waitFor(t, func() bool { srv2.mu.Lock(); defer srv2.mu.Unlock(); return len(srv2.listeners) == 1 })
	l2.Close()
	if err := <-done; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Serve: %v", err)
	}
}

func TestServerClose(t *testing.T) {
	ts := startServer(t, nil)
	r := dialRaw(t, ts.addr)
	login(t, r)
	if err := ts.srv.Close(); err != nil {
		t.Fatal(err)
	}
	r.expectClosed()
	if err := <-ts.done; err != nil {
		t.Fatal(err)
	}
	ts.done <- nil
}

func TestServerWireTranscriptRedacted(t *testing.T) {
	var wire syncBuffer
	ts := startServer(t, func(o *Options) { o.Wire = &wire })
	r := dialRaw(t, ts.addr)
	login(t, r)
	r.roundTrip(sign(checkoutFrame, "1"))
	r.c.Close()
	waitFor(t, func() bool { return ts.h.closed.Load() == 1 })
	w := wire.String()
	if !strings.Contains(w, " < 11YN") || !strings.Contains(w, " > 121") || !strings.Contains(w, "AD***") {
		t.Fatalf("transcript:\n%s", w)
	}
	for _, s := range []string{"secret-pw", "AD1234", "2900001234"} {
		if strings.Contains(w, s) {
			t.Fatalf("transcript leaks %q:\n%s", s, w)
		}
	}
}

var _ io.Writer = (*syncBuffer)(nil)

// fullSession implements every optional message.
type fullSession struct{ testSession }

func (s *fullSession) RenewAll(ctx context.Context, r *RenewAllRequest) (*RenewAllResponse, error) {
	return &RenewAllResponse{OK: true, InstitutionID: r.InstitutionID, Renewed: []string{"a"}}, nil
}
func (s *fullSession) BlockPatron(ctx context.Context, r *BlockPatronRequest) (*PatronStatusResponse, error) {
	return &PatronStatusResponse{Status: PatronStatus{CardReportedLost: true}, InstitutionID: r.InstitutionID, PatronID: r.PatronID, ValidPatron: Yes}, nil
}
func (s *fullSession) PatronEnable(ctx context.Context, r *PatronEnableRequest) (*PatronEnableResponse, error) {
	return &PatronEnableResponse{InstitutionID: r.InstitutionID, PatronID: r.PatronID, ValidPatron: Yes}, nil
}
func (s *fullSession) ItemStatusUpdate(ctx context.Context, r *ItemStatusUpdateRequest) (*ItemStatusUpdateResponse, error) {
	return &ItemStatusUpdateResponse{ItemPropertiesOK: true, ItemID: r.ItemID, ItemProperties: r.ItemProperties}, nil
}

func TestServerOptionalMessages(t *testing.T) {
	h := &testHandler{}
	ts := startServer(t, func(o *Options) {
		o.Handler = HandlerFunc(func(ctx context.Context, c ConnInfo) (Session, error) {
			return &fullSession{testSession{h: h, info: c}}, nil
		})
	})
	r := dialRaw(t, ts.addr)
	login(t, r)
	if m := verify(t, r.roundTrip(sign("9910302.00", "1")), UTF8); m.Value("BX") != "YYYYYYYYYYYYYYYY" {
		t.Fatalf("BX: %v", m)
	}
	for req, want := range map[string]string{
		"6520261127    101500AOMAIN|AAP1|":              "661000100002",
		"01Y20261127    101500AOMAIN|ALlost|AAP1|AC|":   "24    Y",
		"2520261127    101500AOMAIN|AAP1|":              "26    ",
		"1920261127    101500AOMAIN|ABI1|CHnew|":        "201",
		"15+20261127    101500AOMAIN|AAP1|ABI1|":        "161N",
		"6300020261127    101500          AOMAIN|AAP1|": "64",
	} {
		if got := r.roundTrip(sign(req, "2")); !strings.HasPrefix(got, want) {
			t.Errorf("%s… answered %q, want prefix %q", req[:2], got, want)
		}
	}
}

func TestFailureResponses(t *testing.T) {
	want := map[string]string{"93": "94", "99": "98", "23": "24", "01": "24", "63": "64", "11": "12", "29": "30", "09": "10",
		"15": "16", "17": "18", "19": "20", "25": "26", "65": "66", "35": "36", "37": "38"}
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	for req, resp := range want {
		if !knownRequest(req) {
			t.Errorf("%s not dispatched", req)
		}
		m, err := ParseFieldSpec(req, []string{"AO=MAIN", "AA=P1", "AB=I1"}, now)
		if err != nil {
			t.Fatal(err)
		}
		f := failureResponse(m)
		if f.ResponseCode() != resp || f.Succeeded() {
			t.Errorf("%s: failure response %s ok=%v", req, f.ResponseCode(), f.Succeeded())
		}
		out := ResponseMessage(f, &EncodeOptions{Now: now})
		for _, tag := range []string{"AO", "AA", "AB"} {
			if v, ok := out.Get(tag); ok && v != m.Value(tag) {
				t.Errorf("%s: %s=%q not echoed", req, tag, v)
			}
		}
		if n, _ := FixedLen(resp); len(out.Fixed) != n {
			t.Errorf("%s: fixed part %q", resp, out.Fixed)
		}
	}
}

func TestServerStartStopRace(t *testing.T) {
	for i := 0; i < 50; i++ {
		srv := NewServer(&Options{Handler: &testHandler{}})
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- srv.Serve(l) }()
		var dialer sync.WaitGroup
		if i%2 == 0 { // race a connection against the shutdown
			dialer.Go(func() {
				if c, err := net.Dial("tcp", l.Addr().String()); err == nil {
					c.Close()
				}
			})
		}
		if err := srv.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatalf("Serve: %v", err)
		}
		dialer.Wait()
	}
}

// trickle writes frame one byte every interval until the connection
// fails or stop is closed; the frame never ends.
func trickle(c net.Conn, frame string, every time.Duration, stop <-chan struct{}) {
	t := time.NewTicker(every)
	defer t.Stop()
	for i := 0; ; i++ {
		if _, err := c.Write([]byte{frame[i%len(frame)]}); err != nil {
			return
		}
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

// closedWithin reports how long the server took to close r, failing the
// test when it was still open after max.
func closedWithin(t *testing.T, r *rawConn, max time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	r.c.SetReadDeadline(start.Add(max))
	_, err := r.br.ReadString('\r')
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("a trickling peer kept the connection open for %v", max)
	}
	return time.Since(start)
}

func TestServerTrickleCannotHoldConnection(t *testing.T) {
	t.Run("before login the deadline counts from the accept", func(t *testing.T) {
		ts := startServer(t, func(o *Options) {
			o.LoginTimeout, o.IdleTimeout = 300*time.Millisecond, 400*time.Millisecond
		})
		r := dialRaw(t, ts.addr)
		stop := make(chan struct{})
		defer close(stop)
		go trickle(r.c, "9300CNkiosk", 40*time.Millisecond, stop)
		closedWithin(t, r, 3*time.Second)
		waitFor(t, func() bool { return strings.Contains(ts.log.String(), "no login in time") })
	})
	t.Run("before login complete frames do not extend it", func(t *testing.T) {
		ts := startServer(t, func(o *Options) {
			o.LoginTimeout, o.IdleTimeout = 300*time.Millisecond, 400*time.Millisecond
		})
		r := dialRaw(t, ts.addr)
		start := time.Now()
		for range 4 {
			if got := r.roundTrip("9910302.00\r"); !strings.HasPrefix(got, "98") {
				t.Fatalf("status: %q", got)
			}
			time.Sleep(50 * time.Millisecond)
		}
		stop := make(chan struct{})
		defer close(stop)
		go trickle(r.c, "9910302.00", 40*time.Millisecond, stop)
		closedWithin(t, r, 3*time.Second)
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("closed %v after the accept", d)
		}
	})
	t.Run("after login a frame must complete within the read timeout", func(t *testing.T) {
		ts := startServer(t, func(o *Options) {
			o.ReadTimeout, o.IdleTimeout = 300*time.Millisecond, 400*time.Millisecond
		})
		r := dialRaw(t, ts.addr)
		login(t, r)
		stop := make(chan struct{})
		defer close(stop)
		go trickle(r.c, "9910302.00", 40*time.Millisecond, stop)
		closedWithin(t, r, 3*time.Second)
		waitFor(t, func() bool { return strings.Contains(ts.log.String(), "read timeout inside a message") })
	})
	t.Run("over TLS the handshake is bounded by the login deadline", func(t *testing.T) {
		cfg := &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}}
		inner, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ts := startServer(t, func(o *Options) {
			o.LoginTimeout, o.ReadTimeout = 300*time.Millisecond, 10*time.Second
		}, tls.NewListener(inner, cfg))
		r := dialRaw(t, ts.addr)
		stop := make(chan struct{})
		defer close(stop)
		// A TLS record header, then its body a byte at a time.
		go trickle(r.c, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 40*time.Millisecond, stop)
		closedWithin(t, r, 3*time.Second)
	})
}

// The observer learns which account each message came under: none before
// the login, the logged-in one after it, and at the close.
func TestObserverAccount(t *testing.T) {
	ts := startServer(t, nil)
	r := dialRaw(t, ts.addr)
	if got := r.roundTrip("9300CNkiosk|COwrong|\r"); got != "940\r" {
		t.Fatalf("bad login: %q", got)
	}
	login(t, r)
	if got := r.roundTrip("9910302.00\r"); !strings.HasPrefix(got, "98") {
		t.Fatalf("status: %q", got)
	}
	r.send("XX\r") // unknown code: malformed, under the account
	r.read()
	r.c.Close()
	waitFor(t, func() bool { return ts.obs.get(func() int { return ts.obs.closed }) == 1 })
	ts.obs.mu.Lock()
	defer ts.obs.mu.Unlock()
	if ts.obs.byAccount[""] != 1 || ts.obs.byAccount["kiosk"] != 3 {
		t.Errorf("by account: %v, want the failed login under none and login, status, malformed under kiosk", ts.obs.byAccount)
	}
	if !slices.Equal(ts.obs.logins, []string{">kiosk"}) || !slices.Equal(ts.obs.closedAs, []string{"kiosk"}) {
		t.Errorf("logins %q, closed as %q", ts.obs.logins, ts.obs.closedAs)
	}
}
