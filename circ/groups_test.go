package circ

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/circa-ils/circa/store"
)

func TestGroupRecords(t *testing.T) {
	l := newLib(t)
	head := l.journalHead()
	l.wantRefused(l.svc.AddGroup(ctx, store.Group{Code: "ALUMNI"}, atMain), head, "group ALUMNI needs a name")
	l.wantRefused(l.svc.AddGroup(ctx, store.Group{Code: "AL UMNI", Name: "x"}, atMain), head, "spaces")
	err := l.svc.AddGroup(ctx, store.Group{Code: "GRAD", Name: "Again"}, atMain)
	l.wantRefused(err, head, "group GRAD", "exists")
	if !errors.Is(err, ErrExists) {
		t.Errorf("duplicate add: %v is not ErrExists", err)
	}

	if err := l.svc.AddGroup(ctx, store.Group{Code: "ALUMNI", Name: "Alumni"}, atMain); err != nil {
		t.Fatal(err)
	}
	l.advance(time.Hour)
	if err := l.svc.EditGroup(ctx, "ALUMNI", func(g *store.Group) { g.Name = "Alumni association"; g.Created = time.Time{} }, atMain); err != nil {
		t.Fatal(err)
	}
	g := l.group("ALUMNI")
	if g.Name != "Alumni association" || !g.Created.Equal(start) || !g.Updated.Equal(start.Add(time.Hour)) {
		t.Errorf("after edit: %+v", g)
	}
	head = l.journalHead()
	l.wantRefused(l.svc.EditGroup(ctx, "ALUMNI", func(g *store.Group) { g.Name = "" }, atMain), head, "needs a name")
	err = l.svc.EditGroup(ctx, "ALUMNY", func(g *store.Group) { g.Name = "x" }, atMain)
	var nf *NotFoundError
	if !errors.As(err, &nf) {
		t.Fatalf("edit of a missing group: %v, want NotFoundError", err)
	}
	l.wantRefused(err, head, "no group ALUMNY", `did you mean "ALUMNI"`)

	// Patrons are counted, never named; the rules name their numbers.
	l.patron("P-SECRET", "ALUMNI")
	l.patron("P-SECRET2", "ALUMNI")
	r := testRules
	r.Loans = append(append([]store.LoanRule(nil), r.Loans...), store.LoanRule{UserGroup: "ALUMNI", Circulates: true, LoanDays: 7})
	r.Groups = append(append([]store.GroupRule(nil), r.Groups...), store.GroupRule{UserGroup: "ALUMNI", LoanLimit: 2})
	if err := l.svc.SetRules(ctx, r); err != nil {
		t.Fatal(err)
	}
	head = l.journalHead()
	err = l.svc.RemoveGroup(ctx, "ALUMNI", atMain)
	var refused *ReferencedError
	if !errors.As(err, &refused) {
		t.Fatalf("remove of a group in use: %v, want ReferencedError", err)
	}
	l.wantRefused(err, head, "group ALUMNI is still in use", "2 patrons", "1 loan rules (7)", "1 group rules (3)")
	if strings.Contains(err.Error(), "P-SECRET") {
		t.Errorf("refusal names a patron: %v", err)
	}
	l.wantRefused(l.svc.RemoveGroup(ctx, "ALUMNY", atMain), head, "no group ALUMNY", `did you mean "ALUMNI"`)

	if err := l.svc.SetRules(ctx, testRules); err != nil {
		t.Fatal(err)
	}
	for _, bc := range []string{"P-SECRET", "P-SECRET2"} {
		p := l.patronBy(bc)
		p.UserGroup = "GRAD"
		if err := l.db.Update(ctx, func(tx store.Tx) error { return tx.PutPatron(&p, start) }); err != nil {
			t.Fatal(err)
		}
	}
	head = l.journalHead()
	if err := l.svc.RemoveGroup(ctx, "ALUMNI", atMain); err != nil {
		t.Fatal(err)
	}
	if l.journalHead() != head+1 {
		t.Error("the removal was not journalled")
	}
	if err := l.db.View(ctx, func(tx store.Tx) error { return CheckGroup(tx, "ALUMNI") }); !errors.As(err, &nf) {
		t.Errorf("CheckGroup after removal: %v", err)
	}
}

