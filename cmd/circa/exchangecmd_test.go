package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/profiles/delivery/sftptest"
	fx "github.com/circa-ils/circa/profiles/exchange"
	"github.com/circa-ils/circa/store"
	"github.com/circa-ils/circa/store/boltstore"
)

func TestExchangeProfileCommands(t *testing.T) {
	dir := seededDir(t)
	drop := t.TempDir()
	r := run(t, "profile", "bursar", "add", "BUR", "--data-dir", dir, "--library", "MAIN", "--target", "local",
		"--local-dir", drop, "--port", "0", "--fee-types", "04,05", "--every", "60")
	if r.code != 0 {
		t.Fatalf("add: %d %s", r.code, r.errOut)
	}
	r = run(t, "profile", "bursar", "list", "--data-dir", dir)
	if r.code != 0 || !strings.Contains(r.out, "BUR") || !strings.Contains(r.out, "every 60 min") {
		t.Fatalf("list: %+v", r)
	}
	// Codes are unique across the file-exchange types.
	r = run(t, "profile", "sms", "add", "BUR", "--data-dir", dir, "--library", "MAIN", "--target", "local",
		"--local-dir", drop, "--port", "0", "--template", "eng/fee=You owe {{.Amount}}.", "--notices", "fee")
	if r.code == 0 || !strings.Contains(r.errOut, "used by") {
		t.Fatalf("a second profile with the same code: %+v", r)
	}
	r = run(t, "profile", "bursar", "edit", "BUR", "--data-dir", dir, "--min-amount", "100")
	if r.code != 0 {
		t.Fatalf("edit: %+v", r)
	}
	r = run(t, "profile", "bursar", "show", "BUR", "--data-dir", dir)
	if !strings.Contains(r.out, "min_amount: 100") || !strings.Contains(r.out, "- \"04\"") {
		t.Fatalf("show: %s", r.out)
	}

	// Run it now; then its history lists the run with its file.
	r = run(t, "profile", "run", "BUR", "--data-dir", dir)
	if r.code != 0 || !strings.Contains(r.out, "run 1: ok") || !strings.Contains(r.out, "file circa_bursar_BUR_000001_") {
		t.Fatalf("run: %+v", r)
	}
	files, _ := filepath.Glob(filepath.Join(drop, "circa_bursar_BUR_*.xml"))
	if len(files) != 1 {
		t.Fatalf("delivered %v", files)
	}
	r = run(t, "profile", "history", "BUR", "--data-dir", dir, "-v")
	if r.code != 0 || !strings.Contains(r.out, "RESULT") || !strings.Contains(r.out, "manual") || !strings.Contains(r.out, filepath.Base(files[0])) {
		t.Fatalf("history: %+v", r)
	}

	// Export and import as YAML.
	yml := filepath.Join(t.TempDir(), "bursar.yaml")
	if r = run(t, "profile", "bursar", "export", yml, "--data-dir", dir); r.code != 0 {
		t.Fatalf("export: %+v", r)
	}
	data, _ := os.ReadFile(yml)
	os.WriteFile(yml, []byte(strings.ReplaceAll(string(data), "code: BUR", "code: BUR2")), 0o600)
	if r = run(t, "profile", "bursar", "import", yml, "--data-dir", dir); r.code != 0 {
		t.Fatalf("import: %+v", r)
	}
	if r = run(t, "profile", "bursar", "show", "BUR2", "--data-dir", dir); r.code != 0 || !strings.Contains(r.out, "min_amount: 100") {
		t.Fatalf("imported profile: %+v", r)
	}
	if r = run(t, "profile", "bursar", "remove", "BUR2", "--data-dir", dir); r.code != 0 {
		t.Fatalf("remove: %+v", r)
	}
	if r = run(t, "profile", "run", "NOPE", "--data-dir", dir); r.code != 1 {
		t.Fatalf("unknown profile: %+v", r)
	}
}

