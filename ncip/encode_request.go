package ncip

import (
	"slices"
	"time"
)

// EncodeRequest writes a request as a complete NCIPMessage, in schema
// order (LookupVersion, outside the schema, in NCIP 2.0 Part 1 order).
func EncodeRequest(r Request, o WriteOptions) ([]byte, error) {
	w := newWriter(o)
	w.begin()
	w.open(r.Service())
	r.encode(w)
	w.close(r.Service())
	w.finish()
	if err := w.err; err != nil {
		w.recycle()
		return nil, err
	}
	return w.bytes(), nil
}

func (w *writer) initiation(h *InitiationHeader) {
	if h == nil {
		return
	}
	w.open("InitiationHeader")
	w.headerFields(h, true)
	w.close("InitiationHeader")
}

func (w *writer) headerFields(h *InitiationHeader, full bool) {
	w.optSV("FromSystemId", h.FromSystemID)
	w.opt("FromSystemAuthentication", h.FromSystemAuthentication)
	w.agency("FromAgencyId", h.FromAgencyID)
	w.opt("FromAgencyAuthentication", h.FromAgencyAuthentication)
	if full && h.OnBehalfOfAgency.Value != "" {
		w.agency("OnBehalfOfAgency", h.OnBehalfOfAgency)
	}
	w.optSV("ToSystemId", h.ToSystemID)
	w.agency("ToAgencyId", h.ToAgencyID)
	if full {
		w.optSV("ApplicationProfileType", h.ApplicationProfileType)
	}
}

func (w *writer) mandated(t time.Time) {
	if t.IsZero() {
		return
	}
	w.open("MandatedAction")
	w.date("DateEventOccurred", t)
	w.close("MandatedAction")
}

// userRef writes the (UserId | AuthenticationInput+) choice: the inputs
// when there are any, else the UserId. When both were given and the inputs
// hold only a PIN or password, the UserId travels as a "User Id" input so
// the user is not lost.
func (w *writer) userRef(u *UserRef) {
	if len(u.Auth) == 0 {
		if u.UserID == nil {
			w.fail("UserId or AuthenticationInput is required")
			return
		}
		w.userID(u.UserID)
		return
	}
	auth := u.Auth
	if u.UserID != nil && u.UserID.Value != "" && !slices.ContainsFunc(auth, func(a AuthenticationInput) bool { return !a.IsSecret() }) {
		auth = append([]AuthenticationInput{{Data: u.UserID.Value, Type: SchemeValue{Scheme: SchemeAuthenticationInputType, Value: "User Id"}}}, auth...)
	}
	for _, a := range auth {
		w.open("AuthenticationInput")
		w.leaf("AuthenticationInputData", a.Data)
		f := a.FormatType
		if f.Value == "" {
			f = SchemeValue{Scheme: SchemeMediaTypes, Value: "text/plain"}
		}
		w.sv("AuthenticationDataFormatType", f)
		w.sv("AuthenticationInputType", a.Type)
		w.close("AuthenticationInput")
	}
}

func (r *LookupVersion) encode(w *writer) {
	h := r.Header
	if h == nil {
		h = &InitiationHeader{}
	}
	w.headerFields(h, false)
}

func (r *LookupAgency) encode(w *writer) {
	w.initiation(r.Header)
	w.sv("AgencyId", r.AgencyID)
	if len(r.ElementTypes) == 0 {
		w.fail("AgencyElementType is required")
	}
	w.svs("AgencyElementType", r.ElementTypes)
}

func (r *LookupUser) encode(w *writer) {
	w.initiation(r.Header)
	w.userRef(&r.UserRef)
	w.svs("UserElementType", r.ElementTypes)
	if r.LoanedItemsDesired {
		w.flag("LoanedItemsDesired")
	}
	if r.RequestedItemsDesired {
		w.flag("RequestedItemsDesired")
	}
	if r.UserFiscalAccountDesired {
		w.flag("UserFiscalAccountDesired")
	}
}

