package marc

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Marshal writes the record in ISO 2709 with UTF-8 coding: leader/09 is
// set to 'a', a missing leader is DefaultLeader, and the record length, base address and the fixed leader
// positions 10-11 and 20-23 are computed.
func Marshal(r *Record) ([]byte, error) {
	leader := []byte(DefaultLeader)
	if r.Leader != "" {
		leader = []byte(r.Leader)
	}
	if len(leader) != 24 {
		return nil, fmt.Errorf("leader is %d bytes, not 24", len(leader))
	}
	for i, c := range leader {
		if c < 0x20 || c >= 0x7F {
			return nil, fmt.Errorf("leader: byte 0x%02X at position %d is not printable ASCII", c, i)
		}
	}
	var dir, data []byte
	add := func(tag string, field []byte) error {
		if !validTag(tag) {
			return fmt.Errorf("tag %q is not three letters or digits", shortText(tag))
		}
		if !utf8.Valid(field) {
			return fmt.Errorf("field %s is not valid UTF-8", tag)
		}
		field = append(field, fieldTerminator)
		if len(field) > 9999 {
			return fmt.Errorf("field %s is %d bytes, more than 9999", tag, len(field))
		}
		dir = append(dir, tag...)
		dir = append(dir, fmt.Sprintf("%04d%05d", len(field), len(data))...)
		data = append(data, field...)
		return nil
	}
	for _, c := range r.Control {
		if strings.ContainsAny(c.Value, "\x1d\x1e\x1f") {
			return nil, fmt.Errorf("field %s holds a structure character", c.Tag)
		}
		if err := add(c.Tag, []byte(c.Value)); err != nil {
			return nil, err
		}
	}
	for _, f := range r.Data {
		b := []byte(pad1(f.Ind1) + pad1(f.Ind2))
		for _, s := range f.Subfields {
			if utf8.RuneCountInString(s.Code) != 1 || strings.ContainsAny(s.Code+s.Value, "\x1d\x1e\x1f") {
				return nil, fmt.Errorf("field %s: subfield %q holds a structure character or its code is not one character", f.Tag, shortText(s.Code))
			}
			b = append(b, subfieldMark)
			b = append(b, s.Code...)
			b = append(b, s.Value...)
		}
		if err := add(f.Tag, b); err != nil {
			return nil, err
		}
	}
	base := 24 + len(dir) + 1
	total := base + len(data) + 1
	if total > maxRecord {
		return nil, fmt.Errorf("record is %d bytes, more than %d", total, maxRecord)
	}
	copy(leader[0:5], fmt.Sprintf("%05d", total))
	leader[9], leader[10], leader[11] = 'a', '2', '2'
	copy(leader[12:17], fmt.Sprintf("%05d", base))
	copy(leader[20:24], "4500")
	out := make([]byte, 0, total)
	out = append(out, leader...)
	out = append(out, dir...)
	out = append(out, fieldTerminator)
	out = append(out, data...)
	return append(out, recordTerminator), nil
}

// pad1 is an indicator as one byte: blank unless it is one ASCII
// character.
func pad1(s string) string {
	if len(s) == 1 && s[0] >= 0x20 && s[0] < 0x7F {
		return s
	}
	return " "
}