func TestUsersDryRunFromTheCommandLine(t *testing.T) {
	dir := seededDir(t)
	r := run(t, "profile", "users", "add", "SIS", "--data-dir", dir, "--library", "MAIN", "--target", "local",
		"--local-dir", t.TempDir(), "--port", "0", "--match-identifier", "university_id", "--add-new", "--home-library", "MAIN",
		"--group-map", "GRD=GRAD", "--group-map", "UGRD=UNDERGRAD")
	if r.code != 0 {
		t.Fatalf("add: %+v", r)
	}
	if r = run(t, "profile", "users", "edit", "SIS", "--data-dir", dir, "--group-map", "UGRD=", "--group-map", "FAC=FACULTY"); r.code != 0 {
		t.Fatalf("edit: %+v", r)
	}
	if r = run(t, "profile", "users", "show", "SIS", "--data-dir", dir); !strings.Contains(r.out, "GRD: GRAD") ||
		!strings.Contains(r.out, "FAC: FACULTY") || strings.Contains(r.out, "UGRD") {
		t.Fatalf("group map after edit: %+v", r)
	}
	file := filepath.Join(t.TempDir(), "users.xml")
	os.WriteFile(file, []byte(`<users><user><primary_id>77</primary_id><last_name>Noether</last_name><user_group>GRD</user_group>
<user_identifiers><user_identifier><id_type>university_id</id_type><value>U77</value></user_identifier></user_identifiers></user></users>`), 0o600)
	r = run(t, "profile", "run", "SIS", "--data-dir", dir, "--dry-run", "--file", file)
	if r.code != 0 || !strings.Contains(r.out, "user U77 would be added") || strings.Contains(r.errOut, "[#") {
		t.Fatalf("dry run: %+v", r)
	}
	if r = run(t, "patron", "show", "77", "--data-dir", dir); r.code == 0 {
		t.Fatal("a dry run added the patron")
	}
	r = run(t, "profile", "run", "SIS", "--data-dir", dir, "--file", file)
	if r.code != 0 || !strings.Contains(r.out, "1 records") {
		t.Fatalf("import: %+v", r)
	}
	// Without an import pattern there is nothing waiting to examine.
	if r = run(t, "profile", "run", "SIS", "--data-dir", dir, "--dry-run"); r.code != 1 || !strings.Contains(r.errOut, "imports nothing") {
		t.Fatalf("--dry-run with nothing to examine: %+v", r)
	}
}

