package circ

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/circa-ils/circa/marc"
	"github.com/circa-ils/circa/store"
)

// MARC21slimNS is the namespace of MARCXML.
const MARC21slimNS = marc.NS

// The MARC record types live in package marc.
type (
	MARCRecord   = marc.Record
	ControlField = marc.ControlField
	DataField    = marc.DataField
	Subfield     = marc.Subfield
)

// maxMARCXML bounds one MARCXML document read by ParseMARCXML.
const maxMARCXML = 256 << 20

// ParseMARCXML reads a MARCXML document holding one <record> or a
// <collection> of them, leniently: any namespace prefix or none, HTML entity
// names, a missing leader (a default is supplied), short leaders (padded),
// blank or missing indicators. It refuses the whole document, naming the
// record by its position, when any record cannot be stored sensibly: not
// well-formed, without fields, a tag that is not three letters or digits, a
// subfield code that is not one character.
func ParseMARCXML(data []byte) ([]MARCRecord, error) {
	if len(data) > maxMARCXML {
		return nil, fmt.Errorf("MARCXML document larger than %d bytes", maxMARCXML)
	}
	r := marc.NewXMLReader(bytes.NewReader(data))
	var recs []MARCRecord
	for {
		rec, err := r.Next()
		if err == io.EOF {
			return recs, nil
		}
		var rerr *marc.RecordError
		if errors.As(err, &rerr) {
			return nil, fmt.Errorf("MARCXML record %d: %s", rerr.N, rerr.Reason)
		}
		if err != nil {
			return nil, fmt.Errorf("MARCXML: %w", err)
		}
		recs = append(recs, *rec)
	}
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
	ControlNumber string   // 001
	Title         string   // 245 $a $b
	Author        string   // 100, 110 or 111 $a, else the first 700 $a
	ISBN          string   // the first 020 $a, digits and X only
	CallNumber    string   // 050 or 090 $a $b, else 099 $a, else 852 $h $i
	MaterialType  string   // from leader/06-07: book, serial, video, audio, map, score, image, computer, kit, object
	SystemNumbers []string // every 035 $a, as store.NormalizeSystemNumber gives them, each once
}

// ExtractBib derives the BibFields of a record.
func ExtractBib(r *MARCRecord) BibFields {
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
	f.SystemNumbers = store.SystemNumbersOf(r)
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
