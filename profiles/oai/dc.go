package oai

import (
	"strings"
)

const (
	dcNS       = "http://www.openarchives.org/OAI/2.0/oai_dc/"
	dcSchema   = "http://www.openarchives.org/OAI/2.0/oai_dc.xsd"
	dcElements = "http://purl.org/dc/elements/1.1/"
)

// dcRecord collects Dublin Core elements, each value once per element.
type dcRecord struct {
	elems []dcElem
	seen  map[dcElem]bool
}

type dcElem struct{ name, value string }

func (d *dcRecord) add(name, value string) {
	value = trimPunct(value)
	if value == "" {
		return
	}
	e := dcElem{name, value}
	if d.seen[e] {
		return
	}
	d.seen[e] = true
	d.elems = append(d.elems, e)
}

// dcTypes maps leader/06 to the DCMI Type Vocabulary.
var dcTypes = map[byte]string{
	'a': "Text", 'c': "Text", 'd': "Text", 't': "Text",
	'e': "StillImage", 'f': "StillImage", 'k': "StillImage",
	'g': "MovingImage", 'i': "Sound", 'j': "Sound", 'm': "Software",
	'o': "Collection", 'p': "Collection", 'r': "PhysicalObject",
}

// crosswalkDC maps a MARC record to Dublin Core by the table in the package
// documentation.
func crosswalkDC(r *marcRecord) []dcElem {
	d := &dcRecord{seen: map[dcElem]bool{}}
	join := func(f dataField, codes string) string { return strings.Join(f.subValues(codes), " ") }
	for _, f := range r.fields("245") {
		d.add("title", join(f, "abfgknps"))
	}
	for _, f := range r.fields("100", "110", "111", "700", "710", "711") {
		d.add("creator", join(f, "abcdgnq"))
	}
	for _, f := range r.fields("600", "610", "611", "630", "650", "651", "653") {
		var head []string
		var subdiv []string
		for _, s := range f.subs {
			switch {
			case strings.Contains("vxyz", s.code):
				subdiv = append(subdiv, trimPunct(s.value))
			case s.code >= "a" && s.code <= "u" && s.code != "e":
				head = append(head, s.value)
			}
		}
		v := trimPunct(strings.Join(head, " "))
		for _, s := range subdiv {
			if s != "" {
				v += "--" + s
			}
		}
		d.add("subject", v)
	}
	for _, f := range r.fields("500", "505", "520") {
		codes := "a"
		if f.tag == "520" {
			codes = "ab"
		}
		d.add("description", join(f, codes))
	}
	var dates []string
	for _, f := range r.fields("264", "260") {
		if f.tag == "264" && f.ind2 != "1" {
			continue
		}
		for _, v := range f.subValues("b") {
			d.add("publisher", v)
		}
		dates = append(dates, f.subValues("c")...)
	}
	if f008 := r.controlValue("008"); len(dates) == 0 && len(f008) >= 11 && isYear(f008[7:11]) {
		dates = append(dates, f008[7:11])
	}
	for _, v := range dates {
		d.add("date", yearOf(v))
	}
	if t, ok := dcTypes[r.leader[6]]; ok {
		d.add("type", t)
	}
	for _, f := range r.fields("300") {
		d.add("format", join(f, "abc"))
	}
	for _, f := range r.fields("020") {
		for _, v := range f.subValues("a") {
			if isbn := isbnOf(v); isbn != "" {
				d.add("identifier", "urn:ISBN:"+isbn)
			}
		}
	}
	for _, f := range r.fields("022") {
		for _, v := range f.subValues("a") {
			if issn := strings.TrimSpace(v); issn != "" {
				d.add("identifier", "urn:ISSN:"+strings.Fields(issn)[0])
			}
		}
	}
	for _, f := range r.fields("856") {
		for _, v := range f.subValues("u") {
			d.add("identifier", strings.TrimSpace(v))
		}
	}
	langs := 0
	for _, f := range r.fields("041") {
		for _, v := range f.subValues("a") {
			v = strings.ToLower(strings.TrimSpace(v))
			for len(v) >= 3 && len(v)%3 == 0 && isLetters(v) {
				d.add("language", v[:3])
				langs++
				v = v[3:]
			}
		}
	}
	if f008 := r.controlValue("008"); langs == 0 && len(f008) >= 38 && isLetters(f008[35:38]) {
		d.add("language", strings.ToLower(f008[35:38]))
	}
	for _, f := range r.fields("490", "830", "773") {
		codes := "a"
		if f.tag == "773" {
			codes = "t"
		}
		for _, v := range f.subValues(codes) {
			d.add("relation", v)
		}
	}
	for _, f := range r.fields("506", "540") {
		d.add("rights", join(f, "a"))
	}
	return d.elems
}

// dcOrder is the order elements are written in (oai_dc allows any order).
var dcOrder = []string{"title", "creator", "subject", "description", "publisher", "contributor",
	"date", "type", "format", "identifier", "source", "language", "relation", "coverage", "rights"}

func writeDC(x *xmlWriter, elems []dcElem) {
	x.raw(`<oai_dc:dc xmlns:oai_dc="` + dcNS + `" xmlns:dc="` + dcElements +
		`" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="` + dcNS + " " + dcSchema + `">`)
	for _, name := range dcOrder {
		for _, e := range elems {
			if e.name == name {
				x.element("dc:"+name, e.value)
			}
		}
	}
	x.raw(`</oai_dc:dc>`)
}

// trimPunct removes the ISBD punctuation that closes MARC subfields.
func trimPunct(s string) string {
	s = strings.TrimSpace(s)
	for {
		t := strings.TrimRight(s, " /:;,=")
		if strings.HasSuffix(t, ".") && !endsWithInitial(t) && !strings.HasSuffix(t, "..") {
			t = strings.TrimSpace(t[:len(t)-1])
		}
		if t == s {
			return s
		}
		s = t
	}
}

// endsWithInitial reports whether s ends in a one-letter word and a full stop ("J.").
func endsWithInitial(s string) bool {
	n := len(s)
	if n < 2 || !isLetter(s[n-2]) {
		return false
	}
	return n == 2 || !isLetter(s[n-3])
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func isLetters(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isLetter(s[i]) {
			return false
		}
	}
	return s != ""
}

func isYear(s string) bool {
	if len(s) != 4 {
		return false
	}
	for i := 0; i < 4; i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// yearOf returns the first four-digit run of v, else v trimmed.
func yearOf(v string) string {
	for i := 0; i+4 <= len(v); i++ {
		if isYear(v[i:i+4]) && (i == 0 || v[i-1] < '0' || v[i-1] > '9') && (i+4 == len(v) || v[i+4] < '0' || v[i+4] > '9') {
			return v[i : i+4]
		}
	}
	return trimPunct(v)
}

// isbnOf returns the ISBN at the start of an 020 $a ("0-306-40615-2 (pbk.)"),
// without hyphens, or "" when there is none.
func isbnOf(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c >= '0' && c <= '9':
			b.WriteByte(c)
		case c == 'X' || c == 'x':
			b.WriteByte('X')
		case c == '-' || c == ' ' && b.Len() == 0:
		default:
			i = len(v)
		}
	}
	if n := b.Len(); n != 10 && n != 13 {
		return ""
	}
	return b.String()
}
