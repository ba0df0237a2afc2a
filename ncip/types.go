package ncip

import (
	"strings"
	"time"
)

// Namespace is the NCIP 2 XML namespace.
const Namespace = "http://www.niso.org/2008/ncip"

// Version202 is the version URI written when a request named none.
const Version202 = "http://www.niso.org/schemas/ncip/v2_02/ncip_v2_02.xsd"

// Well-known scheme URIs for values circa writes.
const (
	SchemeAuthenticationInputType = "http://www.niso.org/ncip/v1_0/imp1/schemes/authenticationinputtype/authenticationinputtype.scm"
	SchemeUserElementType         = "http://www.niso.org/ncip/v1_0/schemes/userelementtype/userelementtype.scm"
	SchemeRequestType             = "http://www.niso.org/ncip/v1_0/imp1/schemes/requesttype/requesttype.scm"
	SchemeRequestScopeType        = "http://www.niso.org/ncip/v1_0/imp1/schemes/requestscopetype/requestscopetype.scm"
	SchemeRequestedActionType     = "http://www.niso.org/ncip/v1_0/imp1/schemes/requestedactiontype/requestedactiontype.scm"
	SchemeMediaTypes              = "http://www.iana.org/assignments/media-types"
)

// UserElementType values (NCIP v1 scheme) a LookupUser may ask for; see
// LookupUser.Wants.
const (
	ElementAuthenticationInput    = "Authentication Input"
	ElementBlockOrTrap            = "Block Or Trap"
	ElementDateOfBirth            = "Date Of Birth"
	ElementNameInformation        = "Name Information"
	ElementPreviousUserID         = "Previous User Id"
	ElementUserAddressInformation = "User Address Information"
	ElementUserID                 = "User Id"
	ElementUserLanguage           = "User Language"
	ElementUserPrivilege          = "User Privilege"
)

// SchemeValue is an NCIP SchemeValuePair: a value with an optional Scheme URI.
type SchemeValue struct {
	Scheme string
	Value  string
}

// SV returns a SchemeValue without a scheme.
func SV(value string) SchemeValue { return SchemeValue{Value: value} }

// Is reports whether the value equals v, ignoring case and surrounding space.
func (s SchemeValue) Is(v string) bool { return strings.EqualFold(strings.TrimSpace(s.Value), v) }

// Identifier is a UserId, ItemId or RequestId: an optional agency, an
// optional identifier type and the identifier value.
type Identifier struct {
	AgencyID SchemeValue
	Type     SchemeValue
	Value    string
}

// ID returns an Identifier with only a value.
func ID(value string) *Identifier { return &Identifier{Value: value} }

// InitiationHeader is the optional header of every request.
type InitiationHeader struct {
	FromSystemID             SchemeValue
	FromSystemAuthentication string // a secret: never logged, never echoed
	FromAgencyID             SchemeValue
	FromAgencyAuthentication string // a secret: never logged, never echoed
	OnBehalfOfAgency         SchemeValue
	ToSystemID               SchemeValue
	ToAgencyID               SchemeValue
	ApplicationProfileType   SchemeValue
}

// Reply returns the ResponseHeader for an answer to this header: From and To
// swapped, authentication never echoed.
func (h *InitiationHeader) Reply() *ResponseHeader {
	if h == nil {
		return nil
	}
	return &ResponseHeader{
		FromSystemID: h.ToSystemID,
		FromAgencyID: h.ToAgencyID,
		ToSystemID:   h.FromSystemID,
		ToAgencyID:   h.FromAgencyID,
	}
}

// ResponseHeader is the optional header of every response.
type ResponseHeader struct {
	FromSystemID SchemeValue
	FromAgencyID SchemeValue
	ToSystemID   SchemeValue
	ToAgencyID   SchemeValue
}

