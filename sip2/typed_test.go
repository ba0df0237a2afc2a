package sip2

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// lib is the library's zone in tests: not UTC, so dates take the local form.
var lib = time.FixedZone("LIB", 0)

func mustDecode(t testing.TB, line string) *Message {
	t.Helper()
	m, err := Decode([]byte(line), DecodeOptions{})
	if err != nil {
		t.Fatalf("decode %q: %v", line, err)
	}
	return m
}

func TestRequestDecode(t *testing.T) {
	d := func(s string) time.Time { t, _ := ParseDate(s, lib); return t }
	t.Run("93", func(t *testing.T) {
		var r LoginRequest
		if err := r.Decode(mustDecode(t, "9300CNLoginUserID|COLoginPassword|CPLocationCode|AY5AZEC7B"), lib); err != nil {
			t.Fatal(err)
		}
		if r.UserID != "LoginUserID" || r.Password != "LoginPassword" || r.LocationCode != "LocationCode" ||
			r.UIDAlgorithm != '0' || !r.HasPassword || r.Seq() != "5" || r.Checksum() != "EC7B" || !strings.HasPrefix(r.Raw(), "9300") {
			t.Fatalf("%+v", r)
		}
	})
	t.Run("99", func(t *testing.T) {
		var r SCStatus
		r.Decode(mustDecode(t, "990 402.00AY1AZFCB4"), lib)
		if r.StatusCode != 0 || r.MaxPrintWidth != 40 || r.ProtocolVersion != "2.00" {
			t.Fatalf("%+v", r)
		}
	})
	t.Run("23", func(t *testing.T) {
		var r PatronStatusRequest
		r.Decode(mustDecode(t, "2300119960212    100239AOid_21|AA104000000105|AC|AD|AY2AZF271"), lib)
		if r.Language != "001" || !r.TransactionDate.Equal(d("19960212    100239")) || r.InstitutionID != "id_21" ||
			r.PatronID != "104000000105" || r.PatronPassword != "" || !r.HasPatronPassword {
			t.Fatalf("%+v", r)
		}
	})
	t.Run("01", func(t *testing.T) {
		var r BlockPatronRequest
		r.Decode(mustDecode(t, "01Y20100623    141130AOBR1|ALCard retained|AAP1|ACpw|"), lib)
		if !r.CardRetained || r.BlockedCardMsg != "Card retained" || r.PatronID != "P1" || r.TerminalPassword != "pw" {
			t.Fatalf("%+v", r)
		}
	})
	t.Run("63", func(t *testing.T) {
		var r PatronInfoRequest
		r.Decode(mustDecode(t, "6300119980723    091905Y         AOInstitutionID|AAPatronID|BP00001|BQ00005|AY1AZEA83"), lib)
		if r.Summary != SummaryHoldItems || r.StartItem != 1 || r.EndItem != 5 || r.HasPatronPassword {
			t.Fatalf("%+v", r)
		}
		r.Decode(mustDecode(t, "6300020060329    201700          AOBR1|AAbad_barcode|"), lib)
		if r.Summary != SummaryNone {
			t.Fatalf("blank summary: %v", r.Summary)
		}
		r.Decode(mustDecode(t, "6300020060329    201700  Y       AOBR1|AAb|ADpin|"), lib)
		if r.Summary != SummaryChargedItems || r.PatronPassword != "pin" {
			t.Fatalf("charged summary: %+v", r)
		}
	})
	t.Run("11", func(t *testing.T) {
		var r CheckoutRequest
		r.Decode(mustDecode(t, "11YN19960212    10051419960212    100514AO|AA104000000105|AB000000000005792|AC|AY3AZEDC2"), lib)
		if !r.SCRenewalPolicy || r.NoBlock || r.ItemID != "000000000005792" || r.NBDueDate.IsZero() || r.HasPatronPassword {
			t.Fatalf("%+v", r)
		}
		r.Decode(mustDecode(t, "11NY20060329    203000                  AOinst|AApatron|ABitem|AC|ADpin|BOY|BIN|CHprops|"), lib)
		if r.SCRenewalPolicy || !r.NoBlock || !r.NBDueDate.IsZero() || !r.FeeAcknowledged || r.Cancel || r.ItemProperties != "props" || r.PatronPassword != "pin" {
			t.Fatalf("%+v", r)
		}
	})
	t.Run("09", func(t *testing.T) {
		var r CheckinRequest
		r.Decode(mustDecode(t, "09N20100507    16593720100507    165937APCheckin Bin 5|AOBR1|AB1565921879|ACsip_01|BIY|"), lib)
		if r.NoBlock || r.CurrentLocation != "Checkin Bin 5" || r.ItemID != "1565921879" || !r.Cancel || r.ReturnDate.IsZero() {
			t.Fatalf("%+v", r)
		}
	})
	t.Run("15", func(t *testing.T) {
		var r HoldRequest
		r.Decode(mustDecode(t, "15+20100623    141130BW20101231    235959|BSMain|BY2|AOBR1|AAP1|ADpin|ABI1|AJT1|ACpw|BON|"), lib)
		if r.Mode != '+' || r.ExpirationDate.IsZero() || r.PickupLocation != "Main" || r.HoldType != '2' || r.TitleID != "T1" || r.FeeAcknowledged {
			t.Fatalf("%+v", r)
		}
	})
	t.Run("17", func(t *testing.T) {
		var r ItemInfoRequest
		r.Decode(mustDecode(t, "1720060110    215612AOBR1|AB1565921879|"), lib)
		if r.ItemID != "1565921879" || r.InstitutionID != "BR1" || r.TransactionDate.Year() != 2006 {
			t.Fatalf("%+v", r)
		}
	})
	t.Run("19", func(t *testing.T) {
		var r ItemStatusUpdateRequest
		r.Decode(mustDecode(t, "1920060110    215612AOBR1|AB1|CHnew props|"), lib)
		if r.ItemProperties != "new props" {
			t.Fatalf("%+v", r)
		}
	})
	t.Run("25 and 35", func(t *testing.T) {
		var e PatronEnableRequest
		e.Decode(mustDecode(t, "2520060110    215612AOBR1|AAP1|ACpw|ADpin|"), lib)
		var s EndSessionRequest
		s.Decode(mustDecode(t, "3520060110    215612AOBR1|AAP1|ADpin|"), lib)
		if e.PatronID != "P1" || e.PatronPassword != "pin" || s.PatronID != "P1" || !s.HasPatronPassword {
			t.Fatalf("%+v %+v", e, s)
		}
	})
	t.Run("29 and 65", func(t *testing.T) {
		var r RenewRequest
		r.Decode(mustDecode(t, "29YN20060110    215612                  AOBR1|AAP1|ABI1|AJT|BOY|"), lib)
		var a RenewAllRequest
		a.Decode(mustDecode(t, "6520060110    215612AOBR1|AAP1|ADpin|BOY|"), lib)
		if !r.ThirdPartyAllowed || r.ItemID != "I1" || !r.FeeAcknowledged || a.PatronID != "P1" || !a.FeeAcknowledged {
			t.Fatalf("%+v %+v", r, a)
		}
	})
	t.Run("37", func(t *testing.T) {
		var r FeePaidRequest
		r.Decode(mustDecode(t, "3719980723    0932110401USDBV111.11|AOCertification Institute ID|AAPatronID|BKTransactionID|AY2AZE1EF"), lib)
		if r.FeeType != "04" || r.PaymentType != "01" || r.Currency != "USD" || r.FeeAmount != "111.11" || r.TransactionID != "TransactionID" {
			t.Fatalf("%+v", r)
		}
	})
	t.Run("wrong code", func(t *testing.T) {
		var r CheckoutRequest
		if err := r.Decode(mustDecode(t, "9910302.00"), lib); err == nil {
			t.Fatal("decoded a 99 as 11")
		}
	})
}

