package ncip

import (
	"errors"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// WriteOptions shape the XML written. The zero value writes schema-valid
// NCIP 2.02: the ncip prefix bound to Namespace and a qualified
// ncip:version attribute. The legacy switches exist for partners that
// cannot read that; turn them on per partner, never globally.
type WriteOptions struct {
	// Version is the value of the version attribute; "" means Version202.
	// Echo the request's value to keep picky partners happy.
	Version string
	// BareVersion writes version="…" without the prefix (Koha, Evergreen
	// and ILLiad style). Not schema-valid.
	BareVersion bool
	// NoNamespace writes every element without a namespace
	// (lib-ncip-client useNamespace=false style). Not schema-valid.
	NoNamespace bool
	// DefaultCurrency is written for Amounts without a CurrencyCode; "" means USD.
	DefaultCurrency string
	// ProblemTypes renames Problem types for partners that expect their own
	// strings, e.g. {"Unknown Item": "Item Not Found"}.
	ProblemTypes map[string]string
	// OmitProblemScheme writes ProblemType without its Scheme attribute.
	OmitProblemScheme bool
}

// ErrIncomplete is returned when a success response lacks an element the
// schema requires and no sensible default exists.
var ErrIncomplete = errors.New("ncip: response incomplete")

// EncodeResponse writes a response as a complete NCIPMessage.
func EncodeResponse(r Response, o WriteOptions) ([]byte, error) {
	w := encodeResponse(r, o)
	if err := w.err; err != nil {
		w.recycle()
		return nil, err
	}
	return w.bytes(), nil
}

// encodeResponse writes r into a pooled writer; the caller reads w.buf
// and hands it back with bytes or recycle.
func encodeResponse(r Response, o WriteOptions) *writer {
	w := newWriter(o)
	w.begin()
	w.open(r.Service() + "Response")
	if _, ok := r.(*LookupVersionResponse); !ok {
		w.responseHeader(*r.header())
	}
	r.body(w)
	w.close(r.Service() + "Response")
	w.finish()
	return w
}

// EncodeProblems writes a top-level Problem message, the answer to a
// message that could not be read or names an unknown service.
func EncodeProblems(ps []Problem, o WriteOptions) []byte {
	return encodeProblems(ps, o).bytes()
}

func encodeProblems(ps []Problem, o WriteOptions) *writer {
	w := newWriter(o)
	w.begin()
	for i := range ps {
		w.problem(&ps[i])
	}
	w.finish()
	return w
}

type writer struct {
	buf   []byte
	p     string // element prefix, "ncip:" or ""
	o     WriteOptions
	depth int
	err   error
}

// writerPool holds writers with their scratch buffers: a message is built
// in one and copied out at its exact size (or written straight from it),
// instead of regrowing a fresh buffer several times per message.
var writerPool = sync.Pool{New: func() any { return &writer{buf: make([]byte, 0, 8<<10)} }}

func newWriter(o WriteOptions) *writer {
	w := writerPool.Get().(*writer)
	w.buf, w.o, w.p, w.depth, w.err = w.buf[:0], o, "ncip:", 0, nil
	if o.NoNamespace {
		w.p = ""
	}
	return w
}

// bytes returns a copy of the message and recycles the scratch buffer.
func (w *writer) bytes() []byte {
	out := append([]byte(nil), w.buf...)
	w.recycle()
	return out
}

// recycle hands the writer back; it is unusable afterwards.
func (w *writer) recycle() {
	if cap(w.buf) <= 256<<10 {
		w.o = WriteOptions{} // drop the caller's ProblemTypes map
		writerPool.Put(w)
	}
}

func (w *writer) fail(what string) {
	if w.err == nil {
		w.err = errors.Join(ErrIncomplete, errors.New(what))
	}
}

func (w *writer) begin() {
	w.buf = append(w.buf, `<?xml version="1.0" encoding="UTF-8"?>`...)
	w.buf = append(w.buf, '\n', '<')
	w.buf = append(w.buf, w.p...)
	w.buf = append(w.buf, "NCIPMessage"...)
	if !w.o.NoNamespace {
		w.buf = append(w.buf, ` xmlns:ncip="`+Namespace+`"`...)
	}
	if w.o.BareVersion || w.o.NoNamespace {
		w.buf = append(w.buf, ` version="`...)
	} else {
		w.buf = append(w.buf, ` ncip:version="`...)
	}
	v := w.o.Version
	if v == "" {
		v = Version202
	}
	w.escape(v, true)
	w.buf = append(w.buf, `">`...)
	w.depth = 1
}

func (w *writer) finish() {
	w.buf = append(w.buf, "\n</"...)
	w.buf = append(w.buf, w.p...)
	w.buf = append(w.buf, "NCIPMessage>\n"...)
}

// newlineIndent is a new line and enough indentation for any depth the
// writer reaches.
const newlineIndent = "\n                                                                "

func (w *writer) indent() {
	w.buf = append(w.buf, newlineIndent[:1+min(2*w.depth, len(newlineIndent)-1)]...)
}

func (w *writer) open(name string) {
	w.indent()
	w.buf = append(w.buf, '<')
	w.buf = append(w.buf, w.p...)
	w.buf = append(w.buf, name...)
	w.buf = append(w.buf, '>')
	w.depth++
}

func (w *writer) close(name string) {
	w.depth--
	w.indent()
	w.buf = append(w.buf, "</"...)
	w.buf = append(w.buf, w.p...)
	w.buf = append(w.buf, name...)
	w.buf = append(w.buf, '>')
}

// leaf writes <name>value</name>, with an optional Scheme attribute.
func (w *writer) leafScheme(name, scheme, value string) {
	w.indent()
	w.buf = append(w.buf, '<')
	w.buf = append(w.buf, w.p...)
	w.buf = append(w.buf, name...)
	if scheme != "" {
		w.buf = append(w.buf, ' ')
		w.buf = append(w.buf, w.p...)
		w.buf = append(w.buf, `Scheme="`...)
		w.escape(scheme, true)
		w.buf = append(w.buf, '"')
	}
	w.buf = append(w.buf, '>')
	w.escape(value, false)
	w.buf = append(w.buf, "</"...)
	w.buf = append(w.buf, w.p...)
	w.buf = append(w.buf, name...)
	w.buf = append(w.buf, '>')
}

func (w *writer) leaf(name, value string) { w.leafScheme(name, "", value) }

func (w *writer) opt(name, value string) {
	if value != "" {
		w.leaf(name, value)
	}
}

func (w *writer) sv(name string, v SchemeValue) { w.leafScheme(name, v.Scheme, v.Value) }

func (w *writer) optSV(name string, v SchemeValue) {
	if v.Value != "" {
		w.sv(name, v)
	}
}

func (w *writer) svs(name string, vs []SchemeValue) {
	for _, v := range vs {
		w.sv(name, v)
	}
}

func (w *writer) flag(name string) {
	w.indent()
	w.buf = append(w.buf, '<')
	w.buf = append(w.buf, w.p...)
	w.buf = append(w.buf, name...)
	w.buf = append(w.buf, "/>"...)
}

// date writes an xs:dateTime in RFC 3339 with the time's own offset.
func (w *writer) date(name string, t time.Time) {
	if t.IsZero() {
		return
	}
	w.leaf(name, t.Format(time.RFC3339))
}

func (w *writer) reqDate(name string, t time.Time) {
	if t.IsZero() {
		w.fail(name + " is required")
	}
	w.leaf(name, t.Format(time.RFC3339))
}

func (w *writer) posInt(name string, n int) {
	if n > 0 {
		w.leaf(name, strconv.Itoa(n))
	}
}

// plainByte marks the ASCII bytes written as they are in text and
// attribute values.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < 0x7F; c++ {
		t[c] = true
	}
	for _, c := range "&<>\"" {
		t[c] = false
	}
	return t
}()

