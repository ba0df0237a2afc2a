package sip2

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// golden holds the raw lines of reference/sip2.md section 4 whose checksums
// were recomputed with the byte-sum algorithm.
var golden = []struct {
	line, seq, sum string
}{
	{"9300CNLoginUserID|COLoginPassword|CPLocationCode|AY5AZEC7B", "5", "EC7B"},
	{"941AY3AZFDFA", "3", "FDFA"},
	{"990 402.00AY1AZFCB4", "1", "FCB4"},
	{"2300119960212    100239AOid_21|AA104000000105|AC|AD|AY2AZF271", "2", "F271"},
	{"6300119980723    091905Y         AOInstitutionID|AAPatronID|BP00001|BQ00005|AY1AZEA83", "1", "EA83"},
	{"11YN19960212    10051419960212    100514AO|AA104000000105|AB000000000005792|AC|AY3AZEDC2", "3", "EDC2"},
	{"101YNN19980821    085721AOCertification Institute ID|ABCheckInBook|AQPermanent Location for CheckinBook, Language 1|AJTitle For CheckinBook|AAGoodPatron1|CK001|CHCheckinBook Properties|CLsort bin A1|AFScreen Message for CheckInBook|AGPrint Line for CheckInBook|AY2AZA3FF", "2", "A3FF"},
	{"1808000119980723    115615CF00000|ABItemBook|AJTitle For Item Book|CK003|AQPermanent Location for ItemBook, Language 1|APCurrent Location ItemBook|CHFree-form text with new item property|AY0AZC05B", "0", "C05B"},
	{"3719980723    0932110401USDBV111.11|AOCertification Institute ID|AAPatronID|BKTransactionID|AY2AZE1EF", "2", "E1EF"},
	{"1804020120110630    110249AB30007008503046|AJLe Pie\u0300ge de Bogota|CK001|AQOSUL|APOSUL|BGOSUL|AH2011-10-28 23:59:59|CSPB LP DAL|AY7AZDCF8", "7", "DCF8"}, // è decomposed (e + U+0300), as in the source test,
	{"97AZFEF5", "", "FEF5"},
	{"96AZFEF6", "", "FEF6"},
}

// plain holds section 4 lines without error detection.
var plain = []string{
	"9300CNsip_01|COsip_01|CPBR1|",
	"941",
	"9910302.00",
	"98YYYYNN60000320100510    1717202.00AOCONS|BXYYYYYYYYYNYNNNYN|",
	"6300020060329    201700          AOBR1|AAbad_barcode|",
	"64YYYY          00020100623    141130000000000000000000000000AE|AAbad_barcode|BLN|AOBR1|",
	"11YN20060329    203000                  AOinst|AApatron|ABitem|AC|",
	"09N20100507    16593720100507    165937APCheckin Bin 5|AOBR1|AB1565921879|ACsip_01|",
	"101YNY20100623    165731AOBR1|AB1565921879|AQBR1|AJPerl 5 desktop reference|CK001|CSQA76.73.P33V76 1996|CTBR3|CY373827|DANicholas Richard Woodard|CV02|",
	"1720060110    215612AOBR1|AB1565921879|",
	"1810020120100623    171415AB1565921879|AJPerl 5 desktop reference|CK001|AQBR1|APBR1|BGBR1|CTBR3|CSQA76.73.P33V76 1996|",
	"101YNY20160822    153450AO|ABix:1544245,1|AQ|AJHellström, Jenny : Sy! Urban collection [Bok]|AAxyz|AF|ZPkreps|",
}

