package publishing

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/profiles/delivery"
	"github.com/circa-ils/circa/profiles/oai"
	"github.com/circa-ils/circa/store"
)

// SettleTime is how far behind the clock a run's window ends. Operations
// take their change stamp before their transaction commits, so a change
// stamped a moment ago may not be visible yet; leaving the last seconds to
// the next run means it is never skipped.
const SettleTime = 10 * time.Second

// PublisherOptions configure a Publisher.
type PublisherOptions struct {
	// Dir holds the files being built and delivered, one directory per
	// profile; a file stays there until its delivery is done. Required.
	Dir string
	// Logger gets one line per run and per failure; the zero Logger discards.
	Logger zerolog.Logger
	// Delivery configures the delivery clients (retries, logging).
	Delivery delivery.Options
	// Poll is how often Run looks for profiles that are due; default 1 min.
	Poll time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Observer, when set, is told of every run's end, for metrics. It is
	// called from the run's goroutine and must not block.
	Observer func(RunResult, error)
}

// Publisher builds and delivers publishing files.
type Publisher struct {
	db store.DB
	o  PublisherOptions

	// crash, when set (by tests), runs before (saved false) and after each
	// save of delivery state; an error stops the run there, as a crash
	// would.
	crash func(d delivery.Delivery, saved bool) error
}

// RunResult says what one run did.
type RunResult struct {
	Profile string
	Kind    string // full or incremental
	// Files are the delivered files' names: the _new file, then the
	// _delete file, each only when it has records; none when nothing
	// changed.
	Files   []string
	Records int  // records in the files, deletions included
	Deleted int  // of which deletions (the _delete file's records)
	Resumed bool // the run finished a delivery an earlier run had begun
	Through time.Time
}

// runState is a profile's saved progress (in the store's meta bucket).
type runState struct {
	// Through: every change stamped at or before it has been delivered.
	Through time.Time `json:"through,omitzero"`
	Runs    int       `json:"runs"`                 // files made so far
	LastRun time.Time `json:"last_run,omitzero"`    // end of the last finished run
	Pending *pending  `json:"pending,omitempty"`    // files on their way
	Failed  string    `json:"last_error,omitempty"` // for operators
	// Members are the bibs the partner holds as live records from the files
	// delivered so far (encodeIDs), so that a record leaving the selection
	// is sent as a deletion.
	Members []byte `json:"members,omitempty"`
}

// pending is a run's files, built and not yet known to be delivered.
type pending struct {
	Kind    string    `json:"kind"`
	Seq     int       `json:"seq"`
	Through time.Time `json:"through"`
	Records int       `json:"records"`
	Deleted int       `json:"deleted"`
	Members []byte    `json:"members,omitempty"` // once delivered
	// Files are delivered in order, each to the end before the next.
	Files []delivery.Delivery `json:"files"`
	// One is the single file of a run saved by a version that wrote one
	// file per run; state reads it as Files.
	One *delivery.Delivery `json:"delivery,omitempty"`
}

func (p *pending) names() []string {
	var out []string
	for _, d := range p.Files {
		out = append(out, d.Name)
	}
	return out
}

func stateKey(code string) string { return "publishing/" + code }

