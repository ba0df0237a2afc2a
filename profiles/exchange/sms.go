package exchange

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/profiles"
	"github.com/circa-ils/circa/profiles/delivery"
	"github.com/circa-ils/circa/store"
)

// NoticeData is what an SMS template can use; its fields are the ones
// profiles.NoticeFields names.
type NoticeData struct {
	FirstName string
	Name      string
	Title     string
	Barcode   string // the item's
	Due       string // date in the library's zone, YYYY-MM-DD
	Pickup    string // library name
	Expires   string // hold-shelf deadline, YYYY-MM-DD
	Amount    string // fee balance, e.g. 3.50
	Currency  string
	Library   string // name of the item's or fee's library, else the profile's
}

// smsNotice is one notice due, with the key that marks it sent.
type smsNotice struct {
	key   string
	kind  string
	phone string
	lang  string
	data  NoticeData
}

// smsLetters names the file of each notice kind after the Alma letter that
// carries it by SMS: gateways fed by Alma's SMS integration pick up the
// files whose names hold "Ful".
var smsLetters = map[string]string{
	profiles.NoticeHoldShelf: "FulPlaceOnHoldShelfLetter",
	profiles.NoticeCourtesy:  "FulUserLoansCourtesyLetter",
	profiles.NoticeOverdue:   "FulUserOverdueNoticeLetter",
	profiles.NoticeFee:       "FulFinesFeesNotificationLetter",
}

func smsFileName(p *profiles.Exchange, kind string, n uint64, at time.Time) string {
	return fmt.Sprintf("%s_%s_%06d_%s.txt", smsLetters[kind], p.Code, n, at.UTC().Format("20060102T150405Z"))
}

// smsLetter is one message as gateways taking Alma's SMS files read it:
// the number on the first line, the second line skipped, the text after
// it. The number stands alone so that a gateway splitting Alma's
// "number : sender" first line finds it too.
func smsLetter(phone, text string) []byte { return []byte(phone + "\n\n" + text + "\n") }

// noManifest tells whether a profile's files go without a sidecar
// manifest: an SMS gateway texts every file of its directory whose name
// holds "Ful", so a manifest beside a letter would be sent as one.
func noManifest(p *profiles.Exchange) bool { return p.Type == profiles.TypeSMS }