// escape appends s as XML character data or attribute content, dropping
// characters XML 1.0 cannot carry and replacing invalid UTF-8.
func (w *writer) escape(s string, attr bool) {
	// Fast path: most values need no escaping at all.
	clean := 0
	for clean < len(s) && plainByte[s[clean]] {
		clean++
	}
	w.buf = append(w.buf, s[:clean]...)
	s = s[clean:]
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			i++
			switch {
			case c == '&':
				w.buf = append(w.buf, "&amp;"...)
			case c == '<':
				w.buf = append(w.buf, "&lt;"...)
			case c == '>':
				w.buf = append(w.buf, "&gt;"...)
			case c == '"' && attr:
				w.buf = append(w.buf, "&quot;"...)
			case c == '\r':
				w.buf = append(w.buf, "&#xD;"...)
			case (c == '\n' || c == '\t') && attr:
				w.buf = append(w.buf, "&#x"...)
				w.buf = strconv.AppendInt(w.buf, int64(c), 16)
				w.buf = append(w.buf, ';')
			case c < 0x20 && c != '\n' && c != '\t':
				// not an XML character: dropped
			default:
				w.buf = append(w.buf, c)
			}
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			w.buf = utf8.AppendRune(w.buf, utf8.RuneError)
		case r == 0xFFFE || r == 0xFFFF:
		default:
			w.buf = append(w.buf, s[i:i+size]...)
		}
		i += size
	}
}

