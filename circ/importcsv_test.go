package circ

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/circa-ils/circa/store"
)

// importOne runs fn in one import batch and returns its outcome.
func (l *testLib) importCSVRecord(fn func(b *ImportBatch) (string, error)) (string, error) {
	l.t.Helper()
	var outcome string
	var refusal error
	err := l.svc.Import(ctx, Agent{Protocol: "cli", Account: "import"}, func(b *ImportBatch) error {
		var err error
		outcome, err = fn(b)
		var r *ImportProblem
		if errors.As(err, &r) {
			refusal = err
			return nil
		}
		return err
	})
	if err != nil {
		l.t.Fatal(err)
	}
	return outcome, refusal
}

func wall(s string) WallTime {
	t, err := time.Parse("2006-01-02 15:04", s)
	if err != nil {
		t, _ = time.Parse("2006-01-02", s)
		return WallTime{Year: t.Year(), Month: t.Month(), Day: t.Day(), DateOnly: true}
	}
	return WallTime{Year: t.Year(), Month: t.Month(), Day: t.Day(), Hour: t.Hour(), Minute: t.Minute()}
}

func (l *testLib) wantImport(want string, fn func(b *ImportBatch) (string, error)) {
	l.t.Helper()
	got, err := l.importCSVRecord(fn)
	if err != nil || got != want {
		l.t.Fatalf("outcome %q, %v; want %q", got, err, want)
	}
}

func (l *testLib) wantImportRefused(reason string, fn func(b *ImportBatch) (string, error)) {
	l.t.Helper()
	head := l.journalHead()
	got, err := l.importCSVRecord(fn)
	if err == nil || !strings.Contains(err.Error(), reason) {
		l.t.Fatalf("outcome %q, %v; want a refusal saying %q", got, err, reason)
	}
	if h := l.journalHead(); h != head {
		l.t.Errorf("journal moved from %d to %d on a refusal", head, h)
	}
}

func TestImportPatronCreatesUpdatesAndLeavesAlone(t *testing.T) {
	l := newLib(t)
	in := PatronImport{Barcode: "23000001", FirstName: "Aiko", LastName: "Nakamura", Group: "UNDERGRAD",
		HomeLibrary: "MAIN", Expiry: wall("2027-06-30"), Birthdate: "2001-04-02", Language: "eng",
		Email: "aiko@example.edu", Phone: "555-0101", SMS: "+1 607 555 0101", PIN: "4321",
		Identifiers: []store.Identifier{{Type: "university_id", Value: "U1"}},
		Address:     store.Contact{Line1: "12 Elm St", City: "Ithaca", Postal: "14850"}}
	l.wantImport(ImportCreated, func(b *ImportBatch) (string, error) { return b.ImportPatron(in) })
	var p store.Patron
	l.db.View(ctx, func(tx store.Tx) (err error) { p, err = tx.PatronByBarcode("23000001"); return })
	ny, _ := time.LoadLocation("America/New_York")
	if !p.Expiry.Equal(time.Date(2027, 6, 30, 23, 59, 59, 0, ny)) {
		t.Errorf("expiry %v: want the end of the day in the home library's zone", p.Expiry)
	}
	if ok, _ := VerifySecret(p.PINHash, "4321"); !ok || p.PINHash == "4321" {
		t.Errorf("PIN stored as %q", p.PINHash)
	}
	if c, ok := p.ContactOf("address"); !ok || c.City != "Ithaca" {
		t.Errorf("contacts %+v", p.Contacts)
	}
	if a, _ := p.ContactOf("email"); a.Value != "aiko@example.edu" || p.Identifiers[0].Value != "U1" {
		t.Errorf("patron %+v", p)
	}
	if c, _ := p.ContactOf("sms"); c.Value != "+1 607 555 0101" {
		t.Errorf("sms %+v", c)
	}

	// The same record again: nothing changes, the PIN is not rehashed.
	head := l.journalHead()
	l.wantImport(ImportUnchanged, func(b *ImportBatch) (string, error) { return b.ImportPatron(in) })
	if l.journalHead() != head {
		t.Error("an unchanged patron was journalled")
	}
	var again store.Patron
	l.db.View(ctx, func(tx store.Tx) (err error) { again, err = tx.PatronByBarcode("23000001"); return })
	if again.PINHash != p.PINHash {
		t.Error("the PIN was rehashed on a second run")
	}

	// A different e-mail and PIN update; empty fields keep their values.
	in2 := PatronImport{Barcode: "23000001", Email: "aiko@new.example", PIN: "9999"}
	l.wantImport(ImportUpdated, func(b *ImportBatch) (string, error) { return b.ImportPatron(in2) })
	l.db.View(ctx, func(tx store.Tx) (err error) { again, err = tx.PatronByBarcode("23000001"); return })
	if e, _ := again.ContactOf("email"); e.Value != "aiko@new.example" || again.LastName != "Nakamura" || len(again.Contacts) != 4 {
		t.Errorf("updated patron %+v", again)
	}
	if ok, _ := VerifySecret(again.PINHash, "9999"); !ok {
		t.Error("the new PIN does not verify")
	}
}

