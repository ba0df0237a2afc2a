package selfcheck

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/fixtures"
	"github.com/circa-ils/circa/profiles"
	"github.com/circa-ils/circa/sip2"
	"github.com/circa-ils/circa/store"
	"github.com/circa-ils/circa/store/boltstore"
)

// now is the fixed instant the demo library is seeded at and the clock of
// every test, so transcripts are stable.
var now = time.Date(2026, 3, 10, 15, 4, 5, 0, time.UTC)

var newYork = func() *time.Location {
	l, err := time.LoadLocation("America/New_York")
	if err != nil {
		panic(err)
	}
	return l
}()

var templatePath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "selfcheck-template")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	templatePath, err = seedTemplate(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "seed template:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// testProfiles are the accounts beside the demo kiosk, one per group of
// settings the tests cover.
func testProfiles() []profiles.Profile {
	strict := profiles.NewSelfCheck("strict")
	strict.Password, strict.Institution, strict.Library, strict.Desk = "strictpass", "MAIN", "MAIN", "MAIN-CIRC"
	strict.RequirePIN = true
	strict.Checksum = profiles.ChecksumRequired
	strict.AllowedMessages = []string{"23", "63", "11", "09", "99", "35"}
	strict.TimeoutSeconds, strict.Retries = 45, 2
	strict.DueDateFormat = profiles.DueISO
	strict.OwnItemRenews = false
	strict.CheckinNotOnLoanOK = true
	strict.SortBin = profiles.SortByHold
	strict.SortBins = map[string]string{"HOLD": "B1", "MAIN-STACKS": "B2"}
	strict.Terminator = "CRLF"
	strict.Messages = map[string]map[string]string{"eng": {"checkout_ok": "Enjoy {title} until {due}"}}

	sorter := profiles.NewSelfCheck("sorter")
	sorter.Password, sorter.Institution, sorter.Library = "sorterpass", "BRANCH", "BRANCH"
	sorter.SortBin = profiles.SortByLocation
	sorter.SortBins = map[string]string{"MAIN-STACKS": "7"}
	sorter.HeldItemsBlockCheckin = true
	sorter.Charset = profiles.CharsetCP850
	sorter.CodePointChecksum = true
	sorter.DueDateFormat = profiles.DueDate

	media := profiles.NewSelfCheck("media")
	media.Password, media.Institution, media.Library = "mediapass", "MAIN", "MAIN"
	media.SortBin = profiles.SortByMediaType
	media.SortBins = map[string]string{"005": "VIDEO-BIN"}
	media.Checksum = profiles.ChecksumOff
	media.TimeoutSeconds = 0
	media.Charset = profiles.CharsetLatin1

	inactive := profiles.NewSelfCheck("inactive")
	inactive.Password, inactive.Institution, inactive.Library, inactive.Active = "inactivepass", "MAIN", "MAIN", false

	cert := profiles.NewSelfCheck("certkiosk")
	cert.Password, cert.Institution, cert.Library = "certpass", "MAIN", "MAIN"
	cert.RequireClientCert = true
	cert.StatusBeforeLogin = true
	return []profiles.Profile{strict, sorter, media, inactive, cert}
}

func seedTemplate(dir string) (string, error) {
	path, err := fixtures.SeedTemplate(dir, now)
	if err != nil {
		return "", err
	}
	db, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		return "", err
	}
	defer db.Close()
	reg, err := profiles.Open(context.Background(), db)
	if err != nil {
		return "", err
	}
	if err := fixtures.SeedProfiles(context.Background(), reg); err != nil {
		return "", err
	}
	ps := testProfiles()
	for _, p := range ps {
		if err := profiles.Prepare(p); err != nil {
			return "", err
		}
	}
	return path, reg.Save(context.Background(), ps...)
}

// syncBuffer collects log output written by connection goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// env is a real server over a copy of the seeded template.
type env struct {
	t    testing.TB
	path string
	db   store.DB
	svc  *circ.Service
	reg  *profiles.Registry
	srv  *sip2.Server
	addr string
	logs *syncBuffer
	done chan error
	// wrap, when set, turns the listener into a TLS one.
	wrap func(net.Listener) net.Listener
	// fault, when set, is the store's write fault (boltstore.Options.WriteFault).
	fault func() error
	// later moves the server's clock on from now.
	later atomic.Int64
}

// clock is the server's clock: now, moved on by advance.
func (e *env) clock() time.Time { return now.Add(time.Duration(e.later.Load())) }

