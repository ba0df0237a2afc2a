package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/fixtures"
)

func TestPatronCommands(t *testing.T) {
	dir := seededDir(t)
	d := []string{"--data-dir", dir}
	cmd := func(args ...string) result { return run(t, append(args, d...)...) }

	r := cmd("patron", "add", "29000000000001", "--group", "UNDERGRAD", "--library", "MAIN", "--last", "Lovelace", "--first", "Ada",
		"--expiry", "2027-06-30", "--language", "eng", "--email", "ada@example.org", "--phone", "+44 20 7946 0000",
		"--address", "12 Analytical Row, London, N1 9GU", "--id", "univ_id=U-1815", "--birthdate", "1815-12-10")
	if r.code != 0 || r.out != "added patron 29000000000001\n" {
		t.Fatalf("add: %+v", r)
	}
	wantFail(t, cmd("patron", "add", "29000000000002", "--group", "UNDERGARD", "--library", "MAINN", "--last", "X", "--email", "x@y"),
		"no group UNDERGARD", `did you mean "UNDERGRAD"`, "no library MAINN", `did you mean "MAIN"`, `e-mail "x@y"`)
	wantFail(t, cmd("patron", "add", "U-1815", "--group", "UNDERGRAD", "--library", "MAIN", "--last", "X"),
		`"U-1815" is already the barcode or an identifier of another patron`)
	wantFail(t, cmd("patron", "add", fixtures.PatronGood, "--group", "UNDERGRAD", "--library", "MAIN", "--last", "X"), "exists")
	if r := cmd("patron", "add", "29000000000003", "--group", "UNDERGRAD"); r.code != 2 {
		t.Errorf("add without required flags: %+v", r)
	}
	if r := cmd("patron", "add", "29000000000003", "--group", "G", "--library", "MAIN", "--last", "X", "--id", "nope"); r.code != 2 {
		t.Errorf("--id without =: %+v", r)
	}
	if r := cmd("patron", "edit", "29000000000001"); r.code != 2 || !strings.Contains(r.errOut, "no setting given") {
		t.Errorf("edit without flags: %+v", r)
	}
	if r = cmd("patron", "edit", "29000000000001", "--last", "King", "--expiry", "2028-01-31", "--job-title", "Analyst",
		"--campus", "NORTH", "--rs-library", "BRANCH"); r.code != 0 {
		t.Fatalf("edit: %+v", r)
	}
	r = cmd("patron", "show", "29000000000001", "--json")
	var shown struct {
		Patron struct {
			LastName  string `json:"last_name"`
			FirstName string `json:"first_name"`
			Expiry    string `json:"expiry"`
			Language  string `json:"language"`
			PINHash   string `json:"pin_hash"`
			JobTitle  string `json:"job_title"`
			Campus    string `json:"campus"`
			ShareLib  string `json:"resource_sharing_library"`
		}
	}
	if err := json.Unmarshal([]byte(r.out), &shown); err != nil {
		t.Fatalf("show --json: %v\n%s", err, r.out)
	}
	// The demo library's MAIN is in New York: the end of 31 January there.
	if p := shown.Patron; p.LastName != "King" || p.FirstName != "Ada" || p.Expiry != "2028-02-01T04:59:59Z" || p.Language != "eng" ||
		p.JobTitle != "Analyst" || p.Campus != "NORTH" || p.ShareLib != "BRANCH" {
		t.Errorf("after edit: %+v", p)
	}

	// Search by barcode, identifier, name and e-mail, as a table and JSON.
	for _, q := range []string{"29000000000001", "u-1815", "king", "Ada K", "king, a", "ADA@EXAMPLE"} {
		r = cmd("patron", "search", q)
		if r.code != 0 || !strings.Contains(r.out, "29000000000001  King, Ada  UNDERGRAD  MAIN     2028-01-31  ada@example.org") {
			t.Errorf("search %q:\n%s%s", q, r.out, r.errOut)
		}
	}
	r = cmd("patron", "search", "--json", "king")
	var hits circ.PatronHits
	if err := json.Unmarshal([]byte(r.out), &hits); err != nil || len(hits.Patrons) != 1 || hits.Patrons[0].PINHash != "" {
		t.Errorf("search --json: %v\n%s", err, r.out)
	}
	if r = cmd("patron", "search", "zzyzx"); r.code != 0 || r.out != "no patrons found\n" {
		t.Errorf("search for nobody: %+v", r)
	}
	r = cmd("patron", "search", "a", "--limit", "2")
	if r.code != 0 || !strings.Contains(r.out, "more… (the first 2 shown") {
		t.Errorf("limited search: %+v", r)
	}

	// A PIN from standard input, then checked as a kiosk would.
	if r = runIn(t, "9876\n", append([]string{"patron", "pin", "set", "29000000000001"}, d...)...); r.code != 0 || r.out != "PIN of 29000000000001 set\n" {
		t.Fatalf("pin set: %+v", r)
	}
	if r = runIn(t, "9876\n", append([]string{"patron", "verify-pin", "29000000000001"}, d...)...); r.code != 0 {
		t.Errorf("verify-pin after pin set: %+v", r)
	}
	pinFile := filepath.Join(t.TempDir(), "pin")
	os.WriteFile(pinFile, []byte("5555\n"), 0o600)
	if r = runIn(t, "", append([]string{"patron", "pin", "set", "29000000000001", "--pin-file", pinFile}, d...)...); r.code != 0 {
		t.Fatalf("pin set from a file: %+v", r)
	}
	if r = runIn(t, "9876\n", append([]string{"patron", "verify-pin", "29000000000001"}, d...)...); r.code == 0 {
		t.Errorf("old PIN still right: %+v", r)
	}
	if r = runIn(t, "", append([]string{"patron", "pin", "set", "29000000000001"}, d...)...); r.code != 2 {
		t.Errorf("pin set with nothing on standard input: %+v", r)
	}
	if r = runIn(t, "12\n", append([]string{"patron", "pin", "set", "29000000000001"}, d...)...); r.code != 1 || !strings.Contains(r.errOut, "4 to 64") {
		t.Errorf("short PIN: %+v", r)
	}

	// Removal is refused while the demo's good patron has a loan.
	wantFail(t, cmd("patron", "remove", fixtures.PatronGood), "patron "+fixtures.PatronGood+" still has 1 open loan")
	wantFail(t, cmd("patron", "remove", fixtures.PatronFees), "2 outstanding fees (owing 12.50 USD)")
	if r = cmd("patron", "remove", "29000000000001"); r.code != 0 || r.out != "removed patron 29000000000001\n" {
		t.Fatalf("remove: %+v", r)
	}
	wantFail(t, cmd("patron", "show", "29000000000001"), "no patron 29000000000001")
	if r = cmd("db", "check"); r.code != 0 {
		t.Errorf("db check: %+v", r)
	}
}