func TestImportPatronRefusals(t *testing.T) {
	l := newLib(t)
	l.patron("21000000000001", "FACULTY", func(p *store.Patron) {
		p.Identifiers = []store.Identifier{{Type: "university_id", Value: "U7"}}
	})
	good := PatronImport{Barcode: "23000002", LastName: "Bell", Group: "UNDERGRAD", HomeLibrary: "MAIN"}
	for _, c := range []struct {
		reason string
		mod    func(*PatronImport)
	}{
		{`unknown library code "NOPE"`, func(p *PatronImport) { p.HomeLibrary = "NOPE" }},
		{`unknown group "UNDERGRD" (did you mean "UNDERGRAD"?)`, func(p *PatronImport) { p.Group = "UNDERGRD" }},
		{"no last name", func(p *PatronImport) { p.LastName = "" }},
		{"no patron group", func(p *PatronImport) { p.Group = "" }},
		{`sms "text me": use digits`, func(p *PatronImport) { p.SMS = "text me" }},
		{`identifier university_id "U7" already belongs to patron 21000000000001`, func(p *PatronImport) {
			p.Identifiers = []store.Identifier{{Type: "university_id", Value: "U7"}}
		}},
	} {
		in := good
		c.mod(&in)
		l.wantImportRefused(c.reason, func(b *ImportBatch) (string, error) { return b.ImportPatron(in) })
	}
	// A group only a patron names is known.
	in := good
	in.Group = "FACULTY"
	l.wantImport(ImportCreated, func(b *ImportBatch) (string, error) { return b.ImportPatron(in) })
}

