package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/circa-ils/circa/store"
)

func TestGroupAndPolicyCommands(t *testing.T) {
	dir := seededDir(t)
	d := []string{"--data-dir", dir}
	cmd := func(args ...string) result { return run(t, append(args, d...)...) }

	// The demo library's groups and policies are records.
	r := cmd("group", "list")
	if r.code != 0 || !strings.Contains(r.out, "GRAD       Graduate students") {
		t.Fatalf("group list:\n%+v", r)
	}
	r = cmd("policy", "list", "--json")
	var pols []store.Policy
	if err := json.Unmarshal([]byte(r.out), &pols); err != nil || len(pols) != 4 {
		t.Fatalf("policy list --json: %v\n%s", err, r.out)
	}

	// Bad arguments exit 2; a misspelt code names the nearest one.
	if r = cmd("group", "add"); r.code != 2 {
		t.Errorf("group add without a code: %+v", r)
	}
	if r = cmd("group", "edit", "GRAD"); r.code != 2 || !strings.Contains(r.errOut, "no setting given") {
		t.Errorf("group edit without flags: %+v", r)
	}
	r = cmd("group", "edit", "GRADD", "--name", "x")
	wantFail(t, r, "no group GRADD", `did you mean "GRAD"`)
	if r.code != 1 {
		t.Errorf("edit of a misspelt group exits %d, want 1", r.code)
	}
	wantFail(t, cmd("policy", "show", "VIDEOS"), "no policy VIDEOS", `did you mean "VIDEO"`)
	wantFail(t, cmd("policy", "remove", "VIDEOS"), "no item policy VIDEOS", `did you mean "VIDEO"`)
	wantFail(t, cmd("group", "add", "GRAD", "--name", "Again"), "group GRAD", "exists")
	wantFail(t, cmd("group", "add", "NO NAME"), "spaces", "needs a name")
	wantFail(t, cmd("policy", "add", "MAP", "--name", "Maps", "--media-type", "011"), `media type "011" is not a SIP2 media type`)

	// Add, edit, show.
	if r = cmd("group", "add", "ALUMNI", "--name", "Alumni"); r.code != 0 || r.out != "added group ALUMNI\n" {
		t.Fatalf("group add: %+v", r)
	}
	if r = cmd("group", "edit", "ALUMNI", "--name", "Alumni association"); r.code != 0 {
		t.Fatalf("group edit: %+v", r)
	}
	r = cmd("group", "show", "ALUMNI", "--json")
	var shown struct {
		Record store.Group    `json:"record"`
		UsedBy map[string]int `json:"used_by"`
	}
	if err := json.Unmarshal([]byte(r.out), &shown); err != nil || shown.Record.Name != "Alumni association" ||
		shown.Record.Created.IsZero() || shown.Record.Updated.Before(shown.Record.Created) || len(shown.UsedBy) != 0 {
		t.Errorf("group show --json: %v %+v", err, shown)
	}
	if r = cmd("policy", "add", "MAP", "--name", "Maps", "--media-type", "000"); r.code != 0 {
		t.Fatalf("policy add: %+v", r)
	}
	r = cmd("policy", "show", "MAP")
	if r.code != 0 || !strings.Contains(r.out, "media type:  000") || !strings.Contains(r.out, "in use:      no") {
		t.Errorf("policy show:\n%s", r.out)
	}

	// An item needs a policy that exists, and takes its media type.
	wantFail(t, cmd("item", "add", "39500000000001", "--bib", "1", "--location", "MAIN-STACKS", "--policy", "MAPS"),
		"no item policy MAPS", `did you mean "MAP"`)
	if r = cmd("item", "add", "39500000000001", "--bib", "1", "--location", "MAIN-STACKS", "--policy", "MAP"); r.code != 0 {
		t.Fatalf("item add: %+v", r)
	}
	r = cmd("item", "show", "39500000000001", "--json")
	if r.code != 0 || !strings.Contains(r.out, `"media_type": "000"`) || !strings.Contains(r.out, `"policy": "MAP"`) {
		t.Errorf("item show:\n%s", r.out)
	}

	// Rules may name only groups and policies that exist.
	orig := cmd("rules", "show").out
	withAlumni := strings.Replace(orig, "groups:\n", "groups:\n  - user_group: ALUMNY\n    loan_limit: 5\n", 1)
	f := writeFile(t, t.TempDir(), "rules.yaml", withAlumni)
	wantFail(t, cmd("rules", "import", f), `group rule 1: user group "ALUMNY" is unknown (did you mean "ALUMNI"?)`)
	f = writeFile(t, t.TempDir(), "rules.yaml", strings.Replace(withAlumni, "ALUMNY", "ALUMNI", 1))
	if r = cmd("rules", "import", f); r.code != 0 {
		t.Fatalf("rules import: %+v", r)
	}

	// Removing what is still named is refused, naming what names it.
	wantFail(t, cmd("group", "remove", "GRAD"), "group GRAD is still in use", "patrons", "1 loan rules (2)", "1 group rules (3)")
	wantFail(t, cmd("group", "remove", "ALUMNI"), "group ALUMNI is still in use", "1 group rules (1)")
	wantFail(t, cmd("policy", "remove", "VIDEO"), "item policy VIDEO is still in use", "items (31000000000004", "2 loan rules (5, 6)")
	wantFail(t, cmd("policy", "remove", "MAP"), "item policy MAP is still in use", "1 items (39500000000001)")
	if r = cmd("rules", "import", writeFile(t, t.TempDir(), "rules.yaml", orig)); r.code != 0 {
		t.Fatalf("rules import: %+v", r)
	}
	if r = cmd("item", "delete", "39500000000001"); r.code != 0 {
		t.Fatalf("item delete: %+v", r)
	}
	for _, c := range [][]string{{"group", "remove", "ALUMNI"}, {"policy", "remove", "MAP"}} {
		if r = cmd(c...); r.code != 0 {
			t.Fatalf("%v: %+v", c, r)
		}
	}
	wantFail(t, cmd("group", "show", "ALUMNI"), "no group ALUMNI")
	if r = cmd("db", "check"); r.code != 0 {
		t.Errorf("db check after the changes: %+v", r)
	}
}

