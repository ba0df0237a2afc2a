package exchange

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/profiles"
	"github.com/circa-ils/circa/profiles/delivery"
	"github.com/circa-ils/circa/store"
)

// xmlUser is a users/user element of Alma's users file, as far as circa
// reads it.
type xmlUser struct {
	PrimaryID, FirstName, LastName, UserGroup, JobTitle, Language string
	Birthdate, Expiry, Campus, ShareLib, HomeLibrary, PIN         string
	Status                                                        string

	Addresses   []xmlAddress
	Emails      []xmlEmail
	Phones      []xmlPhone
	Identifiers []xmlIdentifier
	Blocks      []xmlBlock
}

type xmlAddress struct{ Preferred, Line1, Line2, City, Region, Postal, Country, Type string }
type xmlEmail struct{ Preferred, Address, Type string }
type xmlPhone struct{ Preferred, PreferredSMS, Number, Type string }
type xmlIdentifier struct{ Type, Value string }
type xmlBlock struct{ Type, Description, Status, Note, Created string }

// Paths below <user> of the repeated parts.
const (
	pathAddress    = "contact_info/addresses/address"
	pathEmail      = "contact_info/emails/email"
	pathPhone      = "contact_info/phones/phone"
	pathIdentifier = "user_identifiers/user_identifier"
	pathBlock      = "user_blocks/user_block"
)

func last[T any](s []T) *T {
	if len(s) == 0 {
		return nil
	}
	return &s[len(s)-1]
}

// set stores the text of the element at path (below <user>).
func (x *xmlUser) set(path, v string) {
	switch path {
	case "primary_id":
		x.PrimaryID = v
	case "first_name":
		x.FirstName = v
	case "last_name":
		x.LastName = v
	case "user_group":
		x.UserGroup = v
	case "job_description":
		x.JobTitle = v
	case "preferred_language":
		x.Language = v
	case "birth_date":
		x.Birthdate = v
	case "expiry_date":
		x.Expiry = v
	case "campus_code":
		x.Campus = v
	case "rs_libraries/rs_library":
		x.ShareLib = v
	case "home_library":
		x.HomeLibrary = v
	case "pin_number":
		x.PIN = v
	case "status":
		x.Status = v
	}
	parent, field, _ := cutLast(path)
	switch parent {
	case pathAddress, pathAddress + "/address_types":
		if a := last(x.Addresses); a != nil {
			switch field {
			case "line1":
				a.Line1 = v
			case "line2", "line3", "line4", "line5":
				// circa keeps two lines: Alma's third to fifth join the second.
				if v != "" && a.Line2 != "" {
					a.Line2 += ", "
				}
				a.Line2 += v
			case "city":
				a.City = v
			case "state_province":
				a.Region = v
			case "postal_code":
				a.Postal = v
			case "country":
				a.Country = v
			case "address_type":
				a.Type = v
			}
		}
	case pathEmail, pathEmail + "/email_types":
		if e := last(x.Emails); e != nil {
			switch field {
			case "email_address":
				e.Address = v
			case "email_type":
				e.Type = v
			}
		}
	case pathPhone, pathPhone + "/phone_types":
		if ph := last(x.Phones); ph != nil {
			switch field {
			case "phone_number":
				ph.Number = v
			case "phone_type":
				ph.Type = v
			}
		}
	case pathIdentifier:
		if id := last(x.Identifiers); id != nil {
			switch field {
			case "id_type":
				id.Type = v
			case "value":
				id.Value = v
			}
		}
	case pathBlock:
		if b := last(x.Blocks); b != nil {
			switch field {
			case "block_type":
				b.Type = v
			case "block_description":
				b.Description = v
			case "block_status":
				b.Status = v
			case "block_note":
				b.Note = v
			case "created_date":
				b.Created = v
			}
		}
	}
}

