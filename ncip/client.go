package ncip

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Client POSTs NCIP messages to a responder.
type Client struct {
	URL    string       // the endpoint, e.g. http://127.0.0.1:8080/ncip
	APIKey string       // sent as X-API-Key when set
	HTTP   *http.Client // nil means a client with a 30 s timeout; for load, pass one whose Transport keeps enough idle connections per host
	Write  WriteOptions // how Do writes requests
}

// Result is the answer to one message.
type Result struct {
	Status   int
	Body     []byte
	Response *ResponseMessage // nil when the body is not an NCIP message
	Problem  *Problem         // the first Problem, if any
}

const maxResponseBytes = 16 << 20

var defaultHTTPClient = &http.Client{Timeout: 30 * time.Second}

// Send POSTs msg and reads the answer. The error reports transport failures
// only; NCIP Problems and non-200 statuses are in the Result.
func (c *Client) Send(ctx context.Context, msg []byte) (*Result, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, bytes.NewReader(msg))
	if err != nil {
		return nil, fmt.Errorf("ncip client: %w", err)
	}
	req.Header.Set("Content-Type", "application/xml; charset=utf-8")
	if c.APIKey != "" {
		req.Header.Set("X-API-Key", c.APIKey)
	}
	hc := c.HTTP
	if hc == nil {
		hc = defaultHTTPClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("ncip client: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return nil, fmt.Errorf("ncip client: read response: %w", err)
	}
	res := &Result{Status: resp.StatusCode, Body: body}
	if m, err := DecodeResponse(body, DecodeOptions{Limits: Limits{MaxBytes: maxResponseBytes}}); err == nil {
		res.Response = m
		if len(m.Problems) > 0 {
			res.Problem = &m.Problems[0]
		}
	}
	return res, nil
}

// Do encodes r with c.Write and sends it.
func (c *Client) Do(ctx context.Context, r Request) (*Result, error) {
	b, err := EncodeRequest(r, c.Write)
	if err != nil {
		return nil, err
	}
	return c.Send(ctx, b)
}

