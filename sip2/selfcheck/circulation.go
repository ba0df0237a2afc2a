package selfcheck

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/profiles"
	"github.com/circa-ils/circa/sip2"
	"github.com/circa-ils/circa/store"
)

// refusalMessage explains a refusal; a missing PIN where one is required
// reads better than "wrong PIN".
func refusalMessage(code circ.Code, pin string) string {
	if code == circ.PatronAuthFailed && pin == "" {
		return "pin_required"
	}
	return MessageForCode(code)
}

// refusalScreen explains a refusal with the figures behind it where the
// profile shows them: amounts, counts and dates unless it hides refusal
// details, a staff block note only when it shows block notes. args fill
// the plain message's placeholders.
func (s *Session) refusalScreen(lang string, err error, pin string, args ...string) []string {
	code, _ := circ.CodeOf(err)
	var e *circ.Error
	if errors.As(err, &e) {
		if msg, more := s.refusalDetail(e.Facts); msg != "" {
			return s.screen(lang, msg, more...)
		}
	}
	return s.screen(lang, refusalMessage(code, pin), args...)
}

// refusalDetail picks the detailed message for a refusal's facts, or ""
// when the profile shows none of them.
func (s *Session) refusalDetail(f circ.Facts) (string, []string) {
	if f.BlockNote != "" && s.prof.ShowBlockNote {
		return "patron_blocked_note", []string{"note", strings.Join(strings.Fields(f.BlockNote), " ")}
	}
	if s.prof.HideRefusalDetails {
		return "", nil
	}
	switch {
	case f.BalanceLimit > 0:
		return "patron_blocked_balance", []string{"amount", money(f.Balance, f.Currency), "limit", money(f.BalanceLimit, f.Currency)}
	case f.OverdueLimit > 0:
		return "patron_blocked_overdue", []string{"overdue", strconv.Itoa(f.Overdue), "limit", strconv.Itoa(f.OverdueLimit)}
	case f.LoanLimit > 0:
		return "loan_limit_count", []string{"loans", strconv.Itoa(f.Loans), "limit", strconv.Itoa(f.LoanLimit)}
	case !f.Expiry.IsZero():
		return "patron_expired_on", []string{"date", f.Expiry.In(s.zone).Format("2006-01-02")}
	case !f.Due.IsZero():
		return "already_on_loan_due", []string{"due", s.humanDue(f.Due)}
	}
	return "", nil
}

// unavailable reports whether err is the store refusing to write (a full
// or failing disk). The kiosk is told so, ok=0 with the system_unavailable
// message, rather than getting the server's generic failure; nothing was
// stored, so its retry acts afresh.
func (s *Session) unavailable(err error) bool {
	if !errors.Is(err, store.ErrUnavailable) {
		return false
	}
	s.logger().Error().Err(err).Str("account", s.account()).Msg("store cannot write; answered system unavailable")
	return true
}

// statusWait bounds how long a 99 waits for the store's probe commit; a
// disk slower than that is reported by the next 99.
const statusWait = time.Second

// online reports whether the store can be read and, as far as it knows,
// written.
func (s *Session) online(ctx context.Context) bool { return s.h.svc.Online(ctx, statusWait) }

// whyOffline is the screen message of an off-line 98.
func (s *Session) whyOffline(online bool) []string {
	if online {
		return nil
	}
	return s.screen(DefaultLanguage, "system_unavailable")
}

func itemFlags(it *circ.ItemBrief) sip2.Flag {
	if it.ID == 0 {
		return sip2.Unset
	}
	return sip2.FlagOf(it.Magnetic)
}