func (r *LookupItem) encode(w *writer) {
	w.initiation(r.Header)
	switch {
	case r.ItemID != nil:
		w.itemID(r.ItemID)
	case r.RequestID != nil:
		w.requestID(r.RequestID)
	default:
		w.fail("ItemId or RequestId is required")
	}
	w.svs("ItemElementType", r.ElementTypes)
	if r.CurrentBorrowerDesired {
		w.flag("CurrentBorrowerDesired")
	}
	if r.CurrentRequestersDesired {
		w.flag("CurrentRequestersDesired")
	}
}

func (r *LookupItemSet) encode(w *writer) {
	w.initiation(r.Header)
	switch {
	case len(r.BibliographicIDs) > 0:
		w.bibIDs(r.BibliographicIDs)
	case len(r.HoldingsSetIDs) > 0:
		for _, id := range r.HoldingsSetIDs {
			w.leaf("HoldingsSetId", id)
		}
	case len(r.ItemIDs) > 0:
		for i := range r.ItemIDs {
			w.itemID(&r.ItemIDs[i])
		}
	default:
		w.fail("BibliographicId, HoldingsSetId or ItemId is required")
	}
	w.svs("ItemElementType", r.ElementTypes)
	if r.CurrentBorrowerDesired {
		w.flag("CurrentBorrowerDesired")
	}
	if r.CurrentRequestersDesired {
		w.flag("CurrentRequestersDesired")
	}
	w.posInt("MaximumItemsCount", r.MaximumItemsCount)
	w.opt("NextItemToken", r.NextItemToken)
}

func (r *LookupRequest) encode(w *writer) {
	w.initiation(r.Header)
	if r.RequestID != nil {
		w.requestID(r.RequestID)
	} else {
		w.userRef(&r.UserRef)
		if r.ItemID == nil {
			w.fail("ItemId is required")
			return
		}
		w.itemID(r.ItemID)
		w.sv("RequestType", r.RequestType)
	}
	w.svs("RequestElementType", r.RequestElementTypes)
	w.svs("ItemElementType", r.ItemElementTypes)
	w.svs("UserElementType", r.UserElementTypes)
}

func (r *AcceptItem) encode(w *writer) {
	w.initiation(r.Header)
	w.mandated(r.DateEventOccurred)
	w.requestID(&r.RequestID)
	w.sv("RequestedActionType", r.RequestedActionType)
	w.userID(r.UserID)
	w.itemID(r.ItemID)
	switch {
	case !r.DateForReturn.IsZero():
		w.date("DateForReturn", r.DateForReturn)
	case r.IndeterminateLoanPeriod:
		w.flag("IndeterminateLoanPeriodFlag")
	case r.NonReturnable:
		w.flag("NonReturnableFlag")
	}
	if r.RenewalNotPermitted {
		w.flag("RenewalNotPermitted")
	}
	w.fiscal(r.FiscalTransaction)
	w.itemOptional(r.ItemOptionalFields)
	w.userOptional(r.UserOptionalFields)
	w.optSV("PickupLocation", r.PickupLocation)
	w.date("PickupExpiryDate", r.PickupExpiryDate)
}

func (r *CheckOutItem) encode(w *writer) {
	w.initiation(r.Header)
	w.mandated(r.DateEventOccurred)
	w.userRef(&r.UserRef)
	w.itemID(&r.ItemID)
	w.requestID(r.RequestID)
	w.amount("AcknowledgedFeeAmount", r.AcknowledgedFee)
	w.amount("PaidFeeAmount", r.PaidFee)
	w.date("DesiredDateDue", r.DesiredDateDue)
	w.svs("ItemElementType", r.ItemElementTypes)
	w.svs("UserElementType", r.UserElementTypes)
}

func (r *CheckInItem) encode(w *writer) {
	w.initiation(r.Header)
	w.mandated(r.DateEventOccurred)
	w.itemID(&r.ItemID)
	w.svs("ItemElementType", r.ItemElementTypes)
	w.svs("UserElementType", r.UserElementTypes)
}

