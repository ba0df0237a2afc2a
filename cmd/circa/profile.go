package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/circa-ils/circa/profiles"
	"github.com/circa-ils/circa/profiles/initiator"
)

// profileField is one setting a flag edits: its flag is bound to a scratch
// profile, and copy moves the value to the profile being edited when the
// flag was given.
type profileField[T any] struct {
	flag string
	copy func(dst, src *T)
}

// profileKind describes one profile type to the profile commands.
type profileKind[T any] struct {
	typ     string
	title   string
	newDef  func(code string) *T
	bind    func(fs *pflag.FlagSet, p *T) []profileField[T]
	lookup  func(s *profiles.Snapshot, code string) (*T, bool)
	codes   func(s *profiles.Snapshot) []string
	summary func(p *T) string
	// logins says the profile is a login account: show adds its login
	// throttle and unlock clears it.
	logins bool
	// check, when set, proves a profile about to be saved can work (old
	// is the version it replaces, nil for a new one); add, edit and
	// import run it unless --no-check is given.
	check func(ctx context.Context, old, p *T) error
	// remove, when set, removes a profile instead of the registry,
	// handing what it still owes to the profile o.handTo, or dropping it
	// when o.drop; it returns a line to print for each thing handed over
	// or dropped.
	remove func(ctx context.Context, b *backend, reg *profiles.Registry, code string, o removeOptions) ([]string, error)
	// removeHelp and handToHelp explain remove's refusal and --hand-to;
	// dropHelp, when set, offers --drop.
	removeHelp, handToHelp, dropHelp string
}

// removeOptions say what a removed profile's undelivered work becomes.
type removeOptions struct {
	handTo string
	drop   bool
}

// noCheckHelp says what --no-check is for.
const noCheckHelp = "save without checking that the target can be reached and takes files (to prepare a profile before its server or directory exists; runs fail until it does)"

func newProfileCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "profile", Short: "Manage self-check, NCIP partner and remote-storage profiles"}
	cmd.AddCommand(
		profileCommands(a, selfCheckKind()),
		profileCommands(a, ncipKind()),
		profileCommands(a, storageKind()),
	)
	cmd.AddCommand(exchangeCommands(a)...)
	return cmd
}

// withProfiles runs fn with the profile registry of the backend.
func (a *app) withProfiles(fn func(b *backend, reg *profiles.Registry) error) error {
	return a.withBackend(func(b *backend) error {
		reg, err := b.registry(context.Background())
		if err != nil {
			return err
		}
		return fn(b, reg)
	})
}

