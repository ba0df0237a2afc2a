package circ

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/circa-ils/circa/store"
)

func ptr(s string) *string { return &s }

// goodForm is a patron every check accepts in newLib's library.
func goodForm(barcode string) PatronForm {
	return PatronForm{Barcode: barcode, LastName: ptr("Lovelace"), FirstName: ptr("Ada"), UserGroup: ptr("UNDERGRAD"),
		HomeLibrary: ptr("MAIN"), Expiry: ptr("2027-06-30"), Language: ptr("ENG"), Email: ptr("ada@example.org"),
		Address: ptr("12 Analytical Row, London, N1 9GU"), Identifiers: []store.Identifier{{Type: "univ_id", Value: "U100"}}}
}

func TestAddPatron(t *testing.T) {
	l := newLib(t)
	head := l.journalHead()
	p, err := l.svc.AddPatron(ctx, goodForm("P100"), atMain)
	if err != nil {
		t.Fatal(err)
	}
	if got := l.events(head); !slices.Equal(got, []string{"patron.add"}) {
		t.Errorf("events %v", got)
	}
	got := l.patronBy("p100")
	if got.ID != p.ID || got.LastName != "Lovelace" || got.Language != "eng" || got.UserGroup != "UNDERGRAD" {
		t.Fatalf("stored %+v", got)
	}
	// The end of 30 June in New York (EDT, UTC-4) is 03:59:59 UTC on 1 July.
	if want := time.Date(2027, 7, 1, 3, 59, 59, 0, time.UTC); !got.Expiry.Equal(want) || got.Expiry.Location() != time.UTC {
		t.Errorf("expiry %v, want %v", got.Expiry, want)
	}
	if a, _ := got.ContactOf("address"); a.Line1 != "12 Analytical Row" || a.City != "London" || a.Postal != "N1 9GU" {
		t.Errorf("address %+v", a)
	}
	if e, _ := got.ContactOf("email"); e.Value != "ada@example.org" {
		t.Errorf("e-mail %+v", e)
	}
	if q, err := l.svc.VerifyPatron(ctx, "U100", "1234"); err == nil {
		t.Errorf("an identifier logged in as a barcode: %+v", q)
	}
}

// TestPatronSMSContact: staff set the number for texts (the "sms" contact
// an SMS profile reads), change it, clear it with an empty value, and a
// number a gateway cannot read is refused with nothing changed.
func TestPatronSMSContact(t *testing.T) {
	l := newLib(t)
	f := goodForm("P200")
	f.SMS = ptr(" +1 607 555 0142 ")
	if _, err := l.svc.AddPatron(ctx, f, atMain); err != nil {
		t.Fatal(err)
	}
	sms := func() (store.Contact, bool) { p := l.patronBy("P200"); return p.ContactOf("sms") }
	if c, ok := sms(); !ok || c.Value != "+1 607 555 0142" || c.External {
		t.Fatalf("sms after add: %+v, %v", c, ok)
	}
	for _, bad := range []string{"call me", "+1 607 555 0142 ext 3", "12", "+1234567890123456", "1+2"} {
		_, err := l.svc.EditPatron(ctx, PatronForm{Barcode: "P200", SMS: ptr(bad)}, atMain)
		if err == nil || !strings.Contains(err.Error(), "SMS number") {
			t.Errorf("%q: %v", bad, err)
		}
	}
	if c, _ := sms(); c.Value != "+1 607 555 0142" {
		t.Fatalf("a refused number changed the sms: %+v", c)
	}
	if _, err := l.svc.EditPatron(ctx, PatronForm{Barcode: "P200", SMS: ptr("(607) 555-0199")}, atMain); err != nil {
		t.Fatal(err)
	}
	if c, _ := sms(); c.Value != "(607) 555-0199" {
		t.Fatalf("sms after edit: %+v", c)
	}
	if _, err := l.svc.EditPatron(ctx, PatronForm{Barcode: "P200", SMS: ptr("")}, atMain); err != nil {
		t.Fatal(err)
	}
	if c, ok := sms(); ok {
		t.Fatalf("sms after clearing: %+v", c)
	}
}

