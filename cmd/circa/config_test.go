package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

// flagTypes is the pflag types each kind of setting may sit on (PATH: a
// --NAME-file flag of a secret, read once the settings are settled).
var flagTypes = map[settingKind][]string{
	kindText: {"string"}, kindPath: {"string", "PATH"}, kindAddr: {"string"}, kindAddrOrOff: {"string"}, kindURL: {"string"},
	kindChoice: {"string"}, kindCount: {"int"}, kindBool: {"bool"}, kindDuration: {"duration"}, kindEmails: {"stringSlice"},
}

// Every flag circa serve takes, its own and those it inherits, has a row in
// the settings table, and every row names a flag serve has, of the type its
// kind reads: a flag added without a key fails here.
func TestEveryServeFlagHasAKey(t *testing.T) {
	root := newRootCommand(&app{})
	serve, _, err := root.Find([]string{"serve"})
	if err != nil {
		t.Fatal(err)
	}
	byFlag := map[string]setting{}
	keys, envs := map[string]bool{}, map[string]bool{}
	for _, s := range settings {
		if _, dup := byFlag[s.flag]; dup || keys[s.key] || envs[envName(s.key)] {
			t.Errorf("%s (--%s): flag, key or environment variable used twice", s.key, s.flag)
		}
		byFlag[s.flag], keys[s.key], envs[envName(s.key)] = s, true, true
		if slices.Contains(otherVariables, envName(s.key)) {
			t.Errorf("%s: %s is read elsewhere as something else", s.key, envName(s.key))
		}
		if (s.kind == kindChoice) != (len(s.choices) > 0) {
			t.Errorf("%s: choices belong to, and only to, a kindChoice", s.key)
		}
	}
	seen := map[string]bool{}
	check := func(f *pflag.Flag) {
		if f.Name == "help" || f.Name == "config" {
			return
		}
		seen[f.Name] = true
		s, ok := byFlag[f.Name]
		if !ok {
			t.Errorf("serve flag --%s has no key in the settings table (cmd/circa/config.go)", f.Name)
			return
		}
		if want := flagTypes[s.kind]; !slices.Contains(want, f.Value.Type()) {
			t.Errorf("%s: flag --%s is a %s, but the kind of the key reads a %s", s.key, f.Name, f.Value.Type(), strings.Join(want, " or "))
		}
		if err := s.check(defaultValues(f)); err != nil {
			t.Errorf("%s: the default of --%s is refused: %v", s.key, f.Name, err)
		}
	}
	serve.LocalFlags().VisitAll(check)
	serve.InheritedFlags().VisitAll(check)
	for _, s := range settings {
		if !seen[s.flag] {
			t.Errorf("%s: circa serve has no flag --%s", s.key, s.flag)
		}
	}
	if !seen["data-dir"] || !seen["http-addr"] {
		t.Fatal("the walk missed serve's own or inherited flags")
	}
}

// regexpColumns splits a line of config show's table.
var regexpColumns = regexp.MustCompile(`\s{2,}`)

func defaultValues(f *pflag.Flag) []string {
	if sv, ok := f.Value.(pflag.SliceValue); ok {
		return sv.GetSlice()
	}
	return []string{f.DefValue}
}

