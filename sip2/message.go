package sip2

import (
	"strconv"
	"strings"
	"time"
)

// Field is one variable-length field: a two-character identifier and its
// text, without the delimiter.
type Field struct {
	Tag   string
	Value string
}

// Message is one SIP2 message in generic form. Fields keep their wire order,
// unknown identifiers included. Text is UTF-8; the charset is applied when the
// message is read from or written to the wire.
//
// Decoding slices the input, so the strings of a decoded Message share the
// input's memory. Use a Message through its pointer: a copied Message would
// share its small-message field array with the original.
type Message struct {
	Code     string  // two-character command identifier, e.g. "11"
	Fixed    string  // the fixed-length fields, concatenated
	Fields   []Field // variable-length fields in wire order, without AY and AZ
	Seq      string  // AY sequence number as received ("" when absent)
	Checksum string  // AZ checksum as received ("" when absent)
	Raw      string  // the frame as received, without terminator, in the wire charset

	fields [16]Field // backing array, so a small message needs one allocation
}

// NewMessage returns an empty message with the given code.
func NewMessage(code string) *Message {
	m := &Message{Code: code}
	m.Fields = m.fields[:0]
	return m
}

// Get returns the value of the first field with the tag.
func (m *Message) Get(tag string) (string, bool) {
	for i := range m.Fields {
		if m.Fields[i].Tag == tag {
			return m.Fields[i].Value, true
		}
	}
	return "", false
}

// Value returns the value of the first field with the tag, or "".
func (m *Message) Value(tag string) string {
	v, _ := m.Get(tag)
	return v
}

// Values returns the values of every field with the tag, in wire order.
func (m *Message) Values(tag string) []string {
	var vs []string
	for i := range m.Fields {
		if m.Fields[i].Tag == tag {
			vs = append(vs, m.Fields[i].Value)
		}
	}
	return vs
}

// Add appends a field.
func (m *Message) Add(tag, value string) {
	if m.Fields == nil {
		m.Fields = m.fields[:0]
	}
	m.Fields = append(m.Fields, Field{tag, value})
}

// ChecksumMode says when a connection uses error detection (AY/AZ).
type ChecksumMode uint8

// Checksum modes.
const (
	// ChecksumAuto verifies a checksum when a message carries one and signs
	// the response to such a message, as Koha and SIPServer do.
	ChecksumAuto ChecksumMode = iota
	// ChecksumRequired rejects messages without a checksum and always signs.
	ChecksumRequired
	// ChecksumOff ignores checksums on input and never signs.
	ChecksumOff
)

// String returns "auto", "required" or "off".
func (c ChecksumMode) String() string {
	switch c {
	case ChecksumRequired:
		return "required"
	case ChecksumOff:
		return "off"
	}
	return "auto"
}

// DecodeOptions control how a frame is read.
type DecodeOptions struct {
	Charset Charset
	// Checksum decides whether AZ is verified. In ChecksumOff mode AY and AZ
	// are still recognised and taken off the fields, but not checked.
	Checksum ChecksumMode
	// CodePoints also accepts a checksum computed over characters (code
	// points in Charset) instead of wire bytes, as some devices do.
	CodePoints bool
}

// EncodeOptions control how a message is written.
type EncodeOptions struct {
	Charset Charset
	// Checksum appends AY (when a sequence number is given) and AZ. The
	// checksum is computed over the encoded bytes.
	Checksum bool
	// Location is the time zone dates are written in (nil: time.Local).
	Location *time.Location
	// Now fills transaction dates a typed response leaves zero (zero:
	// time.Now()).
	Now time.Time
}

// Reason classifies a decoding failure.
type Reason uint8

// Decoding failures.
const (
	ReasonEmpty           Reason = iota + 1 // nothing but terminators or noise
	ReasonBadCode                           // the first two characters are not a command code
	ReasonShortFixed                        // the frame ends inside the fixed-length fields
	ReasonBadChecksum                       // AZ does not match the frame
	ReasonMissingChecksum                   // ChecksumRequired and the frame has no AZ
)

var reasonText = [...]string{
	"", "empty message", "bad command code", "fixed fields too short", "bad checksum", "missing checksum",
}