func TestGoldenChecksums(t *testing.T) {
	for _, g := range golden {
		t.Run(g.line[:2], func(t *testing.T) {
			m, err := Decode([]byte(g.line+"\r"), DecodeOptions{Checksum: ChecksumRequired})
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if m.Seq != g.seq || m.Checksum != g.sum {
				t.Fatalf("seq/sum = %q/%q, want %q/%q", m.Seq, m.Checksum, g.seq, g.sum)
			}
			out := m.AppendTo(nil, &EncodeOptions{Checksum: true})
			if string(out) != g.line {
				t.Fatalf("re-encoded\n got %s\nwant %s", out, g.line)
			}
			// Lowercase hex is accepted too.
			low := g.line[:len(g.line)-4] + strings.ToLower(g.sum)
			if _, err := Decode([]byte(low), DecodeOptions{Checksum: ChecksumRequired}); err != nil {
				t.Fatalf("lowercase checksum: %v", err)
			}
			// One changed byte is caught.
			bad := []byte(g.line)
			bad[len(bad)-1] = "01"[b2i(bad[len(bad)-1] == '0')]
			if _, err := Decode(bad, DecodeOptions{}); !errors.Is(err, ErrBadChecksum) {
				t.Fatalf("corrupted frame: err = %v, want ErrBadChecksum", err)
			}
		})
	}
}

func TestCodePointChecksum(t *testing.T) {
	line := "1812020120230316    145800AB0230200408766|AJAnam ċara :|AQYS|CRNONFICTR|BGYS|AH20230131    235900|AY3AZE5D1"
	if _, err := Decode([]byte(line), DecodeOptions{}); !errors.Is(err, ErrBadChecksum) {
		t.Fatalf("byte sum: err = %v, want ErrBadChecksum", err)
	}
	m, err := Decode([]byte(line), DecodeOptions{CodePoints: true})
	if err != nil {
		t.Fatalf("code-point sum: %v", err)
	}
	if got := m.Value("AJ"); got != "Anam ċara :" {
		t.Fatalf("AJ = %q", got)
	}
	// We sign the bytes we write: E58D over UTF-8 bytes.
	out := m.AppendTo(nil, &EncodeOptions{Checksum: true})
	if !bytes.HasSuffix(out, []byte("AY3AZE58D")) {
		t.Fatalf("signed %s, want byte-sum E58D", out)
	}
}

func TestPlainLinesRoundTrip(t *testing.T) {
	for _, line := range plain {
		m, err := Decode([]byte(line), DecodeOptions{Checksum: ChecksumAuto})
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		if got := m.String(); got != line {
			t.Fatalf("round trip\n got %s\nwant %s", got, line)
		}
	}
}

func TestChecksumModes(t *testing.T) {
	if _, err := Decode([]byte("9910302.00"), DecodeOptions{Checksum: ChecksumRequired}); !errors.Is(err, ErrMissingChecksum) {
		t.Fatalf("required: err = %v", err)
	}
	if _, err := Decode([]byte("990 402.00AY1AZ0000"), DecodeOptions{Checksum: ChecksumOff}); err != nil {
		t.Fatalf("off: %v", err)
	}
	if Checksum([]byte("990 402.00AY1AZ")) != 0xFCB4 {
		t.Fatal("Checksum of the spec example")
	}
}