func (w *writer) responseHeader(h *ResponseHeader) {
	if h == nil {
		return
	}
	w.open("ResponseHeader")
	w.optSV("FromSystemId", h.FromSystemID)
	w.agency("FromAgencyId", h.FromAgencyID)
	w.optSV("ToSystemId", h.ToSystemID)
	w.agency("ToAgencyId", h.ToAgencyID)
	w.close("ResponseHeader")
}

func (w *writer) agency(name string, v SchemeValue) {
	w.open(name)
	w.sv("AgencyId", v)
	w.close(name)
}

func (w *writer) problem(p *Problem) {
	t := p.Type
	if alt, ok := w.o.ProblemTypes[t.Value]; ok {
		t.Value = alt
	}
	if w.o.OmitProblemScheme {
		t.Scheme = ""
	}
	w.open("Problem")
	w.sv("ProblemType", t)
	w.opt("ProblemDetail", p.Detail)
	w.opt("ProblemElement", p.Element)
	w.opt("ProblemValue", p.Value)
	w.close("Problem")
}

// problems writes the Problems of a response and reports whether there
// were any (in which case the success body must not follow).
func (w *writer) problems(ps []Problem) bool {
	for i := range ps {
		w.problem(&ps[i])
	}
	return len(ps) > 0
}

func (w *writer) ident(name, typeName, valueName string, id *Identifier) {
	w.open(name)
	w.optSV("AgencyId", id.AgencyID)
	w.optSV(typeName, id.Type)
	w.leaf(valueName, id.Value)
	w.close(name)
}

func (w *writer) userID(id *Identifier) {
	if id != nil {
		w.ident("UserId", "UserIdentifierType", "UserIdentifierValue", id)
	}
}

func (w *writer) itemID(id *Identifier) {
	if id != nil {
		w.ident("ItemId", "ItemIdentifierType", "ItemIdentifierValue", id)
	}
}

func (w *writer) requestID(id *Identifier) {
	if id != nil {
		w.ident("RequestId", "RequestIdentifierType", "RequestIdentifierValue", id)
	}
}

// itemOrRequest writes the (ItemId | (RequestId, ItemId?)) choice.
func (w *writer) itemOrRequest(item, req *Identifier) {
	switch {
	case req != nil:
		w.requestID(req)
		w.itemID(item)
	case item != nil:
		w.itemID(item)
	default:
		w.fail("ItemId or RequestId is required")
	}
}

func (w *writer) amount(name string, a *Amount) {
	if a == nil {
		return
	}
	cc := a.CurrencyCode
	if cc.Value == "" {
		cc.Value = w.o.DefaultCurrency
		if cc.Value == "" {
			cc.Value = "USD"
		}
	}
	w.open(name)
	w.sv("CurrencyCode", cc)
	w.leaf("MonetaryValue", strconv.FormatInt(a.Value, 10))
	w.close(name)
}

func (w *writer) fiscalRef(name string, r *FiscalTransactionReferenceID) {
	w.open(name)
	w.sv("AgencyId", r.AgencyID)
	w.leaf("FiscalTransactionIdentifierValue", r.Value)
	w.close(name)
}

func (w *writer) fiscal(f *FiscalTransaction) {
	if f == nil {
		return
	}
	w.open("FiscalTransactionInformation")
	w.sv("FiscalActionType", f.ActionType)
	if f.ReferenceID != nil {
		w.fiscalRef("FiscalTransactionReferenceId", f.ReferenceID)
	}
	for i := range f.RelatedReferenceIDs {
		w.fiscalRef("RelatedFiscalTransactionReferenceId", &f.RelatedReferenceIDs[i])
	}
	w.sv("FiscalTransactionType", f.TransactionType)
	w.date("ValidFromDate", f.ValidFrom)
	w.date("ValidToDate", f.ValidTo)
	w.amount("Amount", &f.Amount)
	w.optSV("PaymentMethodType", f.PaymentMethodType)
	w.opt("FiscalTransactionDescription", f.Description)
	w.requestID(f.RequestID)
	if d := f.ItemDetails; d != nil {
		w.open("ItemDetails")
		w.itemID(&d.ItemID)
		w.bibDesc(&d.Bibliographic)
		w.date("DateCheckedOut", d.DateCheckedOut)
		w.date("DateDue", d.DateDue)
		w.date("DateReturned", d.DateReturned)
		w.close("ItemDetails")
	}
	w.close("FiscalTransactionInformation")
}

func (w *writer) bibItemID(b *BibliographicItemID) {
	w.open("BibliographicItemId")
	w.leaf("BibliographicItemIdentifier", b.Identifier)
	w.optSV("BibliographicItemIdentifierCode", b.Code)
	w.close("BibliographicItemId")
}