// Checkout answers 11. An item already on loan to the patron is renewed
// when the profile says so (OwnItemRenews); BI=Y cancels the patron's
// checkout of the item.
func (s *Session) Checkout(ctx context.Context, r *sip2.CheckoutRequest) (*sip2.CheckoutResponse, error) {
	resp := &sip2.CheckoutResponse{InstitutionID: s.inst(r.InstitutionID), PatronID: r.PatronID, ItemID: r.ItemID}
	lang := s.language("000", r.PatronID, "")
	if msg := s.gate("11", r.InstitutionID); msg != "" {
		resp.ScreenMessage = s.screen(lang, msg)
		return resp, nil
	}
	if r.Cancel {
		return s.cancelCheckout(ctx, r, resp, lang)
	}
	own := s.prof.OwnItemRenews
	res, err := s.h.svc.Checkout(ctx, circ.CheckoutRequest{Agent: s.agent(), Patron: r.PatronID, PIN: r.PatronPassword,
		RequirePIN: s.prof.RequirePIN, Item: r.ItemID, NoBlock: r.NoBlock, NoBlockDue: r.NBDueDate,
		FeeAcknowledged: r.FeeAcknowledged, OwnItem: &own, Retry: s.retry(r.Header)})
	if s.unavailable(err) {
		resp.TransactionDate, resp.ScreenMessage = s.h.svc.Now(), s.screen(lang, "system_unavailable")
		return resp, nil
	}
	code, refused := circ.CodeOf(err)
	if !refused {
		return nil, err
	}
	resp.TransactionDate = res.At
	resp.TitleID = res.Item.Title
	resp.MagneticMedia = itemFlags(&res.Item)
	resp.MediaType = res.Item.MediaType
	fee := money(res.Fee, res.Currency)
	if res.Fee > 0 {
		resp.FeeType, resp.Currency, resp.FeeAmount = res.FeeType, res.Currency, circ.FormatAmount(res.Fee, res.Currency)
	}
	if code != circ.OK {
		if res.Item.ID != 0 {
			resp.Desensitize = sip2.No
		}
		resp.ScreenMessage = s.refusalScreen(lang, err, r.PatronPassword, "amount", fee)
		return resp, nil
	}
	resp.OK, resp.RenewalOK, resp.Desensitize = true, res.Renewed, sip2.Yes
	resp.DueDateText = s.dueText(res.Due)
	msg := "checkout_ok"
	switch {
	case res.Renewed:
		msg = "checkout_renewed"
	case res.NoBlock:
		msg = "checkout_no_block"
	}
	due := s.humanDue(res.Due)
	resp.ScreenMessage = s.screen(lang, msg, "title", res.Item.Title, "due", due)
	if res.Fee > 0 {
		resp.ScreenMessage = append(resp.ScreenMessage, s.screen(lang, "rental_fee_charged", "amount", fee)...)
	}
	resp.PrintLine = s.print(lang, "due_receipt", "title", res.Item.Title, "due", due)
	return resp, nil
}

// cancelCheckout undoes a checkout the kiosk could not complete: the item
// is taken back, but only from the patron the request names. The check and
// the checkin are one retryable operation, so a retransmitted cancel gets
// the first answer.
func (s *Session) cancelCheckout(ctx context.Context, r *sip2.CheckoutRequest, resp *sip2.CheckoutResponse, lang string) (*sip2.CheckoutResponse, error) {
	res, err := s.h.svc.Checkin(ctx, circ.CheckinRequest{Agent: s.agent(), Item: r.ItemID, Borrower: r.PatronID, Retry: s.retry(r.Header)})
	if s.unavailable(err) {
		resp.TransactionDate, resp.ScreenMessage = s.h.svc.Now(), s.screen(lang, "system_unavailable")
		return resp, nil
	}
	code, refused := circ.CodeOf(err)
	if !refused {
		return nil, err
	}
	resp.TitleID, resp.MediaType, resp.MagneticMedia = res.Item.Title, res.Item.MediaType, itemFlags(&res.Item)
	switch code {
	case circ.OK:
		resp.TransactionDate = res.At
	case circ.ItemNotOnLoan:
		resp.ScreenMessage = s.screen(lang, "cancel_not_possible")
		return resp, nil
	default:
		resp.ScreenMessage = s.screen(lang, MessageForCode(code))
		return resp, nil
	}
	resp.OK, resp.Desensitize = true, sip2.No
	resp.ScreenMessage = s.screen(lang, "checkout_cancelled")
	return resp, nil
}