func TestLenientFraming(t *testing.T) {
	cases := []struct {
		name, in string
		code     string
		fields   []Field
		seq      string
	}{
		{"CRLF", "9910302.00\r\n", "99", nil, ""},
		{"LF", "9910302.00\n", "99", nil, ""},
		{"telnet IAC WILL", "\xff\xfb\x01\xff\xfb\x039910302.00\r", "99", nil, ""},
		{"bare telnet byte", "\xfb9910302.00\r", "99", nil, ""},
		{"NUL and noise", "\x00\n 9910302.00\r", "99", nil, ""},
		{"leading delimiter", "1720060110    215612|AOBR1||AB1565921879|||", "17", []Field{{"AO", "BR1"}, {"AB", "1565921879"}}, ""},
		{"no trailing delimiter", "1720060110    215612AOBR1|AB15", "17", []Field{{"AO", "BR1"}, {"AB", "15"}}, ""},
		{"unknown field kept in order", "1720060110    215612ZPx|AOBR1|XYz|", "17", []Field{{"ZP", "x"}, {"AO", "BR1"}, {"XY", "z"}}, ""},
		{"multi-digit AY", "2300119960212    100239AOid_21|AA104000000105|AC|AD|AY89AZF232", "23", []Field{{"AO", "id_21"}, {"AA", "104000000105"}, {"AC", ""}, {"AD", ""}}, "89"},
		{"delimiter after AY", "9910302.00AY1|AZFC28", "99", nil, "1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := Decode([]byte(c.in), DecodeOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if m.Code != c.code || m.Seq != c.seq || !slices.Equal(m.Fields, c.fields) && len(m.Fields)+len(c.fields) > 0 {
				t.Fatalf("got code %q seq %q fields %v", m.Code, m.Seq, m.Fields)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	cases := []struct {
		in   string
		want error
	}{
		{"", ErrEmpty},
		{"\r\n", ErrEmpty},
		{"GET / HTTP/1.1", ErrBadCode},
		{"9", ErrBadCode},
		{"11YN2006", ErrShortFixed},
		{"990 402.00AY1AZFCB5", ErrBadChecksum},
	}
	for _, c := range cases {
		_, err := Decode([]byte(c.in), DecodeOptions{})
		if !errors.Is(err, c.want) {
			t.Errorf("%q: err = %v, want %v", c.in, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "HTTP") {
			t.Errorf("error repeats input: %v", err)
		}
	}
}

func TestParseDate(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		ny = time.FixedZone("EST", -5*3600)
	}
	cases := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"20100623    141130", time.Date(2010, 6, 23, 14, 11, 30, 0, ny), true},
		{"20100623   Z141130", time.Date(2010, 6, 23, 14, 11, 30, 0, time.UTC), true},
		{"19810908ZZZZ124533", time.Date(1981, 9, 8, 12, 45, 33, 0, ny), true},
		{"2011-10-28 23:59:59", time.Date(2011, 10, 28, 23, 59, 59, 0, ny), true},
		{"2011-10-28", time.Date(2011, 10, 28, 0, 0, 0, 0, ny), true},
		{"20111028", time.Date(2011, 10, 28, 0, 0, 0, 0, ny), true},
		{blankDate, time.Time{}, false},
		{"YYYYMMDDZZZZHHMMSS", time.Time{}, false},
		{"20101340    141130", time.Time{}, false},
		{"", time.Time{}, false},
	}
	for _, c := range cases {
		got, ok := ParseDate(c.in, ny)
		if ok != c.ok || !got.Equal(c.want) {
			t.Errorf("ParseDate(%q) = %v %v, want %v %v", c.in, got, ok, c.want, c.ok)
		}
	}
	d := time.Date(2026, 11, 27, 6, 5, 4, 0, time.UTC)
	if got := FormatDate(d, time.UTC); got != "20261127   Z060504" {
		t.Errorf("UTC: %q", got)
	}
	if got := FormatDate(d, ny); got != "20261127    010504" {
		t.Errorf("local: %q", got)
	}
	if got := FormatDate(time.Time{}, ny); got != blankDate {
		t.Errorf("zero: %q", got)
	}
}

func TestCharsets(t *testing.T) {
	title := "Hellström, Æsop ċara | x"
	for _, cs := range []Charset{UTF8, CP850, Latin1} {
		m := NewMessage("18")
		m.Fixed = "030101" + "20100623    141130"
		m.Add("AB", "1")
		m.Add("AJ", title)
		out := m.AppendTo(nil, &EncodeOptions{Charset: cs, Checksum: true})
		back, err := Decode(out, DecodeOptions{Charset: cs, Checksum: ChecksumRequired})
		if err != nil {
			t.Fatalf("%s: %v", cs, err)
		}
		want := "Hellström, Æsop ċara / x"
		if cs != UTF8 {
			want = "Hellström, Æsop cara / x" // ċ is not in the code page: transliterated
		}
		if got := back.Value("AJ"); got != want {
			t.Errorf("%s: AJ = %q, want %q", cs, got, want)
		}
		if cs == CP850 && !bytes.Contains(out, []byte("Hellstr\x94m")) {
			t.Errorf("cp850 bytes: %q", out)
		}
		if name, err := ParseCharset(cs.String()); err != nil || name != cs {
			t.Errorf("ParseCharset(%q) = %v, %v", cs.String(), name, err)
		}
	}
	if _, err := ParseCharset("ebcdic"); err == nil {
		t.Error("ParseCharset accepted ebcdic")
	}
}

