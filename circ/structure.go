package circ

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // library zones must resolve on a host without zoneinfo

	"github.com/circa-ils/circa/store"
)

// The libraries, locations and desks: the structure every item, patron,
// rule and profile names. Each change is checked here, for every caller,
// and journalled; removing something still named is refused with what
// names it.

// ErrExists refuses an add of a code already taken.
var ErrExists = errors.New("exists")

// AddLibrary stores a new library.
func (s *Service) AddLibrary(ctx context.Context, l store.Library, agent Agent) error {
	if err := checkLibrary(&l); err != nil {
		return err
	}
	return s.structureUpdate(ctx, "library.add", agent, func(tx store.Tx) error {
		if _, err := tx.Library(l.Code); err == nil {
			return fmt.Errorf("library %s: %w; use edit", l.Code, ErrExists)
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return tx.PutLibrary(&l)
	})
}

// EditLibrary changes a library with change, then checks the result.
func (s *Service) EditLibrary(ctx context.Context, code string, change func(*store.Library), agent Agent) error {
	err := s.structureUpdate(ctx, "library.edit", agent, func(tx store.Tx) error {
		l, err := tx.Library(code)
		if errors.Is(err, store.ErrNotFound) {
			return notFound(tx, "library", code)
		}
		if err != nil {
			return err
		}
		change(&l)
		l.Code = code
		if err := checkLibrary(&l); err != nil {
			return err
		}
		return tx.PutLibrary(&l)
	})
	if err == nil {
		// The zone may have changed: the next Zone call reads it again.
		s.zonesMu.Lock()
		delete(s.zones, code)
		s.zonesMu.Unlock()
	}
	return err
}

// RemoveLibrary removes a library nothing refers to.
func (s *Service) RemoveLibrary(ctx context.Context, code string, agent Agent) error {
	if err := s.refuseReferencedView(ctx, "library", code); err != nil {
		return err
	}
	return s.structureUpdate(ctx, "library.remove", agent, func(tx store.Tx) error {
		if _, err := tx.Library(code); errors.Is(err, store.ErrNotFound) {
			return notFound(tx, "library", code)
		} else if err != nil {
			return err
		}
		if err := s.refuseReferenced(tx, "library", code); err != nil {
			return err
		}
		return tx.DeleteLibrary(code)
	})
}

// AddLocation stores a new location of an existing library.
func (s *Service) AddLocation(ctx context.Context, l store.Location, agent Agent) error {
	return s.structureUpdate(ctx, "location.add", agent, func(tx store.Tx) error {
		if _, err := tx.Location(l.Code); err == nil {
			return fmt.Errorf("location %s: %w; use edit", l.Code, ErrExists)
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if err := checkLocation(tx, &l); err != nil {
			return err
		}
		return tx.PutLocation(&l)
	})
}

// EditLocation changes a location with change, then checks the result. A
// location keeps its library while desks, items or holdings name it: they
// would be left pointing across libraries.
func (s *Service) EditLocation(ctx context.Context, code string, change func(*store.Location), agent Agent) error {
	return s.structureUpdate(ctx, "location.edit", agent, func(tx store.Tx) error {
		l, err := tx.Location(code)
		if errors.Is(err, store.ErrNotFound) {
			return notFound(tx, "location", code)
		}
		if err != nil {
			return err
		}
		was := l.Library
		change(&l)
		l.Code = code
		if err := checkLocation(tx, &l); err != nil {
			return err
		}
		if l.Library != was {
			refs, err := s.references(tx, "location", code)
			if err != nil {
				return err
			}
			if refs.total() > 0 {
				return fmt.Errorf("location %s stays in library %s: %s", code, was, refs)
			}
		}
		return tx.PutLocation(&l)
	})
}

// RemoveLocation removes a location nothing refers to.
func (s *Service) RemoveLocation(ctx context.Context, code string, agent Agent) error {
	if err := s.refuseReferencedView(ctx, "location", code); err != nil {
		return err
	}
	return s.structureUpdate(ctx, "location.remove", agent, func(tx store.Tx) error {
		if _, err := tx.Location(code); errors.Is(err, store.ErrNotFound) {
			return notFound(tx, "location", code)
		} else if err != nil {
			return err
		}
		if err := s.refuseReferenced(tx, "location", code); err != nil {
			return err
		}
		return tx.DeleteLocation(code)
	})
}

// AddDesk stores a new desk of an existing library.
func (s *Service) AddDesk(ctx context.Context, d store.Desk, agent Agent) error {
	return s.structureUpdate(ctx, "desk.add", agent, func(tx store.Tx) error {
		if _, err := tx.Desk(d.Code); err == nil {
			return fmt.Errorf("desk %s: %w; use edit", d.Code, ErrExists)
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if err := checkDesk(tx, &d); err != nil {
			return err
		}
		return tx.PutDesk(&d)
	})
}

// EditDesk changes a desk with change, then checks the result.
func (s *Service) EditDesk(ctx context.Context, code string, change func(*store.Desk), agent Agent) error {
	return s.structureUpdate(ctx, "desk.edit", agent, func(tx store.Tx) error {
		d, err := tx.Desk(code)
		if errors.Is(err, store.ErrNotFound) {
			return notFound(tx, "desk", code)
		}
		if err != nil {
			return err
		}
		was := d.Library
		change(&d)
		d.Code = code
		if err := checkDesk(tx, &d); err != nil {
			return err
		}
		if d.Library != was {
			refs, err := s.references(tx, "desk", code)
			if err != nil {
				return err
			}
			if refs.total() > 0 {
				return fmt.Errorf("desk %s stays in library %s: %s", code, was, refs)
			}
		}
		return tx.PutDesk(&d)
	})
}

// RemoveDesk removes a desk no profile names.
func (s *Service) RemoveDesk(ctx context.Context, code string, agent Agent) error {
	if err := s.refuseReferencedView(ctx, "desk", code); err != nil {
		return err
	}
	return s.structureUpdate(ctx, "desk.remove", agent, func(tx store.Tx) error {
		if _, err := tx.Desk(code); errors.Is(err, store.ErrNotFound) {
			return notFound(tx, "desk", code)
		} else if err != nil {
			return err
		}
		if err := s.refuseReferenced(tx, "desk", code); err != nil {
			return err
		}
		return tx.DeleteDesk(code)
	})
}

// structureUpdate runs fn and journals the change in one transaction. The
// journal names the change by kind only: its refs carry numeric ids, and
// libraries, locations and desks are named by code.
func (s *Service) structureUpdate(ctx context.Context, kind string, agent Agent, fn func(store.Tx) error) error {
	at := s.Now()
	return s.commit(ctx, func(tx store.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		return emit(tx, at, kind, agent)
	})
}

func checkCode(kind, code string) error {
	if code == "" {
		return fmt.Errorf("a %s needs a code", kind)
	}
	if strings.ContainsFunc(code, func(r rune) bool { return r <= ' ' || r == '|' || r == 0x7f }) {
		return fmt.Errorf("%s code %q: spaces, control characters and | are not allowed (SIP2 fields cannot carry them)", kind, code)
	}
	return nil
}

func checkLibrary(l *store.Library) error {
	var errs []error
	if err := checkCode("library", l.Code); err != nil {
		errs = append(errs, err)
	}
	if l.Name == "" {
		errs = append(errs, fmt.Errorf("library %s needs a name", l.Code))
	}
	if l.Timezone == "" {
		errs = append(errs, fmt.Errorf("library %s needs a time zone (an IANA name such as Europe/Berlin)", l.Code))
	} else if _, err := time.LoadLocation(l.Timezone); err != nil || l.Timezone == "Local" {
		errs = append(errs, fmt.Errorf("library %s: unknown time zone %q (an IANA name such as Europe/Berlin)", l.Code, l.Timezone))
	}
	if !store.KnownCurrency(l.Currency) {
		errs = append(errs, fmt.Errorf("library %s: unknown currency %q (an ISO 4217 code such as EUR)", l.Code, l.Currency))
	}
	return errors.Join(errs...)
}

func checkLocation(tx store.Tx, l *store.Location) error {
	var errs []error
	if err := checkCode("location", l.Code); err != nil {
		errs = append(errs, err)
	}
	if l.Name == "" {
		errs = append(errs, fmt.Errorf("location %s needs a name", l.Code))
	}
	if l.Library == "" {
		errs = append(errs, fmt.Errorf("location %s needs a library", l.Code))
	} else if _, err := tx.Library(l.Library); errors.Is(err, store.ErrNotFound) {
		errs = append(errs, fmt.Errorf("location %s: %w", l.Code, notFound(tx, "library", l.Library)))
	} else if err != nil {
		return err
	}
	if l.RemoteStorage && l.Facility == "" {
		errs = append(errs, fmt.Errorf("location %s is in remote storage and needs its facility", l.Code))
	}
	if !l.RemoteStorage && l.Facility != "" {
		errs = append(errs, fmt.Errorf("location %s names facility %s but is not in remote storage", l.Code, l.Facility))
	}
	return errors.Join(errs...)
}

func checkDesk(tx store.Tx, d *store.Desk) error {
	var errs []error
	if err := checkCode("desk", d.Code); err != nil {
		errs = append(errs, err)
	}
	if d.Library == "" {
		return errors.Join(append(errs, fmt.Errorf("desk %s needs a library", d.Code))...)
	}
	if _, err := tx.Library(d.Library); errors.Is(err, store.ErrNotFound) {
		return errors.Join(append(errs, fmt.Errorf("desk %s: %w", d.Code, notFound(tx, "library", d.Library)))...)
	} else if err != nil {
		return err
	}
	for _, code := range d.Locations {
		l, err := tx.Location(code)
		switch {
		case errors.Is(err, store.ErrNotFound):
			errs = append(errs, fmt.Errorf("desk %s: %w", d.Code, notFound(tx, "location", code)))
		case err != nil:
			return err
		case l.Library != d.Library:
			errs = append(errs, fmt.Errorf("desk %s: location %s belongs to library %s, not %s", d.Code, code, l.Library, d.Library))
		}
	}
	return errors.Join(errs...)
}

// notFound says a code names nothing, with the nearest known code.
func notFound(tx store.Tx, kind, code string) error {
	var known []string
	switch kind {
	case "library":
		known = codesOf(tx.Libraries, func(l *store.Library) string { return l.Code })
	case "location":
		known = codesOf(tx.Locations, func(l *store.Location) string { return l.Code })
	case "desk":
		known = codesOf(tx.Desks, func(d *store.Desk) string { return d.Code })
	case "group":
		known = codesOf(tx.Groups, func(g *store.Group) string { return g.Code })
	case "policy":
		known = codesOf(tx.Policies, func(p *store.Policy) string { return p.Code })
	}
	return &NotFoundError{Kind: kindName(kind), Code: code, hint: store.DidYouMean(code, known)}
}

// codesOf lists the codes of every record all returns; a store that cannot
// list them gives no hint rather than an error.
func codesOf[T any](all func() ([]T, error), code func(*T) string) []string {
	rs, _ := all()
	out := make([]string, len(rs))
	for i := range rs {
		out[i] = code(&rs[i])
	}
	return out
}

// kindName is how messages name a kind of record.
func kindName(kind string) string {
	if kind == "policy" {
		return "item policy"
	}
	return kind
}

// NotFoundError says a library, location, desk, group or item policy does
// not exist.
type NotFoundError struct {
	Kind, Code string
	hint       string
}

func (e *NotFoundError) Error() string { return fmt.Sprintf("no %s %s%s", e.Kind, e.Code, e.hint) }

// Referrers counts what names a library, location, desk, group or item
// policy, by kind, with the first few names of each.
type Referrers struct {
	Kind, Code string
	Counts     map[string]int
	Names      map[string][]string
	order      []string
}

// referrerNames is how many names of each kind a refusal quotes.
const referrerNames = 3

func (r *Referrers) add(kind, name string) {
	if r.Counts[kind] == 0 {
		r.order = append(r.order, kind)
	}
	r.Counts[kind]++
	if len(r.Names[kind]) < referrerNames {
		r.Names[kind] = append(r.Names[kind], name)
	}
}

func (r *Referrers) total() int {
	n := 0
	for _, c := range r.Counts {
		n += c
	}
	return n
}

// String reads "named by 2 locations (MAIN-STACKS, MAIN-REF), 120 items
// (3900001, …)".
func (r *Referrers) String() string {
	var parts []string
	for _, k := range r.order {
		part := fmt.Sprintf("%d %s", r.Counts[k], k)
		if names := r.Names[k]; len(names) > 0 {
			more := ""
			if r.Counts[k] > len(names) {
				more = ", …"
			}
			part += " (" + strings.Join(names, ", ") + more + ")"
		}
		parts = append(parts, part)
	}
	return "named by " + strings.Join(parts, ", ")
}

// ReferencedError refuses the removal of something still named.
type ReferencedError struct{ Refs *Referrers }

func (e *ReferencedError) Error() string {
	return fmt.Sprintf("%s %s is still in use: %s", e.Refs.Kind, e.Refs.Code, e.Refs)
}

func (s *Service) refuseReferenced(tx store.Tx, kind, code string) error {
	refs, err := s.references(tx, kind, code)
	if err != nil {
		return err
	}
	if refs.total() > 0 {
		return &ReferencedError{Refs: refs}
	}
	return nil
}

// refuseReferencedView refuses a removal found referenced in a read
// transaction: the scan of items and patrons then never holds up kiosks'
// commits. The write transaction scans again, as something may have come
// to name the code in between.
func (s *Service) refuseReferencedView(ctx context.Context, kind, code string) error {
	refs, err := s.References(ctx, kind, code)
	if err != nil {
		return err
	}
	if refs.total() > 0 {
		return &ReferencedError{Refs: refs}
	}
	return nil
}

// References returns what names a library, location, desk, group
// ("group") or item policy ("policy").
func (s *Service) References(ctx context.Context, kind, code string) (*Referrers, error) {
	var refs *Referrers
	err := s.db.View(ctx, func(tx store.Tx) error {
		var err error
		refs, err = s.references(tx, kind, code)
		return err
	})
	return refs, err
}

// references scans every record that can name a library, location or desk.
// The scan is linear in items and patrons; removing a library is rare and
// the store has no index by library.
func (s *Service) references(tx store.Tx, kind, code string) (*Referrers, error) {
	r := &Referrers{Kind: kindName(kind), Code: code, Counts: map[string]int{}, Names: map[string][]string{}}
	if kind == "group" || kind == "policy" {
		return r, s.namedByRules(tx, kind, code, r)
	}
	if kind == "library" {
		locs, err := tx.Locations()
		if err != nil {
			return nil, err
		}
		for _, l := range locs {
			if l.Library == code {
				r.add("locations", l.Code)
			}
		}
	}
	if kind == "library" || kind == "location" {
		desks, err := tx.Desks()
		if err != nil {
			return nil, err
		}
		for _, d := range desks {
			if (kind == "library" && d.Library == code) || (kind == "location" && slices.Contains(d.Locations, code)) {
				r.add("desks", d.Code)
			}
		}
		match := func(lib, loc string) bool {
			return (kind == "library" && lib == code) || (kind == "location" && loc == code)
		}
		if err := tx.ForEachItem(func(it store.Item) bool {
			if match(it.Library, it.Location) {
				r.add("items", it.Barcode)
			}
			return true
		}); err != nil {
			return nil, err
		}
		if err := tx.ForEachHolding(func(h store.Holding) bool {
			if match(h.Library, h.Location) {
				r.add("holdings", fmt.Sprint(h.ID))
			}
			return true
		}); err != nil {
			return nil, err
		}
	}
	if kind == "library" {
		// Patrons are counted, never named: a barcode is personal data.
		n := 0
		if err := tx.ForEachPatron(func(p store.Patron) bool {
			if p.HomeLibrary == code {
				n++
			}
			return true
		}); err != nil {
			return nil, err
		}
		if n > 0 {
			r.order = append(r.order, "patrons (home library)")
			r.Counts["patrons (home library)"] = n
		}
		rules, err := tx.Rules()
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		for i, lr := range rules.Loans {
			if lr.Library == code {
				r.add("loan rules", fmt.Sprint(i+1))
			}
		}
	}
	if kind == "library" || kind == "desk" {
		// Profiles are JSON documents of the profiles package, which
		// imports circ; the fields naming a library or desk are read here
		// by their JSON names.
		err := tx.ForEachProfile(func(typ, pcode string, doc []byte) error {
			var f struct {
				Library       string `json:"library"`
				PickupLibrary string `json:"pickup_library"`
				Desk          string `json:"desk"`
			}
			if json.Unmarshal(doc, &f) != nil {
				return nil
			}
			if (kind == "library" && (f.Library == code || f.PickupLibrary == code)) || (kind == "desk" && f.Desk == code) {
				r.add("profiles", typ+" "+pcode)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return r, nil
}

// SetInstitution sets the installation's institution code (and name), the
// one every published holding (852 $a) and bursar file names.
func (s *Service) SetInstitution(ctx context.Context, in store.Institution, agent Agent) error {
	if err := checkCode("institution", in.Code); err != nil {
		return err
	}
	return s.structureUpdate(ctx, "institution.set", agent, func(tx store.Tx) error { return tx.PutInstitution(&in) })
}
