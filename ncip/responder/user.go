package responder

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/ncip"
	"github.com/circa-ils/circa/store"
)

// patronSummary reads what a LookupUser needs and no more: the patron's
// standing only for User Privilege and Block Or Trap, the loans and fees
// only for LoanedItemsDesired and UserFiscalAccountDesired, and otherwise
// just the patron record. A PIN or password, when sent, must be right; an
// unknown patron then costs the same hash as a known one and gets the same
// answer, User Authentication Failed, so the answer does not tell which
// barcodes exist. A patron's PIN locked by circ's throttle after too many
// wrong ones is also User Authentication Failed, its detail saying so.
// Without a secret, Valid is false for an unknown patron.
func (r *Responder) patronSummary(ctx context.Context, service string, req *ncip.LookupUser, user string) (circ.PatronSummary, error) {
	secret, hasSecret := req.Secret()
	lists := req.LoanedItemsDesired || req.UserFiscalAccountDesired
	var sum circ.PatronSummary
	var err error
	switch {
	case lists || req.Wants("User Privilege") || req.Wants("Block Or Trap"):
		sum, err = r.svc.PatronStatus(ctx, circ.PatronQuery{Patron: user, PIN: secret, Brief: !lists})
		if err == nil && hasSecret && !sum.PINOK {
			// Wrong, locked after too many wrong ones, or not checked (busy).
			err = &circ.Error{Code: sum.PINRefusal}
			if !sum.Valid {
				err = &circ.Error{Code: circ.PatronUnknown}
			}
		}
	case hasSecret:
		sum.Patron, err = r.svc.VerifyPatron(ctx, user, secret)
		sum.Valid = err == nil
	default:
		sum.Patron, sum.Valid, err = r.svc.PatronByBarcode(ctx, user)
		return sum, err
	}
	if code, ok := circ.CodeOf(err); ok && code == circ.PatronUnknown {
		r.dummyOnce.Do(func() { r.dummyHash, _ = circ.HashSecret("circa timing filler") })
		_, _ = circ.VerifySecret(r.dummyHash, secret)
		err = &circ.Error{Code: circ.PatronAuthFailed}
	}
	if err != nil {
		return sum, problemOf(service, err, ids{user: user})
	}
	return sum, nil
}

