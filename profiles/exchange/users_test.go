package exchange

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/fixtures"
	"github.com/circa-ils/circa/internal/conformance"
	"github.com/circa-ils/circa/profiles"
	"github.com/circa-ils/circa/profiles/delivery"
	"github.com/circa-ils/circa/store"
)

// sisUser writes one users/user element.
func sisUser(b *bytes.Buffer, id, last, group, email string) {
	fmt.Fprintf(b, `  <user>
    <record_type desc="Public">PUBLIC</record_type>
    <primary_id>%[1]s</primary_id>
    <first_name>Ada</first_name>
    <last_name>%[2]s</last_name>
    <user_group desc="Undergraduate">%[3]s</user_group>
    <expiry_date>2028-06-30Z</expiry_date>
    <contact_info>
      <emails><email preferred="true" segment_type="External"><email_address>%[4]s</email_address><email_types><email_type>school</email_type></email_types></email></emails>
      <phones><phone preferred="true" preferred_sms="true" segment_type="External"><phone_number>+1 555 0100</phone_number></phone></phones>
    </contact_info>
    <user_identifiers>
      <user_identifier segment_type="External"><id_type desc="University ID">university_id</id_type><value>U%[1]s</value><status>ACTIVE</status></user_identifier>
    </user_identifiers>
  </user>
`, id, last, group, email)
}

func usersFile(n int, from int) []byte {
	var b bytes.Buffer
	b.WriteString("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<users total_record_count=\"" + fmt.Sprint(n) + "\">\n")
	for i := range n {
		sisUser(&b, fmt.Sprintf("9%08d", from+i), fmt.Sprintf("Student%d", from+i), "UNDERGRAD", fmt.Sprintf("s%d@example.edu", from+i))
	}
	b.WriteString("</users>\n")
	return b.Bytes()
}

func usersProfile(tg delivery.Target) *profiles.Exchange {
	p := profiles.NewExchange(profiles.TypeUsers, "SIS")
	p.Library, p.Target = fixtures.LibraryMain, tg
	p.Users.MatchIdentifier, p.Users.AddNew, p.Users.HomeLibrary = "university_id", true, fixtures.LibraryMain
	p.Users.ImportPattern = "users_*.xml"
	return p
}

func (e *env) patronBy(typ, value string) (store.Patron, error) {
	var p store.Patron
	err := e.db.View(ctx, func(tx store.Tx) error {
		var err error
		p, err = tx.PatronByIdentifier(typ, value)
		return err
	})
	return p, err
}

func TestUsersImportOverSFTP(t *testing.T) {
	e := newEnv(t)
	srv, tg := sftpTarget(t)
	tg.RemoteDir = "/in"
	e.save(usersProfile(tg))
	var b bytes.Buffer
	b.WriteString("<users>\n")
	sisUser(&b, "00000001", "Lovelace", "UNDERGRAD", "ada@example.edu")
	sisUser(&b, "00000002", "Hopper", "GRAD", "grace@example.edu")
	// A group the library does not have: rejected, the others go in.
	sisUser(&b, "00000003", "Turing", "UNDERGRD", "alan@example.edu")
	// The demo's SIS patron, with a new last name and no user group (kept).
	b.WriteString(`<user><primary_id>` + fixtures.PatronExternal + `</primary_id><last_name>Raman-Iyer</last_name>
	  <user_identifiers><user_identifier><id_type>university_id</id_type><value>U20230005</value></user_identifier></user_identifiers></user>`)
	// A library-managed patron's id: rejected.
	good, _ := e.patronBy(store.IdentBarcode, fixtures.PatronGood)
	b.WriteString(`<user><primary_id>X1</primary_id><last_name>Intruder</last_name><user_group>STAFF</user_group>
	  <user_identifiers><user_identifier><id_type>university_id</id_type><value>` + fixtures.PatronGood + `</value></user_identifier></user_identifiers></user>`)
	b.WriteString("</users>\n")
	if err := e.db.Update(ctx, func(tx store.Tx) error {
		good.Identifiers = append(good.Identifiers, store.Identifier{Type: "university_id", Value: fixtures.PatronGood})
		return tx.PutPatron(&good, seededAt)
	}); err != nil {
		t.Fatal(err)
	}
	ext, _ := e.patronBy("university_id", "U20230005")
	os.WriteFile(srv.Path("/in/users_1.xml"), b.Bytes(), 0o644)

	run, err := e.sched.RunNow(ctx, "SIS", RunOptions{})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if run.Records != 3 || len(run.Exceptions) != 2 || !strings.Contains(run.Exceptions[0], `user group "UNDERGRD" does not exist (did you mean "UNDERGRAD"?)`) ||
		!strings.Contains(run.Exceptions[1], "library manages") {
		t.Fatalf("run %+v", run)
	}
	if _, err := e.patronBy("university_id", "U00000003"); err == nil {
		t.Fatal("a user of a missing group was added")
	}
	p, err := e.patronBy("university_id", "U00000001")
	if err != nil || p.LastName != "Lovelace" || !p.External || p.Barcode != "00000001" {
		t.Fatalf("new user: %+v, %v", p, err)
	}
	// expiry_date 2028-06-30Z: the end of that day where the patron's library is.
	ny, _ := time.LoadLocation("America/New_York")
	if want := time.Date(2028, 6, 30, 23, 59, 59, 0, ny); !p.Expiry.Equal(want) {
		t.Errorf("expiry %s, want the end of the day in the library's zone, %s", p.Expiry.In(ny), want)
	}
	if sms, ok := p.ContactOf("sms"); !ok || sms.Value != "+1 555 0100" {
		t.Fatalf("the preferred SMS phone did not become an SMS contact: %+v", p.Contacts)
	}
	after, _ := e.patronBy("university_id", "U20230005")
	if after.LastName != "Raman-Iyer" || after.UserGroup != ext.UserGroup || after.PINHash != ext.PINHash {
		t.Fatalf("SIS patron: %+v", after)
	}
	if good2, _ := e.patronBy(store.IdentBarcode, fixtures.PatronGood); good2.LastName != good.LastName {
		t.Fatal("a library-managed patron was changed")
	}
	if _, err := os.Stat(srv.Path("/in/archive/users_1.xml")); err != nil {
		t.Fatal("file not archived")
	}
}

