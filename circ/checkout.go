package circ

import (
	"context"
	"errors"
	"time"

	"github.com/circa-ils/circa/store"
)

// ItemBrief is what a response says about an item.
type ItemBrief struct {
	ID         uint64           `json:"id"`
	Barcode    string           `json:"barcode"`
	Title      string           `json:"title"`
	Author     string           `json:"author,omitempty"`
	CallNumber string           `json:"call_number,omitempty"`
	Library    string           `json:"library"`
	Location   string           `json:"location"`
	MediaType  string           `json:"media_type"`
	Magnetic   bool             `json:"magnetic,omitempty"`
	Pieces     int              `json:"pieces"`
	Status     store.ItemStatus `json:"status"`
	Policy     string           `json:"policy"`
	BibID      uint64           `json:"bib_id"`
	Properties string           `json:"properties,omitempty"`
	Price      int64            `json:"price,omitempty"` // minor units of the library's currency
	Note       string           `json:"note,omitempty"`  // for staff
}

func briefOf(tx store.Tx, it *store.Item) ItemBrief {
	b := ItemBrief{ID: it.ID, Barcode: it.Barcode, CallNumber: it.CallNumber, Library: it.Library,
		Location: it.Location, MediaType: it.MediaType, Magnetic: it.Magnetic, Pieces: it.Pieces,
		Status: it.Status, Policy: it.Policy, BibID: it.BibID, Properties: it.Properties, Price: it.Price, Note: it.Note}
	if bib, err := tx.Bib(it.BibID); err == nil {
		b.Title, b.Author = bib.Title, bib.Author
		if b.CallNumber == "" {
			b.CallNumber = bib.CallNumber
		}
	}
	return b
}

// PatronBrief identifies a patron in a response. Name is for the protocol
// response only and must never be logged.
type PatronBrief struct {
	ID      uint64 `json:"id"`
	Barcode string `json:"barcode"`
	Name    string `json:"name"`
}

func patronBrief(p *store.Patron) PatronBrief {
	return PatronBrief{ID: p.ID, Barcode: p.Barcode, Name: p.FullName()}
}

// CheckoutRequest asks to lend an item to a patron.
type CheckoutRequest struct {
	Agent  Agent
	Patron string // barcode
	PIN    string // verified when given, or when RequirePIN
	// RequirePIN refuses a checkout without a correct PIN.
	RequirePIN bool
	Item       string // barcode
	// NoBlock is an offline checkout the kiosk already made: it is accepted
	// with the kiosk's due date whatever the blocks, and flagged for staff.
	NoBlock    bool
	NoBlockDue time.Time
	// FeeAcknowledged is the patron's agreement to a rental fee (SIP2 BO).
	FeeAcknowledged bool
	// OwnItem overrides the rule for an item already on loan to the same
	// patron: nil follows the rules, true renews, false refuses.
	OwnItem *bool
	// Retry makes the request safe to retry: a retry gets the stored answer.
	Retry Retry
}

// CheckoutResult is the answer to a checkout, filled as far as known also
// when the checkout was refused.
type CheckoutResult struct {
	Item     ItemBrief   `json:"item"`
	Patron   PatronBrief `json:"patron"`
	LoanID   uint64      `json:"loan_id,omitempty"`
	Due      time.Time   `json:"due,omitempty"`
	Renewed  bool        `json:"renewed,omitempty"`
	NoBlock  bool        `json:"no_block,omitempty"`
	FeeType  string      `json:"fee_type,omitempty"`
	Fee      int64       `json:"fee,omitempty"` // rental fee charged or to acknowledge
	Currency string      `json:"currency,omitempty"`
	At       time.Time   `json:"at"`
}

