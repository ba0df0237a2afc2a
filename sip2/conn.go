package sip2

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

var errTooLong = errors.New("sip2: message too long")

const genericFailure = "Request failed, please see staff"

// conn is one connection. Its goroutine owns every field except those
// guarded by mu, which Shutdown touches.
type conn struct {
	s      *Server
	nc     net.Conn
	info   ConnInfo
	ctx    context.Context
	cancel context.CancelFunc
	log    zerolog.Logger
	sess   Session
	set    ConnSettings

	mu       sync.Mutex // orders deadline changes against Shutdown's release; guards stats
	released bool
	stats    connStats

	// Reading: while idle, only head is held; a pooled buffer of
	// Options.MaxMessage bytes is borrowed while a longer message arrives.
	head   [256]byte
	buf    []byte
	pooled *[]byte
	r, w   int
	rerr   error

	last      []byte // the last response sent, for 97
	opened    bool   // ConnOpened was reported
	loggedIn  bool
	account   string    // of the last successful login, for the Observer
	loginBy   time.Time // from the accept; no read before login goes past it
	frameBy   time.Time // from a frame's first byte; the rest must arrive by then
	malformed int

	// Guarded by s.mu: the server's limits on connections not logged in.
	src                    netip.Addr
	unauthLinked, evicted  bool
	unauthPrev, unauthNext *conn
}

func (s *Server) newConn(nc net.Conn) *conn {
	c := &conn{s: s, nc: nc, set: s.opts.Defaults}
	c.stats.since = time.Now()
	c.buf = c.head[:]
	c.info = ConnInfo{ID: s.nextID.Add(1), RemoteAddr: nc.RemoteAddr(), LocalAddr: nc.LocalAddr()}
	c.log = c.connLogger("", "")
	c.ctx, c.cancel = context.WithCancel(c.log.WithContext(context.Background()))
	if s.opts.LoginTimeout > 0 {
		c.loginBy = time.Now().Add(s.opts.LoginTimeout)
	}
	return c
}

// connLogger derives the connection's logger from the server's. The
// connection's fields are added by a hook when a line is written rather than
// with zerolog's With, whose 500-byte buffer per logger would be most of an
// idle connection's heap.
func (c *conn) connLogger(account, inst string) zerolog.Logger {
	base := c.s.opts.Logger
	if base.GetLevel() == zerolog.Disabled {
		return base
	}
	return base.Hook(&connFields{id: c.info.ID, remote: addrString(c.info.RemoteAddr), account: account, inst: inst})
}

// connFields adds the connection's identity to each of its log lines.
type connFields struct {
	id                    uint64
	remote, account, inst string
}

