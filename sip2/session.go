package sip2

import (
	"context"
	"crypto/tls"
	"net"
	"time"
)

// ConnInfo describes a connection to the Handler.
type ConnInfo struct {
	ID         uint64 // unique per Server, also in every log line of the connection
	RemoteAddr net.Addr
	LocalAddr  net.Addr
	// TLS is the state after the handshake when the connection is a
	// *tls.Conn (the listener was wrapped with tls.NewListener); nil for
	// plain connections. Peer certificates identify kiosks under mTLS.
	TLS *tls.ConnectionState
}

// Handler makes one Session per connection.
type Handler interface {
	// NewSession is called once the connection (and its TLS handshake) is
	// established. An error closes the connection.
	NewSession(ctx context.Context, c ConnInfo) (Session, error)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, c ConnInfo) (Session, error)

// NewSession calls f.
func (f HandlerFunc) NewSession(ctx context.Context, c ConnInfo) (Session, error) { return f(ctx, c) }

// Session handles the messages of one connection, one at a time. A method
// returns a typed response; a refusal (ok=0 with a screen message) is a
// normal response, not an error. An error, a nil response or a panic makes
// the server answer a minimal failure response of the right type (a panic
// also closes the connection).
//
// The request and everything it references is valid during the call only.
// The ctx carries the connection's logger (zerolog.Ctx) and is cancelled when
// the connection is closed.
//
// The server does not enforce message order: a Session that wants 93 first
// refuses other messages until its Login succeeded (the server closes
// connections that do not log in within Options.LoginTimeout).
type Session interface {
	Login(ctx context.Context, r *LoginRequest) (*LoginResponse, error)                       // 93 → 94
	Status(ctx context.Context, r *SCStatus) (*ACSStatus, error)                              // 99 → 98
	PatronStatus(ctx context.Context, r *PatronStatusRequest) (*PatronStatusResponse, error)  // 23 → 24
	PatronInformation(ctx context.Context, r *PatronInfoRequest) (*PatronInfoResponse, error) // 63 → 64
	Checkout(ctx context.Context, r *CheckoutRequest) (*CheckoutResponse, error)              // 11 → 12
	Checkin(ctx context.Context, r *CheckinRequest) (*CheckinResponse, error)                 // 09 → 10
	Renew(ctx context.Context, r *RenewRequest) (*RenewResponse, error)                       // 29 → 30
	FeePaid(ctx context.Context, r *FeePaidRequest) (*FeePaidResponse, error)                 // 37 → 38
	ItemInformation(ctx context.Context, r *ItemInfoRequest) (*ItemInfoResponse, error)       // 17 → 18
	EndPatronSession(ctx context.Context, r *EndSessionRequest) (*EndSessionResponse, error)  // 35 → 36
	// Close is called once when the connection ends.
	Close() error
}

// HoldSession is a Session that supports message 15.
type HoldSession interface {
	Session
	Hold(ctx context.Context, r *HoldRequest) (*HoldResponse, error) // 15 → 16
}

// RenewAllSession is a Session that supports message 65.
type RenewAllSession interface {
	Session
	RenewAll(ctx context.Context, r *RenewAllRequest) (*RenewAllResponse, error) // 65 → 66
}

// BlockPatronSession is a Session that supports message 01.
type BlockPatronSession interface {
	Session
	BlockPatron(ctx context.Context, r *BlockPatronRequest) (*PatronStatusResponse, error) // 01 → 24
}

// PatronEnableSession is a Session that supports message 25.
type PatronEnableSession interface {
	Session
	PatronEnable(ctx context.Context, r *PatronEnableRequest) (*PatronEnableResponse, error) // 25 → 26
}

// ItemStatusUpdateSession is a Session that supports message 19.
type ItemStatusUpdateSession interface {
	Session
	ItemStatusUpdate(ctx context.Context, r *ItemStatusUpdateRequest) (*ItemStatusUpdateResponse, error) // 19 → 20
}

// PatronRefSession is a Session that names patrons in log lines. PatronRef
// turns a patron identifier (AA) into the value logged as patron_ref,
// normally a truncated keyed hash. Without it patron_ref is left out.
type PatronRefSession interface {
	Session
	PatronRef(patronID string) string
}

