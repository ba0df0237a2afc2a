package sip2

import (
	"strings"
	"unicode/utf8"
)

// WrapText splits screen or print text into lines of at most width
// characters, for AF and AG fields; the 99 message gives the printer's
// width. It breaks at spaces where it can and cuts words longer than a line.
// Existing line breaks are kept. A width of zero or less returns the text as
// one line.
func WrapText(s string, width int) []string {
	if width <= 0 {
		return []string{s}
	}
	var lines []string
	for _, para := range strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n") {
		words := strings.Fields(para)
		if len(words) == 0 {
			lines = append(lines, "")
			continue
		}
		var cur strings.Builder
		n := 0
		for _, w := range words {
			wl := utf8.RuneCountInString(w)
			if n > 0 && n+1+wl <= width {
				cur.WriteByte(' ')
				cur.WriteString(w)
				n += 1 + wl
				continue
			}
			if n > 0 {
				lines = append(lines, cur.String())
				cur.Reset()
				n = 0
			}
			for wl > width { // cut a word longer than a line
				i := 0
				for k := 0; k < width; k++ {
					_, size := utf8.DecodeRuneInString(w[i:])
					i += size
				}
				lines = append(lines, w[:i])
				w = w[i:]
				wl -= width
			}
			if wl == 0 {
				continue
			}
			cur.WriteString(w)
			n = wl
		}
		lines = append(lines, cur.String())
	}
	return lines
}
