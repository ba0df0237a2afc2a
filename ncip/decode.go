package ncip

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// DecodeOptions tune the reader.
type DecodeOptions struct {
	Limits Limits
	// Location is the time zone of dates sent without an offset; nil means UTC.
	Location *time.Location
}

// Message is a decoded NCIP request.
type Message struct {
	Version string  // the version attribute, prefixed or not; "" when absent
	Service string  // local name of the message element, e.g. "CheckOutItem"
	Request Request // nil when the service is not one circa decodes
}

// readTree bounds, transcodes and parses a message: the steps requests and
// responses share.
func readTree(b []byte, o DecodeOptions) (*tree, error) {
	lim := o.Limits.withDefaults()
	if len(b) > lim.MaxBytes {
		return nil, ErrTooLarge
	}
	s, err := toUTF8(b)
	if err != nil {
		return nil, err
	}
	return parseTree(s, lim)
}

// DecodeRequest parses an NCIP request. Element names are matched by local
// name, in any order; unknown elements and Ext content are ignored.
//
// When the message cannot be read at all, or names no service circa knows,
// it returns a nil Message and an error for a top-level Problem (see
// ProblemFor). When the service is known but its content is wrong (a missing
// ItemId, an invalid date) it returns the Message with Service set and a
// *Problem to answer inside that service's response.
func DecodeRequest(b []byte, o DecodeOptions) (*Message, error) {
	t, err := readTree(b, o)
	if err != nil {
		return nil, err
	}
	// Decoded values are substrings of the text, never of the arena, so
	// the arena can be reused once the request is built.
	defer t.release()
	root := t.root()
	msg := &Message{}
	msg.Version, _ = root.attr("version")
	if err := checkEnvelope(t, root.name == "NCIPMessage", msg.Version); err != nil {
		return nil, err
	}
	svc := root
	if root.name == "NCIPMessage" {
		svc = nil
		t.children(root, func(c *node) {
			if svc == nil {
				svc = c
			}
		})
		if svc == nil {
			return nil, ErrNoService
		}
	} else if !knownServices[root.name] {
		return nil, ErrNotNCIP
	}
	msg.Service = svc.name
	if svc.name == "Problem" {
		return nil, fmt.Errorf("%w: a Problem is not a request", ErrNotNCIP)
	}
	d := &decoder{t: t, loc: o.Location, service: svc.name}
	if d.loc == nil {
		d.loc = time.UTC
	}
	var req Request
	switch svc.name {
	case "LookupVersion":
		req = d.lookupVersion(svc)
	case "LookupAgency":
		req = d.lookupAgency(svc)
	case "LookupUser":
		req = d.lookupUser(svc)
	case "LookupItem":
		req = d.lookupItem(svc)
	case "LookupItemSet":
		req = d.lookupItemSet(svc)
	case "LookupRequest":
		req = d.lookupRequest(svc)
	case "AcceptItem":
		req = d.acceptItem(svc)
	case "CheckOutItem":
		req = d.checkOutItem(svc)
	case "CheckInItem":
		req = d.checkInItem(svc)
	case "RenewItem":
		req = d.renewItem(svc)
	case "RequestItem":
		req = d.requestItem(svc)
	case "CancelRequestItem":
		req = d.cancelRequestItem(svc)
	case "RecallItem":
		req = d.recallItem(svc)
	case "DeleteItem":
		req = d.deleteItem(svc)
	case "CreateUserFiscalTransaction":
		req = d.createUserFiscalTransaction(svc)
	case "ItemShipped":
		req = d.itemShipped(svc)
	default:
		if knownServices[svc.name] {
			return nil, &ServiceError{Service: svc.name, Problem: NewProblem("", UnsupportedService, "service "+svc.name+" is not supported").At("NCIPMessage", svc.name)}
		}
		return nil, &ServiceError{Service: svc.name, Problem: NewProblem("", UnknownService, "unknown service "+clip(svc.name)).At("NCIPMessage", clip(svc.name))}
	}
	msg.Request = req
	if d.prob != nil {
		return msg, d.prob
	}
	return msg, nil
}

// checkEnvelope refuses, before anything is acted on, a message whose
// root or service element (the root's first child when the root is
// NCIPMessage) is in a namespace other than NCIP's, or whose version
// attribute names neither NCIP 1.x nor 2.x.
func checkEnvelope(t *tree, wrapped bool, version string) error {
	for i, ns := range t.ns {
		if ns != "" && ns != Namespace && (i == 0 || wrapped) {
			return fmt.Errorf("%w: %q", ErrNamespace, clip(ns))
		}
	}
	if !SupportedVersion(version) {
		return fmt.Errorf("%w: %q", ErrVersion, clip(version))
	}
	return nil
}