func TestImportLoan(t *testing.T) {
	l := newLib(t)
	l.patron("P1", "UNDERGRAD")
	l.patron("P2", "UNDERGRAD")
	it := l.item("I1", "BOOK", "MAIN", "STACKS")
	l.item("I2", "BOOK", "MAIN", "STACKS")
	lost := l.item("I3", "BOOK", "MAIN", "STACKS")
	lost.Status = store.ItemLost
	l.db.Update(ctx, func(tx store.Tx) error { return tx.PutItem(&lost, start) })

	// Overdue already: the due date is kept as given.
	in := LoanImport{Patron: "P1", Item: "I1", Out: wall("2026-02-01 14:05"), Due: wall("2026-02-22"), Renewals: 1}
	l.wantImport(ImportCreated, func(b *ImportBatch) (string, error) { return b.ImportLoan(in) })
	ny, _ := time.LoadLocation("America/New_York")
	l.db.View(ctx, func(tx store.Tx) error {
		loan, open, err := tx.OpenLoanOfItem(it.ID)
		if err != nil || !open {
			t.Fatalf("no open loan: %v", err)
		}
		if !loan.Out.Equal(time.Date(2026, 2, 1, 14, 5, 0, 0, ny)) || !loan.Due.Equal(time.Date(2026, 2, 22, 23, 59, 59, 0, ny)) || loan.Renewals != 1 {
			t.Errorf("loan %+v", loan)
		}
		item, _ := tx.Item(it.ID)
		if item.Status != store.ItemOnLoan {
			t.Errorf("item status %s", item.Status)
		}
		return nil
	})
	st, err := l.svc.PatronStatus(ctx, PatronQuery{Patron: "P1"})
	if err != nil || st.Standing.Overdue != 1 {
		t.Errorf("standing %+v, %v: the imported loan is overdue", st.Standing, err)
	}

	l.wantImport(ImportUnchanged, func(b *ImportBatch) (string, error) { return b.ImportLoan(in) })
	in.Renewals = 2
	l.wantImport(ImportUpdated, func(b *ImportBatch) (string, error) { return b.ImportLoan(in) })

	other := LoanImport{Patron: "P2", Item: "I1", Out: wall("2026-02-03"), Due: wall("2026-02-24")}
	l.wantImportRefused("item I1 is already on loan to another patron since 2026-02-01 14:05",
		func(b *ImportBatch) (string, error) { return b.ImportLoan(other) })
	for _, c := range []struct {
		reason string
		in     LoanImport
	}{
		{`unknown item barcode "NOPE"`, LoanImport{Patron: "P2", Item: "NOPE", Out: wall("2026-02-03"), Due: wall("2026-02-24")}},
		{`unknown patron barcode "NOPE"`, LoanImport{Patron: "NOPE", Item: "I2", Out: wall("2026-02-03"), Due: wall("2026-02-24")}},
		{"due date 2026-01-24 is before the checkout date 2026-02-03", LoanImport{Patron: "P2", Item: "I2", Out: wall("2026-02-03"), Due: wall("2026-01-24")}},
		{"checkout date 2026-04-03 is in the future", LoanImport{Patron: "P2", Item: "I2", Out: wall("2026-04-03"), Due: wall("2026-04-24")}},
		{"item I3 is lost", LoanImport{Patron: "P2", Item: "I3", Out: wall("2026-02-03"), Due: wall("2026-02-24")}},
	} {
		l.wantImportRefused(c.reason, func(b *ImportBatch) (string, error) { return b.ImportLoan(c.in) })
	}
}

func TestImportHoldKeepsQueueOrder(t *testing.T) {
	l := newLib(t)
	for _, p := range []string{"P1", "P2", "P3"} {
		l.patron(p, "UNDERGRAD")
	}
	it := l.item("I1", "BOOK", "MAIN", "STACKS")
	var bib store.Bib
	l.db.Update(ctx, func(tx store.Tx) error {
		bib, _ = tx.Bib(it.BibID)
		bib.ControlNumber = "ocm123"
		return tx.PutBib(&bib, start)
	})
	for _, in := range []HoldImport{
		{Patron: "P2", Bib: "ocm123", Pickup: "BRANCH", Placed: wall("2026-01-05")},
		{Patron: "P1", Item: "I1"},
		{Patron: "P3", Bib: "id:" + strconv.FormatUint(bib.ID, 10)},
	} {
		l.wantImport(ImportCreated, func(b *ImportBatch) (string, error) { return b.ImportHold(in) })
	}
	l.wantImport(ImportUnchanged, func(b *ImportBatch) (string, error) { return b.ImportHold(HoldImport{Patron: "P1", Bib: "ocm123"}) })
	l.db.View(ctx, func(tx store.Tx) error {
		q, _ := tx.OpenRequestsOfBib(bib.ID)
		var order []string
		for _, r := range q {
			p, _ := tx.Patron(r.PatronID)
			order = append(order, p.Barcode+"@"+r.Pickup)
		}
		if strings.Join(order, " ") != "P2@BRANCH P1@MAIN P3@MAIN" {
			t.Errorf("queue %v", order)
		}
		return nil
	})
	for _, c := range []struct {
		reason string
		in     HoldImport
	}{
		{`unknown title "ocm999"`, HoldImport{Patron: "P1", Bib: "ocm999"}},
		{`unknown library code "NOPE"`, HoldImport{Patron: "P1", Item: "I1", Pickup: "NOPE"}},
		{`unknown patron barcode "P9"`, HoldImport{Patron: "P9", Item: "I1"}},
		{`unknown item barcode "I9"`, HoldImport{Patron: "P1", Item: "I9"}},
	} {
		l.wantImportRefused(c.reason, func(b *ImportBatch) (string, error) { return b.ImportHold(c.in) })
	}
}

