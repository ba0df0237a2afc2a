// Package importer moves a library's data from the system it runs today into
// circa: catalogue records with their items, patrons, open loans, holds and
// fees. Each importer is a Source (a parser reading its file one record at a
// time) and an Apply (the circ method that checks and writes one record);
// Run drives them in batches, one transaction each, with a checkpoint that
// lets a crashed run resume, progress, and a report of every problem.
package importer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	"github.com/circa-ils/circa/circ"
)

// Record is one unit of an input file.
type Record struct {
	N     int    // record number (MARC) or line number (CSV), 1-based: what the report names
	Key   string // what identifies it to a librarian: a 001, a barcode
	End   int64  // byte offset just after the record, for progress
	Value any    // the parsed record, for the Apply of the same importer
	Unit  string // what N counts, as the report says it: "line" for CSV; "record" when empty
}

// A Source yields the records of a file in order. Next returns io.EOF at
// the end, a *Problem for a record it cannot read (the run reports it and
// goes on), and any other error to stop the run.
type Source interface {
	Next() (Record, error)
}

// Problem is a record that was reported and not imported.
type Problem struct {
	N      int
	Key    string
	Reason string
	Unit   string // as Record.Unit
}

func (p *Problem) Error() string {
	unit := p.Unit
	if unit == "" {
		unit = "record"
	}
	if p.Key == "" {
		return fmt.Sprintf("%s %d: %s", unit, p.N, p.Reason)
	}
	return fmt.Sprintf("%s %d (%s): %s", unit, p.N, p.Key, p.Reason)
}

// Problemf makes the Problem of rec.
func Problemf(rec Record, format string, args ...any) *Problem {
	return &Problem{N: rec.N, Key: rec.Key, Reason: fmt.Sprintf(format, args...), Unit: rec.Unit}
}

// Counts says what records came to, e.g. {"bibs created": 1, "items
// unchanged": 3}.
type Counts map[string]int

// Add adds c's counts to cs.
func (cs Counts) Add(c Counts) {
	for k, v := range c {
		cs[k] += v
	}
}

// Apply checks one record and writes it in the batch's transaction. It must
// check everything before writing anything: a *Problem (errors.As) means
// nothing was written, and the run reports it and goes on; any other error
// aborts the batch and the run. Apply may run more than once for a record
// (a group commit retries a failed group), so it changes nothing outside
// the transaction.
type Apply func(b *circ.ImportBatch, rec Record) (Counts, error)

// Options are the settings of one run.
type Options struct {
	// Key names the input for the checkpoint: the kind of import and a
	// fingerprint of the files and the mapping. A run of a key whose last
	// run stopped part-way resumes after its last committed batch.
	Key string
	// Batch is the number of records per transaction (default 500).
	Batch int
	// Agent is who the journal says made the changes.
	Agent circ.Agent
	// Progress, when set, is told after every batch.
	Progress *Progress
	// Prepare, when set, is called on each record to be applied, before its
	// batch's transaction, for slow work (hashing a PIN) that should not hold
	// up the store's writer. The records a resumed run reads past are not
	// prepared. An error ends the run.
	Prepare func(rec *Record) error
	// OnProblem, when set, is told each problem once its batch is
	// committed (or, in a dry run, checked), in file order.
	OnProblem func(Problem)
}

// Report is what a run did.
type Report struct {
	Records   int    // records read, problems included
	Counts    Counts // what the imported records came to, over all runs of the key
	Problems  int    // records reported and not imported, over all runs of the key
	ResumedAt int    // records an earlier, interrupted run had already done
	Elapsed   time.Duration
}

const defaultBatch = 500

// Run imports src into svc. It returns the report so far with any error.
func Run(ctx context.Context, svc *circ.Service, src Source, apply Apply, o Options) (Report, error) {
	start := time.Now()
	batchSize := o.Batch
	if batchSize <= 0 {
		batchSize = defaultBatch
	}
	rep := Report{Counts: Counts{}}
	cp, ok, err := svc.ImportCheckpointOf(ctx, o.Key)
	if err != nil {
		return rep, err
	}
	if ok && !cp.Done {
		// Resume: the records before cp.Records are in the store with the
		// batch that counted them; read past them without applying.
		rep.ResumedAt, rep.Problems = cp.Records, cp.Problems
		maps.Copy(rep.Counts, cp.Counts)
		for rep.Records < cp.Records {
			if _, err := src.Next(); errors.Is(err, io.EOF) {
				return rep, fmt.Errorf("the input is shorter than the %d records an earlier run of it imported", cp.Records)
			} else if err != nil && !isProblem(err) {
				return rep, err
			}
			rep.Records++
		}
	} else {
		cp = circ.ImportCheckpoint{Started: start.UTC()}
	}

	var end int64
	for done := false; !done; {
		// Read the batch outside the transaction: parsing never holds up
		// the writer.
		var recs []Record
		var unreadable []Problem
		for len(recs)+len(unreadable) < batchSize {
			rec, err := src.Next()
			if errors.Is(err, io.EOF) {
				done = true
				break
			}
			rep.Records++
			var p *Problem
			if errors.As(err, &p) {
				unreadable = append(unreadable, *p)
				continue
			}
			if err != nil {
				return rep, err
			}
			if o.Prepare != nil {
				if err := o.Prepare(&rec); err != nil {
					return rep, err
				}
			}
			end = max(end, rec.End)
			recs = append(recs, rec)
		}
		var counts Counts
		var problems []Problem
		next := cp
		err := svc.Import(ctx, o.Agent, func(b *circ.ImportBatch) error {
			counts, problems = Counts{}, append([]Problem(nil), unreadable...)
			for _, rec := range recs {
				c, err := apply(b, rec)
				var p *Problem
				if errors.As(err, &p) {
					problems = append(problems, *p)
					continue
				}
				if err != nil {
					return fmt.Errorf("record %d: %w", rec.N, err)
				}
				counts.Add(c)
			}
			next = circ.ImportCheckpoint{Records: rep.Records, Problems: cp.Problems + len(problems),
				Counts: Counts(maps.Clone(cp.Counts)), Started: cp.Started, Done: done}
			if next.Counts == nil {
				next.Counts = Counts{}
			}
			Counts(next.Counts).Add(counts)
			return b.SaveCheckpoint(o.Key, next)
		})
		if err != nil {
			return rep, err
		}
		cp = next
		rep.Counts.Add(counts)
		rep.Problems += len(problems)
		if o.OnProblem != nil {
			sortProblems(problems)
			for _, p := range problems {
				o.OnProblem(p)
			}
		}
		if o.Progress != nil {
			o.Progress.Update(rep.Records, end)
		}
	}
	rep.Elapsed = time.Since(start)
	if o.Progress != nil {
		o.Progress.Done()
	}
	return rep, nil
}

func isProblem(err error) bool {
	var p *Problem
	return errors.As(err, &p)
}

// sortProblems puts a batch's problems in file order: the unreadable ones
// were gathered before the others.
func sortProblems(ps []Problem) {
	slices.SortStableFunc(ps, func(a, b Problem) int { return cmp.Compare(a.N, b.N) })
}
