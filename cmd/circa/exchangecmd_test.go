package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
