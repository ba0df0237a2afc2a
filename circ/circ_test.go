package circ

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/circa-ils/circa/store"
	"github.com/circa-ils/circa/store/boltstore"
)

// testLib is a small library in a real database file, with a clock the
// test moves.
type testLib struct {
	t   *testing.T
	db  store.DB
	svc *Service
	now atomic.Pointer[time.Time]
	pin string // hash of 1234
}

var (
	start    = time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)
	atMain   = Agent{Protocol: "test", Account: "desk", Library: "MAIN"}
	atBranch = Agent{Protocol: "test", Account: "desk", Library: "BRANCH"}
	ctx      = context.Background()
)

// The patron groups and item policies of newLib: those testRules name and
// those the tests' patrons and items carry.
var (
	testGroups   = []string{"ADULT", "FACULTY", "GRAD", "ILL", "STAFF", "UNDERGRAD"}
	testPolicies = []string{"BOOK", "REF", "SHORT", "VIDEO"}
)

func putTestGroupsAndPolicies(tx store.Tx) error {
	for _, g := range testGroups {
		if err := tx.PutGroup(&store.Group{Code: g, Name: g, Created: start, Updated: start}); err != nil {
			return err
		}
	}
	for _, p := range testPolicies {
		if err := tx.PutPolicy(&store.Policy{Code: p, Name: p, Created: start, Updated: start}); err != nil {
			return err
		}
	}
	return nil
}

func newLib(t *testing.T) *testLib {
	t.Helper()
	db, err := boltstore.Open(filepath.Join(t.TempDir(), boltstore.DefaultFile), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	l := &testLib{t: t, db: db}
	l.now.Store(&start)
	l.pin, _ = HashSecret("1234")
	err = db.Update(ctx, func(tx store.Tx) error {
		for _, lib := range []store.Library{{Code: "MAIN", Timezone: "America/New_York", Currency: "USD"}, {Code: "BRANCH", Timezone: "America/New_York", Currency: "USD"}} {
			if err := tx.PutLibrary(&lib); err != nil {
				return err
			}
		}
		for _, loc := range []store.Location{{Code: "STACKS", Library: "MAIN"}, {Code: "ANNEX", Library: "MAIN", RemoteStorage: true, Facility: "ANNEX"}, {Code: "BSTACKS", Library: "BRANCH"},
			{Code: "READING", Library: "MAIN", NotCirculating: true}} {
			if err := tx.PutLocation(&loc); err != nil {
				return err
			}
		}
		if err := putTestGroupsAndPolicies(tx); err != nil {
			return err
		}
		return tx.PutRules(&testRules)
	})
	if err != nil {
		t.Fatal(err)
	}
	l.svc, err = New(db, WithClock(func() time.Time { return *l.now.Load() }))
	if err != nil {
		t.Fatal(err)
	}
	journalsWrites(t, l.svc)
	t.Cleanup(func() {
		probs, err := db.Check()
		if err != nil {
			t.Error(err)
		}
		for _, p := range probs {
			t.Errorf("db check: %s", p)
		}
		db.Close()
	})
	return l
}

// journalsWrites makes every operation the test runs check that each item,
// patron, loan, request and fee it writes is named by one of its journal
// events: a stored answer is replayed only while no later event names what
// the first request wrote, so an unjournalled write would let a stale
// answer through.
func journalsWrites(t *testing.T, s *Service) {
	inner := s.commit
	s.commit = func(ctx context.Context, fn func(store.Tx) error) error {
		return inner(ctx, func(tx store.Tx) error {
			head, before := tx.JournalHead(), tx.Track()
			if err := fn(tx); err != nil {
				return err
			}
			var named []store.Ref
			if err := tx.JournalAfter(head, func(e store.Event) bool { named = append(named, e.Refs...); return true }); err != nil {
				return err
			}
			for _, r := range tx.Touched()[before:] {
				if !slices.Contains(named, r) {
					t.Errorf("%s %d written without a journal event naming it (events: %+v)", r.Kind, r.ID, named)
				}
			}
			return nil
		})
	}
}

func (l *testLib) advance(d time.Duration) {
	n := l.now.Load().Add(d)
	l.now.Store(&n)
}

func (l *testLib) patron(barcode, group string, mod ...func(*store.Patron)) store.Patron {
	l.t.Helper()
	p := store.Patron{Barcode: barcode, LastName: "Doe", FirstName: "Jo", UserGroup: group, HomeLibrary: "MAIN",
		Expiry: start.AddDate(1, 0, 0), PINHash: l.pin}
	for _, m := range mod {
		m(&p)
	}
	if err := l.db.Update(ctx, func(tx store.Tx) error { return tx.PutPatron(&p, start) }); err != nil {
		l.t.Fatal(err)
	}
	return p
}

func (l *testLib) item(barcode, policy, library, location string) store.Item {
	l.t.Helper()
	var it store.Item
	err := l.db.Update(ctx, func(tx store.Tx) error {
		b := store.Bib{Title: "Title " + barcode, MARCXML: "<record/>"}
		if err := tx.PutBib(&b, start); err != nil {
			return err
		}
		it = store.Item{Barcode: barcode, BibID: b.ID, Library: library, Location: location, Policy: policy,
			MediaType: "001", Status: store.ItemAvailable, Pieces: 1}
		return tx.PutItem(&it, start)
	})
	if err != nil {
		l.t.Fatal(err)
	}
	return it
}

// copyOf adds a second item on the same bib.
func (l *testLib) copyOf(orig store.Item, barcode string) store.Item {
	l.t.Helper()
	it := orig
	it.ID, it.Barcode = 0, barcode
	if err := l.db.Update(ctx, func(tx store.Tx) error { return tx.PutItem(&it, start) }); err != nil {
		l.t.Fatal(err)
	}
	return it
}

func (l *testLib) checkout(patron, item string) (CheckoutResult, error) {
	return l.svc.Checkout(ctx, CheckoutRequest{Agent: atMain, Patron: patron, Item: item})
}

func wantCode(t *testing.T, err error, want Code) {
	t.Helper()
	got, ok := CodeOf(err)
	if !ok {
		t.Fatalf("unexpected failure: %v", err)
	}
	if got != want {
		t.Fatalf("got %v (%v), want %v", got, err, want)
	}
}

func TestCheckoutRefusals(t *testing.T) {
	l := newLib(t)
	l.patron("P1", "GRAD")
	l.patron("P2", "GRAD")
	l.patron("BLOCKED", "GRAD", func(p *store.Patron) { p.Blocks = []store.Block{{Type: "manual", Note: "desk"}} })
	l.patron("EXPIRED", "GRAD", func(p *store.Patron) { p.Expiry = start.Add(-time.Hour) })
	l.patron("UG", "UNDERGRAD")
	l.item("BOOK1", "BOOK", "MAIN", "STACKS")
	l.item("BOOK2", "BOOK", "MAIN", "STACKS")
	l.item("BOOK3", "BOOK", "MAIN", "STACKS")
	l.item("REF1", "REF", "MAIN", "STACKS")
	l.item("VID1", "VIDEO", "MAIN", "STACKS")
	l.item("READ1", "BOOK", "MAIN", "READING")
	if _, err := l.checkout("P2", "BOOK1"); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, patron, pin, item string
		requirePIN              bool
		want                    Code
	}{
		{"unknown patron", "NOPE", "", "BOOK2", false, PatronUnknown},
		{"wrong PIN", "P1", "9999", "BOOK2", false, PatronAuthFailed},
		{"PIN required but missing", "P1", "", "BOOK2", true, PatronAuthFailed},
		{"unknown item", "P1", "1234", "NOPE", false, ItemUnknown},
		{"blocked", "BLOCKED", "", "BOOK2", false, PatronBlocked},
		{"expired", "EXPIRED", "", "BOOK2", false, PatronExpired},
		{"not circulating", "P1", "", "REF1", false, ItemNotCirculating},
		{"location does not circulate", "P1", "", "READ1", false, ItemNotCirculating},
		{"on loan to other", "P1", "", "BOOK1", false, ItemOnLoanToOther},
		{"fee acknowledgement", "P1", "", "VID1", false, FeeAckRequired},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := l.journalHead()
			_, err := l.svc.Checkout(ctx, CheckoutRequest{Agent: atMain, Patron: c.patron, PIN: c.pin, Item: c.item, RequirePIN: c.requirePIN})
			wantCode(t, err, c.want)
			if l.journalHead() != before {
				t.Fatal("a refusal changed the store")
			}
		})
	}
	t.Run("loan limit", func(t *testing.T) {
		for _, b := range []string{"BOOK2", "BOOK3"} {
			if _, err := l.checkout("UG", b); err != nil {
				t.Fatal(err)
			}
		}
		l.item("BOOK4", "BOOK", "MAIN", "STACKS")
		_, err := l.checkout("UG", "BOOK4")
		wantCode(t, err, LoanLimit)
	})
	t.Run("fee acknowledged charges the rental", func(t *testing.T) {
		res, err := l.svc.Checkout(ctx, CheckoutRequest{Agent: atMain, Patron: "P1", Item: "VID1", FeeAcknowledged: true})
		if err != nil {
			t.Fatal(err)
		}
		if res.Fee != 150 || res.FeeType != "06" {
			t.Fatalf("rental fee %d type %s", res.Fee, res.FeeType)
		}
		sum, _ := l.svc.PatronStatus(ctx, PatronQuery{Patron: "P1"})
		if sum.Standing.Balance != 150 {
			t.Fatalf("balance %d", sum.Standing.Balance)
		}
	})
}

