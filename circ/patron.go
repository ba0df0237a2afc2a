package circ

import (
	"context"
	"errors"
	"time"

	"github.com/circa-ils/circa/store"
)

// PatronQuery asks for a patron's status.
type PatronQuery struct {
	Patron string
	PIN    string // checked when given; the summary says whether it was right
	// Brief leaves out the lists of loans, requests and fees (their counts
	// stay in Standing): enough for a status check, and much cheaper for a
	// patron with many loans.
	Brief bool
}

// LoanBrief is one loan in a patron summary.
type LoanBrief struct {
	Item     ItemBrief `json:"item"`
	LoanID   uint64    `json:"loan_id"`
	Out      time.Time `json:"out"`
	Due      time.Time `json:"due"`
	Renewals int       `json:"renewals"`
	Overdue  bool      `json:"overdue"`
	Recalled bool      `json:"recalled"`
}

// RequestBrief is one request in a patron summary.
type RequestBrief struct {
	ID       uint64              `json:"id"`
	Kind     store.RequestKind   `json:"kind"`
	BibID    uint64              `json:"bib_id"`
	Title    string              `json:"title"`
	Item     string              `json:"item,omitempty"` // barcode of the requested or trapped item
	Status   store.RequestStatus `json:"status"`
	Pickup   string              `json:"pickup"`
	Position int                 `json:"position"`
	Expires  time.Time           `json:"expires,omitempty"`
}

// PatronSummary is everything the protocols report about a patron. It
// holds personal data: protocol responses may carry it, logs never.
type PatronSummary struct {
	Patron   store.Patron
	Valid    bool // the patron exists
	PINGiven bool
	PINOK    bool
	// PINRefusal says why a given PIN was not accepted: wrong
	// (PatronAuthFailed), locked after too many wrong ones
	// (PatronPINLocked), or not checked for lack of room (Busy).
	PINRefusal Code
	Standing   Standing
	Flags      PatronFlags
	Refusal    Code // why the patron may not borrow, OK if they may
	Currency   string
	Loans      []LoanBrief
	Overdue    []LoanBrief
	Recalled   []LoanBrief
	Holds      []RequestBrief // open requests, all states
	// Available are requests whose item waits on the hold shelf;
	// Unavailable the rest.
	Available   []RequestBrief
	Unavailable []RequestBrief
	Fees        []store.Fee // outstanding fees, oldest first
	LoanLimit   int
}

// PatronStatus summarises a patron. An unknown patron is not an error: the
// summary says Valid=false, as SIP2 needs.
func (s *Service) PatronStatus(ctx context.Context, q PatronQuery) (PatronSummary, error) {
	var sum PatronSummary
	now := s.Now()
	rules := s.rules.Load()
	pin, err := s.checkPIN(ctx, q.Patron, q.PIN, false)
	if err != nil {
		return sum, err
	}
	err = s.view(ctx, func(tx store.Tx) error {
		sum = PatronSummary{Currency: rules.Currency}
		p, err := tx.PatronByBarcode(q.Patron)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		sum.Patron, sum.Valid = p, true
		sum.PINGiven = q.PIN != ""
		if sum.PINGiven {
			_, refusal, err := s.lookupPatron(tx, q.Patron, pin)
			if err != nil {
				return err
			}
			sum.PINOK = refusal == nil
			if refusal != nil {
				sum.PINRefusal = refusal.Code
			}
		}
		st, loans, fees, err := standing(tx, &p, now)
		if err != nil {
			return err
		}
		sum.Standing = st
		sum.Flags = FlagsOf(rules, &p, st)
		sum.Refusal = BorrowRefusal(rules, st)
		sum.LoanLimit = LoanLimitOf(rules, p.UserGroup)
		if q.Brief {
			return nil
		}
		for _, l := range loans {
			it, err := tx.Item(l.ItemID)
			if err != nil {
				return err
			}
			lb := LoanBrief{Item: briefOf(tx, &it), LoanID: l.ID, Out: l.Out, Due: l.Due, Renewals: l.Renewals,
				Overdue: now.After(l.Due), Recalled: l.Recalled}
			sum.Loans = append(sum.Loans, lb)
			if lb.Overdue {
				sum.Overdue = append(sum.Overdue, lb)
			}
			if lb.Recalled {
				sum.Recalled = append(sum.Recalled, lb)
			}
		}
		for _, f := range fees {
			if f.Outstanding() {
				sum.Fees = append(sum.Fees, f)
			}
		}
		reqs, err := tx.OpenRequestsOfPatron(p.ID)
		if err != nil {
			return err
		}
		for _, r := range reqs {
			if r.Kind == store.RequestRetrieval {
				continue
			}
			rb := RequestBrief{ID: r.ID, Kind: r.Kind, BibID: r.BibID, Status: r.Status, Pickup: r.Pickup, Expires: r.Expires}
			if bib, err := tx.Bib(r.BibID); err == nil {
				rb.Title = bib.Title
			}
			if r.ItemID != 0 {
				if it, err := tx.Item(r.ItemID); err == nil {
					rb.Item = it.Barcode
				}
			}
			if queue, err := tx.OpenRequestsOfBib(r.BibID); err == nil {
				rb.Position = queuePosition(queue, r.ID)
			}
			sum.Holds = append(sum.Holds, rb)
			if r.Status == store.RequestOnShelf {
				sum.Available = append(sum.Available, rb)
			} else {
				sum.Unavailable = append(sum.Unavailable, rb)
			}
		}
		return nil
	})
	return sum, err
}

