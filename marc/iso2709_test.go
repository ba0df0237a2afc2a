package marc

import (
	"bytes"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
)

// field is one raw ISO 2709 field: for a data field, indicators then
// subfields marked with \x1f; no terminator.
type field struct{ tag, data string }

// rawISO builds an ISO 2709 record from raw field bytes, in whatever
// coding they are, with leader/09 as given.
func rawISO(coding byte, fields ...field) []byte {
	var dir, data []byte
	for _, f := range fields {
		dir = fmt.Appendf(dir, "%s%04d%05d", f.tag, len(f.data)+1, len(data))
		data = append(data, f.data...)
		data = append(data, fieldTerminator)
	}
	base := 24 + len(dir) + 1
	leader := []byte(fmt.Sprintf("%05dnam %c2200000   4500", base+len(data)+1, coding))
	copy(leader[12:17], fmt.Sprintf("%05d", base))
	out := append(leader, dir...)
	out = append(out, fieldTerminator)
	out = append(out, data...)
	return append(out, recordTerminator)
}

func TestISO2709RecordErrors(t *testing.T) {
	good := func(id string) []byte { return rawISO('a', field{"001", id}, field{"245", "10\x1faTitle " + id}) }
	set := func(b []byte, at int, s string) []byte {
		b = bytes.Clone(b)
		copy(b[at:], s)
		return b
	}
	bad := good("bad")
	long := append([]byte("00100"), bytes.Repeat([]byte("x"), 150000)...)
	long = append(long, recordTerminator)
	for name, tc := range map[string]struct {
		rec    []byte
		reason string
	}{
		"bad leader length":   {set(bad, 0, "12a45"), `bad leader length "12a45"`},
		"bad base address":    {set(bad, 12, "0x024"), `bad base address "0x024" in leader/12-16`},
		"bad directory size":  {append(append(bytes.Clone(bad[:24]), '0'), bad[24:]...), "bad directory: 25 bytes, not a whole number of 12-byte entries"},
		"bad directory tag":   {set(bad, 24, "0\x011"), `bad directory: entry 1 has tag "0\x011"`},
		"bad directory start": {set(bad, 24+12+7, "0a000"), `bad directory: entry 2 (245) has length/start "00140a000", not digits`},
		"field past end":      {set(set(bad, 24+3, "0999"), len(bad)-2, "X"), "bad directory: field 001 at 0+999 runs past the end of the data (18 bytes)"},
		"unterminated field":  {set(bad, 24+24+1+3, "X"), "bad directory: field 001 at 0+4 does not end with a field terminator"},
		"short record":        {[]byte("00020nam a22\x1e\x1d"), "record too short: 14 bytes"},
		"bad coding":          {set(bad, 9, "z"), `leader/09 'z' is neither blank (MARC-8) nor a (UTF-8)`},
		"invalid utf-8":       {rawISO('a', field{"001", "bad"}, field{"245", "10\x1faP\xe9rez"}), `field 245: invalid UTF-8 (byte 0xE9 after "10$aP")`},
		"no terminator":       {long, "no record terminator (0x1D) within 99999 bytes"},
	} {
		t.Run(name, func(t *testing.T) {
			var file []byte
			file = append(file, good("a")...)
			file = append(file, tc.rec...)
			file = append(file, good("b")...)
			recs, errs := readAll(t, NewReader(bytes.NewReader(file)))
			if len(recs) != 2 || recs[0].ControlValue("001") != "a" || recs[1].ControlValue("001") != "b" {
				t.Fatalf("records around the bad one: %d, errors %v", len(recs), errs)
			}
			if len(errs) != 1 || !strings.Contains(errs[0].Reason, tc.reason) {
				t.Fatalf("errors %v, want %q", errs, tc.reason)
			}
			if e := errs[0]; e.N != 2 || e.Offset != int64(len(good("a"))) {
				t.Errorf("error at record %d offset %d", e.N, e.Offset)
			}
		})
	}
}

