// Package selfcheck is the self-check side of SIP2: it answers every
// message a kiosk, RFID pad or sorter sends with the circulation rules of
// package circ and the self-check profile the kiosk logged in with.
//
// A Handler makes one Session per connection. The session logs in against
// the profiles (93), keeps the profile snapshot of its login for its
// lifetime, and translates each request into one circ operation and the
// result back into the full SIP2 response, with screen messages in the
// patron's language and print lines wrapped to the printer's width.
//
// Every changing request that carries a sequence number and checksum is
// kept as its kiosk's last request (the kiosk is the account with the
// location of its login), so a retransmission within the profile's retry
// window, with nothing changed since, is answered from circ's journal, also
// on another connection or after a restart; anything else acts.
package selfcheck

import (
	"context"
	"errors"
	"time"

	"github.com/rs/zerolog"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/profiles"
	"github.com/circa-ils/circa/sip2"
	"github.com/circa-ils/circa/tlsproxy"
)

// Options configure a Handler.
type Options struct {
	// Service runs the circulation operations. Required.
	Service *circ.Service
	// Profiles holds the self-check accounts. Required.
	Profiles *profiles.Registry
	// Logger receives login failures and other session events; message
	// lines are written by the sip2 server. It never gets a PIN, password,
	// patron identifier or name.
	Logger zerolog.Logger
}

// Handler implements sip2.Handler.
type Handler struct {
	svc *circ.Service
	reg *profiles.Registry
	log zerolog.Logger
}

var _ sip2.Handler = (*Handler)(nil)

// NewHandler returns a handler over o.Service and o.Profiles.
func NewHandler(o Options) (*Handler, error) {
	if o.Service == nil || o.Profiles == nil {
		return nil, errors.New("selfcheck: Options.Service and Options.Profiles are required")
	}
	return &Handler{svc: o.Service, reg: o.Profiles, log: o.Logger.With().Str("component", "selfcheck").Logger()}, nil
}

// NewSession starts the session of one connection. A verified client
// certificate names the profile (and institution) the connection may log
// in as.
func (h *Handler) NewSession(ctx context.Context, c sip2.ConnInfo) (sip2.Session, error) {
	s := &Session{h: h, conn: c}
	s.ident, s.hasIdent = tlsproxy.Identity(c.TLS)
	return s, nil
}

// library returns a library's time zone and name.
func (h *Handler) library(ctx context.Context, code string) (*time.Location, string) {
	lib, _ := h.svc.Library(ctx, code)
	return lib.Zone, lib.Name
}
