package exchange

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/profiles"
	"github.com/circa-ils/circa/profiles/delivery"
	"github.com/circa-ils/circa/store"
)

// xmlUser is a users/user element of Alma's users file, as far as circa
// reads it.
type xmlUser struct {
	PrimaryID   string `xml:"primary_id"`
	FirstName   string `xml:"first_name"`
	LastName    string `xml:"last_name"`
	UserGroup   string `xml:"user_group"`
	JobTitle    string `xml:"job_description"`
	Language    string `xml:"preferred_language"`
	Birthdate   string `xml:"birth_date"`
	Expiry      string `xml:"expiry_date"`
	Campus      string `xml:"campus_code"`
	ShareLib    string `xml:"rs_libraries>rs_library"`
	HomeLibrary string `xml:"home_library"`
	PIN         string `xml:"pin_number"`
	Addresses   []struct {
		Preferred string `xml:"preferred,attr"`
		Line1     string `xml:"line1"`
		Line2     string `xml:"line2"`
		City      string `xml:"city"`
		Region    string `xml:"state_province"`
		Postal    string `xml:"postal_code"`
		Country   string `xml:"country"`
		Type      string `xml:"address_types>address_type"`
	} `xml:"contact_info>addresses>address"`
	Emails []struct {
		Preferred string `xml:"preferred,attr"`
		Address   string `xml:"email_address"`
		Type      string `xml:"email_types>email_type"`
	} `xml:"contact_info>emails>email"`
	Phones []struct {
		Preferred    string `xml:"preferred,attr"`
		PreferredSMS string `xml:"preferred_sms,attr"`
		Number       string `xml:"phone_number"`
		Type         string `xml:"phone_types>phone_type"`
	} `xml:"contact_info>phones>phone"`
	Identifiers []struct {
		Type  string `xml:"id_type"`
		Value string `xml:"value"`
	} `xml:"user_identifiers>user_identifier"`
	Blocks []struct {
		Type        string `xml:"block_type"`
		Description string `xml:"block_description"`
		Status      string `xml:"block_status"`
		Note        string `xml:"block_note"`
		Created     string `xml:"created_date"`
	} `xml:"user_blocks>user_block"`
}

// ParseUsers reads a users file (users/user, Alma's shape) into sync users,
// matched on the identifier type match (barcode: primary_id). Every problem
// is collected — a user without the match identifier or a last name, a bad
// date, the same user twice, broken or truncated XML, text not in its
// declared encoding — and any problem refuses the whole file (*FileError).
func ParseUsers(name string, data []byte, match string) ([]circ.SyncUser, error) {
	fe := &FileError{File: name}
	if p := checkText(data); p != nil {
		fe.Problems = append(fe.Problems, *p)
		return nil, fe
	}
	d := newDecoder(bytes.NewReader(data))
	var out []circ.SyncUser
	seen := map[string]int{}
	sawRoot := false
	for len(fe.Problems) < maxProblems {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			fe.Problems = append(fe.Problems, xmlProblem(d, err))
			break
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		if se.Name.Local == "users" {
			sawRoot = true
			continue
		}
		if se.Name.Local != "user" {
			if err := d.Skip(); err != nil {
				fe.Problems = append(fe.Problems, xmlProblem(d, err))
				break
			}
			continue
		}
		line, _ := d.InputPos()
		var x xmlUser
		if err := d.DecodeElement(&x, &se); err != nil {
			fe.Problems = append(fe.Problems, xmlProblem(d, err))
			break
		}
		u, problems := toSyncUser(&x, match)
		u.Line = line
		key := store.NormalizeBarcode(u.MatchValue)
		if first, dup := seen[key]; dup && key != "" {
			problems = append(problems, fmt.Sprintf("user %s repeats line %d", u.MatchValue, first))
		} else {
			seen[key] = line
		}
		if len(problems) > 0 {
			fe.Problems = append(fe.Problems, LineError{Line: line, Msg: strings.Join(problems, "; ")})
			continue
		}
		out = append(out, u)
	}
	if !sawRoot && len(fe.Problems) == 0 {
		fe.Problems = append(fe.Problems, LineError{Line: 1, Msg: "not a users file (no users element)"})
	}
	if len(fe.Problems) > 0 {
		return nil, fe
	}
	return out, nil
}

