package marc

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ISO 2709 structure characters.
const (
	recordTerminator = 0x1D
	fieldTerminator  = 0x1E
	subfieldMark     = 0x1F
)

// maxRecord is the largest record the five-digit leader length can declare.
const maxRecord = 99999

// RecordError is a record that could not be read. The reader has skipped
// it; the next call to Next reads the record after it.
type RecordError struct {
	N      int    // position of the record in the file, from 1
	Offset int64  // byte offset of its start
	ID     string // its control number (001) when it could be found
	Reason string
}

func (e *RecordError) Error() string {
	if e.ID != "" {
		return fmt.Sprintf("record %d (%s): %s", e.N, e.ID, e.Reason)
	}
	return fmt.Sprintf("record %d at byte %d: %s", e.N, e.Offset, e.Reason)
}

// Reader reads ISO 2709 records one at a time. A record is read whole
// into a buffer of at most 99,999 bytes, the most its leader can declare.
type Reader struct {
	br  *bufio.Reader
	off int64
	n   int
	err error // sticky: io.EOF or a read error
}

// NewReader returns a reader of the ISO 2709 records in r.
func NewReader(r io.Reader) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, maxRecord+1)}
}

// Offset returns the number of bytes consumed so far.
func (r *Reader) Offset() int64 { return r.off }

// isGap reports whether c may stand between records: line ends and blanks
// added by transfer tools, NUL padding, a DOS end-of-file mark.
func isGap(c byte) bool {
	return c == '\r' || c == '\n' || c == ' ' || c == '\t' || c == 0 || c == 0x1A
}

// Next returns the next record, a *RecordError for a record that could not
// be read (call Next again for the one after it), io.EOF at the end, or
// another error when the input cannot be read.
//
// Like the permissive readers of other MARC tools it trusts the record
// terminator over the leader: a record whose leader length is wrong but
// which ends with 0x1D is read.
func (r *Reader) Next() (*Record, error) {
	if r.err != nil {
		return nil, r.err
	}
	for {
		c, err := r.br.ReadByte()
		if err != nil {
			r.err = err
			return nil, err
		}
		if !isGap(c) {
			r.br.UnreadByte()
			break
		}
		r.off++
	}
	r.n++
	start := r.off
	head, err := r.br.Peek(5)
	if err != nil && err != io.EOF {
		r.err = err
		return nil, err
	}
	declared, lenOK := number(head, 0, 5)
	buf, end, eof, err := r.frame(declared, lenOK)
	if err != nil {
		r.err = err
		return nil, err
	}
	if end < 0 {
		rerr := &RecordError{N: r.n, Offset: start, ID: controlNumber(buf)}
		if eof {
			r.discard(len(buf))
			switch {
			case !lenOK && r.n > 1:
				// Junk after the last record, as some export tools leave.
				r.err = io.EOF
				return nil, io.EOF
			case lenOK:
				rerr.Reason = fmt.Sprintf("truncated record: leader says %d bytes, %d left", declared, len(buf))
			default:
				rerr.Reason = fmt.Sprintf("not a MARC record: %d bytes without a record terminator (0x1D)", len(buf))
			}
			return nil, rerr
		}
		rerr.Reason = fmt.Sprintf("no record terminator (0x1D) within %d bytes", maxRecord)
		if err := r.skipPastTerminator(); err != nil {
			r.err = err
		}
		return nil, rerr
	}
	rec, reason := parseRecord(buf[:end])
	if reason != "" || !lenOK {
		// A record cut short, or junk, runs on into the next record up to
		// its terminator: when a whole record starts inside, report what
		// comes before it and read that record next time.
		if p := embeddedRecord(buf[:end]); p > 0 {
			rerr := &RecordError{N: r.n, Offset: start, ID: controlNumber(buf[:p])}
			if lenOK {
				rerr.Reason = fmt.Sprintf("truncated record: leader says %d bytes, the next record starts after %d", declared, p)
			} else {
				rerr.Reason = fmt.Sprintf("not a MARC record: %d bytes before the next record", p)
			}
			r.discard(p)
			return nil, rerr
		}
	}
	var rerr error
	if reason != "" {
		rerr = &RecordError{N: r.n, Offset: start, ID: controlNumber(buf[:end]), Reason: reason}
		rec = nil
	} else if !lenOK {
		rerr = &RecordError{N: r.n, Offset: start, ID: shortText(strings.TrimSpace(rec.ControlValue("001"))),
			Reason: fmt.Sprintf("bad leader length \"%s\"", printable(buf[:5]))}
		rec = nil
	}
	r.discard(end)
	return rec, rerr
}