func TestFixedFieldTable(t *testing.T) {
	for code, defs := range fixedFields {
		n := 0
		for _, d := range defs {
			n += d.Len
		}
		if want, ok := FixedLen(code); !ok || want != n {
			t.Errorf("%s: fixed fields sum to %d, FixedLen says %d", code, n, want)
		}
		if MessageName(code) == "" {
			t.Errorf("%s has no name", code)
		}
	}
}

func TestWrapText(t *testing.T) {
	cases := []struct {
		in    string
		width int
		want  []string
	}{
		{"Thank you for using the self check", 12, []string{"Thank you", "for using", "the self", "check"}},
		{"abcdefghij", 4, []string{"abcd", "efgh", "ij"}},
		{"abcdefgh x", 4, []string{"abcd", "efgh", "x"}},
		{"één twee", 3, []string{"één", "twe", "e"}},
		{"line one\nline two", 40, []string{"line one", "line two"}},
		{"short", 0, []string{"short"}},
	}
	for _, c := range cases {
		if got := WrapText(c.in, c.width); !slices.Equal(got, c.want) {
			t.Errorf("WrapText(%q, %d) = %q, want %q", c.in, c.width, got, c.want)
		}
	}
}

func TestParseFieldSpecAndPretty(t *testing.T) {
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	m, err := ParseFieldSpec("11", []string{"no_block=Y", "AO=inst", "AA=P1", "AB=I1", "AC=", "AD=1234", "AY=4"}, now)
	if err != nil {
		t.Fatal(err)
	}
	want := "11NY20261127   Z100000" + blankDate + "AOinst|AAP1|ABI1|AC|AD1234|AY4AZ"
	out := m.AppendTo(nil, &EncodeOptions{Checksum: true})
	if string(out[:len(out)-4]) != want {
		t.Fatalf("got  %s\nwant %s", out, want)
	}
	p := m.Pretty(true)
	for _, s := range []string{"11 Checkout", "no block", `"Y"`, "item identifier", `"I1"`, "AD patron password"} {
		if !strings.Contains(p, s) {
			t.Errorf("Pretty lacks %q:\n%s", s, p)
		}
	}
	if strings.Contains(p, "1234") || strings.Contains(p, "P1") {
		t.Errorf("Pretty(redact) shows secrets:\n%s", p)
	}
	for _, bad := range [][]string{{"nope=1"}, {"no_block=YES"}, {"AZ=1234"}, {"fixed=short"}, {"AA"}} {
		if _, err := ParseFieldSpec("11", bad, now); err == nil {
			t.Errorf("ParseFieldSpec accepted %q", bad)
		}
	}
	if _, err := ParseFieldSpec("1", nil, now); err == nil {
		t.Error("ParseFieldSpec accepted code 1")
	}
	m, err = ParseFieldSpec("99", []string{"max_print_width=40"}, now)
	if err != nil || m.Fixed != "00402.00" {
		t.Fatalf("99: %v %q", err, m.Fixed)
	}
}

func TestShortFixedPartEveryCode(t *testing.T) {
	for code, defs := range fixedFields {
		n, _ := FixedLen(code)
		if n == 0 {
			continue
		}
		m, err := ParseFieldSpec(code, nil, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Fixed) != n || len(defs) == 0 {
			t.Fatalf("%s: default fixed part %q", code, m.Fixed)
		}
		full := code + m.Fixed
		if _, err := Decode([]byte(full), DecodeOptions{}); err != nil {
			t.Errorf("%s: default frame %q: %v", code, full, err)
		}
		if _, err := Decode([]byte(full[:len(full)-1]), DecodeOptions{}); !errors.Is(err, ErrShortFixed) {
			t.Errorf("%s: short frame: err = %v", code, err)
		}
	}
}

// readClean is the byte-at-a-time reference for reading: like writeClean,
// but the delimiter is clean (values never contain it).
var readClean = func() (r [3][256]bool) {
	r = writeClean
	for cs := range r {
		r[cs]['|'] = true
	}
	return r
}()

