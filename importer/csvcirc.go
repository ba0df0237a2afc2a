package importer

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/store"
)

// The circulation CSV files: open loans, holds and open fees. Each field
// has circa's column name and the names Koha's tables give it, so an
// export of Koha's issues, reserves or accountlines (with the borrower's
// cardnumber and the item's barcode joined in) reads as it is. Column names
// are matched in any case. Dates are YYYY-MM-DD or YYYY-MM-DD HH:MM[:SS] in
// the zone of the library the record belongs to; anything else (01/03/2024)
// is refused with its line.
//
// Loans (circa import loans):
//
//	patron         patron barcode            (Koha: cardnumber)
//	item           item barcode              (Koha: barcode)
//	checkout_date  when it was lent          (Koha: issuedate)
//	due_date       when it is due; a date alone means the end of that day (Koha: date_due)
//	renewals       renewals so far, default 0 (Koha: renewals_count, renewals)
//
// Holds (circa import holds), in queue order: the rows are taken by
// priority when the file has a priority column, in file order otherwise.
//
//	patron         patron barcode            (Koha: cardnumber)
//	item           item barcode, for a hold on that copy (Koha: barcode)
//	bib            the title's 001, or circa's id as id:N, for a title hold (Koha: biblionumber)
//	pickup         pickup library code; default the patron's home library (Koha: branchcode)
//	placed         when it was placed        (Koha: reservedate)
//	expires        not wanted after this day (Koha: expirationdate)
//	priority       position in the title's queue (Koha: priority)
//
// Fees (circa import fees):
//
//	patron         patron barcode            (Koha: cardnumber)
//	amount         amount charged, a decimal in the library's currency (Koha: amount)
//	outstanding    amount still owed; default the amount (Koha: amountoutstanding)
//	type           fee type: a SIP2 code 01–16, a name (overdue, damage, …) or a Koha debit type (Koha: debit_type_code, accounttype)
//	date           when it was charged      (Koha: date)
//	description    text shown with it       (Koha: description)
//	item           item barcode it is for    (Koha: barcode)
//	library        library that charged it; default the patron's home library (Koha: branchcode)
//
// A MAPPING.yaml renames columns and maps codes:
//
//	columns:        # CSV column → field
//	  borrower: patron
//	codes:
//	  library: {CPL: MAIN}
//	  fee_type: {SUNDRY: "01"}
type CircMapping struct {
	Columns map[string]string            `yaml:"columns"`
	Codes   map[string]map[string]string `yaml:"codes,omitempty"`
}

// circLayout is the fields of one kind of circulation file with the
// column names each goes by.
type circLayout struct {
	what   string // loans, holds, fees
	fields map[string][]string
	need   [][]string // alternatives of which one must be present
}

var (
	loanLayout = circLayout{what: "loans", fields: map[string][]string{
		"patron": {"cardnumber"}, "item": {"barcode"}, "checkout_date": {"issuedate"},
		"due_date": {"date_due"}, "renewals": {"renewals_count"},
	}, need: [][]string{{"patron"}, {"item"}, {"checkout_date"}, {"due_date"}}}
	holdLayout = circLayout{what: "holds", fields: map[string][]string{
		"patron": {"cardnumber"}, "item": {"barcode"}, "bib": {"biblionumber"}, "pickup": {"branchcode"},
		"placed": {"reservedate"}, "expires": {"expirationdate"}, "priority": nil,
	}, need: [][]string{{"patron"}, {"item", "bib"}}}
	feeLayout = circLayout{what: "fees", fields: map[string][]string{
		"patron": {"cardnumber"}, "amount": nil, "outstanding": {"amountoutstanding"},
		"type": {"debit_type_code", "accounttype"}, "date": nil, "description": nil,
		"item": {"barcode"}, "library": {"branchcode"},
	}, need: [][]string{{"patron"}, {"amount", "outstanding"}, {"type"}}}
)

// LoadCircMapping resolves --mapping for loans, holds and fees: "" or
// koha (circa's and Koha's column names, which every file accepts), or a
// YAML file.
func LoadCircMapping(name string) (CircMapping, error) {
	if name == "" || name == "koha" {
		return CircMapping{}, nil
	}
	data, err := os.ReadFile(name)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) && !strings.ContainsAny(name, "./") {
			return CircMapping{}, fmt.Errorf("unknown mapping %q: koha or a YAML file%s", name, store.DidYouMean(name, []string{"koha"}))
		}
		return CircMapping{}, err
	}
	var m CircMapping
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&m); err != nil && !errors.Is(err, io.EOF) {
		return m, fmt.Errorf("mapping: %w", err)
	}
	for kind := range m.Codes {
		if kind != "library" && kind != "fee_type" {
			return m, fmt.Errorf("mapping: codes: unknown table %q: library or fee_type", kind)
		}
	}
	return m, nil
}

