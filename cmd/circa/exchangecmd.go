package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/circa-ils/circa/profiles"
	"github.com/circa-ils/circa/profiles/delivery"
	fx "github.com/circa-ils/circa/profiles/exchange"
)

// exchangeCommands are the file-exchange profile types and the commands
// that run them and show their history.
func exchangeCommands(a *app) []*cobra.Command {
	return []*cobra.Command{
		profileCommands(a, exchangeKind(profiles.TypeBursar, "bursar")),
		profileCommands(a, exchangeKind(profiles.TypeUsers, "student information system")),
		profileCommands(a, exchangeKind(profiles.TypeRequests, "remote-storage request")),
		profileCommands(a, exchangeKind(profiles.TypeSMS, "SMS notice")),
		newProfileRunCommand(a),
		newProfileHistoryCommand(a),
	}
}

type exchangeRunOptions struct {
	dryRun bool
	files  []string
	resend uint64
}

func newProfileRunCommand(a *app) *cobra.Command {
	o := &exchangeRunOptions{}
	cmd := &cobra.Command{
		Use:   "run CODE",
		Short: "Run a file-exchange profile now (also one stopped by a permanent error)",
		Long: "Run delivers what earlier runs left unsent, builds and sends new files, and collects the partner's files.\n" +
			"With --file, the named local files are imported instead of collecting. --dry-run prints what importing\n" +
			"them, or the partner's waiting files, would change, and changes nothing here or on the server.\n" +
			"--resend RUN delivers the files of that past run (see history -v) again, unchanged and under their names,\n" +
			"and does nothing else; a profile keeps the content of its last " + strconv.Itoa(fx.KeptFiles) + " delivered files,\n" +
			"up to " + strconv.Itoa(fx.KeptBytes>>20) + " MiB.",
		Args: cobra.ExactArgs(1),
		// A run can touch thousands of patrons or fees: one audit entry
		// with its counts.
		Annotations: map[string]string{auditSummary: ""},
		RunE: a.admin(func(cmd *cobra.Command, args []string) error {
			if o.resend > 0 && (o.dryRun || len(o.files) > 0) {
				return usageError("--resend goes alone, without --dry-run or --file")
			}
			for i, f := range o.files {
				o.files[i] = a.path(f)
			}
			return a.withProfiles(func(b *backend, reg *profiles.Registry) error {
				return runExchange(cmd, a, b, reg, args[0], o)
			})
		}),
	}
	cmd.Flags().BoolVar(&o.dryRun, "dry-run", false, "print what an import would change; change nothing")
	cmd.Flags().StringSliceVar(&o.files, "file", nil, "local file to import instead of collecting from the target (repeatable)")
	cmd.Flags().Uint64Var(&o.resend, "resend", 0, "deliver the files of this past run again")
	return cmd
}

func runExchange(cmd *cobra.Command, a *app, b *backend, reg *profiles.Registry, code string, o *exchangeRunOptions) error {
	out := cmd.OutOrStdout()
	bar := newProgressBar(a.errOut)
	s, err := fx.NewScheduler(fx.Options{DB: b.db, Circ: b.svc, Registry: reg, Dir: fx.DataDir(b.dataDir),
		Logger: a.log, Progress: bar.update, Observer: b.exchangeObserver})
	if err != nil {
		return err
	}
	run, err := s.RunNow(cmd.Context(), code, fx.RunOptions{DryRun: o.dryRun, Files: o.files, Resend: o.resend,
		Out: func(line string) { fmt.Fprintln(out, line) }})
	bar.done()
	if errors.Is(err, fx.ErrUnknownProfile) {
		return &exitError{code: 1, err: err}
	}
	if !o.dryRun && run.ID != 0 {
		entry := struct {
			Run        uint64 `json:"run"`
			Trigger    string `json:"trigger"`
			Result     string `json:"result"`
			Records    int    `json:"records"`
			Files      int    `json:"files"`
			Exceptions int    `json:"exceptions"`
		}{run.ID, run.Trigger, run.Result, run.Records, len(run.Files), len(run.Exceptions)}
		if aerr := b.db.RecordAudit(cmd.Context(), "exchange run", code, code, entry); aerr != nil {
			return aerr
		}
	}
	if !o.dryRun {
		printRun(out, run)
	}
	if err != nil {
		return &exitError{code: 1, err: fmt.Errorf("profile %s: %w", code, err)}
	}
	return nil
}

