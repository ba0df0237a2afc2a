package circ

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/circa-ils/circa/store"
)

// Catalogue operations: bibliographic records, holdings and items. Each is one
// store transaction that stamps the bib as changed (so OAI-PMH harvesters and
// the file publishers see it) and emits one change-journal event.

// BibChange is the outcome of storing or withdrawing one bibliographic record.
type BibChange struct {
	Bib      store.Bib
	Created  bool // a new bib id
	Restored bool // a deleted record given again comes back to life
}

// Place is a library and shelving location where a bib had holdings or items.
type Place struct {
	Library  string `json:"library"`
	Location string `json:"location"`
}

// Tombstone remembers where a deleted or suppressed record was held, so that
// it keeps appearing in the publishing sets it belonged to.
type Tombstone struct {
	BibID  uint64    `json:"bib_id"`
	At     time.Time `json:"at"`
	Places []Place   `json:"places,omitempty"`
}

func tombstoneKey(id uint64) string { return "tombstone/" + strconv.FormatUint(id, 10) }

// TombstoneOf returns what was remembered when a bib was deleted or
// suppressed; ok is false when nothing was.
func TombstoneOf(tx store.Tx, bibID uint64) (t Tombstone, ok bool, err error) {
	err = tx.Meta(tombstoneKey(bibID), &t)
	if errors.Is(err, store.ErrNotFound) {
		return t, false, nil
	}
	return t, err == nil, err
}

// PlacesOf returns the distinct places of a bib's items, sorted; a bib
// without items is at the places of its holdings (on order, say). A holding
// an item has moved away from does not count.
func PlacesOf(tx store.Tx, bibID uint64) ([]Place, error) {
	its, err := tx.ItemsOfBib(bibID)
	if err != nil {
		return nil, err
	}
	var out []Place
	for _, it := range its {
		out = append(out, Place{it.Library, it.Location})
	}
	if len(its) == 0 {
		hs, err := tx.HoldingsOfBib(bibID)
		if err != nil {
			return nil, err
		}
		for _, h := range hs {
			out = append(out, Place{h.Library, h.Location})
		}
	}
	slices.SortFunc(out, func(a, b Place) int {
		if c := strings.Compare(a.Library, b.Library); c != 0 {
			return c
		}
		return strings.Compare(a.Location, b.Location)
	})
	return slices.Compact(out), nil
}

// bibMaxChunk is how many records of one document share a transaction.
const bibMaxChunk = 500

// PutBibs stores MARC records: a record whose 001 matches a stored bib
// replaces it (keeping its id, holdings and items; a deleted one is
// restored), any other is added. Title, author, ISBN, call number and
// material type are taken from the record. Records are written in
// transactions of up to 500; on an error the earlier chunks stay and the
// error names the first record not stored.
func (s *Service) PutBibs(ctx context.Context, agent Agent, recs []MARCRecord) ([]BibChange, error) {
	out := make([]BibChange, 0, len(recs))
	for start := 0; start < len(recs); start += bibMaxChunk {
		chunk := recs[start:min(start+bibMaxChunk, len(recs))]
		var changes []BibChange
		now := s.Now()
		err := s.update(ctx, Retry{}, nil, func(tx store.Tx) (*Error, error) {
			changes = changes[:0]
			for i := range chunk {
				c, err := putBib(tx, &chunk[i], now, agent)
				if err != nil {
					return nil, fmt.Errorf("record %d: %w", start+i+1, err)
				}
				changes = append(changes, c)
			}
			return nil, nil
		})
		if err != nil {
			return out, err
		}
		out = append(out, changes...)
	}
	return out, nil
}