// A PIN typed into the client reaches a running server through the admin
// socket.
func TestPatronPINSetThroughServer(t *testing.T) {
	dir := seededDir(t)
	startServer(t, dir)
	d := []string{"--data-dir", dir}
	if r := runIn(t, "2468\n", append([]string{"patron", "pin", "set", fixtures.PatronGood}, d...)...); r.code != 0 {
		t.Fatalf("pin set through the server: %+v", r)
	}
	if r := runIn(t, "2468\n", append([]string{"patron", "verify-pin", fixtures.PatronGood}, d...)...); r.code != 0 {
		t.Errorf("verify-pin: %+v", r)
	}
	if r := run(t, append([]string{"patron", "search", "whitfield"}, d...)...); r.code != 0 || !strings.Contains(r.out, fixtures.PatronGood) {
		t.Errorf("search through the server: %+v", r)
	}
}

// A bib is named by its 001 as well as its id; a number that is one
// record's id and another's 001 must be written id:N.
func TestBibNamesAndSearch(t *testing.T) {
	dir := seededDir(t)
	d := []string{"--data-dir", dir}
	cmd := func(args ...string) result { return run(t, append(args, d...)...) }

	// A record whose 001 is "7", the id of a demo record.
	rec := strings.Replace(cliRecord, "cli000000001", "7", 1)
	rec = strings.Replace(rec, "Cataloguing from the command line", "Numbered control numbers considered harmful", 1)
	file := filepath.Join(t.TempDir(), "rec.xml")
	os.WriteFile(file, []byte(rec), 0o600)
	r := cmd("bib", "add", file)
	m := regexp.MustCompile(`^added bib (\d+) 7: `).FindStringSubmatch(r.out)
	if r.code != 0 || m == nil {
		t.Fatalf("bib add: %+v", r)
	}
	id := m[1]

	r = cmd("bib", "show", "7")
	if r.code != 2 || !strings.Contains(r.errOut, "7 is the id of bib 7 and the 001 of bib "+id+": write id:7 or id:"+id) {
		t.Errorf("ambiguous show: %+v", r)
	}
	r = cmd("bib", "show", "id:"+id, "--json")
	var shown bibRecord
	if err := json.Unmarshal([]byte(r.out), &shown); err != nil || fmt.Sprint(shown.Bib.ID) != id || shown.Bib.ControlNumber != "7" {
		t.Errorf("show id:%s: %v %+v", id, err, r)
	}
	r = cmd("bib", "show", "cir000000001")
	if r.code != 0 || !strings.Contains(r.out, "001:") || !strings.Contains(r.out, "cir000000001") || !strings.Contains(r.out, "items:") {
		t.Errorf("show by 001:\n%s%s", r.out, r.errOut)
	}
	wantFail(t, cmd("bib", "show", "cir999999999"), "no bib with 001 cir999999999")
	// Commands that change a record take the same names.
	if r = cmd("item", "add", "39990000000077", "--bib", "7", "--location", "MAIN-STACKS"); r.code != 2 {
		t.Errorf("item add --bib ambiguous: %+v", r)
	}
	if r = cmd("item", "add", "39990000000077", "--bib", "id:"+id, "--location", "MAIN-STACKS"); r.code != 0 || !strings.Contains(r.out, "to bib "+id+" ") {
		t.Errorf("item add --bib id:N: %+v", r)
	}
	if r = cmd("bib", "suppress", "cir000000002"); r.code != 0 || !strings.HasPrefix(r.out, "suppressed bib 2:") {
		t.Errorf("suppress by 001: %+v", r)
	}

	r = cmd("bib", "search", "harmful numbered")
	if r.code != 0 || !regexp.MustCompile(`(?m)^`+id+` +7 +Numbered control numbers considered harmful +- +-$`).MatchString(r.out) {
		t.Errorf("bib search:\n%s%s", r.out, r.errOut)
	}
	r = cmd("bib", "search", "--json", "cir000000001")
	var bibs circ.BibHits
	if err := json.Unmarshal([]byte(r.out), &bibs); err != nil || len(bibs.Bibs) != 1 || bibs.Bibs[0].ControlNumber != "cir000000001" {
		t.Errorf("bib search --json: %v\n%s", err, r.out)
	}

	r = cmd("item", "search", "39990000000077")
	if r.code != 0 || !strings.Contains(r.out, "39990000000077  "+id) {
		t.Errorf("item search by barcode:\n%s%s", r.out, r.errOut)
	}
	r = cmd("item", "search", "--json", "id:"+id)
	var items circ.ItemHits
	if err := json.Unmarshal([]byte(r.out), &items); err != nil || len(items.Items) != 1 || items.Items[0].Barcode != "39990000000077" {
		t.Errorf("item search by record: %v\n%s", err, r.out)
	}
	if r = cmd("item", "search", "Z699"); r.code != 0 || !strings.Contains(r.out, "39990000000077") {
		t.Errorf("item search by call number:\n%s", r.out)
	}
}

