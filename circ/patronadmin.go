package circ

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/circa-ils/circa/store"
)

// Staff's patron maintenance: adding, changing and removing patrons and
// setting their PINs, each checked here for every caller and journalled.
// A patron the student information system owns (External) may be changed
// too: the protected fields and identifier types staff change are listed in
// StaffEdited, which the users file sync then leaves alone; contacts staff
// give are internal segments, which it keeps.

// PatronForm is what staff give for a patron. A nil field is not given:
// add leaves it empty, edit leaves it as it is; an empty string clears it.
type PatronForm struct {
	Barcode     string
	FirstName   *string
	LastName    *string
	UserGroup   *string
	HomeLibrary *string
	Expiry      *string // YYYY-MM-DD: the patron may borrow to the end of that day in the home library's zone; empty: never expires
	Birthdate   *string // YYYY-MM-DD
	Language    *string // ISO 639-2, three letters
	JobTitle    *string
	Campus      *string
	ShareLib    *string // resource-sharing library
	Email       *string
	Phone       *string
	SMS         *string // the number texts go to (the "sms" contact)
	Address     *string // "line1, city, postal"; also "line1, line2, city, postal"
	// Identifiers are added, or replace the patron's of the same type; an
	// empty value removes that type.
	Identifiers []store.Identifier
}

