package profiles

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/circa-ils/circa/circ"
)

// NCIPServices are the services a partner may be allowed.
var NCIPServices = []string{"LookupVersion", "LookupAgency", "LookupUser", "LookupItem", "LookupItemSet", "LookupRequest",
	"AcceptItem", "CheckOutItem", "CheckInItem", "RenewItem", "RequestItem", "CancelRequestItem", "RecallItem",
	"DeleteItem", "CreateUserFiscalTransaction"}

// NCIPAuth is how an NCIP caller proves who it is. Every configured method
// must pass; a key may come in the X-API-Key header, an Authorization bearer
// token, or the URL path (/ncip/{key}).
type NCIPAuth struct {
	APIKey     string    `json:"-" yaml:"api_key,omitempty"` // plain, only on input; stored hashed
	APIKeyHash string    `json:"api_key_hash,omitempty" yaml:"api_key_hash,omitempty"`
	AllowIPs   AllowList `json:"allow_ips,omitempty" yaml:"allow_ips,omitempty"`
	// ClientCert requires a TLS client certificate (so HTTPS to circa's
	// own listener) issued by ClientCA and naming ClientCertName.
	ClientCert bool `json:"client_cert,omitempty" yaml:"client_cert,omitempty"`
	// ClientCA is the absolute path of the PEM bundle the caller's
	// certificate must chain to (the partner's or the consortium's CA),
	// read at each request; empty means the server's client CA bundle
	// (--tls-client-ca, default DATA/tls/ca.pem), which circa tls issue
	// signs with. A self-signed certificate is trusted by naming its own
	// file here.
	ClientCA string `json:"client_ca,omitempty" yaml:"client_ca,omitempty"`
	// ClientCertName is the name the certificate must carry, as its
	// subject CN or a DNS or URI subject alternative name; empty means the
	// profile code as subject CN, which circa tls issue writes.
	ClientCertName string `json:"client_cert_name,omitempty" yaml:"client_cert_name,omitempty"`
	// SharedSecret is compared with the request's FromAgencyAuthentication.
	SharedSecret     string `json:"-" yaml:"shared_secret,omitempty"`
	SharedSecretHash string `json:"shared_secret_hash,omitempty" yaml:"shared_secret_hash,omitempty"`
}

// Prepare hashes plain secrets given on input.
func (a *NCIPAuth) Prepare() {
	if a.APIKey != "" {
		a.APIKeyHash, a.APIKey = KeyHash(a.APIKey), ""
	}
	if a.SharedSecret != "" {
		a.SharedSecretHash, a.SharedSecret = KeyHash(a.SharedSecret), ""
	}
}

func (a *NCIPAuth) validate() error {
	var errs []error
	if a.APIKeyHash == "" && !a.ClientCert && a.SharedSecretHash == "" {
		errs = append(errs, errors.New("authentication: give an API key, a client certificate or a shared secret"))
	}
	if err := a.AllowIPs.Validate(); err != nil {
		errs = append(errs, err)
	}
	if !a.ClientCert && (a.ClientCA != "" || a.ClientCertName != "") {
		errs = append(errs, errors.New("client_ca and client_cert_name only apply with client_cert"))
	}
	if a.ClientCA != "" && !filepath.IsAbs(a.ClientCA) {
		errs = append(errs, fmt.Errorf("client_ca %q: give an absolute path", a.ClientCA))
	}
	if strings.TrimSpace(a.ClientCertName) != a.ClientCertName {
		errs = append(errs, fmt.Errorf("client_cert_name %q: no blanks around it", a.ClientCertName))
	}
	return errors.Join(errs...)
}

// NCIPCompat switches on forms legacy partners need.
type NCIPCompat struct {
	BareVersion  bool `json:"bare_version,omitempty" yaml:"bare_version,omitempty"`   // version="…" without the ncip: prefix
	NoNamespace  bool `json:"no_namespace,omitempty" yaml:"no_namespace,omitempty"`   // responses without the NCIP namespace
	ExactProblem bool `json:"exact_problem,omitempty" yaml:"exact_problem,omitempty"` // ProblemType strings exactly as the partner expects
	// ProblemTypes renames Problem types for a partner that matches on its
	// own strings (standard type → the partner's string).
	ProblemTypes map[string]string `json:"problem_types,omitempty" yaml:"problem_types,omitempty"`
}