func TestAddPatronRefusals(t *testing.T) {
	l := newLib(t)
	l.patron("TAKEN", "GRAD", func(p *store.Patron) { p.Identifiers = []store.Identifier{{Type: "univ_id", Value: "U7"}} })
	head := l.journalHead()
	cases := []struct {
		name  string
		edit  func(f *PatronForm)
		parts []string
	}{
		{"same barcode", func(f *PatronForm) { f.Barcode = "taken" }, []string{"patron taken", "exists"}},
		{"barcode is another's identifier", func(f *PatronForm) { f.Barcode = "U7" }, []string{`"U7" is already the barcode or an identifier of another patron`}},
		{"identifier is another's barcode", func(f *PatronForm) { f.Identifiers = []store.Identifier{{Type: "library_card", Value: "TAKEN"}} },
			[]string{`"TAKEN" is already`}},
		{"identifier of another's type", func(f *PatronForm) { f.Identifiers = []store.Identifier{{Type: "univ_id", Value: "u7"}} },
			[]string{`"u7" is already`}},
		{"unknown library", func(f *PatronForm) { f.HomeLibrary = ptr("BRANHC") }, []string{"no library BRANHC", `did you mean "BRANCH"`}},
		{"unknown group", func(f *PatronForm) { f.UserGroup = ptr("UNDERGARD") }, []string{"no group UNDERGARD", `did you mean "UNDERGRAD"`}},
		{"no group", func(f *PatronForm) { f.UserGroup = nil }, []string{"needs a group"}},
		{"no last name", func(f *PatronForm) { f.LastName = ptr(" ") }, []string{"needs a last name"}},
		{"bad expiry", func(f *PatronForm) { f.Expiry = ptr("30/06/2027") }, []string{`expiry "30/06/2027": not a date`}},
		{"bad language", func(f *PatronForm) { f.Language = ptr("en") }, []string{`language "en"`, "ISO 639-2"}},
		{"bad e-mail", func(f *PatronForm) { f.Email = ptr("ada@localhost") }, []string{`e-mail "ada@localhost"`, "no dot"}},
		{"two @", func(f *PatronForm) { f.Email = ptr("a@b@c.org") }, []string{"more than one @"}},
		{"bad birthdate", func(f *PatronForm) { f.Birthdate = ptr("1815-02-30") }, []string{`birthdate "1815-02-30"`}},
		{"space in barcode", func(f *PatronForm) { f.Barcode = "P 1" }, []string{"spaces"}},
		{"barcode as identifier type", func(f *PatronForm) { f.Identifiers = []store.Identifier{{Type: "barcode", Value: "X"}} }, []string{"other than barcode"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := goodForm("NEW1")
			c.edit(&f)
			_, err := l.svc.AddPatron(ctx, f, atMain)
			l.wantRefused(err, head, c.parts...)
		})
	}
	// A group the rules name is known before any patron is in it; a
	// patron without an expiry date never expires.
	f := goodForm("NEW2")
	f.UserGroup, f.Expiry = ptr("FACULTY"), nil
	if p, err := l.svc.AddPatron(ctx, f, atMain); err != nil || !p.Expiry.IsZero() {
		t.Fatalf("%+v %v", p, err)
	}
}

