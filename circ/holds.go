package circ

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/circa-ils/circa/store"
)

// HoldRequest asks to place a request for an item or its title.
type HoldRequest struct {
	Agent      Agent
	Patron     string
	PIN        string
	RequirePIN bool
	Item       string // barcode; the title is the item's bib
	BibID      uint64 // for a title-level request without an item barcode
	TitleLevel bool
	Pickup     string // library code; empty: the agent's library
	Expires    time.Time
	Kind       store.RequestKind // hold (default) or resource_sharing
	Partner    string            // NCIP partner for resource-sharing requests
	ExternalID string            // the partner's request id
	Retry      Retry
}

// HoldResult describes the request.
type HoldResult struct {
	Request   uint64      `json:"request"`
	Patron    PatronBrief `json:"patron"`
	Item      *ItemBrief  `json:"item,omitempty"`
	BibID     uint64      `json:"bib_id"`
	Title     string      `json:"title"`
	Position  int         `json:"position"`
	Pickup    string      `json:"pickup"`
	Expires   time.Time   `json:"expires,omitempty"`
	Available bool        `json:"available"` // already on the hold shelf for the patron
	Retrieval uint64      `json:"retrieval,omitempty"`
	Status    string      `json:"status"`
	At        time.Time   `json:"at"`
}

// PlaceHold queues a request. A request on an item in a remote-storage
// location also creates a retrieval request for the facility.
func (s *Service) PlaceHold(ctx context.Context, req HoldRequest) (HoldResult, error) {
	var res HoldResult
	now := s.Now()
	rules := s.rules.Load()
	pin, err := s.checkPIN(ctx, req.Patron, req.PIN, req.RequirePIN)
	if err != nil {
		return res, err
	}
	err = s.update(ctx, req.Retry, &res, func(tx store.Tx) (*Error, error) {
		res = HoldResult{At: now}
		p, refusal, err := s.lookupPatron(tx, req.Patron, pin)
		if err != nil || refusal != nil {
			return refusal, err
		}
		res.Patron = patronBrief(&p)
		st, _, _, err := standing(tx, &p, now)
		if err != nil {
			return nil, err
		}
		if FlagsOf(rules, &p, st)[FlagHoldDenied] {
			return refuse(PatronBlocked, ""), nil
		}
		var it store.Item
		bibID := req.BibID
		if req.Item != "" {
			var refusal *Error
			it, refusal, err = lookupItem(tx, req.Item)
			if err != nil || refusal != nil {
				return refusal, err
			}
			bibID = it.BibID
			b := briefOf(tx, &it)
			res.Item = &b
		}
		bib, err := tx.Bib(bibID)
		if errors.Is(err, store.ErrNotFound) {
			return refuse(ItemUnknown, "no such title"), nil
		}
		if err != nil {
			return nil, err
		}
		res.BibID, res.Title = bib.ID, bib.Title
		if it.ID != 0 {
			rule := FindLoanRule(rules, p.UserGroup, it.Policy, it.Library)
			if ok, err := circulates(tx, rule, &it); err != nil || !ok {
				return refuse(ItemNotCirculating, ""), err
			}
			if l, open, err := tx.OpenLoanOfItem(it.ID); err != nil {
				return nil, err
			} else if open && l.PatronID == p.ID {
				return refuse(AlreadyOnLoan, ""), nil
			}
		}
		reqs, err := tx.OpenRequestsOfBib(bib.ID)
		if err != nil {
			return nil, err
		}
		for _, r := range reqs {
			if r.PatronID == p.ID && r.Kind != store.RequestRetrieval && (r.TitleLevel || req.TitleLevel || r.ItemID == it.ID) {
				return refuse(HoldExists, ""), nil
			}
		}
		if req.ExternalID != "" {
			if _, err := tx.RequestByExternalID(req.Partner, req.ExternalID); err == nil {
				return refuse(DuplicateRequest, ""), nil
			}
		}
		pickup := req.Pickup
		if pickup == "" {
			pickup = req.Agent.Library
		}
		if pickup == "" {
			pickup = p.HomeLibrary
		}
		if _, err := tx.Library(pickup); err != nil {
			return refuse(LocationUnknown, "pickup library "+pickup), nil
		}
		kind := req.Kind
		if kind == "" {
			kind = store.RequestHold
		}
		r := store.Request{Kind: kind, TitleLevel: req.TitleLevel || it.ID == 0, BibID: bib.ID, ItemID: it.ID,
			PatronID: p.ID, Pickup: pickup, Status: store.RequestWaiting, Created: now, Expires: req.Expires,
			Partner: req.Partner, ExternalID: req.ExternalID}
		if r.Expires.IsZero() && rules.HoldExpiryDays > 0 {
			r.Expires = now.AddDate(0, 0, rules.HoldExpiryDays)
		}
		if err := tx.PutRequest(&r); err != nil {
			return nil, err
		}
		refs := []store.Ref{ref("request", r.ID), ref("patron", p.ID), ref("bib", bib.ID)}
		if it.ID != 0 && it.Status == store.ItemAvailable {
			if loc, err := tx.Location(it.Location); err == nil && loc.RemoteStorage {
				retr := store.Request{Kind: store.RequestRetrieval, BibID: bib.ID, ItemID: it.ID, PatronID: p.ID,
					Pickup: pickup, Status: store.RequestWaiting, Created: now, Facility: loc.Facility, ParentID: r.ID}
				if err := tx.PutRequest(&retr); err != nil {
					return nil, err
				}
				if err := tx.AddStorageState(store.StorageState{ItemID: it.ID, At: now, State: "requested",
					Facility: loc.Facility, Request: retr.ID}); err != nil {
					return nil, err
				}
				res.Retrieval = retr.ID
				refs = append(refs, ref("request", retr.ID), ref("item", it.ID))
			}
		}
		if err := emit(tx, now, "request.place", req.Agent, refs...); err != nil {
			return nil, err
		}
		reqs = append(reqs, r)
		res.Request, res.Position, res.Pickup, res.Expires = r.ID, queuePosition(reqs, r.ID), pickup, r.Expires
		res.Status = string(r.Status)
		return nil, nil
	})
	return res, err
}

