package responder

import (
	"cmp"
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/ncip"
	"github.com/circa-ils/circa/store"
)

// versions are the NCIP versions answered; responses are written in 2.02.
var versions = []string{
	ncip.Version202,
	"http://www.niso.org/schemas/ncip/v2_01/ncip_v2_01.xsd",
	"http://www.niso.org/schemas/ncip/v2_0/imp1/xsd/ncip_v2_0.xsd",
}

// LookupVersion lists the NCIP versions circa reads.
func (r *Responder) LookupVersion(_ context.Context, c *ncip.Call, _ *ncip.LookupVersion) (*ncip.LookupVersionResponse, error) {
	if _, err := r.caller(c); err != nil {
		return nil, err
	}
	return &ncip.LookupVersionResponse{VersionsSupported: versions}, nil
}

// LookupAgency describes our agency as the caller knows it: its id, the
// library's name and postal address.
func (r *Responder) LookupAgency(ctx context.Context, c *ncip.Call, _ *ncip.LookupAgency) (*ncip.LookupAgencyResponse, error) {
	cl, err := r.caller(c)
	if err != nil {
		return nil, err
	}
	lib, err := r.svc.Library(ctx, cl.library)
	if err != nil {
		return nil, err
	}
	pickups, err := r.svc.PickupLibraries(ctx)
	if err != nil {
		return nil, err
	}
	resp := &ncip.LookupAgencyResponse{Header: header(c, cl), AgencyID: ncip.SV(cl.localAgency)}
	for i, p := range pickups {
		resp.PickupLocations = append(resp.PickupLocations, ncip.LocationNameInstance{Level: i + 1, Value: cmp.Or(p.Name, p.Code)})
	}
	name := lib.Name
	if name == "" {
		name = cl.localAgency
	}
	resp.OrganizationNames = []ncip.OrganizationName{{Type: ncip.SV("Legal"), Name: name}}
	if lib.Address != "" {
		resp.Addresses = []ncip.Address{{Role: ncip.SV("Postal"), Physical: &ncip.PhysicalAddress{Unstructured: lib.Address,
			UnstructuredType: ncip.SV("Newline-Delimited Text"), Type: ncip.SV("Postal Address")}}}
	}
	return resp, nil
}

// pickupLibrary reads a RequestItem's PickupLocation: a library code, or
// the number LookupAgency gave a library (the form VuFind sends back). A
// value that is neither is passed on for circ to refuse as unknown.
func (r *Responder) pickupLibrary(ctx context.Context, value string) (string, error) {
	value = strings.TrimSpace(value)
	n, err := strconv.Atoi(value)
	if err != nil || n < 1 {
		return value, nil
	}
	libs, err := r.svc.PickupLibraries(ctx)
	if err != nil || slices.ContainsFunc(libs, func(l store.Library) bool { return l.Code == value }) {
		return value, err
	}
	if n <= len(libs) {
		return libs[n-1].Code, nil
	}
	return value, nil
}

// LookupItem describes an item: title, call number, circulation status,
// hold queue, location and due date; the borrower only when asked for.
func (r *Responder) LookupItem(ctx context.Context, c *ncip.Call, req *ncip.LookupItem) (*ncip.LookupItemResponse, error) {
	cl, err := r.caller(c)
	if err != nil {
		return nil, err
	}
	barcode := ""
	if req.ItemID != nil {
		barcode = strings.TrimSpace(req.ItemID.Value)
	}
	if barcode == "" && req.RequestID != nil {
		info, err := r.svc.LookupRequest(ctx, r.requestQuery(ctx, cl, req.RequestID.Value))
		if err == nil && r.visible(cl, &info) {
			barcode = info.Item
		}
	}
	if barcode == "" {
		return nil, missing(c.Service, "ItemId")
	}
	sum, err := r.svc.ItemInfo(ctx, barcode)
	if err != nil {
		return nil, problemOf(c.Service, err, ids{item: barcode})
	}
	it := sum.Item
	queue := sum.HoldQueue
	f := &ncip.ItemOptionalFields{
		Bibliographic:     &ncip.BibliographicDescription{Title: it.Title, Author: it.Author},
		CirculationStatus: ncip.SV(circulationStatus(it.Status, sum.Recalled)),
		HoldQueueLength:   &queue,
		Locations: []ncip.Location{{Type: ncip.SV("Permanent"), Names: []ncip.LocationNameInstance{
			{Level: 1, Value: it.Library}, {Level: 2, Value: it.Location}}}},
		DateDue: sum.Due,
	}
	if it.CallNumber != "" {
		f.Description = &ncip.ItemDescription{CallNumber: it.CallNumber}
	}
	resp := &ncip.LookupItemResponse{Header: header(c, cl), ItemID: oursPtr(cl, it.Barcode), ItemOptionalFields: f}
	if req.CurrentBorrowerDesired && sum.Borrower != nil {
		resp.CurrentBorrower = oursPtr(cl, sum.Borrower.Barcode)
	}
	return resp, nil
}

