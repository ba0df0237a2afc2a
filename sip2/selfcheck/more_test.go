package selfcheck

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/circa-ils/circa/fixtures"
	"github.com/circa-ils/circa/sip2"
	"github.com/circa-ils/circa/store"
)

// TestRentalFee: a checkout of an item with a rental fee needs the
// patron's acknowledgement (BO=Y); the fee is reported in BT, BH and BV.
func TestRentalFee(t *testing.T) {
	e := newEnv(t).start()
	rules := e.svc.Rules()
	rules.RentalFees = []store.RentalFee{{ItemPolicy: "VIDEO", Amount: 150}}
	if err := e.svc.SetRules(context.Background(), rules); err != nil {
		t.Fatal(err)
	}
	k := e.dial()
	k.login(fixtures.KioskLogin, fixtures.KioskPassword)
	head := e.head()
	r := decode(t, k.send("11YN"+D+B+"AOMAIN|AA21000000000001|AB31000000000004|AC|AD1234|"))
	if r.Fixed[0] != '0' || r.Value("BV") != "1.50" || r.Value("BH") != "USD" || r.Value("BT") == "" ||
		r.Value("AF") != "This item has a rental fee of 1.50 USD; please confirm to borrow it" {
		t.Errorf("without acknowledgement: %q %v", r.Fixed, r.Fields)
	}
	if h := e.head(); h != head {
		t.Errorf("a refused checkout changed the store: %d → %d", head, h)
	}
	r = decode(t, k.send("11YN"+D+B+"AOMAIN|AA21000000000001|AB31000000000004|AC|AD1234|BOY|"))
	if r.Fixed[0] != '1' || r.Value("BV") != "1.50" || !strings.Contains(strings.Join(r.Values("AF"), "\n"), "A rental fee of 1.50 USD was charged") {
		t.Errorf("with acknowledgement: %q %v", r.Fixed, r.Fields)
	}
	r = decode(t, k.send("17"+D+"AOMAIN|AB31000000000004|AC|"))
	if r.Fixed[4:6] != "06" || r.Value("BV") != "1.50" {
		t.Errorf("18 fee type and amount: %q %v", r.Fixed, r.Fields)
	}
}

// FuzzRequest sends arbitrary frames to a logged-in session, decoded as the
// server would, and checks every answer encodes to a well-formed reply.
func FuzzRequest(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.txt"))
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(line, "> ") {
				f.Add(sign(line[2:]))
			}
		}
	}
	e := newEnv(f).start()
	h, err := NewHandler(Options{Service: e.svc, Profiles: e.reg})
	if err != nil {
		f.Fatal(err)
	}
	// One logged-in session serves every input: verifying the account's
	// password hash per input would dominate the run.
	sess, _ := h.NewSession(context.Background(), sip2.ConnInfo{ID: 1})
	s := sess.(*Session)
	lm, _ := sip2.Decode([]byte("9300CNkiosk1|COkiosk1pass|"), sip2.DecodeOptions{})
	var lr sip2.LoginRequest
	lr.Decode(lm, nil)
	if resp, err := s.Login(context.Background(), &lr); err != nil || !resp.OK {
		f.Fatalf("login: %v %v", resp, err)
	}
	f.Fuzz(func(t *testing.T, frame string) {
		m, err := sip2.Decode([]byte(frame), sip2.DecodeOptions{Checksum: sip2.ChecksumOff})
		if err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resp, err := call(ctx, s, m)
		if err != nil {
			t.Fatalf("%q: %v", frame, err)
		}
		if resp == nil {
			return // not a request a kiosk sends
		}
		out := sip2.AppendResponse(nil, resp, m.Seq, &sip2.EncodeOptions{Checksum: true, Now: now})
		back, err := sip2.Decode(out, sip2.DecodeOptions{Checksum: sip2.ChecksumRequired})
		if err != nil || back.Code != resp.ResponseCode() {
			t.Fatalf("%q: reply %q does not decode: %v", frame, out, err)
		}
	})
}

// call dispatches a decoded request to the session like the server does.
func call(ctx context.Context, s *Session, m *sip2.Message) (sip2.Response, error) {
	var resp sip2.Response
	var err error
	switch m.Code {
	case "99":
		var r sip2.SCStatus
		r.Decode(m, newYork)
		resp, err = s.Status(ctx, &r)
	case "23":
		var r sip2.PatronStatusRequest
		r.Decode(m, newYork)
		resp, err = s.PatronStatus(ctx, &r)
	case "63":
		var r sip2.PatronInfoRequest
		r.Decode(m, newYork)
		resp, err = s.PatronInformation(ctx, &r)
	case "11":
		var r sip2.CheckoutRequest
		r.Decode(m, newYork)
		resp, err = s.Checkout(ctx, &r)
	case "09":
		var r sip2.CheckinRequest
		r.Decode(m, newYork)
		resp, err = s.Checkin(ctx, &r)
	case "29":
		var r sip2.RenewRequest
		r.Decode(m, newYork)
		resp, err = s.Renew(ctx, &r)
	case "65":
		var r sip2.RenewAllRequest
		r.Decode(m, newYork)
		resp, err = s.RenewAll(ctx, &r)
	case "37":
		var r sip2.FeePaidRequest
		r.Decode(m, newYork)
		resp, err = s.FeePaid(ctx, &r)
	case "17":
		var r sip2.ItemInfoRequest
		r.Decode(m, newYork)
		resp, err = s.ItemInformation(ctx, &r)
	case "19":
		var r sip2.ItemStatusUpdateRequest
		r.Decode(m, newYork)
		resp, err = s.ItemStatusUpdate(ctx, &r)
	case "15":
		var r sip2.HoldRequest
		r.Decode(m, newYork)
		resp, err = s.Hold(ctx, &r)
	case "01":
		var r sip2.BlockPatronRequest
		r.Decode(m, newYork)
		resp, err = s.BlockPatron(ctx, &r)
	case "25":
		var r sip2.PatronEnableRequest
		r.Decode(m, newYork)
		resp, err = s.PatronEnable(ctx, &r)
	case "35":
		var r sip2.EndSessionRequest
		r.Decode(m, newYork)
		resp, err = s.EndPatronSession(ctx, &r)
	default:
		return nil, nil
	}
	return resp, err
}

// TestOfflineWhenStoreUnavailable: with the store closed, 98 says off-line
// so the kiosk switches to its offline mode.
func TestOfflineWhenStoreUnavailable(t *testing.T) {
	e := newEnv(t).start()
	k := e.dial()
	k.login(fixtures.KioskLogin, fixtures.KioskPassword)
	if got := k.send("9900402.00"); !strings.HasPrefix(got, "98Y") {
		t.Fatalf("on-line: %q", got)
	}
	if err := e.db.Close(); err != nil {
		t.Fatal(err)
	}
	if got := k.send("9900402.00"); !strings.HasPrefix(got, "98N") {
		t.Errorf("store closed: %q", got)
	}
}