func (l *testLib) journalHead() uint64 {
	var h uint64
	l.db.View(ctx, func(tx store.Tx) error { h = tx.JournalHead(); return nil })
	return h
}

func TestCheckoutDueDateAndOwnItemRenews(t *testing.T) {
	l := newLib(t)
	l.patron("P1", "GRAD")
	l.item("B1", "BOOK", "MAIN", "STACKS")
	res, err := l.svc.Checkout(ctx, CheckoutRequest{Agent: atMain, Patron: "P1", PIN: "1234", Item: "B1"})
	if err != nil {
		t.Fatal(err)
	}
	ny, _ := time.LoadLocation("America/New_York")
	if want := time.Date(2026, 3, 23, 23, 59, 59, 0, ny); !res.Due.Equal(want) {
		t.Fatalf("due %v, want %v", res.Due.In(ny), want)
	}
	if res.Item.Status != store.ItemOnLoan || res.Item.Title != "Title B1" {
		t.Fatalf("item %+v", res.Item)
	}
	l.advance(24 * time.Hour)
	again, err := l.checkout("P1", "B1")
	if err != nil || !again.Renewed || !again.Due.After(res.Due) {
		t.Fatalf("own item checkout: renewed=%v due=%v err=%v", again.Renewed, again.Due, err)
	}
	refuseOwn := false
	_, err = l.svc.Checkout(ctx, CheckoutRequest{Agent: atMain, Patron: "P1", Item: "B1", OwnItem: &refuseOwn})
	wantCode(t, err, AlreadyOnLoan)
	r := testRules
	r.RefuseOwnCheckout = true
	// New rules may name only policies the library's items carry.
	r.Loans, r.RentalFees = nil, nil
	for _, lr := range testRules.Loans {
		if lr.ItemPolicy == "" || lr.ItemPolicy == res.Item.Policy {
			r.Loans = append(r.Loans, lr)
		}
	}
	if err := l.svc.SetRules(ctx, r); err != nil {
		t.Fatal(err)
	}
	_, err = l.checkout("P1", "B1")
	wantCode(t, err, AlreadyOnLoan)
}

