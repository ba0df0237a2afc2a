package ncip

import "time"

// Request is a decoded NCIP request. Service returns the element name of the
// request ("CheckOutItem"); Initiation returns its InitiationHeader or nil.
type Request interface {
	Service() string
	Initiation() *InitiationHeader
	encode(w *writer)
}

// LookupVersion asks which NCIP versions the responder supports. It is not
// part of the 2.0x schemas; its agencies are read into Header.
type LookupVersion struct {
	Header *InitiationHeader
}

// LookupAgency asks for information about an agency.
type LookupAgency struct {
	Header       *InitiationHeader
	AgencyID     SchemeValue
	ElementTypes []SchemeValue // AgencyElementType
}

// LookupUser asks for a user's record. The user comes as UserId or as
// AuthenticationInput (barcode plus PIN or password), or both.
type LookupUser struct {
	Header *InitiationHeader
	UserRef
	ElementTypes             []SchemeValue // UserElementType: Name Information, User Address Information, …
	LoanedItemsDesired       bool
	RequestedItemsDesired    bool
	UserFiscalAccountDesired bool
}

// Wants reports whether the request asked for a UserElementType, e.g.
// "Name Information", compared without case.
func (r *LookupUser) Wants(elementType string) bool { return wants(r.ElementTypes, elementType) }

func wants(list []SchemeValue, v string) bool {
	for _, e := range list {
		if e.Is(v) {
			return true
		}
	}
	return false
}

// LookupItem asks for an item, by ItemId or by RequestId.
type LookupItem struct {
	Header                   *InitiationHeader
	ItemID                   *Identifier
	RequestID                *Identifier
	ElementTypes             []SchemeValue // ItemElementType
	CurrentBorrowerDesired   bool
	CurrentRequestersDesired bool
}

// Wants reports whether the request asked for an ItemElementType.
func (r *LookupItem) Wants(elementType string) bool { return wants(r.ElementTypes, elementType) }

// ItemElementType values (NCIP v1 scheme) a LookupItem or LookupItemSet may
// ask for; see LookupItemSet.Wants.
const (
	ElementBibliographicDescription = "Bibliographic Description"
	ElementCirculationStatus        = "Circulation Status"
	ElementHoldQueueLength          = "Hold Queue Length"
	ElementItemDescription          = "Item Description" // the call number
	ElementLocation                 = "Location"
	ElementDateDue                  = "Date Due"
)

// SchemeItemElementType is the scheme of the ItemElementType values.
const SchemeItemElementType = "http://www.niso.org/ncip/v1_0/schemes/itemelementtype/itemelementtype.scm"

// LookupItemSet asks for the items of titles (BibliographicId), of
// holdings (HoldingsSetId) or named one by one (ItemId), a page at a time:
// at most MaximumItemsCount items, the next page named by the
// NextItemToken of the previous answer.
type LookupItemSet struct {
	Header                   *InitiationHeader
	BibliographicIDs         []BibliographicID
	HoldingsSetIDs           []string
	ItemIDs                  []Identifier
	ElementTypes             []SchemeValue // ItemElementType
	CurrentBorrowerDesired   bool
	CurrentRequestersDesired bool
	MaximumItemsCount        int // 0 when not given
	NextItemToken            string
}

// Wants reports whether the request asked for an ItemElementType.
func (r *LookupItemSet) Wants(elementType string) bool { return wants(r.ElementTypes, elementType) }

// LookupRequest asks for a request, by RequestId or by user, item and type.
type LookupRequest struct {
	Header *InitiationHeader
	UserRef
	ItemID              *Identifier
	RequestType         SchemeValue
	RequestID           *Identifier
	RequestElementTypes []SchemeValue
	ItemElementTypes    []SchemeValue
	UserElementTypes    []SchemeValue
}

// AcceptItem asks the borrowing library to accept an item lent to one of
// its users: create a temporary item and hold it for the user.
type AcceptItem struct {
	Header                  *InitiationHeader
	DateEventOccurred       time.Time // MandatedAction
	RequestID               Identifier
	RequestedActionType     SchemeValue // Hold For Pickup, Circulate, …
	UserID                  *Identifier
	ItemID                  *Identifier
	DateForReturn           time.Time
	IndeterminateLoanPeriod bool
	NonReturnable           bool
	RenewalNotPermitted     bool
	FiscalTransaction       *FiscalTransaction
	ItemOptionalFields      *ItemOptionalFields
	UserOptionalFields      *UserOptionalFields
	PickupLocation          SchemeValue
	PickupExpiryDate        time.Time
}

