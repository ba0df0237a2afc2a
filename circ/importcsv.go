package circ

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/circa-ils/circa/store"
)

// The CSV importers' writes: patrons, open loans, holds and open fees taken
// over from the system a library runs today. Each method checks the whole
// record before writing anything and refuses a bad one with an
// *ImportProblem naming what is wrong; each is idempotent, so a file run
// twice changes nothing the second time.

// Import outcomes: what a record came to.
const (
	ImportCreated   = "created"
	ImportUpdated   = "updated"
	ImportUnchanged = "unchanged"
)

// WallTime is a date, or a date and time, as an import file writes it:
// without a zone. It is placed in the zone of the library the record
// belongs to.
type WallTime struct {
	Year                 int
	Month                time.Month
	Day                  int
	Hour, Minute, Second int
	DateOnly             bool
}

// IsZero reports whether no time was given.
func (w WallTime) IsZero() bool { return w.Year == 0 }

// In is the instant w names in zone; a date alone is its first second.
func (w WallTime) In(zone *time.Location) time.Time {
	return time.Date(w.Year, w.Month, w.Day, w.Hour, w.Minute, w.Second, 0, zone).UTC()
}

// EndIn is the instant w names in zone; a date alone is its last second, as
// a due date or an expiry date means.
func (w WallTime) EndIn(zone *time.Location) time.Time {
	if w.DateOnly {
		return time.Date(w.Year, w.Month, w.Day, 23, 59, 59, 0, zone).UTC()
	}
	return w.In(zone)
}

// Date is w's date as YYYY-MM-DD.
func (w WallTime) Date() string { return fmt.Sprintf("%04d-%02d-%02d", w.Year, int(w.Month), w.Day) }

// PatronImport is one patron of an import file, in circa's terms (the
// importer has mapped the file's codes). Empty fields leave an existing
// patron's value as it is.
type PatronImport struct {
	Barcode     string
	Identifiers []store.Identifier // other typed ids (university id, …)
	FirstName   string
	LastName    string
	Group       string
	HomeLibrary string
	Expiry      WallTime // the card is valid to the end of this day in the home library's zone
	Birthdate   string   // YYYY-MM-DD
	Language    string   // ISO 639-2, e.g. eng
	Email       string
	Phone       string
	SMS         string        // the number for texts
	Address     store.Contact // Line1…Country; ignored when all empty
	PIN         string        // plain; stored hashed

	// Set by PreparePIN, outside the import's transaction.
	pinPrepared  bool
	pinCheckedOn string // the stored hash the PIN was checked against ("" none)
	pinSame      bool   // whether that hash verified the PIN
	pinHash      string // a fresh hash of the PIN, when it did not
}

// PreparePIN does the slow part of importing a patron's PIN, an argon2
// hash or check of some milliseconds, before the import's transaction, so
// a batch of hundreds of patrons does not hold the store's writer for
// seconds. ImportPatron uses the result while the patron's stored hash is
// still the one checked, and works it out itself otherwise.
func (s *Service) PreparePIN(ctx context.Context, in *PatronImport) error {
	if in.PIN == "" {
		return nil
	}
	var stored string
	err := s.view(ctx, func(tx store.Tx) error {
		p, err := tx.PatronByBarcode(in.Barcode)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		stored = p.PINHash
		return err
	})
	if err != nil {
		return err
	}
	in.pinPrepared, in.pinCheckedOn, in.pinSame, in.pinHash = true, stored, false, ""
	if stored != "" {
		if in.pinSame, err = VerifySecretWaiting(stored, in.PIN); err != nil && !errors.Is(err, errBadHash) {
			return err
		}
		if in.pinSame {
			return nil
		}
	}
	in.pinHash, err = HashSecret(in.PIN)
	return err
}

