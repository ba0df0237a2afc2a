package oai

import (
	"bufio"
	"unicode/utf8"
)

// xmlWriter writes XML text with character references only (no entity
// references besides the three XML needs), as the protocol asks. Every string
// reaching it has already been cleaned (cleanText or parseMARC), so it never
// meets a character XML forbids; should one slip through it is dropped rather
// than written, keeping the document well-formed.
type xmlWriter struct {
	w *bufio.Writer
}

func (x *xmlWriter) raw(s string) { x.w.WriteString(s) }

// text writes character data: & < > escaped, carriage returns as &#13; so a
// parser does not fold them into line feeds.
func (x *xmlWriter) text(s string) { x.escape(s, false) }

// attr writes an attribute value (for double quotes): & < " escaped, and tab,
// line feed and carriage return as references so that attribute-value
// normalisation keeps them.
func (x *xmlWriter) attr(s string) { x.escape(s, true) }

func (x *xmlWriter) escape(s string, inAttr bool) {
	last := 0
	for i := 0; i < len(s); {
		c := s[i]
		var esc string
		w := 1
		switch {
		case c == '&':
			esc = "&amp;"
		case c == '<':
			esc = "&lt;"
		case c == '>' && !inAttr:
			esc = "&gt;"
		case c == '"' && inAttr:
			esc = "&quot;"
		case c == '\r':
			esc = "&#13;"
		case c == '\t' && inAttr:
			esc = "&#9;"
		case c == '\n' && inAttr:
			esc = "&#10;"
		case c < 0x20 && c != '\t' && c != '\n':
			esc = ""
		case c >= 0x80:
			var r rune
			r, w = utf8.DecodeRuneInString(s[i:])
			if (r != utf8.RuneError || w > 1) && isXMLChar(r) {
				i += w
				continue
			}
			esc = ""
		default:
			i++
			continue
		}
		x.w.WriteString(s[last:i])
		x.w.WriteString(esc)
		i += w
		last = i
	}
	x.w.WriteString(s[last:])
}

// element writes <name>text</name>.
func (x *xmlWriter) element(name, text string) {
	x.w.WriteByte('<')
	x.w.WriteString(name)
	x.w.WriteByte('>')
	x.text(text)
	x.w.WriteString("</")
	x.w.WriteString(name)
	x.w.WriteByte('>')
}
