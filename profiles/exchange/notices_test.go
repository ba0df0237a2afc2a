package exchange

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/fixtures"
	"github.com/circa-ils/circa/profiles"
	"github.com/circa-ils/circa/profiles/delivery"
	"github.com/circa-ils/circa/profiles/delivery/sftptest"
	"github.com/circa-ils/circa/store"
)

// rsFile is a delivered request file as a facility reads it.
type rsFile struct{ Requests []rsRequest }

// readRS reads a delivered request file with readAlmaRS, the rules of Ex
// Libris' sample reader.
func readRS(t *testing.T, path string) rsFile {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	reqs, err := readAlmaRS(data)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return rsFile{reqs}
}

func TestRemoteStorageRequestsOnceEachWithCancellations(t *testing.T) {
	e := newEnv(t)
	srv, tg := sftpTarget(t)
	p := profiles.NewExchange(profiles.TypeRequests, "ANNEX-REQ")
	p.Library, p.Target = fixtures.LibraryMain, tg
	p.Requests.Facility, p.Requests.PatronDetails, p.Requests.Cancellations = "ANNEX", true, true
	e.save(p)
	// Catch up with the seeded journal first.
	if _, err := e.sched.RunNow(ctx, "ANNEX-REQ", RunOptions{}); err != nil {
		t.Fatal(err)
	}
	before := len(dataFiles(t, srv.Path("/out")))

	agent := circ.Agent{Protocol: "cli", Library: fixtures.LibraryMain}
	hold, err := e.svc.PlaceHold(ctx, circ.HoldRequest{Agent: agent, Patron: fixtures.PatronGood, Item: fixtures.ItemAnnex,
		Pickup: fixtures.LibraryMain})
	if err != nil || hold.Retrieval == 0 {
		t.Fatalf("hold on the annex item: %+v, %v", hold, err)
	}
	run, err := e.sched.RunNow(ctx, "ANNEX-REQ", RunOptions{})
	if err != nil || len(run.Files) != 1 || run.Records != 1 {
		t.Fatalf("request run: %+v, %v", run, err)
	}
	f := readRS(t, srv.Path("/out/"+run.Files[0]))
	if len(f.Requests) != 1 || f.Requests[0].Type != RequestTypePatron || f.Requests[0].Barcode != fixtures.ItemAnnex ||
		f.Requests[0].LibraryCode != fixtures.LibraryMain || f.Requests[0].Patron != fixtures.PatronGood {
		t.Fatalf("request file %+v", f)
	}
	// Nothing new: nothing sent.
	if run, _ := e.sched.RunNow(ctx, "ANNEX-REQ", RunOptions{}); len(run.Files) != 0 {
		t.Fatalf("sent again: %v", run.Files)
	}
	if _, err := e.svc.CancelHold(ctx, circ.CancelHoldRequest{Agent: agent, RequestID: hold.Request}); err != nil {
		t.Fatal(err)
	}
	run, err = e.sched.RunNow(ctx, "ANNEX-REQ", RunOptions{})
	if err != nil || len(run.Files) != 1 {
		t.Fatalf("cancel run: %+v, %v", run, err)
	}
	f = readRS(t, srv.Path("/out/"+run.Files[0]))
	if len(f.Requests) != 1 || f.Requests[0].Type != RequestTypeCancel || f.Requests[0].ID != strconv.FormatUint(hold.Retrieval, 10) ||
		f.Requests[0].hasPatronInfo {
		t.Fatalf("cancellation file %+v", f)
	}
	if got := len(dataFiles(t, srv.Path("/out"))); got != before+2 {
		t.Fatalf("%d files, want %d", got, before+2)
	}
}

// smsText is one delivered SMS as the gateway reads it.
type smsText struct {
	File, To, Body string
}

// readSMSDrop reads an SMS drop directory by the rules of a gateway that
// consumes Alma's SMS files (mlibrary/send-alma-sms): every file whose
// name holds "Ful" is one message; its first line, trimmed, is the number,
// parsed as a US number into E.164; the second line is skipped; the
// non-empty lines after it, joined by spaces, are the text. A file the
// gateway would pick up and cannot send fails the test.
func readSMSDrop(t *testing.T, dir string) []smsText {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []smsText
	for _, e := range ents {
		if e.IsDir() || !strings.Contains(e.Name(), "Ful") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(data), "\n")
		to, ok := e164US(strings.TrimSpace(lines[0]))
		if !ok {
			t.Fatalf("%s: the gateway cannot text %q", e.Name(), lines[0])
		}
		var body []string
		if len(lines) > 2 {
			for _, l := range lines[2:] {
				if l != "" {
					body = append(body, l)
				}
			}
		}
		if len(body) == 0 {
			t.Fatalf("%s: no text after the number: %q", e.Name(), data)
		}
		out = append(out, smsText{e.Name(), to, strings.Join(body, " ")})
	}
	return out
}

