package marc

import (
	"fmt"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// charset is one MARC-8 graphic character set.
type charset struct {
	name  string
	chars [94]rune
}

// ascii is Basic Latin, the default G0 set.
var ascii = func() *charset {
	c := &charset{name: "Basic Latin (ASCII)"}
	for i := range c.chars {
		c.chars[i] = rune(0x21 + i)
	}
	return c
}()

// technique1 are the sets an escape and one final byte put in G0.
var technique1 = map[byte]*charset{
	'g': greekSymbols,
	'b': subscripts,
	'p': superscripts,
	's': ascii,
}

// finals are the sets designated by ESC ( F, ESC , F (G0) or ESC ) F,
// ESC - F (G1). ANSEL's final is two bytes, "!E".
var finals = map[string]*charset{
	"B":  ascii,
	"!E": ansel,
	"2":  basicHebrew,
	"3":  basicArabic,
	"4":  extendedArabic,
	"N":  basicCyrillic,
	"Q":  extendedCyrillic,
	"S":  basicGreek,
}

// c1 are the control characters MARC-8 gives a meaning in any set.
var c1 = map[byte]rune{
	0x88: 0x0098, // non-sort begin
	0x89: 0x009C, // non-sort end
	0x8D: 0x200D, // joiner
	0x8E: 0x200C, // non-joiner
}

// errEACC refuses the multibyte East Asian set.
const errEACC = "EACC (CJK) MARC-8 is not supported; export as UTF-8"

// decodeMARC8 converts MARC-8 to UTF-8 in NFC, or says why it cannot.
// Designations last to the end of the field, which starts with ASCII in G0
// and ANSEL in G1. MARC-8 writes combining marks before the letter they
// modify, Unicode after it: marks are held until their base arrives.
func decodeMARC8(b []byte) (string, string) {
	g0, g1 := ascii, ansel
	var out strings.Builder
	out.Grow(len(b) + len(b)/4)
	var marks []rune
	flush := func() {
		for _, m := range marks {
			out.WriteRune(m)
		}
		marks = marks[:0]
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		var set *charset
		switch {
		case c == 0x1B:
			n, g, set, reason := escape(b[i+1:])
			if reason != "" {
				return "", reason
			}
			if g == 0 {
				g0 = set
			} else {
				g1 = set
			}
			i += n
			continue
		case c < 0x20:
			flush()
			out.WriteByte(c)
			continue
		case c == 0x20:
			// A mark before a space is a spacing diacritic: the space is
			// its base.
			out.WriteByte(c)
			flush()
			continue
		case c == 0x7F || c == 0xA0 || c == 0xFF:
			return "", fmt.Sprintf("MARC-8 byte 0x%02X has no character", c)
		case c >= 0x80 && c < 0xA0:
			r, ok := c1[c]
			if !ok {
				return "", fmt.Sprintf("MARC-8 byte 0x%02X has no character", c)
			}
			out.WriteRune(r)
			continue
		case c < 0x80:
			set = g0
		default:
			set = g1
		}
		r := set.chars[c&0x7F-0x21]
		switch {
		case r == 0:
			return "", fmt.Sprintf("MARC-8 byte 0x%02X has no character in the %s set", c, set.name)
		case r < 0:
			continue
		case unicode.Is(unicode.Mn, r):
			marks = append(marks, r)
		default:
			out.WriteRune(r)
			flush()
		}
	}
	flush()
	return norm.NFC.String(out.String()), ""
}

// escape reads the escape sequence after an ESC byte: how many bytes it
// takes, which graphic set (0 or 1) it designates and to what.
func escape(b []byte) (n, g int, set *charset, reason string) {
	bad := func(k int) (int, int, *charset, string) {
		if k > len(b) {
			k = len(b)
		}
		return 0, 0, nil, fmt.Sprintf("invalid MARC-8 escape %q", "ESC "+printable(b[:k]))
	}
	if len(b) == 0 {
		return bad(0)
	}
	if s, ok := technique1[b[0]]; ok {
		return 1, 0, s, ""
	}
	switch b[0] {
	case '(', ',':
		g = 0
	case ')', '-':
		g = 1
	case '$':
		// Multibyte: ESC $ F, or ESC $ I F with I one of ( , ) -.
		k := 1
		if len(b) > 1 && strings.IndexByte("(,)-", b[1]) >= 0 {
			k = 2
		}
		if len(b) > k && b[k] == '1' {
			return 0, 0, nil, errEACC
		}
		return bad(k + 1)
	default:
		return bad(1)
	}
	f := string(b[1:min(len(b), 2)])
	if f == "!" {
		f = string(b[1:min(len(b), 3)])
	}
	if set, ok := finals[f]; ok {
		return 1 + len(f), g, set, ""
	}
	return bad(1 + max(len(f), 1))
}