// TestBursarMisconfiguredTargetLosesNothing is the data-loss scenario: a
// profile whose directory does not exist exported fees into a file it could
// not deliver. Such a profile is refused unless --no-check, and then its
// runs mark nothing. A file stuck on the way (an SFTP server that refuses
// the rename) keeps its profile from being removed; --hand-to gives it to a
// working profile, which delivers every fee; --resend sends a past run's
// file again.
func TestBursarMisconfiguredTargetLosesNothing(t *testing.T) {
	dir := seededDir(t)
	missing := filepath.Join(t.TempDir(), "not-there")
	bad := []string{"profile", "bursar", "add", "BAD", "--data-dir", dir, "--library", "MAIN", "--target", "local",
		"--local-dir", missing, "--port", "0"}
	r := run(t, bad...)
	if r.code == 0 || !strings.Contains(r.errOut, missing) || !strings.Contains(r.errOut, "does not exist") {
		t.Fatalf("a profile whose directory does not exist was accepted: %+v", r)
	}
	if r = run(t, "profile", "bursar", "show", "BAD", "--data-dir", dir); r.code == 0 {
		t.Fatalf("the refused profile was saved: %s", r.out)
	}
	// Prepared before its directory exists, on purpose: its runs fail and
	// export nothing.
	if r = run(t, append(bad, "--no-check")...); r.code != 0 {
		t.Fatalf("add --no-check: %+v", r)
	}
	if r = run(t, "profile", "run", "BAD", "--data-dir", dir); r.code == 0 || !strings.Contains(r.errOut, "does not exist") {
		t.Fatalf("run of BAD: %+v", r)
	}
	if n := exportedFees(t, dir); n != 0 {
		t.Fatalf("a profile that cannot deliver marked %d fees exported", n)
	}
	if r = run(t, "profile", "bursar", "remove", "BAD", "--data-dir", dir); r.code != 0 {
		t.Fatalf("remove of a profile with nothing pending: %+v", r)
	}

	// An SFTP server that takes the upload and refuses the rename.
	srv := sftptest.Start(t)
	os.Mkdir(srv.Path("/out"), 0o755)
	key := filepath.Join(t.TempDir(), "id")
	os.WriteFile(key, srv.ClientKeyPEM, 0o600)
	if r = run(t, "profile", "bursar", "add", "STUCK", "--data-dir", dir, "--library", "MAIN", "--host", srv.Host,
		"--port", fmt.Sprint(srv.Port), "--user", srv.User, "--private-key", key, "--known-hosts", srv.KnownHosts,
		"--remote-dir", "/out"); r.code != 0 {
		t.Fatalf("add STUCK: %+v", r)
	}
	srv.SetFaults(sftptest.Faults{RefuseRename: true})
	if r = run(t, "profile", "run", "STUCK", "--data-dir", dir); r.code == 0 {
		t.Fatalf("run of STUCK: %+v", r)
	}
	r = run(t, "profile", "history", "STUCK", "--data-dir", dir)
	pending := regexp.MustCompile(`pending (circa_bursar_STUCK_\S+\.xml)`).FindStringSubmatch(r.out)
	if pending == nil {
		t.Fatalf("history of STUCK shows no pending file: %s", r.out)
	}
	exported := exportedFees(t, dir)
	if exported == 0 {
		t.Fatal("STUCK's run marked no fee exported; the scenario needs some")
	}

	r = run(t, "profile", "bursar", "remove", "STUCK", "--data-dir", dir)
	if r.code == 0 || !strings.Contains(r.errOut, pending[1]) || !strings.Contains(r.errOut, "--hand-to") {
		t.Fatalf("STUCK was removed with an undelivered file: %+v", r)
	}
	drop := t.TempDir()
	if r = run(t, "profile", "bursar", "add", "GOOD", "--data-dir", dir, "--library", "MAIN", "--target", "local",
		"--local-dir", drop, "--port", "0"); r.code != 0 {
		t.Fatalf("add GOOD: %+v", r)
	}
	if r = run(t, "profile", "users", "add", "SIS", "--data-dir", dir, "--library", "MAIN", "--target", "local",
		"--local-dir", drop, "--port", "0"); r.code != 0 {
		t.Fatalf("add SIS: %+v", r)
	}
	if r = run(t, "profile", "bursar", "remove", "STUCK", "--hand-to", "SIS", "--data-dir", dir); r.code == 0 {
		t.Fatalf("bursar files handed to a users profile: %+v", r)
	}
	r = run(t, "profile", "bursar", "remove", "STUCK", "--hand-to", "GOOD", "--data-dir", dir)
	if r.code != 0 || !strings.Contains(r.out, "handed "+pending[1]+" to GOOD") {
		t.Fatalf("remove --hand-to: %+v", r)
	}
	// The audit trail has the hand-over: the file now in GOOD's queue
	// (its content summarised) and STUCK removed.
	var handedIn, removed bool
	for _, e := range auditTrail(t, dir) {
		if e.Command != "circa profile bursar remove" {
			continue
		}
		handedIn = handedIn || (e.Key == "exchange/GOOD/outbox/"+pending[1] && e.Before == nil &&
			strings.Contains(string(e.After), "characters left out"))
		removed = removed || (e.Kind == "profile" && e.Key == "bursar STUCK" && e.After == nil)
	}
	if !handedIn || !removed {
		t.Errorf("audit of the hand-over: file to GOOD %v, STUCK removed %v", handedIn, removed)
	}

	r = run(t, "profile", "run", "GOOD", "--data-dir", dir)
	if r.code != 0 || !strings.Contains(r.out, "file "+pending[1]) || !strings.Contains(r.out, "run 1: ok, 0 records") {
		t.Fatalf("GOOD did not deliver STUCK's file: %+v", r)
	}
	data, err := os.ReadFile(filepath.Join(drop, pending[1]))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(data), "<xb:userFineFee>"); n != exported {
		t.Fatalf("the bursar received %d fees of the %d marked exported", n, exported)
	}

	// The bursar lost the file: send run 1's files again.
	os.Remove(filepath.Join(drop, pending[1]))
	r = run(t, "profile", "run", "GOOD", "--resend", "1", "--data-dir", dir)
	if r.code != 0 || !strings.Contains(r.out, "file "+pending[1]) {
		t.Fatalf("resend: %+v", r)
	}
	if again, err := os.ReadFile(filepath.Join(drop, pending[1])); err != nil || string(again) != string(data) {
		t.Fatalf("resent file differs: %v", err)
	}
	if r = run(t, "profile", "history", "GOOD", "--data-dir", dir); !strings.Contains(r.out, "resend 1") {
		t.Fatalf("history does not show the resend: %s", r.out)
	}
	if r = run(t, "profile", "run", "GOOD", "--data-dir", dir); r.code != 0 || !strings.Contains(r.out, "run 3: ok, 0 records, 0 files") {
		t.Fatalf("a run with nothing to send: %+v", r)
	}
	for id, want := range map[string]string{"9": "not in GOOD's history", "3": "delivered no files"} {
		if r = run(t, "profile", "run", "GOOD", "--resend", id, "--data-dir", dir); r.code == 0 || !strings.Contains(r.errOut, want) {
			t.Fatalf("resend %s: %+v", id, r)
		}
	}

	// Editing the target, and importing profiles, check it too.
	if r = run(t, "profile", "bursar", "edit", "GOOD", "--local-dir", missing, "--data-dir", dir); r.code == 0 ||
		!strings.Contains(r.errOut, "does not exist") {
		t.Fatalf("edit to a missing directory: %+v", r)
	}
	yml := filepath.Join(t.TempDir(), "bursar.yaml")
	if r = run(t, "profile", "bursar", "export", yml, "--data-dir", dir); r.code != 0 {
		t.Fatalf("export: %+v", r)
	}
	doc, _ := os.ReadFile(yml)
	os.WriteFile(yml, []byte(strings.ReplaceAll(string(doc), drop, missing)), 0o600)
	if r = run(t, "profile", "bursar", "import", yml, "--data-dir", dir); r.code == 0 || !strings.Contains(r.errOut, "does not exist") {
		t.Fatalf("import of a profile with a missing directory: %+v", r)
	}
	if r = run(t, "profile", "bursar", "show", "GOOD", "--data-dir", dir); !strings.Contains(r.out, drop) {
		t.Fatalf("a refused edit or import changed GOOD: %s", r.out)
	}
}

