package store

import (
	"slices"
	"strings"

	"github.com/circa-ils/circa/marc"
)

// NormalizeISBN is the form ISBNs are indexed under: the ISBN-13 of an
// ISBN-10 or ISBN-13 given as digits (with X), "" for anything else.
func NormalizeISBN(s string) string {
	s = strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(s), "-", ""))
	switch len(s) {
	case 13:
		if strings.Trim(s, "0123456789") == "" {
			return s
		}
	case 10:
		if strings.Trim(s[:9], "0123456789") != "" {
			return ""
		}
		s = "978" + s[:9]
		sum := 0
		for i, c := range s {
			w := 1
			if i%2 == 1 {
				w = 3
			}
			sum += w * int(c-'0')
		}
		return s + string(rune('0'+(10-sum%10)%10))
	}
	return ""
}

// NormalizeSystemNumber is the form 035 $a system control numbers are
// indexed under: without blanks, upper-cased, and for OCLC numbers without
// the ocm/ocn/on prefix and leading zeros, so "(OCoLC)ocm00012345" and
// "(OCoLC)12345" are the same number.
func NormalizeSystemNumber(s string) string {
	s = strings.ToUpper(strings.Join(strings.Fields(s), ""))
	if rest, ok := strings.CutPrefix(s, "(OCOLC)"); ok {
		for _, p := range []string{"OCM", "OCN", "ON"} {
			if r, ok := strings.CutPrefix(rest, p); ok {
				rest = r
				break
			}
		}
		rest = strings.TrimLeft(rest, "0")
		s = "(OCOLC)" + rest
	}
	return s
}

// NormalizeBarcode is the form barcodes and identifiers are indexed under:
// trimmed and upper-cased, because scanners and kiosks disagree on case.
func NormalizeBarcode(s string) string {
	return strings.ToUpper(strings.TrimSpace(s))
}

// SystemNumbersOf returns the distinct 035 $a of a record, normalised.
func SystemNumbersOf(rec *marc.Record) []string {
	var out []string
	for _, f := range rec.Fields("035") {
		for _, sf := range f.Subfields {
			if n := NormalizeSystemNumber(sf.Value); sf.Code == "a" && n != "" && !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
	}
	return out
}