// writeConfig writes a configuration file into dir and returns its path.
func writeConfig(t *testing.T, dir, text string) string {
	t.Helper()
	path := filepath.Join(dir, "circa.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// showSettings runs circa config show and returns each key's value and
// origin.
func showSettings(t *testing.T, args ...string) map[string][2]string {
	t.Helper()
	r := run(t, append([]string{"config", "show"}, args...)...)
	if r.code != 0 {
		t.Fatalf("config show %v: %+v", args, r)
	}
	got := map[string][2]string{}
	for _, line := range strings.Split(strings.TrimSpace(r.out), "\n")[1:] {
		f := regexpColumns.Split(line, -1)
		if len(f) != 3 {
			t.Fatalf("config show line %q", line)
		}
		got[f[0]] = [2]string{f[1], f[2]}
	}
	if len(got) != len(settings) {
		t.Fatalf("config show printed %d settings, want %d: %s", len(got), len(settings), r.out)
	}
	return got
}

// Defaults < file < CIRCA_ variables < flags, each value's origin named;
// relative paths in the file are relative to the file's directory.
func TestSettingsPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := writeConfig(t, dir, `# a comment
http:
  addr: "127.0.0.1:9001"
oai:
  name: From the file
  admin_emails: [a@example.org, b@example.org]
tls:
  cert: certs/server.pem
  key: /etc/ssl/circa-key.pem
sip2:
  addr: ""
log:
  level: debug
`)
	t.Setenv("CIRCA_OAI_NAME", "From the environment")
	t.Setenv("CIRCA_LOG_LEVEL", "warn")
	t.Setenv("CIRCA_LIMITS_MAX_CONNS", "500")
	got := showSettings(t, "--config", file, "--log-level", "error")
	want := map[string][2]string{
		"http.addr":         {"127.0.0.1:9001", file + ":3"},
		"oai.name":          {"From the environment", "env CIRCA_OAI_NAME"},
		"oai.admin_emails":  {"a@example.org,b@example.org", file + ":6"},
		"tls.cert":          {filepath.Join(dir, "certs", "server.pem"), file + ":8"},
		"tls.key":           {"/etc/ssl/circa-key.pem", file + ":9"},
		"sip2.addr":         {`""`, file + ":11"},
		"log.level":         {"error", "flag --log-level"},
		"limits.max_conns":  {"500", "env CIRCA_LIMITS_MAX_CONNS"},
		"sip2.tls_addr":     {":6443", "default"},
		"oai.repository_id": {"catalog.circa.invalid", "default"},
	}
	for key, w := range want {
		if got[key] != w {
			t.Errorf("%s: got %q, want %q", key, got[key], w)
		}
	}
	// --demo keeps SIP2 over TLS on loopback unless an address is given.
	if g := showSettings(t, "--demo")["sip2.tls_addr"]; g != [2]string{demoTLSAddr, "default with --demo"} {
		t.Errorf("--demo: %q", g)
	}
	writeConfig(t, dir, "demo: true\n")
	if g := showSettings(t, "--config", file)["sip2.tls_addr"]; g != [2]string{demoTLSAddr, "default with --demo"} {
		t.Errorf("demo: true in the file: %q", g)
	}
	if g := showSettings(t, "--demo", "--sip2-tls-addr", ":7443")["sip2.tls_addr"]; g != [2]string{":7443", "flag --sip2-tls-addr"} {
		t.Errorf("--demo with an address: %q", g)
	}
	// A variable set to nothing is a value: it turns the listener off.
	t.Setenv("CIRCA_SIP2_TLS_ADDR", "")
	if g := showSettings(t)["sip2.tls_addr"]; g != [2]string{`""`, "env CIRCA_SIP2_TLS_ADDR"} {
		t.Errorf("empty variable: %q", g)
	}
}

// A file with many problems: config check names every one with its line,
// and serve refuses to start on it.
func TestConfigErrorsNameKeyAndLine(t *testing.T) {
	dir := t.TempDir()
	file := writeConfig(t, dir, `log:
  level: loud
  format: console
sip2:
  addr: 6001
  tls_adr: ":6443"
  idle_timeout: 5 minutes
http:
  addr: "127.0.0.1:99999"
limits:
  max_conns: -3
  http_max_conns: 10
  http_max_conns: 20
oai:
  admin_emails: library@example.org
  base_url: ftp://example.org/oai
tls: "on"
tls_client_auth: required
demo: "true"
`)
	want := []string{
		file + ":2: log.level: \"loud\" is not one of debug, info, warn, error",
		file + ":5: sip2.addr: want text, not the number 6001 (quote it: \"...\")",
		file + ":6: sip2.tls_adr: unknown key (did you mean \"sip2.tls_addr\"?)",
		file + ":7: sip2.idle_timeout: \"5 minutes\" is not a duration such as 90s, 30m or 2h",
		file + ":9: http.addr: \"127.0.0.1:99999\" is not an address to listen on: want host:port such as 127.0.0.1:8080 or :6443",
		file + ":11: limits.max_conns: \"-3\" is not a whole number, 0 or more",
		file + ":13: limits.http_max_conns: given twice (first on line 12)",
		file + ":15: oai.admin_emails: want a list such as [library@example.org], not the text \"library@example.org\"",
		file + ":16: oai.base_url: \"ftp://example.org/oai\" is not an http or https URL such as https://library.example.edu/oai",
		file + ":17: tls: is a group of settings (tls.cert, tls.key, tls.client_ca, tls.client_auth): want its settings indented under it",
		file + ":18: tls_client_auth: unknown key (did you mean \"tls.client_auth\"?)",
		file + ":19: demo: want true or false, not the text \"true\"",
	}
	r := run(t, "config", "check", file)
	if r.code != 1 || r.out != "" {
		t.Fatalf("config check: %+v", r)
	}
	if got := strings.Split(strings.TrimSpace(r.errOut), "\n"); !slices.Equal(got, prefixed("circa: ", want)) {
		t.Errorf("config check said\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(prefixed("circa: ", want), "\n"))
	}
	data := t.TempDir()
	r = run(t, "serve", "--config", file, "--data-dir", data, "--http-addr", "127.0.0.1:0")
	if r.code != 1 || !strings.Contains(r.errOut, want[0]) || strings.Contains(r.out, "serving") {
		t.Fatalf("serve on a bad file: %+v", r)
	}
	if _, err := os.Stat(filepath.Join(data, "circa.db")); !os.IsNotExist(err) {
		t.Errorf("serve on a bad file touched the data directory: %v", err)
	}

	for name, tc := range map[string]struct{ text, want string }{
		"syntax":       {"http:\n  addr: [\n", file + ":2: did not find expected node content"},
		"tab":          {"http:\n\taddr: x\n", file + ":2: found character that cannot start any token"},
		"two":          {"demo: false\n---\ndemo: true\n", file + ":2: a second YAML document; the file holds one"},
		"list":         {"- http\n", file + ":1: want a mapping of settings such as \"http:\" or \"log:\""},
		"alias":        {"http:\n  addr: &a \"127.0.0.1:1\"\ndebug:\n  addr: *a\n", file + ":4: debug.addr: anchors, aliases and merge keys are not read in this file; write the value out"},
		"null":         {"oai:\n  name:\n", file + ":2: oai.name: no value: write \"\" for none"},
		"leaf-mapping": {"demo:\n  on: true\n", file + ":1: demo: want true or false, not a mapping"},
	} {
		t.Run(name, func(t *testing.T) {
			writeConfig(t, dir, tc.text)
			r := run(t, "config", "check", file)
			if r.code != 1 || strings.TrimSpace(r.errOut) != "circa: "+tc.want {
				t.Errorf("got %d %q, want %q", r.code, r.errOut, tc.want)
			}
		})
	}
	for name, text := range map[string]string{"empty": "", "comments": "# nothing set\n", "null": "~\n"} {
		writeConfig(t, dir, text)
		if r := run(t, "config", "check", file); r.code != 0 || r.out != file+": ok\n" {
			t.Errorf("%s file: %+v", name, r)
		}
	}
	if r := run(t, "config", "check", filepath.Join(dir, "missing.yaml")); r.code != 1 || !strings.Contains(r.errOut, "no such file") {
		t.Errorf("missing file: %+v", r)
	}
}

func prefixed(p string, lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = p + l
	}
	return out
}

// A CIRCA_ variable in a group of settings that names none is a misspelling
// and stops serve; another CIRCA_ variable is only warned about; values from
// variables are checked like the file's.
func TestSettingsFromEnvironment(t *testing.T) {
	t.Setenv("CIRCA_SIP2_TLS_ADRR", ":6443")
	r := run(t, "config", "show")
	if r.code != 1 || strings.TrimSpace(r.errOut) != `circa: environment variable CIRCA_SIP2_TLS_ADRR is not a setting (did you mean "CIRCA_SIP2_TLS_ADDR"?)` {
		t.Fatalf("misspelt variable: %+v", r)
	}
	os.Unsetenv("CIRCA_SIP2_TLS_ADRR")
	t.Setenv("CIRCA_HTTP_ADDR", "localhost")
	t.Setenv("CIRCA_LIMITS_IDLE", "")
	t.Setenv("CIRCA_LIMITS_MAX_CONNS", "many")
	r = run(t, "config", "show")
	want := []string{
		`circa: environment variable CIRCA_LIMITS_IDLE is not a setting`,
		`circa: CIRCA_HTTP_ADDR: "localhost" is not an address to listen on: want host:port such as 127.0.0.1:8080 or :6443`,
		`circa: CIRCA_LIMITS_MAX_CONNS: "many" is not a whole number, 0 or more`,
	}
	if got := strings.Split(strings.TrimSpace(r.errOut), "\n"); r.code != 1 || !slices.Equal(got, want) {
		t.Fatalf("bad variables: %d\n%s", r.code, r.errOut)
	}
	os.Unsetenv("CIRCA_HTTP_ADDR")
	os.Unsetenv("CIRCA_LIMITS_IDLE")
	os.Unsetenv("CIRCA_LIMITS_MAX_CONNS")
	t.Setenv("CIRCA_NCIP_KEY", "k")
	t.Setenv("CIRCA_BACKUP_TARGET", "/srv/backup")
	r = run(t, "config", "show", "--log-format", "console")
	if r.code != 0 || !strings.Contains(r.errOut, "environment variable CIRCA_BACKUP_TARGET is not a setting of circa serve; ignored") ||
		strings.Contains(r.errOut, "CIRCA_NCIP_KEY") {
		t.Fatalf("other variables: %+v", r)
	}
	// A flag given on the command line is checked too: a bad argument.
	if r := run(t, "config", "show", "--tls-client-auth", "always"); r.code != 2 ||
		!strings.Contains(r.errOut, `--tls-client-auth: "always" is not one of none, optional, required`) {
		t.Fatalf("bad flag: %+v", r)
	}
	if r := run(t, "serve", "--log-level", "loud", "--data-dir", t.TempDir()); r.code != 2 ||
		strings.TrimSpace(r.errOut) != `circa: --log-level: "loud" is not one of debug, info, warn, error` {
		t.Fatalf("serve with a bad flag: %+v", r)
	}
}

// The loader works on any table: a secret setting's value is masked in
// what config show prints, wherever it came from.
func TestSecretSettingsMasked(t *testing.T) {
	table := []setting{
		{key: "status.password", flag: "status-password", kind: kindText, secret: true},
		{key: "status.realm", flag: "status-realm", kind: kindText},
		{key: "status.token", flag: "status-token", kind: kindText, secret: true},
	}
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	fs.String("status-password", "", "")
	fs.String("status-realm", "circa", "")
	fs.String("status-token", "", "")
	file := writeConfig(t, t.TempDir(), "status:\n  password: hunter2-from-file\n  realm: staff\n")
	effective, _, err := resolveSettings(fs, table, file, file, []string{"CIRCA_STATUS_TOKEN=tok-from-env"})
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := fs.GetString("status-password"); v != "hunter2-from-file" {
		t.Fatalf("the secret did not reach its flag: %q", v)
	}
	var out bytes.Buffer
	if err := writeSettings(&out, effective); err != nil {
		t.Fatal(err)
	}
	if s := out.String(); strings.Contains(s, "hunter2") || strings.Contains(s, "tok-from-env") ||
		!strings.Contains(s, "********") || !strings.Contains(s, "staff") {
		t.Fatalf("config show of secrets:\n%s", s)
	}

	// Nor does a message about a secret's bad value show it.
	table = append(table, setting{key: "status.attempts", flag: "status-attempts", kind: kindCount, secret: true})
	fs.Int("status-attempts", 3, "")
	writeConfig(t, filepath.Dir(file), "status:\n  password: 918273\n  attempts: many-918273\n")
	_, _, err = resolveSettings(fs, table, file, file, []string{"CIRCA_STATUS_ATTEMPTS=-918273"})
	if err == nil || strings.Contains(err.Error(), "918273") || !strings.Contains(err.Error(), "status.password: want text") ||
		!strings.Contains(err.Error(), "CIRCA_STATUS_ATTEMPTS: the value is not a whole number") {
		t.Fatalf("problems with secrets: %v", err)
	}
}

// A configuration file's values reach a running server: its data directory
// (relative to the file), listeners, log format and OAI identity, with a
// CIRCA_ variable and a flag overriding the file.
func TestServeReadsConfigFile(t *testing.T) {
	data := seededDir(t)
	file := writeConfig(t, filepath.Dir(data), `data:
  dir: "`+filepath.Base(data)+`"
log:
  format: console
  level: info
sip2:
  addr: "127.0.0.1:0"
  tls_addr: ""
http:
  addr: "127.0.0.1:0"
oai:
  name: From the file
  admin_emails: [circulation@config-test.example.org]
  repository_id: file.example.org
`)
	t.Setenv("CIRCA_OAI_NAME", "Config Test Library")
	t.Setenv("CIRCA_OAI_REPOSITORY_ID", "env.example.org")
	ctx, cancel := context.WithCancel(context.Background())
	out, errOut := &syncBuffer{}, &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- execute(ctx, []string{"serve", "--config", file, "--oai-repository-id", "flag.example.org"}, nil, out, errOut)
	}()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("serve did not stop")
		}
	}()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("serve's stderr: %s", errOut)
		}
	})
	waitServing(t, out, done)
	var httpURL string
	for _, line := range strings.Split(out.String(), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == "http" {
			httpURL = f[1]
		}
		if strings.HasPrefix(line, "  sip2-tls") {
			t.Errorf("sip2.tls_addr \"\" in the file left TLS on: %s", line)
		}
	}
	if !strings.Contains(out.String(), "serving "+filepath.Join(data, "circa.db")) {
		t.Errorf("data.dir relative to the file not served: %s", out.String())
	}
	resp, err := http.Get(httpURL + "/oai?verb=Identify")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"<repositoryName>Config Test Library</repositoryName>",
		"<adminEmail>circulation@config-test.example.org</adminEmail>", "<repositoryIdentifier>flag.example.org</repositoryIdentifier>"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("Identify lacks %s: %s", want, body)
		}
	}
	if logs := errOut.String(); !strings.Contains(logs, "INF") || strings.Contains(logs, `"level"`) {
		t.Errorf("log.format console not applied: %s", logs)
	}
}

