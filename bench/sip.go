package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/circa-ils/circa/sip2"
)

// Login is what a generated kiosk logs in with (message 93).
type Login struct {
	User, Password, Location, Institution string
}

// Party is what one connection works on: its patron and item. Write mixes
// check out and in only their own item, so connections never conflict and
// a run can go on for as long as it is told.
type Party struct {
	Patron, PIN, Item string
}

// Error kinds counted by the generator.
const (
	ErrIO       = "io"       // the connection failed or was closed
	ErrTimeout  = "timeout"  // no reply within the request timeout
	ErrTooLong  = "too_long" // a reply longer than the reader's buffer
	ErrCode     = "code"     // reply of the wrong message type (96 included)
	ErrSeq      = "seq"      // AY not echoed
	ErrChecksum = "checksum" // AZ missing or wrong
	ErrStatus   = "status"   // ok flag or a required field not as expected
	ErrSetup    = "setup"    // connect, login or claim failed
	ErrHTTP     = "http"     // NCIP: transport status not 200
	ErrProblem  = "problem"  // NCIP: a Problem instead of the response
)

// opKind marks the writes whose acknowledgements a crash check follows.
type opKind uint8

const (
	opRead opKind = iota
	opCheckout
	opCheckin
	opRenew
)

// step is one request of a mix and what its reply must look like.
type step struct {
	req    *sip2.Message
	reply  string // expected reply code
	okPos  int    // index of the expected flag in the reply, -1 for none
	okChar byte
	needs  string // a field the reply must carry, e.g. "|BLY"
	op     opKind
	// dates are the offsets of transaction dates in the fixed part that
	// a write restamps on every send (see sipConn.stamp).
	dates []int
}

// encode returns the request for every sequence number 0–9, signed.
func (s *step) encode() [10][]byte {
	var out [10][]byte
	for i := range out {
		s.req.Seq = strconv.Itoa(i)
		b := s.req.AppendTo(nil, &sip2.EncodeOptions{Checksum: true})
		out[i] = append(b, '\r')
	}
	s.req.Seq = ""
	return out
}

func sipDate(t time.Time) string { return t.Format("20060102    150405") }

func msg(code, fixed string, fields ...string) *sip2.Message {
	m := sip2.NewMessage(code)
	m.Fixed = fixed
	for i := 0; i+1 < len(fields); i += 2 {
		m.Add(fields[i], fields[i+1])
	}
	return m
}

const blankDate = "                  "

func statusStep() step {
	return step{req: msg("99", "0"+"040"+"2.00"), reply: "98", okPos: 2, okChar: 'Y'}
}

func loginStep(l Login) step {
	return step{req: msg("93", "00", "CN", l.User, "CO", l.Password, "CP", l.Location), reply: "94", okPos: 2, okChar: '1'}
}

func patronStatusStep(l Login, p Party, now string) step {
	return step{req: msg("23", "000"+now, "AO", l.Institution, "AA", p.Patron, "AC", "", "AD", p.PIN),
		reply: "24", okPos: -1, needs: "|BLY"}
}

func patronInfoStep(l Login, p Party, now string) step {
	return step{req: msg("63", "000"+now+"          ", "AO", l.Institution, "AA", p.Patron, "AC", "", "AD", p.PIN),
		reply: "64", okPos: -1, needs: "|BLY"}
}

func itemInfoStep(l Login, p Party, now string) step {
	return step{req: msg("17", now, "AO", l.Institution, "AB", p.Item, "AC", ""), reply: "18", okPos: -1, needs: "|AB"}
}

func checkoutStep(l Login, p Party, now string) step {
	return step{req: msg("11", "NN"+now+blankDate, "AO", l.Institution, "AA", p.Patron, "AB", p.Item, "AC", "", "AD", p.PIN),
		reply: "12", okPos: 2, okChar: '1', op: opCheckout, dates: []int{2}}
}

func checkinStep(l Login, p Party, now string) step {
	return step{req: msg("09", "N"+now+now, "AP", l.Location, "AO", l.Institution, "AB", p.Item, "AC", ""),
		reply: "10", okPos: 2, okChar: '1', op: opCheckin, dates: []int{1, 1 + sip2.DateLen}}
}

func renewStep(l Login, p Party, now string) step {
	return step{req: msg("29", "NN"+now+blankDate, "AO", l.Institution, "AA", p.Patron, "AB", p.Item, "AC", "", "AD", p.PIN),
		reply: "30", okPos: 2, okChar: '1', op: opRenew, dates: []int{2}}
}