// buildSMS renders the notices now due to patrons with a number for texts
// into one file each for the SMS gateway, and marks each notice sent in
// the same transaction, so it goes out once: a hold on the shelf once per
// request, a courtesy and an overdue notice once per loan and due date, a
// fee notice once per fee.
func (s *Scheduler) buildSMS(ctx context.Context, p *profiles.Exchange) (int, error) {
	ss := p.SMS
	now := s.o.Circ.Now().Truncate(time.Second)
	parsed := map[string]*template.Template{}
	render := func(nt smsNotice) (string, error) {
		body, lang := ss.Template(nt.lang, nt.kind)
		if body == "" {
			return "", fmt.Errorf("sms: no %s template for %q or the default language %q", nt.kind, nt.lang, ss.DefaultLanguage)
		}
		name := lang + "/" + nt.kind
		t, ok := parsed[name]
		if !ok {
			var err error
			if t, err = template.New(name).Option("missingkey=error").Parse(body); err != nil {
				return "", fmt.Errorf("sms template %s: %w", name, err)
			}
			parsed[name] = t
		}
		var msg strings.Builder
		if err := t.Execute(&msg, nt.data); err != nil {
			return "", fmt.Errorf("sms template %s: %w", name, err)
		}
		// The gateway joins the text's lines with spaces; so does this.
		text := strings.Join(strings.Fields(msg.String()), " ")
		if text == "" {
			return "", fmt.Errorf("sms template %s renders an empty message for notice %s", name, nt.key)
		}
		return text, nil
	}
	// The notices due are found and rendered in a read transaction; the
	// write transaction only marks them sent and stores the files.
	type letter struct {
		key, kind string
		content   []byte
	}
	var letters []letter
	err := s.db.View(ctx, func(tx store.Tx) error {
		notices, err := s.dueNotices(tx, p, now)
		if err != nil {
			return err
		}
		for _, nt := range notices {
			text, err := render(nt)
			if err != nil {
				return err
			}
			letters = append(letters, letter{nt.key, nt.kind, smsLetter(nt.phone, text)})
		}
		return nil
	})
	if err != nil || len(letters) == 0 {
		return 0, err
	}
	n := 0
	err = s.db.Update(ctx, func(tx store.Tx) error {
		n = 0
		for _, l := range letters {
			var sent time.Time
			if err := tx.Meta(markKey(p.Code, l.key), &sent); err == nil {
				continue // sent meanwhile
			} else if !errors.Is(err, store.ErrNotFound) {
				return err
			}
			if err := tx.SetMeta(markKey(p.Code, l.key), now); err != nil {
				return err
			}
			name := func(seq uint64) string { return smsFileName(p, l.kind, seq, now) }
			if _, err := addNamedEntry(tx, p, now, name, l.content, delivery.Summary{Records: 1}); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

// smsNumber is the number a patron's notices are texted to: the one marked
// for texts (an "sms" contact, as Alma's preferred_sms makes it), else a
// mobile phone, the preferred one first. A value that cannot stand alone
// on a file's first line, or has no digit, is no number.
func smsNumber(pt *store.Patron) (string, bool) {
	usable := func(c store.Contact) bool {
		v := strings.TrimSpace(c.Value)
		return v != "" && !strings.ContainsAny(v, "\r\n") && strings.ContainsAny(v, "0123456789")
	}
	if c, ok := pt.ContactOf("sms"); ok && usable(c) {
		return strings.TrimSpace(c.Value), true
	}
	var best store.Contact
	found := false
	for _, c := range pt.Contacts {
		if c.Kind == "phone" && strings.EqualFold(strings.TrimSpace(c.Type), "mobile") && usable(c) && (!found || c.Preferred && !best.Preferred) {
			best, found = c, true
		}
	}
	return strings.TrimSpace(best.Value), found
}

// dueNotices lists the notices due and not yet sent, up to the profile's
// file size.
func (s *Scheduler) dueNotices(tx store.Tx, p *profiles.Exchange, now time.Time) ([]smsNotice, error) {
	ss := p.SMS
	kinds := ss.Kinds()
	limit := p.Records()
	var out []smsNotice
	patrons := map[uint64]*store.Patron{}
	patron := func(id uint64) (*store.Patron, error) {
		if pt, ok := patrons[id]; ok {
			return pt, nil
		}
		pt, err := tx.Patron(id)
		if errors.Is(err, store.ErrNotFound) {
			patrons[id] = nil
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		patrons[id] = &pt
		return &pt, nil
	}
	day := func(t time.Time, library string) string {
		if t.IsZero() {
			return ""
		}
		return t.In(s.o.Circ.Zone(tx, library)).Format("2006-01-02")
	}
	// add queues a notice unless it was sent or the patron has no number
	// for texts.
	add := func(kind, key string, patronID uint64, fill func(*NoticeData) error) error {
		if len(out) >= limit {
			return nil
		}
		var sent time.Time
		if err := tx.Meta(markKey(p.Code, key), &sent); err == nil {
			return nil
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		pt, err := patron(patronID)
		if err != nil || pt == nil {
			return err
		}
		phone, ok := smsNumber(pt)
		if !ok {
			return nil
		}
		nt := smsNotice{key: key, kind: kind, phone: phone, lang: pt.Language,
			data: NoticeData{FirstName: pt.FirstName, Name: pt.FullName(), Library: libraryName(tx, p.Library)}}
		if err := fill(&nt.data); err != nil {
			return err
		}
		out = append(out, nt)
		return nil
	}
	itemData := func(d *NoticeData, itemID uint64) error {
		it, err := tx.Item(itemID)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		d.Barcode = it.Barcode
		d.Library = libraryName(tx, it.Library)
		if b, err := tx.Bib(it.BibID); err == nil {
			d.Title = b.Title
		}
		return nil
	}

	if slices.Contains(kinds, profiles.NoticeHoldShelf) {
		var shelf []store.Request
		if err := tx.ForEachRequest(func(r store.Request) bool {
			if r.Status == store.RequestOnShelf && r.Kind != store.RequestRetrieval {
				shelf = append(shelf, r)
			}
			return true
		}); err != nil {
			return nil, err
		}
		for _, r := range shelf {
			if err := add(profiles.NoticeHoldShelf, fmt.Sprintf("hold/%d", r.ID), r.PatronID, func(d *NoticeData) error {
				d.Pickup, d.Expires = libraryName(tx, r.Pickup), day(r.ShelfExpires, r.Pickup)
				if r.ItemID != 0 {
					return itemData(d, r.ItemID)
				}
				if b, err := tx.Bib(r.BibID); err == nil {
					d.Title = b.Title
				}
				return nil
			}); err != nil {
				return nil, err
			}
		}
	}
	courtesy, overdue := slices.Contains(kinds, profiles.NoticeCourtesy), slices.Contains(kinds, profiles.NoticeOverdue)
	if courtesy || overdue {
		days := ss.CourtesyDays
		if days == 0 {
			days = 2
		}
		var loans []store.Loan
		if err := tx.OpenLoansDueBefore(now.AddDate(0, 0, days), func(l store.Loan) bool {
			loans = append(loans, l)
			return true
		}); err != nil {
			return nil, err
		}
		for _, l := range loans {
			kind := profiles.NoticeCourtesy
			if !l.Due.After(now) {
				kind = profiles.NoticeOverdue
			}
			if kind == profiles.NoticeCourtesy && !courtesy || kind == profiles.NoticeOverdue && !overdue {
				continue
			}
			key := fmt.Sprintf("%s/%d/%d", kind, l.ID, l.Due.Unix())
			if err := add(kind, key, l.PatronID, func(d *NoticeData) error {
				d.Due = day(l.Due, l.Library)
				return itemData(d, l.ItemID)
			}); err != nil {
				return nil, err
			}
		}
	}
	if slices.Contains(kinds, profiles.NoticeFee) {
		var fees []store.Fee
		if err := tx.ForEachFee(func(f store.Fee) bool {
			if f.Status == store.FeeOpen && f.Balance > 0 {
				fees = append(fees, f)
			}
			return true
		}); err != nil {
			return nil, err
		}
		for _, f := range fees {
			if err := add(profiles.NoticeFee, fmt.Sprintf("fee/%d", f.ID), f.PatronID, func(d *NoticeData) error {
				d.Amount, d.Currency = circ.FormatAmount(f.Balance, f.Currency), f.Currency
				if f.Library != "" {
					d.Library = libraryName(tx, f.Library)
				}
				if f.ItemID != 0 {
					return itemData(d, f.ItemID)
				}
				return nil
			}); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

func libraryName(tx store.Tx, code string) string {
	if l, err := tx.Library(code); err == nil && l.Name != "" {
		return l.Name
	}
	return code
}
