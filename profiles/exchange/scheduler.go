// Package exchange runs the file-exchange integration profiles: bursar fee
// exports and payment imports, student-information-system user syncs,
// remote-storage request feeds and SMS notice files, each moved over SFTP
// (or into a local directory) with profiles/delivery.
//
// # Exactly once
//
// An export builds its file inside the store transaction that marks its
// source records (fees become "exported", a journal cursor advances, a
// notice is remembered as sent) and keeps the file's bytes in an outbox
// entry of that same transaction. Only then is the file written to the
// local outbox directory and delivered; every delivery step is saved in the
// entry, and the next run resumes unfinished entries before building new
// ones. A crash or a network failure anywhere therefore neither loses a
// record nor sends it twice, and file names, fixed when the file is built,
// let the delivery protocol recognise a file already in place.
//
// Records leave only through files that will be delivered: a run checks
// its target before it builds, a profile is not removed while its outbox
// holds files (Remove hands them to another profile), and the last
// KeptFiles delivered files can be sent again (RunOptions.Resend).
//
// # Imports
//
// Partner files are collected from the import directory, parsed completely
// and checked before anything changes: a malformed, truncated or wrongly
// encoded file, or one with duplicated lines, is refused as a whole with a
// report naming each bad line, and stays on the server. A file that parses
// is applied; lines circulation refuses (unknown transaction, wrong amount,
// a user the profile may not add) are reported and change nothing.
package exchange

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/profiles"
	"github.com/circa-ils/circa/profiles/delivery"
	"github.com/circa-ils/circa/store"
)

// Run results.
const (
	ResultOK      = "ok"
	ResultFailed  = "failed"  // retried at the next scheduled run
	ResultStopped = "stopped" // a permanent error; the profile waits for `circa profile run`
	ResultSkipped = "skipped" // the profile was already running
)

// Run is one run of a profile, as kept in its history.
type Run struct {
	ID       uint64    `json:"id"`
	Trigger  string    `json:"trigger"` // schedule, manual, resend N
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	Result   string    `json:"result"`
	DryRun   bool      `json:"dry_run,omitempty"`
	// Records counts records exported and import lines applied.
	Records int `json:"records"`
	// Files names the files delivered and collected.
	Files []string `json:"files,omitempty"`
	// Exceptions are import lines refused (the first ones; the full
	// report is in Reports).
	Exceptions []string `json:"exceptions,omitempty"`
	Reports    []string `json:"reports,omitempty"`
	Error      string   `json:"error,omitempty"`
	Permanent  bool     `json:"permanent,omitempty"`
}

// Report tells an Observer about a finished run.
type Report struct {
	Profile string
	Type    string
	Run     Run
}

// Observer is told about every finished run, for metrics and alerts. It is
// called from the scheduler's goroutine and must not block.
type Observer func(Report)

// Options configure a Scheduler.
type Options struct {
	DB       store.DB
	Circ     *circ.Service
	Registry *profiles.Registry
	// Dir holds the local outbox, inbox and reports (created if missing).
	Dir string
	// Logger gets one line per run and per failure; never patron data.
	Logger zerolog.Logger
	// Observer, when set, sees every finished run.
	Observer Observer
	// Retry bounds the retries of each transfer.
	Retry delivery.Retry
	// Progress, when set, is told how far an import has got.
	Progress func(profile string, done, total int)
}

// DataDir is where, in a data directory, file-exchange runs keep their
// outbox, inbox and reports: the Dir that serve and the admin commands
// both pass.
func DataDir(dataDir string) string { return filepath.Join(dataDir, "exchange") }

// historyLen is how many runs a profile's history keeps.
const historyLen = 100

// maxFilesPerRun bounds the files one run builds, so a large backlog is
// worked off over several runs instead of holding one run for long.
const maxFilesPerRun = 20

// syncChunk is how many users one store transaction of an import holds.
const syncChunk = 2000

// maxExceptionsKept bounds the exception lines kept in a run's history.
const maxExceptionsKept = 50

