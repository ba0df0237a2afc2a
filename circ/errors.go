package circ

import (
	"errors"
	"time"
)

// Code says why circulation refused an operation. Protocol adapters map
// every Code to their own form (a SIP2 screen message, an NCIP Problem).
type Code uint8

// Refusal codes.
const (
	OK Code = iota
	PatronUnknown
	PatronAuthFailed
	PatronBlocked
	PatronExpired
	LoanLimit
	ItemUnknown
	ItemNotCirculating
	ItemOnLoanToOther
	ItemOnHoldForOther
	ItemNotOnLoan
	ItemUnavailable // lost, missing or otherwise not on the shelf
	ItemHasLoan     // cannot be deleted while on loan
	FeeAckRequired
	RenewalLimit
	RenewalOnHold // others are waiting for the item
	AlreadyOnLoan // checkout refused for the patron's own item (rule option)
	HoldExists
	HoldNotFound
	HoldNotAllowed
	FeeUnknown
	FeeOverpaid
	FeeNothingOwed
	CurrencyMismatch
	InvalidRequest
	DuplicateRequest
	LocationUnknown
	// PatronPINLocked refuses a PIN unchecked after too many wrong ones.
	PatronPINLocked
	// Busy refuses a PIN check the server had no room to run now.
	Busy
	// AuthUnavailable refuses a password the directory could not
	// check now (down, slow or misconfigured): not a wrong guess.
	AuthUnavailable
)

var codeNames = [...]string{
	OK:                 "ok",
	PatronUnknown:      "patron unknown",
	PatronAuthFailed:   "patron PIN or password wrong",
	PatronBlocked:      "patron blocked",
	PatronExpired:      "patron card expired",
	LoanLimit:          "loan limit reached",
	ItemUnknown:        "item unknown",
	ItemNotCirculating: "item does not circulate",
	ItemOnLoanToOther:  "item on loan to another patron",
	ItemOnHoldForOther: "item on hold for another patron",
	ItemNotOnLoan:      "item not on loan",
	ItemUnavailable:    "item not available",
	ItemHasLoan:        "item is on loan",
	FeeAckRequired:     "fee acknowledgement required",
	RenewalLimit:       "renewal limit reached",
	RenewalOnHold:      "item requested by another patron",
	AlreadyOnLoan:      "item already on loan to this patron",
	HoldExists:         "patron already has a request for this",
	HoldNotFound:       "request not found",
	HoldNotAllowed:     "request not allowed",
	FeeUnknown:         "fee unknown",
	FeeOverpaid:        "payment exceeds amount owed",
	FeeNothingOwed:     "nothing owed",
	CurrencyMismatch:   "currency does not match",
	InvalidRequest:     "invalid request",
	DuplicateRequest:   "duplicate request",
	LocationUnknown:    "location unknown",
	PatronPINLocked:    "patron PIN locked after too many wrong tries",
	Busy:               "server busy, try again",
	AuthUnavailable:    "the directory cannot verify passwords now",
}

// Codes lists every refusal code, for tables that must cover them all.
func Codes() []Code {
	out := make([]Code, 0, len(codeNames)-1)
	for c := PatronUnknown; int(c) < len(codeNames); c++ {
		out = append(out, c)
	}
	return out
}

func (c Code) String() string {
	if int(c) < len(codeNames) && codeNames[c] != "" {
		return codeNames[c]
	}
	return "unknown code"
}

// Error is a refusal. Detail is safe to show staff and to log: it never
// holds a PIN or personal data. Facts are what the refusal can say beyond
// its code, for each protocol to render its own way; they stay out of
// Error() because a staff block note may be private.
type Error struct {
	Code   Code
	Detail string
	Facts  Facts
}

// Facts are the figures behind a refusal. Zero fields are not relevant to it.
type Facts struct {
	// BlockNote is what staff wrote on the patron's block: it may be meant
	// for staff only.
	BlockNote string
	// Balance owed against BalanceLimit, in minor units of Currency.
	Balance, BalanceLimit int64
	Currency              string
	// Loans against LoanLimit, overdue loans against OverdueLimit.
	Loans, LoanLimit      int
	Overdue, OverdueLimit int
	Expiry                time.Time
	// Due is the date an item the patron already has is due back.
	Due time.Time
}

func (e *Error) Error() string {
	if e.Detail == "" {
		return "circ: " + e.Code.String()
	}
	return "circ: " + e.Code.String() + ": " + e.Detail
}

// Is matches any *Error with the same code, so errors.Is(err, circ.ErrItemUnknown) works.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Sentinels for errors.Is.
var (
	ErrPatronUnknown    = &Error{Code: PatronUnknown}
	ErrPatronAuthFailed = &Error{Code: PatronAuthFailed}
	ErrPatronPINLocked  = &Error{Code: PatronPINLocked}
	ErrPatronBlocked    = &Error{Code: PatronBlocked}
	ErrItemUnknown      = &Error{Code: ItemUnknown}
	ErrItemNotOnLoan    = &Error{Code: ItemNotOnLoan}
)

// CodeOf returns the refusal code of err, OK for nil, and false when err is
// not a refusal.
func CodeOf(err error) (Code, bool) {
	if err == nil {
		return OK, true
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code, true
	}
	return OK, false
}

func refuse(c Code, detail string) *Error { return &Error{Code: c, Detail: detail} }
