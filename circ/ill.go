package circ

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/circa-ils/circa/store"
)

// Resource sharing: items our patrons borrow from other libraries arrive as
// temporary records (AcceptItem … DeleteItem); items we lend go out on loan
// to the partner's institutional patron (request, checkout, checkin).

// ILLItemPolicy is the item policy of temporary items, so the loan rules for
// books decide how long a patron keeps a borrowed item.
const ILLItemPolicy = "BOOK"

// ensureILLPolicy creates ILLItemPolicy when the library has no such
// policy. A borrowed item arrives on a partner's request, with no one at
// hand to add a missing record, and every item must name a policy that
// exists; the loan rules decide how it lends, as for any other policy.
func ensureILLPolicy(tx store.Tx, now time.Time) error {
	_, err := tx.Policy(ILLItemPolicy)
	if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return tx.PutPolicy(&store.Policy{Code: ILLItemPolicy, Name: "Book", MediaType: "001", Created: now, Updated: now})
}

// RecallGrace is how long a recalled loan may still run when the recall
// names no date: the due date becomes the earlier of the current one and
// now + RecallGrace.
const RecallGrace = 7 * 24 * time.Hour

// AcceptItemRequest creates a temporary item for an item a partner lends to
// one of our patrons, waiting on the hold shelf for that patron.
type AcceptItemRequest struct {
	Agent     Agent
	Partner   string // partner profile code
	RequestID string // the partner's request id
	// Item is the barcode the temporary item gets; empty means RequestID
	// (partners often label the item with their request id).
	Item       string
	Patron     string // barcode of the patron who borrows it
	Title      string
	Author     string
	ISBN       string
	CallNumber string
	Pickup     string // library where it waits; empty: Agent.Library
	// DateForReturn is when the lender wants the item back; kept in the
	// request's note for staff.
	DateForReturn time.Time
	// AllowBlocked accepts the item also for a patron who may not borrow
	// (blocked, expired where the rules block that, over the fee or
	// overdue limits); otherwise that patron's refusal answers.
	AllowBlocked bool
	Retry        Retry
}

// AcceptItemResult describes the temporary item and its hold.
type AcceptItemResult struct {
	Item      ItemBrief   `json:"item"`
	Patron    PatronBrief `json:"patron"`
	Request   uint64      `json:"request"`
	RequestID string      `json:"request_id"` // the partner's
	Pickup    string      `json:"pickup"`
	At        time.Time   `json:"at"`
}