// Checkin answers 09 with where the item goes next: hold shelf, transit,
// the sort bin of the profile's rule.
func (s *Session) Checkin(ctx context.Context, r *sip2.CheckinRequest) (*sip2.CheckinResponse, error) {
	resp := &sip2.CheckinResponse{InstitutionID: s.inst(r.InstitutionID), ItemID: r.ItemID}
	lang := DefaultLanguage
	if msg := s.gate("09", r.InstitutionID); msg != "" {
		resp.ScreenMessage = s.screen(lang, msg)
		return resp, nil
	}
	if r.Cancel {
		resp.ScreenMessage = s.screen(lang, "cancel_not_possible")
		return resp, nil
	}
	if s.prof.HeldItemsBlockCheckin {
		info, err := s.h.svc.ItemInfo(ctx, r.ItemID)
		if code, refused := circ.CodeOf(err); !refused {
			return nil, err
		} else if code == circ.OK && (info.HoldQueue > 0 || info.HeldFor != nil) {
			s.describeItem(resp, &info.Item)
			resp.TransactionDate = s.h.svc.Now()
			resp.Alert, resp.AlertType = true, circ.AlertOther
			resp.ScreenMessage = s.screen(lang, "checkin_held_blocked")
			return resp, nil
		}
	}
	var returned time.Time
	if r.NoBlock {
		returned = r.ReturnDate
	}
	res, err := s.h.svc.Checkin(ctx, circ.CheckinRequest{Agent: s.agent(), Item: r.ItemID, ReturnedAt: returned, Retry: s.retry(r.Header)})
	if s.unavailable(err) {
		resp.TransactionDate, resp.ScreenMessage = s.h.svc.Now(), s.screen(lang, "system_unavailable")
		return resp, nil
	}
	code, refused := circ.CodeOf(err)
	if !refused {
		return nil, err
	}
	resp.TransactionDate = res.At
	if res.Item.ID == 0 {
		resp.ScreenMessage = s.screen(lang, MessageForCode(code))
		return resp, nil
	}
	if res.Patron != nil {
		resp.PatronID = res.Patron.Barcode
		lang = s.language("000", res.Patron.Barcode, "")
	}
	s.describeItem(resp, &res.Item)
	resp.OK = code == circ.OK || (code == circ.ItemNotOnLoan && s.prof.CheckinNotOnLoanOK)
	resp.Resensitize = resp.OK
	if res.Alert != "" {
		resp.Alert, resp.AlertType, resp.DestinationLocation = true, res.Alert, res.Destination
		if res.Waiting != nil {
			resp.HoldPatronID, resp.HoldPatronName = res.Waiting.Barcode, res.Waiting.Name
		}
	}
	resp.SortBin = s.sortBin(&res)
	msg := "checkin_ok"
	if code != circ.OK {
		msg = MessageForCode(code)
	}
	resp.ScreenMessage = s.screen(lang, msg, "title", res.Item.Title)
	switch res.Alert {
	case circ.AlertHoldHere:
		resp.ScreenMessage = append(resp.ScreenMessage, s.screen(lang, "checkin_hold_here")...)
	case circ.AlertHoldElsewere:
		resp.ScreenMessage = append(resp.ScreenMessage, s.screen(lang, "checkin_hold_elsewhere", "destination", res.Destination)...)
	case circ.AlertTransit:
		resp.ScreenMessage = append(resp.ScreenMessage, s.screen(lang, "checkin_transit", "destination", res.Destination)...)
	}
	if res.Fine > 0 {
		resp.ScreenMessage = append(resp.ScreenMessage, s.screen(lang, "checkin_fine", "amount", money(res.Fine, res.Currency))...)
	}
	if code == circ.OK {
		resp.PrintLine = s.print(lang, "return_receipt", "title", res.Item.Title)
	}
	return resp, nil
}

