package exchange

import (
	"encoding/csv"
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

func TestSMSNoticesOnceEach(t *testing.T) {
	e := newEnv(t)
	srv, tg := sftpTarget(t)
	dir := srv.Path("/out")
	p := smsProfile(t, "SMS")
	p.Target = tg
	p.SMS.Templates["fre"] = map[string]string{profiles.NoticeFee: "Vous devez {{.Amount}} {{.Currency}}."}
	e.save(p)
	// Give the patron with fees an SMS number and French as language; the
	// patron with a loan gets one too.
	err := e.db.Update(ctx, func(tx *store.Tx) error {
		for bc, lang := range map[string]string{fixtures.PatronFees: "fre", fixtures.PatronGood: "eng"} {
			pt, err := tx.PatronByBarcode(bc)
			if err != nil {
				return err
			}
			pt.Language = lang
			pt.Contacts = append(pt.Contacts, store.Contact{Kind: "sms", Value: "+1555" + bc[len(bc)-4:]})
			if err := tx.PutPatron(&pt, seededAt); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	e.advance(13 * 24 * time.Hour) // the loan of PatronGood is due in a day
	run, err := e.sched.RunNow(ctx, "SMS", RunOptions{})
	if err != nil || len(run.Files) != 1 {
		t.Fatalf("run %+v, %v", run, err)
	}
	rows := readCSV(t, filepath.Join(dir, run.Files[0]))
	var fee, courtesy int
	for _, r := range rows[1:] {
		switch {
		case r[0] == "+15550004" && r[2] == profiles.NoticeFee:
			fee++
			if r[1] != "fre" || !strings.HasPrefix(r[3], "Vous devez ") {
				t.Errorf("fee notice not in French: %v", r)
			}
		case r[0] == "+15550001" && r[2] == profiles.NoticeCourtesy:
			courtesy++
			if !strings.Contains(r[3], "is due on") {
				t.Errorf("courtesy notice %v", r)
			}
		case r[0] != "+15550004" && r[0] != "+15550001":
			t.Errorf("notice to a patron without an SMS contact: %v", r)
		}
	}
	if fee != 2 || courtesy != 1 || run.Records != len(rows)-1 {
		t.Fatalf("fee notices %d, courtesy %d, rows %v", fee, courtesy, rows)
	}
	// Next run: nothing new is due.
	if run, _ := e.sched.RunNow(ctx, "SMS", RunOptions{}); len(run.Files) != 0 {
		t.Fatalf("notices sent twice: %v", run.Files)
	}
	// Two days on, the loan is overdue: one overdue notice, once.
	e.advance(2 * 24 * time.Hour)
	run, _ = e.sched.RunNow(ctx, "SMS", RunOptions{})
	rows = readCSV(t, filepath.Join(dir, run.Files[0]))
	if len(rows) != 2 || rows[1][2] != profiles.NoticeOverdue {
		t.Fatalf("overdue run rows %v", rows)
	}
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil || len(rows) == 0 || strings.Join(rows[0], ",") != "phone,language,notice,message" {
		t.Fatalf("csv %v, %v", rows, err)
	}
	return rows
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
