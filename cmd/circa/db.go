package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/fixtures"
	"github.com/circa-ils/circa/store"
	"github.com/circa-ils/circa/store/boltstore"
)

func newDBCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "db", Short: "Create, seed, back up, check and migrate the database"}
	cmd.AddCommand(newDBInitCommand(a), newDBSeedCommand(a), newDBBackupCommand(a), newDBCheckCommand(a),
		newDBStatsCommand(a), newDBMigrateCommand(a), newDBRestoreCommand(a))
	return cmd
}

func newDBInitCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "init",
		Short: "Create an empty database in the data directory",
		Args:  cobra.NoArgs,
		RunE: a.admin(func(cmd *cobra.Command, args []string) error {
			return a.withBackend(func(b *backend) error {
				v, err := b.db.Version()
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s ready (schema version %d)\n", b.db.Describe(), v)
				return nil
			})
		}),
	}
}

func newDBSeedCommand(a *app) *cobra.Command {
	var scale int
	cmd := &cobra.Command{
		Use:   "seed",
		Short: "Seed the demo library into an empty database",
		Long:  "Seed the demo library (fixtures/README.md) into an empty database; --scale N grows it to N items for benchmarks.",
		Args:  cobra.NoArgs,
		// Thousands of records: one audit entry with the counts.
		Annotations: map[string]string{auditSummary: ""},
		RunE: a.admin(func(cmd *cobra.Command, args []string) error {
			if scale != 0 && scale < fixtures.MinScale {
				return usageError("--scale must be 0 or at least %d", fixtures.MinScale)
			}
			return a.withBackend(func(b *backend) error {
				start := time.Now()
				sum, err := fixtures.Seed(cmd.Context(), b.db, fixtures.Options{Now: time.Now().UTC().Truncate(time.Second), Scale: scale})
				if err != nil {
					return err
				}
				if err := b.reloadRules(cmd.Context()); err != nil {
					return err
				}
				reg, err := b.registry(cmd.Context())
				if err != nil {
					return err
				}
				if err := fixtures.SeedProfiles(cmd.Context(), reg); err != nil {
					return err
				}
				if err := b.db.RecordAudit(cmd.Context(), "seed", "demo library", "", sum); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "seeded %d bibs, %d items, %d patrons, %d open loans, %d requests, %d fees in %s\n",
					sum.Bibs, sum.Items, sum.Patrons, sum.OpenLoans, sum.OpenRequests, sum.Fees, time.Since(start).Round(time.Millisecond))
				return nil
			})
		}),
	}
	cmd.Flags().IntVar(&scale, "scale", 0, "number of items (0: the demo size)")
	return cmd
}

func newDBBackupCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "backup FILE",
		Short: "Write a consistent copy of the database, also while the server runs",
		Args:  cobra.ExactArgs(1),
		RunE: a.admin(func(cmd *cobra.Command, args []string) error {
			return a.withBackend(func(b *backend) error {
				file, err := b.file("db backup")
				if err != nil {
					return err
				}
				n, err := file.BackupFile(a.path(args[0]))
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (%d bytes)\n", args[0], n)
				return nil
			})
		}),
	}
}

// newDBRestoreCommand replaces the data directory's database with a backup.
// It never goes through the admin socket: a running server holds the file,
// and swapping it under the server would lose what the server writes next.
func newDBRestoreCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "restore FILE",
		Short: "Replace the database with a backup (the server must be stopped)",
		Long: `Replace the data directory's database with FILE, a backup written by db backup. FILE must be a
circa database of this binary's schema or an older one (migrated when next opened). The file
replaced is kept beside it as circa.db.bak. Refused while a server runs on the data directory.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dst := dbPath(a.dataDir)
			err := boltstore.Restore(a.path(args[0]), dst, time.Second)
			if errors.Is(err, store.ErrLocked) {
				return fmt.Errorf("restore refused: %s is held by a running server (or another circa command); stop it first", dst)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "restored %s from %s\n", dst, args[0])
			return nil
		},
	}
}

func newDBCheckCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "check",
		Short: "Verify bbolt's consistency, every index, the circulation invariants and references",
		Args:  cobra.NoArgs,
		RunE: a.admin(func(cmd *cobra.Command, args []string) error {
			return a.withBackend(func(b *backend) error {
				probs, err := b.db.Check()
				if err != nil {
					return err
				}
				for _, p := range probs {
					fmt.Fprintln(cmd.OutOrStdout(), p.String())
				}
				if len(probs) > 0 {
					return &exitError{code: 1, err: fmt.Errorf("%d problems found", len(probs))}
				}
				fmt.Fprintln(cmd.OutOrStdout(), "OK")
				return nil
			})
		}),
	}
}

func newDBStatsCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "stats",
		Short: "Count the records and index entries of every bucket",
		Args:  cobra.NoArgs,
		RunE: a.admin(func(cmd *cobra.Command, args []string) error {
			return a.withBackend(func(b *backend) error {
				stats, err := b.db.Stats()
				if err != nil {
					return err
				}
				names := make([]string, 0, len(stats))
				for n := range stats {
					names = append(names, n)
				}
				sort.Strings(names)
				w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				for _, n := range names {
					fmt.Fprintf(w, "%s\t%d\n", n, stats[n])
				}
				if n, err := b.db.Size(); err == nil {
					fmt.Fprintf(w, "size on disk\t%d\n", n)
				}
				st := b.db.CommitStats()
				fmt.Fprintf(w, "commits since start\t%d (%d operations)\n", st.Commits, st.Operations)
				return w.Flush()
			})
		}),
	}
}

func newDBMigrateCommand(a *app) *cobra.Command {
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Bring the database to this binary's schema version",
		Long: `Opening a database migrates it forward (after a hot backup beside it) and refuses one