// requestQuery names a request by the caller's id for it, or by our id.
func (r *Responder) requestQuery(ctx context.Context, cl *caller, id string) circ.RequestQuery {
	id = strings.TrimSpace(id)
	q := circ.RequestQuery{Partner: cl.code, ExternalID: id}
	if n, err := strconv.ParseUint(id, 10, 64); err == nil {
		if _, err := r.svc.LookupRequest(ctx, q); err != nil {
			return circ.RequestQuery{ID: n}
		}
	}
	return q
}

// visible reports whether the caller may see a request: a partner its own,
// a facility the retrievals.
func (r *Responder) visible(cl *caller, info *circ.RequestInfo) bool {
	if cl.storage != nil {
		return info.Kind == store.RequestRetrieval
	}
	return info.Partner == cl.code
}

// LookupRequest describes one of the caller's requests, named by its id or
// ours, or by user and item.
func (r *Responder) LookupRequest(ctx context.Context, c *ncip.Call, req *ncip.LookupRequest) (*ncip.LookupRequestResponse, error) {
	cl, err := r.caller(c)
	if err != nil {
		return nil, err
	}
	var q circ.RequestQuery
	reqID, user, item := "", req.UserIdentifier(), ""
	if req.ItemID != nil {
		item = req.ItemID.Value
	}
	switch {
	case req.RequestID != nil && strings.TrimSpace(req.RequestID.Value) != "":
		reqID = req.RequestID.Value
		q = r.requestQuery(ctx, cl, reqID)
	case user != "" && item != "":
		q = circ.RequestQuery{Patron: user, Item: item}
	default:
		return nil, missing(c.Service, "RequestId")
	}
	info, err := r.svc.LookupRequest(ctx, q)
	if err == nil && q.Patron == "" && !r.visible(cl, &info) {
		err = &circ.Error{Code: circ.HoldNotFound}
	}
	if err != nil {
		return nil, problemOf(c.Service, err, ids{user: user, item: item, request: reqID})
	}
	resp := &ncip.LookupRequestResponse{Header: header(c, cl), RequestID: oursPtr(cl, circ.RequestKey(info.ID)),
		UserID: oursPtr(cl, info.Patron), RequestType: ncip.SchemeValue{Scheme: ncip.SchemeRequestType, Value: "Hold"},
		RequestScopeType:  ncip.SchemeValue{Scheme: ncip.SchemeRequestScopeType, Value: "Item"},
		RequestStatusType: ncip.SV(requestStatus(info.Status)), HoldQueuePosition: info.Position,
		PickupLocation: ncip.SV(info.Pickup), PickupExpiryDate: info.ShelfExpires, DateOfUserRequest: info.Created,
		NeedBeforeDate: info.Expires}
	if info.Kind == store.RequestRetrieval {
		resp.RequestType.Value = "Loan"
	}
	if info.TitleLevel {
		resp.RequestScopeType.Value = "Bibliographic Item"
	}
	if info.Item != "" {
		resp.ItemID = oursPtr(cl, info.Item)
	}
	if info.Title != "" {
		resp.ItemOptionalFields = &ncip.ItemOptionalFields{Bibliographic: &ncip.BibliographicDescription{Title: info.Title}}
	}
	return resp, nil
}