func (r *RenewItem) encode(w *writer) {
	w.initiation(r.Header)
	w.mandated(r.DateEventOccurred)
	w.userRef(&r.UserRef)
	w.itemID(&r.ItemID)
	w.svs("ItemElementType", r.ItemElementTypes)
	w.svs("UserElementType", r.UserElementTypes)
	w.date("DesiredDateDue", r.DesiredDateDue)
	w.date("DesiredDateForReturn", r.DesiredDateForReturn)
	w.amount("AcknowledgedFeeAmount", r.AcknowledgedFee)
	w.amount("PaidFeeAmount", r.PaidFee)
}

func (r *RequestItem) encode(w *writer) {
	w.initiation(r.Header)
	w.mandated(r.DateEventOccurred)
	w.userRef(&r.UserRef)
	if len(r.ItemIDs) == 0 && len(r.BibliographicIDs) == 0 {
		w.fail("ItemId or BibliographicId is required")
	}
	w.bibIDs(r.BibliographicIDs)
	for i := range r.ItemIDs {
		w.itemID(&r.ItemIDs[i])
	}
	w.requestID(r.RequestID)
	w.sv("RequestType", r.RequestType)
	w.sv("RequestScopeType", r.RequestScopeType)
	w.itemOptional(r.ItemOptionalFields)
	w.date("EarliestDateNeeded", r.EarliestDateNeeded)
	w.date("NeedBeforeDate", r.NeedBeforeDate)
	w.optSV("PickupLocation", r.PickupLocation)
	w.date("PickupExpiryDate", r.PickupExpiryDate)
	w.amount("AcknowledgedFeeAmount", r.AcknowledgedFee)
	w.amount("PaidFeeAmount", r.PaidFee)
	w.svs("ItemElementType", r.ItemElementTypes)
	w.svs("UserElementType", r.UserElementTypes)
}

func (r *CancelRequestItem) encode(w *writer) {
	w.initiation(r.Header)
	w.mandated(r.DateEventOccurred)
	w.userRef(&r.UserRef)
	w.itemOrRequest(r.ItemID, r.RequestID)
	w.sv("RequestType", r.RequestType)
	w.optSV("RequestScopeType", r.RequestScopeType)
	w.amount("AcknowledgedFeeAmount", r.AcknowledgedFee)
	w.amount("PaidFeeAmount", r.PaidFee)
	w.svs("ItemElementType", r.ItemElementTypes)
	w.svs("UserElementType", r.UserElementTypes)
}

func (r *RecallItem) encode(w *writer) {
	w.initiation(r.Header)
	w.mandated(r.DateEventOccurred)
	w.itemID(&r.ItemID)
	w.date("DesiredDateDue", r.DesiredDateDue)
	w.svs("ItemElementType", r.ItemElementTypes)
	w.svs("UserElementType", r.UserElementTypes)
}

func (r *DeleteItem) encode(w *writer) {
	w.initiation(r.Header)
	w.mandated(r.DateEventOccurred)
	w.itemID(&r.ItemID)
}

func (r *CreateUserFiscalTransaction) encode(w *writer) {
	w.initiation(r.Header)
	w.mandated(r.DateEventOccurred)
	w.userRef(&r.UserRef)
	w.fiscal(&r.FiscalTransaction)
}

func (r *ItemShipped) encode(w *writer) {
	w.initiation(r.Header)
	w.itemOrRequest(r.ItemID, r.RequestID)
	w.userID(r.UserID)
	w.reqDate("DateShipped", r.DateShipped)
	s := &r.Shipping
	w.open("ShippingInformation")
	w.opt("ShippingInstructions", s.Instructions)
	w.opt("ShippingNote", s.Note)
	switch {
	case s.Physical != nil:
		w.physical(s.Physical)
	case s.Electronic != nil:
		w.electronic(s.Electronic)
	default:
		w.fail("ShippingInformation needs a physical or electronic address")
	}
	w.close("ShippingInformation")
	w.itemOptional(r.ItemOptionalFields)
	w.userOptional(r.UserOptionalFields)
}
