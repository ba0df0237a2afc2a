package marc

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// maxXMLRecord bounds the text of one MARCXML record; maxXMLToken bounds
// any run of bytes without markup, so that no single text node or tag can
// make the decoder hold more.
const (
	maxXMLRecord = 1 << 20
	maxXMLToken  = 1 << 20
)

// oaiNS is the OAI-PMH namespace, whose <record> wraps a MARC record.
const oaiNS = "http://www.openarchives.org/OAI/2.0/"

// maxXMLDepth bounds element nesting, which the decoder keeps a stack of.
const maxXMLDepth = 64

// elementCost is what an element counts against a record's text budget,
// so that a record of countless empty elements is refused too.
const elementCost = 32

var (
	errTokenTooLong = errors.New("more than 1 MiB of text without markup")
	errTooDeep      = fmt.Errorf("elements nested more than %d deep", maxXMLDepth)
)

// XMLReader reads MARCXML records one at a time: bare <record> elements,
// a <collection> of them, or records inside another wrapper such as an
// OAI-PMH response, with any namespace prefix or none. A record that is
// not well-formed is reported and the reader goes on at the next <record>.
type XMLReader struct {
	in      *guardReader
	d       *xml.Decoder
	depth   int
	n       int
	err     error
	charset error // a refused encoding declaration
}

// NewXMLReader returns a reader of the MARCXML records in r.
func NewXMLReader(r io.Reader) *XMLReader {
	x := &XMLReader{in: &guardReader{br: bufio.NewReaderSize(r, 64<<10)}}
	x.d = x.decoder()
	return x
}

func (x *XMLReader) decoder() *xml.Decoder {
	// The guard reader is an io.ByteReader, so the decoder reads through it
	// byte by byte without buffering ahead: after a syntax error the rest
	// of the input is still there to resynchronise on.
	d := xml.NewDecoder(x.in)
	d.Entity = xml.HTMLEntity
	d.CharsetReader = func(charset string, r io.Reader) (io.Reader, error) {
		switch strings.ToLower(charset) {
		case "utf-8", "utf8", "us-ascii", "ascii":
			return r, nil
		}
		x.charset = fmt.Errorf("MARCXML must be UTF-8, not %s", charset)
		return nil, x.charset
	}
	return d
}

// Offset returns the number of bytes consumed so far.
func (x *XMLReader) Offset() int64 { return x.in.n }

// Next returns the next record, a *RecordError for a record that could not
// be read (call Next again for the one after it), io.EOF at the end, or
// another error when the input cannot be read or holds no record at all.
func (x *XMLReader) Next() (*Record, error) {
	if x.err != nil {
		return nil, x.err
	}
	for {
		start := x.in.n
		tok, err := x.token()
		if err != nil {
			return nil, x.fail(err, start, false)
		}
		se, ok := tok.(xml.StartElement)
		if !ok || se.Name.Local != "record" || se.Name.Space == oaiNS {
			continue
		}
		x.n++
		rec, reason, err := x.record(se)
		if err != nil {
			return nil, x.fail(err, start, true)
		}
		if reason != "" {
			id := ""
			if rec != nil {
				id = strings.TrimSpace(rec.ControlValue("001"))
			}
			return nil, &RecordError{N: x.n, Offset: start, ID: shortText(id), Reason: reason}
		}
		return rec, nil
	}
}

