package selfcheck

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/profiles"
	"github.com/circa-ils/circa/sip2"
	"github.com/circa-ils/circa/tlsproxy"
)

// Session is the state of one kiosk connection. It implements sip2.Session
// and every optional message interface of package sip2.
type Session struct {
	h        *Handler
	conn     sip2.ConnInfo
	ident    tlsproxy.ClientIdentity
	hasIdent bool

	// Set by a successful login and kept for the connection's lifetime, so a
	// profile change applies to new logins only.
	prof    *profiles.SelfCheck
	zone    *time.Location
	libName string
	// location is the CP of the login: with the account it names the
	// kiosk, whose last changing request may be retried.
	location string

	width int               // printer width from the last 99
	langs map[string]string // patron id → language chosen by 23/63, for later messages
}

var (
	_ sip2.HoldSession             = (*Session)(nil)
	_ sip2.RenewAllSession         = (*Session)(nil)
	_ sip2.BlockPatronSession      = (*Session)(nil)
	_ sip2.PatronEnableSession     = (*Session)(nil)
	_ sip2.ItemStatusUpdateSession = (*Session)(nil)
	_ sip2.PatronRefSession        = (*Session)(nil)
)

// Close ends the session.
func (s *Session) Close() error { return nil }

// PatronRef names a patron in log lines by circ's keyed hash.
func (s *Session) PatronRef(patronID string) string { return s.h.svc.PatronRef(patronID) }

func (s *Session) logger() *zerolog.Logger {
	l := s.h.log.With().Str("proto", "sip2").Uint64("conn", s.conn.ID).Logger()
	return &l
}

// Login checks the account, its password and the client certificate, and
// switches the connection to the profile's wire settings.
func (s *Session) Login(ctx context.Context, r *sip2.LoginRequest) (*sip2.LoginResponse, error) {
	s.prof = nil
	p, reason := s.authenticate(r)
	if reason != "" {
		ev := s.logger().Info().Str("reason", reason)
		// Only a configured account is named: an unknown login is often a
		// password typed into the wrong place or a malformed frame.
		if _, known := s.h.reg.Current().SelfCheckByLogin(r.UserID); known {
			ev = ev.Str("login", r.UserID)
		}
		if s.hasIdent {
			ev = ev.Str("cert_profile", s.ident.Profile).Str("cert_serial", s.ident.Serial)
		}
		ev.Msg("sip2 login refused")
		return &sip2.LoginResponse{}, nil
	}
	s.prof, s.location = p, strings.Clone(r.LocationCode)
	s.zone, s.libName = s.h.library(ctx, p.Library)
	return &sip2.LoginResponse{OK: true, Settings: connSettings(p), Account: p.Code, Institution: p.Institution}, nil
}

// authenticate returns the profile a login names, or why it is refused.
// The reason is for the log; the kiosk only learns ok=0. The login
// throttle (circ.LoginGuard) is asked before the password is checked, and
// every refusal after that counts against the source and the account.
func (s *Session) authenticate(r *sip2.LoginRequest) (*profiles.SelfCheck, string) {
	if r.UIDAlgorithm != '0' || r.PWDAlgorithm != '0' {
		return nil, "encrypted login algorithms are not supported"
	}
	p, known := s.h.reg.Current().SelfCheckByLogin(r.UserID)
	account := ""
	if known {
		account = p.Code
	}
	at, throttled := s.h.svc.Logins().Begin(account, s.conn.RemoteAddr)
	if throttled != "" {
		return nil, throttled
	}
	if !known {
		at.Fail(circ.LoginUnknownAccount)
		return nil, "unknown account"
	}
	good, err := circ.VerifySecret(p.PasswordHash, r.Password)
	if errors.Is(err, circ.ErrBusy) {
		at.Abandon()
		return nil, "busy: too many password checks at once"
	}
	if err != nil || !good {
		at.Fail(circ.LoginWrongPassword)
		return nil, "wrong password"
	}
	if reason := s.admit(p); reason != "" {
		at.Fail(circ.LoginOtherFailure)
		return nil, reason
	}
	at.Succeed()
	return p, ""
}