// SupportedVersion reports whether a message's version attribute names NCIP
// 1.x or 2.x: a version number ("2.02", "2", "1.0", "v2") or the address of
// a NISO NCIP schema or DTD ("…/ncip/v2_02/ncip_v2_02.xsd",
// "…/ncip/v1_0/imp1/dtd/ncip_v1_0.dtd"), every vM_N in it naming major
// version 1 or 2. An absent version is accepted.
func SupportedVersion(v string) bool {
	v = strings.TrimSpace(v)
	if v == "" {
		return true
	}
	if num := strings.TrimPrefix(strings.TrimPrefix(v, "v"), "V"); num != "" && num[0] >= '0' && num[0] <= '9' {
		major, rest, _ := strings.Cut(num, ".")
		if major != "1" && major != "2" {
			return false
		}
		for _, part := range strings.Split(rest, ".") {
			if (rest != "" && part == "") || strings.Trim(part, "0123456789") != "" {
				return false
			}
		}
		return true
	}
	lower := strings.ToLower(v)
	if !strings.Contains(lower, "ncip") {
		return false
	}
	found := false
	for i := 1; i+3 < len(lower); i++ {
		// A vM_N segment: after '/' or '_', digits on both sides of '_'.
		if lower[i] != 'v' || (lower[i-1] != '/' && lower[i-1] != '_') {
			continue
		}
		j := i + 1
		for j < len(lower) && lower[j] >= '0' && lower[j] <= '9' {
			j++
		}
		if j == i+1 || j+1 >= len(lower) || lower[j] != '_' || lower[j+1] < '0' || lower[j+1] > '9' {
			continue
		}
		if major := lower[i+1 : j]; major != "1" && major != "2" {
			return false
		}
		found = true
	}
	return found
}

// ServiceError reports a request for a service circa does not decode; it is
// answered with a top-level Problem.
type ServiceError struct {
	Service string
	Problem *Problem
}

// Error returns the Problem's text.
func (e *ServiceError) Error() string { return e.Problem.Error() }

// ProblemFor maps an error from DecodeRequest, or any other error, to the
// Problem that answers it: the *Problem itself, Unknown/Unsupported Service,
// Invalid Message Syntax Error for unreadable input, and Temporary
// Processing Failure for anything else.
func ProblemFor(service string, err error) *Problem {
	var p *Problem
	if errors.As(err, &p) {
		return p
	}
	var se *ServiceError
	if errors.As(err, &se) {
		return se.Problem
	}
	if errors.Is(err, ErrVersion) {
		return NewProblem(service, ProtocolError, clip(err.Error()))
	}
	for _, e := range []error{ErrNotXML, ErrDTD, ErrTooLarge, ErrTooDeep, ErrTooMany, ErrNotNCIP, ErrNoService, ErrBadEncoding, ErrNamespace} {
		if errors.Is(err, e) {
			return NewProblem(service, InvalidMessageSyntaxError, clip(err.Error()))
		}
	}
	return NewProblem(service, TemporaryProcessingFailure, "the request could not be processed")
}

func clip(s string) string {
	const max = 200
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}

type decoder struct {
	t       *tree
	loc     *time.Location
	service string
	prob    *Problem // first content problem, sticky
}

func (d *decoder) fail(p *Problem) {
	if d.prob == nil {
		d.prob = p
	}
}

func (d *decoder) need(ok bool, element string) {
	if !ok {
		d.fail(NewProblem(d.service, NeededDataMissing, element+" is required").At(d.service+"/"+element, ""))
	}
}

// text returns an element's value: trimmed, and without the characters
// XML 1.0 cannot carry (C0 controls other than tab, CR and LF; U+FFFE and
// U+FFFF), which no response could ever echo back.
func text(n *node) string { return xmlClean(strings.TrimSpace(n.text)) }

func sv(n *node) SchemeValue {
	s, _ := n.attr("Scheme")
	return SchemeValue{Scheme: strings.TrimSpace(xmlClean(s)), Value: text(n)}
}

// suspect marks the bytes xmlClean must look at: C0 controls other than
// tab, CR and LF, and 0xEF, the lead byte of U+FFFE and U+FFFF.
var suspect = func() (t [256]bool) {
	for c := 0; c < 0x20; c++ {
		t[c] = c != '\t' && c != '\n' && c != '\r'
	}
	t[0xEF] = true
	return t
}()

func xmlClean(s string) string {
	bad := false
	for i := 0; i < len(s); i++ {
		if c := s[i]; suspect[c] && (c != 0xEF || strings.HasPrefix(s[i:], "\uFFFE") || strings.HasPrefix(s[i:], "\uFFFF")) {
			bad = true
			break
		}
	}
	if !bad {
		return s
	}
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		if (r < 0x20 && r != '\t' && r != '\n' && r != '\r') || r == 0xFFFE || r == 0xFFFF {
			return -1
		}
		return r
	}, s))
}

// agency reads FromAgencyId, ToAgencyId, OnBehalfOfAgency and the like:
// an AgencyId child (v1 UniqueAgencyId is read as one), or bare text.
func (d *decoder) agency(n *node) SchemeValue {
	if a := d.t.child(n, "AgencyId"); a != nil {
		return sv(a)
	}
	return SchemeValue{Value: text(n)}
}