func (w *writer) bibRecordID(b *BibliographicRecordID) {
	w.open("BibliographicRecordId")
	w.leaf("BibliographicRecordIdentifier", b.Identifier)
	if b.Code.Value != "" {
		w.sv("BibliographicRecordIdentifierCode", b.Code)
	} else {
		w.sv("AgencyId", b.AgencyID)
	}
	w.close("BibliographicRecordId")
}

func (w *writer) bibIDs(ids []BibliographicID) {
	for _, b := range ids {
		w.open("BibliographicId")
		switch {
		case b.ItemID != nil:
			w.bibItemID(b.ItemID)
		case b.RecordID != nil:
			w.bibRecordID(b.RecordID)
		default:
			w.fail("BibliographicId needs an item or record id")
		}
		w.close("BibliographicId")
	}
}

func (w *writer) bibDesc(b *BibliographicDescription) {
	if b == nil {
		return
	}
	w.open("BibliographicDescription")
	w.opt("Author", b.Author)
	if b.ItemID != nil {
		w.bibItemID(b.ItemID)
	}
	for i := range b.RecordIDs {
		w.bibRecordID(&b.RecordIDs[i])
	}
	w.opt("Edition", b.Edition)
	w.opt("Pagination", b.Pagination)
	w.opt("PlaceOfPublication", b.PlaceOfPublication)
	w.opt("PublicationDate", b.PublicationDate)
	w.opt("Publisher", b.Publisher)
	w.opt("Title", b.Title)
	w.optSV("BibliographicLevel", b.BibliographicLevel)
	w.optSV("Language", b.Language)
	w.optSV("MediumType", b.MediumType)
	w.close("BibliographicDescription")
}

func (w *writer) location(l *Location) {
	w.open("Location")
	w.sv("LocationType", l.Type)
	w.open("LocationName")
	if len(l.Names) == 0 {
		w.fail("Location needs a LocationNameInstance")
	}
	for _, n := range l.Names {
		lvl := n.Level
		if lvl < 1 {
			lvl = 1
		}
		w.open("LocationNameInstance")
		w.leaf("LocationNameLevel", strconv.Itoa(lvl))
		w.leaf("LocationNameValue", n.Value)
		w.close("LocationNameInstance")
	}
	w.close("LocationName")
	w.date("ValidFromDate", l.ValidFrom)
	w.date("ValidToDate", l.ValidTo)
	w.close("Location")
}

func (w *writer) itemOptional(f *ItemOptionalFields) {
	if f == nil {
		return
	}
	w.open("ItemOptionalFields")
	w.bibDesc(f.Bibliographic)
	w.svs("ItemUseRestrictionType", f.ItemUseRestrictionType)
	w.optSV("CirculationStatus", f.CirculationStatus)
	if f.HoldQueueLength != nil && *f.HoldQueueLength >= 0 {
		w.leaf("HoldQueueLength", strconv.Itoa(*f.HoldQueueLength))
	}
	if d := f.Description; d != nil {
		w.open("ItemDescription")
		w.opt("CallNumber", d.CallNumber)
		w.opt("CopyNumber", d.CopyNumber)
		if d.HoldingsStatement != "" {
			w.open("HoldingsInformation")
			w.leaf("UnstructuredHoldingsData", d.HoldingsStatement)
			w.close("HoldingsInformation")
		}
		w.close("ItemDescription")
	}
	for i := range f.Locations {
		w.location(&f.Locations[i])
	}
	w.date("DateDue", f.DateDue)
	w.close("ItemOptionalFields")
}

func (w *writer) physical(p *PhysicalAddress) {
	w.open("PhysicalAddress")
	if s := p.Structured; s != nil {
		w.open("StructuredAddress")
		switch {
		case s.Line1 != "":
			w.leaf("Line1", s.Line1)
			w.opt("Line2", s.Line2)
		case s.Street != "":
			w.leaf("Street", s.Street)
			w.opt("PostOfficeBox", s.PostOfficeBox)
			w.opt("District", s.District)
		case s.PostOfficeBox != "":
			w.leaf("PostOfficeBox", s.PostOfficeBox)
			w.opt("District", s.District)
		default:
			w.leaf("District", s.District)
		}
		w.opt("Locality", s.Locality)
		w.opt("Region", s.Region)
		w.opt("Country", s.Country)
		w.opt("PostalCode", s.Postal)
		w.opt("CareOf", s.CareOf)
		w.close("StructuredAddress")
	} else {
		w.open("UnstructuredAddress")
		t := p.UnstructuredType
		if t.Value == "" {
			t.Value = "Newline-Delimited Text"
		}
		w.sv("UnstructuredAddressType", t)
		w.leaf("UnstructuredAddressData", p.Unstructured)
		w.close("UnstructuredAddress")
	}
	w.sv("PhysicalAddressType", p.Type)
	w.close("PhysicalAddress")
}

