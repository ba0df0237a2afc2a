package exchange

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/fixtures"
	"github.com/circa-ils/circa/profiles"
	"github.com/circa-ils/circa/profiles/delivery"
	"github.com/circa-ils/circa/profiles/delivery/sftptest"
	"github.com/circa-ils/circa/store"
)

// openSSH starts Debian's sshd as a throw-away daemon on a free loopback
// port and returns a target for the directory "drop" inside it.
func openSSH(t *testing.T) (delivery.Target, string) {
	t.Helper()
	o := sftptest.StartOpenSSH(t)
	for _, d := range []string{"drop", "in"} {
		os.Mkdir(filepath.Join(o.Dir, d), 0o755)
	}
	return delivery.Target{Kind: delivery.KindSFTP, Host: o.Host, Port: o.Port, User: o.User,
		PrivateKey: string(o.ClientKeyPEM), KnownHosts: o.KnownHosts, RemoteDir: filepath.Join(o.Dir, "drop")}, o.Dir
}

// TestBursarSSHD exports fees to OpenSSH's sshd, is killed between an
// upload and its rename, resumes after a restart, and imports the bursar's
// payments back.
func TestBursarSSHD(t *testing.T) {
	tg, dir := openSSH(t)
	e := newEnv(t)
	p := bursarProfile(tg)
	p.ImportDir, p.MaxRecords = filepath.Join(dir, "in"), 5
	e.save(p)
	killed := errors.New("killed")
	e.sched.afterSave = func(d delivery.Delivery) error {
		if d.Step == delivery.StepUploadedTemp {
			return killed
		}
		return nil
	}
	if _, err := e.sched.RunNow(ctx, "BURSAR", RunOptions{}); err == nil {
		t.Fatal("want the simulated kill")
	}
	path := e.db.Describe()
	e.db.Close()
	e.open(path)
	run, err := e.sched.RunNow(ctx, "BURSAR", RunOptions{})
	if err != nil {
		t.Fatalf("run after restart: %v", err)
	}
	drop := filepath.Join(dir, "drop")
	delivered := deliveredTxns(t, drop)
	if !sameKeys(delivered, e.exportedTxns()) {
		t.Fatalf("delivered %d, exported %d", len(delivered), len(e.exportedTxns()))
	}
	data, _ := os.ReadFile(filepath.Join(drop, run.Files[len(run.Files)-1]))
	os.WriteFile(filepath.Join(dir, "in", "payments_1.xml"), data, 0o644)
	lines, _ := ParseBursar("x", data)
	run, err = e.sched.RunNow(ctx, "BURSAR", RunOptions{})
	if err != nil || run.Records != len(lines) || len(e.fees()[store.FeeExportedPaid]) != len(lines) {
		t.Fatalf("import over sshd: %+v, %v", run, err)
	}
}