// CheckOutItem charges an item to a user.
type CheckOutItem struct {
	Header            *InitiationHeader
	DateEventOccurred time.Time
	UserRef
	ItemID           Identifier
	RequestID        *Identifier
	AcknowledgedFee  *Amount
	PaidFee          *Amount
	DesiredDateDue   time.Time
	ItemElementTypes []SchemeValue
	UserElementTypes []SchemeValue
}

// CheckInItem returns an item.
type CheckInItem struct {
	Header            *InitiationHeader
	DateEventOccurred time.Time
	ItemID            Identifier
	ItemElementTypes  []SchemeValue
	UserElementTypes  []SchemeValue
}

// RenewItem renews a loan.
type RenewItem struct {
	Header            *InitiationHeader
	DateEventOccurred time.Time
	UserRef
	ItemID               Identifier
	ItemElementTypes     []SchemeValue
	UserElementTypes     []SchemeValue
	DesiredDateDue       time.Time
	DesiredDateForReturn time.Time
	AcknowledgedFee      *Amount
	PaidFee              *Amount
}

// RequestItem places a hold, page, recall or loan request, for items
// (ItemIDs) or at title level (BibliographicIDs).
type RequestItem struct {
	Header            *InitiationHeader
	DateEventOccurred time.Time
	UserRef
	ItemIDs            []Identifier
	BibliographicIDs   []BibliographicID
	RequestID          *Identifier
	RequestType        SchemeValue // Hold, Loan, Page, Recall, …
	RequestScopeType   SchemeValue // Item, Bibliographic Item
	ItemOptionalFields *ItemOptionalFields
	EarliestDateNeeded time.Time
	NeedBeforeDate     time.Time
	PickupLocation     SchemeValue
	PickupExpiryDate   time.Time
	AcknowledgedFee    *Amount
	PaidFee            *Amount
	ItemElementTypes   []SchemeValue
	UserElementTypes   []SchemeValue
}

// TitleLevel reports whether the request is for any copy of a title rather
// than for specific items.
func (r *RequestItem) TitleLevel() bool {
	if r.RequestScopeType.Is("Bibliographic Item") || r.RequestScopeType.Is("Title") {
		return true
	}
	return len(r.ItemIDs) == 0 && len(r.BibliographicIDs) > 0
}

// CancelRequestItem cancels a request.
type CancelRequestItem struct {
	Header            *InitiationHeader
	DateEventOccurred time.Time
	UserRef
	ItemID           *Identifier
	RequestID        *Identifier
	RequestType      SchemeValue
	RequestScopeType SchemeValue
	AcknowledgedFee  *Amount
	PaidFee          *Amount
	ItemElementTypes []SchemeValue
	UserElementTypes []SchemeValue
}

// RecallItem recalls a loan.
type RecallItem struct {
	Header            *InitiationHeader
	DateEventOccurred time.Time
	ItemID            Identifier
	DesiredDateDue    time.Time
	ItemElementTypes  []SchemeValue
	UserElementTypes  []SchemeValue
}

// DeleteItem deletes an item, typically a temporary ILL item.
type DeleteItem struct {
	Header            *InitiationHeader
	DateEventOccurred time.Time
	ItemID            Identifier
}

// CreateUserFiscalTransaction charges (or credits) a user.
type CreateUserFiscalTransaction struct {
	Header            *InitiationHeader
	DateEventOccurred time.Time
	UserRef
	FiscalTransaction FiscalTransaction
}

// ItemShipped tells the receiving library an item is on its way: a
// remote-storage facility's word that it retrieved the item and sent it.
// The item is named by ItemId, or by the RequestId the library gave the
// request (with or without the ItemId).
type ItemShipped struct {
	Header             *InitiationHeader
	ItemID             *Identifier
	RequestID          *Identifier
	UserID             *Identifier
	DateShipped        time.Time
	Shipping           ShippingInformation
	ItemOptionalFields *ItemOptionalFields
	UserOptionalFields *UserOptionalFields
}

// Service returns "LookupVersion".
func (*LookupVersion) Service() string { return "LookupVersion" }

// Service returns "LookupAgency".
func (*LookupAgency) Service() string { return "LookupAgency" }

// Service returns "LookupUser".
func (*LookupUser) Service() string { return "LookupUser" }

// Service returns "LookupItem".
func (*LookupItem) Service() string { return "LookupItem" }

// Service returns "LookupItemSet".
func (*LookupItemSet) Service() string { return "LookupItemSet" }

// Service returns "LookupRequest".
func (*LookupRequest) Service() string { return "LookupRequest" }

// Service returns "AcceptItem".
func (*AcceptItem) Service() string { return "AcceptItem" }

// Service returns "CheckOutItem".
func (*CheckOutItem) Service() string { return "CheckOutItem" }