func (w *writer) address(name, roleName string, a *Address) {
	w.open(name)
	w.sv(roleName, a.Role)
	w.date("ValidFromDate", a.ValidFrom)
	w.date("ValidToDate", a.ValidTo)
	switch {
	case a.Physical != nil:
		w.physical(a.Physical)
	case a.Electronic != nil:
		w.electronic(a.Electronic)
	default:
		w.fail(name + " needs a physical or electronic address")
	}
	w.close(name)
}

func (w *writer) electronic(e *ElectronicAddress) {
	w.open("ElectronicAddress")
	w.sv("ElectronicAddressType", e.Type)
	w.leaf("ElectronicAddressData", e.Data)
	w.close("ElectronicAddress")
}

func (w *writer) orgName(o *OrganizationName) {
	w.open("OrganizationNameInformation")
	w.sv("OrganizationNameType", o.Type)
	w.leaf("OrganizationName", o.Name)
	w.close("OrganizationNameInformation")
}

func (w *writer) nameInfo(n *PersonalName, orgs []OrganizationName) {
	if n == nil && len(orgs) == 0 {
		return
	}
	w.open("NameInformation")
	if n != nil {
		w.open("PersonalNameInformation")
		if n.Surname != "" {
			w.open("StructuredPersonalUserName")
			w.opt("Prefix", n.Prefix)
			w.opt("GivenName", n.GivenName)
			w.opt("Initials", n.Initials)
			w.leaf("Surname", n.Surname)
			w.opt("Suffix", n.Suffix)
			w.close("StructuredPersonalUserName")
			w.opt("UnstructuredPersonalUserName", n.Unstructured)
		} else {
			w.leaf("UnstructuredPersonalUserName", n.Unstructured)
		}
		w.close("PersonalNameInformation")
	} else {
		for i := range orgs {
			w.orgName(&orgs[i])
		}
	}
	w.close("NameInformation")
}

func (w *writer) userOptional(f *UserOptionalFields) {
	if f == nil {
		return
	}
	w.open("UserOptionalFields")
	w.nameInfo(f.Name, f.Organizations)
	for i := range f.Addresses {
		w.address("UserAddressInformation", "UserAddressRoleType", &f.Addresses[i])
	}
	w.date("DateOfBirth", f.DateOfBirth)
	w.svs("UserLanguage", f.Languages)
	for _, p := range f.Privileges {
		w.open("UserPrivilege")
		w.sv("AgencyId", p.AgencyID)
		w.sv("AgencyUserPrivilegeType", p.Type)
		w.date("ValidFromDate", p.ValidFrom)
		w.date("ValidToDate", p.ValidTo)
		if p.Status.Value != "" {
			w.open("UserPrivilegeStatus")
			w.sv("UserPrivilegeStatusType", p.Status)
			w.date("DateOfUserPrivilegeStatus", p.StatusDate)
			w.close("UserPrivilegeStatus")
		}
		w.opt("UserPrivilegeDescription", p.Description)
		w.close("UserPrivilege")
	}
	for _, b := range f.Blocks {
		w.open("BlockOrTrap")
		w.sv("AgencyId", b.AgencyID)
		w.sv("BlockOrTrapType", b.Type)
		w.date("ValidFromDate", b.ValidFrom)
		w.date("ValidToDate", b.ValidTo)
		w.close("BlockOrTrap")
	}
	for i := range f.UserIDs {
		w.userID(&f.UserIDs[i])
	}
	w.close("UserOptionalFields")
}

// required writes the fee and use-restriction elements the schema allows
// after Problems in CheckOutItem, RenewItem and RequestItem responses.
func (w *writer) required(fee *Amount, restrictions []SchemeValue) {
	w.amount("RequiredFeeAmount", fee)
	w.svs("RequiredItemUseRestrictionType", restrictions)
}

func (r *LookupVersionResponse) body(w *writer) {
	h := r.Header
	if h == nil {
		h = &ResponseHeader{}
	}
	w.agency("FromAgencyId", h.FromAgencyID)
	w.agency("ToAgencyId", h.ToAgencyID)
	if w.problems(r.Problems) {
		return
	}
	if len(r.VersionsSupported) == 0 {
		w.fail("VersionSupported is required")
	}
	for _, v := range r.VersionsSupported {
		w.leaf("VersionSupported", v)
	}
}