// sameFields compares messages ignoring the order of variable fields.
func sameFields(a, b *Message) bool {
	fa, fb := slices.Clone(a.Fields), slices.Clone(b.Fields)
	cmp := func(x, y Field) int { return strings.Compare(x.Tag+"|"+x.Value, y.Tag+"|"+y.Value) }
	slices.SortFunc(fa, cmp)
	slices.SortFunc(fb, cmp)
	return a.Code == b.Code && a.Fixed == b.Fixed && slices.Equal(fa, fb)
}

func TestResponseEncodeGolden(t *testing.T) {
	date := func(s string) time.Time { t, _ := ParseDate(s, lib); return t }
	now := date("20261127    100000")
	limit := 5
	cases := []struct {
		name string
		resp Response
		want string
	}{
		{"94", &LoginResponse{OK: true}, "941"},
		{"98", &ACSStatus{Online: true, CheckinOK: true, CheckoutOK: true, RenewalPolicy: true, TimeoutPeriod: 600, RetriesAllowed: 3,
			DateTimeSync: date("20100510    171720"), InstitutionID: "CONS", SupportedMessages: "YYYYYYYYYNYNNNYN"},
			"98YYYYNN60000320100510    1717202.00AOCONS|BXYYYYYYYYYNYNNNYN|"},
		{"24 from 64 line", &PatronInfoResponse{Status: PatronStatus{true, true, true, true}, Language: "000", TransactionDate: date("20100623    141130"),
			InstitutionID: "BR1", PatronID: "bad_barcode", ValidPatron: No},
			"64YYYY          00020100623    141130000000000000000000000000AE|AAbad_barcode|BLN|AOBR1|"},
		{"10 with 3M extensions", &CheckinResponse{OK: true, Resensitize: true, MagneticMedia: No, Alert: true, TransactionDate: date("20100623    165731"),
			InstitutionID: "BR1", ItemID: "1565921879", PermanentLocation: "BR1", TitleID: "Perl 5 desktop reference", MediaType: "001",
			CallNumber: "QA76.73.P33V76 1996", DestinationLocation: "BR3", HoldPatronID: "373827", HoldPatronName: "Nicholas Richard Woodard", AlertType: "02"},
			"101YNY20100623    165731AOBR1|AB1565921879|AQBR1|AJPerl 5 desktop reference|CK001|CSQA76.73.P33V76 1996|CTBR3|CY373827|DANicholas Richard Woodard|CV02|"},
		{"18", &ItemInfoResponse{CirculationStatus: "10", SecurityMarker: "02", FeeType: "01", TransactionDate: date("20100623    171415"),
			ItemID: "1565921879", TitleID: "Perl 5 desktop reference", MediaType: "001", PermanentLocation: "BR1", CurrentLocation: "BR1", Owner: "BR1",
			Extra: []Field{{"CT", "BR3"}, {"CS", "QA76.73.P33V76 1996"}}},
			"1810020120100623    171415AB1565921879|AJPerl 5 desktop reference|CK001|AQBR1|APBR1|BGBR1|CTBR3|CSQA76.73.P33V76 1996|"},
		{"18 unknown item defaults", &ItemInfoResponse{ItemID: "nope"}, "1801010120261127    100000ABnope|AJ|"},
		{"12 failure keeps required fields", &CheckoutResponse{InstitutionID: "inst", PatronID: "p", ItemID: "i", ScreenMessage: []string{"Item not found"}},
			"120NUU20261127    100000AOinst|AAp|ABi|AJ|AH|AFItem not found|"},
		{"12 success", &CheckoutResponse{OK: true, RenewalOK: false, MagneticMedia: No, Desensitize: Yes, InstitutionID: "inst", PatronID: "p", ItemID: "i",
			TitleID: "T", DueDate: date("20261211    235900"), FeeType: "06", SecurityInhibit: No, Currency: "EUR", FeeAmount: "1.00", MediaType: "001", TransactionID: "tx"},
			"121NNY20261127    100000AOinst|AAp|ABi|AJT|AH20261211    235900|BT06|CIN|BHEUR|BV1.00|CK001|BKtx|"},
		{"30", &RenewResponse{OK: true, RenewalOK: true, InstitutionID: "inst", PatronID: "p", ItemID: "i", TitleID: "T", DueDateText: "2026-12-11"},
			"301YUU20261127    100000AOinst|AAp|ABi|AJT|AH2026-12-11|"},
		{"24", &PatronStatusResponse{Status: PatronStatus{ChargePrivilegesDenied: true}, Language: "001", InstitutionID: "i", PatronID: "p", PersonalName: "N",
			ValidPatron: Yes, ValidPatronPassword: No, Currency: "USD", FeeAmount: "2.50"},
			"24Y             00120261127    100000AOi|AAp|AEN|BLY|CQN|BHUSD|BV2.50|"},
		{"26", &PatronEnableResponse{InstitutionID: "i", PatronID: "p", ValidPatron: Yes},
			"26              00020261127    100000AOi|AAp|AE|BLY|"},
		{"64 lists", &PatronInfoResponse{ChargedItemsCount: 2, InstitutionID: "i", PatronID: "p", PersonalName: "N", HoldItemsLimit: &limit,
			ChargedItems: []string{"a", "b"}, Email: "e@x", PrintLine: []string{"p1"}},
			"64              00020261127    100000000000000002000000000000AOi|AAp|AEN|BZ0005|AUa|AUb|BEe@x|AGp1|"},
		{"16", &HoldResponse{OK: true, Available: false, ExpirationDate: date("20261231    000000"), QueuePosition: &limit, PickupLocation: "Main", InstitutionID: "i", PatronID: "p", TitleID: "T"},
			"161N20261127    100000BW20261231    000000|BR5|BSMain|AOi|AAp|AJT|"},
		{"20", &ItemStatusUpdateResponse{ItemPropertiesOK: true, ItemID: "i", ItemProperties: "x"}, "20120261127    100000ABi|CHx|"},
		{"66", &RenewAllResponse{OK: true, InstitutionID: "i", Renewed: []string{"a", "b"}, Unrenewed: []string{"c"}},
			"661000200012026112710000 0AOi|BMa|BMb|BNc|"},
		{"36", &EndSessionResponse{EndSession: true, InstitutionID: "i", PatronID: "p"}, "36Y20261127    100000AOi|AAp|"},
		{"38", &FeePaidResponse{PaymentAccepted: true, InstitutionID: "i", PatronID: "p", TransactionID: "t"}, "38Y20261127    100000AOi|AAp|BKt|"},
	}
	// 66 line: fix the expected date layout (typo-proof construction).
	cases[len(cases)-3].want = "66100020001" + "20261127    100000" + "AOi|BMa|BMb|BNc|"
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := string(AppendResponse(nil, c.resp, "", &EncodeOptions{Location: lib, Now: now}))
			got, want := mustDecode(t, out), mustDecode(t, c.want)
			if !sameFields(got, want) {
				t.Fatalf("\n got %s\nwant %s", out, c.want)
			}
			if c.resp.ResponseCode() != out[:2] {
				t.Fatalf("code %s", c.resp.ResponseCode())
			}
		})
	}
}