func (e *env) advance(d time.Duration) { e.later.Add(int64(d)) }

func newEnv(t testing.TB) *env {
	t.Helper()
	e := &env{t: t, path: filepath.Join(t.TempDir(), boltstore.DefaultFile), logs: &syncBuffer{}}
	if err := fixtures.CopyFile(templatePath, e.path); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) start() *env {
	e.t.Helper()
	db, err := boltstore.Open(e.path, boltstore.Options{WriteFault: e.fault})
	if err != nil {
		e.t.Fatal(err)
	}
	svc, err := circ.New(db, circ.WithClock(e.clock))
	if err != nil {
		e.t.Fatal(err)
	}
	reg, err := profiles.Open(context.Background(), db)
	if err != nil {
		e.t.Fatal(err)
	}
	log := zerolog.New(e.logs)
	h, err := NewHandler(Options{Service: svc, Profiles: reg, Logger: log})
	if err != nil {
		e.t.Fatal(err)
	}
	srv := sip2.NewServer(&sip2.Options{Handler: h, Logger: log, Location: newYork, Now: e.clock})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	e.addr = ln.Addr().String()
	if e.wrap != nil {
		ln = e.wrap(ln)
	}
	e.db, e.svc, e.reg, e.srv = db, svc, reg, srv
	e.done = make(chan error, 1)
	go func() { e.done <- srv.Serve(ln) }()
	e.t.Cleanup(e.stop)
	return e
}

func (e *env) stop() {
	if e.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		e.t.Errorf("shutdown: %v", err)
	}
	<-e.done
	if err := e.db.Close(); err != nil {
		e.t.Errorf("close store: %v", err)
	}
	e.srv = nil
}

// restart stops the server and opens the same file again, as after a
// process restart.
func (e *env) restart() {
	e.stop()
	e.start()
}

// head is the change journal's sequence number.
func (e *env) head() uint64 {
	var h uint64
	e.db.View(context.Background(), func(tx store.Tx) error {
		h = tx.JournalHead()
		return nil
	})
	return h
}

// kiosk speaks raw SIP2 lines.
type kiosk struct {
	t testing.TB
	c net.Conn
	r *bufio.Reader
}

func (e *env) dial() *kiosk {
	e.t.Helper()
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		e.t.Fatal(err)
	}
	k := &kiosk{t: e.t, c: c, r: newReader(c)}
	e.t.Cleanup(func() { c.Close() })
	return k
}

func newReader(c net.Conn) *bufio.Reader { return bufio.NewReader(c) }

// sign replaces a trailing "AZ????" with the checksum of the line.
func sign(line string) string {
	if !strings.HasSuffix(line, "AZ????") {
		return line
	}
	body := line[:len(line)-4]
	return fmt.Sprintf("%s%04X", body, sip2.Checksum([]byte(body)))
}

// sendRaw writes a frame with a CR and returns the reply with its
// terminator.
func (k *kiosk) sendRaw(line string) string {
	k.t.Helper()
	k.c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := k.c.Write([]byte(sign(line) + "\r")); err != nil {
		k.t.Fatal(err)
	}
	reply, err := k.r.ReadString('\r')
	if err != nil {
		k.t.Fatalf("reading reply to %.2s: %v", line, err)
	}
	// The LF of a CRLF terminator arrives in front of the next reply.
	if k.r.Buffered() > 0 {
		if b, _ := k.r.Peek(1); b[0] == '\n' {
			k.r.ReadByte()
			reply += "\n"
		}
	}
	return strings.TrimPrefix(reply, "\n")
}

// send returns the reply without its terminator.
func (k *kiosk) send(line string) string {
	k.t.Helper()
	return strings.TrimRight(k.sendRaw(line), "\r\n")
}

func (k *kiosk) login(user, pass string) {
	k.t.Helper()
	if got := k.send("9300CN" + user + "|CO" + pass + "|"); !strings.HasPrefix(got, "941") {
		k.t.Fatalf("login %s: %q", user, got)
	}
}

// decode parses a reply for field checks.
func decode(t testing.TB, reply string) *sip2.Message {
	t.Helper()
	m, err := sip2.Decode([]byte(reply), sip2.DecodeOptions{Checksum: sip2.ChecksumOff})
	if err != nil {
		t.Fatalf("reply %q: %v", reply, err)
	}
	return m
}