// Service returns "CheckInItem".
func (*CheckInItem) Service() string { return "CheckInItem" }

// Service returns "RenewItem".
func (*RenewItem) Service() string { return "RenewItem" }

// Service returns "RequestItem".
func (*RequestItem) Service() string { return "RequestItem" }

// Service returns "CancelRequestItem".
func (*CancelRequestItem) Service() string { return "CancelRequestItem" }

// Service returns "RecallItem".
func (*RecallItem) Service() string { return "RecallItem" }

// Service returns "DeleteItem".
func (*DeleteItem) Service() string { return "DeleteItem" }

// Service returns "CreateUserFiscalTransaction".
func (*CreateUserFiscalTransaction) Service() string { return "CreateUserFiscalTransaction" }

// Service returns "ItemShipped".
func (*ItemShipped) Service() string { return "ItemShipped" }

// Initiation returns the InitiationHeader, or nil.
func (r *LookupVersion) Initiation() *InitiationHeader { return r.Header }

// Initiation returns the InitiationHeader, or nil.
func (r *LookupAgency) Initiation() *InitiationHeader { return r.Header }

// Initiation returns the InitiationHeader, or nil.
func (r *LookupUser) Initiation() *InitiationHeader { return r.Header }

// Initiation returns the InitiationHeader, or nil.
func (r *LookupItem) Initiation() *InitiationHeader { return r.Header }

// Initiation returns the InitiationHeader, or nil.
func (r *LookupItemSet) Initiation() *InitiationHeader { return r.Header }

// Initiation returns the InitiationHeader, or nil.
func (r *LookupRequest) Initiation() *InitiationHeader { return r.Header }

// Initiation returns the InitiationHeader, or nil.
func (r *AcceptItem) Initiation() *InitiationHeader { return r.Header }

// Initiation returns the InitiationHeader, or nil.
func (r *CheckOutItem) Initiation() *InitiationHeader { return r.Header }

// Initiation returns the InitiationHeader, or nil.
func (r *CheckInItem) Initiation() *InitiationHeader { return r.Header }

// Initiation returns the InitiationHeader, or nil.
func (r *RenewItem) Initiation() *InitiationHeader { return r.Header }

// Initiation returns the InitiationHeader, or nil.
func (r *RequestItem) Initiation() *InitiationHeader { return r.Header }

// Initiation returns the InitiationHeader, or nil.
func (r *CancelRequestItem) Initiation() *InitiationHeader { return r.Header }

// Initiation returns the InitiationHeader, or nil.
func (r *RecallItem) Initiation() *InitiationHeader { return r.Header }

// Initiation returns the InitiationHeader, or nil.
func (r *DeleteItem) Initiation() *InitiationHeader { return r.Header }

// Initiation returns the InitiationHeader, or nil.
func (r *CreateUserFiscalTransaction) Initiation() *InitiationHeader { return r.Header }

// Initiation returns the InitiationHeader, or nil.
func (r *ItemShipped) Initiation() *InitiationHeader { return r.Header }

// knownServices are the request elements of ncip_v2_02.xsd. A request for
// one circa does not decode is answered "Unsupported Service"; any other
// element "Unknown Service".
var knownServices = map[string]bool{
	"AcceptItem": true, "AgencyCreated": true, "AgencyUpdated": true, "CancelRecallItem": true, "CancelRequestItem": true,
	"CheckInItem": true, "CheckOutItem": true, "CirculationStatusChangeReported": true, "CirculationStatusUpdated": true,
	"CreateAgency": true, "CreateItem": true, "CreateUser": true, "CreateUserFiscalTransaction": true, "DeleteItem": true,
	"DeleteUser": true, "ItemCheckedIn": true, "ItemCheckedOut": true, "ItemCreated": true, "ItemRecallCancelled": true,
	"ItemRecalled": true, "ItemReceived": true, "ItemRenewed": true, "ItemRequestCancelled": true, "ItemRequestUpdated": true,
	"ItemRequested": true, "ItemShipped": true, "ItemUpdated": true, "LookupAgency": true, "LookupItem": true,
	"LookupItemSet": true, "LookupRequest": true, "LookupUser": true, "RecallItem": true, "RenewItem": true,
	"ReportCirculationStatusChange": true, "RequestItem": true, "SendUserNotice": true, "UndoCheckOutItem": true,
	"UpdateAgency": true, "UpdateCirculationStatus": true, "UpdateItem": true, "UpdateRequestItem": true, "UpdateUser": true,
	"UserCreated": true, "UserFiscalTransactionCreated": true, "UserNoticeSent": true, "LookupVersion": true,
}
