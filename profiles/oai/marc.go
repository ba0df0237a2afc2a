package oai

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/circa-ils/circa/marc"
)

const (
	marcNS     = "http://www.loc.gov/MARC21/slim"
	marcSchema = "http://www.loc.gov/standards/marcxml/schema/MARC21slim.xsd"
	// defaultLeader fills a missing leader and any leader position whose
	// character MARC21slim.xsd does not allow there.
	defaultLeader = "00000nam a2200000   4500"
)

// marcRecord is a MARC record reduced to what MARCXML carries.
type marcRecord struct {
	leader  string
	typ     string // record@type, kept only when it is one the schema allows
	control []controlField
	data    []dataField
}

type controlField struct{ tag, value string }

type dataField struct {
	tag, ind1, ind2 string
	subs            []subfield
}

type subfield struct{ code, value string }

// parseMARC reads stored MARCXML leniently (any namespace prefix or none, a
// <collection> around the record, HTML entity names, forbidden characters) and
// returns a record normalised to what MARC21slim.xsd allows, with every change
// listed. An error means there is no record to render.
func parseMARC(raw []byte) (*marcRecord, []Issue, error) {
	clean, fixes := sanitizeXML(raw)
	p := marcParser{fixes: fixes}
	if err := p.parse(clean); err != nil {
		return nil, p.issues, err
	}
	p.normalise()
	return &p.rec, p.issues, nil
}

type marcParser struct {
	rec       marcRecord
	issues    []Issue
	fixes     []byteFix
	hasLeader bool
	rawType   string
	sawData   bool
}

// attribute moves the byte fixes before offset end into issues, located at where.
func (p *marcParser) attribute(end int64, where string) {
	for len(p.fixes) > 0 && int64(p.fixes[0].off) < end {
		f := p.fixes[0]
		p.fixes = p.fixes[1:]
		p.issues = append(p.issues, Issue{Where: where, Kind: f.kind, Detail: f.what})
	}
}

func (p *marcParser) issue(where string, kind IssueKind, format string, a ...any) {
	p.issues = append(p.issues, Issue{Where: where, Kind: kind, Detail: fmt.Sprintf(format, a...)})
}

var errNoRecord = errors.New("no MARC record element found")

