package publishing

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/profiles/oai"
	"github.com/circa-ils/circa/store"
)

// Options describe the repository to harvesters.
type Options struct {
	Name        string   // repositoryName
	BaseURL     string   // baseURL; empty: derived from each request
	AdminEmails []string // at least one for a valid Identify
	// RepositoryID is the domain-like name in identifiers
	// (oai:<RepositoryID>:<bib id>), e.g. "catalog.example.edu".
	RepositoryID string
	// CountTTL is how long a list size may be reused while the store keeps
	// changing; default 30 s. While nothing commits it is reused as is.
	CountTTL time.Duration
}

// readChunk is how many records one read transaction yields, and
// scanChunk how many index entries it may look at, so that no read
// transaction stays open for long.
const (
	readChunk = 64
	scanChunk = 1024
)

// Repository is the store-backed oai.Repository.
type Repository struct {
	db store.DB
	o  Options

	mu     sync.Mutex
	counts map[countKey]countEntry
}

type countKey struct {
	from, until time.Time
	set         string
}

type countEntry struct {
	n       int
	changed <-chan struct{} // closed at the first commit after counting
	at      time.Time
}

var _ oai.Repository = (*Repository)(nil)

// NewRepository returns the repository over db.
func NewRepository(db store.DB, o Options) *Repository {
	if o.CountTTL <= 0 {
		o.CountTTL = 30 * time.Second
	}
	o.AdminEmails = slices.Clone(o.AdminEmails)
	return &Repository{db: db, o: o, counts: map[countKey]countEntry{}}
}