// LookupUser answers with the elements asked for: name, addresses,
// privileges with their status, blocks, user ids, date of birth, language,
// and on request loaned items and requested items, each list with its
// counts summary (LoanedItemsCount, RequestedItemsCount), and the fiscal
// account. A
// PIN or password, when sent, must be right.
func (r *Responder) LookupUser(ctx context.Context, c *ncip.Call, req *ncip.LookupUser) (*ncip.LookupUserResponse, error) {
	cl, err := r.caller(c)
	if err != nil {
		return nil, err
	}
	user := req.UserIdentifier()
	if user == "" {
		return nil, missing(c.Service, "UserId")
	}
	sum, err := r.patronSummary(ctx, c.Service, req, user)
	if err != nil {
		return nil, err
	}
	if !sum.Valid {
		return nil, problemOf(c.Service, &circ.Error{Code: circ.PatronUnknown}, ids{user: user})
	}
	p := &sum.Patron
	resp := &ncip.LookupUserResponse{Header: header(c, cl), UserID: ours(cl, p.Barcode)}
	agency := ncip.SV(cl.localAgency)
	f := &ncip.UserOptionalFields{}
	some := false
	if req.Wants("Name Information") {
		f.Name = &ncip.PersonalName{GivenName: p.FirstName, Surname: p.LastName}
		if p.LastName == "" {
			f.Name = &ncip.PersonalName{Unstructured: p.FullName()}
		}
		some = true
	}
	if req.Wants("User Address Information") {
		f.Addresses = addresses(p)
		some = some || len(f.Addresses) > 0
	}
	if req.Wants("Date Of Birth") {
		if d, err := time.Parse(time.DateOnly, p.Birthdate); err == nil {
			f.DateOfBirth, some = d, true
		}
	}
	if req.Wants("User Language") && p.Language != "" {
		f.Languages, some = []ncip.SchemeValue{ncip.SV(p.Language)}, true
	}
	if req.Wants("User Privilege") {
		status := "Active"
		switch {
		case sum.Standing.Expired:
			status = "Expired"
		case sum.Refusal != circ.OK:
			status = "Blocked"
		}
		f.Privileges = []ncip.UserPrivilege{{AgencyID: agency, Type: ncip.SV(p.UserGroup), ValidTo: p.Expiry,
			Status: ncip.SV(status), Description: "user group " + p.UserGroup}}
		some = true
	}
	if req.Wants("Block Or Trap") {
		for _, b := range p.Blocks {
			f.Blocks = append(f.Blocks, ncip.BlockOrTrap{AgencyID: agency, Type: ncip.SV("Block: " + b.Type), ValidFrom: b.Created})
		}
		// A manual block is listed above; a refusal for the fee or overdue
		// limits, which circ also calls "patron blocked", is not.
		if sum.Refusal != circ.OK && (sum.Refusal != circ.PatronBlocked || !sum.Standing.ManualBlock) {
			f.Blocks = append(f.Blocks, ncip.BlockOrTrap{AgencyID: agency, Type: ncip.SV("Block: " + r.refusalName(&sum))})
		}
		some = some || len(f.Blocks) > 0
	}
	if req.Wants("User Id") {
		f.UserIDs = append(f.UserIDs, ncip.Identifier{AgencyID: agency, Type: ncip.SV("Barcode"), Value: p.Barcode})
		for _, id := range p.Identifiers {
			f.UserIDs = append(f.UserIDs, ncip.Identifier{AgencyID: agency, Type: ncip.SV(id.Type), Value: id.Value})
		}
		some = true
	}
	if some {
		resp.UserOptionalFields = f
	}
	if req.LoanedItemsDesired {
		// The summary a "My Account" overview shows: loans by circulation
		// status, On Loan always (0 for none), Recalled when there are any.
		recalled := 0
		for _, l := range sum.Loans {
			if l.Recalled {
				recalled++
			}
		}
		resp.LoanedItemsCounts = []ncip.ItemCount{{CirculationStatus: ncip.SV(circulationStatus(store.ItemOnLoan, false)), Count: len(sum.Loans) - recalled}}
		if recalled > 0 {
			resp.LoanedItemsCounts = append(resp.LoanedItemsCounts, ncip.ItemCount{CirculationStatus: ncip.SV(circulationStatus(store.ItemOnLoan, true)), Count: recalled})
		}
		rules := r.svc.Rules()
		for _, l := range sum.Loans {
			rule := circ.FindLoanRule(&rules, p.UserGroup, l.Item.Policy, l.Item.Library)
			resp.LoanedItems = append(resp.LoanedItems, ncip.LoanedItem{ItemID: ours(cl, l.Item.Barcode), DateDue: l.Due,
				Title: l.Item.Title, MediumType: ncip.SV(mediumOf(l.Item.MediaType)),
				Bibliographic:       titleRecord(cl, l.Item.BibID),
				RenewalNotPermitted: l.Recalled || l.Renewals >= rule.RenewalLimit})
		}
	}
	if req.RequestedItemsDesired {
		reqs, err := r.svc.PatronRequests(ctx, p.Barcode)
		if err != nil {
			return nil, err
		}
		// Every request a patron places here is a Hold, as each RequestedItem says.
		resp.RequestedItemsCounts = []ncip.ItemCount{{RequestType: ncip.SV("Hold"), Count: len(reqs)}}
		for _, q := range reqs {
			ri := ncip.RequestedItem{RequestID: oursPtr(cl, circ.RequestKey(q.ID)), RequestType: ncip.SV("Hold"),
				RequestStatusType: ncip.SV(requestStatus(q.Status)), DatePlaced: q.Created, PickupLocation: ncip.SV(q.Pickup),
				PickupExpiryDate: q.ShelfExpires, HoldQueuePosition: q.Position, Title: q.Title, Bibliographic: titleRecord(cl, q.BibID)}
			if ri.Bibliographic != nil {
				ri.BibliographicIDs = []ncip.BibliographicID{{RecordID: &ri.Bibliographic.RecordIDs[0]}}
			}
			if q.Item != "" {
				ri.ItemID = oursPtr(cl, q.Item)
			}
			resp.RequestedItems = append(resp.RequestedItems, ri)
		}
	}
	if req.UserFiscalAccountDesired {
		acct := ncip.UserFiscalAccount{Balance: ncip.Amount{CurrencyCode: ncip.SV(sum.Currency)}}
		feeItems, err := r.feeItems(ctx, cl, sum.Fees)
		if err != nil {
			return nil, err
		}
		for _, fee := range sum.Fees {
			acct.Balance.Value += fee.Balance
			acct.Details = append(acct.Details, ncip.AccountDetails{AccrualDate: fee.Created, Transaction: ncip.FiscalTransaction{
				ActionType:      ncip.SV("Assess"),
				ReferenceID:     &ncip.FiscalTransactionReferenceID{AgencyID: agency, Value: strconv.FormatUint(fee.ID, 10)},
				TransactionType: ncip.SV(feeType(fee.Type)),
				Amount:          ncip.Amount{CurrencyCode: ncip.SV(fee.Currency), Value: fee.Balance},
				Description:     fee.Description,
				ItemDetails:     feeItems[fee.ItemID],
			}})
		}
		resp.FiscalAccounts = []ncip.UserFiscalAccount{acct}
	}
	return resp, nil
}