// AuthenticationInput is one credential of a user: a barcode, a user id, a
// PIN or a password. Its String method hides the data.
type AuthenticationInput struct {
	Data       string
	FormatType SchemeValue // a MIME type, usually text/plain
	Type       SchemeValue // Barcode Id, User Id, PIN, Password, …
}

// String describes the input without its data.
func (a AuthenticationInput) String() string { return a.Type.Value + ":[redacted]" }

// IsSecret reports whether the input is a PIN or a password.
func (a AuthenticationInput) IsSecret() bool {
	t := strings.ToLower(strings.TrimSpace(a.Type.Value))
	return t == "pin" || t == "password" || strings.Contains(t, "pin") || strings.Contains(t, "password")
}

// UserRef is the (UserId | AuthenticationInput+) choice shared by several
// requests. Partners send one, the other or both.
type UserRef struct {
	UserID *Identifier
	Auth   []AuthenticationInput
}

// UserIdentifier returns the user's identifier: UserId when present,
// otherwise the first authentication input that is not a PIN or password
// (Barcode Id, User Id, username, …).
func (u UserRef) UserIdentifier() string {
	if u.UserID != nil && u.UserID.Value != "" {
		return u.UserID.Value
	}
	for _, a := range u.Auth {
		if !a.IsSecret() {
			return a.Data
		}
	}
	return ""
}

// Secret returns the PIN or password the request carries, if any.
func (u UserRef) Secret() (string, bool) {
	for _, a := range u.Auth {
		if a.IsSecret() {
			return a.Data, true
		}
	}
	return "", false
}

// HasUser reports whether the request names a user at all.
func (u UserRef) HasUser() bool { return u.UserIdentifier() != "" }

// Amount is a monetary amount in the currency's minor unit (cents).
type Amount struct {
	CurrencyCode SchemeValue // ISO 4217; empty means the writer's default
	Value        int64
}

// FiscalTransactionReferenceID identifies a fiscal transaction.
type FiscalTransactionReferenceID struct {
	AgencyID SchemeValue
	Value    string
}

// FiscalTransaction is FiscalTransactionInformation.
type FiscalTransaction struct {
	ActionType          SchemeValue // e.g. Assess, Pay
	ReferenceID         *FiscalTransactionReferenceID
	RelatedReferenceIDs []FiscalTransactionReferenceID
	TransactionType     SchemeValue // e.g. Service Charge, Fine
	ValidFrom, ValidTo  time.Time
	Amount              Amount
	PaymentMethodType   SchemeValue
	Description         string
	RequestID           *Identifier
	ItemDetails         *ItemDetails
}

// ItemDetails describes the item a fiscal transaction is about.
type ItemDetails struct {
	ItemID         Identifier
	Bibliographic  BibliographicDescription
	DateCheckedOut time.Time
	DateDue        time.Time
	DateReturned   time.Time
}

// BibliographicItemID is an item-level bibliographic identifier (ISBN, ISSN, …).
type BibliographicItemID struct {
	Identifier string
	Code       SchemeValue // ISBN, ISSN, …
}

// BibliographicRecordID identifies a bibliographic record, by agency or by
// code (OCLC, LCCN, SYSNUMBER, …).
type BibliographicRecordID struct {
	Identifier string
	AgencyID   SchemeValue
	Code       SchemeValue
}

// BibliographicID is the BibliographicItemId | BibliographicRecordId choice.
type BibliographicID struct {
	ItemID   *BibliographicItemID
	RecordID *BibliographicRecordID
}

// BibliographicDescription describes a title.
type BibliographicDescription struct {
	Author             string
	ItemID             *BibliographicItemID
	RecordIDs          []BibliographicRecordID
	Edition            string
	Pagination         string
	PlaceOfPublication string
	PublicationDate    string
	Publisher          string
	Title              string
	BibliographicLevel SchemeValue
	Language           SchemeValue
	MediumType         SchemeValue
}

// ItemDescription is the copy-level description of an item.
type ItemDescription struct {
	CallNumber        string
	CopyNumber        string
	HoldingsStatement string // UnstructuredHoldingsData
}