func (r *LookupAgencyResponse) body(w *writer) {
	if w.problems(r.Problems) {
		return
	}
	w.sv("AgencyId", r.AgencyID)
	for i := range r.OrganizationNames {
		w.orgName(&r.OrganizationNames[i])
	}
	for i := range r.Addresses {
		w.address("AgencyAddressInformation", "AgencyAddressRoleType", &r.Addresses[i])
	}
	w.svs("ApplicationProfileSupportedType", r.ApplicationProfilesSupported)
	w.svs("ConsortiumAgreement", r.ConsortiumAgreements)
	w.svs("AgencyUserPrivilegeType", r.AgencyUserPrivilegeTypes)
	if len(r.PickupLocations) == 0 {
		return
	}
	w.open("Ext")
	w.open("LocationName")
	for _, l := range r.PickupLocations {
		w.open("LocationNameInstance")
		w.leaf("LocationNameLevel", strconv.Itoa(max(l.Level, 1)))
		w.leaf("LocationNameValue", l.Value)
		w.close("LocationNameInstance")
	}
	w.close("LocationName")
	w.close("Ext")
}

func (r *LookupUserResponse) body(w *writer) {
	if w.problems(r.Problems) {
		return
	}
	w.userID(&r.UserID)
	for _, a := range r.FiscalAccounts {
		w.open("UserFiscalAccount")
		w.amount("AccountBalance", &a.Balance)
		for i := range a.Details {
			w.open("AccountDetails")
			w.reqDate("AccrualDate", a.Details[i].AccrualDate)
			w.fiscal(&a.Details[i].Transaction)
			w.close("AccountDetails")
		}
		w.close("UserFiscalAccount")
	}
	for _, c := range r.LoanedItemsCounts {
		w.open("LoanedItemsCount")
		switch {
		case c.CirculationStatus.Value != "":
			w.sv("CirculationStatus", c.CirculationStatus)
		case c.ItemUseRestrictionType.Value != "":
			w.sv("ItemUseRestrictionType", c.ItemUseRestrictionType)
		default:
			w.fail("LoanedItemsCount needs a CirculationStatus")
		}
		w.leaf("LoanedItemCountValue", strconv.Itoa(max(c.Count, 0)))
		w.close("LoanedItemsCount")
	}
	for i := range r.LoanedItems {
		l := &r.LoanedItems[i]
		w.open("LoanedItem")
		w.itemID(&l.ItemID)
		w.bibIDs(l.BibliographicIDs)
		w.posInt("ReminderLevel", l.ReminderLevel)
		if l.DateDue.IsZero() {
			w.flag("IndeterminateLoanPeriodFlag")
		} else {
			w.date("DateDue", l.DateDue)
		}
		w.amount("Amount", l.Amount)
		w.opt("Title", l.Title)
		w.optSV("MediumType", l.MediumType)
		if l.Bibliographic != nil || l.RenewalNotPermitted {
			w.open("Ext")
			w.bibDesc(l.Bibliographic)
			if l.RenewalNotPermitted {
				w.flag("RenewalNotPermitted")
			}
			w.close("Ext")
		}
		w.close("LoanedItem")
	}
	for _, c := range r.RequestedItemsCounts {
		w.open("RequestedItemsCount")
		switch {
		case c.RequestType.Value != "":
			w.sv("RequestType", c.RequestType)
		case c.CirculationStatus.Value != "":
			w.sv("CirculationStatus", c.CirculationStatus)
		case c.ItemUseRestrictionType.Value != "":
			w.sv("ItemUseRestrictionType", c.ItemUseRestrictionType)
		default:
			w.fail("RequestedItemsCount needs a RequestType")
		}
		w.leaf("RequestedItemCountValue", strconv.Itoa(max(c.Count, 0)))
		w.close("RequestedItemsCount")
	}
	for i := range r.RequestedItems {
		q := &r.RequestedItems[i]
		w.open("RequestedItem")
		w.itemOrRequest(q.ItemID, q.RequestID)
		w.bibIDs(q.BibliographicIDs)
		w.sv("RequestType", q.RequestType)
		w.sv("RequestStatusType", q.RequestStatusType)
		w.reqDate("DatePlaced", q.DatePlaced)
		w.date("PickupDate", q.PickupDate)
		w.optSV("PickupLocation", q.PickupLocation)
		w.date("PickupExpiryDate", q.PickupExpiryDate)
		w.posInt("ReminderLevel", q.ReminderLevel)
		w.posInt("HoldQueuePosition", q.HoldQueuePosition)
		w.opt("Title", q.Title)
		w.optSV("MediumType", q.MediumType)
		if q.Bibliographic != nil {
			w.open("Ext")
			w.bibDesc(q.Bibliographic)
			w.close("Ext")
		}
		w.close("RequestedItem")
	}
	w.userOptional(r.UserOptionalFields)
}

