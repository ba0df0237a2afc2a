package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/circa-ils/circa/store"
	"github.com/circa-ils/circa/store/boltstore"
)

// wantFail checks a command failed with every part in its one-line error.
func wantFail(t *testing.T, r result, parts ...string) {
	t.Helper()
	if r.code == 0 {
		t.Fatalf("succeeded; want an error naming %q: %+v", parts, r)
	}
	for _, p := range parts {
		if !strings.Contains(r.errOut, p) {
			t.Errorf("error %q does not say %q", r.errOut, p)
		}
	}
}

func TestLibraryLocationDeskCommands(t *testing.T) {
	dir := seededDir(t)
	d := []string{"--data-dir", dir}
	cmd := func(args ...string) result { return run(t, append(args, d...)...) }

	wantFail(t, cmd("library", "add", "EAST", "--name", "East", "--timezone", "Europe/Berlinn", "--currency", "EUR"),
		`unknown time zone "Europe/Berlinn"`)
	wantFail(t, cmd("library", "add", "EAST", "--name", "East", "--timezone", "Europe/Berlin", "--currency", "EUX"),
		`unknown currency "EUX"`)
	wantFail(t, cmd("library", "add", "MAIN", "--name", "Main", "--timezone", "UTC", "--currency", "USD"), "library MAIN", "exists")
	wantFail(t, cmd("library", "edit", "MAINN", "--name", "x"), "no library MAINN", `did you mean "MAIN"`)
	if r := cmd("library", "edit", "MAIN"); r.code != 2 || !strings.Contains(r.errOut, "no setting given") {
		t.Errorf("edit without flags: %+v", r)
	}
	r := cmd("library", "add", "EAST", "--name", "East Campus", "--timezone", "Europe/Berlin", "--currency", "EUR", "--address", "1 Ring")
	if r.code != 0 || r.out != "added library EAST\n" {
		t.Fatalf("add: %+v", r)
	}
	if r = cmd("library", "edit", "EAST", "--currency", "CHF"); r.code != 0 {
		t.Fatalf("edit: %+v", r)
	}

	wantFail(t, cmd("location", "add", "EAST-STACKS", "--library", "EST", "--name", "Stacks"), "no library EST")
	if r = cmd("location", "add", "EAST-STACKS", "--library", "EAST", "--name", "Stacks", "--call-number-type", "dewey"); r.code != 0 {
		t.Fatalf("location add: %+v", r)
	}
	if r = cmd("location", "add", "EAST-REF", "--library", "EAST", "--name", "Reference", "--not-circulating"); r.code != 0 {
		t.Fatalf("location add: %+v", r)
	}
	wantFail(t, cmd("desk", "add", "EAST-CIRC", "--library", "EAST", "--locations", "EAST-STACKS,MAIN-STACKS"),
		"location MAIN-STACKS belongs to library MAIN, not EAST")
	if r = cmd("desk", "add", "EAST-CIRC", "--library", "EAST", "--name", "Front desk", "--locations", "EAST-STACKS,EAST-REF"); r.code != 0 {
		t.Fatalf("desk add: %+v", r)
	}

	r = cmd("library", "list")
	if r.code != 0 || !strings.Contains(r.out, "CODE") || !strings.Contains(r.out, "EAST    East Campus") {
		t.Errorf("library list:\n%s", r.out)
	}
	r = cmd("library", "list", "--json")
	var libs []store.Library
	if err := json.Unmarshal([]byte(r.out), &libs); err != nil || len(libs) != 3 {
		t.Fatalf("library list --json: %v\n%s", err, r.out)
	}
	for _, l := range libs {
		if l.Code == "EAST" && (l.Currency != "CHF" || l.Timezone != "Europe/Berlin" || l.Address != "1 Ring") {
			t.Errorf("EAST after edit: %+v", l)
		}
	}
	r = cmd("location", "show", "EAST-REF")
	if r.code != 0 || !strings.Contains(r.out, "circulates:        no") || !strings.Contains(r.out, "1 desks (EAST-CIRC)") {
		t.Errorf("location show:\n%s", r.out)
	}
	r = cmd("location", "show", "EAST-STACKS", "--json")
	var shown struct {
		Record store.Location `json:"record"`
		UsedBy map[string]int `json:"used_by"`
	}
	if err := json.Unmarshal([]byte(r.out), &shown); err != nil || shown.Record.CallNumberType != "dewey" || shown.UsedBy["desks"] != 1 {
		t.Errorf("location show --json: %v %+v", err, shown)
	}

	// Removing what is still named is refused, naming what names it.
	wantFail(t, cmd("library", "remove", "BRANCH"), "library BRANCH is still in use", "2 locations (BRANCH-MEDIA, BRANCH-STACKS)",
		"1 desks (BRANCH-CIRC)", "items (", "holdings (", "patrons (home library)", "1 loan rules (6)")
	wantFail(t, cmd("library", "remove", "MAIN"), "profiles (ncip ", "selfcheck ", "storage ")
	wantFail(t, cmd("desk", "remove", "MAIN-CIRC"), "desk MAIN-CIRC is still in use", "profiles (")
	wantFail(t, cmd("library", "remove", "EAST"), "2 locations", "1 desks (EAST-CIRC)")
	wantFail(t, cmd("location", "remove", "EAST-REF"), "1 desks (EAST-CIRC)")
	for _, c := range [][]string{{"desk", "remove", "EAST-CIRC"}, {"location", "remove", "EAST-REF"}, {"location", "remove", "EAST-STACKS"}, {"library", "remove", "EAST"}} {
		if r = cmd(c...); r.code != 0 {
			t.Fatalf("%v: %+v", c, r)
		}
	}
	wantFail(t, cmd("library", "show", "EAST"), "no library EAST")
	if r = cmd("db", "check"); r.code != 0 {
		t.Errorf("db check after the changes: %+v", r)
	}
}