func (d *decoder) header(n *node) *InitiationHeader {
	h := &InitiationHeader{}
	d.t.children(n, func(c *node) {
		switch c.name {
		case "FromSystemId":
			h.FromSystemID = sv(c)
		case "FromSystemAuthentication":
			h.FromSystemAuthentication = text(c)
		case "FromAgencyId":
			h.FromAgencyID = d.agency(c)
		case "FromAgencyAuthentication":
			h.FromAgencyAuthentication = text(c)
		case "OnBehalfOfAgency":
			h.OnBehalfOfAgency = d.agency(c)
		case "ToSystemId":
			h.ToSystemID = sv(c)
		case "ToAgencyId":
			h.ToAgencyID = d.agency(c)
		case "ApplicationProfileType":
			h.ApplicationProfileType = sv(c)
		}
	})
	return h
}

// ident reads a UserId, ItemId or RequestId (and the v1 Unique… forms,
// which the scanner renames).
func (d *decoder) ident(n *node) *Identifier {
	id := &Identifier{}
	d.t.children(n, func(c *node) {
		switch {
		case c.name == "AgencyId":
			id.AgencyID = sv(c)
		case strings.HasSuffix(c.name, "IdentifierType"):
			id.Type = sv(c)
		case strings.HasSuffix(c.name, "IdentifierValue"):
			id.Value = text(c)
		}
	})
	if id.Value == "" && n.first < 0 {
		// <ItemId>123</ItemId>: a bare identifier.
		id.Value = text(n)
	}
	return id
}

func (d *decoder) auth(n *node) AuthenticationInput {
	var a AuthenticationInput
	d.t.children(n, func(c *node) {
		switch c.name {
		case "AuthenticationInputData":
			a.Data = text(c)
		case "AuthenticationDataFormatType":
			a.FormatType = sv(c)
		case "AuthenticationInputType":
			a.Type = sv(c)
		}
	})
	return a
}

// userRef handles the UserId | AuthenticationInput children; it reports
// whether c was one of them.
func (d *decoder) userRef(u *UserRef, c *node) bool {
	switch c.name {
	case "UserId":
		u.UserID = d.ident(c)
	case "AuthenticationInput":
		u.Auth = append(u.Auth, d.auth(c))
	default:
		return false
	}
	return true
}

var dateLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02Z07:00",
	"2006-01-02",
}