// ImportPatron creates the patron or, matched by barcode, updates what the
// file gives differently. A PIN counts as unchanged while the stored hash
// verifies it, so a second run does not rehash every PIN.
func (b *ImportBatch) ImportPatron(in PatronImport) (string, error) {
	tx := b.tx
	p, err := tx.PatronByBarcode(in.Barcode)
	existing := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return "", err
	}
	if !existing {
		p = store.Patron{Barcode: strings.TrimSpace(in.Barcode)}
	}
	next := p
	next.Identifiers = slices.Clone(p.Identifiers)
	next.Contacts = slices.Clone(p.Contacts)
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&next.FirstName, in.FirstName)
	set(&next.LastName, in.LastName)
	set(&next.UserGroup, in.Group)
	set(&next.HomeLibrary, in.HomeLibrary)
	set(&next.Birthdate, in.Birthdate)
	set(&next.Language, in.Language)
	switch {
	case next.LastName == "":
		return "", importProblem("no last name")
	case next.UserGroup == "":
		return "", importProblem("no patron group")
	case next.HomeLibrary == "":
		return "", importProblem("no home library")
	}
	if in.Group != "" {
		if err := CheckGroup(tx, in.Group); err != nil {
			var nf *NotFoundError
			if errors.As(err, &nf) {
				return "", importProblem("unknown group %q%s", in.Group, nf.hint)
			}
			return "", err
		}
	}
	if in.HomeLibrary != "" {
		if err := b.needLibrary(in.HomeLibrary); err != nil {
			return "", err
		}
	}
	if !in.Expiry.IsZero() {
		next.Expiry = in.Expiry.EndIn(b.svc.Zone(tx, next.HomeLibrary))
	}
	for _, id := range in.Identifiers {
		if id.Value == "" {
			continue
		}
		if owner, err := tx.PatronByIdentifier(id.Type, id.Value); err == nil && owner.ID != p.ID {
			return "", importProblem("identifier %s %q already belongs to patron %s", id.Type, id.Value, owner.Barcode)
		} else if err != nil && !errors.Is(err, store.ErrNotFound) {
			return "", err
		}
		if i := slices.IndexFunc(next.Identifiers, func(x store.Identifier) bool { return x.Type == id.Type }); i >= 0 {
			next.Identifiers[i].Value = id.Value
		} else {
			next.Identifiers = append(next.Identifiers, id)
		}
	}
	setImportedContact(&next, store.Contact{Kind: "email", Value: in.Email})
	setImportedContact(&next, store.Contact{Kind: "phone", Value: in.Phone})
	if in.SMS != "" && checkSMS(in.SMS) != "" {
		return "", importProblem("sms %q: %s", in.SMS, checkSMS(in.SMS))
	}
	setImportedContact(&next, store.Contact{Kind: "sms", Value: in.SMS})
	addr := in.Address
	addr.Kind, addr.Value = "address", ""
	if addr != (store.Contact{Kind: "address"}) {
		setImportedContact(&next, addr)
	}
	switch {
	case in.PIN == "":
	case in.pinPrepared && in.pinCheckedOn == p.PINHash:
		if !in.pinSame {
			next.PINHash = in.pinHash
		}
	default:
		same := false
		if p.PINHash != "" {
			if same, err = VerifySecretWaiting(p.PINHash, in.PIN); err != nil && !errors.Is(err, errBadHash) {
				return "", err
			}
		}
		if !same {
			if next.PINHash, err = HashSecret(in.PIN); err != nil {
				return "", err
			}
		}
	}
	if existing && patronEqual(&p, &next) {
		return ImportUnchanged, nil
	}
	if err := tx.PutPatron(&next, b.at); errors.Is(err, store.ErrConflict) {
		return "", importProblem("an identifier of this patron belongs to another patron")
	} else if err != nil {
		return "", err
	}
	if err := b.emit("patron.import", ref("patron", next.ID)); err != nil {
		return "", err
	}
	if existing {
		return ImportUpdated, nil
	}
	return ImportCreated, nil
}

// setImportedContact replaces the patron's first contact of c's kind with c, or
// adds it; an empty c changes nothing.
func setImportedContact(p *store.Patron, c store.Contact) {
	if c.Kind != "address" && c.Value == "" {
		return
	}
	if i := slices.IndexFunc(p.Contacts, func(x store.Contact) bool { return x.Kind == c.Kind }); i >= 0 {
		c.Type, c.Preferred, c.External = p.Contacts[i].Type, p.Contacts[i].Preferred, p.Contacts[i].External
		p.Contacts[i] = c
		return
	}
	p.Contacts = append(p.Contacts, c)
}