// String describes r.
func (r Reason) String() string {
	if int(r) < len(reasonText) {
		return reasonText[r]
	}
	return "reason " + strconv.Itoa(int(r))
}

// DecodeError reports why a frame could not be decoded. It never contains
// the frame's text, which may hold passwords.
type DecodeError struct {
	Reason Reason
	Code   string // command code when it could be read
	Offset int    // byte offset in the frame
}

// Error describes the failure without quoting the frame.
func (e *DecodeError) Error() string {
	s := "sip2: " + e.Reason.String()
	if e.Code != "" {
		s += " in message " + e.Code
	}
	return s + " at offset " + strconv.Itoa(e.Offset)
}

// Is makes errors.Is(err, ErrBadChecksum) and friends work.
func (e *DecodeError) Is(target error) bool {
	t, ok := target.(*DecodeError)
	return ok && t.Code == "" && t.Offset == 0 && t.Reason == e.Reason
}

// Sentinel decoding errors for errors.Is.
var (
	ErrEmpty           = &DecodeError{Reason: ReasonEmpty}
	ErrBadCode         = &DecodeError{Reason: ReasonBadCode}
	ErrShortFixed      = &DecodeError{Reason: ReasonShortFixed}
	ErrBadChecksum     = &DecodeError{Reason: ReasonBadChecksum}
	ErrMissingChecksum = &DecodeError{Reason: ReasonMissingChecksum}
)

// fixedLen holds the length of the fixed part of every known message,
// indexed by command code; -1 marks unknown codes.
var fixedLen = func() (t [100]int8) {
	for i := range t {
		t[i] = -1
	}
	for code, n := range map[int]int8{
		93: 2, 94: 1, 99: 8, 98: 34, 23: 21, 24: 35, 1: 19, 63: 31, 64: 59,
		11: 38, 12: 22, 9: 37, 10: 22, 15: 19, 16: 20, 17: 18, 18: 24, 19: 18, 20: 19,
		25: 18, 26: 35, 29: 38, 30: 22, 65: 18, 66: 27, 35: 18, 36: 19, 37: 25, 38: 19,
		97: 0, 96: 0,
	} {
		t[code] = n
	}
	return t
}()

// FixedLen returns the length of the fixed part of messages with the code,
// and false for codes that are not part of SIP2 2.00.
func FixedLen(code string) (int, bool) {
	if len(code) != 2 || !isDigit(code[0]) || !isDigit(code[1]) {
		return 0, false
	}
	n := fixedLen[int(code[0]-'0')*10+int(code[1]-'0')]
	return int(n), n >= 0
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// unhex maps a hexadecimal digit of either case to its value and any other
// byte to 0xFF.
var unhex = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xFF
	}
	for i, c := range hexDigits {
		t[c] = byte(i)
		t[c|0x20] = byte(i) // lowercase; digits map to themselves
	}
	return t
}()

func isAlnum(c byte) bool {
	return isDigit(c) || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
}

// Trim removes what surrounds a frame on the wire: telnet negotiation,
// NULs, line breaks and other noise before the command code, and the CR, LF
// or CRLF terminator after it.
func Trim(s string) string {
	for len(s) > 0 {
		c := s[len(s)-1]
		if c != '\r' && c != '\n' && c != 0 {
			break
		}
		s = s[:len(s)-1]
	}
	for len(s) > 0 {
		c := s[0]
		switch {
		case c == 0xFF && len(s) >= 2 && s[1] == 0xFA: // IAC SB … IAC SE
			end := 2
			for end+1 < len(s) && !(s[end] == 0xFF && s[end+1] == 0xF0) {
				end++
			}
			s = s[min(end+2, len(s)):]
		case c == 0xFF && len(s) >= 3 && s[1] >= 0xFB && s[1] <= 0xFE: // IAC WILL/WONT/DO/DONT opt
			s = s[3:]
		case c == 0xFF && len(s) >= 2: // IAC cmd
			s = s[2:]
		case c <= ' ' || c >= 0x7F || c == '|':
			s = s[1:]
		default:
			return s
		}
	}
	return s
}

