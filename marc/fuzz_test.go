package marc

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

func FuzzReader(f *testing.F) {
	f.Add(marshal(f, book("f1")))
	f.Add(rawISO(' ', field{"001", "m8"}, field{"245", "10\x1faP\xe2erez \x1b(NkNIGA\x1b(B"}))
	f.Add(append(rawISO('a', field{"001", "a"}), "\r\n00042nam a2200037   4500001000200000\x1ex\x1e"...))
	f.Add([]byte("00026nam a2200025   4500\x1e\x1d"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data))
		for i := 0; ; i++ {
			if i > len(data)+1 {
				t.Fatal("more results than bytes")
			}
			rec, err := r.Next()
			if err == io.EOF {
				break
			}
			var rerr *RecordError
			if errors.As(err, &rerr) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			checkRecord(t, rec)
			// A record read writes back and reads the same, unless it is
			// too big to write.
			b, err := Marshal(rec)
			if err != nil {
				continue
			}
			again, err := NewReader(bytes.NewReader(b)).Next()
			if err != nil {
				t.Fatalf("written record does not read: %v", err)
			}
			if !reflect.DeepEqual(again.Control, rec.Control) || !reflect.DeepEqual(again.Data, rec.Data) ||
				again.Leader[5:10] != rec.Leader[5:10] || again.Leader[17:20] != rec.Leader[17:20] {
				t.Fatalf("round trip changed\n%s\n%s", rec.AppendXML(nil), again.AppendXML(nil))
			}
		}
		if r.Offset() > int64(len(data)) {
			t.Fatalf("offset %d past %d bytes", r.Offset(), len(data))
		}
	})
}

func FuzzXMLReader(f *testing.F) {
	f.Add([]byte(xmlCollection))
	f.Add(book("x").AppendXML(nil))
	f.Add([]byte(`<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><record><metadata><record xmlns="http://www.loc.gov/MARC21/slim"><controlfield tag="001">c</controlfield></record></metadata></record></OAI-PMH>`))
	f.Add([]byte("<collection>" + xmlRecord("a", "T") + "<record><datafield tag=\"245\"><subfield code=\"a\">x</datafield></record>" + xmlRecord("c", "&eacute;") + "</collection>"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewXMLReader(bytes.NewReader(data))
		for i := 0; ; i++ {
			if i > len(data)+1 {
				t.Fatal("more results than bytes")
			}
			rec, err := r.Next()
			var rerr *RecordError
			if errors.As(err, &rerr) {
				continue
			}
			if err != nil {
				break
			}
			checkRecord(t, rec)
			out := rec.AppendXML(nil)
			again, err := NewXMLReader(bytes.NewReader(out)).Next()
			if err != nil {
				t.Fatalf("re-serialised record does not read: %v\n%s", err, out)
			}
			if string(again.AppendXML(nil)) != string(out) {
				t.Fatalf("not stable:\n%s\n%s", out, again.AppendXML(nil))
			}
		}
		if r.Offset() > int64(len(data)) {
			t.Fatalf("offset %d past %d bytes", r.Offset(), len(data))
		}
	})
}

func FuzzDecodeMARC8(f *testing.F) {
	for _, s := range []string{"P\xe2erez", "\x1b(NkNIGA\x1b(B", "\x1b)Q\xe4\x1b$1!0!", "\xebt\xecs\x88\x89", "H\x1bb2\x1bsO\x1bp2\x1bga", "\x1b(S\x22\x61\x1b(2\x60\x1b(3\x47\x1b)4\xa9"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, reason := decodeMARC8(data)
		if reason != "" {
			if s != "" {
				t.Fatalf("text %q with reason %q", s, reason)
			}
			return
		}
		if !utf8.ValidString(s) {
			t.Fatalf("invalid UTF-8 %q", s)
		}
		if bytes.IndexByte(data, 0x1b) < 0 && strings.Count(s, "\x1f") != bytes.Count(data, []byte{0x1f}) {
			t.Fatalf("subfield marks changed: %q -> %q", data, s)
		}
	})
}

// checkRecord asserts what every record the readers return holds.
func checkRecord(t *testing.T, r *Record) {
	t.Helper()
	if len(r.Leader) != 24 && utf8.RuneCountInString(r.Leader) != 24 {
		t.Fatalf("leader %q", r.Leader)
	}
	if len(r.Control)+len(r.Data) == 0 {
		t.Fatal("record without fields")
	}
	for _, c := range r.Control {
		if !validTag(c.Tag) || !utf8.ValidString(c.Value) {
			t.Fatalf("control field %q %q", c.Tag, c.Value)
		}
	}
	for _, d := range r.Data {
		if !validTag(d.Tag) || len(d.Ind1) != 1 || len(d.Ind2) != 1 {
			t.Fatalf("data field %q %q %q", d.Tag, d.Ind1, d.Ind2)
		}
		for _, s := range d.Subfields {
			if utf8.RuneCountInString(s.Code) != 1 || !utf8.ValidString(s.Value) {
				t.Fatalf("subfield %q %q", s.Code, s.Value)
			}
		}
	}
}