// begin notes a repeated part starting at path.
func (x *xmlUser) begin(path string, attrs []xml.Attr) {
	attr := func(name string) string {
		for _, a := range attrs {
			if a.Name.Local == name {
				return a.Value
			}
		}
		return ""
	}
	switch path {
	case pathAddress:
		x.Addresses = append(x.Addresses, xmlAddress{Preferred: attr("preferred")})
	case pathEmail:
		x.Emails = append(x.Emails, xmlEmail{Preferred: attr("preferred")})
	case pathPhone:
		x.Phones = append(x.Phones, xmlPhone{Preferred: attr("preferred"), PreferredSMS: attr("preferred_sms")})
	case pathIdentifier:
		x.Identifiers = append(x.Identifiers, xmlIdentifier{})
	case pathBlock:
		x.Blocks = append(x.Blocks, xmlBlock{})
	}
}

func cutLast(path string) (parent, name string, ok bool) {
	i := strings.LastIndexByte(path, '/')
	if i < 0 {
		return "", path, false
	}
	return path[:i], path[i+1:], true
}

// usersReader walks a users file with the decoder's raw tokenizer: element
// names are matched by local name (prefixes ignored), and start and end
// tags are checked to match here, since RawToken does not.
type usersReader struct {
	d     *xml.Decoder
	stack []string // local names of the open elements
}