func truthy(s string) bool { return strings.EqualFold(strings.TrimSpace(s), "true") }

func toSyncUser(x *xmlUser, match string) (circ.SyncUser, []string) {
	tr := strings.TrimSpace
	u := circ.SyncUser{PrimaryID: tr(x.PrimaryID), FirstName: tr(x.FirstName), LastName: tr(x.LastName),
		UserGroup: tr(x.UserGroup), JobTitle: tr(x.JobTitle), Language: tr(x.Language), Campus: tr(x.Campus),
		ShareLib: tr(x.ShareLib), HomeLibrary: tr(x.HomeLibrary)}
	var problems []string
	if x.PIN != "" {
		u.PINHash = x.PIN // hashed by the caller before the sync; see hashPINs
	}
	for _, id := range x.Identifiers {
		if tr(id.Type) == "" || tr(id.Value) == "" {
			continue
		}
		u.Identifiers = append(u.Identifiers, store.Identifier{Type: tr(id.Type), Value: tr(id.Value)})
		if strings.EqualFold(tr(id.Type), match) {
			u.MatchValue = tr(id.Value)
		}
	}
	if match == store.IdentBarcode {
		u.MatchValue = u.PrimaryID
	}
	if u.MatchValue == "" {
		problems = append(problems, fmt.Sprintf("no %s identifier to match on", match))
	}
	if u.LastName == "" {
		problems = append(problems, "no last_name")
	}
	if x.Birthdate != "" {
		if t, err := parseDate(x.Birthdate); err != nil {
			problems = append(problems, "birth_date: "+err.Error())
		} else {
			u.Birthdate = t.Format("2006-01-02")
		}
	}
	if x.Expiry != "" {
		if t, err := parseDate(x.Expiry); err != nil {
			problems = append(problems, "expiry_date: "+err.Error())
		} else {
			u.Expiry = t
		}
	}
	for _, a := range x.Addresses {
		u.Contacts = append(u.Contacts, store.Contact{Kind: "address", Type: tr(a.Type), Line1: tr(a.Line1), Line2: tr(a.Line2),
			City: tr(a.City), Region: tr(a.Region), Postal: tr(a.Postal), Country: tr(a.Country), Preferred: truthy(a.Preferred)})
	}
	for _, e := range x.Emails {
		if tr(e.Address) != "" {
			u.Contacts = append(u.Contacts, store.Contact{Kind: "email", Type: tr(e.Type), Value: tr(e.Address), Preferred: truthy(e.Preferred)})
		}
	}
	for _, ph := range x.Phones {
		if tr(ph.Number) == "" {
			continue
		}
		u.Contacts = append(u.Contacts, store.Contact{Kind: "phone", Type: tr(ph.Type), Value: tr(ph.Number), Preferred: truthy(ph.Preferred)})
		if truthy(ph.PreferredSMS) {
			u.Contacts = append(u.Contacts, store.Contact{Kind: "sms", Value: tr(ph.Number), Preferred: true})
		}
	}
	for _, b := range x.Blocks {
		if st := tr(b.Status); st != "" && !strings.EqualFold(st, "ACTIVE") {
			continue
		}
		blk := store.Block{Type: tr(b.Type), Note: tr(b.Note)}
		if blk.Note == "" {
			blk.Note = tr(b.Description)
		}
		if b.Created != "" {
			if t, err := parseDate(b.Created); err == nil {
				blk.Created = t
			}
		}
		if blk.Type == "" {
			problems = append(problems, "a user_block without block_type")
			continue
		}
		u.Blocks = append(u.Blocks, blk)
	}
	return u, problems
}

