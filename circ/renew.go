package circ

import (
	"context"
	"time"

	"github.com/circa-ils/circa/store"
)

// RenewRequest asks to extend a loan.
type RenewRequest struct {
	Agent      Agent
	Patron     string
	PIN        string
	RequirePIN bool
	Item       string
	Retry      Retry
}

// RenewResult is the answer to a renewal.
type RenewResult struct {
	Item     ItemBrief   `json:"item"`
	Patron   PatronBrief `json:"patron"`
	Due      time.Time   `json:"due,omitempty"`
	Renewals int         `json:"renewals"`
	At       time.Time   `json:"at"`
}

// Renew extends a patron's loan of an item by the rule's loan period,
// refusing past the renewal limit or when others wait for the item.
func (s *Service) Renew(ctx context.Context, req RenewRequest) (RenewResult, error) {
	var res RenewResult
	now := s.Now()
	rules := s.rules.Load()
	pin, err := s.checkPIN(ctx, req.Patron, req.PIN, req.RequirePIN)
	if err != nil {
		return res, err
	}
	err = s.update(ctx, req.Retry, &res, func(tx store.Tx) (*Error, error) {
		res = RenewResult{At: now}
		p, refusal, err := s.lookupPatron(tx, req.Patron, pin)
		if err != nil || refusal != nil {
			return refusal, err
		}
		res.Patron = patronBrief(&p)
		it, refusal, err := lookupItem(tx, req.Item)
		if err != nil || refusal != nil {
			return refusal, err
		}
		res.Item = briefOf(tx, &it)
		loan, open, err := tx.OpenLoanOfItem(it.ID)
		if err != nil {
			return nil, err
		}
		if !open || loan.PatronID != p.ID {
			return refuse(ItemNotOnLoan, "not on loan to this patron"), nil
		}
		rr, refusal, err := s.renewLoan(tx, rules, &p, &it, &loan, now, req.Agent)
		res.Due, res.Renewals = rr.Due, rr.Renewals
		return refusal, err
	})
	s.countRefusal(ctx, req.Agent.Library, err)
	return res, err
}

// renewLoan applies the renewal rules to one open loan and, when allowed,
// extends it. On refusal the returned result holds the current due date.
func (s *Service) renewLoan(tx store.Tx, rules *store.Rules, p *store.Patron, it *store.Item, loan *store.Loan, now time.Time, agent Agent) (RenewResult, *Error, error) {
	res := RenewResult{Due: loan.Due, Renewals: loan.Renewals}
	st, _, _, err := standing(tx, p, now)
	if err != nil {
		return res, nil, err
	}
	if refusal := RefusalOf(rules, p, st); refusal != nil {
		return res, refusal, nil
	}
	rule := FindLoanRule(rules, p.UserGroup, it.Policy, it.Library)
	if ok, err := circulates(tx, rule, it); err != nil || !ok {
		return res, refuse(ItemNotCirculating, ""), err
	}
	if loan.Recalled {
		return res, refuse(RenewalOnHold, "recalled"), nil
	}
	if loan.Renewals >= rule.RenewalLimit {
		return res, refuse(RenewalLimit, ""), nil
	}
	reqs, err := tx.OpenRequestsOfBib(it.BibID)
	if err != nil {
		return res, nil, err
	}
	if othersWaiting(reqs, it.ID, p.ID, now) {
		return res, refuse(RenewalOnHold, ""), nil
	}
	due := DueDate(rule, now, s.Zone(tx, agent.Library))
	if due.Before(loan.Due) {
		due = loan.Due
	}
	loan.Due = due
	loan.Renewals++
	if err := tx.UpdateLoan(loan); err != nil {
		return res, nil, err
	}
	if err := emit(tx, now, "renew", agent, ref("loan", loan.ID), ref("item", it.ID), ref("patron", p.ID)); err != nil {
		return res, nil, err
	}
	return RenewResult{Due: loan.Due, Renewals: loan.Renewals, At: now}, nil, nil
}

// RenewAllRequest asks to renew every loan of a patron.
type RenewAllRequest struct {
	Agent      Agent
	Patron     string
	PIN        string
	RequirePIN bool
	Retry      Retry
}

// RenewOutcome is one loan's result within a renew-all.
type RenewOutcome struct {
	Item    ItemBrief `json:"item"`
	Due     time.Time `json:"due"`
	Refusal Code      `json:"refusal,omitempty"`
}

// RenewAllResult lists the renewed and unrenewed loans.
type RenewAllResult struct {
	Patron    PatronBrief    `json:"patron"`
	Renewed   []RenewOutcome `json:"renewed"`
	Unrenewed []RenewOutcome `json:"unrenewed"`
	At        time.Time      `json:"at"`
}

// RenewAll tries to renew each of the patron's open loans.
func (s *Service) RenewAll(ctx context.Context, req RenewAllRequest) (RenewAllResult, error) {
	var res RenewAllResult
	now := s.Now()
	rules := s.rules.Load()
	pin, err := s.checkPIN(ctx, req.Patron, req.PIN, req.RequirePIN)
	if err != nil {
		return res, err
	}
	err = s.update(ctx, req.Retry, &res, func(tx store.Tx) (*Error, error) {
		res = RenewAllResult{At: now}
		p, refusal, err := s.lookupPatron(tx, req.Patron, pin)
		if err != nil || refusal != nil {
			return refusal, err
		}
		res.Patron = patronBrief(&p)
		loans, err := tx.OpenLoansOfPatron(p.ID)
		if err != nil {
			return nil, err
		}
		for i := range loans {
			it, err := tx.Item(loans[i].ItemID)
			if err != nil {
				return nil, err
			}
			out := RenewOutcome{Item: briefOf(tx, &it)}
			rr, refusal, err := s.renewLoan(tx, rules, &p, &it, &loans[i], now, req.Agent)
			if err != nil {
				return nil, err
			}
			out.Due = rr.Due
			if refusal != nil {
				out.Refusal = refusal.Code
				res.Unrenewed = append(res.Unrenewed, out)
			} else {
				res.Renewed = append(res.Renewed, out)
			}
		}
		return nil, nil
	})
	return res, err
}