func (p *marcParser) parse(b []byte) error {
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	d.Entity = xml.HTMLEntity
	d.CharsetReader = func(_ string, r io.Reader) (io.Reader, error) { return r, nil }
	var (
		depth, recDepth int
		collection      bool
		inRecord, done  bool
		collecting      bool
		cur             *dataField
		text            strings.Builder
		where           = "MARCXML"
	)
	// RawToken skips namespace translation, which this reader does not need (it
	// goes by local names); nesting is checked here instead.
	var open []xml.Name
	for {
		tok, err := d.RawToken()
		end := d.InputOffset()
		if _, ok := tok.(xml.StartElement); !ok {
			p.attribute(end, where)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("MARCXML is not well-formed: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			open = append(open, t.Name)
			depth++
			name := t.Name.Local
			if !inRecord {
				switch {
				case done:
					if name == "record" {
						p.issue("MARCXML", IssueStructure, "more than one record; only the first is published")
						return nil
					}
				case depth == 1 && name == "collection":
					collection = true
				case name == "record" && (depth == 1 || depth == 2 && collection):
					inRecord, recDepth = true, depth
					p.rawType = attr(t, "type")
				default:
					return fmt.Errorf("unexpected element <%s> where a MARC record was expected", shorten(name))
				}
				p.attribute(end, where)
				continue
			}
			switch rel := depth - recDepth; {
			case rel == 1 && name == "leader":
				where, collecting = "leader", true
				text.Reset()
			case rel == 1 && name == "controlfield":
				where, collecting = shorten(attr(t, "tag")), true
				text.Reset()
			case rel == 1 && name == "datafield":
				p.sawData = true
				p.rec.data = append(p.rec.data, dataField{tag: attr(t, "tag"), ind1: attr(t, "ind1"), ind2: attr(t, "ind2")})
				cur = &p.rec.data[len(p.rec.data)-1]
				where = shorten(cur.tag)
			case rel == 2 && name == "subfield" && cur != nil:
				code := attr(t, "code")
				cur.subs = append(cur.subs, subfield{code: code})
				where, collecting = shorten(cur.tag)+"$"+shorten(code), true
				text.Reset()
			default:
				p.attribute(end, where)
				p.issue(where, IssueStructure, "unexpected element <%s> ignored", shorten(name))
				if err := skip(d, t.Name); err != nil {
					return fmt.Errorf("MARCXML is not well-formed: %w", err)
				}
				p.attribute(d.InputOffset(), where)
				open = open[:len(open)-1]
				depth--
			}
			p.attribute(end, where) // characters fixed in this start tag's attributes
		case xml.CharData:
			if collecting {
				text.Write(t)
			}
		case xml.EndElement:
			if len(open) == 0 || open[len(open)-1] != t.Name {
				return fmt.Errorf("MARCXML is not well-formed: unexpected end element </%s>", shorten(t.Name.Local))
			}
			open = open[:len(open)-1]
			if inRecord {
				name := t.Name.Local
				switch rel := depth - recDepth; {
				case rel == 0:
					inRecord, done = false, true
				case rel == 1 && name == "leader":
					if p.hasLeader {
						p.issue("leader", IssueStructure, "second leader ignored")
					} else {
						p.rec.leader, p.hasLeader = text.String(), true
					}
				case rel == 1 && name == "controlfield":
					if p.sawData {
						p.issue(where, IssueStructure, "control field after data fields moved before them")
					}
					p.rec.control = append(p.rec.control, controlField{tag: where, value: text.String()})
				case rel == 1 && name == "datafield":
					cur = nil
				case rel == 2 && name == "subfield" && cur != nil:
					cur.subs[len(cur.subs)-1].value = text.String()
				}
				switch {
				case depth-recDepth == 2 && cur != nil:
					where = shorten(cur.tag)
				case depth-recDepth <= 1:
					where = "MARCXML"
				}
				collecting = false
			}
			depth--
		}
	}
	if len(open) > 0 && !done {
		return fmt.Errorf("MARCXML is not well-formed: <%s> is not closed", shorten(open[len(open)-1].Local))
	}
	if !done {
		return errNoRecord
	}
	return nil
}

// skip reads past the end of the element start just read, checking nesting.
func skip(d *xml.Decoder, start xml.Name) error {
	var open []xml.Name
	for {
		tok, err := d.RawToken()
		if err == io.EOF {
			return io.ErrUnexpectedEOF
		}
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			open = append(open, t.Name)
		case xml.EndElement:
			if len(open) == 0 && t.Name == start {
				return nil
			}
			if len(open) == 0 || open[len(open)-1] != t.Name {
				return fmt.Errorf("unexpected end element </%s>", shorten(t.Name.Local))
			}
			open = open[:len(open)-1]
		}
	}
}

func attr(t xml.StartElement, name string) string {
	for _, a := range t.Attr {
		if a.Name.Local == name && a.Name.Space == "" {
			return a.Value
		}
	}
	return ""
}

// shorten keeps names in messages short and printable.
func shorten(s string) string {
	return strings.Trim(quoteArg(s), `"`)
}

// leaderAllowed lists, per position, the characters MARC21slim.xsd allows.
var leaderAllowed = func() [24]string {
	const digits = "0123456789"
	const alnum = digits + "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	var a [24]string
	for i := range a {
		switch {
		case i <= 4 || i >= 12 && i <= 16:
			a[i] = digits + " "
		case i == 6:
			a[i] = alnum
		case i == 10 || i == 11:
			a[i] = "2 "
		default:
			a[i] = alnum + " "
		}
	}
	return a
}()

