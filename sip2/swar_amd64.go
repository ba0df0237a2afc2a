package sip2

// scanText sums the bytes of s and reports whether s passes through
// charset c unchanged when read (no control character or DEL; no byte
// above 0x7F in a single-byte charset). The 16-byte blocks go through
// SSE2 (scanBlocks), the rest through scanWords.
func scanText(c Charset, s string) (sum uint32, clean bool) {
	n := len(s) &^ 15
	sum, ctl, high := scanBlocks(s[:n])
	tsum, tctl, thigh := scanWords(s[n:])
	return sum + tsum, passes(c, ctl != 0 || tctl, high != 0 || thigh)
}

// scanBlocks is scanWords for a string of whole 16-byte blocks, with SSE2
// (part of every amd64 processor): PSADBW sums, a saturated subtraction
// finds bytes below 0x20 and a comparison finds DEL. ctl and high are
// non-zero where scanWords reports true.
//
//go:noescape
func scanBlocks(s string) (sum, ctl, high uint32)