// Scheduler runs file-exchange profiles on their schedules.
type Scheduler struct {
	o    Options
	db   store.DB
	log  zerolog.Logger
	wake chan struct{}
	// afterSave, in tests, runs after each delivery step is saved; an
	// error ends the delivery there, as if the process died.
	afterSave func(delivery.Delivery) error
}

// NewScheduler checks o and prepares the local directories.
func NewScheduler(o Options) (*Scheduler, error) {
	var errs []error
	if o.DB == nil {
		errs = append(errs, errors.New("exchange: a store is required"))
	}
	if o.Circ == nil {
		errs = append(errs, errors.New("exchange: a circulation service is required"))
	}
	if o.Registry == nil {
		errs = append(errs, errors.New("exchange: a profile registry is required"))
	}
	if o.Dir == "" {
		errs = append(errs, errors.New("exchange: a working directory is required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for _, d := range []string{"outbox", "inbox", "reports"} {
		if err := os.MkdirAll(filepath.Join(o.Dir, d), 0o700); err != nil {
			return nil, fmt.Errorf("exchange: %w", err)
		}
	}
	return &Scheduler{o: o, db: o.DB, log: o.Logger.With().Str("component", "exchange").Logger(),
		wake: make(chan struct{}, 1)}, nil
}

// Wake makes Run look at the profiles again at once (after a profile
// changed).
func (s *Scheduler) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run runs every active profile when its schedule says, one at a time,
// until ctx ends; it then returns nil once the run in progress has
// stopped. A profile stopped by a permanent error is skipped until it is
// run by hand.
func (s *Scheduler) Run(ctx context.Context) error {
	start := s.o.Circ.Now()
	for {
		now := s.o.Circ.Now()
		var next time.Time
		for _, p := range s.active() {
			st, err := s.state(ctx, p.Code)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				s.log.Error().Err(err).Str("profile", p.Code).Msg("reading profile state failed")
				continue
			}
			if st.Stopped != "" {
				continue
			}
			base := st.LastRun
			if base.IsZero() {
				base = start // never run: the first slot after start-up
			}
			due := p.Schedule.Next(base, s.zone(ctx, p.Library))
			if due.IsZero() {
				continue
			}
			if !due.After(now) {
				s.runProfile(ctx, p, RunOptions{Trigger: "schedule"})
				if ctx.Err() != nil {
					return nil
				}
				due = p.Schedule.Next(s.o.Circ.Now(), s.zone(ctx, p.Library))
			}
			if next.IsZero() || due.Before(next) {
				next = due
			}
		}
		wait := time.Minute
		if !next.IsZero() {
			wait = min(max(next.Sub(s.o.Circ.Now()), time.Second), time.Minute)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-s.wake:
			t.Stop()
		case <-t.C:
		}
	}
}

func (s *Scheduler) active() []*profiles.Exchange {
	var out []*profiles.Exchange
	for _, p := range s.o.Registry.Current().Exchange {
		if p.Active {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Code < out[j].Code })
	return out
}

func (s *Scheduler) zone(ctx context.Context, library string) *time.Location {
	loc := time.UTC
	s.db.View(ctx, func(tx store.Tx) error {
		loc = s.o.Circ.Zone(tx, library)
		return nil
	})
	return loc
}

// RunOptions direct one run.
type RunOptions struct {
	Trigger string // schedule or manual
	// DryRun works out what importing Files, or the partner's files
	// waiting on the target, would change, and changes nothing: no export
	// is built and no remote file is archived.
	DryRun bool
	// Files are local files to import instead of collecting from the
	// target.
	Files []string
	// Out, when set, receives the dry-run report.
	Out func(line string)
	// Resend, when set, delivers again the files of that past run (by
	// its id) and does nothing else.
	Resend uint64
}

// ErrUnknownProfile is returned by RunNow for a code no file-exchange
// profile has.
var ErrUnknownProfile = errors.New("exchange: no such file-exchange profile")

// RunNow runs a profile at once, active or not, clearing a stop left by a
// permanent error, and returns the run as recorded in its history.
func (s *Scheduler) RunNow(ctx context.Context, code string, o RunOptions) (Run, error) {
	p, ok := s.o.Registry.Current().Exchange[code]
	if !ok {
		return Run{}, fmt.Errorf("%w: %s", ErrUnknownProfile, code)
	}
	switch {
	case o.Trigger != "":
	case o.Resend > 0:
		o.Trigger = fmt.Sprintf("resend %d", o.Resend)
	default:
		o.Trigger = "manual"
	}
	if !o.DryRun {
		if err := s.db.Update(ctx, func(tx store.Tx) error {
			st, err := loadState(tx, code)
			if err != nil {
				return err
			}
			st.Stopped = ""
			return tx.SetMeta(stateKey(code), st)
		}); err != nil {
			return Run{}, err
		}
	}
	run := s.runProfile(ctx, p, o)
	if run.Error != "" {
		return run, errors.New(run.Error)
	}
	return run, nil
}

// running keeps two schedulers on one store (the server's and a command's)
// from running the same profile at once.
var running sync.Map // key: db pointer and code

type runKey struct {
	db   store.DB
	code string
}

func (s *Scheduler) runProfile(ctx context.Context, p *profiles.Exchange, o RunOptions) Run {
	run := Run{Trigger: o.Trigger, Started: s.o.Circ.Now(), DryRun: o.DryRun}
	key := runKey{s.db, p.Code}
	if _, busy := running.LoadOrStore(key, struct{}{}); busy {
		run.Result, run.Finished, run.Error = ResultSkipped, run.Started, "profile "+p.Code+" is already running"
		return run
	}
	defer running.Delete(key)
	log := s.log.With().Str("profile", p.Code).Str("type", p.Type).Str("trigger", o.Trigger).Logger()

	err := s.work(ctx, p, o, &run)
	run.Finished = s.o.Circ.Now()
	switch {
	case err == nil:
		run.Result = ResultOK
	case delivery.IsPermanent(err):
		run.Result, run.Error, run.Permanent = ResultStopped, err.Error(), true
	default:
		run.Result, run.Error = ResultFailed, err.Error()
	}
	if o.DryRun {
		return run
	}
	// The history is written even when ctx has ended: the run happened.
	if herr := s.record(context.WithoutCancel(ctx), p.Code, &run); herr != nil {
		log.Error().Err(herr).Msg("recording the run failed")
	}
	ev := log.Info()
	var fe *FileError
	switch {
	case errors.As(err, &fe):
		// A refused file's problems quote its lines (user ids among them):
		// they go to the run's report, not to the log.
		ev = log.Warn().Str("refused", fe.File).Int("problems", len(fe.Problems))
	case err != nil:
		ev = log.Warn().Err(err).Bool("permanent", run.Permanent)
	}
	ev.Str("result", run.Result).Int("records", run.Records).Int("files", len(run.Files)).
		Int("exceptions", len(run.Exceptions)).Dur("dur", run.Finished.Sub(run.Started)).Msg("exchange run")
	if s.o.Observer != nil {
		s.o.Observer(Report{Profile: p.Code, Type: p.Type, Run: run})
	}
	return run
}

// work delivers what earlier runs left in the outbox, builds and delivers
// new files, then collects partner files.
func (s *Scheduler) work(ctx context.Context, p *profiles.Exchange, o RunOptions, run *Run) error {
	if len(o.Files) > 0 {
		return s.importLocal(ctx, p, o, run)
	}
	if o.DryRun {
		return s.examine(ctx, p, o, run)
	}
	cl, err := delivery.NewClient(p.Target, delivery.Options{Logger: s.log, Retry: s.o.Retry})
	if err != nil {
		return err
	}
	// Every file the run delivers goes over one connection: an SMS run
	// writes a file per notice.
	out := cl.Open()
	defer out.Close()
	if o.Resend > 0 {
		return s.resend(ctx, out, p, o.Resend, run)
	}
	if err := s.flush(ctx, out, p, run); err != nil {
		return err
	}
	build := s.builder(p)
	if build != nil {
		// A build marks its records (fees exported, notices sent): build
		// nothing for a target that cannot take the file now.
		if _, err := out.Check(ctx); err != nil {
			return err
		}
	}
	for i := 0; build != nil && i < maxFilesPerRun; i++ {
		n, err := build(ctx, p)
		if err != nil {
			return fmt.Errorf("build %s file: %w", p.Type, err)
		}
		if n == 0 {
			break
		}
		run.Records += n
		if err := s.flush(ctx, out, p, run); err != nil {
			return err
		}
	}
	if p.ImportPattern() == "" {
		return nil
	}
	in, err := delivery.NewClient(p.ImportTarget(), delivery.Options{Logger: s.log, Retry: s.o.Retry})
	if err != nil {
		return err
	}
	return s.collect(ctx, in, p, run)
}

// builder returns the export of a profile's type: it builds one file into
// the outbox and says how many records it holds (0: nothing to send).
func (s *Scheduler) builder(p *profiles.Exchange) func(context.Context, *profiles.Exchange) (int, error) {
	switch p.Type {
	case profiles.TypeBursar:
		return s.buildBursar
	case profiles.TypeUsers:
		if p.Users != nil && p.Users.Export {
			return s.buildUsers
		}
	case profiles.TypeRequests:
		return s.buildRequests
	case profiles.TypeSMS:
		return s.buildSMS
	}
	return nil
}

// journalPage bounds the change-journal events one build transaction
// reads, so a long backlog is read in short transactions.
const journalPage = 10_000

// pages runs a journal-following build page by page until one yields a
// file or the journal is read to its end.
func (s *Scheduler) pages(ctx context.Context, page func() (n int, more bool, err error)) (int, error) {
	for {
		n, more, err := page()
		if err != nil || n > 0 || !more {
			return n, err
		}
		if err := ctx.Err(); err != nil {
			return 0, err
		}
	}
}

// History returns a profile's runs, newest first.
func History(ctx context.Context, db store.DB, code string) ([]Run, error) {
	var runs []Run
	err := db.View(ctx, func(tx store.Tx) error {
		err := tx.Meta(historyKey(code), &runs)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		return err
	})
	slices.Reverse(runs)
	return runs, err
}

// Status is a profile's standing outside any one run.
type Status struct {
	LastRun time.Time `json:"last_run"`
	// Stopped is the permanent error that stopped the profile, if any.
	Stopped string `json:"stopped,omitempty"`
	// Pending names files built but not yet delivered.
	Pending []string `json:"pending,omitempty"`
	// LastSuccess is when the latest successful run finished (zero: none
	// in the history).
	LastSuccess time.Time `json:"last_success,omitzero"`
}

// ProfileStatus returns a profile's status.
func ProfileStatus(ctx context.Context, db store.DB, code string) (Status, error) {
	var st state
	err := db.View(ctx, func(tx store.Tx) error {
		var err error
		if st, err = loadState(tx, code); err != nil || !st.LastOK.IsZero() {
			return err
		}
		// Runs recorded before the state kept LastOK: the history has it.
		var runs []Run
		if err := tx.Meta(historyKey(code), &runs); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		for _, r := range slices.Backward(runs) {
			if r.Result == ResultOK {
				st.LastOK = r.Finished
				break
			}
		}
		return nil
	})
	return Status{LastRun: st.LastRun, Stopped: st.Stopped, Pending: st.Pending, LastSuccess: st.LastOK}, err
}

// record appends a run to the profile's history and updates its state.
func (s *Scheduler) record(ctx context.Context, code string, run *Run) error {
	return s.db.Update(ctx, func(tx store.Tx) error {
		st, err := loadState(tx, code)
		if err != nil {
			return err
		}
		st.Runs++
		run.ID = st.Runs
		st.LastRun = run.Started
		if run.Result == ResultOK {
			st.LastOK = run.Finished
		}
		if run.Permanent {
			st.Stopped = run.Error
		}
		var runs []Run
		if err := tx.Meta(historyKey(code), &runs); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		runs = append(runs, *run)
		if len(runs) > historyLen {
			runs = runs[len(runs)-historyLen:]
		}
		if err := tx.SetMeta(historyKey(code), runs); err != nil {
			return err
		}
		return tx.SetMeta(stateKey(code), st)
	})
}
