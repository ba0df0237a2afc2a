package circ

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/circa-ils/circa/store"
)

// Staff searches for patrons, bibliographic records and items. Exact keys
// (barcode, identifier, 001, ISBN) come from the indexes and are listed
// first; names, titles and call numbers are matched over the records.

// SearchLimit is how many results a search returns when the caller gives no
// limit.
const SearchLimit = 50

// PatronHits are the patrons a search found; More says there were more
// than the limit.
type PatronHits struct {
	Patrons []store.Patron `json:"patrons"`
	More    bool           `json:"more"`
}

// BibHits are the records a search found.
type BibHits struct {
	Bibs []store.Bib `json:"bibs"`
	More bool        `json:"more"`
}

// ItemHits are the items a search found.
type ItemHits struct {
	Items []store.Item `json:"items"`
	More  bool         `json:"more"`
}

// collector gathers up to limit distinct records by id and notes whether
// there were more. Its out is never nil, so that no hits print as [] in
// JSON.
type collector[T any] struct {
	limit int
	seen  map[uint64]bool
	out   []T
	more  bool
}

func newCollector[T any](limit int) *collector[T] {
	if limit <= 0 {
		limit = SearchLimit
	}
	return &collector[T]{limit: limit, seen: map[uint64]bool{}, out: []T{}}
}

// add keeps r unless it is already there; false once the limit is passed.
func (c *collector[T]) add(id uint64, r T) bool {
	if c.seen[id] {
		return true
	}
	if len(c.out) == c.limit {
		c.more = true
		return false
	}
	c.seen[id] = true
	c.out = append(c.out, r)
	return true
}

func cleanQuery(q string) (string, error) {
	q = strings.Join(strings.Fields(q), " ")
	if q == "" {
		return "", errors.New("give something to search for")
	}
	return q, nil
}

// needle is the longest ASCII word of a query: every record a query
// matches holds it, so the store's scans can skip the others undecoded.
func needle(q string) string {
	best := ""
	for _, w := range strings.FieldsFunc(q, func(r rune) bool { return r > unicode.MaxASCII || r == ' ' || r == ',' }) {
		if len(w) > len(best) {
			best = w
		}
	}
	return best
}

// SearchPatrons finds patrons by barcode, by the value of any identifier,
// by the start of the last or first name ("Lovelace", "Ada Love",
// "Lovelace, A") or of an e-mail address, ignoring case. PIN hashes are
// left out.
func (s *Service) SearchPatrons(ctx context.Context, query string, limit int) (PatronHits, error) {
	q, err := cleanQuery(query)
	if err != nil {
		return PatronHits{}, err
	}
	c := newCollector[store.Patron](limit)
	add := func(p store.Patron) bool {
		p.PINHash = ""
		return c.add(p.ID, p)
	}
	err = s.view(ctx, func(tx store.Tx) error {
		for _, id := range tx.PatronsWithValue(q) {
			p, err := tx.Patron(id)
			if err != nil {
				return err
			}
			if !add(p) {
				return nil
			}
		}
		match := patronMatcher(q)
		return tx.ForEachPatronHolding(needle(q), func(p store.Patron) bool {
			return !match(&p) || add(p)
		})
	})
	return PatronHits{Patrons: c.out, More: c.more}, err
}

// patronMatcher matches names and e-mail addresses by their start.
func patronMatcher(q string) func(p *store.Patron) bool {
	lq := strings.ToLower(q)
	last, first, comma := strings.Cut(lq, ",")
	last, first = strings.TrimSpace(last), strings.TrimSpace(first)
	return func(p *store.Patron) bool {
		ln, fn := strings.ToLower(p.LastName), strings.ToLower(p.FirstName)
		if comma {
			if strings.HasPrefix(ln, last) && strings.HasPrefix(fn, first) {
				return true
			}
		} else if strings.HasPrefix(ln, lq) || strings.HasPrefix(fn, lq) || strings.HasPrefix(fn+" "+ln, lq) {
			return true
		}
		for _, ct := range p.Contacts {
			if ct.Kind == "email" && strings.HasPrefix(strings.ToLower(ct.Value), lq) {
				return true
			}
		}
		return false
	}
}

