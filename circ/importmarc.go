package circ

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/circa-ils/circa/store"
)

// ImportItem is one item of a catalogue record being imported, its codes
// already translated to circa's by the import mapping.
type ImportItem struct {
	Barcode    string
	Library    string // the library the source names; "" takes the location's
	Location   string // shelving location code
	CallNumber string // "" takes the holding's, then the bib's
	Policy     string // item policy
	MediaType  string // SIP2 media type; "" is 001 for a new item and keeps an existing item's
	Status     store.ItemStatus
	// Status "" is available for a new item and keeps an existing item's.
	Price string // decimal amount in the library's currency; "" keeps the item's
	Note  string // for staff; "" keeps the item's
}

// MatchBy says how an imported record finds the bib it updates.
type MatchBy int

const (
	// MatchControlNumber matches the 001 (the default).
	MatchControlNumber MatchBy = iota
	// MatchSystemNumber matches any 035 $a (OCLC numbers with or without
	// their ocm/ocn prefix and leading zeros), then the 001.
	MatchSystemNumber
	// MatchISBN matches the first 020 $a (ISBN-10 and ISBN-13 alike), then
	// the 001.
	MatchISBN
)

// ImportProblem is a record that was checked and not written, with the
// reason a librarian reads in the import report.
type ImportProblem struct{ Reason string }

func (p *ImportProblem) Error() string { return p.Reason }

func importProblem(format string, args ...any) *ImportProblem {
	return &ImportProblem{Reason: fmt.Sprintf(format, args...)}
}

// ImportedBib says what one imported record came to.
type ImportedBib struct {
	BibID           uint64
	Bib             string // "created", "updated" or "unchanged"
	ItemsCreated    int
	ItemsUpdated    int
	ItemsUnchanged  int
	HoldingsCreated int
}

// ImportableStatuses are the statuses an import may give an item. On loan,
// on the hold shelf and in transit come from the loans and holds imports,
// which know the patron and the request.
var ImportableStatuses = []store.ItemStatus{store.ItemAvailable, store.ItemReshelving, store.ItemInProcess,
	store.ItemOnOrder, store.ItemClaimedReturned, store.ItemLost, store.ItemMissing}

// circulatingStatus are the statuses an import never changes: the loan, the
// request or the transit they belong to says when they end.
func circulatingStatus(s store.ItemStatus) bool {
	return s == store.ItemOnLoan || s == store.ItemOnHoldShelf || s == store.ItemInTransit
}

// GeneratedControlPrefix starts the 001 given to an imported record that
// had none.
const GeneratedControlPrefix = "circa-"

// GeneratedControlNumber is the 001 an imported record without one gets:
// a hash of its content, so importing the same file again finds the bib it
// created the first time.
func GeneratedControlNumber(rec *MARCRecord) string {
	sum := sha256.Sum256(rec.AppendXML(nil))
	return GeneratedControlPrefix + hex.EncodeToString(sum[:10])
}