func TestUsersDryRunChangesNothing(t *testing.T) {
	e := newEnv(t)
	e.save(usersProfile(delivery.Target{Kind: delivery.KindLocal, LocalDir: t.TempDir()}))
	path := filepath.Join(t.TempDir(), "users.xml")
	os.WriteFile(path, usersFile(3, 1), 0o644)
	var out []string
	run, err := e.sched.RunNow(ctx, "SIS", RunOptions{DryRun: true, Files: []string{path}, Out: func(l string) { out = append(out, l) }})
	if err != nil || run.Records != 3 {
		t.Fatalf("dry run: %+v, %v", run, err)
	}
	text := strings.Join(out, "\n")
	if !strings.Contains(text, "would be added") || !strings.Contains(text, "3 to add") {
		t.Fatalf("dry-run output:\n%s", text)
	}
	if _, err := e.patronBy("university_id", "U900000001"); err == nil {
		t.Fatal("a dry run added a patron")
	}
	if hist, _ := History(ctx, e.db, "SIS"); len(hist) != 0 {
		t.Fatal("a dry run was recorded as a run")
	}
}

func TestUsersDryRunOfWaitingFiles(t *testing.T) {
	e := newEnv(t)
	srv, tg := sftpTarget(t)
	tg.RemoteDir = "/in"
	e.save(usersProfile(tg))
	os.WriteFile(srv.Path("/in/users_1.xml"), usersFile(2, 1), 0o644)
	var out []string
	run, err := e.sched.RunNow(ctx, "SIS", RunOptions{DryRun: true, Out: func(l string) { out = append(out, l) }})
	if err != nil || run.Records != 2 || !strings.Contains(strings.Join(out, "\n"), "2 to add") {
		t.Fatalf("dry run: %+v, %v, %q", run, err, out)
	}
	if _, err := e.patronBy("university_id", "U900000001"); err == nil {
		t.Fatal("a dry run added a patron")
	}
	if _, err := os.Stat(srv.Path("/in/users_1.xml")); err != nil {
		t.Fatal("a dry run took the file off the server")
	}
}

func TestUsersImportRefusesBadFiles(t *testing.T) {
	e := newEnv(t)
	e.save(usersProfile(delivery.Target{Kind: delivery.KindLocal, LocalDir: t.TempDir()}))
	good := string(usersFile(3, 1))
	cases := map[string]struct{ data, want string }{
		"truncated":  {good[:len(good)/2], "truncated"},
		"duplicated": {strings.Replace(good, "U900000002", "U900000001", 1), "repeats line"},
		"no match":   {strings.Replace(good, "<id_type desc=\"University ID\">university_id</id_type>", "<id_type>other</id_type>", 1), "no university_id identifier"},
		"bad date":   {strings.Replace(good, "2028-06-30Z", "30/06/2028", 1), "expiry_date"},
		"latin1":     {strings.Replace(good, "Student2", "Student\xe92", 1), "not UTF-8"},
		"no root":    {"<people/>", "not a users file"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "users.xml")
			os.WriteFile(path, []byte(c.data), 0o644)
			run, err := e.sched.RunNow(ctx, "SIS", RunOptions{Files: []string{path}})
			if err == nil || !strings.Contains(strings.Join(run.Exceptions, "\n"), c.want) {
				t.Fatalf("want a refusal naming %q, got %v / %v", c.want, err, run.Exceptions)
			}
			if _, err := e.patronBy("university_id", "U900000003"); err == nil {
				t.Fatal("a refused file added users")
			}
		})
	}
	// Latin-1, declared, is read, and its letters arrive intact.
	latin := strings.Replace(strings.Replace(good, `encoding="UTF-8"`, `encoding="ISO-8859-1"`, 1), "Student2", "Student\xe92", 1)
	users, err := ParseUsers("latin1.xml", []byte(latin), "university_id")
	if err != nil || users[1].LastName != "Studenté2" {
		t.Fatalf("declared ISO-8859-1: %v, %v", users, err)
	}
}