func printRun(w io.Writer, r fx.Run) {
	fmt.Fprintf(w, "run %d: %s, %d records, %d files", r.ID, r.Result, r.Records, len(r.Files))
	if len(r.Exceptions) > 0 {
		fmt.Fprintf(w, ", %d exceptions", len(r.Exceptions))
	}
	fmt.Fprintln(w)
	for _, f := range r.Files {
		fmt.Fprintln(w, "  file "+f)
	}
	for _, x := range r.Exceptions {
		fmt.Fprintln(w, "  exception "+x)
	}
	for _, rep := range r.Reports {
		fmt.Fprintln(w, "  report "+rep)
	}
}

func newProfileHistoryCommand(a *app) *cobra.Command {
	var verbose bool
	cmd := &cobra.Command{
		Use:   "history CODE",
		Short: "List the past runs of a file-exchange profile, newest first",
		Args:  cobra.ExactArgs(1),
		RunE: a.admin(func(cmd *cobra.Command, args []string) error {
			return a.withProfiles(func(b *backend, reg *profiles.Registry) error {
				code := args[0]
				if _, ok := reg.Current().Exchange[code]; !ok {
					return &exitError{code: 1, err: fmt.Errorf("%w: %s", fx.ErrUnknownProfile, code)}
				}
				runs, err := fx.History(cmd.Context(), b.db, code)
				if err != nil {
					return err
				}
				st, err := fx.ProfileStatus(cmd.Context(), b.db, code)
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				if st.Stopped != "" {
					fmt.Fprintf(out, "STOPPED by a permanent error (run it by hand once fixed): %s\n", st.Stopped)
				}
				for _, p := range st.Pending {
					fmt.Fprintln(out, "pending "+p)
				}
				if len(runs) == 0 {
					fmt.Fprintf(out, "no runs of %s yet\n", code)
					return nil
				}
				loc := b.zone(cmd.Context(), reg.Current().Exchange[code].Library)
				tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "RUN\tSTARTED\tTRIGGER\tRESULT\tRECORDS\tFILES\tEXCEPTIONS\tERROR")
				for _, r := range runs {
					fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%d\t%d\t%s\n", r.ID, r.Started.In(loc).Format("2006-01-02 15:04:05"),
						r.Trigger, r.Result, r.Records, len(r.Files), len(r.Exceptions), oneLine(r.Error))
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				if verbose {
					for _, r := range runs {
						fmt.Fprintln(out)
						printRun(out, r)
					}
				}
				return nil
			})
		}),
	}
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "also list each run's files and exceptions")
	return cmd
}

// progressBar draws an import's progress on a terminal; it draws nothing
// when stderr is not one (a pipe, a file, the admin socket).
type progressBar struct {
	w     io.Writer
	tty   bool
	last  time.Time
	drawn bool
}

func newProgressBar(w io.Writer) *progressBar {
	f, ok := w.(*os.File)
	tty := false
	if ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	return &progressBar{w: w, tty: tty}
}

func (p *progressBar) update(profile string, done, total int) {
	if !p.tty || total == 0 || done < total && time.Since(p.last) < 100*time.Millisecond {
		return
	}
	p.last = time.Now()
	const width = 30
	n := done * width / total
	fmt.Fprintf(p.w, "\r%s [%s%s] %d/%d", profile, strings.Repeat("#", n), strings.Repeat(".", width-n), done, total)
	p.drawn = true
}

func (p *progressBar) done() {
	if p.drawn {
		fmt.Fprintln(p.w)
	}
}

