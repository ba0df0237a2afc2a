package marc

import (
	"bytes"
	"testing"
	"unicode"
)

func TestDecodeMARC8(t *testing.T) {
	for name, tc := range map[string]struct{ in, want string }{
		"acute before base":    {"P\xe2erez", "Pérez"},
		"umlaut and grave":     {"\xe8u\xe1a", "üà"},
		"two marks":            {"\xe3\xf2a", "ậ"}, // circumflex and dot below: NFC puts them in canonical order
		"ansel letters":        {"\xa5sop \xb1\xb2d\xa2", "Æsop łødØ"},
		"mark before space":    {"a\xe5 b", "a \u0304b"},
		"ligature":             {"\xebt\xecs", "t\u0361s"},
		"double tilde":         {"\xfan\xfbg", "n\u0360g"},
		"nonsort":              {"\x88The \x89Title", "\u0098The \u009cTitle"},
		"euro eszett":          {"\xc8 \xc7", "€ ß"},
		"basic cyrillic":       {"\x1b(NkNIGA\x1b(B ok", "Книга ok"},
		"cyrillic lower":       {"\x1b(NkNIGA"[:3] + "\x6b\x4e\x49\x47\x41", "Книга"},
		"extended cyrillic g1": {"\x1b)Q\xe4\xc4", "Ёё"},
		"g0 comma form":        {"\x1b,N\x41", "а"},
		"g1 dash form":         {"\x1b-Q\xc4", "ё"},
		"basic greek":          {"\x1b(S\x22\x61\x62", "άβ"},
		"hebrew":               {"\x1b(2\x60\x61\x1b(B.", "אב."},
		"arabic":               {"\x1b(3\x47\x1b)4\xa9", "اپ"},
		"subscript":            {"H\x1bb2\x1bsO", "H₂O"},
		"superscript":          {"x\x1bp2", "x²"},
		"greek symbols":        {"\x1bga\x1bs-particle", "α-particle"},
		"ansel back in g1":     {"\x1b)Q\xc4\x1b)!E\xe2e", "ёé"},
		"subfields keep marks": {"\x1fa\xe2e\x1fb\xe8o", "\x1faé\x1fbö"},
	} {
		got, reason := decodeMARC8([]byte(tc.in))
		if reason != "" || got != tc.want {
			t.Errorf("%s: got %q %s, want %q", name, got, reason, tc.want)
		}
	}
}

func TestDecodeMARC8Refusals(t *testing.T) {
	for name, tc := range map[string]struct{ in, reason string }{
		"unknown final":      {"a\x1b(Zb", `invalid MARC-8 escape "ESC (Z"`},
		"unknown escape":     {"\x1bX", `invalid MARC-8 escape "ESC X"`},
		"escape at end":      {"abc\x1b", `invalid MARC-8 escape "ESC "`},
		"bad ansel final":    {"\x1b)!F", `invalid MARC-8 escape "ESC )!F"`},
		"eacc":               {"\x1b$1\x21\x30\x21", "EACC (CJK) MARC-8 is not supported; export as UTF-8"},
		"eacc g1":            {"\x1b$)1", "EACC (CJK) MARC-8 is not supported; export as UTF-8"},
		"unmapped ansel":     {"\xaf", "MARC-8 byte 0xAF has no character in the Extended Latin (ANSEL) set"},
		"unmapped greek sym": {"\x1bgx", "MARC-8 byte 0x78 has no character in the Greek symbols set"},
		"c1 control":         {"\x80", "MARC-8 byte 0x80 has no character"},
		"nbsp":               {"\xa0", "MARC-8 byte 0xA0 has no character"},
	} {
		_, reason := decodeMARC8([]byte(tc.in))
		if reason != tc.reason {
			t.Errorf("%s: %q, want %q", name, reason, tc.reason)
		}
	}
}

