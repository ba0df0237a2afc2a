package sip2_test

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/circa-ils/circa/sip2"
)

// kiosk is the smallest useful Session: it accepts one login and checks
// items out for two weeks. Real sessions call the circulation service.
type kiosk struct{ loggedIn bool }

func (k *kiosk) Login(_ context.Context, r *sip2.LoginRequest) (*sip2.LoginResponse, error) {
	k.loggedIn = r.UserID == "kiosk1" && r.Password == "pw"
	return &sip2.LoginResponse{OK: k.loggedIn, Account: r.UserID}, nil
}

func (k *kiosk) Status(context.Context, *sip2.SCStatus) (*sip2.ACSStatus, error) {
	return &sip2.ACSStatus{Online: k.loggedIn, CheckoutOK: true, TimeoutPeriod: 50, RetriesAllowed: 3, InstitutionID: "MAIN"}, nil
}

func (k *kiosk) Checkout(_ context.Context, r *sip2.CheckoutRequest) (*sip2.CheckoutResponse, error) {
	resp := &sip2.CheckoutResponse{InstitutionID: r.InstitutionID, PatronID: r.PatronID, ItemID: r.ItemID}
	if !k.loggedIn {
		resp.ScreenMessage = []string{"Please log in first"}
		return resp, nil
	}
	resp.OK, resp.TitleID = true, "Ficciones"
	resp.DueDate = r.TransactionDate.AddDate(0, 0, 14)
	return resp, nil
}

func (k *kiosk) PatronStatus(context.Context, *sip2.PatronStatusRequest) (*sip2.PatronStatusResponse, error) {
	return &sip2.PatronStatusResponse{ValidPatron: sip2.No}, nil
}
func (k *kiosk) PatronInformation(context.Context, *sip2.PatronInfoRequest) (*sip2.PatronInfoResponse, error) {
	return &sip2.PatronInfoResponse{ValidPatron: sip2.No}, nil
}
func (k *kiosk) Checkin(context.Context, *sip2.CheckinRequest) (*sip2.CheckinResponse, error) {
	return &sip2.CheckinResponse{}, nil
}
func (k *kiosk) Renew(context.Context, *sip2.RenewRequest) (*sip2.RenewResponse, error) {
	return &sip2.RenewResponse{}, nil
}
func (k *kiosk) FeePaid(context.Context, *sip2.FeePaidRequest) (*sip2.FeePaidResponse, error) {
	return &sip2.FeePaidResponse{}, nil
}
func (k *kiosk) ItemInformation(context.Context, *sip2.ItemInfoRequest) (*sip2.ItemInfoResponse, error) {
	return &sip2.ItemInfoResponse{}, nil
}
func (k *kiosk) EndPatronSession(context.Context, *sip2.EndSessionRequest) (*sip2.EndSessionResponse, error) {
	return &sip2.EndSessionResponse{EndSession: true}, nil
}
func (k *kiosk) Close() error { return nil }

func Example() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	srv := sip2.NewServer(&sip2.Options{
		Handler: sip2.HandlerFunc(func(context.Context, sip2.ConnInfo) (sip2.Session, error) {
			return &kiosk{}, nil
		}),
		Location: time.UTC,
	})
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()

	ctx := context.Background()
	c, err := sip2.Dial(ctx, "tcp", ln.Addr().String(), sip2.ClientOptions{})
	if err != nil {
		panic(err)
	}
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	for _, req := range [][]string{
		{"93", "CN=kiosk1", "CO=pw"},
		{"11", "AO=MAIN", "AA=P1", "AB=I1", "AC="},
	} {
		m, err := sip2.ParseFieldSpec(req[0], req[1:], now)
		if err != nil {
			panic(err)
		}
		reply, err := c.Send(ctx, m)
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s ok=%s title=%q due=%q\n", reply.Code, reply.Fixed[:1], reply.Value("AJ"), reply.Value("AH"))
	}
	c.Close()
	srv.Shutdown(ctx)
	fmt.Println(<-done)
	// Output:
	// 94 ok=1 title="" due=""
	// 12 ok=1 title="Ficciones" due="20261211   Z100000"
	// <nil>
}