// fail turns a decoding error into what Next returns: the end, a fatal
// error, or a RecordError after which reading resumes at the next <record>.
func (x *XMLReader) fail(err error, start int64, inRecord bool) error {
	var syn *xml.SyntaxError
	switch {
	case err == io.EOF && x.n == 0:
		x.err = errors.New("no MARCXML record found")
	case err == io.EOF:
		x.err = io.EOF
	case x.charset != nil:
		x.err = x.charset
	case errors.As(err, &syn) || errors.Is(err, errTokenTooLong) || errors.Is(err, errTooDeep):
		line := x.in.lines + 1
		found, rerr := x.resync()
		switch {
		case rerr != nil:
			x.err = rerr
		case !found && x.n == 0:
			x.err = fmt.Errorf("MARCXML is not well-formed and holds no record: %v", err)
		case !found && !inRecord:
			// Damage after the last record, such as a cut-off closing
			// tag, loses nothing.
			x.err = io.EOF
		default:
			if !found {
				x.err = io.EOF
			}
			if !inRecord {
				x.n++ // damage between records may have hidden one
			}
			msg := err.Error()
			if syn != nil {
				msg = syn.Msg
			}
			return &RecordError{N: x.n, Offset: start, Reason: fmt.Sprintf("not well-formed XML at line %d: %s", line, msg)}
		}
	default:
		x.err = err
	}
	return x.err
}

