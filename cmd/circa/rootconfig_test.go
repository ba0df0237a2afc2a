package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/circa-ils/circa/fixtures"
	"github.com/circa-ils/circa/store/boltstore"
)

// runAs runs a command line as execute would, with environ for the process's
// environment and systemFile for the system install's configuration file.
func runAs(t *testing.T, systemFile string, environ []string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	cwd, _ := os.Getwd()
	a := &app{in: strings.NewReader(""), out: &out, errOut: &errOut, argv: args, cwd: cwd, environ: environ, systemConfig: systemFile}
	code := a.run(context.Background())
	return result{code, out.String(), errOut.String()}
}

// unusableDir is a data directory no command can open: it lies under a
// regular file.
func unusableDir(t *testing.T) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "not-a-directory")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(file, "data")
}

// An admin command takes its data directory from the configuration file
// (relative to the file), opening the store itself while no server runs and
// reaching the running server's admin socket while one does.
func TestAdminCommandReadsConfigFile(t *testing.T) {
	dir := seededDir(t)
	file := writeConfig(t, dir, "data:\n  dir: .\nlog:\n  format: console\n")
	show := []string{"profile", "selfcheck", "show", fixtures.KioskLogin, "--config", file}
	r := run(t, show...)
	if r.code != 0 || !strings.Contains(r.out, "none runs on this data directory") {
		t.Fatalf("without a server: %+v", r)
	}
	if r := run(t, "patron", "show", fixtures.PatronGood, "--config", file); r.code != 0 || !strings.Contains(r.out, fixtures.PatronGood) {
		t.Fatalf("patron show without a server: %+v", r)
	}

	startDemoServerIn(t, dir)
	r = run(t, show...)
	if r.code != 0 || strings.Contains(r.out, "none runs on this data directory") {
		t.Fatalf("through the admin socket: %+v", r)
	}
	// The server holds the store: only the admin socket can have answered.
	if r := run(t, "patron", "show", fixtures.PatronGood, "--config", file); r.code != 0 || !strings.Contains(r.out, fixtures.PatronGood) {
		t.Fatalf("patron show through the admin socket: %+v", r)
	}
	// Inside the server the command works on the data directory its caller
	// settled: the certificate is signed by the CA in DATA/tls and put there.
	r = run(t, "tls", "issue", "--profile", "kiosk1", "--config", file)
	if r.code != 0 {
		t.Fatalf("tls issue through the admin socket: %+v", r)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "tls", "*kiosk1*")); len(m) == 0 {
		t.Fatalf("tls issue wrote no certificate in %s: %+v", filepath.Join(dir, "tls"), r)
	}
	if r := runAs(t, "", []string{"CIRCA_CONFIG=" + file}, "library", "list"); r.code != 0 || r.out == "" {
		t.Fatalf("library list through the admin socket, file from CIRCA_CONFIG: %+v", r)
	}
}