// Handler returns the OAI-PMH data provider over db. Unless oo.TokenKey is
// set, resumptionTokens are signed with a key derived from the store's
// install key, so they stay valid across restarts.
func Handler(db store.DB, o Options, oo oai.Options) (*oai.Handler, error) {
	if len(oo.TokenKey) == 0 {
		err := db.View(context.Background(), func(tx store.Tx) error {
			if k := tx.InstallKey(); len(k) > 0 {
				m := hmac.New(sha256.New, k)
				m.Write([]byte("circa oai resumptionToken v1"))
				oo.TokenKey = m.Sum(nil)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return oai.NewHandler(NewRepository(db, o), oo), nil
}

// Identity describes the repository; the earliest datestamp is the oldest
// change stamp.
func (r *Repository) Identity(ctx context.Context) (oai.Identity, error) {
	id := oai.Identity{Name: r.o.Name, BaseURL: r.o.BaseURL, AdminEmails: r.o.AdminEmails, RepositoryIdentifier: r.o.RepositoryID}
	err := r.db.View(ctx, func(tx store.Tx) error {
		id.EarliestDatestamp, _ = tx.EarliestChange()
		return nil
	})
	return id, err
}

// SetToken writes a code as one setSpec token: bytes outside [A-Za-z0-9-_.]
// become ~ and two upper-case hex digits.
func SetToken(code string) string {
	var b strings.Builder
	for i := 0; i < len(code); i++ {
		c := code[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "~%02X", c)
		}
	}
	return b.String()
}

// LibrarySet, LocationSet and ProfileSet are the setSpecs of a library, a
// location of it and a publishing profile.
func LibrarySet(library string) string { return "library:" + SetToken(library) }

// LocationSet is the setSpec of a location of a library.
func LocationSet(library, location string) string {
	return LibrarySet(library) + ":" + SetToken(location)
}

// ProfileSet is the setSpec of a publishing profile's selection.
func ProfileSet(code string) string { return "profile:" + SetToken(code) }

// Sets lists every library, location and publishing profile.
func (r *Repository) Sets(ctx context.Context) ([]oai.Set, error) {
	var sets []oai.Set
	err := r.db.View(ctx, func(tx store.Tx) error {
		libs, err := tx.Libraries()
		if err != nil {
			return err
		}
		names := map[string]string{}
		for _, l := range libs {
			names[l.Code] = l.Name
			sets = append(sets, oai.Set{Spec: LibrarySet(l.Code), Name: firstNonEmpty(l.Name, l.Code)})
		}
		locs, err := tx.Locations()
		if err != nil {
			return err
		}
		for _, l := range locs {
			name := firstNonEmpty(l.Name, l.Code)
			if ln := names[l.Library]; ln != "" && !strings.HasPrefix(name, ln) {
				name = ln + ": " + name
			}
			sets = append(sets, oai.Set{Spec: LocationSet(l.Library, l.Code), Name: name})
		}
		profs, err := profilesIn(tx)
		if err != nil {
			return err
		}
		for _, p := range profs {
			sets = append(sets, oai.Set{Spec: ProfileSet(p.Code), Name: firstNonEmpty(p.Name, "Publishing profile "+p.Code)})
		}
		return nil
	})
	return sets, err
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// Record returns one record by bib id.
func (r *Repository) Record(ctx context.Context, bibID string) (oai.Record, error) {
	id, err := strconv.ParseUint(bibID, 10, 64)
	if err != nil || strconv.FormatUint(id, 10) != bibID {
		return oai.Record{}, fmt.Errorf("bib %q: %w", bibID, oai.ErrNotFound)
	}
	var rec oai.Record
	err = r.db.View(ctx, func(tx store.Tx) error {
		b, err := tx.Bib(id)
		if errors.Is(err, store.ErrNotFound) || err == nil && b.Temporary {
			return fmt.Errorf("bib %d: %w", id, oai.ErrNotFound)
		}
		if err != nil {
			return err
		}
		profs, err := profilesIn(tx)
		if err != nil {
			return err
		}
		rec, err = r.load(tx, &b, profs, false)
		return err
	})
	return rec, err
}

// load reads everything a record needs inside tx; the result holds copies.
func (r *Repository) load(tx store.Tx, b *store.Bib, profs []Profile, headersOnly bool) (oai.Record, error) {
	rec, _, err := r.loadPlaces(tx, b, profs, headersOnly)
	return rec, err
}

// loadPlaces is load that also returns the places the record is held at
// (or was, for a tombstone).
func (r *Repository) loadPlaces(tx store.Tx, b *store.Bib, profs []Profile, headersOnly bool) (oai.Record, []circ.Place, error) {
	rec, places, _, err := r.loadFormer(tx, b, profs, headersOnly)
	return rec, places, err
}

// loadFormer is loadPlaces that also returns the sets a live record has
// left: those of the places its items have all moved away from, so that a
// harvester of such a set can be told the record is gone from it.
func (r *Repository) loadFormer(tx store.Tx, b *store.Bib, profs []Profile, headersOnly bool) (oai.Record, []circ.Place, []string, error) {
	rec := oai.Record{ID: strconv.FormatUint(b.ID, 10), Datestamp: b.Changed, Deleted: b.Deleted || b.Suppressed}
	var places, former []circ.Place
	if rec.Deleted {
		ts, _, err := circ.TombstoneOf(tx, b.ID)
		if err != nil {
			return rec, nil, nil, err
		}
		places = ts.Places
		if !b.Deleted { // suppressed: still held where its items are
			now, err := circ.PlacesOf(tx, b.ID)
			if err != nil {
				return rec, nil, nil, err
			}
			places = mergePlaces(places, now)
		}
	} else {
		inv, err := inventoryOf(tx, b, !headersOnly)
		if err != nil {
			return rec, nil, nil, err
		}
		places, former = inv.places, inv.former
		rec.Holdings = inv.holdings
		if !headersOnly {
			if err := readMARC(tx, &rec, b.ID); err != nil {
				return rec, nil, nil, err
			}
		}
	}
	rec.Sets = setsOf(b, places, profs)
	var left []string
	if len(former) > 0 {
		left = slices.DeleteFunc(setsOf(b, mergePlaces(places, former), profs), func(s string) bool {
			return slices.Contains(rec.Sets, s)
		})
	}
	return rec, places, left, nil
}

// readMARC fills in a record's stored MARCXML (none for a tombstone).
func readMARC(tx store.Tx, rec *oai.Record, id uint64) error {
	if rec.Deleted {
		return nil
	}
	m, err := tx.BibMARC(id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	rec.MARCXML = []byte(m)
	return nil
}

// inventory is what a live record's holdings say about it.
type inventory struct {
	holdings []oai.Holding // with their items, for enrichment
	places   []circ.Place  // where it is held now
	former   []circ.Place  // where it was held before all its items there moved away
}

// inventoryOf returns a record's holdings records with their items, its
// places and its former places. A bib with items is held where they are,
// and a holdings record every item has left is a former place; a bib
// without items (a title on order) is held at its holdings. With details,
// the holdings carry what enrichment publishes (institution, call-number
// scheme, items).
func inventoryOf(tx store.Tx, b *store.Bib, details bool) (inventory, error) {
	var inv inventory
	hs, err := tx.HoldingsOfBib(b.ID)
	if err != nil {
		return inv, err
	}
	its, err := tx.ItemsOfBib(b.ID)
	if err != nil {
		return inv, err
	}
	var institution string
	if details {
		in, err := tx.Institution()
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return inv, err
		}
		institution = in.Code
	}
	locs := map[string]store.Location{}
	location := func(code string) (store.Location, error) {
		l, ok := locs[code]
		if ok || !details {
			return l, nil
		}
		l, err := tx.Location(code)
		if errors.Is(err, store.ErrNotFound) {
			err = nil
		}
		locs[code] = l
		return l, err
	}
	byID := map[uint64]int{}        // holdings id → index in inv.holdings
	byPlace := map[circ.Place]int{} // the same for items without a holdings record of their own
	group := func(id uint64, library, loc, call string) (int, error) {
		place := circ.Place{Library: library, Location: loc}
		if i, ok := byID[id]; ok && id != 0 {
			return i, nil
		}
		if i, ok := byPlace[place]; ok && id == 0 {
			return i, nil
		}
		l, err := location(loc)
		if err != nil {
			return 0, err
		}
		h := oai.Holding{Institution: institution, Library: library, Location: loc,
			CallNumber: firstNonEmpty(call, b.CallNumber), CallNumberType: l.CallNumberType}
		if id != 0 {
			h.ID = strconv.FormatUint(id, 10)
			byID[id] = len(inv.holdings)
		} else {
			byPlace[place] = len(inv.holdings)
		}
		inv.holdings = append(inv.holdings, h)
		return len(inv.holdings) - 1, nil
	}
	held := map[uint64]store.Holding{}
	for _, h := range hs {
		held[h.ID] = h
	}
	used := map[uint64]bool{}
	for _, it := range its {
		h, ok := held[it.HoldingID]
		if !ok || h.Library != it.Library || h.Location != it.Location {
			h = store.Holding{Library: it.Library, Location: it.Location} // no holdings record of its own
		}
		i, err := group(h.ID, it.Library, it.Location, firstNonEmpty(h.CallNumber, it.CallNumber))
		if err != nil {
			return inv, err
		}
		used[h.ID] = true
		l, err := location(it.Location)
		if err != nil {
			return inv, err
		}
		item := oai.Item{ID: strconv.FormatUint(it.ID, 10), Barcode: it.Barcode, Status: string(it.Status)}
		if l.NotCirculating {
			item.UseRestriction = "In library use"
		}
		inv.holdings[i].Items = append(inv.holdings[i].Items, item)
		inv.places = append(inv.places, circ.Place{Library: it.Library, Location: it.Location})
	}
	for _, h := range hs {
		switch {
		case len(its) == 0:
			if _, err := group(h.ID, h.Library, h.Location, h.CallNumber); err != nil {
				return inv, err
			}
			inv.places = append(inv.places, circ.Place{Library: h.Library, Location: h.Location})
		case !used[h.ID]:
			inv.former = append(inv.former, circ.Place{Library: h.Library, Location: h.Location})
		}
	}
	inv.places = mergePlaces(nil, inv.places)
	inv.former = slices.DeleteFunc(mergePlaces(nil, inv.former), func(p circ.Place) bool { return slices.Contains(inv.places, p) })
	return inv, nil
}

func mergePlaces(a, b []circ.Place) []circ.Place {
	out := append(slices.Clone(a), b...)
	slices.SortFunc(out, func(x, y circ.Place) int {
		if c := strings.Compare(x.Library, y.Library); c != 0 {
			return c
		}
		return strings.Compare(x.Location, y.Location)
	})
	return slices.Compact(out)
}

// setsOf returns a record's setSpecs, sorted.
func setsOf(b *store.Bib, places []circ.Place, profs []Profile) []string {
	var sets []string
	for _, p := range places {
		sets = append(sets, LibrarySet(p.Library), LocationSet(p.Library, p.Location))
	}
	for i := range profs {
		if profs[i].Selection.Matches(b, places) {
			sets = append(sets, ProfileSet(profs[i].Code))
		}
	}
	slices.Sort(sets)
	return slices.Compact(sets)
}

// scanFunc is called for each candidate bib inside a read transaction; it
// returns false to end that transaction early (a full batch).
type scanFunc func(tx store.Tx, b *store.Bib, profs []Profile) (bool, error)

// scan walks the change index over [from, until] after (afterTime, afterID)
// in short read transactions of at most scanChunk entries, calling visit
// inside the transaction and flush after each one, until the index range
// is exhausted or flush returns an error.
func (r *Repository) scan(ctx context.Context, from, until time.Time, afterTime time.Time, afterID uint64,
	visit scanFunc, flush func() error) error {
	for {
		exhausted := true
		err := r.db.View(ctx, func(tx store.Tx) error {
			profs, err := profilesIn(tx)
			if err != nil {
				return err
			}
			scanned := 0
			var verr error
			err = tx.BibsChanged(from, until, afterTime, afterID, func(b store.Bib) bool {
				scanned++
				afterTime, afterID = b.Changed, b.ID
				if !b.Temporary {
					more, err := visit(tx, &b, profs)
					if err != nil {
						verr = err
						return false
					}
					if !more {
						exhausted = false
						return false
					}
				}
				if scanned == scanChunk {
					exhausted = false
					return false
				}
				return true
			})
			if err == nil {
				err = verr
			}
			return err
		})
		if err != nil {
			return err
		}
		if err := flush(); err != nil {
			return err
		}
		if exhausted {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// parseKey turns a list position into the change index's terms.
func parseKey(k oai.Key) (time.Time, uint64, error) {
	if k.ID == "" {
		return time.Time{}, 0, nil
	}
	id, err := strconv.ParseUint(k.ID, 10, 64)
	if err != nil {
		return time.Time{}, 0, fmt.Errorf("publishing: list position %q is not a bib id", k.ID)
	}
	return k.Datestamp, id, nil
}

// untilOf is the inclusive upper bound of a range (no bound: far future).
func untilOf(rg oai.Range) time.Time {
	if rg.Until.IsZero() {
		return time.Unix(1<<40, 0)
	}
	return rg.Until
}

// List yields the records of the range after req.After, reading at most
// readChunk records per read transaction and calling fn between them.
func (r *Repository) List(ctx context.Context, req oai.ListRequest, fn func(oai.Record) error) error {
	// Commits already under way may carry changes stamped before this
	// response's date; wait for them, so the next incremental harvest (from
	// this response's date) cannot miss one.
	r.db.WaitCommitted(time.Now())
	afterTime, afterID, err := parseKey(req.After)
	if err != nil {
		return err
	}
	n := 0
	batch := make([]oai.Record, 0, readChunk)
	visit := func(tx store.Tx, b *store.Bib, profs []Profile) (bool, error) {
		rec, in, err := r.inSet(tx, b, profs, req.Set)
		if err != nil {
			return false, err
		}
		if !in {
			return true, nil
		}
		if !req.HeadersOnly {
			if err := readMARC(tx, &rec, b.ID); err != nil {
				return false, err
			}
		}
		batch = append(batch, rec)
		return len(batch) < readChunk && n+len(batch) < req.Limit, nil
	}
	flush := func() error {
		for _, rec := range batch {
			if err := fn(rec); err != nil {
				return err
			}
			n++
		}
		batch = batch[:0]
		if n >= req.Limit {
			return errListFull
		}
		return nil
	}
	if req.Limit <= 0 {
		return nil
	}
	err = r.scan(ctx, req.From, untilOf(req.Range), afterTime, afterID, visit, flush)
	if errors.Is(err, errListFull) {
		return nil
	}
	return err
}

var errListFull = errors.New("publishing: list full")

// inSet returns a record's header as a list of set is to show it, and
// whether it belongs there: a record that has left the set (its items
// there all moved away) is listed in it as deleted, so that the set's
// harvesters drop it.
func (r *Repository) inSet(tx store.Tx, b *store.Bib, profs []Profile, set string) (oai.Record, bool, error) {
	rec, _, left, err := r.loadFormer(tx, b, profs, true)
	switch {
	case err != nil:
		return rec, false, err
	case oai.InSet(rec.Sets, set):
		return rec, true, nil
	case oai.InSet(left, set):
		return oai.Record{ID: rec.ID, Datestamp: rec.Datestamp, Deleted: true, Sets: left}, true, nil
	}
	return rec, false, nil
}

// Count returns the number of records in the range. A count is reused
// while nothing has committed since, or for Options.CountTTL.
func (r *Repository) Count(ctx context.Context, rg oai.Range) (int, error) {
	r.db.WaitCommitted(time.Now())
	key := countKey{rg.From, rg.Until, rg.Set}
	now := time.Now()
	r.mu.Lock()
	e, ok := r.counts[key]
	r.mu.Unlock()
	if ok && (now.Sub(e.at) < r.o.CountTTL || !isClosed(e.changed)) {
		return e.n, nil
	}
	changed := r.db.Changed()
	n := 0
	visit := func(tx store.Tx, b *store.Bib, profs []Profile) (bool, error) {
		if rg.Set == "" {
			n++
			return true, nil
		}
		_, in, err := r.inSet(tx, b, profs, rg.Set)
		if err != nil {
			return false, err
		}
		if in {
			n++
		}
		return true, nil
	}
	if err := r.scan(ctx, rg.From, untilOf(rg), time.Time{}, 0, visit, func() error { return nil }); err != nil {
		return 0, err
	}
	r.mu.Lock()
	if len(r.counts) >= 256 {
		clear(r.counts)
	}
	r.counts[key] = countEntry{n: n, changed: changed, at: now}
	r.mu.Unlock()
	return n, nil
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
