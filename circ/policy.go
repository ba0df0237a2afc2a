package circ

import (
	"time"

	"github.com/circa-ils/circa/store"
)

// The functions in this file are the circulation policy: pure, with the
// clock passed in, tested as tables without a database.

// FindLoanRule returns the most specific loan rule for a user group, item
// policy and library: an exact field beats a wildcard, library counts most,
// then item policy, then user group. The zero rule (not circulating) is
// returned when nothing matches.
func FindLoanRule(r *store.Rules, group, policy, library string) store.LoanRule {
	best, bestScore := store.LoanRule{}, -1
	for _, lr := range r.Loans {
		score := 0
		switch lr.Library {
		case library:
			score += 4
		case "":
		default:
			continue
		}
		switch lr.ItemPolicy {
		case policy:
			score += 2
		case "":
		default:
			continue
		}
		switch lr.UserGroup {
		case group:
			score++
		case "":
		default:
			continue
		}
		if score > bestScore {
			best, bestScore = lr, score
		}
	}
	return best
}

// LoanLimitOf returns the loan limit of a user group, 0 for no limit.
func LoanLimitOf(r *store.Rules, group string) int {
	for _, g := range r.Groups {
		if g.UserGroup == group {
			return g.LoanLimit
		}
	}
	return 0
}

// DueDate is when a loan made at now under rule falls due. Day loans end at
// the close of the last day in the library's zone (23:59:59), so a kiosk's
// receipt shows one date whatever the hour; hour loans end exactly.
func DueDate(rule store.LoanRule, now time.Time, zone *time.Location) time.Time {
	if rule.LoanHours > 0 {
		return now.Add(time.Duration(rule.LoanHours) * time.Hour).UTC().Truncate(time.Second)
	}
	days := rule.LoanDays
	if days <= 0 {
		days = 1
	}
	local := now.In(zone)
	y, m, d := local.Date()
	return time.Date(y, m, d+days, 23, 59, 59, 0, zone).UTC()
}

// OverdueFine is the fine for returning a loan at returned: the rule's rate
// for each started day past due, capped.
func OverdueFine(rule store.LoanRule, due, returned time.Time) int64 {
	if !returned.After(due) || rule.FinePerDay <= 0 {
		return 0
	}
	late := returned.Sub(due)
	days := int64(late / (24 * time.Hour))
	if late%(24*time.Hour) != 0 {
		days++
	}
	fine := days * rule.FinePerDay
	if rule.FineCap > 0 && fine > rule.FineCap {
		fine = rule.FineCap
	}
	return fine
}

// Standing is what the patron's record and account say about borrowing.
type Standing struct {
	ManualBlock bool
	Expired     bool
	Overdue     int
	Loans       int
	Balance     int64 // outstanding fees less credits in minor units, never below 0
	Credit      int64 // credits not yet set against fees
	Recalled    int
}

// StandingOf computes a patron's standing at now.
func StandingOf(p *store.Patron, loans []store.Loan, fees []store.Fee, now time.Time) Standing {
	s := Standing{ManualBlock: len(p.Blocks) > 0, Loans: len(loans)}
	s.Expired = !p.Expiry.IsZero() && now.After(p.Expiry)
	for i := range loans {
		if now.After(loans[i].Due) {
			s.Overdue++
		}
		if loans[i].Recalled {
			s.Recalled++
		}
	}
	for i := range fees {
		switch {
		case fees[i].Outstanding():
			s.Balance += fees[i].Balance
		case fees[i].Status == store.FeeCredit:
			s.Credit += fees[i].Balance
		}
	}
	// A credit pays what is owed first; what is left stays a credit.
	used := min(s.Balance, s.Credit)
	s.Balance, s.Credit = s.Balance-used, s.Credit-used
	return s
}

// BorrowRefusal says whether the patron may borrow at all, and why not.
func BorrowRefusal(r *store.Rules, s Standing) Code {
	switch {
	case s.ManualBlock:
		return PatronBlocked
	case s.Expired && r.BlockExpired:
		return PatronExpired
	case r.MaxOverdue > 0 && s.Overdue >= r.MaxOverdue:
		return PatronBlocked
	case r.MaxBalance > 0 && s.Balance > r.MaxBalance:
		return PatronBlocked
	}
	return OK
}

// RefusalOf is BorrowRefusal as a refusal carrying the figures behind it,
// or nil when the patron may borrow.
func RefusalOf(r *store.Rules, p *store.Patron, s Standing) *Error {
	code := BorrowRefusal(r, s)
	if code == OK {
		return nil
	}
	e := &Error{Code: code}
	switch {
	case s.ManualBlock:
		for _, b := range p.Blocks {
			if b.Note != "" {
				e.Facts.BlockNote = b.Note
				break
			}
		}
	case code == PatronExpired:
		e.Facts.Expiry = p.Expiry
	case r.MaxOverdue > 0 && s.Overdue >= r.MaxOverdue:
		e.Facts.Overdue, e.Facts.OverdueLimit = s.Overdue, r.MaxOverdue
	default:
		e.Facts.Balance, e.Facts.BalanceLimit, e.Facts.Currency = s.Balance, r.MaxBalance, r.Currency
	}
	return e
}

// PatronFlags are the 14 SIP2 patron-status flags, in wire order.
type PatronFlags [14]bool