func TestUsersExportSendsChangedUsersWithBlocks(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	p := usersProfile(delivery.Target{Kind: delivery.KindLocal, LocalDir: dir})
	p.Users.ImportPattern, p.Users.Export = "", true
	e.save(p)
	// Catch up with the seeding, then block the SIS patron at the desk.
	if _, err := e.sched.RunNow(ctx, "SIS", RunOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Block(ctx, circ.BlockRequest{Agent: circ.Agent{Protocol: "cli", Library: "MAIN"},
		Patron: fixtures.PatronExternal, Type: "manual", Note: "Returned damaged"}); err != nil {
		t.Fatal(err)
	}
	run, err := e.sched.RunNow(ctx, "SIS", RunOptions{})
	if err != nil || run.Records != 1 || len(run.Files) != 1 {
		t.Fatalf("export run %+v, %v", run, err)
	}
	data, _ := os.ReadFile(filepath.Join(dir, run.Files[0]))
	for _, want := range []string{"<primary_id>" + fixtures.PatronExternal, "<block_type>manual</block_type>",
		"<block_note>Returned damaged</block_note>", `segment_type="Internal"`} {
		if !strings.Contains(string(data), want) {
			t.Errorf("export lacks %q", want)
		}
	}
	if strings.Contains(string(data), "pin") {
		t.Error("PINs must not leave circa")
	}
	// The export reads back as a users file, and is one for Alma's schema.
	users, err := ParseUsers(run.Files[0], data, "university_id")
	if err != nil || len(users) != 1 {
		t.Fatalf("round trip: %v, %v", users, err)
	}
	if conformance.Have(t, "xmllint") {
		conformance.ValidateAlmaUsers(t, data)
	}
	// Nothing changed since: nothing sent.
	run, _ = e.sched.RunNow(ctx, "SIS", RunOptions{})
	if len(run.Files) != 0 {
		t.Fatalf("unchanged users sent again: %v", run.Files)
	}
}

// TestUsersImport100k imports 100,000 new users (5,000, then the same file
// again, under the race detector or -short).
func TestUsersImport100k(t *testing.T) {
	n := 100_000
	if raceEnabled || testing.Short() {
		n = 5_000
	}
	e := newEnv(t)
	e.save(usersProfile(delivery.Target{Kind: delivery.KindLocal, LocalDir: t.TempDir()}))
	path := filepath.Join(t.TempDir(), "users.xml")
	os.WriteFile(path, usersFile(n, 1), 0o644)
	var last int
	e.sched.o.Progress = func(_ string, done, total int) { last = done }
	start := time.Now()
	run, err := e.sched.RunNow(ctx, "SIS", RunOptions{Files: []string{path}})
	took := time.Since(start)
	if err != nil || run.Records != n || last != n {
		t.Fatalf("import: %d records, progress %d, %v", run.Records, last, err)
	}
	t.Logf("imported %d users in %s", n, took)
	if n > 5_000 {
		return // the repeat below is checked on the smaller file
	}
	run, err = e.sched.RunNow(ctx, "SIS", RunOptions{Files: []string{path}})
	if err != nil || run.Records != 0 {
		t.Fatalf("the same file again changed %d users: %v", run.Records, err)
	}
}

func BenchmarkParseUsers(b *testing.B) {
	data := usersFile(1000, 1)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := ParseUsers("u.xml", data, "university_id"); err != nil {
			b.Fatal(err)
		}
	}
}