func (s *Session) describeItem(resp *sip2.CheckinResponse, it *circ.ItemBrief) {
	resp.TitleID, resp.PermanentLocation, resp.MediaType = it.Title, it.Location, it.MediaType
	resp.CallNumber, resp.ItemProperties, resp.MagneticMedia = it.CallNumber, it.Properties, itemFlags(it)
}

// sortBin derives CL by the profile's rule and maps it through SortBins.
func (s *Session) sortBin(res *circ.CheckinResult) string {
	var v string
	switch s.prof.SortBin {
	case profiles.SortByHold:
		v = res.Item.Location
		if res.Alert == circ.AlertHoldHere || res.Alert == circ.AlertHoldElsewere {
			v = "HOLD"
		}
	case profiles.SortByLocation:
		v = res.Item.Location
	case profiles.SortByMediaType:
		v = res.Item.MediaType
	default:
		v = res.SortBin
	}
	if b, ok := s.prof.SortBins[v]; ok {
		return b
	}
	return v
}

// Renew answers 29. A renewal named by title (AJ) without an item renews
// the patron's loan of that title.
func (s *Session) Renew(ctx context.Context, r *sip2.RenewRequest) (*sip2.RenewResponse, error) {
	resp := &sip2.RenewResponse{InstitutionID: s.inst(r.InstitutionID), PatronID: r.PatronID, ItemID: r.ItemID, TitleID: r.TitleID}
	lang := s.language("000", r.PatronID, "")
	if msg := s.gate("29", r.InstitutionID); msg != "" {
		resp.ScreenMessage = s.screen(lang, msg)
		return resp, nil
	}
	item := r.ItemID
	if item == "" && r.TitleID != "" {
		sum, err := s.h.svc.PatronStatus(ctx, circ.PatronQuery{Patron: r.PatronID})
		if err != nil {
			return nil, err
		}
		for _, l := range sum.Loans {
			if strings.EqualFold(strings.TrimSpace(l.Item.Title), strings.TrimSpace(r.TitleID)) {
				item = l.Item.Barcode
				break
			}
		}
	}
	if item == "" {
		resp.ScreenMessage = s.screen(lang, "item_required")
		return resp, nil
	}
	res, err := s.h.svc.Renew(ctx, circ.RenewRequest{Agent: s.agent(), Patron: r.PatronID, PIN: r.PatronPassword,
		RequirePIN: s.prof.RequirePIN, Item: item, Retry: s.retry(r.Header)})
	if s.unavailable(err) {
		resp.TransactionDate, resp.ScreenMessage = s.h.svc.Now(), s.screen(lang, "system_unavailable")
		return resp, nil
	}
	code, refused := circ.CodeOf(err)
	if !refused {
		return nil, err
	}
	resp.ItemID = item
	resp.TransactionDate = res.At
	if res.Item.Title != "" {
		resp.TitleID = res.Item.Title
	}
	resp.MagneticMedia, resp.MediaType = itemFlags(&res.Item), res.Item.MediaType
	if res.Item.ID != 0 {
		resp.Desensitize = sip2.No
	}
	if code != circ.OK {
		resp.ScreenMessage = s.refusalScreen(lang, err, r.PatronPassword)
		return resp, nil
	}
	resp.OK, resp.RenewalOK = true, true
	resp.DueDateText = s.dueText(res.Due)
	due := s.humanDue(res.Due)
	resp.ScreenMessage = s.screen(lang, "renew_ok", "title", res.Item.Title, "due", due)
	resp.PrintLine = s.print(lang, "due_receipt", "title", res.Item.Title, "due", due)
	return resp, nil
}

