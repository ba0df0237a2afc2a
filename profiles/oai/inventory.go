package oai

import (
	"regexp"
	"strings"

	"github.com/circa-ils/circa/marc"
)

// Holding is one holdings record of a bibliographic record, published as
// one 852 field, with the items shelved under it.
type Holding struct {
	ID          string // holdings id: 852 $8
	Institution string // 852 $a
	Library     string // 852 $b
	Location    string // 852 $c
	CallNumber  string // 852 $h (and $i: see CallNumberParts)
	// CallNumberType is the location's shelving scheme (lc, dewey, nlm,
	// sudoc, local …); it sets the 852 first indicator.
	CallNumberType string
	Items          []Item
}

// Item is one item of a holdings record, published as one 876 field whose
// $8 is the holdings id of its 852, as Alma links them.
type Item struct {
	ID      string // internal item number: 876 $a
	Barcode string // piece designation: 876 $p
	Status  string // item status: 876 $j
	// UseRestriction is 876 $h, e.g. "In library use" for an item of a
	// location that does not lend.
	UseRestriction string
}

// Enrichment chooses the inventory fields a published record carries, as
// Alma's publishing profiles do: the holdings (852) and the items (876).
type Enrichment struct {
	Holdings bool `json:"holdings,omitempty" yaml:"holdings,omitempty"`
	Items    bool `json:"items,omitempty" yaml:"items,omitempty"`
}

// Any reports whether the enrichment adds any field.
func (e Enrichment) Any() bool { return e.Holdings || e.Items }

// ShelvingScheme returns the 852 first indicator for a call-number type:
// 0 Library of Congress, 1 Dewey, 2 National Library of Medicine, 3
// Superintendent of Documents, 4 shelving control number, 5 title, 8 any
// other scheme, blank when none is known.
func ShelvingScheme(callNumberType string) string {
	switch strings.ToLower(strings.TrimSpace(callNumberType)) {
	case "":
		return " "
	case "lc", "lcc", "loc":
		return "0"
	case "dewey", "ddc":
		return "1"
	case "nlm":
		return "2"
	case "sudoc":
		return "3"
	case "control", "shelving control number":
		return "4"
	case "title":
		return "5"
	default:
		return "8"
	}
}

// CallNumberParts splits a call number into its classification part (852
// $h) and item part (852 $i) where the scheme defines them and the call
// number follows it: an LC or NLM class (letters then a number, "QA76.73")
// or a Dewey number ("005.133") before the first space. Anything else
// stays whole in the classification part.
func CallNumberParts(callNumber, callNumberType string) (class, item string) {
	callNumber = strings.Join(strings.Fields(callNumber), " ")
	class, item, ok := strings.Cut(callNumber, " ")
	if !ok {
		return callNumber, ""
	}
	switch ShelvingScheme(callNumberType) {
	case "0", "2":
		if lcClass.MatchString(class) {
			return class, item
		}
	case "1":
		if deweyClass.MatchString(class) {
			return class, item
		}
	}
	return callNumber, ""
}

var (
	lcClass    = regexp.MustCompile(`^[A-Z]{1,3}[0-9]`)
	deweyClass = regexp.MustCompile(`^[0-9]{3}`)
)

// InventoryFields returns the fields an enrichment adds for a record's
// holdings: one 852 per holdings record and, after them, one 876 per item.
// Blank values are left out, so a field may have no subfields left: the
// caller cleans the text and drops such fields.
func InventoryFields(hs []Holding, e Enrichment) []marc.DataField {
	var locs, items []marc.DataField
	for _, h := range hs {
		if e.Holdings {
			f := marc.DataField{Tag: "852", Ind1: ShelvingScheme(h.CallNumberType), Ind2: " "}
			class, part := CallNumberParts(h.CallNumber, h.CallNumberType)
			f.Subfields = subfields(f.Subfields, "a", h.Institution, "b", h.Library, "c", h.Location,
				"h", class, "i", part, "8", h.ID)
			locs = append(locs, f)
		}
		if e.Items {
			for _, it := range h.Items {
				f := marc.DataField{Tag: "876", Ind1: " ", Ind2: " "}
				f.Subfields = subfields(f.Subfields, "a", it.ID, "h", it.UseRestriction, "j", it.Status, "p", it.Barcode, "8", h.ID)
				items = append(items, f)
			}
		}
	}
	return append(locs, items...)
}

// subfields appends each (code, value) pair whose value is not blank.
func subfields(out []marc.Subfield, pairs ...string) []marc.Subfield {
	for i := 0; i+1 < len(pairs); i += 2 {
		if strings.TrimSpace(pairs[i+1]) != "" {
			out = append(out, marc.Subfield{Code: pairs[i], Value: pairs[i+1]})
		}
	}
	return out
}

// MergeInventory returns data with the inventory fields in tag order. The
// stored fields of each enriched kind (852 for holdings, 876 for items)
// give way to them: they describe the inventory as it was catalogued.
func MergeInventory(data, inventory []marc.DataField, e Enrichment) []marc.DataField {
	out := make([]marc.DataField, 0, len(data)+len(inventory))
	i := 0
	for _, f := range data {
		if e.Holdings && f.Tag == "852" || e.Items && f.Tag == "876" {
			continue
		}
		for i < len(inventory) && inventory[i].Tag <= f.Tag {
			out = append(out, inventory[i])
			i++
		}
		out = append(out, f)
	}
	return append(out, inventory[i:]...)
}
