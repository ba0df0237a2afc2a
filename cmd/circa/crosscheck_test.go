package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/circa-ils/circa/fixtures"
	"github.com/circa-ils/circa/store"
	"github.com/circa-ils/circa/store/boltstore"
)

// TestProfileNamesExistingLibraryAndDesk: add, edit and import refuse a
// self-check profile whose library or desk does not exist.
func TestProfileNamesExistingLibraryAndDesk(t *testing.T) {
	dir := seededDir(t)
	d := []string{"--data-dir", dir}
	r := run(t, append([]string{"profile", "selfcheck", "add", "k7", "--password", "pw", "--institution", "MAIN", "--library", "MAINN"}, d...)...)
	if r.code != 1 || !strings.Contains(r.errOut, `library "MAINN" does not exist (did you mean "MAIN"?)`) {
		t.Fatalf("add with unknown library: %+v", r)
	}
	if r = run(t, append([]string{"profile", "selfcheck", "show", "k7"}, d...)...); r.code != 1 {
		t.Fatalf("refused profile stored: %+v", r)
	}
	r = run(t, append([]string{"profile", "selfcheck", "edit", fixtures.KioskLogin, "--desk", "NODESK"}, d...)...)
	if r.code != 1 || !strings.Contains(r.errOut, `desk "NODESK" does not exist`) {
		t.Fatalf("edit with unknown desk: %+v", r)
	}
	file := filepath.Join(t.TempDir(), "kiosks.yaml")
	doc := "version: 1\ntype: selfcheck\nprofiles:\n  - {code: k8, password: pw, institution: MAIN, library: NOWHERE}\n"
	if err := os.WriteFile(file, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	r = run(t, append([]string{"profile", "selfcheck", "import", file}, d...)...)
	if r.code != 1 || !strings.Contains(r.errOut, `library "NOWHERE" does not exist`) {
		t.Fatalf("import with unknown library: %+v", r)
	}
	// The same entry naming a real library imports with add's defaults.
	if err := os.WriteFile(file, []byte(strings.Replace(doc, "NOWHERE", "MAIN", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if r = run(t, append([]string{"profile", "selfcheck", "import", file}, d...)...); r.code != 0 {
		t.Fatalf("import: %+v", r)
	}
	if r = run(t, append([]string{"profile", "selfcheck", "show", "k8"}, d...)...); !strings.Contains(r.out, "charset: utf-8") || !strings.Contains(r.out, "active: true") {
		t.Fatalf("imported profile lacks add's defaults: %+v", r)
	}
}

// TestTLSIssueNeedsAnExistingProfile: no certificate is made for a profile
// that does not exist.
func TestTLSIssueNeedsAnExistingProfile(t *testing.T) {
	dir := seededDir(t)
	d := []string{"--data-dir", dir}
	if r := run(t, append([]string{"tls", "init"}, d...)...); r.code != 0 {
		t.Fatalf("tls init: %+v", r)
	}
	out := t.TempDir()
	r := run(t, append([]string{"tls", "issue", "--profile", "kiosk9", "--out", out}, d...)...)
	if r.code != 1 || !strings.Contains(r.errOut, `no self-check, NCIP or storage profile "kiosk9"`) {
		t.Fatalf("issue for unknown profile: %+v", r)
	}
	if files, _ := os.ReadDir(out); len(files) != 0 {
		t.Fatalf("files written for an unknown profile: %v", files)
	}
	if r = run(t, append([]string{"tls", "issue", "--profile", fixtures.KioskLogin, "--out", out}, d...)...); r.code != 0 {
		t.Fatalf("issue: %+v", r)
	}
}

// TestMessagesSetRefusesUnknownPlaceholders: a misspelt placeholder would
// be shown to patrons as written; it is refused with the known ones listed,
// by messages set and by a profile import alike.
func TestMessagesSetRefusesUnknownPlaceholders(t *testing.T) {
	dir := seededDir(t)
	d := []string{"--data-dir", dir}
	r := run(t, append([]string{"messages", "set", "--profile", fixtures.KioskLogin, "checkout_ok", "Enjoy {titel}, due {due}"}, d...)...)
	if r.code != 2 || !strings.Contains(r.errOut, "unknown placeholder {titel}; this message knows {due}, {title}") {
		t.Fatalf("set: %+v", r)
	}
	if r = run(t, append([]string{"messages", "list", "--profile", fixtures.KioskLogin}, d...)...); strings.Contains(r.out, "titel") {
		t.Fatalf("refused text stored:\n%s", r.out)
	}
	if r = run(t, append([]string{"messages", "set", "--profile", fixtures.KioskLogin, "checkout_ok", "Enjoy {title}, due {due}"}, d...)...); r.code != 0 {
		t.Fatalf("set: %+v", r)
	}
	file := filepath.Join(t.TempDir(), "kiosks.yaml")
	doc := "version: 1\ntype: selfcheck\nprofiles:\n  - code: k8\n    password: pw\n    institution: MAIN\n    library: MAIN\n    messages: {eng: {checkin_ok: \"Back: {titel}\"}}\n"
	if err := os.WriteFile(file, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	if r = run(t, append([]string{"profile", "selfcheck", "import", file}, d...)...); r.code != 1 || !strings.Contains(r.errOut, "unknown placeholder {titel}") {
		t.Fatalf("import: %+v", r)
	}
}

// TestDBCheckReportsDanglingReferences: db check lists records naming
// something that does not exist and exits 1.
func TestDBCheckReportsDanglingReferences(t *testing.T) {
	dir := seededDir(t)
	d := []string{"--data-dir", dir}
	if r := run(t, append([]string{"db", "check"}, d...)...); r.code != 0 || strings.TrimSpace(r.out) != "OK" {
		t.Fatalf("demo db check: %+v", r)
	}
	db, err := boltstore.Open(filepath.Join(dir, boltstore.DefaultFile), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(context.Background(), func(tx store.Tx) error {
		return tx.PutLocation(&store.Location{Code: "ORPHAN", Library: "GONE"})
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	r := run(t, append([]string{"db", "check"}, d...)...)
	if r.code != 1 || !strings.Contains(r.out, `locations: location ORPHAN names library "GONE", which does not exist`) {
		t.Fatalf("db check: %+v", r)
	}
}