// SearchBibs finds records by 001 control number, internal id ("id:12"),
// ISBN (hyphens or not), or words of the title or author: each word of
// the query starts a word of either. Deleted records are found only by
// their 001 or id.
func (s *Service) SearchBibs(ctx context.Context, query string, limit int) (BibHits, error) {
	q, err := cleanQuery(query)
	if err != nil {
		return BibHits{}, err
	}
	c := newCollector[store.Bib](limit)
	err = s.view(ctx, func(tx store.Tx) error {
		if b, err := tx.BibByControlNumber(q); err == nil {
			c.add(b.ID, b)
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if id, ok := strings.CutPrefix(q, "id:"); ok {
			if n, err := strconv.ParseUint(id, 10, 64); err == nil {
				if b, err := tx.Bib(n); err == nil {
					c.add(b.ID, b)
				}
			}
		}
		isbn := normalizeISBN(q)
		words := strings.Fields(strings.ToLower(q))
		// Records keep an ISBN as its digits (BibFields), so those narrow
		// the scan as a word does.
		text := q
		if isbn != "" {
			text = isbn
		}
		return tx.ForEachBibHolding(needle(text), func(b store.Bib) bool {
			if b.Deleted {
				return true
			}
			if (isbn != "" && normalizeISBN(b.ISBN) == isbn) || wordsStart(words, b.Title+" "+b.Author) {
				return c.add(b.ID, b)
			}
			return true
		})
	})
	return BibHits{Bibs: c.out, More: c.more}, err
}

// normalizeISBN keeps the digits and a final X of a string that is an
// ISBN-10 or ISBN-13 written with or without hyphens and spaces, or
// returns "".
func normalizeISBN(s string) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case (r == 'X' || r == 'x') && i == len(s)-1:
			b.WriteByte('X')
		case r == '-' || r == ' ':
		default:
			return ""
		}
	}
	if n := b.Len(); n != 10 && n != 13 {
		return ""
	}
	return b.String()
}

// wordsStart reports whether every query word starts some word of text.
func wordsStart(words []string, text string) bool {
	tw := strings.FieldsFunc(strings.ToLower(text), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	for _, w := range words {
		w = strings.TrimFunc(w, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
		if w == "" {
			continue
		}
		if !slices.ContainsFunc(tw, func(t string) bool { return strings.HasPrefix(t, w) }) {
			return false
		}
	}
	return true
}

// SearchItems finds items by barcode, by the start of their call number
// (ignoring case), or by their record: an internal id, "id:N" or 001
// control number, as ResolveBib reads it.
func (s *Service) SearchItems(ctx context.Context, query string, limit int) (ItemHits, error) {
	q, err := cleanQuery(query)
	if err != nil {
		return ItemHits{}, err
	}
	c := newCollector[store.Item](limit)
	err = s.view(ctx, func(tx store.Tx) error {
		if it, err := tx.ItemByBarcode(q); err == nil {
			c.add(it.ID, it)
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if b, err := ResolveBib(tx, q); err == nil {
			its, err := tx.ItemsOfBib(b.ID)
			if err != nil {
				return err
			}
			for _, it := range its {
				if !c.add(it.ID, it) {
					return nil
				}
			}
		}
		lq := strings.ToLower(q)
		return tx.ForEachItemHolding(needle(q), func(it store.Item) bool {
			if strings.HasPrefix(strings.ToLower(it.CallNumber), lq) {
				return c.add(it.ID, it)
			}
			return true
		})
	})
	return ItemHits{Items: c.out, More: c.more}, err
}

// AmbiguousBibError refuses a bare number that is both one record's id
// and another's 001.
type AmbiguousBibError struct {
	Name       string
	ByID, ByCN uint64
}

func (e *AmbiguousBibError) Error() string {
	return fmt.Sprintf("%s is the id of bib %d and the 001 of bib %d: write id:%d or id:%d", e.Name, e.ByID, e.ByCN, e.ByID, e.ByCN)
}

// ResolveBib finds the record a person names: "id:N" is the internal id,
// anything else the 001 control number or, for a number, the internal id.
// A number that is one record's id and another's 001 is refused as
// ambiguous.
func ResolveBib(tx store.Tx, name string) (store.Bib, error) {
	name = strings.TrimSpace(name)
	if id, ok := strings.CutPrefix(name, "id:"); ok {
		n, err := strconv.ParseUint(id, 10, 64)
		if err != nil || n == 0 {
			return store.Bib{}, fmt.Errorf("%q: id: needs a record number", name)
		}
		return bibByID(tx, n)
	}
	byCN, err := tx.BibByControlNumber(name)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.Bib{}, err
	}
	n, numErr := strconv.ParseUint(name, 10, 64)
	if numErr != nil || n == 0 {
		if err != nil {
			return store.Bib{}, &NotFoundError{Kind: "bib with 001", Code: name}
		}
		return byCN, nil
	}
	byID, idErr := tx.Bib(n)
	if idErr != nil && !errors.Is(idErr, store.ErrNotFound) {
		return store.Bib{}, idErr
	}
	switch {
	case err == nil && idErr == nil && byID.ID != byCN.ID:
		return store.Bib{}, &AmbiguousBibError{Name: name, ByID: byID.ID, ByCN: byCN.ID}
	case err == nil:
		return byCN, nil
	case idErr == nil:
		return byID, nil
	}
	return store.Bib{}, &NotFoundError{Kind: "bib with id or 001", Code: name}
}

func bibByID(tx store.Tx, id uint64) (store.Bib, error) {
	b, err := tx.Bib(id)
	if errors.Is(err, store.ErrNotFound) {
		return b, &NotFoundError{Kind: "bib with id", Code: strconv.FormatUint(id, 10)}
	}
	return b, err
}
