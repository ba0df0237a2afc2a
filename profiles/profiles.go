// Package profiles holds the integration profiles of an installation — the
// self-check accounts kiosks log in with, NCIP partners, remote-storage
// facilities, and the file exchanges with a bursar, a student information
// system, a facility's request feed and an SMS provider (run by
// profiles/exchange) — their validation, their storage in the database, and
// the immutable snapshot that running servers read.
//
// A profile change commits, then a new snapshot is built and swapped in;
// a SIP2 session keeps the snapshot it logged in with, so a change is
// effective for new logins without a restart.
package profiles

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/circa-ils/circa/store"
)

// Profile types, as stored and as named on the command line.
const (
	TypeSelfCheck = "selfcheck"
	TypeNCIP      = "ncip"
	TypeStorage   = "storage"
)

// Profile is what every profile type implements.
type Profile interface {
	// ProfileType is one of the Type constants.
	ProfileType() string
	// ProfileCode is the profile's unique code within its type.
	ProfileCode() string
	// Validate reports every problem at once (errors.Join).
	Validate() error
}

// ErrNotFound is returned for an unknown profile.
var ErrNotFound = errors.New("profiles: no such profile")

var codePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

func validCode(field, code string) error {
	if !codePattern.MatchString(code) {
		return fmt.Errorf("%s %q: use 1–64 letters, digits, '.', '_' or '-'", field, code)
	}
	return nil
}