// hashPINs replaces the plain PINs of users (held in PINHash by ParseUsers)
// with hashes, keeping the stored hash when it already matches so an
// unchanged PIN is not reported as a change. Hashing runs outside any
// write transaction.
func (s *Scheduler) hashPINs(ctx context.Context, match string, users []circ.SyncUser) error {
	stored := map[int]string{}
	err := s.db.View(ctx, func(tx *store.Tx) error {
		for i := range users {
			if users[i].PINHash == "" {
				continue
			}
			if p, err := tx.PatronByIdentifier(match, users[i].MatchValue); err == nil {
				stored[i] = p.PINHash
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i := range users {
		pin := users[i].PINHash
		if pin == "" {
			continue
		}
		if h := stored[i]; h != "" {
			if ok, _ := circ.VerifySecret(h, pin); ok {
				users[i].PINHash = h
				continue
			}
		}
		h, err := circ.HashSecret(pin)
		if err != nil {
			return err
		}
		users[i].PINHash = h
	}
	return nil
}

// importUsers synchronises patrons with a users file in chunks of
// syncChunk users, one store transaction each, after the whole file has
// parsed. A re-run of the same file changes nothing more, so a run cut
// short between chunks is finished by running the file again.
func (s *Scheduler) importUsers(ctx context.Context, p *profiles.Exchange, name string, data []byte, o RunOptions, run *Run) error {
	us := p.Users
	users, err := ParseUsers(name, data, us.MatchIdentifier)
	if err != nil {
		return err
	}
	if err := s.hashPINs(ctx, us.MatchIdentifier, users); err != nil {
		return err
	}
	opts := circ.SyncOptions{Agent: circ.Agent{Protocol: "exchange", Account: p.Code, Library: p.Library},
		MatchType: us.MatchIdentifier, AddNew: us.AddNew, HomeLibrary: us.HomeLibrary, DryRun: o.DryRun}
	var report []string
	counts := map[string]int{}
	for start := 0; start < len(users); start += syncChunk {
		chunk := users[start:min(start+syncChunk, len(users))]
		outcomes, err := s.o.Circ.SyncPatrons(ctx, opts, chunk)
		if err != nil {
			return fmt.Errorf("%s: users from line %d: %w", name, chunk[0].Line, err)
		}
		for _, oc := range outcomes {
			counts[oc.Action]++
			switch oc.Action {
			case circ.SyncRejected:
				report = append(report, fmt.Sprintf("line %d: user %s rejected: %s", oc.Line, oc.Match, oc.Reason))
			case circ.SyncAdded, circ.SyncUpdated:
				run.Records++
				if o.DryRun {
					o.emit(fmt.Sprintf("line %d: user %s would be %s %s", oc.Line, oc.Match, oc.Action, strings.Join(oc.Changed, ", ")))
				}
			}
		}
		if s.o.Progress != nil {
			s.o.Progress(p.Code, start+len(chunk), len(users))
		}
	}
	if o.DryRun {
		for _, l := range report {
			o.emit(l)
		}
		o.emit(fmt.Sprintf("%s: %d to add, %d to update, %d unchanged, %d rejected", name,
			counts[circ.SyncAdded], counts[circ.SyncUpdated], counts[circ.SyncUnchanged], counts[circ.SyncRejected]))
	}
	return s.report(p, name, report, run)
}

// buildUsers exports the users whose record or blocks changed since the
// last export (changes made by the sync itself excepted), in the users
// file's shape, with their blocks.
func (s *Scheduler) buildUsers(ctx context.Context, p *profiles.Exchange) (int, error) {
	now := s.o.Circ.Now().Truncate(time.Second)
	n := 0
	err := s.db.Update(ctx, func(tx *store.Tx) error {
		n = 0
		cur := tx.Cursor(cursorName(p.Code))
		last := cur
		var ids []uint64
		seen := map[uint64]bool{}
		err := tx.JournalAfter(cur, func(e store.Event) bool {
			if len(ids) >= p.Records() {
				return false
			}
			last = e.Seq
			if e.Kind == "patron.sync" || e.Kind == "seed" {
				return true
			}
			for _, r := range e.Refs {
				if r.Kind == "patron" && !seen[r.ID] {
					seen[r.ID] = true
					ids = append(ids, r.ID)
				}
			}
			return true
		})
		if err != nil {
			return err
		}
		if last == cur {
			return nil
		}
		if err := tx.SetCursor(cursorName(p.Code), last); err != nil {
			return err
		}
		var pats []store.Patron
		for _, id := range ids {
			pt, err := tx.Patron(id)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if pt.External {
				pats = append(pats, pt)
			}
		}
		if len(pats) == 0 {
			return nil
		}
		n = len(pats)
		content := renderUsers(pats)
		_, err = addEntry(tx, p, now, "xml", content, delivery.Summary{Records: n})
		return err
	})
	return n, err
}

// renderUsers writes patrons as a users file: core fields, contact
// segments (segment_type External or Internal), identifiers and active
// blocks. PINs never leave circa.
func renderUsers(pats []store.Patron) []byte {
	seg := func(external bool) string {
		if external {
			return "External"
		}
		return "Internal"
	}
	w := newXW()
	w.open("users", "total_record_count", fmt.Sprint(len(pats)))
	for _, pt := range pats {
		w.open("user")
		w.elem("record_type", "PUBLIC")
		w.elem("primary_id", pt.Barcode)
		w.elem("first_name", pt.FirstName)
		w.elem("last_name", pt.LastName)
		w.elem("user_group", pt.UserGroup)
		w.opt("job_description", pt.JobTitle)
		w.opt("preferred_language", pt.Language)
		w.opt("birth_date", pt.Birthdate)
		if !pt.Expiry.IsZero() {
			w.elem("expiry_date", pt.Expiry.UTC().Format("2006-01-02")+"Z")
		}
		w.opt("campus_code", pt.Campus)
		w.elem("account_type", "EXTERNAL")
		w.elem("status", "ACTIVE")
		w.open("contact_info")
		w.open("addresses")
		for _, c := range pt.Contacts {
			if c.Kind != "address" {
				continue
			}
			w.open("address", "preferred", fmt.Sprint(c.Preferred), "segment_type", seg(c.External))
			w.opt("line1", c.Line1)
			w.opt("line2", c.Line2)
			w.opt("city", c.City)
			w.opt("state_province", c.Region)
			w.opt("postal_code", c.Postal)
			w.opt("country", c.Country)
			if c.Type != "" {
				w.open("address_types")
				w.elem("address_type", c.Type)
				w.close("address_types")
			}
			w.close("address")
		}
		w.close("addresses")
		w.open("emails")
		for _, c := range pt.Contacts {
			if c.Kind == "email" {
				w.open("email", "preferred", fmt.Sprint(c.Preferred), "segment_type", seg(c.External))
				w.elem("email_address", c.Value)
				w.close("email")
			}
		}
		w.close("emails")
		w.open("phones")
		sms, hasSMS := pt.ContactOf("sms")
		for _, c := range pt.Contacts {
			if c.Kind == "phone" {
				w.open("phone", "preferred", fmt.Sprint(c.Preferred), "preferred_sms", fmt.Sprint(hasSMS && sms.Value == c.Value),
					"segment_type", seg(c.External))
				w.elem("phone_number", c.Value)
				w.close("phone")
			}
		}
		w.close("phones")
		w.close("contact_info")
		w.open("user_identifiers")
		for _, id := range pt.Identifiers {
			w.open("user_identifier", "segment_type", "External")
			w.elem("id_type", id.Type)
			w.elem("value", id.Value)
			w.elem("status", "ACTIVE")
			w.close("user_identifier")
		}
		w.close("user_identifiers")
		w.open("user_blocks")
		for _, b := range pt.Blocks {
			w.open("user_block", "segment_type", seg(b.External))
			w.elem("block_type", b.Type)
			w.elem("block_status", "ACTIVE")
			w.opt("block_note", b.Note)
			if !b.Created.IsZero() {
				w.elem("created_date", b.Created.UTC().Format(time.RFC3339))
			}
			w.close("user_block")
		}
		w.close("user_blocks")
		w.close("user")
	}
	w.close("users")
	return w.bytes()
}
