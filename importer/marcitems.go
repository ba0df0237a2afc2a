package importer

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/store"
)

// ItemMapping says where the records of an ILS's MARC export carry their
// items and how the export's codes become circa's. `circa import marc
// --items` takes a preset name (koha, evergreen, sierra, symphony, alma) or
// a YAML file of this shape:
//
//	tag: "952"            # the field that holds one item each (repeated for several)
//	barcode: p            # subfield codes: the first of them present with a value
//	library: a            #   (blank values are skipped)
//	location: c
//	call_number: o        # all of these subfields, in field order, joined by a space
//	policy: y             # item policy (item type)
//	media_type: ""        # SIP2 media type code 000–010 (or a source code the table maps)
//	price: vg             # decimal amount in the library's currency ("12.50"), stored in minor units
//	notes: xz             # all of these subfields, in field order, joined by "; " (a staff note)
//	holdings:             # optional: library, location and call number from a linked field
//	  tag: "852"          #   (Alma: 852 holdings linked to 876 items by $8)
//	  link: "8"           #   subfield with the same value in both fields
//	  library: b
//	  location: c
//	  call_number: hi
//	status:               # checked in order; the first rule whose subfield has a value decides
//	  - subfield: "1"
//	    codes: {"0": "", "1": lost, "4": missing}   # "" means this subfield says nothing
//	    other: ""         # what a value not in codes gives; unset means such a value is a problem
//	codes:                # source code → circa code; a code not listed is used as it is
//	  library: {CPL: MAIN}
//	  location: {"CPL/STACKS": MAIN-STACKS, REF: MAIN-REF}   # "LIBRARY/LOCATION" first, then LOCATION
//	  policy: {BK: BOOK}
//	  media_type: {DVD: "006"}
//	defaults:             # circa codes used where the item has no value
//	  library: MAIN
//	  location: MAIN-STACKS
//	  policy: BOOK
//	  media_type: "001"
//	  status: available
//
// Statuses are circa's: available, reshelving, in_process, on_order,
// claimed_returned, lost, missing. On loan, on the hold shelf and in transit
// come from `circa import loans|holds`, never from a catalogue export. An
// item's library is its location's; a library the export names is checked
// against it. A price with more decimals than the library's currency, or
// that is not a plain decimal number, is a problem of the record. An item
// the export gives no media type, status, price or note keeps what it has.
type ItemMapping struct {
	Tag        string        `yaml:"tag"`
	Barcode    string        `yaml:"barcode"`
	Library    string        `yaml:"library"`
	Location   string        `yaml:"location"`
	CallNumber string        `yaml:"call_number"`
	Policy     string        `yaml:"policy"`
	MediaType  string        `yaml:"media_type"`
	Price      string        `yaml:"price"`
	Notes      string        `yaml:"notes"`
	Holdings   *HoldingsLink `yaml:"holdings"`
	Status     []StatusRule  `yaml:"status"`
	Codes      CodeTables    `yaml:"codes"`
	Defaults   ItemDefaults  `yaml:"defaults"`
}

// HoldingsLink takes an item's library, location and call number from a
// holdings field linked to the item field by a subfield with the same value
// (Alma's 852 and 876 by $8). The item field's own subfields, when the
// mapping names them and they have a value, come first.
type HoldingsLink struct {
	Tag        string `yaml:"tag"`
	Link       string `yaml:"link"`
	Library    string `yaml:"library"`
	Location   string `yaml:"location"`
	CallNumber string `yaml:"call_number"`
}

// StatusRule reads an item status from one subfield through a table.
type StatusRule struct {
	Subfield string            `yaml:"subfield"`
	Codes    map[string]string `yaml:"codes"`
	// Other is the status a value missing from Codes gives ("" = the rule
	// says nothing); nil means such a value is a problem.
	Other *string `yaml:"other"`
}

// CodeTables map source codes to circa codes.
type CodeTables struct {
	Library   map[string]string `yaml:"library"`
	Location  map[string]string `yaml:"location"`
	Policy    map[string]string `yaml:"policy"`
	MediaType map[string]string `yaml:"media_type"`
}

// ItemDefaults fill what an item field leaves empty.
type ItemDefaults struct {
	Library   string `yaml:"library"`
	Location  string `yaml:"location"`
	Policy    string `yaml:"policy"`
	MediaType string `yaml:"media_type"`
	Status    string `yaml:"status"`
}

