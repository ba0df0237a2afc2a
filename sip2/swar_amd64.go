package sip2

import (
	"math/bits"
	"unsafe"
)

// scanBytes sums the bytes of s with SSE2 (part of every amd64
// processor), 16 at a time: ctl is non-zero when a byte is a control
// character or DEL, high when one is above 0x7F, and pipes counts the
// delimiters. Unless marks is nil, it receives one 16-bit mask of the
// delimiters per 16 bytes of s (bit i of mask k for byte 16k+i), so it
// must have room for (len(s)+15)/16 masks.
//
//go:noescape
func scanBytes(s string, marks *uint16) (sum, ctl, high, pipes uint32)

// scanText sums the bytes of s, reports whether s passes through charset
// c unchanged when read (no control character or DEL; no byte above 0x7F
// in a single-byte charset) and counts its delimiters.
func scanText(c Charset, s string) (sum uint32, clean bool, pipes int) {
	sum, ctl, high, n := scanBytes(s, nil)
	return sum, passes(c, ctl != 0, high != 0), int(n)
}

// markedLen is the longest frame scanFrame splits from the delimiter marks
// of its one pass; longer ones (rare) are split with strings.IndexByte.
const markedLen = 1024

// scanFrame is the one pass over a frame s: it adds the delimited fields of
// s[from:to] to m (skipping empty ones), sums every byte of s and reports
// whether all of s passes through charset c unchanged.
func (m *Message) scanFrame(s string, from, to int, c Charset) (sum uint32, clean bool) {
	if len(s) > markedLen {
		sum, clean, _ = scanText(c, s)
		m.splitFields(s[from:to])
		return sum, clean
	}
	var marks [markedLen / 64]uint64
	sum, ctl, high, _ := scanBytes(s, (*uint16)(unsafe.Pointer(&marks)))
	start, fields := from, m.Fields // a local slice header spares a store to m per field
	for w := from >> 6; w < len(marks) && w<<6 < to; w++ {
		for p := marks[w]; p != 0; p &= p - 1 {
			j := w<<6 + bits.TrailingZeros64(p)
			if j >= to {
				break
			}
			if j >= from {
				fields = appendField(fields, s[start:j])
				start = j + 1
			}
		}
	}
	m.Fields = appendField(fields, s[start:to])
	return sum, passes(c, ctl != 0, high != 0)
}
