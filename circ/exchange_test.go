package circ

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/circa-ils/circa/store"
)

func (l *testLib) charge(patron, typ, library string, amount int64) uint64 {
	l.t.Helper()
	res, err := l.svc.Charge(ctx, ChargeRequest{Agent: Agent{Protocol: "test", Library: library}, Patron: patron,
		Type: typ, Amount: amount, Currency: "USD"})
	if err != nil {
		l.t.Fatal(err)
	}
	return res.FeeID
}

func (l *testLib) fee(id uint64) store.Fee {
	l.t.Helper()
	var f store.Fee
	if err := l.db.View(ctx, func(tx store.Tx) error {
		var err error
		f, err = tx.Fee(id)
		return err
	}); err != nil {
		l.t.Fatal(err)
	}
	return f
}

func TestExportFeesSelectsMarksAndRecordsTogether(t *testing.T) {
	l := newLib(t)
	withID := func(p *store.Patron) { p.Identifiers = []store.Identifier{{Type: "univ_id", Value: "U1"}} }
	l.patron("P1", "UNDERGRAD", withID)
	l.patron("P2", "UNDERGRAD") // no university id: its fees stay
	overdue := l.charge("P1", "04", "MAIN", 350)
	small := l.charge("P1", "04", "MAIN", 20)
	other := l.charge("P1", "05", "MAIN", 500)
	branch := l.charge("P1", "04", "BRANCH", 700)
	noID := l.charge("P2", "04", "MAIN", 900)

	req := ExportFeesRequest{Agent: atMain, FeeTypes: []string{"04"}, Libraries: []string{"MAIN"}, MinAmount: 100,
		IdentifierType: "univ_id", TxnPrefix: "BURSAR"}
	var recorded []uint64
	got, err := l.svc.ExportFees(ctx, req, func(tx store.Tx, fees []ExportedFee) error {
		recorded = recorded[:0]
		for _, f := range fees {
			recorded = append(recorded, f.Fee.ID)
		}
		return tx.SetMeta("test/outbox", recorded)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Fee.ID != overdue || got[0].MatchID != "U1" || got[0].TransactionID != "BURSAR-1" ||
		got[0].PatronName != "Doe, Jo" || !slices.Equal(recorded, []uint64{overdue}) {
		t.Fatalf("exported %+v, recorded %v", got, recorded)
	}
	f := l.fee(overdue)
	if f.Status != store.FeeExported || f.Transactions[len(f.Transactions)-1].Kind != store.TxnExport {
		t.Fatalf("fee not marked: %+v", f)
	}
	for _, id := range []uint64{small, other, branch, noID} {
		if l.fee(id).Status != store.FeeOpen {
			t.Errorf("fee %d should stay open", id)
		}
	}
	// A second export finds nothing new and does not call record.
	again, err := l.svc.ExportFees(ctx, req, func(store.Tx, []ExportedFee) error {
		t.Error("record called with nothing to export")
		return nil
	})
	if err != nil || len(again) != 0 {
		t.Fatalf("second export: %v, %v", again, err)
	}
}

func TestExportFeesRollsBackWhenRecordFails(t *testing.T) {
	l := newLib(t)
	l.patron("P1", "UNDERGRAD")
	id := l.charge("P1", "04", "MAIN", 350)
	boom := errors.New("outbox full")
	_, err := l.svc.ExportFees(ctx, ExportFeesRequest{IdentifierType: store.IdentBarcode, TxnPrefix: "B"},
		func(store.Tx, []ExportedFee) error { return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("want the record error, got %v", err)
	}
	if f := l.fee(id); f.Status != store.FeeOpen || len(f.Transactions) != 0 {
		t.Fatalf("fee changed although the outbox write failed: %+v", f)
	}
}

// TestMarkExportedFeesPaidByNumber pays fees named by their number, as the
// export writes bursarTransactionId, next to a line in the legacy CODE-N
// form; a number of no fee, of a fee never exported and one too large for
// 64 bits are exceptions and change nothing.
func TestMarkExportedFeesPaidByNumber(t *testing.T) {
	l := newLib(t)
	l.patron("P1", "UNDERGRAD")
	a := l.charge("P1", "04", "MAIN", 350)
	b := l.charge("P1", "04", "MAIN", 120)
	c := l.charge("P1", "04", "MAIN", 200)
	open := l.charge("P1", "04", "BRANCH", 80)
	if _, err := l.svc.ExportFees(ctx, ExportFeesRequest{Libraries: []string{"MAIN"}, IdentifierType: store.IdentBarcode, TxnPrefix: "B"},
		func(store.Tx, []ExportedFee) error { return nil }); err != nil {
		t.Fatal(err)
	}
	number := func(id uint64) string { return strconv.FormatUint(id, 10) }
	lines := []BursarPayment{
		{Line: 1, TransactionID: number(a), Amount: 350},                 // in full
		{Line: 2, TransactionID: "B-" + number(b), Amount: 100},          // legacy, in part
		{Line: 3, TransactionID: "000" + number(c), Amount: 260},         // 60 too much
		{Line: 4, TransactionID: "999999", Amount: 100},                  // no such fee
		{Line: 5, TransactionID: number(open), Amount: 80},               // never exported
		{Line: 6, TransactionID: "99999999999999999999999", Amount: 100}, // beyond uint64
	}
	for i := range lines {
		lines[i].Currency, lines[i].UserType, lines[i].UserValue = "USD", store.IdentBarcode, "P1"
		lines[i].Key = fmt.Sprintf("numbers:%d", lines[i].Line)
	}
	out, err := l.svc.MarkExportedFeesPaid(ctx, atMain, lines)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{PaymentApplied, PaymentPartial, PaymentOverpaid, PaymentUnknown, PaymentUnknown, PaymentUnknown}
	for i, o := range out {
		if o.Outcome != want[i] {
			t.Errorf("line %d (%s): %s (%s), want %s", o.Line, o.TransactionID, o.Outcome, o.Detail, want[i])
		}
	}
	if f := l.fee(a); f.Status != store.FeeExportedPaid || f.Balance != 0 {
		t.Errorf("fee paid in full by number: %+v", f)
	}
	if f := l.fee(b); f.Status != store.FeeExported || f.Balance != 20 {
		t.Errorf("fee paid in part by its legacy id: %+v", f)
	}
	if f := l.fee(c); f.Status != store.FeeExportedPaid || f.Balance != 0 {
		t.Errorf("overpaid fee: %+v", f)
	}
	if f := l.fee(open); f.Status != store.FeeOpen || f.Balance != 80 || len(f.Transactions) != 0 {
		t.Errorf("a fee never exported changed: %+v", f)
	}
}

func TestMarkExportedFeesPaid(t *testing.T) {
	l := newLib(t)
	l.patron("P1", "UNDERGRAD")
	l.patron("P2", "UNDERGRAD")
	a := l.charge("P1", "04", "MAIN", 350)
	b := l.charge("P1", "04", "MAIN", 120)
	c := l.charge("P1", "04", "MAIN", 200)
	other := l.charge("P2", "04", "MAIN", 500)
	open := l.charge("P1", "04", "BRANCH", 80)
	if _, err := l.svc.ExportFees(ctx, ExportFeesRequest{Libraries: []string{"MAIN"}, IdentifierType: store.IdentBarcode, TxnPrefix: "B"},
		func(store.Tx, []ExportedFee) error { return nil }); err != nil {
		t.Fatal(err)
	}
	balance := func(patron string) Standing {
		t.Helper()
		sum, err := l.svc.PatronStatus(ctx, PatronQuery{Patron: patron})
		if err != nil {
			t.Fatal(err)
		}
		return sum.Standing
	}
	if st := balance("P1"); st.Balance != 350+120+200+80 {
		t.Fatalf("P1 owes %d before any payment", st.Balance)
	}
	line := func(n int, txn string, amount int64, cur, user string) BursarPayment {
		return BursarPayment{Line: n, TransactionID: txn, Amount: amount, Currency: cur, UserType: store.IdentBarcode,
			UserValue: user, Key: fmt.Sprintf("file1:%d", n)}
	}
	lines := []BursarPayment{
		line(1, "B-1", 350, "usd", "P1"), // in full
		line(2, "B-2", 100, "USD", "P1"), // in part
		line(3, "B-3", 260, "USD", "P1"), // 60 too much
		line(4, "B-99", 100, "USD", "P1"),
		line(5, "B-4", 500, "USD", "P1"), // P2's fee
		line(6, "B-2", 0, "USD", "P1"),
		line(7, "B-2", -20, "USD", "P1"),
		line(8, "B-2", 20, "EUR", "P1"),
	}
	out, err := l.svc.MarkExportedFeesPaid(ctx, atMain, lines)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{PaymentApplied, PaymentPartial, PaymentOverpaid, PaymentUnknown, PaymentWrongPatron,
		PaymentBadAmount, PaymentBadAmount, PaymentCurrency}
	for i, o := range out {
		if o.Outcome != want[i] || o.Exception() == o.Applied() {
			t.Errorf("line %d: %s (%s), want %s", o.Line, o.Outcome, o.Detail, want[i])
		}
	}
	if f := l.fee(a); f.Status != store.FeeExportedPaid || f.Balance != 0 {
		t.Fatalf("fee paid in full: %+v", f)
	}
	if f := l.fee(b); f.Status != store.FeeExported || f.Balance != 20 || !f.Outstanding() {
		t.Fatalf("fee paid in part stays owed with the rest: %+v", f)
	}
	if f := l.fee(c); f.Status != store.FeeExportedPaid || f.Balance != 0 || f.Transactions[len(f.Transactions)-1].Amount != 200 {
		t.Fatalf("overpaid fee: %+v", f)
	}
	if f := l.fee(other); f.Status != store.FeeExported || f.Balance != 500 {
		t.Fatalf("another patron's fee changed: %+v", f)
	}
	if l.fee(open).Status != store.FeeOpen {
		t.Fatal("fee never exported changed")
	}
	// The 60 overpaid is a credit on P1, set against what P1 owes: 20 on
	// b and 80 never exported.
	var credits []store.Fee
	l.db.View(ctx, func(tx store.Tx) error {
		fees, err := tx.FeesOfPatron(l.patronBy("P1").ID)
		for _, f := range fees {
			if f.Status == store.FeeCredit {
				credits = append(credits, f)
			}
		}
		return err
	})
	if len(credits) != 1 || credits[0].Balance != 60 || credits[0].Currency != "USD" || credits[0].Outstanding() {
		t.Fatalf("credits %+v", credits)
	}
	if st := balance("P1"); st.Balance != 20+80-60 || st.Credit != 0 {
		t.Fatalf("P1's standing after the credit: %+v", st)
	}

	// The same file again applies nothing twice.
	again, err := l.svc.MarkExportedFeesPaid(ctx, atMain, lines[:3])
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range again {
		if o.Outcome != PaymentAlreadyApplied || o.Exception() {
			t.Fatalf("repeat: %+v", o)
		}
	}
	if f := l.fee(b); f.Balance != 20 {
		t.Fatalf("a repeated partial payment was applied again: %+v", f)
	}
	// An equal instalment in another file does count; the fee is then paid.
	second := line(2, "B-2", 20, "USD", "P1")
	second.Key = "file2:2"
	out, _ = l.svc.MarkExportedFeesPaid(ctx, atMain, []BursarPayment{second})
	if out[0].Outcome != PaymentApplied || l.fee(b).Status != store.FeeExportedPaid {
		t.Fatalf("second instalment: %+v, %+v", out[0], l.fee(b))
	}
	// A fee paid in full is not paid again by a new line.
	third := line(1, "B-1", 350, "USD", "P1")
	third.Key = "file3:1"
	if out, _ = l.svc.MarkExportedFeesPaid(ctx, atMain, []BursarPayment{third}); out[0].Outcome != PaymentNotExported {
		t.Fatalf("payment of a paid fee: %+v", out[0])
	}
	// Paid in part at the desk after export, then in full by the bursar:
	// the fee is paid and the excess is the patron's credit.
	l.svc.PayFee(ctx, PayRequest{Agent: atMain, Patron: "P2", FeeID: other, Amount: 50})
	fourth := line(1, "B-4", 500, "USD", "P2")
	fourth.Key = "file4:1"
	out, _ = l.svc.MarkExportedFeesPaid(ctx, atMain, []BursarPayment{fourth})
	if out[0].Outcome != PaymentOverpaid || l.fee(other).Status != store.FeeExportedPaid {
		t.Fatalf("paid at the desk and by the bursar: %+v", out[0])
	}
	if st := balance("P2"); st.Balance != 0 || st.Credit != 50 {
		t.Fatalf("P2's standing: %+v", st)
	}
}

func syncUser(line int, id, last string) SyncUser {
	return SyncUser{Line: line, MatchValue: id, PrimaryID: "B" + id, FirstName: "Ada", LastName: last, UserGroup: "UNDERGRAD",
		Identifiers: []store.Identifier{{Type: "univ_id", Value: id}}, Expiry: start.AddDate(2, 0, 0)}
}

func (l *testLib) patronBy(barcode string) store.Patron {
	l.t.Helper()
	var p store.Patron
	if err := l.db.View(ctx, func(tx store.Tx) error {
		var err error
		p, err = tx.PatronByBarcode(barcode)
		return err
	}); err != nil {
		l.t.Fatal(err)
	}
	return p
}

func TestSyncPatronsAddOrReject(t *testing.T) {
	l := newLib(t)
	o := SyncOptions{Agent: atMain, MatchType: "univ_id", HomeLibrary: "MAIN"}
	out, err := l.svc.SyncPatrons(ctx, o, []SyncUser{syncUser(3, "U1", "Lovelace")})
	if err != nil || out[0].Action != SyncRejected {
		t.Fatalf("a profile that adds nobody must reject: %+v, %v", out, err)
	}
	o.AddNew = true
	out, err = l.svc.SyncPatrons(ctx, o, []SyncUser{syncUser(3, "U1", "Lovelace"), syncUser(9, "U1", "Again"), syncUser(12, "U2", "")})
	if err != nil {
		t.Fatal(err)
	}
	if out[0].Action != SyncAdded || out[1].Action != SyncRejected || out[2].Action != SyncRejected {
		t.Fatalf("outcomes %+v", out)
	}
	p := l.patronBy("BU1")
	if !p.External || p.HomeLibrary != "MAIN" || p.LastName != "Lovelace" {
		t.Fatalf("added patron %+v", p)
	}
	// A library-managed patron with the same identifier is never taken over.
	l.patron("LOCAL", "STAFF", func(p *store.Patron) { p.Identifiers = []store.Identifier{{Type: "univ_id", Value: "U3"}} })
	out, _ = l.svc.SyncPatrons(ctx, o, []SyncUser{syncUser(1, "U3", "Taken")})
	if out[0].Action != SyncRejected || l.patronBy("LOCAL").LastName != "Doe" {
		t.Fatalf("internal patron: %+v", out)
	}
}

// TestSyncPatronsRules follows Alma's synchronisation of external users:
// core fields are the file's even after staff changed them; the protected
// fields are kept when staff changed them or the file leaves them empty;
// external segments are replaced by the file's and internal ones kept.
func TestSyncPatronsRules(t *testing.T) {
	l := newLib(t)
	created := start.Add(-time.Hour)
	l.patron("BU1", "GRAD", func(p *store.Patron) {
		p.External = true
		p.Identifiers = []store.Identifier{{Type: "univ_id", Value: "U1"}, {Type: "card", Value: "C1"}, {Type: "old_sis", Value: "O1"}}
		p.JobTitle, p.Language, p.Campus, p.ShareLib = "TA", "eng", "NORTH", "MAIN"
		p.FirstName = "Staff-chosen"
		p.StaffEdited = []string{FieldFirstName, FieldLanguage, internalIdentifier("card")}
		p.Contacts = []store.Contact{{Kind: "email", Value: "old@sis", External: true}, {Kind: "phone", Value: "555-0100"}}
		p.Blocks = []store.Block{{Type: "manual", Note: "desk"}, {Type: "SIS", Note: "unpaid", External: true, Created: created}}
	})
	before := l.patronBy("BU1")
	u := syncUser(5, "U1", "Lovelace")
	u.UserGroup = "" // left empty: kept
	u.FirstName = "Ada"
	u.Language = "fre" // staff changed it: kept
	u.Contacts = []store.Contact{{Kind: "email", Value: "ada@sis"}}
	u.Blocks = []store.Block{{Type: "SIS", Note: "unpaid"}}
	u.Identifiers = append(u.Identifiers, store.Identifier{Type: "sis_id", Value: "S1"}, store.Identifier{Type: "card", Value: "C2"})
	o := SyncOptions{Agent: atMain, MatchType: "univ_id"}

	dry := o
	dry.DryRun = true
	out, err := l.svc.SyncPatrons(ctx, dry, []SyncUser{u})
	if err != nil || out[0].Action != SyncUpdated {
		t.Fatalf("dry run: %+v, %v", out, err)
	}
	if after := l.patronBy("BU1"); after.LastName != before.LastName || !after.Updated.Equal(before.Updated) {
		t.Fatal("a dry run changed the patron")
	}

	out, err = l.svc.SyncPatrons(ctx, o, []SyncUser{u})
	if err != nil || out[0].Action != SyncUpdated {
		t.Fatalf("sync: %+v, %v", out, err)
	}
	if !slices.Contains(out[0].Changed, FieldLastName) || slices.Contains(out[0].Changed, FieldLanguage) {
		t.Fatalf("changed fields %v", out[0].Changed)
	}
	p := l.patronBy("BU1")
	switch {
	case p.LastName != "Lovelace" || p.FirstName != "Ada":
		t.Errorf("core fields not replaced: %s %s", p.FirstName, p.LastName)
	case p.Language != "eng":
		t.Error("a protected field staff changed was replaced")
	case p.UserGroup != "GRAD" || p.JobTitle != "TA" || p.Campus != "NORTH" || p.ShareLib != "MAIN":
		t.Errorf("protected fields the file left empty were not kept: %+v", p)
	case p.PINHash != before.PINHash:
		t.Error("PIN changed without one in the file")
	}
	if len(p.Contacts) != 2 || p.Contacts[0].Value != "555-0100" || p.Contacts[0].External ||
		p.Contacts[1].Value != "ada@sis" || !p.Contacts[1].External {
		t.Errorf("contacts %+v: internal kept, external replaced", p.Contacts)
	}
	want := []store.Identifier{{Type: "card", Value: "C1"}, {Type: "univ_id", Value: "U1"}, {Type: "sis_id", Value: "S1"}}
	if !slices.Equal(p.Identifiers, want) {
		t.Errorf("identifiers %+v, want %+v: staff's kept, the file's replace the other external ones", p.Identifiers, want)
	}
	if !p.Expiry.Equal(u.Expiry) {
		t.Errorf("expiry %s not replaced by %s", p.Expiry, u.Expiry)
	}
	if len(p.Blocks) != 2 || p.Blocks[0].Note != "desk" || !p.Blocks[1].Created.Equal(created) {
		t.Errorf("blocks %+v: internal kept, a repeated external block keeps its date", p.Blocks)
	}
	// The same user again changes nothing.
	out, _ = l.svc.SyncPatrons(ctx, o, []SyncUser{u})
	if out[0].Action != SyncUnchanged {
		t.Fatalf("repeat: %+v", out[0])
	}
	// An e-mail staff give is an internal segment: the file's e-mail
	// replaces only the external one beside it.
	if _, err := l.svc.EditPatron(ctx, PatronForm{Barcode: "BU1", Email: ptr("desk@example.org")}, atMain); err != nil {
		t.Fatal(err)
	}
	u.Contacts = []store.Contact{{Kind: "email", Value: "new@sis"}}
	l.svc.SyncPatrons(ctx, o, []SyncUser{u})
	var emails []string
	for _, c := range l.patronBy("BU1").Contacts {
		if c.Kind == "email" {
			emails = append(emails, fmt.Sprintf("%s/%v", c.Value, c.External))
		}
	}
	if !slices.Equal(emails, []string{"desk@example.org/false", "new@sis/true"}) {
		t.Fatalf("e-mails after staff's and the file's: %v", emails)
	}
	// Given values replace the protected fields staff did not change; a
	// new PIN hash replaces the old one.
	u.UserGroup, u.JobTitle, u.Campus, u.ShareLib, u.PINHash = "STAFF", "RA", "SOUTH", "BRANCH", l.pin+"x"
	l.svc.SyncPatrons(ctx, o, []SyncUser{u})
	p = l.patronBy("BU1")
	if p.UserGroup != "STAFF" || p.JobTitle != "RA" || p.Language != "eng" || p.Campus != "SOUTH" || p.ShareLib != "BRANCH" || p.PINHash != l.pin+"x" {
		t.Errorf("given values not applied: %+v", p)
	}
}

// A patron whose identifiers staff changed under an earlier version, which
// marked them as a whole, keeps all of them; the file adds new types.
func TestSyncKeepsIdentifiersMarkedAsAWhole(t *testing.T) {
	l := newLib(t)
	l.patron("BU1", "GRAD", func(p *store.Patron) {
		p.External = true
		p.Identifiers = []store.Identifier{{Type: "univ_id", Value: "U1"}, {Type: "card", Value: "C1"}}
		p.StaffEdited = []string{FieldIdentifiers}
	})
	u := syncUser(1, "U1", "Lovelace")
	u.Identifiers = append(u.Identifiers, store.Identifier{Type: "card", Value: "C2"}, store.Identifier{Type: "sis_id", Value: "S1"})
	if _, err := l.svc.SyncPatrons(ctx, SyncOptions{Agent: atMain, MatchType: "univ_id"}, []SyncUser{u}); err != nil {
		t.Fatal(err)
	}
	want := []store.Identifier{{Type: "univ_id", Value: "U1"}, {Type: "card", Value: "C1"}, {Type: "sis_id", Value: "S1"}}
	if got := l.patronBy("BU1").Identifiers; !slices.Equal(got, want) {
		t.Fatalf("identifiers %+v, want %+v", got, want)
	}
}