// AddPatron stores a new patron.
func (s *Service) AddPatron(ctx context.Context, f PatronForm, agent Agent) (store.Patron, error) {
	var p store.Patron
	now := s.Now()
	err := s.commit(ctx, func(tx store.Tx) error {
		if _, err := tx.PatronByBarcode(f.Barcode); err == nil {
			return fmt.Errorf("patron %s: %w; use edit", f.Barcode, ErrExists)
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		p = store.Patron{Barcode: strings.TrimSpace(f.Barcode)}
		if err := s.applyForm(tx, &p, &f); err != nil {
			return err
		}
		if err := checkPatron(tx, &p); err != nil {
			return err
		}
		if err := tx.PutPatron(&p, now); err != nil {
			return err
		}
		return emit(tx, now, "patron.add", agent, ref("patron", p.ID))
	})
	return p, err
}

// EditPatron changes the fields the form gives.
func (s *Service) EditPatron(ctx context.Context, f PatronForm, agent Agent) (store.Patron, error) {
	var p store.Patron
	now := s.Now()
	err := s.commit(ctx, func(tx store.Tx) error {
		var err error
		if p, err = patronOf(tx, f.Barcode); err != nil {
			return err
		}
		before := p
		before.Identifiers, before.Contacts = slices.Clone(p.Identifiers), slices.Clone(p.Contacts)
		if err := s.applyForm(tx, &p, &f); err != nil {
			return err
		}
		if err := checkPatron(tx, &p); err != nil {
			return err
		}
		changed := changedFields(&before, &p)
		if len(changed) == 0 {
			return nil
		}
		if p.External {
			markStaffEdits(&before, &p, changed)
		}
		if err := tx.PutPatron(&p, now); err != nil {
			return err
		}
		return emit(tx, now, "patron.edit", agent, ref("patron", p.ID))
	})
	return p, err
}

// PatronInUseError refuses the removal of a patron who still has loans,
// requests or fees to settle.
type PatronInUseError struct {
	Barcode               string
	Loans, Requests, Fees int
	Balance               int64
	Currency              string
}

func (e *PatronInUseError) Error() string {
	var parts []string
	count := func(n int, what string) {
		if n == 1 {
			parts = append(parts, "1 "+what)
		} else if n > 1 {
			parts = append(parts, fmt.Sprintf("%d %ss", n, what))
		}
	}
	count(e.Loans, "open loan")
	count(e.Requests, "open request")
	count(e.Fees, "outstanding fee")
	msg := fmt.Sprintf("patron %s still has %s", e.Barcode, strings.Join(parts, ", "))
	if e.Fees > 0 {
		msg += fmt.Sprintf(" (owing %s %s)", FormatAmount(e.Balance, e.Currency), e.Currency)
	}
	return msg
}

// RemovePatron removes a patron with no open loans, open requests or
// outstanding fees. Returned loans and settled fees stay, naming no one.
func (s *Service) RemovePatron(ctx context.Context, barcode string, agent Agent) error {
	now := s.Now()
	return s.commit(ctx, func(tx store.Tx) error {
		p, err := patronOf(tx, barcode)
		if err != nil {
			return err
		}
		use := &PatronInUseError{Barcode: p.Barcode, Currency: s.rules.Load().Currency}
		loans, err := tx.OpenLoansOfPatron(p.ID)
		if err != nil {
			return err
		}
		reqs, err := tx.OpenRequestsOfPatron(p.ID)
		if err != nil {
			return err
		}
		fees, err := tx.FeesOfPatron(p.ID)
		if err != nil {
			return err
		}
		use.Loans, use.Requests = len(loans), len(reqs)
		for _, f := range fees {
			if f.Outstanding() {
				use.Fees++
				use.Balance += f.Balance
				use.Currency = f.Currency
			}
		}
		if use.Loans+use.Requests+use.Fees > 0 {
			return use
		}
		if err := tx.DeletePatron(p.ID); err != nil {
			return err
		}
		return emit(tx, now, "patron.remove", agent, ref("patron", p.ID))
	})
}

// SetPIN gives a patron a new PIN and ends any run of wrong ones.
func (s *Service) SetPIN(ctx context.Context, barcode, pin string, agent Agent) error {
	if err := checkNewPIN(pin); err != nil {
		return err
	}
	// Hashed before the transaction: argon2 never runs inside a commit.
	hash, err := HashSecret(pin)
	if err != nil {
		return err
	}
	now := s.Now()
	return s.commit(ctx, func(tx store.Tx) error {
		p, err := patronOf(tx, barcode)
		if err != nil {
			return err
		}
		p.PINHash = hash
		if p.External && !slices.Contains(p.StaffEdited, FieldPIN) {
			p.StaffEdited = append(p.StaffEdited, FieldPIN)
		}
		if err := tx.PutPatron(&p, now); err != nil {
			return err
		}
		if err := tx.PutPINFailures(p.ID, store.PINFailures{}); err != nil {
			return err
		}
		return emit(tx, now, "patron.pin", agent, ref("patron", p.ID))
	})
}

// checkNewPIN accepts 4 to 64 printable characters: a kiosk keypad's
// digits or a password typed at a web form.
func checkNewPIN(pin string) error {
	n := len([]rune(pin))
	if n < 4 || n > 64 {
		return errors.New("a PIN has 4 to 64 characters")
	}
	if strings.ContainsFunc(pin, func(r rune) bool { return r < ' ' || r == 0x7f || r == '|' }) {
		return errors.New("a PIN cannot hold control characters or | (SIP2 fields cannot carry them)")
	}
	return nil
}

func patronOf(tx store.Tx, barcode string) (store.Patron, error) {
	p, err := tx.PatronByBarcode(barcode)
	if errors.Is(err, store.ErrNotFound) {
		return p, &NotFoundError{Kind: "patron", Code: barcode}
	}
	return p, err
}

// applyForm copies the fields given into p, reading dates in the home
// library's zone.
func (s *Service) applyForm(tx store.Tx, p *store.Patron, f *PatronForm) error {
	str := func(dst *string, v *string) {
		if v != nil {
			*dst = strings.TrimSpace(*v)
		}
	}
	str(&p.FirstName, f.FirstName)
	str(&p.LastName, f.LastName)
	str(&p.UserGroup, f.UserGroup)
	str(&p.HomeLibrary, f.HomeLibrary)
	str(&p.Birthdate, f.Birthdate)
	str(&p.JobTitle, f.JobTitle)
	str(&p.Campus, f.Campus)
	str(&p.ShareLib, f.ShareLib)
	if f.Language != nil {
		p.Language = strings.ToLower(strings.TrimSpace(*f.Language))
	}
	var errs []error
	if f.ShareLib != nil && p.ShareLib != "" {
		if _, err := tx.Library(p.ShareLib); errors.Is(err, store.ErrNotFound) {
			errs = append(errs, notFound(tx, "library", p.ShareLib))
		} else if err != nil {
			return err
		}
	}
	if f.Expiry != nil && strings.TrimSpace(*f.Expiry) == "" {
		p.Expiry = time.Time{}
	} else if f.Expiry != nil {
		day, err := time.Parse(time.DateOnly, strings.TrimSpace(*f.Expiry))
		if err != nil {
			errs = append(errs, fmt.Errorf("expiry %q: not a date (YYYY-MM-DD)", *f.Expiry))
		} else {
			zone := s.Zone(tx, p.HomeLibrary)
			p.Expiry = time.Date(day.Year(), day.Month(), day.Day(), 23, 59, 59, 0, zone).UTC()
		}
	}
	for _, c := range []struct {
		kind string
		v    *string
	}{{"email", f.Email}, {"phone", f.Phone}, {"sms", f.SMS}, {"address", f.Address}} {
		if c.v == nil {
			continue
		}
		contact := store.Contact{Kind: c.kind}
		v := strings.TrimSpace(*c.v)
		if c.kind == "address" {
			contact = addressOf(v)
		} else {
			contact.Value = v
		}
		setContact(p, contact, v == "")
	}
	for _, id := range f.Identifiers {
		typ, v := strings.TrimSpace(id.Type), strings.TrimSpace(id.Value)
		if typ == "" || typ == store.IdentBarcode {
			errs = append(errs, fmt.Errorf("identifier %s=%s: give a type other than barcode (the barcode is the patron's key)", typ, v))
			continue
		}
		i := slices.IndexFunc(p.Identifiers, func(x store.Identifier) bool { return x.Type == typ })
		switch {
		case v == "" && i >= 0:
			p.Identifiers = slices.Delete(p.Identifiers, i, i+1)
		case v == "":
		case i >= 0:
			p.Identifiers[i].Value = v
		default:
			p.Identifiers = append(p.Identifiers, store.Identifier{Type: typ, Value: v})
		}
	}
	return errors.Join(errs...)
}

// setContact replaces the patron's contact of a kind (the preferred one,
// or the first), or adds it; clear removes it. Staff's contact is the
// library's own, so it is no longer external.
func setContact(p *store.Patron, c store.Contact, clear bool) {
	i := slices.IndexFunc(p.Contacts, func(x store.Contact) bool { return x.Kind == c.Kind && x.Preferred })
	if i < 0 {
		i = slices.IndexFunc(p.Contacts, func(x store.Contact) bool { return x.Kind == c.Kind })
	}
	switch {
	case clear && i >= 0:
		p.Contacts = slices.Delete(p.Contacts, i, i+1)
	case clear:
	case i >= 0:
		c.Type, c.Preferred = p.Contacts[i].Type, p.Contacts[i].Preferred
		p.Contacts[i] = c
	default:
		p.Contacts = append(p.Contacts, c)
	}
}

// addressOf reads "line1, city, postal" (and shorter or longer forms: the
// last part is the postal code when there are three or more, the one
// before it the city, and any between the first and those a second line).
func addressOf(s string) store.Contact {
	c := store.Contact{Kind: "address"}
	var parts []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			parts = append(parts, p)
		}
	}
	switch len(parts) {
	case 0:
	case 1:
		c.Line1 = parts[0]
	case 2:
		c.Line1, c.City = parts[0], parts[1]
	default:
		n := len(parts)
		c.Line1, c.City, c.Postal = parts[0], parts[n-2], parts[n-1]
		c.Line2 = strings.Join(parts[1:n-2], ", ")
	}
	return c
}

