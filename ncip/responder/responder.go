// Package responder answers NCIP requests with circ: it implements
// ncip.Service, every add-on service and ncip.Authorizer.
//
// Callers are the NCIP partners (ILL brokers and peers) and remote-storage
// facilities of the profile snapshot. A partner's calls get the
// resource-sharing meaning: AcceptItem creates a temporary item held for
// our patron, CheckOutItem of one of our items lends it to the patron of
// ours the partner names or else to the partner's institutional patron
// (one rule, circ.PartnerAccountOf), CheckInItem returns it. A facility's
// calls get the remote-storage meaning: CheckInItem is accessioned or
// refiled, CheckOutItem and ItemShipped retrieved and sent,
// CancelRequestItem not found.
//
// Changing services are safe to retry: a retry (the same partner, service
// and request id within the partner's retry window, with nothing changed
// since) is answered from the circ idempotency journal; a charge's
// FiscalTransactionReferenceId names the charge for good; and the services
// without a request id (CheckInItem, DeleteItem, the storage events)
// recognise a state they already reached and answer success.
package responder

import (
	"context"
	"crypto/x509"
	"strings"
	"sync"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/ncip"
	"github.com/circa-ils/circa/profiles"
	"github.com/circa-ils/circa/tlsproxy"
)

// Responder answers NCIP services. It is safe for concurrent use.
type Responder struct {
	svc       *circ.Service
	snap      func() *profiles.Snapshot
	clientCAs func() *x509.CertPool

	dummyOnce sync.Once
	dummyHash string
	tokenKey  []byte // signs LookupItemSet's NextItemTokens
}

// Option configures a Responder.
type Option func(*Responder)

// WithClientCAs gives the server's client CA bundle, against which the
// certificate of a caller whose profile requires one and names no CA of
// its own is verified. cas is called per request, so a bundle reloaded on
// SIGHUP applies at once. Without it such callers are refused.
func WithClientCAs(cas func() *x509.CertPool) Option {
	return func(r *Responder) { r.clientCAs = cas }
}

// New returns a Responder over svc. snap returns the profile snapshot in
// force (profiles.Registry.Current); it is read on every request, so a
// profile change applies to the next one.
func New(svc *circ.Service, snap func() *profiles.Snapshot, opts ...Option) *Responder {
	r := &Responder{svc: svc, snap: snap, clientCAs: func() *x509.CertPool { return nil },
		tokenKey: svc.Key("ncip LookupItemSet NextItemToken")}
	for _, o := range opts {
		o(r)
	}
	return r
}

// The interfaces the responder implements; the handler finds the add-ons
// by type assertion, so this keeps them from silently going missing.
var (
	_ ncip.Service                            = (*Responder)(nil)
	_ ncip.Authorizer                         = (*Responder)(nil)
	_ ncip.LookupVersionService               = (*Responder)(nil)
	_ ncip.LookupAgencyService                = (*Responder)(nil)
	_ ncip.LookupItemService                  = (*Responder)(nil)
	_ ncip.LookupItemSetService               = (*Responder)(nil)
	_ ncip.LookupRequestService               = (*Responder)(nil)
	_ ncip.AcceptItemService                  = (*Responder)(nil)
	_ ncip.RequestItemService                 = (*Responder)(nil)
	_ ncip.CancelRequestItemService           = (*Responder)(nil)
	_ ncip.RecallItemService                  = (*Responder)(nil)
	_ ncip.DeleteItemService                  = (*Responder)(nil)
	_ ncip.CreateUserFiscalTransactionService = (*Responder)(nil)
	_ ncip.ItemShippedService                 = (*Responder)(nil)
)

// StorageServices are the services a remote-storage facility may call.
var StorageServices = []string{"LookupVersion", "LookupAgency", "LookupItem", "LookupRequest",
	"CheckInItem", "CheckOutItem", "ItemShipped", "CancelRequestItem"}

// caller is the authenticated partner or facility of a request.
type caller struct {
	code        string
	localAgency string
	agencies    []string
	library     string
	active      bool
	auth        profiles.NCIPAuth
	compat      profiles.NCIPCompat
	partner     *profiles.NCIPPartner // set for a resource-sharing partner
	storage     *profiles.Storage     // set for a remote-storage facility
}