// parseDate reads an xs:dateTime leniently: offsets or Z, fractions or not,
// zone-less (in loc), date only.
func parseDate(s string, loc *time.Location) (time.Time, bool) {
	for _, l := range dateLayouts {
		if t, err := time.ParseInLocation(l, s, loc); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

func (d *decoder) date(c *node) time.Time {
	s := text(c)
	if s == "" {
		return time.Time{}
	}
	t, ok := parseDate(s, d.loc)
	if !ok {
		d.fail(NewProblem(d.service, InvalidDate, "not a date: "+clip(s)).At(c.name, clip(s)))
	}
	return t
}

func (d *decoder) mandated(n *node) time.Time {
	if c := d.t.child(n, "DateEventOccurred"); c != nil {
		return d.date(c)
	}
	return time.Time{}
}

// parseMoney reads MonetaryValue: an integer in minor units, or a decimal
// with up to two fraction digits read as major units.
func parseMoney(s string) (int64, bool) {
	s = strings.TrimSpace(s)
	if v, err := strconv.ParseInt(s, 10, 64); err == nil {
		return v, true
	}
	whole, frac, ok := strings.Cut(s, ".")
	if !ok || len(frac) == 0 || len(frac) > 2 {
		return 0, false
	}
	neg := strings.HasPrefix(whole, "-")
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil && whole != "" && whole != "-" {
		return 0, false
	}
	if len(frac) == 1 {
		frac += "0"
	}
	f, err := strconv.ParseUint(frac, 10, 8)
	if err != nil {
		return 0, false
	}
	if w > 1<<53 || w < -(1<<53) {
		return 0, false
	}
	v := w*100 + int64(f)
	if neg {
		v = w*100 - int64(f)
	}
	return v, true
}

func (d *decoder) amount(n *node) *Amount {
	a := &Amount{}
	d.t.children(n, func(c *node) {
		switch c.name {
		case "CurrencyCode":
			a.CurrencyCode = sv(c)
		case "MonetaryValue":
			v, ok := parseMoney(c.text)
			if !ok {
				d.fail(NewProblem(d.service, InvalidAmount, "not an amount: "+clip(text(c))).At("MonetaryValue", clip(text(c))))
			}
			a.Value = v
		}
	})
	return a
}

func (d *decoder) fiscal(n *node) *FiscalTransaction {
	f := &FiscalTransaction{}
	d.t.children(n, func(c *node) {
		switch c.name {
		case "FiscalActionType":
			f.ActionType = sv(c)
		case "FiscalTransactionReferenceId":
			f.ReferenceID = d.fiscalRef(c)
		case "RelatedFiscalTransactionReferenceId":
			f.RelatedReferenceIDs = append(f.RelatedReferenceIDs, *d.fiscalRef(c))
		case "FiscalTransactionType":
			f.TransactionType = sv(c)
		case "ValidFromDate":
			f.ValidFrom = d.date(c)
		case "ValidToDate":
			f.ValidTo = d.date(c)
		case "Amount":
			f.Amount = *d.amount(c)
		case "PaymentMethodType":
			f.PaymentMethodType = sv(c)
		case "FiscalTransactionDescription":
			f.Description = text(c)
		case "RequestId":
			f.RequestID = d.ident(c)
		case "ItemDetails":
			det := &ItemDetails{}
			d.t.children(c, func(g *node) {
				switch g.name {
				case "ItemId":
					det.ItemID = *d.ident(g)
				case "BibliographicDescription":
					det.Bibliographic = *d.bibDesc(g)
				case "DateCheckedOut":
					det.DateCheckedOut = d.date(g)
				case "DateDue":
					det.DateDue = d.date(g)
				case "DateReturned":
					det.DateReturned = d.date(g)
				}
			})
			f.ItemDetails = det
		}
	})
	return f
}

func (d *decoder) fiscalRef(n *node) *FiscalTransactionReferenceID {
	r := &FiscalTransactionReferenceID{}
	d.t.children(n, func(c *node) {
		switch c.name {
		case "AgencyId":
			r.AgencyID = sv(c)
		case "FiscalTransactionIdentifierValue":
			r.Value = text(c)
		}
	})
	return r
}

func (d *decoder) bibItemID(n *node) *BibliographicItemID {
	b := &BibliographicItemID{}
	d.t.children(n, func(c *node) {
		switch c.name {
		case "BibliographicItemIdentifier":
			b.Identifier = text(c)
		case "BibliographicItemIdentifierCode":
			b.Code = sv(c)
		}
	})
	return b
}

func (d *decoder) bibRecordID(n *node) *BibliographicRecordID {
	b := &BibliographicRecordID{}
	d.t.children(n, func(c *node) {
		switch c.name {
		case "BibliographicRecordIdentifier":
			b.Identifier = text(c)
		case "AgencyId":
			b.AgencyID = sv(c)
		case "BibliographicRecordIdentifierCode":
			b.Code = sv(c)
		}
	})
	return b
}

func (d *decoder) bibID(n *node) BibliographicID {
	var b BibliographicID
	d.t.children(n, func(c *node) {
		switch c.name {
		case "BibliographicItemId":
			b.ItemID = d.bibItemID(c)
		case "BibliographicRecordId":
			b.RecordID = d.bibRecordID(c)
		}
	})
	return b
}

func (d *decoder) bibDesc(n *node) *BibliographicDescription {
	b := &BibliographicDescription{}
	d.t.children(n, func(c *node) {
		switch c.name {
		case "Author":
			b.Author = text(c)
		case "BibliographicItemId":
			b.ItemID = d.bibItemID(c)
		case "BibliographicRecordId":
			b.RecordIDs = append(b.RecordIDs, *d.bibRecordID(c))
		case "Edition":
			b.Edition = text(c)
		case "Pagination":
			b.Pagination = text(c)
		case "PlaceOfPublication":
			b.PlaceOfPublication = text(c)
		case "PublicationDate":
			b.PublicationDate = text(c)
		case "Publisher":
			b.Publisher = text(c)
		case "Title":
			b.Title = text(c)
		case "BibliographicLevel":
			b.BibliographicLevel = sv(c)
		case "Language":
			b.Language = sv(c)
		case "MediumType":
			b.MediumType = sv(c)
		}
	})
	return b
}

func (d *decoder) itemOptional(n *node) *ItemOptionalFields {
	f := &ItemOptionalFields{}
	d.t.children(n, func(c *node) {
		switch c.name {
		case "BibliographicDescription":
			f.Bibliographic = d.bibDesc(c)
		case "ItemUseRestrictionType":
			f.ItemUseRestrictionType = append(f.ItemUseRestrictionType, sv(c))
		case "CirculationStatus":
			f.CirculationStatus = sv(c)
		case "HoldQueueLength":
			if v, err := strconv.Atoi(text(c)); err == nil && v >= 0 {
				f.HoldQueueLength = &v
			}
		case "ItemDescription":
			desc := &ItemDescription{}
			d.t.children(c, func(g *node) {
				switch g.name {
				case "CallNumber":
					desc.CallNumber = text(g)
				case "CopyNumber":
					desc.CopyNumber = text(g)
				case "HoldingsInformation":
					if u := d.t.child(g, "UnstructuredHoldingsData"); u != nil {
						desc.HoldingsStatement = text(u)
					}
				}
			})
			f.Description = desc
		case "Location":
			loc := Location{}
			d.t.children(c, func(g *node) {
				switch g.name {
				case "LocationType":
					loc.Type = sv(g)
				case "LocationName":
					d.t.children(g, func(inst *node) {
						if inst.name != "LocationNameInstance" {
							return
						}
						var li LocationNameInstance
						if l := d.t.child(inst, "LocationNameLevel"); l != nil {
							li.Level, _ = strconv.Atoi(text(l))
						}
						if v := d.t.child(inst, "LocationNameValue"); v != nil {
							li.Value = text(v)
						}
						loc.Names = append(loc.Names, li)
					})
				case "ValidFromDate":
					loc.ValidFrom = d.date(g)
				case "ValidToDate":
					loc.ValidTo = d.date(g)
				}
			})
			f.Locations = append(f.Locations, loc)
		case "DateDue":
			f.DateDue = d.date(c)
		}
	})
	return f
}

// userOptional reads the parts of UserOptionalFields an AcceptItem may carry.
func (d *decoder) userOptional(n *node) *UserOptionalFields {
	f := &UserOptionalFields{}
	d.t.children(n, func(c *node) {
		switch c.name {
		case "NameInformation":
			if p := d.t.child(c, "PersonalNameInformation"); p != nil {
				name := &PersonalName{}
				if s := d.t.child(p, "StructuredPersonalUserName"); s != nil {
					d.t.children(s, func(g *node) {
						switch g.name {
						case "Prefix":
							name.Prefix = text(g)
						case "GivenName":
							name.GivenName = text(g)
						case "Initials":
							name.Initials = text(g)
						case "Surname":
							name.Surname = text(g)
						case "Suffix":
							name.Suffix = text(g)
						}
					})
				}
				if u := d.t.child(p, "UnstructuredPersonalUserName"); u != nil {
					name.Unstructured = text(u)
				}
				f.Name = name
			}
		case "UserAddressInformation":
			f.Addresses = append(f.Addresses, d.address(c))
		case "DateOfBirth":
			f.DateOfBirth = d.date(c)
		case "UserLanguage":
			f.Languages = append(f.Languages, sv(c))
		case "UserId":
			f.UserIDs = append(f.UserIDs, *d.ident(c))
		}
	})
	return f
}

func (d *decoder) address(n *node) Address {
	var a Address
	d.t.children(n, func(c *node) {
		switch c.name {
		case "UserAddressRoleType", "AgencyAddressRoleType":
			a.Role = sv(c)
		case "ValidFromDate":
			a.ValidFrom = d.date(c)
		case "ValidToDate":
			a.ValidTo = d.date(c)
		case "ElectronicAddress":
			a.Electronic = d.electronic(c)
		case "PhysicalAddress":
			a.Physical = d.physical(c)
		}
	})
	return a
}

func (d *decoder) electronic(n *node) *ElectronicAddress {
	e := &ElectronicAddress{}
	if t := d.t.child(n, "ElectronicAddressType"); t != nil {
		e.Type = sv(t)
	}
	if t := d.t.child(n, "ElectronicAddressData"); t != nil {
		e.Data = text(t)
	}
	return e
}

func (d *decoder) physical(n *node) *PhysicalAddress {
	p := &PhysicalAddress{}
	d.t.children(n, func(g *node) {
		switch g.name {
		case "PhysicalAddressType":
			p.Type = sv(g)
		case "UnstructuredAddress":
			if t := d.t.child(g, "UnstructuredAddressType"); t != nil {
				p.UnstructuredType = sv(t)
			}
			if t := d.t.child(g, "UnstructuredAddressData"); t != nil {
				p.Unstructured = text(t)
			}
		case "StructuredAddress":
			s := &StructuredAddress{}
			d.t.children(g, func(h *node) {
				v := text(h)
				switch h.name {
				case "Line1":
					s.Line1 = v
				case "Line2":
					s.Line2 = v
				case "Street":
					s.Street = v
				case "PostOfficeBox":
					s.PostOfficeBox = v
				case "District":
					s.District = v
				case "Locality":
					s.Locality = v
				case "Region":
					s.Region = v
				case "Country":
					s.Country = v
				case "PostalCode":
					s.Postal = v
				case "CareOf":
					s.CareOf = v
				}
			})
			p.Structured = s
		}
	})
	return p
}

func (d *decoder) lookupVersion(n *node) *LookupVersion {
	// LookupVersion carries its agencies directly; a header is tolerated too.
	h := d.header(n)
	if ih := d.t.child(n, "InitiationHeader"); ih != nil {
		h = d.header(ih)
	}
	return &LookupVersion{Header: h}
}

func (d *decoder) lookupAgency(n *node) *LookupAgency {
	r := &LookupAgency{}
	d.t.children(n, func(c *node) {
		switch c.name {
		case "InitiationHeader":
			r.Header = d.header(c)
		case "AgencyId":
			r.AgencyID = sv(c)
		case "AgencyElementType":
			r.ElementTypes = append(r.ElementTypes, sv(c))
		}
	})
	return r
}

func (d *decoder) lookupUser(n *node) *LookupUser {
	r := &LookupUser{}
	d.t.children(n, func(c *node) {
		if d.userRef(&r.UserRef, c) {
			return
		}
		switch c.name {
		case "InitiationHeader":
			r.Header = d.header(c)
		case "UserElementType":
			r.ElementTypes = append(r.ElementTypes, sv(c))
		case "LoanedItemsDesired":
			r.LoanedItemsDesired = true
		case "RequestedItemsDesired":
			r.RequestedItemsDesired = true
		case "UserFiscalAccountDesired":
			r.UserFiscalAccountDesired = true
		}
	})
	d.need(r.HasUser(), "UserId")
	return r
}

func (d *decoder) lookupItem(n *node) *LookupItem {
	r := &LookupItem{}
	d.t.children(n, func(c *node) {
		switch c.name {
		case "InitiationHeader":
			r.Header = d.header(c)
		case "ItemId":
			r.ItemID = d.ident(c)
		case "RequestId":
			r.RequestID = d.ident(c)
		case "ItemElementType":
			r.ElementTypes = append(r.ElementTypes, sv(c))
		case "CurrentBorrowerDesired":
			r.CurrentBorrowerDesired = true
		case "CurrentRequestersDesired":
			r.CurrentRequestersDesired = true
		}
	})
	d.need(r.ItemID != nil || r.RequestID != nil, "ItemId")
	return r
}

func (d *decoder) lookupItemSet(n *node) *LookupItemSet {
	r := &LookupItemSet{}
	d.t.children(n, func(c *node) {
		switch c.name {
		case "InitiationHeader":
			r.Header = d.header(c)
		case "BibliographicId":
			r.BibliographicIDs = append(r.BibliographicIDs, d.bibID(c))
		case "HoldingsSetId":
			r.HoldingsSetIDs = append(r.HoldingsSetIDs, text(c))
		case "ItemId":
			r.ItemIDs = append(r.ItemIDs, *d.ident(c))
		case "ItemElementType":
			r.ElementTypes = append(r.ElementTypes, sv(c))
		case "CurrentBorrowerDesired":
			r.CurrentBorrowerDesired = true
		case "CurrentRequestersDesired":
			r.CurrentRequestersDesired = true
		case "MaximumItemsCount":
			r.MaximumItemsCount = d.positiveCount(c)
		case "NextItemToken":
			r.NextItemToken = text(c)
		}
	})
	d.need(len(r.BibliographicIDs)+len(r.HoldingsSetIDs)+len(r.ItemIDs) > 0, "BibliographicId")
	return r
}

// positiveCount reads an xs:positiveInteger; one too large for an int is
// read as the largest int, which the reader of the value bounds anyway.
func (d *decoder) positiveCount(c *node) int {
	s := strings.TrimPrefix(text(c), "+")
	if s == "" || strings.Trim(s, "0123456789") != "" || strings.Trim(s, "0") == "" {
		d.fail(NewProblem(d.service, ElementRuleViolated, c.name+" must be a positive whole number").At(d.service+"/"+c.name, clip(text(c))))
		return 0
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return math.MaxInt
	}
	return n
}

func (d *decoder) lookupRequest(n *node) *LookupRequest {
	r := &LookupRequest{}
	d.t.children(n, func(c *node) {
		if d.userRef(&r.UserRef, c) {
			return
		}
		switch c.name {
		case "InitiationHeader":
			r.Header = d.header(c)
		case "ItemId":
			r.ItemID = d.ident(c)
		case "RequestType":
			r.RequestType = sv(c)
		case "RequestId":
			r.RequestID = d.ident(c)
		case "RequestElementType":
			r.RequestElementTypes = append(r.RequestElementTypes, sv(c))
		case "ItemElementType":
			r.ItemElementTypes = append(r.ItemElementTypes, sv(c))
		case "UserElementType":
			r.UserElementTypes = append(r.UserElementTypes, sv(c))
		}
	})
	d.need(r.RequestID != nil || r.ItemID != nil, "RequestId")
	return r
}

func (d *decoder) acceptItem(n *node) *AcceptItem {
	r := &AcceptItem{}
	seenReq := false
	d.t.children(n, func(c *node) {
		switch c.name {
		case "InitiationHeader":
			r.Header = d.header(c)
		case "MandatedAction":
			r.DateEventOccurred = d.mandated(c)
		case "RequestId":
			r.RequestID = *d.ident(c)
			seenReq = true
		case "RequestedActionType":
			r.RequestedActionType = sv(c)
		case "UserId":
			r.UserID = d.ident(c)
		case "ItemId":
			r.ItemID = d.ident(c)
		case "DateForReturn":
			r.DateForReturn = d.date(c)
		case "IndeterminateLoanPeriodFlag":
			r.IndeterminateLoanPeriod = true
		case "NonReturnableFlag":
			r.NonReturnable = true
		case "RenewalNotPermitted":
			r.RenewalNotPermitted = true
		case "FiscalTransactionInformation":
			r.FiscalTransaction = d.fiscal(c)
		case "ItemOptionalFields":
			r.ItemOptionalFields = d.itemOptional(c)
		case "UserOptionalFields":
			r.UserOptionalFields = d.userOptional(c)
		case "PickupLocation":
			r.PickupLocation = sv(c)
		case "PickupExpiryDate":
			r.PickupExpiryDate = d.date(c)
		}
	})
	d.need(seenReq && r.RequestID.Value != "", "RequestId")
	return r
}

func (d *decoder) checkOutItem(n *node) *CheckOutItem {
	r := &CheckOutItem{}
	d.t.children(n, func(c *node) {
		if d.userRef(&r.UserRef, c) {
			return
		}
		switch c.name {
		case "InitiationHeader":
			r.Header = d.header(c)
		case "MandatedAction":
			r.DateEventOccurred = d.mandated(c)
		case "ItemId":
			r.ItemID = *d.ident(c)
		case "RequestId":
			r.RequestID = d.ident(c)
		case "AcknowledgedFeeAmount":
			r.AcknowledgedFee = d.amount(c)
		case "PaidFeeAmount":
			r.PaidFee = d.amount(c)
		case "DesiredDateDue":
			r.DesiredDateDue = d.date(c)
		case "ItemElementType":
			r.ItemElementTypes = append(r.ItemElementTypes, sv(c))
		case "UserElementType":
			r.UserElementTypes = append(r.UserElementTypes, sv(c))
		}
	})
	d.need(r.HasUser(), "UserId")
	d.need(r.ItemID.Value != "", "ItemId")
	return r
}

func (d *decoder) checkInItem(n *node) *CheckInItem {
	r := &CheckInItem{}
	d.t.children(n, func(c *node) {
		switch c.name {
		case "InitiationHeader":
			r.Header = d.header(c)
		case "MandatedAction":
			r.DateEventOccurred = d.mandated(c)
		case "ItemId":
			r.ItemID = *d.ident(c)
		case "ItemElementType":
			r.ItemElementTypes = append(r.ItemElementTypes, sv(c))
		case "UserElementType":
			r.UserElementTypes = append(r.UserElementTypes, sv(c))
		}
	})
	d.need(r.ItemID.Value != "", "ItemId")
	return r
}

func (d *decoder) renewItem(n *node) *RenewItem {
	r := &RenewItem{}
	d.t.children(n, func(c *node) {
		if d.userRef(&r.UserRef, c) {
			return
		}
		switch c.name {
		case "InitiationHeader":
			r.Header = d.header(c)
		case "MandatedAction":
			r.DateEventOccurred = d.mandated(c)
		case "ItemId":
			r.ItemID = *d.ident(c)
		case "ItemElementType":
			r.ItemElementTypes = append(r.ItemElementTypes, sv(c))
		case "UserElementType":
			r.UserElementTypes = append(r.UserElementTypes, sv(c))
		case "DesiredDateDue":
			r.DesiredDateDue = d.date(c)
		case "DesiredDateForReturn":
			r.DesiredDateForReturn = d.date(c)
		case "AcknowledgedFeeAmount":
			r.AcknowledgedFee = d.amount(c)
		case "PaidFeeAmount":
			r.PaidFee = d.amount(c)
		}
	})
	d.need(r.ItemID.Value != "", "ItemId")
	return r
}

func (d *decoder) requestItem(n *node) *RequestItem {
	r := &RequestItem{}
	d.t.children(n, func(c *node) {
		if d.userRef(&r.UserRef, c) {
			return
		}
		switch c.name {
		case "InitiationHeader":
			r.Header = d.header(c)
		case "MandatedAction":
			r.DateEventOccurred = d.mandated(c)
		case "ItemId":
			r.ItemIDs = append(r.ItemIDs, *d.ident(c))
		case "BibliographicId":
			r.BibliographicIDs = append(r.BibliographicIDs, d.bibID(c))
		case "RequestId":
			r.RequestID = d.ident(c)
		case "RequestType":
			r.RequestType = sv(c)
		case "RequestScopeType":
			r.RequestScopeType = sv(c)
		case "ItemOptionalFields":
			r.ItemOptionalFields = d.itemOptional(c)
		case "EarliestDateNeeded":
			r.EarliestDateNeeded = d.date(c)
		case "NeedBeforeDate":
			r.NeedBeforeDate = d.date(c)
		case "PickupLocation":
			r.PickupLocation = sv(c)
		case "PickupExpiryDate":
			r.PickupExpiryDate = d.date(c)
		case "AcknowledgedFeeAmount":
			r.AcknowledgedFee = d.amount(c)
		case "PaidFeeAmount":
			r.PaidFee = d.amount(c)
		case "ItemElementType":
			r.ItemElementTypes = append(r.ItemElementTypes, sv(c))
		case "UserElementType":
			r.UserElementTypes = append(r.UserElementTypes, sv(c))
		}
	})
	d.need(r.HasUser(), "UserId")
	if len(r.ItemIDs) == 0 && len(r.BibliographicIDs) == 0 {
		d.fail(NewProblem(d.service, NeededDataMissing, "ItemId or BibliographicId is required").At(d.service+"/ItemId", ""))
	}
	return r
}

func (d *decoder) cancelRequestItem(n *node) *CancelRequestItem {
	r := &CancelRequestItem{}
	d.t.children(n, func(c *node) {
		if d.userRef(&r.UserRef, c) {
			return
		}
		switch c.name {
		case "InitiationHeader":
			r.Header = d.header(c)
		case "MandatedAction":
			r.DateEventOccurred = d.mandated(c)
		case "ItemId":
			r.ItemID = d.ident(c)
		case "RequestId":
			r.RequestID = d.ident(c)
		case "RequestType":
			r.RequestType = sv(c)
		case "RequestScopeType":
			r.RequestScopeType = sv(c)
		case "AcknowledgedFeeAmount":
			r.AcknowledgedFee = d.amount(c)
		case "PaidFeeAmount":
			r.PaidFee = d.amount(c)
		case "ItemElementType":
			r.ItemElementTypes = append(r.ItemElementTypes, sv(c))
		case "UserElementType":
			r.UserElementTypes = append(r.UserElementTypes, sv(c))
		}
	})
	d.need(r.ItemID != nil || r.RequestID != nil, "RequestId")
	return r
}

func (d *decoder) recallItem(n *node) *RecallItem {
	r := &RecallItem{}
	d.t.children(n, func(c *node) {
		switch c.name {
		case "InitiationHeader":
			r.Header = d.header(c)
		case "MandatedAction":
			r.DateEventOccurred = d.mandated(c)
		case "ItemId":
			r.ItemID = *d.ident(c)
		case "DesiredDateDue":
			r.DesiredDateDue = d.date(c)
		case "ItemElementType":
			r.ItemElementTypes = append(r.ItemElementTypes, sv(c))
		case "UserElementType":
			r.UserElementTypes = append(r.UserElementTypes, sv(c))
		}
	})
	d.need(r.ItemID.Value != "", "ItemId")
	return r
}

func (d *decoder) deleteItem(n *node) *DeleteItem {
	r := &DeleteItem{}
	d.t.children(n, func(c *node) {
		switch c.name {
		case "InitiationHeader":
			r.Header = d.header(c)
		case "MandatedAction":
			r.DateEventOccurred = d.mandated(c)
		case "ItemId":
			r.ItemID = *d.ident(c)
		}
	})
	d.need(r.ItemID.Value != "", "ItemId")
	return r
}

func (d *decoder) createUserFiscalTransaction(n *node) *CreateUserFiscalTransaction {
	r := &CreateUserFiscalTransaction{}
	seen := false
	d.t.children(n, func(c *node) {
		if d.userRef(&r.UserRef, c) {
			return
		}
		switch c.name {
		case "InitiationHeader":
			r.Header = d.header(c)
		case "MandatedAction":
			r.DateEventOccurred = d.mandated(c)
		case "FiscalTransactionInformation":
			r.FiscalTransaction = *d.fiscal(c)
			seen = true
		}
	})
	d.need(r.HasUser(), "UserId")
	d.need(seen, "FiscalTransactionInformation")
	return r
}

// itemShipped reads an ItemShipped. Only the item or request it is about
// is required: a message without DateShipped or ShippingInformation still
// says the item is on its way.
func (d *decoder) itemShipped(n *node) *ItemShipped {
	r := &ItemShipped{}
	d.t.children(n, func(c *node) {
		switch c.name {
		case "InitiationHeader":
			r.Header = d.header(c)
		case "ItemId":
			r.ItemID = d.ident(c)
		case "RequestId":
			r.RequestID = d.ident(c)
		case "UserId":
			r.UserID = d.ident(c)
		case "DateShipped":
			r.DateShipped = d.date(c)
		case "ShippingInformation":
			d.t.children(c, func(g *node) {
				switch g.name {
				case "ShippingInstructions":
					r.Shipping.Instructions = text(g)
				case "ShippingNote":
					r.Shipping.Note = text(g)
				case "PhysicalAddress":
					r.Shipping.Physical = d.physical(g)
				case "ElectronicAddress":
					r.Shipping.Electronic = d.electronic(g)
				}
			})
		case "ItemOptionalFields":
			r.ItemOptionalFields = d.itemOptional(c)
		case "UserOptionalFields":
			r.UserOptionalFields = d.userOptional(c)
		}
	})
	d.need(r.ItemID != nil && r.ItemID.Value != "" || r.RequestID != nil && r.RequestID.Value != "", "ItemId")
	return r
}