// RenewAll answers 65.
func (s *Session) RenewAll(ctx context.Context, r *sip2.RenewAllRequest) (*sip2.RenewAllResponse, error) {
	resp := &sip2.RenewAllResponse{InstitutionID: s.inst(r.InstitutionID)}
	lang := s.language("000", r.PatronID, "")
	if msg := s.gate("65", r.InstitutionID); msg != "" {
		resp.ScreenMessage = s.screen(lang, msg)
		return resp, nil
	}
	res, err := s.h.svc.RenewAll(ctx, circ.RenewAllRequest{Agent: s.agent(), Patron: r.PatronID, PIN: r.PatronPassword,
		RequirePIN: s.prof.RequirePIN, Retry: s.retry(r.Header)})
	if s.unavailable(err) {
		resp.TransactionDate, resp.ScreenMessage = s.h.svc.Now(), s.screen(lang, "system_unavailable")
		return resp, nil
	}
	code, refused := circ.CodeOf(err)
	if !refused {
		return nil, err
	}
	resp.TransactionDate = res.At
	if code != circ.OK {
		resp.ScreenMessage = s.screen(lang, refusalMessage(code, r.PatronPassword))
		return resp, nil
	}
	resp.OK = true
	for _, o := range res.Renewed {
		resp.Renewed = append(resp.Renewed, o.Item.Barcode)
		resp.PrintLine = append(resp.PrintLine, s.print(lang, "due_receipt", "title", o.Item.Title, "due", s.humanDue(o.Due))...)
	}
	for _, o := range res.Unrenewed {
		resp.Unrenewed = append(resp.Unrenewed, o.Item.Barcode)
	}
	resp.ScreenMessage = s.screen(lang, "renew_all_done", "renewed", strconv.Itoa(len(res.Renewed)),
		"unrenewed", strconv.Itoa(len(res.Unrenewed)))
	return resp, nil
}

// ItemInformation answers 17.
func (s *Session) ItemInformation(ctx context.Context, r *sip2.ItemInfoRequest) (*sip2.ItemInfoResponse, error) {
	resp := &sip2.ItemInfoResponse{CirculationStatus: sip2.CircOther, SecurityMarker: "01", FeeType: "01",
		TransactionDate: s.h.svc.Now(), ItemID: r.ItemID}
	if msg := s.gate("17", r.InstitutionID); msg != "" {
		resp.ScreenMessage = s.screen(DefaultLanguage, msg)
		return resp, nil
	}
	sum, err := s.h.svc.ItemInfo(ctx, r.ItemID)
	code, refused := circ.CodeOf(err)
	if !refused {
		return nil, err
	}
	if code != circ.OK {
		resp.ScreenMessage = s.screen(DefaultLanguage, MessageForCode(code))
		return resp, nil
	}
	it := &sum.Item
	resp.CirculationStatus = sum.CircStatus
	resp.SecurityMarker = "00" // kept by the devices, not known here
	resp.HoldQueueLength = &sum.HoldQueue
	resp.DueDateText = s.dueText(sum.Due)
	resp.TitleID, resp.Owner, resp.MediaType = it.Title, it.Library, it.MediaType
	resp.PermanentLocation, resp.CurrentLocation, resp.ItemProperties = it.Location, it.Location, it.Properties
	if sum.Fee > 0 {
		resp.FeeType, resp.Currency, resp.FeeAmount = "06", sum.Currency, circ.FormatAmount(sum.Fee, sum.Currency)
	}
	if it.CallNumber != "" {
		resp.Extra = append(resp.Extra, sip2.Field{Tag: "CS", Value: it.CallNumber})
	}
	if sum.Destination != "" {
		resp.Extra = append(resp.Extra, sip2.Field{Tag: "CT", Value: sum.Destination})
	}
	return resp, nil
}