// AcceptItem creates the temporary item for an item lent to our patron,
// held at the partner's pickup library whatever RequestedActionType says:
// the patron collects it at the desk, where the loan is made. A patron who
// may not borrow gets User Blocked unless the partner's profile says
// accept_item_blocked: allow.
func (r *Responder) AcceptItem(ctx context.Context, c *ncip.Call, req *ncip.AcceptItem) (*ncip.AcceptItemResponse, error) {
	cl, err := r.caller(c)
	if err != nil {
		return nil, err
	}
	if cl.partner == nil {
		return nil, ncip.NewProblem(c.Service, ncip.UnauthorizedServiceForAgency, "AcceptItem is for resource-sharing partners")
	}
	requestID := strings.TrimSpace(req.RequestID.Value)
	if requestID == "" {
		return nil, missing(c.Service, "RequestId")
	}
	if req.UserID == nil || strings.TrimSpace(req.UserID.Value) == "" {
		return nil, missing(c.Service, "UserId")
	}
	user := strings.TrimSpace(req.UserID.Value)
	ar := circ.AcceptItemRequest{Agent: cl.agent(), Partner: cl.code, RequestID: requestID, Patron: user,
		Pickup: cl.partner.PickupLibrary, DateForReturn: req.DateForReturn, AllowBlocked: cl.partner.AcceptsForBlocked()}
	if ar.Pickup == "" {
		ar.Pickup = cl.library
	}
	if req.ItemID != nil {
		ar.Item = strings.TrimSpace(req.ItemID.Value)
	}
	// The item and user are part of the key: a request id reused for
	// another item is refused rather than answered with the first item, and
	// a corrected user is tried afresh instead of getting the stored refusal.
	ar.Retry = cl.retry(c.Service, requestID+"\x00"+ar.Item+"\x00"+user)
	if f := req.ItemOptionalFields; f != nil {
		if b := f.Bibliographic; b != nil {
			ar.Title, ar.Author = b.Title, b.Author
			if b.ItemID != nil {
				ar.ISBN = b.ItemID.Identifier
			}
		}
		if f.Description != nil {
			ar.CallNumber = f.Description.CallNumber
		}
	}
	res, err := r.svc.AcceptItem(ctx, ar)
	if err != nil {
		return nil, problemOf(c.Service, err, ids{user: user, item: ar.Item, request: requestID})
	}
	rid := req.RequestID
	rid.Value = requestID
	return &ncip.AcceptItemResponse{Header: header(c, cl), RequestID: rid, ItemID: oursPtr(cl, res.Item.Barcode)}, nil
}

// CheckOutItem lends an item. From a partner: the loan is on the account
// the partner's UserId names (see account): one of our patrons, with their
// standing and PIN, or else the partner's lending patron; a temporary item
// only ever goes to one of our patrons. The due date is the loan rules'
// (DesiredDateDue is not honoured), and a repeat for an item already on
// loan to that patron answers its current due date. From a facility: the
// item was retrieved and sent (no loan is made).
func (r *Responder) CheckOutItem(ctx context.Context, c *ncip.Call, req *ncip.CheckOutItem) (*ncip.CheckOutItemResponse, error) {
	cl, err := r.caller(c)
	if err != nil {
		return nil, err
	}
	item := strings.TrimSpace(req.ItemID.Value)
	if item == "" {
		return nil, missing(c.Service, "ItemId")
	}
	user := req.UserIdentifier()
	if cl.storage != nil {
		res, err := r.svc.StorageRetrieve(ctx, circ.StorageEvent{Agent: cl.agent(), Facility: cl.storage.Facility, Item: item})
		if err != nil {
			return nil, problemOf(c.Service, err, ids{item: item})
		}
		uid := ours(cl, cl.code)
		if user != "" {
			uid.Value = user
		}
		return &ncip.CheckOutItemResponse{Header: header(c, cl), ItemID: ours(cl, res.Item.Barcode), UserID: uid,
			IndeterminateLoanPeriod: true}, nil
	}
	temp, err := r.svc.ItemIsTemporary(ctx, item)
	if err != nil {
		return nil, problemOf(c.Service, err, ids{item: item})
	}
	if temp && user == "" {
		return nil, missing(c.Service, "UserId")
	}
	acct, err := r.account(ctx, cl, user)
	if err == nil && temp && !acct.Local {
		// An item our patron borrowed is never lent on to the partner.
		err = &circ.Error{Code: circ.PatronUnknown, Detail: "a borrowed item is lent to one of our patrons"}
	}
	if err != nil {
		return nil, problemOf(c.Service, err, ids{user: user, item: item})
	}
	patron, pin := acct.Patron, ""
	if acct.Local {
		pin, _ = req.Secret()
	}
	reqID := ""
	if req.RequestID != nil {
		reqID = req.RequestID.Value
	}
	no := false
	res, err := r.svc.Checkout(ctx, circ.CheckoutRequest{Agent: cl.agent(), Patron: patron, PIN: pin, Item: item, OwnItem: &no,
		Retry: cl.retry(c.Service, keyed(reqID, item, patron))})
	if err != nil && !isCode(err, circ.AlreadyOnLoan) {
		return nil, problemOf(c.Service, err, ids{user: orString(user, patron), item: item, request: reqID})
	}
	uid := ours(cl, res.Patron.Barcode)
	if user != "" {
		uid.Value = user
	}
	return &ncip.CheckOutItemResponse{Header: header(c, cl), ItemID: ours(cl, res.Item.Barcode), UserID: uid, DateDue: res.Due}, nil
}

