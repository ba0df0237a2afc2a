package marc

import "unicode/utf8"

// NS is the namespace of MARCXML (MARC21 slim).
const NS = "http://www.loc.gov/MARC21/slim"

// DefaultLeader stands in for a missing leader: a new monograph record in
// UTF-8.
const DefaultLeader = "00000nam a2200000   4500"

// Record is one MARC record.
type Record struct {
	Type    string // MARCXML record@type, e.g. Bibliographic; optional
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

// ControlValue returns the first control field with the tag, or "".
func (r *Record) ControlValue(tag string) string {
	for _, c := range r.Control {
		if c.Tag == tag {
			return c.Value
		}
	}
	return ""
}

// Fields returns the data fields with any of the tags, in record order.
func (r *Record) Fields(tags ...string) []DataField {
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
func (r *Record) AppendXML(b []byte) []byte {
	b = append(b, `<record xmlns="`+NS+`"`...)
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

// validTag reports whether t is three ASCII letters or digits.
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

// shortText cuts s for quoting in an error message.
func shortText(s string) string {
	if len(s) > 20 {
		n := 20
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		return s[:n] + "…"
	}
	return s
}