// exchangeKind describes one file-exchange profile type to the generic
// profile commands.
func exchangeKind(typ, title string) profileKind[profiles.Exchange] {
	type E = profiles.Exchange
	return profileKind[E]{
		typ: typ, title: title,
		newDef: func(code string) *E { return profiles.NewExchange(typ, code) },
		lookup: func(s *profiles.Snapshot, c string) (*E, bool) {
			p, ok := s.Exchange[c]
			if !ok || p.Type != typ {
				return nil, false
			}
			return p, true
		},
		codes: func(s *profiles.Snapshot) []string {
			var out []string
			for c, p := range s.Exchange {
				if p.Type == typ {
					out = append(out, c)
				}
			}
			sort.Strings(out)
			return out
		},
		summary: func(p *E) string {
			return fmt.Sprintf("%s\ttarget %s\tlibrary %s\tactive %v", p.Schedule, p.Target, p.Library, p.Active)
		},
		bind: func(fs *pflag.FlagSet, p *E) []profileField[E] {
			p.Type = typ
			p.Defaults()
			return bindExchange(fs, p, typ)
		},
		// An edit that leaves where files go alone needs no check.
		check: func(ctx context.Context, old, p *E) error {
			if old != nil && old.Target == p.Target && old.ImportTarget() == p.ImportTarget() &&
				old.ImportPattern() == p.ImportPattern() {
				return nil
			}
			return fx.CheckTargets(ctx, p)
		},
		remove: func(ctx context.Context, b *backend, reg *profiles.Registry, code string, o removeOptions) ([]string, error) {
			s, err := fx.NewScheduler(fx.Options{DB: b.db, Circ: b.svc, Registry: reg, Dir: fx.DataDir(b.dataDir)})
			if err != nil {
				return nil, err
			}
			moved, err := s.Remove(ctx, code, o.handTo)
			var lines []string
			for _, name := range moved {
				lines = append(lines, "handed "+name+" to "+o.handTo)
			}
			return lines, err
		},
		removeHelp: "Remove refuses a profile whose outbox holds files not yet delivered, naming them: their records are\n" +
			"marked exported and reach the partner only through those files. --hand-to OTHER moves them to another\n" +
			"profile of the same type, which delivers them, unchanged and under their names, at its next run.",
		handToHelp: "profile of the same type that takes over the undelivered files",
	}
}