// account decides whose account a partner's loan or request is on, by the
// one rule of circ.PartnerAccountOf: the user the partner names when they
// are one of our patrons, otherwise the partner's lending patron, which
// stands for the partner's own users. CheckOutItem, RenewItem, CheckInItem
// (through circ.PartnerCheckin), RequestItem and CancelRequestItem all go
// by it.
func (r *Responder) account(ctx context.Context, cl *caller, user string) (circ.PartnerAccount, error) {
	lending := ""
	if cl.partner != nil {
		lending = cl.partner.LendingPatron
	}
	return r.svc.PartnerAccountOf(ctx, lending, user)
}

// keyed joins the parts of an idempotency key when the partner gave an
// id; without one there is nothing to key on.
func keyed(id string, parts ...string) string {
	if strings.TrimSpace(id) == "" {
		return ""
	}
	return strings.Join(append([]string{id}, parts...), "\x00")
}

func orString(v, def string) string {
	if v != "" {
		return v
	}
	return def
}

// CheckInItem returns an item. From a partner: the return of an item we
// lent it (a loan on its account, see account) or of a temporary item; the
// answer names the patron whose loan ended. From a facility: the item is
// accessioned or refiled.
func (r *Responder) CheckInItem(ctx context.Context, c *ncip.Call, req *ncip.CheckInItem) (*ncip.CheckInItemResponse, error) {
	cl, err := r.caller(c)
	if err != nil {
		return nil, err
	}
	item := strings.TrimSpace(req.ItemID.Value)
	if item == "" {
		return nil, missing(c.Service, "ItemId")
	}
	resp := &ncip.CheckInItemResponse{Header: header(c, cl)}
	if cl.storage != nil {
		res, err := r.svc.StorageCheckin(ctx, circ.StorageEvent{Agent: cl.agent(), Facility: cl.storage.Facility, Item: item})
		if err != nil {
			return nil, problemOf(c.Service, err, ids{item: item})
		}
		resp.ItemID = ours(cl, res.Item.Barcode)
		return resp, nil
	}
	res, err := r.svc.PartnerCheckin(ctx, circ.PartnerCheckinRequest{Agent: cl.agent(), Partner: cl.code,
		LendingPatron: cl.partner.LendingPatron, Item: item})
	if err != nil {
		return nil, problemOf(c.Service, err, ids{item: item})
	}
	resp.ItemID = ours(cl, res.Item.Barcode)
	if res.Patron != nil {
		resp.UserID = oursPtr(cl, res.Patron.Barcode)
	}
	if res.Destination != "" {
		resp.Routing = &ncip.RoutingInformation{Instructions: routing(res.Alert),
			Destination: &ncip.Location{Type: ncip.SV("Current"), Names: []ncip.LocationNameInstance{{Level: 1, Value: res.Destination}}}}
	}
	return resp, nil
}

func routing(alert string) string {
	switch alert {
	case circ.AlertHoldHere:
		return "Hold shelf"
	case circ.AlertHoldElsewere:
		return "Send to the pickup library for a hold"
	case circ.AlertTransit:
		return "Send home"
	}
	return "Shelve"
}