func (p *marcParser) normalise() {
	r := &p.rec
	if !p.hasLeader {
		r.leader = defaultLeader
		p.issue("leader", IssueLeader, "missing leader replaced by the default leader")
	} else {
		r.leader = normaliseLeader(r.leader, func(detail string) { p.issue("leader", IssueLeader, "%s", detail) })
	}
	switch p.rawType {
	case "", "Bibliographic", "Authority", "Holdings", "Classification", "Community":
		r.typ = p.rawType
	default:
		p.issue("MARCXML", IssueStructure, "record type attribute not allowed by the schema dropped")
	}
	control := r.control[:0]
	for _, f := range r.control {
		if validControlTag(f.tag) {
			control = append(control, f)
		} else {
			p.issue(shorten(f.tag), IssueTag, "control field with an invalid tag dropped")
		}
	}
	r.control = control
	data := r.data[:0]
	for _, f := range r.data {
		if !validDataTag(f.tag) {
			p.issue(shorten(f.tag), IssueTag, "data field with an invalid tag dropped")
			continue
		}
		f.ind1 = p.indicator(f.tag+" ind1", f.ind1)
		f.ind2 = p.indicator(f.tag+" ind2", f.ind2)
		subs := f.subs[:0]
		for _, s := range f.subs {
			if validSubfieldCode(s.code) {
				subs = append(subs, s)
			} else {
				p.issue(f.tag, IssueSubfieldCode, "subfield with code %s dropped", quoteArg(s.code))
			}
		}
		f.subs = subs
		if len(f.subs) == 0 {
			p.issue(f.tag, IssueEmptyField, "data field without subfields dropped")
			continue
		}
		data = append(data, f)
	}
	r.data = data
}

// normaliseLeader makes a leader match the schema's pattern position by position.
func normaliseLeader(l string, report func(string)) string {
	rs := []rune(l)
	if len(rs) != 24 {
		report(fmt.Sprintf("leader of %d characters fitted to 24", len(rs)))
	}
	out := []byte(defaultLeader)
	for i := 0; i < 24 && i < len(rs); i++ {
		if rs[i] < 0x80 && strings.IndexByte(leaderAllowed[i], byte(rs[i])) >= 0 {
			out[i] = byte(rs[i])
		} else {
			report(fmt.Sprintf("position %02d %s replaced by %q", i, quoteArg(string(rs[i])), defaultLeader[i]))
		}
	}
	if s := string(out[20:]); s != "4500" && s != "    " {
		report("positions 20-23 set to 4500")
		copy(out[20:], "4500")
	}
	return string(out)
}

func (p *marcParser) indicator(where, ind string) string {
	if len(ind) == 1 && (ind[0] >= '0' && ind[0] <= '9' || ind[0] >= 'a' && ind[0] <= 'z' || ind[0] == ' ') {
		return ind
	}
	if len(ind) == 1 && ind[0] >= 'A' && ind[0] <= 'Z' {
		p.issue(where, IssueIndicator, "upper-case indicator lower-cased")
		return strings.ToLower(ind)
	}
	p.issue(where, IssueIndicator, "indicator %s replaced by a blank", quoteArg(ind))
	return " "
}

// validControlTag: 00[1-9A-Za-z].
func validControlTag(t string) bool {
	return len(t) == 3 && t[0] == '0' && t[1] == '0' && isAlnum(t[2]) && t[2] != '0'
}

// validDataTag follows MARC21slim.xsd's tagDataType: three digits or letters,
// not 000-009, and letters of one case.
func validDataTag(t string) bool {
	if len(t) != 3 || !isAlnum(t[0]) || !isAlnum(t[1]) || !isAlnum(t[2]) {
		return false
	}
	upper, lower := false, false
	for i := 0; i < 3; i++ {
		upper = upper || t[i] >= 'A' && t[i] <= 'Z'
		lower = lower || t[i] >= 'a' && t[i] <= 'z'
	}
	if upper && lower {
		return false
	}
	if t[0] == '0' {
		return t[1] != '0'
	}
	return true
}