// On a terminal, pin set prompts for the PIN and does not echo it.
// script(1) gives the child a real pseudo-terminal.
func TestPINSetPromptsOnTerminal(t *testing.T) {
	scriptBin, err := exec.LookPath("script")
	if err != nil {
		t.Skip("script (util-linux) not installed")
	}
	bin, dir := circaBinary(t), seededDir(t)
	const pin = "8642"
	cmd := exec.Command(scriptBin, "-qec", bin+" patron pin set "+fixtures.PatronGood+" --data-dir "+dir, "/dev/null")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), "the new PIN: ") {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no prompt: %q", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The prompt is written just before echo goes off: give that a moment
	// on a busy machine.
	time.Sleep(200 * time.Millisecond)
	io.WriteString(stdin, pin+"\r")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%v: %q", err, out.String())
	}
	if strings.Contains(out.String(), pin) || !strings.Contains(out.String(), "PIN of "+fixtures.PatronGood+" set") {
		t.Fatalf("output: %q", out.String())
	}
	if r := runIn(t, pin+"\n", "patron", "verify-pin", fixtures.PatronGood, "--data-dir", dir); r.code != 0 {
		t.Errorf("verify-pin with the PIN typed: %+v", r)
	}
}

// Patron commands through a running server: the server's log names each
// command, never the PIN nor the patron's name and contacts, even at debug
// level and when the command fails.
func TestPatronAdminThroughServerLogsNoPersonalData(t *testing.T) {
	dir := seededDir(t)
	ctx, cancel := context.WithCancel(context.Background())
	out, logs := &syncBuffer{}, &syncBuffer{}
	done := make(chan int)
	go func() {
		done <- execute(ctx, []string{"serve", "--data-dir", dir, "--http-addr", "127.0.0.1:0", "--sip2-addr", "127.0.0.1:0",
			"--sip2-tls-addr", "", "--log-level", "debug"}, nil, out, logs)
	}()
	waitServing(t, out, done)
	d := []string{"--data-dir", dir}
	const (
		barcode = "29000000000077"
		pin     = "P1n-Q8x7"
		email   = "hypatia@alexandria.example"
	)
	secrets := []string{pin, "Hypatia", "Theonsdottir", email, "+20 3 555 0199", "+20 3 555 0188", "Serapeum Lane", "Alexandria", "21500", "N-0415"}
	var clientOut string
	for _, c := range []struct {
		stdin string
		args  []string
		code  int
	}{
		{"", []string{"patron", "add", barcode, "--group", "UNDERGRAD", "--library", "MAIN", "--last", "Theonsdottir", "--first", "Hypatia",
			"--email", email, "--phone", "+20 3 555 0199", "--sms", "+20 3 555 0188", "--address", "Serapeum Lane, Alexandria, 21500", "--id", "national=N-0415"}, 0},
		{"", []string{"patron", "edit", barcode, "--email", "hypatia@alexandria"}, 1},
		{"", []string{"patron", "search", "Theonsdottir, Hyp"}, 0},
		{"", []string{"patron", "search", email}, 0},
		{pin + "\n", []string{"patron", "pin", "set", barcode}, 0},
		{pin + "\n", []string{"patron", "verify-pin", barcode}, 0},
	} {
		r := runIn(t, c.stdin, append(c.args, d...)...)
		if r.code != c.code {
			t.Fatalf("%v: %+v", c.args, r)
		}
		clientOut += r.out + r.errOut
	}
	cancel()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop")
	}
	if !strings.Contains(clientOut, email) {
		t.Fatalf("the search through the server did not find the patron:\n%s", clientOut)
	}
	for _, cmd := range []string{"circa patron add", "circa patron edit", "circa patron search", "circa patron pin set"} {
		if !strings.Contains(logs.String(), cmd) {
			t.Errorf("%q did not go through the server:\n%s", cmd, logs.String())
		}
	}
	for _, s := range secrets {
		if strings.Contains(logs.String()+out.String(), s) {
			t.Errorf("%q reached the server's log:\n%s", s, logs.String()+out.String())
		}
	}
	if strings.Contains(clientOut, pin) {
		t.Errorf("the PIN reached the client's output:\n%s", clientOut)
	}
}