// columns finds the column of each field of l in src's header.
func (m CircMapping) columns(l circLayout, src *CSVSource) (map[string]string, error) {
	cols := map[string]string{}
	for field, aliases := range l.fields {
		for _, name := range append([]string{field}, aliases...) {
			if src.Has(name) {
				cols[field] = name
				break
			}
		}
	}
	for col, field := range m.Columns {
		if _, ok := l.fields[field]; !ok {
			return nil, fmt.Errorf("mapping: column %q: %s have no field %q%s", col, l.what, field,
				store.DidYouMean(field, slices.Sorted(maps.Keys(l.fields))))
		}
		if src.Has(col) {
			cols[field] = col
		}
	}
	for _, alts := range l.need {
		found := slices.ContainsFunc(alts, func(f string) bool { return cols[f] != "" })
		if !found {
			return nil, fmt.Errorf("the file has no %s column, which %s need", strings.Join(alts, " or "), l.what)
		}
	}
	return cols, nil
}

func (m CircMapping) library(v string) string {
	if to, ok := lookupCode(m.Codes["library"], v); ok {
		return to
	}
	return v
}

// LoanParser returns the Parse of a loans file: a circ.LoanImport keyed by
// the item barcode.
func (m CircMapping) LoanParser(src *CSVSource) (func(Row) (string, any, error), error) {
	cols, err := m.columns(loanLayout, src)
	if err != nil {
		return nil, err
	}
	return func(row Row) (string, any, error) {
		get := func(f string) string { return row.Get(cols[f]) }
		in := circ.LoanImport{Patron: get("patron"), Item: get("item")}
		if in.Item == "" {
			return "", nil, errors.New("no item barcode")
		}
		if in.Patron == "" {
			return in.Item, nil, errors.New("no patron barcode")
		}
		var err error
		if in.Out, err = requiredDate("checkout date", get("checkout_date")); err != nil {
			return in.Item, nil, err
		}
		if in.Due, err = requiredDate("due date", get("due_date")); err != nil {
			return in.Item, nil, err
		}
		if r := get("renewals"); r != "" {
			if in.Renewals, err = strconv.Atoi(r); err != nil || in.Renewals < 0 {
				return in.Item, nil, fmt.Errorf("renewals %q is not a count", r)
			}
		}
		return in.Item, in, nil
	}, nil
}

// requiredDate is parseDateField of a date that must be given.
func requiredDate(what, s string) (circ.WallTime, error) {
	w, err := parseDateField(what, s)
	if err == nil && w.IsZero() {
		return w, fmt.Errorf("no %s", what)
	}
	return w, err
}

// HoldParser returns the Parse of a holds file: a circ.HoldImport keyed by
// the item barcode, or the title, and its priority (0 when none).
func (m CircMapping) HoldParser(src *CSVSource) (func(Row) (string, any, error), error) {
	cols, err := m.columns(holdLayout, src)
	if err != nil {
		return nil, err
	}
	return func(row Row) (string, any, error) {
		get := func(f string) string { return row.Get(cols[f]) }
		h := heldRow{HoldImport: circ.HoldImport{Patron: get("patron"), Item: get("item"), Bib: get("bib"),
			Pickup: m.library(get("pickup"))}}
		key := h.Item
		if key == "" {
			key = h.Bib
		}
		switch {
		case key == "":
			return "", nil, errors.New("no item barcode and no title")
		case h.Patron == "":
			return key, nil, errors.New("no patron barcode")
		}
		var err error
		if h.Placed, err = parseDateField("placed", get("placed")); err != nil {
			return key, nil, err
		}
		if h.Expires, err = parseDateField("expires", get("expires")); err != nil {
			return key, nil, err
		}
		if p := get("priority"); p != "" {
			if h.priority, err = strconv.Atoi(p); err != nil || h.priority < 0 {
				return key, nil, fmt.Errorf("priority %q is not a queue position", p)
			}
		}
		return key, h, nil
	}, nil
}

// heldRow is a hold with its queue position in the file.
type heldRow struct {
	circ.HoldImport
	priority int
}