// BuildRequest makes a request of a service from key=value fields, for
// command lines and benchmarks. Keys:
//
//	from, to, from-auth, profile, on-behalf-of   InitiationHeader
//	user                                         UserId value
//	barcode, pin, password                       AuthenticationInput (Barcode Id, PIN, Password)
//	item (repeatable for RequestItem), request   ItemId, RequestId values
//	request-type, scope, action                  RequestType, RequestScopeType, RequestedActionType
//	bib, bib-code, isbn                          BibliographicRecordId (code default OCLC), BibliographicItemId
//	title, author, call-number                   item description (AcceptItem, RequestItem)
//	pickup, due                                  PickupLocation; DesiredDateDue or DateForReturn (RFC 3339)
//	amount, currency, fiscal-action, fiscal-type, description   fiscal transaction
//	elements                                     comma-separated UserElementType / AgencyElementType
//	loans, requests, account                     LookupUser …Desired flags (any non-empty value)
//	agency                                       LookupAgency AgencyId
//	shipped, address, note                       ItemShipped DateShipped (RFC 3339, default now), the
//	                                             postal address it went to (lines joined by ";"), ShippingNote
func BuildRequest(service string, fields []string) (Request, error) {
	kv := map[string][]string{}
	for _, f := range fields {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return nil, fmt.Errorf("ncip: field %q is not key=value", f)
		}
		k = strings.ToLower(strings.TrimSpace(k))
		if !slices.Contains(buildKeys, k) {
			return nil, fmt.Errorf("ncip: unknown field %q (known: %s)", k, strings.Join(buildKeys, ", "))
		}
		kv[k] = append(kv[k], v)
	}
	get := func(k string) string {
		if v := kv[k]; len(v) > 0 {
			return v[len(v)-1]
		}
		return ""
	}
	date := func(key string) (time.Time, error) {
		s := get(key)
		if s == "" {
			return time.Time{}, nil
		}
		t, ok := parseDate(s, time.UTC)
		if !ok {
			return time.Time{}, fmt.Errorf("ncip: %s %q is not a date", key, s)
		}
		return t, nil
	}
	due, err := date("due")
	if err != nil {
		return nil, err
	}
	var hdr *InitiationHeader
	if get("from") != "" || get("to") != "" || get("from-auth") != "" || get("profile") != "" || get("on-behalf-of") != "" {
		hdr = &InitiationHeader{FromAgencyID: SV(get("from")), ToAgencyID: SV(get("to")), FromAgencyAuthentication: get("from-auth"),
			ApplicationProfileType: SV(get("profile")), OnBehalfOfAgency: SV(get("on-behalf-of"))}
	}
	var user UserRef
	if v := get("user"); v != "" {
		user.UserID = ID(v)
	}
	if v := get("barcode"); v != "" {
		user.Auth = append(user.Auth, AuthenticationInput{Data: v, Type: SchemeValue{Scheme: SchemeAuthenticationInputType, Value: "Barcode Id"}})
	}
	for _, s := range []struct{ key, typ string }{{"pin", "PIN"}, {"password", "Password"}} {
		if v := get(s.key); v != "" {
			if len(user.Auth) == 0 && user.UserID != nil {
				user.Auth = append(user.Auth, AuthenticationInput{Data: user.UserID.Value, Type: SchemeValue{Scheme: SchemeAuthenticationInputType, Value: "Barcode Id"}})
				user.UserID = nil
			}
			user.Auth = append(user.Auth, AuthenticationInput{Data: v, Type: SchemeValue{Scheme: SchemeAuthenticationInputType, Value: s.typ}})
		}
	}
	var itemID *Identifier
	if v := get("item"); v != "" {
		itemID = ID(v)
	}
	var requestID *Identifier
	if v := get("request"); v != "" {
		requestID = ID(v)
	}
	var elements []SchemeValue
	for _, e := range strings.Split(get("elements"), ",") {
		if e = strings.TrimSpace(e); e != "" {
			elements = append(elements, SV(e))
		}
	}
	var iof *ItemOptionalFields
	if get("title") != "" || get("author") != "" || get("isbn") != "" || get("call-number") != "" {
		iof = &ItemOptionalFields{Bibliographic: &BibliographicDescription{Title: get("title"), Author: get("author")}}
		if v := get("isbn"); v != "" {
			iof.Bibliographic.ItemID = &BibliographicItemID{Identifier: v, Code: SV("ISBN")}
		}
		if v := get("call-number"); v != "" {
			iof.Description = &ItemDescription{CallNumber: v}
		}
	}
	fiscal := func() (FiscalTransaction, error) {
		v, ok := parseMoney(get("amount"))
		if !ok {
			return FiscalTransaction{}, fmt.Errorf("ncip: amount %q is not an amount", get("amount"))
		}
		return FiscalTransaction{ActionType: SV(or(get("fiscal-action"), "Assess")), TransactionType: SV(or(get("fiscal-type"), "Service Charge")),
			Amount: Amount{CurrencyCode: SV(get("currency")), Value: v}, Description: get("description"), RequestID: requestID}, nil
	}
	reqType := SchemeValue{Scheme: SchemeRequestType, Value: or(get("request-type"), "Hold")}
	orEmpty := func(id *Identifier) Identifier {
		if id == nil {
			return Identifier{}
		}
		return *id
	}

	switch service {
	case "LookupVersion":
		return &LookupVersion{Header: hdr}, nil
	case "LookupAgency":
		if len(elements) == 0 {
			elements = []SchemeValue{SV("Organization Name Information")}
		}
		return &LookupAgency{Header: hdr, AgencyID: SV(or(get("agency"), get("to"))), ElementTypes: elements}, nil
	case "LookupUser":
		return &LookupUser{Header: hdr, UserRef: user, ElementTypes: elements, LoanedItemsDesired: get("loans") != "",
			RequestedItemsDesired: get("requests") != "", UserFiscalAccountDesired: get("account") != ""}, nil
	case "LookupItem":
		return &LookupItem{Header: hdr, ItemID: itemID, RequestID: requestID}, nil
	case "LookupItemSet":
		r := &LookupItemSet{Header: hdr, ElementTypes: elements, NextItemToken: get("token")}
		for _, v := range kv["bib"] {
			// A record id needs an agency or a code; without either the
			// title goes as a bare item identifier, as VuFind sends it.
			id := BibliographicID{ItemID: &BibliographicItemID{Identifier: v}}
			if get("to") != "" || get("bib-code") != "" {
				id = BibliographicID{RecordID: &BibliographicRecordID{Identifier: v, AgencyID: SV(get("to")), Code: SV(get("bib-code"))}}
			}
			r.BibliographicIDs = append(r.BibliographicIDs, id)
		}
		for _, v := range kv["item"] {
			r.ItemIDs = append(r.ItemIDs, Identifier{Value: v})
		}
		if v := get("max"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return nil, fmt.Errorf("ncip: max %q is not a positive whole number", v)
			}
			r.MaximumItemsCount = n
		}
		if len(elements) == 0 {
			for _, e := range []string{ElementBibliographicDescription, ElementCirculationStatus, ElementHoldQueueLength,
				ElementItemDescription, ElementLocation, ElementDateDue} {
				r.ElementTypes = append(r.ElementTypes, SchemeValue{Scheme: SchemeItemElementType, Value: e})
			}
		}
		return r, nil
	case "LookupRequest":
		return &LookupRequest{Header: hdr, UserRef: user, ItemID: itemID, RequestID: requestID, RequestType: reqType}, nil
	case "AcceptItem":
		var uid *Identifier
		if id := user.UserIdentifier(); id != "" {
			uid = ID(id)
		}
		return &AcceptItem{Header: hdr, RequestID: orEmpty(requestID), UserID: uid, ItemID: itemID,
			RequestedActionType: SchemeValue{Scheme: SchemeRequestedActionType, Value: or(get("action"), "Hold For Pickup")},
			DateForReturn:       due, ItemOptionalFields: iof, PickupLocation: SV(get("pickup"))}, nil
	case "CheckOutItem":
		return &CheckOutItem{Header: hdr, UserRef: user, ItemID: orEmpty(itemID), RequestID: requestID, DesiredDateDue: due}, nil
	case "CheckInItem":
		return &CheckInItem{Header: hdr, ItemID: orEmpty(itemID)}, nil
	case "RenewItem":
		return &RenewItem{Header: hdr, UserRef: user, ItemID: orEmpty(itemID), DesiredDateDue: due}, nil
	case "RequestItem":
		r := &RequestItem{Header: hdr, UserRef: user, RequestID: requestID, RequestType: reqType,
			RequestScopeType:   SchemeValue{Scheme: SchemeRequestScopeType, Value: or(get("scope"), "Item")},
			ItemOptionalFields: iof, PickupLocation: SV(get("pickup")), NeedBeforeDate: due}
		for _, v := range kv["item"] {
			r.ItemIDs = append(r.ItemIDs, Identifier{Value: v})
		}
		if v := get("bib"); v != "" {
			r.BibliographicIDs = append(r.BibliographicIDs, BibliographicID{RecordID: &BibliographicRecordID{Identifier: v, Code: SV(or(get("bib-code"), "OCLC"))}})
			if get("scope") == "" {
				r.RequestScopeType.Value = "Bibliographic Item"
			}
		}
		if v := get("isbn"); v != "" && len(r.BibliographicIDs) == 0 {
			r.BibliographicIDs = append(r.BibliographicIDs, BibliographicID{ItemID: &BibliographicItemID{Identifier: v, Code: SV("ISBN")}})
		}
		return r, nil
	case "CancelRequestItem":
		return &CancelRequestItem{Header: hdr, UserRef: user, ItemID: itemID, RequestID: requestID, RequestType: reqType}, nil
	case "RecallItem":
		return &RecallItem{Header: hdr, ItemID: orEmpty(itemID), DesiredDateDue: due}, nil
	case "DeleteItem":
		return &DeleteItem{Header: hdr, ItemID: orEmpty(itemID)}, nil
	case "CreateUserFiscalTransaction":
		f, err := fiscal()
		if err != nil {
			return nil, err
		}
		return &CreateUserFiscalTransaction{Header: hdr, UserRef: user, FiscalTransaction: f}, nil
	case "ItemShipped":
		shipped, err := date("shipped")
		if err != nil {
			return nil, err
		}
		if shipped.IsZero() {
			shipped = time.Now().UTC().Truncate(time.Second)
		}
		if get("address") == "" {
			return nil, errors.New("ncip: ItemShipped needs address= (where the item was sent)")
		}
		lines := strings.Split(get("address"), ";")
		for i := range lines {
			lines[i] = strings.TrimSpace(lines[i])
		}
		return &ItemShipped{Header: hdr, ItemID: itemID, RequestID: requestID, UserID: user.UserID, DateShipped: shipped,
			Shipping: ShippingInformation{Note: get("note"), Physical: &PhysicalAddress{Unstructured: strings.Join(lines, "\n"),
				UnstructuredType: SV("Newline-Delimited Text"), Type: SV("Postal Address")}}}, nil
	}
	return nil, fmt.Errorf("ncip: cannot build a %q request", service)
}

var buildKeys = []string{"from", "to", "from-auth", "profile", "on-behalf-of", "user", "barcode", "pin", "password", "item", "request",
	"request-type", "scope", "action", "bib", "bib-code", "isbn", "title", "author", "call-number", "pickup", "due", "amount", "currency",
	"fiscal-action", "fiscal-type", "description", "elements", "loans", "requests", "account", "agency", "shipped", "address", "note", "max", "token"}

func or(v, def string) string {
	if v != "" {
		return v
	}
	return def
}