func patronEqual(a, b *store.Patron) bool {
	return a.FirstName == b.FirstName && a.LastName == b.LastName && a.UserGroup == b.UserGroup &&
		a.HomeLibrary == b.HomeLibrary && a.Expiry.Equal(b.Expiry) && a.Birthdate == b.Birthdate &&
		a.Language == b.Language && a.PINHash == b.PINHash && slices.Equal(a.Identifiers, b.Identifiers) &&
		slices.Equal(a.Contacts, b.Contacts)
}

// LoanImport is one open loan of an import file.
type LoanImport struct {
	Patron   string // barcode
	Item     string // barcode
	Out      WallTime
	Due      WallTime // a date alone: due at the end of that day
	Renewals int
}

// ImportLoan opens the loan, in the zone of the item's library, and marks
// the item on loan. The due date is kept as given, also when it has passed:
// the loan is then overdue and fines accrue by the rules. The same patron
// and checkout time again is the same loan (its due date and renewals are
// brought in line); an item on loan to someone else is refused.
func (b *ImportBatch) ImportLoan(in LoanImport) (string, error) {
	tx := b.tx
	p, err := b.patronOf(in.Patron)
	if err != nil {
		return "", err
	}
	it, err := b.itemOf(in.Item)
	if err != nil {
		return "", err
	}
	if in.Out.IsZero() || in.Due.IsZero() {
		return "", importProblem("a loan needs a checkout date and a due date")
	}
	if in.Renewals < 0 {
		return "", importProblem("negative renewal count %d", in.Renewals)
	}
	zone := b.svc.Zone(tx, it.Library)
	out, due := in.Out.In(zone), in.Due.EndIn(zone)
	if due.Before(out) {
		return "", importProblem("due date %s is before the checkout date %s", in.Due.Date(), in.Out.Date())
	}
	if out.After(b.at) {
		return "", importProblem("checkout date %s is in the future", in.Out.Date())
	}
	loan, open, err := tx.OpenLoanOfItem(it.ID)
	if err != nil {
		return "", err
	}
	if open {
		if loan.PatronID != p.ID || !loan.Out.Equal(out) {
			other := "another patron"
			if loan.PatronID == p.ID {
				other = "this patron"
			}
			return "", importProblem("item %s is already on loan to %s since %s", it.Barcode, other,
				loan.Out.In(zone).Format("2006-01-02 15:04"))
		}
		if loan.Due.Equal(due) && loan.Renewals == in.Renewals {
			return ImportUnchanged, nil
		}
		loan.Due, loan.Renewals = due, in.Renewals
		if err := tx.UpdateLoan(&loan); err != nil {
			return "", err
		}
		if err := b.emit("loan.import", ref("loan", loan.ID), ref("item", it.ID), ref("patron", p.ID)); err != nil {
			return "", err
		}
		return ImportUpdated, nil
	}
	switch it.Status {
	case store.ItemAvailable, store.ItemReshelving, store.ItemInTransit, store.ItemOnLoan:
	default:
		return "", importProblem("item %s is %s", it.Barcode, strings.ReplaceAll(string(it.Status), "_", " "))
	}
	l := store.Loan{ItemID: it.ID, PatronID: p.ID, Library: it.Library, Out: out, Due: due,
		Renewals: in.Renewals, Agent: b.agent.String()}
	if err := tx.OpenLoan(&l); err != nil {
		return "", err
	}
	it.Status, it.HeldFor, it.TransitTo = store.ItemOnLoan, 0, ""
	if err := tx.PutItem(&it, b.at); err != nil {
		return "", err
	}
	if err := b.emit("loan.import", ref("loan", l.ID), ref("item", it.ID), ref("patron", p.ID), ref("bib", it.BibID)); err != nil {
		return "", err
	}
	return ImportCreated, nil
}

// HoldImport is one waiting hold of an import file: on an item, or on a
// title named by its 001 (or "id:N", circa's bib id).
type HoldImport struct {
	Patron  string
	Item    string
	Bib     string
	Pickup  string   // library code; the patron's home library when empty
	Placed  WallTime // when the patron placed it; the import's time when zero
	Expires WallTime // not wanted after the end of this day; the rules' default when zero
}

