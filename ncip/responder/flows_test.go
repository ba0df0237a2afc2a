package responder

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/fixtures"
	"github.com/circa-ils/circa/ncip"
	"github.com/circa-ils/circa/store"
)

var atDesk = circ.Agent{Protocol: "test", Account: "desk", Library: fixtures.LibraryMain}

// TestBorrowingFlow: our patron borrows an item from another library.
func TestBorrowingFlow(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	ok(t, "verify patron", e.ill("LookupUser", "barcode="+fixtures.PatronGood, "pin="+fixtures.DemoPIN, "elements=User Privilege,Block Or Trap"))

	accept := []string{"request=ILL-100", "item=ILL-100-1", "user=" + fixtures.PatronGood, "title=Borrowed from afar", "author=Far, A.",
		"due=2026-04-30T00:00:00Z"}
	a := e.ill("AcceptItem", accept...)
	ok(t, "accept", a)
	if a.Response.RequestID == nil || a.Response.RequestID.Value != "ILL-100" || a.Response.ItemID.Value != "ILL-100-1" {
		t.Fatalf("accept:\n%s", a.Body)
	}
	e.unchanged("a repeated AcceptItem", func() {
		again := e.ill("AcceptItem", accept...)
		ok(t, "accept again", again)
		if !bytes.Equal(bodyAfterHeader(again.Body), bodyAfterHeader(a.Body)) {
			t.Fatalf("retry answered differently:\n%s\n%s", a.Body, again.Body)
		}
		ok(t, "same item, other request id", e.ill("AcceptItem", "request=ILL-100-bis", "item=ILL-100-1", "user="+fixtures.PatronGood))
	})
	problem(t, "request id reused for another item", e.ill("AcceptItem", "request=ILL-100", "item=ILL-100-2", "user="+fixtures.PatronGood),
		ncip.CannotAcceptItem)

	lu := e.ill("LookupUser", "user="+fixtures.PatronGood, "requests=1")
	if ok(t, "requested items", lu); !bytes.Contains(lu.Body, []byte("ILL-100-1")) || !bytes.Contains(lu.Body, []byte("Available For Pickup")) {
		t.Fatalf("the temporary item's hold is not listed:\n%s", lu.Body)
	}

	// The patron picks it up at the desk.
	co, err := e.svc.Checkout(ctx, circ.CheckoutRequest{Agent: atDesk, Patron: fixtures.PatronGood, Item: "ILL-100-1"})
	if err != nil {
		t.Fatal(err)
	}
	problem(t, "delete while on loan", e.ill("DeleteItem", "item=ILL-100-1"), ncip.ElementRuleViolated)
	loans := e.ill("LookupUser", "user="+fixtures.PatronGood, "loans=1")
	if ok(t, "loaned items", loans); !bytes.Contains(loans.Body, []byte("ILL-100-1")) {
		t.Fatalf("loan not listed:\n%s", loans.Body)
	}
	// The lender recalls it.
	rc := e.ill("RecallItem", "item=ILL-100-1")
	if ok(t, "recall", rc); !rc.Response.DateDue.Before(co.Due) {
		t.Fatalf("recall did not shorten %v: %v", co.Due, rc.Response.DateDue)
	}

	// The patron returns it at the desk, and the partner checks it in as
	// it goes back.
	e.advance(48 * time.Hour)
	if _, err := e.svc.Checkin(ctx, circ.CheckinRequest{Agent: atDesk, Item: "ILL-100-1"}); err != nil {
		t.Fatal(err)
	}
	ok(t, "partner checkin", e.ill("CheckInItem", "item=ILL-100-1"))
	e.unchanged("a repeated CheckInItem", func() { ok(t, "checkin again", e.ill("CheckInItem", "item=ILL-100-1")) })
	sum, _ := e.svc.ItemInfo(ctx, "ILL-100-1")
	if sum.Item.Status != store.ItemInTransit || sum.Destination != fixtures.PartnerCode {
		t.Fatalf("after checkin: %+v", sum)
	}
	ok(t, "delete", e.ill("DeleteItem", "item=ILL-100-1"))
	e.unchanged("a repeated DeleteItem", func() { ok(t, "delete again", e.ill("DeleteItem", "item=ILL-100-1")) })
	if _, err := e.svc.ItemInfo(ctx, "ILL-100-1"); err == nil {
		t.Fatal("the temporary item is still there")
	}
}