// Checkout lends an item. An item already on loan to the same patron is
// renewed (unless the rules say to refuse); a no-block checkout is accepted
// with the kiosk's due date and flagged for review.
func (s *Service) Checkout(ctx context.Context, req CheckoutRequest) (CheckoutResult, error) {
	var res CheckoutResult
	now := s.Now()
	rules := s.rules.Load()
	pin, err := s.checkPIN(ctx, req.Patron, req.PIN, req.RequirePIN && !req.NoBlock)
	if err != nil {
		return res, err
	}
	err = s.update(ctx, req.Retry, &res, func(tx store.Tx) (*Error, error) {
		res = CheckoutResult{At: now, Currency: rules.Currency}
		p, refusal, err := s.lookupPatron(tx, req.Patron, pin)
		if err != nil || (refusal != nil && refusal.Code == PatronUnknown) {
			return refusal, err
		}
		res.Patron = patronBrief(&p)
		it, itemRefusal, err := lookupItem(tx, req.Item)
		if err != nil || itemRefusal != nil {
			return itemRefusal, err
		}
		res.Item = briefOf(tx, &it)
		if refusal != nil {
			return refusal, nil
		}
		loan, onLoan, err := tx.OpenLoanOfItem(it.ID)
		if err != nil {
			return nil, err
		}
		if onLoan && loan.PatronID == p.ID {
			renew := !rules.RefuseOwnCheckout
			if req.OwnItem != nil {
				renew = *req.OwnItem
			}
			if !renew {
				res.Due = loan.Due
				return &Error{Code: AlreadyOnLoan, Facts: Facts{Due: loan.Due}}, nil
			}
			rr, refusal, err := s.renewLoan(tx, rules, &p, &it, &loan, now, req.Agent)
			res.Due, res.Renewed, res.LoanID = rr.Due, refusal == nil, loan.ID
			return refusal, err
		}
		if onLoan && !req.NoBlock {
			return refuse(ItemOnLoanToOther, ""), nil
		}
		st, _, _, err := standing(tx, &p, now)
		if err != nil {
			return nil, err
		}
		rule := FindLoanRule(rules, p.UserGroup, it.Policy, it.Library)
		zone := s.Zone(tx, req.Agent.Library)
		reqs, err := tx.OpenRequestsOfBib(it.BibID)
		if err != nil {
			return nil, err
		}
		if !req.NoBlock {
			if refusal := RefusalOf(rules, &p, st); refusal != nil {
				return refusal, nil
			}
			if ok, err := circulates(tx, rule, &it); err != nil || !ok {
				return refuse(ItemNotCirculating, ""), err
			}
			switch it.Status {
			case store.ItemLost, store.ItemMissing, store.ItemClaimedReturned, store.ItemOnOrder, store.ItemInProcess:
				return refuse(ItemUnavailable, string(it.Status)), nil
			}
			if heldForOther(&it, reqs, p.ID, now) {
				return refuse(ItemOnHoldForOther, ""), nil
			}
			if limit := LoanLimitOf(rules, p.UserGroup); limit > 0 && st.Loans >= limit {
				return &Error{Code: LoanLimit, Facts: Facts{Loans: st.Loans, LoanLimit: limit}}, nil
			}
			if fee := rentalFee(rules, it.Policy); fee > 0 {
				res.Fee, res.FeeType = fee, "06"
				if !req.FeeAcknowledged {
					return refuse(FeeAckRequired, ""), nil
				}
			}
		}
		if onLoan {
			// A no-block checkout of an item the server thinks is out to
			// someone else: the kiosk already handed it over, so the old
			// loan ends here and staff review both.
			if err := tx.CloseLoan(&loan, now, req.Agent.Library); err != nil {
				return nil, err
			}
		}
		due := DueDate(rule, now, zone)
		if req.NoBlock && !req.NoBlockDue.IsZero() {
			due = req.NoBlockDue.UTC()
		}
		l := store.Loan{ItemID: it.ID, PatronID: p.ID, Library: req.Agent.Library, Out: now, Due: due,
			NoBlock: req.NoBlock, NeedsReview: req.NoBlock, Agent: req.Agent.String()}
		if err := tx.OpenLoan(&l); err != nil {
			return nil, err
		}
		fulfilled, err := fulfilRequests(tx, &it, reqs, p.ID, now)
		if err != nil {
			return nil, err
		}
		it.Status, it.HeldFor, it.TransitTo = store.ItemOnLoan, 0, ""
		if err := tx.PutItem(&it, now); err != nil {
			return nil, err
		}
		refs := []store.Ref{ref("loan", l.ID), ref("item", it.ID), ref("patron", p.ID), ref("bib", it.BibID)}
		if fulfilled != 0 {
			refs = append(refs, ref("request", fulfilled))
		}
		if onLoan {
			refs = append(refs, ref("loan", loan.ID), ref("patron", loan.PatronID))
		}
		if res.Fee > 0 {
			f := store.Fee{PatronID: p.ID, ItemID: it.ID, LoanID: l.ID, Type: res.FeeType, Amount: res.Fee,
				Balance: res.Fee, Currency: rules.Currency, Status: store.FeeOpen, Library: it.Library,
				Description: "rental", Created: now}
			if err := tx.PutFee(&f); err != nil {
				return nil, err
			}
			refs = append(refs, ref("fee", f.ID))
		}
		if err := emit(tx, now, "checkout", req.Agent, refs...); err != nil {
			return nil, err
		}
		res.LoanID, res.Due, res.NoBlock = l.ID, l.Due, req.NoBlock
		res.Item.Status = it.Status
		return nil, nil
	})
	s.countRefusal(ctx, req.Agent.Library, err)
	return res, err
}

func rentalFee(r *store.Rules, policy string) int64 {
	for _, f := range r.RentalFees {
		if f.ItemPolicy == policy {
			return f.Amount
		}
	}
	return 0
}

// fulfilRequests closes the patron's own requests that this checkout
// satisfies: an item-level request for the item, the request it was held
// for, or a title-level request on its bib. reqs are the bib's open
// requests, read once by the checkout. It returns the closed request's id,
// or 0.
func fulfilRequests(tx store.Tx, it *store.Item, reqs []store.Request, patronID uint64, now time.Time) (uint64, error) {
	for _, r := range reqs {
		if r.PatronID != patronID || r.Kind == store.RequestRetrieval {
			continue
		}
		if r.ID == it.HeldFor || r.ItemID == it.ID || r.TitleLevel {
			r.Status, r.Closed, r.ItemID = store.RequestFulfilled, now, it.ID
			return r.ID, tx.PutRequest(&r)
		}
	}
	return 0, nil
}

// circulates says whether an item may go out: its loan rule lends it and
// its location is not one whose items stay in the building.
func circulates(tx store.Tx, rule store.LoanRule, it *store.Item) (bool, error) {
	if !rule.Circulates {
		return false, nil
	}
	loc, err := tx.Location(it.Location)
	if errors.Is(err, store.ErrNotFound) {
		return true, nil // db check reports the dangling location
	}
	return err == nil && !loc.NotCirculating, err
}
