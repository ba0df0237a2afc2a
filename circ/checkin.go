package circ

import (
	"context"
	"time"

	"github.com/circa-ils/circa/store"
)

// CheckinRequest asks to take an item back at the agent's library.
type CheckinRequest struct {
	Agent Agent
	Item  string
	// ReturnedAt is when the item was returned, for an offline checkin
	// (zero: now). Fines are computed to it.
	ReturnedAt time.Time
	// Borrower, when set, takes the item back only from the patron with
	// this barcode (a kiosk cancelling its own checkout); otherwise the
	// checkin is refused with ItemNotOnLoan and changes nothing.
	Borrower string
	Retry    Retry
}

// Alert types say what to do with the item after a checkin; the values are
// SIP2's CV codes.
const (
	AlertNone         = ""
	AlertHoldHere     = "01" // hold for a patron at this library: to the hold shelf
	AlertHoldElsewere = "02" // hold for a patron at another library: send there
	AlertTransit      = "04" // belongs to another library: send home
	AlertOther        = "99"
)

// CheckinResult says what happened and where the item goes next.
type CheckinResult struct {
	Item        ItemBrief    `json:"item"`
	WasOnLoan   bool         `json:"was_on_loan"`
	Patron      *PatronBrief `json:"patron,omitempty"` // whose loan ended
	Fine        int64        `json:"fine,omitempty"`
	FineFeeID   uint64       `json:"fine_fee_id,omitempty"`
	Currency    string       `json:"currency,omitempty"`
	Alert       string       `json:"alert,omitempty"`
	Destination string       `json:"destination,omitempty"` // library code
	// Waiting is the patron a hold waits for, with the request.
	Waiting   *PatronBrief `json:"waiting,omitempty"`
	RequestID uint64       `json:"request_id,omitempty"`
	// SortBin is a hint for automated sorters: the destination for transits,
	// HOLD for the hold shelf, else the item's location.
	SortBin string    `json:"sort_bin"`
	At      time.Time `json:"at"`
}

// Checkin closes the item's loan, charges any overdue fine, and routes the
// item: to the hold shelf for the first waiting request at this library, in
// transit to the pickup or home library otherwise. Checking in an item that
// is not on loan still routes it (an item arriving from transit is
// received), and returns the ItemNotOnLoan refusal with the result so
// callers can say so clearly.
func (s *Service) Checkin(ctx context.Context, req CheckinRequest) (CheckinResult, error) {
	var res CheckinResult
	now := s.Now()
	rules := s.rules.Load()
	err := s.update(ctx, req.Retry, &res, func(tx store.Tx) (*Error, error) {
		res = CheckinResult{At: now, Currency: rules.Currency}
		it, refusal, err := lookupItem(tx, req.Item)
		if err != nil || refusal != nil {
			return refusal, err
		}
		returned := now
		if !req.ReturnedAt.IsZero() && req.ReturnedAt.Before(now) {
			returned = req.ReturnedAt.UTC()
		}
		refs := []store.Ref{ref("item", it.ID), ref("bib", it.BibID)}
		loan, open, err := tx.OpenLoanOfItem(it.ID)
		if err != nil {
			return nil, err
		}
		var p store.Patron
		if open {
			if p, err = tx.Patron(loan.PatronID); err != nil {
				return nil, err
			}
		}
		if req.Borrower != "" && (!open || store.NormalizeBarcode(p.Barcode) != store.NormalizeBarcode(req.Borrower)) {
			res.Item = briefOf(tx, &it)
			return refuse(ItemNotOnLoan, "not on loan to the patron named"), nil
		}
		if open {
			res.WasOnLoan = true
			pb := patronBrief(&p)
			res.Patron = &pb
			if err := tx.CloseLoan(&loan, returned, req.Agent.Library); err != nil {
				return nil, err
			}
			refs = append(refs, ref("loan", loan.ID), ref("patron", p.ID))
			rule := FindLoanRule(rules, p.UserGroup, it.Policy, it.Library)
			if fine := OverdueFine(rule, loan.Due, returned); fine > 0 {
				f := store.Fee{PatronID: p.ID, ItemID: it.ID, LoanID: loan.ID, Type: "04", Amount: fine,
					Balance: fine, Currency: rules.Currency, Status: store.FeeOpen, Library: it.Library,
					Description: "overdue", Created: now}
				if err := tx.PutFee(&f); err != nil {
					return nil, err
				}
				res.Fine, res.FineFeeID = fine, f.ID
				refs = append(refs, ref("fee", f.ID))
			}
		}
		if err := s.route(tx, rules, &it, req.Agent.Library, now, &res); err != nil {
			return nil, err
		}
		if res.RequestID != 0 {
			refs = append(refs, ref("request", res.RequestID))
		}
		if err := tx.PutItem(&it, now); err != nil {
			return nil, err
		}
		res.Item = briefOf(tx, &it)
		if err := emit(tx, now, "checkin", req.Agent, refs...); err != nil {
			return nil, err
		}
		if !open {
			return refuse(ItemNotOnLoan, ""), nil
		}
		return nil, nil
	})
	s.countRefusal(ctx, req.Agent.Library, err)
	return res, err
}

// route decides where a returned or arriving item goes and updates the item
// and the request it is trapped for.
func (s *Service) route(tx store.Tx, rules *store.Rules, it *store.Item, here string, now time.Time, res *CheckinResult) error {
	res.SortBin = it.Location
	// An item already trapped for a request keeps serving it.
	if it.HeldFor != 0 {
		r, err := tx.Request(it.HeldFor)
		if err == nil && r.Status.Open() {
			return s.trap(tx, rules, it, &r, here, now, res)
		}
		it.HeldFor = 0
	}
	reqs, err := tx.OpenRequestsOfBib(it.BibID)
	if err != nil {
		return err
	}
	if r, ok := firstWaiting(reqs, it.ID, now); ok {
		return s.trap(tx, rules, it, &r, here, now, res)
	}
	it.TransitTo = ""
	if it.Library != "" && it.Library != here {
		it.Status, it.TransitTo = store.ItemInTransit, it.Library
		res.Alert, res.Destination, res.SortBin = AlertTransit, it.Library, it.Library
		return nil
	}
	it.Status = store.ItemAvailable
	return nil
}

// trap reserves an item for a request: on the hold shelf when the pickup
// library is here, in transit to it otherwise.
func (s *Service) trap(tx store.Tx, rules *store.Rules, it *store.Item, r *store.Request, here string, now time.Time, res *CheckinResult) error {
	p, err := tx.Patron(r.PatronID)
	if err != nil {
		return err
	}
	pb := patronBrief(&p)
	res.Waiting, res.RequestID, res.Destination = &pb, r.ID, r.Pickup
	it.HeldFor = r.ID
	r.ItemID = it.ID
	if r.Pickup == here || r.Pickup == "" {
		it.Status, it.TransitTo = store.ItemOnHoldShelf, ""
		res.Alert, res.SortBin, res.Destination = AlertHoldHere, "HOLD", here
		if r.Status != store.RequestOnShelf {
			r.Status = store.RequestOnShelf
			days := rules.HoldShelfDays
			if days <= 0 {
				days = 7
			}
			r.ShelfExpires = now.AddDate(0, 0, days)
		}
	} else {
		it.Status, it.TransitTo = store.ItemInTransit, r.Pickup
		r.Status = store.RequestInTransit
		res.Alert, res.SortBin = AlertHoldElsewere, r.Pickup
	}
	return tx.PutRequest(r)
}
