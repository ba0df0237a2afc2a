package sip2

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

const benchCheckout = "11YN20261127    101500                  AOMAIN|AA2900001234|AB3900005678|ACkiosk|ADS3cret|BON|AY3AZ"

func benchRequest(b *testing.B) string {
	m, err := Decode([]byte(benchCheckout+"0000"), DecodeOptions{Checksum: ChecksumOff})
	if err != nil {
		b.Fatal(err)
	}
	return string(m.AppendTo(nil, &EncodeOptions{Checksum: true})) + "\r"
}

// BenchmarkCheckoutMessage is the generic layer: decode and verify a
// checkout request, encode a signed checkout response.
func BenchmarkCheckoutMessage(b *testing.B) {
	req := benchRequest(b)
	resp := NewMessage("12")
	resp.Fixed = "1NNY20261127    101500"
	resp.Add("AO", "MAIN")
	resp.Add("AA", "2900001234")
	resp.Add("AB", "3900005678")
	resp.Add("AJ", "The Left Hand of Darkness")
	resp.Add("AH", "20261211    235900")
	var m Message
	o := DecodeOptions{Checksum: ChecksumRequired}
	eo := EncodeOptions{Checksum: true}
	buf := make([]byte, 0, 512)
	b.SetBytes(int64(len(req)))
	b.ReportAllocs()
	for b.Loop() {
		if err := m.DecodeString(req, &o); err != nil {
			b.Fatal(err)
		}
		resp.Seq = m.Seq
		buf = resp.AppendTo(buf[:0], &eo)
		buf = append(buf, '\r')
	}
}

// BenchmarkCheckoutTyped is the path the server takes: decode and verify
// the frame, decode the typed request, encode a typed response.
func BenchmarkCheckoutTyped(b *testing.B) {
	req := benchRequest(b)
	loc := time.FixedZone("LIB", 3600)
	now := time.Date(2026, 11, 27, 10, 15, 0, 0, loc)
	due := now.AddDate(0, 0, 14)
	var m Message
	var r CheckoutRequest
	resp := new(CheckoutResponse)
	o := DecodeOptions{Checksum: ChecksumRequired}
	eo := EncodeOptions{Checksum: true, Location: loc, Now: now}
	buf := make([]byte, 0, 512)
	b.SetBytes(int64(len(req)))
	b.ReportAllocs()
	for b.Loop() {
		if err := m.DecodeString(req, &o); err != nil {
			b.Fatal(err)
		}
		r.Decode(&m, loc)
		*resp = CheckoutResponse{OK: true, MagneticMedia: No, Desensitize: Yes, InstitutionID: r.InstitutionID,
			PatronID: r.PatronID, ItemID: r.ItemID, TitleID: "The Left Hand of Darkness", DueDate: due}
		buf = AppendResponse(buf[:0], resp, r.Seq(), &eo)
		buf = append(buf, '\r')
	}
}