// RenewItem renews a loan on the account the partner's UserId names (see
// account): one of our patrons, or the partner's lending patron.
func (r *Responder) RenewItem(ctx context.Context, c *ncip.Call, req *ncip.RenewItem) (*ncip.RenewItemResponse, error) {
	cl, err := r.caller(c)
	if err != nil {
		return nil, err
	}
	item := strings.TrimSpace(req.ItemID.Value)
	if item == "" {
		return nil, missing(c.Service, "ItemId")
	}
	user := req.UserIdentifier()
	acct, err := r.account(ctx, cl, user)
	if err != nil {
		return nil, problemOf(c.Service, err, ids{user: user, item: item})
	}
	pin := ""
	if acct.Local {
		pin, _ = req.Secret()
	}
	res, err := r.svc.Renew(ctx, circ.RenewRequest{Agent: cl.agent(), Patron: acct.Patron, PIN: pin, Item: item})
	if err != nil {
		return nil, problemOf(c.Service, err, ids{user: acct.Patron, item: item})
	}
	n := res.Renewals
	return &ncip.RenewItemResponse{Header: header(c, cl), ItemID: ours(cl, res.Item.Barcode), UserID: oursPtr(cl, res.Patron.Barcode),
		DateDue: res.Due, RenewalCount: &n}, nil
}

// RequestItem places a request. A user of ours gets a hold; otherwise the
// request is the partner's, a resource-sharing request for its lending
// patron. Item-level requests name the item; title-level ones a
// BibliographicRecordId (our bib id or MARC 001). RequestType Hold, Page
// and Loan all queue the request; an annex item is also asked of its
// facility.
func (r *Responder) RequestItem(ctx context.Context, c *ncip.Call, req *ncip.RequestItem) (*ncip.RequestItemResponse, error) {
	cl, err := r.caller(c)
	if err != nil {
		return nil, err
	}
	if cl.partner == nil {
		return nil, ncip.NewProblem(c.Service, ncip.UnauthorizedServiceForAgency, "RequestItem is for resource-sharing partners")
	}
	requestID := ""
	if req.RequestID != nil {
		requestID = strings.TrimSpace(req.RequestID.Value)
	}
	user := req.UserIdentifier()
	hr := circ.HoldRequest{Agent: cl.agent(), Partner: cl.code, ExternalID: requestID,
		Kind: store.RequestResourceSharing, Pickup: cl.library, Expires: req.NeedBeforeDate}
	acct, err := r.account(ctx, cl, user)
	if err != nil {
		return nil, problemOf(c.Service, err, ids{user: user})
	}
	hr.Patron = acct.Patron
	if acct.Local {
		hr.Kind = store.RequestHold
		if hr.Pickup, err = r.pickupLibrary(ctx, req.PickupLocation.Value); err != nil {
			return nil, err
		}
		if pin, ok := req.Secret(); ok {
			hr.PIN, hr.RequirePIN = pin, true
		}
	}
	item := ""
	if len(req.ItemIDs) > 0 {
		item = strings.TrimSpace(req.ItemIDs[0].Value)
	}
	if req.TitleLevel() || item == "" {
		// A record id names the title; without one, an item-level
		// BibliographicId (VuFind sends its record id so) is tried.
		bib := ""
		for _, b := range req.BibliographicIDs {
			if b.RecordID != nil && strings.TrimSpace(b.RecordID.Identifier) != "" {
				bib = b.RecordID.Identifier
				break
			}
			if b.ItemID != nil && bib == "" {
				bib = b.ItemID.Identifier
			}
		}
		switch {
		case bib != "":
			id, err := r.svc.FindBib(ctx, bib)
			if err != nil {
				return nil, problemOf(c.Service, err, ids{item: bib})
			}
			hr.BibID, hr.TitleLevel = id, true
		case item != "":
			hr.Item, hr.TitleLevel = item, true
		default:
			return nil, ncip.NewProblem(c.Service, ncip.NeededDataMissing, "name the item (ItemId) or the title (BibliographicRecordId)").At("BibliographicRecordId", "")
		}
	} else {
		hr.Item = item
	}
	if requestID != "" {
		hr.Retry = cl.retry(c.Service, requestID+"\x00"+item+"\x00"+strconv.FormatUint(hr.BibID, 10)+"\x00"+user)
	}
	res, err := r.svc.PlaceHold(ctx, hr)
	if err != nil {
		return nil, problemOf(c.Service, err, ids{user: orString(user, hr.Patron), item: item, request: requestID})
	}
	resp := &ncip.RequestItemResponse{Header: header(c, cl), UserID: ours(cl, hr.Patron),
		RequestType:      ncip.SchemeValue{Scheme: ncip.SchemeRequestType, Value: orString(strings.TrimSpace(req.RequestType.Value), "Hold")},
		RequestScopeType: ncip.SchemeValue{Scheme: ncip.SchemeRequestScopeType, Value: "Item"}}
	if user != "" {
		resp.UserID.Value = user
	}
	if hr.TitleLevel {
		resp.RequestScopeType.Value = "Bibliographic Item"
	}
	if requestID != "" {
		rid := *req.RequestID
		rid.Value = requestID
		resp.RequestID = &rid
	} else {
		resp.RequestID = oursPtr(cl, circ.RequestKey(res.Request))
	}
	if res.Item != nil {
		resp.ItemID = oursPtr(cl, res.Item.Barcode)
	}
	return resp, nil
}

