package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/circa-ils/circa/store"
)

// auditSummary marks a bulk command (an import, a file-exchange run): it
// records one audit entry with its counts instead of one per record.
const auditSummary = "audit-summary"

// localActor is the user running this process.
func localActor() store.Actor { return actorOfUID(os.Getuid(), store.ViaCommandLine) }

// actorOfUID names a user id; the id alone stands when it has no name.
func actorOfUID(uid int, via string) store.Actor {
	id := strconv.Itoa(uid)
	a := store.Actor{UID: id, Via: via}
	if u, err := user.LookupId(id); err == nil {
		a.User = u.Username
	}
	return a
}

func newAuditCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "List the changes made through the command line, and how long they are kept"}
	var since, until, patron, profile, kind string
	var asJSON bool
	list := &cobra.Command{
		Use:   "list [--since T] [--until T] [--patron BARCODE] [--profile CODE] [--kind K] [--json]",
		Short: "List audit entries, oldest first, times in the library's zone",
		Long: `List the audit trail: who changed what through the command line or the admin socket, and
when. --since and --until take a date (2026-03-01), a date and time (2026-03-01 14:30,
in the library's time zone) or an RFC 3339 time, or a duration back from now (36h, 7d).
Kinds are the records' (patron, fee, loan, item, profile, rules, library, setting …) and
the runs' (import, exchange run, seed, certificate).`,
		Args: cobra.NoArgs,
		RunE: a.admin(func(cmd *cobra.Command, args []string) error {
			return a.withBackend(func(b *backend) error {
				zone := b.zone(cmd.Context(), "")
				f := store.AuditFilter{Patron: patron, Profile: profile, Kind: kind}
				var err error
				if f.Since, err = parseAuditTime("--since", since, zone); err != nil {
					return err
				}
				if f.Until, err = parseAuditTime("--until", until, zone); err != nil {
					return err
				}
				var entries []store.AuditEntry
				err = b.db.View(cmd.Context(), func(tx store.Tx) error {
					return tx.ForEachAudit(f, func(e store.AuditEntry) bool {
						entries = append(entries, e)
						return true
					})
				})
				if err != nil {
					return err
				}
				if asJSON {
					if entries == nil {
						entries = []store.AuditEntry{}
					}
					return printJSON(cmd.OutOrStdout(), entries)
				}
				printAudit(cmd.OutOrStdout(), entries, zone)
				return nil
			})
		}),
	}
	fl := list.Flags()
	fl.StringVar(&since, "since", "", "entries from this time on")
	fl.StringVar(&until, "until", "", "entries before this time")
	fl.StringVar(&patron, "patron", "", "entries about this patron (barcode)")
	fl.StringVar(&profile, "profile", "", "entries about this profile (code)")
	fl.StringVar(&kind, "kind", "", "entries of this kind")
	fl.BoolVar(&asJSON, "json", false, "print JSON")

	retention := &cobra.Command{
		Use:   "retention [DURATION]",
		Short: "Show or set how long audit entries are kept (default 400d)",
		Long: `Show how long audit entries are kept, or set it: a number of days (400d) or a duration
of whole days in hours (9600h); at least a day. Older entries are removed hourly by the
running server, a few with each change, and at once (in small batches) when this is set.`,
		Args: cobra.MaximumNArgs(1),
		RunE: a.admin(func(cmd *cobra.Command, args []string) error {
			var d time.Duration
			if len(args) == 1 {
				var err error
				if d, err = parseRetention(args[0]); err != nil {
					return usageError("%v", err)
				}
			}
			return a.withBackend(func(b *backend) error {
				if len(args) == 0 {
					return b.db.View(cmd.Context(), func(tx store.Tx) error {
						fmt.Fprintf(cmd.OutOrStdout(), "audit entries are kept %s\n", store.FormatRetention(tx.AuditRetention()))
						return nil
					})
				}
				if err := b.db.Update(cmd.Context(), func(tx store.Tx) error { return tx.SetAuditRetention(d) }); err != nil {
					return err
				}
				n, err := b.db.PruneAudit(cmd.Context(), time.Now())
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "audit entries are kept %s; %d older entries removed\n", store.FormatRetention(d), n)
				return nil
			})
		}),
	}
	cmd.AddCommand(list, retention)
	return cmd
}

// parseAuditTime reads a --since/--until value; "" is no bound.
func parseAuditTime(flag, s string, zone *time.Location) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := parseRetention(s); err == nil {
		return time.Now().Add(-d), nil
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return time.Now().Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02", "2006-01-02 15:04", "2006-01-02T15:04", "2006-01-02 15:04:05"} {
		if t, err := time.ParseInLocation(layout, s, zone); err == nil {
			return t, nil
		}
	}
	return time.Time{}, usageError("%s %q: want a date (2026-03-01), a date and time (2026-03-01 14:30), an RFC 3339 time or a duration back from now (36h, 7d)", flag, s)
}

// parseRetention reads a number of days (400d) or a Go duration of whole days.
func parseRetention(s string) (time.Duration, error) {
	var d time.Duration
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days <= 0 {
			return 0, fmt.Errorf("%q is not a number of days", s)
		}
		d = time.Duration(days) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("want a number of days (400d) or hours (9600h), not %q", s)
		}
		if d%(24*time.Hour) != 0 {
			return 0, fmt.Errorf("%s is not a whole number of days", d)
		}
	}
	if d < 24*time.Hour {
		return 0, fmt.Errorf("%s is less than a day", s)
	}
	return d, nil
}

// printAudit writes entries as a table: one line each, saying what changed.
func printAudit(w io.Writer, entries []store.AuditEntry, zone *time.Location) {
	if len(entries) == 0 {
		fmt.Fprintln(w, "no audit entries")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tUSER\tCOMMAND\tKIND\tKEY\tCHANGE")
	for _, e := range entries {
		who := e.Actor.String()
		if e.Actor.Via == store.ViaAdminSocket {
			who += " (socket)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.At.In(zone).Format("2006-01-02 15:04:05 MST"), who,
			strings.TrimPrefix(e.Command, "circa "), e.Kind, e.Key, describeChange(e))
	}
	tw.Flush()
}

// describeChange says in a few words what an entry changed: the fields a
// change touched, or what a run recorded.
func describeChange(e store.AuditEntry) string {
	switch {
	case e.Summary:
		return compactLine(e.After)
	case e.Before == nil && e.After == nil:
		return ""
	case e.Before == nil:
		return "created"
	case e.After == nil:
		return "removed"
	}
	var before, after map[string]json.RawMessage
	if json.Unmarshal(e.Before, &before) != nil || json.Unmarshal(e.After, &after) != nil {
		// A setting of one value.
		return compactLine(e.Before) + " → " + compactLine(e.After)
	}
	var fields []string
	for k, v := range after {
		if b, ok := before[k]; !ok || !bytes.Equal(b, v) {
			fields = append(fields, k)
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			fields = append(fields, k)
		}
	}
	slices.Sort(fields)
	return "changed " + strings.Join(fields, ", ")
}

// compactLine is a JSON value on one line, cut to fit a table.
func compactLine(raw json.RawMessage) string {
	var c bytes.Buffer
	if json.Compact(&c, raw) != nil {
		return string(raw)
	}
	s := c.String()
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}
