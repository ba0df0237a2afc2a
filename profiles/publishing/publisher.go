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
}

// Publisher builds and delivers publishing files.
type Publisher struct {
	db *store.DB
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
	File    string // the delivered file's name; empty when nothing changed
	Records int    // records in the file, deletions included
	Deleted int    // of which deletions
	Resumed bool   // the run finished a delivery an earlier run had begun
	Through time.Time
}

// runState is a profile's saved progress (in the store's meta bucket).
type runState struct {
	// Through: every change stamped at or before it has been delivered.
	Through time.Time `json:"through,omitzero"`
	Runs    int       `json:"runs"`                 // files made so far
	LastRun time.Time `json:"last_run,omitzero"`    // end of the last finished run
	Pending *pending  `json:"pending,omitempty"`    // a file on its way
	Failed  string    `json:"last_error,omitempty"` // for operators
	// Members are the bibs the partner holds as live records from the files
	// delivered so far (encodeIDs), so that a record leaving the selection
	// is sent as a deletion.
	Members []byte `json:"members,omitempty"`
}

// pending is a built file not yet known to be delivered.
type pending struct {
	Kind     string            `json:"kind"`
	Seq      int               `json:"seq"`
	Through  time.Time         `json:"through"`
	Records  int               `json:"records"`
	Deleted  int               `json:"deleted"`
	Members  []byte            `json:"members,omitempty"` // once delivered
	Delivery delivery.Delivery `json:"delivery"`
}

func stateKey(code string) string { return "publishing/" + code }

// NewPublisher returns a publisher over db.
func NewPublisher(db *store.DB, o PublisherOptions) (*Publisher, error) {
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
	db   *store.DB
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
	err := p.db.View(ctx, func(tx *store.Tx) error {
		err := tx.Meta(stateKey(code), &st)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		return err
	})
	return st, err
}

func (p *Publisher) saveState(ctx context.Context, code string, st runState) error {
	return p.db.Update(ctx, func(tx *store.Tx) error { return tx.SetMeta(stateKey(code), st) })
}

// Incremental delivers the records of the profile changed since its last
// run (the whole selection, deletions included, on the first run). An
// unfinished delivery is finished first.
func (p *Publisher) Incremental(ctx context.Context, code string) (RunResult, error) {
	return p.run(ctx, code, "incremental")
}

