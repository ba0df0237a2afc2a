package ncip

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/unicode"
)

// toUTF8 turns a raw message into UTF-8 text. The byte-order mark and the
// XML declaration decide, never the HTTP Content-Type: partners are known to
// label ISO-8859-1 bodies as UTF-8. Bytes that are not valid UTF-8 and carry
// no declared encoding are read as Windows-1252, the usual culprit.
func toUTF8(b []byte) (string, error) {
	switch {
	case bytes.HasPrefix(b, []byte{0xEF, 0xBB, 0xBF}):
		b = b[3:]
	case bytes.HasPrefix(b, []byte{0xFF, 0xFE}), bytes.HasPrefix(b, []byte{0x3C, 0x00, 0x3F, 0x00}):
		return decodeWith(unicode.UTF16(unicode.LittleEndian, unicode.ExpectBOM), b, true)
	case bytes.HasPrefix(b, []byte{0xFE, 0xFF}), bytes.HasPrefix(b, []byte{0x00, 0x3C, 0x00, 0x3F}):
		return decodeWith(unicode.UTF16(unicode.BigEndian, unicode.ExpectBOM), b, true)
	}
	label := declaredEncoding(b)
	switch label {
	case "", "utf-8", "utf8", "us-ascii", "ascii":
		if utf8.Valid(b) {
			return string(b), nil
		}
		return decodeWith(charmap.Windows1252, b, false)
	case "utf-16", "utf-16le", "utf-16be":
		// Declared as UTF-16 but arrived as 8-bit text with no BOM: the
		// declaration is wrong, the bytes are what they are.
		if utf8.Valid(b) {
			return string(b), nil
		}
		return decodeWith(charmap.Windows1252, b, false)
	}
	enc, err := htmlindex.Get(label)
	if err != nil {
		return "", fmt.Errorf("%w: %q", ErrBadEncoding, label)
	}
	return decodeWith(enc, b, false)
}

func decodeWith(enc encoding.Encoding, b []byte, wide bool) (string, error) {
	if wide {
		// A UTF-16 BOM-less "<?" start: supply the BOM the decoder expects.
		switch {
		case bytes.HasPrefix(b, []byte{0x3C, 0x00}):
			b = append([]byte{0xFF, 0xFE}, b...)
		case bytes.HasPrefix(b, []byte{0x00, 0x3C}):
			b = append([]byte{0xFE, 0xFF}, b...)
		}
	}
	out, err := enc.NewDecoder().Bytes(b)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadEncoding, err)
	}
	return string(out), nil
}

// declaredEncoding returns the lower-cased encoding name of the XML
// declaration at the start of b, or "". It works on the bytes in place:
// it runs for every message.
func declaredEncoding(b []byte) string {
	if !bytes.HasPrefix(b, []byte("<?xml")) {
		return ""
	}
	end := bytes.Index(b, []byte("?>"))
	if end < 0 || end > 256 {
		return ""
	}
	decl := b[:end]
	i := bytes.Index(decl, []byte("encoding"))
	if i < 0 {
		return ""
	}
	rest := bytes.TrimLeft(decl[i+len("encoding"):], " \t\r\n")
	if !bytes.HasPrefix(rest, []byte("=")) {
		return ""
	}
	rest = bytes.TrimLeft(rest[1:], " \t\r\n")
	if len(rest) == 0 || (rest[0] != '"' && rest[0] != '\'') {
		return ""
	}
	q := rest[0]
	j := bytes.IndexByte(rest[1:], q)
	if j < 0 {
		return ""
	}
	label := bytes.TrimSpace(rest[1 : 1+j])
	if bytes.EqualFold(label, []byte("utf-8")) {
		return "utf-8"
	}
	return strings.ToLower(string(label))
}