// ImportHold queues the hold behind those already on the title, so
// importing a file in queue order keeps the queue. A patron already
// waiting for the title is unchanged.
func (b *ImportBatch) ImportHold(in HoldImport) (string, error) {
	tx := b.tx
	p, err := b.patronOf(in.Patron)
	if err != nil {
		return "", err
	}
	var it store.Item
	var bib store.Bib
	if in.Item != "" {
		if it, err = b.itemOf(in.Item); err != nil {
			return "", err
		}
	}
	if in.Bib != "" {
		found, ok, err := importBib(tx, in.Bib)
		if err != nil {
			return "", err
		}
		if !ok {
			return "", importProblem("unknown title %q", in.Bib)
		}
		if it.ID != 0 && it.BibID != found.ID {
			return "", importProblem("item %s is not a copy of title %q", it.Barcode, in.Bib)
		}
		bib = found
	} else if it.ID != 0 {
		if bib, err = tx.Bib(it.BibID); err != nil {
			return "", err
		}
	} else {
		return "", importProblem("a hold needs an item barcode or a title")
	}
	if bib.Deleted {
		return "", importProblem("title %q is deleted", in.Bib)
	}
	pickup := in.Pickup
	if pickup == "" {
		pickup = p.HomeLibrary
	}
	if err := b.needLibrary(pickup); err != nil {
		return "", err
	}
	queue, err := tx.OpenRequestsOfBib(bib.ID)
	if err != nil {
		return "", err
	}
	for _, r := range queue {
		if r.PatronID == p.ID && r.Kind == store.RequestHold {
			return ImportUnchanged, nil
		}
	}
	zone := b.svc.Zone(tx, pickup)
	r := store.Request{Kind: store.RequestHold, TitleLevel: it.ID == 0, BibID: bib.ID, ItemID: it.ID,
		PatronID: p.ID, Pickup: pickup, Status: store.RequestWaiting, Created: b.at}
	if !in.Placed.IsZero() {
		r.Created = in.Placed.In(zone)
	}
	if !in.Expires.IsZero() {
		r.Expires = in.Expires.EndIn(zone)
	} else if days := b.svc.rules.Load().HoldExpiryDays; days > 0 {
		r.Expires = b.at.AddDate(0, 0, days)
	}
	if err := tx.PutRequest(&r); err != nil {
		return "", err
	}
	if err := b.emit("request.import", ref("request", r.ID), ref("patron", p.ID), ref("bib", bib.ID)); err != nil {
		return "", err
	}
	return ImportCreated, nil
}

// importBib finds a title by its 001, or by circa's id written "id:N".
func importBib(tx store.Tx, id string) (store.Bib, bool, error) {
	if n, ok := strings.CutPrefix(id, "id:"); ok {
		v, err := strconv.ParseUint(n, 10, 64)
		if err != nil {
			return store.Bib{}, false, nil
		}
		b, err := tx.Bib(v)
		if errors.Is(err, store.ErrNotFound) {
			return b, false, nil
		}
		return b, err == nil, err
	}
	b, err := tx.BibByControlNumber(id)
	if errors.Is(err, store.ErrNotFound) {
		return b, false, nil
	}
	return b, err == nil, err
}

// FeeImport is one open fee of an import file.
type FeeImport struct {
	Patron string
	// Amount is what was charged and Outstanding what is still owed
	// (decimals in the library's currency); either may be empty when the
	// file gives only the other.
	Amount      string
	Outstanding string
	Type        string // SIP2 fee type, 01–16
	Date        WallTime
	Description string
	Item        string // barcode of the item it is for, if any
	Library     string // the library that charged it; the patron's home library when empty
	// Occurrence counts the rows of the file with the same patron, date,
	// amounts, type, description and item up to this one (1 for the
	// first): two identical fees are two fees, and a second run finds both.
	Occurrence int
}