// Mix is a named per-connection request cycle.
type Mix struct {
	Name string
	// Write mixes check items out and in; their throughput is compared
	// with the store's commit limits.
	Write bool
	build func(l Login, p Party, now string) []step
}

// Mixes are the SIP2 workloads.
var Mixes = []Mix{
	{Name: "read", build: func(l Login, p Party, now string) []step {
		return []step{statusStep(), patronStatusStep(l, p, now), itemInfoStep(l, p, now), patronInfoStep(l, p, now)}
	}},
	{Name: "kiosk", Write: true, build: func(l Login, p Party, now string) []step {
		return []step{patronInfoStep(l, p, now), checkoutStep(l, p, now), renewStep(l, p, now),
			itemInfoStep(l, p, now), checkinStep(l, p, now)}
	}},
	{Name: "sorter", Write: true, build: func(l Login, p Party, now string) []step {
		// A sorter sees each returned item once: 17 to route it, 09 to
		// return it. The 11 puts the item back on loan for the next pass.
		return []step{checkoutStep(l, p, now), itemInfoStep(l, p, now), checkinStep(l, p, now)}
	}},
	{Name: "checkout", Write: true, build: func(l Login, p Party, now string) []step {
		return []step{checkoutStep(l, p, now), checkinStep(l, p, now)}
	}},
	{Name: "status-poll", build: func(l Login, p Party, now string) []step {
		return []step{statusStep()}
	}},
}

// MixByName finds a SIP2 mix.
func MixByName(name string) (Mix, error) {
	for _, m := range Mixes {
		if m.Name == name {
			return m, nil
		}
	}
	names := ""
	for i, m := range Mixes {
		if i > 0 {
			names += ", "
		}
		names += m.Name
	}
	return Mix{}, fmt.Errorf("unknown mix %q (one of %s)", name, names)
}

// validate checks one reply line (terminator removed) against the step
// and the sequence number sent, and returns "" or an error kind.
func validate(line []byte, st *step, seq byte) string {
	if len(line) < 2 || string(line[:2]) != st.reply {
		return ErrCode
	}
	n := len(line)
	if n < 2+9 || line[n-6] != 'A' || line[n-5] != 'Z' {
		return ErrChecksum
	}
	want := sip2.Checksum(line[:n-4])
	got, err := strconv.ParseUint(string(line[n-4:]), 16, 16)
	if err != nil || uint16(got) != want {
		return ErrChecksum
	}
	if line[n-9] != 'A' || line[n-8] != 'Y' || line[n-7] != seq {
		return ErrSeq
	}
	// AY is a field of its own: right after the fixed part or after a '|'
	// (inside another field's value it is that field's text).
	if fixed, ok := sip2.FixedLen(st.reply); ok && n-9 != 2+fixed && (n-9 < 2+fixed || line[n-10] != '|') {
		return ErrSeq
	}
	if st.okPos >= 0 && (len(line) <= st.okPos || line[st.okPos] != st.okChar) {
		return ErrStatus
	}
	if st.needs != "" && !bytes.Contains(line, []byte(st.needs)) {
		return ErrStatus
	}
	return ""
}

// SIPTarget is a SIP2 server to connect to.
type SIPTarget struct {
	Addr string
	TLS  *tls.Config // nil: plain TCP
}

