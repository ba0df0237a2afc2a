package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/circa-ils/circa/fixtures"
	"github.com/circa-ils/circa/store/boltstore"
)

// syncBuffer is a buffer a server goroutine writes while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type result struct {
	code        int
	out, errOut string
}

func run(t *testing.T, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	code := execute(context.Background(), args, strings.NewReader(""), &out, &errOut)
	return result{code, out.String(), errOut.String()}
}

var (
	templateOnce sync.Once
	templateDir  string
	templateErr  error
)

// seededDir returns a fresh data directory holding the demo library, copied
// from one seeded once per test binary.
func seededDir(t *testing.T) string {
	t.Helper()
	templateOnce.Do(func() {
		templateDir, templateErr = os.MkdirTemp("", "circa-cli-template")
		if templateErr != nil {
			return
		}
		r := execute(context.Background(), []string{"db", "seed", "--data-dir", templateDir}, nil, &bytes.Buffer{}, &bytes.Buffer{})
		if r != 0 {
			templateErr = os.ErrInvalid
		}
	})
	if templateErr != nil {
		t.Fatalf("seed template: %v", templateErr)
	}
	dir := t.TempDir()
	data, err := os.ReadFile(filepath.Join(templateDir, boltstore.DefaultFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, boltstore.DefaultFile), data, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestMain(m *testing.M) {
	systemConfig = ""
	code := m.Run()
	if templateDir != "" {
		os.RemoveAll(templateDir)
	}
	os.Exit(code)
}

func TestVersionAndUsageErrors(t *testing.T) {
	if r := run(t, "version"); r.code != 0 || !strings.HasPrefix(r.out, "circa ") {
		t.Fatalf("version: %+v", r)
	}
	for _, args := range [][]string{
		{"nosuch"},
		{"checkout", "only-one-arg"},
		{"item", "show"},
		{"--log-format", "xml", "version"},
		{"loan", "list", "--data-dir", t.TempDir()},
		{"fee", "pay", "P", "12.345", "--data-dir", t.TempDir()},
	} {
		r := run(t, args...)
		if r.code != 2 {
			t.Errorf("%v: exit %d, want 2 (%q)", args, r.code, r.errOut)
		}
		if lines := strings.Count(strings.TrimSpace(r.errOut), "\n"); lines != 0 || !strings.HasPrefix(r.errOut, "circa: ") {
			t.Errorf("%v: error is not one line: %q", args, r.errOut)
		}
	}
}

func TestStaffCirculationThroughTheRules(t *testing.T) {
	dir := seededDir(t)
	d := []string{"--data-dir", dir}
	r := run(t, append([]string{"checkout", fixtures.PatronGood, fixtures.ItemAvailable}, d...)...)
	if r.code != 0 || !strings.Contains(r.out, "checked out "+fixtures.ItemAvailable) || !strings.Contains(r.out, "due ") {
		t.Fatalf("checkout: %+v", r)
	}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"blocked patron", []string{"checkout", fixtures.PatronBlocked, fixtures.ItemBranch}, "patron blocked (note: Library card reported stolen; see the circulation desk)"},
		{"expired card", []string{"checkout", fixtures.PatronExpired, fixtures.ItemBranch}, "patron card expired (expiry date 20"},
		{"fees above threshold", []string{"checkout", fixtures.PatronFees, fixtures.ItemBranch}, "patron blocked (owes 12.50 USD, limit 10.00 USD)"},
		{"reference item", []string{"checkout", fixtures.PatronGood, fixtures.ItemNonCirculating}, "does not circulate"},
		{"held for another", []string{"checkout", fixtures.PatronGood, fixtures.ItemHeld}, "on hold for another"},
		{"unknown item", []string{"checkout", fixtures.PatronGood, "39999999999999"}, "item unknown"},
		{"unknown patron", []string{"checkout", "29999999999999", fixtures.ItemBranch}, "patron unknown"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := run(t, append(c.args, d...)...)
			if r.code != 1 || !strings.Contains(r.errOut, c.want) {
				t.Fatalf("exit %d, stderr %q, want %q", r.code, r.errOut, c.want)
			}
		})
	}
	r = run(t, append([]string{"checkin", fixtures.ItemOnLoan}, d...)...)
	if r.code != 0 || !strings.Contains(r.out, "checked in "+fixtures.ItemOnLoan) {
		t.Fatalf("checkin: %+v", r)
	}
	r = run(t, append([]string{"checkin", fixtures.ItemOnLoan}, d...)...)
	if r.code != 0 || !strings.Contains(r.out, "was not on loan") {
		t.Fatalf("second checkin: %+v", r)
	}
	r = run(t, append([]string{"renew", fixtures.PatronGood, fixtures.ItemAvailable}, d...)...)
	if r.code != 0 || !strings.Contains(r.out, "renewal 1") {
		t.Fatalf("renew: %+v", r)
	}
	r = run(t, append([]string{"patron", "show", fixtures.PatronGood}, d...)...)
	if r.code != 0 || !strings.Contains(r.out, fixtures.ItemAvailable) || strings.Contains(r.out, "argon2") {
		t.Fatalf("patron show: %+v", r)
	}
	r = run(t, append([]string{"patron", "block", fixtures.PatronGood, "--note", "desk"}, d...)...)
	if r.code != 0 {
		t.Fatalf("block: %+v", r)
	}
	r = run(t, append([]string{"renew", fixtures.PatronGood, fixtures.ItemAvailable}, d...)...)
	if r.code != 1 || !strings.Contains(r.errOut, "blocked") {
		t.Fatalf("renew while blocked: %+v", r)
	}
	if r = run(t, append([]string{"patron", "unblock", fixtures.PatronGood}, d...)...); r.code != 0 {
		t.Fatalf("unblock: %+v", r)
	}
	r = run(t, append([]string{"item", "show", fixtures.ItemAvailable, "--json"}, d...)...)
	if r.code != 0 || !strings.Contains(r.out, `"CircStatus": "04"`) {
		t.Fatalf("item show: %+v", r)
	}
	r = run(t, append([]string{"loan", "list", "--patron", fixtures.PatronGood, "--history"}, d...)...)
	if r.code != 0 || !strings.Contains(r.out, fixtures.ItemOnLoan) {
		t.Fatalf("loan history: %+v", r)
	}
	if r = run(t, append([]string{"db", "check"}, d...)...); r.code != 0 || !strings.Contains(r.out, "OK") {
		t.Fatalf("check after the session: %+v", r)
	}
}

