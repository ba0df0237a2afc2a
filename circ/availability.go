package circ

import (
	"cmp"
	"context"
	"errors"
	"time"

	"github.com/circa-ils/circa/store"
)

// Availability for a result list: many titles at once, each with the
// state of its items now and whether they may leave the building, read in
// one transaction so that the answers agree with one another.

// AvailabilityLimits bound what one availability read may cost.
type AvailabilityLimits struct {
	// ItemsPerTitle is how many items of a title are described; the rest
	// are only counted.
	ItemsPerTitle int
	// Items is how many items the read may load in all. Every item of a
	// title counts (the store reads a title's items together); titles
	// after the budget is spent are left for another read.
	Items int
}

// TitleAvailability is one title of a result list. Found is false for a
// title circa does not know or does not show (deleted, suppressed, a
// temporary ILL record).
type TitleAvailability struct {
	Found bool
	Bib   store.Bib
	Total int // items the title has; Items holds at most ItemsPerTitle of them
	Items []ItemAvailability
}

// ItemAvailability is an item as a patron looking at a result list sees
// it: its circulation state, where it is, and what it may be used for.
type ItemAvailability struct {
	ItemState
	LibraryName  string // the library's name, else its code
	LocationName string // the shelving location's name, else its code
	// Lendable is true when the item's location circulates and the loan
	// rules lend its policy to at least one user group.
	Lendable bool
	// ShortLoan is true when every group it is lent to has it by the hour.
	ShortLoan bool
	// RemoteStorage is true when it is kept in a remote-storage facility
	// and fetched on request.
	RemoteStorage bool
	Zone          *time.Location // the library's, for showing the due date
}

// TitlesAvailability reads the titles ids name (each a MARC 001 or a circa
// bib id, as LookupItemSet takes them) in one transaction. It returns the
// titles read, in the order of ids; read < len(ids) when the item budget
// ran out before ids[read].
func (s *Service) TitlesAvailability(ctx context.Context, ids []string, lim AvailabilityLimits) (titles []TitleAvailability, read int, err error) {
	if lim.ItemsPerTitle < 1 || lim.Items < 1 {
		return nil, 0, errors.New("circ: availability limits must be positive")
	}
	rules, now := s.rules.Load(), s.Now()
	err = s.view(ctx, func(tx store.Tx) error {
		titles, read = titles[:0], 0
		facts := availabilityFacts{s: s, tx: tx, rules: rules, lending: map[[2]string]lending{},
			locations: map[string]store.Location{}, libraries: map[string]string{}}
		loaded := 0
		for _, id := range ids {
			if loaded >= lim.Items {
				return nil
			}
			bib, list, found, err := resolveTarget(tx, ItemSetTarget{Kind: TargetTitle, ID: id})
			if err != nil {
				return err
			}
			read++
			t := TitleAvailability{Found: found, Bib: bib, Total: len(list)}
			loaded += max(len(list), 1)
			if found {
				set := ItemSet{Found: true, Bib: bib}
				if err := fillItemSet(tx, &set, list[:min(len(list), lim.ItemsPerTitle)], now); err != nil {
					return err
				}
				for _, h := range set.Holdings {
					for _, st := range h.Items {
						a, err := facts.of(st)
						if err != nil {
							return err
						}
						t.Items = append(t.Items, a)
					}
				}
			}
			titles = append(titles, t)
		}
		return nil
	})
	return titles, read, err
}

// lending is what the loan rules say of an item policy at a library.
type lending struct{ lendable, short bool }

// availabilityFacts looks up, once per read, what many items share: their
// locations, libraries and loan rules.
type availabilityFacts struct {
	s         *Service
	tx        store.Tx
	rules     *store.Rules
	lending   map[[2]string]lending
	locations map[string]store.Location
	libraries map[string]string
}

func (f *availabilityFacts) of(st ItemState) (ItemAvailability, error) {
	it := &st.Item
	a := ItemAvailability{ItemState: st, Zone: f.s.Zone(f.tx, it.Library)}
	loc, ok := f.locations[it.Location]
	if !ok {
		var err error
		loc, err = f.tx.Location(it.Location)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return a, err
		}
		f.locations[it.Location] = loc
	}
	a.LocationName = cmp.Or(loc.Name, it.Location)
	a.RemoteStorage = loc.RemoteStorage
	name, ok := f.libraries[it.Library]
	if !ok {
		lib, err := f.tx.Library(it.Library)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return a, err
		}
		name = cmp.Or(lib.Name, it.Library)
		f.libraries[it.Library] = name
	}
	a.LibraryName = name
	key := [2]string{it.Policy, it.Library}
	l, ok := f.lending[key]
	if !ok {
		l = lendingOf(f.rules, it.Policy, it.Library)
		f.lending[key] = l
	}
	a.Lendable, a.ShortLoan = l.lendable && !loc.NotCirculating, l.short
	return a, nil
}

// lendingOf asks the loan rules, for each user group they name and for
// everyone else, whether an item of policy at library is lent and for how
// long. It is short when every group that may borrow it has it by the hour.
func lendingOf(rules *store.Rules, policy, library string) lending {
	groups := map[string]bool{"": true}
	for _, lr := range rules.Loans {
		groups[lr.UserGroup] = true
	}
	l := lending{short: true}
	for g := range groups {
		if r := FindLoanRule(rules, g, policy, library); r.Circulates {
			l.lendable = true
			l.short = l.short && r.LoanHours > 0
		}
	}
	l.short = l.short && l.lendable
	return l
}