func putBib(tx store.Tx, rec *MARCRecord, now time.Time, agent Agent) (BibChange, error) {
	f := ExtractBib(rec)
	var c BibChange
	b, err := store.Bib{}, error(nil)
	if f.ControlNumber != "" {
		b, err = tx.BibByControlNumber(f.ControlNumber)
	}
	switch {
	case f.ControlNumber == "" || errors.Is(err, store.ErrNotFound):
		b, c.Created = store.Bib{}, true
	case err != nil:
		return c, err
	case b.Temporary:
		return c, fmt.Errorf("%w: control number %s belongs to a temporary ILL record", store.ErrConflict, f.ControlNumber)
	}
	c.Restored = b.Deleted
	b.ControlNumber, b.Title, b.Author, b.ISBN = f.ControlNumber, f.Title, f.Author, f.ISBN
	b.CallNumber, b.MaterialType, b.SystemNumbers = f.CallNumber, f.MaterialType, f.SystemNumbers
	b.Deleted = false
	b.MARCXML = string(rec.AppendXML(nil))
	if err := tx.PutBib(&b, now); err != nil {
		return c, err
	}
	b.MARCXML = ""
	c.Bib = b
	kind := "bib.replace"
	if c.Created {
		kind = "bib.add"
	}
	return c, emit(tx, now, kind, agent, ref("bib", b.ID))
}

// DeleteBib deletes a bibliographic record: its items are removed and the
// record stays as a tombstone, with its MARCXML, remembering where it was
// held. Deleting a deleted record changes nothing. It is refused while an
// item is on loan or requests are open on the record.
func (s *Service) DeleteBib(ctx context.Context, agent Agent, bibID uint64) (BibChange, error) {
	var res BibChange
	now := s.Now()
	err := s.update(ctx, Retry{}, nil, func(tx store.Tx) (*Error, error) {
		b, refusal, err := catalogBib(tx, bibID)
		if err != nil || refusal != nil {
			return refusal, err
		}
		res = BibChange{Bib: b}
		if b.Deleted {
			return nil, nil
		}
		its, err := tx.ItemsOfBib(bibID)
		if err != nil {
			return nil, err
		}
		for _, it := range its {
			if _, open, err := tx.OpenLoanOfItem(it.ID); err != nil {
				return nil, err
			} else if open {
				return refuse(ItemHasLoan, "item "+it.Barcode+" of the record is on loan"), nil
			}
		}
		if reqs, err := tx.OpenRequestsOfBib(bibID); err != nil {
			return nil, err
		} else if len(reqs) > 0 {
			return refuse(HoldExists, fmt.Sprintf("%d open requests on the record", len(reqs))), nil
		}
		if err := rememberPlaces(tx, bibID, now); err != nil {
			return nil, err
		}
		refs := []store.Ref{ref("bib", bibID)}
		for _, it := range its {
			if err := tx.DeleteItem(it.ID, now); err != nil {
				return nil, err
			}
			refs = append(refs, ref("item", it.ID))
		}
		b.Deleted = true
		if err := tx.PutBib(&b, now); err != nil {
			return nil, err
		}
		res.Bib = b
		return nil, emit(tx, now, "bib.delete", agent, refs...)
	})
	return res, err
}

// SuppressBib hides a record from publishing (it is published as deleted,
// remembering where it was held) or, with suppress false, shows it again.
// Its holdings and items stay.
func (s *Service) SuppressBib(ctx context.Context, agent Agent, bibID uint64, suppress bool) (BibChange, error) {
	var res BibChange
	now := s.Now()
	err := s.update(ctx, Retry{}, nil, func(tx store.Tx) (*Error, error) {
		b, refusal, err := catalogBib(tx, bibID)
		if err != nil || refusal != nil {
			return refusal, err
		}
		res = BibChange{Bib: b}
		if b.Suppressed == suppress {
			return nil, nil
		}
		if suppress {
			if err := rememberPlaces(tx, bibID, now); err != nil {
				return nil, err
			}
		}
		b.Suppressed = suppress
		if err := tx.PutBib(&b, now); err != nil {
			return nil, err
		}
		res.Bib = b
		kind := "bib.unsuppress"
		if suppress {
			kind = "bib.suppress"
		}
		return nil, emit(tx, now, kind, agent, ref("bib", bibID))
	})
	return res, err
}

func rememberPlaces(tx store.Tx, bibID uint64, now time.Time) error {
	places, err := PlacesOf(tx, bibID)
	if err != nil {
		return err
	}
	return tx.SetMeta(tombstoneKey(bibID), Tombstone{BibID: bibID, At: now, Places: places})
}