// ImportMARC imports one catalogue record with its items: the bib it
// matches is updated — by its 035 $a or its ISBN when match says so, else
// by its 001 (a record without 001 takes the matched bib's, or
// GeneratedControlNumber) — or a new one created; the bib gets a holding at each location its
// items are shelved at; items are matched by barcode and created or
// updated. Everything is checked before anything is written: an unknown
// library, location or item policy, a location of another library, an
// unimportable status, a barcode given twice in the record or held by
// another bib's item all make the whole record an *ImportProblem and
// nothing of it is written. A record that says what the store already
// holds writes nothing and journals nothing. An item on loan, on the hold
// shelf or in transit keeps its status.
func (b *ImportBatch) ImportMARC(rec *MARCRecord, items []ImportItem, match MatchBy) (ImportedBib, error) {
	var res ImportedBib
	tx := b.tx
	f := ExtractBib(rec)
	bib, exists, err := b.matchBib(&f, match)
	if err != nil {
		return res, err
	}
	if f.ControlNumber == "" {
		f.ControlNumber = bib.ControlNumber
		if f.ControlNumber == "" {
			f.ControlNumber = GeneratedControlNumber(rec)
		}
		rec.Control = slices.Insert(rec.Control, 0, ControlField{Tag: "001", Value: f.ControlNumber})
	}
	if !exists {
		bib, err = tx.BibByControlNumber(f.ControlNumber)
		exists = err == nil
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return res, err
		}
	} else if bib.ControlNumber != f.ControlNumber {
		other, err := tx.BibByControlNumber(f.ControlNumber)
		switch {
		case err == nil && other.ID != bib.ID:
			return res, importProblem("001 %s belongs to bib %d, not to bib %d that the record matches", f.ControlNumber, other.ID, bib.ID)
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return res, err
		}
	}
	if exists && bib.Temporary {
		return res, importProblem("control number %s belongs to a temporary interlibrary-loan record", bib.ControlNumber)
	}

	// Checks: every item, before any write.
	type plan struct {
		in    ImportItem
		loc   store.Location
		price int64
		old   store.Item
		have  bool
	}
	plans := make([]plan, 0, len(items))
	seen := make(map[string]bool, len(items))
	for _, in := range items {
		in.Barcode = strings.TrimSpace(in.Barcode)
		bc := store.NormalizeBarcode(in.Barcode)
		if bc == "" {
			return res, importProblem("an item without a barcode")
		}
		if seen[bc] {
			return res, importProblem("barcode %s is given twice", in.Barcode)
		}
		seen[bc] = true
		p := plan{in: in}
		if in.Library != "" {
			if ok, err := b.libraryKnown(in.Library); err != nil {
				return res, err
			} else if !ok {
				return res, importProblem("item %s: unknown library code %q%s", in.Barcode, in.Library, b.didYouMean(in.Library, false))
			}
		}
		if in.Location == "" {
			return res, importProblem("item %s has no location", in.Barcode)
		}
		loc, ok, err := b.location(in.Location)
		if err != nil {
			return res, err
		}
		if !ok {
			return res, importProblem("item %s: unknown location code %q%s", in.Barcode, in.Location, b.didYouMean(in.Location, true))
		}
		if in.Library != "" && loc.Library != in.Library {
			return res, importProblem("item %s: location %s belongs to library %s, not %s", in.Barcode, loc.Code, loc.Library, in.Library)
		}
		p.loc = loc
		if in.Price != "" {
			currency, err := b.currency(loc.Library)
			if err != nil {
				return res, err
			}
			if p.price, err = store.ParseAmount(in.Price, currency); err != nil {
				return res, importProblem("item %s: price: %v", in.Barcode, err)
			}
		}
		if in.Policy == "" {
			return res, importProblem("item %s has no item policy", in.Barcode)
		}
		if err := CheckPolicy(tx, in.Policy); err != nil {
			var nf *NotFoundError
			if errors.As(err, &nf) {
				return res, importProblem("item %s: unknown item policy %q%s", in.Barcode, in.Policy, nf.hint)
			}
			return res, err
		}
		if in.Status != "" && !slices.Contains(ImportableStatuses, in.Status) {
			return res, importProblem("item %s: status %s cannot be imported (loans and holds set it)", in.Barcode, in.Status)
		}
		old, err := tx.ItemByBarcode(bc)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return res, err
		case !exists || old.BibID != bib.ID:
			owner := fmt.Sprintf("bib %d", old.BibID)
			if ob, err := tx.Bib(old.BibID); err == nil && ob.ControlNumber != "" {
				owner = "the record with 001 " + ob.ControlNumber
			}
			return res, importProblem("barcode %s belongs to an item of %s", in.Barcode, owner)
		default:
			p.old, p.have = old, true
		}
		plans = append(plans, p)
	}

	// Writes.
	refs := make([]store.Ref, 0, 1+len(items))
	marcxml := string(rec.AppendXML(nil))
	switch {
	case !exists:
		bib = store.Bib{}
		res.Bib = "created"
	case bib.Deleted || bib.ControlNumber != f.ControlNumber || bibDiffers(&bib, &f):
		res.Bib = "updated"
	default:
		stored, err := tx.BibMARC(bib.ID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return res, err
		}
		res.Bib = "unchanged"
		if stored != marcxml {
			res.Bib = "updated"
		}
	}
	if res.Bib != "unchanged" {
		bib.ControlNumber, bib.Title, bib.Author, bib.ISBN = f.ControlNumber, f.Title, f.Author, f.ISBN
		bib.CallNumber, bib.MaterialType, bib.SystemNumbers = f.CallNumber, f.MaterialType, f.SystemNumbers
		bib.Deleted = false
		bib.MARCXML = marcxml
		if err := tx.PutBib(&bib, b.at); err != nil {
			return res, err
		}
		bib.MARCXML = ""
		refs = append(refs, ref("bib", bib.ID))
	}
	res.BibID = bib.ID

	var holdings []store.Holding
	if exists {
		if holdings, err = tx.HoldingsOfBib(bib.ID); err != nil {
			return res, err
		}
	}
	holdingOf := func(loc store.Location, callNumber string) (store.Holding, error) {
		for _, h := range holdings {
			if h.Location == loc.Code && h.Library == loc.Library {
				return h, nil
			}
		}
		h := store.Holding{BibID: bib.ID, Library: loc.Library, Location: loc.Code, CallNumber: firstNonEmpty(callNumber, bib.CallNumber)}
		if err := tx.PutHolding(&h, b.at); err != nil {
			return h, err
		}
		holdings = append(holdings, h)
		res.HoldingsCreated++
		refs = append(refs, ref("holding", h.ID))
		return h, nil
	}
	for _, p := range plans {
		h, err := holdingOf(p.loc, p.in.CallNumber)
		if err != nil {
			return res, err
		}
		it := p.old
		if !p.have {
			it = store.Item{Barcode: p.in.Barcode, BibID: bib.ID, MediaType: "001", Status: store.ItemAvailable, Pieces: 1}
		}
		it.HoldingID, it.Library, it.Location = h.ID, h.Library, h.Location
		it.CallNumber = firstNonEmpty(p.in.CallNumber, h.CallNumber, bib.CallNumber)
		it.Policy = p.in.Policy
		if p.in.MediaType != "" {
			it.MediaType = p.in.MediaType
		}
		if p.in.Status != "" && !circulatingStatus(it.Status) {
			it.Status = p.in.Status
		}
		if p.in.Price != "" {
			it.Price = p.price
		}
		if p.in.Note != "" {
			it.Note = p.in.Note
		}
		if p.have && it == p.old {
			res.ItemsUnchanged++
			continue
		}
		if err := tx.PutItem(&it, b.at); err != nil {
			return res, err
		}
		if p.have {
			res.ItemsUpdated++
		} else {
			res.ItemsCreated++
		}
		refs = append(refs, ref("item", it.ID))
	}
	if len(refs) == 0 {
		return res, nil
	}
	if refs[0].Kind != "bib" {
		refs = slices.Insert(refs, 0, ref("bib", bib.ID))
	}
	return res, b.emit("bib.import", refs...)
}