// QueueOrder reads all of src and yields its records by priority (file
// order among equals, and for the rows without one), so each title's queue
// is built front to back. A holds file is small enough to hold in memory.
func QueueOrder(src Source) (Source, error) {
	var all []queued
	for {
		rec, err := src.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil && !isProblem(err) {
			return nil, err
		}
		q := queued{rec: rec, err: err}
		if h, ok := rec.Value.(heldRow); ok {
			q.priority = h.priority
		}
		all = append(all, q)
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].priority < all[j].priority })
	return &queuedSource{all: all}, nil
}

type queued struct {
	rec      Record
	err      error
	priority int
}

type queuedSource struct {
	all  []queued
	next int
}

func (s *queuedSource) Next() (Record, error) {
	if s.next == len(s.all) {
		return Record{}, io.EOF
	}
	q := s.all[s.next]
	s.next++
	return q.rec, q.err
}

// FeeParser returns the Parse of a fees file: a circ.FeeImport keyed by
// the patron barcode. It counts identical rows (see FeeImport.Occurrence),
// so it must see the file from its first row.
func (m CircMapping) FeeParser(src *CSVSource) (func(Row) (string, any, error), error) {
	cols, err := m.columns(feeLayout, src)
	if err != nil {
		return nil, err
	}
	seen := map[string]int{}
	return func(row Row) (string, any, error) {
		get := func(f string) string { return row.Get(cols[f]) }
		in := circ.FeeImport{Patron: get("patron"), Amount: get("amount"), Outstanding: get("outstanding"),
			Description: get("description"), Item: get("item"), Library: m.library(get("library"))}
		if in.Patron == "" {
			return "", nil, errors.New("no patron barcode")
		}
		typ, ok := feeType(m.Codes["fee_type"], get("type"))
		if !ok {
			return in.Patron, nil, fmt.Errorf("unknown fee type %q (a SIP2 code 01–16, a name such as overdue, or a Koha debit type; map others under codes: fee_type:)", get("type"))
		}
		in.Type = typ
		if in.Date, err = parseDateField("date", get("date")); err != nil {
			return in.Patron, nil, err
		}
		if in.Amount == "" && in.Outstanding == "" {
			return in.Patron, nil, errors.New("no amount")
		}
		same := strings.Join([]string{strings.ToUpper(in.Patron), in.Amount, in.Outstanding, in.Type,
			in.Date.Date(), fmt.Sprint(in.Date.Hour, in.Date.Minute, in.Date.Second), in.Description,
			strings.ToUpper(in.Item), in.Library}, "\x00")
		seen[same]++
		in.Occurrence = seen[same]
		return in.Patron, in, nil
	}, nil
}

// feeTypes maps the names of fee types, circa's and Koha's (debit_type_code
// since Koha 20.11; accounttype before), to SIP2's codes: 01 other, 02
// administrative, 03 damage, 04 overdue, 05 processing, 06 rental,
// 07 replacement, 08 computer access, 09 hold.
var feeTypes = map[string]string{
	"other": "01", "administrative": "02", "damage": "03", "overdue": "04", "processing": "05",
	"rental": "06", "replacement": "07", "computer_access": "08", "hold": "09",
	// Koha debit_type_code
	"manual": "01", "account": "02", "account_renew": "02", "new_card": "02", "lost": "07",
	"rent": "06", "rent_daily": "06", "rent_renew": "06", "rent_daily_renew": "06",
	"reserve": "09", "reserve_expired": "09", "article_request": "01",
	// Koha accounttype, before 20.11
	"f": "04", "fu": "04", "l": "07", "res": "09", "a": "02", "n": "02", "m": "01", "pf": "05",
}

func feeType(codes map[string]string, v string) (string, bool) {
	if to, ok := lookupCode(codes, v); ok {
		v = to
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 1 && n <= 16 {
		return fmt.Sprintf("%02d", n), true
	}
	t, ok := feeTypes[strings.ToLower(v)]
	return t, ok
}

// ApplyLoan is the Apply of a loans import.
func ApplyLoan(b *circ.ImportBatch, rec Record) (Counts, error) {
	return applyOutcome(rec, "loans", func() (string, error) { return b.ImportLoan(rec.Value.(circ.LoanImport)) })
}

// ApplyHold is the Apply of a holds import.
func ApplyHold(b *circ.ImportBatch, rec Record) (Counts, error) {
	return applyOutcome(rec, "holds", func() (string, error) { return b.ImportHold(rec.Value.(heldRow).HoldImport) })
}

// ApplyFee is the Apply of a fees import.
func ApplyFee(b *circ.ImportBatch, rec Record) (Counts, error) {
	return applyOutcome(rec, "fees", func() (string, error) { return b.ImportFee(rec.Value.(circ.FeeImport)) })
}