// NCIPPartner is a resource-sharing partner (an ILL broker or peer).
type NCIPPartner struct {
	Code      string   `json:"code" yaml:"code"`
	Name      string   `json:"name,omitempty" yaml:"name,omitempty"`
	Active    bool     `json:"active" yaml:"active"`
	AgencyIDs []string `json:"agency_ids" yaml:"agency_ids"`
	// LocalAgency is the agency id circa answers as (ResponseHeader From).
	LocalAgency string   `json:"local_agency" yaml:"local_agency"`
	Auth        NCIPAuth `json:"auth" yaml:"auth"`
	// LendingPatron is the institutional patron items lent to the partner
	// are checked out to.
	LendingPatron string `json:"lending_patron" yaml:"lending_patron"`
	// Library is where the partner's operations happen; PickupLibrary is
	// where borrowed items wait for patrons.
	Library       string     `json:"library" yaml:"library"`
	PickupLibrary string     `json:"pickup_library" yaml:"pickup_library"`
	Services      []string   `json:"services,omitempty" yaml:"services,omitempty"` // empty: all
	Compat        NCIPCompat `json:"compat,omitempty" yaml:"compat,omitempty"`

	// AcceptItemBlocked says what an AcceptItem for a patron who may not
	// borrow (blocked, or over the fee or overdue limits) gets:
	// AcceptBlockedRefuse (the default, "") or AcceptBlockedAllow.
	AcceptItemBlocked string `json:"accept_item_blocked,omitempty" yaml:"accept_item_blocked,omitempty"`
	// RetryWindowSeconds is how long after its answer the partner's repeat
	// of a request (same service and request id) may be a retry, answered
	// from the journal instead of acting again. 0 means
	// DefaultNCIPRetryWindow.
	RetryWindowSeconds int `json:"retry_window_seconds" yaml:"retry_window_seconds"`
}

// RetryWindow is the partner's retry window.
func (p *NCIPPartner) RetryWindow() time.Duration {
	return time.Duration(orDefault(p.RetryWindowSeconds, DefaultNCIPRetryWindow)) * time.Second
}

// Values of NCIPPartner.AcceptItemBlocked.
const (
	// AcceptBlockedRefuse answers User Blocked, as FOLIO does.
	AcceptBlockedRefuse = "refuse"
	// AcceptBlockedAllow accepts the item and holds it for the patron,
	// who still cannot borrow it until the block is lifted.
	AcceptBlockedAllow = "allow"
)

// AcceptsForBlocked reports whether the partner's AcceptItem creates the
// item for a patron who may not borrow.
func (p *NCIPPartner) AcceptsForBlocked() bool { return p.AcceptItemBlocked == AcceptBlockedAllow }

// ProfileType implements Profile.
func (p *NCIPPartner) ProfileType() string { return TypeNCIP }

// ProfileCode implements Profile.
func (p *NCIPPartner) ProfileCode() string { return p.Code }

// Allows reports whether the partner may call a service.
func (p *NCIPPartner) Allows(service string) bool {
	return len(p.Services) == 0 || slices.Contains(p.Services, service)
}

// Validate implements Profile.
func (p *NCIPPartner) Validate() error {
	var errs []error
	if err := validCode("code", p.Code); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, validAgencies(p.AgencyIDs), p.Auth.validate())
	if p.LocalAgency == "" {
		errs = append(errs, errors.New("local_agency is required"))
	}
	if p.Library == "" {
		errs = append(errs, errors.New("library is required"))
	}
	for _, s := range p.Services {
		if !slices.Contains(NCIPServices, s) {
			errs = append(errs, fmt.Errorf("service %q is not one of %s", s, strings.Join(NCIPServices, ", ")))
		}
	}
	switch p.AcceptItemBlocked {
	case "", AcceptBlockedRefuse, AcceptBlockedAllow:
	default:
		errs = append(errs, fmt.Errorf("accept_item_blocked %q is not %s or %s", p.AcceptItemBlocked, AcceptBlockedRefuse, AcceptBlockedAllow))
	}
	if err := validRetryWindow(p.RetryWindowSeconds); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func validAgencies(ids []string) error {
	if len(ids) == 0 {
		return errors.New("at least one agency id is required")
	}
	var errs []error
	for _, a := range ids {
		if strings.TrimSpace(a) == "" || strings.TrimSpace(a) != a {
			errs = append(errs, fmt.Errorf("agency id %q: no blanks around it", a))
		}
	}
	return errors.Join(errs...)
}

// Storage is a remote-storage facility (an ASRS or off-site annex) that
// talks NCIP: its CheckInItem means accessioned or refiled, its
// CheckOutItem retrieved and sent, its CancelRequestItem not found.
type Storage struct {
	Code        string   `json:"code" yaml:"code"`
	Name        string   `json:"name,omitempty" yaml:"name,omitempty"`
	Active      bool     `json:"active" yaml:"active"`
	AgencyIDs   []string `json:"agency_ids" yaml:"agency_ids"`
	LocalAgency string   `json:"local_agency" yaml:"local_agency"`
	Auth        NCIPAuth `json:"auth" yaml:"auth"`
	// Facility is the facility code remote-storage locations name.
	Facility  string   `json:"facility" yaml:"facility"`
	Locations []string `json:"locations" yaml:"locations"`
	// Library and Desk receive the items the facility sends.
	Library string `json:"library" yaml:"library"`
	Desk    string `json:"desk,omitempty" yaml:"desk,omitempty"`
	// StaleDays is after how many days a request never retrieved is
	// reported by `circa storage report`.
	StaleDays int        `json:"stale_days" yaml:"stale_days"`
	Compat    NCIPCompat `json:"compat,omitempty" yaml:"compat,omitempty"`
	// Online, when set, says the facility takes requests at its own NCIP
	// endpoint: circa sends it RequestItem and CancelRequestItem.
	Online *StorageOnline `json:"online,omitempty" yaml:"online,omitempty"`
}

