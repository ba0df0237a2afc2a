package marc

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
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
	buf, err := r.br.Peek(maxRecord)
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		r.err = err
		return nil, err
	}
	eof := err == io.EOF
	declared, lenOK := number(buf, 0, 5)
	end := -1
	if lenOK && declared > 24 && declared <= len(buf) && buf[declared-1] == recordTerminator {
		end = declared
	} else if i := bytes.IndexByte(buf, recordTerminator); i >= 0 {
		end = i + 1
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
	var rerr error
	if reason != "" {
		rerr = &RecordError{N: r.n, Offset: start, ID: controlNumber(buf[:end]), Reason: reason}
		rec = nil
	} else if !lenOK {
		rerr = &RecordError{N: r.n, Offset: start, ID: rec.ControlValue("001"),
			Reason: fmt.Sprintf("bad leader length %q", printable(buf[:5]))}
		rec = nil
	}
	r.discard(end)
	return rec, rerr
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
	var dec decoder
	switch leader[9] {
	case 'a':
		dec = decodeUTF8
	case ' ':
		dec = decodeMARC8
	default:
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
	out := &Record{Leader: string(leader)}
	if leader[9] == ' ' {
		out.Leader = out.Leader[:9] + "a" + out.Leader[10:]
	}
	for i, f := range fields {
		tag := string(dir[i*12 : i*12+3])
		if strings.HasPrefix(tag, "00") {
			v, err := dec(f)
			if err != "" {
				return nil, "field " + tag + ": " + err
			}
			out.Control = append(out.Control, ControlField{Tag: tag, Value: v})
			continue
		}
		df := DataField{Tag: tag, Ind1: " ", Ind2: " "}
		for n := 0; n < 2 && len(f) > 0 && f[0] != subfieldMark; n++ {
			if n == 0 {
				df.Ind1 = indicator(string(f[:1]))
			} else {
				df.Ind2 = indicator(string(f[:1]))
			}
			f = f[1:]
		}
		v, err := dec(f)
		if err != "" {
			return nil, "field " + tag + ": " + err
		}
		subs := strings.Split(v, "\x1f")
		for _, s := range subs[1:] {
			if s == "" {
				continue
			}
			_, n := utf8.DecodeRuneInString(s)
			df.Subfields = append(df.Subfields, Subfield{Code: s[:n], Value: s[n:]})
		}
		out.Data = append(out.Data, df)
	}
	return out, ""
}

// splitFields returns the fields the directory points to, without their
// terminators. When the directory's lengths or offsets do not fit the data
// (as tools that re-encode records without recounting leave them) but the
// data holds exactly one terminated field per entry, those are used in
// directory order.
func splitFields(dir, data []byte) ([][]byte, string) {
	n := len(dir) / 12
	fields := make([][]byte, 0, n)
	reason := ""
	for i := 0; i < n; i++ {
		e := dir[i*12 : i*12+12]
		if !validTag(string(e[:3])) {
			return nil, fmt.Sprintf("bad directory: entry %d has tag %q", i+1, printable(e[:3]))
		}
		length, ok1 := number(e, 3, 4)
		at, ok2 := number(e, 7, 5)
		if !ok1 || !ok2 {
			return nil, fmt.Sprintf("bad directory: entry %d (%s) has length/start %q, not digits", i+1, e[:3], printable(e[3:12]))
		}
		switch {
		case length < 1 || at+length > len(data):
			reason = fmt.Sprintf("bad directory: field %s at %d+%d runs past the end of the data (%d bytes)", e[:3], at, length, len(data))
		case data[at+length-1] != fieldTerminator:
			reason = fmt.Sprintf("bad directory: field %s at %d+%d does not end with a field terminator", e[:3], at, length)
		}
		if reason != "" {
			break
		}
		fields = append(fields, data[at:at+length-1])
	}
	if reason == "" {
		return fields, ""
	}
	if bytes.Count(data, []byte{fieldTerminator}) != n || data[len(data)-1] != fieldTerminator {
		return nil, reason
	}
	fields = fields[:0]
	for i := 0; i < n; i++ {
		j := bytes.IndexByte(data, fieldTerminator)
		fields = append(fields, data[:j])
		data = data[j+1:]
	}
	return fields, ""
}

// A decoder turns the bytes of one field into UTF-8, or says why not.
type decoder func([]byte) (string, string)

func decodeUTF8(b []byte) (string, string) {
	if !utf8.Valid(b) {
		i := 0
		for i < len(b) {
			r, n := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && n == 1 {
				break
			}
			i += n
		}
		return "", fmt.Sprintf("invalid UTF-8 (byte 0x%02X at %d) in a record whose leader/09 says UTF-8", b[i], i)
	}
	return string(b), ""
}