func bindExchange(fs *pflag.FlagSet, p *profiles.Exchange, typ string) []profileField[profiles.Exchange] {
	type E = profiles.Exchange
	fs.StringVar(&p.Name, "name", "", "description")
	fs.BoolVar(&p.Active, "active", true, "run on the schedule")
	fs.StringVar(&p.Library, "library", "", "library whose time zone reads the schedule")
	durationVar(fs, &p.Schedule.EveryMinutes, "every", 0, time.Minute, "run every this long, whole minutes, e.g. 15m or 2h (instead of --at)")
	fs.StringVar(&p.Schedule.At, "at", "02:00", "run daily at HH:MM, library time")
	fs.StringVar(&p.Schedule.Weekday, "weekday", "", "with --at, run weekly on this day (monday … sunday)")
	fs.StringVar((*string)(&p.Target.Kind), "target", string(delivery.KindSFTP), "transfer: sftp, or local (a directory)")
	fs.StringVar(&p.Target.Host, "host", "", "SFTP host")
	fs.IntVar(&p.Target.Port, "port", delivery.DefaultPort, "SFTP port")
	fs.StringVar(&p.Target.User, "user", "", "SFTP user")
	fs.StringVar(&p.Target.PrivateKey, "private-key", "", "path of the SSH private key file")
	fs.StringVar(&p.Target.KnownHosts, "known-hosts", "", "pinned host key, a known_hosts line")
	fs.StringVar(&p.Target.RemoteDir, "remote-dir", "", "directory on the SFTP server files are delivered to")
	fs.StringVar(&p.Target.LocalDir, "local-dir", "", "absolute directory files are delivered to (local target)")
	fs.StringVar(&p.ImportDir, "import-dir", "", "directory partner files are picked up from (default: the delivery directory)")
	fs.IntVar(&p.MaxRecords, "max-records", 0, fmt.Sprintf("records per file (0: %d)", profiles.DefaultMaxRecords))
	fields := []profileField[E]{
		{"name", func(d, s *E) { d.Name = s.Name }}, {"active", func(d, s *E) { d.Active = s.Active }},
		{"library", func(d, s *E) { d.Library = s.Library }},
		{"every", func(d, s *E) {
			d.Schedule.EveryMinutes = s.Schedule.EveryMinutes
			d.Schedule.At, d.Schedule.Weekday = "", ""
		}},
		{"at", func(d, s *E) { d.Schedule.At, d.Schedule.EveryMinutes = s.Schedule.At, 0 }},
		{"weekday", func(d, s *E) { d.Schedule.Weekday = s.Schedule.Weekday }},
		{"target", func(d, s *E) { d.Target.Kind = s.Target.Kind }},
		{"host", func(d, s *E) { d.Target.Host = s.Target.Host }}, {"port", func(d, s *E) { d.Target.Port = s.Target.Port }},
		{"user", func(d, s *E) { d.Target.User = s.Target.User }},
		{"private-key", func(d, s *E) { d.Target.PrivateKey = s.Target.PrivateKey }},
		{"known-hosts", func(d, s *E) { d.Target.KnownHosts = s.Target.KnownHosts }},
		{"remote-dir", func(d, s *E) { d.Target.RemoteDir = s.Target.RemoteDir }},
		{"local-dir", func(d, s *E) { d.Target.LocalDir = s.Target.LocalDir }},
		{"import-dir", func(d, s *E) { d.ImportDir = s.ImportDir }},
		{"max-records", func(d, s *E) { d.MaxRecords = s.MaxRecords }},
	}
	// Settings blocks are shared with the registry's snapshot: each change
	// goes to a copy.
	switch typ {
	case profiles.TypeBursar:
		b := p.Bursar
		own := func(d *E) *profiles.BursarSettings { c := *d.Bursar; d.Bursar = &c; return d.Bursar }
		fs.StringSliceVar(&b.FeeTypes, "fee-types", nil, "SIP2 fee types exported, e.g. 04,07 (empty: all)")
		fs.StringSliceVar(&b.Libraries, "libraries", nil, "libraries whose fees are exported (empty: all)")
		fs.Int64Var(&b.MinAmount, "min-amount", 0, "smallest balance exported, in minor units (cents)")
		fs.StringVar(&b.IdentifierType, "identifier-type", "barcode", "patron identifier the bursar knows users by")
		fs.StringVar(&b.ImportPattern, "import-pattern", "", "bursar payment files to import, e.g. 'payments_*.xml' (empty: none)")
		fields = append(fields,
			profileField[E]{"fee-types", func(d, s *E) { own(d).FeeTypes = s.Bursar.FeeTypes }},
			profileField[E]{"libraries", func(d, s *E) { own(d).Libraries = s.Bursar.Libraries }},
			profileField[E]{"min-amount", func(d, s *E) { own(d).MinAmount = s.Bursar.MinAmount }},
			profileField[E]{"identifier-type", func(d, s *E) { own(d).IdentifierType = s.Bursar.IdentifierType }},
			profileField[E]{"import-pattern", func(d, s *E) { own(d).ImportPattern = s.Bursar.ImportPattern }})
	case profiles.TypeUsers:
		u := p.Users
		own := func(d *E) *profiles.UsersSettings { c := *d.Users; d.Users = &c; return d.Users }
		fs.StringVar(&u.MatchIdentifier, "match-identifier", "barcode", "identifier type users are matched on")
		fs.BoolVar(&u.AddNew, "add-new", false, "add users circa does not know (otherwise reject them)")
		fs.StringVar(&u.HomeLibrary, "home-library", "", "home library of new users whose file names none")
		fs.StringVar(&u.ImportPattern, "import-pattern", "", "SIS files to import, e.g. 'users_*.xml' (empty: none)")
		fs.BoolVar(&u.Export, "export", false, "send changed users and their blocks back")
		var groups map[string]string
		fs.StringToStringVar(&groups, "group-map", nil, "FILE=GROUP: the file's user group FILE becomes patron group GROUP; once any is mapped, users of unmapped groups are reported and left unchanged (repeatable; FILE= removes one)")
		fields = append(fields,
			profileField[E]{"group-map", func(d, s *E) {
				users := own(d)
				merged := maps.Clone(users.Groups)
				if merged == nil {
					merged = map[string]string{}
				}
				for from, to := range groups {
					if to == "" {
						delete(merged, from)
					} else {
						merged[from] = to
					}
				}
				users.Groups = merged
			}},
			profileField[E]{"match-identifier", func(d, s *E) { own(d).MatchIdentifier = s.Users.MatchIdentifier }},
			profileField[E]{"add-new", func(d, s *E) { own(d).AddNew = s.Users.AddNew }},
			profileField[E]{"home-library", func(d, s *E) { own(d).HomeLibrary = s.Users.HomeLibrary }},
			profileField[E]{"import-pattern", func(d, s *E) { own(d).ImportPattern = s.Users.ImportPattern }},
			profileField[E]{"export", func(d, s *E) { own(d).Export = s.Users.Export }})
	case profiles.TypeRequests:
		r := p.Requests
		own := func(d *E) *profiles.RequestsSettings { c := *d.Requests; d.Requests = &c; return d.Requests }
		fs.StringVar(&r.Facility, "facility", "", "facility whose retrieval requests are sent")
		fs.BoolVar(&r.PatronDetails, "patron-details", false, "include the requester's name, barcode and e-mail")
		fs.BoolVar(&r.Cancellations, "cancellations", false, "also send withdrawn requests as requestType CANCEL (Alma's export has none)")
		fields = append(fields,
			profileField[E]{"facility", func(d, s *E) { own(d).Facility = s.Requests.Facility }},
			profileField[E]{"patron-details", func(d, s *E) { own(d).PatronDetails = s.Requests.PatronDetails }},
			profileField[E]{"cancellations", func(d, s *E) { own(d).Cancellations = s.Requests.Cancellations }})
	case profiles.TypeSMS:
		m := p.SMS
		own := func(d *E) *profiles.SMSSettings { c := *d.SMS; d.SMS = &c; return d.SMS }
		var templates map[string]string
		fs.StringSliceVar(&m.Notices, "notices", nil, "notices sent: "+strings.Join(profiles.NoticeKinds, ",")+" (empty: all)")
		fs.IntVar(&m.CourtesyDays, "courtesy-days", 2, "days before the due date a courtesy notice goes out")
		fs.StringVar(&m.DefaultLanguage, "default-language", "eng", "language whose templates serve patrons without their own")
		fs.StringToStringVar(&templates, "template", nil, "LANG/KIND=TEXT, a text/template in place of circa's own, e.g. 'eng/fee=You owe {{.Amount}} {{.Currency}}.' (repeatable)")
		fields = append(fields,
			profileField[E]{"notices", func(d, s *E) { own(d).Notices = s.SMS.Notices }},
			profileField[E]{"courtesy-days", func(d, s *E) { own(d).CourtesyDays = s.SMS.CourtesyDays }},
			profileField[E]{"default-language", func(d, s *E) { own(d).DefaultLanguage = s.SMS.DefaultLanguage }},
			profileField[E]{"template", func(d, s *E) {
				sms := own(d)
				merged := map[string]map[string]string{}
				for lang, set := range sms.Templates {
					merged[lang] = map[string]string{}
					for k, v := range set {
						merged[lang][k] = v
					}
				}
				for key, body := range templates {
					lang, kind, _ := strings.Cut(key, "/")
					if merged[lang] == nil {
						merged[lang] = map[string]string{}
					}
					merged[lang][kind] = body
				}
				sms.Templates = merged
			}})
	}
	return fields
}