func TestPolicyRecords(t *testing.T) {
	l := newLib(t)
	head := l.journalHead()
	l.wantRefused(l.svc.AddPolicy(ctx, store.Policy{Code: "MAP", Name: "Maps", MediaType: "011"}, atMain), head,
		`media type "011" is not a SIP2 media type`)
	l.wantRefused(l.svc.AddPolicy(ctx, store.Policy{Code: "MAP", Name: "Maps", MediaType: "1"}, atMain), head, "media type")
	if err := l.svc.AddPolicy(ctx, store.Policy{Code: "MAP", Name: "Maps", MediaType: "010"}, atMain); err != nil {
		t.Fatal(err)
	}
	if err := l.svc.EditPolicy(ctx, "MAP", func(p *store.Policy) { p.MediaType = "000" }, atMain); err != nil {
		t.Fatal(err)
	}
	head = l.journalHead()
	l.wantRefused(l.svc.EditPolicy(ctx, "MAPS", func(p *store.Policy) { p.Name = "x" }, atMain), head,
		"no item policy MAPS", `did you mean "MAP"`)

	// An item needs a policy that exists and takes the policy's media type.
	b := l.item("B1", "BOOK", "MAIN", "STACKS")
	_, err := l.svc.AddItem(ctx, atMain, NewItem{BibID: b.BibID, Barcode: "M1", Location: "STACKS", Policy: "MAPS"})
	wantCode(t, err, InvalidRequest)
	l.wantRefused(err, head, "no item policy MAPS", `did you mean "MAP"`)
	it, err := l.svc.AddItem(ctx, atMain, NewItem{BibID: b.BibID, Barcode: "M1", Location: "STACKS", Policy: "MAP"})
	if err != nil || it.MediaType != "000" {
		t.Fatalf("item of MAP: %+v %v", it, err)
	}
	it, err = l.svc.AddItem(ctx, atMain, NewItem{BibID: b.BibID, Barcode: "M2", Location: "STACKS", Policy: "MAP", MediaType: "002"})
	if err != nil || it.MediaType != "002" {
		t.Fatalf("item with its own media type: %+v %v", it, err)
	}
	it, err = l.svc.AddItem(ctx, atMain, NewItem{BibID: b.BibID, Barcode: "M3", Location: "STACKS", Policy: "BOOK"})
	if err != nil || it.MediaType != "001" {
		t.Fatalf("item of a policy without a media type: %+v %v", it, err)
	}

	// Items are named by barcode, the rules by number.
	r := testRules
	r.RentalFees = append(append([]store.RentalFee(nil), r.RentalFees...), store.RentalFee{ItemPolicy: "MAP", Amount: 50})
	if err := l.svc.SetRules(ctx, r); err != nil {
		t.Fatal(err)
	}
	head = l.journalHead()
	l.wantRefused(l.svc.RemovePolicy(ctx, "MAP", atMain), head, "item policy MAP is still in use", "2 items (M1, M2)", "1 rental fees (2)")
	l.wantRefused(l.svc.RemovePolicy(ctx, "VIDEO", atMain), head, "item policy VIDEO is still in use", "2 loan rules (3, 4)", "1 rental fees (1)")
	if err := l.svc.SetRules(ctx, testRules); err != nil {
		t.Fatal(err)
	}
	for _, bc := range []string{"M1", "M2"} {
		if _, err := l.svc.RemoveItem(ctx, atMain, bc); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.svc.RemovePolicy(ctx, "MAP", atMain); err != nil {
		t.Fatal(err)
	}
}

// Rules may name only groups and policies that exist, group limits and
// rental fees included.
func TestRulesNameExistingGroupsAndPolicies(t *testing.T) {
	l := newLib(t)
	r := testRules
	r.Groups = append(append([]store.GroupRule(nil), r.Groups...), store.GroupRule{UserGroup: "GRADS", LoanLimit: 9})
	r.RentalFees = []store.RentalFee{{ItemPolicy: "VIDEOS", Amount: 10}}
	r.Loans = append(append([]store.LoanRule(nil), r.Loans...), store.LoanRule{UserGroup: "VISITOR", ItemPolicy: "REFF"})
	err := l.svc.SetRules(ctx, r)
	if err == nil {
		t.Fatal("rules naming missing groups and policies accepted")
	}
	for _, want := range []string{
		`group rule 3: user group "GRADS" is unknown (did you mean "GRAD"?)`,
		`rental fee: item policy "VIDEOS" is unknown (did you mean "VIDEO"?)`,
		`loan rule 7 (user_group VISITOR, item_policy REFF): item policy "REFF" is unknown (did you mean "REF"?)`,
		`loan rule 7 (user_group VISITOR, item_policy REFF): user group "VISITOR" is unknown`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not say %q", err, want)
		}
	}
	if got := l.svc.Rules(); len(got.Loans) != len(testRules.Loans) {
		t.Error("refused rules are in force")
	}
}