// Flag positions of PatronFlags.
const (
	FlagChargeDenied = iota
	FlagRenewalDenied
	FlagRecallDenied
	FlagHoldDenied
	FlagCardLost
	FlagTooManyCharged
	FlagTooManyOverdue
	FlagTooManyRenewals
	FlagTooManyClaimsReturned
	FlagTooManyLost
	FlagExcessiveFines
	FlagExcessiveFees
	FlagRecallOverdue
	FlagTooManyBilled
)

// FlagsOf derives the SIP2 patron-status flags from the standing.
func FlagsOf(r *store.Rules, p *store.Patron, s Standing) PatronFlags {
	var f PatronFlags
	refusal := BorrowRefusal(r, s)
	denied := refusal != OK
	f[FlagChargeDenied] = denied
	f[FlagRenewalDenied] = denied
	f[FlagRecallDenied] = denied
	f[FlagHoldDenied] = s.ManualBlock || (s.Expired && r.BlockExpired)
	for _, b := range p.Blocks {
		if b.Type == "card_lost" {
			f[FlagCardLost] = true
		}
	}
	if limit := LoanLimitOf(r, p.UserGroup); limit > 0 && s.Loans >= limit {
		f[FlagTooManyCharged] = true
	}
	f[FlagTooManyOverdue] = r.MaxOverdue > 0 && s.Overdue >= r.MaxOverdue
	excessive := r.MaxBalance > 0 && s.Balance > r.MaxBalance
	f[FlagExcessiveFines] = excessive
	f[FlagExcessiveFees] = excessive
	f[FlagRecallOverdue] = s.Recalled > 0 && s.Overdue > 0
	return f
}

// SIP2 circulation statuses (field of message 18).
const (
	CircOther           = "01"
	CircOnOrder         = "02"
	CircAvailable       = "03"
	CircCharged         = "04"
	CircInProcess       = "06"
	CircRecalled        = "07"
	CircOnHoldShelf     = "08"
	CircReshelving      = "09"
	CircInTransit       = "10"
	CircClaimedReturned = "11"
	CircLost            = "12"
	CircMissing         = "13"
)

// CirculationStatus maps an item's state to the SIP2 circulation status.
func CirculationStatus(it *store.Item, recalled bool) string {
	switch it.Status {
	case store.ItemAvailable:
		return CircAvailable
	case store.ItemOnLoan:
		if recalled {
			return CircRecalled
		}
		return CircCharged
	case store.ItemOnHoldShelf:
		return CircOnHoldShelf
	case store.ItemInTransit:
		return CircInTransit
	case store.ItemReshelving:
		return CircReshelving
	case store.ItemInProcess:
		return CircInProcess
	case store.ItemOnOrder:
		return CircOnOrder
	case store.ItemClaimedReturned:
		return CircClaimedReturned
	case store.ItemLost:
		return CircLost
	case store.ItemMissing:
		return CircMissing
	}
	return CircOther
}

// firstWaiting returns the request next in line for item among the open
// requests of its bib: the oldest waiting request that is either for this
// item or title-level, skipping ones past their expiry.
func firstWaiting(reqs []store.Request, itemID uint64, now time.Time) (store.Request, bool) {
	for _, r := range reqs {
		if r.Kind == store.RequestRetrieval || r.Status != store.RequestWaiting {
			continue
		}
		if !r.Expires.IsZero() && now.After(r.Expires) {
			continue
		}
		if r.TitleLevel || r.ItemID == itemID {
			return r, true
		}
	}
	return store.Request{}, false
}

// heldForOther reports whether an item is reserved for someone other than
// patronID: trapped on the hold shelf (or on its way) for another patron's
// request, or named by another patron's waiting item-level request.
func heldForOther(it *store.Item, reqs []store.Request, patronID uint64, now time.Time) bool {
	for _, r := range reqs {
		if r.Kind == store.RequestRetrieval || r.PatronID == patronID {
			continue
		}
		if !r.Expires.IsZero() && now.After(r.Expires) && r.Status == store.RequestWaiting {
			continue
		}
		if it.HeldFor == r.ID {
			return true
		}
		if r.Status == store.RequestWaiting && !r.TitleLevel && r.ItemID == it.ID {
			return true
		}
		if r.Status == store.RequestInTransit && r.ItemID == it.ID {
			return true
		}
	}
	return false
}

// othersWaiting reports whether another patron waits for this item or its
// title, which blocks a renewal. The borrower's own holds never count, nor
// a hold past its expiry date, which a checkin no longer serves either
// (firstWaiting).
func othersWaiting(reqs []store.Request, itemID, patronID uint64, now time.Time) bool {
	for _, r := range reqs {
		if r.Kind == store.RequestRetrieval || r.PatronID == patronID || r.Status != store.RequestWaiting {
			continue
		}
		if !r.Expires.IsZero() && now.After(r.Expires) {
			continue
		}
		if r.TitleLevel || r.ItemID == itemID {
			return true
		}
	}
	return false
}

// queuePosition is the 1-based place of request id among the holds on its bib.
func queuePosition(reqs []store.Request, id uint64) int {
	pos := 0
	for _, r := range reqs {
		if r.Kind == store.RequestRetrieval {
			continue
		}
		pos++
		if r.ID == id {
			return pos
		}
	}
	return 0
}