// resync skips to the next start tag whose local name is "record" and
// starts a new decoder there.
func (x *XMLReader) resync() (bool, error) {
	x.in.pending = nil
	x.in.sinceLT = 0
	for {
		c, err := x.in.br.ReadByte()
		if err == io.EOF {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		x.in.n++
		if c == '\n' {
			x.in.lines++
		}
		if c != '<' {
			continue
		}
		name, err := x.in.br.Peek(64)
		if err != nil && err != io.EOF {
			return false, err
		}
		end := bytes.IndexAny(name, " \t\r\n>/")
		if end < 0 {
			continue
		}
		local := name[:end]
		if i := bytes.IndexByte(local, ':'); i >= 0 {
			local = local[i+1:]
		}
		if string(local) == "record" {
			x.in.pending = []byte{'<'}
			x.in.n--
			x.d, x.depth = x.decoder(), 0
			return true, nil
		}
	}
}

// record reads one <record> element, whose start tag is se. A problem with
// the record's content is returned as a reason; err is a decoding error.
func (x *XMLReader) record(se xml.StartElement) (*Record, string, error) {
	rec := &Record{Type: strings.TrimSpace(attr(se, "type"))}
	budget := maxXMLRecord
	reason := ""
	setReason := func(r string) {
		if reason == "" {
			reason = r
		}
	}
	sawLeader, tooBig := false, false
	for {
		tok, err := x.token()
		if err != nil {
			return nil, "", err
		}
		switch t := tok.(type) {
		case xml.EndElement:
			if reason != "" {
				return rec, reason, nil
			}
			if len(rec.Control)+len(rec.Data) == 0 {
				return rec, "record has no fields", nil
			}
			rec.Leader = fixLeader(rec.Leader, sawLeader)
			return rec, "", nil
		case xml.StartElement:
			budget -= elementCost
			switch t.Name.Local {
			case "leader":
				v, err := x.text(&budget)
				if err != nil {
					return nil, "", err
				}
				rec.Leader, sawLeader = v, true
			case "controlfield":
				v, err := x.text(&budget)
				if err != nil {
					return nil, "", err
				}
				tag := strings.TrimSpace(attr(t, "tag"))
				if !validTag(tag) {
					setReason(fmt.Sprintf("control field tag %q is not three letters or digits", shortText(tag)))
				}
				if budget >= 0 {
					rec.Control = append(rec.Control, ControlField{Tag: tag, Value: v})
				}
			case "datafield":
				f, r, err := x.datafield(t, &budget)
				if err != nil {
					return nil, "", err
				}
				if r != "" {
					setReason(r)
				}
				if budget >= 0 {
					rec.Data = append(rec.Data, f)
				}
			default:
				if err := x.skip(); err != nil {
					return nil, "", err
				}
			}
		}
		if budget < 0 && !tooBig {
			tooBig = true
			// Too big: keep the control fields, which name the record in
			// the report, and nothing more.
			setReason(fmt.Sprintf("record larger than %d bytes of text", maxXMLRecord))
			rec.Data = nil
		}
	}
}

func (x *XMLReader) datafield(se xml.StartElement, budget *int) (DataField, string, error) {
	tag := strings.TrimSpace(attr(se, "tag"))
	f := DataField{Tag: tag, Ind1: indicator(attr(se, "ind1")), Ind2: indicator(attr(se, "ind2"))}
	reason := ""
	if !validTag(tag) {
		reason = fmt.Sprintf("data field tag %q is not three letters or digits", shortText(tag))
	}
	for {
		tok, err := x.token()
		if err != nil {
			return f, "", err
		}
		switch t := tok.(type) {
		case xml.EndElement:
			return f, reason, nil
		case xml.StartElement:
			if t.Name.Local != "subfield" {
				if err := x.skip(); err != nil {
					return f, "", err
				}
				continue
			}
			*budget -= elementCost
			v, err := x.text(budget)
			if err != nil {
				return f, "", err
			}
			code := attr(t, "code")
			if utf8.RuneCountInString(code) != 1 && reason == "" {
				reason = fmt.Sprintf("field %s: subfield code %q is not one character", tag, shortText(code))
			}
			if *budget >= 0 {
				f.Subfields = append(f.Subfields, Subfield{Code: code, Value: v})
			}
		}
	}
}

// text returns the character data of the element just started, up to its
// end, skipping any child elements, and charges it to budget.
func (x *XMLReader) text(budget *int) (string, error) {
	var b []byte
	for {
		tok, err := x.token()
		if err != nil {
			return "", err
		}
		switch t := tok.(type) {
		case xml.CharData:
			*budget -= len(t)
			if *budget >= 0 {
				b = append(b, t...)
			}
		case xml.StartElement:
			if err := x.skip(); err != nil {
				return "", err
			}
		case xml.EndElement:
			return string(b), nil
		}
	}
}

// token returns the next token, keeping count of the nesting depth.
func (x *XMLReader) token() (xml.Token, error) {
	tok, err := x.d.Token()
	switch tok.(type) {
	case xml.StartElement:
		if x.depth++; x.depth > maxXMLDepth {
			return nil, errTooDeep
		}
	case xml.EndElement:
		x.depth--
	}
	return tok, err
}

// skip reads past the end of the element just started.
func (x *XMLReader) skip() error {
	for level := x.depth; x.depth >= level; {
		if _, err := x.token(); err != nil {
			return err
		}
	}
	return nil
}

func attr(se xml.StartElement, name string) string {
	for _, a := range se.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// fixLeader supplies a missing leader and pads or cuts one that is not 24
// characters.
func fixLeader(l string, present bool) string {
	switch n := utf8.RuneCountInString(l); {
	case !present || strings.TrimSpace(l) == "":
		return DefaultLeader
	case n < 24:
		return l + strings.Repeat(" ", 24-n)
	case n > 24:
		return string([]rune(l)[:24])
	}
	return l
}

// guardReader counts the bytes the XML decoder consumes and refuses a run
// of more than maxXMLToken bytes without a '<'.
type guardReader struct {
	br      *bufio.Reader
	pending []byte // bytes given back after resynchronising
	n       int64
	lines   int // line feeds read
	sinceLT int
}

func (g *guardReader) ReadByte() (byte, error) {
	var c byte
	if len(g.pending) > 0 {
		c, g.pending = g.pending[0], g.pending[1:]
	} else {
		var err error
		if c, err = g.br.ReadByte(); err != nil {
			return 0, err
		}
	}
	g.n++
	if c == '\n' {
		g.lines++
	}
	if c == '<' {
		g.sinceLT = 0
	} else if g.sinceLT++; g.sinceLT > maxXMLToken {
		return 0, errTokenTooLong
	}
	return c, nil
}

func (g *guardReader) Read(p []byte) (int, error) {
	for i := range p {
		c, err := g.ReadByte()
		if err != nil {
			return i, err
		}
		p[i] = c
	}
	return len(p), nil
}
