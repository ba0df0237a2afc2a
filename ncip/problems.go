package ncip

// Problem type strings. They are the exact NCIP v1 scheme values that
// partners compare against (some by substring), so they must not change.
const (
	// Messaging errors.
	InvalidMessageSyntaxError    = "Invalid Message Syntax Error"
	ProtocolError                = "Protocol Error"
	UnknownElement               = "Unknown Element"
	UnknownScheme                = "Unknown Scheme"
	UnknownService               = "Unknown Service"
	UnknownValueFromKnownScheme  = "Unknown Value From Known Scheme"
	MissingVersion               = "Missing Version"
	AgencyAuthenticationFailed   = "Agency Authentication Failed"
	InvalidAmount                = "Invalid Amount"
	InvalidDate                  = "Invalid Date"
	NeededDataMissing            = "Needed Data Missing"
	SystemAuthenticationFailed   = "System Authentication Failed"
	TemporaryProcessingFailure   = "Temporary Processing Failure"
	UnauthorizedServiceForAgency = "Unauthorized Service For Agency"
	UnknownAgency                = "Unknown Agency"
	UnknownSystem                = "Unknown System"
	UnsupportedService           = "Unsupported Service"
	// Service processing errors.
	ElementRuleViolated              = "Element Rule Violated"
	NonUniqueUser                    = "Non-Unique User"
	UnknownUser                      = "Unknown User"
	UserAccessDenied                 = "User Access Denied"
	UserAuthenticationFailed         = "User Authentication Failed"
	CannotAcceptItem                 = "Cannot Accept Item"
	UnknownItem                      = "Unknown Item"
	UnknownRequest                   = "Unknown Request"
	UserIneligibleToCheckOutThisItem = "User Ineligible To Check Out This Item"
	ItemDoesNotCirculate             = "Item Does Not Circulate"
	MaximumCheckOutsExceeded         = "Maximum Check Outs Exceeded"
	ResourceCannotBeProvided         = "Resource Cannot Be Provided"
	UserBlocked                      = "User Blocked"
	ItemNotCheckedOut                = "Item Not Checked Out"
	DuplicateRequest                 = "Duplicate Request"
	ItemNotAvailableByNeedBeforeDate = "Item Not Available By Need Before Date"
	UserIneligibleToRequestThisItem  = "User Ineligible To Request This Item"
	RequestAlreadyProcessed          = "Request Already Processed"
	ItemNotRenewable                 = "Item Not Renewable"
	MaximumRenewalsExceeded          = "Maximum Renewals Exceeded"
	RenewalNotAllowedOutstandingReqs = "Renewal Not Allowed - Item Has Outstanding Requests"
	UserIneligibleToRenewThisItem    = "User Ineligible To Renew This Item"
	ItemAccessDenied                 = "Item Access Denied"
	NonUniqueItem                    = "Non-Unique Item"
	DuplicateItem                    = "Duplicate Item"
	UnauthorizedCombinationForAgency = "Unauthorized Combination Of Element Values For Agency"
	CannotGuaranteeRestrictionsOnUse = "Cannot Guarantee Restrictions On Use"
	UnsupportedShippingAddressType   = "Unsupported Shipping Address Type"
)

// Scheme URIs of the NCIP v1 Problem type lists, the ones clients expect.
const (
	SchemeMessagingError         = "http://www.niso.org/ncip/v1_0/schemes/messagingerrortype/messagingerrortype.scm"
	SchemeGeneralProcessingError = "http://www.niso.org/ncip/v1_0/schemes/processingerrortype/generalprocessingerror.scm"
	schemeProcessingBase         = "http://www.niso.org/ncip/v1_0/schemes/processingerrortype/"
	SchemeLookupUserError        = schemeProcessingBase + "lookupuserprocessingerror.scm"
	SchemeAcceptItemError        = schemeProcessingBase + "acceptitemprocessingerror.scm"
	SchemeCheckOutItemError      = schemeProcessingBase + "checkoutitemprocessingerror.scm"
	SchemeCheckInItemError       = schemeProcessingBase + "checkinitemprocessingerror.scm"
	SchemeRequestItemError       = schemeProcessingBase + "requestitemprocessingerror.scm"
	SchemeCancelRequestItemError = schemeProcessingBase + "cancelrequestitemprocessingerror.scm"
	SchemeRenewItemError         = schemeProcessingBase + "renewitemprocessingerror.scm"
	SchemeLookupItemError        = schemeProcessingBase + "lookupitemprocessingerror.scm"
	SchemeLookupRequestError     = schemeProcessingBase + "lookuprequestprocessingerror.scm"
)

