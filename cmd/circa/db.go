package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/fixtures"
	"github.com/circa-ils/circa/store"
)

func newDBCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "db", Short: "Create, seed, back up, check and migrate the database"}
	cmd.AddCommand(newDBInitCommand(a), newDBSeedCommand(a), newDBBackupCommand(a), newDBCheckCommand(a),
		newDBStatsCommand(a), newDBMigrateCommand(a))
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
				fmt.Fprintf(cmd.OutOrStdout(), "%s ready (schema version %d)\n", b.db.Path(), v)
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
				n, err := b.db.BackupFile(a.path(args[0]))
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (%d bytes)\n", args[0], n)
				return nil
			})
		}),
	}
}

func newDBCheckCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "check",
		Short: "Verify bbolt's consistency, every index and the circulation invariants",
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
				if fi, err := os.Stat(b.db.Path()); err == nil {
					fmt.Fprintf(w, "file size\t%d\n", fi.Size())
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
					fmt.Fprintf(cmd.OutOrStdout(), "schema version %d; the running server is up to date\n", store.SchemaVersion)
					return nil
				}
				db, err := store.Open(dbPath(a.dataDir), store.Options{ReadOnly: true, LockTimeout: time.Second})
				if err != nil {
					return err
				}
				defer db.Close()
				v, err := db.Version()
				if err != nil {
					return err
				}
				steps := store.Plan(v)
				fmt.Fprintf(cmd.OutOrStdout(), "schema version %d, this binary writes %d\n", v, store.SchemaVersion)
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
	cmd.AddCommand(&cobra.Command{
		Use:   "show",
		Short: "Print the circulation rules as YAML",
		Args:  cobra.NoArgs,
		RunE: a.admin(func(cmd *cobra.Command, args []string) error {
			return a.withBackend(func(b *backend) error {
				r := b.svc.Rules()
				return yaml.NewEncoder(cmd.OutOrStdout()).Encode(&r)
			})
		}),
	}, &cobra.Command{
		Use:   "import FILE",
		Short: "Replace the circulation rules with a YAML file (as printed by rules show)",
		Args:  cobra.ExactArgs(1),
		RunE: a.admin(func(cmd *cobra.Command, args []string) error {
			f, err := os.Open(a.path(args[0]))
			if err != nil {
				return err
			}
			defer f.Close()
			var r store.Rules
			dec := yaml.NewDecoder(f)
			dec.KnownFields(true)
			if err := dec.Decode(&r); err != nil && err != io.EOF {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			if err := circ.ValidateRules(&r); err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			return a.withBackend(func(b *backend) error {
				if err := b.svc.SetRules(cmd.Context(), r); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "rules replaced: %d loan rules, %d group rules\n", len(r.Loans), len(r.Groups))
				return nil
			})
		}),
	})
	return cmd
}