func TestNoBlockCheckout(t *testing.T) {
	l := newLib(t)
	l.patron("BLOCKED", "GRAD", func(p *store.Patron) { p.Blocks = []store.Block{{Type: "manual"}} })
	l.patron("P2", "GRAD")
	l.item("B1", "BOOK", "MAIN", "STACKS")
	l.item("R1", "REF", "MAIN", "STACKS")
	kioskDue := start.Add(72 * time.Hour)
	res, err := l.svc.Checkout(ctx, CheckoutRequest{Agent: atMain, Patron: "BLOCKED", Item: "R1", NoBlock: true, NoBlockDue: kioskDue})
	if err != nil {
		t.Fatal(err)
	}
	if !res.NoBlock || !res.Due.Equal(kioskDue) {
		t.Fatalf("no-block: %+v", res)
	}
	l.db.View(ctx, func(tx store.Tx) error {
		loan, _ := tx.Loan(res.LoanID)
		if !loan.NeedsReview {
			t.Error("offline checkout not flagged for review")
		}
		return nil
	})
	// An offline checkout of an item the server has out to someone else
	// moves it: the kiosk already handed it over.
	l.checkout("P2", "B1")
	if _, err := l.svc.Checkout(ctx, CheckoutRequest{Agent: atMain, Patron: "BLOCKED", Item: "B1", NoBlock: true}); err != nil {
		t.Fatal(err)
	}
	sum, _ := l.svc.ItemInfo(ctx, "B1")
	if sum.Borrower == nil || sum.Borrower.Barcode != "BLOCKED" {
		t.Fatalf("borrower after offline checkout: %+v", sum.Borrower)
	}
}

func TestCheckinFineAndRouting(t *testing.T) {
	l := newLib(t)
	l.patron("P1", "GRAD")
	l.patron("W1", "GRAD")
	l.patron("W2", "GRAD")
	b1 := l.item("B1", "BOOK", "MAIN", "STACKS")
	l.item("BR1", "BOOK", "BRANCH", "BSTACKS")

	// Not on loan: answered clearly, nothing else.
	res, err := l.svc.Checkin(ctx, CheckinRequest{Agent: atMain, Item: "B1"})
	wantCode(t, err, ItemNotOnLoan)
	if res.WasOnLoan || res.Item.Status != store.ItemAvailable {
		t.Fatalf("not-on-loan checkin: %+v", res)
	}
	_, err = l.svc.Checkin(ctx, CheckinRequest{Agent: atMain, Item: "NOPE"})
	wantCode(t, err, ItemUnknown)

	out, _ := l.checkout("P1", "B1")
	// Returned three days late: 3 × 25.
	l.now.Store(&out.Due)
	l.advance(2*24*time.Hour + time.Minute)
	// A hold for W1 at BRANCH and then W2 at MAIN: W1 is first.
	if _, err := l.svc.PlaceHold(ctx, HoldRequest{Agent: atMain, Patron: "W1", Item: "B1", Pickup: "BRANCH"}); err != nil {
		t.Fatal(err)
	}
	if h, err := l.svc.PlaceHold(ctx, HoldRequest{Agent: atMain, Patron: "W2", BibID: b1.BibID, TitleLevel: true}); err != nil || h.Position != 2 {
		t.Fatalf("second hold: pos %d err %v", h.Position, err)
	}
	res, err = l.svc.Checkin(ctx, CheckinRequest{Agent: atMain, Item: "B1"})
	if err != nil {
		t.Fatal(err)
	}
	if !res.WasOnLoan || res.Patron.Barcode != "P1" || res.Fine != 75 {
		t.Fatalf("checkin: was=%v fine=%d", res.WasOnLoan, res.Fine)
	}
	if res.Alert != AlertHoldElsewere || res.Destination != "BRANCH" || res.Waiting.Barcode != "W1" || res.Item.Status != store.ItemInTransit || res.SortBin != "BRANCH" {
		t.Fatalf("routing: %+v", res)
	}
	// W1 cannot renew anything, W2 cannot take the item in transit for W1.
	_, err = l.checkout("W2", "B1")
	wantCode(t, err, ItemOnHoldForOther)
	// Arrival at BRANCH puts it on W1's hold shelf.
	res, err = l.svc.Checkin(ctx, CheckinRequest{Agent: atBranch, Item: "B1"})
	wantCode(t, err, ItemNotOnLoan)
	if res.Alert != AlertHoldHere || res.Item.Status != store.ItemOnHoldShelf || res.SortBin != "HOLD" {
		t.Fatalf("arrival: %+v", res)
	}
	sum, _ := l.svc.PatronStatus(ctx, PatronQuery{Patron: "W1"})
	if len(sum.Available) != 1 {
		t.Fatalf("W1 available holds: %d", len(sum.Available))
	}
	if _, err := l.svc.Checkout(ctx, CheckoutRequest{Agent: atBranch, Patron: "W1", Item: "B1"}); err != nil {
		t.Fatal(err)
	}
	sum, _ = l.svc.PatronStatus(ctx, PatronQuery{Patron: "W1"})
	if len(sum.Holds) != 0 || len(sum.Loans) != 1 {
		t.Fatalf("W1 after pickup: holds %d loans %d", len(sum.Holds), len(sum.Loans))
	}
	// Returned at MAIN, W2's title-level hold at MAIN takes it.
	res, _ = l.svc.Checkin(ctx, CheckinRequest{Agent: atMain, Item: "B1"})
	if res.Alert != AlertHoldHere || res.Waiting.Barcode != "W2" {
		t.Fatalf("second trap: %+v", res)
	}
	// An item of another library with no holds goes home.
	l.checkout("P1", "BR1")
	res, _ = l.svc.Checkin(ctx, CheckinRequest{Agent: atMain, Item: "BR1"})
	if res.Alert != AlertTransit || res.Destination != "BRANCH" || res.Item.Status != store.ItemInTransit {
		t.Fatalf("transit home: %+v", res)
	}
	res, _ = l.svc.Checkin(ctx, CheckinRequest{Agent: atBranch, Item: "BR1"})
	if res.Alert != AlertNone || res.Item.Status != store.ItemAvailable {
		t.Fatalf("arrived home: %+v", res)
	}
}