func callerOf(p profiles.Profile) *caller {
	switch v := p.(type) {
	case *profiles.NCIPPartner:
		return &caller{code: v.Code, localAgency: v.LocalAgency, agencies: v.AgencyIDs, library: v.Library, active: v.Active,
			auth: v.Auth, compat: v.Compat, partner: v}
	case *profiles.Storage:
		return &caller{code: v.Code, localAgency: v.LocalAgency, agencies: v.AgencyIDs, library: v.Library, active: v.Active,
			auth: v.Auth, compat: v.Compat, storage: v}
	}
	return nil
}

func (cl *caller) allows(service string) bool {
	if cl.storage != nil {
		for _, s := range StorageServices {
			if s == service {
				return true
			}
		}
		return false
	}
	return cl.partner.Allows(service)
}

// agent is who circ records as acting.
func (cl *caller) agent() circ.Agent {
	a := circ.Agent{Protocol: "ncip", Account: cl.code, Library: cl.library}
	if cl.storage != nil {
		a.Desk = cl.storage.Desk
	}
	return a
}

// key makes a circ idempotency key from the partner, the service and the
// partner's id for the transaction; "" when there is no id to key on.
func (cl *caller) key(service, id string) string {
	id = strings.TrimSpace(id)
	if id == "" {
		return ""
	}
	return "ncip\x00" + cl.code + "\x00" + service + "\x00" + id
}

// retry makes a request with the partner's id retry-safe: the same request
// again within the partner's window, with nothing changed since what it
// acted on, gets the first answer; later, or after a change, it acts.
func (cl *caller) retry(service, id string) circ.Retry {
	k := cl.key(service, id)
	if k == "" || cl.partner == nil {
		return circ.Retry{}
	}
	return circ.Retry{Key: k, Window: cl.partner.RetryWindow()}
}

func fromAgency(c *ncip.Call) string {
	if c.Header == nil {
		return ""
	}
	if a := strings.TrimSpace(c.Header.FromAgencyID.Value); a != "" {
		return a
	}
	// Alma names the partner in ApplicationProfileType.
	return strings.TrimSpace(c.Header.ApplicationProfileType.Value)
}

// identify finds the profile a request comes from: by its FromAgencyId,
// or else by the API key it presents. It checks nothing else.
func (r *Responder) identify(c *ncip.Call) (*caller, *ncip.Problem) {
	snap := r.snap()
	if snap == nil {
		return nil, ncip.NewProblem("", ncip.UnknownAgency, "no NCIP partners are configured")
	}
	if agency := fromAgency(c); agency != "" {
		p, ok := snap.ByAgency(agency)
		if !ok {
			return nil, ncip.NewProblem("", ncip.UnknownAgency, "agency "+agency+" is not a partner").At("FromAgencyId", agency)
		}
		return callerOf(p), nil
	}
	var found *caller
	if c.APIKey != "" || c.Token != "" {
		// Every profile is tried, so the time taken does not tell which matched.
		for _, p := range snap.NCIPCallers() {
			cl := callerOf(p)
			if cl != nil && keyMatches(cl.auth.APIKeyHash, c) && found == nil {
				found = cl
			}
		}
	}
	if found == nil {
		return nil, ncip.NewProblem("", ncip.AgencyAuthenticationFailed, "name your agency in FromAgencyId or send your API key")
	}
	return found, nil
}

func keyMatches(hash string, c *ncip.Call) bool {
	a := profiles.KeyMatches(hash, c.APIKey)
	b := profiles.KeyMatches(hash, c.Token)
	return a || b
}