// Decode reads one frame into a new Message. The frame may carry its
// terminator. The message keeps a copy of b, so b may be reused.
func Decode(b []byte, o DecodeOptions) (*Message, error) {
	m := NewMessage("")
	if err := m.DecodeString(string(b), &o); err != nil {
		return nil, err
	}
	return m, nil
}

// DecodeString reads one frame into m, reusing m's field slice. The strings
// of m slice s (unless the charset had to convert text), so decoding a frame
// of ASCII text does not allocate.
func (m *Message) DecodeString(s string, o *DecodeOptions) error {
	if o == nil {
		o = &DecodeOptions{}
	}
	s = Trim(s)
	m.Code, m.Fixed, m.Seq, m.Checksum, m.Raw = "", "", "", "", s
	if m.Fields == nil {
		m.Fields = m.fields[:0]
	}
	m.Fields = m.Fields[:0]
	if len(s) == 0 {
		return ErrEmpty
	}
	if len(s) < 2 || !isDigit(s[0]) || !isDigit(s[1]) {
		return &DecodeError{Reason: ReasonBadCode}
	}
	code := s[:2]
	fixedEnd := 2
	if n, ok := FixedLen(code); ok {
		fixedEnd += n
	}
	if len(s) < fixedEnd {
		return &DecodeError{Reason: ReasonShortFixed, Code: code, Offset: len(s)}
	}
	bodyEnd, seq, sumAt, sum := splitErrorDetection(s, fixedEnd)
	if sumAt < 0 && o.Checksum == ChecksumRequired {
		return &DecodeError{Reason: ReasonMissingChecksum, Code: code, Offset: len(s)}
	}
	// One pass over the frame splits the fields, sums the bytes and tells
	// whether any text needs the charset (most frames are plain ASCII).
	total, text := m.scanFrame(s, fixedEnd, bodyEnd, o.Charset)
	if sumAt >= 0 && o.Checksum != ChecksumOff {
		want := uint32(hexValue(sum))
		// The checksum covers the frame up to and including "AZ".
		signed := s[:sumAt+2]
		if (total-byteSum(s[sumAt+2:])+want)&0xFFFF != 0 &&
			!(o.CodePoints && (o.Charset.codePointSum(signed)+want)&0xFFFF == 0) {
			m.Fields = m.Fields[:0]
			return &DecodeError{Reason: ReasonBadChecksum, Code: code, Offset: sumAt}
		}
	}
	m.Code = code
	m.Seq = seq
	m.Checksum = sum
	m.Fixed = s[2:fixedEnd]
	if !text {
		cs := o.Charset
		m.Fixed = cs.decodeText(m.Fixed)
		for i := range m.Fields {
			f := &m.Fields[i]
			f.Tag, f.Value = cs.decodeText(f.Tag), cs.decodeText(f.Value)
		}
	}
	return nil
}

// splitErrorDetection finds a trailing "AY<digits>AZ<4 hex>" (AY optional,
// extra delimiters tolerated) after the fixed part. It returns where the
// fields end, the sequence number, the offset of "AZ" (-1 when there is no
// checksum) and the checksum text.
func splitErrorDetection(s string, fixedEnd int) (bodyEnd int, seq string, sumAt int, sum string) {
	e := len(s)
	for e-fixedEnd >= 7 && s[e-1] == '|' {
		e--
	}
	p := e - 6
	if p < fixedEnd || s[p] != 'A' || s[p+1] != 'Z' ||
		unhex[s[p+2]]|unhex[s[p+3]]|unhex[s[p+4]]|unhex[s[p+5]] > 0xF {
		return len(s), "", -1, ""
	}
	sum = s[p+2 : p+6]
	// Sequence number: AY<digits> right before AZ, perhaps with delimiters
	// in between, itself at the start of the fields or after a delimiter.
	q := p
	for q > fixedEnd && s[q-1] == '|' {
		q--
	}
	j := q
	for j > fixedEnd && isDigit(s[j-1]) {
		j--
	}
	if j < q && j-2 >= fixedEnd && s[j-2] == 'A' && s[j-1] == 'Y' && (j-2 == fixedEnd || s[j-3] == '|') {
		return j - 2, s[j:q], p, sum
	}
	if p == fixedEnd || s[p-1] == '|' {
		return p, "", p, sum
	}
	return len(s), "", -1, ""
}

