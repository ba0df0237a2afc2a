package circ

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// MARC21slimNS is the namespace of MARCXML.
const MARC21slimNS = "http://www.loc.gov/MARC21/slim"

// defaultLeader stands in for a missing leader: a new monograph record.
const defaultLeader = "00000nam a2200000   4500"

// MARCRecord is one MARC record as MARCXML carries it.
type MARCRecord struct {
	Type    string // record@type, e.g. Bibliographic; optional
	Leader  string // 24 characters
	Control []ControlField
	Data    []DataField
}

// ControlField is a 00X field.
type ControlField struct{ Tag, Value string }

// DataField is a field with indicators and subfields.
type DataField struct {
	Tag, Ind1, Ind2 string
	Subfields       []Subfield
}

// Subfield is one coded value of a data field.
type Subfield struct{ Code, Value string }

// maxMARCXML bounds one MARCXML document read by ParseMARCXML.
const maxMARCXML = 256 << 20

// ParseMARCXML reads a MARCXML document holding one <record> or a
// <collection> of them, leniently: any namespace prefix or none, HTML entity
// names, a missing leader (a default is supplied), short leaders (padded),
// blank or missing indicators. It refuses, naming the record by its position,
// what cannot be stored sensibly: a document that is not well-formed, a
// record without fields, a tag that is not three letters or digits, a
// subfield code that is not one character.
func ParseMARCXML(data []byte) ([]MARCRecord, error) {
	if len(data) > maxMARCXML {
		return nil, fmt.Errorf("MARCXML document larger than %d bytes", maxMARCXML)
	}
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Entity = xml.HTMLEntity
	d.CharsetReader = func(charset string, r io.Reader) (io.Reader, error) {
		switch strings.ToLower(charset) {
		case "utf-8", "utf8", "us-ascii", "ascii":
			return r, nil
		}
		return nil, fmt.Errorf("MARCXML must be UTF-8, not %s", charset)
	}
	var recs []MARCRecord
	sawRoot := false
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("MARCXML is not well-formed (after %d records): %w", len(recs), err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		switch se.Name.Local {
		case "collection":
			if sawRoot {
				return nil, errors.New("MARCXML: a collection inside a collection")
			}
			sawRoot = true
		case "record":
			sawRoot = true
			var raw rawRecord
			if err := d.DecodeElement(&raw, &se); err != nil {
				return nil, fmt.Errorf("MARCXML record %d is not well-formed: %w", len(recs)+1, err)
			}
			rec, err := raw.normalise()
			if err != nil {
				return nil, fmt.Errorf("MARCXML record %d: %w", len(recs)+1, err)
			}
			recs = append(recs, rec)
		default:
			if !sawRoot {
				return nil, fmt.Errorf("MARCXML: <%s> where <record> or <collection> was expected", se.Name.Local)
			}
			if err := d.Skip(); err != nil {
				return nil, fmt.Errorf("MARCXML is not well-formed: %w", err)
			}
		}
	}
	if len(recs) == 0 {
		return nil, errors.New("MARCXML: no record found")
	}
	return recs, nil
}

type rawRecord struct {
	Type    string `xml:"type,attr"`
	Leader  string `xml:"leader"`
	Control []struct {
		Tag   string `xml:"tag,attr"`
		Value string `xml:",chardata"`
	} `xml:"controlfield"`
	Data []struct {
		Tag  string `xml:"tag,attr"`
		Ind1 string `xml:"ind1,attr"`
		Ind2 string `xml:"ind2,attr"`
		Subs []struct {
			Code  string `xml:"code,attr"`
			Value string `xml:",chardata"`
		} `xml:"subfield"`
	} `xml:"datafield"`
}

