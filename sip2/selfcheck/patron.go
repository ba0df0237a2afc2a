package selfcheck

import (
	"context"
	"fmt"
	"strings"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/sip2"
	"github.com/circa-ils/circa/store"
)

// deniedStatus is the patron status of an unknown patron, or of one whose
// PIN failed: no privileges, and nothing else revealed.
var deniedStatus = sip2.PatronStatus{sip2.ChargePrivilegesDenied: true, sip2.RenewalPrivilegesDenied: true,
	sip2.RecallPrivilegesDenied: true, sip2.HoldPrivilegesDenied: true}

// patron is a summary with the verdict on the PIN.
type patron struct {
	sum  circ.PatronSummary
	lang string // ISO 639-2 language of the texts
	code string // SIP2 language code for the response
	cq   sip2.Flag
	ok   bool   // known, and the PIN is right or not needed
	msg  string // why not ok
}

// lookup reads a patron's summary, brief (standing and flags only) for the
// status messages or with the lists for 63, and judges the PIN: checked
// when given, required when the profile says so. The patron is returned by
// value: it is large and lives only for one message.
func (s *Session) lookup(ctx context.Context, sipLang, id, pin string, brief bool) (patron, error) {
	sum, err := s.h.svc.PatronStatus(ctx, circ.PatronQuery{Patron: id, PIN: pin, Brief: brief})
	if err != nil {
		return patron{}, err
	}
	p := patron{sum: sum, lang: s.language(sipLang, id, sum.Patron.Language)}
	p.code = sipLang
	if ISOLanguage(sipLang) == "" {
		p.code = SIPLanguage(p.lang)
	}
	switch {
	case !sum.Valid:
		p.cq, p.msg = sip2.No, "patron_unknown"
	case sum.PINGiven && !sum.PINOK:
		// Wrong, locked after too many wrong ones, or not checked (busy).
		p.cq, p.msg = sip2.No, MessageForCode(sum.PINRefusal)
	case sum.PINGiven:
		p.cq, p.ok = sip2.Yes, true
	case s.prof.RequirePIN:
		p.cq, p.msg = sip2.No, "pin_required"
	default:
		p.ok = true
	}
	return p, nil
}

func (p *patron) validFlag() sip2.Flag { return sip2.FlagOf(p.sum.Valid) }

// statusMessages explains the patron's standing.
func (s *Session) statusMessages(p *patron) []string {
	if !p.ok {
		return s.screen(p.lang, p.msg)
	}
	var af []string
	if p.sum.Refusal != circ.OK {
		af = s.screen(p.lang, MessageForCode(p.sum.Refusal))
	} else {
		af = s.screen(p.lang, "patron_ok")
	}
	if p.sum.Standing.Balance > 0 {
		af = append(af, s.screen(p.lang, "fees_owed", "amount", money(p.sum.Standing.Balance, p.sum.Currency))...)
	}
	return af
}

// statusResponse is the 24 for a patron.
func (s *Session) statusResponse(p *patron, institution, id string) *sip2.PatronStatusResponse {
	resp := &sip2.PatronStatusResponse{Language: p.code, TransactionDate: s.h.svc.Now(), InstitutionID: s.inst(institution),
		PatronID: id, ValidPatron: p.validFlag(), ValidPatronPassword: p.cq, ScreenMessage: s.statusMessages(p)}
	if !p.ok {
		resp.Status = deniedStatus
		return resp
	}
	resp.Status = sip2.PatronStatus(p.sum.Flags)
	resp.PersonalName = p.sum.Patron.FullName()
	resp.Currency = p.sum.Currency
	resp.FeeAmount = circ.FormatAmount(p.sum.Standing.Balance, p.sum.Currency)
	return resp
}

// PatronStatus answers 23.
func (s *Session) PatronStatus(ctx context.Context, r *sip2.PatronStatusRequest) (*sip2.PatronStatusResponse, error) {
	if msg := s.gate("23", r.InstitutionID); msg != "" {
		return &sip2.PatronStatusResponse{Status: deniedStatus, Language: r.Language, InstitutionID: s.inst(r.InstitutionID),
			PatronID: r.PatronID, ValidPatron: sip2.No, ScreenMessage: s.screen(s.language(r.Language, "", ""), msg)}, nil
	}
	p, err := s.lookup(ctx, r.Language, r.PatronID, r.PatronPassword, true)
	if err != nil {
		return nil, err
	}
	s.rememberLanguage(r.PatronID, p.lang)
	return s.statusResponse(&p, r.InstitutionID, r.PatronID), nil
}

