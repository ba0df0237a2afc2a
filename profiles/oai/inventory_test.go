package oai

import (
	"slices"
	"testing"

	"github.com/circa-ils/circa/marc"
)

// The 852 first indicator is the shelving scheme as MARC 21 Holdings
// defines it, and the call number is split only where the scheme has a
// classification part the call number follows.
func TestShelvingSchemeAndCallNumberParts(t *testing.T) {
	for _, c := range []struct{ typ, call, ind1, class, item string }{
		{"lc", "QA76.73.G63 .K47  2020", "0", "QA76.73.G63", ".K47 2020"},
		{"LC", "PER QA76 .K47", "0", "PER QA76 .K47", ""},
		{"dewey", "005.133 SMI", "1", "005.133", "SMI"},
		{"ddc", "FIC SMITH", "1", "FIC SMITH", ""},
		{"nlm", "WB 100 .S5", "2", "WB 100 .S5", ""},
		{"nlm", "W1 .J0581", "2", "W1", ".J0581"},
		{"sudoc", "Y 4.G 74/7:P 94", "3", "Y 4.G 74/7:P 94", ""},
		{"local", "VHS 9004", "8", "VHS 9004", ""},
		{"", "QA76 .K47", " ", "QA76 .K47", ""},
		{"lc", "QA76", "0", "QA76", ""},
	} {
		if got := ShelvingScheme(c.typ); got != c.ind1 {
			t.Errorf("ShelvingScheme(%q) = %q, want %q", c.typ, got, c.ind1)
		}
		if class, item := CallNumberParts(c.call, c.typ); class != c.class || item != c.item {
			t.Errorf("CallNumberParts(%q, %q) = %q, %q; want %q, %q", c.call, c.typ, class, item, c.class, c.item)
		}
	}
}

// Enrichment adds what the profile asks for, in tag order, and replaces
// only the stored fields of the kinds it adds.
func TestInventoryFieldsMerge(t *testing.T) {
	hs := []Holding{{ID: "22", Institution: "INST", Library: "MAIN", Location: "STACKS", CallNumber: "QA76 .K47", CallNumberType: "lc",
		Items: []Item{{ID: "23", Barcode: "3900", Status: "available"}, {ID: "24", Barcode: "3901", Status: "on_loan"}}}}
	data := []marc.DataField{{Tag: "245"}, {Tag: "852", Subfields: []marc.Subfield{{Code: "b", Value: "OLD"}}}, {Tag: "856"},
		{Tag: "876", Subfields: []marc.Subfield{{Code: "p", Value: "OLD"}}}, {Tag: "900"}}
	tags := func(fs []marc.DataField) []string {
		var out []string
		for _, f := range fs {
			out = append(out, f.Tag)
		}
		return out
	}
	for _, c := range []struct {
		e    Enrichment
		want []string
	}{
		{Enrichment{Holdings: true, Items: true}, []string{"245", "852", "856", "876", "876", "900"}},
		{Enrichment{Holdings: true}, []string{"245", "852", "856", "876", "900"}},
		{Enrichment{Items: true}, []string{"245", "852", "856", "876", "876", "900"}},
	} {
		got := MergeInventory(data, InventoryFields(hs, c.e), c.e)
		if !slices.Equal(tags(got), c.want) {
			t.Errorf("%+v: tags %v, want %v", c.e, tags(got), c.want)
		}
		for _, f := range got {
			for _, s := range f.Subfields {
				if s.Value == "OLD" && (f.Tag == "852" && c.e.Holdings || f.Tag == "876" && c.e.Items) {
					t.Errorf("%+v: stored %s kept", c.e, f.Tag)
				}
			}
		}
	}
}