// e164US parses a phone number the way the gateway's library does for a
// US default: punctuation dropped, ten digits (or eleven with the leading
// 1) with area code and exchange not starting with 0 or 1; or, after a
// +, a country code and number of 8 to 15 digits.
func e164US(s string) (string, bool) {
	var d strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			d.WriteRune(r)
		}
	}
	n := d.String()
	if strings.HasPrefix(s, "+") && !strings.HasPrefix(s, "+1") {
		return "+" + n, len(n) >= 8 && len(n) <= 15
	}
	if len(n) == 11 && n[0] == '1' {
		n = n[1:]
	}
	if len(n) != 10 || n[0] < '2' || n[3] < '2' {
		return "", false
	}
	return "+1" + n, true
}

// byNotice returns the texts to one number, by the letter their file is
// named after.
func byNotice(texts []smsText, to string) map[string][]string {
	out := map[string][]string{}
	for _, x := range texts {
		if x.To == to {
			letter, _, _ := strings.Cut(x.File, "_")
			out[letter] = append(out[letter], x.Body)
		}
	}
	return out
}

// TestSMSNoticesEndToEnd runs a fresh SMS profile, with nothing but a
// library and a target, on the demo library, whose patrons have mobile
// phones as circa's seed and importers record them: a hold comes onto the
// shelf, a loan falls overdue and another is due soon, and the gateway
// gets one text for each, in Alma's SMS file layout, once.
func TestSMSNoticesEndToEnd(t *testing.T) {
	e := newEnv(t)
	srv, tg := sftpTarget(t)
	p := profiles.NewExchange(profiles.TypeSMS, "SMS")
	p.Library, p.Target = fixtures.LibraryMain, tg
	e.save(p)
	good := "+16075550142" // PatronGood's seeded mobile, 607-555-0142
	// The patron with fees reads German and has a number marked for texts.
	if err := e.db.Update(ctx, func(tx store.Tx) error {
		pt, err := tx.PatronByBarcode(fixtures.PatronFees)
		if err != nil {
			return err
		}
		pt.Language = "ger"
		pt.Contacts = append(pt.Contacts, store.Contact{Kind: "sms", Value: "+1 212 555 0104"})
		return tx.PutPatron(&pt, seededAt)
	}); err != nil {
		t.Fatal(err)
	}

	agent := circ.Agent{Protocol: "cli", Library: fixtures.LibraryMain}
	// PatronGood borrows a video tape, lent for a week, beside the book
	// he has on loan for two.
	tape, err := e.svc.Checkout(ctx, circ.CheckoutRequest{Agent: agent, Patron: fixtures.PatronGood, Item: fixtures.ItemMagnetic})
	if err != nil {
		t.Fatal(err)
	}
	var bookDue time.Time
	var zone *time.Location
	if err := e.db.View(ctx, func(tx store.Tx) error {
		zone = e.svc.Zone(tx, fixtures.LibraryMain)
		it, err := tx.ItemByBarcode(fixtures.ItemOnLoan)
		if err != nil {
			return err
		}
		l, ok, err := tx.OpenLoanOfItem(it.ID)
		if err == nil && !ok {
			err = errors.New("ItemOnLoan is not on loan")
		}
		bookDue = l.Due
		return err
	}); err != nil {
		t.Fatal(err)
	}
	// A hold on a book on the shelves is trapped by a checkin.
	if _, err := e.svc.PlaceHold(ctx, circ.HoldRequest{Agent: agent, Patron: fixtures.PatronGood, Item: fixtures.ItemDiacritics,
		Pickup: fixtures.LibraryMain}); err != nil {
		t.Fatal(err)
	}
	// Not on loan, the item is still routed: to the hold shelf.
	if res, err := e.svc.Checkin(ctx, circ.CheckinRequest{Agent: agent, Item: fixtures.ItemDiacritics}); res.Alert != circ.AlertHoldHere {
		t.Fatalf("checkin %+v, %v", res, err)
	}
	// A day before the book is due, the tape is overdue.
	now := bookDue.Add(-24 * time.Hour)
	e.now.Store(&now)
	if !tape.Due.Before(now) {
		t.Fatalf("tape due %v, book %v: not an overdue case", tape.Due, bookDue)
	}
	run, err := e.sched.RunNow(ctx, "SMS", RunOptions{})
	if err != nil || run.Records == 0 || len(run.Files) != run.Records {
		t.Fatalf("run %+v, %v", run, err)
	}
	drop := srv.Path("/out")
	texts := readSMSDrop(t, drop)
	if len(texts) != run.Records || len(dataFiles(t, drop, true)) != run.Records {
		t.Fatalf("%d texts, %d files in the drop, %d notices", len(texts), len(dataFiles(t, drop)), run.Records)
	}
	got := byNotice(texts, good)
	want := map[string]string{
		"FulPlaceOnHoldShelfLetter":  "Éloge de la lenteur",
		"FulUserLoansCourtesyLetter": "is due back on " + bookDue.In(zone).Format("2006-01-02") + ".",
		"FulUserOverdueNoticeLetter": "was due back on " + tape.Due.In(zone).Format("2006-01-02") + ". Please return or renew it.",
	}
	for letter, part := range want {
		if len(got[letter]) != 1 || !strings.Contains(got[letter][0], part) {
			t.Errorf("%s to PatronGood: %q, want one holding %q", letter, got[letter], part)
		}
	}
	if len(got) != len(want) {
		t.Errorf("PatronGood's texts %v", got)
	}
	fees := byNotice(texts, "+12125550104")["FulFinesFeesNotificationLetter"]
	slices.Sort(fees)
	if len(fees) != 2 || !strings.HasSuffix(fees[0], ": Sie haben offene Gebühren von 4.00 USD.") ||
		!strings.HasSuffix(fees[1], ": Sie haben offene Gebühren von 8.50 USD.") {
		t.Errorf("fee texts in German %q", fees)
	}
	// Nothing new: nothing sent.
	if run, err := e.sched.RunNow(ctx, "SMS", RunOptions{}); err != nil || len(run.Files) != 0 {
		t.Fatalf("sent again: %+v, %v", run, err)
	}
}