// markStaffEdits lists in StaffEdited what staff changed on a synced patron
// that the next users file must leave alone: the protected fields, and each
// identifier type staff gave (an internal segment). An identifier type
// staff remove is the file's to give again.
func markStaffEdits(before, p *store.Patron, changed []string) {
	mark := func(m string) {
		if !slices.Contains(p.StaffEdited, m) {
			p.StaffEdited = append(p.StaffEdited, m)
		}
	}
	for _, f := range changed {
		if slices.Contains(protectedFields, f) {
			mark(f)
		}
	}
	for _, id := range p.Identifiers {
		if identifierOf(before, id.Type) != id.Value {
			mark(internalIdentifier(id.Type))
		}
	}
	for _, id := range before.Identifiers {
		if identifierOf(p, id.Type) == "" {
			p.StaffEdited = slices.DeleteFunc(p.StaffEdited, func(m string) bool { return m == internalIdentifier(id.Type) })
		}
	}
}

// changedFields names the fields that differ, by the names the users file
// sync reads in StaffEdited.
func changedFields(a, b *store.Patron) []string {
	var out []string
	for _, f := range []struct {
		name string
		same bool
	}{
		{FieldFirstName, a.FirstName == b.FirstName},
		{FieldLastName, a.LastName == b.LastName},
		{FieldBirthdate, a.Birthdate == b.Birthdate},
		{FieldExpiry, a.Expiry.Equal(b.Expiry)},
		{FieldUserGroup, a.UserGroup == b.UserGroup},
		{FieldLanguage, a.Language == b.Language},
		{FieldJobTitle, a.JobTitle == b.JobTitle},
		{FieldCampus, a.Campus == b.Campus},
		{FieldShareLib, a.ShareLib == b.ShareLib},
		{FieldHomeLibrary, a.HomeLibrary == b.HomeLibrary},
		{FieldIdentifiers, slices.Equal(a.Identifiers, b.Identifiers)},
		{FieldContacts, slices.Equal(a.Contacts, b.Contacts)},
	} {
		if !f.same {
			out = append(out, f.name)
		}
	}
	return out
}

