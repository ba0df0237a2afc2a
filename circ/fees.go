package circ

import (
	"context"
	"strings"
	"time"

	"github.com/circa-ils/circa/store"
)

// PayRequest pays a named fee, or the patron's open fees oldest first.
type PayRequest struct {
	Agent       Agent
	Patron      string
	PIN         string
	RequirePIN  bool
	FeeID       uint64 // 0: oldest first
	Amount      int64  // minor units
	Currency    string // empty: the installation's currency
	PaymentType string // SIP2 00 cash, 01 VISA, 02 credit card
	// TransactionID is the payment's external id (SIP2 BK). It names the
	// payment for good: a repeat with the same id, however late, gets the
	// stored answer and pays nothing twice.
	TransactionID string
	// Retry, for a payment without an id, recognises a retransmission.
	Retry Retry
	Waive bool // staff waiver instead of a payment
}

// FeeApplied is the part of a payment that went to one fee.
type FeeApplied struct {
	FeeID   uint64 `json:"fee_id"`
	Amount  int64  `json:"amount"`
	Balance int64  `json:"balance"` // left on the fee
}

// PayResult says where the payment went.
type PayResult struct {
	Patron        PatronBrief  `json:"patron"`
	Applied       []FeeApplied `json:"applied"`
	Remaining     int64        `json:"remaining"` // the patron's outstanding total after paying
	Currency      string       `json:"currency"`
	TransactionID string       `json:"transaction_id"`
	At            time.Time    `json:"at"`
	// Replayed: the transaction id was recorded before and this is that
	// payment's stored answer; nothing was charged now. Never stored with
	// the answer.
	Replayed bool `json:"-"`
}

func (r *PayResult) markReplayed() { r.Replayed = true }

// PayFee applies a payment. Partial payments are accepted; paying more than
// is owed is refused and changes nothing.
func (s *Service) PayFee(ctx context.Context, req PayRequest) (PayResult, error) {
	var res PayResult
	now := s.Now()
	rules := s.rules.Load()
	currency := strings.ToUpper(req.Currency)
	if currency == "" {
		currency = rules.Currency
	}
	retry := req.Retry
	if req.TransactionID != "" {
		retry = foreverKey("pay\x00" + req.TransactionID)
	}
	pin, err := s.checkPIN(ctx, req.Patron, req.PIN, req.RequirePIN)
	if err != nil {
		return res, err
	}
	err = s.update(ctx, retry, &res, func(tx store.Tx) (*Error, error) {
		res = PayResult{At: now, Currency: currency, TransactionID: req.TransactionID}
		p, refusal, err := s.lookupPatron(tx, req.Patron, pin)
		if err != nil || refusal != nil {
			return refusal, err
		}
		res.Patron = patronBrief(&p)
		if req.Amount <= 0 {
			return refuse(InvalidRequest, "amount must be positive"), nil
		}
		fees, err := tx.FeesOfPatron(p.ID)
		if err != nil {
			return nil, err
		}
		var targets []store.Fee
		var owed int64
		for _, f := range fees {
			if !f.Outstanding() {
				continue
			}
			if req.FeeID != 0 && f.ID != req.FeeID {
				continue
			}
			if f.Currency != currency {
				if req.FeeID != 0 {
					return refuse(CurrencyMismatch, ""), nil
				}
				continue
			}
			targets = append(targets, f)
			owed += f.Balance
		}
		if req.FeeID != 0 && len(targets) == 0 {
			if _, err := tx.Fee(req.FeeID); err != nil {
				return refuse(FeeUnknown, ""), nil
			}
			return refuse(FeeNothingOwed, "fee already settled"), nil
		}
		if owed == 0 {
			return refuse(FeeNothingOwed, ""), nil
		}
		if req.Amount > owed {
			return refuse(FeeOverpaid, ""), nil
		}
		left := req.Amount
		kind := store.TxnPayment
		if req.Waive {
			kind = store.TxnWaive
		}
		refs := []store.Ref{ref("patron", p.ID)}
		for i := range targets {
			if left == 0 {
				break
			}
			f := &targets[i]
			part := min(left, f.Balance)
			left -= part
			f.Balance -= part
			f.Transactions = append(f.Transactions, store.FeeTxn{Kind: kind, Amount: part, At: now,
				ExternalID: req.TransactionID, PaymentType: req.PaymentType, Agent: req.Agent.String()})
			if f.Balance == 0 {
				switch {
				case f.Status == store.FeeExported:
					f.Status = store.FeeExportedPaid
				case req.Waive:
					f.Status = store.FeeWaived
				default:
					f.Status = store.FeePaid
				}
			}
			if err := tx.PutFee(f); err != nil {
				return nil, err
			}
			res.Applied = append(res.Applied, FeeApplied{FeeID: f.ID, Amount: part, Balance: f.Balance})
			refs = append(refs, ref("fee", f.ID))
		}
		res.Remaining = owed - req.Amount
		for _, f := range fees {
			if f.Outstanding() && f.Currency == currency && req.FeeID != 0 && f.ID != req.FeeID {
				res.Remaining += f.Balance
			}
		}
		kindName := "fee.pay"
		if req.Waive {
			kindName = "fee.waive"
		}
		return nil, emit(tx, now, kindName, req.Agent, refs...)
	})
	return res, err
}

// ChargeRequest adds a fee to a patron's account (an ILL fee, a lost item).
type ChargeRequest struct {
	Agent       Agent
	Patron      string
	Type        string // SIP2 fee type
	Amount      int64
	Currency    string
	Description string
	Item        string
	// Key names the charge for good (an NCIP partner's transaction id): a
	// repeat with the same key, however late, gets the first charge.
	Key string
}

// ChargeResult names the new fee.
type ChargeResult struct {
	FeeID    uint64    `json:"fee_id"`
	Patron   uint64    `json:"patron"`
	Amount   int64     `json:"amount"`
	Currency string    `json:"currency"`
	At       time.Time `json:"at"`
}

// Charge adds a fee.
func (s *Service) Charge(ctx context.Context, req ChargeRequest) (ChargeResult, error) {
	var res ChargeResult
	now := s.Now()
	rules := s.rules.Load()
	err := s.update(ctx, foreverKey(req.Key), &res, func(tx store.Tx) (*Error, error) {
		res = ChargeResult{At: now}
		p, refusal, err := s.lookupPatron(tx, req.Patron, pinVerdict{})
		if err != nil || refusal != nil {
			return refusal, err
		}
		if req.Amount <= 0 {
			return refuse(InvalidRequest, "amount must be positive"), nil
		}
		cur := strings.ToUpper(req.Currency)
		if cur == "" {
			cur = rules.Currency
		}
		f := store.Fee{PatronID: p.ID, Type: req.Type, Amount: req.Amount, Balance: req.Amount, Currency: cur,
			Status: store.FeeOpen, Library: req.Agent.Library, Description: req.Description, Created: now}
		if f.Type == "" {
			f.Type = "01"
		}
		if req.Item != "" {
			it, refusal, err := lookupItem(tx, req.Item)
			if err != nil || refusal != nil {
				return refusal, err
			}
			f.ItemID = it.ID
		}
		if err := tx.PutFee(&f); err != nil {
			return nil, err
		}
		res.FeeID, res.Patron, res.Amount, res.Currency = f.ID, p.ID, f.Amount, f.Currency
		return nil, emit(tx, now, "fee.charge", req.Agent, ref("fee", f.ID), ref("patron", p.ID))
	})
	return res, err
}
