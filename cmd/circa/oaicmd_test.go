package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/circa-ils/circa/internal/conformance"
	"github.com/circa-ils/circa/profiles/delivery/sftptest"
	"github.com/circa-ils/circa/profiles/oai"
	"github.com/circa-ils/circa/profiles/publishing"
	"github.com/circa-ils/circa/store"
	"github.com/circa-ils/circa/store/boltstore"
)

const cliRecord = `<?xml version="1.0" encoding="UTF-8"?>
<collection xmlns="http://www.loc.gov/MARC21/slim"><record>
<leader>00000cam a2200000 i 4500</leader>
<controlfield tag="001">cli000000001</controlfield>
<datafield tag="050" ind1="0" ind2="0"><subfield code="a">Z699</subfield><subfield code="b">.C5 2026</subfield></datafield>
<datafield tag="245" ind1="0" ind2="0"><subfield code="a">Cataloguing from the command line</subfield></datafield>
</record></collection>`

func TestCatalogCommands(t *testing.T) {
	dir := seededDir(t)
	file := filepath.Join(t.TempDir(), "rec.xml")
	if err := os.WriteFile(file, []byte(cliRecord), 0o600); err != nil {
		t.Fatal(err)
	}
	r := run(t, "bib", "add", file, "--data-dir", dir)
	m := regexp.MustCompile(`^added bib (\d+) cli000000001: Cataloguing from the command line\n$`).FindStringSubmatch(r.out)
	if r.code != 0 || m == nil {
		t.Fatalf("bib add: %+v", r)
	}
	id := m[1]
	if r := run(t, "bib", "add", file, "--data-dir", dir); r.code != 0 || !strings.HasPrefix(r.out, "replaced bib "+id+" ") {
		t.Fatalf("bib add again: %+v", r)
	}
	steps := []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"item", "add", "39990000000001", "--bib", id, "--location", "MAIN-STACKS"}, 0, "added item 39990000000001 to bib " + id + " at MAIN / MAIN-STACKS\n"},
		{[]string{"item", "add", "39990000000002", "--bib", id, "--location", "NOWHERE"}, 1, ""},
		{[]string{"item", "move", "39990000000001", "BRANCH-STACKS"}, 0, "moved item 39990000000001 to BRANCH / BRANCH-STACKS\n"},
		{[]string{"item", "delete", "39990000000001"}, 0, "deleted item 39990000000001 of bib " + id + "\n"},
		{[]string{"item", "delete", "39990000000001"}, 1, ""},
		{[]string{"bib", "suppress", id}, 0, "suppressed bib " + id + ": Cataloguing from the command line\n"},
		{[]string{"bib", "unsuppress", id}, 0, "unsuppressed bib " + id + ": Cataloguing from the command line\n"},
		{[]string{"bib", "delete", id}, 0, "deleted bib " + id + " cli000000001: Cataloguing from the command line\n"},
		{[]string{"bib", "delete", "id:x"}, 2, ""},
		{[]string{"bib", "delete", "x"}, 1, ""}, // a 001 that names nothing
		{[]string{"bib", "delete", "999999"}, 1, ""},
	}
	for _, s := range steps {
		r := run(t, append(s.args, "--data-dir", dir)...)
		if r.code != s.code || s.out != "" && r.out != s.out {
			t.Errorf("%v: %+v", s.args, r)
		}
	}
	bad := filepath.Join(t.TempDir(), "bad.xml")
	os.WriteFile(bad, []byte("<record><controlfield tag='1'>x</controlfield></record>"), 0o600)
	if r := run(t, "bib", "add", bad, "--data-dir", dir); r.code != 1 || !strings.Contains(r.errOut, "bad.xml") {
		t.Errorf("bad MARCXML: %+v", r)
	}
}