// The root settings of an admin command: file < CIRCA_ variable < flag, and
// --config over CIRCA_CONFIG. A source that loses is never opened: each
// loser here names a data directory that cannot be.
func TestAdminCommandSettingsPrecedence(t *testing.T) {
	good := seededDir(t)
	bad := unusableDir(t)
	goodFile := writeConfig(t, t.TempDir(), "data:\n  dir: "+good+"\n")
	badFile := writeConfig(t, t.TempDir(), "data:\n  dir: "+bad+"\n")
	show := []string{"patron", "show", fixtures.PatronGood}
	for _, c := range []struct {
		name    string
		environ []string
		args    []string
		works   bool
	}{
		{"file", nil, []string{"--config", goodFile}, true},
		{"variable over file", []string{"CIRCA_DATA_DIR=" + good}, []string{"--config", badFile}, true},
		{"variable over file, refused", []string{"CIRCA_DATA_DIR=" + bad}, []string{"--config", goodFile}, false},
		{"flag over variable and file", []string{"CIRCA_DATA_DIR=" + bad}, []string{"--config", badFile, "--data-dir", good}, true},
		{"CIRCA_CONFIG", []string{"CIRCA_CONFIG=" + goodFile}, nil, true},
		{"--config over CIRCA_CONFIG", []string{"CIRCA_CONFIG=" + goodFile}, []string{"--config", badFile}, false},
		{"--config over CIRCA_CONFIG, refused", []string{"CIRCA_CONFIG=" + badFile}, []string{"--config", goodFile}, true},
	} {
		r := runAs(t, "", c.environ, append(show, c.args...)...)
		if works := r.code == 0 && strings.Contains(r.out, fixtures.PatronGood); works != c.works {
			t.Errorf("%s: %+v", c.name, r)
		}
		if !c.works && !strings.Contains(r.errOut, "not a directory") {
			t.Errorf("%s: not refused for the data directory: %+v", c.name, r)
		}
	}

	// The log settings come from the file too, and a variable overrides it.
	logFile := writeConfig(t, t.TempDir(), "data:\n  dir: "+good+"\nlog:\n  level: verbose\n")
	if r := runAs(t, "", nil, append(show, "--config", logFile)...); r.code != 1 ||
		strings.TrimSpace(r.errOut) != "circa: "+logFile+`:4: log.level: "verbose" is not one of debug, info, warn, error` {
		t.Errorf("log.level from the file: %+v", r)
	}
	logFile = writeConfig(t, t.TempDir(), "data:\n  dir: "+good+"\nlog:\n  format: console\n")
	r := runAs(t, "", []string{"CIRCA_LOG_FORMAT=xml"}, append(show, "--config", logFile)...)
	if r.code != 1 || strings.TrimSpace(r.errOut) != `circa: CIRCA_LOG_FORMAT: "xml" is not one of json, console` {
		t.Errorf("CIRCA_LOG_FORMAT over the file: %+v", r)
	}
	if r := runAs(t, "", []string{"CIRCA_LOG_FORMAT=xml"}, append(show, "--config", logFile, "--log-format", "json")...); r.code != 0 {
		t.Errorf("--log-format over CIRCA_LOG_FORMAT: %+v", r)
	}
}

// A bad file stops an admin command with serve's messages, each naming its
// line and key, its settings of serve alone included, and changes nothing.
func TestAdminCommandConfigErrors(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	file := writeConfig(t, dir, `data:
  dir: 2024
log:
  format: xml
sip2:
  tls_adr: ":6443"
`)
	r := run(t, "library", "add", "BRANCH", "--name", "Branch", "--config", file)
	want := []string{
		"circa: " + file + `:2: data.dir: want text, not the number 2024 (quote it: "...")`,
		"circa: " + file + `:4: log.format: "xml" is not one of json, console`,
		"circa: " + file + `:6: sip2.tls_adr: unknown key (did you mean "sip2.tls_addr"?)`,
	}
	if r.code != 1 || strings.TrimSpace(r.errOut) != strings.Join(want, "\n") {
		t.Fatalf("got %+v\nwant:\n%s", r, strings.Join(want, "\n"))
	}
	if _, err := os.Stat(filepath.Join(dir, "2024")); !os.IsNotExist(err) {
		t.Fatalf("a data directory was made: %v", err)
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Fatalf("a data directory was made: %v", err)
	}

	missing := filepath.Join(dir, "missing.yaml")
	if r := runAs(t, "", []string{"CIRCA_CONFIG=" + missing}, "library", "list"); r.code != 1 ||
		!strings.Contains(r.errOut, "configuration file: open "+missing+": no such file or directory") {
		t.Fatalf("a missing file: %+v", r)
	}
	// Commands that read no data directory are not stopped by the file.
	for _, args := range [][]string{{"version"}, {"completion", "bash"}, {cobra.ShellCompRequestCmd, "library", ""}} {
		if r := runAs(t, "", []string{"CIRCA_CONFIG=" + missing}, args...); r.code != 0 || r.out == "" {
			t.Fatalf("%v: %+v", args, r)
		}
	}
	if r := runAs(t, "", []string{"CIRCA_CONFIG=" + file}, "config", "check", writeConfig(t, t.TempDir(), "log:\n  level: warn\n")); r.code != 0 {
		t.Fatalf("config check of another file: %+v", r)
	}
}