// bibDiffers says whether the fields kept beside the MARCXML change.
func bibDiffers(b *store.Bib, f *BibFields) bool {
	return b.Title != f.Title || b.Author != f.Author || b.ISBN != f.ISBN ||
		b.CallNumber != f.CallNumber || b.MaterialType != f.MaterialType || !slices.Equal(b.SystemNumbers, f.SystemNumbers)
}

// matchBib finds the bib a record updates by its 035s or ISBN, as match
// says; ok is false when none does (the 001 is tried next). Numbers that
// match several bibs are a problem: the record cannot say which it is.
func (b *ImportBatch) matchBib(f *BibFields, match MatchBy) (store.Bib, bool, error) {
	var ids []uint64
	var what string
	switch match {
	case MatchSystemNumber:
		for _, n := range f.SystemNumbers {
			for _, id := range b.tx.BibsBySystemNumber(n) {
				if !slices.Contains(ids, id) {
					ids = append(ids, id)
				}
			}
		}
		what = "its 035 $a"
	case MatchISBN:
		ids = b.tx.BibsByISBN(f.ISBN)
		what = "ISBN " + f.ISBN
	}
	switch len(ids) {
	case 0:
		return store.Bib{}, false, nil
	case 1:
		bib, err := b.tx.Bib(ids[0])
		return bib, err == nil, err
	}
	var names []string
	for _, id := range ids[:min(len(ids), 3)] {
		name := fmt.Sprintf("bib %d", id)
		if bib, err := b.tx.Bib(id); err == nil && bib.ControlNumber != "" {
			name += " (001 " + bib.ControlNumber + ")"
		}
		names = append(names, name)
	}
	return store.Bib{}, false, importProblem("%s matches %d records: %s", what, len(ids), strings.Join(names, ", "))
}

// location reads a location once per batch: an import looks the same few up
// for every item.
func (b *ImportBatch) location(code string) (store.Location, bool, error) {
	if l, ok := b.locations[code]; ok {
		return l, l.Code != "", nil
	}
	l, err := b.tx.Location(code)
	if errors.Is(err, store.ErrNotFound) {
		l, err = store.Location{}, nil
	}
	if err != nil {
		return l, false, err
	}
	if b.locations == nil {
		b.locations = map[string]store.Location{}
	}
	b.locations[code] = l
	return l, l.Code != "", nil
}

func (b *ImportBatch) libraryKnown(code string) (bool, error) {
	l, err := b.library(code)
	return l.Code != "", err
}

// didYouMean names the nearest location (or library) code to an unknown
// one, for the report.
func (b *ImportBatch) didYouMean(code string, location bool) string {
	var codes []string
	if location {
		locs, err := b.tx.Locations()
		if err != nil {
			return ""
		}
		for _, l := range locs {
			codes = append(codes, l.Code)
		}
	} else {
		libs, err := b.tx.Libraries()
		if err != nil {
			return ""
		}
		for _, l := range libs {
			codes = append(codes, l.Code)
		}
	}
	return store.DidYouMean(code, codes)
}

// currency is the currency a library's amounts are in.
func (b *ImportBatch) currency(code string) (string, error) {
	l, err := b.library(code)
	if l.Currency == "" {
		return b.svc.Rules().Currency, err
	}
	return l.Currency, err
}

// library reads a library once per batch; Code is "" when there is none.
func (b *ImportBatch) library(code string) (store.Library, error) {
	if l, ok := b.libraries[code]; ok {
		return l, nil
	}
	l, err := b.tx.Library(code)
	if errors.Is(err, store.ErrNotFound) {
		l, err = store.Library{}, nil
	}
	if err != nil {
		return l, err
	}
	if b.libraries == nil {
		b.libraries = map[string]store.Library{}
	}
	b.libraries[code] = l
	return l, nil
}
