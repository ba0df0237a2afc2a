package circ

import (
	"testing"
	"time"

	"github.com/circa-ils/circa/store"
)

var atPartner = Agent{Protocol: "ncip", Account: "ILL", Library: "MAIN"}

func TestAcceptItemBorrowingCycle(t *testing.T) {
	l := newLib(t)
	l.patron("P1", "GRAD")
	req := AcceptItemRequest{Agent: atPartner, Partner: "ILL", RequestID: "REQ-1", Item: "ILL-0001", Patron: "P1",
		Title: "Borrowed title", Author: "Lender, A.", DateForReturn: start.AddDate(0, 1, 0), Retry: Retry{Key: "k-accept-1", Window: time.Minute}}
	res, err := l.svc.AcceptItem(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Item.Status != store.ItemOnHoldShelf || res.Pickup != "MAIN" || res.Patron.Barcode != "P1" || res.Item.Title != "Borrowed title" {
		t.Fatalf("accept: %+v", res)
	}
	head := l.journalHead()
	// Its own retry (same key), a repeat without the key, and the same item
	// under another request id all answer the first result.
	for _, r := range []AcceptItemRequest{req, {Agent: atPartner, Partner: "ILL", RequestID: "REQ-1", Item: "ILL-0001", Patron: "P1"},
		{Agent: atPartner, Partner: "ILL", RequestID: "REQ-1b", Item: "ILL-0001", Patron: "P1"}} {
		again, err := l.svc.AcceptItem(ctx, r)
		if err != nil || again.Request != res.Request || again.Item.ID != res.Item.ID {
			t.Fatalf("repeat %+v: %+v, %v", r, again, err)
		}
	}
	if l.journalHead() != head {
		t.Fatal("a repeat changed the store")
	}
	// Another partner with the same barcode, and the same request id for another item: refused.
	_, err = l.svc.AcceptItem(ctx, AcceptItemRequest{Agent: atPartner, Partner: "OTHER", RequestID: "X", Item: "ILL-0001", Patron: "P1"})
	wantCode(t, err, DuplicateRequest)
	_, err = l.svc.AcceptItem(ctx, AcceptItemRequest{Agent: atPartner, Partner: "ILL", RequestID: "REQ-1", Item: "ILL-0002", Patron: "P1"})
	wantCode(t, err, DuplicateRequest)
	_, err = l.svc.AcceptItem(ctx, AcceptItemRequest{Agent: atPartner, Partner: "ILL", RequestID: "REQ-2", Item: "ILL-0002", Patron: "NOBODY"})
	wantCode(t, err, PatronUnknown)
	_, err = l.svc.AcceptItem(ctx, AcceptItemRequest{Agent: atPartner, Partner: "ILL", Item: "ILL-0003", Patron: "P1"})
	wantCode(t, err, InvalidRequest)
	_, err = l.svc.AcceptItem(ctx, AcceptItemRequest{Agent: atPartner, Partner: "ILL", RequestID: "REQ-4", Patron: "P1", Pickup: "NOWHERE"})
	wantCode(t, err, LocationUnknown)

	// The patron borrows it; it cannot be deleted while on loan.
	co, err := l.checkout("P1", "ILL-0001")
	if err != nil {
		t.Fatal(err)
	}
	if co.Due.IsZero() {
		t.Fatal("no due date")
	}
	_, err = l.svc.DeleteTemporaryItem(ctx, DeleteItemRequest{Agent: atPartner, Partner: "ILL", Item: "ILL-0001"})
	wantCode(t, err, ItemHasLoan)

	// Recall shortens the loan to now + RecallGrace and blocks renewals.
	rc, err := l.svc.Recall(ctx, RecallRequest{Agent: atPartner, Item: "ILL-0001"})
	if err != nil || !rc.Due.Equal(start.Add(RecallGrace)) {
		t.Fatalf("recall: %+v %v", rc, err)
	}
	_, err = l.svc.Renew(ctx, RenewRequest{Agent: atMain, Patron: "P1", Item: "ILL-0001"})
	wantCode(t, err, RenewalOnHold)
	later, err := l.svc.Recall(ctx, RecallRequest{Agent: atPartner, Item: "ILL-0001", Due: start.AddDate(0, 2, 0)})
	if err != nil || !later.Due.Equal(rc.Due) {
		t.Fatalf("a later recall date lengthened the loan: %+v %v", later, err)
	}

	// The partner's CheckInItem ends the loan and sends the item back.
	ci, err := l.svc.PartnerCheckin(ctx, PartnerCheckinRequest{Agent: atPartner, Partner: "ILL", Item: "ILL-0001"})
	if err != nil || !ci.WasOnLoan || ci.Item.Status != store.ItemInTransit || ci.Destination != "ILL" {
		t.Fatalf("checkin: %+v %v", ci, err)
	}
	if _, err := l.svc.PartnerCheckin(ctx, PartnerCheckinRequest{Agent: atPartner, Partner: "ILL", Item: "ILL-0001"}); err != nil {
		t.Fatalf("repeated checkin: %v", err)
	}
	_, err = l.svc.PartnerCheckin(ctx, PartnerCheckinRequest{Agent: atPartner, Partner: "OTHER", Item: "ILL-0001"})
	wantCode(t, err, ItemUnknown)

	del, err := l.svc.DeleteTemporaryItem(ctx, DeleteItemRequest{Agent: atPartner, Partner: "ILL", Item: "ILL-0001"})
	if err != nil || del.Item.Barcode != "ILL-0001" {
		t.Fatalf("delete: %+v %v", del, err)
	}
	if _, err := l.svc.DeleteTemporaryItem(ctx, DeleteItemRequest{Agent: atPartner, Partner: "ILL", Item: "ILL-0001"}); err != nil {
		t.Fatalf("repeated delete: %v", err)
	}
	_, err = l.svc.DeleteTemporaryItem(ctx, DeleteItemRequest{Agent: atPartner, Partner: "OTHER", Item: "ILL-0001"})
	wantCode(t, err, ItemUnknown)
	err = l.db.View(ctx, func(tx store.Tx) error {
		b, err := tx.Bib(res.Item.BibID)
		if err != nil {
			return err
		}
		if !b.Deleted || !b.Temporary {
			t.Errorf("temporary bib not retired: %+v", b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	info, err := l.svc.LookupRequest(ctx, RequestQuery{Partner: "ILL", ExternalID: "REQ-1"})
	if err != nil || info.Status != store.RequestFulfilled || info.Patron != "P1" {
		t.Fatalf("lookup request: %+v %v", info, err)
	}
}

func TestDeletePermanentItemRefused(t *testing.T) {
	l := newLib(t)
	l.item("B1", "BOOK", "MAIN", "STACKS")
	_, err := l.svc.DeleteTemporaryItem(ctx, DeleteItemRequest{Agent: atPartner, Partner: "ILL", Item: "B1"})
	wantCode(t, err, InvalidRequest)
	_, err = l.svc.DeleteTemporaryItem(ctx, DeleteItemRequest{Agent: atPartner, Partner: "ILL", Item: "NOPE"})
	wantCode(t, err, ItemUnknown)
	_, err = l.svc.Recall(ctx, RecallRequest{Agent: atPartner, Item: "B1"})
	wantCode(t, err, ItemNotOnLoan)
}

func TestLendingCycle(t *testing.T) {
	l := newLib(t)
	l.patron("LENDER", "ILL", func(p *store.Patron) { p.Institution = true; p.PINHash = "" })
	l.patron("P2", "GRAD")
	it := l.item("B1", "BOOK", "MAIN", "STACKS")
	hold, err := l.svc.PlaceHold(ctx, HoldRequest{Agent: atPartner, Patron: "LENDER", Item: "B1", Kind: store.RequestResourceSharing,
		Partner: "ILL", ExternalID: "L-1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.svc.Checkout(ctx, CheckoutRequest{Agent: atPartner, Patron: "LENDER", Item: "B1"}); err != nil {
		t.Fatal(err)
	}
	info, err := l.svc.LookupRequest(ctx, RequestQuery{ID: hold.Request})
	if err != nil || info.Status != store.RequestFulfilled || info.Kind != store.RequestResourceSharing {
		t.Fatalf("request after checkout: %+v %v", info, err)
	}
	// Someone waits for the item: the partner's return traps it.
	if _, err := l.svc.PlaceHold(ctx, HoldRequest{Agent: atMain, Patron: "P2", Item: "B1"}); err != nil {
		t.Fatal(err)
	}
	l.advance(30 * 24 * time.Hour)
	ci, err := l.svc.PartnerCheckin(ctx, PartnerCheckinRequest{Agent: atPartner, Partner: "ILL", Item: "B1"})
	if err != nil || !ci.WasOnLoan || ci.Alert != AlertHoldHere || ci.Waiting == nil || ci.Waiting.Barcode != "P2" {
		t.Fatalf("checkin: %+v %v", ci, err)
	}
	head := l.journalHead()
	if _, err := l.svc.PartnerCheckin(ctx, PartnerCheckinRequest{Agent: atPartner, Partner: "ILL", Item: "B1"}); err != nil {
		t.Fatalf("repeat: %v", err)
	}
	if l.journalHead() != head {
		t.Fatal("a repeated checkin changed the store")
	}
	_, err = l.svc.PartnerCheckin(ctx, PartnerCheckinRequest{Agent: atPartner, Partner: "OTHER", Item: "B1"})
	wantCode(t, err, ItemNotOnLoan)
	_, err = l.svc.PartnerCheckin(ctx, PartnerCheckinRequest{Agent: atPartner, Partner: "ILL", Item: "NOPE"})
	wantCode(t, err, ItemUnknown)
	reqs, err := l.svc.PatronRequests(ctx, "P2")
	if err != nil || len(reqs) != 1 || reqs[0].Item != it.Barcode || reqs[0].Status != store.RequestOnShelf {
		t.Fatalf("patron requests: %+v %v", reqs, err)
	}
	if _, err := l.svc.PatronRequests(ctx, "NOBODY"); err == nil {
		t.Fatal("requests of an unknown patron")
	}
	got, err := l.svc.LookupRequest(ctx, RequestQuery{Patron: "P2", Item: "B1"})
	if err != nil || got.ID != reqs[0].ID || got.Position != 1 {
		t.Fatalf("lookup by patron and item: %+v %v", got, err)
	}
	_, err = l.svc.LookupRequest(ctx, RequestQuery{Partner: "ILL", ExternalID: "nope"})
	wantCode(t, err, HoldNotFound)
	_, err = l.svc.LookupRequest(ctx, RequestQuery{})
	wantCode(t, err, InvalidRequest)
}

func TestFindBib(t *testing.T) {
	l := newLib(t)
	it := l.item("B1", "BOOK", "MAIN", "STACKS")
	err := l.db.Update(ctx, func(tx store.Tx) error {
		b, err := tx.Bib(it.BibID)
		if err != nil {
			return err
		}
		b.ControlNumber = "cir000000001"
		return tx.PutBib(&b, start)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"cir000000001", " cir000000001 ", RequestKey(it.BibID)} {
		if got, err := l.svc.FindBib(ctx, id); err != nil || got != it.BibID {
			t.Fatalf("FindBib(%q) = %d, %v", id, got, err)
		}
	}
	_, err = l.svc.FindBib(ctx, "nope")
	wantCode(t, err, ItemUnknown)
}

// TestAcceptItemBlockedPatron: a patron who may not borrow is refused the
// temporary item unless the request allows it; the refusal changes nothing.
func TestAcceptItemBlockedPatron(t *testing.T) {
	l := newLib(t)
	l.patron("BLOCKED", "GRAD", func(p *store.Patron) { p.Blocks = []store.Block{{Type: "manual"}} })
	head := l.journalHead()
	_, err := l.svc.AcceptItem(ctx, AcceptItemRequest{Agent: atPartner, Partner: "ILL", RequestID: "R-B", Item: "ILL-B", Patron: "BLOCKED"})
	wantCode(t, err, PatronBlocked)
	if l.journalHead() != head {
		t.Fatal("a refused AcceptItem changed the store")
	}
	if _, err := l.svc.ItemIsTemporary(ctx, "ILL-B"); err == nil {
		t.Fatal("the item was created")
	}
	res, err := l.svc.AcceptItem(ctx, AcceptItemRequest{Agent: atPartner, Partner: "ILL", RequestID: "R-B", Item: "ILL-B", Patron: "BLOCKED", AllowBlocked: true})
	if err != nil || res.Patron.Barcode != "BLOCKED" || res.Item.Status != store.ItemOnHoldShelf {
		t.Fatalf("allowed: %+v, %v", res, err)
	}
}

// TestPartnerAccount: a partner's loan is on the patron of ours it names,
// else on its lending patron; only the partner's loans are its to return.
func TestPartnerAccount(t *testing.T) {
	l := newLib(t)
	l.patron("LENDER", "ILL", func(p *store.Patron) { p.Institution = true; p.PINHash = "" })
	l.patron("P1", "GRAD")
	l.item("B1", "BOOK", "MAIN", "STACKS")
	for user, want := range map[string]PartnerAccount{
		"P1": {Patron: "P1", Local: true}, " p1 ": {Patron: "P1", Local: true},
		"THEIRS-1": {Patron: "LENDER"}, "": {Patron: "LENDER"}, "LENDER": {Patron: "LENDER"}, "lender": {Patron: "LENDER"},
	} {
		if got, err := l.svc.PartnerAccountOf(ctx, "LENDER", user); err != nil || got != want {
			t.Errorf("PartnerAccountOf(%q) = %+v, %v; want %+v", user, got, err, want)
		}
	}
	if got, err := l.svc.PartnerAccountOf(ctx, "", "P1"); err != nil || got != (PartnerAccount{Patron: "P1", Local: true}) {
		t.Errorf("without a lending patron, our patron: %+v, %v", got, err)
	}
	_, err := l.svc.PartnerAccountOf(ctx, "", "THEIRS-1")
	wantCode(t, err, PatronUnknown)

	// A loan made at the desk is not the partner's to return; one the
	// partner made for our patron, or one on its lending patron, is.
	in := PartnerCheckinRequest{Agent: atPartner, Partner: "ILL", LendingPatron: "LENDER", Item: "B1"}
	for _, c := range []struct {
		agent  Agent
		patron string
		ours   bool
	}{{atMain, "P1", false}, {atPartner, "P1", true}, {atMain, "LENDER", true}} {
		if _, err := l.svc.Checkout(ctx, CheckoutRequest{Agent: c.agent, Patron: c.patron, Item: "B1"}); err != nil {
			t.Fatal(err)
		}
		head := l.journalHead()
		ci, err := l.svc.PartnerCheckin(ctx, in)
		if !c.ours {
			wantCode(t, err, ItemNotOnLoan)
			if l.journalHead() != head {
				t.Fatal("a refused checkin changed the store")
			}
			if _, err := l.svc.Checkin(ctx, CheckinRequest{Agent: atMain, Item: "B1"}); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err != nil || !ci.WasOnLoan || ci.Patron == nil || ci.Patron.Barcode != c.patron {
			t.Fatalf("%+v: checkin %+v, %v", c, ci, err)
		}
	}
}

func TestItemIsTemporary(t *testing.T) {
	l := newLib(t)
	l.patron("P1", "GRAD")
	l.item("B1", "BOOK", "MAIN", "STACKS")
	if _, err := l.svc.AcceptItem(ctx, AcceptItemRequest{Agent: atPartner, Partner: "ILL", RequestID: "R", Patron: "P1"}); err != nil {
		t.Fatal(err)
	}
	for bc, want := range map[string]bool{"B1": false, "R": true} {
		if got, err := l.svc.ItemIsTemporary(ctx, bc); err != nil || got != want {
			t.Fatalf("ItemIsTemporary(%s) = %v, %v", bc, got, err)
		}
	}
	_, err := l.svc.ItemIsTemporary(ctx, "NOPE")
	wantCode(t, err, ItemUnknown)
}
