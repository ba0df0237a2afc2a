package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/circa-ils/circa/importer"
	"github.com/circa-ils/circa/store/boltstore"
)

// The migration importers share this command code: each gives an
// importJob, and runImport does the dry run, --strict, the checkpoint key,
// progress and the report the same way for all.

// newImportCommand is the import group; each importer's command is added
// here.
func newImportCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "import",
		Short: "Import a library's catalogue, items, patrons, loans, holds and fees from the system it runs today",
		Long: `Import a library's data from the system it runs today. Every importer reads its
files one record at a time, imports the good records and reports each bad one with
its record or line number and the reason (exit status 1 when there were any).

  --dry-run  runs the import against a scratch copy of the database and prints
             what it would do; nothing changes
  --strict   imports nothing unless every record is good

Running the same file again changes nothing. A run that stopped part-way (a
crash, Ctrl-C) resumes after its last committed batch when run again.`,
	}
	cmd.AddCommand(newImportMARCCommand(a))
	cmd.AddCommand(newImportPatronsCommand(a), newImportLoansCommand(a), newImportHoldsCommand(a), newImportFeesCommand(a))
	for _, c := range cmd.Commands() {
		if c.Annotations == nil {
			c.Annotations = map[string]string{}
		}
		c.Annotations[auditSummary] = ""
	}
	return cmd
}

// importFlags are the flags every importer has.
type importFlags struct {
	dryRun, strict bool
}

func (f *importFlags) register(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&f.dryRun, "dry-run", false, "change nothing; print what the import would do")
	cmd.Flags().BoolVar(&f.strict, "strict", false, "import nothing unless every record is good")
}

// importJob is one importer's part of a run.
type importJob struct {
	what  string   // "import marc", as the report names it
	files []string // the input files, resolved
	// settings holds whatever else changes the outcome (a mapping, an
	// option), so that a changed one starts a new run instead of resuming.
	settings string
	// open opens the input afresh: a strict run reads it twice.
	open func() (importer.Source, io.Closer, error)
	// apply is the importer's Apply against b.
	apply func(b *backend) (importer.Apply, error)
	// batch is the number of records per transaction (0: importer's default).
	batch int
	// prepare, when set, gives the run's Options.Prepare: slow work on each
	// record (hashing a PIN) before the batch's transaction instead of in it.
	prepare func(ctx context.Context, b *backend) func(*importer.Record) error
}

// runImport runs job as its flags say and prints the report.
func (a *app) runImport(cmd *cobra.Command, job importJob, f importFlags) error {
	key, size, err := job.fingerprint()
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	return a.withBackend(func(b *backend) error {
		ctx := cmd.Context()
		if f.dryRun || f.strict {
			// The check is the import itself, against a copy: its report is
			// exactly what the real run would do.
			if f.dryRun {
				fmt.Fprintf(out, "%s --dry-run: nothing will be changed; this is what the import would do\n", job.what)
			}
			var rep importer.Report
			err := withScratchCopy(b, func(scratch *backend) error {
				var err error
				rep, err = a.importInto(ctx, cmd, scratch, job, key, size)
				return err
			})
			if err != nil || f.dryRun {
				return importOutcome(out, job, rep, err, f.dryRun)
			}
			if rep.Problems > 0 {
				printReport(out, job, rep, true)
				return &exitError{code: 1, err: fmt.Errorf("%s --strict: nothing imported; %d records have problems", job.what, rep.Problems)}
			}
		}
		rep, err := a.importInto(ctx, cmd, b, job, key, size)
		if aerr := auditImport(ctx, b, job, rep, err); aerr != nil {
			return aerr
		}
		return importOutcome(out, job, rep, err, false)
	})
}

