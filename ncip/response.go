package ncip

import "time"

// Response is a typed NCIP response. Every response carries an optional
// ResponseHeader and either Problems or its success body: when Problems is
// not empty only the Problems (and the fee/restriction fields the schema
// allows beside them) are written.
type Response interface {
	Service() string // the request's element name, e.g. "CheckOutItem"
	header() **ResponseHeader
	problems() *[]Problem
	body(w *writer)
}

// LookupVersionResponse lists the NCIP versions supported. LookupVersion is
// outside the 2.0x schemas; its agencies come from Header.
type LookupVersionResponse struct {
	Header            *ResponseHeader
	Problems          []Problem
	VersionsSupported []string
}

// LookupAgencyResponse describes an agency.
type LookupAgencyResponse struct {
	Header                       *ResponseHeader
	Problems                     []Problem
	AgencyID                     SchemeValue
	OrganizationNames            []OrganizationName
	Addresses                    []Address
	ApplicationProfilesSupported []SchemeValue
	ConsortiumAgreements         []SchemeValue
	AgencyUserPrivilegeTypes     []SchemeValue
	// PickupLocations are written in Ext as one LocationName, the form
	// VuFind's XCNCIP2 driver reads its pickup list from: the level (a
	// positive integer in the schema) is what the driver sends back as
	// RequestItem's PickupLocation.
	PickupLocations []LocationNameInstance
}

// LoanedItem is one loan in a LookupUserResponse. A zero DateDue is written
// as IndeterminateLoanPeriodFlag.
type LoanedItem struct {
	ItemID           Identifier
	BibliographicIDs []BibliographicID
	ReminderLevel    int // written when > 0
	DateDue          time.Time
	Amount           *Amount
	Title            string
	MediumType       SchemeValue
	// Bibliographic and RenewalNotPermitted are written in Ext, where
	// discovery layers read the loan's title id and whether to offer renewal.
	Bibliographic       *BibliographicDescription
	RenewalNotPermitted bool
}

// RequestedItem is one request in a LookupUserResponse. DatePlaced is required.
type RequestedItem struct {
	ItemID            *Identifier
	RequestID         *Identifier
	BibliographicIDs  []BibliographicID
	RequestType       SchemeValue
	RequestStatusType SchemeValue // e.g. In Process, Available For Pickup
	DatePlaced        time.Time
	PickupDate        time.Time
	PickupLocation    SchemeValue
	PickupExpiryDate  time.Time
	ReminderLevel     int // written when > 0
	HoldQueuePosition int // written when > 0
	Title             string
	MediumType        SchemeValue
	Bibliographic     *BibliographicDescription // written in Ext
}

// AccountDetails is one transaction of a user's fiscal account.
type AccountDetails struct {
	AccrualDate time.Time
	Transaction FiscalTransaction
}

// UserFiscalAccount is a user's balance and its transactions.
type UserFiscalAccount struct {
	Balance Amount
	Details []AccountDetails
}

// ItemCount is a LoanedItemsCount or RequestedItemsCount: how many of the
// user's loans or requests are of one kind. Loans are counted by
// CirculationStatus (or ItemUseRestrictionType), requests by RequestType
// (or either of the others).
type ItemCount struct {
	RequestType            SchemeValue
	CirculationStatus      SchemeValue
	ItemUseRestrictionType SchemeValue
	Count                  int
}

// LookupUserResponse describes a user.
type LookupUserResponse struct {
	Header               *ResponseHeader
	Problems             []Problem
	UserID               Identifier
	FiscalAccounts       []UserFiscalAccount
	LoanedItemsCounts    []ItemCount
	LoanedItems          []LoanedItem
	RequestedItemsCounts []ItemCount
	RequestedItems       []RequestedItem
	UserOptionalFields   *UserOptionalFields
}

// LookupItemResponse describes an item.
type LookupItemResponse struct {
	Header             *ResponseHeader
	Problems           []Problem
	ItemID             *Identifier
	RequestID          *Identifier
	HoldPickupDate     time.Time
	DateRecalled       time.Time
	CurrentBorrower    *Identifier
	CurrentRequesters  []Identifier
	ItemOptionalFields *ItemOptionalFields
}

