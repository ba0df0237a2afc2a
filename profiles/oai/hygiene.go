package oai

import (
	"fmt"
	"strconv"
	"unicode/utf8"
)

// IssueKind names one kind of data problem found while rendering a record.
type IssueKind string

// The data problems the handler detects and normalises. The rule applied for each
// is part of its documentation, so that a harvested record can be explained.
const (
	// IssueControlChar: a character XML 1.0 forbids (C0 controls other than tab,
	// line feed and carriage return, such as stray MARC delimiters 0x1D-0x1F or
	// ESC, and U+FFFE/U+FFFF) was removed.
	IssueControlChar IssueKind = "control-character"
	// IssueInvalidUTF8: a byte that is not part of valid UTF-8 was replaced by
	// U+FFFD, so the gap stays visible.
	IssueInvalidUTF8 IssueKind = "invalid-utf8"
	// IssueCharRef: a character reference (&#...;) to a forbidden character was removed.
	IssueCharRef IssueKind = "character-reference"
	// IssueLeader: a leader that was missing, of the wrong length, or with a
	// character its position does not allow; each bad position takes the character
	// of the default leader "00000nam a2200000   4500", and a missing leader is that default.
	IssueLeader IssueKind = "leader"
	// IssueTag: a field whose tag is not valid for its kind (control fields 00X,
	// data fields 010-999 or alphanumeric local tags) was dropped.
	IssueTag IssueKind = "tag"
	// IssueIndicator: an indicator outside [0-9a-z ] was replaced: upper-case
	// letters by their lower case, anything else (such as '#' or '\') by a blank.
	IssueIndicator IssueKind = "indicator"
	// IssueSubfieldCode: a subfield whose code is not exactly one allowed
	// character was dropped.
	IssueSubfieldCode IssueKind = "subfield-code"
	// IssueEmptyField: a data field left without subfields was dropped.
	IssueEmptyField IssueKind = "empty-field"
	// IssueStructure: the MARCXML had unexpected elements (ignored), more than one
	// record (only the first is used), or control fields after data fields
	// (control fields are written first).
	IssueStructure IssueKind = "structure"
	// IssueSetSpec: a setSpec that breaks the protocol's syntax was left out.
	IssueSetSpec IssueKind = "set-spec"
)

// Issue is one problem found in one place of a record.
type Issue struct {
	Where  string    // "leader", "245", "245$a", "245 ind1", "852$h", "setSpec", "MARCXML"
	Kind   IssueKind // what was wrong
	Detail string    // what was found and what was done, without quoting record text
}

// Report is what the Options.OnProblem hook receives for one record rendering that
// needed normalising or could not be done.
type Report struct {
	Identifier string  // the record's OAI identifier
	Prefix     string  // metadata prefix being rendered; empty for a header-only listing
	Issues     []Issue // every normalisation applied, in document order
	// Err is non-nil when the record could not be rendered in this format at all;
	// the record is then published as its header alone.
	Err error
}

// isXMLChar reports whether XML 1.0 allows r in a document.
func isXMLChar(r rune) bool {
	switch {
	case r == 0x9 || r == 0xA || r == 0xD:
		return true
	case r >= 0x20 && r <= 0xD7FF:
		return true
	case r >= 0xE000 && r <= 0xFFFD:
		return true
	case r >= 0x10000 && r <= 0x10FFFF:
		return true
	}
	return false
}

// cleanText applies the character rules to a text value: invalid UTF-8 bytes
// become U+FFFD and forbidden characters are removed. Each change is appended to
// issues under where. Clean input is returned without copying.
func cleanText(s, where string, issues *[]Issue) string {
	i := 0
	for i < len(s) {
		c := s[i]
		if c >= 0x20 && c < 0x80 || c == '\t' || c == '\n' || c == '\r' {
			i++
			continue
		}
		r, w := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && w == 1 || !isXMLChar(r) {
			break
		}
		i += w
	}
	if i == len(s) {
		return s
	}
	out := make([]byte, 0, len(s))
	out = append(out, s[:i]...)
	for i < len(s) {
		r, w := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && w == 1:
			*issues = append(*issues, Issue{Where: where, Kind: IssueInvalidUTF8,
				Detail: fmt.Sprintf("byte 0x%02X replaced by U+FFFD", s[i])})
			out = utf8.AppendRune(out, utf8.RuneError)
		case !isXMLChar(r):
			*issues = append(*issues, Issue{Where: where, Kind: IssueControlChar,
				Detail: fmt.Sprintf("%U removed", r)})
		default:
			out = append(out, s[i:i+w]...)
		}
		i += w
	}
	return string(out)
}

// byteFix is one change sanitizeXML made, at an offset of its output.
type byteFix struct {
	off  int
	kind IssueKind
	what string
}

// sanitizeXML makes stored MARCXML parseable by applying the character rules to
// the raw bytes, including character references to forbidden characters. It
// returns b itself when nothing needed changing.
func sanitizeXML(b []byte) ([]byte, []byteFix) {
	var out []byte
	var fixes []byteFix
	last := 0 // b[last:i] not yet copied to out
	flush := func(i int) {
		if out == nil {
			out = make([]byte, 0, len(b))
		}
		out = append(out, b[last:i]...)
	}
	for i := 0; i < len(b); {
		c := b[i]
		if c == '&' && i+2 < len(b) && b[i+1] == '#' {
			r, n, ok := parseCharRef(b[i:])
			if ok && !isXMLChar(r) {
				flush(i)
				fixes = append(fixes, byteFix{off: len(out), kind: IssueCharRef, what: fmt.Sprintf("reference to %U removed", r)})
				i += n
				last = i
				continue
			}
			i++
			continue
		}
		if c >= 0x20 && c < 0x80 || c == '\t' || c == '\n' || c == '\r' {
			i++
			continue
		}
		r, w := utf8.DecodeRune(b[i:])
		switch {
		case r == utf8.RuneError && w == 1:
			flush(i)
			fixes = append(fixes, byteFix{off: len(out), kind: IssueInvalidUTF8, what: fmt.Sprintf("byte 0x%02X replaced by U+FFFD", c)})
			out = utf8.AppendRune(out, utf8.RuneError)
			i++
			last = i
		case !isXMLChar(r):
			flush(i)
			fixes = append(fixes, byteFix{off: len(out), kind: IssueControlChar, what: fmt.Sprintf("%U removed", r)})
			i += w
			last = i
		default:
			i += w
		}
	}
	if out == nil {
		return b, nil
	}
	out = append(out, b[last:]...)
	return out, fixes
}

// parseCharRef parses "&#NNN;" or "&#xHHH;" at the start of b, returning the
// code point and the reference's length.
func parseCharRef(b []byte) (rune, int, bool) {
	j := 2
	base := 10
	if j < len(b) && b[j] == 'x' {
		base = 16
		j++
	}
	start := j
	for j < len(b) && j-start <= 8 && b[j] != ';' {
		j++
	}
	if j >= len(b) || b[j] != ';' || j == start {
		return 0, 0, false
	}
	v, err := strconv.ParseUint(string(b[start:j]), base, 32)
	if err != nil || v > 0x10FFFF {
		return 0, 0, false
	}
	return rune(v), j + 1, true
}