func (t SIPTarget) dial(ctx context.Context) (net.Conn, error) {
	d := &net.Dialer{}
	if t.TLS == nil {
		return d.DialContext(ctx, "tcp", t.Addr)
	}
	td := &tls.Dialer{NetDialer: d, Config: t.TLS}
	c, err := td.DialContext(ctx, "tcp", t.Addr)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// write is one write a connection sent, for the crash check: what it was
// and whether the server acknowledged it. An unanswered write (in flight at
// the kill, or answered with a broken reply) may or may not have happened;
// a refused one (a valid reply with ok=0) changed nothing and is not kept.
type write struct {
	op    opKind
	acked bool
}

func (k opKind) String() string {
	switch k {
	case opCheckout:
		return "checkout"
	case opCheckin:
		return "checkin"
	case opRenew:
		return "renewal"
	}
	return "read"
}

// sipConn is one generator connection. Only its goroutine touches it.
type sipConn struct {
	party   Party
	nc      net.Conn
	r       *bufio.Reader
	steps   []step
	enc     [][10][]byte
	pos     int
	seq     int
	timeout time.Duration
	connStats
	// writeLog, when not nil, records every write sent (Config.CrashAt).
	writeLog []write
	clock    time.Time // the transaction time of the last write sent
	fixed    []byte
	buf      []byte
}

// connStats are what every generator connection counts. Only its
// goroutine touches them while a window runs.
type connStats struct {
	dead   bool
	hist   Histogram
	done   uint64
	writes uint64 // acknowledged writes (checkout, renew, checkin)
	total  uint64 // completions over the whole run
	errs   map[string]uint64
}

// loadConn is one generator connection of either protocol.
type loadConn interface {
	next(intended time.Time) // send the next request of the cycle
	stats() *connStats
	close()
}

func (c *sipConn) stats() *connStats { return &c.connStats }

func newSIPConn(ctx context.Context, t SIPTarget, l Login, p Party, mix Mix, now time.Time, timeout time.Duration) (*sipConn, error) {
	nc, err := t.dial(ctx)
	if err != nil {
		return nil, err
	}
	c := &sipConn{party: p, nc: nc, r: bufio.NewReaderSize(nc, 2048), timeout: timeout, connStats: connStats{errs: map[string]uint64{}}}
	date := sipDate(now)
	c.steps = mix.build(l, p, date)
	// Reads repeat their bytes and are encoded once per sequence number;
	// writes are stamped afresh on every send.
	c.enc = make([][10][]byte, len(c.steps))
	for i := range c.steps {
		if c.steps[i].op == opRead {
			c.enc[i] = c.steps[i].encode()
		}
	}
	for _, st := range []step{loginStep(l), statusStep()} {
		enc := st.encode()
		if kind, err := c.exchange(enc[c.seq], &st); kind != "" {
			nc.Close()
			if err == nil {
				err = errors.New("unexpected reply")
			}
			return nil, fmt.Errorf("%s %s: %s: %w", st.req.Code, sip2.MessageName(st.req.Code), kind, err)
		}
	}
	return c, nil
}

// exchange sends one request and checks its reply.
func (c *sipConn) exchange(req []byte, st *step) (string, error) {
	seq := byte('0' + c.seq)
	c.seq = (c.seq + 1) % 10
	c.nc.SetDeadline(time.Now().Add(c.timeout))
	if _, err := c.nc.Write(req); err != nil {
		return ioKind(err), err
	}
	line, err := c.r.ReadSlice('\r')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return ErrTooLong, err
		}
		return ioKind(err), err
	}
	return validate(trimLine(line), st, seq), nil
}

func ioKind(err error) string {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return ErrTimeout
	}
	return ErrIO
}

// next runs the next step of the cycle and records it. The latency runs
// from intended (the open loop's scheduled send time; zero: now).
func (c *sipConn) next(intended time.Time) {
	st := &c.steps[c.pos]
	if intended.IsZero() {
		intended = time.Now()
	}
	req := c.enc[c.pos][c.seq]
	if st.op != opRead {
		req = c.stamp(st)
	}
	kind, err := c.exchange(req, st)
	c.hist.Record(time.Since(intended))
	if c.writeLog != nil && st.op != opRead && kind != ErrStatus {
		c.writeLog = append(c.writeLog, write{op: st.op, acked: kind == ""})
	}
	if err != nil {
		c.dead = true
		c.errs[kind]++
		return
	}
	if kind != "" {
		c.errs[kind+"/"+st.reply]++
	} else if st.op != opRead {
		c.writes++
	}
	c.done++
	c.total++
	c.pos = (c.pos + 1) % len(c.steps)
}

func (c *sipConn) close() { c.nc.Close() }

// stamp encodes a write with a transaction time one second after the
// connection's previous write (or now, if later). The server treats a
// kiosk's repeat of its last frame, within the retry window and with
// nothing changed since, as a retransmission and answers it from its
// journal without acting, so a generator that repeated its bytes would
// measure replays, not renewals.
// A real kiosk's clock makes every request distinct; the generator's
// second-resolution stamps run ahead of the wall clock at high rates, which
// the server accepts like any kiosk clock skew.
func (c *sipConn) stamp(st *step) []byte {
	now := time.Now().Truncate(time.Second)
	if !now.After(c.clock) {
		now = c.clock.Add(time.Second)
	}
	c.clock = now
	date := sipDate(now)
	c.fixed = append(c.fixed[:0], st.req.Fixed...)
	for _, at := range st.dates {
		copy(c.fixed[at:], date)
	}
	// The steps belong to this connection alone, so the message is
	// restamped in place.
	m := st.req
	fixed := m.Fixed
	m.Fixed, m.Seq = string(c.fixed), strconv.Itoa(c.seq)
	c.buf = append(m.AppendTo(c.buf[:0], &sip2.EncodeOptions{Checksum: true}), '\r')
	m.Fixed, m.Seq = fixed, ""
	return c.buf
}