// LookupItemSetResponse is one page of items, grouped by title and
// holding; NextItemToken names the next page, "" on the last.
type LookupItemSetResponse struct {
	Header        *ResponseHeader
	Problems      []Problem // the whole service failed
	Bibs          []BibInformation
	NextItemToken string
}

// BibInformation is one title of a LookupItemSetResponse: its holdings, or
// the Problems that kept it from being described (an unknown title).
type BibInformation struct {
	BibliographicID      *BibliographicID // the id the request named, when it named one
	Problems             []Problem
	Description          *BibliographicDescription
	TitleHoldQueueLength *int // holds on the title, not on one of its items
	HoldingsSets         []HoldingsSet
}

// HoldingsSet is the items of one holding; Location and CallNumber are the
// holding's own.
type HoldingsSet struct {
	ID         string // HoldingsSetId
	Problems   []Problem
	Location   *Location
	CallNumber string
	Items      []ItemInformation
}

// ItemInformation is one item of a HoldingsSet, or the Problems about an
// item the request named.
type ItemInformation struct {
	ItemID             *Identifier
	Problems           []Problem
	CurrentBorrower    *Identifier
	CurrentRequesters  []Identifier
	ItemOptionalFields *ItemOptionalFields
}

// LookupRequestResponse describes a request.
type LookupRequestResponse struct {
	Header             *ResponseHeader
	Problems           []Problem
	ItemID             *Identifier
	RequestID          *Identifier
	UserID             *Identifier
	RequestType        SchemeValue
	RequestScopeType   SchemeValue
	RequestStatusType  SchemeValue
	HoldQueuePosition  int // written when > 0
	EarliestDateNeeded time.Time
	NeedBeforeDate     time.Time
	PickupDate         time.Time
	PickupLocation     SchemeValue
	PickupExpiryDate   time.Time
	DateOfUserRequest  time.Time
	DateAvailable      time.Time
	AcknowledgedFee    *Amount
	PaidFee            *Amount
	ItemOptionalFields *ItemOptionalFields
	UserOptionalFields *UserOptionalFields
}

// AcceptItemResponse confirms an accepted item.
type AcceptItemResponse struct {
	Header    *ResponseHeader
	Problems  []Problem
	RequestID Identifier
	ItemID    *Identifier
}

// CheckOutItemResponse confirms a loan. One of DateDue,
// IndeterminateLoanPeriod and NonReturnable is required.
type CheckOutItemResponse struct {
	Header                          *ResponseHeader
	Problems                        []Problem
	RequiredFee                     *Amount       // only with Problems
	RequiredItemUseRestrictionTypes []SchemeValue // only with Problems
	ItemID                          Identifier
	UserID                          Identifier
	DateDue                         time.Time
	IndeterminateLoanPeriod         bool
	NonReturnable                   bool
	RenewalCount                    *int
	FiscalTransaction               *FiscalTransaction
	ItemOptionalFields              *ItemOptionalFields
	UserOptionalFields              *UserOptionalFields
}

// RoutingInformation tells where a returned item goes next.
type RoutingInformation struct {
	Instructions string
	BinNumber    string
	Destination  *Location // required unless BinNumber is set
	RequestType  SchemeValue
	UserID       *Identifier
}

// CheckInItemResponse confirms a return.
type CheckInItemResponse struct {
	Header             *ResponseHeader
	Problems           []Problem
	ItemID             Identifier
	UserID             *Identifier
	Routing            *RoutingInformation
	FiscalTransaction  *FiscalTransaction
	ItemOptionalFields *ItemOptionalFields
	UserOptionalFields *UserOptionalFields
}

// RenewItemResponse confirms a renewal, or reports it pending.
type RenewItemResponse struct {
	Header                          *ResponseHeader
	Problems                        []Problem
	RequiredFee                     *Amount
	RequiredItemUseRestrictionTypes []SchemeValue
	Pending                         bool      // the renewal awaits a decision
	DateOfExpectedReply             time.Time // with Pending
	ItemID                          Identifier
	UserID                          *Identifier
	DateDue                         time.Time
	DateForReturn                   time.Time
	RenewalCount                    *int
	FiscalTransaction               *FiscalTransaction
	ItemOptionalFields              *ItemOptionalFields
	UserOptionalFields              *UserOptionalFields
}