func TestImportFee(t *testing.T) {
	l := newLib(t)
	l.patron("P1", "UNDERGRAD")
	part := FeeImport{Patron: "P1", Amount: "5.00", Outstanding: "3.50", Type: "04", Date: wall("2026-01-10"), Description: "Late", Occurrence: 1}
	l.wantImport(ImportCreated, func(b *ImportBatch) (string, error) { return b.ImportFee(part) })
	twin := FeeImport{Patron: "P1", Amount: "0.50", Type: "04", Date: wall("2026-01-11"), Description: "Late", Occurrence: 1}
	l.wantImport(ImportCreated, func(b *ImportBatch) (string, error) { return b.ImportFee(twin) })
	twin.Occurrence = 2 // the same fee twice in the file is two fees
	l.wantImport(ImportCreated, func(b *ImportBatch) (string, error) { return b.ImportFee(twin) })
	// A second run finds all three.
	l.wantImport(ImportUnchanged, func(b *ImportBatch) (string, error) { return b.ImportFee(part) })
	l.wantImport(ImportUnchanged, func(b *ImportBatch) (string, error) { return b.ImportFee(twin) })
	l.db.View(ctx, func(tx store.Tx) error {
		p, _ := tx.PatronByBarcode("P1")
		fees, _ := tx.FeesOfPatron(p.ID)
		if len(fees) != 3 || fees[0].Amount != 500 || fees[0].Balance != 350 || fees[0].Currency != "USD" {
			t.Errorf("fees %+v", fees)
		}
		return nil
	})
	for _, c := range []struct {
		reason string
		in     FeeImport
	}{
		{`amount "1.005" has more decimals than USD has (2)`, FeeImport{Patron: "P1", Amount: "1.005", Type: "04"}},
		{"the amount outstanding must be above zero", FeeImport{Patron: "P1", Amount: "0", Type: "04"}},
		{"outstanding 6.00 is more than the amount 5.00", FeeImport{Patron: "P1", Amount: "5", Outstanding: "6", Type: "04"}},
		{`unknown patron barcode "P9"`, FeeImport{Patron: "P9", Amount: "1", Type: "04"}},
		{`unknown library code "NOPE"`, FeeImport{Patron: "P1", Amount: "1", Type: "04", Library: "NOPE"}},
		{`fee type "17" is not a SIP2 fee type`, FeeImport{Patron: "P1", Amount: "1", Type: "17"}},
		{`amount "-1" is not a number`, FeeImport{Patron: "P1", Amount: "-1", Type: "04"}},
	} {
		l.wantImportRefused(c.reason, func(b *ImportBatch) (string, error) { return b.ImportFee(c.in) })
	}
}