// A search that finds nothing prints an empty list in JSON, not null.
func TestSearchJSONFindingNothing(t *testing.T) {
	dir := seededDir(t)
	for _, c := range [][]string{{"patron", "search"}, {"bib", "search"}, {"item", "search"}} {
		r := run(t, append(c, "--json", "zzyzx", "--data-dir", dir)...)
		var hits map[string]any
		if err := json.Unmarshal([]byte(r.out), &hits); r.code != 0 || err != nil {
			t.Fatalf("%v: %v %+v", c, err, r)
		}
		list := c[0] + "s"
		if got, ok := hits[list].([]any); !ok || len(got) != 0 || hits["more"] != false {
			t.Errorf("%v: %s", c, r.out)
		}
	}
}

// TestPatronSMSNumber: staff set, change and clear a patron's number for
// texts with --sms; a number a gateway cannot read is refused and changes
// nothing; Koha's smsalertnumber column sets it in a CSV import.
func TestPatronSMSNumber(t *testing.T) {
	dir := seededDir(t)
	d := []string{"--data-dir", dir}
	cmd := func(args ...string) result { return run(t, append(args, d...)...) }
	smsLine := regexp.MustCompile(`(?m)^sms\s+(.*)$`)
	smsOf := func(barcode string) string {
		t.Helper()
		r := cmd("patron", "show", barcode)
		if r.code != 0 {
			t.Fatalf("patron show %s: %+v", barcode, r)
		}
		if m := smsLine.FindStringSubmatch(r.out); m != nil {
			return strings.TrimSpace(m[1])
		}
		return ""
	}
	if r := cmd("patron", "add", "29000000000009", "--group", "UNDERGRAD", "--library", "MAIN", "--last", "Hopper",
		"--phone", "+1 607 555 0100", "--sms", "+1 607 555 0199"); r.code != 0 {
		t.Fatalf("add: %+v", r)
	}
	if got := smsOf("29000000000009"); got != "+1 607 555 0199" {
		t.Fatalf("sms after add: %q", got)
	}
	wantFail(t, cmd("patron", "edit", "29000000000009", "--sms", "call me"), `SMS number "call me"`)
	if got := smsOf("29000000000009"); got != "+1 607 555 0199" {
		t.Fatalf("a refused number changed the sms: %q", got)
	}
	if r := cmd("patron", "edit", "29000000000009", "--sms", "(607) 555-0123"); r.code != 0 {
		t.Fatalf("edit: %+v", r)
	}
	if got := smsOf("29000000000009"); got != "(607) 555-0123" {
		t.Fatalf("sms after edit: %q", got)
	}
	if r := cmd("patron", "edit", "29000000000009", "--sms", ""); r.code != 0 {
		t.Fatalf("clear: %+v", r)
	}
	if got := smsOf("29000000000009"); got != "" {
		t.Fatalf("sms after clearing: %q", got)
	}
	if r := cmd("patron", "show", "29000000000009"); !strings.Contains(r.out, "+1 607 555 0100") {
		t.Fatalf("clearing the sms number took the phone: %+v", r)
	}

	in := writeFiles(t, map[string]string{"mapping.yaml": kohaMapping, "patrons.csv": "cardnumber,surname,categorycode,branchcode,phone,smsalertnumber\n" +
		"23000011,Lamarr,PT,CPL,555-0101,+1 212 555 0111\n" +
		"23000012,Noether,PT,CPL,555-0102,\n" +
		"23000013,Bad,PT,CPL,,text me\n"})
	r := cmd("import", "patrons", filepath.Join(in, "patrons.csv"), "--mapping", filepath.Join(in, "mapping.yaml"))
	wantOutput(t, r, "patrons created          2", `line 4 (23000013): sms "text me"`)
	if got := smsOf("23000011"); got != "+1 212 555 0111" {
		t.Errorf("smsalertnumber imported as %q", got)
	}
	if got := smsOf("23000012"); got != "" {
		t.Errorf("an empty smsalertnumber gave %q", got)
	}
}