// validSubfieldCode: exactly one character of [\dA-Za-z!"#$%&'()*+,-./:;<=>?{}_^`~\[\]\\].
func validSubfieldCode(c string) bool {
	return len(c) == 1 && (isAlnum(c[0]) || strings.IndexByte("!\"#$%&'()*+,-./:;<=>?{}_^`~[]\\", c[0]) >= 0)
}

// withHoldings returns a copy of the record for marc21_holdings: the
// stored 852 and 876 fields give way to the live inventory, one 852 per
// holdings record and one 876 per item (InventoryFields). Problems in the
// inventory data go to report.
func (r *marcRecord) withHoldings(h []Holding, report func(Issue)) *marcRecord {
	out := *r
	var inv []marc.DataField
	seen := map[string]int{}
	for _, f := range InventoryFields(h, Enrichment{Holdings: true, Items: true}) {
		seen[f.Tag]++
		where := fmt.Sprintf("%s[%d]", f.Tag, seen[f.Tag])
		var issues []Issue
		n := 0
		for _, s := range f.Subfields {
			s.Value = cleanText(s.Value, where+"$"+s.Code, &issues)
			if strings.TrimSpace(s.Value) != "" {
				f.Subfields[n] = s
				n++
			}
		}
		f.Subfields = f.Subfields[:n]
		for _, is := range issues {
			report(is)
		}
		if n == 0 {
			report(Issue{Where: where, Kind: IssueEmptyField, Detail: "inventory field with no data left out"})
			continue
		}
		inv = append(inv, f)
	}
	data := make([]marc.DataField, len(r.data))
	for i, f := range r.data {
		data[i] = marc.DataField{Tag: f.tag, Ind1: f.ind1, Ind2: f.ind2}
		for _, s := range f.subs {
			data[i].Subfields = append(data[i].Subfields, marc.Subfield{Code: s.code, Value: s.value})
		}
	}
	merged := MergeInventory(data, inv, Enrichment{Holdings: true, Items: true})
	out.data = make([]dataField, len(merged))
	for i, f := range merged {
		out.data[i] = dataField{tag: f.Tag, ind1: f.Ind1, ind2: f.Ind2}
		for _, s := range f.Subfields {
			out.data[i].subs = append(out.data[i].subs, subfield{s.Code, s.Value})
		}
	}
	return &out
}

// writeMARC writes the record as MARCXML with its own namespace and schemaLocation.
func writeMARC(x *xmlWriter, r *marcRecord) {
	x.raw(`<record xmlns="` + marcNS + `" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="` + marcNS + " " + marcSchema + `"`)
	if r.typ != "" {
		x.raw(` type="` + r.typ + `"`)
	}
	x.raw(`><leader>`)
	x.text(r.leader)
	x.raw(`</leader>`)
	for _, f := range r.control {
		x.raw(`<controlfield tag="` + f.tag + `">`)
		x.text(f.value)
		x.raw(`</controlfield>`)
	}
	for _, f := range r.data {
		x.raw(`<datafield tag="` + f.tag + `" ind1="` + f.ind1 + `" ind2="` + f.ind2 + `">`)
		for _, s := range f.subs {
			x.raw(`<subfield code="`)
			x.attr(s.code)
			x.raw(`">`)
			x.text(s.value)
			x.raw(`</subfield>`)
		}
		x.raw(`</datafield>`)
	}
	x.raw(`</record>`)
}

// fields returns the data fields with one of the tags, in record order.
func (r *marcRecord) fields(tags ...string) []dataField {
	var out []dataField
	for _, f := range r.data {
		for _, t := range tags {
			if f.tag == t {
				out = append(out, f)
				break
			}
		}
	}
	return out
}

func (r *marcRecord) controlValue(tag string) string {
	for _, f := range r.control {
		if f.tag == tag {
			return f.value
		}
	}
	return ""
}

// subValues returns the values of the subfields whose codes are in codes, in field order.
func (f dataField) subValues(codes string) []string {
	var out []string
	for _, s := range f.subs {
		if strings.Contains(codes, s.code) {
			out = append(out, s.value)
		}
	}
	return out
}
