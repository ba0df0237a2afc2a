package circ

import (
	"errors"
	"strings"
	"testing"

	"github.com/circa-ils/circa/store"
)

// wantRefused checks that err refuses with a message holding every part
// and that the store did not change (the journal head stayed).
func (l *testLib) wantRefused(err error, head uint64, parts ...string) {
	l.t.Helper()
	if err == nil {
		l.t.Fatalf("accepted; want a refusal naming %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			l.t.Errorf("error %q does not say %q", err, p)
		}
	}
	if h := l.journalHead(); h != head {
		l.t.Errorf("journal moved from %d to %d on a refusal", head, h)
	}
}

func TestLibraryValidation(t *testing.T) {
	l := newLib(t)
	head := l.journalHead()
	good := store.Library{Code: "EAST", Name: "East branch", Timezone: "Europe/Berlin", Currency: "EUR"}

	bad := good
	bad.Timezone = "Mars/Olympus"
	l.wantRefused(l.svc.AddLibrary(ctx, bad, atMain), head, `unknown time zone "Mars/Olympus"`)
	bad = good
	bad.Timezone = "Local"
	l.wantRefused(l.svc.AddLibrary(ctx, bad, atMain), head, `unknown time zone "Local"`)
	bad = good
	bad.Currency = "EURO"
	l.wantRefused(l.svc.AddLibrary(ctx, bad, atMain), head, `unknown currency "EURO"`)
	bad.Currency = "eur"
	l.wantRefused(l.svc.AddLibrary(ctx, bad, atMain), head, `unknown currency "eur"`)
	bad = good
	bad.Code = "EA ST"
	l.wantRefused(l.svc.AddLibrary(ctx, bad, atMain), head, "spaces")
	dup := good
	dup.Code = "MAIN"
	err := l.svc.AddLibrary(ctx, dup, atMain)
	l.wantRefused(err, head, "library MAIN", "exists")
	if !errors.Is(err, ErrExists) {
		t.Errorf("duplicate add: %v is not ErrExists", err)
	}

	if err := l.svc.AddLibrary(ctx, good, atMain); err != nil {
		t.Fatal(err)
	}
	head = l.journalHead()
	err = l.svc.EditLibrary(ctx, "EASTT", func(x *store.Library) { x.Name = "x" }, atMain)
	var nf *NotFoundError
	if !errors.As(err, &nf) {
		t.Fatalf("edit of a missing code: %v, want NotFoundError", err)
	}
	l.wantRefused(err, head, "no library EASTT", `did you mean "EAST"`)
	l.wantRefused(l.svc.EditLibrary(ctx, "EAST", func(x *store.Library) { x.Timezone = "Nowhere" }, atMain), head, "unknown time zone")

	// An edit in force moves the zone times are shown in.
	err = l.db.View(ctx, func(tx store.Tx) error {
		if z := l.svc.Zone(tx, "EAST").String(); z != "Europe/Berlin" {
			t.Errorf("zone %s", z)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.svc.EditLibrary(ctx, "EAST", func(x *store.Library) { x.Timezone = "Asia/Tokyo"; x.Currency = "JPY" }, atMain); err != nil {
		t.Fatal(err)
	}
	err = l.db.View(ctx, func(tx store.Tx) error {
		if z := l.svc.Zone(tx, "EAST").String(); z != "Asia/Tokyo" {
			t.Errorf("zone after edit %s", z)
		}
		lib, err := tx.Library("EAST")
		if lib.Currency != "JPY" || lib.Name != "East branch" {
			t.Errorf("after edit: %+v", lib)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if l.journalHead() != head+1 {
		t.Errorf("edit journalled %d events, want 1", l.journalHead()-head)
	}
}

func TestLocationAndDeskValidation(t *testing.T) {
	l := newLib(t)
	head := l.journalHead()
	l.wantRefused(l.svc.AddLocation(ctx, store.Location{Code: "NEW", Library: "MAINN", Name: "New"}, atMain), head,
		"location NEW", "no library MAINN", `did you mean "MAIN"`)
	l.wantRefused(l.svc.AddLocation(ctx, store.Location{Code: "STACKS", Library: "MAIN", Name: "Stacks"}, atMain), head, "location STACKS", "exists")
	l.wantRefused(l.svc.AddLocation(ctx, store.Location{Code: "FAR", Library: "MAIN", Name: "Far", RemoteStorage: true}, atMain), head, "needs its facility")
	l.wantRefused(l.svc.EditLocation(ctx, "NOPE", func(*store.Location) {}, atMain), head, "no location NOPE")

	l.wantRefused(l.svc.AddDesk(ctx, store.Desk{Code: "D1", Library: "MAIN", Locations: []string{"STACKS", "BSTACKS"}}, atMain), head,
		"location BSTACKS belongs to library BRANCH, not MAIN")
	l.wantRefused(l.svc.AddDesk(ctx, store.Desk{Code: "D1", Library: "MAIN", Locations: []string{"GONE"}}, atMain), head, "no location GONE")

	if err := l.svc.AddLocation(ctx, store.Location{Code: "REF", Library: "MAIN", Name: "Reference", NotCirculating: true, CallNumberType: "lc"}, atMain); err != nil {
		t.Fatal(err)
	}
	if err := l.svc.AddDesk(ctx, store.Desk{Code: "D1", Library: "MAIN", Name: "Front", Locations: []string{"STACKS", "REF"}}, atMain); err != nil {
		t.Fatal(err)
	}
	head = l.journalHead()
	l.wantRefused(l.svc.EditDesk(ctx, "D1", func(d *store.Desk) { d.Locations = append(d.Locations, "BSTACKS") }, atMain), head, "belongs to library BRANCH")
	// A location a desk serves stays in its library.
	l.wantRefused(l.svc.EditLocation(ctx, "REF", func(x *store.Location) { x.Library = "BRANCH" }, atMain), head, "stays in library MAIN", "1 desks (D1)")
	l.wantRefused(l.svc.RemoveLocation(ctx, "REF", atMain), head, "location REF is still in use", "1 desks (D1)")
	l.wantRefused(l.svc.EditDesk(ctx, "D2", func(*store.Desk) {}, atMain), head, "no desk D2", `did you mean "D1"`)

	if err := l.svc.EditDesk(ctx, "D1", func(d *store.Desk) { d.Locations = []string{"STACKS"} }, atMain); err != nil {
		t.Fatal(err)
	}
	if err := l.svc.RemoveLocation(ctx, "REF", atMain); err != nil {
		t.Fatal(err)
	}
	if err := l.svc.RemoveDesk(ctx, "D1", atMain); err != nil {
		t.Fatal(err)
	}
	err := l.db.View(ctx, func(tx store.Tx) error {
		if _, err := tx.Location("REF"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("location REF after remove: %v", err)
		}
		if _, err := tx.Desk("D1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("desk D1 after remove: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	l.db.View(ctx, func(tx store.Tx) error {
		return tx.JournalAfter(head, func(e store.Event) bool { kinds = append(kinds, e.Kind); return true })
	})
	if got := strings.Join(kinds, " "); got != "desk.edit location.remove desk.remove" {
		t.Errorf("journal %q", got)
	}
}

// Removing a library is refused while anything names it, and the refusal
// says what: counts by kind and the first few codes, never a patron's.
func TestRemoveReferencedLibrary(t *testing.T) {
	l := newLib(t)
	for _, b := range []string{"B1", "B2", "B3", "B4"} {
		l.item(b, "BOOK", "BRANCH", "BSTACKS")
	}
	l.patron("P-SECRET", "ADULT", func(p *store.Patron) { p.HomeLibrary = "BRANCH" })
	err := l.db.Update(ctx, func(tx store.Tx) error {
		if err := tx.PutDesk(&store.Desk{Code: "BD", Library: "BRANCH", Locations: []string{"BSTACKS"}}); err != nil {
			return err
		}
		return tx.PutProfile("selfcheck", "K9", []byte(`{"code":"K9","library":"BRANCH","desk":"BD"}`))
	})
	if err != nil {
		t.Fatal(err)
	}
	head := l.journalHead()
	err = l.svc.RemoveLibrary(ctx, "BRANCH", atMain)
	var re *ReferencedError
	if !errors.As(err, &re) {
		t.Fatalf("remove: %v, want ReferencedError", err)
	}
	l.wantRefused(err, head, "library BRANCH is still in use", "1 locations (BSTACKS)", "1 desks (BD)",
		"4 items (B1, B2, B3, …)", "1 patrons (home library)", "1 profiles (selfcheck K9)")
	if strings.Contains(err.Error(), "P-SECRET") {
		t.Errorf("refusal names a patron: %v", err)
	}
	l.wantRefused(l.svc.RemoveDesk(ctx, "BD", atMain), head, "desk BD is still in use", "1 profiles (selfcheck K9)")
	l.wantRefused(l.svc.RemoveLibrary(ctx, "NOPE", atMain), head, "no library NOPE")
	l.wantRefused(l.svc.EditLocation(ctx, "BSTACKS", func(x *store.Location) { x.Library = "MAIN"; x.Name = "Stacks" }, atMain), head, "4 items")

	// With nothing naming it, a library goes.
	err = l.svc.AddLibrary(ctx, store.Library{Code: "EMPTY", Name: "Empty", Timezone: "UTC", Currency: "USD"}, atMain)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.svc.RemoveLibrary(ctx, "EMPTY", atMain); err != nil {
		t.Fatal(err)
	}
}
