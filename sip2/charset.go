package sip2

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/unicode/norm"
)

// Charset is the character set of the text in a SIP2 field. The protocol's
// default is code page 850; most modern kiosks are set to UTF-8.
type Charset uint8

// The character sets a connection can use.
const (
	UTF8   Charset = iota // UTF-8; invalid bytes pass through unchanged
	CP850                 // IBM code page 850, the SIP2 default
	Latin1                // ISO-8859-1
)

// ParseCharset accepts the usual spellings of the supported character sets
// ("utf-8", "cp850", "ibm850", "iso-8859-1", "latin1", …).
func ParseCharset(name string) (Charset, error) {
	n := strings.NewReplacer("-", "", "_", "", " ", "").Replace(strings.ToLower(name))
	switch n {
	case "utf8", "":
		return UTF8, nil
	case "cp850", "ibm850", "850", "codepage850":
		return CP850, nil
	case "iso88591", "latin1", "l1", "88591":
		return Latin1, nil
	}
	return UTF8, fmt.Errorf("sip2: unknown charset %q (want utf-8, cp850 or iso-8859-1)", name)
}

// String returns the canonical name of c.
func (c Charset) String() string {
	switch c {
	case CP850:
		return "cp850"
	case Latin1:
		return "iso-8859-1"
	}
	return "utf-8"
}

func (c Charset) table() *charmap.Charmap {
	switch c {
	case CP850:
		return charmap.CodePage850
	case Latin1:
		return charmap.ISO8859_1
	}
	return nil
}

// decodeText turns wire bytes into UTF-8 text and replaces control
// characters with spaces. It returns s itself when nothing needs changing,
// which is the common case (ASCII text), so decoding does not allocate.
func (c Charset) decodeText(s string) string {
	if c.clean(s, false) {
		return s
	}
	t := c.table()
	var sb strings.Builder
	sb.Grow(len(s) + len(s)/2)
	for i := 0; i < len(s); i++ {
		b := s[i]
		switch {
		case b < 0x20 || b == 0x7F:
			sb.WriteByte(' ')
		case b >= 0x80 && t != nil:
			sb.WriteRune(t.DecodeByte(b))
		default:
			sb.WriteByte(b)
		}
	}
	return sb.String()
}

// appendText appends s in charset c, making it safe for a field: control
// characters become spaces and the field delimiter '|' becomes '/'. Runes the
// charset lacks are replaced by their unaccented base letter when there is
// one, else by '?'.
func (c Charset) appendText(dst []byte, s string) []byte {
	if c.clean(s, true) {
		return append(dst, s...)
	}
	t := c.table()
	clean := &writeClean[c%3]
	plain := 0 // s[plain:i] needs no change and is copied in one go
	for i := 0; i < len(s); i++ {
		b := s[i]
		if clean[b] {
			continue
		}
		dst = append(dst, s[plain:i]...)
		switch {
		case b < 0x20 || b == 0x7F:
			dst = append(dst, ' ')
		case b == '|':
			dst = append(dst, '/')
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			i += size - 1
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, '?')
			} else {
				dst = append(dst, encodeRune(t, r))
			}
		}
		plain = i + 1
	}
	return append(dst, s[plain:]...)
}

// writeClean tells, per charset, which bytes pass through encoding
// unchanged: printable ASCII but the delimiter, and every byte ≥ 0x80 of
// UTF-8 text.
var writeClean = func() (w [3][256]bool) {
	for cs := range 3 {
		for b := 0x20; b < 0x100; b++ {
			w[cs][b] = b != '|' && (b < 0x7F || b >= 0x80 && Charset(cs) == UTF8)
		}
	}
	return w
}()

// clean reports whether s passes through decoding (write false) or
// encoding (write true) unchanged.
func (c Charset) clean(s string, write bool) bool {
	_, ok, pipes := scanText(c, s)
	return ok && (!write || pipes == 0)
}

func encodeRune(t *charmap.Charmap, r rune) byte {
	if e, ok := t.EncodeRune(r); ok {
		return e
	}
	// Transliterate: the first rune of the canonical decomposition is the
	// base letter of an accented character (ċ → c).
	d := norm.NFD.String(string(r))
	if base, _ := utf8.DecodeRuneInString(d); base != r {
		if e, ok := t.EncodeRune(base); ok {
			return e
		}
	}
	return '?'
}

// codePointSum sums the characters of wire bytes s as code points in charset
// c, the way some devices compute the AZ checksum.
func (c Charset) codePointSum(s string) uint32 {
	var sum uint32
	t := c.table()
	for i := 0; i < len(s); {
		b := s[i]
		switch {
		case b < 0x80:
			sum += uint32(b)
			i++
		case t != nil:
			sum += uint32(t.DecodeByte(b))
			i++
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				r = rune(b)
			}
			sum += uint32(r)
			i += size
		}
	}
	return sum
}

// appendFixed appends the fixed part of a message: like appendText, but the
// delimiter is left alone because fixed fields are located by position.
func (c Charset) appendFixed(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if s[i] == '|' {
			dst = c.appendText(dst, s[:i])
			dst = append(dst, '|')
			return c.appendFixed(dst, s[i+1:])
		}
	}
	return c.appendText(dst, s)
}