// ProblemScheme is one scheme of Problem types and the values it lists.
type ProblemScheme struct {
	URI     string
	Service string // the service whose processing errors it lists; "" for general ones
	Values  []string
}

// ProblemSchemes is the Problem catalogue: the NCIP v1 scheme lists, in the
// order Problem looks them up.
var ProblemSchemes = []ProblemScheme{
	{URI: SchemeLookupUserError, Service: "LookupUser", Values: []string{ElementRuleViolated, NonUniqueUser, UnknownUser, UserAccessDenied, UserAuthenticationFailed}},
	{URI: SchemeAcceptItemError, Service: "AcceptItem", Values: []string{CannotAcceptItem, CannotGuaranteeRestrictionsOnUse, ElementRuleViolated, UnknownItem, UnknownRequest, UnknownUser, UserIneligibleToCheckOutThisItem}},
	{URI: SchemeCheckOutItemError, Service: "CheckOutItem", Values: []string{ItemDoesNotCirculate, MaximumCheckOutsExceeded, ResourceCannotBeProvided, UnknownItem, UnknownRequest, UnknownUser, UnsupportedShippingAddressType, UserAuthenticationFailed, UserBlocked, UserIneligibleToCheckOutThisItem}},
	{URI: SchemeCheckInItemError, Service: "CheckInItem", Values: []string{ItemNotCheckedOut, UnknownItem}},
	{URI: SchemeRequestItemError, Service: "RequestItem", Values: []string{DuplicateRequest, ElementRuleViolated, ItemDoesNotCirculate, ItemNotAvailableByNeedBeforeDate, UnknownItem, UnknownUser, UserAuthenticationFailed, UserBlocked, UserIneligibleToRequestThisItem}},
	{URI: SchemeCancelRequestItemError, Service: "CancelRequestItem", Values: []string{ElementRuleViolated, RequestAlreadyProcessed, UnknownItem, UnknownRequest, UnknownUser, UserAuthenticationFailed}},
	{URI: SchemeRenewItemError, Service: "RenewItem", Values: []string{ItemNotCheckedOut, ItemNotRenewable, MaximumRenewalsExceeded, RenewalNotAllowedOutstandingReqs, UnknownItem, UnknownUser, UserAuthenticationFailed, UserBlocked, UserIneligibleToRenewThisItem}},
	{URI: SchemeLookupItemError, Service: "LookupItem", Values: []string{ElementRuleViolated, ItemAccessDenied, NonUniqueItem, UnknownItem}},
	{URI: SchemeLookupRequestError, Service: "LookupRequest", Values: []string{ElementRuleViolated, UnknownRequest}},
	{URI: SchemeGeneralProcessingError, Values: []string{AgencyAuthenticationFailed, InvalidAmount, InvalidDate, NeededDataMissing, SystemAuthenticationFailed, TemporaryProcessingFailure,
		UnauthorizedCombinationForAgency, "Unauthorized Combination Of Element Values For System", UnauthorizedServiceForAgency, "Unauthorized Service For System",
		UnknownAgency, UnknownSystem, UnsupportedService}},
	{URI: SchemeMessagingError, Values: []string{InvalidMessageSyntaxError, ProtocolError, UnknownElement, UnknownScheme, UnknownService, UnknownValueFromKnownScheme}},
}

// SchemeFor returns the scheme URI for a Problem type raised by a service:
// the service's own processing-error scheme when it lists the type, else
// the general or messaging scheme, else any service scheme that lists it.
// Types no v1 scheme lists (Duplicate Item, Missing Version, partner
// strings) get "" and are written without a Scheme.
func SchemeFor(service, problemType string) string {
	if service == "LookupItemSet" {
		// NCIP 2.02 added LookupItemSet without a v1 list of its own; its
		// errors are those of LookupItem.
		service = "LookupItem"
	}
	for _, s := range ProblemSchemes {
		if s.Service == service && contains(s.Values, problemType) {
			return s.URI
		}
	}
	for _, s := range ProblemSchemes {
		if s.Service == "" && contains(s.Values, problemType) {
			return s.URI
		}
	}
	// Services without a scheme of their own (RecallItem, DeleteItem, …)
	// borrow the list of the closest service that has the type.
	for _, s := range ProblemSchemes {
		if contains(s.Values, problemType) {
			return s.URI
		}
	}
	return ""
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// NewProblem builds a Problem of the given type for a service, with the
// scheme from SchemeFor.
func NewProblem(service, problemType, detail string) *Problem {
	return &Problem{Type: SchemeValue{Scheme: SchemeFor(service, problemType), Value: problemType}, Detail: detail}
}

// At sets ProblemElement and ProblemValue and returns p.
func (p *Problem) At(element, value string) *Problem {
	p.Element, p.Value = element, value
	return p
}