// StorageOnline is how circa, as the NCIP initiator, reaches a facility
// that takes requests online. Secrets stay in files named here, read at
// each connection, so the store never holds them and a rotated key is used
// at once.
type StorageOnline struct {
	URL string `json:"url" yaml:"url"`
	// APIKeyFile holds (first line) the key sent as X-API-Key.
	APIKeyFile string `json:"api_key_file,omitempty" yaml:"api_key_file,omitempty"`
	// ClientCertFile and ClientKeyFile are the PEM client certificate and
	// key presented over TLS.
	ClientCertFile string `json:"client_cert_file,omitempty" yaml:"client_cert_file,omitempty"`
	ClientKeyFile  string `json:"client_key_file,omitempty" yaml:"client_key_file,omitempty"`
	// CAFile, when set, holds the PEM certificates the facility's server
	// certificate must chain to, instead of the system's.
	CAFile string `json:"ca_file,omitempty" yaml:"ca_file,omitempty"`
	// TimeoutSeconds bounds one exchange; 0 means DefaultStorageTimeout.
	TimeoutSeconds int `json:"timeout_seconds,omitempty" yaml:"timeout_seconds,omitempty"`
	// PatronDetails sends the patron's barcode as the UserId; without it
	// the UserId is the pickup library, so no patron data leaves circa.
	PatronDetails bool `json:"patron_details,omitempty" yaml:"patron_details,omitempty"`
}

// DefaultStorageTimeout bounds one exchange with a facility, in seconds.
const DefaultStorageTimeout = 30

// Timeout is how long one exchange with the facility may take.
func (o *StorageOnline) Timeout() time.Duration {
	return time.Duration(orDefault(o.TimeoutSeconds, DefaultStorageTimeout)) * time.Second
}

func (o *StorageOnline) validate() error {
	var errs []error
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("online url %q: give an http:// or https:// address", o.URL))
	} else if u.User != nil {
		errs = append(errs, errors.New("online url: no credentials in the address; use api_key_file or a client certificate"))
	}
	if o.APIKeyFile == "" && o.ClientCertFile == "" {
		errs = append(errs, errors.New("online: give api_key_file or client_cert_file and client_key_file"))
	}
	if (o.ClientCertFile == "") != (o.ClientKeyFile == "") {
		errs = append(errs, errors.New("online: client_cert_file and client_key_file go together"))
	}
	if o.ClientCertFile != "" && err == nil && u.Scheme != "https" {
		errs = append(errs, errors.New("online: a client certificate needs an https:// url"))
	}
	for _, f := range []struct{ name, path string }{{"api_key_file", o.APIKeyFile}, {"client_cert_file", o.ClientCertFile},
		{"client_key_file", o.ClientKeyFile}, {"ca_file", o.CAFile}} {
		if f.path != "" && !filepath.IsAbs(f.path) {
			errs = append(errs, fmt.Errorf("online %s %q: give an absolute path", f.name, f.path))
		}
	}
	if o.TimeoutSeconds < 0 {
		errs = append(errs, errors.New("online timeout_seconds must be ≥ 0"))
	}
	return errors.Join(errs...)
}

// ProfileType implements Profile.
func (p *Storage) ProfileType() string { return TypeStorage }

// ProfileCode implements Profile.
func (p *Storage) ProfileCode() string { return p.Code }

// Validate implements Profile.
func (p *Storage) Validate() error {
	var errs []error
	if err := validCode("code", p.Code); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, validAgencies(p.AgencyIDs), p.Auth.validate())
	if p.LocalAgency == "" {
		errs = append(errs, errors.New("local_agency is required"))
	}
	if p.Facility == "" {
		errs = append(errs, errors.New("facility is required"))
	}
	if len(p.Locations) == 0 {
		errs = append(errs, errors.New("at least one remote-storage location is required"))
	}
	if p.Library == "" {
		errs = append(errs, errors.New("library is required"))
	}
	if p.StaleDays < 0 {
		errs = append(errs, errors.New("stale_days must be ≥ 0"))
	}
	if p.Online != nil {
		errs = append(errs, p.Online.validate())
	}
	return errors.Join(errs...)
}

// Prepare hashes the plain secrets a profile was given on input (from flags
// or a YAML import), so only hashes are stored.
func Prepare(p Profile) error {
	switch v := p.(type) {
	case *SelfCheck:
		if v.Password != "" {
			h, err := circ.HashSecret(v.Password)
			if err != nil {
				return err
			}
			v.PasswordHash, v.Password = h, ""
		}
	case *NCIPPartner:
		v.Auth.Prepare()
	case *Storage:
		v.Auth.Prepare()
	}
	return nil
}