// startServer runs circa serve on dir until the test ends.
func startServer(t *testing.T, dir string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- execute(ctx, []string{"serve", "--data-dir", dir, "--http-addr", "127.0.0.1:0", "--sip2-addr", "127.0.0.1:0",
			"--sip2-tls-addr", "", "--https-addr", ""}, nil, out, &syncBuffer{})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("serve did not stop")
		}
	})
	waitServing(t, out, done)
}

func TestDBRestore(t *testing.T) {
	dir := seededDir(t)
	d := []string{"--data-dir", dir}
	backup := filepath.Join(t.TempDir(), "backup.db")
	if r := run(t, append([]string{"db", "backup", backup}, d...)...); r.code != 0 {
		t.Fatalf("backup: %+v", r)
	}
	add := append([]string{"library", "add", "EAST", "--name", "East", "--timezone", "UTC", "--currency", "USD"}, d...)
	{
		// With a server running, structure commands reach it and restore
		// is refused, leaving the file alone.
		srv := filepath.Join(t.TempDir(), "srv")
		os.MkdirAll(srv, 0o700)
		data, _ := os.ReadFile(filepath.Join(dir, boltstore.DefaultFile))
		os.WriteFile(filepath.Join(srv, boltstore.DefaultFile), data, 0o600)
		startServer(t, srv)
		if r := run(t, "library", "add", "WEST", "--name", "West", "--timezone", "UTC", "--currency", "USD", "--data-dir", srv); r.code != 0 {
			t.Fatalf("library add through the server: %+v", r)
		}
		r := run(t, "db", "restore", backup, "--data-dir", srv)
		wantFail(t, r, "restore refused", "held by a running server")
		if r := run(t, "library", "show", "WEST", "--data-dir", srv); r.code != 0 {
			t.Fatalf("after a refused restore: %+v", r)
		}
	}

	if r := run(t, add...); r.code != 0 {
		t.Fatal(r)
	}
	junk := filepath.Join(t.TempDir(), "junk.db")
	os.WriteFile(junk, []byte(strings.Repeat("not a database ", 1000)), 0o600)
	wantFail(t, run(t, append([]string{"db", "restore", junk}, d...)...), "is not a circa database")
	if r := run(t, append([]string{"library", "show", "EAST"}, d...)...); r.code != 0 {
		t.Fatalf("after a refused restore: %+v", r)
	}

	r := run(t, append([]string{"db", "restore", backup}, d...)...)
	if r.code != 0 || !strings.Contains(r.out, "restored") {
		t.Fatalf("restore: %+v", r)
	}
	wantFail(t, run(t, append([]string{"library", "show", "EAST"}, d...)...), "no library EAST")
	if r := run(t, append([]string{"db", "check"}, d...)...); r.code != 0 {
		t.Errorf("check after restore: %+v", r)
	}
	// The replaced file is kept, with the library added after the backup.
	kept, err := boltstore.Open(filepath.Join(dir, boltstore.DefaultFile+".bak"), boltstore.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer kept.Close()
	kept.View(context.Background(), func(tx store.Tx) error {
		if _, err := tx.Library("EAST"); err != nil {
			t.Errorf("the kept file lacks the replaced data: %v", err)
		}
		return nil
	})
}