// admit checks what a login needs besides the password.
func (s *Session) admit(p *profiles.SelfCheck) string {
	if !p.Active {
		return "account inactive"
	}
	if s.hasIdent {
		if s.ident.Profile != p.Code {
			return "client certificate names another profile"
		}
		if s.ident.Institution != "" && s.ident.Institution != p.Institution {
			return "client certificate names another institution"
		}
	} else if p.RequireClientCert {
		return "client certificate required"
	}
	return ""
}

// connSettings are the wire rules a profile asks for.
func connSettings(p *profiles.SelfCheck) *sip2.ConnSettings {
	cs := &sip2.ConnSettings{CodePoints: p.CodePointChecksum}
	switch p.Checksum {
	case profiles.ChecksumRequired:
		cs.Checksum = sip2.ChecksumRequired
	case profiles.ChecksumOff:
		cs.Checksum = sip2.ChecksumOff
	default:
		cs.Checksum = sip2.ChecksumAuto
	}
	cs.Charset, _ = sip2.ParseCharset(p.Charset) // validated when the profile was saved
	if p.Terminator == "CRLF" {
		cs.Terminator = sip2.CRLF
	}
	return cs
}

// Status answers 99: the profile's capabilities after login; before login
// only when the certificate's profile, or without a certificate some
// active profile, allows status before login.
func (s *Session) Status(ctx context.Context, r *sip2.SCStatus) (*sip2.ACSStatus, error) {
	if r.MaxPrintWidth > 0 {
		s.width = r.MaxPrintWidth
	}
	if r.StatusCode == 1 || r.StatusCode == 2 {
		what := "printer out of paper"
		if r.StatusCode == 2 {
			what = "shutting down"
		}
		s.logger().Warn().Int("sc_status", r.StatusCode).Str("account", s.account()).Msg("kiosk reports " + what)
	}
	if s.prof != nil {
		if !s.prof.Allows("99") {
			return s.offline(s.prof, "message_not_allowed"), nil
		}
		return s.statusOf(ctx, s.prof, s.libName), nil
	}
	snap := s.h.reg.Current()
	if s.hasIdent {
		p, ok := snap.SelfCheck[s.ident.Profile]
		if ok && p.Active && p.StatusBeforeLogin {
			_, name := s.h.library(ctx, p.Library)
			return s.statusOf(ctx, p, name), nil
		}
		return s.offline(nil, "login_required"), nil
	}
	for _, p := range snap.SelfCheck {
		if p.Active && p.StatusBeforeLogin && !p.RequireClientCert {
			// Which account the kiosk will use is not known yet: report
			// only that the server is up and accepts a login.
			return &sip2.ACSStatus{Online: true, TimeoutPeriod: 999, RetriesAllowed: 999,
				DateTimeSync: s.h.svc.Now(), SupportedMessages: "NNNNYYYNNNNNNNNN"}, nil
		}
	}
	return s.offline(nil, "login_required"), nil
}

func (s *Session) account() string {
	if s.prof == nil {
		return ""
	}
	return s.prof.Code
}

// offline is the failure form of 98: off-line, nothing supported but login.
func (s *Session) offline(p *profiles.SelfCheck, msg string) *sip2.ACSStatus {
	st := &sip2.ACSStatus{TimeoutPeriod: 999, RetriesAllowed: 999, DateTimeSync: s.h.svc.Now(),
		SupportedMessages: "NNNNNNYNNNNNNNNN", ScreenMessage: s.screen(DefaultLanguage, msg)}
	if p != nil {
		st.InstitutionID = p.Institution
	}
	return st
}

// bxOrder is the request code of each BX position.
var bxOrder = [16]string{"23", "11", "09", "01", "99", "97", "93", "63", "35", "37", "17", "19", "25", "15", "29", "65"}

