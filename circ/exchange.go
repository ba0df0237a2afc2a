package circ

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/circa-ils/circa/store"
)

// ---- bursar export ----

// ExportFeesRequest selects the open fees a bursar export takes.
type ExportFeesRequest struct {
	Agent Agent
	// FeeTypes and Libraries limit the fees (empty: all).
	FeeTypes  []string
	Libraries []string
	// MinAmount is the smallest balance taken, in minor units.
	MinAmount int64
	// IdentifierType is the patron identifier the bursar knows users by;
	// fees of patrons without one stay open.
	IdentifierType string
	// Limit bounds the fees taken (0: no bound).
	Limit int
	// TxnPrefix starts the id each export records on its fee (the profile
	// code): TxnPrefix-FEEID, unique and stable, kept in the fee transaction
	// index. The file itself names the fee by its number, as Alma does.
	TxnPrefix string
}

// ExportedFee is one fee an export took, with what the file shows of it.
type ExportedFee struct {
	Fee           store.Fee
	TransactionID string // the export's id in the store: TxnPrefix-FEEID
	MatchID       string // the patron's identifier of the requested type
	PatronName    string // "Last, First"
	PatronID      uint64
	Item          store.Item // zero when the fee has no item
	Title         string
	Due           time.Time // the loan's due date, when known
	// LastActivity is the fee's own last transaction (or its creation)
	// before the export: what the bursar is told the fee last changed.
	LastActivity time.Time
}