// catalogBib loads a bib that catalogue operations may change.
func catalogBib(tx store.Tx, bibID uint64) (store.Bib, *Error, error) {
	b, err := tx.Bib(bibID)
	if errors.Is(err, store.ErrNotFound) {
		return b, refuse(InvalidRequest, "no bibliographic record "+strconv.FormatUint(bibID, 10)), nil
	}
	if err != nil {
		return b, nil, err
	}
	if b.Temporary {
		return b, refuse(InvalidRequest, "record "+strconv.FormatUint(bibID, 10)+" is a temporary ILL record"), nil
	}
	return b, nil, nil
}

// NewItem describes an item to add.
type NewItem struct {
	BibID      uint64
	Barcode    string
	Location   string // shelving location code; the library is the location's
	CallNumber string // defaults to the holding's, then the bib's
	MediaType  string // SIP2 media type; default the policy's, then 001 (book)
	Policy     string // item policy; required, and must exist
	Status     store.ItemStatus
	Pieces     int // default 1
}

// AddItem adds an item to a live bib, at the holding of its location
// (created when the bib has none there).
func (s *Service) AddItem(ctx context.Context, agent Agent, n NewItem) (store.Item, error) {
	var res store.Item
	now := s.Now()
	if n.Status == "" {
		n.Status = store.ItemAvailable
	}
	if !slices.Contains(store.ItemStatuses, n.Status) {
		return res, refuse(InvalidRequest, "unknown item status "+string(n.Status))
	}
	if strings.TrimSpace(n.Barcode) == "" || strings.TrimSpace(n.Policy) == "" {
		return res, refuse(InvalidRequest, "an item needs a barcode and a policy")
	}
	if n.MediaType != "" && !validMediaType(n.MediaType) {
		return res, refuse(InvalidRequest, "media type "+strconv.Quote(n.MediaType)+" is not a SIP2 media type (000 to 010)")
	}
	if n.Pieces <= 0 {
		n.Pieces = 1
	}
	err := s.update(ctx, Retry{}, nil, func(tx store.Tx) (*Error, error) {
		pol, err := tx.Policy(n.Policy)
		if errors.Is(err, store.ErrNotFound) {
			return refuse(InvalidRequest, notFound(tx, "policy", n.Policy).Error()), nil
		} else if err != nil {
			return nil, err
		}
		mediaType := firstNonEmpty(n.MediaType, pol.MediaType, "001")
		b, refusal, err := catalogBib(tx, n.BibID)
		if err != nil || refusal != nil {
			return refusal, err
		}
		if b.Deleted {
			return refuse(InvalidRequest, "record "+strconv.FormatUint(b.ID, 10)+" is deleted"), nil
		}
		if _, err := tx.ItemByBarcode(n.Barcode); err == nil {
			return refuse(DuplicateRequest, "barcode "+n.Barcode+" is in use"), nil
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		h, refusal, err := holdingAt(tx, &b, n.Location, n.CallNumber, now)
		if err != nil || refusal != nil {
			return refusal, err
		}
		it := store.Item{Barcode: strings.TrimSpace(n.Barcode), BibID: b.ID, HoldingID: h.ID, Library: h.Library,
			Location: h.Location, CallNumber: firstNonEmpty(n.CallNumber, h.CallNumber, b.CallNumber),
			MediaType: mediaType, Policy: n.Policy, Status: n.Status, Pieces: n.Pieces}
		if err := tx.PutItem(&it, now); err != nil {
			return nil, err
		}
		res = it
		return nil, emit(tx, now, "item.add", agent, ref("item", it.ID), ref("bib", b.ID), ref("holding", h.ID))
	})
	return res, err
}

// MoveItem shelves an item at another location (of any library), moving it
// to the bib's holding there; a call number given replaces the item's.
func (s *Service) MoveItem(ctx context.Context, agent Agent, barcode, location, callNumber string) (store.Item, error) {
	var res store.Item
	now := s.Now()
	err := s.update(ctx, Retry{}, nil, func(tx store.Tx) (*Error, error) {
		it, refusal, err := lookupItem(tx, barcode)
		if err != nil || refusal != nil {
			return refusal, err
		}
		b, refusal, err := catalogBib(tx, it.BibID)
		if err != nil || refusal != nil {
			return refusal, err
		}
		h, refusal, err := holdingAt(tx, &b, location, firstNonEmpty(callNumber, it.CallNumber), now)
		if err != nil || refusal != nil {
			return refusal, err
		}
		from := it.Location
		it.HoldingID, it.Library, it.Location = h.ID, h.Library, h.Location
		if callNumber != "" {
			it.CallNumber = callNumber
		}
		if err := tx.PutItem(&it, now); err != nil {
			return nil, err
		}
		res = it
		if from == it.Location && callNumber == "" {
			return nil, nil
		}
		return nil, emit(tx, now, "item.move", agent, ref("item", it.ID), ref("bib", b.ID), ref("holding", h.ID))
	})
	return res, err
}

// RemoveItem deletes an item; it is refused while the item is on loan.
func (s *Service) RemoveItem(ctx context.Context, agent Agent, barcode string) (store.Item, error) {
	var res store.Item
	now := s.Now()
	err := s.update(ctx, Retry{}, nil, func(tx store.Tx) (*Error, error) {
		it, refusal, err := lookupItem(tx, barcode)
		if err != nil || refusal != nil {
			return refusal, err
		}
		if _, open, err := tx.OpenLoanOfItem(it.ID); err != nil {
			return nil, err
		} else if open {
			return refuse(ItemHasLoan, "item "+it.Barcode+" is on loan"), nil
		}
		if err := tx.DeleteItem(it.ID, now); err != nil {
			return nil, err
		}
		res = it
		return nil, emit(tx, now, "item.delete", agent, ref("item", it.ID), ref("bib", it.BibID))
	})
	return res, err
}

// AddHolding records that a live bib is held at a location (with no items
// yet, say on order); an existing holding there gets the call number given.
func (s *Service) AddHolding(ctx context.Context, agent Agent, bibID uint64, location, callNumber string) (store.Holding, error) {
	var res store.Holding
	now := s.Now()
	err := s.update(ctx, Retry{}, nil, func(tx store.Tx) (*Error, error) {
		b, refusal, err := catalogBib(tx, bibID)
		if err != nil || refusal != nil {
			return refusal, err
		}
		if b.Deleted {
			return refuse(InvalidRequest, "record "+strconv.FormatUint(b.ID, 10)+" is deleted"), nil
		}
		h, refusal, err := holdingAt(tx, &b, location, callNumber, now)
		if err != nil || refusal != nil {
			return refusal, err
		}
		if callNumber != "" && h.CallNumber != callNumber {
			h.CallNumber = callNumber
			if err := tx.PutHolding(&h, now); err != nil {
				return nil, err
			}
		}
		res = h
		return nil, emit(tx, now, "holding.update", agent, ref("holding", h.ID), ref("bib", b.ID))
	})
	return res, err
}

// holdingAt returns the bib's holding at a location, creating it.
func holdingAt(tx store.Tx, b *store.Bib, location, callNumber string, now time.Time) (store.Holding, *Error, error) {
	loc, err := tx.Location(location)
	if errors.Is(err, store.ErrNotFound) {
		return store.Holding{}, refuse(LocationUnknown, "no location "+location), nil
	}
	if err != nil {
		return store.Holding{}, nil, err
	}
	hs, err := tx.HoldingsOfBib(b.ID)
	if err != nil {
		return store.Holding{}, nil, err
	}
	for _, h := range hs {
		if h.Location == loc.Code && h.Library == loc.Library {
			return h, nil, nil
		}
	}
	h := store.Holding{BibID: b.ID, Library: loc.Library, Location: loc.Code, CallNumber: firstNonEmpty(callNumber, b.CallNumber)}
	if err := tx.PutHolding(&h, now); err != nil {
		return h, nil, err
	}
	return h, nil, nil
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