// CancelHoldRequest names the request to cancel: by id, or by the patron
// with an item barcode or bib.
type CancelHoldRequest struct {
	Agent      Agent
	Patron     string
	PIN        string
	RequirePIN bool
	RequestID  uint64
	Item       string
	BibID      uint64
	Partner    string
	ExternalID string
	Reason     string
	Retry      Retry
}

// CancelHold cancels a patron's request. An item trapped for it goes back
// through routing on its next checkin; here it is released to the shelf.
func (s *Service) CancelHold(ctx context.Context, req CancelHoldRequest) (HoldResult, error) {
	var res HoldResult
	now := s.Now()
	pin, err := s.checkPIN(ctx, req.Patron, req.PIN, req.RequirePIN)
	if err != nil {
		return res, err
	}
	err = s.update(ctx, req.Retry, &res, func(tx store.Tx) (*Error, error) {
		res = HoldResult{At: now}
		r, refusal, err := s.findRequest(tx, req.Patron, pin, req.RequestID, req.Item, req.BibID, req.Partner, req.ExternalID)
		if err != nil || refusal != nil {
			return refusal, err
		}
		res.Request, res.BibID, res.Pickup = r.ID, r.BibID, r.Pickup
		if p, err := tx.Patron(r.PatronID); err == nil {
			res.Patron = patronBrief(&p)
		}
		refs, err := s.closeRequest(tx, &r, store.RequestCancelled, req.Reason, now)
		if err != nil {
			return nil, err
		}
		res.Status = string(r.Status)
		return nil, emit(tx, now, "request.cancel", req.Agent, append(refs, ref("bib", r.BibID))...)
	})
	return res, err
}

// closeRequest ends a request, releases an item trapped for it and cancels
// the retrieval that served it. It returns the refs of what it changed.
func (s *Service) closeRequest(tx store.Tx, r *store.Request, status store.RequestStatus, note string, now time.Time) ([]store.Ref, error) {
	r.Status, r.Closed = status, now
	if note != "" {
		r.Note = note
	}
	if err := tx.PutRequest(r); err != nil {
		return nil, err
	}
	refs := []store.Ref{ref("request", r.ID)}
	if r.ItemID != 0 {
		it, err := tx.Item(r.ItemID)
		if err == nil && it.HeldFor == r.ID {
			it.HeldFor = 0
			if it.Status == store.ItemOnHoldShelf {
				it.Status = store.ItemReshelving
			}
			if err := tx.PutItem(&it, now); err != nil {
				return nil, err
			}
			refs = append(refs, ref("item", it.ID))
		}
	}
	reqs, err := tx.OpenRequestsOfPatron(r.PatronID)
	if err != nil {
		return nil, err
	}
	for _, other := range reqs {
		if other.Kind == store.RequestRetrieval && other.ParentID == r.ID {
			other.Status, other.Closed = store.RequestCancelled, now
			if err := tx.PutRequest(&other); err != nil {
				return nil, err
			}
			refs = append(refs, ref("request", other.ID))
		}
	}
	return refs, nil
}