// CancelRequestItem cancels one of the partner's requests, named by its id
// or ours, or by user and item. From a facility it means the item was not
// found.
func (r *Responder) CancelRequestItem(ctx context.Context, c *ncip.Call, req *ncip.CancelRequestItem) (*ncip.CancelRequestItemResponse, error) {
	cl, err := r.caller(c)
	if err != nil {
		return nil, err
	}
	item, requestID, user := "", "", req.UserIdentifier()
	if req.ItemID != nil {
		item = strings.TrimSpace(req.ItemID.Value)
	}
	if req.RequestID != nil {
		requestID = strings.TrimSpace(req.RequestID.Value)
	}
	resp := &ncip.CancelRequestItemResponse{Header: header(c, cl), UserID: ours(cl, orString(user, cl.code))}
	if cl.storage != nil {
		if item == "" {
			return nil, missing(c.Service, "ItemId")
		}
		res, err := r.svc.StorageMissing(ctx, circ.StorageEvent{Agent: cl.agent(), Facility: cl.storage.Facility, Item: item})
		if err != nil {
			return nil, problemOf(c.Service, err, ids{item: item, request: requestID})
		}
		resp.ItemID = oursPtr(cl, res.Item.Barcode)
		if res.Retrieval != 0 {
			resp.RequestID = oursPtr(cl, circ.RequestKey(res.Retrieval))
		}
		return resp, nil
	}
	ch := circ.CancelHoldRequest{Agent: cl.agent(), Reason: "cancelled by " + cl.code}
	local := false
	switch {
	case requestID != "":
		// A request cancelled on a local patron's behalf must be theirs,
		// and their PIN, when sent, right.
		if user != "" {
			acct, err := r.account(ctx, cl, user)
			if err != nil {
				return nil, problemOf(c.Service, err, ids{user: user, request: requestID})
			}
			if local = acct.Local; local {
				ch.Patron = acct.Patron
			}
		}
		q := r.requestQuery(ctx, cl, requestID)
		info, err := r.svc.LookupRequest(ctx, q)
		if err == nil && !r.visible(cl, &info) {
			err = &circ.Error{Code: circ.HoldNotFound}
		}
		if err != nil {
			return nil, problemOf(c.Service, err, ids{request: requestID})
		}
		ch.RequestID, ch.Retry = info.ID, cl.retry(c.Service, requestID)
	case item != "":
		acct, err := r.account(ctx, cl, user)
		if err != nil {
			return nil, problemOf(c.Service, err, ids{user: user, item: item})
		}
		ch.Patron, ch.Item, local = acct.Patron, item, acct.Local
	default:
		return nil, missing(c.Service, "RequestId")
	}
	if pin, ok := req.Secret(); ok && local {
		ch.PIN, ch.RequirePIN = pin, true
	}
	res, err := r.svc.CancelHold(ctx, ch)
	if err != nil {
		return nil, problemOf(c.Service, err, ids{user: user, item: item, request: requestID})
	}
	if requestID != "" {
		rid := *req.RequestID
		rid.Value = requestID
		resp.RequestID = &rid
	} else {
		resp.RequestID = oursPtr(cl, circ.RequestKey(res.Request))
	}
	if item != "" {
		resp.ItemID = oursPtr(cl, item)
	}
	return resp, nil
}