// ImportFee charges the fee as it stands: a partly paid fee keeps its
// original amount with a payment for the difference, so its history adds
// up. A fee already imported (the same patron, date, amount, type,
// description and item, as often as the file repeats it) is unchanged.
func (b *ImportBatch) ImportFee(in FeeImport) (string, error) {
	tx := b.tx
	p, err := b.patronOf(in.Patron)
	if err != nil {
		return "", err
	}
	library := in.Library
	if library == "" {
		library = p.HomeLibrary
	}
	if err := b.needLibrary(library); err != nil {
		return "", err
	}
	currency, err := b.currency(library)
	if err != nil {
		return "", err
	}
	if n, err := strconv.Atoi(in.Type); err != nil || len(in.Type) != 2 || n < 1 || n > 16 {
		return "", importProblem("fee type %q is not a SIP2 fee type 01–16", in.Type)
	}
	parse := func(s string) (int64, error) {
		if s == "" {
			return -1, nil
		}
		v, err := store.ParseAmount(s, currency)
		if err != nil {
			return 0, importProblem("%v", err)
		}
		return v, nil
	}
	amount, err := parse(in.Amount)
	if err != nil {
		return "", err
	}
	balance, err := parse(in.Outstanding)
	if err != nil {
		return "", err
	}
	switch {
	case amount < 0 && balance < 0:
		return "", importProblem("no amount")
	case amount < 0:
		amount = balance
	case balance < 0:
		balance = amount
	}
	if balance <= 0 {
		return "", importProblem("nothing is owed: the amount outstanding must be above zero")
	}
	if balance > amount {
		return "", importProblem("outstanding %s is more than the amount %s", store.FormatAmount(balance, currency), store.FormatAmount(amount, currency))
	}
	var itemID uint64
	if in.Item != "" {
		it, err := b.itemOf(in.Item)
		if err != nil {
			return "", err
		}
		itemID = it.ID
	}
	created := b.at
	if !in.Date.IsZero() {
		created = in.Date.In(b.svc.Zone(tx, library))
	}
	fees, err := tx.FeesOfPatron(p.ID)
	if err != nil {
		return "", err
	}
	same := 0
	for _, f := range fees {
		if f.Created.Equal(created) && f.Amount == amount && f.Type == in.Type && f.Description == in.Description &&
			f.ItemID == itemID && f.Currency == currency {
			same++
		}
	}
	if same >= max(in.Occurrence, 1) {
		return ImportUnchanged, nil
	}
	f := store.Fee{PatronID: p.ID, ItemID: itemID, Type: in.Type, Amount: amount, Balance: balance,
		Currency: currency, Status: store.FeeOpen, Library: library, Description: in.Description, Created: created}
	if paid := amount - balance; paid > 0 {
		f.Transactions = []store.FeeTxn{{Kind: store.TxnPayment, Amount: paid, At: created, Agent: b.agent.String()}}
	}
	if err := tx.PutFee(&f); err != nil {
		return "", err
	}
	if err := b.emit("fee.import", ref("fee", f.ID), ref("patron", p.ID)); err != nil {
		return "", err
	}
	return ImportCreated, nil
}

// patronOf reads the patron a record names by barcode; an unknown one is the
// record's problem.
func (b *ImportBatch) patronOf(barcode string) (store.Patron, error) {
	p, err := b.tx.PatronByBarcode(barcode)
	if errors.Is(err, store.ErrNotFound) {
		// Alma's reports name users by primary id, which a users sync
		// keeps as an identifier when the card barcode is another.
		p, err = b.tx.PatronByIdentifier(IdentPrimaryID, barcode)
	}
	if errors.Is(err, store.ErrNotFound) {
		return p, importProblem("unknown patron barcode %q", barcode)
	}
	return p, err
}

// itemOf reads the item a record names by barcode; an unknown one is the
// record's problem.
func (b *ImportBatch) itemOf(barcode string) (store.Item, error) {
	it, err := b.tx.ItemByBarcode(barcode)
	if errors.Is(err, store.ErrNotFound) {
		return it, importProblem("unknown item barcode %q", barcode)
	}
	return it, err
}

// needLibrary refuses a record naming a library there is none of.
func (b *ImportBatch) needLibrary(code string) error {
	if ok, err := b.libraryKnown(code); err != nil || ok {
		return err
	}
	return importProblem("unknown library code %q", code)
}
