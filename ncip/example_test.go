package ncip_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/circa-ils/circa/ncip"
)

// desk is a toy Service: every item is lent for two weeks, and only the
// partner with API key "s3cret" may ask.
type desk struct{}

func (desk) Authorize(_ context.Context, c *ncip.Call) error {
	if c.APIKey != "s3cret" {
		return ncip.NewProblem(c.Service, ncip.AgencyAuthenticationFailed, "unknown partner")
	}
	c.Partner = "demo-partner"
	return nil
}

func (desk) LookupUser(_ context.Context, _ *ncip.Call, r *ncip.LookupUser) (*ncip.LookupUserResponse, error) {
	return nil, ncip.NewProblem("LookupUser", ncip.UnknownUser, "no such user").At("UserId", r.UserIdentifier())
}

func (desk) CheckOutItem(_ context.Context, _ *ncip.Call, r *ncip.CheckOutItem) (*ncip.CheckOutItemResponse, error) {
	due := time.Date(2026, 12, 11, 23, 59, 0, 0, time.UTC)
	return &ncip.CheckOutItemResponse{ItemID: r.ItemID, UserID: ncip.Identifier{Value: r.UserIdentifier()}, DateDue: due}, nil
}

func (desk) CheckInItem(_ context.Context, _ *ncip.Call, r *ncip.CheckInItem) (*ncip.CheckInItemResponse, error) {
	return &ncip.CheckInItemResponse{ItemID: r.ItemID}, nil
}

func (desk) RenewItem(_ context.Context, _ *ncip.Call, r *ncip.RenewItem) (*ncip.RenewItemResponse, error) {
	return &ncip.RenewItemResponse{Problems: []ncip.Problem{*ncip.NewProblem("RenewItem", ncip.ItemNotRenewable, "")}}, nil
}

func Example() {
	h := ncip.NewHandler(desk{}, ncip.HandlerOptions{})
	srv := httptest.NewServer(h)
	defer srv.Close()

	c := &ncip.Client{URL: srv.URL + "/ncip", APIKey: "s3cret", HTTP: srv.Client()}
	req, _ := ncip.BuildRequest("CheckOutItem", []string{"from=ILL", "to=MAIN", "user=P1", "item=31000000012345"})
	res, err := c.Do(context.Background(), req)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Status, res.Response.Service, res.Response.DateDue.Format(time.DateOnly), res.Response.Header.ToAgencyID.Value)

	c.APIKey = "wrong"
	res, _ = c.Do(context.Background(), req)
	fmt.Println(res.Status, res.Problem.Type.Value)
	// Output:
	// 200 CheckOutItem 2026-12-11 ILL
	// 200 Agency Authentication Failed
}
