package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/ldapauth"
	"github.com/circa-ils/circa/profiles"
	"github.com/circa-ils/circa/store"
)

// newLDAPCommand manages the directories that check the passwords of
// patron groups whose auth is ldap:CODE, with the commands every profile
// type has and `test`.
func newLDAPCommand(a *app) *cobra.Command {
	cmd := profileCommands(a, ldapKind())
	cmd.Short = "Manage the LDAP directories that check patrons' passwords (circa group edit GROUP --auth ldap:CODE)"
	cmd.AddCommand(newLDAPTestCommand(a))
	return cmd
}

func ldapKind() profileKind[profiles.LDAP] {
	type L = profiles.LDAP
	return profileKind[L]{
		typ: profiles.TypeLDAP, title: "LDAP directory",
		newDef: profiles.NewLDAP,
		lookup: func(s *profiles.Snapshot, c string) (*L, bool) { p, ok := s.LDAP[c]; return p, ok },
		codes:  func(s *profiles.Snapshot) []string { return sortedKeys(s.LDAP) },
		summary: func(p *L) string {
			return fmt.Sprintf("urls %s\tbase %s\tfilter %s", strings.Join(p.URLs, ","), p.BaseDN, p.Filter)
		},
		check: func(ctx context.Context, _, p *L) error {
			_, _, err := ldapLookup(ctx, p, "")
			return err
		},
		remove: removeLDAP,
		removeHelp: "Remove refuses a directory that a patron group names as its auth, listing the groups: their patrons\n" +
			"could no longer log in. --hand-to OTHER has those groups' passwords checked by the LDAP profile OTHER\n" +
			"instead; to go back to PINs, circa group edit GROUP --auth local first.",
		handToHelp: "LDAP profile that checks the passwords of the groups naming this one from now on",
		bind: func(fs *pflag.FlagSet, p *L) []profileField[L] {
			fs.StringVar(&p.Name, "name", "", "description")
			fs.StringSliceVar(&p.URLs, "url", nil, "directory URLs, tried in order: ldaps://host[:port], or ldap://host[:port] with --start-tls")
			fs.BoolVar(&p.StartTLS, "start-tls", false, "upgrade ldap:// connections with StartTLS before anything is sent")
			fs.BoolVar(&p.AllowPlain, "allow-plain", false, "allow ldap:// without TLS, to a loopback address only")
			fs.StringVar(&p.CAFile, "ca-file", "", "PEM certificates the directory's certificate must chain to (default: the system's)")
			fs.StringVar(&p.BindDN, "bind-dn", "", "DN of the service account that searches for patrons (empty: anonymous)")
			fs.StringVar(&p.BindPasswordFile, "bind-password-file", "", "file whose first line is the service account's password, read at each check")
			fs.StringVar(&p.BaseDN, "base-dn", "", "where the search for a patron's entry starts")
			fs.StringVar(&p.Filter, "filter", "(uid={user})", "filter that finds one entry: {user} is what the kiosk sent, {barcode} the patron's barcode")
			durationVar(fs, &p.TimeoutSeconds, "timeout", profiles.DefaultLDAPTimeout, time.Second,
				fmt.Sprintf("bound on one password check, connecting included; whole seconds up to %ds", profiles.MaxLDAPTimeout))
			fs.IntVar(&p.PoolSize, "pool-size", profiles.DefaultLDAPPoolSize, "connections kept open, and so checks run at once")
			return []profileField[L]{
				{"name", func(d, s *L) { d.Name = s.Name }}, {"url", func(d, s *L) { d.URLs = s.URLs }},
				{"start-tls", func(d, s *L) { d.StartTLS = s.StartTLS }}, {"allow-plain", func(d, s *L) { d.AllowPlain = s.AllowPlain }},
				{"ca-file", func(d, s *L) { d.CAFile = s.CAFile }}, {"bind-dn", func(d, s *L) { d.BindDN = s.BindDN }},
				{"bind-password-file", func(d, s *L) { d.BindPasswordFile = s.BindPasswordFile }},
				{"base-dn", func(d, s *L) { d.BaseDN = s.BaseDN }}, {"filter", func(d, s *L) { d.Filter = s.Filter }},
				{"timeout", func(d, s *L) { d.TimeoutSeconds = s.TimeoutSeconds }},
				{"pool-size", func(d, s *L) { d.PoolSize = s.PoolSize }},
			}
		},
	}
}