// The example file a package installs is valid, names every key, and holds
// each at its default but for what a production server changes.
func TestExampleConfigFile(t *testing.T) {
	example := filepath.Join("..", "..", "docs", "circa.example.yaml")
	if r := run(t, "config", "check", example); r.code != 0 {
		t.Fatalf("config check of the example: %+v", r)
	}
	data, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	production := map[string]string{"data.dir": "/var/lib/circa"}
	got := showSettings(t, "--config", example)
	for _, s := range settings {
		v, origin := got[s.key][0], got[s.key][1]
		if !strings.HasPrefix(origin, example+":") {
			t.Errorf("the example does not name %s", s.key)
			continue
		}
		want, ok := production[s.key]
		if !ok {
			f := serveFlagsAtDefaults().Lookup(s.flag)
			want = strings.Join(defaultValues(f), ",")
			if want == "" {
				want = `""`
			}
		}
		if v != want {
			t.Errorf("example %s: %s, want %s", s.key, v, want)
		}
	}
}

// Whatever a configuration file holds, reading it does not panic, every
// problem names the file, and every value read is one its setting accepts.
func FuzzConfigFile(f *testing.F) {
	for _, seed := range []string{"", "http:\n  addr: \"127.0.0.1:8080\"\n", "oai:\n  admin_emails: [a@example.org]\n",
		"limits: {max_conns: 5, http_max_conns: -1}\n", "a: &x [1]\nb: *x\n", "demo: true\n---\ndemo: false\n",
		"tls:\n  cert: rel/cert.pem\n", "sip2:\n  addr:\n    - x\n"} {
		f.Add([]byte(seed))
	}
	example, err := os.ReadFile(filepath.Join("..", "..", "docs", "circa.example.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example)
	f.Fuzz(func(t *testing.T, data []byte) {
		values, err := parseConfig(data, "f.yaml", "/etc/circa", settings)
		if err != nil {
			for _, line := range errorLines(err) {
				if !strings.HasPrefix(line, "f.yaml:") {
					t.Fatalf("a problem that does not name the file: %q", line)
				}
			}
			return
		}
		for key, v := range values {
			i := slices.IndexFunc(settings, func(s setting) bool { return s.key == key })
			if i < 0 || v.line < 1 {
				t.Fatalf("value for %q at line %d", key, v.line)
			}
			if s := settings[i]; s.kind != kindEmails {
				if err := s.check([]string{v.text}); err != nil {
					t.Fatalf("%s: accepted %q: %v", key, v.text, err)
				}
			}
		}
	})
}