// checkPatron checks a patron's fields and that its barcode and
// identifiers name no other patron, of whatever type they hold them.
func checkPatron(tx store.Tx, p *store.Patron) error {
	var errs []error
	if p.Barcode == "" {
		errs = append(errs, errors.New("a patron needs a barcode"))
	} else if strings.ContainsFunc(p.Barcode, func(r rune) bool { return r <= ' ' || r == '|' || r == 0x7f }) {
		errs = append(errs, fmt.Errorf("barcode %q: spaces, control characters and | are not allowed (SIP2 fields cannot carry them)", p.Barcode))
	}
	if p.LastName == "" {
		errs = append(errs, errors.New("a patron needs a last name"))
	}
	if p.UserGroup == "" {
		errs = append(errs, errors.New("a patron needs a group"))
	} else if err := CheckGroup(tx, p.UserGroup); err != nil {
		errs = append(errs, err)
	}
	if p.HomeLibrary == "" {
		errs = append(errs, errors.New("a patron needs a home library"))
	} else if _, err := tx.Library(p.HomeLibrary); errors.Is(err, store.ErrNotFound) {
		errs = append(errs, notFound(tx, "library", p.HomeLibrary))
	} else if err != nil {
		return err
	}
	if p.Birthdate != "" {
		if _, err := time.Parse(time.DateOnly, p.Birthdate); err != nil {
			errs = append(errs, fmt.Errorf("birthdate %q: not a date (YYYY-MM-DD)", p.Birthdate))
		}
	}
	if p.Language != "" && !isLanguageCode(p.Language) {
		errs = append(errs, fmt.Errorf("language %q: give an ISO 639-2 code of three letters, such as eng", p.Language))
	}
	for _, c := range p.Contacts {
		// The student information system's addresses are its to correct.
		if c.Kind == "email" && !c.External {
			if msg := checkEmail(c.Value); msg != "" {
				errs = append(errs, fmt.Errorf("e-mail %q: %s", c.Value, msg))
			}
		}
		if c.Kind == "sms" && !c.External {
			if msg := checkSMS(c.Value); msg != "" {
				errs = append(errs, fmt.Errorf("SMS number %q: %s", c.Value, msg))
			}
		}
	}
	values := []string{p.Barcode}
	for _, id := range p.Identifiers {
		values = append(values, id.Value)
	}
	for _, v := range values {
		for _, owner := range tx.PatronsWithValue(v) {
			if owner != p.ID {
				errs = append(errs, fmt.Errorf("%q is already the barcode or an identifier of another patron", v))
				break
			}
		}
	}
	return errors.Join(errs...)
}

func isLanguageCode(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := range 3 {
		if s[i] < 'a' || s[i] > 'z' {
			return false
		}
	}
	return true
}

// checkSMS is a sanity check of a number for texts: digits, with an
// optional leading + and the spaces and punctuation people write numbers
// with, so that an SMS gateway can read it.
func checkSMS(s string) string {
	digits := 0
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r == '+' && i == 0, r == ' ', r == '-', r == '.', r == '(', r == ')':
		default:
			return "use digits, with a leading + and spaces, dashes, dots or brackets only"
		}
	}
	if digits < 3 || digits > 15 {
		return "needs 3 to 15 digits"
	}
	return ""
}

// checkEmail is a sanity check, not RFC 5322: one @ with something on
// each side, a dot in the domain, no spaces.
func checkEmail(s string) string {
	local, domain, ok := strings.Cut(s, "@")
	switch {
	case !ok || local == "" || domain == "":
		return "needs a name and a domain around an @"
	case strings.Contains(domain, "@"):
		return "has more than one @"
	case strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		return "has spaces or control characters"
	case !strings.Contains(strings.Trim(domain, "."), "."):
		return "the domain has no dot"
	}
	return ""
}