func TestResponseStrictOut(t *testing.T) {
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, lib)
	long := strings.Repeat("x", 300)
	r := &CheckoutResponse{OK: true, TitleID: "A|B\rC", ScreenMessage: []string{long}, Extra: []Field{{"AY", "9"}, {"XY", "ext"}}}
	out := AppendResponse(nil, r, "7", &EncodeOptions{Checksum: true, Location: lib, Now: now})
	if !bytes.HasSuffix(out[:len(out)-4], []byte("|AY7AZ")) || bytes.ContainsAny(out, "\r\n") {
		t.Fatalf("trailer or control chars: %q", out)
	}
	m, err := Decode(out, DecodeOptions{Checksum: ChecksumRequired})
	if err != nil {
		t.Fatal(err)
	}
	if m.Value("AJ") != "A/B C" || len(m.Value("AF")) != MaxFieldLen || m.Value("XY") != "ext" || len(m.Values("AY")) != 0 {
		t.Fatalf("fields: %v", m.Fields)
	}
	if strings.ContainsRune(string(out[:len(out)-4]), 'a') {
		t.Fatal("checksum must be uppercase hex")
	}
	// Fixed codes that are not plain ASCII of the right width get defaults,
	// so the fixed part keeps its length in every charset.
	bad := AppendResponse(nil, &ItemInfoResponse{CirculationStatus: "é", SecurityMarker: "0", FeeType: "0|"}, "", &EncodeOptions{Charset: CP850, Location: lib, Now: now})
	if !strings.HasPrefix(string(bad), "18010101") {
		t.Fatalf("bad fixed codes: %q", bad)
	}
	// 96 and 97 never carry a sequence number.
	rs := NewMessage("96")
	rs.Seq = "3"
	if got := string(rs.AppendTo(nil, &EncodeOptions{Checksum: true})); got != "96AZFEF6" {
		t.Fatalf("96 = %q", got)
	}
	// ResponseMessage gives tools a generic view.
	rm := ResponseMessage(&LoginResponse{OK: true}, nil)
	if rm.Code != "94" || rm.Fixed != "1" {
		t.Fatalf("%+v", rm)
	}
}