func TestISO2709ErrorNamesControlNumber(t *testing.T) {
	rec := rawISO('a', field{"001", "ocm123"}, field{"245", "10\x1faP\xe9rez"})
	_, errs := readAll(t, NewReader(bytes.NewReader(rec)))
	if len(errs) != 1 || errs[0].ID != "ocm123" || errs[0].Error() != `record 1 (ocm123): field 245: invalid UTF-8 (byte 0xE9 after "10$aP") in a record whose leader/09 says UTF-8` {
		t.Errorf("%v", errs)
	}
}

func TestISO2709Truncated(t *testing.T) {
	first := rawISO('a', field{"001", "a"})
	second := rawISO('a', field{"001", "b"}, field{"500", "  \x1fa" + strings.Repeat("n", 1200)})
	file := append(bytes.Clone(first), second[:800]...)
	r := NewReader(bytes.NewReader(file))
	recs, errs := readAll(t, r)
	want := fmt.Sprintf("truncated record: leader says %d bytes, 800 left", len(second))
	if len(recs) != 1 || len(errs) != 1 || errs[0].Reason != want || errs[0].ID != "b" {
		t.Fatalf("%d records, errors %v; want %q", len(recs), errs, want)
	}
	if r.Offset() != int64(len(file)) {
		t.Errorf("offset %d of %d", r.Offset(), len(file))
	}
}

func TestISO2709Tolerance(t *testing.T) {
	a := rawISO('a', field{"001", "a"}, field{"245", "10\x1faFirst"})
	b := rawISO('a', field{"001", "b"}, field{"245", "10\x1faSecond"})
	wrongLength := bytes.Clone(b)
	copy(wrongLength, "00999") // the terminator is trusted
	zeroLength := bytes.Clone(b)
	copy(zeroLength, "00000")
	wrongBase := bytes.Clone(b)
	copy(wrongBase[12:], "00099")
	// Directory offsets that do not match, as re-encoding tools leave
	// them; the terminated fields are taken in order.
	shifted := bytes.Clone(b)
	copy(shifted[24+12+3:], "0011")
	for name, file := range map[string][]byte{
		"crlf between":   append(append(append(bytes.Clone(a), "\r\n"...), b...), "\r\n"...),
		"wrong length":   append(bytes.Clone(a), wrongLength...),
		"zero length":    append(bytes.Clone(a), zeroLength...),
		"wrong base":     append(bytes.Clone(a), wrongBase...),
		"shifted fields": append(bytes.Clone(a), shifted...),
		"trailing junk":  append(append(bytes.Clone(a), b...), "\x1a garbage from the exporter"...),
		"nul padding":    append(append(bytes.Clone(a), b...), make([]byte, 300)...),
	} {
		recs, errs := readAll(t, NewReader(bytes.NewReader(file)))
		if len(errs) != 0 || len(recs) != 2 || recs[1].Fields("245")[0].Value("a") != "Second" {
			t.Errorf("%s: %d records, errors %v", name, len(recs), errs)
		}
	}
}

func TestISO2709NotMARC(t *testing.T) {
	_, errs := readAll(t, NewReader(strings.NewReader("%PDF-1.4 this is not a MARC file")))
	if len(errs) != 1 || !strings.Contains(errs[0].Reason, "not a MARC record") {
		t.Errorf("%v", errs)
	}
	recs, errs := readAll(t, NewReader(strings.NewReader("\r\n")))
	if len(recs)+len(errs) != 0 {
		t.Errorf("blank file: %v %v", recs, errs)
	}
}

func TestISO2709Indicators(t *testing.T) {
	rec := rawISO('a', field{"001", "x"}, field{"650", "\x1faNo indicators"}, field{"700", "1\x1faOne"}, field{"245", "14\x1f\x1faEmpty subfield skipped"})
	recs, errs := readAll(t, NewReader(bytes.NewReader(rec)))
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	d := recs[0].Data
	if d[0].Ind1 != " " || d[0].Ind2 != " " || d[0].Value("a") != "No indicators" ||
		d[1].Ind1 != "1" || d[1].Ind2 != " " || d[1].Value("a") != "One" ||
		d[2].Ind1 != "1" || d[2].Ind2 != "4" || len(d[2].Subfields) != 1 {
		t.Errorf("%+v", d)
	}
}