func (r *LookupItemResponse) body(w *writer) {
	if w.problems(r.Problems) {
		return
	}
	w.itemOrRequest(r.ItemID, r.RequestID)
	w.date("HoldPickupDate", r.HoldPickupDate)
	w.date("DateRecalled", r.DateRecalled)
	if r.CurrentBorrower != nil || len(r.CurrentRequesters) > 0 {
		w.open("ItemTransaction")
		if r.CurrentBorrower != nil {
			w.open("CurrentBorrower")
			w.userID(r.CurrentBorrower)
			w.close("CurrentBorrower")
		}
		for i := range r.CurrentRequesters {
			w.open("CurrentRequester")
			w.userID(&r.CurrentRequesters[i])
			w.close("CurrentRequester")
		}
		w.close("ItemTransaction")
	}
	w.itemOptional(r.ItemOptionalFields)
}

func (r *LookupItemSetResponse) body(w *writer) {
	if w.problems(r.Problems) {
		return
	}
	if len(r.Bibs) == 0 {
		w.fail("LookupItemSetResponse needs a BibInformation")
	}
	for i := range r.Bibs {
		w.bibInformation(&r.Bibs[i])
	}
	w.opt("NextItemToken", r.NextItemToken)
}

func (w *writer) bibInformation(b *BibInformation) {
	w.open("BibInformation")
	if b.BibliographicID != nil {
		w.bibIDs([]BibliographicID{*b.BibliographicID})
	}
	if !w.problems(b.Problems) {
		w.bibDesc(b.Description)
		if b.TitleHoldQueueLength != nil && *b.TitleHoldQueueLength >= 0 {
			w.leaf("TitleHoldQueueLength", strconv.Itoa(*b.TitleHoldQueueLength))
		}
		if len(b.HoldingsSets) == 0 {
			w.fail("BibInformation needs a HoldingsSet or a Problem")
		}
		for i := range b.HoldingsSets {
			w.holdingsSet(&b.HoldingsSets[i])
		}
	}
	w.close("BibInformation")
}

func (w *writer) holdingsSet(h *HoldingsSet) {
	w.open("HoldingsSet")
	w.opt("HoldingsSetId", h.ID)
	if !w.problems(h.Problems) {
		if h.Location != nil {
			w.location(h.Location)
		}
		w.opt("CallNumber", h.CallNumber)
		if len(h.Items) == 0 {
			w.fail("HoldingsSet needs an ItemInformation or a Problem")
		}
		for i := range h.Items {
			w.itemInformation(&h.Items[i])
		}
	}
	w.close("HoldingsSet")
}

func (w *writer) itemInformation(it *ItemInformation) {
	w.open("ItemInformation")
	if it.ItemID != nil {
		w.itemID(it.ItemID)
	}
	if !w.problems(it.Problems) {
		if it.CurrentBorrower != nil {
			w.open("CurrentBorrower")
			w.userID(it.CurrentBorrower)
			w.close("CurrentBorrower")
		}
		for i := range it.CurrentRequesters {
			w.open("CurrentRequester")
			w.userID(&it.CurrentRequesters[i])
			w.close("CurrentRequester")
		}
		w.itemOptional(it.ItemOptionalFields)
	}
	w.close("ItemInformation")
}

func (r *LookupRequestResponse) body(w *writer) {
	if w.problems(r.Problems) {
		return
	}
	w.itemOrRequest(r.ItemID, r.RequestID)
	w.userID(r.UserID)
	w.optSV("RequestType", r.RequestType)
	w.optSV("RequestScopeType", r.RequestScopeType)
	w.optSV("RequestStatusType", r.RequestStatusType)
	w.posInt("HoldQueuePosition", r.HoldQueuePosition)
	w.date("EarliestDateNeeded", r.EarliestDateNeeded)
	w.date("NeedBeforeDate", r.NeedBeforeDate)
	w.date("PickupDate", r.PickupDate)
	w.optSV("PickupLocation", r.PickupLocation)
	w.date("PickupExpiryDate", r.PickupExpiryDate)
	w.date("DateOfUserRequest", r.DateOfUserRequest)
	w.date("DateAvailable", r.DateAvailable)
	w.amount("AcknowledgedFeeAmount", r.AcknowledgedFee)
	w.amount("PaidFeeAmount", r.PaidFee)
	w.itemOptional(r.ItemOptionalFields)
	w.userOptional(r.UserOptionalFields)
}

func (r *AcceptItemResponse) body(w *writer) {
	if w.problems(r.Problems) {
		return
	}
	w.requestID(&r.RequestID)
	w.itemID(r.ItemID)
}