// ItemStatusUpdate answers 19 by storing the item properties (CH).
func (s *Session) ItemStatusUpdate(ctx context.Context, r *sip2.ItemStatusUpdateRequest) (*sip2.ItemStatusUpdateResponse, error) {
	resp := &sip2.ItemStatusUpdateResponse{TransactionDate: s.h.svc.Now(), ItemID: r.ItemID}
	if msg := s.gate("19", r.InstitutionID); msg != "" {
		resp.ScreenMessage = s.screen(DefaultLanguage, msg)
		return resp, nil
	}
	it, err := s.h.svc.SetItemProperties(ctx, circ.ItemPropertiesRequest{Agent: s.agent(), Item: r.ItemID,
		Properties: r.ItemProperties, Retry: s.retry(r.Header)})
	if s.unavailable(err) {
		resp.ScreenMessage = s.screen(DefaultLanguage, "system_unavailable")
		return resp, nil
	}
	code, refused := circ.CodeOf(err)
	if !refused {
		return nil, err
	}
	if code != circ.OK {
		resp.ScreenMessage = s.screen(DefaultLanguage, MessageForCode(code))
		return resp, nil
	}
	resp.ItemPropertiesOK = true
	resp.TitleID, resp.ItemProperties = it.Title, it.Properties
	resp.ScreenMessage = s.screen(DefaultLanguage, "item_properties_saved")
	return resp, nil
}

// FeePaid answers 37: a named fee (CG) or the oldest fees first, in the
// currency's decimals; overpayment is refused. The payment is idempotent by
// its transaction id (BK) across connections.
func (s *Session) FeePaid(ctx context.Context, r *sip2.FeePaidRequest) (*sip2.FeePaidResponse, error) {
	resp := &sip2.FeePaidResponse{InstitutionID: s.inst(r.InstitutionID), PatronID: r.PatronID, TransactionID: r.TransactionID}
	lang := s.language("000", r.PatronID, "")
	if msg := s.gate("37", r.InstitutionID); msg != "" {
		resp.ScreenMessage = s.screen(lang, msg)
		return resp, nil
	}
	currency := strings.ToUpper(strings.TrimSpace(r.Currency))
	if currency == "" {
		currency = s.h.svc.Rules().Currency
	}
	amount, err := circ.ParseAmount(r.FeeAmount, currency)
	if err != nil || amount <= 0 {
		resp.TransactionDate = s.h.svc.Now()
		resp.ScreenMessage = s.screen(lang, "fee_amount_invalid")
		return resp, nil
	}
	var feeID uint64
	if id := strings.TrimSpace(r.FeeID); id != "" {
		if feeID, err = strconv.ParseUint(id, 10, 64); err != nil || feeID == 0 {
			resp.TransactionDate = s.h.svc.Now()
			resp.ScreenMessage = s.screen(lang, "fee_unknown")
			return resp, nil
		}
	}
	// With BK the id names the payment for good; without, only a
	// retransmission of the kiosk's last frame is recognised.
	res, err := s.h.svc.PayFee(ctx, circ.PayRequest{Agent: s.agent(), Patron: r.PatronID, PIN: r.PatronPassword,
		RequirePIN: s.prof.RequirePIN, FeeID: feeID, Amount: amount, Currency: currency, PaymentType: r.PaymentType,
		TransactionID: r.TransactionID, Retry: s.retry(r.Header)})
	if s.unavailable(err) {
		resp.TransactionDate, resp.ScreenMessage = s.h.svc.Now(), s.screen(lang, "system_unavailable")
		return resp, nil
	}
	code, refused := circ.CodeOf(err)
	if !refused {
		return nil, err
	}
	resp.TransactionDate = res.At
	if code == circ.FeeNothingOwed && currency != s.h.svc.Rules().Currency {
		code = circ.CurrencyMismatch // nothing is owed in a currency the library does not use
	}
	if code != circ.OK {
		resp.ScreenMessage = s.screen(lang, refusalMessage(code, r.PatronPassword))
		return resp, nil
	}
	resp.PaymentAccepted = true
	paid, left := money(amount, res.Currency), money(res.Remaining, res.Currency)
	if res.Replayed {
		// The payment id was recorded before: the kiosk must not take the
		// money again, and the patron must not think it was.
		resp.ScreenMessage = s.screen(lang, "fee_already_recorded", "remaining", left)
		resp.PrintLine = s.print(lang, "fee_already_recorded", "remaining", left)
		return resp, nil
	}
	resp.ScreenMessage = s.screen(lang, "fee_paid", "amount", paid, "remaining", left)
	resp.PrintLine = s.print(lang, "payment_receipt", "amount", paid, "remaining", left)
	return resp, nil
}