// NewPublisher returns a publisher over db.
func NewPublisher(db store.DB, o PublisherOptions) (*Publisher, error) {
	if o.Dir == "" {
		return nil, errors.New("publishing: PublisherOptions.Dir is required")
	}
	if o.Poll <= 0 {
		o.Poll = time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Publisher{db: db, o: o}, nil
}

// Run starts every scheduled profile's incremental run when it is due (and
// resumes unfinished deliveries) until ctx is done, then returns nil. A
// failed run is logged and tried again at the next poll.
func (p *Publisher) Run(ctx context.Context) error {
	t := time.NewTicker(p.o.Poll)
	defer t.Stop()
	for {
		p.runDue(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (p *Publisher) runDue(ctx context.Context) {
	profs, err := LoadProfiles(ctx, p.db)
	if err != nil {
		if ctx.Err() == nil {
			p.o.Logger.Error().Err(err).Str("component", "publishing").Msg("loading publishing profiles failed")
		}
		return
	}
	for _, pr := range profs {
		if pr.Every <= 0 || pr.Target == nil || ctx.Err() != nil {
			continue
		}
		st, err := p.state(ctx, pr.Code)
		if err != nil {
			p.o.Logger.Error().Err(err).Str("profile", pr.Code).Msg("reading publishing state failed")
			continue
		}
		if st.Pending == nil && p.now().Before(st.LastRun.Add(pr.Every)) {
			continue
		}
		if _, err := p.Incremental(ctx, pr.Code); err != nil && ctx.Err() == nil {
			p.o.Logger.Error().Err(err).Str("profile", pr.Code).Msg("publishing run failed; retrying at the next poll")
		}
	}
}

func (p *Publisher) now() time.Time { return p.o.Now().UTC() }

// runLocks serialises runs of one profile on one store across every
// Publisher of the process (the serve loop's and an admin command's).
var runLocks struct {
	sync.Mutex
	m map[runLockKey]*sync.Mutex
}

type runLockKey struct {
	db   store.DB
	code string
}

func (p *Publisher) lock(code string) func() {
	runLocks.Lock()
	if runLocks.m == nil {
		runLocks.m = map[runLockKey]*sync.Mutex{}
	}
	k := runLockKey{p.db, code}
	m := runLocks.m[k]
	if m == nil {
		m = &sync.Mutex{}
		runLocks.m[k] = m
	}
	runLocks.Unlock()
	m.Lock()
	return m.Unlock
}

func (p *Publisher) state(ctx context.Context, code string) (runState, error) {
	var st runState
	err := p.db.View(ctx, func(tx store.Tx) error {
		err := tx.Meta(stateKey(code), &st)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		return err
	})
	if st.Pending != nil && st.Pending.One != nil {
		st.Pending.Files, st.Pending.One = append(st.Pending.Files, *st.Pending.One), nil
	}
	return st, err
}

func (p *Publisher) saveState(ctx context.Context, code string, st runState) error {
	return p.db.Update(ctx, func(tx store.Tx) error { return tx.SetMeta(stateKey(code), st) })
}

// Incremental delivers the records of the profile changed since its last
// run (the whole selection, deletions included, on the first run). An
// unfinished delivery is finished first.
func (p *Publisher) Incremental(ctx context.Context, code string) (RunResult, error) {
	return p.observed(p.run(ctx, code, "incremental"))
}

// Full delivers every live record of the profile's selection, for a
// partner's first load; later incremental runs carry on from it.
func (p *Publisher) Full(ctx context.Context, code string) (RunResult, error) {
	return p.observed(p.run(ctx, code, "full"))
}

func (p *Publisher) observed(res RunResult, err error) (RunResult, error) {
	if p.o.Observer != nil {
		p.o.Observer(res, err)
	}
	return res, err
}

func (p *Publisher) run(ctx context.Context, code, kind string) (RunResult, error) {
	defer p.lock(code)()
	res := RunResult{Profile: code, Kind: kind}
	prof, err := LoadProfile(ctx, p.db, code)
	if err != nil {
		return res, err
	}
	if prof.Target == nil {
		return res, fmt.Errorf("publishing profile %s has no target", code)
	}
	client, err := delivery.NewClient(*prof.Target, p.o.Delivery)
	if err != nil {
		return res, err
	}
	// Every file of the run (a pending one, then the new ones) goes over
	// one connection.
	session := client.Open()
	defer session.Close()
	st, err := p.state(ctx, code)
	if err != nil {
		return res, err
	}
	if st.Pending != nil {
		pend := *st.Pending
		if err := p.deliver(ctx, session, code, &st); err != nil {
			return res, err
		}
		if pend.Kind == kind {
			return RunResult{Profile: code, Kind: kind, Files: pend.names(), Records: pend.Records,
				Deleted: pend.Deleted, Resumed: true, Through: pend.Through}, nil
		}
	}
	through := p.now().Add(-SettleTime).Truncate(time.Second)
	var from time.Time
	if kind == "incremental" && !st.Through.IsZero() {
		from = st.Through.Add(time.Second)
	}
	if through.Before(from) {
		return RunResult{Profile: code, Kind: kind, Through: st.Through}, nil
	}
	seq := st.Runs + 1
	dir := filepath.Join(p.o.Dir, code)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return res, err
	}
	members, err := decodeIDs(st.Members)
	if err != nil {
		return res, fmt.Errorf("publishing profile %s: saved state: %w", code, err)
	}
	if kind == "full" {
		members = idSet{}
	}
	out := runFiles{
		live:    filepath.Join(dir, FileName(code, seq, through, PartNew, prof.format())),
		deleted: filepath.Join(dir, FileName(code, seq, through, PartDelete, prof.format())),
	}
	n, deleted, err := p.build(ctx, &prof, kind == "full", from, through, out, members)
	if err != nil {
		os.Remove(out.live)
		os.Remove(out.deleted)
		return res, fmt.Errorf("build the files of %s run %d: %w", code, seq, err)
	}
	res.Through = through
	if n == 0 {
		st.Through, st.LastRun, st.Failed = through, p.now(), ""
		if kind == "full" {
			st.Members = nil // an empty first load: the partner holds nothing
		}
		return res, p.saveState(ctx, code, st)
	}
	pend := &pending{Kind: kind, Seq: seq, Through: through, Records: n, Deleted: deleted, Members: members.encode()}
	for _, f := range []struct {
		path    string
		records int
	}{{out.live, n - deleted}, {out.deleted, deleted}} {
		if f.records == 0 {
			continue
		}
		d, err := delivery.Prepare(filepath.Base(f.path), f.path, delivery.Summary{Records: f.records})
		if err != nil {
			return res, err
		}
		d.NoManifest = prof.NoManifest
		pend.Files = append(pend.Files, d)
	}
	st.Pending = pend
	if err := p.saveState(ctx, code, st); err != nil {
		return res, err
	}
	if err := p.deliver(ctx, session, code, &st); err != nil {
		return res, err
	}
	res.Files, res.Records, res.Deleted = pend.names(), n, deleted
	p.o.Logger.Info().Str("profile", code).Str("kind", kind).Strs("files", res.Files).Int("records", n).
		Int("deleted", deleted).Msg("published")
	return res, nil
}

// deliver sends st.Pending's files in order, each from the step it was
// saved at, and once all are done records the run as finished and
// removes the local files.
func (p *Publisher) deliver(ctx context.Context, session *delivery.Session, code string, st *runState) error {
	for i := range st.Pending.Files {
		save := delivery.StateStoreFunc(func(ctx context.Context, d delivery.Delivery) error {
			if p.crash != nil {
				if err := p.crash(d, false); err != nil {
					return err
				}
			}
			st.Pending.Files[i] = d
			if err := p.saveState(ctx, code, *st); err != nil {
				return err
			}
			if p.crash != nil {
				return p.crash(d, true)
			}
			return nil
		})
		if _, err := session.Resume(ctx, save, st.Pending.Files[i]); err != nil {
			if ctx.Err() == nil && p.crash == nil {
				fail := *st
				fail.Failed = err.Error()
				if serr := p.saveState(context.WithoutCancel(ctx), code, fail); serr != nil {
					p.o.Logger.Error().Err(serr).Str("profile", code).Msg("saving publishing state failed")
				}
			}
			return err
		}
	}
	done := *st.Pending
	st.Through, st.Runs, st.LastRun, st.Pending, st.Failed = done.Through, done.Seq, p.now(), nil, ""
	st.Members = done.Members
	if err := p.saveState(ctx, code, *st); err != nil {
		return err
	}
	for _, d := range done.Files {
		os.Remove(d.Source)
	}
	return nil
}

// The parts of a run: Alma's publishing writes the new and changed
// records and the deleted ones to separate files.
const (
	PartNew    = "new"
	PartDelete = "delete"
)

// FileName is the name of a part of a profile's run as Alma names its
// publishing files, which jobs written for Alma match:
// CODE_JOB_YYYYMMDD_HHMMSS[mmm]_PART.xml, .tar.gz added for a packed
// file, with the run's number as the job id and the upper bound of its
// window as the time. It is deterministic, so a resumed run keeps it.
func FileName(code string, seq int, through time.Time, part, format string) string {
	t := through.UTC()
	name := fmt.Sprintf("%s_%d_%s[%03d]_%s.xml", code, seq, t.Format("20060102_150405"), t.Nanosecond()/1e6, part)
	if format == FormatMARCXMLTarGz {
		name += ".tar.gz"
	}
	return name
}

// runFiles are the paths a run builds: the live records and the
// deletions.
type runFiles struct{ live, deleted string }

// build writes the records changed in [from, through] to out and counts
// them: selected live records to out.live, and deletions of selected
// records and of records the partner holds (members) that left the
// selection to out.deleted. A full run has selected live records only. A
// file that would hold no record is not written. members is updated to
// what the partner holds once the files are delivered.
func (p *Publisher) build(ctx context.Context, prof *Profile, full bool, from, through time.Time, out runFiles, members idSet) (n, deleted int, err error) {
	live, err := newCollection(out.live, prof.format())
	if err != nil {
		return 0, 0, err
	}
	defer live.discard()
	gone, err := newCollection(out.deleted, prof.format())
	if err != nil {
		return 0, 0, err
	}
	defer gone.discard()
	var buf []byte
	type entry struct {
		to  *collection
		rec []byte
	}
	var batch []entry
	repo := &Repository{db: p.db}
	visit := func(tx store.Tx, b *store.Bib, _ []Profile) (bool, error) {
		withdrawn := b.Deleted || b.Suppressed
		if full && withdrawn {
			return true, nil
		}
		rec, places, err := repo.loadPlaces(tx, b, nil, true)
		if err != nil {
			return false, err
		}
		_, held := members[b.ID]
		selected := prof.Selection.Matches(b, places)
		if !selected && !held {
			return true, nil
		}
		var m circ.MARCRecord
		to := live
		if withdrawn || !selected {
			raw, err := tx.BibMARC(b.ID)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return false, err
			}
			m = deletionRecord(b, raw)
			to = gone
			deleted++
			delete(members, b.ID)
		} else {
			if err := readMARC(tx, &rec, b.ID); err != nil {
				return false, err
			}
			recs, err := circ.ParseMARCXML(rec.MARCXML)
			if err != nil {
				p.o.Logger.Warn().Str("profile", prof.Code).Uint64("bib", b.ID).Err(err).Msg("stored MARC cannot be read; record left out")
				return true, nil
			}
			m = recs[0]
			if e := prof.enrichment(); e.Any() {
				inv, err := inventoryOf(tx, b, true)
				if err != nil {
					return false, err
				}
				m.Data = withInventory(m.Data, inv.holdings, e)
			}
			members[b.ID] = struct{}{}
		}
		buf = m.AppendXML(buf[:0])
		batch = append(batch, entry{to, append(append([]byte(nil), buf...), '\n')})
		n++
		return true, nil
	}
	flush := func() error {
		for _, e := range batch {
			if err := e.to.add(e.rec); err != nil {
				return err
			}
		}
		batch = batch[:0]
		return ctx.Err()
	}
	if err := repo.scan(ctx, from, through, time.Time{}, 0, visit, flush); err != nil {
		return 0, 0, err
	}
	if err := live.finish(through); err != nil {
		return 0, 0, err
	}
	if err := gone.finish(through); err != nil {
		return 0, 0, err
	}
	return n, deleted, nil
}

// collection is one file of a run being written: a MARCXML <collection>,
// packed into a .tar.gz of its own when the format asks for it. It is
// created with its first record, so a part without records leaves no file.
type collection struct {
	path, xmlPath string
	f             *os.File
	w             *bufio.Writer
	records       int
}

func newCollection(path, format string) (*collection, error) {
	c := &collection{path: path, xmlPath: path}
	if format == FormatMARCXMLTarGz {
		c.xmlPath = strings.TrimSuffix(path, ".tar.gz") + ".building"
	}
	os.Remove(path)
	return c, nil
}

func (c *collection) add(rec []byte) error {
	if c.f == nil {
		f, err := os.OpenFile(c.xmlPath, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		c.f, c.w = f, bufio.NewWriterSize(f, 64<<10)
		c.w.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<collection xmlns="` + circ.MARC21slimNS + `">` + "\n")
	}
	c.records++
	_, err := c.w.Write(rec)
	return err
}

// finish closes the collection, syncs it and packs it; mtime is the
// packed entry's time.
func (c *collection) finish(mtime time.Time) error {
	if c.f == nil {
		return nil
	}
	c.w.WriteString("</collection>\n")
	if err := c.w.Flush(); err != nil {
		return err
	}
	if err := c.f.Sync(); err != nil {
		return err
	}
	if err := c.f.Close(); err != nil {
		return err
	}
	c.f = nil
	if c.xmlPath != c.path {
		return tarGz(c.xmlPath, c.path, filepath.Base(strings.TrimSuffix(c.path, ".tar.gz")), mtime)
	}
	return nil
}

// discard closes a collection not finished and removes what building it
// left behind (the packed file stays).
func (c *collection) discard() {
	if c.f != nil {
		c.f.Close()
	}
	if c.xmlPath != c.path {
		os.Remove(c.xmlPath)
	}
}

// deletionRecord is the stored record with leader/05 = d, or a minimal one
// carrying the control number when the stored MARC cannot be read.
func deletionRecord(b *store.Bib, raw string) circ.MARCRecord {
	m := circ.MARCRecord{Leader: "00000dam a2200000   4500"}
	if recs, err := circ.ParseMARCXML([]byte(raw)); err == nil {
		m = recs[0]
	} else {
		m.Control = []circ.ControlField{{Tag: "001", Value: firstNonEmpty(b.ControlNumber, strconv.FormatUint(b.ID, 10))}}
	}
	l := []rune(m.Leader)
	if len(l) >= 6 {
		l[5] = 'd'
		m.Leader = string(l)
	}
	return m
}

// withInventory gives a record the inventory fields of the enrichment.
func withInventory(data []circ.DataField, hs []oai.Holding, e oai.Enrichment) []circ.DataField {
	inv := oai.InventoryFields(hs, e)
	inv = slices.DeleteFunc(inv, func(f circ.DataField) bool { return len(f.Subfields) == 0 })
	return oai.MergeInventory(data, inv, e)
}

// tarGz packs src into dst as one tar entry called name, deterministically
// (fixed time, owner and mode), so a rebuilt file has the same bytes.
func tarGz(src, dst, name string, mtime time.Time) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer out.Close()
	zw := gzip.NewWriter(out)
	tw := tar.NewWriter(zw)
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Size: fi.Size(), Mode: 0o644, ModTime: mtime.UTC(), Format: tar.FormatUSTAR}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if _, err := io.Copy(tw, in); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if err := out.Sync(); err != nil {
		return err
	}
	return out.Close()
}

// idSet is a set of bib ids.
type idSet map[uint64]struct{}

// encode writes the ids ascending as uvarint deltas.
func (s idSet) encode() []byte {
	ids := make([]uint64, 0, len(s))
	for id := range s {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var b []byte
	prev := uint64(0)
	for _, id := range ids {
		b = binary.AppendUvarint(b, id-prev)
		prev = id
	}
	return b
}

func decodeIDs(b []byte) (idSet, error) {
	s := idSet{}
	prev := uint64(0)
	for len(b) > 0 {
		d, n := binary.Uvarint(b)
		if n <= 0 {
			return nil, errors.New("bad member list")
		}
		prev += d
		s[prev] = struct{}{}
		b = b[n:]
	}
	return s, nil
}

// Status is a profile's publishing progress, for operators.
type Status struct {
	Code        string
	Through     time.Time // every change stamped up to here has been delivered
	Runs        int       // files delivered
	LastRun     time.Time
	Held        int           // records the partner holds as live records
	Pending     string        // the files on their way, if any
	Undelivered int           // how many of them are not yet delivered
	Step        delivery.Step // how far the first of them not done has got
	Failed      string        // the last failure, until a run succeeds
}

// LoadStatus returns the progress of a profile's file publishing.
func LoadStatus(ctx context.Context, db store.DB, code string) (Status, error) {
	p := &Publisher{db: db}
	st, err := p.state(ctx, code)
	if err != nil {
		return Status{}, err
	}
	members, err := decodeIDs(st.Members)
	if err != nil {
		return Status{}, fmt.Errorf("publishing profile %s: saved state: %w", code, err)
	}
	s := Status{Code: code, Through: st.Through, Runs: st.Runs, LastRun: st.LastRun, Held: len(members), Failed: st.Failed}
	if st.Pending != nil {
		s.Pending = strings.Join(st.Pending.names(), ", ")
		for _, d := range st.Pending.Files {
			if d.Step == delivery.StepDone {
				continue
			}
			if s.Undelivered == 0 {
				s.Step = d.Step
			}
			s.Undelivered++
		}
	}
	return s, nil
}