func (r *usersReader) token() (xml.Token, error) {
	tok, err := r.d.RawToken()
	if err != nil {
		if errors.Is(err, io.EOF) && len(r.stack) > 0 {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	switch t := tok.(type) {
	case xml.StartElement:
		r.stack = append(r.stack, t.Name.Local)
	case xml.EndElement:
		if len(r.stack) == 0 || r.stack[len(r.stack)-1] != t.Name.Local {
			open := "nothing"
			if len(r.stack) > 0 {
				open = "<" + r.stack[len(r.stack)-1] + ">"
			}
			line, _ := r.d.InputPos()
			return nil, &xml.SyntaxError{Line: line, Msg: "</" + t.Name.Local + "> closes " + open}
		}
		r.stack = r.stack[:len(r.stack)-1]
	}
	return tok, nil
}

// user reads the rest of a <user> element whose start tag was just read.
func (r *usersReader) user() (xmlUser, error) {
	var x xmlUser
	base := len(r.stack)
	var text []byte
	path := ""
	for {
		tok, err := r.token()
		if err != nil {
			return x, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if path == "" {
				path = t.Name.Local
			} else {
				path += "/" + t.Name.Local
			}
			x.begin(path, t.Attr)
			text = text[:0]
		case xml.CharData:
			text = append(text, t...)
		case xml.EndElement:
			if len(r.stack) < base {
				return x, nil // </user>
			}
			x.set(path, strings.TrimSpace(string(text)))
			text = text[:0]
			path, _, _ = cutLast(path)
		}
	}
}

// ParseUsers reads a users file (users/user, Alma's shape) into sync users,
// matched on the identifier type match (barcode: primary_id). Every problem
// is collected — a user without the match identifier or a last name, a bad
// date, the same user twice, broken or truncated XML, text not in its
// declared encoding — and any problem refuses the whole file (*FileError).
func ParseUsers(name string, data []byte, match string) ([]User, error) {
	fe := &FileError{File: name}
	if p := checkText(data); p != nil {
		fe.Problems = append(fe.Problems, *p)
		return nil, fe
	}
	r := &usersReader{d: newDecoder(bytes.NewReader(data))}
	var out []User
	seen := map[string]int{}
	sawRoot := false
	for len(fe.Problems) < maxProblems {
		tok, err := r.token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			fe.Problems = append(fe.Problems, xmlProblem(r.d, err))
			break
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		switch {
		case se.Name.Local == "users" && len(r.stack) == 1:
			sawRoot = true
			continue
		case se.Name.Local != "user" || len(r.stack) != 2:
			continue
		}
		line, _ := r.d.InputPos()
		x, err := r.user()
		if err != nil {
			fe.Problems = append(fe.Problems, xmlProblem(r.d, err))
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

func toSyncUser(x *xmlUser, match string) (User, []string) {
	tr := strings.TrimSpace
	u := User{PIN: x.PIN}
	u.SyncUser = circ.SyncUser{PrimaryID: tr(x.PrimaryID), FirstName: tr(x.FirstName), LastName: tr(x.LastName),
		UserGroup: tr(x.UserGroup), JobTitle: tr(x.JobTitle), Language: tr(x.Language), Campus: tr(x.Campus),
		ShareLib: tr(x.ShareLib), HomeLibrary: tr(x.HomeLibrary), Status: tr(x.Status)}
	var problems []string
	for _, id := range x.Identifiers {
		if tr(id.Type) == "" || tr(id.Value) == "" {
			continue
		}
		if strings.EqualFold(tr(id.Type), match) {
			u.MatchValue = tr(id.Value)
		}
		if strings.EqualFold(tr(id.Type), store.IdentBarcode) {
			continue // the card barcode is the patron's barcode, not another identifier
		}
		u.Identifiers = append(u.Identifiers, store.Identifier{Type: tr(id.Type), Value: tr(id.Value)})
	}
	// Without a BARCODE identifier, Alma's primary id is the barcode.
	if match == store.IdentBarcode && u.MatchValue == "" {
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
		} else if day, ok := dayOf(x.Expiry); ok {
			// Alma writes a day (2027-10-31Z): the user expires at its end.
			u.ExpiryDay = day
		} else {
			u.Expiry = t
		}
	}
	for _, a := range x.Addresses {
		if tr(a.Line1+a.Line2+a.City+a.Postal+a.Region+a.Country) == "" {
			continue
		}
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

// User is one user of a users file: what the sync applies, and the plain
// PIN the file gave, which is hashed before the sync and never stored.
type User struct {
	circ.SyncUser
	PIN string
}

// hashPINs turns parsed users into sync users, hashing the PINs they carry
// outside any write transaction (on every core: hashing is the slow part).
// A patron's stored hash is kept when the PIN still matches it, so an
// unchanged PIN is not reported as a change.
func (s *Scheduler) hashPINs(ctx context.Context, match string, users []User) ([]circ.SyncUser, error) {
	out := make([]circ.SyncUser, len(users))
	stored := map[int]string{}
	err := s.db.View(ctx, func(tx store.Tx) error {
		for i := range users {
			out[i] = users[i].SyncUser
			if users[i].PIN == "" {
				continue
			}
			if p, err := tx.PatronByIdentifier(match, users[i].MatchValue); err == nil {
				stored[i] = p.PINHash
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var g errgroup.Group
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i := range users {
		pin := users[i].PIN
		if pin == "" {
			continue
		}
		old := stored[i]
		g.Go(func() error {
			if old != "" {
				if ok, _ := circ.VerifySecretWaiting(old, pin); ok {
					out[i].PINHash = old
					return nil
				}
			}
			h, err := circ.HashSecret(pin)
			out[i].PINHash = h
			return err
		})
	}
	return out, g.Wait()
}

// importUsers synchronises patrons with a users file in chunks of
// syncChunk users, one store transaction each, after the whole file has
// parsed. A re-run of the same file changes nothing more, so a run cut
// short between chunks is finished by running the file again.
func (s *Scheduler) importUsers(ctx context.Context, p *profiles.Exchange, name string, data []byte, o RunOptions, run *Run) error {
	us := p.Users
	parsed, err := ParseUsers(name, data, us.MatchIdentifier)
	if err != nil {
		return err
	}
	users, err := s.hashPINs(ctx, us.MatchIdentifier, parsed)
	if err != nil {
		return err
	}
	opts := circ.SyncOptions{Agent: circ.Agent{Protocol: "exchange", Account: p.Code, Library: p.Library},
		MatchType: us.MatchIdentifier, AddNew: us.AddNew, HomeLibrary: us.HomeLibrary, DryRun: o.DryRun, Groups: us.Groups}
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
	return s.pages(ctx, func() (int, bool, error) { return s.buildUsersPage(ctx, p) })
}

func (s *Scheduler) buildUsersPage(ctx context.Context, p *profiles.Exchange) (int, bool, error) {
	now := s.o.Circ.Now().Truncate(time.Second)
	n, scanned := 0, 0
	err := s.db.Update(ctx, func(tx store.Tx) error {
		n, scanned = 0, 0
		cur := tx.Cursor(cursorName(p.Code))
		last := cur
		var ids []uint64
		seen := map[uint64]bool{}
		err := tx.JournalAfter(cur, func(e store.Event) bool {
			if len(ids) >= p.Records() || scanned >= journalPage {
				return false
			}
			scanned++
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
	return n, scanned >= journalPage, err
}

// isStatusBlock reports whether b is the block a file's status placed.
func isStatusBlock(b store.Block) bool { return b.External && b.Type == circ.BlockInactive }

// statusOf is the status a users file gives the patron: INACTIVE while the
// block an INACTIVE file placed stands.
func statusOf(p *store.Patron) string {
	for _, b := range p.Blocks {
		if isStatusBlock(b) {
			return "INACTIVE"
		}
	}
	return circ.StatusActive
}

// sameNumber tells whether two phone numbers are one, as written with
// different spaces or punctuation.
func sameNumber(a, b string) bool {
	digits := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, s)
	}
	return strings.TrimSpace(a) == strings.TrimSpace(b) || digits(a) != "" && digits(a) == digits(b)
}

// typeList writes the types list Alma's schema requires of every address,
// e-mail and phone, empty when the contact has no type.
func typeList(w *xw, list, elem, typ string) {
	w.open(list)
	if typ != "" {
		w.elem(elem, typ)
	}
	w.close(list)
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
		w.elem("status", statusOf(&pt))
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
			typeList(w, "address_types", "address_type", c.Type)
			w.close("address")
		}
		w.close("addresses")
		w.open("emails")
		for _, c := range pt.Contacts {
			if c.Kind == "email" {
				w.open("email", "preferred", fmt.Sprint(c.Preferred), "segment_type", seg(c.External))
				w.elem("email_address", c.Value)
				typeList(w, "email_types", "email_type", c.Type)
				w.close("email")
			}
		}
		w.close("emails")
		w.open("phones")
		sms, hasSMS := pt.ContactOf("sms")
		phones, smsWritten := 0, false
		for _, c := range pt.Contacts {
			if c.Kind == "phone" {
				isSMS := hasSMS && sameNumber(sms.Value, c.Value) && !smsWritten
				smsWritten = smsWritten || isSMS
				phones++
				w.open("phone", "preferred", fmt.Sprint(c.Preferred), "preferred_sms", fmt.Sprint(isSMS),
					"segment_type", seg(c.External))
				w.elem("phone_number", c.Value)
				typeList(w, "phone_types", "phone_type", c.Type)
				w.close("phone")
			}
		}
		if hasSMS && !smsWritten {
			// A number for texts that is none of the patron's phones (set
			// by staff, or a CSV's sms column) is a mobile of its own, as
			// Alma keeps it.
			w.open("phone", "preferred", fmt.Sprint(phones == 0), "preferred_sms", "true", "segment_type", seg(sms.External))
			w.elem("phone_number", sms.Value)
			typeList(w, "phone_types", "phone_type", "mobile")
			w.close("phone")
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
			if isStatusBlock(b) {
				continue // written as the status
			}
			w.open("user_block", "segment_type", seg(b.External))
			w.elem("block_type", b.Type)
			// Alma requires a description; circa's block kind is the code
			// the description stands for.
			w.elem("block_description", b.Type)
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