// Terminator ends every message a connection writes.
type Terminator uint8

// Terminators. Input accepts CR, LF and CRLF whatever is configured.
const (
	CR   Terminator = iota // carriage return, the specification's terminator
	CRLF                   // CR LF, as many Koha set-ups and some kiosks expect
)

func (t Terminator) bytes() string {
	if t == CRLF {
		return "\r\n"
	}
	return "\r"
}

// String returns "CR" or "CRLF".
func (t Terminator) String() string {
	if t == CRLF {
		return "CRLF"
	}
	return "CR"
}

// ConnSettings are the wire rules of one connection. A connection starts
// with Options.Defaults; a successful login may replace them (see
// LoginResponse.Settings) with the logged-in account's.
type ConnSettings struct {
	Checksum   ChecksumMode
	CodePoints bool // also accept checksums computed over characters
	Charset    Charset
	Terminator Terminator
}

// Outcome classifies how a message was handled, for metrics.
type Outcome uint8

// Outcomes.
const (
	OutcomeOK          Outcome = iota // the response's success flag is set
	OutcomeRefused                    // a normal response with the success flag clear
	OutcomeError                      // the Session returned an error; a failure response was sent
	OutcomePanic                      // the Session panicked; a failure response was sent and the connection closed
	OutcomeUnsupported                // the Session does not implement the message; a failure response was sent
	OutcomeResent                     // a 97 was answered with the previous response
)

var outcomeText = [...]string{"ok", "refused", "error", "panic", "unsupported", "resent"}

// String returns a short lowercase name, usable as a metric label.
func (o Outcome) String() string {
	if int(o) < len(outcomeText) {
		return outcomeText[o]
	}
	return "unknown"
}

// Malformed classifies input the server could not use.
type Malformed uint8

// Kinds of malformed input.
const (
	MalformedFrame       Malformed = iota // no command code; answered 96 (before login: connection closed)
	MalformedChecksum                     // bad checksum; answered 96
	MalformedNoChecksum                   // checksum required but missing; answered 96
	MalformedShort                        // fixed part too short; answered 96
	MalformedUnknownCode                  // not a request this server knows; answered 96
	MalformedTooLong                      // longer than Options.MaxMessage; connection closed
)

var malformedText = [...]string{"frame", "checksum", "no_checksum", "short", "unknown_code", "too_long"}

// String returns a short lowercase name, usable as a metric label.
func (m Malformed) String() string {
	if int(m) < len(malformedText) {
		return malformedText[m]
	}
	return "unknown"
}

// Observer receives events for metrics. Its methods are called from
// connection goroutines and must be safe for concurrent use and quick.
// An account is the one LoginResponse.Account named at the connection's
// last successful login, empty before one.
type Observer interface {
	ConnOpened(c ConnInfo)
	ConnClosed(c ConnInfo, account string)
	// ConnRejected is called when a limit closes a connection: a new one
	// refused, or for LimitConns the oldest not logged in closed to make
	// room. For LimitFiles (accept found no free descriptor) remote is nil.
	ConnRejected(remote net.Addr, limit Limit)
	// LoggedIn is called after each successful login; previous is the
	// account of an earlier login on the same connection, or empty.
	LoggedIn(c ConnInfo, account, previous string)
	MessageHandled(account, code string, d time.Duration, o Outcome)
	LoginFailed(c ConnInfo)
	Malformed(account string, kind Malformed)
}

// NopObserver ignores every event. Embed it to implement only some methods.
type NopObserver struct{}

// ConnOpened does nothing.
func (NopObserver) ConnOpened(ConnInfo) {}

// ConnClosed does nothing.
func (NopObserver) ConnClosed(ConnInfo, string) {}

// ConnRejected does nothing.
func (NopObserver) ConnRejected(net.Addr, Limit) {}

// LoggedIn does nothing.
func (NopObserver) LoggedIn(ConnInfo, string, string) {}

// MessageHandled does nothing.
func (NopObserver) MessageHandled(string, string, time.Duration, Outcome) {}

// LoginFailed does nothing.
func (NopObserver) LoginFailed(ConnInfo) {}

// Malformed does nothing.
func (NopObserver) Malformed(string, Malformed) {}