func (r *rawRecord) normalise() (MARCRecord, error) {
	rec := MARCRecord{Type: strings.TrimSpace(r.Type), Leader: r.Leader}
	if len(r.Control)+len(r.Data) == 0 {
		return rec, errors.New("no fields")
	}
	switch n := utf8.RuneCountInString(rec.Leader); {
	case strings.TrimSpace(rec.Leader) == "":
		rec.Leader = defaultLeader
	case n < 24:
		rec.Leader += strings.Repeat(" ", 24-n)
	case n > 24:
		rec.Leader = string([]rune(rec.Leader)[:24])
	}
	for _, c := range r.Control {
		tag := strings.TrimSpace(c.Tag)
		if !validTag(tag) {
			return rec, fmt.Errorf("control field tag %q is not three letters or digits", shortText(tag))
		}
		rec.Control = append(rec.Control, ControlField{Tag: tag, Value: c.Value})
	}
	for _, f := range r.Data {
		tag := strings.TrimSpace(f.Tag)
		if !validTag(tag) {
			return rec, fmt.Errorf("data field tag %q is not three letters or digits", shortText(tag))
		}
		df := DataField{Tag: tag, Ind1: indicator(f.Ind1), Ind2: indicator(f.Ind2)}
		for _, s := range f.Subs {
			if utf8.RuneCountInString(s.Code) != 1 {
				return rec, fmt.Errorf("field %s: subfield code %q is not one character", tag, shortText(s.Code))
			}
			df.Subfields = append(df.Subfields, Subfield{Code: s.Code, Value: s.Value})
		}
		rec.Data = append(rec.Data, df)
	}
	return rec, nil
}