func TestFeesFromTheCommandLine(t *testing.T) {
	dir := seededDir(t)
	d := []string{"--data-dir", dir}
	r := run(t, append([]string{"fee", "list", fixtures.PatronFees}, d...)...)
	if r.code != 0 || strings.Count(r.out, " open ") != 2 {
		t.Fatalf("fee list: %+v", r)
	}
	r = run(t, append([]string{"fee", "pay", fixtures.PatronFees, "1000000"}, d...)...)
	if r.code != 1 || !strings.Contains(r.errOut, "exceeds") {
		t.Fatalf("overpayment: %+v", r)
	}
	r = run(t, append([]string{"fee", "pay", fixtures.PatronFees, "1.00", "--transaction", "T-1"}, d...)...)
	if r.code != 0 {
		t.Fatalf("pay: %+v", r)
	}
	again := run(t, append([]string{"fee", "pay", fixtures.PatronFees, "1.00", "--transaction", "T-1"}, d...)...)
	if again.code != 0 || again.out != "payment T-1 already recorded, nothing charged\n"+r.out || strings.Contains(r.out, "already") {
		t.Fatalf("repeated transaction: %q vs %q", again.out, r.out)
	}
}

func TestLockedFileGivesOneLineError(t *testing.T) {
	dir := t.TempDir()
	db, err := boltstore.Open(filepath.Join(dir, boltstore.DefaultFile), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	start := time.Now()
	r := run(t, "db", "stats", "--data-dir", dir)
	if r.code == 0 || !strings.Contains(r.errOut, "in use by another process") {
		t.Fatalf("locked: %+v", r)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatal("locked file took too long to report")
	}
}

// With a server running, commands reach it through the admin socket instead
// of the locked file, and SIGTERM-like cancellation stops it cleanly.
func TestCommandsReachRunningServer(t *testing.T) {
	dir := seededDir(t)
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan int)
	go func() {
		done <- execute(ctx, []string{"serve", "--data-dir", dir, "--http-addr", "127.0.0.1:0", "--sip2-addr", "127.0.0.1:0",
			"--sip2-tls-addr", "", "--https-addr", ""}, nil, out, &syncBuffer{})
	}()
	sock := filepath.Join(dir, adminSocketName)
	waitServing(t, out, done)
	fi, err := os.Stat(sock)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin socket mode: %v %v", fi.Mode(), err)
	}
	r := run(t, "checkout", fixtures.PatronGood, fixtures.ItemBranch, "--data-dir", dir)
	if r.code != 0 || !strings.Contains(r.out, "checked out") {
		t.Fatalf("checkout through the server: %+v", r)
	}
	r = run(t, "checkout", fixtures.PatronBlocked, fixtures.ItemAvailable, "--data-dir", dir)
	if r.code != 1 || !strings.Contains(r.errOut, "blocked") {
		t.Fatalf("refusal through the server: %+v", r)
	}
	backup := filepath.Join(t.TempDir(), "b.db")
	if r = run(t, "db", "backup", backup, "--data-dir", dir); r.code != 0 {
		t.Fatalf("backup through the server: %+v", r)
	}
	if r = run(t, "db", "check", "--data-dir", dir); r.code != 0 {
		t.Fatalf("check through the server: %+v", r)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve exit %d", code)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop")
	}
	// The file is free again and holds the checkout made through the server.
	r = run(t, "item", "show", fixtures.ItemBranch, "--data-dir", dir)
	if r.code != 0 || !strings.Contains(r.out, "on loan to") {
		t.Fatalf("after stop: %+v", r)
	}
	r = run(t, "item", "show", fixtures.ItemBranch, "--data-dir", filepath.Dir(backup)+"/nope")
	if r.code == 0 {
		t.Fatal("item show on an empty directory succeeded")
	}
}