// ExportFees marks matching open fees exported to the bursar, each with an
// export transaction carrying its bursar transaction id, and calls record
// with them inside the same store transaction, so the caller's outbox entry
// commits with the marks or not at all. record must keep to the
// transaction: it may run more than once. No matching fee is not an error:
// record is not called and the result is empty.
func (s *Service) ExportFees(ctx context.Context, req ExportFeesRequest, record func(tx store.Tx, fees []ExportedFee) error) ([]ExportedFee, error) {
	if req.IdentifierType == "" || req.TxnPrefix == "" {
		return nil, refuse(InvalidRequest, "identifier type and transaction prefix are required")
	}
	now := s.Now()
	matches := func(f *store.Fee) bool {
		return f.Status == store.FeeOpen && f.Balance > 0 && f.Balance >= req.MinAmount &&
			(len(req.FeeTypes) == 0 || slices.Contains(req.FeeTypes, f.Type)) &&
			(len(req.Libraries) == 0 || slices.Contains(req.Libraries, f.Library))
	}
	// Candidates are found in a read transaction, so the write transaction
	// that marks them touches a bounded number of fees and holds the commit
	// only briefly; it checks each candidate again.
	var candidates []uint64
	err := s.view(ctx, func(tx store.Tx) error {
		candidates = candidates[:0]
		seen := map[uint64]bool{}
		ok := map[uint64]bool{}
		var ferr error
		err := tx.ForEachFee(func(f store.Fee) bool {
			if !matches(&f) {
				return true
			}
			if !seen[f.PatronID] {
				seen[f.PatronID] = true
				p, err := tx.Patron(f.PatronID)
				if err != nil && !errors.Is(err, store.ErrNotFound) {
					ferr = err
					return false
				}
				ok[f.PatronID] = err == nil && identifierOf(&p, req.IdentifierType) != ""
			}
			if ok[f.PatronID] {
				candidates = append(candidates, f.ID)
			}
			return req.Limit <= 0 || len(candidates) < req.Limit
		})
		if err == nil {
			err = ferr
		}
		return err
	})
	if err != nil || len(candidates) == 0 {
		return nil, err
	}
	var out []ExportedFee
	err = s.commit(ctx, func(tx store.Tx) error {
		out = out[:0]
		var picked []store.Fee
		for _, id := range candidates {
			f, err := tx.Fee(id)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if matches(&f) {
				picked = append(picked, f)
			}
		}
		patrons := map[uint64]*store.Patron{}
		for _, f := range picked {
			if req.Limit > 0 && len(out) >= req.Limit {
				break
			}
			p, ok := patrons[f.PatronID]
			if !ok {
				pp, err := tx.Patron(f.PatronID)
				if err != nil && !errors.Is(err, store.ErrNotFound) {
					return err
				}
				if err == nil {
					p = &pp
				}
				patrons[f.PatronID] = p
			}
			if p == nil {
				continue
			}
			match := identifierOf(p, req.IdentifierType)
			if match == "" {
				continue
			}
			e := ExportedFee{TransactionID: fmt.Sprintf("%s-%d", req.TxnPrefix, f.ID), MatchID: match,
				PatronName: sortName(p), PatronID: p.ID}
			if f.ItemID != 0 {
				if it, err := tx.Item(f.ItemID); err == nil {
					e.Item = it
					if b, err := tx.Bib(it.BibID); err == nil {
						e.Title = b.Title
					}
				}
			}
			if f.LoanID != 0 {
				if l, err := tx.Loan(f.LoanID); err == nil {
					e.Due = l.Due
				}
			}
			e.LastActivity = f.Created
			if n := len(f.Transactions); n > 0 {
				e.LastActivity = f.Transactions[n-1].At
			}
			f.Status = store.FeeExported
			f.Transactions = append(f.Transactions, store.FeeTxn{Kind: store.TxnExport, Amount: f.Balance, At: now,
				ExternalID: e.TransactionID, Agent: req.Agent.String()})
			if err := tx.PutFee(&f); err != nil {
				return err
			}
			e.Fee = f
			out = append(out, e)
		}
		if len(out) == 0 {
			return nil
		}
		refs := make([]store.Ref, 0, len(out))
		for _, e := range out {
			refs = append(refs, ref("fee", e.Fee.ID))
		}
		if err := emit(tx, now, "fee.export", req.Agent, refs...); err != nil {
			return err
		}
		return record(tx, out)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// identifierOf returns a patron's identifier of a type; barcode is the
// primary id.
func identifierOf(p *store.Patron, typ string) string {
	if typ == store.IdentBarcode {
		return p.Barcode
	}
	for _, id := range p.Identifiers {
		if id.Type == typ {
			return id.Value
		}
	}
	return ""
}

func sortName(p *store.Patron) string {
	if p.FirstName == "" {
		return p.LastName
	}
	return p.LastName + ", " + p.FirstName
}

// ---- bursar payments ----

// BursarPayment is one line of a bursar's payment file.
type BursarPayment struct {
	Line          int // where the line is in the file, for the report
	TransactionID string
	Amount        int64 // minor units; a bursar pays more than nothing
	Currency      string
	// UserType and UserValue are the user the line names (empty: the line
	// names none and is matched on the transaction alone).
	UserType, UserValue string
	// Key identifies the line among every payment line ever applied (its
	// file's digest and its line), so a file read again pays nothing twice
	// while two equal instalments in two files both count.
	Key string
}

// Payment outcomes.
const (
	PaymentApplied        = "paid"
	PaymentPartial        = "paid_in_part" // the fee stays owed with the rest
	PaymentOverpaid       = "overpaid"     // the fee is paid and the excess is a credit
	PaymentAlreadyApplied = "already_paid" // the same file, or line, came before
	PaymentUnknown        = "unknown_transaction"
	PaymentNotExported    = "not_exported" // the fee was paid, waived or changed here meanwhile
	PaymentWrongPatron    = "wrong_patron"
	PaymentBadAmount      = "bad_amount"
	PaymentCurrency       = "currency_mismatch"
)

// PaymentOutcome says what became of one payment line.
type PaymentOutcome struct {
	Line          int    `json:"line"`
	TransactionID string `json:"transaction_id"`
	FeeID         uint64 `json:"fee_id,omitempty"`
	Outcome       string `json:"outcome"`
	Detail        string `json:"detail,omitempty"`
}

// Applied reports whether the line paid something.
func (o PaymentOutcome) Applied() bool {
	return o.Outcome == PaymentApplied || o.Outcome == PaymentPartial || o.Outcome == PaymentOverpaid
}

// Exception reports whether the line was refused and changed nothing.
func (o PaymentOutcome) Exception() bool {
	return !o.Applied() && o.Outcome != PaymentAlreadyApplied
}

// MarkExportedFeesPaid applies a bursar's payment lines in one store
// transaction, as Alma's bursar import does: a line naming a fee exported
// under that bursar transaction id, in the fee's currency, for the patron
// the fee is exported for, pays it. The whole balance marks the fee paid
// ("exported_paid"); less reduces the balance and the fee stays exported
// and owed; more pays the fee and puts the excess on the patron as a
// credit (a fee record of status "credit"). Any other line (an unknown
// transaction, another patron, an amount that is not positive, another
// currency, a fee no longer exported here) is an exception and changes
// nothing; a line already applied (the same Key) is recognised and left
// alone.
func (s *Service) MarkExportedFeesPaid(ctx context.Context, agent Agent, lines []BursarPayment) ([]PaymentOutcome, error) {
	now := s.Now()
	var out []PaymentOutcome
	err := s.commit(ctx, func(tx store.Tx) error {
		out = make([]PaymentOutcome, 0, len(lines))
		var refs []store.Ref
		for _, l := range lines {
			o := PaymentOutcome{Line: l.Line, TransactionID: l.TransactionID}
			if l.Key != "" {
				_, err := tx.FeeByTransaction(l.Key)
				if err == nil {
					o.Outcome = PaymentAlreadyApplied
					out = append(out, o)
					continue
				}
				if !errors.Is(err, store.ErrNotFound) {
					return err
				}
			}
			f, exported, err := exportedFee(tx, l.TransactionID)
			switch {
			case errors.Is(err, store.ErrNotFound):
				o.Outcome, o.Detail = PaymentUnknown, "no fee was exported under this transaction id"
				out = append(out, o)
				continue
			case err != nil:
				return err
			}
			o.FeeID = f.ID
			wrongPatron := false
			if l.UserValue != "" {
				p, err := tx.Patron(f.PatronID)
				if err != nil && !errors.Is(err, store.ErrNotFound) {
					return err
				}
				wrongPatron = err != nil || identifierOf(&p, l.UserType) != l.UserValue
			}
			switch {
			case exported == nil:
				o.Outcome, o.Detail = PaymentUnknown, "the transaction id is not a bursar export"
			case wrongPatron:
				o.Outcome, o.Detail = PaymentWrongPatron, "the fee was exported for another patron"
			case l.Amount <= 0:
				o.Outcome, o.Detail = PaymentBadAmount, "a payment must be more than nothing"
			case !strings.EqualFold(l.Currency, f.Currency):
				o.Outcome, o.Detail = PaymentCurrency, fmt.Sprintf("fee is in %s, line in %s", f.Currency, l.Currency)
			case f.Status != store.FeeExported || f.Balance <= 0:
				o.Outcome, o.Detail = PaymentNotExported, "fee is "+string(f.Status)+" here"
			default:
				paid := min(l.Amount, f.Balance)
				f.Balance -= paid
				f.Transactions = append(f.Transactions, store.FeeTxn{Kind: store.TxnPayment, Amount: paid, At: now,
					ExternalID: l.Key, Agent: agent.String()})
				o.Outcome = PaymentPartial
				if f.Balance == 0 {
					f.Status, o.Outcome = store.FeeExportedPaid, PaymentApplied
				}
				if err := tx.PutFee(&f); err != nil {
					return err
				}
				refs = append(refs, ref("fee", f.ID))
				switch excess := l.Amount - paid; {
				case excess > 0:
					c := store.Fee{PatronID: f.PatronID, Type: "01", Amount: excess, Balance: excess, Currency: f.Currency,
						Status: store.FeeCredit, Library: f.Library, Created: now,
						Description: "credit: overpayment of bursar transaction " + l.TransactionID}
					if err := tx.PutFee(&c); err != nil {
						return err
					}
					refs = append(refs, ref("fee", c.ID))
					o.Outcome, o.Detail = PaymentOverpaid, "credit "+FormatAmount(excess, f.Currency)+" "+f.Currency
				case f.Balance > 0:
					o.Detail = "owes " + FormatAmount(f.Balance, f.Currency) + " " + f.Currency
				}
			}
			out = append(out, o)
		}
		if len(refs) == 0 {
			return nil
		}
		return emit(tx, now, "fee.bursar_paid", agent, refs...)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// exportedFee finds the fee a payment line's bursarTransactionId names, and
// its bursar export (nil when it has none): digits are the fee's number, as
// circa writes the id and Alma does; anything else is the CODE-N id earlier
// versions wrote, found through the fee transaction index.
func exportedFee(tx store.Tx, txnID string) (store.Fee, *store.FeeTxn, error) {
	if id, ok := FeeNumber(txnID); ok {
		f, err := tx.Fee(id)
		if err != nil {
			return store.Fee{}, nil, err
		}
		var exported *store.FeeTxn
		for i := range f.Transactions {
			if t := &f.Transactions[i]; t.Kind == store.TxnExport {
				exported = t
			}
		}
		return f, exported, nil
	}
	f, err := tx.FeeByTransaction(txnID)
	if err != nil {
		return store.Fee{}, nil, err
	}
	var exported *store.FeeTxn
	for i := range f.Transactions {
		if t := &f.Transactions[i]; t.Kind == store.TxnExport && t.ExternalID == txnID {
			exported = t
		}
	}
	return f, exported, nil
}

// FeeNumber reads a bursarTransactionId written as the fee's number: digits
// only, as bursar jobs read it into an unsigned 64-bit integer.
func FeeNumber(txnID string) (uint64, bool) {
	if txnID == "" || strings.TrimLeft(txnID, "0123456789") != "" {
		return 0, false
	}
	id, err := strconv.ParseUint(txnID, 10, 64)
	return id, err == nil
}

// ---- student information system users ----

// Patron fields a sync replaces, by the names StaffEdited uses.
const (
	FieldFirstName   = "first_name"
	FieldLastName    = "last_name"
	FieldBirthdate   = "birthdate"
	FieldExpiry      = "expiry"
	FieldUserGroup   = "user_group"
	FieldJobTitle    = "job_title"
	FieldPIN         = "pin"
	FieldLanguage    = "language"
	FieldCampus      = "campus"
	FieldShareLib    = "resource_sharing_library"
	FieldHomeLibrary = "home_library"
	FieldIdentifiers = "identifiers"
	FieldContacts    = "contacts"
	FieldBlocks      = "blocks"
)

// SyncUser is one user of a student information system file.
type SyncUser struct {
	Line int
	// MatchValue is the user's identifier of the type the sync matches on.
	MatchValue string
	PrimaryID  string // becomes the barcode of a new patron
	FirstName  string
	LastName   string
	Birthdate  string
	Expiry     time.Time
	// ExpiryDay, a date without a time (YYYY-MM-DD), means the end of that
	// day in the patron's home library's zone; the sync sets Expiry from it.
	ExpiryDay string
	UserGroup string
	JobTitle  string
	// PINHash is the hashed PIN (hash outside the transaction with
	// HashSecret); empty keeps the patron's.
	PINHash     string
	Language    string
	Campus      string
	ShareLib    string
	HomeLibrary string
	Identifiers []store.Identifier
	Contacts    []store.Contact // the file's segments; all become external
	Blocks      []store.Block   // the file's blocks; all become external
	// Status is the file's user status; any but ACTIVE (or none) places
	// a BlockInactive block.
	Status string
}

// BlockInactive is the block a users file places on a user whose status is
// not ACTIVE. It is external, as the file's blocks are, so the next file
// that says ACTIVE lifts it and leaves the blocks staff placed alone.
const BlockInactive = "inactive"

// StatusActive is the user status that places no block.
const StatusActive = "ACTIVE"

// fileBlocks are the blocks the file gives a user: its blocks, and one for
// a status other than ACTIVE.
func (u *SyncUser) fileBlocks() []store.Block {
	st := strings.ToUpper(strings.TrimSpace(u.Status))
	if st == "" || st == StatusActive {
		return u.Blocks
	}
	return append(slices.Clip(u.Blocks), store.Block{Type: BlockInactive, Note: "status " + st})
}

// SyncOptions direct SyncPatrons.
type SyncOptions struct {
	Agent Agent
	// MatchType is the identifier type users are matched on; barcode is
	// the primary id.
	MatchType string
	// AddNew adds unknown users; otherwise they are rejected.
	AddNew bool
	// HomeLibrary is given to new users whose file names none.
	HomeLibrary string
	// DryRun works out the outcomes and changes nothing.
	DryRun bool
	// Groups maps the file's user groups to patron groups. When it maps
	// any, a user whose group it does not map is rejected.
	Groups map[string]string
}

// Sync actions.
const (
	SyncAdded     = "added"
	SyncUpdated   = "updated"
	SyncUnchanged = "unchanged"
	SyncRejected  = "rejected"
)

// SyncOutcome says what a sync did, or would do, with one user.
type SyncOutcome struct {
	Line     int      `json:"line"`
	Match    string   `json:"match"`
	PatronID uint64   `json:"patron_id,omitempty"`
	Action   string   `json:"action"`
	Reason   string   `json:"reason,omitempty"`
	Changed  []string `json:"changed,omitempty"`
}

// SyncPatrons adds or updates the users of one chunk of a student
// information system file in one store transaction (or, with DryRun, in a
// read-only one). A user is matched on its identifier of o.MatchType among
// external patrons; a match with a patron the library owns is rejected.
// On a match it follows Alma's synchronisation rules: core fields are
// replaced; the protected fields are kept when staff changed them or the
// file leaves them empty; the patron's external segments (identifiers,
// contacts, blocks) are replaced by the file's and the internal ones, which
// staff gave, kept.
func (s *Service) SyncPatrons(ctx context.Context, o SyncOptions, users []SyncUser) ([]SyncOutcome, error) {
	if o.MatchType == "" {
		return nil, refuse(InvalidRequest, "match identifier type is required")
	}
	now := s.Now()
	var out []SyncOutcome
	run := func(tx store.Tx) error {
		out = make([]SyncOutcome, 0, len(users))
		var refs []store.Ref
		seen := map[string]int{}
		for i := range users {
			// A copy: the mapping below must not reach the caller's
			// user, and this function may run again.
			uc := users[i]
			u := &uc
			res := SyncOutcome{Line: u.Line, Match: u.MatchValue}
			if g := u.UserGroup; g != "" && len(o.Groups) > 0 {
				var ok bool
				if u.UserGroup, ok = o.Groups[g]; !ok {
					res.Action, res.Reason = SyncRejected, fmt.Sprintf("user group %q is not in the profile's group map", g)
					out = append(out, res)
					continue
				}
			}
			key := store.NormalizeBarcode(u.MatchValue)
			if first, dup := seen[key]; dup {
				res.Action, res.Reason = SyncRejected, fmt.Sprintf("the same user as line %d", first)
				out = append(out, res)
				continue
			}
			seen[key] = u.Line
			p, err := tx.PatronByIdentifier(o.MatchType, u.MatchValue)
			var next store.Patron
			switch {
			case errors.Is(err, store.ErrNotFound):
				if !o.AddNew {
					res.Action, res.Reason = SyncRejected, "unknown user; this profile does not add users"
					out = append(out, res)
					continue
				}
				s.syncExpiry(tx, u, cmp.Or(u.HomeLibrary, o.HomeLibrary))
				next = newSyncPatron(u, o, now)
				res.Action = SyncAdded
			case err != nil:
				return err
			case !p.External:
				res.PatronID, res.Action, res.Reason = p.ID, SyncRejected, "matches a patron the library manages, not the student information system"
				out = append(out, res)
				continue
			default:
				res.PatronID = p.ID
				next = p
				s.syncExpiry(tx, u, p.HomeLibrary)
				res.Changed = applySync(&next, u, o.MatchType, now)
				res.Action = SyncUpdated
				if len(res.Changed) == 0 {
					res.Action = SyncUnchanged
					out = append(out, res)
					continue
				}
			}
			if msg := checkSynced(&next); msg != "" {
				res.Action, res.Reason = SyncRejected, msg
				out = append(out, res)
				continue
			}
			var nf *NotFoundError
			if err := CheckGroup(tx, next.UserGroup); errors.As(err, &nf) {
				res.Action, res.Reason = SyncRejected, fmt.Sprintf("user group %q does not exist%s", next.UserGroup, nf.hint)
				out = append(out, res)
				continue
			} else if err != nil {
				return err
			}
			if !o.DryRun {
				if err := tx.PutPatron(&next, now); errors.Is(err, store.ErrConflict) {
					res.Action, res.Reason = SyncRejected, "an identifier of this user belongs to another patron"
					out = append(out, res)
					continue
				} else if err != nil {
					return err
				}
				res.PatronID = next.ID
				refs = append(refs, ref("patron", next.ID))
			}
			out = append(out, res)
		}
		if len(refs) == 0 {
			return nil
		}
		return emit(tx, now, "patron.sync", o.Agent, refs...)
	}
	var err error
	if o.DryRun {
		err = s.view(ctx, run)
	} else {
		err = s.commit(ctx, run)
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

func checkSynced(p *store.Patron) string {
	switch {
	case strings.TrimSpace(p.Barcode) == "":
		return "no primary id"
	case strings.TrimSpace(p.LastName) == "":
		return "no last name"
	case p.UserGroup == "":
		return "no user group"
	}
	return ""
}

// syncExpiry turns a user's expiry day into the end of that day in the
// home library's zone, as a librarian reads "expires 31 October".
func (s *Service) syncExpiry(tx store.Tx, u *SyncUser, home string) {
	day, err := time.Parse(time.DateOnly, u.ExpiryDay)
	if err != nil {
		return
	}
	zone := s.Zone(tx, home)
	u.Expiry = time.Date(day.Year(), day.Month(), day.Day(), 23, 59, 59, 0, zone).UTC()
}

// IdentPrimaryID is the identifier type a synced patron keeps the file's
// primary_id under when its barcode is another identifier.
const IdentPrimaryID = "primary_id"

func newSyncPatron(u *SyncUser, o SyncOptions, now time.Time) store.Patron {
	p := store.Patron{Barcode: u.PrimaryID, External: true, HomeLibrary: o.HomeLibrary}
	if o.MatchType == store.IdentBarcode {
		// Matched on the card barcode (a BARCODE identifier, or else the
		// primary id): that is the barcode kiosks will scan.
		p.Barcode = u.MatchValue
	}
	applySync(&p, u, o.MatchType, now)
	return p
}

// protectedFields are the fields of a synced patron that a users file
// leaves alone once staff have changed them, or when it gives them empty,
// as Alma's synchronisation does: they say what the library grants the
// user rather than who the user is. The home library is circa's own.
var protectedFields = []string{FieldUserGroup, FieldJobTitle, FieldPIN, FieldLanguage, FieldCampus, FieldShareLib, FieldHomeLibrary}

// internalIdentifier is the StaffEdited mark of an identifier type staff
// gave a synced patron: an internal segment, which the sync keeps.
func internalIdentifier(typ string) string { return FieldIdentifiers + ":" + typ }

// fileIdentifiers are the external identifiers the file gives a patron with
// this barcode: the file's own, Alma's primary id when it is not the
// barcode (Alma's loan and fee exports name users by it), and the match
// identifier.
func fileIdentifiers(barcode string, u *SyncUser, match string) []store.Identifier {
	var ids []store.Identifier
	has := func(typ string) bool {
		return slices.ContainsFunc(ids, func(x store.Identifier) bool { return x.Type == typ })
	}
	for _, id := range u.Identifiers {
		if id.Type != store.IdentBarcode && id.Value != "" && !has(id.Type) {
			ids = append(ids, id)
		}
	}
	if barcode != u.PrimaryID && u.PrimaryID != "" && !has(IdentPrimaryID) {
		ids = append(ids, store.Identifier{Type: IdentPrimaryID, Value: u.PrimaryID})
	}
	if match != store.IdentBarcode && !has(match) {
		ids = append(ids, store.Identifier{Type: match, Value: u.MatchValue})
	}
	return ids
}

// applySync changes p as the sync rules say and names the fields changed;
// a block the file places without a date is dated now.
func applySync(p *store.Patron, u *SyncUser, match string, now time.Time) []string {
	var changed []string
	edited := func(f string) bool { return slices.Contains(p.StaffEdited, f) }
	set := func(field string, dst *string, v string, protected bool) {
		if protected && (edited(field) || v == "") || *dst == v {
			return
		}
		*dst = v
		changed = append(changed, field)
	}
	set(FieldFirstName, &p.FirstName, u.FirstName, false)
	set(FieldLastName, &p.LastName, u.LastName, false)
	set(FieldBirthdate, &p.Birthdate, u.Birthdate, false)
	set(FieldUserGroup, &p.UserGroup, u.UserGroup, true)
	set(FieldJobTitle, &p.JobTitle, u.JobTitle, true)
	set(FieldLanguage, &p.Language, u.Language, true)
	set(FieldCampus, &p.Campus, u.Campus, true)
	set(FieldShareLib, &p.ShareLib, u.ShareLib, true)
	set(FieldHomeLibrary, &p.HomeLibrary, u.HomeLibrary, true)
	if !u.Expiry.IsZero() && !u.Expiry.Equal(p.Expiry) {
		p.Expiry = u.Expiry.UTC()
		changed = append(changed, FieldExpiry)
	}
	if !edited(FieldPIN) && u.PINHash != "" && u.PINHash != p.PINHash {
		p.PINHash = u.PINHash
		changed = append(changed, FieldPIN)
	}
	// Earlier versions marked the identifiers staff changed as a whole:
	// all that such a patron holds are staff's.
	var ids []store.Identifier
	for _, id := range p.Identifiers {
		if edited(FieldIdentifiers) || edited(internalIdentifier(id.Type)) {
			ids = append(ids, id)
		}
	}
	for _, id := range fileIdentifiers(p.Barcode, u, match) {
		if !slices.ContainsFunc(ids, func(x store.Identifier) bool { return x.Type == id.Type }) {
			ids = append(ids, id)
		}
	}
	if !slices.Equal(ids, p.Identifiers) {
		p.Identifiers = ids
		changed = append(changed, FieldIdentifiers)
	}
	var contacts []store.Contact
	for _, c := range p.Contacts {
		if !c.External {
			contacts = append(contacts, c)
		}
	}
	for _, c := range u.Contacts {
		c.External = true
		contacts = append(contacts, c)
	}
	if !slices.Equal(contacts, p.Contacts) {
		p.Contacts = contacts
		changed = append(changed, FieldContacts)
	}
	var blocks []store.Block
	for _, b := range p.Blocks {
		if !b.External {
			blocks = append(blocks, b)
		}
	}
	for _, b := range u.fileBlocks() {
		b.External = true
		if b.Created.IsZero() {
			b.Created = now
		}
		// A block the file repeats keeps the date it was first placed.
		for _, old := range p.Blocks {
			if old.External && old.Type == b.Type && old.Note == b.Note {
				b.Created = old.Created
			}
		}
		blocks = append(blocks, b)
	}
	if !slices.EqualFunc(blocks, p.Blocks, func(a, b store.Block) bool {
		return a.Type == b.Type && a.Note == b.Note && a.External == b.External && a.Created.Equal(b.Created)
	}) {
		p.Blocks = blocks
		changed = append(changed, FieldBlocks)
	}
	return changed
}
