package sip2

import (
	"context"
	"net"
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

// BenchmarkFrames parses, verifies and re-encodes (signed) each signed frame
// of the reference's section 4: the generic path for every message type.
func BenchmarkFrames(b *testing.B) {
	for _, g := range golden {
		b.Run(g.line[:2], func(b *testing.B) {
			var m Message
			o := DecodeOptions{Checksum: ChecksumRequired}
			eo := EncodeOptions{Checksum: true}
			buf := make([]byte, 0, 512)
			b.SetBytes(int64(len(g.line)))
			b.ReportAllocs()
			for b.Loop() {
				if err := m.DecodeString(g.line, &o); err != nil {
					b.Fatal(err)
				}
				buf = m.AppendTo(buf[:0], &eo)
			}
		})
	}
}
