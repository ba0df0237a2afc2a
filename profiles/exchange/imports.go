package exchange

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/circa-ils/circa/profiles"
	"github.com/circa-ils/circa/profiles/delivery"
)

// collect brings in the partner's files and applies each one. A file that
// is refused stays on the server (and in the run's exceptions); a file
// applied is archived on the server.
func (s *Scheduler) collect(ctx context.Context, cl *delivery.Client, p *profiles.Exchange, run *Run) error {
	dir := filepath.Join(s.o.Dir, "inbox", p.Code)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	done, err := cl.Collect(ctx, delivery.CollectOptions{Pattern: p.ImportPattern(), LocalDir: dir},
		func(ctx context.Context, f delivery.Fetched) error {
			data, err := os.ReadFile(f.Path)
			if err != nil {
				return err
			}
			if err := s.importFile(ctx, p, f.Name, data, RunOptions{}, run); err != nil {
				s.refused(p, f.Name, err, run)
				return err
			}
			return nil
		})
	for _, f := range done {
		run.Files = append(run.Files, f.Name)
		os.Remove(f.Path)
	}
	return err
}

// examine fetches the partner's waiting files and works out, without
// changing anything here or on the server, what importing them would do.
func (s *Scheduler) examine(ctx context.Context, p *profiles.Exchange, o RunOptions, run *Run) error {
	if p.ImportPattern() == "" {
		return fmt.Errorf("%s profile %s imports nothing; name local files to examine", p.Type, p.Code)
	}
	cl, err := delivery.NewClient(p.ImportTarget(), delivery.Options{Logger: s.log, Retry: s.o.Retry})
	if err != nil {
		return err
	}
	files, err := cl.List(ctx, p.ImportPattern())
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp(filepath.Join(s.o.Dir, "inbox"), "dry-run-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if len(files) == 0 {
		o.emit("no files waiting")
	}
	var errs []error
	for _, rf := range files {
		got, err := cl.Fetch(ctx, rf, filepath.Join(dir, rf.Name))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		data, err := os.ReadFile(got.Path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := s.importFile(ctx, p, rf.Name, data, o, run); err != nil {
			s.refused(p, rf.Name, err, run)
			errs = append(errs, err)
			continue
		}
		run.Files = append(run.Files, rf.Name)
	}
	return errors.Join(errs...)
}

// importLocal applies (or, dry, examines) local files named on the command
// line.
func (s *Scheduler) importLocal(ctx context.Context, p *profiles.Exchange, o RunOptions, run *Run) error {
	var errs []error
	for _, path := range o.Files {
		data, err := os.ReadFile(path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		name := filepath.Base(path)
		if err := s.importFile(ctx, p, name, data, o, run); err != nil {
			s.refused(p, name, err, run)
			errs = append(errs, err)
			continue
		}
		run.Files = append(run.Files, name)
	}
	return errors.Join(errs...)
}

func (s *Scheduler) importFile(ctx context.Context, p *profiles.Exchange, name string, data []byte, o RunOptions, run *Run) error {
	switch p.Type {
	case profiles.TypeBursar:
		return s.importBursar(ctx, p, name, data, o, run)
	case profiles.TypeUsers:
		return s.importUsers(ctx, p, name, data, o, run)
	}
	return fmt.Errorf("%s profiles import nothing", p.Type)
}

// refused records a refused file's problems as exceptions.
func (s *Scheduler) refused(p *profiles.Exchange, name string, err error, run *Run) {
	var fe *FileError
	if !errors.As(err, &fe) {
		return
	}
	lines := make([]string, 0, len(fe.Problems)+1)
	lines = append(lines, name+" refused, nothing changed")
	for _, pr := range fe.Problems {
		lines = append(lines, pr.Error())
	}
	if rerr := s.report(p, name, lines, run); rerr != nil {
		s.log.Error().Err(rerr).Str("profile", p.Code).Msg("writing the import report failed")
	}
}

// report keeps an import's exception lines: the first ones in the run, all
// of them in a report file under Dir/reports.
func (s *Scheduler) report(p *profiles.Exchange, file string, lines []string, run *Run) error {
	if len(lines) == 0 {
		return nil
	}
	for _, l := range lines {
		if len(run.Exceptions) >= maxExceptionsKept {
			break
		}
		run.Exceptions = append(run.Exceptions, file+": "+l)
	}
	if run.DryRun {
		return nil
	}
	dir := filepath.Join(s.o.Dir, "reports", p.Code)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	path := filepath.Join(dir, fmt.Sprintf("%s.%s.exceptions.txt", file, run.Started.UTC().Format("20060102T150405Z")))
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		return err
	}
	run.Reports = append(run.Reports, path)
	return nil
}
