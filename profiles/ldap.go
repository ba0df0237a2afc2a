package profiles

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/circa-ils/circa/circ"
)

// TypeLDAP is the profile of a campus directory that checks the passwords
// of the patron groups naming it (circa group edit --auth ldap:CODE).
const TypeLDAP = circ.DirectoryProfileType

// LDAP is how circa reaches a directory and finds a patron's entry in it.
// The service account's password stays in a file named here, read at each
// new connection, so the store never holds it and a rotated password is
// used at once.
type LDAP struct {
	Code string `json:"code" yaml:"code"`
	Name string `json:"name,omitempty" yaml:"name,omitempty"`
	// URLs are tried in order until one answers: ldaps://host[:port], or
	// ldap://host[:port] with StartTLS.
	URLs []string `json:"urls" yaml:"urls"`
	// StartTLS upgrades ldap:// connections before anything is sent.
	StartTLS bool `json:"start_tls,omitempty" yaml:"start_tls,omitempty"`
	// AllowPlain lets ldap:// without StartTLS through, and only to a
	// loopback address (a directory on the same machine).
	AllowPlain bool `json:"allow_plain,omitempty" yaml:"allow_plain,omitempty"`
	// CAFile holds the PEM certificates the directory's certificate must
	// chain to, instead of the system's.
	CAFile string `json:"ca_file,omitempty" yaml:"ca_file,omitempty"`
	// BindDN and BindPasswordFile are the service account that searches
	// for a patron's entry; both empty searches anonymously.
	BindDN           string `json:"bind_dn,omitempty" yaml:"bind_dn,omitempty"`
	BindPasswordFile string `json:"bind_password_file,omitempty" yaml:"bind_password_file,omitempty"`
	// BaseDN is where the search for a patron's entry starts (subtree).
	BaseDN string `json:"base_dn" yaml:"base_dn"`
	// Filter finds exactly one entry: {user} is the identifier the kiosk
	// or partner sent, {barcode} the patron record's barcode, each escaped
	// as RFC 4515 says before it is put in.
	Filter string `json:"filter" yaml:"filter"`
	// TimeoutSeconds bounds one password check, connecting included.
	TimeoutSeconds int `json:"timeout_seconds,omitempty" yaml:"timeout_seconds,omitempty"`
	// PoolSize is how many connections are kept open to the directory, and
	// so how many checks run at once.
	PoolSize int `json:"pool_size,omitempty" yaml:"pool_size,omitempty"`
}

// LDAP defaults and limits.
const (
	DefaultLDAPTimeout  = 3
	MaxLDAPTimeout      = int(circ.DirectoryTimeout / time.Second)
	DefaultLDAPPoolSize = 4
	MaxLDAPPoolSize     = 64
)

// NewLDAP returns an LDAP profile with the defaults of `circa ldap add`.
func NewLDAP(code string) *LDAP {
	return &LDAP{Code: code, Filter: "(uid={user})", TimeoutSeconds: DefaultLDAPTimeout, PoolSize: DefaultLDAPPoolSize}
}

// ProfileType implements Profile.
func (p *LDAP) ProfileType() string { return TypeLDAP }

// ProfileCode implements Profile.
func (p *LDAP) ProfileCode() string { return p.Code }

// Timeout is how long one password check may take.
func (p *LDAP) Timeout() time.Duration {
	return time.Duration(orDefault(p.TimeoutSeconds, DefaultLDAPTimeout)) * time.Second
}

// Pool is how many connections to keep.
func (p *LDAP) Pool() int { return orDefault(p.PoolSize, DefaultLDAPPoolSize) }

// SearchFilter fills the filter template with a user's identifiers, each
// escaped so that no character of them can change the filter's shape.
func (p *LDAP) SearchFilter(user, barcode string) string {
	return strings.NewReplacer("{user}", ldap.EscapeFilter(user), "{barcode}", ldap.EscapeFilter(barcode)).Replace(p.Filter)
}

// Validate implements Profile.
func (p *LDAP) Validate() error {
	var errs []error
	if err := validCode("code", p.Code); err != nil {
		errs = append(errs, err)
	}
	if len(p.URLs) == 0 {
		errs = append(errs, errors.New("at least one url is required (ldaps://host or ldap://host with start_tls)"))
	}
	for _, raw := range p.URLs {
		if err := p.validURL(raw); err != nil {
			errs = append(errs, err)
		}
	}
	if p.BaseDN == "" {
		errs = append(errs, errors.New("base_dn is required"))
	} else if _, err := ldap.ParseDN(p.BaseDN); err != nil {
		errs = append(errs, fmt.Errorf("base_dn %q: %v", p.BaseDN, err))
	}
	if p.BindDN != "" {
		if _, err := ldap.ParseDN(p.BindDN); err != nil {
			errs = append(errs, fmt.Errorf("bind_dn %q: %v", p.BindDN, err))
		}
	}
	if (p.BindDN == "") != (p.BindPasswordFile == "") {
		errs = append(errs, errors.New("bind_dn and bind_password_file go together"))
	}
	errs = append(errs, validFilterTemplate(p.Filter))
	for _, f := range []struct{ name, path string }{{"bind_password_file", p.BindPasswordFile}, {"ca_file", p.CAFile}} {
		if f.path != "" && !filepath.IsAbs(f.path) {
			errs = append(errs, fmt.Errorf("%s %q: give an absolute path", f.name, f.path))
		}
	}
	if p.TimeoutSeconds < 0 || p.TimeoutSeconds > MaxLDAPTimeout {
		errs = append(errs, fmt.Errorf("timeout_seconds must be 1–%d, below the kiosks' own timeout", MaxLDAPTimeout))
	}
	if p.PoolSize < 0 || p.PoolSize > MaxLDAPPoolSize {
		errs = append(errs, fmt.Errorf("pool_size must be 1–%d", MaxLDAPPoolSize))
	}
	return errors.Join(errs...)
}

func (p *LDAP) validURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "ldap" && u.Scheme != "ldaps") {
		return fmt.Errorf("url %q: give ldaps://host[:port] or ldap://host[:port]", raw)
	}
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return fmt.Errorf("url %q: only the scheme, host and port; the base DN and filter are settings of their own", raw)
	}
	if u.Scheme == "ldaps" || p.StartTLS {
		return nil
	}
	if !p.AllowPlain {
		return fmt.Errorf("url %q: passwords would cross the network in clear; use ldaps://, or start_tls", raw)
	}
	if !loopbackHost(u.Hostname()) {
		return fmt.Errorf("url %q: allow_plain is for a directory on this machine (a loopback address) only", raw)
	}
	return nil
}

// loopbackHost reports whether host is a loopback address or localhost;
// other names are refused, since what they resolve to can change.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

// PlainAllowed reports whether a connection to addr (host:port) may go
// without TLS: only when the profile allows it and addr is loopback, checked
// again on the address actually dialled.
func (p *LDAP) PlainAllowed(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	return err == nil && p.AllowPlain && loopbackHost(host)
}

// validFilterTemplate checks a filter template is a well-formed filter that
// names the user, whatever its placeholders are filled with.
func validFilterTemplate(t string) error {
	if t == "" {
		return errors.New("filter is required, e.g. (uid={user})")
	}
	if !strings.Contains(t, "{user}") && !strings.Contains(t, "{barcode}") {
		return fmt.Errorf("filter %q: name the patron with {user} or {barcode}", t)
	}
	filled := strings.NewReplacer("{user}", "x", "{barcode}", "x").Replace(t)
	if _, err := ldap.CompileFilter(filled); err != nil {
		return fmt.Errorf("filter %q: %v", t, err)
	}
	return nil
}