// An edit changes only what the form gives; on a patron of the student
// information system it lists the protected fields and identifier types
// staff changed in StaffEdited, and the next sync keeps those, while the
// file's core fields replace staff's.
func TestEditPatronMarksStaffEdits(t *testing.T) {
	l := newLib(t)
	o := SyncOptions{Agent: atMain, MatchType: "univ_id", AddNew: true, HomeLibrary: "MAIN"}
	if _, err := l.svc.SyncPatrons(ctx, o, []SyncUser{syncUser(1, "U1", "Lovelace")}); err != nil {
		t.Fatal(err)
	}
	head := l.journalHead()
	p, err := l.svc.EditPatron(ctx, PatronForm{Barcode: "BU1", LastName: ptr("King"), UserGroup: ptr("GRAD"),
		Email: ptr("ada@example.org"), Identifiers: []store.Identifier{{Type: "card", Value: "C1"}}}, atMain)
	if err != nil {
		t.Fatal(err)
	}
	if got := l.events(head); !slices.Equal(got, []string{"patron.edit"}) {
		t.Errorf("events %v", got)
	}
	if p.FirstName != "Ada" || p.LastName != "King" {
		t.Errorf("edited %+v", p)
	}
	if want := []string{FieldUserGroup, internalIdentifier("card")}; !slices.Equal(p.StaffEdited, want) {
		t.Errorf("staff edited %v, want %v", p.StaffEdited, want)
	}
	u := syncUser(1, "U1", "Lovelace")
	u.FirstName = "Augusta"
	u.Identifiers = append(u.Identifiers, store.Identifier{Type: "card", Value: "C2"})
	if _, err := l.svc.SyncPatrons(ctx, o, []SyncUser{u}); err != nil {
		t.Fatal(err)
	}
	p = l.patronBy("BU1")
	if p.LastName != "Lovelace" || p.FirstName != "Augusta" || p.UserGroup != "GRAD" || identifierOf(&p, "card") != "C1" {
		t.Errorf("after sync: %s %s in %s, card %s; want the file's names, staff's group and card",
			p.FirstName, p.LastName, p.UserGroup, identifierOf(&p, "card"))
	}
	if _, ok := p.ContactOf("email"); !ok {
		t.Error("staff's e-mail was dropped by a file without one")
	}
	// Job title, campus and resource-sharing library staff set are kept;
	// a resource-sharing library must exist.
	if _, err := l.svc.EditPatron(ctx, PatronForm{Barcode: "BU1", ShareLib: ptr("NOWHERE")}, atMain); err == nil {
		t.Error("an unknown resource-sharing library was accepted")
	}
	if _, err := l.svc.EditPatron(ctx, PatronForm{Barcode: "BU1", JobTitle: ptr("Curator"), Campus: ptr("NORTH"), ShareLib: ptr("MAIN")}, atMain); err != nil {
		t.Fatal(err)
	}
	u.JobTitle, u.Campus, u.ShareLib = "TA", "SOUTH", "BRANCH"
	l.svc.SyncPatrons(ctx, o, []SyncUser{u})
	if p = l.patronBy("BU1"); p.JobTitle != "Curator" || p.Campus != "NORTH" || p.ShareLib != "MAIN" {
		t.Errorf("after sync: job %q, campus %q, resource sharing %q; want staff's", p.JobTitle, p.Campus, p.ShareLib)
	}
	// Once staff remove their card, the file's card stands.
	if _, err := l.svc.EditPatron(ctx, PatronForm{Barcode: "BU1", Identifiers: []store.Identifier{{Type: "card"}}}, atMain); err != nil {
		t.Fatal(err)
	}
	l.svc.SyncPatrons(ctx, o, []SyncUser{u})
	if p = l.patronBy("BU1"); identifierOf(&p, "card") != "C2" || slices.Contains(p.StaffEdited, internalIdentifier("card")) {
		t.Errorf("card %q, marks %v after staff removed theirs", identifierOf(&p, "card"), p.StaffEdited)
	}
	// Nothing changed: no event.
	head = l.journalHead()
	if _, err := l.svc.EditPatron(ctx, PatronForm{Barcode: "BU1", LastName: ptr("Lovelace")}, atMain); err != nil {
		t.Fatal(err)
	}
	if h := l.journalHead(); h != head {
		t.Errorf("an edit changing nothing was journalled")
	}
	// An identifier is replaced by type, and removed by an empty value.
	if _, err := l.svc.EditPatron(ctx, PatronForm{Barcode: "BU1", Identifiers: []store.Identifier{{Type: "univ_id", Value: ""}, {Type: "card", Value: "C9"}}}, atMain); err != nil {
		t.Fatal(err)
	}
	if p := l.patronBy("BU1"); !slices.Equal(p.Identifiers, []store.Identifier{{Type: "card", Value: "C9"}}) {
		t.Errorf("identifiers %v", p.Identifiers)
	}
	_, err = l.svc.EditPatron(ctx, PatronForm{Barcode: "NOPE", LastName: ptr("x")}, atMain)
	var nf *NotFoundError
	if !errors.As(err, &nf) || nf.Kind != "patron" {
		t.Errorf("edit of an unknown patron: %v", err)
	}
}