// ItemPresets are the mappings of the exports circa knows by name.
var ItemPresets = map[string]func() ItemMapping{
	"koha":      kohaItems,
	"evergreen": evergreenItems,
	"sierra":    sierraItems,
	"symphony":  symphonyItems,
	"alma":      almaItems,
}

// PresetNames lists the presets, sorted.
func PresetNames() []string {
	names := make([]string, 0, len(ItemPresets))
	for n := range ItemPresets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func str(s string) *string { return &s }

// kohaItems reads Koha's 952 as its MARC export (export_records.pl, the
// staff client's export) writes it with items included: $p barcode, $a home
// library, $b holding library, $c shelving location (authorised value
// LOC), $o full call number, $y item type, $8 collection code, $g purchase
// price, $v replacement price, $z public note, $x non-public note. The
// statuses are numeric flags, "0" or empty when unset: $1 lost (1 lost,
// 2 long overdue, 3 lost and paid for, 4 missing — the default
// authorised values), $0 withdrawn, $7 not for loan (negative values, -1 by
// default, mean on order; positive ones are circulation policy, which circa
// keeps in the item policy and the location instead).
func kohaItems() ItemMapping {
	return ItemMapping{
		Tag: "952", Barcode: "p", Library: "a", Location: "c", CallNumber: "o", Policy: "y", Price: "vg", Notes: "xz",
		Status: []StatusRule{
			{Subfield: "1", Codes: map[string]string{"0": "", "1": "lost", "2": "lost", "3": "lost", "4": "missing"}, Other: str("lost")},
			{Subfield: "0", Codes: map[string]string{"0": ""}, Other: str("missing")},
			{Subfield: "7", Codes: map[string]string{"0": "", "-1": "on_order"}, Other: str("")},
		},
	}
}

// evergreenItems reads the 852 that Evergreen's marc_export --items writes
// for each copy: indicators 4 and blank, $b the owning library's short
// name (the first $b; a second $b is the circulating library), $c the copy
// location's name (a name, not a code: map it in codes.location), $j the
// call number label ($i prefix and $k suffix where the call number has
// them), $g circulation modifier (the item policy), $p barcode, $y price,
// $t copy number, $x flags (reference, unholdable, noncirculating, hidden).
// The export carries no copy status.
func evergreenItems() ItemMapping {
	return ItemMapping{Tag: "852", Barcode: "p", Library: "b", Location: "c", CallNumber: "ijk", Policy: "g", Price: "y"}
}

// sierraItems reads the 949 item field of Sierra's (and Millennium's) load
// tables, which is also what their MARC output is set up to write items as:
// $i barcode, $l location code (Sierra's locations carry the branch; map
// them in codes.location), $a call number, $v volume, $t item type
// (numeric), $k item status code, $c copy number, $n internal note, $m
// message. Status codes are those of Sierra's default table; a library's
// own codes go in a mapping file.
func sierraItems() ItemMapping {
	return ItemMapping{
		Tag: "949", Barcode: "i", Location: "l", CallNumber: "av", Policy: "t", Notes: "nm",
		Status: []StatusRule{{Subfield: "k", Codes: map[string]string{
			"-": "available", "m": "missing", "$": "lost", "n": "lost", "z": "claimed_returned",
			"o": "available", "t": "", "!": "",
		}}},
	}
}

// symphonyItems reads the 999 that SirsiDynix Symphony's catalogue dump
// (catalogdump with item information) writes for each copy: $a call
// number, $w classification scheme, $c copy number, $i item id (barcode),
// $l home location, $k current location (a status-like location such as
// CHECKEDOUT, MISSING, LOST, DISCARD; it is the home location when the
// copy is on the shelf), $m library, $t item type, $p price.
func symphonyItems() ItemMapping {
	return ItemMapping{
		Tag: "999", Barcode: "i", Library: "m", Location: "l", CallNumber: "a", Policy: "t", Price: "p",
		Status: []StatusRule{{Subfield: "k", Codes: map[string]string{
			"MISSING": "missing", "LOST": "lost", "LOST-ASSUM": "lost", "LOST-CLAIM": "claimed_returned",
			"CLAIMRETURN": "claimed_returned", "ON-ORDER": "on_order", "INPROCESS": "in_process",
			"CHECKEDOUT": "", "HOLDS": "", "INTRANSIT": "", "RESHELVING": "reshelving",
		}, Other: str("")}},
	}
}

// almaItems reads Alma's publishing output with physical inventory: the
// holdings enriched as 852 ($b library code, $c location code, $h
// classification part and $i item part of the call number, $8 holdings id)
// and each item as a MARC 21 876 ($p piece designation = barcode, $a item
// id, $c cost, $j item status, $h use restrictions, $t copy number, $z
// public note, $x non-public note, $8 the holdings id of its 852). Which tag and
// subfields a publishing profile writes items to is set in the profile;
// this preset follows the MARC 21 876 definition, and a profile written
// otherwise needs a mapping file.
func almaItems() ItemMapping {
	return ItemMapping{
		Tag: "876", Barcode: "p", Price: "c", Notes: "xz",
		Holdings: &HoldingsLink{Tag: "852", Link: "8", Library: "b", Location: "c", CallNumber: "hi"},
	}
}

// LoadItemMapping returns the preset of that name or reads a mapping file.
func LoadItemMapping(nameOrPath string) (ItemMapping, error) {
	if preset, ok := ItemPresets[nameOrPath]; ok {
		m := preset()
		return m, m.validate()
	}
	data, err := os.ReadFile(nameOrPath)
	if errors.Is(err, os.ErrNotExist) && !strings.ContainsAny(nameOrPath, "./\\") {
		return ItemMapping{}, fmt.Errorf("no item preset %q and no such file; presets: %s%s", nameOrPath,
			strings.Join(PresetNames(), ", "), store.DidYouMean(nameOrPath, PresetNames()))
	}
	if err != nil {
		return ItemMapping{}, err
	}
	return ParseItemMapping(data)
}

// ParseItemMapping reads a mapping file; an unknown key is an error naming
// its line.
func ParseItemMapping(data []byte) (ItemMapping, error) {
	var m ItemMapping
	d := yaml.NewDecoder(bytes.NewReader(data))
	d.KnownFields(true)
	if err := d.Decode(&m); err != nil {
		return m, fmt.Errorf("item mapping: %w", err)
	}
	return m, m.validate()
}

func (m *ItemMapping) validate() error {
	var errs []error
	if !validItemTag(m.Tag) {
		errs = append(errs, fmt.Errorf("item mapping: tag %q is not a data field tag (three characters, not 00X)", m.Tag))
	}
	if m.Barcode == "" {
		errs = append(errs, errors.New("item mapping: barcode names no subfield"))
	}
	if m.Holdings != nil {
		if !validItemTag(m.Holdings.Tag) || m.Holdings.Link == "" {
			errs = append(errs, errors.New("item mapping: holdings needs a data field tag and a link subfield"))
		}
	}
	checkStatus := func(where, s string) {
		if s != "" && !slices.Contains(circ.ImportableStatuses, store.ItemStatus(s)) {
			errs = append(errs, fmt.Errorf("item mapping: %s: status %q is not one an import can give (%s)", where, s, importableStatuses()))
		}
	}
	for i, r := range m.Status {
		if len(r.Subfield) != 1 {
			errs = append(errs, fmt.Errorf("item mapping: status rule %d: subfield %q is not one code", i+1, r.Subfield))
		}
		for code, s := range r.Codes {
			checkStatus(fmt.Sprintf("status rule %d, code %q", i+1, code), s)
		}
		if r.Other != nil {
			checkStatus(fmt.Sprintf("status rule %d, other", i+1), *r.Other)
		}
	}
	checkStatus("defaults", m.Defaults.Status)
	return errors.Join(errs...)
}

func validItemTag(t string) bool { return len(t) == 3 && !strings.HasPrefix(t, "00") }

func importableStatuses() string {
	var names []string
	for _, s := range circ.ImportableStatuses {
		names = append(names, string(s))
	}
	return strings.Join(names, ", ")
}

// Items reads the items of a record. An item field the mapping cannot read
// (no barcode, a status code it does not know) is an error naming the
// field, and the record is reported.
func (m *ItemMapping) Items(rec *circ.MARCRecord) ([]circ.ImportItem, error) {
	var holdings []circ.DataField
	if m.Holdings != nil {
		holdings = rec.Fields(m.Holdings.Tag)
	}
	var out []circ.ImportItem
	n := 0
	for _, f := range rec.Data {
		if f.Tag != m.Tag {
			continue
		}
		n++
		it, err := m.item(f, holdings)
		if err != nil {
			return nil, fmt.Errorf("item %d (%s): %w", n, m.Tag, err)
		}
		out = append(out, it)
	}
	return out, nil
}

// WithoutItems returns a copy of rec without the fields the mapping reads
// items from (the item field and the linked holdings field); rec is left
// as it is.
func (m *ItemMapping) WithoutItems(rec *circ.MARCRecord) *circ.MARCRecord {
	out := *rec
	out.Control = slices.Clone(rec.Control)
	out.Data = make([]circ.DataField, 0, len(rec.Data))
	for _, f := range rec.Data {
		if f.Tag != m.Tag && (m.Holdings == nil || f.Tag != m.Holdings.Tag) {
			out.Data = append(out.Data, f)
		}
	}
	return &out
}

func (m *ItemMapping) item(f circ.DataField, holdings []circ.DataField) (circ.ImportItem, error) {
	it := circ.ImportItem{Barcode: first(f, m.Barcode)}
	if it.Barcode == "" {
		return it, fmt.Errorf("an item without a barcode ($%s)", m.Barcode)
	}
	library, location, callNumber := first(f, m.Library), first(f, m.Location), joined(f, m.CallNumber)
	if h := m.Holdings; h != nil {
		var linked *circ.DataField
		if id := first(f, h.Link); id != "" {
			for i := range holdings {
				if first(holdings[i], h.Link) == id {
					linked = &holdings[i]
					break
				}
			}
		}
		if linked == nil {
			return it, fmt.Errorf("item %s: no %s with $%s %q", it.Barcode, h.Tag, h.Link, first(f, h.Link))
		}
		library = cmp.Or(library, first(*linked, h.Library))
		location = cmp.Or(location, first(*linked, h.Location))
		callNumber = cmp.Or(callNumber, joined(*linked, h.CallNumber))
	}
	it.Library = translate(m.Codes.Library, library, m.Defaults.Library)
	if location != "" {
		it.Location = mapLocation(m.Codes.Location, library, location)
	} else {
		it.Location = m.Defaults.Location
	}
	it.CallNumber = callNumber
	it.Policy = translate(m.Codes.Policy, first(f, m.Policy), m.Defaults.Policy)
	it.MediaType = translate(m.Codes.MediaType, first(f, m.MediaType), m.Defaults.MediaType)
	it.Price = first(f, m.Price)
	it.Note = joinedBy(f, m.Notes, "; ")
	status, err := m.status(f)
	if err != nil {
		return it, fmt.Errorf("item %s: %w", it.Barcode, err)
	}
	it.Status = store.ItemStatus(cmp.Or(status, m.Defaults.Status))
	return it, nil
}

func (m *ItemMapping) status(f circ.DataField) (string, error) {
	for _, r := range m.Status {
		v := first(f, r.Subfield)
		if v == "" {
			continue
		}
		s, ok := r.Codes[v]
		if !ok {
			if r.Other == nil {
				return "", fmt.Errorf("unknown status code %q in $%s", v, r.Subfield)
			}
			s = *r.Other
		}
		if s != "" {
			return s, nil
		}
	}
	return "", nil
}

// first returns the first non-blank value of the subfields with any of the
// codes, trying the codes in order.
func first(f circ.DataField, codes string) string {
	for _, c := range codes {
		for _, s := range f.Subfields {
			if len(s.Code) == 1 && rune(s.Code[0]) == c {
				if v := strings.TrimSpace(s.Value); v != "" {
					return v
				}
			}
		}
	}
	return ""
}

// joined returns the non-blank values of the subfields with any of the
// codes, in field order, joined by a space.
func joined(f circ.DataField, codes string) string { return joinedBy(f, codes, " ") }

func joinedBy(f circ.DataField, codes, sep string) string {
	var parts []string
	for _, s := range f.Subfields {
		if len(s.Code) == 1 && strings.IndexByte(codes, s.Code[0]) >= 0 {
			if v := strings.TrimSpace(s.Value); v != "" {
				parts = append(parts, v)
			}
		}
	}
	return strings.Join(parts, sep)
}

// translate maps a source code, or gives the default (a circa code) when
// the source has none.
func translate(table map[string]string, code, def string) string {
	if code == "" {
		return def
	}
	return mapCode(table, code)
}

func mapCode(table map[string]string, code string) string {
	if v, ok := table[code]; ok {
		return v
	}
	return code
}

// mapLocation maps a source location, trying "LIBRARY/LOCATION" (source
// codes: a location code is often only unique within its branch) before
// "LOCATION".
func mapLocation(table map[string]string, library, location string) string {
	if library != "" {
		if v, ok := table[library+"/"+location]; ok {
			return v
		}
	}
	return mapCode(table, location)
}
