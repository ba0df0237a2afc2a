package importer

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/store"
)

func field(tag string, sub ...string) circ.DataField {
	f := circ.DataField{Tag: tag, Ind1: " ", Ind2: " "}
	for i := 0; i+1 < len(sub); i += 2 {
		f.Subfields = append(f.Subfields, circ.Subfield{Code: sub[i], Value: sub[i+1]})
	}
	return f
}

func recordWith(fields ...circ.DataField) *circ.MARCRecord {
	return &circ.MARCRecord{Leader: "00000nam a2200000 a 4500", Control: []circ.ControlField{{Tag: "001", Value: "1"}},
		Data: append([]circ.DataField{field("245", "a", "A title")}, fields...)}
}

func preset(t *testing.T, name string) ItemMapping {
	t.Helper()
	m, err := LoadItemMapping(name)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestPresetsReadTheirExports(t *testing.T) {
	for _, c := range []struct {
		preset string
		rec    *circ.MARCRecord
		want   []circ.ImportItem
	}{
		{"koha", recordWith(
			field("952", "0", "0", "1", "0", "7", "0", "a", "CPL", "b", "FFL", "c", "STACKS", "o", "823.914 ROW", "p", "39999000001", "y", "BK", "g", "12.50"),
			field("952", "1", "4", "a", "CPL", "c", "STACKS", "p", "39999000002", "y", "BK", "g", "25.00", "v", "30.00", "z", "Signed copy", "x", "staff only"),
			field("952", "0", "1", "a", "CPL", "p", "39999000003", "y", "BK"),
			field("952", "7", "-1", "a", "CPL", "p", "39999000004", "y", "BK"),
			field("952", "1", "2", "a", "CPL", "p", "39999000005", "y", "BK"),
		), []circ.ImportItem{
			{Barcode: "39999000001", Library: "CPL", Location: "STACKS", CallNumber: "823.914 ROW", Policy: "BK", Price: "12.50"},
			{Barcode: "39999000002", Library: "CPL", Location: "STACKS", Policy: "BK", Status: store.ItemMissing, Price: "30.00", Note: "Signed copy; staff only"},
			{Barcode: "39999000003", Library: "CPL", Policy: "BK", Status: store.ItemMissing},
			{Barcode: "39999000004", Library: "CPL", Policy: "BK", Status: store.ItemOnOrder},
			{Barcode: "39999000005", Library: "CPL", Policy: "BK", Status: store.ItemLost},
		}},
		{"evergreen", recordWith(
			field("852", "b", "BR1", "b", "BR2", "c", "Stacks", "j", "FIC SMI", "g", "BOOK", "p", "30000001", "y", "20.00", "t", "1"),
		), []circ.ImportItem{
			{Barcode: "30000001", Library: "BR1", Location: "Stacks", CallNumber: "FIC SMI", Policy: "BOOK", Price: "20.00"},
		}},
		{"sierra", recordWith(
			field("949", "a", "QA76 .K5", "v", "v.2", "i", "3100001", "l", "mstk", "t", "0", "k", "-"),
			field("949", "a", "QA76 .K5", "i", "3100002", "l", "mstk", "t", "0", "k", "m"),
		), []circ.ImportItem{
			{Barcode: "3100001", Location: "mstk", CallNumber: "QA76 .K5 v.2", Policy: "0", Status: store.ItemAvailable},
			{Barcode: "3100002", Location: "mstk", CallNumber: "QA76 .K5", Policy: "0", Status: store.ItemMissing},
		}},
		{"symphony", recordWith(
			field("999", "a", "PR6068 .O93", "w", "LC", "c", "1", "i", "36105001", "l", "STACKS", "k", "STACKS", "m", "GREEN", "t", "STKS-MONO"),
			field("999", "a", "PR6068 .O93", "w", "LC", "c", "2", "i", "36105002", "l", "STACKS", "k", "MISSING", "m", "GREEN", "t", "STKS-MONO"),
			field("999", "a", "PR6068 .O93", "w", "LC", "c", "3", "i", "36105003", "l", "STACKS", "k", "CHECKEDOUT", "m", "GREEN", "t", "STKS-MONO"),
		), []circ.ImportItem{
			{Barcode: "36105001", Library: "GREEN", Location: "STACKS", CallNumber: "PR6068 .O93", Policy: "STKS-MONO"},
			{Barcode: "36105002", Library: "GREEN", Location: "STACKS", CallNumber: "PR6068 .O93", Policy: "STKS-MONO", Status: store.ItemMissing},
			{Barcode: "36105003", Library: "GREEN", Location: "STACKS", CallNumber: "PR6068 .O93", Policy: "STKS-MONO"},
		}},
		{"alma", recordWith(
			field("852", "8", "2245001", "b", "MAIN", "c", "GEN", "h", "QA76.73", "i", ".G6 2016"),
			field("852", "8", "2245002", "b", "LAW", "c", "RES"),
			field("876", "8", "2245002", "a", "2345002", "p", "B002", "j", "1"),
			field("876", "8", "2245001", "a", "2345001", "p", "B001", "j", "0"),
		), []circ.ImportItem{
			{Barcode: "B002", Library: "LAW", Location: "RES"},
			{Barcode: "B001", Library: "MAIN", Location: "GEN", CallNumber: "QA76.73 .G6 2016"},
		}},
	} {
		t.Run(c.preset, func(t *testing.T) {
			m := preset(t, c.preset)
			got, err := m.Items(c.rec)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got  %+v\nwant %+v", got, c.want)
			}
		})
	}
}