func TestRemovePatronRefusals(t *testing.T) {
	l := newLib(t)
	l.patron("P1", "GRAD")
	l.item("B1", "BOOK", "MAIN", "STACKS")
	it2 := l.item("B2", "BOOK", "MAIN", "STACKS")
	if _, err := l.checkout("P1", "B1"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.svc.PlaceHold(ctx, HoldRequest{Agent: atMain, Patron: "P1", Item: "B2"}); err != nil {
		t.Fatal(err)
	}
	l.charge("P1", "01", "MAIN", 250)
	l.charge("P1", "01", "MAIN", 125)
	head := l.journalHead()
	l.wantRefused(l.svc.RemovePatron(ctx, "P1", atMain), head,
		"patron P1 still has 1 open loan, 1 open request, 2 outstanding fees (owing 3.75 USD)")

	if _, err := l.svc.Checkin(ctx, CheckinRequest{Agent: atMain, Item: "B1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.svc.CancelHold(ctx, CancelHoldRequest{Agent: atMain, Patron: "P1", BibID: it2.BibID}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.svc.PayFee(ctx, PayRequest{Agent: atMain, Patron: "P1", Amount: 375, Currency: "USD"}); err != nil {
		t.Fatal(err)
	}
	head = l.journalHead()
	if err := l.svc.RemovePatron(ctx, "P1", atMain); err != nil {
		t.Fatal(err)
	}
	if got := l.events(head); !slices.Equal(got, []string{"patron.remove"}) {
		t.Errorf("events %v", got)
	}
	if sum, _ := l.svc.PatronStatus(ctx, PatronQuery{Patron: "P1"}); sum.Valid {
		t.Errorf("patron still there")
	}
	var nf *NotFoundError
	if err := l.svc.RemovePatron(ctx, "P1", atMain); !errors.As(err, &nf) {
		t.Errorf("second remove: %v", err)
	}
}

// A PIN set by staff verifies, ends a lock from wrong ones, and is kept by
// the next sync of an external patron.
func TestSetPIN(t *testing.T) {
	l := newLib(t)
	l.patron("P1", "GRAD")
	for range PINFreeFailures + 1 {
		l.svc.VerifyPatron(ctx, "P1", "0000")
	}
	if lock, _ := l.svc.PINLockOf(ctx, "P1"); !lock.Locked(l.svc.Now()) {
		t.Fatalf("not locked after wrong PINs: %+v", lock)
	}
	head := l.journalHead()
	for _, bad := range []string{"12", "12|4", "12\x0034"} {
		if err := l.svc.SetPIN(ctx, "P1", bad, atMain); err == nil {
			t.Errorf("PIN %q accepted", bad)
		}
	}
	if err := l.svc.SetPIN(ctx, "NOPE", "4321", atMain); err == nil {
		t.Errorf("PIN set for an unknown patron")
	}
	if h := l.journalHead(); h != head {
		t.Errorf("refused PINs were journalled")
	}
	if err := l.svc.SetPIN(ctx, "P1", "4321", atMain); err != nil {
		t.Fatal(err)
	}
	if got := l.events(head); !slices.Equal(got, []string{"patron.pin"}) {
		t.Errorf("events %v", got)
	}
	if lock, _ := l.svc.PINLockOf(ctx, "P1"); lock.Failures != 0 || lock.Locked(l.svc.Now()) {
		t.Errorf("lock after PIN set: %+v", lock)
	}
	if _, err := l.svc.VerifyPatron(ctx, "P1", "4321"); err != nil {
		t.Errorf("new PIN: %v", err)
	}
	if _, err := l.svc.VerifyPatron(ctx, "P1", "1234"); err == nil {
		t.Errorf("old PIN still accepted")
	}

	o := SyncOptions{Agent: atMain, MatchType: "univ_id", AddNew: true, HomeLibrary: "MAIN"}
	u := syncUser(1, "U1", "Lovelace")
	u.PINHash, _ = HashSecret("1111")
	if _, err := l.svc.SyncPatrons(ctx, o, []SyncUser{u}); err != nil {
		t.Fatal(err)
	}
	if err := l.svc.SetPIN(ctx, "BU1", "2222", atMain); err != nil {
		t.Fatal(err)
	}
	u.PINHash, _ = HashSecret("3333")
	if _, err := l.svc.SyncPatrons(ctx, o, []SyncUser{u}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.svc.VerifyPatron(ctx, "BU1", "2222"); err != nil {
		t.Errorf("staff's PIN after a sync: %v", err)
	}
}
