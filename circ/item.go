package circ

import (
	"context"
	"time"

	"github.com/circa-ils/circa/store"
)

// ItemSummary is everything the protocols report about an item.
type ItemSummary struct {
	Item        ItemBrief
	CircStatus  string // SIP2 circulation status 01–13
	HoldQueue   int    // open holds on the item or its title
	Due         time.Time
	Borrower    *PatronBrief // who has it; never logged
	Recalled    bool
	HeldFor     *PatronBrief // whom it waits for on the hold shelf
	Destination string       // library it is in transit to
	Fee         int64        // rental fee for its policy
	Currency    string
}

// ItemInfo summarises an item.
func (s *Service) ItemInfo(ctx context.Context, barcode string) (ItemSummary, error) {
	var sum ItemSummary
	rules := s.rules.Load()
	var refusal *Error
	err := s.view(ctx, func(tx store.Tx) error {
		it, r, err := lookupItem(tx, barcode)
		if err != nil || r != nil {
			refusal = r
			return err
		}
		sum = ItemSummary{Item: briefOf(tx, &it), Destination: it.TransitTo, Currency: rules.Currency,
			Fee: rentalFee(rules, it.Policy)}
		loan, open, err := tx.OpenLoanOfItem(it.ID)
		if err != nil {
			return err
		}
		if open {
			sum.Due, sum.Recalled = loan.Due, loan.Recalled
			if p, err := tx.Patron(loan.PatronID); err == nil {
				pb := patronBrief(&p)
				sum.Borrower = &pb
			}
		}
		sum.CircStatus = CirculationStatus(&it, sum.Recalled)
		reqs, err := tx.OpenRequestsOfBib(it.BibID)
		if err != nil {
			return err
		}
		for _, r := range reqs {
			if r.Kind == store.RequestRetrieval {
				continue
			}
			if r.TitleLevel || r.ItemID == it.ID {
				sum.HoldQueue++
			}
			if it.HeldFor == r.ID {
				if p, err := tx.Patron(r.PatronID); err == nil {
					pb := patronBrief(&p)
					sum.HeldFor = &pb
				}
			}
		}
		return nil
	})
	if err != nil {
		return sum, err
	}
	if refusal != nil {
		return sum, refusal
	}
	return sum, nil
}

// ItemPropertiesRequest sets the free-text properties a device keeps on an
// item (SIP2 message 19, field CH).
type ItemPropertiesRequest struct {
	Agent      Agent
	Item       string
	Properties string
	Retry      Retry
}

// SetItemProperties stores an item's properties.
func (s *Service) SetItemProperties(ctx context.Context, req ItemPropertiesRequest) (ItemBrief, error) {
	var res ItemBrief
	now := s.Now()
	err := s.update(ctx, req.Retry, &res, func(tx store.Tx) (*Error, error) {
		it, refusal, err := lookupItem(tx, req.Item)
		if err != nil || refusal != nil {
			return refusal, err
		}
		it.Properties = req.Properties
		if err := tx.PutItem(&it, now); err != nil {
			return nil, err
		}
		res = briefOf(tx, &it)
		return nil, emit(tx, now, "item.properties", req.Agent, ref("item", it.ID))
	})
	return res, err
}