// Run implements zerolog.Hook.
func (f *connFields) Run(e *zerolog.Event, _ zerolog.Level, _ string) {
	e.Str("proto", "sip2").Uint64("conn", f.id).Str("remote", f.remote)
	if f.account != "" {
		e.Str("account", f.account)
	}
	if f.inst != "" {
		e.Str("inst", f.inst)
	}
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// release makes a blocked read return at once; called by Shutdown.
func (c *conn) release() {
	c.mu.Lock()
	c.released = true
	c.nc.SetReadDeadline(aLongTimeAgo)
	c.mu.Unlock()
}

// setReadDeadline sets the deadline for the next read unless Shutdown has
// released the connection.
func (c *conn) setReadDeadline(t time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.released {
		return false
	}
	c.nc.SetReadDeadline(t)
	return true
}

// serve runs the connection. It keeps a small stack frame: an idle kiosk's
// goroutine sits in readLine under it, and its stack is most of the memory
// the connection costs.
func (c *conn) serve() {
	defer c.finish()
	if c.start() {
		c.loop()
	}
}

// start completes the TLS handshake and gets a Session.
func (c *conn) start() bool {
	if !c.handshake() {
		return false
	}
	c.opened = true
	c.s.observer.ConnOpened(c.info)
	c.log.Debug().Str("local", addrString(c.info.LocalAddr)).Bool("tls", c.info.TLS != nil).Msg("connection opened")
	sess, err := c.newSession()
	if err != nil {
		c.log.Warn().Err(err).Msg("session refused; closing connection")
		return false
	}
	c.sess = sess
	return true
}

func (c *conn) loop() {
	for !c.s.shutting.Load() {
		line, err := c.readLine()
		if err != nil {
			c.logReadEnd(err)
			return
		}
		if !c.handle(line) {
			return
		}
	}
	c.log.Debug().Msg("connection released by shutdown")
}

// finish releases everything the connection holds.
func (c *conn) finish() {
	if c.sess != nil {
		c.closeSession()
	}
	if c.opened {
		c.s.observer.ConnClosed(c.info, c.account)
	}
	c.releaseBuf()
	c.nc.Close()
	c.cancel()
	c.s.untrackConn(c)
}

// handshake completes the TLS handshake of a TLS connection under the read
// and write timeouts. It is a function of its own so that the connection
// state does not stay on the stack of an idle connection.
func (c *conn) handshake() bool {
	tc, ok := c.nc.(*tls.Conn)
	if !ok {
		return true
	}
	if !c.setReadDeadline(c.capByLogin(time.Now().Add(c.s.opts.ReadTimeout))) {
		return false
	}
	tc.SetWriteDeadline(c.capByLogin(time.Now().Add(c.s.opts.WriteTimeout)))
	if err := tc.HandshakeContext(c.ctx); err != nil {
		c.log.Info().Err(err).Msg("tls handshake failed")
		return false
	}
	st := tc.ConnectionState()
	c.info.TLS = &st
	return true
}

func (c *conn) newSession() (sess Session, err error) {
	defer func() {
		if p := recover(); p != nil {
			c.log.Error().Interface("panic", p).Bytes("stack", debug.Stack()).Msg("panic in NewSession")
			err = fmt.Errorf("sip2: panic in NewSession: %v", p)
		}
	}()
	sess, err = c.s.opts.Handler.NewSession(c.ctx, c.info)
	if err == nil && sess == nil {
		err = errors.New("sip2: NewSession returned no session")
	}
	return sess, err
}

func (c *conn) closeSession() {
	defer func() {
		if p := recover(); p != nil {
			c.log.Error().Interface("panic", p).Bytes("stack", debug.Stack()).Msg("panic in Session.Close")
		}
	}()
	if err := c.sess.Close(); err != nil {
		c.log.Warn().Err(err).Msg("session close failed")
	}
}

func (c *conn) logReadEnd(err error) {
	var ne net.Error
	switch {
	case errors.Is(err, errTooLong):
		c.s.observer.Malformed(c.account, MalformedTooLong)
		c.log.Warn().Int("max", c.s.opts.MaxMessage).Msg("message too long; closing connection")
	case c.s.shutting.Load():
		c.log.Debug().Msg("connection released by shutdown")
	case errors.As(err, &ne) && ne.Timeout():
		switch {
		case !c.loggedIn && !c.loginBy.IsZero() && !time.Now().Before(c.loginBy):
			c.log.Info().Msg("no login in time; closing connection")
		case c.w > 0:
			c.log.Info().Msg("read timeout inside a message; closing connection")
		default:
			c.log.Info().Msg("idle timeout; closing connection")
		}
	default:
		c.log.Debug().Err(err).Msg("connection closed")
	}
}

// readLine returns the next frame without its terminator. CR and LF both
// end a frame, so CRLF yields an empty frame that handle ignores.
func (c *conn) readLine() (string, error) {
	limit := c.s.opts.MaxMessage
	for {
		if i := bytes.IndexAny(c.buf[c.r:c.w], "\r\n"); i >= 0 {
			line := string(c.buf[c.r : c.r+i])
			c.r += i + 1
			c.frameBy = time.Time{}
			return line, nil
		}
		if c.w-c.r >= limit {
			return "", errTooLong
		}
		if c.rerr != nil {
			return "", c.rerr
		}
		switch {
		case c.r == c.w:
			c.r, c.w = 0, 0
			c.releaseBuf()
		case c.r > 0:
			copy(c.buf, c.buf[c.r:c.w])
			c.w -= c.r
			c.r = 0
		}
		if c.w == len(c.buf) && c.pooled == nil {
			p := c.s.bufPool.Get().(*[]byte)
			copy(*p, c.buf[:c.w])
			c.pooled, c.buf = p, *p
		}
		// Deadlines are fixed points, not renewed per read: a peer trickling
		// one byte at a time must not hold the connection open.
		var deadline time.Time
		if c.w == 0 {
			deadline = time.Now().Add(c.s.opts.IdleTimeout)
		} else {
			if c.frameBy.IsZero() {
				c.frameBy = time.Now().Add(c.s.opts.ReadTimeout)
			}
			deadline = c.frameBy
		}
		deadline = c.capByLogin(deadline)
		if !c.setReadDeadline(deadline) {
			return "", net.ErrClosed
		}
		n, err := c.nc.Read(c.buf[c.w:min(len(c.buf), c.r+limit)])
		c.w += n
		if err != nil {
			c.rerr = err
		}
	}
}

// capByLogin returns t, or the login deadline when that comes first and
// the connection has not logged in.
func (c *conn) capByLogin(t time.Time) time.Time {
	if !c.loggedIn && !c.loginBy.IsZero() && c.loginBy.Before(t) {
		return c.loginBy
	}
	return t
}

func (c *conn) releaseBuf() {
	if c.pooled != nil {
		c.s.bufPool.Put(c.pooled)
		c.pooled = nil
		c.buf = c.head[:]
	}
}

// messages recycles decoded requests: a Session may use a request only
// during its call, and a fresh Message per frame was the largest allocation
// of a kiosk read.
var messages = sync.Pool{New: func() any { return NewMessage("") }}

// handle answers one frame; false closes the connection.
func (c *conn) handle(line string) bool {
	s := c.s
	start := time.Now()
	m := messages.Get().(*Message)
	defer messages.Put(m)
	err := m.DecodeString(line, &DecodeOptions{Charset: c.set.Charset, Checksum: c.set.Checksum, CodePoints: c.set.CodePoints})
	if err != nil {
		var de *DecodeError
		errors.As(err, &de)
		if de.Reason == ReasonEmpty {
			return true
		}
		kind := MalformedFrame
		switch de.Reason {
		case ReasonShortFixed:
			kind = MalformedShort
		case ReasonBadChecksum:
			kind = MalformedChecksum
		case ReasonMissingChecksum:
			kind = MalformedNoChecksum
		}
		if s.opts.Wire != nil { // the frame itself may hold a PIN: only its size is shown
			s.wire(c.info.ID, " < ", fmt.Appendf(nil, "(malformed: %s, %d bytes)", de.Reason, len(line)))
		}
		if !c.loggedIn && kind == MalformedFrame {
			s.observer.Malformed(c.account, kind)
			c.log.Warn().Str("reason", de.Reason.String()).Msg("not SIP2 before login; closing connection")
			return false
		}
		return c.malformedInput(kind, de.Reason.String(), de.Code, m.Checksum != "" || de.Reason == ReasonBadChecksum)
	}
	if s.opts.Wire != nil {
		s.wire(c.info.ID, " < ", m.AppendRedacted(nil))
	}
	switch {
	case m.Code == "97":
		if len(c.last) == 0 {
			return c.malformedInput(MalformedUnknownCode, "resend before any response", m.Code, m.Checksum != "")
		}
		dur := time.Since(start)
		c.noteMessage(m.Code, start.Add(dur), dur, false)
		s.observer.MessageHandled(c.account, m.Code, dur, OutcomeResent)
		c.log.Debug().Str("msg", m.Code).Dur("dur", dur).Msg("last response resent")
		return c.write(c.last)
	}
	// A retransmitted request goes to the Session like any other: only it
	// can tell whether the records the first answer acted on changed since.
	if !knownRequest(m.Code) {
		return c.malformedInput(MalformedUnknownCode, "unknown message", m.Code, m.Checksum != "")
	}
	resp, outcome, ref, panicked := c.call(m)
	if m.Code == "93" {
		c.afterLogin(resp.(*LoginResponse))
	}
	sign := c.set.Checksum == ChecksumRequired || (c.set.Checksum == ChecksumAuto && m.Checksum != "")
	c.last = AppendResponse(c.last[:0], resp, m.Seq, &EncodeOptions{
		Charset: c.set.Charset, Checksum: sign, Location: s.opts.Location, Now: s.opts.Now(),
	})
	c.last = append(c.last, c.set.Terminator.bytes()...)
	c.malformed = 0
	ok := c.write(c.last)
	dur := time.Since(start)
	c.noteMessage(m.Code, start.Add(dur), dur, outcome == OutcomeError || outcome == OutcomePanic || outcome == OutcomeUnsupported)
	s.observer.MessageHandled(c.account, m.Code, dur, outcome)
	c.logMessage(m, resp, outcome, ref, dur)
	return ok && !panicked
}

func (c *conn) afterLogin(r *LoginResponse) {
	if !r.OK {
		c.s.observer.LoginFailed(c.info)
		return
	}
	if !c.loggedIn {
		c.loggedIn = true
		c.s.loggedIn(c)
	}
	previous := c.account
	c.account = strings.Clone(r.Account)
	c.s.observer.LoggedIn(c.info, c.account, previous)
	if r.Settings != nil {
		c.set = *r.Settings
	}
	c.noteLogin(c.account, r.Institution)
	if r.Account != "" || r.Institution != "" {
		c.log = c.connLogger(r.Account, r.Institution)
		c.ctx = c.log.WithContext(c.ctx)
	}
}

// malformedInput answers 96 and closes the connection once ErrLimit
// malformed frames came in a row.
func (c *conn) malformedInput(kind Malformed, reason, code string, signed bool) bool {
	c.s.observer.Malformed(c.account, kind)
	c.noteMessage("96", time.Now(), 0, true)
	c.malformed++
	c.log.Warn().Str("msg", code).Str("reason", reason).Int("count", c.malformed).Msg("malformed message; asked for resend")
	if c.malformed > c.s.opts.ErrLimit {
		c.log.Warn().Int("limit", c.s.opts.ErrLimit).Msg("too many malformed messages; closing connection")
		return false
	}
	sign := c.set.Checksum == ChecksumRequired || (c.set.Checksum == ChecksumAuto && signed)
	c.last = append(c.last[:0], "96"...)
	if sign {
		c.last = appendChecksum(c.last, 0)
	}
	c.last = append(c.last, c.set.Terminator.bytes()...)
	return c.write(c.last)
}

func (c *conn) write(b []byte) bool {
	c.nc.SetWriteDeadline(c.capByLogin(time.Now().Add(c.s.opts.WriteTimeout)))
	if _, err := c.nc.Write(b); err != nil {
		c.log.Info().Err(err).Msg("write failed; closing connection")
		return false
	}
	if c.s.opts.Wire != nil {
		if rm, err := Decode(b, DecodeOptions{Charset: c.set.Charset, Checksum: ChecksumOff}); err == nil {
			c.s.wire(c.info.ID, " > ", rm.AppendRedacted(nil))
		}
	}
	return true
}

func (c *conn) logMessage(m *Message, resp Response, outcome Outcome, patronRef string, dur time.Duration) {
	lvl := zerolog.InfoLevel
	if m.Code == "99" {
		lvl = zerolog.DebugLevel
	}
	if outcome == OutcomeError || outcome == OutcomePanic {
		lvl = zerolog.ErrorLevel
	}
	ev := c.log.WithLevel(lvl)
	if ev == nil {
		return
	}
	ev = ev.Str("msg", m.Code).Str("op", MessageName(m.Code))
	if m.Seq != "" {
		ev = ev.Str("seq", m.shownSeq())
	}
	if item := m.Value("AB"); item != "" && !hidden('|', "AB", item) {
		ev = ev.Str("item", item)
	}
	if patronRef != "" {
		ev = ev.Str("patron_ref", patronRef)
	}
	ev.Bool("ok", resp.Succeeded()).Str("outcome", outcome.String()).Dur("dur", dur).Send()
}

// call runs the Session method for m and names the patron for the log. A
// panic is recovered into a failure response; the caller then closes the
// connection.
func (c *conn) call(m *Message) (resp Response, outcome Outcome, patronRef string, panicked bool) {
	defer func() {
		if p := recover(); p != nil {
			c.log.Error().Str("msg", m.Code).Interface("panic", p).Bytes("stack", debug.Stack()).Msg("panic in session; closing connection")
			resp, outcome, panicked = failureResponse(m), OutcomePanic, true
		}
	}()
	if pr, ok := c.sess.(PatronRefSession); ok {
		if p := m.Value("AA"); p != "" {
			patronRef = pr.PatronRef(p)
		}
	}
	resp, supported, err := dispatch(c.ctx, c.sess, m, c.s.opts.Location)
	switch {
	case !supported:
		return failureResponse(m), OutcomeUnsupported, patronRef, false
	case err != nil || resp == nil:
		if err == nil {
			err = errors.New("session returned no response")
		}
		c.log.Error().Str("msg", m.Code).Err(err).Msg("session failed; sent failure response")
		return failureResponse(m), OutcomeError, patronRef, false
	}
	if st, ok := resp.(*ACSStatus); ok { // a copy: the Session may share its status between connections
		cp := *st
		cp.SupportedMessages = supportedMessages(c.sess, st.SupportedMessages)
		resp = &cp
	}
	if resp.Succeeded() {
		return resp, OutcomeOK, patronRef, false
	}
	return resp, OutcomeRefused, patronRef, false
}

// knownRequest reports whether code is a request the server dispatches.
func knownRequest(code string) bool {
	switch code {
	case "93", "99", "23", "01", "63", "11", "09", "15", "17", "19", "25", "29", "65", "35", "37":
		return true
	}
	return false
}

// wrap turns a typed response into a Response, keeping nil as nil.
func wrap[P interface {
	*T
	Response
}, T any](r P, err error) (Response, bool, error) {
	if r == nil {
		return nil, true, err
	}
	return r, true, err
}

func dispatch(ctx context.Context, sess Session, m *Message, loc *time.Location) (Response, bool, error) {
	switch m.Code {
	case "93":
		var r LoginRequest
		r.Decode(m, loc)
		return wrap(sess.Login(ctx, &r))
	case "99":
		var r SCStatus
		r.Decode(m, loc)
		return wrap(sess.Status(ctx, &r))
	case "23":
		var r PatronStatusRequest
		r.Decode(m, loc)
		return wrap(sess.PatronStatus(ctx, &r))
	case "63":
		var r PatronInfoRequest
		r.Decode(m, loc)
		return wrap(sess.PatronInformation(ctx, &r))
	case "11":
		var r CheckoutRequest
		r.Decode(m, loc)
		return wrap(sess.Checkout(ctx, &r))
	case "09":
		var r CheckinRequest
		r.Decode(m, loc)
		return wrap(sess.Checkin(ctx, &r))
	case "29":
		var r RenewRequest
		r.Decode(m, loc)
		return wrap(sess.Renew(ctx, &r))
	case "37":
		var r FeePaidRequest
		r.Decode(m, loc)
		return wrap(sess.FeePaid(ctx, &r))
	case "17":
		var r ItemInfoRequest
		r.Decode(m, loc)
		return wrap(sess.ItemInformation(ctx, &r))
	case "35":
		var r EndSessionRequest
		r.Decode(m, loc)
		return wrap(sess.EndPatronSession(ctx, &r))
	case "15":
		if hs, ok := sess.(HoldSession); ok {
			var r HoldRequest
			r.Decode(m, loc)
			return wrap(hs.Hold(ctx, &r))
		}
	case "65":
		if rs, ok := sess.(RenewAllSession); ok {
			var r RenewAllRequest
			r.Decode(m, loc)
			return wrap(rs.RenewAll(ctx, &r))
		}
	case "01":
		if bs, ok := sess.(BlockPatronSession); ok {
			var r BlockPatronRequest
			r.Decode(m, loc)
			return wrap(bs.BlockPatron(ctx, &r))
		}
	case "25":
		if ps, ok := sess.(PatronEnableSession); ok {
			var r PatronEnableRequest
			r.Decode(m, loc)
			return wrap(ps.PatronEnable(ctx, &r))
		}
	case "19":
		if is, ok := sess.(ItemStatusUpdateSession); ok {
			var r ItemStatusUpdateRequest
			r.Decode(m, loc)
			return wrap(is.ItemStatusUpdate(ctx, &r))
		}
	}
	return nil, false, nil
}

// SupportedMessages returns the BX field for a session: 16 Y/N flags in the
// specification's order, Y for every message the session can answer. A
// non-empty narrow value (from the session's own ACSStatus) can only turn
// flags off.
func supportedMessages(sess Session, narrow string) string {
	_, block := sess.(BlockPatronSession)
	_, isu := sess.(ItemStatusUpdateSession)
	_, enable := sess.(PatronEnableSession)
	_, hold := sess.(HoldSession)
	_, renewAll := sess.(RenewAllSession)
	// patron status, checkout, checkin, block patron, SC/ACS status,
	// request resend, login, patron information, end patron session, fee
	// paid, item information, item status update, patron enable, hold,
	// renew, renew all
	flags := [16]bool{true, true, true, block, true, true, true, true, true, true, true, isu, enable, hold, true, renewAll}
	var b [16]byte
	for i, f := range flags {
		if len(narrow) == 16 && narrow[i] != 'Y' && narrow[i] != 'y' {
			f = false
		}
		b[i] = "NY"[b2i(f)]
	}
	return string(b[:])
}

// failureResponse is the minimal answer of the right type when the Session
// cannot give one: ok=0 (or its equivalent), the request's identifiers
// echoed and a generic screen message.
func failureResponse(m *Message) Response {
	ao, aa, ab := m.Value("AO"), m.Value("AA"), m.Value("AB")
	af := []string{genericFailure}
	switch m.Code {
	case "93":
		return &LoginResponse{}
	case "99":
		return &ACSStatus{InstitutionID: ao, ScreenMessage: af, TimeoutPeriod: 999, RetriesAllowed: 999}
	case "23", "01":
		return &PatronStatusResponse{InstitutionID: ao, PatronID: aa, ValidPatron: No, ScreenMessage: af}
	case "63":
		return &PatronInfoResponse{InstitutionID: ao, PatronID: aa, ValidPatron: No, ScreenMessage: af}
	case "11":
		return &CheckoutResponse{InstitutionID: ao, PatronID: aa, ItemID: ab, ScreenMessage: af}
	case "29":
		return &RenewResponse{InstitutionID: ao, PatronID: aa, ItemID: ab, ScreenMessage: af}
	case "09":
		return &CheckinResponse{InstitutionID: ao, ItemID: ab, ScreenMessage: af}
	case "15":
		return &HoldResponse{InstitutionID: ao, PatronID: aa, ItemID: ab, ScreenMessage: af}
	case "17":
		return &ItemInfoResponse{ItemID: ab, ScreenMessage: af}
	case "19":
		return &ItemStatusUpdateResponse{ItemID: ab, ScreenMessage: af}
	case "25":
		return &PatronEnableResponse{InstitutionID: ao, PatronID: aa, ValidPatron: No, ScreenMessage: af}
	case "65":
		return &RenewAllResponse{InstitutionID: ao, ScreenMessage: af}
	case "35":
		return &EndSessionResponse{InstitutionID: ao, PatronID: aa, ScreenMessage: af}
	case "37":
		return &FeePaidResponse{InstitutionID: ao, PatronID: aa, ScreenMessage: af}
	}
	return &LoginResponse{}
}