func TestLogRedaction(t *testing.T) {
	secrets := []string{"LoginPassword", "LoginUserID", "s3cretPW99", "AY1234", "AZ1234", "S3cretPIN", "TermPass", "Jane Q Patron", "12 Elm Street", "jane@example.org", "555-0100", "2900001234", "Holdy McHoldface"}
	fixtures := []string{
		"9300CNLoginUserID|COLoginPassword|CPLocationCode|AY5AZEC7B",
		"9300CNkiosk1/COs3cretPW99|CPMAIN|",                                         // the delimiter before CO replaced
		"11YN20261127    101500                  AOMAIN|AB1565921879/ADs3cretPW99|", // before AD
		"2300119960212    100239ADs3cretPW99|AOid_21|",                              // the fixed part cut short
		"2300119960212    100239AOid_21|XXs3cretPW99|ZZs3cretPW99|",                 // fields of unknown meaning
		"1720060110    215612AOBR1|AB1|AY1234|XAZ1234",                              // a PIN for sequence number and checksum
		"2300119960212    100239AOid_21|AA2900001234|ACTermPass|ADS3cretPIN|",
		"64              00020261127    100000000000000002000000000000AOi|AA2900001234|AEJane Q Patron|BD12 Elm Street|BEjane@example.org|BF555-0100|",
		"101YNY20100623    165731AOBR1|AB1565921879|AQBR1|CY2900001234|DAHoldy McHoldface|",
	}
	var buf bytes.Buffer
	log := zerolog.New(&buf)
	for _, f := range fixtures {
		m := mustDecode(t, f)
		log.Info().Object("req", m).Msg("x")
		buf.Write(m.AppendRedacted(nil))
		buf.WriteString(m.Pretty(true))
	}
	for _, s := range secrets {
		if strings.Contains(buf.String(), s) {
			t.Errorf("%q leaked into the log:\n%s", s, buf.String())
		}
	}
	if !strings.Contains(buf.String(), "AOid_21") || !strings.Contains(buf.String(), "1565921879") {
		t.Errorf("non-secret values missing:\n%s", buf.String())
	}
}

func TestResponseDatesAcrossZones(t *testing.T) {
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	berlin := time.FixedZone("CET", 3600)
	for i := 0; i < 3; i++ { // the encoder remembers recent dates; zones must not mix
		for _, c := range []struct {
			loc  *time.Location
			want string
		}{{time.UTC, "36Y20261127   Z100000"}, {berlin, "36Y20261127    110000"}, {lib, "36Y20261127    100000"}} {
			out := string(AppendResponse(nil, &EndSessionResponse{EndSession: true}, "", &EncodeOptions{Location: c.loc, Now: now}))
			if !strings.HasPrefix(out, c.want) {
				t.Fatalf("%s: %q, want prefix %q", c.loc, out, c.want)
			}
			out = string(AppendResponse(nil, &EndSessionResponse{EndSession: true}, "", &EncodeOptions{Location: c.loc, Now: now.Add(time.Second)}))
			if !strings.HasPrefix(out, c.want[:len(c.want)-1]+"1") {
				t.Fatalf("%s +1s: %q", c.loc, out)
			}
		}
	}
}