func TestPublishCommands(t *testing.T) {
	dir := seededDir(t)
	pickup := t.TempDir()
	yml := filepath.Join(t.TempDir(), "profile.yaml")
	doc := "code: films\nname: Films\nselection:\n  material_types: [video]\nformat: marcxml.tar.gz\nevery: 24h\n" +
		"target:\n  kind: local\n  local_dir: " + pickup + "\n"
	if err := os.WriteFile(yml, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := run(t, "publish", "profile", "import", yml, "--data-dir", dir); r.code != 0 || r.out != "saved publishing profile films (OAI set profile:films)\n" {
		t.Fatalf("import: %+v", r)
	}
	if r := run(t, "publish", "profile", "list", "--data-dir", dir); r.code != 0 || !strings.Contains(r.out, "films  profile:films  24h0m0s  marcxml.tar.gz  file://"+pickup) {
		t.Fatalf("list: %+v", r)
	}
	r := run(t, "publish", "full", "films", "--data-dir", dir)
	if r.code != 0 || !regexp.MustCompile(`^films: delivered films_1_\d{8}_\d{6}\[000\]_new\.xml\.tar\.gz: \d+ records, 0 deleted\n$`).MatchString(r.out) {
		t.Fatalf("full: %+v", r)
	}
	entries, _ := os.ReadDir(pickup)
	if len(entries) != 2 {
		t.Errorf("pick-up holds %d files", len(entries))
	}
	if r := run(t, "publish", "status", "--data-dir", dir); r.code != 0 || !regexp.MustCompile(`\nfilms +\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ +1 +\d+ +- +-\n`).MatchString(r.out) {
		t.Errorf("status: %+v", r)
	}
	if r := run(t, "publish", "run", "nope", "--data-dir", dir); r.code != 1 {
		t.Errorf("unknown profile: %+v", r)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("code: x\nformat: mods\n"), 0o600)
	if r := run(t, "publish", "profile", "import", bad, "--data-dir", dir); r.code != 1 || !strings.Contains(r.errOut, "format") {
		t.Errorf("bad profile: %+v", r)
	}
	if r := run(t, "publish", "profile", "remove", "films", "--data-dir", dir); r.code != 0 {
		t.Errorf("remove: %+v", r)
	}
}

// TestPublishProfileImportChecksTarget: a publishing profile's delivery
// target is checked on import as a file-exchange profile's is: a missing
// directory or an SFTP server whose host key is not the pinned one refuses
// the whole file and saves nothing, --no-check saves it, and a profile
// imported again with the same target is not checked again.
func TestPublishProfileImportChecksTarget(t *testing.T) {
	dir := seededDir(t)
	pickup := t.TempDir()
	missing := filepath.Join(t.TempDir(), "not-yet")
	srv := sftptest.Start(t)
	key := filepath.Join(t.TempDir(), "id_ed25519")
	if err := os.WriteFile(key, srv.ClientKeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	other := sftptest.Start(t) // another server's host key
	write := func(doc string) string {
		t.Helper()
		path := filepath.Join(t.TempDir(), "profiles.yaml")
		if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	local := func(code, dir string) string {
		return "- code: " + code + "\n  target:\n    kind: local\n    local_dir: " + dir + "\n"
	}
	sftpDoc := func(code, knownHosts string) string {
		return fmt.Sprintf("- code: %s\n  target:\n    kind: sftp\n    host: %s\n    port: %d\n    user: %s\n    private_key: %s\n"+
			"    known_hosts: %q\n    remote_dir: /\n", code, srv.Host, srv.Port, srv.User, key, knownHosts)
	}
	list := func() string {
		t.Helper()
		r := run(t, "publish", "profile", "list", "--data-dir", dir)
		if r.code != 0 {
			t.Fatalf("list: %+v", r)
		}
		return r.out
	}

	r := run(t, "publish", "profile", "import", write(local("GOOD", pickup)+local("LATER", missing)), "--data-dir", dir)
	if r.code != 1 || !strings.Contains(r.errOut, "publishing profile LATER") ||
		!strings.Contains(r.errOut, "target directory does not exist") || !strings.Contains(r.errOut, "--no-check") {
		t.Fatalf("missing directory: %+v", r)
	}
	if out := list(); strings.Contains(out, "GOOD") || strings.Contains(out, "LATER") {
		t.Fatalf("a refused file saved profiles:\n%s", out)
	}
	r = run(t, "publish", "profile", "import", write(sftpDoc("UNION", knownhosts.Line([]string{knownhosts.Normalize(srv.Addr)}, other.HostKey))), "--data-dir", dir)
	if r.code != 1 || !strings.Contains(r.errOut, "publishing profile UNION") || !strings.Contains(r.errOut, "host key") {
		t.Fatalf("wrong host key: %+v", r)
	}
	if r := run(t, "publish", "profile", "import", write(sftpDoc("UNION", srv.KnownHosts)), "--data-dir", dir); r.code != 0 {
		t.Fatalf("reachable SFTP server: %+v", r)
	}
	if got := srv.Logins(); got != 1 {
		t.Fatalf("the check logged in %d times", got)
	}
	if r := run(t, "publish", "profile", "import", write(local("LATER", missing)), "--no-check", "--data-dir", dir); r.code != 0 {
		t.Fatalf("--no-check: %+v", r)
	}
	if out := list(); !strings.Contains(out, "LATER") || !strings.Contains(out, "UNION") {
		t.Fatalf("profiles after --no-check:\n%s", out)
	}
	// The same target again is not checked again; a new one is.
	if r := run(t, "publish", "profile", "import", write(sftpDoc("UNION", srv.KnownHosts)), "--data-dir", dir); r.code != 0 || srv.Logins() != 1 {
		t.Fatalf("unchanged target: %+v, %d logins", r, srv.Logins())
	}
	if r := run(t, "publish", "profile", "import", write(local("LATER", pickup)), "--data-dir", dir); r.code != 0 {
		t.Fatalf("target fixed: %+v", r)
	}
}

// TestOAIHarvestValidate harvests the demo library over HTTP with the
// command, validating every page against the schemas built into circa when
// xmllint is installed.
func TestOAIHarvestValidate(t *testing.T) {
	dir := seededDir(t)
	db, err := boltstore.Open(filepath.Join(dir, boltstore.DefaultFile), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	h, err := publishing.Handler(db, publishing.Options{Name: "Demo", AdminEmails: []string{"oai@library.example.edu"},
		RepositoryID: "library.example.edu"}, oai.Options{PageSize: 500})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	bibs := 0
	db.View(context.Background(), func(tx store.Tx) error {
		return tx.ForEachBib(func(b store.Bib) bool {
			if !b.Temporary {
				bibs++
			}
			return true
		})
	})
	args := []string{"oai", "harvest", srv.URL + "/oai", "--prefix", "marc21"}
	validate := conformance.Have(t, "xmllint")
	if validate {
		args = append(args, "--validate")
	}
	r := run(t, args...)
	if r.code != 0 || !strings.Contains(r.out, "records\t"+strconv.Itoa(bibs)+"\n") {
		t.Fatalf("harvest: %+v", r)
	}
	if validate && !strings.Contains(r.out, "validated\t") {
		t.Errorf("no validation reported: %s", r.out)
	}
	t.Run("without xmllint", func(t *testing.T) {
		t.Setenv("PATH", t.TempDir())
		r := run(t, "oai", "harvest", srv.URL+"/oai", "--prefix", "marc21", "--validate")
		if r.code != 1 || !strings.Contains(r.errOut, "xmllint not found") {
			t.Errorf("--validate without xmllint: %+v", r)
		}
	})
	if r := run(t, "oai", "harvest", srv.URL+"/oai", "--prefix", "mods"); r.code != 1 || !strings.Contains(r.errOut, "cannotDisseminateFormat") {
		t.Errorf("unknown prefix: %+v", r)
	}
}