// TestLendingFlow: another library borrows one of our items.
func TestLendingFlow(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	r := e.ill("RequestItem", "item="+fixtures.ItemAvailable, "request=LEND-7", "request-type=Page")
	ok(t, "request", r)
	e.unchanged("a repeated RequestItem", func() {
		again := e.ill("RequestItem", "item="+fixtures.ItemAvailable, "request=LEND-7", "request-type=Page")
		if ok(t, "request again", again); !bytes.Equal(bodyAfterHeader(again.Body), bodyAfterHeader(r.Body)) {
			t.Fatalf("retry answered differently:\n%s\n%s", r.Body, again.Body)
		}
	})
	info, err := e.svc.LookupRequest(ctx, circ.RequestQuery{Partner: fixtures.PartnerCode, ExternalID: "LEND-7"})
	if err != nil || info.Kind != store.RequestResourceSharing || info.Patron != fixtures.PatronILL {
		t.Fatalf("request %+v %v", info, err)
	}
	co := e.ill("CheckOutItem", "item="+fixtures.ItemAvailable, "request=LEND-7")
	m := ok(t, "checkout", co)
	if m.DateDue.IsZero() || m.ItemID.Value != fixtures.ItemAvailable {
		t.Fatalf("checkout:\n%s", co.Body)
	}
	e.unchanged("a repeated CheckOutItem", func() {
		for _, f := range [][]string{{"item=" + fixtures.ItemAvailable, "request=LEND-7"}, {"item=" + fixtures.ItemAvailable}} {
			again := e.ill("CheckOutItem", f...)
			if ok(t, "checkout again", again); !again.Response.DateDue.Equal(m.DateDue) {
				t.Fatalf("retry due %v, first %v", again.Response.DateDue, m.DateDue)
			}
		}
	})
	info, _ = e.svc.LookupRequest(ctx, circ.RequestQuery{Partner: fixtures.PartnerCode, ExternalID: "LEND-7"})
	if info.Status != store.RequestFulfilled {
		t.Fatalf("request after checkout: %+v", info)
	}
	ok(t, "renew", e.ill("RenewItem", "item="+fixtures.ItemAvailable))
	e.advance(10 * 24 * time.Hour)
	ok(t, "checkin", e.ill("CheckInItem", "item="+fixtures.ItemAvailable))
	e.unchanged("a repeated CheckInItem", func() { ok(t, "checkin again", e.ill("CheckInItem", "item="+fixtures.ItemAvailable)) })
	sum, _ := e.svc.ItemInfo(ctx, fixtures.ItemAvailable)
	if sum.Item.Status != store.ItemAvailable || sum.Borrower != nil {
		t.Fatalf("after checkin: %+v", sum)
	}
}

// TestRemoteStorageRoundTrip: request → retrieve → checkout → return → refile.
func TestRemoteStorageRoundTrip(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	hold := e.ill("RequestItem", "user="+fixtures.PatronGood, "item="+fixtures.ItemAnnex, "pickup=MAIN", "request=RS-1")
	ok(t, "hold on an annex item", hold)
	report, err := e.svc.StorageReport(ctx, circ.StorageReportOptions{Facility: fixtures.StorageCode, Days: 3})
	if err != nil || len(report) != 0 {
		t.Fatalf("report before: %+v %v", report, err)
	}
	e.advance(4 * 24 * time.Hour)
	report, _ = e.svc.StorageReport(ctx, circ.StorageReportOptions{Facility: fixtures.StorageCode, Days: 3})
	if len(report) != 1 || report[0].Kind != circ.MismatchNotRetrieved || report[0].Item != fixtures.ItemAnnex {
		t.Fatalf("stale retrieval not reported: %+v", report)
	}

	ret := e.annex("CheckOutItem", "item="+fixtures.ItemAnnex)
	ok(t, "retrieved", ret)
	e.unchanged("a repeated retrieval", func() { ok(t, "retrieved again", e.annex("CheckOutItem", "item="+fixtures.ItemAnnex)) })
	ci, err := e.svc.Checkin(ctx, circ.CheckinRequest{Agent: atDesk, Item: fixtures.ItemAnnex})
	if ci.Alert != circ.AlertHoldHere {
		t.Fatalf("arrival: %+v %v", ci, err)
	}
	if _, err := e.svc.Checkout(ctx, circ.CheckoutRequest{Agent: atDesk, Patron: fixtures.PatronGood, Item: fixtures.ItemAnnex}); err != nil {
		t.Fatal(err)
	}
	e.advance(24 * time.Hour)
	if _, err := e.svc.Checkin(ctx, circ.CheckinRequest{Agent: atDesk, Item: fixtures.ItemAnnex}); err != nil {
		t.Fatal(err)
	}
	ok(t, "refiled", e.annex("CheckInItem", "item="+fixtures.ItemAnnex))
	hist, err := e.svc.StorageHistory(ctx, fixtures.ItemAnnex)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, h := range hist {
		got = append(got, h.State)
	}
	want := []string{circ.StorageAccessioned, circ.StorageRequested, circ.StorageRetrieved, circ.StorageRefiled}
	if len(got) != len(want) {
		t.Fatalf("history %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("history %v, want %v", got, want)
		}
	}
	report, _ = e.svc.StorageReport(ctx, circ.StorageReportOptions{Facility: fixtures.StorageCode, Days: 3})
	if len(report) != 0 {
		t.Fatalf("report after the round trip: %+v", report)
	}
}
