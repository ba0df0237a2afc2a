package sip2

import (
	"strings"
	"unsafe"
)

// One pass over a frame sums its bytes for the checksum, tells whether any
// of them needs charset work and finds the delimiters. On amd64 that pass
// is SSE2 assembly (swar_amd64.s); elsewhere, and for the portable parts,
// the loops below look at eight bytes per step ("SIMD within a register")
// and the strings package, whose loops are vectorised, finds delimiters.

const (
	lanes01   = 0x0101010101010101
	lanes7F   = 0x7F7F7F7F7F7F7F7F
	lanes80   = 0x8080808080808080
	lanes00FF = 0x00FF00FF00FF00FF
)

// load8 reads the first eight bytes of s as a little-endian word.
func load8(s string) uint64 {
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// tailWord reads the fewer than eight bytes of s, padded with zero bytes
// above them; valid has 0xFF in the lanes that hold bytes of s.
func tailWord(s string) (x, valid uint64) {
	for i := len(s) - 1; i >= 0; i-- {
		x = x<<8 | uint64(s[i])
	}
	return x, 1<<(8*len(s)) - 1
}

// chunk is how many bytes scanWords takes before folding its 16-bit sum
// lanes: each word adds at most 2×255 to a lane, and 128 words fit.
const chunk = 128 * 8

// fold adds the four 16-bit lanes of x.
func fold(x uint64) uint32 {
	return uint32((x&0xFFFF + x>>16&0xFFFF) + (x>>32&0xFFFF + x>>48))
}

// passes reports whether text goes through charset c unchanged when read:
// no control character or DEL (ctl), and no byte above 0x7F (high) unless
// c is UTF-8.
func passes(c Charset, ctl, high bool) bool {
	return !ctl && (c == UTF8 || !high)
}

// scanWords sums the bytes of s and tells whether any is a control
// character or DEL (ctl) or above 0x7F (high).
//
// Per word it adds the bytes pairwise into four 16-bit lanes, ORs all bytes
// (for high) and keeps flags whose top lane bits tell that some byte is
// below 0x20 or is DEL: (x-0x20…)&^x marks the lowest lane below 0x20
// (borrows only mark lanes above it), and the same test on x^0x7F… finds
// DEL as a zero lane. Only the verdict for the whole text is exact, which
// is all that is needed.
func scanWords(s string) (sum uint32, ctl, high bool) {
	var flags, or uint64
	for len(s) > 0 {
		t := s[:min(len(s), chunk)]
		s = s[len(t):]
		var lanes uint64
		for ; len(t) >= 8; t = t[8:] {
			l, h, c := absorb(load8(t), ^uint64(0))
			lanes, or, flags = lanes+l, or|h, flags|c
		}
		if len(t) > 0 {
			l, h, c := absorb(tailWord(t))
			lanes, or, flags = lanes+l, or|h, flags|c
		}
		sum += fold(lanes)
	}
	return sum, flags&lanes80 != 0, or&lanes80 != 0
}

// absorb returns the contributions of the word x, whose lanes outside
// valid are padding, to scanWords' lanes, OR and control flags.
func absorb(x, valid uint64) (lanes, high, ctl uint64) {
	d := x ^ lanes7F
	return x&lanes00FF + x>>8&lanes00FF, x, ((x-lanes01*0x20)&^x | (d-lanes01)&^d) & valid
}

// byteSum adds the bytes of s.
func byteSum(s string) uint32 {
	var sum uint32
	for len(s) >= 8 {
		t := s[:min(len(s), chunk)&^7]
		s = s[len(t):]
		var lanes uint64
		for ; len(t) >= 8; t = t[8:] {
			x := load8(t)
			lanes += x&lanes00FF + x>>8&lanes00FF
		}
		sum += fold(lanes)
	}
	for i := 0; i < len(s); i++ {
		sum += uint32(s[i])
	}
	return sum
}

// view returns the bytes of b as a string without copying, for the scans
// above; the string must not outlive b or see it change.
func view(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// splitFields adds the delimited fields of body to m, skipping empty ones.
// The delimiters are found with strings.IndexByte, which the runtime runs
// with vector instructions.
func (m *Message) splitFields(body string) {
	fields := m.Fields
	for {
		j := strings.IndexByte(body, '|')
		if j < 0 {
			m.Fields = appendField(fields, body)
			return
		}
		fields = appendField(fields, body[:j])
		body = body[j+1:]
	}
}

// appendField appends one field as it is on the wire, unless it is empty;
// a field of one character is a stray character where a field should
// start.
func appendField(fields []Field, f string) []Field {
	switch len(f) {
	case 0:
		return fields
	case 1:
		return append(fields, Field{Tag: f + " "})
	}
	return append(fields, Field{Tag: f[:2], Value: f[2:]})
}
