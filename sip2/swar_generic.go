//go:build !amd64

package sip2

import "strings"

// scanText sums the bytes of s, reports whether s passes through charset
// c unchanged when read (no control character or DEL; no byte above 0x7F
// in a single-byte charset) and counts its delimiters.
func scanText(c Charset, s string) (sum uint32, clean bool, pipes int) {
	sum, ctl, high := scanWords(s)
	return sum, passes(c, ctl, high), strings.Count(s, "|")
}

// scanFrame adds the delimited fields of s[from:to] to m (skipping empty
// ones), sums every byte of s and reports whether all of s passes through
// charset c unchanged.
func (m *Message) scanFrame(s string, from, to int, c Charset) (sum uint32, clean bool) {
	sum, ctl, high := scanWords(s)
	m.splitFields(s[from:to])
	return sum, passes(c, ctl, high)
}