// The system install's file is read when no --config, CIRCA_CONFIG,
// --data-dir or CIRCA_DATA_DIR is given; a missing one is no file, and one
// that exists but cannot be read is an error rather than a fallback to ./data.
func TestSystemConfigFile(t *testing.T) {
	good := seededDir(t)
	system := writeConfig(t, t.TempDir(), "data:\n  dir: "+good+"\n")
	show := []string{"patron", "show", fixtures.PatronGood}
	if r := runAs(t, system, nil, show...); r.code != 0 || !strings.Contains(r.out, fixtures.PatronGood) {
		t.Fatalf("from the system file: %+v", r)
	}
	got := map[string][2]string{}
	r := runAs(t, system, nil, "config", "show")
	for _, line := range strings.Split(strings.TrimSpace(r.out), "\n")[1:] {
		f := regexpColumns.Split(line, -1)
		got[f[0]] = [2]string{f[1], f[2]}
	}
	if want := [2]string{good, system + ":2"}; r.code != 0 || got["data.dir"] != want {
		t.Fatalf("config show with the system file: %+v, data.dir %q", r, got["data.dir"])
	}

	bad := unusableDir(t)
	for name, c := range map[string]struct {
		environ []string
		args    []string
	}{
		"--data-dir":     {nil, []string{"--data-dir", bad}},
		"CIRCA_DATA_DIR": {[]string{"CIRCA_DATA_DIR=" + bad}, nil},
		"CIRCA_CONFIG":   {[]string{"CIRCA_CONFIG=" + writeConfig(t, t.TempDir(), "data:\n  dir: "+bad+"\n")}, nil},
		"--config":       {nil, []string{"--config", writeConfig(t, t.TempDir(), "data:\n  dir: "+bad+"\n")}},
	} {
		if r := runAs(t, system, c.environ, append(show, c.args...)...); r.code != 1 || !strings.Contains(r.errOut, "not a directory") {
			t.Errorf("with %s the system file was read: %+v", name, r)
		}
	}

	work := t.TempDir()
	t.Chdir(work)
	if r := runAs(t, filepath.Join(work, "absent.yaml"), nil, "library", "list"); r.code != 0 {
		t.Fatalf("without a system file: %+v", r)
	}
	if _, err := os.Stat(filepath.Join(work, "data", boltstore.DefaultFile)); err != nil {
		t.Fatalf("without a system file the data directory is not ./data: %v", err)
	}
	// An empty --config or CIRCA_CONFIG is no file: ./data, not the system file's.
	for name, c := range map[string]struct {
		environ []string
		args    []string
	}{
		"--config \"\"": {nil, []string{"--config", ""}},
		"CIRCA_CONFIG=": {[]string{"CIRCA_CONFIG="}, nil},
	} {
		r := runAs(t, system, c.environ, append(show, c.args...)...)
		if r.code != 1 || !strings.Contains(r.errOut, "no patron") && !strings.Contains(r.errOut, fixtures.PatronGood) {
			t.Errorf("%s read the system file: %+v", name, r)
		}
	}

	if os.Geteuid() == 0 {
		t.Skip("root reads any file")
	}
	if err := os.Chmod(system, 0); err != nil {
		t.Fatal(err)
	}
	r = runAs(t, system, nil, show...)
	if r.code != 1 || !strings.Contains(r.errOut, "configuration file: open "+system+": permission denied") ||
		!strings.Contains(r.errOut, "--data-dir") {
		t.Fatalf("an unreadable system file: %+v", r)
	}
	if _, err := os.Stat(filepath.Join(work, "data", boltstore.DefaultFile)); err != nil {
		t.Fatal(err)
	}
}