// BenchmarkServerCheckout is one kiosk doing signed checkouts back to back
// over loopback TCP: codec, server loop, session call and two syscalls each
// way.
func BenchmarkServerCheckout(b *testing.B) {
	h := &testHandler{}
	srv := NewServer(&Options{Handler: h, Location: time.UTC})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	c, err := Dial(context.Background(), "tcp", l.Addr().String(), ClientOptions{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	m, _ := ParseFieldSpec("93", []string{"CN=kiosk", "CO=secret-pw"}, time.Now())
	if _, err := c.Send(ctx, m); err != nil {
		b.Fatal(err)
	}
	co, _ := ParseFieldSpec("11", []string{"AO=MAIN", "AA=2900001234", "AB=3900005678", "AC=", "AD=1234"}, time.Now())
	b.ReportAllocs()
	for b.Loop() {
		co.Seq = ""
		reply, err := c.Send(ctx, co)
		if err != nil || reply.Code != "12" {
			b.Fatalf("%v %v", reply, err)
		}
	}
	c.Close()
	srv.Shutdown(ctx)
	<-done
}

// moreFrames completes the reference's signed frames (golden) with one
// realistic frame for every other message of SIP2 2.00, so BenchmarkFrames
// covers each request and response code. They are signed when used.
var moreFrames = []string{
	"98YYYYNN60000320261127    1015002.00AOMAIN|AMCirca Public Library|BXYYYYYYYYYNYNNNYN|ANkiosk-3|",
	"24              00120261127    101500AOMAIN|AA2900001234|AEJane Q. Patron|BLY|CQY|BHUSD|BV0.00|AFWelcome back|",
	"64              00120261127    101500000000010003000000000000AOMAIN|AA2900001234|AEJane Q. Patron|BZ0010|CA0005|CB0020|BLY|CQY|BHUSD|BV2.50|AU3900005678|AU3900005679|AU3900005680|BDMain Street 1|BEjane@example.org|BF555-0100|",
	"121NNY20261127    101500AOMAIN|AA2900001234|AB3900005678|AJThe Left Hand of Darkness|AH20261211    235900|",
	"09N20261127    10150020261127    101500APMAIN|AOMAIN|AB3900005678|ACkiosk|",
	"29NN20261127    101500                  AOMAIN|AA2900001234|AB3900005678|ACkiosk|ADS3cret|BON|",
	"301YNY20261127    101500AOMAIN|AA2900001234|AB3900005678|AJThe Left Hand of Darkness|AH20261225    235900|",
	"6520261127    101500AOMAIN|AA2900001234|ADS3cret|ACkiosk|BON|",
	"6610003000120261127    101500AOMAIN|BM3900005678|BM3900005679|BM3900005680|BN3900005681|AFOne item could not be renewed|",
	"1720261127    101500AOMAIN|AB3900005678|ACkiosk|",
	"1920261127    101500AOMAIN|AB3900005678|ACkiosk|CHsecurity=on|",
	"20120261127    101500AB3900005678|AJThe Left Hand of Darkness|CHsecurity=on|",
	"38Y20261127    101500AOMAIN|AA2900001234|BKTX-0001|",
	"15+20261127    101500BW20261225    235900|BSMAIN|BY2|AOMAIN|AA2900001234|ADS3cret|AB3900005678|AJThe Left Hand of Darkness|ACkiosk|BON|",
	"161N20261127    101500BW20261225    235900|BR2|BSMAIN|AOMAIN|AA2900001234|AB3900005678|AJThe Left Hand of Darkness|",
	"01N20261127    101500AOMAIN|ALCard retained at kiosk 3|AA2900001234|ACkiosk|",
	"2520261127    101500AOMAIN|AA2900001234|ACkiosk|ADS3cret|",
	"26              00120261127    101500AOMAIN|AA2900001234|AEJane Q. Patron|BLY|CQY|",
	"3520261127    101500AOMAIN|AA2900001234|ACkiosk|ADS3cret|",
	"36Y20261127    101500AOMAIN|AA2900001234|AFThank you|",
}

// benchFrames returns a signed frame for every message code: the
// reference's golden frames, then moreFrames signed with sequence number 4.
func benchFrames(tb testing.TB) []string {
	frames := make([]string, 0, len(golden)+len(moreFrames))
	for _, g := range golden {
		frames = append(frames, g.line)
	}
	for _, f := range moreFrames {
		frames = append(frames, strings.TrimSuffix(sign(f, "4"), "\r"))
	}
	return frames
}

// BenchmarkFrames parses, verifies and re-encodes (signed) a signed frame
// of every message type: the reference's section 4 and moreFrames, the
// generic path for every request and response code of SIP2 2.00.
func BenchmarkFrames(b *testing.B) {
	for _, line := range benchFrames(b) {
		b.Run(line[:2], func(b *testing.B) {
			var m Message
			o := DecodeOptions{Checksum: ChecksumRequired}
			eo := EncodeOptions{Checksum: true}
			buf := make([]byte, 0, 512)
			b.SetBytes(int64(len(line)))
			b.ReportAllocs()
			for b.Loop() {
				if err := m.DecodeString(line, &o); err != nil {
					b.Fatal(err)
				}
				buf = m.AppendTo(buf[:0], &eo)
			}
		})
	}
}

// typedPairs gives, for every request code, a typed request to decode into
// and a realistic typed response to answer with.
func typedPairs(now time.Time) map[string]struct {
	req interface {
		Decode(*Message, *time.Location) error
	}
	resp Response
} {
	due := now.AddDate(0, 0, 14)
	title := "The Left Hand of Darkness"
	two := 2
	type pair = struct {
		req interface {
			Decode(*Message, *time.Location) error
		}
		resp Response
	}
	return map[string]pair{
		"93": {new(LoginRequest), &LoginResponse{OK: true}},
		"99": {new(SCStatus), &ACSStatus{Online: true, CheckinOK: true, CheckoutOK: true, RenewalPolicy: true,
			TimeoutPeriod: 5, RetriesAllowed: 3, InstitutionID: "MAIN", LibraryName: "Circa Public Library",
			SupportedMessages: "YYYYYYYYYYYYYYYY", TerminalLocation: "kiosk-3"}},
		"23": {new(PatronStatusRequest), &PatronStatusResponse{Language: "001", InstitutionID: "MAIN", PatronID: "2900001234",
			PersonalName: "Jane Q. Patron", ValidPatron: Yes, ValidPatronPassword: Yes, Currency: "USD", FeeAmount: "0.00"}},
		"01": {new(BlockPatronRequest), &PatronStatusResponse{Language: "001", InstitutionID: "MAIN", PatronID: "2900001234",
			PersonalName: "Jane Q. Patron", ValidPatron: Yes, ScreenMessage: []string{"Card blocked"}}},
		"63": {new(PatronInfoRequest), &PatronInfoResponse{Language: "001", ChargedItemsCount: 3, InstitutionID: "MAIN",
			PatronID: "2900001234", PersonalName: "Jane Q. Patron", ValidPatron: Yes, ValidPatronPassword: Yes,
			Currency: "USD", FeeAmount: "2.50", ChargedItems: []string{"3900005678", "3900005679", "3900005680"},
			Email: "jane@example.org", HomePhone: "555-0100"}},
		"11": {new(CheckoutRequest), &CheckoutResponse{OK: true, MagneticMedia: No, Desensitize: Yes, InstitutionID: "MAIN",
			PatronID: "2900001234", ItemID: "3900005678", TitleID: title, DueDate: due}},
		"29": {new(RenewRequest), &RenewResponse{OK: true, RenewalOK: true, MagneticMedia: No, Desensitize: Yes,
			InstitutionID: "MAIN", PatronID: "2900001234", ItemID: "3900005678", TitleID: title, DueDate: due}},
		"09": {new(CheckinRequest), &CheckinResponse{OK: true, Resensitize: true, MagneticMedia: No, InstitutionID: "MAIN",
			ItemID: "3900005678", PermanentLocation: "MAIN", TitleID: title, SortBin: "A1", PatronID: "2900001234"}},
		"65": {new(RenewAllRequest), &RenewAllResponse{OK: true, InstitutionID: "MAIN",
			Renewed: []string{"3900005678", "3900005679"}, Unrenewed: []string{"3900005680"}}},
		"17": {new(ItemInfoRequest), &ItemInfoResponse{CirculationStatus: CircCharged, SecurityMarker: "02", FeeType: "01",
			DueDate: due, ItemID: "3900005678", TitleID: title, Owner: "MAIN", MediaType: "001", PermanentLocation: "MAIN"}},
		"19": {new(ItemStatusUpdateRequest), &ItemStatusUpdateResponse{ItemPropertiesOK: true, ItemID: "3900005678",
			TitleID: title, ItemProperties: "security=on"}},
		"37": {new(FeePaidRequest), &FeePaidResponse{PaymentAccepted: true, InstitutionID: "MAIN", PatronID: "2900001234",
			TransactionID: "TX-0001"}},
		"15": {new(HoldRequest), &HoldResponse{OK: true, ExpirationDate: due, QueuePosition: &two, PickupLocation: "MAIN",
			InstitutionID: "MAIN", PatronID: "2900001234", ItemID: "3900005678", TitleID: title}},
		"25": {new(PatronEnableRequest), &PatronEnableResponse{Language: "001", InstitutionID: "MAIN", PatronID: "2900001234",
			PersonalName: "Jane Q. Patron", ValidPatron: Yes, ValidPatronPassword: Yes}},
		"35": {new(EndSessionRequest), &EndSessionResponse{EndSession: true, InstitutionID: "MAIN", PatronID: "2900001234",
			ScreenMessage: []string{"Thank you"}}},
	}
}

// BenchmarkTyped is the server's path for every request of SIP2 2.00:
// decode and verify a signed frame, decode the typed request, and encode a
// signed typed response dated in a zone of the library's.
func BenchmarkTyped(b *testing.B) {
	loc := time.FixedZone("LIB", 3600)
	now := time.Date(2026, 11, 27, 10, 15, 0, 0, loc)
	pairs := typedPairs(now)
	for _, line := range benchFrames(b) {
		p, ok := pairs[line[:2]]
		if !ok {
			continue
		}
		b.Run(line[:2], func(b *testing.B) {
			var m Message
			o := DecodeOptions{Checksum: ChecksumRequired}
			eo := EncodeOptions{Checksum: true, Location: loc, Now: now}
			buf := make([]byte, 0, 512)
			b.SetBytes(int64(len(line)))
			b.ReportAllocs()
			for b.Loop() {
				if err := m.DecodeString(line, &o); err != nil {
					b.Fatal(err)
				}
				if err := p.req.Decode(&m, loc); err != nil {
					b.Fatal(err)
				}
				buf = AppendResponse(buf[:0], p.resp, m.Seq, &eo)
			}
		})
	}
}