// RecallItem recalls the loan of an item: it is marked recalled and due at
// the earlier of its due date and DesiredDateDue (or now + circ.RecallGrace).
func (r *Responder) RecallItem(ctx context.Context, c *ncip.Call, req *ncip.RecallItem) (*ncip.RecallItemResponse, error) {
	cl, err := r.caller(c)
	if err != nil {
		return nil, err
	}
	item := strings.TrimSpace(req.ItemID.Value)
	if item == "" {
		return nil, missing(c.Service, "ItemId")
	}
	res, err := r.svc.Recall(ctx, circ.RecallRequest{Agent: cl.agent(), Item: item, Due: req.DesiredDateDue})
	if err != nil {
		return nil, problemOf(c.Service, err, ids{item: item})
	}
	return &ncip.RecallItemResponse{Header: header(c, cl), ItemID: ours(cl, res.Item.Barcode), DateDue: res.Due}, nil
}

// DeleteItem deletes a temporary item; a repeat answers success.
func (r *Responder) DeleteItem(ctx context.Context, c *ncip.Call, req *ncip.DeleteItem) (*ncip.DeleteItemResponse, error) {
	cl, err := r.caller(c)
	if err != nil {
		return nil, err
	}
	item := strings.TrimSpace(req.ItemID.Value)
	if item == "" {
		return nil, missing(c.Service, "ItemId")
	}
	res, err := r.svc.DeleteTemporaryItem(ctx, circ.DeleteItemRequest{Agent: cl.agent(), Partner: cl.code, Item: item})
	if err != nil {
		return nil, problemOf(c.Service, err, ids{item: item})
	}
	return &ncip.DeleteItemResponse{Header: header(c, cl), ItemID: ours(cl, res.Item.Barcode)}, nil
}

// CreateUserFiscalTransaction charges a user (FiscalActionType Assess or
// Charge). A repeat with the same FiscalTransactionReferenceId or RequestId
// answers the first charge.
func (r *Responder) CreateUserFiscalTransaction(ctx context.Context, c *ncip.Call, req *ncip.CreateUserFiscalTransaction) (*ncip.CreateUserFiscalTransactionResponse, error) {
	cl, err := r.caller(c)
	if err != nil {
		return nil, err
	}
	user := req.UserIdentifier()
	if user == "" {
		return nil, missing(c.Service, "UserId")
	}
	ft := req.FiscalTransaction
	if a := strings.ToLower(strings.TrimSpace(ft.ActionType.Value)); a != "" && a != "assess" && a != "charge" {
		return nil, ncip.NewProblem(c.Service, ncip.UnauthorizedCombinationForAgency, "only Assess transactions are accepted").At("FiscalActionType", ft.ActionType.Value)
	}
	if ft.Amount.Value <= 0 {
		return nil, ncip.NewProblem(c.Service, ncip.InvalidAmount, "the amount must be positive").At("MonetaryValue", strconv.FormatInt(ft.Amount.Value, 10))
	}
	keyID := ""
	switch {
	case ft.ReferenceID != nil && ft.ReferenceID.Value != "":
		keyID = ft.ReferenceID.Value
	case ft.RequestID != nil && ft.RequestID.Value != "":
		keyID = "request\x00" + ft.RequestID.Value
	}
	desc := strings.TrimSpace(ft.Description)
	if desc == "" {
		desc = strings.TrimSpace(ft.TransactionType.Value)
	}
	if desc == "" {
		desc = "resource sharing charge"
	}
	res, err := r.svc.Charge(ctx, circ.ChargeRequest{Agent: cl.agent(), Patron: user, Type: "01", Amount: ft.Amount.Value,
		Currency: ft.Amount.CurrencyCode.Value, Description: desc, Key: cl.key(c.Service, keyID)})
	if err != nil {
		return nil, problemOf(c.Service, err, ids{user: user})
	}
	return &ncip.CreateUserFiscalTransactionResponse{Header: header(c, cl), UserID: ours(cl, user),
		ReferenceID: ncip.FiscalTransactionReferenceID{AgencyID: ncip.SV(cl.localAgency), Value: strconv.FormatUint(res.FeeID, 10)}}, nil
}

