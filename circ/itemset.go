package circ

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/circa-ils/circa/store"
)

// Item sets: what a discovery layer shows of titles in a result list, a
// page at a time. A page is read in one transaction, so its statuses are
// consistent with one another.

// ItemSetKind says what an ItemSetTarget names.
type ItemSetKind int

// What a target may name.
const (
	TargetTitle   ItemSetKind = iota // a bib, by our id or its 001
	TargetHolding                    // a holding, by our id
	TargetItem                       // an item, by barcode
)

// ItemSetTarget is one title, holding or item a lookup names.
type ItemSetTarget struct {
	Kind ItemSetKind
	ID   string
}

// ItemSetCursor is where a page starts: a target and the number of its
// items already given. The zero cursor is the first page.
type ItemSetCursor struct {
	Target int
	Offset int
}

// ItemSet is the part of one target a page holds. Found is false for a
// title, holding or item circa does not know or does not show (deleted,
// suppressed, a temporary ILL record).
type ItemSet struct {
	Target     int
	Found      bool
	Bib        store.Bib
	TitleHolds int // open holds on the title, not on one of its items
	Holdings   []HoldingItems
}

// HoldingItems is items of one holding; Holding.ID is 0 for items without one.
type HoldingItems struct {
	Holding store.Holding
	Items   []ItemState
}

// ItemState is an item with what circulation knows of it now.
type ItemState struct {
	Item       store.Item
	CallNumber string // the item's, else its holding's, else its title's
	Due        time.Time
	Recalled   bool
	HoldQueue  int // holds the item would serve: on its title or on it
	// Reserved is true when another patron's request has claimed the item:
	// it waits on the hold shelf or is on its way for them, or they asked
	// for this copy. Nobody else may borrow it.
	Reserved bool
}

// ItemSetPage reads the page of targets starting at cur: at most maxTitles
// sets and maxItems items (a title without items counts as a set only).
// next is the cursor of the following page; done is true when there is none.
// The work is bounded by maxTitles titles (each read with its item list)
// and maxItems items (each with its loan).
func (s *Service) ItemSetPage(ctx context.Context, targets []ItemSetTarget, cur ItemSetCursor, maxTitles, maxItems int) (sets []ItemSet, next ItemSetCursor, done bool, err error) {
	if maxTitles < 1 || maxItems < 1 || cur.Target < 0 || cur.Offset < 0 {
		return nil, cur, true, errors.New("circ: item set page bounds must be positive")
	}
	now := s.Now()
	err = s.view(ctx, func(tx store.Tx) error {
		sets, next, done = nil, ItemSetCursor{}, true
		items := 0
		for t := cur.Target; t < len(targets); t++ {
			if len(sets) == maxTitles || items == maxItems {
				next, done = ItemSetCursor{Target: t}, false
				return nil
			}
			offset := 0
			if t == cur.Target {
				offset = cur.Offset
			}
			bib, list, found, err := resolveTarget(tx, targets[t])
			if err != nil {
				return err
			}
			set := ItemSet{Target: t, Found: found, Bib: bib}
			if !found {
				sets = append(sets, set)
				continue
			}
			if offset > 0 && offset >= len(list) {
				continue // its last items went on the previous page
			}
			take := min(len(list)-offset, maxItems-items)
			if err := fillItemSet(tx, &set, list[offset:offset+take], now); err != nil {
				return err
			}
			sets = append(sets, set)
			items += take
			if offset+take < len(list) {
				next, done = ItemSetCursor{Target: t, Offset: offset + take}, false
				return nil
			}
		}
		return nil
	})
	return sets, next, done, err
}

// resolveTarget finds a target's bib and its items, grouped by holding
// (items of one holding together, in id order).
func resolveTarget(tx store.Tx, target ItemSetTarget) (store.Bib, []store.Item, bool, error) {
	id := strings.TrimSpace(target.ID)
	switch target.Kind {
	case TargetItem:
		it, refusal, err := lookupItem(tx, id)
		if err != nil || refusal != nil {
			return store.Bib{}, nil, false, err
		}
		b, err := tx.Bib(it.BibID)
		if errors.Is(err, store.ErrNotFound) {
			return b, nil, false, nil
		}
		return b, []store.Item{it}, err == nil, err
	case TargetHolding:
		n, perr := strconv.ParseUint(id, 10, 64)
		h, err := tx.Holding(n)
		if perr != nil || errors.Is(err, store.ErrNotFound) {
			return store.Bib{}, nil, false, nil
		}
		if err != nil {
			return store.Bib{}, nil, false, err
		}
		b, all, found, err := titleItems(tx, h.BibID)
		items := slices.DeleteFunc(all, func(it store.Item) bool { return it.HoldingID != h.ID })
		return b, items, found, err
	}
	b, err := tx.BibByControlNumber(id)
	if errors.Is(err, store.ErrNotFound) {
		n, perr := strconv.ParseUint(id, 10, 64)
		if perr != nil {
			return store.Bib{}, nil, false, nil
		}
		return titleItems(tx, n)
	}
	if err != nil {
		return b, nil, false, err
	}
	return titleItems(tx, b.ID)
}

// titleItems returns a shown bib and its items, grouped by holding.
func titleItems(tx store.Tx, bibID uint64) (store.Bib, []store.Item, bool, error) {
	b, err := tx.Bib(bibID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (b.Deleted || b.Suppressed || b.Temporary)) {
		return store.Bib{}, nil, false, nil
	}
	if err != nil {
		return b, nil, false, err
	}
	items, err := tx.ItemsOfBib(bibID)
	slices.SortStableFunc(items, func(a, b store.Item) int {
		if a.HoldingID != b.HoldingID {
			return compareU64(a.HoldingID, b.HoldingID)
		}
		return compareU64(a.ID, b.ID)
	})
	return b, items, err == nil, err
}

func compareU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// fillItemSet adds the holds on the title and the state of items as of now.
func fillItemSet(tx store.Tx, set *ItemSet, items []store.Item, now time.Time) error {
	reqs, err := tx.OpenRequestsOfBib(set.Bib.ID)
	if err != nil {
		return err
	}
	reqs = slices.DeleteFunc(reqs, func(r store.Request) bool { return r.Kind == store.RequestRetrieval })
	for _, r := range reqs {
		if r.TitleLevel {
			set.TitleHolds++
		}
	}
	for _, it := range items {
		st := ItemState{Item: it, CallNumber: it.CallNumber, Reserved: heldForOther(&it, reqs, 0, now)}
		loan, open, err := tx.OpenLoanOfItem(it.ID)
		if err != nil {
			return err
		}
		if open {
			st.Due, st.Recalled = loan.Due, loan.Recalled
		}
		for _, r := range reqs {
			if r.TitleLevel || r.ItemID == it.ID {
				st.HoldQueue++
			}
		}
		n := len(set.Holdings)
		if n == 0 || set.Holdings[n-1].Holding.ID != it.HoldingID {
			var h store.Holding
			if it.HoldingID != 0 {
				if h, err = tx.Holding(it.HoldingID); err != nil && !errors.Is(err, store.ErrNotFound) {
					return err
				}
			}
			h.ID = it.HoldingID
			set.Holdings = append(set.Holdings, HoldingItems{Holding: h})
			n++
		}
		hold := &set.Holdings[n-1]
		if st.CallNumber == "" {
			st.CallNumber = hold.Holding.CallNumber
		}
		if st.CallNumber == "" {
			st.CallNumber = set.Bib.CallNumber
		}
		hold.Items = append(hold.Items, st)
	}
	return nil
}
