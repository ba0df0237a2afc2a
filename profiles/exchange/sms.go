package exchange

import (
	"bytes"
	"context"
	"encoding/csv"
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
	Library   string
}

// smsNotice is one notice due, with the key that marks it sent.
type smsNotice struct {
	key   string
	kind  string
	phone string
	lang  string
	data  NoticeData
}

// buildSMS renders the notices now due to patrons with an SMS contact into
// one CSV file for the provider (phone, language, notice, message), and
// marks each notice sent in the same transaction, so it goes out once: a
// hold on the shelf once per request, a courtesy and an overdue notice once
// per loan and due date, a fee notice once per fee.
func (s *Scheduler) buildSMS(ctx context.Context, p *profiles.Exchange) (int, error) {
	ss := p.SMS
	now := s.o.Circ.Now().Truncate(time.Second)
	tmpls := map[string]*template.Template{}
	for lang, set := range ss.Templates {
		for kind, body := range set {
			t, err := template.New(kind).Option("missingkey=error").Parse(body)
			if err != nil {
				return 0, fmt.Errorf("sms template %s/%s: %w", lang, kind, err)
			}
			tmpls[lang+"/"+kind] = t
		}
	}
	// The notices due are found and rendered in a read transaction; the
	// write transaction only marks them sent and stores the file.
	type row struct {
		key    string
		fields []string
	}
	var rows []row
	err := s.db.View(ctx, func(tx *store.Tx) error {
		notices, err := s.dueNotices(tx, p, now)
		if err != nil {
			return err
		}
		for _, nt := range notices {
			t, ok := tmpls[nt.lang+"/"+nt.kind]
			if !ok {
				t, nt.lang = tmpls[ss.DefaultLanguage+"/"+nt.kind], ss.DefaultLanguage
			}
			var msg strings.Builder
			if err := t.Execute(&msg, nt.data); err != nil {
				return fmt.Errorf("sms template %s/%s: %w", nt.lang, nt.kind, err)
			}
			rows = append(rows, row{nt.key, []string{nt.phone, nt.lang, nt.kind, strings.Join(strings.Fields(msg.String()), " ")}})
		}
		return nil
	})
	if err != nil || len(rows) == 0 {
		return 0, err
	}
	n := 0
	err = s.db.Update(ctx, func(tx *store.Tx) error {
		n = 0
		var buf bytes.Buffer
		cw := csv.NewWriter(&buf)
		cw.Write([]string{"phone", "language", "notice", "message"})
		for _, r := range rows {
			var sent time.Time
			if err := tx.Meta(markKey(p.Code, r.key), &sent); err == nil {
				continue // sent meanwhile
			} else if !errors.Is(err, store.ErrNotFound) {
				return err
			}
			cw.Write(r.fields)
			if err := tx.SetMeta(markKey(p.Code, r.key), now); err != nil {
				return err
			}
			n++
		}
		cw.Flush()
		if err := cw.Error(); err != nil || n == 0 {
			return err
		}
		_, err := addEntry(tx, p, now, "csv", buf.Bytes(), delivery.Summary{Records: n})
		return err
	})
	return n, err
}

// dueNotices lists the notices due and not yet sent, up to the profile's
// file size.
func (s *Scheduler) dueNotices(tx *store.Tx, p *profiles.Exchange, now time.Time) ([]smsNotice, error) {
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
	// add queues a notice unless it was sent or the patron has no SMS
	// contact.
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
		c, ok := pt.ContactOf("sms")
		if !ok || strings.TrimSpace(c.Value) == "" {
			return nil
		}
		nt := smsNotice{key: key, kind: kind, phone: c.Value, lang: pt.Language,
			data: NoticeData{FirstName: pt.FirstName, Name: pt.FullName()}}
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
				d.Amount, d.Currency, d.Library = circ.FormatAmount(f.Balance, f.Currency), f.Currency, libraryName(tx, f.Library)
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

func libraryName(tx *store.Tx, code string) string {
	if l, err := tx.Library(code); err == nil && l.Name != "" {
		return l.Name
	}
	return code
}