// titleRecord names a title by its record id in our agency, the id a
// discovery layer's record carries; nil for no title.
func titleRecord(cl *caller, bib uint64) *ncip.BibliographicDescription {
	if bib == 0 {
		return nil
	}
	return &ncip.BibliographicDescription{RecordIDs: []ncip.BibliographicRecordID{
		{Identifier: strconv.FormatUint(bib, 10), AgencyID: ncip.SV(cl.localAgency)}}}
}

// feeItems describes the items fees are for, by item id, so that an
// account's lines link to their titles. An item since deleted is left out.
func (r *Responder) feeItems(ctx context.Context, cl *caller, fees []store.Fee) (map[uint64]*ncip.ItemDetails, error) {
	items, err := r.svc.FeeItems(ctx, fees)
	out := make(map[uint64]*ncip.ItemDetails, len(items))
	for id, it := range items {
		d := &ncip.ItemDetails{ItemID: ours(cl, it.Barcode), Bibliographic: *titleRecord(cl, it.BibID)}
		d.Bibliographic.Title = it.Title
		out[id] = d
	}
	return out, err
}

// refusalName names why a patron may not borrow, for a Block Or Trap.
func (r *Responder) refusalName(sum *circ.PatronSummary) string {
	if sum.Refusal != circ.PatronBlocked || sum.Standing.ManualBlock {
		return sum.Refusal.String()
	}
	if rules := r.svc.Rules(); rules.MaxBalance > 0 && sum.Standing.Balance > rules.MaxBalance {
		return "fees owed"
	}
	return "overdue items"
}

func addresses(p *store.Patron) []ncip.Address {
	var out []ncip.Address
	for _, c := range p.Contacts {
		switch c.Kind {
		case "address":
			if c.Line1 == "" {
				continue
			}
			out = append(out, ncip.Address{Role: ncip.SV("Home"), Physical: &ncip.PhysicalAddress{
				Structured: &ncip.StructuredAddress{Line1: c.Line1, Line2: c.Line2, Locality: c.City, Region: c.Region,
					Postal: c.Postal, Country: c.Country},
				Type: ncip.SV("Postal Address")}})
		case "email":
			if c.Value != "" {
				out = append(out, ncip.Address{Role: ncip.SV("Notice"), Electronic: &ncip.ElectronicAddress{Type: ncip.SV("mailto"), Data: c.Value}})
			}
		case "phone", "sms":
			if c.Value != "" {
				out = append(out, ncip.Address{Role: ncip.SV("Notice"), Electronic: &ncip.ElectronicAddress{Type: ncip.SV("tel"), Data: c.Value}})
			}
		}
	}
	return out
}

// feeType names a SIP2 fee type as an NCIP FiscalTransactionType.
func feeType(sip string) string {
	switch sip {
	case "04":
		return "Fine"
	case "03", "07":
		return "Lost Item Replacement Charge"
	case "06":
		return "Rental Charge"
	default:
		return "Service Charge"
	}
}

// mediumOf names a SIP2 media type as an NCIP MediumType.
func mediumOf(sip string) string {
	switch sip {
	case "002":
		return "Magazine"
	case "003":
		return "Bound Journal"
	case "004":
		return "Audio Tape"
	case "005":
		return "Videotape"
	case "006":
		return "CD/CDROM"
	case "007":
		return "Diskette"
	default:
		return "Book"
	}
}

func requestStatus(s store.RequestStatus) string {
	switch s {
	case store.RequestOnShelf:
		return "Available For Pickup"
	case store.RequestFulfilled:
		return "Completed"
	case store.RequestCancelled:
		return "Cancelled"
	case store.RequestExpired:
		return "Expired"
	default:
		return "In Process"
	}
}

func circulationStatus(s store.ItemStatus, recalled bool) string {
	switch s {
	case store.ItemAvailable, store.ItemReshelving:
		return "Available On Shelf"
	case store.ItemOnLoan:
		if recalled {
			return "Recalled"
		}
		return "On Loan"
	case store.ItemOnHoldShelf:
		return "Available For Pickup"
	case store.ItemInTransit:
		return "In Transit Between Library Locations"
	case store.ItemInProcess:
		return "In Process"
	case store.ItemOnOrder:
		return "On Order"
	case store.ItemClaimedReturned:
		return "Claimed Returned Or Never Borrowed"
	case store.ItemLost:
		return "Lost"
	case store.ItemMissing:
		return "Missing"
	}
	return "Circulation Status Undefined"
}

// isCode reports whether err is the circ refusal code c.
func isCode(err error, c circ.Code) bool {
	var ce *circ.Error
	return errors.As(err, &ce) && ce.Code == c
}