// AcceptItem creates a suppressed temporary bib and item at the pickup
// library and a resource-sharing request that holds it for the patron. A
// patron who may not borrow is refused with the reason (PatronBlocked,
// PatronExpired) unless AllowBlocked is set. A repeat for the same partner
// request or the same item of the same partner answers with the first
// result; an item barcode already used otherwise is refused as
// DuplicateRequest.
func (s *Service) AcceptItem(ctx context.Context, req AcceptItemRequest) (AcceptItemResult, error) {
	var res AcceptItemResult
	now := s.Now()
	rules := s.rules.Load()
	err := s.update(ctx, req.Retry, &res, func(tx store.Tx) (*Error, error) {
		res = AcceptItemResult{At: now, RequestID: req.RequestID}
		if strings.TrimSpace(req.RequestID) == "" {
			return refuse(InvalidRequest, "a request id is required"), nil
		}
		barcode := req.Item
		if barcode == "" {
			barcode = req.RequestID
		}
		if r, err := tx.RequestByExternalID(req.Partner, req.RequestID); err == nil {
			it, err := tx.Item(r.ItemID)
			if err != nil || !it.Temporary || store.NormalizeBarcode(it.Barcode) != store.NormalizeBarcode(barcode) {
				return refuse(DuplicateRequest, "request id "+req.RequestID+" already used"), nil
			}
			return nil, acceptedResult(tx, &r, &it, &res)
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		if it, err := tx.ItemByBarcode(barcode); err == nil {
			if it.Temporary && it.HeldFor != 0 {
				if r, err := tx.Request(it.HeldFor); err == nil && r.Partner == req.Partner {
					return nil, acceptedResult(tx, &r, &it, &res)
				}
			}
			return refuse(DuplicateRequest, "item barcode "+barcode+" already in use"), nil
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		p, refusal, err := s.lookupPatron(tx, req.Patron, pinVerdict{})
		if err != nil || refusal != nil {
			return refusal, err
		}
		if !req.AllowBlocked {
			st, _, _, err := standing(tx, &p, now)
			if err != nil {
				return nil, err
			}
			if code := BorrowRefusal(rules, st); code != OK {
				return refuse(code, "the patron may not borrow"), nil
			}
		}
		pickup := req.Pickup
		if pickup == "" {
			pickup = req.Agent.Library
		}
		if _, err := tx.Library(pickup); err != nil {
			return refuse(LocationUnknown, "pickup library "+pickup), nil
		}
		location, err := shelfOf(tx, pickup)
		if err != nil {
			return nil, err
		}
		title := strings.TrimSpace(req.Title)
		if title == "" {
			title = "Interlibrary loan " + req.RequestID
		}
		bib := store.Bib{Title: title, Author: req.Author, ISBN: req.ISBN, CallNumber: req.CallNumber,
			MaterialType: "book", Temporary: true, Suppressed: true}
		if err := tx.PutBib(&bib, now); err != nil {
			return nil, err
		}
		h := store.Holding{BibID: bib.ID, Library: pickup, Location: location, CallNumber: req.CallNumber}
		if err := tx.PutHolding(&h, now); err != nil {
			return nil, err
		}
		if err := ensureILLPolicy(tx, now); err != nil {
			return nil, err
		}
		it := store.Item{Barcode: barcode, BibID: bib.ID, HoldingID: h.ID, Library: pickup, Location: location,
			CallNumber: req.CallNumber, MediaType: "001", Policy: ILLItemPolicy, Status: store.ItemOnHoldShelf,
			Pieces: 1, Temporary: true}
		if err := tx.PutItem(&it, now); err != nil {
			return nil, err
		}
		days := rules.HoldShelfDays
		if days <= 0 {
			days = 7
		}
		r := store.Request{Kind: store.RequestResourceSharing, BibID: bib.ID, ItemID: it.ID, PatronID: p.ID,
			Pickup: pickup, Status: store.RequestOnShelf, Created: now, ShelfExpires: now.AddDate(0, 0, days),
			Partner: req.Partner, ExternalID: req.RequestID}
		if !req.DateForReturn.IsZero() {
			r.Note = "lender wants it back by " + req.DateForReturn.UTC().Format(time.DateOnly)
		}
		if err := tx.PutRequest(&r); err != nil {
			return nil, err
		}
		it.HeldFor = r.ID
		if err := tx.PutItem(&it, now); err != nil {
			return nil, err
		}
		if err := emit(tx, now, "ill.accept", req.Agent, ref("item", it.ID), ref("bib", bib.ID),
			ref("request", r.ID), ref("patron", p.ID)); err != nil {
			return nil, err
		}
		return nil, acceptedResult(tx, &r, &it, &res)
	})
	return res, err
}

func acceptedResult(tx store.Tx, r *store.Request, it *store.Item, res *AcceptItemResult) error {
	p, err := tx.Patron(r.PatronID)
	if err != nil {
		return err
	}
	res.Item, res.Patron, res.Request = briefOf(tx, it), patronBrief(&p), r.ID
	res.RequestID, res.Pickup = r.ExternalID, r.Pickup
	return nil
}

// shelfOf picks the shelving location of a library that temporary items
// get: its first location (in code order) that lends (a borrowed item is
// there to go out) and is not remote storage.
func shelfOf(tx store.Tx, library string) (string, error) {
	locs, err := tx.Locations()
	if err != nil {
		return "", err
	}
	for _, l := range locs {
		if l.Library == library && !l.RemoteStorage && !l.NotCirculating {
			return l.Code, nil
		}
	}
	return "", nil
}

// DeleteItemRequest removes a temporary item.
type DeleteItemRequest struct {
	Agent   Agent
	Partner string
	Item    string
	Retry   Retry
}

// DeleteItemResult describes the deleted item.
type DeleteItemResult struct {
	Item ItemBrief `json:"item"`
	At   time.Time `json:"at"`
}

// DeleteTemporaryItem deletes a temporary item and retires its bib when no
// item is left on it; the item's open requests are cancelled. It is refused
// (ItemHasLoan) while the item is on loan, and for permanent items
// (InvalidRequest). Deleting an item this partner already deleted answers
// success again.
func (s *Service) DeleteTemporaryItem(ctx context.Context, req DeleteItemRequest) (DeleteItemResult, error) {
	var res DeleteItemResult
	now := s.Now()
	err := s.update(ctx, req.Retry, &res, func(tx store.Tx) (*Error, error) {
		res = DeleteItemResult{At: now}
		marker := deletedKey(req.Partner, req.Item)
		it, err := tx.ItemByBarcode(req.Item)
		if errors.Is(err, store.ErrNotFound) {
			e, found, err := tx.Remembered(marker)
			if err != nil || !found {
				return refuse(ItemUnknown, "no item with barcode "+req.Item), err
			}
			return nil, json.Unmarshal(e.Result, &res)
		}
		if err != nil {
			return nil, err
		}
		res.Item = briefOf(tx, &it)
		if !it.Temporary {
			return refuse(InvalidRequest, "only temporary items can be deleted"), nil
		}
		if _, open, err := tx.OpenLoanOfItem(it.ID); err != nil {
			return nil, err
		} else if open {
			return refuse(ItemHasLoan, ""), nil
		}
		reqs, err := tx.OpenRequestsOfBib(it.BibID)
		if err != nil {
			return nil, err
		}
		refs := []store.Ref{ref("item", it.ID), ref("bib", it.BibID)}
		for _, r := range reqs {
			if r.ItemID == it.ID {
				r.Status, r.Closed, r.Note = store.RequestCancelled, now, "item deleted"
				if err := tx.PutRequest(&r); err != nil {
					return nil, err
				}
				refs = append(refs, ref("request", r.ID))
			}
		}
		if err := tx.DeleteItem(it.ID, now); err != nil {
			return nil, err
		}
		left, err := tx.ItemsOfBib(it.BibID)
		if err != nil {
			return nil, err
		}
		if bib, err := tx.Bib(it.BibID); err == nil && len(left) == 0 && bib.Temporary {
			bib.Deleted, bib.Suppressed = true, true
			if err := tx.PutBib(&bib, now); err != nil {
				return nil, err
			}
		}
		res.Item.Status = ""
		doc, err := json.Marshal(res)
		if err != nil {
			return nil, err
		}
		// Kept for good, like a payment id: it names the deleted item.
		if err := tx.Remember(marker, store.IdemEntry{At: now, Result: doc}); err != nil {
			return nil, err
		}
		return nil, emit(tx, now, "ill.delete", req.Agent, refs...)
	})
	return res, err
}

func deletedKey(partner, barcode string) string {
	return "ill.deleted\x00" + partner + "\x00" + store.NormalizeBarcode(barcode)
}

func checkedInKey(itemID uint64) string { return "ill.checkin\x00" + strconv.FormatUint(itemID, 10) }

// RecallRequest recalls the loan of an item.
type RecallRequest struct {
	Agent Agent
	Item  string
	// Due is the date the recaller asks for; zero means now + RecallGrace.
	Due   time.Time
	Retry Retry
}

// RecallResult describes the recalled loan.
type RecallResult struct {
	Item   ItemBrief   `json:"item"`
	Patron PatronBrief `json:"patron"`
	Due    time.Time   `json:"due"`
	At     time.Time   `json:"at"`
}

// Recall marks an item's loan recalled (no more renewals) and shortens its
// due date to the earlier of the current one and the recall date: Due when
// it is given and later than now, otherwise now + RecallGrace. A recall
// never lengthens a loan; repeating it changes nothing more.
func (s *Service) Recall(ctx context.Context, req RecallRequest) (RecallResult, error) {
	var res RecallResult
	now := s.Now()
	err := s.update(ctx, req.Retry, &res, func(tx store.Tx) (*Error, error) {
		res = RecallResult{At: now}
		it, refusal, err := lookupItem(tx, req.Item)
		if err != nil || refusal != nil {
			return refusal, err
		}
		res.Item = briefOf(tx, &it)
		loan, open, err := tx.OpenLoanOfItem(it.ID)
		if err != nil {
			return nil, err
		}
		if !open {
			return refuse(ItemNotOnLoan, ""), nil
		}
		p, err := tx.Patron(loan.PatronID)
		if err != nil {
			return nil, err
		}
		res.Patron = patronBrief(&p)
		target := now.Add(RecallGrace)
		if !req.Due.IsZero() && req.Due.After(now) {
			target = req.Due.UTC()
		}
		changed := !loan.Recalled
		loan.Recalled = true
		if target.Before(loan.Due) {
			loan.Due, changed = target, true
		}
		res.Due = loan.Due
		if !changed {
			return nil, nil
		}
		if err := tx.UpdateLoan(&loan); err != nil {
			return nil, err
		}
		return nil, emit(tx, now, "recall", req.Agent, ref("loan", loan.ID), ref("item", it.ID), ref("patron", p.ID))
	})
	return res, err
}

// PartnerCheckinRequest is a partner's CheckInItem: the return of an item
// we lent it, or of a temporary item our patron borrowed from it.
type PartnerCheckinRequest struct {
	Agent   Agent
	Partner string
	// LendingPatron is the partner's account (see PartnerAccountOf).
	LendingPatron string
	Item          string
	Retry         Retry
}

// PartnerCheckin closes the item's loan (with any overdue fine) and routes
// it. A permanent item goes through the hold queue like any return; its
// loan must be the partner's (on its lending patron, or made by the partner
// for a patron of ours it named), else it is refused as ItemNotOnLoan. A
// temporary item of this partner is on its way back to the lender (status
// in transit, TransitTo the partner code) and its request is closed. A
// repeat from the partner that returned the item answers success; other
// checkins of an item not on loan are refused as ItemNotOnLoan and change
// nothing.
func (s *Service) PartnerCheckin(ctx context.Context, req PartnerCheckinRequest) (CheckinResult, error) {
	var res CheckinResult
	now := s.Now()
	rules := s.rules.Load()
	err := s.update(ctx, req.Retry, &res, func(tx store.Tx) (*Error, error) {
		res = CheckinResult{At: now, Currency: rules.Currency}
		it, refusal, err := lookupItem(tx, req.Item)
		if err != nil || refusal != nil {
			return refusal, err
		}
		res.Item = briefOf(tx, &it)
		refs := []store.Ref{ref("item", it.ID), ref("bib", it.BibID)}
		loan, open, err := tx.OpenLoanOfItem(it.ID)
		if err != nil {
			return nil, err
		}
		var rsReq *store.Request
		if it.Temporary {
			rsReq, err = temporaryRequest(tx, &it)
			if err != nil {
				return nil, err
			}
			if rsReq == nil || rsReq.Partner != req.Partner {
				return refuse(ItemUnknown, "not an item of this partner"), nil
			}
			if !open && it.Status == store.ItemInTransit && it.TransitTo == req.Partner {
				res.Destination, res.SortBin, res.Alert = req.Partner, req.Partner, AlertTransit
				return nil, nil
			}
		}
		if !open && !it.Temporary {
			e, found, err := tx.Remembered(checkedInKey(it.ID))
			if err != nil {
				return nil, err
			}
			if found && string(e.Result) == strconv.Quote(req.Partner) {
				return nil, nil
			}
			return refuse(ItemNotOnLoan, ""), nil
		}
		if open && !it.Temporary {
			ours, err := partnersLoan(tx, req.Agent, req.LendingPatron, &loan)
			if err != nil {
				return nil, err
			}
			if !ours {
				return refuse(ItemNotOnLoan, "not on loan to this partner or to a patron it lent to"), nil
			}
		}
		if open {
			res.WasOnLoan = true
			more, err := s.closeLoan(tx, rules, &it, &loan, now, req.Agent.Library, now, &res)
			if err != nil {
				return nil, err
			}
			refs = append(refs, more...)
		}
		if it.Temporary {
			it.Status, it.TransitTo, it.HeldFor = store.ItemInTransit, req.Partner, 0
			res.Destination, res.SortBin, res.Alert = req.Partner, req.Partner, AlertTransit
			if rsReq.Status.Open() {
				rsReq.Status, rsReq.Closed = store.RequestFulfilled, now
				if err := tx.PutRequest(rsReq); err != nil {
					return nil, err
				}
			}
			refs = append(refs, ref("request", rsReq.ID))
		} else if err := s.route(tx, rules, &it, req.Agent.Library, now, &res); err != nil {
			return nil, err
		}
		if res.RequestID != 0 {
			refs = append(refs, ref("request", res.RequestID))
		}
		if err := tx.PutItem(&it, now); err != nil {
			return nil, err
		}
		res.Item = briefOf(tx, &it)
		// Kept for good (one per item, replaced by the next partner return):
		// it marks a state, not a message.
		if err := tx.Remember(checkedInKey(it.ID), store.IdemEntry{At: now, Result: []byte(strconv.Quote(req.Partner))}); err != nil {
			return nil, err
		}
		return nil, emit(tx, now, "ill.checkin", req.Agent, refs...)
	})
	return res, err
}

// temporaryRequest finds the resource-sharing request a temporary item was
// accepted for, open or closed.
func temporaryRequest(tx store.Tx, it *store.Item) (*store.Request, error) {
	if it.HeldFor != 0 {
		if r, err := tx.Request(it.HeldFor); err == nil && r.Kind == store.RequestResourceSharing {
			return &r, nil
		}
	}
	var found *store.Request
	err := tx.ForEachRequest(func(r store.Request) bool {
		if r.BibID == it.BibID && r.ItemID == it.ID && r.Kind == store.RequestResourceSharing {
			found = &r
			return false
		}
		return true
	})
	return found, err
}

// closeLoan ends a loan at returned, charging the overdue fine its rule sets.
func (s *Service) closeLoan(tx store.Tx, rules *store.Rules, it *store.Item, loan *store.Loan, returned time.Time, library string, now time.Time, res *CheckinResult) ([]store.Ref, error) {
	p, err := tx.Patron(loan.PatronID)
	if err != nil {
		return nil, err
	}
	pb := patronBrief(&p)
	res.Patron = &pb
	if err := tx.CloseLoan(loan, returned, library); err != nil {
		return nil, err
	}
	refs := []store.Ref{ref("loan", loan.ID), ref("patron", p.ID)}
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
	return refs, nil
}

// RequestQuery names a request: by our id, by a partner's id, or by the
// patron's open request on an item.
type RequestQuery struct {
	ID         uint64
	Partner    string
	ExternalID string
	Patron     string // barcode
	Item       string // barcode
}

// RequestInfo describes a request for protocol responses.
type RequestInfo struct {
	ID           uint64              `json:"id"`
	Kind         store.RequestKind   `json:"kind"`
	Status       store.RequestStatus `json:"status"`
	TitleLevel   bool                `json:"title_level"`
	Patron       string              `json:"patron"` // barcode
	Item         string              `json:"item,omitempty"`
	BibID        uint64              `json:"bib_id"`
	Title        string              `json:"title"`
	Pickup       string              `json:"pickup"`
	Position     int                 `json:"position"`
	Created      time.Time           `json:"created"`
	Expires      time.Time           `json:"expires,omitempty"`
	ShelfExpires time.Time           `json:"shelf_expires,omitempty"`
	Partner      string              `json:"partner,omitempty"`
	ExternalID   string              `json:"external_id,omitempty"`
}

// LookupRequest finds a request, open or closed.
func (s *Service) LookupRequest(ctx context.Context, q RequestQuery) (RequestInfo, error) {
	var info RequestInfo
	var refusal *Error
	err := s.view(ctx, func(tx store.Tx) error {
		var r store.Request
		var err error
		switch {
		case q.ID != 0:
			r, err = tx.Request(q.ID)
		case q.ExternalID != "":
			r, err = tx.RequestByExternalID(q.Partner, q.ExternalID)
		case q.Patron != "" && q.Item != "":
			var found bool
			r, found, err = patronRequestOn(tx, q.Patron, q.Item)
			if err == nil && !found {
				err = store.ErrNotFound
			}
		default:
			refusal = refuse(InvalidRequest, "no request named")
			return nil
		}
		if errors.Is(err, store.ErrNotFound) {
			refusal = refuse(HoldNotFound, "")
			return nil
		}
		if err != nil {
			return err
		}
		info, err = requestInfo(tx, &r)
		return err
	})
	if err != nil {
		return info, err
	}
	if refusal != nil {
		return info, refusal
	}
	return info, nil
}

func patronRequestOn(tx store.Tx, patron, item string) (store.Request, bool, error) {
	p, err := tx.PatronByBarcode(patron)
	if err != nil {
		return store.Request{}, false, err
	}
	it, err := tx.ItemByBarcode(item)
	if err != nil {
		return store.Request{}, false, err
	}
	reqs, err := tx.OpenRequestsOfPatron(p.ID)
	if err != nil {
		return store.Request{}, false, err
	}
	for _, r := range reqs {
		if r.Kind != store.RequestRetrieval && (r.ItemID == it.ID || r.TitleLevel && r.BibID == it.BibID) {
			return r, true, nil
		}
	}
	return store.Request{}, false, nil
}

// PatronRequests lists a patron's open requests (retrievals left out).
func (s *Service) PatronRequests(ctx context.Context, patron string) ([]RequestInfo, error) {
	var out []RequestInfo
	var refusal *Error
	err := s.view(ctx, func(tx store.Tx) error {
		p, err := tx.PatronByBarcode(patron)
		if errors.Is(err, store.ErrNotFound) {
			refusal = refuse(PatronUnknown, "")
			return nil
		}
		if err != nil {
			return err
		}
		reqs, err := tx.OpenRequestsOfPatron(p.ID)
		if err != nil {
			return err
		}
		for i := range reqs {
			if reqs[i].Kind == store.RequestRetrieval {
				continue
			}
			info, err := requestInfo(tx, &reqs[i])
			if err != nil {
				return err
			}
			out = append(out, info)
		}
		return nil
	})
	if err == nil && refusal != nil {
		err = refusal
	}
	return out, err
}

func requestInfo(tx store.Tx, r *store.Request) (RequestInfo, error) {
	info := RequestInfo{ID: r.ID, Kind: r.Kind, Status: r.Status, TitleLevel: r.TitleLevel, BibID: r.BibID,
		Pickup: r.Pickup, Created: r.Created, Expires: r.Expires, ShelfExpires: r.ShelfExpires,
		Partner: r.Partner, ExternalID: r.ExternalID}
	if p, err := tx.Patron(r.PatronID); err == nil {
		info.Patron = p.Barcode
	}
	if r.ItemID != 0 {
		if it, err := tx.Item(r.ItemID); err == nil {
			info.Item = it.Barcode
		}
	}
	if bib, err := tx.Bib(r.BibID); err == nil {
		info.Title = bib.Title
	}
	if r.Status.Open() {
		queue, err := tx.OpenRequestsOfBib(r.BibID)
		if err != nil {
			return info, err
		}
		info.Position = queuePosition(queue, r.ID)
	}
	return info, nil
}

// FindBib resolves a title named by a partner: our bib id, or the MARC
// control number (001). An unknown title is refused as ItemUnknown.
func (s *Service) FindBib(ctx context.Context, id string) (uint64, error) {
	id = strings.TrimSpace(id)
	var found uint64
	err := s.view(ctx, func(tx store.Tx) error {
		if b, err := tx.BibByControlNumber(id); err == nil && !b.Deleted {
			found = b.ID
			return nil
		}
		if n, err := strconv.ParseUint(id, 10, 64); err == nil {
			if b, err := tx.Bib(n); err == nil && !b.Deleted && !b.Temporary {
				found = b.ID
			}
		}
		return nil
	})
	if err == nil && found == 0 {
		err = refuse(ItemUnknown, "no title "+id)
	}
	return found, err
}

// ItemIsTemporary reports whether an item is a temporary ILL item; an
// unknown item is refused as ItemUnknown.
func (s *Service) ItemIsTemporary(ctx context.Context, barcode string) (bool, error) {
	var temp bool
	var refusal *Error
	err := s.view(ctx, func(tx store.Tx) error {
		it, r, err := lookupItem(tx, barcode)
		refusal, temp = r, it.Temporary
		return err
	})
	if err == nil && refusal != nil {
		err = refusal
	}
	return temp, err
}

// PartnerAccount is the patron a resource-sharing partner's loan is on.
type PartnerAccount struct {
	Patron string // barcode
	// Local is true for one of our patrons the partner named; false for
	// the partner's own account, its lending patron.
	Local bool
}

// PartnerAccountOf decides which patron a partner's loan belongs to, the
// one rule for a partner's checkouts, renewals, returns and user lookups: a
// user the partner names who is one of our patrons (other than the
// partner's lending patron) is that patron, and that patron's own standing
// and PIN apply to the loan; anyone else (a user of the partner's, or no
// user) is the partner's lending patron. A partner with no lending patron
// set up has no account: such a user is refused as PatronUnknown.
func (s *Service) PartnerAccountOf(ctx context.Context, lendingPatron, user string) (PartnerAccount, error) {
	var acct PartnerAccount
	err := s.view(ctx, func(tx store.Tx) error {
		var err error
		acct, err = partnerAccount(tx, lendingPatron, user)
		return err
	})
	if err == nil && acct.Patron == "" {
		err = refuse(PatronUnknown, "no lending patron is set up for this partner")
	}
	return acct, err
}

func partnerAccount(tx store.Tx, lendingPatron, user string) (PartnerAccount, error) {
	user = strings.TrimSpace(user)
	if user != "" && store.NormalizeBarcode(user) != store.NormalizeBarcode(lendingPatron) {
		p, err := tx.PatronByBarcode(user)
		if err == nil {
			return PartnerAccount{Patron: p.Barcode, Local: true}, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return PartnerAccount{}, err
		}
	}
	if lendingPatron == "" {
		return PartnerAccount{}, nil
	}
	return PartnerAccount{Patron: lendingPatron}, nil
}

// partnersLoan reports whether an open loan is a partner's to return: on
// the partner's lending patron, or made by the partner for one of our
// patrons it named (PartnerAccountOf).
func partnersLoan(tx store.Tx, agent Agent, lendingPatron string, loan *store.Loan) (bool, error) {
	if loan.Agent == agent.String() {
		return true, nil
	}
	if lendingPatron == "" {
		return false, nil
	}
	p, err := tx.Patron(loan.PatronID)
	if err != nil {
		return false, err
	}
	return store.NormalizeBarcode(p.Barcode) == store.NormalizeBarcode(lendingPatron), nil
}