// Hold answers 15: + places, - cancels, * changes a request. Without an
// item barcode, AJ may name the title by its record number.
func (s *Session) Hold(ctx context.Context, r *sip2.HoldRequest) (*sip2.HoldResponse, error) {
	resp := &sip2.HoldResponse{InstitutionID: s.inst(r.InstitutionID), PatronID: r.PatronID, ItemID: r.ItemID, TitleID: r.TitleID}
	lang := s.language("000", r.PatronID, "")
	if msg := s.gate("15", r.InstitutionID); msg != "" {
		resp.ScreenMessage = s.screen(lang, msg)
		return resp, nil
	}
	var bibID uint64
	if r.ItemID == "" {
		bibID, _ = strconv.ParseUint(strings.TrimSpace(r.TitleID), 10, 64)
		if bibID == 0 {
			resp.ScreenMessage = s.screen(lang, "item_required")
			return resp, nil
		}
	}
	var res circ.HoldResult
	var err error
	msg := ""
	switch r.Mode {
	case '+':
		res, err = s.h.svc.PlaceHold(ctx, circ.HoldRequest{Agent: s.agent(), Patron: r.PatronID, PIN: r.PatronPassword,
			RequirePIN: s.prof.RequirePIN, Item: r.ItemID, BibID: bibID,
			TitleLevel: r.ItemID == "" || r.HoldType == '2' || r.HoldType == '4',
			Pickup:     r.PickupLocation, Expires: r.ExpirationDate, Retry: s.retry(r.Header)})
		msg = "hold_placed"
		if res.Available {
			msg = "hold_available"
		}
	case '-':
		res, err = s.h.svc.CancelHold(ctx, circ.CancelHoldRequest{Agent: s.agent(), Patron: r.PatronID,
			PIN: r.PatronPassword, RequirePIN: s.prof.RequirePIN, Item: r.ItemID, BibID: bibID, Retry: s.retry(r.Header)})
		msg = "hold_cancelled"
	case '*':
		res, err = s.h.svc.ChangeHold(ctx, circ.ChangeHoldRequest{Agent: s.agent(), Patron: r.PatronID,
			PIN: r.PatronPassword, RequirePIN: s.prof.RequirePIN, Item: r.ItemID, BibID: bibID,
			Pickup: r.PickupLocation, Expires: r.ExpirationDate, Retry: s.retry(r.Header)})
		msg = "hold_changed"
	default:
		resp.TransactionDate = s.h.svc.Now()
		resp.ScreenMessage = s.screen(lang, "hold_mode_invalid")
		return resp, nil
	}
	if s.unavailable(err) {
		resp.TransactionDate, resp.ScreenMessage = s.h.svc.Now(), s.screen(lang, "system_unavailable")
		return resp, nil
	}
	code, refused := circ.CodeOf(err)
	if !refused {
		return nil, err
	}
	resp.TransactionDate = res.At
	if res.Title != "" {
		resp.TitleID = res.Title
	}
	if code != circ.OK {
		resp.ScreenMessage = s.screen(lang, refusalMessage(code, r.PatronPassword))
		return resp, nil
	}
	resp.OK, resp.Available = true, res.Available
	resp.ExpirationDate, resp.PickupLocation = res.Expires, res.Pickup
	if res.Position > 0 {
		resp.QueuePosition = &res.Position
	}
	resp.ScreenMessage = s.screen(lang, msg, "title", res.Title, "position", strconv.Itoa(res.Position), "pickup", res.Pickup)
	return resp, nil
}