// TestISO2709BoundedMemory reads 20 MB with no record terminator: the
// reader reports it and allocates about one record buffer, not the file.
func TestISO2709BoundedMemory(t *testing.T) {
	junk := io.LimitReader(repeatReader('7'), 20<<20)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	recs, errs := readAll(t, NewReader(junk))
	runtime.ReadMemStats(&after)
	if len(recs) != 0 || len(errs) != 1 || !strings.Contains(errs[0].Reason, "no record terminator") {
		t.Errorf("%d records, errors %v", len(recs), errs)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 2<<20 {
		t.Errorf("allocated %d bytes reading 20 MB", n)
	}
}

type repeatReader byte

func (r repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}

func TestMarshalRefuses(t *testing.T) {
	for name, rec := range map[string]*Record{
		"bad tag":          {Control: []ControlField{{"1", "x"}}},
		"structure char":   {Data: []DataField{{Tag: "245", Subfields: []Subfield{{"a", "x\x1ey"}}}}},
		"long code":        {Data: []DataField{{Tag: "245", Subfields: []Subfield{{"ab", "x"}}}}},
		"too big":          {Data: []DataField{{Tag: "500", Subfields: []Subfield{{"a", strings.Repeat("x", 9000)}}}, {Tag: "500", Subfields: []Subfield{{"a", strings.Repeat("x", 9000)}}}, {Tag: "500", Subfields: []Subfield{{"a", strings.Repeat("x", 9000)}}}, {Tag: "500", Subfields: []Subfield{{"a", strings.Repeat("x", 9000)}}}, {Tag: "500", Subfields: []Subfield{{"a", strings.Repeat("x", 9000)}}}, {Tag: "500", Subfields: []Subfield{{"a", strings.Repeat("x", 9000)}}}, {Tag: "500", Subfields: []Subfield{{"a", strings.Repeat("x", 9000)}}}, {Tag: "500", Subfields: []Subfield{{"a", strings.Repeat("x", 9000)}}}, {Tag: "500", Subfields: []Subfield{{"a", strings.Repeat("x", 9000)}}}, {Tag: "500", Subfields: []Subfield{{"a", strings.Repeat("x", 9000)}}}, {Tag: "500", Subfields: []Subfield{{"a", strings.Repeat("x", 9000)}}}, {Tag: "500", Subfields: []Subfield{{"a", strings.Repeat("x", 9000)}}}}},
		"field too long":   {Data: []DataField{{Tag: "500", Subfields: []Subfield{{"a", strings.Repeat("x", 10000)}}}}},
		"invalid utf-8":    {Control: []ControlField{{"001", "\xff"}}},
		"non-ascii leader": {Leader: "00000nam a2200000   450é", Control: []ControlField{{"001", "x"}}},
	} {
		if b, err := Marshal(rec); err == nil {
			t.Errorf("%s: wrote %q", name, b)
		}
	}
}

// TestISO2709DamageBeforeARecord: a record cut short or junk runs on to the
// next record's terminator; the reader reports the damage and still reads
// the record that follows.
func TestISO2709DamageBeforeARecord(t *testing.T) {
	a := rawISO('a', field{"001", "a"}, field{"245", "10\x1faFirst"})
	b := rawISO('a', field{"001", "b"}, field{"245", "10\x1faSecond " + strings.Repeat("x", 300)})
	c := rawISO('a', field{"001", "c"}, field{"245", "10\x1faThird"})
	for name, tc := range map[string]struct {
		damage []byte
		reason string
	}{
		"cut short": {b[:200], fmt.Sprintf("truncated record: leader says %d bytes, the next record starts after 200", len(b))},
		"junk":      {[]byte("<html>oops</html>"), "not a MARC record: 17 bytes before the next record"},
	} {
		file := bytes.Join([][]byte{a, tc.damage, c}, nil)
		recs, errs := readAll(t, NewReader(bytes.NewReader(file)))
		if len(recs) != 2 || recs[1].ControlValue("001") != "c" {
			t.Errorf("%s: %d records, errors %v", name, len(recs), errs)
			continue
		}
		if len(errs) != 1 || errs[0].Reason != tc.reason || errs[0].N != 2 {
			t.Errorf("%s: errors %v, want %q", name, errs, tc.reason)
		}
	}
}