// Authorize implements ncip.Authorizer: it identifies the caller, checks
// every authentication method its profile sets (API key, client
// certificate, IP allow-list, FromAgencyAuthentication shared secret) and
// the services it may call, and switches on the partner's compatibility
// options for the response.
func (r *Responder) Authorize(_ context.Context, c *ncip.Call) error {
	cl, p := r.identify(c)
	if p != nil {
		return p
	}
	failed := func(detail string) error {
		return ncip.NewProblem("", ncip.AgencyAuthenticationFailed, detail)
	}
	a := cl.auth
	keyOK := a.APIKeyHash == "" || keyMatches(a.APIKeyHash, c)
	ipOK := len(a.AllowIPs) == 0 || c.RemoteIP.IsValid() && a.AllowIPs.Allows(c.RemoteIP)
	secretOK := a.SharedSecretHash == "" || c.Header != nil && profiles.KeyMatches(a.SharedSecretHash, c.Header.FromAgencyAuthentication)
	switch {
	case !cl.active:
		return failed("the partner is not active")
	case !ipOK:
		return failed("requests from this address are not accepted for the agency")
	case !keyOK:
		return failed("the API key is missing or wrong")
	case !secretOK:
		return failed("FromAgencyAuthentication is missing or wrong")
	}
	if a.ClientCert {
		if err := r.checkClientCert(c, cl); err != nil {
			return err
		}
	}
	c.Partner, c.Auth = cl.code, cl
	c.Write.BareVersion = c.Write.BareVersion || cl.compat.BareVersion
	c.Write.NoNamespace = c.Write.NoNamespace || cl.compat.NoNamespace
	c.Write.OmitProblemScheme = c.Write.OmitProblemScheme || cl.compat.ExactProblem
	if len(cl.compat.ProblemTypes) > 0 {
		c.Write.ProblemTypes = cl.compat.ProblemTypes
	}
	if !cl.allows(c.Service) {
		return ncip.NewProblem("", ncip.UnauthorizedServiceForAgency, c.Service+" is not enabled for this agency")
	}
	return nil
}

// checkClientCert refuses a request whose TLS client certificate was not
// issued by the caller's CA or does not name it. The handshake asked for a
// certificate from any issuer and verified none, so this is the check.
func (r *Responder) checkClientCert(c *ncip.Call, cl *caller) error {
	if len(c.PeerCertificates) == 0 {
		return ncip.NewProblem("", ncip.AgencyAuthenticationFailed, "a client certificate for the agency is required, over HTTPS")
	}
	roots := r.clientCAs()
	if cl.auth.ClientCA != "" {
		var err error
		if roots, err = tlsproxy.ReadCAFile(cl.auth.ClientCA); err != nil {
			// The profile's file is ours to fix: logged, answered as a failure on our side.
			return err
		}
	}
	if err := tlsproxy.VerifyClient(c.PeerCertificates, roots); err != nil {
		return ncip.NewProblem("", ncip.AgencyAuthenticationFailed, "the client certificate is not from the CA trusted for the agency")
	}
	name := cl.auth.ClientCertName
	if name == "" {
		name = cl.code
	}
	if !certNames(c.PeerCertificates[0], name, cl.auth.ClientCertName != "") {
		return ncip.NewProblem("", ncip.AgencyAuthenticationFailed, "the client certificate does not name the agency")
	}
	return nil
}

// certNames reports whether a certificate carries name as its subject CN
// or, when sans, as a DNS or URI subject alternative name. DNS names are
// compared without regard to case.
func certNames(cert *x509.Certificate, name string, sans bool) bool {
	if cert.Subject.CommonName == name {
		return true
	}
	if !sans {
		return false
	}
	for _, d := range cert.DNSNames {
		if strings.EqualFold(d, name) {
			return true
		}
	}
	for _, u := range cert.URIs {
		if u.String() == name {
			return true
		}
	}
	return false
}

// caller returns the authenticated caller of a request: the one Authorize
// accepted, or, for a Call that did not pass through Authorize, the
// profile looked up again.
func (r *Responder) caller(c *ncip.Call) (*caller, error) {
	if cl, ok := c.Auth.(*caller); ok && cl.code == c.Partner {
		return cl, nil
	}
	cl, p := r.identify(c)
	if p != nil {
		return nil, p
	}
	if c.Partner != cl.code {
		return nil, ncip.NewProblem("", ncip.AgencyAuthenticationFailed, "the request was not authorized")
	}
	return cl, nil
}

// header answers the request's InitiationHeader: From our agency, To the caller.
func header(c *ncip.Call, cl *caller) *ncip.ResponseHeader {
	h := c.Header.Reply()
	if h == nil {
		h = &ncip.ResponseHeader{}
	}
	if h.FromAgencyID.Value == "" {
		h.FromAgencyID = ncip.SV(cl.localAgency)
	}
	if h.ToAgencyID.Value == "" && len(cl.agencies) > 0 {
		h.ToAgencyID = ncip.SV(cl.agencies[0])
	}
	return h
}

// ours is an identifier of our agency.
func ours(cl *caller, value string) ncip.Identifier {
	return ncip.Identifier{AgencyID: ncip.SV(cl.localAgency), Value: value}
}

func oursPtr(cl *caller, value string) *ncip.Identifier {
	id := ours(cl, value)
	return &id
}