written by a newer circa. This command does that explicitly; --dry-run prints the plan only.`,
		Args: cobra.NoArgs,
		RunE: a.admin(func(cmd *cobra.Command, args []string) error {
			if dryRun {
				if a.server != nil {
					fmt.Fprintf(cmd.OutOrStdout(), "schema version %d; the running server is up to date\n", boltstore.SchemaVersion)
					return nil
				}
				db, err := boltstore.Open(dbPath(a.dataDir), boltstore.Options{ReadOnly: true, LockTimeout: time.Second})
				if err != nil {
					return err
				}
				defer db.Close()
				v, err := db.Version()
				if err != nil {
					return err
				}
				steps := boltstore.Plan(v)
				fmt.Fprintf(cmd.OutOrStdout(), "schema version %d, this binary writes %d\n", v, boltstore.SchemaVersion)
				for _, s := range steps {
					fmt.Fprintf(cmd.OutOrStdout(), "  %d → %d  %s\n", s.From, s.To, s.Description)
				}
				if len(steps) == 0 {
					fmt.Fprintln(cmd.OutOrStdout(), "nothing to do")
				}
				return nil
			}
			return a.withBackend(func(b *backend) error {
				v, err := b.db.Version()
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "schema version %d (current)\n", v)
				return nil
			})
		}),
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the migration plan without changing anything")
	return cmd
}

func newRulesCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "rules", Short: "Show or replace the circulation rules (YAML)"}
	var dryRun bool
	importCmd := &cobra.Command{
		Use:   "import FILE",
		Short: "Replace the circulation rules with a YAML file (as printed by rules show)",
		Long: `Replace the circulation rules with a YAML file as printed by rules show. Amounts are written
as a decimal with their currency ("0.25 USD"; a bare 0.25 is in the rules' currency). Every
library, item policy and user group a rule names must exist. --dry-run prints the difference
from the rules in force and changes nothing.`,
		Args: cobra.ExactArgs(1),
		RunE: a.admin(func(cmd *cobra.Command, args []string) error {
			data, err := os.ReadFile(a.path(args[0]))
			if err != nil {
				return err
			}
			r, err := store.DecodeRules(data)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			if err := circ.ValidateRules(&r); err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			return a.withBackend(func(b *backend) error {
				if dryRun {
					if err := b.svc.CheckRules(cmd.Context(), &r); err != nil {
						return fmt.Errorf("%s: %w", args[0], err)
					}
					cur := b.svc.Rules()
					return printRulesDiff(cmd.OutOrStdout(), &cur, &r)
				}
				if err := b.svc.SetRules(cmd.Context(), r); err != nil {
					return fmt.Errorf("%s: %w", args[0], err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "rules replaced: %d loan rules, %d group rules\n", len(r.Loans), len(r.Groups))
				return nil
			})
		}),
	}
	importCmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the difference from the rules in force without changing anything")
	cmd.AddCommand(&cobra.Command{
		Use:   "show",
		Short: "Print the circulation rules as YAML (amounts as decimals with their currency)",
		Args:  cobra.NoArgs,
		RunE: a.admin(func(cmd *cobra.Command, args []string) error {
			return a.withBackend(func(b *backend) error {
				r := b.svc.Rules()
				out, err := store.EncodeRules(&r)
				if err != nil {
					return err
				}
				_, err = cmd.OutOrStdout().Write(out)
				return err
			})
		}),
	}, importCmd)
	return cmd
}

// printRulesDiff prints a unified-style line difference of the two rule
// sets as rules show writes them.
func printRulesDiff(w io.Writer, cur, next *store.Rules) error {
	a, err := store.EncodeRules(cur)
	if err != nil {
		return err
	}
	b, err := store.EncodeRules(next)
	if err != nil {
		return err
	}
	if string(a) == string(b) {
		fmt.Fprintln(w, "no change")
		return nil
	}
	fmt.Fprintln(w, "--- rules in force\n+++ rules in the file")
	lines := diffLines(strings.Split(strings.TrimSuffix(string(a), "\n"), "\n"), strings.Split(strings.TrimSuffix(string(b), "\n"), "\n"))
	// Unchanged lines are shown only near a change, as context.
	const context = 3
	near := make([]bool, len(lines))
	for i, l := range lines {
		if l[0] != ' ' {
			for j := max(0, i-context); j <= min(len(lines)-1, i+context); j++ {
				near[j] = true
			}
		}
	}
	for i, l := range lines {
		switch {
		case near[i]:
			fmt.Fprintln(w, l)
		case i > 0 && near[i-1] && slices.Contains(near[i:], true):
			fmt.Fprintln(w, "@@")
		}
	}
	fmt.Fprintln(w, "(dry run: nothing changed)")
	return nil
}

// diffLines returns the lines of a and b as " ", "-" or "+" lines along
// their longest common subsequence; rule files are short enough for the
// quadratic table.
func diffLines(a, b []string) []string {
	lcs := make([][]int, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []string
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && j < len(b) && a[i] == b[j]:
			out = append(out, " "+a[i])
			i, j = i+1, j+1
		case i < len(a) && (j == len(b) || lcs[i+1][j] >= lcs[i][j+1]):
			out = append(out, "-"+a[i])
			i++
		default:
			out = append(out, "+"+b[j])
			j++
		}
	}
	return out
}