func TestSMSNoticesOnceEach(t *testing.T) {
	e := newEnv(t)
	srv, tg := sftpTarget(t)
	dir := srv.Path("/out")
	p := smsProfile(t, "SMS")
	p.Target = tg
	p.SMS.Templates["fre"] = map[string]string{profiles.NoticeFee: "Vous devez {{.Amount}} {{.Currency}}."}
	e.save(p)
	// Give the patron with fees a number for texts and French as language;
	// the patron with a loan has his mobile phone.
	err := e.db.Update(ctx, func(tx store.Tx) error {
		pt, err := tx.PatronByBarcode(fixtures.PatronFees)
		if err != nil {
			return err
		}
		pt.Language = "fre"
		pt.Contacts = append(pt.Contacts, store.Contact{Kind: "sms", Value: "+1 212 555 0104"})
		return tx.PutPatron(&pt, seededAt)
	})
	if err != nil {
		t.Fatal(err)
	}
	e.advance(13 * 24 * time.Hour) // the loan of PatronGood is due in a day
	run, err := e.sched.RunNow(ctx, "SMS", RunOptions{})
	if err != nil || len(run.Files) == 0 || len(run.Files) != run.Records {
		t.Fatalf("run %+v, %v", run, err)
	}
	texts := readSMSDrop(t, dir)
	fees := byNotice(texts, "+12125550104")
	if len(fees) != 1 || len(fees["FulFinesFeesNotificationLetter"]) != 2 {
		t.Fatalf("fee texts %v", fees)
	}
	for _, b := range fees["FulFinesFeesNotificationLetter"] {
		if !strings.HasPrefix(b, "Vous devez ") {
			t.Errorf("fee notice not in French: %q", b)
		}
	}
	good := byNotice(texts, "+16075550142")
	if len(good) != 1 || len(good["FulUserLoansCourtesyLetter"]) != 1 || !strings.Contains(good["FulUserLoansCourtesyLetter"][0], "is due on") {
		t.Fatalf("PatronGood's texts %v", good)
	}
	if len(texts) != run.Records {
		t.Fatalf("%d texts for %d notices", len(texts), run.Records)
	}
	// Next run: nothing new is due.
	if run, _ := e.sched.RunNow(ctx, "SMS", RunOptions{}); len(run.Files) != 0 {
		t.Fatalf("notices sent twice: %v", run.Files)
	}
	// Two days on, the loan is overdue: one overdue notice, once.
	e.advance(2 * 24 * time.Hour)
	if run, err := e.sched.RunNow(ctx, "SMS", RunOptions{}); err != nil || run.Records == 0 {
		t.Fatalf("overdue run %+v, %v", run, err)
	}
	good = byNotice(readSMSDrop(t, dir), "+16075550142")
	if len(good) != 2 || len(good["FulUserOverdueNoticeLetter"]) != 1 || len(good["FulUserLoansCourtesyLetter"]) != 1 {
		t.Fatalf("PatronGood's texts %v", good)
	}
}