func TestProfileCommands(t *testing.T) {
	dir := seededDir(t)
	d := []string{"--data-dir", dir}
	r := run(t, append([]string{"profile", "selfcheck", "list"}, d...)...)
	if r.code != 0 || !strings.Contains(r.out, fixtures.KioskLogin) {
		t.Fatalf("demo kiosk profile missing: %+v", r)
	}
	r = run(t, append([]string{"profile", "selfcheck", "add", "k2", "--password", "pw", "--institution", "MAIN", "--library", "MAIN", "--allow", "99,11"}, d...)...)
	if r.code != 0 {
		t.Fatalf("add: %+v", r)
	}
	if r = run(t, append([]string{"profile", "selfcheck", "add", "k2", "--password", "pw"}, d...)...); r.code != 1 {
		t.Fatalf("second add: %+v", r)
	}
	if r = run(t, append([]string{"profile", "selfcheck", "edit", "k2", "--charset", "cp850", "--terminator", "crlf", "--show-block-note", "--hide-refusal-details"}, d...)...); r.code != 0 {
		t.Fatalf("edit: %+v", r)
	}
	if r = run(t, append([]string{"profile", "selfcheck", "edit", "k2"}, d...)...); r.code != 2 {
		t.Fatalf("edit without settings: %+v", r)
	}
	r = run(t, append([]string{"profile", "selfcheck", "edit", "k2", "--checksum", "maybe", "--timeout", "5000"}, d...)...)
	if r.code != 1 || !strings.Contains(r.errOut, "checksum") || !strings.Contains(r.errOut, "timeout") {
		t.Fatalf("invalid edit: %+v", r)
	}
	r = run(t, append([]string{"profile", "selfcheck", "show", "k2"}, d...)...)
	if r.code != 0 || !strings.Contains(r.out, "charset: cp850") || !strings.Contains(r.out, "terminator: CRLF") || strings.Contains(r.out, "pw\n") ||
		!strings.Contains(r.out, "show_block_note: true") || !strings.Contains(r.out, "hide_refusal_details: true") {
		t.Fatalf("show: %+v", r)
	}
	file := filepath.Join(t.TempDir(), "kiosks.yaml")
	if r = run(t, append([]string{"profile", "selfcheck", "export", file}, d...)...); r.code != 0 {
		t.Fatalf("export: %+v", r)
	}
	if r = run(t, append([]string{"profile", "selfcheck", "remove", "k2"}, d...)...); r.code != 0 {
		t.Fatalf("remove: %+v", r)
	}
	if r = run(t, append([]string{"profile", "selfcheck", "show", "k2"}, d...)...); r.code != 1 {
		t.Fatalf("show removed: %+v", r)
	}
	if r = run(t, append([]string{"profile", "selfcheck", "import", file}, d...)...); r.code != 0 || !strings.Contains(r.out, "imported 2") {
		t.Fatalf("import: %+v", r)
	}
	if r = run(t, append([]string{"profile", "selfcheck", "show", "k2"}, d...)...); r.code != 0 || !strings.Contains(r.out, "cp850") {
		t.Fatalf("show imported: %+v", r)
	}
	r = run(t, append([]string{"profile", "ncip", "show", fixtures.PartnerCode}, d...)...)
	if r.code != 0 || strings.Contains(r.out, fixtures.PartnerKey) || !strings.Contains(r.out, "api_key_hash") {
		t.Fatalf("ncip show leaks or lacks the key hash: %+v", r)
	}
	if r = run(t, append([]string{"profile", "storage", "list"}, d...)...); r.code != 0 || !strings.Contains(r.out, fixtures.StorageCode) {
		t.Fatalf("storage list: %+v", r)
	}
}

