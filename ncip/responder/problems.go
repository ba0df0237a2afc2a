package responder

import (
	"errors"
	"strings"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/ncip"
)

// problemTypes maps every circ refusal to its NCIP Problem type: the exact
// NCIP v1 scheme value partners compare against. A test checks every
// circ.Code has an entry.
var problemTypes = map[circ.Code]string{
	circ.PatronUnknown:      ncip.UnknownUser,
	circ.PatronAuthFailed:   ncip.UserAuthenticationFailed,
	circ.PatronBlocked:      ncip.UserBlocked,
	circ.PatronExpired:      ncip.UserBlocked,
	circ.LoanLimit:          ncip.MaximumCheckOutsExceeded,
	circ.ItemUnknown:        ncip.UnknownItem,
	circ.ItemNotCirculating: ncip.ItemDoesNotCirculate,
	circ.ItemOnLoanToOther:  ncip.ResourceCannotBeProvided,
	circ.ItemOnHoldForOther: ncip.ResourceCannotBeProvided,
	circ.ItemNotOnLoan:      ncip.ItemNotCheckedOut,
	circ.ItemUnavailable:    ncip.ResourceCannotBeProvided,
	circ.ItemHasLoan:        ncip.ElementRuleViolated,
	circ.FeeAckRequired:     ncip.UserIneligibleToCheckOutThisItem,
	circ.RenewalLimit:       ncip.MaximumRenewalsExceeded,
	circ.RenewalOnHold:      ncip.RenewalNotAllowedOutstandingReqs,
	circ.AlreadyOnLoan:      ncip.ResourceCannotBeProvided,
	circ.HoldExists:         ncip.DuplicateRequest,
	circ.HoldNotFound:       ncip.UnknownRequest,
	circ.HoldNotAllowed:     ncip.UserIneligibleToRequestThisItem,
	circ.FeeUnknown:         ncip.ElementRuleViolated,
	circ.FeeOverpaid:        ncip.InvalidAmount,
	circ.FeeNothingOwed:     ncip.InvalidAmount,
	circ.CurrencyMismatch:   ncip.InvalidAmount,
	circ.InvalidRequest:     ncip.ElementRuleViolated,
	circ.DuplicateRequest:   ncip.DuplicateRequest,
	circ.LocationUnknown:    ncip.ElementRuleViolated,
	circ.PatronPINLocked:    ncip.UserAuthenticationFailed,
	circ.Busy:               ncip.TemporaryProcessingFailure,
	circ.AuthUnavailable:    ncip.TemporaryProcessingFailure,
}

// serviceProblemTypes are the services whose own scheme names a refusal
// more precisely than problemTypes does.
var serviceProblemTypes = map[string]map[circ.Code]string{
	"AcceptItem":   {circ.DuplicateRequest: ncip.CannotAcceptItem, circ.LocationUnknown: ncip.CannotAcceptItem},
	"RenewItem":    {circ.ItemNotCirculating: ncip.ItemNotRenewable, circ.PatronExpired: ncip.UserIneligibleToRenewThisItem},
	"RequestItem":  {circ.ItemUnavailable: ncip.ItemDoesNotCirculate, circ.AlreadyOnLoan: ncip.DuplicateRequest},
	"CheckOutItem": {circ.PatronExpired: ncip.UserIneligibleToCheckOutThisItem},
}

// problemElements names the element a refusal is about.
var problemElements = map[circ.Code]string{
	circ.PatronUnknown:    "UserId",
	circ.PatronAuthFailed: "AuthenticationInput",
	circ.PatronPINLocked:  "AuthenticationInput",
	circ.AuthUnavailable:  "AuthenticationInput",
	circ.PatronBlocked:    "UserId",
	circ.PatronExpired:    "UserId",
	circ.ItemUnknown:      "ItemId",
	circ.HoldNotFound:     "RequestId",
	circ.LocationUnknown:  "PickupLocation",
	circ.FeeOverpaid:      "Amount",
	circ.FeeNothingOwed:   "Amount",
	circ.CurrencyMismatch: "CurrencyCode",
}

// ids are the identifiers a request named, for ProblemValue.
type ids struct{ user, item, request string }

// problemOf turns a circ refusal into the Problem of a service, naming the
// element at fault and its value (a user, item or request id, never a
// secret). Any other error is returned as it is, for the handler to log
// and answer with Temporary Processing Failure.
func problemOf(service string, err error, v ids) error {
	var ce *circ.Error
	if !errors.As(err, &ce) {
		return err
	}
	typ, ok := serviceProblemTypes[service][ce.Code]
	if !ok {
		typ = problemTypes[ce.Code]
	}
	if service == "CancelRequestItem" && ce.Code == circ.HoldNotFound && strings.Contains(ce.Detail, "already") {
		typ = ncip.RequestAlreadyProcessed
	}
	if typ == "" {
		typ = ncip.TemporaryProcessingFailure
	}
	detail := ce.Code.String()
	if ce.Detail != "" {
		detail += ": " + ce.Detail
	}
	p := ncip.NewProblem(service, typ, detail)
	if el := problemElements[ce.Code]; el != "" {
		p.Element = el
		switch el {
		case "UserId":
			p.Value = v.user
		case "ItemId":
			p.Value = v.item
		case "RequestId":
			p.Value = v.request
		}
	}
	return p
}

func missing(service, element string) error {
	return ncip.NewProblem(service, ncip.NeededDataMissing, element+" is required").At(element, "")
}