// TestMARC8Tables checks the tables against what the code tables say of
// whole classes of characters: ANSEL 0xE0-0xFE are combining marks, the
// letters are not, and no set maps a position to a control character.
func TestMARC8Tables(t *testing.T) {
	for c := 0xE0; c <= 0xFE; c++ {
		r := ansel.chars[c-0xA1]
		if r == 0 {
			continue
		}
		if r > 0 && !unicode.Is(unicode.Mn, r) {
			t.Errorf("ANSEL 0x%02X = U+%04X is not a combining mark", c, r)
		}
	}
	for _, set := range []*charset{ascii, ansel, greekSymbols, subscripts, superscripts, basicHebrew, basicCyrillic, extendedCyrillic, basicArabic, extendedArabic, basicGreek} {
		n := 0
		for i, r := range set.chars {
			if r > 0 && r < 0x20 || r >= 0x80 && r < 0x98 {
				t.Errorf("%s 0x%02X = U+%04X, a control character", set.name, i+0x21, r)
			}
			if r != 0 {
				n++
			}
		}
		if n == 0 {
			t.Errorf("%s is empty", set.name)
		}
	}
	if n := count(basicCyrillic); n != 94 {
		t.Errorf("Basic Cyrillic has %d characters, the code table 94", n)
	}
	if n := count(ansel); n != 65 {
		t.Errorf("ANSEL has %d graphic characters, the code table 65", n)
	}
}

func count(c *charset) int {
	n := 0
	for _, r := range c.chars {
		if r != 0 {
			n++
		}
	}
	return n
}

func TestMARC8Records(t *testing.T) {
	marc8 := rawISO(' ', field{"001", "m8"}, field{"100", "1 \x1faP\xe2erez, Jos\xe2e,\x1feauthor."}, field{"245", "10\x1fa\x1b(NkNIGA\x1b(B /"})
	utf := rawISO('a', field{"001", "u8"}, field{"100", "1 \x1faPérez, José,"})
	badEscape := rawISO(' ', field{"001", "esc"}, field{"245", "10\x1faBad \x1b(Z escape"})
	eacc := rawISO(' ', field{"001", "cjk"}, field{"245", "10\x1fa\x1b$1\x21\x30\x21"})
	file := bytes.Join([][]byte{marc8, utf, badEscape, eacc, marc8}, nil)
	recs, errs := readAll(t, NewReader(bytes.NewReader(file)))
	if len(recs) != 3 || len(errs) != 2 {
		t.Fatalf("%d records, errors %v", len(recs), errs)
	}
	m, u := recs[0], recs[1]
	if m.Leader[9] != 'a' || m.Fields("100")[0].Value("a") != "Pérez, José," || m.Fields("245")[0].Value("a") != "Книга /" {
		t.Errorf("MARC-8 record %+v", m)
	}
	if m.Fields("100")[0].Value("a") != u.Fields("100")[0].Value("a") {
		t.Errorf("MARC-8 and UTF-8 differ: %q %q", m.Fields("100")[0].Value("a"), u.Fields("100")[0].Value("a"))
	}
	if e := errs[0]; e.N != 3 || e.ID != "esc" || e.Reason != `field 245: invalid MARC-8 escape "ESC (Z"` {
		t.Errorf("%+v", e)
	}
	if e := errs[1]; e.N != 4 || e.Reason != "field 245: EACC (CJK) MARC-8 is not supported; export as UTF-8" {
		t.Errorf("%+v", e)
	}
	// The decoded record writes out as UTF-8 and reads back the same.
	again, errs := readAll(t, NewReader(bytes.NewReader(marshal(t, m))))
	if len(errs) != 0 || again[0].Fields("245")[0].Value("a") != "Книга /" || again[0].Leader[9] != 'a' {
		t.Errorf("%v %+v", errs, again)
	}
}

// TestBlankCodingUTF8 reads a UTF-8 export that left leader/09 blank as
// UTF-8, while the same text in MARC-8 still decodes as MARC-8.
func TestBlankCodingUTF8(t *testing.T) {
	utf := rawISO(' ', field{"001", "u"}, field{"100", "1 \x1faPérez, José, Æsop"})
	m8 := rawISO(' ', field{"001", "m"}, field{"100", "1 \x1faP\xe2erez, Jos\xe2e, \xa5sop"})
	recs, errs := readAll(t, NewReader(bytes.NewReader(append(utf, m8...))))
	if len(errs) != 0 || len(recs) != 2 {
		t.Fatalf("%d records, errors %v", len(recs), errs)
	}
	for _, r := range recs {
		if v := r.Fields("100")[0].Value("a"); v != "Pérez, José, Æsop" || r.Leader[9] != 'a' {
			t.Errorf("record %s: %q, leader %q", r.ControlValue("001"), v, r.Leader)
		}
	}
}