func TestItemMappingProblems(t *testing.T) {
	koha := preset(t, "koha")
	if _, err := koha.Items(recordWith(field("952", "a", "CPL"))); err == nil || !strings.Contains(err.Error(), "item 1 (952): an item without a barcode ($p)") {
		t.Fatalf("no barcode: %v", err)
	}
	sierra := preset(t, "sierra")
	if _, err := sierra.Items(recordWith(field("949", "i", "1"), field("949", "i", "2", "k", "q"))); err == nil ||
		!strings.Contains(err.Error(), `item 2 (949): item 2: unknown status code "q" in $k`) {
		t.Fatalf("status: %v", err)
	}
	alma := preset(t, "alma")
	if _, err := alma.Items(recordWith(field("876", "8", "9", "p", "B1"))); err == nil || !strings.Contains(err.Error(), `no 852 with $8 "9"`) {
		t.Fatalf("link: %v", err)
	}
}

func TestItemMappingFileWithCodesAndDefaults(t *testing.T) {
	path := filepath.Join(t.TempDir(), "items.yaml")
	doc := `tag: "945"
barcode: i
library: b
location: l
call_number: ac
policy: t
media_type: m
status:
  - subfield: s
    codes: {"-": "", w: missing}
codes:
  library: {cpl: MAIN}
  location: {"cpl/stk": STACKS, ref: READING}
  policy: {"0": BOOK}
  media_type: {dvd: "006"}
defaults:
  location: STACKS
  policy: BOOK
  status: in_process
`
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := LoadItemMapping(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.Items(recordWith(
		field("945", "a", "QA1", "c", "c.2", "b", "cpl", "l", "stk", "t", "0", "m", "dvd", "i", "1", "s", "-"),
		field("945", "b", "cpl", "l", "ref", "i", "2", "s", "w"),
		field("945", "i", "3"),
	))
	if err != nil {
		t.Fatal(err)
	}
	want := []circ.ImportItem{
		{Barcode: "1", Library: "MAIN", Location: "STACKS", CallNumber: "QA1 c.2", Policy: "BOOK", MediaType: "006", Status: store.ItemInProcess},
		{Barcode: "2", Library: "MAIN", Location: "READING", Policy: "BOOK", Status: store.ItemMissing},
		{Barcode: "3", Location: "STACKS", Policy: "BOOK", Status: store.ItemInProcess},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
}

func TestItemMappingErrors(t *testing.T) {
	for _, c := range []struct{ doc, want string }{
		{"tag: '001'\nbarcode: p\n", "not a data field tag"},
		{"tag: '952'\n", "barcode names no subfield"},
		{"tag: '952'\nbarcode: p\nbarcod: x\n", "field barcod not found"},
		{"tag: '952'\nbarcode: p\ndefaults: {status: on_loan}\n", `status "on_loan" is not one an import can give`},
		{"tag: '952'\nbarcode: p\nstatus: [{subfield: ab}]\n", "is not one code"},
	} {
		if _, err := ParseItemMapping([]byte(c.doc)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want %q", c.doc, err, c.want)
		}
	}
	if _, err := LoadItemMapping("kohaa"); err == nil || !strings.Contains(err.Error(), `did you mean "koha"`) && !strings.Contains(err.Error(), "koha") {
		t.Errorf("misspelt preset: %v", err)
	}
}

// FuzzItemMapping reads arbitrary mapping files and applies what parses to
// records with arbitrary item fields: errors, never a panic.
func FuzzItemMapping(f *testing.F) {
	f.Add("tag: '952'\nbarcode: p\nlocation: c\ncodes: {location: {'A/B': X}}\n", "952", "p1c\x1fB")
	f.Add("tag: '876'\nbarcode: p\nholdings: {tag: '852', link: '8', library: b}\n", "876", "81p2")
	f.Add("tag: '949'\nbarcode: i\nstatus: [{subfield: k, codes: {m: missing}}]\n", "949", "i1km")
	f.Fuzz(func(t *testing.T, doc, tag, subs string) {
		m, err := ParseItemMapping([]byte(doc))
		if err != nil {
			return
		}
		f := circ.DataField{Tag: tag}
		for i := 0; i+1 < len(subs); i += 2 {
			f.Subfields = append(f.Subfields, circ.Subfield{Code: subs[i : i+1], Value: subs[i+1 : i+2]})
		}
		h := f
		h.Tag = "852"
		items, _ := m.Items(recordWith(f, h))
		for _, it := range items {
			if it.Barcode == "" {
				t.Fatalf("an item without a barcode passed: %+v", it)
			}
		}
	})
}