func TestLogsCarryNoPatronData(t *testing.T) {
	e := newEnv(t)
	srv, tg := sftpTarget(t)
	tg.RemoteDir = "/in"
	e.save(usersProfile(tg))
	var logs bytes.Buffer
	e.sched.log = zerolog.New(&logs)
	good := usersFile(2, 1)
	os.WriteFile(srv.Path("/in/users_1.xml"), good, 0o644)
	bad := strings.Replace(string(usersFile(2, 5)), "U900000006", "U900000005", 1)
	os.WriteFile(srv.Path("/in/users_2.xml"), []byte(bad), 0o644)
	run, err := e.sched.RunNow(ctx, "SIS", RunOptions{})
	if err == nil || run.Records != 2 || len(run.Exceptions) == 0 {
		t.Fatalf("run %+v, %v", run, err)
	}
	for _, secret := range []string{"Student1", "Student5", "example.edu", "555 0100", "U900000005", "U900000001"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("log carries %q:\n%s", secret, logs.String())
		}
	}
	if !strings.Contains(logs.String(), `"refused":"users_2.xml"`) {
		t.Errorf("the refusal is not logged:\n%s", logs.String())
	}
}

func TestUsersPINFromTheFile(t *testing.T) {
	e := newEnv(t)
	e.save(usersProfile(delivery.Target{Kind: delivery.KindLocal, LocalDir: t.TempDir()}))
	write := func(pin string) string {
		path := filepath.Join(t.TempDir(), "users.xml")
		data := strings.Replace(string(usersFile(1, 1)), "<last_name>", "<pin_number>"+pin+"</pin_number><last_name>", 1)
		os.WriteFile(path, []byte(data), 0o644)
		return path
	}
	pinOK := func(pin string) bool {
		p, err := e.patronBy("university_id", "U900000001")
		if err != nil {
			t.Fatal(err)
		}
		ok, _ := circ.VerifySecret(p.PINHash, pin)
		return ok
	}
	if run, err := e.sched.RunNow(ctx, "SIS", RunOptions{Files: []string{write("4321")}}); err != nil || run.Records != 1 {
		t.Fatalf("first import: %+v, %v", run, err)
	}
	if !pinOK("4321") {
		t.Fatal("the file's PIN was not stored (hashed)")
	}
	// The same PIN again is no change; a new one replaces it.
	if run, _ := e.sched.RunNow(ctx, "SIS", RunOptions{Files: []string{write("4321")}}); run.Records != 0 {
		t.Fatalf("an unchanged PIN counted as a change: %+v", run)
	}
	if run, _ := e.sched.RunNow(ctx, "SIS", RunOptions{Files: []string{write("9999")}}); run.Records != 1 || !pinOK("9999") {
		t.Fatalf("a new PIN was not applied: %+v", run)
	}
}

// TestUsersMatchOnTheBarcodeIdentifier: with barcode matching, a file whose
// primary_id is the campus login and whose card barcode is a BARCODE user
// identifier updates the patron holding that barcode instead of adding the
// same person again under the login.
func TestUsersMatchOnTheBarcodeIdentifier(t *testing.T) {
	e := newEnv(t)
	srv, tg := sftpTarget(t)
	tg.RemoteDir = "/in"
	p := usersProfile(tg)
	p.Users.MatchIdentifier = store.IdentBarcode
	e.save(p)
	before, err := e.patronBy(store.IdentBarcode, fixtures.PatronExternal)
	if err != nil {
		t.Fatal(err)
	}
	file := `<users><user><primary_id>araman7</primary_id><last_name>Raman-Iyer</last_name>
	  <user_identifiers><user_identifier segment_type="External"><id_type desc="Barcode">BARCODE</id_type><value>` +
		fixtures.PatronExternal + `</value><status>ACTIVE</status></user_identifier></user_identifiers></user></users>`
	os.WriteFile(srv.Path("/in/users_1.xml"), []byte(file), 0o644)
	run, err := e.sched.RunNow(ctx, "SIS", RunOptions{})
	if err != nil || run.Records != 1 || len(run.Exceptions) != 0 {
		t.Fatalf("run %+v, %v", run, err)
	}
	if dup, err := e.patronBy(store.IdentBarcode, "araman7"); err == nil {
		t.Fatalf("the patron was added again under the login: %+v", dup)
	}
	after, err := e.patronBy(store.IdentBarcode, fixtures.PatronExternal)
	if err != nil || after.ID != before.ID || after.LastName != "Raman-Iyer" {
		t.Fatalf("the card barcode finds %+v, %v; want patron %d renamed", after, err, before.ID)
	}
	for _, id := range after.Identifiers {
		if strings.EqualFold(id.Type, store.IdentBarcode) {
			t.Errorf("the barcode became an identifier beside the patron's barcode: %+v", after.Identifiers)
		}
	}
}

