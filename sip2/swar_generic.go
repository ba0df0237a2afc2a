//go:build !amd64

package sip2

// scanText sums the bytes of s and reports whether s passes through
// charset c unchanged when read (no control character or DEL; no byte
// above 0x7F in a single-byte charset).
func scanText(c Charset, s string) (sum uint32, clean bool) {
	sum, ctl, high := scanWords(s)
	return sum, passes(c, ctl, high)
}