func (r *CheckOutItemResponse) body(w *writer) {
	if w.problems(r.Problems) {
		w.required(r.RequiredFee, r.RequiredItemUseRestrictionTypes)
		return
	}
	w.itemID(&r.ItemID)
	w.userID(&r.UserID)
	switch {
	case !r.DateDue.IsZero():
		w.date("DateDue", r.DateDue)
	case r.IndeterminateLoanPeriod:
		w.flag("IndeterminateLoanPeriodFlag")
	case r.NonReturnable:
		w.flag("NonReturnableFlag")
	default:
		w.fail("DateDue is required")
	}
	if r.RenewalCount != nil && *r.RenewalCount >= 0 {
		w.leaf("RenewalCount", strconv.Itoa(*r.RenewalCount))
	}
	w.fiscal(r.FiscalTransaction)
	w.itemOptional(r.ItemOptionalFields)
	w.userOptional(r.UserOptionalFields)
}

func (r *CheckInItemResponse) body(w *writer) {
	if w.problems(r.Problems) {
		return
	}
	w.itemID(&r.ItemID)
	w.userID(r.UserID)
	if ri := r.Routing; ri != nil {
		w.open("RoutingInformation")
		w.leaf("RoutingInstructions", ri.Instructions)
		w.open("Destination")
		switch {
		case ri.BinNumber != "":
			w.leaf("BinNumber", ri.BinNumber)
			if ri.Destination != nil {
				w.location(ri.Destination)
			}
		case ri.Destination != nil:
			w.location(ri.Destination)
		default:
			w.fail("RoutingInformation needs a destination")
		}
		w.close("Destination")
		w.optSV("RequestType", ri.RequestType)
		w.userID(ri.UserID)
		w.close("RoutingInformation")
	}
	w.fiscal(r.FiscalTransaction)
	w.itemOptional(r.ItemOptionalFields)
	w.userOptional(r.UserOptionalFields)
}

func (r *RenewItemResponse) body(w *writer) {
	if w.problems(r.Problems) {
		w.required(r.RequiredFee, r.RequiredItemUseRestrictionTypes)
		return
	}
	if r.Pending {
		w.open("Pending")
		w.date("DateOfExpectedReply", r.DateOfExpectedReply)
		w.close("Pending")
		return
	}
	w.itemID(&r.ItemID)
	w.userID(r.UserID)
	w.date("DateDue", r.DateDue)
	w.date("DateForReturn", r.DateForReturn)
	if r.RenewalCount != nil && *r.RenewalCount >= 0 {
		w.leaf("RenewalCount", strconv.Itoa(*r.RenewalCount))
	}
	w.fiscal(r.FiscalTransaction)
	w.itemOptional(r.ItemOptionalFields)
	w.userOptional(r.UserOptionalFields)
}

func (r *RequestItemResponse) body(w *writer) {
	if w.problems(r.Problems) {
		w.required(r.RequiredFee, r.RequiredItemUseRestrictionTypes)
		return
	}
	w.itemOrRequest(r.ItemID, r.RequestID)
	w.userID(&r.UserID)
	w.sv("RequestType", r.RequestType)
	w.sv("RequestScopeType", r.RequestScopeType)
	w.date("DateAvailable", r.DateAvailable)
	w.date("HoldPickupDate", r.HoldPickupDate)
	w.fiscal(r.FiscalTransaction)
	w.itemOptional(r.ItemOptionalFields)
	w.userOptional(r.UserOptionalFields)
}

func (r *CancelRequestItemResponse) body(w *writer) {
	if w.problems(r.Problems) {
		return
	}
	w.itemOrRequest(r.ItemID, r.RequestID)
	w.userID(&r.UserID)
	w.fiscal(r.FiscalTransaction)
	w.itemOptional(r.ItemOptionalFields)
	w.userOptional(r.UserOptionalFields)
}

func (r *RecallItemResponse) body(w *writer) {
	if w.problems(r.Problems) {
		return
	}
	w.itemID(&r.ItemID)
	w.userID(r.UserID)
	w.date("DateDue", r.DateDue)
	w.fiscal(r.FiscalTransaction)
	w.itemOptional(r.ItemOptionalFields)
	w.userOptional(r.UserOptionalFields)
}

func (r *DeleteItemResponse) body(w *writer) {
	if w.problems(r.Problems) {
		return
	}
	w.itemID(&r.ItemID)
}

func (r *ItemShippedResponse) body(w *writer) { w.problems(r.Problems) }

func (r *CreateUserFiscalTransactionResponse) body(w *writer) {
	if w.problems(r.Problems) {
		return
	}
	w.userID(&r.UserID)
	w.fiscalRef("FiscalTransactionReferenceId", &r.ReferenceID)
}