// RequestItemResponse confirms a request. ItemID or RequestID is required.
type RequestItemResponse struct {
	Header                          *ResponseHeader
	Problems                        []Problem
	RequiredFee                     *Amount
	RequiredItemUseRestrictionTypes []SchemeValue
	ItemID                          *Identifier
	RequestID                       *Identifier
	UserID                          Identifier
	RequestType                     SchemeValue
	RequestScopeType                SchemeValue
	DateAvailable                   time.Time
	HoldPickupDate                  time.Time
	FiscalTransaction               *FiscalTransaction
	ItemOptionalFields              *ItemOptionalFields
	UserOptionalFields              *UserOptionalFields
}

// CancelRequestItemResponse confirms a cancellation.
type CancelRequestItemResponse struct {
	Header             *ResponseHeader
	Problems           []Problem
	ItemID             *Identifier
	RequestID          *Identifier
	UserID             Identifier
	FiscalTransaction  *FiscalTransaction
	ItemOptionalFields *ItemOptionalFields
	UserOptionalFields *UserOptionalFields
}

// RecallItemResponse confirms a recall.
type RecallItemResponse struct {
	Header             *ResponseHeader
	Problems           []Problem
	ItemID             Identifier
	UserID             *Identifier
	DateDue            time.Time
	FiscalTransaction  *FiscalTransaction
	ItemOptionalFields *ItemOptionalFields
	UserOptionalFields *UserOptionalFields
}

// DeleteItemResponse confirms a deletion.
type DeleteItemResponse struct {
	Header   *ResponseHeader
	Problems []Problem
	ItemID   Identifier
}

// ItemShippedResponse acknowledges an ItemShipped: Problems or nothing.
type ItemShippedResponse struct {
	Header   *ResponseHeader
	Problems []Problem
}

// CreateUserFiscalTransactionResponse confirms a charge with its id.
type CreateUserFiscalTransactionResponse struct {
	Header      *ResponseHeader
	Problems    []Problem
	UserID      Identifier
	ReferenceID FiscalTransactionReferenceID
}

// Service returns "LookupVersion".
func (*LookupVersionResponse) Service() string { return "LookupVersion" }

// Service returns "LookupAgency".
func (*LookupAgencyResponse) Service() string { return "LookupAgency" }

// Service returns "LookupUser".
func (*LookupUserResponse) Service() string { return "LookupUser" }

// Service returns "LookupItem".
func (*LookupItemResponse) Service() string { return "LookupItem" }

// Service returns "LookupItemSet".
func (*LookupItemSetResponse) Service() string { return "LookupItemSet" }

// Service returns "LookupRequest".
func (*LookupRequestResponse) Service() string { return "LookupRequest" }

// Service returns "AcceptItem".
func (*AcceptItemResponse) Service() string { return "AcceptItem" }

// Service returns "CheckOutItem".
func (*CheckOutItemResponse) Service() string { return "CheckOutItem" }

// Service returns "CheckInItem".
func (*CheckInItemResponse) Service() string { return "CheckInItem" }

// Service returns "RenewItem".
func (*RenewItemResponse) Service() string { return "RenewItem" }

// Service returns "RequestItem".
func (*RequestItemResponse) Service() string { return "RequestItem" }

// Service returns "CancelRequestItem".
func (*CancelRequestItemResponse) Service() string { return "CancelRequestItem" }

// Service returns "RecallItem".
func (*RecallItemResponse) Service() string { return "RecallItem" }

// Service returns "DeleteItem".
func (*DeleteItemResponse) Service() string { return "DeleteItem" }

// Service returns "ItemShipped".
func (*ItemShippedResponse) Service() string { return "ItemShipped" }

// Service returns "CreateUserFiscalTransaction".
func (*CreateUserFiscalTransactionResponse) Service() string { return "CreateUserFiscalTransaction" }