// An item borrowed through ILL creates its policy when the library has
// none, so the item names a record and the loan rules apply to it.
func TestAcceptItemCreatesItsPolicy(t *testing.T) {
	l := newLib(t)
	l.patron("P1", "GRAD")
	if err := l.db.Update(ctx, func(tx store.Tx) error { return tx.DeletePolicy(ILLItemPolicy) }); err != nil {
		t.Fatal(err)
	}
	res, err := l.svc.AcceptItem(ctx, AcceptItemRequest{Agent: atPartner, Partner: "ILL", RequestID: "R1", Item: "ILL-1", Patron: "P1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.db.View(ctx, func(tx store.Tx) error {
		p, err := tx.Policy(ILLItemPolicy)
		if err != nil || p.Name == "" || !p.Created.Equal(start) {
			t.Errorf("policy %s after the first borrowed item: %+v %v", ILLItemPolicy, p, err)
		}
		it, err := tx.ItemByBarcode(res.Item.Barcode)
		if err != nil || it.Policy != ILLItemPolicy {
			t.Errorf("borrowed item: %+v %v", it, err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// A second one finds it there and leaves it as staff named it.
	if err := l.svc.EditPolicy(ctx, ILLItemPolicy, func(p *store.Policy) { p.Name = "Books" }, atMain); err != nil {
		t.Fatal(err)
	}
	if _, err := l.svc.AcceptItem(ctx, AcceptItemRequest{Agent: atPartner, Partner: "ILL", RequestID: "R2", Item: "ILL-2", Patron: "P1"}); err != nil {
		t.Fatal(err)
	}
	if err := l.db.View(ctx, func(tx store.Tx) error {
		if p, _ := tx.Policy(ILLItemPolicy); p.Name != "Books" {
			t.Errorf("policy replaced: %+v", p)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// A users file naming a group that does not exist is a problem of that
// user; the others are synced.
func TestSyncPatronsRefusesUnknownGroup(t *testing.T) {
	l := newLib(t)
	o := SyncOptions{Agent: atMain, MatchType: "univ_id", HomeLibrary: "MAIN", AddNew: true}
	bad := syncUser(4, "U2", "Hopper")
	bad.UserGroup = "UNDERGRD"
	out, err := l.svc.SyncPatrons(ctx, o, []SyncUser{syncUser(3, "U1", "Lovelace"), bad})
	if err != nil {
		t.Fatal(err)
	}
	if out[0].Action != SyncAdded || out[1].Action != SyncRejected ||
		out[1].Reason != `user group "UNDERGRD" does not exist (did you mean "UNDERGRAD"?)` {
		t.Fatalf("outcomes %+v", out)
	}
	// An existing patron moved to a missing group keeps the group it has.
	moved := syncUser(5, "U1", "Lovelace")
	moved.UserGroup = "PHD"
	out, err = l.svc.SyncPatrons(ctx, o, []SyncUser{moved})
	if err != nil || out[0].Action != SyncRejected || !strings.Contains(out[0].Reason, `"PHD" does not exist`) {
		t.Fatalf("move to a missing group: %+v %v", out, err)
	}
	if g := l.patronBy("BU1").UserGroup; g != "UNDERGRAD" {
		t.Errorf("group after a refused move: %s", g)
	}
}

func (l *testLib) group(code string) store.Group {
	l.t.Helper()
	var g store.Group
	if err := l.db.View(ctx, func(tx store.Tx) error {
		var err error
		g, err = tx.Group(code)
		return err
	}); err != nil {
		l.t.Fatal(err)
	}
	return g
}