// hexValue reads four hexadecimal digits.
func hexValue(s string) uint16 {
	_ = s[3]
	return uint16(unhex[s[0]])<<12 | uint16(unhex[s[1]])<<8 | uint16(unhex[s[2]])<<4 | uint16(unhex[s[3]])
}

// Checksum returns the AZ value for the bytes of a frame from its first
// character through the "AZ" identifier: the 16-bit two's complement of
// their sum.
func Checksum(b []byte) uint16 {
	return uint16(-byteSum(view(b)))
}

const hexDigits = "0123456789ABCDEF"

// appendChecksum appends AZ and the checksum of everything in dst from
// start on, in uppercase hex.
func appendChecksum(dst []byte, start int) []byte {
	return appendSum(dst, byteSum(view(dst[start:])))
}

// appendSum appends AZ and the checksum of a frame whose bytes before AZ
// add up to sum.
func appendSum(dst []byte, sum uint32) []byte {
	c := uint16(-(sum + 'A' + 'Z'))
	return append(dst, 'A', 'Z', hexDigits[c>>12], hexDigits[c>>8&0xF], hexDigits[c>>4&0xF], hexDigits[c&0xF])
}

// AppendTo appends the message in wire form, without terminator. With
// o.Checksum it ends in AY (when m.Seq is set and the message is not a 96 or
// 97) and AZ; the checksum covers the encoded bytes.
func (m *Message) AppendTo(dst []byte, o *EncodeOptions) []byte {
	if o == nil {
		o = &EncodeOptions{}
	}
	start := len(dst)
	dst = m.appendBody(dst, o.Charset, true)
	// The fast copy stands if it needs no charset work and its only
	// delimiters are the ones written after each field (or in the fixed
	// part). The same pass sums the bytes for the checksum.
	sum, clean, pipes := scanText(o.Charset, view(dst[start:]))
	if !clean || pipes != len(m.Fields) && pipes != len(m.Fields)+strings.Count(m.Fixed, "|") {
		dst = m.appendBody(dst[:start], o.Charset, false)
		sum = byteSum(view(dst[start:]))
	}
	if o.Checksum {
		dst = appendTrailer(dst, sum, m.Code, m.Seq)
	}
	return dst
}

// appendBody appends code, fixed part and fields. The fast form copies text
// as it is; the caller checks the output once (scanText) and falls back to
// the charset-aware form, which encodes and sanitises field by field.
func (m *Message) appendBody(dst []byte, cs Charset, fast bool) []byte {
	dst = append(dst, m.Code...)
	if !fast {
		dst = cs.appendFixed(dst, m.Fixed)
		for _, f := range m.Fields {
			dst = cs.appendText(dst, f.Tag)
			dst = cs.appendText(dst, f.Value)
			dst = append(dst, '|')
		}
		return dst
	}
	dst = append(dst, m.Fixed...)
	for _, f := range m.Fields {
		if len(f.Tag) == 2 { // spares a copy call for the usual tag
			dst = append(dst, f.Tag[0], f.Tag[1])
		} else {
			dst = append(dst, f.Tag...)
		}
		dst = append(dst, f.Value...)
		dst = append(dst, '|')
	}
	return dst
}

// appendTrailer appends "AY<seq>AZ<checksum>" to a body whose bytes add up
// to sum; resend messages never carry a sequence number.
func appendTrailer(dst []byte, sum uint32, code, seq string) []byte {
	if seq != "" && code != "96" && code != "97" {
		dst = append(dst, 'A', 'Y')
		dst = append(dst, seq...)
		sum += 'A' + 'Y' + byteSum(seq)
	}
	return appendSum(dst, sum)
}

// String returns the message in wire form (UTF-8, no checksum, no
// terminator). It shows every field, secrets included: use Redacted for
// anything that may be logged.
func (m *Message) String() string {
	return string(m.AppendTo(nil, nil))
}