func profileCommands[T any, PT interface {
	*T
	profiles.Profile
}](a *app, k profileKind[T]) *cobra.Command {
	cmd := &cobra.Command{Use: k.typ, Short: "Manage " + k.title + " profiles"}

	scratch := new(T)
	var fields []profileField[T]
	add := &cobra.Command{
		Use:   "add CODE",
		Short: "Add a " + k.title + " profile",
		Args:  cobra.ExactArgs(1),
		RunE: a.admin(func(cmd *cobra.Command, args []string) error {
			return a.withProfiles(func(b *backend, reg *profiles.Registry) error {
				if _, ok := k.lookup(reg.Current(), args[0]); ok {
					return fmt.Errorf("%s profile %s exists; use edit", k.typ, args[0])
				}
				p := k.newDef(args[0])
				applyChanged(cmd.Flags(), fields, p, scratch)
				if err := save[T, PT](cmd.Context(), reg, p, k.checker(cmd, nil)); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "added %s profile %s\n", k.typ, args[0])
				return nil
			})
		}),
	}
	fields = k.bind(add.Flags(), scratch)

	editScratch := new(T)
	var editFields []profileField[T]
	edit := &cobra.Command{
		Use:   "edit CODE",
		Short: "Change settings of a " + k.title + " profile (only the flags given)",
		Args:  cobra.ExactArgs(1),
		RunE: a.admin(func(cmd *cobra.Command, args []string) error {
			return a.withProfiles(func(b *backend, reg *profiles.Registry) error {
				cur, ok := k.lookup(reg.Current(), args[0])
				if !ok {
					return &exitError{code: 1, err: fmt.Errorf("no %s profile %s", k.typ, args[0])}
				}
				p := new(T)
				*p = *cur
				if applyChanged(cmd.Flags(), editFields, p, editScratch) == 0 {
					return usageError("no setting given to change")
				}
				if err := save[T, PT](cmd.Context(), reg, p, k.checker(cmd, cur)); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "changed %s profile %s\n", k.typ, args[0])
				return nil
			})
		}),
	}
	editFields = k.bind(edit.Flags(), editScratch)

	list := &cobra.Command{
		Use:   "list",
		Short: "List " + k.title + " profiles",
		Args:  cobra.NoArgs,
		RunE: a.admin(func(cmd *cobra.Command, args []string) error {
			return a.withProfiles(func(b *backend, reg *profiles.Registry) error {
				s := reg.Current()
				codes := k.codes(s)
				if len(codes) == 0 {
					fmt.Fprintf(cmd.OutOrStdout(), "no %s profiles\n", k.typ)
					return nil
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				for _, c := range codes {
					p, _ := k.lookup(s, c)
					fmt.Fprintf(tw, "%s\t%s\n", c, k.summary(p))
				}
				return tw.Flush()
			})
		}),
	}
	show := &cobra.Command{
		Use:   "show CODE",
		Short: "Show a " + k.title + " profile (secrets only as hashes)",
		Args:  cobra.ExactArgs(1),
		RunE: a.admin(func(cmd *cobra.Command, args []string) error {
			return a.withProfiles(func(b *backend, reg *profiles.Registry) error {
				p, ok := k.lookup(reg.Current(), args[0])
				if !ok {
					return &exitError{code: 1, err: fmt.Errorf("no %s profile %s", k.typ, args[0])}
				}
				enc := yaml.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent(2)
				if err := enc.Encode(p); err != nil {
					return err
				}
				if err := enc.Close(); err != nil {
					return err
				}
				switch {
				case k.logins && a.server != nil:
					printLogins(cmd.OutOrStdout(), b.svc.Logins().Account(args[0]), b.svc.Now())
				case k.logins:
					fmt.Fprintln(cmd.OutOrStdout(), "# login throttle: kept in the memory of a running server; none runs on this data directory")
				}
				return nil
			})
		}),
	}
	var ro removeOptions
	remove := &cobra.Command{
		Use:   "remove CODE",
		Short: "Remove a " + k.title + " profile",
		Args:  cobra.ExactArgs(1),
		RunE: a.admin(func(cmd *cobra.Command, args []string) error {
			return a.withProfiles(func(b *backend, reg *profiles.Registry) error {
				if k.remove == nil {
					if err := reg.Remove(cmd.Context(), k.typ, args[0]); err != nil {
						return &exitError{code: 1, err: err}
					}
				} else {
					if _, ok := k.lookup(reg.Current(), args[0]); !ok {
						return &exitError{code: 1, err: fmt.Errorf("no %s profile %s", k.typ, args[0])}
					}
					handed, err := k.remove(cmd.Context(), b, reg, args[0], ro)
					if err != nil {
						return &exitError{code: 1, err: err}
					}
					for _, h := range handed {
						fmt.Fprintln(cmd.OutOrStdout(), h)
					}
				}
				fmt.Fprintf(cmd.OutOrStdout(), "removed %s profile %s\n", k.typ, args[0])
				return nil
			})
		}),
	}
	if k.remove != nil {
		remove.Long = k.removeHelp
		remove.Flags().StringVar(&ro.handTo, "hand-to", "", k.handToHelp)
		if k.dropHelp != "" {
			remove.Flags().BoolVar(&ro.drop, "drop", false, k.dropHelp)
			remove.MarkFlagsMutuallyExclusive("hand-to", "drop")
		}
	}
	export := &cobra.Command{
		Use:   "export [FILE]",
		Short: "Write every " + k.title + " profile as YAML (to stdout without FILE)",
		Args:  cobra.MaximumNArgs(1),
		RunE: a.admin(func(cmd *cobra.Command, args []string) error {
			return a.withProfiles(func(b *backend, reg *profiles.Registry) error {
				var w io.Writer = cmd.OutOrStdout()
				if len(args) == 1 {
					f, err := os.OpenFile(a.path(args[0]), os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
					if err != nil {
						return err
					}
					defer f.Close()
					w = f
				}
				return profiles.ExportYAML(w, reg.Current(), k.typ)
			})
		}),
	}
	imp := &cobra.Command{
		Use:   "import FILE",
		Short: "Add or replace " + k.title + " profiles from a YAML file (all or none)",
		Args:  cobra.ExactArgs(1),
		RunE: a.admin(func(cmd *cobra.Command, args []string) error {
			f, err := os.Open(a.path(args[0]))
			if err != nil {
				return err
			}
			defer f.Close()
			ps, err := profiles.ImportYAML(f, k.typ)
			if err == nil {
				err = checkProfileMessages(ps)
			}
			if err != nil {
				return &exitError{code: 1, err: fmt.Errorf("%s: %w", args[0], err)}
			}
			return a.withProfiles(func(b *backend, reg *profiles.Registry) error {
				var errs []error
				for _, p := range ps {
					old, _ := k.lookup(reg.Current(), p.ProfileCode())
					if err := k.checker(cmd, old)(cmd.Context(), p); err != nil {
						errs = append(errs, fmt.Errorf("%s %s: %w", k.typ, p.ProfileCode(), err))
					}
				}
				if err := errors.Join(errs...); err != nil {
					return &exitError{code: 1, err: fmt.Errorf("%s: %w\n(--no-check imports them anyway)", args[0], err)}
				}
				if err := reg.Save(cmd.Context(), ps...); err != nil {
					return &exitError{code: 1, err: err}
				}
				fmt.Fprintf(cmd.OutOrStdout(), "imported %d %s profiles\n", len(ps), k.typ)
				return nil
			})
		}),
	}
	if k.check != nil {
		for _, c := range []*cobra.Command{add, edit, imp} {
			c.Flags().Bool("no-check", false, noCheckHelp)
		}
	}
	cmd.AddCommand(add, edit, list, show, remove, export, imp)
	if k.logins {
		cmd.AddCommand(newSelfCheckUnlockCommand(a))
	}
	return cmd
}

func applyChanged[T any](fs *pflag.FlagSet, fields []profileField[T], dst, src *T) int {
	n := 0
	for _, f := range fields {
		if fs.Changed(f.flag) {
			f.copy(dst, src)
			n++
		}
	}
	return n
}

// checker returns what save runs on a profile that validates: k.check
// against old, unless the kind has none or --no-check was given.
func (k profileKind[T]) checker(cmd *cobra.Command, old *T) func(ctx context.Context, p profiles.Profile) error {
	skip, _ := cmd.Flags().GetBool("no-check")
	return func(ctx context.Context, p profiles.Profile) error {
		if k.check == nil || skip {
			return nil
		}
		t, ok := any(p).(*T)
		if !ok {
			return nil
		}
		return k.check(ctx, old, t)
	}
}

func save[T any, PT interface {
	*T
	profiles.Profile
}](ctx context.Context, reg *profiles.Registry, p *T, check func(context.Context, profiles.Profile) error) error {
	pp := PT(p)
	if err := profiles.Prepare(pp); err != nil {
		return err
	}
	// The check meets only well-formed settings.
	if err := pp.Validate(); err != nil {
		return &exitError{code: 1, err: fmt.Errorf("%s %s: %w", pp.ProfileType(), pp.ProfileCode(), err)}
	}
	if err := check(ctx, pp); err != nil {
		return &exitError{code: 1, err: fmt.Errorf("%s %s: %w (--no-check saves it anyway)", pp.ProfileType(), pp.ProfileCode(), err)}
	}
	if err := reg.Save(ctx, pp); err != nil {
		return &exitError{code: 1, err: err}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func selfCheckKind() profileKind[profiles.SelfCheck] {
	return profileKind[profiles.SelfCheck]{
		typ: profiles.TypeSelfCheck, title: "self-check", logins: true,
		newDef: profiles.NewSelfCheck,
		lookup: func(s *profiles.Snapshot, c string) (*profiles.SelfCheck, bool) {
			p, ok := s.SelfCheck[c]
			return p, ok
		},
		codes: func(s *profiles.Snapshot) []string { return sortedKeys(s.SelfCheck) },
		summary: func(p *profiles.SelfCheck) string {
			return fmt.Sprintf("login %s\tinstitution %s\tlibrary %s\tactive %v", p.Login, p.Institution, p.Library, p.Active)
		},
		bind: func(fs *pflag.FlagSet, p *profiles.SelfCheck) []profileField[profiles.SelfCheck] {
			type S = profiles.SelfCheck
			fs.StringVar(&p.Name, "name", "", "description")
			fs.BoolVar(&p.Active, "active", true, "accept logins")
			fs.StringVar(&p.Login, "login", "", "login id the kiosk sends in 93 (CN); default: the code")
			fs.StringVar(&p.Password, "password", "", "login password (CO); stored hashed (--password-file keeps it off the command line)")
			addSecretFile(fs, "password", "the login password", setFlag(fs, "password"))
			fs.StringVar(&p.Institution, "institution", "", "institution id (AO)")
			fs.StringVar(&p.Library, "library", "", "library the kiosk stands in")
			fs.StringVar(&p.Desk, "desk", "", "circulation desk")
			fs.StringSliceVar(&p.AllowedMessages, "allow", nil, "allowed request codes, e.g. 23,63,11,09 (empty: all)")
			fs.StringVar(&p.Checksum, "checksum", profiles.ChecksumAuto, "AY/AZ error detection: auto, required or off")
			fs.BoolVar(&p.CodePointChecksum, "code-point-checksum", false, "accept checksums computed over characters")
			fs.StringVar(&p.Charset, "charset", profiles.CharsetUTF8, "utf-8, cp850 or iso-8859-1")
			fs.StringVar(&p.Terminator, "terminator", "CR", "CR or CRLF")
			durationVar(fs, &p.TimeoutSeconds, "timeout", 30, time.Second, "timeout reported in 98, whole seconds up to 999s")
			fs.IntVar(&p.Retries, "retries", 3, "retries reported in 98")
			durationVar(fs, &p.RetryWindowSeconds, "retry-window", profiles.DefaultSelfCheckRetryWindow, time.Second,
				"a repeated frame within this long of its answer (and of timeout × retries) is a retry; whole seconds")
			fs.StringVar(&p.DueDateFormat, "due-date-format", profiles.DueSIP2, "AH format: sip2, iso or date")
			fs.BoolVar(&p.StatusBeforeLogin, "status-before-login", false, "answer 99 before 93")
			fs.BoolVar(&p.OwnItemRenews, "own-item-renews", true, "a checkout of the patron's own item renews it")
			fs.BoolVar(&p.CheckinNotOnLoanOK, "checkin-not-on-loan-ok", false, "answer ok to the checkin of an item not on loan")
			fs.BoolVar(&p.HeldItemsBlockCheckin, "held-items-block-checkin", false, "answer ok=0 when a hold wants the returned item")
			fs.StringVar(&p.SortBin, "sort-bin", profiles.SortByDestination, "CL rule: destination, hold, location or media")
			fs.StringToStringVar(&p.SortBins, "sort-bins", nil, "value=bin pairs mapping destinations, HOLD, locations or media types to bins")
			fs.BoolVar(&p.RequirePIN, "require-pin", false, "refuse patron operations without a correct PIN")
			fs.BoolVar(&p.HideRefusalDetails, "hide-refusal-details", false, "leave amounts, counts and dates out of refusal screen messages")
			fs.BoolVar(&p.ShowBlockNote, "show-block-note", false, "show the note staff wrote on a patron's block in the refusal screen message")
			fs.BoolVar(&p.RequireClientCert, "require-client-cert", false, "refuse logins without a client certificate naming this profile")
			return []profileField[S]{
				{"name", func(d, s *S) { d.Name = s.Name }}, {"active", func(d, s *S) { d.Active = s.Active }},
				{"login", func(d, s *S) { d.Login = s.Login }}, {"password", func(d, s *S) { d.Password = s.Password }},
				{"institution", func(d, s *S) { d.Institution = s.Institution }}, {"library", func(d, s *S) { d.Library = s.Library }},
				{"desk", func(d, s *S) { d.Desk = s.Desk }}, {"allow", func(d, s *S) { d.AllowedMessages = s.AllowedMessages }},
				{"checksum", func(d, s *S) { d.Checksum = s.Checksum }},
				{"code-point-checksum", func(d, s *S) { d.CodePointChecksum = s.CodePointChecksum }},
				{"charset", func(d, s *S) { d.Charset = strings.ToLower(s.Charset) }},
				{"terminator", func(d, s *S) { d.Terminator = strings.ToUpper(s.Terminator) }},
				{"timeout", func(d, s *S) { d.TimeoutSeconds = s.TimeoutSeconds }}, {"retries", func(d, s *S) { d.Retries = s.Retries }},
				{"retry-window", func(d, s *S) { d.RetryWindowSeconds = s.RetryWindowSeconds }},
				{"due-date-format", func(d, s *S) { d.DueDateFormat = s.DueDateFormat }},
				{"status-before-login", func(d, s *S) { d.StatusBeforeLogin = s.StatusBeforeLogin }},
				{"own-item-renews", func(d, s *S) { d.OwnItemRenews = s.OwnItemRenews }},
				{"checkin-not-on-loan-ok", func(d, s *S) { d.CheckinNotOnLoanOK = s.CheckinNotOnLoanOK }},
				{"held-items-block-checkin", func(d, s *S) { d.HeldItemsBlockCheckin = s.HeldItemsBlockCheckin }},
				{"sort-bin", func(d, s *S) { d.SortBin = s.SortBin }}, {"sort-bins", func(d, s *S) { d.SortBins = s.SortBins }},
				{"require-pin", func(d, s *S) { d.RequirePIN = s.RequirePIN }},
				{"hide-refusal-details", func(d, s *S) { d.HideRefusalDetails = s.HideRefusalDetails }},
				{"show-block-note", func(d, s *S) { d.ShowBlockNote = s.ShowBlockNote }},
				{"require-client-cert", func(d, s *S) { d.RequireClientCert = s.RequireClientCert }},
			}
		},
	}
}

func bindAuth[T any](fs *pflag.FlagSet, auth *profiles.NCIPAuth, get func(*T) *profiles.NCIPAuth) []profileField[T] {
	fs.StringVar(&auth.APIKey, "api-key", "", "API key the caller sends (X-API-Key, bearer token or /ncip/KEY); stored hashed (--api-key-file keeps it off the command line)")
	addSecretFile(fs, "api-key", "the API key", setFlag(fs, "api-key"))
	fs.StringSliceVar((*[]string)(&auth.AllowIPs), "allow-ip", nil, "IP addresses or prefixes allowed to call (empty: any)")
	fs.BoolVar(&auth.ClientCert, "client-cert", false, "require a TLS client certificate naming this profile")
	fs.StringVar(&auth.SharedSecret, "shared-secret", "", "FromAgencyAuthentication secret; stored hashed (--shared-secret-file keeps it off the command line)")
	addSecretFile(fs, "shared-secret", "the shared secret", setFlag(fs, "shared-secret"))
	return []profileField[T]{
		{"api-key", func(d, s *T) { get(d).APIKey = get(s).APIKey }},
		{"allow-ip", func(d, s *T) { get(d).AllowIPs = get(s).AllowIPs }},
		{"client-cert", func(d, s *T) { get(d).ClientCert = get(s).ClientCert }},
		{"shared-secret", func(d, s *T) { get(d).SharedSecret = get(s).SharedSecret }},
	}
}

func bindCompat[T any](fs *pflag.FlagSet, c *profiles.NCIPCompat, get func(*T) *profiles.NCIPCompat) []profileField[T] {
	fs.BoolVar(&c.BareVersion, "compat-bare-version", false, "write version= without the ncip: prefix")
	fs.BoolVar(&c.NoNamespace, "compat-no-namespace", false, "write responses without the NCIP namespace")
	fs.BoolVar(&c.ExactProblem, "compat-exact-problem", false, "write Problem types exactly as legacy partners expect")
	return []profileField[T]{
		{"compat-bare-version", func(d, s *T) { get(d).BareVersion = get(s).BareVersion }},
		{"compat-no-namespace", func(d, s *T) { get(d).NoNamespace = get(s).NoNamespace }},
		{"compat-exact-problem", func(d, s *T) { get(d).ExactProblem = get(s).ExactProblem }},
	}
}

func ncipKind() profileKind[profiles.NCIPPartner] {
	type N = profiles.NCIPPartner
	return profileKind[N]{
		typ: profiles.TypeNCIP, title: "NCIP partner",
		newDef: profiles.NewNCIPPartner,
		lookup: func(s *profiles.Snapshot, c string) (*N, bool) { p, ok := s.NCIP[c]; return p, ok },
		codes:  func(s *profiles.Snapshot) []string { return sortedKeys(s.NCIP) },
		summary: func(p *N) string {
			return fmt.Sprintf("agencies %s\tlibrary %s\tactive %v", strings.Join(p.AgencyIDs, ","), p.Library, p.Active)
		},
		bind: func(fs *pflag.FlagSet, p *N) []profileField[N] {
			fs.StringVar(&p.Name, "name", "", "description")
			fs.BoolVar(&p.Active, "active", true, "accept requests")
			fs.StringSliceVar(&p.AgencyIDs, "agency", nil, "the partner's agency ids")
			fs.StringVar(&p.LocalAgency, "local-agency", "", "the agency id this library answers as")
			fs.StringVar(&p.LendingPatron, "lending-patron", "", "institutional patron that items lent to the partner are checked out to")
			fs.StringVar(&p.Library, "library", "", "library the partner's operations happen at")
			fs.StringVar(&p.PickupLibrary, "pickup-library", "", "library where borrowed items wait for patrons")
			fs.StringSliceVar(&p.Services, "services", nil, "allowed services (empty: all)")
			durationVar(fs, &p.RetryWindowSeconds, "retry-window", profiles.DefaultNCIPRetryWindow, time.Second,
				"how long after its answer a repeated request (same service and request id) is a retry; whole seconds")
			fields := []profileField[N]{
				{"retry-window", func(d, s *N) { d.RetryWindowSeconds = s.RetryWindowSeconds }},
				{"name", func(d, s *N) { d.Name = s.Name }}, {"active", func(d, s *N) { d.Active = s.Active }},
				{"agency", func(d, s *N) { d.AgencyIDs = s.AgencyIDs }}, {"local-agency", func(d, s *N) { d.LocalAgency = s.LocalAgency }},
				{"lending-patron", func(d, s *N) { d.LendingPatron = s.LendingPatron }}, {"library", func(d, s *N) { d.Library = s.Library }},
				{"pickup-library", func(d, s *N) { d.PickupLibrary = s.PickupLibrary }}, {"services", func(d, s *N) { d.Services = s.Services }},
			}
			fields = append(fields, bindAuth(fs, &p.Auth, func(n *N) *profiles.NCIPAuth { return &n.Auth })...)
			return append(fields, bindCompat(fs, &p.Compat, func(n *N) *profiles.NCIPCompat { return &n.Compat })...)
		},
	}
}

func storageKind() profileKind[profiles.Storage] {
	type S = profiles.Storage
	return profileKind[S]{
		typ: profiles.TypeStorage, title: "remote-storage",
		newDef: profiles.NewStorage,
		remove: func(ctx context.Context, b *backend, reg *profiles.Registry, code string, o removeOptions) ([]string, error) {
			ms, err := initiator.Remove(ctx, b.db, reg, code, initiator.RemoveOptions{HandTo: o.handTo, Drop: o.drop, Now: b.svc.Now()})
			var lines []string
			for _, m := range ms {
				lines = append(lines, fmt.Sprintf("%s of request %d: %s", m.Kind, m.Request, m.Outcome()))
			}
			return lines, err
		},
		removeHelp: "Remove refuses a facility that takes requests online while its outbox holds messages the facility has not\n" +
			"answered (RequestItem, CancelRequestItem), saying how many: nothing else would send them. --hand-to OTHER\n" +
			"moves them, in order, to another online profile of the same facility and library, which sends them with\n" +
			"the same RequestId; --drop gives them up, each noted on its retrieval and listed by circa storage report.",
		handToHelp: "online storage profile of the same facility and library that takes over the unanswered messages",
		dropHelp:   "give the unanswered messages up (each is recorded as dropped and listed by circa storage report)",
		lookup:     func(s *profiles.Snapshot, c string) (*S, bool) { p, ok := s.Storage[c]; return p, ok },
		codes:      func(s *profiles.Snapshot) []string { return sortedKeys(s.Storage) },
		summary: func(p *S) string {
			return fmt.Sprintf("facility %s\tlocations %s\tagencies %s\tactive %v", p.Facility, strings.Join(p.Locations, ","), strings.Join(p.AgencyIDs, ","), p.Active)
		},
		bind: func(fs *pflag.FlagSet, p *S) []profileField[S] {
			fs.StringVar(&p.Name, "name", "", "description")
			fs.BoolVar(&p.Active, "active", true, "accept requests")
			fs.StringSliceVar(&p.AgencyIDs, "agency", nil, "the facility's agency ids")
			fs.StringVar(&p.LocalAgency, "local-agency", "", "the agency id this library answers as")
			fs.StringVar(&p.Facility, "facility", "", "facility code named by remote-storage locations")
			fs.StringSliceVar(&p.Locations, "locations", nil, "remote-storage locations the facility serves")
			fs.StringVar(&p.Library, "library", "", "library that receives retrieved items")
			fs.StringVar(&p.Desk, "desk", "", "desk that receives retrieved items")
			fs.IntVar(&p.StaleDays, "stale-days", 3, "report requests not retrieved after this many days")
			fields := []profileField[S]{
				{"name", func(d, s *S) { d.Name = s.Name }}, {"active", func(d, s *S) { d.Active = s.Active }},
				{"agency", func(d, s *S) { d.AgencyIDs = s.AgencyIDs }}, {"local-agency", func(d, s *S) { d.LocalAgency = s.LocalAgency }},
				{"facility", func(d, s *S) { d.Facility = s.Facility }}, {"locations", func(d, s *S) { d.Locations = s.Locations }},
				{"library", func(d, s *S) { d.Library = s.Library }}, {"desk", func(d, s *S) { d.Desk = s.Desk }},
				{"stale-days", func(d, s *S) { d.StaleDays = s.StaleDays }},
			}
			fields = append(fields, bindOnline(fs, p)...)
			fields = append(fields, bindAuth(fs, &p.Auth, func(n *S) *profiles.NCIPAuth { return &n.Auth })...)
			return append(fields, bindCompat(fs, &p.Compat, func(n *S) *profiles.NCIPCompat { return &n.Compat })...)
		},
	}
}

// bindOnline binds the settings of a facility that takes requests online.
// Each change copies the settings, which the registry's snapshot shares;
// --online-url "" turns requests online off.
func bindOnline(fs *pflag.FlagSet, p *profiles.Storage) []profileField[profiles.Storage] {
	type S = profiles.Storage
	p.Online = &profiles.StorageOnline{}
	o := p.Online
	fs.StringVar(&o.URL, "online-url", "", "the facility's NCIP endpoint: circa sends it RequestItem and CancelRequestItem (\"\" turns this off)")
	fs.StringVar(&o.APIKeyFile, "online-api-key-file", "", "file whose first line is the key sent to the facility as X-API-Key")
	fs.StringVar(&o.ClientCertFile, "online-client-cert", "", "PEM client certificate presented to the facility")
	fs.StringVar(&o.ClientKeyFile, "online-client-key", "", "PEM key of --online-client-cert")
	fs.StringVar(&o.CAFile, "online-ca-file", "", "PEM certificates the facility's server certificate must chain to (default: the system's)")
	durationVar(fs, &o.TimeoutSeconds, "online-timeout", profiles.DefaultStorageTimeout, time.Second, "bound on one exchange with the facility; whole seconds")
	fs.BoolVar(&o.PatronDetails, "online-patron-details", false, "send the patron's barcode as UserId (default: the pickup library)")
	online := func(d *S) *profiles.StorageOnline {
		var c profiles.StorageOnline
		if d.Online != nil {
			c = *d.Online
		}
		d.Online = &c
		return d.Online
	}
	return []profileField[S]{
		{"online-api-key-file", func(d, s *S) { online(d).APIKeyFile = s.Online.APIKeyFile }},
		{"online-client-cert", func(d, s *S) { online(d).ClientCertFile = s.Online.ClientCertFile }},
		{"online-client-key", func(d, s *S) { online(d).ClientKeyFile = s.Online.ClientKeyFile }},
		{"online-ca-file", func(d, s *S) { online(d).CAFile = s.Online.CAFile }},
		{"online-timeout", func(d, s *S) { online(d).TimeoutSeconds = s.Online.TimeoutSeconds }},
		{"online-patron-details", func(d, s *S) { online(d).PatronDetails = s.Online.PatronDetails }},
		{"online-url", func(d, s *S) {
			if s.Online.URL == "" {
				d.Online = nil
				return
			}
			online(d).URL = s.Online.URL
		}},
	}
}