func TestCleanEveryByteAndPosition(t *testing.T) {
	for cs := range Charset(3) {
		for _, write := range []bool{false, true} {
			table := &readClean[cs]
			if write {
				table = &writeClean[cs]
			}
			for b := 0; b < 256; b++ {
				for pos := 0; pos < 17; pos++ {
					s := []byte("abcdefghijklmnopq")
					s[pos] = byte(b)
					if got := cs.clean(string(s), write); got != table[b] {
						t.Fatalf("%s write=%v byte %#x at %d: clean=%v", cs, write, b, pos, got)
					}
				}
			}
		}
	}
}

// TestBenchFramesCoverEveryCode keeps BenchmarkFrames honest: a frame for
// every request and response code of SIP2 2.00, each one verifying and
// re-encoding to itself.
func TestBenchFramesCoverEveryCode(t *testing.T) {
	seen := map[string]bool{}
	for _, line := range benchFrames(t) {
		m, err := Decode([]byte(line), DecodeOptions{Checksum: ChecksumRequired})
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		if out := m.AppendTo(nil, &EncodeOptions{Checksum: true}); string(out) != line {
			t.Errorf("re-encoded\n got %s\nwant %s", out, line)
		}
		seen[m.Code] = true
	}
	for code := range 100 {
		c := fmt.Sprintf("%02d", code)
		if _, ok := FixedLen(c); ok && !seen[c] {
			t.Errorf("no frame for message %s", c)
		}
	}
}

// TestTypedPairsCoverEveryRequest keeps BenchmarkTyped honest: every
// request code has a frame and a pair, and each response encodes to a
// frame that verifies.
func TestTypedPairsCoverEveryRequest(t *testing.T) {
	loc := time.FixedZone("LIB", 3600)
	pairs := typedPairs(time.Date(2026, 11, 27, 10, 15, 0, 0, loc))
	seen := map[string]bool{}
	for _, line := range benchFrames(t) {
		p, ok := pairs[line[:2]]
		if !ok || seen[line[:2]] {
			continue
		}
		seen[line[:2]] = true
		m, err := Decode([]byte(line), DecodeOptions{Checksum: ChecksumRequired})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.req.Decode(m, loc); err != nil {
			t.Fatal(err)
		}
		out := AppendResponse(nil, p.resp, m.Seq, &EncodeOptions{Checksum: true, Location: loc})
		back, err := Decode(out, DecodeOptions{Checksum: ChecksumRequired})
		if err != nil || back.Seq != m.Seq || back.Code != p.resp.ResponseCode() {
			t.Fatalf("%s: %q: %v", line[:2], out, err)
		}
	}
	if len(seen) != len(pairs) || len(pairs) != 15 {
		t.Fatalf("pairs for %d of %d request codes", len(seen), len(pairs))
	}
}

// TestSequenceAcrossDelimiters reads AY and AZ even with several delimiters
// before or after AZ, so a frame and its re-encoding agree on them.
func TestSequenceAcrossDelimiters(t *testing.T) {
	frame := string(appendChecksum([]byte("1720261127    101500AOMAIN|AB3900005678|AY5||"), 0))
	m, err := Decode([]byte(frame), DecodeOptions{Checksum: ChecksumRequired})
	if err != nil {
		t.Fatal(err)
	}
	if m.Seq != "5" || len(m.Fields) != 2 || m.Value("AB") != "3900005678" {
		t.Fatalf("seq %q fields %q", m.Seq, m.Fields)
	}
	out := m.AppendTo(nil, &EncodeOptions{Checksum: true})
	if want := "1720261127    101500AOMAIN|AB3900005678|AY5AZ"; string(out[:len(out)-4]) != want {
		t.Fatalf("re-encoded %q", out)
	}
	// Delimiters after the checksum are noise too.
	if m, err := Decode([]byte(frame+"||\r"), DecodeOptions{Checksum: ChecksumRequired}); err != nil || m.Seq != "5" || len(m.Fields) != 2 {
		t.Fatalf("trailing delimiters: %v %+v", err, m)
	}
}