func (r *LookupVersionResponse) header() **ResponseHeader               { return &r.Header }
func (r *LookupAgencyResponse) header() **ResponseHeader                { return &r.Header }
func (r *LookupUserResponse) header() **ResponseHeader                  { return &r.Header }
func (r *LookupItemResponse) header() **ResponseHeader                  { return &r.Header }
func (r *LookupItemSetResponse) header() **ResponseHeader               { return &r.Header }
func (r *LookupRequestResponse) header() **ResponseHeader               { return &r.Header }
func (r *AcceptItemResponse) header() **ResponseHeader                  { return &r.Header }
func (r *CheckOutItemResponse) header() **ResponseHeader                { return &r.Header }
func (r *CheckInItemResponse) header() **ResponseHeader                 { return &r.Header }
func (r *RenewItemResponse) header() **ResponseHeader                   { return &r.Header }
func (r *RequestItemResponse) header() **ResponseHeader                 { return &r.Header }
func (r *CancelRequestItemResponse) header() **ResponseHeader           { return &r.Header }
func (r *RecallItemResponse) header() **ResponseHeader                  { return &r.Header }
func (r *DeleteItemResponse) header() **ResponseHeader                  { return &r.Header }
func (r *CreateUserFiscalTransactionResponse) header() **ResponseHeader { return &r.Header }
func (r *ItemShippedResponse) header() **ResponseHeader                 { return &r.Header }

func (r *LookupVersionResponse) problems() *[]Problem               { return &r.Problems }
func (r *LookupAgencyResponse) problems() *[]Problem                { return &r.Problems }
func (r *LookupUserResponse) problems() *[]Problem                  { return &r.Problems }
func (r *LookupItemResponse) problems() *[]Problem                  { return &r.Problems }
func (r *LookupItemSetResponse) problems() *[]Problem               { return &r.Problems }
func (r *LookupRequestResponse) problems() *[]Problem               { return &r.Problems }
func (r *AcceptItemResponse) problems() *[]Problem                  { return &r.Problems }
func (r *CheckOutItemResponse) problems() *[]Problem                { return &r.Problems }
func (r *CheckInItemResponse) problems() *[]Problem                 { return &r.Problems }
func (r *RenewItemResponse) problems() *[]Problem                   { return &r.Problems }
func (r *RequestItemResponse) problems() *[]Problem                 { return &r.Problems }
func (r *CancelRequestItemResponse) problems() *[]Problem           { return &r.Problems }
func (r *RecallItemResponse) problems() *[]Problem                  { return &r.Problems }
func (r *DeleteItemResponse) problems() *[]Problem                  { return &r.Problems }
func (r *CreateUserFiscalTransactionResponse) problems() *[]Problem { return &r.Problems }
func (r *ItemShippedResponse) problems() *[]Problem                 { return &r.Problems }

// ProblemResponse returns an empty response of the given service holding
// only p, or nil when circa has no response type for that service.
func ProblemResponse(service string, p *Problem) Response {
	var r Response
	switch service {
	case "LookupVersion":
		r = &LookupVersionResponse{}
	case "LookupAgency":
		r = &LookupAgencyResponse{}
	case "LookupUser":
		r = &LookupUserResponse{}
	case "LookupItem":
		r = &LookupItemResponse{}
	case "LookupItemSet":
		r = &LookupItemSetResponse{}
	case "LookupRequest":
		r = &LookupRequestResponse{}
	case "AcceptItem":
		r = &AcceptItemResponse{}
	case "CheckOutItem":
		r = &CheckOutItemResponse{}
	case "CheckInItem":
		r = &CheckInItemResponse{}
	case "RenewItem":
		r = &RenewItemResponse{}
	case "RequestItem":
		r = &RequestItemResponse{}
	case "CancelRequestItem":
		r = &CancelRequestItemResponse{}
	case "RecallItem":
		r = &RecallItemResponse{}
	case "DeleteItem":
		r = &DeleteItemResponse{}
	case "CreateUserFiscalTransaction":
		r = &CreateUserFiscalTransactionResponse{}
	case "ItemShipped":
		r = &ItemShippedResponse{}
	default:
		return nil
	}
	*r.problems() = []Problem{*p}
	return r
}