// TestUsersRequestsAndSMSSSHD runs the other three profile types against
// OpenSSH's sshd: a users import collected from it, a remote-storage
// request and SMS notices delivered to it.
func TestUsersRequestsAndSMSSSHD(t *testing.T) {
	tg, dir := openSSH(t)
	e := newEnv(t)
	drop := filepath.Join(dir, "drop")

	in := tg
	in.RemoteDir = filepath.Join(dir, "in")
	e.save(usersProfile(in))
	os.WriteFile(filepath.Join(dir, "in", "users_1.xml"), usersFile(3, 1), 0o644)
	if run, err := e.sched.RunNow(ctx, "SIS", RunOptions{}); err != nil || run.Records != 3 {
		t.Fatalf("users over sshd: %+v, %v", run, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "in", "archive", "users_1.xml")); err != nil {
		t.Fatal("users file not archived on the server")
	}

	rq := profiles.NewExchange(profiles.TypeRequests, "REQ")
	rq.Library, rq.Target, rq.Requests.Facility = fixtures.LibraryMain, tg, "ANNEX"
	e.save(rq)
	if _, err := e.sched.RunNow(ctx, "REQ", RunOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.PlaceHold(ctx, circ.HoldRequest{Agent: circ.Agent{Protocol: "cli", Library: "MAIN"},
		Patron: fixtures.PatronGood, Item: fixtures.ItemAnnex}); err != nil {
		t.Fatal(err)
	}
	run, err := e.sched.RunNow(ctx, "REQ", RunOptions{})
	if err != nil || len(run.Files) != 1 {
		t.Fatalf("request over sshd: %+v, %v", run, err)
	}
	// Read as Ex Libris' sample reader reads Alma's export (readAlmaRS).
	if f := readRS(t, filepath.Join(drop, run.Files[0])); len(f.Requests) != 1 || f.Requests[0].Barcode != fixtures.ItemAnnex ||
		f.Requests[0].Type != RequestTypePatron || f.Requests[0].LibraryCode != fixtures.LibraryMain ||
		f.Requests[0].LocationCode != fixtures.LocationAnnex {
		t.Fatalf("request file %+v", f)
	}

	// SMS: a fresh profile, the patron with fees given a number for texts;
	// a day after PatronGood's loan fell due and with a hold of his on the
	// shelf, every kind of notice arrives as the gateway reads it. The
	// generated patrons' mobile phones are left out, sparing sshd the
	// demo's hundred-odd other texts (TestSMSNoticesEndToEnd sends them).
	if err := e.db.Update(ctx, func(tx store.Tx) error {
		var others []store.Patron
		if err := tx.ForEachPatron(func(pt store.Patron) bool {
			if pt.Barcode != fixtures.PatronGood && slices.ContainsFunc(pt.Contacts, func(c store.Contact) bool { return c.Kind == "phone" }) {
				others = append(others, pt)
			}
			return true
		}); err != nil {
			return err
		}
		for _, pt := range others {
			pt.Contacts = slices.DeleteFunc(pt.Contacts, func(c store.Contact) bool { return c.Kind == "phone" })
			if err := tx.PutPatron(&pt, seededAt); err != nil {
				return err
			}
		}
		pt, err := tx.PatronByBarcode(fixtures.PatronFees)
		if err != nil {
			return err
		}
		pt.Contacts = append(pt.Contacts, store.Contact{Kind: "sms", Value: "+1 212 555 0104"})
		return tx.PutPatron(&pt, seededAt)
	}); err != nil {
		t.Fatal(err)
	}
	agent := circ.Agent{Protocol: "cli", Library: fixtures.LibraryMain}
	e.advance(13 * 24 * time.Hour)
	if _, err := e.svc.PlaceHold(ctx, circ.HoldRequest{Agent: agent, Patron: fixtures.PatronGood, Item: fixtures.ItemDiacritics}); err != nil {
		t.Fatal(err)
	}
	// Not on loan, the item is still routed: to the hold shelf.
	if res, err := e.svc.Checkin(ctx, circ.CheckinRequest{Agent: agent, Item: fixtures.ItemDiacritics}); res.Alert != circ.AlertHoldHere {
		t.Fatalf("checkin %+v, %v", res, err)
	}
	smsDrop := filepath.Join(dir, "sms")
	os.Mkdir(smsDrop, 0o755)
	sms := profiles.NewExchange(profiles.TypeSMS, "SMS")
	sms.Library, sms.Target = fixtures.LibraryMain, tg
	sms.Target.RemoteDir = smsDrop
	e.save(sms)
	run, err = e.sched.RunNow(ctx, "SMS", RunOptions{})
	if err != nil || run.Records == 0 || len(run.Files) != run.Records {
		t.Fatalf("sms over sshd: %+v, %v", run, err)
	}
	e.advance(2 * 24 * time.Hour)
	if run, err := e.sched.RunNow(ctx, "SMS", RunOptions{}); err != nil || run.Records == 0 {
		t.Fatalf("second sms run over sshd: %+v, %v", run, err)
	}
	texts := readSMSDrop(t, smsDrop)
	if files := dataFiles(t, smsDrop, true); len(files) != len(texts) {
		t.Fatalf("%d files in the SMS drop, %d texts", len(files), len(texts))
	}
	got := byNotice(texts, "+16075550142")
	for _, letter := range []string{"FulPlaceOnHoldShelfLetter", "FulUserLoansCourtesyLetter", "FulUserOverdueNoticeLetter"} {
		if len(got[letter]) != 1 {
			t.Errorf("PatronGood's %s texts: %q", letter, got[letter])
		}
	}
	if fees := byNotice(texts, "+12125550104"); len(fees["FulFinesFeesNotificationLetter"]) != 2 {
		t.Errorf("fee texts %v", fees)
	}
	if len(texts) != 5 {
		t.Errorf("%d texts, want PatronGood's three and two fee notices: %+v", len(texts), texts)
	}
}