// statusFile is a users file naming the SIS patron with a status.
func statusFile(status string) []byte {
	return []byte(`<?xml version="1.0" encoding="UTF-8"?>
<users><user><primary_id>` + fixtures.PatronExternal + `</primary_id><last_name>Raman</last_name>
  <user_group>UNDERGRAD</user_group><status desc="` + status + `">` + status + `</status>
  <user_identifiers><user_identifier segment_type="External"><id_type>university_id</id_type><value>U20230005</value></user_identifier></user_identifiers>
</user></users>`)
}

// TestUsersInactiveStatusStopsBorrowing: a user the file says is INACTIVE
// may not borrow, renew or request, and the SIP2 patron status says so; the
// next file saying ACTIVE lifts what the file placed and nothing staff
// placed meanwhile.
func TestUsersInactiveStatusStopsBorrowing(t *testing.T) {
	e := newEnv(t)
	srv, tg := sftpTarget(t)
	tg.RemoteDir = "/in"
	p := usersProfile(tg)
	p.Users.Export = true
	e.save(p)
	agent := circ.Agent{Protocol: "sip2", Library: fixtures.LibraryMain}
	// A loan to renew later, made while the patron is in good standing.
	if _, err := e.svc.Checkout(ctx, circ.CheckoutRequest{Agent: agent, Patron: fixtures.PatronExternal, Item: fixtures.ItemAvailable}); err != nil {
		t.Fatal(err)
	}
	sync := func(status string) {
		t.Helper()
		os.WriteFile(srv.Path("/in/users_"+status+".xml"), statusFile(status), 0o644)
		if run, err := e.sched.RunNow(ctx, "SIS", RunOptions{}); err != nil || len(run.Exceptions) != 0 {
			t.Fatalf("%s file: %+v, %v", status, run, err)
		}
	}
	refused := func() []string {
		t.Helper()
		var got []string
		_, err := e.svc.Checkout(ctx, circ.CheckoutRequest{Agent: agent, Patron: fixtures.PatronExternal, Item: fixtures.ItemDiacritics})
		if errors.Is(err, circ.ErrPatronBlocked) {
			got = append(got, "checkout")
		} else if err != nil {
			t.Fatal(err)
		} else if _, err := e.svc.Checkin(ctx, circ.CheckinRequest{Agent: agent, Item: fixtures.ItemDiacritics}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Renew(ctx, circ.RenewRequest{Agent: agent, Patron: fixtures.PatronExternal, Item: fixtures.ItemAvailable}); errors.Is(err, circ.ErrPatronBlocked) {
			got = append(got, "renew")
		}
		hold, err := e.svc.PlaceHold(ctx, circ.HoldRequest{Agent: agent, Patron: fixtures.PatronExternal, Item: fixtures.ItemOnLoan, Pickup: fixtures.LibraryMain})
		if errors.Is(err, circ.ErrPatronBlocked) {
			got = append(got, "request")
		} else if err != nil {
			t.Fatal(err)
		} else if _, err := e.svc.CancelHold(ctx, circ.CancelHoldRequest{Agent: agent, RequestID: hold.Request}); err != nil {
			t.Fatal(err)
		}
		sum, err := e.svc.PatronStatus(ctx, circ.PatronQuery{Patron: fixtures.PatronExternal, Brief: true})
		if err != nil {
			t.Fatal(err)
		}
		// The flags SIP2's patron status (24) and information (64) send.
		if sum.Flags[circ.FlagChargeDenied] && sum.Flags[circ.FlagRenewalDenied] && sum.Flags[circ.FlagHoldDenied] {
			got = append(got, "sip2 flags")
		}
		return got
	}
	all := []string{"checkout", "renew", "request", "sip2 flags"}

	if got := refused(); len(got) != 0 {
		t.Fatalf("in good standing, refused %v", got)
	}
	sync("INACTIVE")
	if got := refused(); !slices.Equal(got, all) {
		t.Fatalf("INACTIVE: refused %v, want %v", got, all)
	}
	// Staff block the patron too; the export says INACTIVE and carries
	// staff's block, and an ACTIVE file lifts only the file's block.
	if _, err := e.svc.Block(ctx, circ.BlockRequest{Agent: agent, Patron: fixtures.PatronExternal, Note: "Returned damaged"}); err != nil {
		t.Fatal(err)
	}
	run, err := e.sched.RunNow(ctx, "SIS", RunOptions{})
	if err != nil || len(run.Files) != 1 {
		t.Fatalf("export: %+v, %v", run, err)
	}
	data, _ := os.ReadFile(srv.Path("/in/" + run.Files[0]))
	if !strings.Contains(string(data), "<status>INACTIVE</status>") || strings.Count(string(data), "<user_block ") != 1 {
		t.Errorf("export of the INACTIVE user with a staff block:\n%s", data)
	}
	if conformance.Have(t, "xmllint") {
		conformance.ValidateAlmaUsers(t, data)
	}
	sync("ACTIVE")
	if got := refused(); !slices.Equal(got, all) {
		t.Fatalf("ACTIVE with a staff block: refused %v, want %v", got, all)
	}
	pt, _ := e.patronBy("university_id", "U20230005")
	if len(pt.Blocks) != 1 || pt.Blocks[0].External || pt.Blocks[0].Note != "Returned damaged" {
		t.Fatalf("blocks after ACTIVE: %+v, want staff's alone", pt.Blocks)
	}
	if _, err := e.svc.Unblock(ctx, circ.BlockRequest{Agent: agent, Patron: fixtures.PatronExternal}); err != nil {
		t.Fatal(err)
	}
	if got := refused(); len(got) != 0 {
		t.Fatalf("ACTIVE and unblocked, refused %v", got)
	}
}

// TestUsersGroupsMappedOrReported: a file group circa does not have is
// reported and changes nothing for that user; a profile's group map turns
// the SIS's codes into circa's groups, and reports a group it does not map.
func TestUsersGroupsMappedOrReported(t *testing.T) {
	e := newEnv(t)
	srv, tg := sftpTarget(t)
	tg.RemoteDir = "/in"
	p := usersProfile(tg)
	e.save(p)
	file := func(name string, groups ...string) {
		var b bytes.Buffer
		b.WriteString("<users>\n")
		for i, g := range groups {
			sisUser(&b, fmt.Sprint(900+i), "Mapped", g, "m@example.edu")
		}
		b.WriteString("</users>\n")
		os.WriteFile(srv.Path("/in/"+name), b.Bytes(), 0o644)
	}
	group := func(id string) string {
		t.Helper()
		pt, err := e.patronBy("university_id", id)
		if errors.Is(err, store.ErrNotFound) {
			return "(none)"
		}
		if err != nil {
			t.Fatal(err)
		}
		return pt.UserGroup
	}
	file("users_1.xml", "UGRD", "GRAD")
	run, err := e.sched.RunNow(ctx, "SIS", RunOptions{})
	if err != nil || run.Records != 1 || len(run.Exceptions) != 1 || !strings.Contains(run.Exceptions[0], `user group "UGRD" does not exist`) {
		t.Fatalf("unknown group: %+v, %v", run, err)
	}
	if group("U900") != "(none)" || group("U901") != "GRAD" {
		t.Fatalf("groups %s, %s", group("U900"), group("U901"))
	}

	p.Users.Groups = map[string]string{"UGRD": "UNDERGRAD", "GRD": "GRAD"}
	e.save(p)
	file("users_2.xml", "UGRD", "GRD", "VISITOR") // U900 added, U901 unchanged
	run, err = e.sched.RunNow(ctx, "SIS", RunOptions{})
	if err != nil || run.Records != 1 || len(run.Exceptions) != 1 ||
		!strings.Contains(run.Exceptions[0], `user U902 rejected: user group "VISITOR" is not in the profile's group map`) {
		t.Fatalf("mapped groups: %+v, %v", run, err)
	}
	if group("U900") != "UNDERGRAD" || group("U901") != "GRAD" || group("U902") != "(none)" {
		t.Fatalf("groups %s, %s, %s", group("U900"), group("U901"), group("U902"))
	}
	// Once a map is given, a group only circa knows is not taken as is.
	file("users_3.xml", "UGRD", "FACULTY")
	run, _ = e.sched.RunNow(ctx, "SIS", RunOptions{})
	if len(run.Exceptions) != 1 || group("U901") != "GRAD" {
		t.Fatalf("an unmapped circa group: %+v, U901 in %s", run, group("U901"))
	}
}

// TestUsersAlmaFileSSHD takes a users file in the shape campus feeds send
// Alma (testdata/users_alma.xml, itself valid against rest_users.xsd) from
// Debian's sshd: the known user keeps what staff gave, the INACTIVE user
// cannot borrow, the user of an unknown group is reported and not added,
// and the export delivered back to sshd is valid against rest_users.xsd.
func TestUsersAlmaFileSSHD(t *testing.T) {
	tg, dir := openSSH(t)
	e := newEnv(t)
	feed, err := os.ReadFile(filepath.Join("testdata", "users_alma.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if conformance.Have(t, "xmllint") {
		conformance.ValidateAlmaUsers(t, feed)
	}
	p := usersProfile(tg)
	p.ImportDir = filepath.Join(dir, "in")
	p.Users.MatchIdentifier, p.Users.Export = store.IdentBarcode, true
	p.Users.Groups = map[string]string{"UGRD": "UNDERGRAD", "GRAD": "GRAD"}
	e.save(p)
	staff := circ.Agent{Protocol: "cli", Library: fixtures.LibraryMain}
	if _, err := e.svc.EditPatron(ctx, circ.PatronForm{Barcode: fixtures.PatronExternal, UserGroup: ptr("GRAD"),
		Email: ptr("priya@desk.example.org"), Identifiers: []store.Identifier{{Type: "library_card", Value: "LC5"}}}, staff); err != nil {
		t.Fatal(err)
	}

	os.WriteFile(filepath.Join(dir, "in", "users_20261205.xml"), feed, 0o644)
	run, err := e.sched.RunNow(ctx, "SIS", RunOptions{})
	// Records count the export of the patron staff edited too.
	if err != nil || run.Records != 3 || len(run.Exceptions) != 1 ||
		!strings.Contains(run.Exceptions[0], `user 22000000000888 rejected: user group "VISITOR" is not in the profile's group map`) {
		t.Fatalf("import over sshd: %+v, %v", run, err)
	}
	known, err := e.patronBy(store.IdentBarcode, fixtures.PatronExternal)
	if err != nil {
		t.Fatal(err)
	}
	wantIDs := []store.Identifier{{Type: "library_card", Value: "LC5"}, {Type: "NET_ID", Value: "praman"}, {Type: circ.IdentPrimaryID, Value: "940000005"}}
	switch {
	case known.LastName != "Raman-Iyer":
		t.Errorf("last name %q: the file's core fields replace", known.LastName)
	case known.UserGroup != "GRAD":
		t.Errorf("group %q: staff's group stands", known.UserGroup)
	case !slices.Equal(known.Identifiers, wantIDs):
		t.Errorf("identifiers %+v, want %+v", known.Identifiers, wantIDs)
	case known.Expiry.In(time.UTC).Format(time.DateOnly) != "2027-11-01":
		t.Errorf("expiry %s: the end of 31 October in New York is 1 November UTC", known.Expiry)
	}
	var contacts []string
	for _, c := range known.Contacts {
		contacts = append(contacts, fmt.Sprintf("%s %s%s%s ext=%v", c.Kind, c.Value, c.Line1, ","+c.Line2, c.External))
	}
	want := []string{"email priya@desk.example.org, ext=false", "address Room 214,Blair Hall, Box 5 ext=true", "email praman@campus.example.edu, ext=true"}
	if !slices.Equal(contacts, want) {
		t.Errorf("contacts\n%q\nwant\n%q", contacts, want)
	}
	if _, err := e.patronBy(store.IdentBarcode, "22000000000888"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the user of an unmapped group was added: %v", err)
	}
	_, err = e.svc.Checkout(ctx, circ.CheckoutRequest{Agent: staff, Patron: "22000000000777", Item: fixtures.ItemAvailable})
	if !errors.Is(err, circ.ErrPatronBlocked) {
		t.Fatalf("the INACTIVE user's checkout: %v", err)
	}

	// Staff note the INACTIVE user at the desk: the export sends them back.
	if _, err := e.svc.Block(ctx, circ.BlockRequest{Agent: staff, Patron: "22000000000777", Note: "Card at the desk"}); err != nil {
		t.Fatal(err)
	}
	before := dataFiles(t, tg.RemoteDir)
	if run, err = e.sched.RunNow(ctx, "SIS", RunOptions{}); err != nil || run.Records == 0 {
		t.Fatalf("export over sshd: %+v, %v", run, err)
	}
	var exports [][]byte
	for _, name := range dataFiles(t, tg.RemoteDir) {
		data, err := os.ReadFile(filepath.Join(tg.RemoteDir, name))
		if err != nil {
			t.Fatal(err)
		}
		exports = append(exports, data)
		if slices.Contains(before, name) {
			continue
		}
		users, err := ParseUsers(name, data, store.IdentBarcode)
		if err != nil || len(users) != 1 || users[0].MatchValue != "22000000000777" || users[0].Status != "INACTIVE" ||
			len(users[0].Blocks) != 1 || users[0].Blocks[0].Note != "Card at the desk" {
			t.Errorf("export %s reads back as %+v, %v", name, users, err)
		}
	}
	if conformance.Have(t, "xmllint") {
		conformance.ValidateAlmaUsers(t, exports...)
	}
}

func ptr(s string) *string { return &s }

// TestRenderUsersValidForEveryPatron: the one writer of users files gives
// a file valid against rest_users.xsd for every patron of the demo library
// (each kind of contact, internal and external, blocks placed by hand and
// by a file's status), and for the fields a patron may leave empty or fill
// with characters XML must escape.
func TestRenderUsersValidForEveryPatron(t *testing.T) {
	e := newEnv(t)
	var pats []store.Patron
	if err := e.db.View(ctx, func(tx store.Tx) error {
		return tx.ForEachPatron(func(p store.Patron) bool {
			pats = append(pats, p)
			return true
		})
	}); err != nil {
		t.Fatal(err)
	}
	created := seededAt.Add(-time.Hour)
	pats = append(pats, store.Patron{Barcode: "X<&>1", LastName: `O'Brien & "Sons" <Ltd>`, UserGroup: "STAFF",
		Expiry: seededAt, Blocks: []store.Block{{Type: circ.BlockInactive, Note: "status INACTIVE", External: true},
			{Type: "SIS", External: true, Created: created}, {Type: "manual", Note: "a\x01b", Created: created}},
		Contacts: []store.Contact{{Kind: "address"}, {Kind: "email", Value: "x@example.edu", External: true},
			{Kind: "phone", Value: "+1 555"}, {Kind: "sms", Value: "+1 555"}},
		Identifiers: []store.Identifier{{Type: "NET_ID", Value: "x&y"}}},
		store.Patron{Barcode: "EMPTY"})
	docs := [][]byte{renderUsers(pats)}
	for i := range min(len(pats), 50) {
		docs = append(docs, renderUsers(pats[i:i+1]))
	}
	conformance.ValidateAlmaUsers(t, docs...)
	if n := strings.Count(string(docs[0]), "<status>INACTIVE</status>"); n != 1 {
		t.Errorf("%d users INACTIVE, want the one whose file said so", n)
	}
}

// TestUsersExportWritesSMSNumber: a patron's number for texts goes out as
// Alma keeps it, a phone marked preferred_sms: the phone it is when the
// patron has that number as a phone (however punctuated), else a mobile of
// its own. The file is valid against rest_users.xsd and reads back with the
// same number for texts.
func TestUsersExportWritesSMSNumber(t *testing.T) {
	pats := []store.Patron{
		{Barcode: "S1", LastName: "Only", UserGroup: "UNDERGRAD",
			Contacts: []store.Contact{{Kind: "sms", Value: "+1 607 555 0101"}}},
		{Barcode: "S2", LastName: "Apart", UserGroup: "UNDERGRAD",
			Contacts: []store.Contact{{Kind: "phone", Type: "home", Value: "+1 607 555 0100", Preferred: true},
				{Kind: "sms", Value: "+1 607 555 0102"}}},
		{Barcode: "S3", LastName: "Same", UserGroup: "UNDERGRAD",
			Contacts: []store.Contact{{Kind: "phone", Type: "mobile", Value: "+1 (607) 555-0103"},
				{Kind: "sms", Value: "+1 607 555 0103"}}},
		{Barcode: "S4", LastName: "None", UserGroup: "UNDERGRAD",
			Contacts: []store.Contact{{Kind: "phone", Type: "mobile", Value: "+1 607 555 0104"}}},
	}
	data := renderUsers(pats)
	conformance.ValidateAlmaUsers(t, data)
	var doc struct {
		Users []struct {
			ID     string `xml:"primary_id"`
			Phones []struct {
				Number       string   `xml:"phone_number"`
				Preferred    string   `xml:"preferred,attr"`
				PreferredSMS string   `xml:"preferred_sms,attr"`
				Types        []string `xml:"phone_types>phone_type"`
			} `xml:"contact_info>phones>phone"`
		} `xml:"user"`
	}
	if err := xml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{ // number/preferred/preferred_sms/types
		"S1": {"+1 607 555 0101/true/true/[mobile]"},
		"S2": {"+1 607 555 0100/true/false/[home]", "+1 607 555 0102/false/true/[mobile]"},
		"S3": {"+1 (607) 555-0103/false/true/[mobile]"},
		"S4": {"+1 607 555 0104/false/false/[mobile]"},
	}
	for _, u := range doc.Users {
		var got []string
		for _, ph := range u.Phones {
			got = append(got, fmt.Sprintf("%s/%s/%s/%v", ph.Number, ph.Preferred, ph.PreferredSMS, ph.Types))
		}
		if !slices.Equal(got, want[u.ID]) {
			t.Errorf("%s phones %q, want %q", u.ID, got, want[u.ID])
		}
	}
	users, err := ParseUsers("export.xml", data, store.IdentBarcode)
	if err != nil || len(users) != len(pats) {
		t.Fatalf("read back: %d users, %v", len(users), err)
	}
	for i, u := range users {
		got := ""
		for _, c := range u.Contacts {
			if c.Kind == "sms" {
				got = c.Value
			}
		}
		if want := map[string]string{"S1": "+1 607 555 0101", "S2": "+1 607 555 0102", "S3": "+1 (607) 555-0103"}[pats[i].Barcode]; got != want {
			t.Errorf("%s reads back with sms %q, want %q", pats[i].Barcode, got, want)
		}
	}
}
