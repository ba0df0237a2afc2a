package sip2

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func fuzzSeeds(f *testing.F) {
	for _, g := range golden {
		f.Add([]byte(g.line+"\r"), uint8(0))
	}
	for i, l := range plain {
		f.Add([]byte(l+"\r\n"), uint8(i%3))
	}
	f.Add([]byte("\xff\xfb\x01\xff\xfa\x18\x01\xff\xf09910302.00\r"), uint8(1))
	f.Add([]byte("1720060110    215612|AOBR1|||AB1|AY12|AZ1234|"), uint8(2))
	f.Add([]byte("101YNY20160822    153450AO|ABix:1544245,1|AQ|AJHellstr\x94m|AAxyz|AF|ZPkreps|"), uint8(1))
}

// FuzzDecode feeds arbitrary frames through every decoding path: it must
// never panic, and every decoded message must survive the typed decoders,
// the redacted and pretty forms, and re-encoding.
func FuzzDecode(f *testing.F) {
	fuzzSeeds(f)
	loc := time.FixedZone("LIB", 3600)
	f.Fuzz(func(t *testing.T, b []byte, opt uint8) {
		o := DecodeOptions{Charset: Charset(opt % 3), Checksum: ChecksumMode(opt / 3 % 3), CodePoints: opt&0x80 != 0}
		m, err := Decode(b, o)
		if err != nil {
			if _, ok := err.(*DecodeError); !ok {
				t.Fatalf("error of type %T", err)
			}
			return
		}
		if _, ok := FixedLen(m.Code); !ok && m.Fixed != "" {
			t.Fatalf("unknown code %q kept a fixed part", m.Code)
		}
		dispatchDecode(m, loc)
		_ = m.Pretty(true)
		_ = m.AppendRedacted(nil)
		_ = m.AppendTo(nil, &EncodeOptions{Charset: o.Charset, Checksum: true})
		for _, fl := range m.Fields {
			_ = FieldName(fl.Tag)
		}
	})
}

// dispatchDecode runs the typed decoder of m's code, if there is one.
func dispatchDecode(m *Message, loc *time.Location) {
	var d interface {
		Decode(*Message, *time.Location) error
	}
	switch m.Code {
	case "93":
		d = new(LoginRequest)
	case "99":
		d = new(SCStatus)
	case "23":
		d = new(PatronStatusRequest)
	case "01":
		d = new(BlockPatronRequest)
	case "63":
		d = new(PatronInfoRequest)
	case "11":
		d = new(CheckoutRequest)
	case "09":
		d = new(CheckinRequest)
	case "15":
		d = new(HoldRequest)
	case "17":
		d = new(ItemInfoRequest)
	case "19":
		d = new(ItemStatusUpdateRequest)
	case "25":
		d = new(PatronEnableRequest)
	case "29":
		d = new(RenewRequest)
	case "65":
		d = new(RenewAllRequest)
	case "35":
		d = new(EndSessionRequest)
	case "37":
		d = new(FeePaidRequest)
	default:
		return
	}
	if err := d.Decode(m, loc); err != nil {
		panic(err)
	}
}

// FuzzRoundTrip checks decode → encode → decode gives the same message, in
// every charset, with the checksum kept when the input had one (and the
// sequence number too, except on 96 and 97, which never carry one out).
func FuzzRoundTrip(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte, opt uint8) {
		cs := Charset(opt % 3)
		m1, err := Decode(b, DecodeOptions{Charset: cs, Checksum: ChecksumOff})
		if err != nil {
			return
		}
		signed := m1.Checksum != ""
		out := m1.AppendTo(nil, &EncodeOptions{Charset: cs, Checksum: signed})
		mode := ChecksumOff
		if signed {
			mode = ChecksumRequired
		}
		m2, err := Decode(out, DecodeOptions{Charset: cs, Checksum: mode})
		if err != nil {
			t.Fatalf("re-decode of %q: %v", out, err)
		}
		wantSeq := m1.Seq
		if m1.Code == "96" || m1.Code == "97" { // resend messages are written without AY
			wantSeq = ""
		}
		if m1.Code != m2.Code || m1.Fixed != m2.Fixed || m2.Seq != wantSeq || !slices.Equal(m1.Fields, m2.Fields) {
			t.Fatalf("round trip differs\n in %q\nout %q\nm1 %q %q %q %q\nm2 %q %q %q %q", b, out,
				m1.Code, m1.Fixed, m1.Seq, m1.Fields, m2.Code, m2.Fixed, m2.Seq, m2.Fields)
		}
		if signed != (m2.Checksum != "") {
			t.Fatalf("checksum presence changed: %q", out)
		}
	})
}

// FuzzChecksum checks that whatever we sign, we verify.
func FuzzChecksum(f *testing.F) {
	f.Add("inst", "Le Piège", uint8(0))
	f.Add("", "Hellström|x\r", uint8(1))
	f.Fuzz(func(t *testing.T, ao, aj string, opt uint8) {
		cs := Charset(opt % 3)
		m := NewMessage("17")
		m.Fixed = "20260101    000000"
		m.Seq = "9"
		m.Add("AO", ao)
		m.Add("AJ", aj)
		out := m.AppendTo(nil, &EncodeOptions{Charset: cs, Checksum: true})
		back, err := Decode(out, DecodeOptions{Charset: cs, Checksum: ChecksumRequired})
		if err != nil {
			t.Fatalf("%q: %v", out, err)
		}
		if back.Seq != "9" {
			t.Fatalf("seq %q in %q", back.Seq, out)
		}
	})
}

