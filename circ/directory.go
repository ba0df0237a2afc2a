package circ

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/circa-ils/circa/store"
)

// A patron group names where its patrons prove who they are (store.Group's
// Auth): their PIN kept by circa ("local", the default), or a password the
// campus directory checks ("ldap:CODE", the LDAP profile CODE). Both go
// through checkPIN, so SIP2, NCIP and the command line share the PIN
// throttle whichever checks the secret.

// Authentication sources a group can name.
const (
	AuthLocal = "local"
	// AuthLDAPPrefix starts the auth of a group whose patrons a directory
	// checks; the LDAP profile's code follows it.
	AuthLDAPPrefix = "ldap:"
	// DirectoryProfileType is the profile type of an LDAP directory.
	DirectoryProfileType = "ldap"
)

// DirectoryTimeout bounds one directory check when the Directory sets no
// shorter deadline: below the 10–15 seconds kiosks commonly wait for an
// answer, so the kiosk hears "cannot verify now" rather than timing out.
const DirectoryTimeout = 5 * time.Second

// Directory checks a patron's password against an external directory.
// Verify returns nil when the password is right, ErrDirectoryRejected when
// the directory says it is wrong or knows no such user, and any other error
// (ErrDirectoryUnavailable among them) when it could not say.
type Directory interface {
	Verify(ctx context.Context, source string, who DirectoryUser, password string) error
}

// DirectoryUser is what a directory may look a patron up by.
type DirectoryUser struct {
	// User is the identifier the kiosk or partner sent.
	User string
	// Barcode is the patron record's barcode.
	Barcode string
}

// Directory errors.
var (
	ErrDirectoryRejected    = errors.New("circ: the directory rejected the password")
	ErrDirectoryUnavailable = errors.New("circ: the directory cannot verify passwords now")
)

// WithDirectory has the patrons of groups whose auth is "ldap:CODE" checked
// by d instead of their PIN.
func WithDirectory(d Directory) Option { return func(s *Service) { s.directory = d } }

var authCodePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// DirectoryOf returns the LDAP profile code an auth names, "" for local.
func DirectoryOf(auth string) string {
	code, _ := strings.CutPrefix(auth, AuthLDAPPrefix)
	if code == auth {
		return ""
	}
	return code
}

// checkAuth checks a group's auth names a source that exists.
func checkAuth(tx store.Tx, g *store.Group) error {
	if g.Auth == "" || g.Auth == AuthLocal {
		return nil
	}
	code := DirectoryOf(g.Auth)
	if !authCodePattern.MatchString(code) {
		return fmt.Errorf("group %s: auth %q: give local or ldap:CODE", g.Code, g.Auth)
	}
	if _, err := tx.Profile(DirectoryProfileType, code); errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("group %s: auth %s: no LDAP profile %s (circa ldap list)", g.Code, g.Auth, code)
	} else if err != nil {
		return err
	}
	return nil
}

// GroupsUsingDirectory lists the codes of the groups whose patrons the LDAP
// profile code checks, so the profile is not removed from under them.
func GroupsUsingDirectory(tx store.Tx, code string) ([]string, error) {
	groups, err := tx.Groups()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, g := range groups {
		if DirectoryOf(g.Auth) == code {
			out = append(out, g.Code)
		}
	}
	return out, nil
}

// authOf is the auth source of a patron's group; a group that is gone
// leaves the patron's PIN in force.
func authOf(tx store.Tx, p *store.Patron) (string, error) {
	g, err := tx.Group(p.UserGroup)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return DirectoryOf(g.Auth), nil
}

// verifyWithDirectory asks the directory about a patron's password within
// DirectoryTimeout. good is the directory's verdict; unavailable says it
// gave none, which never counts as a wrong guess.
func (s *Service) verifyWithDirectory(ctx context.Context, source string, who DirectoryUser, password string) (good, unavailable bool) {
	if s.directory == nil {
		return false, true
	}
	ctx, cancel := context.WithTimeout(ctx, DirectoryTimeout)
	defer cancel()
	err := s.directory.Verify(ctx, source, who, password)
	switch {
	case err == nil:
		return true, false
	case errors.Is(err, ErrDirectoryRejected):
		return false, false
	}
	return false, true
}