func TestImportPatronPreparedPIN(t *testing.T) {
	l := newLib(t)
	in := PatronImport{Barcode: "P1", LastName: "Ito", Group: "UNDERGRAD", HomeLibrary: "MAIN", PIN: "4321"}
	if err := l.svc.PreparePIN(ctx, &in); err != nil || in.pinHash == "" {
		t.Fatalf("prepare: %v, hash %q", err, in.pinHash)
	}
	l.wantImport(ImportCreated, func(b *ImportBatch) (string, error) { return b.ImportPatron(in) })
	stored := func() string {
		var p store.Patron
		l.db.View(ctx, func(tx store.Tx) (err error) { p, err = tx.PatronByBarcode("P1"); return })
		return p.PINHash
	}
	if stored() != in.pinHash {
		t.Error("the import hashed the PIN again instead of using the prepared hash")
	}

	again := PatronImport{Barcode: "P1", PIN: "4321"}
	if err := l.svc.PreparePIN(ctx, &again); err != nil || !again.pinSame || again.pinHash != "" {
		t.Fatalf("prepare of the same PIN: %v %+v", err, again)
	}
	l.wantImport(ImportUnchanged, func(b *ImportBatch) (string, error) { return b.ImportPatron(again) })

	// Prepared against a hash that has changed since: worked out afresh.
	changed := PatronImport{Barcode: "P1", PIN: "5555"}
	if err := l.svc.PreparePIN(ctx, &changed); err != nil {
		t.Fatal(err)
	}
	l.db.Update(ctx, func(tx store.Tx) error {
		p, _ := tx.PatronByBarcode("P1")
		p.PINHash = l.pin // 1234, set by staff meanwhile
		return tx.PutPatron(&p, start)
	})
	stale := PatronImport{Barcode: "P1", PIN: "1234", pinPrepared: true, pinCheckedOn: changed.pinCheckedOn, pinHash: changed.pinHash}
	l.wantImport(ImportUnchanged, func(b *ImportBatch) (string, error) { return b.ImportPatron(stale) })
	l.wantImport(ImportUpdated, func(b *ImportBatch) (string, error) { return b.ImportPatron(changed) })
	if ok, _ := VerifySecret(stored(), "5555"); !ok {
		t.Error("the new PIN does not verify")
	}
}

func TestImportFeeTakesTheLibrarysCurrency(t *testing.T) {
	l := newLib(t)
	l.patron("P1", "UNDERGRAD")
	l.db.Update(ctx, func(tx store.Tx) error {
		if err := tx.PutLibrary(&store.Library{Code: "EURO", Timezone: "UTC", Currency: "EUR"}); err != nil {
			return err
		}
		return tx.PutLibrary(&store.Library{Code: "PLAIN", Timezone: "UTC"})
	})
	euro := FeeImport{Patron: "P1", Amount: "2.50", Type: "01", Date: wall("2026-01-10"), Library: "EURO", Occurrence: 1}
	plain := FeeImport{Patron: "P1", Amount: "1.00", Type: "01", Date: wall("2026-01-10"), Library: "PLAIN", Occurrence: 1}
	for _, in := range []FeeImport{euro, plain} {
		l.wantImport(ImportCreated, func(b *ImportBatch) (string, error) { return b.ImportFee(in) })
	}
	// In one batch, as a file's rows are: the second row of a library finds
	// the first's fee under the same currency.
	var got []string
	l.importCSVRecord(func(b *ImportBatch) (string, error) {
		for _, in := range []FeeImport{euro, plain, euro} {
			outcome, err := b.ImportFee(in)
			if err != nil {
				return "", err
			}
			got = append(got, outcome)
		}
		return "", nil
	})
	if strings.Join(got, " ") != "unchanged unchanged unchanged" {
		t.Errorf("second run: %v", got)
	}
	l.db.View(ctx, func(tx store.Tx) error {
		p, _ := tx.PatronByBarcode("P1")
		fees, _ := tx.FeesOfPatron(p.ID)
		var currencies []string
		for _, f := range fees {
			currencies = append(currencies, f.Library+":"+f.Currency)
		}
		if strings.Join(currencies, " ") != "EURO:EUR PLAIN:"+l.svc.Rules().Currency {
			t.Errorf("fees %v: want the library's currency, else the rules'", currencies)
		}
		return nil
	})
}

func TestImportHoldUnknownPickup(t *testing.T) {
	l := newLib(t)
	l.patron("P1", "UNDERGRAD")
	l.item("I1", "BOOK", "MAIN", "STACKS")
	l.wantImportRefused(`unknown library code "NOPE"`, func(b *ImportBatch) (string, error) {
		return b.ImportHold(HoldImport{Patron: "P1", Item: "I1", Pickup: "NOPE"})
	})
}