// KeyHash is how API keys and shared secrets are stored: their SHA-256.
// Keys are long random strings, so a fast hash suffices, and comparing
// hashes in constant time does not leak the key.
func KeyHash(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// KeyMatches compares a presented key with a stored hash in constant time.
func KeyMatches(hash, presented string) bool {
	if hash == "" || presented == "" {
		return false
	}
	want, err := hex.DecodeString(hash)
	if err != nil {
		return false
	}
	got := sha256.Sum256([]byte(presented))
	return subtle.ConstantTimeCompare(want, got[:]) == 1
}

// AllowList is a list of IP addresses and CIDR prefixes; empty allows all.
type AllowList []string

// Validate checks every entry parses.
func (a AllowList) Validate() error {
	var errs []error
	for _, e := range a {
		if _, err := parseAllow(e); err != nil {
			errs = append(errs, fmt.Errorf("allow-list entry %q: not an IP address or prefix", e))
		}
	}
	return errors.Join(errs...)
}

func parseAllow(e string) (netip.Prefix, error) {
	if strings.Contains(e, "/") {
		return netip.ParsePrefix(e)
	}
	a, err := netip.ParseAddr(e)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Allows reports whether addr may connect.
func (a AllowList) Allows(addr netip.Addr) bool {
	if len(a) == 0 {
		return true
	}
	addr = addr.Unmap()
	for _, e := range a {
		if p, err := parseAllow(e); err == nil && p.Contains(addr) {
			return true
		}
	}
	return false
}

// Snapshot is every profile at one moment. It is never changed after it
// is built; readers share it without locks.
type Snapshot struct {
	SelfCheck map[string]*SelfCheck   // by code
	NCIP      map[string]*NCIPPartner // by code
	Storage   map[string]*Storage     // by code
	Exchange  map[string]*Exchange    // file-exchange profiles of every type, by code
	LDAP      map[string]*LDAP        // directories that check patrons' passwords, by code
	byLogin   map[string]*SelfCheck
	byAgency  map[string]Profile // NCIP partners and storage facilities by agency id
}

// SelfCheckByLogin finds the self-check profile a kiosk logs in as.
func (s *Snapshot) SelfCheckByLogin(login string) (*SelfCheck, bool) {
	p, ok := s.byLogin[login]
	return p, ok
}

// ByAgency finds the NCIP partner or storage facility with an agency id.
func (s *Snapshot) ByAgency(agency string) (Profile, bool) {
	p, ok := s.byAgency[strings.ToUpper(strings.TrimSpace(agency))]
	return p, ok
}

// NCIPCallers lists NCIP partners and storage facilities (both answer on
// /ncip), in code order.
func (s *Snapshot) NCIPCallers() []Profile {
	var out []Profile
	for _, p := range s.NCIP {
		out = append(out, p)
	}
	for _, p := range s.Storage {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ProfileCode() < out[j].ProfileCode() })
	return out
}

// Registry loads profiles from the store and keeps the current snapshot.
type Registry struct {
	db   store.DB
	snap atomic.Pointer[Snapshot]
}

// Open loads the profiles of db.
func Open(ctx context.Context, db store.DB) (*Registry, error) {
	r := &Registry{db: db}
	return r, r.Reload(ctx)
}

// Current returns the snapshot in force.
func (r *Registry) Current() *Snapshot { return r.snap.Load() }

// Reload rebuilds the snapshot from the store.
func (r *Registry) Reload(ctx context.Context) error {
	s := &Snapshot{SelfCheck: map[string]*SelfCheck{}, NCIP: map[string]*NCIPPartner{}, Storage: map[string]*Storage{},
		Exchange: map[string]*Exchange{}, LDAP: map[string]*LDAP{}, byLogin: map[string]*SelfCheck{}, byAgency: map[string]Profile{}}
	err := r.db.View(ctx, func(tx store.Tx) error {
		if err := tx.Profiles(TypeSelfCheck, func(code string, doc []byte) error {
			var p SelfCheck
			if err := json.Unmarshal(doc, &p); err != nil {
				return fmt.Errorf("self-check profile %s: %w", code, err)
			}
			p.RetryWindowSeconds = orDefault(p.RetryWindowSeconds, DefaultSelfCheckRetryWindow)
			s.SelfCheck[p.Code] = &p
			s.byLogin[p.Login] = &p
			return nil
		}); err != nil {
			return err
		}
		if err := tx.Profiles(TypeNCIP, func(code string, doc []byte) error {
			var p NCIPPartner
			if err := json.Unmarshal(doc, &p); err != nil {
				return fmt.Errorf("NCIP profile %s: %w", code, err)
			}
			p.RetryWindowSeconds = orDefault(p.RetryWindowSeconds, DefaultNCIPRetryWindow)
			s.NCIP[p.Code] = &p
			for _, a := range p.AgencyIDs {
				s.byAgency[strings.ToUpper(a)] = &p
			}
			return nil
		}); err != nil {
			return err
		}
		if err := tx.Profiles(TypeStorage, func(code string, doc []byte) error {
			var p Storage
			if err := json.Unmarshal(doc, &p); err != nil {
				return fmt.Errorf("storage profile %s: %w", code, err)
			}
			s.Storage[p.Code] = &p
			for _, a := range p.AgencyIDs {
				s.byAgency[strings.ToUpper(a)] = &p
			}
			return nil
		}); err != nil {
			return err
		}
		if err := tx.Profiles(TypeLDAP, func(code string, doc []byte) error {
			var p LDAP
			if err := json.Unmarshal(doc, &p); err != nil {
				return fmt.Errorf("LDAP profile %s: %w", code, err)
			}
			s.LDAP[p.Code] = &p
			return nil
		}); err != nil {
			return err
		}
		for _, typ := range ExchangeTypes {
			if err := tx.Profiles(typ, func(code string, doc []byte) error {
				var p Exchange
				if err := json.Unmarshal(doc, &p); err != nil {
					return fmt.Errorf("%s profile %s: %w", typ, code, err)
				}
				s.Exchange[p.Code] = &p
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	r.snap.Store(s)
	return nil
}

// Save validates and stores profiles in one transaction (all or none),
// checking that logins and agency ids stay unique across profiles and that
// the libraries and desks they name exist, then reloads the snapshot.
func (r *Registry) Save(ctx context.Context, ps ...Profile) error {
	var errs []error
	for _, p := range ps {
		if err := p.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", p.ProfileType(), p.ProfileCode(), err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := r.checkUnique(ps); err != nil {
		return err
	}
	err := r.db.Update(ctx, func(tx store.Tx) error {
		var errs []error
		for _, p := range ps {
			if err := checkRefs(tx, p); err != nil {
				errs = append(errs, fmt.Errorf("%s %s: %w", p.ProfileType(), p.ProfileCode(), err))
			}
		}
		if err := errors.Join(errs...); err != nil {
			return err
		}
		for _, p := range ps {
			doc, err := json.Marshal(p)
			if err != nil {
				return err
			}
			if err := tx.PutProfile(p.ProfileType(), p.ProfileCode(), doc); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return r.Reload(ctx)
}

func (r *Registry) checkUnique(ps []Profile) error {
	cur := r.Current()
	logins := map[string]string{}
	agencies := map[string]string{}
	for code, p := range cur.SelfCheck {
		logins[p.Login] = TypeSelfCheck + " " + code
	}
	exchanges := map[string]string{}
	for code, p := range cur.Exchange {
		exchanges[code] = p.Type + " " + code
	}
	for agency, p := range cur.byAgency {
		agencies[agency] = p.ProfileType() + " " + p.ProfileCode()
	}
	// The profiles being saved replace their earlier versions.
	for _, p := range ps {
		self := p.ProfileType() + " " + p.ProfileCode()
		for k, v := range logins {
			if v == self {
				delete(logins, k)
			}
		}
		for k, v := range agencies {
			if v == self {
				delete(agencies, k)
			}
		}
	}
	var errs []error
	for _, p := range ps {
		self := p.ProfileType() + " " + p.ProfileCode()
		switch v := p.(type) {
		case *SelfCheck:
			if other, ok := logins[v.Login]; ok && other != self {
				errs = append(errs, fmt.Errorf("%s: login %q is used by %s", self, v.Login, other))
			}
			logins[v.Login] = self
		case *Exchange:
			if other, ok := exchanges[v.Code]; ok && other != self {
				errs = append(errs, fmt.Errorf("%s: code %q is used by %s", self, v.Code, other))
			}
			exchanges[v.Code] = self
		case *NCIPPartner, *Storage:
			for _, a := range agencyIDs(p) {
				a = strings.ToUpper(a)
				if other, ok := agencies[a]; ok && other != self {
					errs = append(errs, fmt.Errorf("%s: agency id %q is used by %s", self, a, other))
				}
				agencies[a] = self
			}
		}
	}
	return errors.Join(errs...)
}

func agencyIDs(p Profile) []string {
	switch v := p.(type) {
	case *NCIPPartner:
		return v.AgencyIDs
	case *Storage:
		return v.AgencyIDs
	}
	return nil
}

// Remove deletes a profile.
func (r *Registry) Remove(ctx context.Context, typ, code string) error {
	err := r.db.Update(ctx, func(tx store.Tx) error { return tx.DeleteProfile(typ, code) })
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %s %s", ErrNotFound, typ, code)
	}
	if err != nil {
		return err
	}
	return r.Reload(ctx)
}