func validTag(t string) bool {
	if len(t) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		c := t[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// indicator keeps a one-character indicator and blanks anything else.
func indicator(s string) string {
	if len(s) == 1 && (s[0] >= '0' && s[0] <= '9' || s[0] >= 'a' && s[0] <= 'z' || s[0] == ' ') {
		return s
	}
	return " "
}

func shortText(s string) string {
	if len(s) > 20 {
		return s[:20] + "…"
	}
	return s
}

// ControlValue returns the first control field with the tag, or "".
func (r *MARCRecord) ControlValue(tag string) string {
	for _, c := range r.Control {
		if c.Tag == tag {
			return c.Value
		}
	}
	return ""
}

// Fields returns the data fields with any of the tags, in record order.
func (r *MARCRecord) Fields(tags ...string) []DataField {
	var out []DataField
	for _, f := range r.Data {
		for _, t := range tags {
			if f.Tag == t {
				out = append(out, f)
				break
			}
		}
	}
	return out
}

// Value returns the first subfield with the code, or "".
func (f DataField) Value(code string) string {
	for _, s := range f.Subfields {
		if s.Code == code {
			return s.Value
		}
	}
	return ""
}

// AppendXML appends the record as a standalone MARCXML <record> in the
// MARC21 slim namespace, without an XML declaration. Characters XML cannot
// carry are left out.
func (r *MARCRecord) AppendXML(b []byte) []byte {
	b = append(b, `<record xmlns="`+MARC21slimNS+`"`...)
	if r.Type != "" {
		b = append(b, ` type="`...)
		b = appendEscaped(b, r.Type)
		b = append(b, '"')
	}
	b = append(b, "><leader>"...)
	b = appendEscaped(b, r.Leader)
	b = append(b, "</leader>"...)
	for _, c := range r.Control {
		b = append(b, `<controlfield tag="`...)
		b = appendEscaped(b, c.Tag)
		b = append(b, `">`...)
		b = appendEscaped(b, c.Value)
		b = append(b, "</controlfield>"...)
	}
	for _, f := range r.Data {
		b = append(b, `<datafield tag="`...)
		b = appendEscaped(b, f.Tag)
		b = append(b, `" ind1="`...)
		b = appendEscaped(b, f.Ind1)
		b = append(b, `" ind2="`...)
		b = appendEscaped(b, f.Ind2)
		b = append(b, `">`...)
		for _, s := range f.Subfields {
			b = append(b, `<subfield code="`...)
			b = appendEscaped(b, s.Code)
			b = append(b, `">`...)
			b = appendEscaped(b, s.Value)
			b = append(b, "</subfield>"...)
		}
		b = append(b, "</datafield>"...)
	}
	return append(b, "</record>"...)
}

// appendEscaped appends s as XML text usable in elements and double-quoted
// attributes: markup characters as references, tab, line feed and carriage
// return as references (so attribute normalisation keeps them), characters
// XML 1.0 forbids dropped, invalid UTF-8 as U+FFFD.
func appendEscaped(b []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '&':
				b = append(b, "&amp;"...)
			case c == '<':
				b = append(b, "&lt;"...)
			case c == '>':
				b = append(b, "&gt;"...)
			case c == '"':
				b = append(b, "&quot;"...)
			case c == '\t':
				b = append(b, "&#9;"...)
			case c == '\n':
				b = append(b, "&#10;"...)
			case c == '\r':
				b = append(b, "&#13;"...)
			case c < 0x20:
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			b = append(b, "\uFFFD"...)
		case r == 0xFFFE || r == 0xFFFF:
		default:
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return b
}

// isbdTrim removes the ISBD punctuation that ends a MARC subfield.
func isbdTrim(s string) string {
	s = strings.TrimSpace(s)
	for {
		t := strings.TrimRight(s, " /:;,=")
		if t == s {
			return s
		}
		s = t
	}
}

// BibFields are the values circa keeps beside a MARC record for display,
// search and circulation.
type BibFields struct {
	ControlNumber string // 001
	Title         string // 245 $a $b
	Author        string // 100, 110 or 111 $a, else the first 700 $a
	ISBN          string // the first 020 $a, digits and X only
	CallNumber    string // 050 or 090 $a $b, else 099 $a, else 852 $h $i
	MaterialType  string // from leader/06-07: book, serial, video, audio, map, score, image, computer, kit, object
}

// Extract derives the BibFields of a record.
func (r *MARCRecord) Extract() BibFields {
	f := BibFields{ControlNumber: strings.TrimSpace(r.ControlValue("001"))}
	if t := r.Fields("245"); len(t) > 0 {
		var parts []string
		for _, s := range t[0].Subfields {
			if (s.Code == "a" || s.Code == "b") && isbdTrim(s.Value) != "" {
				parts = append(parts, isbdTrim(s.Value))
			}
		}
		f.Title = strings.Join(parts, " : ")
		if len(parts) == 2 && strings.HasSuffix(strings.TrimSpace(t[0].Value("a")), "=") {
			f.Title = parts[0] + " = " + parts[1]
		}
	}
	for _, tags := range [][]string{{"100", "110", "111"}, {"700", "710", "711"}} {
		if fs := r.Fields(tags...); len(fs) > 0 && f.Author == "" {
			f.Author = isbdTrim(fs[0].Value("a"))
		}
	}
	for _, fd := range r.Fields("020") {
		if v := isbnDigits(fd.Value("a")); v != "" {
			f.ISBN = v
			break
		}
	}
	switch {
	case len(r.Fields("050", "090")) > 0:
		fd := r.Fields("050", "090")[0]
		f.CallNumber = joinNonEmpty(fd.Value("a"), fd.Value("b"))
	case len(r.Fields("099")) > 0:
		var parts []string
		for _, s := range r.Fields("099")[0].Subfields {
			if s.Code == "a" {
				parts = append(parts, s.Value)
			}
		}
		f.CallNumber = joinNonEmpty(parts...)
	case len(r.Fields("852")) > 0:
		fd := r.Fields("852")[0]
		f.CallNumber = joinNonEmpty(fd.Value("h"), fd.Value("i"))
	}
	f.MaterialType = materialOf(r.Leader)
	return f
}

func joinNonEmpty(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, " ")
}

// isbnDigits returns the ISBN at the start of a 020 $a ("9780306406157
// (pbk.)"), hyphens dropped, or "" when there is none.
func isbnDigits(v string) string {
	var b strings.Builder
	for _, c := range strings.TrimSpace(v) {
		if c == '-' {
			continue
		}
		if c == 'x' {
			c = 'X'
		}
		if !(c >= '0' && c <= '9' || c == 'X') {
			break
		}
		b.WriteRune(c)
	}
	if n := b.Len(); n == 10 || n == 13 {
		return b.String()
	}
	return ""
}

// materialOf maps leader/06 (type of record) and /07 (bibliographic level).
func materialOf(leader string) string {
	if len(leader) < 8 {
		return "book"
	}
	switch leader[6] {
	case 'a', 't':
		if strings.IndexByte("bis", leader[7]) >= 0 {
			return "serial"
		}
		return "book"
	case 'g':
		return "video"
	case 'i', 'j':
		return "audio"
	case 'e', 'f':
		return "map"
	case 'c', 'd':
		return "score"
	case 'k':
		return "image"
	case 'm':
		return "computer"
	case 'o', 'p':
		return "kit"
	case 'r':
		return "object"
	}
	return "book"
}
