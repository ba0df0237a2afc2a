package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/circa-ils/circa/fixtures"
	"github.com/circa-ils/circa/store"
)

// auditTrail reads the whole trail through circa audit list --json.
func auditTrail(t *testing.T, dir string) []store.AuditEntry {
	t.Helper()
	r := run(t, "audit", "list", "--json", "--data-dir", dir)
	if r.code != 0 {
		t.Fatalf("audit list: %+v", r)
	}
	var es []store.AuditEntry
	if err := json.Unmarshal([]byte(r.out), &es); err != nil {
		t.Fatalf("audit list --json: %v\n%s", err, r.out)
	}
	for i := range es {
		es[i].Before, es[i].After = compactJSON(es[i].Before), compactJSON(es[i].After)
	}
	return es
}

func compactJSON(raw json.RawMessage) json.RawMessage {
	if raw == nil {
		return nil
	}
	var b bytes.Buffer
	json.Compact(&b, raw)
	return b.Bytes()
}

// TestAuditRecordsEveryKindOfChange runs each kind of change through the
// command line against a real store and checks the entries it leaves: who
// (this process's user), which command, what record, before and after, and
// that no secret given on the command line or stored hashed appears.
func TestAuditRecordsEveryKindOfChange(t *testing.T) {
	dir := seededDir(t)
	in := t.TempDir()
	drop, drop2 := t.TempDir(), t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(in, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	rules := run(t, "rules", "show", "--data-dir", dir).out
	rulesFile := write("rules.yaml", strings.Replace(rules, "loan_days: 21", "loan_days: 28", 1))
	mapping := write("mapping.yaml", kohaMapping)
	patrons := write("patrons.csv", kohaPatrons)
	pinFile := write("pin", "97531864\n")
	staffPass1 := write("staff1", "staff-secret-pass-1\n")
	staffPass2 := write("staff2", "staff-secret-pass-2\n")
	marcFile := kohaFile(t, kohaRecords()[0])
	pubFile := write("pub.yaml", "code: FILMS\nname: Films\nselection:\n  material_types: [video]\nformat: marcxml.tar.gz\nevery: 24h\n"+
		"target:\n  kind: local\n  local_dir: "+drop+"\n")
	me := localActor()

	// The secrets any entry could leak: plain ones given here, and the
	// hashes stored for them (any argon2 or bcrypt string).
	secrets := []string{"sc-pass-9", "sc-pass-10", "ncip-key-7", "annex-shh-3", "97531864", "staff-secret-pass", "$argon2", "$2a$", "$2b$"}

	type step struct {
		name   string
		args   []string
		stdin  string
		kind   string
		key    string
		change string // created, changed, removed or summary
		check  func(t *testing.T, e store.AuditEntry)
	}
	masked := func(field, want string) func(*testing.T, store.AuditEntry) {
		return func(t *testing.T, e store.AuditEntry) {
			if !strings.Contains(string(e.After), `"`+field+`":"`+want+`"`) {
				t.Errorf("after should mark %s %q: %s", field, want, e.After)
			}
		}
	}
	steps := []step{
		{name: "library", args: []string{"library", "add", "WEST", "--name", "West", "--timezone", "UTC", "--currency", "USD"}, kind: "library", key: "WEST", change: "created"},
		{name: "location", args: []string{"location", "add", "WEST-STACKS", "--library", "WEST", "--name", "West stacks"}, kind: "location", key: "WEST-STACKS", change: "created"},
		{name: "desk", args: []string{"desk", "add", "WEST-CIRC", "--library", "WEST", "--locations", "WEST-STACKS"}, kind: "desk", key: "WEST-CIRC", change: "created"},
		{name: "institution", args: []string{"institution", "set", "MAINU", "--name", "Main University"}, kind: "setting", key: "institution", change: "changed"},
		{name: "item add", args: []string{"item", "add", "39000000000777", "--bib", "id:1", "--location", "MAIN-STACKS"}, kind: "item", key: "39000000000777", change: "created"},
		{name: "item move", args: []string{"item", "move", "39000000000777", "MAIN-REF"}, kind: "item", key: "39000000000777", change: "changed"},
		{name: "item delete", args: []string{"item", "delete", "39000000000777"}, kind: "item", key: "39000000000777", change: "removed"},
		{name: "kiosk messages", args: []string{"messages", "set", "--profile", "kiosk1", "--lang", "eng", "busy", "Busy, one moment"}, kind: "profile", key: "selfcheck kiosk1", change: "changed",
			check: func(t *testing.T, e store.AuditEntry) {
				if !strings.Contains(string(e.After), "Busy, one moment") {
					t.Errorf("message not in after: %s", e.After)
				}
			}},
		{name: "group", args: []string{"group", "add", "ALUMNI", "--name", "Alumni"}, kind: "group", key: "ALUMNI", change: "created"},
		{name: "policy", args: []string{"policy", "add", "MAP", "--name", "Maps"}, kind: "policy", key: "MAP", change: "created"},
		{name: "rules", args: []string{"rules", "import", rulesFile}, kind: "rules", key: "rules", change: "changed",
			check: func(t *testing.T, e store.AuditEntry) {
				if !strings.Contains(string(e.Before), `"loan_days":21`) || !strings.Contains(string(e.After), `"loan_days":28`) {
					t.Errorf("rules before/after: %.200s / %.200s", e.Before, e.After)
				}
			}},
		{name: "selfcheck profile", args: []string{"profile", "selfcheck", "add", "K9", "--password", "sc-pass-9", "--library", "MAIN", "--institution", "MAIN"},
			kind: "profile", key: "selfcheck K9", change: "created", check: masked("password_hash", store.Masked)},
		{name: "selfcheck password", args: []string{"profile", "selfcheck", "edit", "K9", "--password", "sc-pass-10"},
			kind: "profile", key: "selfcheck K9", change: "changed", check: masked("password_hash", store.MaskedChanged)},
		{name: "ncip partner key", args: []string{"profile", "ncip", "edit", "ILL", "--api-key", "ncip-key-7"},
			kind: "profile", key: "ncip ILL", change: "changed", check: masked("api_key_hash", store.MaskedChanged)},
		{name: "storage shared secret", args: []string{"profile", "storage", "edit", "ANNEX", "--shared-secret", "annex-shh-3"},
			kind: "profile", key: "storage ANNEX", change: "changed", check: masked("shared_secret_hash", store.MaskedChanged)},
		{name: "exchange profile", args: []string{"profile", "bursar", "add", "BUR", "--library", "MAIN", "--target", "local", "--local-dir", drop, "--port", "0", "--fee-types", "04,05"},
			kind: "profile", key: "bursar BUR", change: "created"},
		{name: "exchange run", args: []string{"profile", "run", "BUR"}, kind: "exchange run", key: "BUR", change: "summary",
			check: func(t *testing.T, e store.AuditEntry) {
				if !strings.Contains(string(e.After), `"trigger":"manual"`) || e.Profile != "BUR" {
					t.Errorf("run entry: %+v %s", e, e.After)
				}
			}},
		{name: "exchange resend", args: []string{"profile", "run", "BUR", "--resend", "1"}, kind: "exchange run", key: "BUR", change: "summary",
			check: func(t *testing.T, e store.AuditEntry) {
				if !strings.Contains(string(e.After), `"trigger":"resend 1"`) {
					t.Errorf("resend entry: %s", e.After)
				}
			}},
		{name: "second exchange profile", args: []string{"profile", "bursar", "add", "BUR2", "--library", "MAIN", "--target", "local", "--local-dir", drop2, "--port", "0", "--fee-types", "04"},
			kind: "profile", key: "bursar BUR2", change: "created"},
		{name: "exchange hand-over", args: []string{"profile", "bursar", "remove", "BUR", "--hand-to", "BUR2"}, kind: "profile", key: "bursar BUR", change: "removed"},
		{name: "publishing profile", args: []string{"publish", "profile", "import", pubFile}, kind: "profile", key: "publishing FILMS", change: "created"},
		{name: "patron add", args: []string{"patron", "add", "P-AUDIT", "--group", "UNDERGRAD", "--library", "MAIN", "--last", "Audit"}, kind: "patron", key: "P-AUDIT", change: "created"},
		{name: "patron edit", args: []string{"patron", "edit", "P-AUDIT", "--first", "Ada"}, kind: "patron", key: "P-AUDIT", change: "changed",
			check: func(t *testing.T, e store.AuditEntry) {
				if strings.Contains(string(e.Before), "Ada") || !strings.Contains(string(e.After), `"first_name":"Ada"`) {
					t.Errorf("edit before/after: %s / %s", e.Before, e.After)
				}
			}},
		{name: "block", args: []string{"patron", "block", "P-AUDIT", "--note", "card reported lost"}, kind: "patron", key: "P-AUDIT", change: "changed",
			check: func(t *testing.T, e store.AuditEntry) {
				if !strings.Contains(string(e.After), "card reported lost") {
					t.Errorf("block not in after: %s", e.After)
				}
			}},
		{name: "unblock", args: []string{"patron", "unblock", "P-AUDIT"}, kind: "patron", key: "P-AUDIT", change: "changed"},
		{name: "PIN reset", args: []string{"patron", "pin", "set", "P-AUDIT", "--pin-file", pinFile}, kind: "patron", key: "P-AUDIT", change: "changed",
			check: masked("pin_hash", store.MaskedChanged)},
		{name: "fee paid", args: []string{"fee", "pay", fixtures.PatronFees, "1.00"}, kind: "fee", key: "", change: "changed",
			check: func(t *testing.T, e store.AuditEntry) {
				if e.Patron != fixtures.PatronFees {
					t.Errorf("fee entry names patron %q", e.Patron)
				}
			}},
		{name: "fee waived", args: []string{"fee", "pay", fixtures.PatronFees, "1.00", "--waive"}, kind: "fee", key: "", change: "changed",
			check: func(t *testing.T, e store.AuditEntry) {
				if !strings.Contains(string(e.After), "waive") {
					t.Errorf("waiver not in after: %s", e.After)
				}
			}},
		{name: "checkout", args: []string{"checkout", fixtures.PatronGood, fixtures.ItemAvailable}, kind: "loan", key: "", change: "created"},
		{name: "import", args: []string{"import", "patrons", patrons, "--mapping", mapping}, kind: "import", key: "patrons", change: "summary",
			check: func(t *testing.T, e store.AuditEntry) {
				if !strings.Contains(string(e.After), `"records":3`) || !strings.Contains(string(e.After), `"problems":1`) {
					t.Errorf("import counts: %s", e.After)
				}
			}},
		{name: "catalogue import", args: []string{"import", "marc", marcFile, "--items", "koha"}, kind: "import", key: "marc", change: "summary",
			check: func(t *testing.T, e store.AuditEntry) {
				if !strings.Contains(string(e.After), `"records":1`) || !strings.Contains(string(e.After), `"files":["koha.mrc"]`) {
					t.Errorf("import marc entry: %s", e.After)
				}
			}},
		{name: "certificate authority", args: []string{"tls", "init"}, kind: "certificate", key: "server", change: "summary"},
		{name: "client certificate", args: []string{"tls", "issue", "--profile", "K9"}, kind: "certificate", key: "client K9", change: "summary",
			check: func(t *testing.T, e store.AuditEntry) {
				if e.Profile != "K9" || !strings.Contains(string(e.After), ".pem") {
					t.Errorf("certificate entry: %+v %s", e, e.After)
				}
			}},
		{name: "staff add", args: []string{"staff", "add", "rosa", "--password-file", staffPass1}, kind: "staff", key: "rosa", change: "created",
			check: masked("password_hash", store.Masked)},
		{name: "staff passwd", args: []string{"staff", "passwd", "rosa", "--password-file", staffPass2}, kind: "staff", key: "rosa", change: "changed",
			check: masked("password_hash", store.MaskedChanged)},
		{name: "staff remove", args: []string{"staff", "remove", "rosa"}, kind: "staff", key: "rosa", change: "removed"},
		{name: "patron remove", args: []string{"patron", "remove", "P-AUDIT"}, kind: "patron", key: "P-AUDIT", change: "removed"},
		{name: "retention", args: []string{"audit", "retention", "90d"}, kind: "setting", key: "audit retention", change: "changed"},
	}
	// The seeded directory's trail starts with the seeding, as one entry.
	initial := auditTrail(t, dir)
	if len(initial) != 1 || initial[0].Kind != "seed" || !initial[0].Summary || !strings.Contains(string(initial[0].After), `"Patrons":`) {
		t.Fatalf("trail of a seeded directory: %+v", initial)
	}
	seen := len(initial)
	for _, s := range steps {
		var out, errOut bytes.Buffer
		code := execute(context.Background(), append(s.args, "--data-dir", dir), strings.NewReader(s.stdin), &out, &errOut)
		if code != 0 && s.kind != "import" {
			t.Fatalf("%s: exit %d: %s %s", s.name, code, out.String(), errOut.String())
		}
		all := auditTrail(t, dir)
		fresh := all[seen:]
		seen = len(all)
		var found *store.AuditEntry
		for i, e := range fresh {
			if e.Actor.UID != strconv.Itoa(os.Getuid()) || e.Actor.User != me.User || e.Actor.Via != store.ViaCommandLine {
				t.Errorf("%s: actor %+v, want %+v", s.name, e.Actor, me)
			}
			if want := "circa " + strings.Join(commandWords(s.args), " "); e.Command != want {
				t.Errorf("%s: command %q, want %q", s.name, e.Command, want)
			}
			raw, _ := json.Marshal(e)
			for _, sec := range secrets {
				if strings.Contains(string(raw), sec) {
					t.Errorf("%s: entry %s %s carries %q: %s", s.name, e.Kind, e.Key, sec, raw)
				}
			}
			if found == nil && e.Kind == s.kind && (s.key == "" || e.Key == s.key) {
				found = &fresh[i]
			}
		}
		if found == nil {
			t.Errorf("%s: no %s %s entry among %d new ones", s.name, s.kind, s.key, len(fresh))
			continue
		}
		e := *found
		switch s.change {
		case "created", "summary":
			if e.Before != nil || e.After == nil || e.Summary != (s.change == "summary") {
				t.Errorf("%s: %s entry with before %s after %s, summary %v", s.name, s.change, e.Before, e.After, e.Summary)
			}
		case "changed":
			if e.Before == nil || e.After == nil || bytes.Equal(e.Before, e.After) {
				t.Errorf("%s: change with before %s after %s", s.name, e.Before, e.After)
			}
		case "removed":
			if e.Before == nil || e.After != nil {
				t.Errorf("%s: removal with before %s after %s", s.name, e.Before, e.After)
			}
		}
		if s.check != nil {
			s.check(t, e)
		}
	}

	// The import is one entry, not one per patron.
	var patronEntries int
	for _, e := range auditTrail(t, dir) {
		if e.Kind == "patron" && strings.HasPrefix(e.Key, "2300000") {
			patronEntries++
		}
	}
	if patronEntries != 0 {
		t.Errorf("the import left %d per-patron entries", patronEntries)
	}
	// Reading changes nothing in the trail.
	before := len(auditTrail(t, dir))
	run(t, "patron", "show", fixtures.PatronGood, "--data-dir", dir)
	if after := len(auditTrail(t, dir)); after != before {
		t.Errorf("patron show added %d entries", after-before)
	}
}

// commandWords is the command path of args: the words before the first
// flag or argument that is not a subcommand.
func commandWords(args []string) []string {
	cmd, _, err := newRootCommand(&app{}).Find(args)
	if err != nil {
		return nil
	}
	return strings.Fields(strings.TrimPrefix(cmd.CommandPath(), "circa "))
}

// TestAuditThroughAdminSocketNamesThePeer changes a patron through a running
// server's admin socket: the entry names the user the kernel reports for
// the connecting process. A kiosk's checkout on the same server is not in
// the trail.
func TestAuditThroughAdminSocketNamesThePeer(t *testing.T) {
	s := startDemoServer(t)
	if r := run(t, "patron", "block", fixtures.PatronGood, "--note", "socket block", "--data-dir", s.dir); r.code != 0 {
		t.Fatalf("block: %+v", r)
	}
	r := run(t, "sip2", "send", "--addr", s.sip2, "--login", fixtures.KioskLogin+":"+fixtures.KioskPassword,
		"11 AO=MAIN AA="+fixtures.PatronExternal+" AB="+fixtures.ItemDiacritics+" AC= AD="+fixtures.DemoPIN)
	if r.code != 0 || !strings.Contains(r.out, `ok                         "1"`) {
		t.Fatalf("kiosk checkout: %+v", r)
	}
	es := auditTrail(t, s.dir)
	var blocks int
	for _, e := range es {
		if e.Kind == "loan" || e.Key == fixtures.ItemDiacritics {
			t.Errorf("kiosk traffic audited: %+v", e)
		}
		if e.Kind != "patron" || e.Key != fixtures.PatronGood {
			continue
		}
		blocks++
		want := actorOfUID(os.Getuid(), store.ViaAdminSocket)
		if e.Actor != want || e.Actor.UID == "" {
			t.Errorf("actor %+v, want %+v", e.Actor, want)
		}
		if e.Command != "circa patron block" || !strings.Contains(string(e.After), "socket block") {
			t.Errorf("entry: %+v %s", e, e.After)
		}
	}
	if blocks != 1 {
		t.Fatalf("%d block entries in %+v", blocks, es)
	}
	// The table names the user and the socket, in the library's zone.
	r = run(t, "audit", "list", "--patron", fixtures.PatronGood, "--data-dir", s.dir)
	if r.code != 0 || !strings.Contains(r.out, "(socket)") || !strings.Contains(r.out, "patron block") ||
		!strings.Contains(r.out, "changed blocks") || !(strings.Contains(r.out, " EST ") || strings.Contains(r.out, " EDT ")) {
		t.Fatalf("audit list: %+v", r)
	}
}