// Full delivers every live record of the profile's selection, for a
// partner's first load; later incremental runs carry on from it.
func (p *Publisher) Full(ctx context.Context, code string) (RunResult, error) {
	return p.run(ctx, code, "full")
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
	st, err := p.state(ctx, code)
	if err != nil {
		return res, err
	}
	if st.Pending != nil {
		pend := *st.Pending
		if err := p.deliver(ctx, client, code, &st, nil); err != nil {
			return res, err
		}
		if pend.Kind == kind {
			return RunResult{Profile: code, Kind: kind, File: pend.Delivery.Name, Records: pend.Records,
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
	name := fileName(code, kind, seq, through, prof.format())
	dir := filepath.Join(p.o.Dir, code)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return res, err
	}
	path := filepath.Join(dir, name)
	members, err := decodeIDs(st.Members)
	if err != nil {
		return res, fmt.Errorf("publishing profile %s: saved state: %w", code, err)
	}
	if kind == "full" {
		members = idSet{}
	}
	n, deleted, err := p.build(ctx, &prof, kind == "full", from, through, path, members)
	if err != nil {
		os.Remove(path)
		return res, fmt.Errorf("build %s: %w", name, err)
	}
	res.Through = through
	if n == 0 {
		os.Remove(path)
		st.Through, st.LastRun, st.Failed = through, p.now(), ""
		if kind == "full" {
			st.Members = nil // an empty first load: the partner holds nothing
		}
		return res, p.saveState(ctx, code, st)
	}
	d, err := delivery.Prepare(name, path, delivery.Summary{Records: n})
	if err != nil {
		return res, err
	}
	d.NoManifest = prof.NoManifest
	st.Pending = &pending{Kind: kind, Seq: seq, Through: through, Records: n, Deleted: deleted, Members: members.encode(), Delivery: d}
	if err := p.deliver(ctx, client, code, &st, &d); err != nil {
		return res, err
	}
	res.File, res.Records, res.Deleted = name, n, deleted
	p.o.Logger.Info().Str("profile", code).Str("kind", kind).Str("file", name).Int("records", n).
		Int("deleted", deleted).Msg("published")
	return res, nil
}

// deliver sends st.Pending (fresh when d is given, else resumed) and, once
// it is done, records the run as finished and removes the local file.
func (p *Publisher) deliver(ctx context.Context, client *delivery.Client, code string, st *runState, d *delivery.Delivery) error {
	save := delivery.StateStoreFunc(func(ctx context.Context, d delivery.Delivery) error {
		if p.crash != nil {
			if err := p.crash(d, false); err != nil {
				return err
			}
		}
		st.Pending.Delivery = d
		if err := p.saveState(ctx, code, *st); err != nil {
			return err
		}
		if p.crash != nil {
			return p.crash(d, true)
		}
		return nil
	})
	var err error
	if d != nil {
		_, err = client.Deliver(ctx, save, *d)
	} else {
		_, err = client.Resume(ctx, save, st.Pending.Delivery)
	}
	if err != nil {
		if ctx.Err() == nil && p.crash == nil {
			fail := *st
			fail.Failed = err.Error()
			if serr := p.saveState(context.WithoutCancel(ctx), code, fail); serr != nil {
				p.o.Logger.Error().Err(serr).Str("profile", code).Msg("saving publishing state failed")
			}
		}
		return err
	}
	done := *st.Pending
	st.Through, st.Runs, st.LastRun, st.Pending, st.Failed = done.Through, done.Seq, p.now(), nil, ""
	st.Members = done.Members
	if err := p.saveState(ctx, code, *st); err != nil {
		return err
	}
	os.Remove(done.Delivery.Source)
	return nil
}

// fileName is deterministic for a run: profile, kind, sequence and the
// window's upper bound.
func fileName(code, kind string, seq int, through time.Time, format string) string {
	name := fmt.Sprintf("%s_%s_%06d_%s.xml", code, kind, seq, through.UTC().Format("20060102T150405Z"))
	if format == FormatMARCXMLTarGz {
		name += ".tar.gz"
	}
	return name
}

// build writes the records changed in [from, through] to path and counts
// them: selected live records, and deletions of selected records and of
// records the partner holds (members) that left the selection. A full file
// has selected live records only. members is updated to what the partner
// holds once the file is delivered.
func (p *Publisher) build(ctx context.Context, prof *Profile, full bool, from, through time.Time, path string, members idSet) (n, deleted int, err error) {
	xmlPath := path
	if prof.format() == FormatMARCXMLTarGz {
		xmlPath = strings.TrimSuffix(path, ".tar.gz") + ".building"
		defer os.Remove(xmlPath)
	}
	f, err := os.OpenFile(xmlPath, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 64<<10)
	w.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<collection xmlns="` + circ.MARC21slimNS + `">` + "\n")
	var buf []byte
	var pendingOut [][]byte
	repo := &Repository{db: p.db}
	visit := func(tx *store.Tx, b *store.Bib, _ []Profile) (bool, error) {
		gone := b.Deleted || b.Suppressed
		if full && gone {
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
		if gone || !selected {
			raw, err := tx.BibMARC(b.ID)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return false, err
			}
			m = deletionRecord(b, raw)
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
		pendingOut = append(pendingOut, append(append([]byte(nil), buf...), '\n'))
		n++
		return true, nil
	}
	flush := func() error {
		for _, b := range pendingOut {
			if _, err := w.Write(b); err != nil {
				return err
			}
		}
		pendingOut = pendingOut[:0]
		return ctx.Err()
	}
	if err := repo.scan(ctx, from, through, time.Time{}, 0, visit, flush); err != nil {
		return 0, 0, err
	}
	w.WriteString("</collection>\n")
	if err := w.Flush(); err != nil {
		return 0, 0, err
	}
	if err := f.Sync(); err != nil {
		return 0, 0, err
	}
	if err := f.Close(); err != nil {
		return 0, 0, err
	}
	if xmlPath != path {
		if err := tarGz(xmlPath, path, filepath.Base(strings.TrimSuffix(path, ".tar.gz")), through); err != nil {
			return 0, 0, err
		}
	}
	return n, deleted, nil
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
	Code    string
	Through time.Time // every change stamped up to here has been delivered
	Runs    int       // files delivered
	LastRun time.Time
	Held    int    // records the partner holds as live records
	Pending string // a file on its way, if any
	Step    delivery.Step
	Failed  string // the last failure, until a run succeeds
}

// LoadStatus returns the progress of a profile's file publishing.
func LoadStatus(ctx context.Context, db *store.DB, code string) (Status, error) {
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
		s.Pending, s.Step = st.Pending.Delivery.Name, st.Pending.Delivery.Step
	}
	return s, nil
}
