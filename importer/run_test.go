package importer

import (
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/store/boltstore"
)

func openService(t *testing.T) *circ.Service {
	t.Helper()
	db, err := boltstore.Open(filepath.Join(t.TempDir(), "circa.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	svc, err := circ.New(db)
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// lines is a Source of n records; unreadable ones are Problems, and the
// source fails outright at failAt (0: never).
type lines struct {
	n, next    int
	unreadable map[int]bool
	failAt     int
}

var errDiskGone = errors.New("disk gone")

func (l *lines) Next() (Record, error) {
	if l.next == l.n {
		return Record{}, io.EOF
	}
	l.next++
	if l.next == l.failAt {
		return Record{}, errDiskGone
	}
	if l.unreadable[l.next] {
		return Record{}, &Problem{N: l.next, Reason: "truncated record"}
	}
	return Record{N: l.next, Key: "k" + string(rune('a'+l.next%26)), End: int64(l.next * 10)}, nil
}

// applyCounting applies every record but refuses one, and notes which
// records it saw.
func applyCounting(refuse int, seen map[int]int) Apply {
	return func(b *circ.ImportBatch, rec Record) (Counts, error) {
		seen[rec.N]++
		if rec.N == refuse {
			return nil, Problemf(rec, "unknown location %q", "XYZ")
		}
		return Counts{"things created": 1}, nil
	}
}

func TestRunReportsEveryProblemInFileOrderAndImportsTheRest(t *testing.T) {
	svc := openService(t)
	seen := map[int]int{}
	var problems []string
	rep, err := Run(context.Background(), svc, &lines{n: 1200, unreadable: map[int]bool{3: true, 900: true}},
		applyCounting(7, seen), Options{Key: "test/a", Batch: 500, OnProblem: func(p Problem) { problems = append(problems, p.Error()) }})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"record 3: truncated record", `record 7 (kh): unknown location "XYZ"`, "record 900: truncated record"}
	if strings.Join(problems, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(problems, "\n"), strings.Join(want, "\n"))
	}
	if rep.Records != 1200 || rep.Problems != 3 || rep.Counts["things created"] != 1197 || rep.ResumedAt != 0 {
		t.Errorf("report %+v", rep)
	}
	if len(seen) != 1198 {
		t.Errorf("apply saw %d records, want the 1198 readable ones", len(seen))
	}
	cp, ok, err := svc.ImportCheckpointOf(context.Background(), "test/a")
	if err != nil || !ok || !cp.Done || cp.Records != 1200 || cp.Problems != 3 {
		t.Errorf("checkpoint %+v %v %v", cp, ok, err)
	}
}

func TestRunResumesAfterTheLastCommittedBatch(t *testing.T) {
	ctx := context.Background()
	svc := openService(t)
	first := map[int]int{}
	rep, err := Run(ctx, svc, &lines{n: 1200, unreadable: map[int]bool{3: true}, failAt: 700}, applyCounting(7, first),
		Options{Key: "test/b", Batch: 500})
	if !errors.Is(err, errDiskGone) {
		t.Fatalf("err %v, want the source's failure", err)
	}
	if rep.Counts["things created"] != 498 || rep.Problems != 2 {
		t.Errorf("first run's report %+v: only the committed first batch counts", rep)
	}

	again := map[int]int{}
	var problems []Problem
	rep, err = Run(ctx, svc, &lines{n: 1200, unreadable: map[int]bool{3: true}}, applyCounting(7, again),
		Options{Key: "test/b", Batch: 500, OnProblem: func(p Problem) { problems = append(problems, p) }})
	if err != nil {
		t.Fatal(err)
	}
	if rep.ResumedAt != 500 || rep.Records != 1200 {
		t.Errorf("resumed at %d of %d records, want 500 of 1200", rep.ResumedAt, rep.Records)
	}
	for n := range again {
		if n <= 500 {
			t.Fatalf("record %d applied again after the resume", n)
		}
	}
	if len(again) != 700 {
		t.Errorf("the resumed run applied %d records, want 700", len(again))
	}
	if rep.Counts["things created"] != 1198 || rep.Problems != 2 || len(problems) != 0 {
		t.Errorf("report %+v, new problems %v: the totals carry over, old problems are not reported twice", rep, problems)
	}

	// A complete run leaves nothing to resume: the next run reads it all.
	third := map[int]int{}
	rep, err = Run(ctx, svc, &lines{n: 1200}, applyCounting(0, third), Options{Key: "test/b", Batch: 500})
	if err != nil || rep.ResumedAt != 0 || len(third) != 1200 {
		t.Errorf("a run after a complete one: resumed at %d, applied %d, err %v", rep.ResumedAt, len(third), err)
	}
}

func TestRunRefusesToResumeOnAShorterInput(t *testing.T) {
	ctx := context.Background()
	svc := openService(t)
	Run(ctx, svc, &lines{n: 1200, failAt: 1100}, applyCounting(0, map[int]int{}), Options{Key: "test/c", Batch: 500})
	_, err := Run(ctx, svc, &lines{n: 800}, applyCounting(0, map[int]int{}), Options{Key: "test/c", Batch: 500})
	if err == nil || !strings.Contains(err.Error(), "shorter than the 1000 records") {
		t.Errorf("err %v", err)
	}
}

func TestRunStopsOnAnApplyError(t *testing.T) {
	ctx := context.Background()
	svc := openService(t)
	boom := errors.New("store full")
	rep, err := Run(ctx, svc, &lines{n: 1200}, func(b *circ.ImportBatch, rec Record) (Counts, error) {
		if rec.N == 620 {
			return nil, boom
		}
		return Counts{"things created": 1}, nil
	}, Options{Key: "test/d", Batch: 500})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "record 620") {
		t.Errorf("err %v", err)
	}
	cp, _, _ := svc.ImportCheckpointOf(ctx, "test/d")
	if rep.Counts["things created"] != 500 || cp.Records != 500 || cp.Done {
		t.Errorf("report %+v, checkpoint %+v: the failed batch is not counted", rep, cp)
	}
}

func TestProgressOnATerminalAndInALog(t *testing.T) {
	clock := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	for _, terminal := range []bool{true, false} {
		var out bytes.Buffer
		p := NewProgress(&out, terminal, "import marc", 1000)
		p.start, p.shown = clock, clock
		p.now = func() time.Time { return clock.Add(20 * time.Second) }
		p.Update(2500, 250)
		p.Update(2600, 260) // too soon after the last: not shown
		p.Done()
		got := out.String()
		if terminal {
			if !strings.HasPrefix(got, "\r\x1b[Kimport marc [######------------------]  25%  2500 records  125/s  1m00s left") ||
				!strings.HasSuffix(got, "\r\x1b[K") {
				t.Errorf("terminal progress %q", got)
			}
		} else if got != "import marc: 2500 records, 125 records/s, 25% read, about 1m00s left\n" {
			t.Errorf("log progress %q", got)
		}
	}
}