// frame finds the end of the record at the read position: where the
// leader length says when a record terminator is there, else just after
// the first record terminator. It returns the bytes looked at, the record
// length or -1 when there is no terminator within maxRecord bytes, and
// whether the input ended first. Only as much as needed is buffered.
func (r *Reader) frame(declared int, lenOK bool) (buf []byte, end int, eof bool, err error) {
	if lenOK && declared > 24 {
		buf, err = r.br.Peek(declared)
		if len(buf) == declared && buf[declared-1] == recordTerminator {
			return buf, declared, false, nil
		}
	}
	for n := min(max(r.br.Buffered(), 512), maxRecord); ; n = min(2*n, maxRecord) {
		buf, err = r.br.Peek(n)
		if i := bytes.IndexByte(buf, recordTerminator); i >= 0 {
			return buf, i + 1, false, nil
		}
		switch {
		case err == io.EOF:
			return buf, -1, true, nil
		case err != nil && err != bufio.ErrBufferFull:
			return buf, -1, false, err
		case n == maxRecord:
			return buf, -1, false, nil
		}
	}
}

// embeddedRecord returns where a well-formed record that ends with rec
// starts inside it, or 0: its leader length must reach exactly to the end.
// Only a few candidates are parsed, so that hostile input cannot make the
// search quadratic.
func embeddedRecord(rec []byte) int {
	tries := 0
	for p := 1; p+26 <= len(rec) && tries < 8; p++ {
		if n, ok := number(rec, p, 5); ok && n == len(rec)-p {
			if _, ok := number(rec, p+12, 5); !ok {
				continue
			}
			tries++
			if _, reason := parseRecord(rec[p:]); reason == "" {
				return p
			}
		}
	}
	return 0
}

func (r *Reader) discard(n int) {
	d, _ := r.br.Discard(n)
	r.off += int64(d)
}

// skipPastTerminator drops bytes up to and including the next record
// terminator, reading in bounded pieces.
func (r *Reader) skipPastTerminator() error {
	for {
		buf, err := r.br.Peek(r.br.Size())
		if i := bytes.IndexByte(buf, recordTerminator); i >= 0 {
			r.discard(i + 1)
			return nil
		}
		r.discard(len(buf))
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return err
		}
	}
}