func TestServeWithoutCertificateSaysHowToMakeOne(t *testing.T) {
	r := run(t, "serve", "--data-dir", t.TempDir(), "--http-addr", "127.0.0.1:0", "--sip2-addr", "127.0.0.1:0")
	if r.code != 1 || !strings.Contains(r.errOut, "circa tls init") {
		t.Fatalf("serve without a certificate: %+v", r)
	}
}

// The overdue list names the patron, the item, its title, the due date and
// the days overdue, as a table and as JSON.
func TestOverdueList(t *testing.T) {
	dir := seededDir(t)
	d := []string{"--data-dir", dir}
	r := run(t, append([]string{"loan", "list", "--overdue", "--json"}, d...)...)
	var loans []struct {
		Patron, Item, Title string
		Due                 time.Time
		DaysOverdue         int `json:"days_overdue"`
	}
	if r.code != 0 || json.Unmarshal([]byte(r.out), &loans) != nil || len(loans) < 10 {
		t.Fatalf("overdue list: %+v", r)
	}
	for i, l := range loans {
		late := time.Since(l.Due)
		if l.Patron == "" || l.Item == "" || l.Title == "" || late <= 0 ||
			l.DaysOverdue < int(late/(24*time.Hour)) || l.DaysOverdue > int(late/(24*time.Hour))+1 {
			t.Fatalf("loan %d: %+v", i, l)
		}
		if i > 0 && l.Due.Before(loans[i-1].Due) {
			t.Fatalf("not most overdue first: %+v after %+v", l, loans[i-1])
		}
	}
	r = run(t, append([]string{"loan", "list", "--overdue"}, d...)...)
	lines := strings.Split(strings.TrimSpace(r.out), "\n")
	if r.code != 0 || len(lines) != len(loans)+1 || !strings.HasPrefix(lines[0], "PATRON") || !strings.HasSuffix(lines[0], "DAYS OVERDUE") {
		t.Fatalf("overdue table: %+v", r)
	}
	first := loans[0]
	if !strings.HasPrefix(lines[1], first.Patron+"  ") || !strings.Contains(lines[1], first.Item) || !strings.Contains(lines[1], first.Title) ||
		!strings.HasSuffix(lines[1], fmt.Sprintf("  %d", first.DaysOverdue)) {
		t.Fatalf("first row %q for %+v", lines[1], first)
	}
}

// An item scanned again for the patron who has it renews, or is refused
// with its due date when the rules say refuse_own_checkout.
func TestOwnItemAtTheDesk(t *testing.T) {
	dir := seededDir(t)
	d := []string{"--data-dir", dir}
	r := run(t, append([]string{"checkout", fixtures.PatronGood, fixtures.ItemOnLoan}, d...)...)
	if r.code != 0 || !strings.HasPrefix(r.out, "renewed "+fixtures.ItemOnLoan) || !strings.Contains(r.out, ", due ") {
		t.Fatalf("rescan: %+v", r)
	}
	rules := run(t, append([]string{"rules", "show"}, d...)...).out
	f := writeFile(t, t.TempDir(), "rules.yaml", strings.Replace(rules, "refuse_own_checkout: false", "refuse_own_checkout: true", 1))
	if r := run(t, append([]string{"rules", "import", f}, d...)...); r.code != 0 {
		t.Fatalf("rules import: %+v", r)
	}
	r = run(t, append([]string{"checkout", fixtures.PatronGood, fixtures.ItemOnLoan}, d...)...)
	if r.code != 1 || !strings.Contains(r.errOut, "checkout refused: item already on loan to this patron (due 20") {
		t.Fatalf("rescan refused: %+v", r)
	}
}