func TestRenewRules(t *testing.T) {
	l := newLib(t)
	l.patron("P1", "GRAD")
	l.patron("P2", "GRAD")
	l.item("B1", "BOOK", "MAIN", "STACKS")
	l.item("B2", "BOOK", "MAIN", "STACKS")
	out, _ := l.checkout("P1", "B1")
	l.checkout("P1", "B2")
	_, err := l.svc.Renew(ctx, RenewRequest{Agent: atMain, Patron: "P2", Item: "B1"})
	wantCode(t, err, ItemNotOnLoan)
	l.advance(10 * 24 * time.Hour)
	r1, err := l.svc.Renew(ctx, RenewRequest{Agent: atMain, Patron: "P1", Item: "B1"})
	if err != nil || r1.Renewals != 1 || !r1.Due.After(out.Due) {
		t.Fatalf("renew 1: %+v %v", r1, err)
	}
	if _, err := l.svc.Renew(ctx, RenewRequest{Agent: atMain, Patron: "P1", Item: "B1"}); err != nil {
		t.Fatal(err)
	}
	_, err = l.svc.Renew(ctx, RenewRequest{Agent: atMain, Patron: "P1", Item: "B1"})
	wantCode(t, err, RenewalLimit)
	// Someone waits for B2: renewal refused, and renew-all reports both.
	if _, err := l.svc.PlaceHold(ctx, HoldRequest{Agent: atMain, Patron: "P2", Item: "B2"}); err != nil {
		t.Fatal(err)
	}
	_, err = l.svc.Renew(ctx, RenewRequest{Agent: atMain, Patron: "P1", Item: "B2"})
	wantCode(t, err, RenewalOnHold)
	all, err := l.svc.RenewAll(ctx, RenewAllRequest{Agent: atMain, Patron: "P1"})
	if err != nil || len(all.Renewed) != 0 || len(all.Unrenewed) != 2 {
		t.Fatalf("renew all: %+v %v", all, err)
	}
	if all.Unrenewed[0].Refusal != RenewalLimit || all.Unrenewed[1].Refusal != RenewalOnHold {
		t.Fatalf("renew all refusals: %+v", all.Unrenewed)
	}
}

func TestHolds(t *testing.T) {
	l := newLib(t)
	l.patron("P1", "GRAD")
	l.patron("P2", "GRAD")
	l.patron("BLOCKED", "GRAD", func(p *store.Patron) { p.Blocks = []store.Block{{Type: "manual"}} })
	b := l.item("B1", "BOOK", "MAIN", "STACKS")
	annex := l.item("A1", "BOOK", "MAIN", "ANNEX")
	l.item("R1", "REF", "MAIN", "STACKS")

	h, err := l.svc.PlaceHold(ctx, HoldRequest{Agent: atMain, Patron: "P1", Item: "B1"})
	if err != nil || h.Position != 1 || h.Pickup != "MAIN" {
		t.Fatalf("place: %+v %v", h, err)
	}
	_, err = l.svc.PlaceHold(ctx, HoldRequest{Agent: atMain, Patron: "P1", BibID: b.BibID, TitleLevel: true})
	wantCode(t, err, HoldExists)
	_, err = l.svc.PlaceHold(ctx, HoldRequest{Agent: atMain, Patron: "BLOCKED", Item: "B1"})
	wantCode(t, err, PatronBlocked)
	_, err = l.svc.PlaceHold(ctx, HoldRequest{Agent: atMain, Patron: "P2", Item: "R1"})
	wantCode(t, err, ItemNotCirculating)
	_, err = l.svc.PlaceHold(ctx, HoldRequest{Agent: atMain, Patron: "P2", Item: "B1", Pickup: "MOON"})
	wantCode(t, err, LocationUnknown)
	h2, err := l.svc.PlaceHold(ctx, HoldRequest{Agent: atMain, Patron: "P2", Item: "B1"})
	if err != nil || h2.Position != 2 {
		t.Fatalf("second: %+v %v", h2, err)
	}
	// P1 cancels; P2 moves up.
	if _, err := l.svc.CancelHold(ctx, CancelHoldRequest{Agent: atMain, Patron: "P1", Item: "B1"}); err != nil {
		t.Fatal(err)
	}
	_, err = l.svc.CancelHold(ctx, CancelHoldRequest{Agent: atMain, Patron: "P1", Item: "B1"})
	wantCode(t, err, HoldNotFound)
	ch, err := l.svc.ChangeHold(ctx, ChangeHoldRequest{Agent: atMain, Patron: "P2", Item: "B1", Pickup: "BRANCH"})
	if err != nil || ch.Position != 1 || ch.Pickup != "BRANCH" {
		t.Fatalf("change: %+v %v", ch, err)
	}
	// A request on an annex item creates a retrieval for the facility.
	ah, err := l.svc.PlaceHold(ctx, HoldRequest{Agent: atMain, Patron: "P1", Item: "A1"})
	if err != nil || ah.Retrieval == 0 {
		t.Fatalf("annex hold: %+v %v", ah, err)
	}
	l.db.View(ctx, func(tx store.Tx) error {
		r, _ := tx.Request(ah.Retrieval)
		if r.Kind != store.RequestRetrieval || r.Facility != "ANNEX" || r.ItemID != annex.ID {
			t.Errorf("retrieval: %+v", r)
		}
		hist, _ := tx.StorageHistory(annex.ID)
		if len(hist) != 1 || hist[0].State != "requested" {
			t.Errorf("storage history: %+v", hist)
		}
		return nil
	})
	// Cancelling the hold cancels the retrieval too.
	l.svc.CancelHold(ctx, CancelHoldRequest{Agent: atMain, RequestID: ah.Request})
	l.db.View(ctx, func(tx store.Tx) error {
		r, _ := tx.Request(ah.Retrieval)
		if r.Status != store.RequestCancelled {
			t.Errorf("retrieval after cancel: %s", r.Status)
		}
		return nil
	})
	// Holds expire: an expired hold no longer traps the item.
	exp := start.Add(time.Hour)
	l.svc.PlaceHold(ctx, HoldRequest{Agent: atMain, Patron: "P1", Item: "B1", Expires: exp})
	l.svc.CancelHold(ctx, CancelHoldRequest{Agent: atMain, Patron: "P2", Item: "B1"})
	l.checkout("P2", "B1")
	l.advance(2 * time.Hour)
	res, _ := l.svc.Checkin(ctx, CheckinRequest{Agent: atMain, Item: "B1"})
	if res.Alert != AlertNone || res.Item.Status != store.ItemAvailable {
		t.Fatalf("expired hold trapped the item: %+v", res)
	}
}