// statusOf is the 98 of a profile. The ACS reports itself off-line when
// the store cannot be read or cannot write, so kiosks switch to their
// offline mode.
func (s *Session) statusOf(ctx context.Context, p *profiles.SelfCheck, libName string) *sip2.ACSStatus {
	online := s.online(ctx)
	var bx [16]byte
	for i, code := range bxOrder {
		bx[i] = "NY"[b2i(p.Allows(code))]
	}
	timeout := p.TimeoutSeconds * 10 // tenths of a second
	if timeout <= 0 || timeout > 999 {
		timeout = 999 // 000 would say the ACS is off-line; 999 is "unknown"
	}
	loc := p.Desk
	if loc == "" {
		loc = p.Library
	}
	return &sip2.ACSStatus{
		Online:            online,
		CheckinOK:         p.Allows("09"),
		CheckoutOK:        p.Allows("11"),
		RenewalPolicy:     p.Allows("29"),
		StatusUpdateOK:    p.Allows("19"),
		OfflineOK:         p.Allows("11") || p.Allows("09"),
		TimeoutPeriod:     timeout,
		RetriesAllowed:    min(p.Retries, 999),
		DateTimeSync:      s.h.svc.Now(),
		ProtocolVersion:   "2.00",
		InstitutionID:     p.Institution,
		LibraryName:       libName,
		SupportedMessages: string(bx[:]),
		TerminalLocation:  loc,
		ScreenMessage:     s.whyOffline(online),
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// gate returns the screen message that refuses a request, or "": the
// session must be logged in, the profile must allow the message, and an
// institution id, when given, must be the profile's.
func (s *Session) gate(code, institution string) string {
	switch {
	case s.prof == nil:
		return "login_required"
	case !s.prof.Allows(code):
		return "message_not_allowed"
	case institution != "" && institution != s.prof.Institution:
		return "institution_mismatch"
	}
	return ""
}

// inst is the institution id a response carries.
func (s *Session) inst(requested string) string {
	if s.prof != nil {
		return s.prof.Institution
	}
	return requested
}

func (s *Session) agent() circ.Agent {
	return circ.Agent{Protocol: "sip2", Account: s.prof.Code, Institution: s.prof.Institution,
		Library: s.prof.Library, Desk: s.prof.Desk}
}

// retry names a changing request for circ's retry journal. A kiosk — the
// account with the location (CP) it logged in with — has one slot holding
// its last changing frame; the same frame again, on this connection or on
// one opened after this one dropped, within the profile's window and with
// nothing changed since, is a retransmission and gets the stored answer.
// Kiosks sharing an account at different locations never share answers.
// Only a frame with a sequence number and checksum can be told apart from a
// new request with the same content, so only those get a slot.
func (s *Session) retry(h sip2.Header) circ.Retry {
	if h.Message == nil || h.Seq() == "" || h.Checksum() == "" {
		return circ.Retry{}
	}
	return circ.Retry{Key: "sip2\x00" + s.prof.Code + "\x00" + s.location, Match: h.Raw(), Window: s.prof.RetryWindow()}
}

// language picks the language of the texts: the request's language field,
// else the one the patron's last 23 or 63 used, else the patron's own.
func (s *Session) language(sipLang, patronID, patronLang string) string {
	if iso := ISOLanguage(sipLang); iso != "" {
		return iso
	}
	if l, ok := s.langs[patronID]; ok {
		return l
	}
	if patronLang != "" {
		return normLang(patronLang)
	}
	return DefaultLanguage
}

func (s *Session) rememberLanguage(patronID, lang string) {
	if patronID == "" {
		return
	}
	if s.langs == nil {
		s.langs = map[string]string{}
	}
	if len(s.langs) > 64 { // a kiosk serves one patron at a time
		clear(s.langs)
	}
	s.langs[strings.Clone(patronID)] = lang // the request's strings are only valid during the call
}

// screen returns one screen message.
func (s *Session) screen(lang, code string, args ...string) []string {
	return []string{expand(Message(s.prof, lang, code), args...)}
}

// print returns print lines wrapped to the printer's width.
func (s *Session) print(lang, code string, args ...string) []string {
	return sip2.WrapText(expand(Message(s.prof, lang, code), args...), s.width)
}

// dueText renders a due date for AH in the profile's format and the
// library's zone.
func (s *Session) dueText(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	switch s.prof.DueDateFormat {
	case profiles.DueISO:
		return t.In(s.zone).Format("2006-01-02 15:04")
	case profiles.DueDate:
		return t.In(s.zone).Format("2006-01-02")
	}
	return sip2.FormatDate(t, s.zone)
}

// humanDue renders a due date for people: the day, and the time too for
// loans that end during the day.
func (s *Session) humanDue(t time.Time) string {
	t = t.In(s.zone)
	if t.Hour() == 23 && t.Minute() == 59 {
		return t.Format("2006-01-02")
	}
	return t.Format("2006-01-02 15:04")
}

func money(minor int64, currency string) string {
	return circ.FormatAmount(minor, currency) + " " + currency
}