// LocationNameInstance is one level of a location name (1 = institution …).
type LocationNameInstance struct {
	Level int // positive
	Value string
}

// Location places an item.
type Location struct {
	Type               SchemeValue // e.g. Permanent, Current
	Names              []LocationNameInstance
	ValidFrom, ValidTo time.Time
}

// ItemOptionalFields are the optional item elements of several messages.
type ItemOptionalFields struct {
	Bibliographic          *BibliographicDescription
	ItemUseRestrictionType []SchemeValue
	CirculationStatus      SchemeValue
	HoldQueueLength        *int
	Description            *ItemDescription
	Locations              []Location
	DateDue                time.Time
}

// PersonalName is PersonalNameInformation: structured when Surname is set,
// otherwise unstructured.
type PersonalName struct {
	Prefix, GivenName, Initials, Surname, Suffix string
	Unstructured                                 string
}

// StructuredAddress is a postal address. Line1/Line2 form is used when Line1
// is set, the Street form otherwise.
type StructuredAddress struct {
	Line1, Line2                      string
	Street, PostOfficeBox, District   string
	Locality, Region, Country, Postal string
	CareOf                            string
}

// PhysicalAddress is a postal address, structured or not.
type PhysicalAddress struct {
	Structured       *StructuredAddress
	Unstructured     string
	UnstructuredType SchemeValue // e.g. Newline-Delimited Text
	Type             SchemeValue // PhysicalAddressType, e.g. Postal Address
}

// ElectronicAddress is an e-mail address, telephone number, URL, ….
type ElectronicAddress struct {
	Type SchemeValue // mailto, tel, …
	Data string
}

// Address is UserAddressInformation or AgencyAddressInformation: a role and
// either a physical or an electronic address.
type Address struct {
	Role               SchemeValue
	ValidFrom, ValidTo time.Time
	Physical           *PhysicalAddress
	Electronic         *ElectronicAddress
}

// ShippingInformation says where and how an item was sent: a postal or
// an electronic address, with optional instructions and a note.
type ShippingInformation struct {
	Instructions string
	Note         string
	Physical     *PhysicalAddress
	Electronic   *ElectronicAddress
}

// OrganizationName is OrganizationNameInformation.
type OrganizationName struct {
	Type SchemeValue
	Name string
}

// UserPrivilege is one privilege of a user, e.g. type "STATUS" with
// status "OK".
type UserPrivilege struct {
	AgencyID           SchemeValue
	Type               SchemeValue // AgencyUserPrivilegeType
	ValidFrom, ValidTo time.Time
	Status             SchemeValue // UserPrivilegeStatusType; empty = none written
	StatusDate         time.Time
	Description        string
}

// BlockOrTrap is a block on a user.
type BlockOrTrap struct {
	AgencyID           SchemeValue
	Type               SchemeValue
	ValidFrom, ValidTo time.Time
}

// UserOptionalFields are the optional user elements of several messages.
type UserOptionalFields struct {
	Name          *PersonalName
	Organizations []OrganizationName // used when Name is nil
	Addresses     []Address
	DateOfBirth   time.Time
	Languages     []SchemeValue
	Privileges    []UserPrivilege
	Blocks        []BlockOrTrap
	UserIDs       []Identifier
}

// Problem is an NCIP Problem. It implements error so a Service can return
// one; the handler then answers with it inside the service response.
type Problem struct {
	Type    SchemeValue // ProblemType with its scheme URI
	Detail  string      // ProblemDetail, human readable; never a secret
	Element string      // ProblemElement, the element at fault
	Value   string      // ProblemValue, the value at fault
}

// Error returns the Problem type and detail.
func (p *Problem) Error() string {
	s := "ncip problem: " + p.Type.Value
	if p.Detail != "" {
		s += ": " + p.Detail
	}
	return s
}
