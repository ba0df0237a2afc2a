package exchange

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
)

// xw writes XML, indented unless flat, with every value escaped; characters
// XML cannot carry become U+FFFD rather than a file a partner's parser
// refuses.
type xw struct {
	b     bytes.Buffer
	depth int
	flat  bool // no whitespace between elements
}

func newXW() *xw {
	w := &xw{}
	w.b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	return w
}

// newFlatXW writes elements with no text between them, as readers that
// take every child node of an element for an element need.
func newFlatXW() *xw {
	w := newXW()
	w.flat = true
	return w
}

func (w *xw) indent() {
	if !w.flat {
		w.b.WriteString(strings.Repeat("  ", w.depth))
	}
}

func (w *xw) eol() {
	if !w.flat {
		w.b.WriteByte('\n')
	}
}

// open writes a start tag; attrs are name, value pairs.
func (w *xw) open(name string, attrs ...string) {
	w.indent()
	w.b.WriteString("<" + name)
	w.attrs(attrs)
	w.b.WriteString(">")
	w.eol()
	w.depth++
}

func (w *xw) attrs(attrs []string) {
	for i := 0; i+1 < len(attrs); i += 2 {
		w.b.WriteString(" " + attrs[i] + `="`)
		xml.EscapeText(&w.b, []byte(attrs[i+1]))
		w.b.WriteString(`"`)
	}
}

func (w *xw) close(name string) {
	w.depth--
	w.indent()
	w.b.WriteString("</" + name + ">")
	w.eol()
}

// elem writes <name>value</name>, always, even when value is empty.
func (w *xw) elem(name, value string, attrs ...string) {
	w.indent()
	w.b.WriteString("<" + name)
	w.attrs(attrs)
	if value == "" {
		w.b.WriteString("/>")
		w.eol()
		return
	}
	w.b.WriteString(">")
	xml.EscapeText(&w.b, []byte(value))
	w.b.WriteString("</" + name + ">")
	w.eol()
}

// opt writes an element only when value is not empty.
func (w *xw) opt(name, value string) {
	if value != "" {
		w.elem(name, value)
	}
}

func (w *xw) bytes() []byte { return w.b.Bytes() }

// LineError is one problem of an import file, located by line.
type LineError struct {
	Line int
	Msg  string
}

func (e LineError) Error() string {
	if e.Line <= 0 {
		return e.Msg
	}
	return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
}

// FileError refuses an import file as a whole, listing every problem found.
type FileError struct {
	File     string
	Problems []LineError
}

func (e *FileError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s refused, nothing changed:", e.File)
	for i, p := range e.Problems {
		if i == 10 {
			fmt.Fprintf(&b, " … and %d more", len(e.Problems)-i)
			break
		}
		b.WriteString(" " + p.Error() + ";")
	}
	return strings.TrimSuffix(b.String(), ";")
}

// maxProblems bounds the problems collected from one file.
const maxProblems = 1000

// newDecoder reads XML leniently as to encoding: UTF-8 (with or without a
// byte-order mark), or ISO-8859-1 / windows-1252 when the declaration says
// so. Anything else is refused with a clear message.
func newDecoder(r io.Reader) *xml.Decoder {
	d := xml.NewDecoder(r)
	d.CharsetReader = func(label string, in io.Reader) (io.Reader, error) {
		switch strings.ToLower(strings.TrimSpace(label)) {
		case "utf-8", "utf8", "us-ascii", "ascii":
			return in, nil
		case "iso-8859-1", "iso8859-1", "latin1", "latin-1":
			return charmap.ISO8859_1.NewDecoder().Reader(in), nil
		case "windows-1252", "cp1252":
			return charmap.Windows1252.NewDecoder().Reader(in), nil
		}
		return nil, fmt.Errorf("encoding %q is not supported (use UTF-8)", label)
	}
	return d
}

// checkText refuses input that is not valid UTF-8 before the XML decoder
// sees it, naming the line, unless the declaration names another encoding.
func checkText(b []byte) *LineError {
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	if len(b) == 0 {
		return &LineError{Line: 1, Msg: "the file is empty"}
	}
	head := b[:min(len(b), 200)]
	if i := bytes.Index(head, []byte("?>")); bytes.HasPrefix(head, []byte("<?xml")) && i > 0 {
		decl := strings.ToLower(string(head[:i]))
		if strings.Contains(decl, "encoding") && !strings.Contains(decl, "utf-8") && !strings.Contains(decl, "utf8") {
			return nil // the declared charset decides
		}
	}
	if utf8.Valid(b) {
		return nil
	}
	line := 1
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n <= 1 {
			return &LineError{Line: line, Msg: "not UTF-8 text (declare the file's encoding or convert it)"}
		}
		if r == '\n' {
			line++
		}
		b = b[n:]
	}
	return nil
}

// xmlProblem turns a decoder error into a line error.
func xmlProblem(d *xml.Decoder, err error) LineError {
	line, _ := d.InputPos()
	var se *xml.SyntaxError
	if errors.As(err, &se) {
		line = se.Line
	}
	msg := err.Error()
	if errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(msg, "unexpected EOF") {
		msg = "the file ends in the middle of an element (truncated?)"
	}
	return LineError{Line: line, Msg: strings.TrimPrefix(msg, "XML syntax error on line "+fmt.Sprint(line)+": ")}
}

// parseDate reads the dates partner files carry: 2026-06-30, 2026-06-30Z,
// or a full timestamp.
func parseDate(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	for _, layout := range dayLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("date %q is not YYYY-MM-DD", s)
}

// dayLayouts are the xs:date forms partner files write a day in.
var dayLayouts = []string{"2006-01-02Z07:00", "2006-01-02Z", "2006-01-02"}

// dayOf returns the day (YYYY-MM-DD) of a date written without a time.
func dayOf(s string) (string, bool) {
	s = strings.TrimSpace(s)
	for _, layout := range dayLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.Format(time.DateOnly), true
		}
	}
	return "", false
}