func TestFeePayments(t *testing.T) {
	l := newLib(t)
	l.patron("P1", "GRAD")
	var fees [3]uint64
	for i, amt := range []int64{300, 500, 200} {
		res, err := l.svc.Charge(ctx, ChargeRequest{Agent: atMain, Patron: "P1", Type: "04", Amount: amt})
		if err != nil {
			t.Fatal(err)
		}
		fees[i] = res.FeeID
		l.advance(time.Minute)
	}
	_, err := l.svc.PayFee(ctx, PayRequest{Agent: atMain, Patron: "P1", Amount: 1001, TransactionID: "T0"})
	wantCode(t, err, FeeOverpaid)
	_, err = l.svc.PayFee(ctx, PayRequest{Agent: atMain, Patron: "P1", Amount: 10, Currency: "EUR"})
	wantCode(t, err, FeeNothingOwed)
	_, err = l.svc.PayFee(ctx, PayRequest{Agent: atMain, Patron: "P1", Amount: 10, FeeID: 999})
	wantCode(t, err, FeeUnknown)
	_, err = l.svc.PayFee(ctx, PayRequest{Agent: atMain, Patron: "P1", Amount: 0})
	wantCode(t, err, InvalidRequest)
	// 400 oldest first: pays fee 0 fully and 100 of fee 1.
	res, err := l.svc.PayFee(ctx, PayRequest{Agent: atMain, Patron: "P1", Amount: 400, TransactionID: "T1", PaymentType: "00"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Applied) != 2 || res.Applied[0].FeeID != fees[0] || res.Applied[0].Balance != 0 || res.Applied[1].Balance != 400 || res.Remaining != 600 {
		t.Fatalf("oldest first: %+v", res)
	}
	// The same transaction id again: the stored answer, nothing paid twice.
	again, err := l.svc.PayFee(ctx, PayRequest{Agent: atMain, Patron: "P1", Amount: 400, TransactionID: "T1"})
	if err != nil || again.Remaining != 600 {
		t.Fatalf("retry: %+v %v", again, err)
	}
	// A named fee.
	res, err = l.svc.PayFee(ctx, PayRequest{Agent: atMain, Patron: "P1", Amount: 200, FeeID: fees[2], TransactionID: "T2"})
	if err != nil || len(res.Applied) != 1 || res.Applied[0].FeeID != fees[2] || res.Remaining != 400 {
		t.Fatalf("named fee: %+v %v", res, err)
	}
	_, err = l.svc.PayFee(ctx, PayRequest{Agent: atMain, Patron: "P1", Amount: 1, FeeID: fees[2]})
	wantCode(t, err, FeeNothingOwed)
	sum, _ := l.svc.PatronStatus(ctx, PatronQuery{Patron: "P1"})
	if sum.Standing.Balance != 400 || len(sum.Fees) != 1 {
		t.Fatalf("balance %d fees %d", sum.Standing.Balance, len(sum.Fees))
	}
	l.db.View(ctx, func(tx store.Tx) error {
		f, err := tx.FeeByTransaction("T1")
		if err != nil || f.ID != fees[0] && f.ID != fees[1] {
			t.Errorf("fee by transaction: %v", err)
		}
		return nil
	})
}

func TestBlockUnblockAndPatronStatus(t *testing.T) {
	l := newLib(t)
	l.patron("P1", "GRAD")
	if _, err := l.svc.Block(ctx, BlockRequest{Agent: atMain, Patron: "P1", Note: "lost card", CardRetained: true}); err != nil {
		t.Fatal(err)
	}
	sum, _ := l.svc.PatronStatus(ctx, PatronQuery{Patron: "P1", PIN: "1234"})
	if !sum.Valid || !sum.PINOK || !sum.Flags[FlagChargeDenied] || sum.Refusal != PatronBlocked {
		t.Fatalf("blocked status: %+v", sum)
	}
	if _, err := l.svc.Unblock(ctx, BlockRequest{Agent: atMain, Patron: "P1"}); err != nil {
		t.Fatal(err)
	}
	_, err := l.svc.Unblock(ctx, BlockRequest{Agent: atMain, Patron: "P1"})
	wantCode(t, err, InvalidRequest)
	sum, _ = l.svc.PatronStatus(ctx, PatronQuery{Patron: "P1", PIN: "0000"})
	if sum.PINOK || sum.Flags[FlagChargeDenied] {
		t.Fatalf("after unblock: %+v", sum.Flags)
	}
	// A retried block (same key) places one block.
	for range 2 {
		if _, err := l.svc.Block(ctx, BlockRequest{Agent: atMain, Patron: "P1", Type: "sip2", Retry: Retry{Key: "blk-1", Window: time.Minute}}); err != nil {
			t.Fatal(err)
		}
	}
	sum, _ = l.svc.PatronStatus(ctx, PatronQuery{Patron: "P1"})
	if len(sum.Patron.Blocks) != 1 {
		t.Fatalf("retried block placed %d blocks", len(sum.Patron.Blocks))
	}
	sum, _ = l.svc.PatronStatus(ctx, PatronQuery{Patron: "NOPE"})
	if sum.Valid {
		t.Fatal("unknown patron valid")
	}
	if _, err := l.svc.VerifyPatron(ctx, "P1", "1234"); err != nil {
		t.Fatal(err)
	}
	_, err = l.svc.VerifyPatron(ctx, "P1", "12345")
	wantCode(t, err, PatronAuthFailed)
}

func TestItemInfoAndProperties(t *testing.T) {
	l := newLib(t)
	l.patron("P1", "GRAD")
	l.patron("P2", "GRAD")
	l.item("B1", "BOOK", "MAIN", "STACKS")
	out, _ := l.checkout("P1", "B1")
	l.svc.PlaceHold(ctx, HoldRequest{Agent: atMain, Patron: "P2", Item: "B1"})
	sum, err := l.svc.ItemInfo(ctx, "B1")
	if err != nil || sum.CircStatus != CircCharged || sum.HoldQueue != 1 || !sum.Due.Equal(out.Due) || sum.Borrower.Barcode != "P1" {
		t.Fatalf("item info: %+v %v", sum, err)
	}
	if _, err := l.svc.SetItemProperties(ctx, ItemPropertiesRequest{Agent: atMain, Item: "B1", Properties: "RFID:E004"}); err != nil {
		t.Fatal(err)
	}
	sum, _ = l.svc.ItemInfo(ctx, "B1")
	if sum.Item.Properties != "RFID:E004" {
		t.Fatalf("properties %q", sum.Item.Properties)
	}
	_, err = l.svc.ItemInfo(ctx, "NOPE")
	wantCode(t, err, ItemUnknown)
}

// A repeat replays the stored answer only while it is a retry: within the
// window, the same match, and nothing changed since what the first request
// acted on. Otherwise it is a new request and acts.
func TestRetryReplaysOnlyRetries(t *testing.T) {
	l := newLib(t)
	l.patron("P1", "GRAD")
	l.patron("P2", "GRAD")
	l.item("B1", "BOOK", "MAIN", "STACKS")
	l.item("B2", "BOOK", "MAIN", "STACKS")
	l.item("B3", "BOOK", "MAIN", "STACKS")
	l.item("B4", "BOOK", "MAIN", "STACKS")
	kiosk := func(frame string) Retry { return Retry{Key: "kiosk-1", Match: frame, Window: time.Minute} }
	checkout := func(item, frame string) CheckoutResult {
		t.Helper()
		res, err := l.svc.Checkout(ctx, CheckoutRequest{Agent: atMain, Patron: "P1", Item: item, Retry: kiosk(frame)})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	first := checkout("B1", "f1")
	head := l.journalHead()
	l.advance(30 * time.Second)
	if again := checkout("B1", "f1"); again.Renewed || again.LoanID != first.LoanID || !again.At.Equal(first.At) || l.journalHead() != head {
		t.Fatalf("retry within the window acted again: %+v", again)
	}
	// Past the window the same request acts: the patron's own item renews.
	l.advance(31 * time.Second)
	if late := checkout("B1", "f1"); !late.Renewed {
		t.Fatalf("repeat after the window did not act: %+v", late)
	}
	// Checked in elsewhere since: the same frame makes a new loan.
	second := checkout("B2", "f2")
	if _, err := l.svc.Checkin(ctx, CheckinRequest{Agent: atBranch, Item: "B2"}); err != nil {
		t.Fatal(err)
	}
	if again := checkout("B2", "f2"); again.LoanID == second.LoanID || again.Renewed || again.LoanID == 0 {
		t.Fatalf("repeat after a checkin replayed the old loan: %+v", again)
	}
	// The slot holds the kiosk's last request only: another frame acts and
	// replaces it, so the earlier frame is no longer a retry.
	head = l.journalHead()
	checkout("B3", "f3")
	if l.journalHead() == head {
		t.Fatal("another frame under the same key was answered from the journal")
	}
	// A refusal is not kept, and clears the slot.
	_, err := l.svc.Checkin(ctx, CheckinRequest{Agent: atMain, Item: "NOPE", Retry: kiosk("f4")})
	wantCode(t, err, ItemUnknown)
	l.db.View(ctx, func(tx store.Tx) error {
		if _, found, _ := tx.Remembered("kiosk-1"); found {
			t.Error("a refusal left an answer in the kiosk's slot")
		}
		return nil
	})
	// A change to another copy or patron is not a change to this loan.
	third := checkout("B4", "f5")
	if _, err := l.svc.Checkin(ctx, CheckinRequest{Agent: atBranch, Item: "B2"}); err != nil {
		t.Fatal(err)
	}
	if again := checkout("B4", "f5"); again.Renewed || !again.Due.Equal(third.Due) {
		t.Fatalf("an unrelated change stopped a retry: %+v", again)
	}
}

// A payment id names the payment: it is never applied twice, however late
// it comes, and a refused payment does not use the id up.
func TestPaymentIDKeptForGood(t *testing.T) {
	l := newLib(t)
	l.patron("P1", "GRAD")
	if _, err := l.svc.Charge(ctx, ChargeRequest{Agent: atMain, Patron: "P1", Amount: 500}); err != nil {
		t.Fatal(err)
	}
	_, err := l.svc.PayFee(ctx, PayRequest{Agent: atMain, Patron: "P1", Amount: 900, TransactionID: "T1"})
	wantCode(t, err, FeeOverpaid)
	first, err := l.svc.PayFee(ctx, PayRequest{Agent: atMain, Patron: "P1", Amount: 200, TransactionID: "T1"})
	if err != nil || first.Remaining != 300 {
		t.Fatalf("payment: %+v %v", first, err)
	}
	l.advance(400 * 24 * time.Hour)
	n, err := func() (int, error) {
		var n int
		err := l.db.Update(ctx, func(tx store.Tx) error {
			var err error
			n, err = tx.ForgetBefore(l.svc.Now())
			return err
		})
		return n, err
	}()
	if err != nil || n != 0 {
		t.Fatalf("pruning dropped %d entries (%v)", n, err)
	}
	again, err := l.svc.PayFee(ctx, PayRequest{Agent: atMain, Patron: "P1", Amount: 200, TransactionID: "T1"})
	if err != nil || again.Remaining != 300 || !again.At.Equal(first.At) {
		t.Fatalf("late repeat of a payment id: %+v %v", again, err)
	}
	// The same charge id from a partner charges once.
	c1, err := l.svc.Charge(ctx, ChargeRequest{Agent: atPartner, Patron: "P1", Amount: 100, Key: "ncip\x00ILL\x00CreateUserFiscalTransaction\x00F1"})
	if err != nil {
		t.Fatal(err)
	}
	l.advance(30 * 24 * time.Hour)
	c2, err := l.svc.Charge(ctx, ChargeRequest{Agent: atPartner, Patron: "P1", Amount: 100, Key: "ncip\x00ILL\x00CreateUserFiscalTransaction\x00F1"})
	if err != nil || c2.FeeID != c1.FeeID {
		t.Fatalf("repeated charge id charged again: %+v %+v %v", c1, c2, err)
	}
}

// Many goroutines race to check out one item: exactly one wins, the rest
// are told it is on loan to another patron, and the store stays consistent.
func TestConcurrentCheckoutOneWinner(t *testing.T) {
	l := newLib(t)
	const n = 64
	for i := range n {
		l.patron("R"+string(rune('A'+i/26))+string(rune('a'+i%26)), "FACULTY")
	}
	l.item("HOT", "BOOK", "MAIN", "STACKS")
	var wg sync.WaitGroup
	var wins, losses atomic.Int32
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := l.checkout("R"+string(rune('A'+i/26))+string(rune('a'+i%26)), "HOT")
			switch {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, &Error{Code: ItemOnLoanToOther}):
				losses.Add(1)
			default:
				t.Errorf("unexpected: %v", err)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 || losses.Load() != n-1 {
		t.Fatalf("wins %d losses %d", wins.Load(), losses.Load())
	}
}

func TestRulesValidation(t *testing.T) {
	bad := store.Rules{Loans: []store.LoanRule{{Circulates: true}}, Groups: []store.GroupRule{{LoanLimit: -1}}, MaxBalance: -1, Currency: "US"}
	err := ValidateRules(&bad)
	if err == nil {
		t.Fatal("bad rules accepted")
	}
	// All problems reported at once.
	for _, want := range []string{"loan rule 1", "group rule", "block thresholds", "currency"} {
		if !contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
	l := newLib(t)
	if err := l.svc.SetRules(ctx, bad); err == nil {
		t.Fatal("SetRules stored bad rules")
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func TestBriefPatronStatusKeepsStandingWithoutLists(t *testing.T) {
	l := newLib(t)
	l.patron("P1", "GRAD")
	l.item("B1", "BOOK", "MAIN", "STACKS")
	l.checkout("P1", "B1")
	l.svc.Charge(ctx, ChargeRequest{Agent: atMain, Patron: "P1", Amount: 250})
	full, _ := l.svc.PatronStatus(ctx, PatronQuery{Patron: "P1", PIN: "1234"})
	brief, _ := l.svc.PatronStatus(ctx, PatronQuery{Patron: "P1", PIN: "1234", Brief: true})
	if len(full.Loans) != 1 || len(full.Fees) != 1 {
		t.Fatalf("full summary lists: %d loans, %d fees", len(full.Loans), len(full.Fees))
	}
	if len(brief.Loans) != 0 || brief.Standing != full.Standing || brief.Flags != full.Flags || !brief.PINOK || brief.Refusal != full.Refusal {
		t.Fatalf("brief summary: %+v", brief)
	}
}

// TestRulesNegativeDays: a negative period is named as such, with its rule
// and field, not as a missing one.
func TestRulesNegativeDays(t *testing.T) {
	bad := store.Rules{Loans: []store.LoanRule{{UserGroup: "GRAD", ItemPolicy: "BOOK", Circulates: true, LoanDays: -5}},
		HoldShelfDays: -1, Currency: "USD"}
	err := ValidateRules(&bad)
	if err == nil {
		t.Fatal("negative loan_days accepted")
	}
	for _, want := range []string{"loan rule 1 (user_group GRAD, item_policy BOOK): loan_days is -5; it must be a positive number of days",
		"hold_shelf_days is -1"} {
		if !contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
	if contains(err.Error(), "needs loan_days or loan_hours") {
		t.Errorf("misleading message: %v", err)
	}
}

// TestRulesReferences: a rule naming a library, item policy or user group
// nobody has is refused, with the close name suggested, and nothing stored.
func TestRulesReferences(t *testing.T) {
	l := newLib(t)
	l.item("B1", "BOOK", "MAIN", "STACKS")
	l.patron("P1", "GRAD")
	before := l.svc.Rules()
	r := store.Rules{Currency: "USD", Groups: []store.GroupRule{{UserGroup: "STAFF", LoanLimit: 5}},
		Loans: []store.LoanRule{
			{ItemPolicy: "BOOKS", Circulates: true, LoanDays: 7},
			{UserGroup: "GRAD", Library: "BRANCHH", Circulates: true, LoanDays: 7},
			{UserGroup: "STAF", ItemPolicy: "BOOK", Circulates: true, LoanDays: 7},
			{UserGroup: "STAFF", ItemPolicy: "BOOK", Library: "MAIN", Circulates: true, LoanDays: 7},
		},
		RentalFees: []store.RentalFee{{ItemPolicy: "DVD", Amount: 100}},
	}
	err := l.svc.SetRules(ctx, r)
	if err == nil {
		t.Fatal("unknown names accepted")
	}
	for _, want := range []string{
		`loan rule 1 (item_policy BOOKS): item policy "BOOKS" is unknown (did you mean "BOOK"?)`,
		`loan rule 2 (user_group GRAD, library BRANCHH): library "BRANCHH" is unknown (did you mean "BRANCH"?)`,
		`loan rule 3 (user_group STAF, item_policy BOOK): user group "STAF" is unknown (did you mean "STAFF"?)`,
		`rental fee: item policy "DVD" is unknown`,
	} {
		if !contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
	if contains(err.Error(), "loan rule 4") {
		t.Errorf("a rule naming known names refused: %v", err)
	}
	if got := l.svc.Rules(); !reflect.DeepEqual(got, before) {
		t.Fatalf("rules changed: %+v", got)
	}
	r.Loans, r.RentalFees = r.Loans[3:], nil
	if err := l.svc.SetRules(ctx, r); err != nil {
		t.Fatal(err)
	}
}

// A refusal carries the figures behind it, for each protocol to show.
func TestRefusalFacts(t *testing.T) {
	l := newLib(t)
	l.patron("BLOCKED", "GRAD", func(p *store.Patron) { p.Blocks = []store.Block{{Type: "manual", Note: "see the bursar"}} })
	l.patron("EXPIRED", "GRAD", func(p *store.Patron) { p.Expiry = start.Add(-time.Hour) })
	l.patron("OWES", "GRAD")
	l.patron("UG", "UNDERGRAD")
	for _, b := range []string{"B1", "B2", "B3", "B4"} {
		l.item(b, "BOOK", "MAIN", "STACKS")
	}
	if _, err := l.svc.Charge(ctx, ChargeRequest{Agent: atMain, Patron: "OWES", Type: "04", Amount: 1250}); err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"B1", "B2"} {
		if _, err := l.checkout("UG", b); err != nil {
			t.Fatal(err)
		}
	}
	facts := func(patron, item string, want Code) Facts {
		t.Helper()
		_, err := l.checkout(patron, item)
		wantCode(t, err, want)
		var e *Error
		errors.As(err, &e)
		return e.Facts
	}
	if f := facts("BLOCKED", "B3", PatronBlocked); f.BlockNote != "see the bursar" {
		t.Errorf("block note: %+v", f)
	}
	if f := facts("EXPIRED", "B3", PatronExpired); !f.Expiry.Equal(start.Add(-time.Hour)) {
		t.Errorf("expiry: %+v", f)
	}
	if f := facts("OWES", "B3", PatronBlocked); f.Balance != 1250 || f.BalanceLimit != 1000 || f.Currency != "USD" {
		t.Errorf("balance: %+v", f)
	}
	if f := facts("UG", "B3", LoanLimit); f.Loans != 2 || f.LoanLimit != 2 {
		t.Errorf("loans: %+v", f)
	}
	_, err := l.svc.Renew(ctx, RenewRequest{Agent: atMain, Patron: "UG", Item: "B1"})
	wantCode(t, err, OK)
	l.svc.Block(ctx, BlockRequest{Agent: atMain, Patron: "UG", Note: "staff only"})
	_, err = l.svc.Renew(ctx, RenewRequest{Agent: atMain, Patron: "UG", Item: "B1"})
	var e *Error
	if !errors.As(err, &e) || e.Facts.BlockNote != "staff only" {
		t.Fatalf("renewal refusal: %v %+v", err, e)
	}
	if strings.Contains(err.Error(), "staff only") {
		t.Fatalf("the block note reached the error text: %v", err)
	}
}

// A payment id seen before answers its stored result and says so.
func TestPaymentReplayVisible(t *testing.T) {
	l := newLib(t)
	l.patron("P1", "GRAD")
	if _, err := l.svc.Charge(ctx, ChargeRequest{Agent: atMain, Patron: "P1", Type: "04", Amount: 500}); err != nil {
		t.Fatal(err)
	}
	first, err := l.svc.PayFee(ctx, PayRequest{Agent: atMain, Patron: "P1", Amount: 200, TransactionID: "TX9"})
	if err != nil || first.Replayed {
		t.Fatalf("first payment: %+v %v", first, err)
	}
	l.advance(time.Hour)
	again, err := l.svc.PayFee(ctx, PayRequest{Agent: atMain, Patron: "P1", Amount: 200, TransactionID: "TX9"})
	if err != nil || !again.Replayed || again.Remaining != 300 {
		t.Fatalf("repeat: %+v %v", again, err)
	}
	other, err := l.svc.PayFee(ctx, PayRequest{Agent: atMain, Patron: "P1", Amount: 100, TransactionID: "TX10"})
	if err != nil || other.Replayed || other.Remaining != 200 {
		t.Fatalf("a new payment: %+v %v", other, err)
	}
}

func TestAReadingRoomLendsNothing(t *testing.T) {
	l := newLib(t)
	l.patron("P1", "GRAD")
	l.item("B1", "BOOK", "MAIN", "STACKS")
	if _, err := l.checkout("P1", "B1"); err != nil {
		t.Fatal(err)
	}
	// The stacks become a reading room while B1 is out: it comes back, but
	// it is not renewed, and no hold can be placed on it.
	if err := l.svc.EditLocation(ctx, "STACKS", func(loc *store.Location) { loc.Name, loc.NotCirculating = "Reading room", true }, atMain); err != nil {
		t.Fatal(err)
	}
	_, err := l.svc.Renew(ctx, RenewRequest{Agent: atMain, Patron: "P1", Item: "B1"})
	wantCode(t, err, ItemNotCirculating)
	l.patron("P2", "GRAD")
	_, err = l.svc.PlaceHold(ctx, HoldRequest{Agent: atMain, Patron: "P2", Item: "B1", Pickup: "MAIN"})
	wantCode(t, err, ItemNotCirculating)
}

// TestRenewCountsOnlyOthersHolds: a renewal refused because of holds counts
// only other patrons' waiting holds: the borrower's own hold on the title
// never blocks it, another patron's hold does until its expiry date, and
// renew-all agrees.
func TestRenewCountsOnlyOthersHolds(t *testing.T) {
	l := newLib(t)
	l.patron("P1", "GRAD")
	l.patron("P2", "GRAD")
	it := l.item("B1", "BOOK", "MAIN", "STACKS")
	if _, err := l.checkout("P1", "B1"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.svc.PlaceHold(ctx, HoldRequest{Agent: atMain, Patron: "P1", BibID: it.BibID, TitleLevel: true}); err != nil {
		t.Fatal(err)
	}
	if r, err := l.svc.Renew(ctx, RenewRequest{Agent: atMain, Patron: "P1", Item: "B1"}); err != nil || r.Renewals != 1 {
		t.Fatalf("with only the borrower's own hold: %+v %v", r, err)
	}
	if _, err := l.svc.PlaceHold(ctx, HoldRequest{Agent: atMain, Patron: "P2", Item: "B1", Expires: start.Add(48 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	_, err := l.svc.Renew(ctx, RenewRequest{Agent: atMain, Patron: "P1", Item: "B1"})
	wantCode(t, err, RenewalOnHold)
	all, err := l.svc.RenewAll(ctx, RenewAllRequest{Agent: atMain, Patron: "P1"})
	if err != nil || len(all.Unrenewed) != 1 || all.Unrenewed[0].Refusal != RenewalOnHold {
		t.Fatalf("renew all while another patron waits: %+v %v", all, err)
	}
	l.advance(72 * time.Hour)
	if r, err := l.svc.Renew(ctx, RenewRequest{Agent: atMain, Patron: "P1", Item: "B1"}); err != nil || r.Renewals != 2 {
		t.Fatalf("after the other patron's hold expired: %+v %v", r, err)
	}
}