// FuzzClean checks the eight-bytes-at-a-time test against the byte table.
func FuzzClean(f *testing.F) {
	f.Add("plain ASCII text of some length", uint8(0))
	f.Add("tab\there|pipe\x7fdel é", uint8(1))
	f.Fuzz(func(t *testing.T, s string, opt uint8) {
		cs := Charset(opt % 3)
		for _, write := range []bool{false, true} {
			table := &readClean[cs]
			if write {
				table = &writeClean[cs]
			}
			want := true
			for i := 0; i < len(s); i++ {
				want = want && table[s[i]]
			}
			if got := cs.clean(s, write); got != want {
				t.Fatalf("clean(%q, %v) in %s = %v, want %v", s, write, cs, got, want)
			}
		}
	})
}

// FuzzSplit checks the one-pass frame scan against strings.Split, a byte
// sum, a count and the byte table, with the fields in any part of the
// input; and the portable word loop and splitter the same way.
func FuzzSplit(f *testing.F) {
	f.Add("AOMAIN|AA2900001234|AB3900005678|AC|ADS3cret|BON|", uint8(0), uint8(0))
	f.Add("|x||AB12345678901234567890|Z", uint8(1), uint8(3))
	f.Add("11YN20261127    101500|\x7f\x00é AOMAIN|AA29|AY3AZ", uint8(22), uint8(3))
	f.Add(strings.Repeat("AB0123456789|", 90), uint8(40), uint8(13))
	f.Fuzz(func(t *testing.T, s string, cut1, cut2 uint8) {
		from := min(int(cut1), len(s))
		to := max(from, len(s)-int(cut2))
		var want []Field
		for _, p := range strings.Split(s[from:to], "|") {
			switch {
			case p == "":
				continue
			case len(p) == 1:
				p += " "
			}
			want = append(want, Field{p[:2], p[2:]})
		}
		var wantSum uint32
		for i := 0; i < len(s); i++ {
			wantSum += uint32(s[i])
		}
		wantPipes := strings.Count(s, "|")
		var m Message
		m.splitFields(s[from:to])
		if !slices.Equal(m.Fields, want) {
			t.Fatalf("splitFields %q = %q, want %q", s[from:to], m.Fields, want)
		}
		for _, cs := range []Charset{UTF8, CP850, Latin1} {
			wantClean := true
			for i := 0; i < len(s); i++ {
				wantClean = wantClean && readClean[cs][s[i]]
			}
			m.Fields = m.Fields[:0]
			sum, clean := m.scanFrame(s, from, to, cs)
			if !slices.Equal(m.Fields, want) || sum != wantSum || clean != wantClean {
				t.Fatalf("scanFrame %q[%d:%d] in %s = %q %d %v, want %q %d %v",
					s, from, to, cs, m.Fields, sum, clean, want, wantSum, wantClean)
			}
			if sum, clean, pipes := scanText(cs, s); sum != wantSum || clean != wantClean || pipes != wantPipes {
				t.Fatalf("scanText %q in %s = %d %v %d, want %d %v %d", s, cs, sum, clean, pipes, wantSum, wantClean, wantPipes)
			}
			// The portable loop, whatever this machine's scanText uses.
			if sum, ctl, high := scanWords(s); sum != wantSum || passes(cs, ctl, high) != wantClean {
				t.Fatalf("scanWords %q in %s: sum %d ctl %v high %v, want %d %v", s, cs, sum, ctl, high, wantSum, wantClean)
			}
		}
		if got := byteSum(s); got != wantSum {
			t.Fatalf("byteSum(%q) = %d, want %d", s, got, wantSum)
		}
	})
}

// FuzzRedactedSecret puts a secret right after a password field's (or the
// sequence number's or checksum's) identifier anywhere in a frame, as a
// kiosk that breaks its delimiters does ("9300CNkiosk1/COs3cretPW99|"):
// whatever the frame became, no log or transcript form shows the secret.
func FuzzRedactedSecret(f *testing.F) {
	for i, g := range golden {
		f.Add([]byte(g.line), uint16(i*7), uint8(i))
	}
	f.Add([]byte("9300CNkiosk1|CPMAIN|"), uint16(12), uint8(0))
	f.Add([]byte("11YN20261127    101500                  AOMAIN|AB39000|BIN|"), uint16(48), uint8(1))
	f.Add([]byte("2300120261127    101500AOMAIN|AA29000|"), uint16(7), uint8(2))
	f.Fuzz(func(t *testing.T, frame []byte, at uint16, which uint8) {
		secrets := [...]string{"s3cretPW99", "1234", "kiosk1pass"}
		tags := [...]string{"CO", "AD", "AC", "AY", "AZ"}
		secret := secrets[int(which)%len(secrets)]
		i := int(at) % (len(frame) + 1)
		b := slices.Concat(frame[:i], []byte(tags[int(which/3)%len(tags)]+secret), frame[i:])
		for _, mode := range []ChecksumMode{ChecksumOff, ChecksumAuto} {
			m, err := Decode(b, DecodeOptions{Checksum: mode})
			if err != nil {
				continue // the server shows only the size of a frame it cannot decode
			}
			if m.Checksum == secret && m.shownChecksum() == secret {
				continue // a checksum that verifies is one, whatever its digits
			}
			var log strings.Builder
			l := zerolog.New(&log)
			l.Info().Object("m", m).Send()
			for _, shown := range []string{string(m.AppendRedacted(nil)), m.Pretty(true), log.String()} {
				if strings.Contains(shown, secret) {
					t.Fatalf("%q shows %q:\n%s", b, secret, shown)
				}
			}
		}
	})
}