// ldapLookup binds to a directory with a profile's service account and,
// for a user, finds the entry the filter selects, on a connection of its
// own that is closed after.
func ldapLookup(ctx context.Context, p *profiles.LDAP, user string) (dn, server string, err error) {
	snap := &profiles.Snapshot{LDAP: map[string]*profiles.LDAP{p.Code: p}}
	dir := ldapauth.New(func() *profiles.Snapshot { return snap }, zerolog.Nop())
	defer dir.Close()
	return dir.Lookup(ctx, p.Code, user)
}

// removeLDAP removes a directory no group names, or hands the groups that
// name it to another.
func removeLDAP(ctx context.Context, b *backend, reg *profiles.Registry, code string, o removeOptions) ([]string, error) {
	if o.handTo == code {
		return nil, fmt.Errorf("--hand-to names the profile being removed")
	}
	if o.handTo != "" {
		if _, ok := reg.Current().LDAP[o.handTo]; !ok {
			return nil, fmt.Errorf("--hand-to %s: no LDAP profile %s", o.handTo, o.handTo)
		}
	}
	var using []string
	if err := b.db.View(ctx, func(tx store.Tx) error {
		var err error
		using, err = circ.GroupsUsingDirectory(tx, code)
		return err
	}); err != nil {
		return nil, err
	}
	if len(using) > 0 && o.handTo == "" {
		return nil, fmt.Errorf("LDAP profile %s checks the passwords of groups %s: give --hand-to OTHER, or change their --auth first",
			code, strings.Join(using, ", "))
	}
	var lines []string
	for _, g := range using {
		if err := b.svc.EditGroup(ctx, g, func(gr *store.Group) { gr.Auth = circ.AuthLDAPPrefix + o.handTo }, staffAgent("")); err != nil {
			return lines, err
		}
		lines = append(lines, fmt.Sprintf("group %s: auth ldap:%s", g, o.handTo))
	}
	if err := reg.Remove(ctx, profiles.TypeLDAP, code); err != nil {
		return lines, err
	}
	return lines, nil
}

// ldapTestOptions are the flags of `circa ldap test`.
type ldapTestOptions struct {
	user string
}

func newLDAPTestCommand(a *app) *cobra.Command {
	o := &ldapTestOptions{}
	cmd := &cobra.Command{
		Use:   "test CODE [--user ID]",
		Short: "Bind to a directory with its service account and, with --user, find that user's entry",
		Long: "Connect to the profile's URLs in order, as a password check would (TLS, CA file, timeout), bind with the\n" +
			"service account, and with --user search with the profile's filter ({user} and {barcode} both ID). It\n" +
			"prints the URL that answered and the entry found. No patron password is sent. The exit status is 1 when\n" +
			"the directory cannot be reached or the user is not found.",
		Example: "  circa ldap test campus\n  circa ldap test campus --user jsmith",
		Args:    cobra.ExactArgs(1),
		RunE: a.admin(func(cmd *cobra.Command, args []string) error {
			return a.withProfiles(func(b *backend, reg *profiles.Registry) error {
				p, ok := reg.Current().LDAP[args[0]]
				if !ok {
					return &exitError{code: 1, err: fmt.Errorf("no ldap profile %s", args[0])}
				}
				dn, server, err := ldapLookup(cmd.Context(), p, o.user)
				out := cmd.OutOrStdout()
				if server != "" {
					fmt.Fprintf(out, "connected\t%s\n", server)
				}
				if err != nil {
					if errors.Is(err, circ.ErrDirectoryRejected) {
						err = fmt.Errorf("no entry matches %s for user %q", p.Filter, o.user)
					}
					return &exitError{code: 1, err: err}
				}
				account := "anonymous"
				if p.BindDN != "" {
					account = p.BindDN
				}
				fmt.Fprintf(out, "bound as\t%s\n", account)
				if o.user != "" {
					fmt.Fprintf(out, "entry\t%s\n", dn)
				}
				return nil
			})
		}),
	}
	cmd.Flags().StringVar(&o.user, "user", "", "an identifier to look up with the profile's filter")
	return cmd
}