// PatronInformation answers 63 with every count and the one list the
// summary field asks for, cut to the BP–BQ range. Hold items (AS) are the
// requests waiting on the hold shelf for the patron, unavailable holds (CD)
// the others; fine items (AV) start with the fee identifier that 37 takes
// in CG.
func (s *Session) PatronInformation(ctx context.Context, r *sip2.PatronInfoRequest) (*sip2.PatronInfoResponse, error) {
	resp := &sip2.PatronInfoResponse{Language: r.Language, InstitutionID: s.inst(r.InstitutionID), PatronID: r.PatronID}
	if msg := s.gate("63", r.InstitutionID); msg != "" {
		resp.Status, resp.ValidPatron = deniedStatus, sip2.No
		resp.ScreenMessage = s.screen(s.language(r.Language, "", ""), msg)
		return resp, nil
	}
	p, err := s.lookup(ctx, r.Language, r.PatronID, r.PatronPassword, false)
	if err != nil {
		return nil, err
	}
	s.rememberLanguage(r.PatronID, p.lang)
	resp.Language, resp.TransactionDate = p.code, s.h.svc.Now()
	resp.ValidPatron, resp.ValidPatronPassword = p.validFlag(), p.cq
	resp.ScreenMessage = s.statusMessages(&p)
	if !p.ok {
		resp.Status = deniedStatus
		return resp, nil
	}
	sum := &p.sum
	resp.Status = sip2.PatronStatus(sum.Flags)
	resp.PersonalName = sum.Patron.FullName()
	resp.HoldItemsCount = len(sum.Available)
	resp.OverdueItemsCount = len(sum.Overdue)
	resp.ChargedItemsCount = len(sum.Loans)
	resp.FineItemsCount = len(sum.Fees)
	resp.RecallItemsCount = len(sum.Recalled)
	resp.UnavailableHoldsCount = len(sum.Unavailable)
	rules := s.h.svc.Rules()
	if sum.LoanLimit > 0 {
		limit := sum.LoanLimit // a copy: a pointer into p would move all of p to the heap
		resp.ChargedItemsLimit = &limit
	}
	if rules.MaxOverdue > 0 {
		resp.OverdueItemsLimit = &rules.MaxOverdue
	}
	if rules.MaxBalance > 0 {
		resp.FeeLimit = circ.FormatAmount(rules.MaxBalance, sum.Currency)
	}
	resp.Currency = sum.Currency
	resp.FeeAmount = circ.FormatAmount(sum.Standing.Balance, sum.Currency)
	if c, ok := sum.Patron.ContactOf("address"); ok {
		resp.HomeAddress = address(c)
	}
	if c, ok := sum.Patron.ContactOf("email"); ok {
		resp.Email = c.Value
	}
	if c, ok := sum.Patron.ContactOf("phone"); ok {
		resp.HomePhone = c.Value
	}
	switch r.Summary {
	case sip2.SummaryHoldItems:
		resp.HoldItems = span(requestList(sum.Available), r.StartItem, r.EndItem)
	case sip2.SummaryOverdueItems:
		resp.OverdueItems = span(loanList(sum.Overdue), r.StartItem, r.EndItem)
	case sip2.SummaryChargedItems:
		resp.ChargedItems = span(loanList(sum.Loans), r.StartItem, r.EndItem)
	case sip2.SummaryFineItems:
		resp.FineItems = span(feeList(sum.Fees), r.StartItem, r.EndItem)
	case sip2.SummaryRecallItems:
		resp.RecallItems = span(loanList(sum.Recalled), r.StartItem, r.EndItem)
	case sip2.SummaryUnavailableHolds:
		resp.UnavailableHoldItems = span(requestList(sum.Unavailable), r.StartItem, r.EndItem)
	}
	return resp, nil
}

func loanList(ls []circ.LoanBrief) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.Item.Barcode
	}
	return out
}

// requestList names each request by its item, or its title when no item
// is chosen yet.
func requestList(rs []circ.RequestBrief) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Item
		if out[i] == "" {
			out[i] = r.Title
		}
	}
	return out
}

// feeList names each fee by the identifier 37 accepts in CG, with its
// balance and what it is for.
func feeList(fs []store.Fee) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		what := f.Description
		if what == "" {
			what = "fee type " + f.Type
		}
		out[i] = fmt.Sprintf("%d %s %s", f.ID, money(f.Balance, f.Currency), what)
	}
	return out
}

// span cuts a list to the 1-based range start–end; zero values mean the
// start and the end of the list.
func span(list []string, start, end int) []string {
	if start <= 0 {
		start = 1
	}
	if end <= 0 || end > len(list) {
		end = len(list)
	}
	if start > end {
		return nil
	}
	return list[start-1 : end]
}

func address(c store.Contact) string {
	var parts []string
	for _, v := range []string{c.Line1, c.Line2, c.City, strings.TrimSpace(c.Region + " " + c.Postal), c.Country} {
		if v != "" {
			parts = append(parts, v)
		}
	}
	return strings.Join(parts, ", ")
}