// number reads b[at:at+n] as a decimal number.
func number(b []byte, at, n int) (int, bool) {
	if len(b) < at+n {
		return 0, false
	}
	v := 0
	for _, c := range b[at : at+n] {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}

// printable shows b in an error message: bytes outside printable ASCII as
// \xNN.
func printable(b []byte) string {
	var s strings.Builder
	for _, c := range b {
		if c >= 0x20 && c < 0x7F {
			s.WriteByte(c)
		} else {
			fmt.Fprintf(&s, `\x%02X`, c)
		}
	}
	return s.String()
}

// controlNumber finds the 001 of a damaged record for its error message,
// or "" when the directory does not lead to one.
func controlNumber(rec []byte) string {
	if len(rec) < 25 {
		return ""
	}
	dirEnd := bytes.IndexByte(rec[24:], fieldTerminator)
	if dirEnd < 0 {
		return ""
	}
	dir, data := rec[24:24+dirEnd], rec[24+dirEnd+1:]
	for i := 0; i+12 <= len(dir); i += 12 {
		if string(dir[i:i+3]) != "001" {
			continue
		}
		n, ok1 := number(dir, i+3, 4)
		at, ok2 := number(dir, i+7, 5)
		if !ok1 || !ok2 || at+n > len(data) || n < 1 {
			return ""
		}
		v := bytes.TrimRight(data[at:at+n], "\x1e\x1d")
		if len(v) > 40 || !utf8.Valid(v) || bytes.ContainsAny(v, "\x1b\x1e\x1f") {
			return ""
		}
		return strings.TrimSpace(string(v))
	}
	return ""
}

// parseRecord reads one record, rec ending with its record terminator, or
// says why it cannot.
func parseRecord(rec []byte) (*Record, string) {
	if len(rec) < 26 {
		return nil, fmt.Sprintf("record too short: %d bytes, a leader alone is 24", len(rec))
	}
	leader := rec[:24]
	for i, c := range leader {
		if c < 0x20 || c >= 0x7F {
			return nil, fmt.Sprintf("bad leader: byte 0x%02X at position %d", c, i)
		}
	}
	if _, ok := number(leader, 12, 5); !ok {
		return nil, fmt.Sprintf("bad base address %q in leader/12-16", leader[12:17])
	}
	if leader[9] != 'a' && leader[9] != ' ' {
		return nil, fmt.Sprintf("leader/09 %q is neither blank (MARC-8) nor a (UTF-8)", leader[9])
	}
	// The directory ends at the first field terminator; the base address
	// should point just after it, and when it does not the terminator wins.
	dirEnd := bytes.IndexByte(rec[24:], fieldTerminator)
	if dirEnd < 0 {
		return nil, "bad directory: no field terminator after it"
	}
	dir := rec[24 : 24+dirEnd]
	data := rec[24+dirEnd+1 : len(rec)-1]
	if len(dir)%12 != 0 {
		return nil, fmt.Sprintf("bad directory: %d bytes, not a whole number of 12-byte entries", len(dir))
	}
	if len(dir) == 0 {
		return nil, "record has no fields"
	}
	fields, reason := splitFields(dir, data)
	if reason != "" {
		return nil, reason
	}
	// Exports that write UTF-8 but leave leader/09 blank are common. MARC-8
	// text with diacritics or special letters is practically never valid
	// UTF-8 (a diacritic byte is followed by an ASCII letter, a special
	// letter is a lone continuation byte), so such data is taken as UTF-8.
	utf := leader[9] == 'a' || looksUTF8(data)
	// A UTF-8 record's values are cut from one string of its data.
	var text string
	if utf {
		if !utf8.Valid(data) {
			for i, f := range fields {
				if _, reason := decodeUTF8(data[f.at:f.end]); reason != "" {
					return nil, "field " + string(dir[i*12:i*12+3]) + ": " + reason
				}
			}
		}
		text = string(data)
	}
	value := func(at, end int) (string, string) {
		if utf {
			return text[at:end], ""
		}
		return decodeMARC8(data[at:end])
	}
	controls := 0
	for i := range fields {
		if dir[i*12] == '0' && dir[i*12+1] == '0' {
			controls++
		}
	}
	out := &Record{Leader: string(leader), Control: make([]ControlField, 0, controls), Data: make([]DataField, 0, len(fields)-controls)}
	if leader[9] != 'a' {
		out.Leader = out.Leader[:9] + "a" + out.Leader[10:]
	}
	for i, f := range fields {
		tag := tagString(dir[i*12 : i*12+3])
		if strings.HasPrefix(tag, "00") {
			v, err := value(f.at, f.end)
			if err != "" {
				return nil, "field " + tag + ": " + err
			}
			out.Control = append(out.Control, ControlField{Tag: tag, Value: v})
			continue
		}
		df := DataField{Tag: tag, Ind1: " ", Ind2: " "}
		at := f.at
		for n := 0; n < 2 && at < f.end && data[at] != subfieldMark; n++ {
			if n == 0 {
				df.Ind1 = indicator(string(data[at]))
			} else {
				df.Ind2 = indicator(string(data[at]))
			}
			at++
		}
		v, err := value(at, f.end)
		if err != "" {
			return nil, "field " + tag + ": " + err
		}
		df.Subfields = make([]Subfield, 0, strings.Count(v, "\x1f"))
		for v != "" {
			// Skip to the next subfield mark; text before the first is
			// not part of any subfield.
			j := strings.IndexByte(v, subfieldMark)
			if j < 0 {
				break
			}
			v = v[j+1:]
			end := strings.IndexByte(v, subfieldMark)
			if end < 0 {
				end = len(v)
			}
			if end > 0 {
				_, n := utf8.DecodeRuneInString(v)
				df.Subfields = append(df.Subfields, Subfield{Code: v[:n], Value: v[n:end]})
			}
			v = v[end:]
		}
		out.Data = append(out.Data, df)
	}
	return out, ""
}

// looksUTF8 reports whether data holds non-ASCII text that is valid UTF-8
// and no MARC-8 escape.
func looksUTF8(data []byte) bool {
	for i, c := range data {
		if c == 0x1B {
			return false
		}
		if c >= utf8.RuneSelf {
			return bytes.IndexByte(data[i:], 0x1B) < 0 && utf8.Valid(data[i:])
		}
	}
	return false
}

// span is where a field lies in a record's data, without its terminator.
type span struct{ at, end int }

// splitFields returns where the fields the directory points to are. When
// the directory's lengths or offsets do not fit the data (as tools that
// re-encode records without recounting leave them) but the data holds
// exactly one terminated field per entry, those are used in directory
// order.
func splitFields(dir, data []byte) ([]span, string) {
	n := len(dir) / 12
	fields := make([]span, 0, n)
	reason := ""
	for i := 0; i < n; i++ {
		e := dir[i*12 : i*12+12]
		if !validTag(string(e[:3])) {
			return nil, fmt.Sprintf("bad directory: entry %d has tag \"%s\"", i+1, printable(e[:3]))
		}
		length, ok1 := number(e, 3, 4)
		at, ok2 := number(e, 7, 5)
		if !ok1 || !ok2 {
			return nil, fmt.Sprintf("bad directory: entry %d (%s) has length/start \"%s\", not digits", i+1, e[:3], printable(e[3:12]))
		}
		if reason != "" {
			continue // still check the other entries' tags and numbers
		}
		switch {
		case length < 1 || at+length > len(data):
			reason = fmt.Sprintf("bad directory: field %s at %d+%d runs past the end of the data (%d bytes)", e[:3], at, length, len(data))
		case data[at+length-1] != fieldTerminator:
			reason = fmt.Sprintf("bad directory: field %s at %d+%d does not end with a field terminator", e[:3], at, length)
		}
		if reason == "" {
			fields = append(fields, span{at, at + length - 1})
		}
	}
	if reason == "" {
		return fields, ""
	}
	if bytes.Count(data, []byte{fieldTerminator}) != n || data[len(data)-1] != fieldTerminator {
		return nil, reason
	}
	fields = fields[:0]
	at := 0
	for i := 0; i < n; i++ {
		j := at + bytes.IndexByte(data[at:], fieldTerminator)
		fields = append(fields, span{at, j})
		at = j + 1
	}
	return fields, ""
}

// numericTags holds the tags 000-999 so that reading a record does not
// allocate a string for each field's tag.
var numericTags = func() (t [1000]string) {
	for i := range t {
		t[i] = fmt.Sprintf("%03d", i)
	}
	return t
}()

func tagString(b []byte) string {
	if n, ok := number(b, 0, 3); ok {
		return numericTags[n]
	}
	return string(b)
}

func decodeUTF8(b []byte) (string, string) {
	if utf8.Valid(b) {
		return string(b), ""
	}
	i := 0
	for i < len(b) {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			break
		}
		i += n
	}
	return "", fmt.Sprintf("invalid UTF-8 (byte 0x%02X after %s) in a record whose leader/09 says UTF-8", b[i], context(b[:i]))
}

// context quotes the end of the text before a bad byte, subfield marks
// written as $, to show a cataloguer where it is.
func context(before []byte) string {
	start := max(0, len(before)-24)
	for start > 0 && !utf8.RuneStart(before[start]) {
		start++
	}
	s := strings.ReplaceAll(string(before[start:]), "\x1f", "$")
	if start > 0 {
		s = "…" + s
	}
	return strconv.Quote(s)
}