// exportedFees counts the fees of a data directory marked exported.
func exportedFees(t *testing.T, dir string) int {
	t.Helper()
	db, err := boltstore.Open(filepath.Join(dir, boltstore.DefaultFile), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	n := 0
	if err := db.View(context.Background(), func(tx store.Tx) error {
		return tx.ForEachFee(func(f store.Fee) bool {
			if f.Status == store.FeeExported {
				n++
			}
			return true
		})
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestBursarOverpaymentIsACredit: a bursar's payment of more than a fee
// pays it and leaves the excess as the patron's credit, which patron show
// reports and which lowers the balance SIP2 reports.
func TestBursarOverpaymentIsACredit(t *testing.T) {
	dir := seededDir(t)
	drop := t.TempDir()
	if r := run(t, "profile", "bursar", "add", "BUR", "--data-dir", dir, "--library", "MAIN", "--target", "local",
		"--local-dir", drop, "--port", "0"); r.code != 0 {
		t.Fatalf("add: %+v", r)
	}
	r := run(t, "profile", "run", "BUR", "--data-dir", dir)
	files, _ := filepath.Glob(filepath.Join(drop, "circa_bursar_BUR_*.xml"))
	if r.code != 0 || len(files) != 1 {
		t.Fatalf("export: %+v %v", r, files)
	}
	export, _ := os.ReadFile(files[0])
	lines, err := fx.ParseBursar("export", export)
	if err != nil {
		t.Fatal(err)
	}
	first := lines[0]
	// The bursar pays the first fee 1.00 too much and every other in full.
	s := string(export)
	i := strings.Index(s, "<xb:bursarTransactionId>"+first.TransactionID+"</xb:bursarTransactionId>")
	j := strings.LastIndex(s[:i], "<xb:sum>")
	k := j + strings.Index(s[j:], "</xb:sum>")
	s = s[:j] + "<xb:sum>" + circ.FormatAmount(first.Amount+100, first.Currency) + s[k:]
	payments := filepath.Join(t.TempDir(), "payments.xml")
	os.WriteFile(payments, []byte(s), 0o600)
	if r = run(t, "profile", "run", "BUR", "--file", payments, "--data-dir", dir); r.code != 0 ||
		!strings.Contains(r.out, fmt.Sprintf("%d records", len(lines))) {
		t.Fatalf("import: %+v", r)
	}
	r = run(t, "patron", "show", first.UserValue, "--data-dir", dir)
	if r.code != 0 || !regexp.MustCompile(`(?m)^credit\s+1\.00 `+first.Currency+`$`).MatchString(r.out) ||
		!regexp.MustCompile(`(?m)^balance\s+0\.00 `).MatchString(r.out) {
		t.Fatalf("patron show: %+v", r)
	}
}
