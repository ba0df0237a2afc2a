package sip2

import (
	"math/bits"
	"unsafe"
)

// The codec's hot loops look at eight bytes per step ("SIMD within a
// register"): a frame is tested for bytes that need charset work, searched
// for delimiters and summed for its checksum a word at a time.

const (
	lanes01 = 0x0101010101010101
	lanes7F = 0x7F7F7F7F7F7F7F7F
	lanes80 = 0x8080808080808080
)

// load8 reads the first eight bytes of s as a little-endian word.
func load8(s string) uint64 {
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// tailWord reads fewer than eight bytes, padded with 'a', which no test
// below looks for.
func tailWord(s string) uint64 {
	x := uint64(lanes01 * 'a')
	for i := 0; i < len(s); i++ {
		x = x&^(0xFF<<(8*i)) | uint64(s[i])<<(8*i)
	}
	return x
}

// matches has 0x80 in exactly the bytes of x that equal b.
func matches(x uint64, b byte) uint64 {
	y := x ^ lanes01*uint64(b)
	return ^((y&lanes7F + lanes7F) | y | lanes7F)
}

// scanText reports whether s passes through charset c unchanged (no
// control character or DEL; no byte above 0x7F in a single-byte charset;
// with write, no delimiter either) and counts its delimiters.
func scanText(c Charset, s string, write bool) (clean bool, pipes int) {
	var bad uint64
	for ; len(s) >= 8; s = s[8:] {
		b, p := wordFlags(load8(s), c)
		bad |= b
		pipes += bits.OnesCount64(p)
	}
	if len(s) > 0 {
		b, p := wordFlags(tailWord(s), c)
		bad |= b
		pipes += bits.OnesCount64(p)
	}
	return bad == 0 && (!write || pipes == 0), pipes
}

// wordFlags marks the bytes of x that need charset work, and the
// delimiters.
func wordFlags(x uint64, c Charset) (bad, pipes uint64) {
	bad = (x-lanes01*0x20)&^x&lanes80 | matches(x, 0x7F) // below 0x20, or DEL
	if c != UTF8 {
		bad |= x & lanes80
	}
	return bad, matches(x, '|')
}

// view returns the bytes of b as a string without copying, for the scans
// above; the string must not outlive b or see it change.
func view(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// splitFields adds the delimited fields of body to m, skipping empty ones.
func (m *Message) splitFields(body string, cs Charset, text bool) {
	start, i := 0, 0
	for ; i < len(body); i += 8 {
		var x uint64
		if len(body)-i >= 8 {
			x = load8(body[i:])
		} else {
			x = tailWord(body[i:])
		}
		for z := matches(x, '|'); z != 0; z &= z - 1 {
			j := i + bits.TrailingZeros64(z)/8
			m.addField(body[start:j], cs, text)
			start = j + 1
		}
	}
	m.addField(body[start:], cs, text)
}

func (m *Message) addField(f string, cs Charset, text bool) {
	switch len(f) {
	case 0:
		return
	case 1: // a stray character where a field should start
		f += " "
	}
	fl := Field{Tag: f[:2], Value: f[2:]}
	if !text {
		fl = Field{Tag: cs.decodeText(fl.Tag), Value: cs.decodeText(fl.Value)}
	}
	m.Fields = append(m.Fields, fl)
}

// byteSum adds the bytes of s, eight at a time: each step adds the bytes of
// a word pairwise into four 16-bit lanes, which cannot overflow within 128
// steps.
func byteSum(s string) uint32 {
	var sum uint32
	for len(s) >= 8 {
		var lanes uint64
		n := min(len(s)/8, 128)
		for i := 0; i < n; i++ {
			x := load8(s[i*8:])
			lanes += x&0x00FF00FF00FF00FF + x>>8&0x00FF00FF00FF00FF
		}
		sum += uint32((lanes * 0x0001000100010001) >> 48)
		s = s[n*8:]
	}
	for i := 0; i < len(s); i++ {
		sum += uint32(s[i])
	}
	return sum
}