// TestRemoteStorageRequestSurvivesACutUpload cuts every upload of a run; the
// request waits in the outbox and the next run sends it, once.
func TestRemoteStorageRequestSurvivesACutUpload(t *testing.T) {
	e := newEnv(t)
	srv, tg := sftpTarget(t)
	p := profiles.NewExchange(profiles.TypeRequests, "REQ")
	p.Library, p.Target, p.Requests.Facility = fixtures.LibraryMain, tg, "ANNEX"
	e.save(p)
	if _, err := e.sched.RunNow(ctx, "REQ", RunOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.PlaceHold(ctx, circ.HoldRequest{Agent: circ.Agent{Protocol: "cli", Library: "MAIN"},
		Patron: fixtures.PatronGood, Item: fixtures.ItemAnnex}); err != nil {
		t.Fatal(err)
	}
	cut := sftptest.Faults{CutAfterBytes: 100}
	srv.SetFaults(cut)
	e.sched.afterSave = func(delivery.Delivery) error { srv.SetFaults(cut); return nil }
	if run, err := e.sched.RunNow(ctx, "REQ", RunOptions{}); err == nil || run.Result != ResultFailed {
		t.Fatalf("want a failed run, got %+v, %v", run, err)
	}
	e.sched.afterSave = nil
	srv.SetFaults(sftptest.Faults{})
	run, err := e.sched.RunNow(ctx, "REQ", RunOptions{})
	if err != nil || len(run.Files) != 1 {
		t.Fatalf("recovery run %+v, %v", run, err)
	}
	var sent int
	for _, n := range dataFiles(t, srv.Path("/out"), true) {
		for _, r := range readRS(t, srv.Path("/out/"+n)).Requests {
			if r.Barcode == fixtures.ItemAnnex {
				sent++
			}
		}
	}
	if sent != 1 {
		t.Fatalf("the request went out %d times", sent)
	}
}

// TestNoticeDataMatchesNoticeFields keeps the fields templates are checked
// against at save time equal to those they are rendered with.
func TestNoticeDataMatchesNoticeFields(t *testing.T) {
	var got []string
	rt := reflect.TypeFor[NoticeData]()
	for i := range rt.NumField() {
		got = append(got, rt.Field(i).Name)
	}
	if !slices.Equal(got, profiles.NoticeFields) {
		t.Fatalf("NoticeData has %v, profiles.NoticeFields %v", got, profiles.NoticeFields)
	}
}

// TestSMSNumber: the number marked for texts wins, else a mobile phone,
// the preferred one first; other phones and numbers that would break the
// file's first line get no text.
func TestSMSNumber(t *testing.T) {
	mobile := func(v string, pref bool) store.Contact {
		return store.Contact{Kind: "phone", Type: "mobile", Value: v, Preferred: pref}
	}
	for _, c := range []struct {
		name     string
		contacts []store.Contact
		want     string
	}{
		{"sms contact first", []store.Contact{mobile("607-555-0101", true), {Kind: "sms", Value: " +1 607 555 0102 "}}, "+1 607 555 0102"},
		{"preferred mobile", []store.Contact{mobile("607-555-0103", false), mobile("607-555-0104", true)}, "607-555-0104"},
		{"first mobile", []store.Contact{mobile("607-555-0105", false), mobile("607-555-0106", false)}, "607-555-0105"},
		{"type in capitals", []store.Contact{{Kind: "phone", Type: "Mobile", Value: "607-555-0107"}}, "607-555-0107"},
		{"broken sms contact", []store.Contact{{Kind: "sms", Value: "607\n555"}, mobile("607-555-0108", false)}, "607-555-0108"},
		{"home phone", []store.Contact{{Kind: "phone", Type: "home", Value: "607-555-0109", Preferred: true}}, ""},
		{"phone of no type", []store.Contact{{Kind: "phone", Value: "607-555-0110"}}, ""},
		{"no digits", []store.Contact{mobile("ask at the desk", true)}, ""},
	} {
		got, ok := smsNumber(&store.Patron{Contacts: c.contacts})
		if got != c.want || ok != (c.want != "") {
			t.Errorf("%s: %q, %v; want %q", c.name, got, ok, c.want)
		}
	}
}

// TestSMSLetterReadsBack: a letter read by the gateway's rules gives back
// the number and the whole text.
func TestSMSLetterReadsBack(t *testing.T) {
	dir := t.TempDir()
	p := profiles.NewExchange(profiles.TypeSMS, "SMS")
	name := smsFileName(p, profiles.NoticeOverdue, 7, seededAt)
	if name != "FulUserOverdueNoticeLetter_SMS_000007_20261102T140000Z.txt" {
		t.Fatalf("file name %s", name)
	}
	if err := os.WriteFile(filepath.Join(dir, name), smsLetter("(607) 555-0142", "Main Library: Éloge de la lenteur was due back on 2026-11-16."), 0o644); err != nil {
		t.Fatal(err)
	}
	got := readSMSDrop(t, dir)
	if len(got) != 1 || got[0].To != "+16075550142" || got[0].Body != "Main Library: Éloge de la lenteur was due back on 2026-11-16." {
		t.Fatalf("read back %+v", got)
	}
}

// TestSMSRunDeliversOverOneConnection: the notices of a run, a file each,
// go over one SSH login; when the connection drops in the middle of the
// run, the file in flight resumes from its saved step on a new connection
// and every notice arrives once.
func TestSMSRunDeliversOverOneConnection(t *testing.T) {
	for _, drop := range []bool{false, true} {
		t.Run(fmt.Sprintf("dropped=%v", drop), func(t *testing.T) {
			e := newEnv(t)
			srv, tg := sftpTarget(t)
			p := smsProfile(t, "SMS")
			p.Target = tg
			e.save(p)
			if err := e.db.Update(ctx, func(tx store.Tx) error {
				pt, err := tx.PatronByBarcode(fixtures.PatronFees)
				if err != nil {
					return err
				}
				pt.Contacts = append(pt.Contacts, store.Contact{Kind: "sms", Value: "+1 212 555 0104"})
				return tx.PutPatron(&pt, seededAt)
			}); err != nil {
				t.Fatal(err)
			}
			e.advance(13 * 24 * time.Hour) // a courtesy notice beside the fee notices
			dropped := ""
			if drop {
				// Cut the connection once the second file has its final
				// name, before it is read back.
				renamed := 0
				e.sched.afterSave = func(d delivery.Delivery) error {
					if d.Step == delivery.StepRenamed && d.ManifestStep == delivery.StepPending {
						if renamed++; renamed == 2 {
							dropped = d.Name
							srv.DropConnections()
						}
					}
					return nil
				}
			}
			run, err := e.sched.RunNow(ctx, "SMS", RunOptions{})
			if err != nil || len(run.Files) < 3 || len(run.Files) != run.Records {
				t.Fatalf("run %+v, %v", run, err)
			}
			logins := int64(1)
			if drop {
				if dropped == "" {
					t.Fatal("the connection was never dropped")
				}
				logins = 2
			}
			if n := srv.Logins(); n != logins {
				t.Fatalf("%d files took %d logins, want %d", len(run.Files), n, logins)
			}
			texts := readSMSDrop(t, srv.Path("/out"))
			if len(texts) != run.Records || len(dataFiles(t, srv.Path("/out"), true)) != run.Records {
				t.Fatalf("%d texts for %d notices: %v", len(texts), run.Records, texts)
			}
			for _, name := range run.Files {
				if !slices.ContainsFunc(texts, func(x smsText) bool { return x.File == name }) {
					t.Errorf("%s was not delivered", name)
				}
			}
		})
	}
}