// importInto runs job against b, printing each problem as its batch ends.
func (a *app) importInto(ctx context.Context, cmd *cobra.Command, b *backend, job importJob, key string, size int64) (importer.Report, error) {
	src, closer, err := job.open()
	if err != nil {
		return importer.Report{}, err
	}
	defer closer.Close()
	apply, err := job.apply(b)
	if err != nil {
		return importer.Report{}, err
	}
	var prepare func(*importer.Record) error
	if job.prepare != nil {
		prepare = job.prepare(ctx, b)
	}
	out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
	return importer.Run(ctx, b.svc, src, apply, importer.Options{
		Key:       key,
		Batch:     job.batch,
		Prepare:   prepare,
		Agent:     staffAgent(""),
		Progress:  importer.NewProgress(errOut, isTerminal(errOut), job.what, size),
		OnProblem: func(p importer.Problem) { fmt.Fprintln(out, p.Error()) },
	})
}

// auditImport records the run in the audit trail: one entry with its
// files and counts, not one per record.
func auditImport(ctx context.Context, b *backend, job importJob, rep importer.Report, runErr error) error {
	files := make([]string, len(job.files))
	for i, f := range job.files {
		files[i] = filepath.Base(f)
	}
	run := struct {
		Files     []string        `json:"files"`
		Records   int             `json:"records"`
		Counts    importer.Counts `json:"counts,omitempty"`
		Problems  int             `json:"problems"`
		ResumedAt int             `json:"resumed_at,omitempty"`
		Stopped   bool            `json:"stopped,omitempty"`
	}{files, rep.Records, rep.Counts, rep.Problems, rep.ResumedAt, runErr != nil}
	return b.db.RecordAudit(ctx, "import", strings.TrimPrefix(job.what, "import "), "", run)
}

// importOutcome prints the report of a finished (or failed) run and turns
// problems into exit status 1.
func importOutcome(out io.Writer, job importJob, rep importer.Report, err error, dryRun bool) error {
	printReport(out, job, rep, dryRun)
	if err != nil {
		return fmt.Errorf("%s stopped after %d records: %w", job.what, rep.Records, err)
	}
	if rep.Problems > 0 {
		verb := "were not imported"
		if dryRun {
			verb = "would not be imported"
		}
		return &exitError{code: 1, err: fmt.Errorf("%s: %d records %s; the problems are listed above", job.what, rep.Problems, verb)}
	}
	return nil
}

func printReport(out io.Writer, job importJob, rep importer.Report, dryRun bool) {
	head := fmt.Sprintf("%s: %d records read", job.what, rep.Records)
	if rep.ResumedAt > 0 {
		head += fmt.Sprintf(" (resumed after record %d of an interrupted run)", rep.ResumedAt)
	}
	if !dryRun {
		head += fmt.Sprintf(" in %s", rep.Elapsed.Round(1e6))
	}
	fmt.Fprintln(out, head)
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range rep.Counts {
			if !yield(k) {
				return
			}
		}
	})
	for _, k := range keys {
		fmt.Fprintf(out, "  %-24s %d\n", k, rep.Counts[k])
	}
	fmt.Fprintf(out, "  %-24s %d\n", "problems", rep.Problems)
}

// fingerprint names the input for the checkpoint: a hash of the kind, the
// settings and the files' contents. It also returns their total size.
func (job importJob) fingerprint() (key string, size int64, err error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00", job.what, job.settings)
	for _, name := range job.files {
		f, err := os.Open(name)
		if err != nil {
			return "", 0, err
		}
		n, err := io.Copy(h, f)
		f.Close()
		if err != nil {
			return "", 0, fmt.Errorf("%s: %w", name, err)
		}
		size += n
		h.Write([]byte{0})
	}
	kind := strings.TrimPrefix(job.what, "import ")
	return kind + "/" + hex.EncodeToString(h.Sum(nil)[:16]), size, nil
}

// withScratchCopy runs fn against a copy of b's database, made inside the
// data directory (owner-only, like the data it holds) and removed after.
func withScratchCopy(b *backend, fn func(*backend) error) error {
	dir, err := os.MkdirTemp(b.dataDir, ".import-check-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	file, err := b.file("import --dry-run")
	if err != nil {
		return err
	}
	if _, err := file.BackupFile(filepath.Join(dir, boltstore.DefaultFile)); err != nil {
		return fmt.Errorf("copy the database for the check: %w", err)
	}
	scratch, err := openBackend(dir)
	if err != nil {
		return err
	}
	defer scratch.Close()
	return fn(scratch)
}