// ItemShipped is a facility's word that it retrieved an item and sent it
// on: the same as its CheckOutItem (circ.StorageRetrieve), so the
// retrieval is fulfilled and the item travels to the hold's pickup
// library. The item is named by its ItemId or by the RequestId circa gave
// the retrieval in its RequestItem; when both come they must agree. Only a
// remote-storage facility sends it; a repeat changes nothing.
func (r *Responder) ItemShipped(ctx context.Context, c *ncip.Call, req *ncip.ItemShipped) (*ncip.ItemShippedResponse, error) {
	cl, err := r.caller(c)
	if err != nil {
		return nil, err
	}
	if cl.storage == nil {
		return nil, ncip.NewProblem(c.Service, ncip.UnauthorizedServiceForAgency, "ItemShipped is taken from remote-storage facilities only")
	}
	item, requestID := "", ""
	if req.ItemID != nil {
		item = strings.TrimSpace(req.ItemID.Value)
	}
	if req.RequestID != nil {
		requestID = strings.TrimSpace(req.RequestID.Value)
	}
	if requestID != "" {
		barcode, err := r.retrievalItem(ctx, cl, req.RequestID.AgencyID.Value, requestID, item != "")
		if err != nil {
			return nil, problemOf(c.Service, err, ids{item: item, request: requestID})
		}
		if item != "" && barcode != "" && item != barcode {
			return nil, ncip.NewProblem(c.Service, ncip.ElementRuleViolated,
				"request "+requestID+" is the retrieval of another item").At("ItemId", item)
		}
		if item == "" {
			item = barcode
		}
	}
	if item == "" {
		return nil, missing(c.Service, "ItemId")
	}
	_, err = r.svc.StorageRetrieve(ctx, circ.StorageEvent{Agent: cl.agent(), Facility: cl.storage.Facility, Item: item,
		Note: shippedNote(req)})
	if err != nil {
		return nil, problemOf(c.Service, err, ids{item: item, request: requestID})
	}
	return &ncip.ItemShippedResponse{Header: header(c, cl)}, nil
}

// retrievalItem returns the barcode of the item of the retrieval circa
// named id in its RequestItem. An id under another agency is the
// facility's own, which circa does not know: it is passed over when the
// message names the item too.
func (r *Responder) retrievalItem(ctx context.Context, cl *caller, agency, id string, haveItem bool) (string, error) {
	if agency = strings.TrimSpace(agency); agency != "" && !strings.EqualFold(agency, cl.localAgency) {
		if haveItem {
			return "", nil
		}
		return "", &circ.Error{Code: circ.HoldNotFound, Detail: "request " + id + " of agency " + agency + " is not one of ours"}
	}
	n, err := strconv.ParseUint(id, 10, 64)
	if err != nil {
		return "", &circ.Error{Code: circ.HoldNotFound, Detail: "no retrieval " + id}
	}
	info, err := r.svc.LookupRequest(ctx, circ.RequestQuery{ID: n})
	if err == nil && (info.Kind != store.RequestRetrieval || info.Item == "") {
		err = &circ.Error{Code: circ.HoldNotFound, Detail: "request " + id + " is not a retrieval from remote storage"}
	}
	return info.Item, err
}

// shippedNote is what the storage history keeps of a shipment: its date
// and the facility's note, bounded.
func shippedNote(req *ncip.ItemShipped) string {
	note := "shipped"
	if !req.DateShipped.IsZero() {
		note += " " + req.DateShipped.UTC().Format(time.RFC3339)
	}
	if s := strings.Join(strings.Fields(req.Shipping.Note), " "); s != "" {
		note += ": " + s
	}
	const max = 200
	if len(note) > max {
		note = strings.ToValidUTF8(note[:max], "") + "…"
	}
	return note
}