// With a server running, the commands reach it through the admin socket.
func TestGroupCommandsThroughServer(t *testing.T) {
	dir := seededDir(t)
	startServer(t, dir)
	d := []string{"--data-dir", dir}
	if r := run(t, append([]string{"group", "add", "VISITOR", "--name", "Visitors"}, d...)...); r.code != 0 {
		t.Fatalf("group add through the server: %+v", r)
	}
	if r := run(t, append([]string{"group", "list"}, d...)...); r.code != 0 || !strings.Contains(r.out, "VISITOR") {
		t.Fatalf("group list through the server: %+v", r)
	}
	r := run(t, append([]string{"group", "remove", "STAF"}, d...)...)
	wantFail(t, r, "no group STAF", `did you mean "STAFF"`)
}

func TestInstitutionCommand(t *testing.T) {
	dir := seededDir(t)
	d := []string{"--data-dir", dir}
	cmd := func(args ...string) result { return run(t, append(args, d...)...) }

	// The demo seeds its institution.
	if r := cmd("institution", "show"); r.code != 0 || !strings.Contains(r.out, "code\tMAIN\nname\tCirca Demo Library") {
		t.Fatalf("institution show of the demo: %+v", r)
	}
	if r := cmd("institution", "set", "01CIRCA_INST", "--name", "Circa University"); r.code != 0 {
		t.Fatalf("institution set: %+v", r)
	}
	if r := cmd("institution", "show"); !strings.Contains(r.out, "code\t01CIRCA_INST\nname\tCirca University") {
		t.Fatalf("institution show after set: %+v", r)
	}
	wantFail(t, cmd("institution", "set", "TWO WORDS"), "spaces")
	if r := cmd("institution", "show"); !strings.Contains(r.out, "01CIRCA_INST") {
		t.Fatalf("a refused set changed the institution: %+v", r)
	}

	// Until one is set, the institution is the first library by code.
	empty := []string{"--data-dir", t.TempDir()}
	for _, args := range [][]string{{"db", "init"}, {"library", "add", "WEST", "--name", "West", "--timezone", "UTC", "--currency", "USD"},
		{"library", "add", "EAST", "--name", "East", "--timezone", "UTC", "--currency", "USD"}} {
		if r := run(t, append(args, empty...)...); r.code != 0 {
			t.Fatalf("%v: %+v", args, r)
		}
	}
	if r := run(t, append([]string{"institution", "show"}, empty...)...); r.code != 0 || !strings.Contains(r.out, "code\tEAST") {
		t.Fatalf("institution show before set: %+v", r)
	}
}