// VerifyPatron checks a patron's PIN or password in constant time; a
// refusal says whether the patron is unknown or the PIN wrong.
func (s *Service) VerifyPatron(ctx context.Context, barcode, pin string) (store.Patron, error) {
	var p store.Patron
	var refusal *Error
	v, err := s.checkPIN(ctx, barcode, pin, true)
	if err != nil {
		return p, err
	}
	err = s.view(ctx, func(tx store.Tx) error {
		var err error
		p, refusal, err = s.lookupPatron(tx, barcode, v)
		return err
	})
	if err != nil {
		return p, err
	}
	if refusal != nil {
		return p, refusal
	}
	return p, nil
}

// BlockRequest places or lifts a block.
type BlockRequest struct {
	Agent  Agent
	Patron string
	Type   string // manual when empty
	Note   string
	// CardRetained is SIP2's "card retained" flag of message 01.
	CardRetained bool
	// Retry makes the request safe to retry: a retry gets the stored answer
	// and places or lifts nothing twice.
	Retry Retry
}

// Block places a block on a patron.
func (s *Service) Block(ctx context.Context, req BlockRequest) (store.Patron, error) {
	var p store.Patron
	now := s.Now()
	err := s.update(ctx, req.Retry, &p, func(tx store.Tx) (*Error, error) {
		var refusal *Error
		var err error
		p, refusal, err = s.lookupPatron(tx, req.Patron, pinVerdict{})
		if err != nil || refusal != nil {
			return refusal, err
		}
		typ := req.Type
		if typ == "" {
			typ = "manual"
		}
		note := req.Note
		if req.CardRetained {
			note = "card retained; " + note
		}
		p.Blocks = append(p.Blocks, store.Block{Type: typ, Note: note, Created: now})
		if err := tx.PutPatron(&p, now); err != nil {
			return nil, err
		}
		return nil, emit(tx, now, "patron.block", req.Agent, ref("patron", p.ID))
	})
	return p, err
}

// Unblock lifts a patron's blocks of a type, or all when Type is empty.
func (s *Service) Unblock(ctx context.Context, req BlockRequest) (store.Patron, error) {
	var p store.Patron
	now := s.Now()
	err := s.update(ctx, req.Retry, &p, func(tx store.Tx) (*Error, error) {
		var refusal *Error
		var err error
		p, refusal, err = s.lookupPatron(tx, req.Patron, pinVerdict{})
		if err != nil || refusal != nil {
			return refusal, err
		}
		kept := p.Blocks[:0]
		for _, b := range p.Blocks {
			if req.Type != "" && b.Type != req.Type {
				kept = append(kept, b)
			}
		}
		if len(kept) == len(p.Blocks) {
			return refuse(InvalidRequest, "no such block"), nil
		}
		p.Blocks = kept
		if err := tx.PutPatron(&p, now); err != nil {
			return nil, err
		}
		return nil, emit(tx, now, "patron.unblock", req.Agent, ref("patron", p.ID))
	})
	return p, err
}