func (s *Service) findRequest(tx store.Tx, patron string, pin pinVerdict, id uint64, item string, bibID uint64, partner, externalID string) (store.Request, *Error, error) {
	var p store.Patron
	if patron != "" {
		var refusal *Error
		var err error
		p, refusal, err = s.lookupPatron(tx, patron, pin)
		if err != nil || refusal != nil {
			return store.Request{}, refusal, err
		}
	}
	var r store.Request
	var err error
	switch {
	case id != 0:
		r, err = tx.Request(id)
	case externalID != "":
		r, err = tx.RequestByExternalID(partner, externalID)
	case p.ID != 0:
		var itemID uint64
		if item != "" {
			it, refusal, err := lookupItem(tx, item)
			if err != nil || refusal != nil {
				return r, refusal, err
			}
			itemID, bibID = it.ID, it.BibID
		}
		reqs, err := tx.OpenRequestsOfPatron(p.ID)
		if err != nil {
			return r, nil, err
		}
		for _, c := range reqs {
			if c.Kind != store.RequestRetrieval && (c.ItemID == itemID && itemID != 0 || c.BibID == bibID && bibID != 0) {
				return c, nil, nil
			}
		}
		return r, refuse(HoldNotFound, ""), nil
	default:
		return r, refuse(InvalidRequest, "no request named"), nil
	}
	if errors.Is(err, store.ErrNotFound) {
		return r, refuse(HoldNotFound, ""), nil
	}
	if err != nil {
		return r, nil, err
	}
	if p.ID != 0 && r.PatronID != p.ID {
		return r, refuse(HoldNotFound, "not this patron's request"), nil
	}
	if !r.Status.Open() {
		return r, refuse(HoldNotFound, "request already "+string(r.Status)), nil
	}
	return r, nil, nil
}

// ChangeHoldRequest changes the pickup library or expiry of a request.
type ChangeHoldRequest struct {
	Agent      Agent
	Patron     string
	PIN        string
	RequirePIN bool
	RequestID  uint64
	Item       string
	BibID      uint64
	Pickup     string
	Expires    time.Time
	Retry      Retry
}

// ChangeHold changes a waiting request's pickup library or expiry.
func (s *Service) ChangeHold(ctx context.Context, req ChangeHoldRequest) (HoldResult, error) {
	var res HoldResult
	now := s.Now()
	pin, err := s.checkPIN(ctx, req.Patron, req.PIN, req.RequirePIN)
	if err != nil {
		return res, err
	}
	err = s.update(ctx, req.Retry, &res, func(tx store.Tx) (*Error, error) {
		res = HoldResult{At: now}
		r, refusal, err := s.findRequest(tx, req.Patron, pin, req.RequestID, req.Item, req.BibID, "", "")
		if err != nil || refusal != nil {
			return refusal, err
		}
		if req.Pickup != "" && req.Pickup != r.Pickup {
			if r.Status != store.RequestWaiting {
				return refuse(HoldNotAllowed, "the item is already on its way"), nil
			}
			if _, err := tx.Library(req.Pickup); err != nil {
				return refuse(LocationUnknown, "pickup library "+req.Pickup), nil
			}
			r.Pickup = req.Pickup
		}
		if !req.Expires.IsZero() {
			r.Expires = req.Expires.UTC()
		}
		if err := tx.PutRequest(&r); err != nil {
			return nil, err
		}
		reqs, err := tx.OpenRequestsOfBib(r.BibID)
		if err != nil {
			return nil, err
		}
		if p, err := tx.Patron(r.PatronID); err == nil {
			res.Patron = patronBrief(&p)
		}
		res.Request, res.BibID, res.Pickup, res.Expires = r.ID, r.BibID, r.Pickup, r.Expires
		res.Position, res.Status = queuePosition(reqs, r.ID), string(r.Status)
		return nil, emit(tx, now, "request.change", req.Agent, ref("request", r.ID))
	})
	return res, err
}

// RequestKey is a stable string naming a request in protocol responses.
func RequestKey(id uint64) string { return strconv.FormatUint(id, 10) }