// kioskBlock is the block type kiosks place (01) and lift (25); blocks
// placed by staff are never lifted from a kiosk.
const kioskBlock = "sip2"

// BlockPatron answers 01 with a 24 after blocking the patron.
func (s *Session) BlockPatron(ctx context.Context, r *sip2.BlockPatronRequest) (*sip2.PatronStatusResponse, error) {
	if msg := s.gate("01", r.InstitutionID); msg != "" {
		return &sip2.PatronStatusResponse{Status: deniedStatus, InstitutionID: s.inst(r.InstitutionID), PatronID: r.PatronID,
			ValidPatron: sip2.No, ScreenMessage: s.screen(DefaultLanguage, msg)}, nil
	}
	_, err := s.h.svc.Block(ctx, circ.BlockRequest{Agent: s.agent(), Patron: r.PatronID, Type: kioskBlock,
		Note: r.BlockedCardMsg, CardRetained: r.CardRetained, Retry: s.retry(r.Header)})
	down := s.unavailable(err)
	code, refused := circ.CodeOf(err)
	if !refused && !down {
		return nil, err
	}
	p, err := s.lookup(ctx, "000", r.PatronID, "", true)
	if err != nil {
		return nil, err
	}
	p.ok, p.cq = p.sum.Valid, sip2.Unset // the kiosk sent no PIN; the block stands regardless
	resp := s.statusResponse(&p, r.InstitutionID, r.PatronID)
	switch {
	case down:
		resp.ScreenMessage = s.screen(p.lang, "system_unavailable")
	case code != circ.OK:
		resp.ScreenMessage = s.screen(p.lang, MessageForCode(code))
	case r.CardRetained:
		resp.ScreenMessage = s.screen(p.lang, "patron_card_retained")
	default:
		resp.ScreenMessage = s.screen(p.lang, "patron_blocked_now")
	}
	return resp, nil
}

// PatronEnable answers 25: it lifts the blocks kiosks placed.
func (s *Session) PatronEnable(ctx context.Context, r *sip2.PatronEnableRequest) (*sip2.PatronEnableResponse, error) {
	resp := &sip2.PatronEnableResponse{InstitutionID: s.inst(r.InstitutionID), PatronID: r.PatronID}
	if msg := s.gate("25", r.InstitutionID); msg != "" {
		resp.Status, resp.ValidPatron, resp.ScreenMessage = deniedStatus, sip2.No, s.screen(DefaultLanguage, msg)
		return resp, nil
	}
	p, err := s.lookup(ctx, "000", r.PatronID, r.PatronPassword, true)
	if err != nil {
		return nil, err
	}
	msg := ""
	if p.ok {
		_, err := s.h.svc.Unblock(ctx, circ.BlockRequest{Agent: s.agent(), Patron: r.PatronID, Type: kioskBlock, Retry: s.retry(r.Header)})
		code, refused := circ.CodeOf(err)
		switch {
		case s.unavailable(err):
			msg = "system_unavailable"
		case !refused:
			return nil, err
		case code == circ.InvalidRequest:
			msg = "nothing_to_enable"
		case code != circ.OK:
			msg = MessageForCode(code)
		default:
			msg = "patron_enabled"
		}
		if p, err = s.lookup(ctx, "000", r.PatronID, r.PatronPassword, true); err != nil {
			return nil, err
		}
	}
	st := s.statusResponse(&p, r.InstitutionID, r.PatronID)
	if msg != "" {
		st.ScreenMessage = s.screen(p.lang, msg)
	}
	return &sip2.PatronEnableResponse{Status: st.Status, Language: st.Language, TransactionDate: st.TransactionDate,
		InstitutionID: st.InstitutionID, PatronID: st.PatronID, PersonalName: st.PersonalName,
		ValidPatron: st.ValidPatron, ValidPatronPassword: st.ValidPatronPassword, ScreenMessage: st.ScreenMessage}, nil
}

// EndPatronSession answers 35.
func (s *Session) EndPatronSession(ctx context.Context, r *sip2.EndSessionRequest) (*sip2.EndSessionResponse, error) {
	resp := &sip2.EndSessionResponse{InstitutionID: s.inst(r.InstitutionID), PatronID: r.PatronID, TransactionDate: s.h.svc.Now()}
	if msg := s.gate("35", r.InstitutionID); msg != "" {
		resp.ScreenMessage = s.screen(DefaultLanguage, msg)
		return resp, nil
	}
	lang := s.language("000", r.PatronID, "")
	delete(s.langs, r.PatronID)
	resp.EndSession = true
	resp.ScreenMessage = s.screen(lang, "end_session")
	return resp, nil
}
