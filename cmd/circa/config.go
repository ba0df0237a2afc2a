package main

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/circa-ils/circa/forwarded"
	"github.com/circa-ils/circa/store"
)

// settingKind says how a setting's value is written in the configuration
// file and what makes it valid.
type settingKind int

const (
	kindText      settingKind = iota // any text
	kindPath                         // a file or directory; in a file, relative to the file's directory
	kindAddr                         // host:port to listen on
	kindAddrOrOff                    // host:port, or "" for no listener
	kindURL                          // an absolute http(s) URL, or "" for none
	kindChoice                       // one of the setting's choices
	kindCount                        // a whole number, 0 or more
	kindBool                         // true or false
	kindDuration                     // a duration such as 90s or 30m, 0 or more
	kindEmails                       // a list of e-mail addresses
	kindProxies                      // a list of IP addresses and CIDR prefixes
)

// isList reports whether the kind's value is a list (a YAML sequence, a
// comma-separated variable).
func (k settingKind) isList() bool { return k == kindEmails || k == kindProxies }

// setting is one key of the configuration file and the flag of circa serve
// (its own or one inherited from the root command) that it stands for.
type setting struct {
	key     string // dotted path in the file: sip2.tls_addr
	flag    string
	kind    settingKind
	choices []string // the values a kindChoice takes
	secret  bool     // its value is never shown
}

// settings is every key of the configuration file, one row per flag of
// circa serve, in the order circa config show lists them. A new serve flag
// needs a row here (TestEveryServeFlagHasAKey), its key at its default with
// a comment in docs/circa.example.yaml (TestExampleConfigFile) and a line in
// the config show output of docs/configuration.md (TestDocs).
var settings = []setting{
	{key: "data.dir", flag: "data-dir", kind: kindPath},
	{key: "log.level", flag: "log-level", kind: kindChoice, choices: []string{"debug", "info", "warn", "error"}},
	{key: "log.format", flag: "log-format", kind: kindChoice, choices: []string{"json", "console"}},
	{key: "log.file", flag: "log-file", kind: kindPath},
	{key: "demo", flag: "demo", kind: kindBool},
	{key: "sip2.addr", flag: "sip2-addr", kind: kindAddrOrOff},
	{key: "sip2.tls_addr", flag: "sip2-tls-addr", kind: kindAddrOrOff},
	{key: "sip2.idle_timeout", flag: "idle-timeout", kind: kindDuration},
	{key: "sip2.login_timeout", flag: "login-timeout", kind: kindDuration},
	{key: "tls.cert", flag: "tls-cert", kind: kindPath},
	{key: "tls.key", flag: "tls-key", kind: kindPath},
	{key: "tls.client_ca", flag: "tls-client-ca", kind: kindPath},
	{key: "tls.client_auth", flag: "tls-client-auth", kind: kindChoice, choices: []string{"none", "optional", "required"}},
	{key: "http.addr", flag: "http-addr", kind: kindAddr},
	{key: "http.trusted_proxies", flag: "http-trusted-proxies", kind: kindProxies},
	{key: "https.addr", flag: "https-addr", kind: kindAddrOrOff},
	{key: "debug.addr", flag: "debug-addr", kind: kindAddrOrOff},
	{key: "limits.max_conns", flag: "max-conns", kind: kindCount},
	{key: "limits.max_unauth_per_source", flag: "max-unauth-per-source", kind: kindCount},
	{key: "limits.http_max_conns", flag: "http-max-conns", kind: kindCount},
	{key: "limits.http_max_conns_per_source", flag: "http-max-conns-per-source", kind: kindCount},
	{key: "limits.shutdown_grace", flag: "shutdown-grace", kind: kindDuration},
	{key: "oai.name", flag: "oai-name", kind: kindText},
	{key: "oai.base_url", flag: "oai-base-url", kind: kindURL},
	{key: "oai.admin_emails", flag: "oai-admin-email", kind: kindEmails},
	{key: "oai.repository_id", flag: "oai-repository-id", kind: kindText},
}

// otherVariables are CIRCA_ variables that are not settings of circa serve
// but are read elsewhere; they are neither errors nor warned about.
var otherVariables = []string{
	"CIRCA_CONFIG",      // the configuration file itself
	"CIRCA_NCIP_KEY",    // circa ncip's API key
	"CIRCA_CONFORMANCE", // make conformance: outside programs are required
}

const envPrefix = "CIRCA_"

// envName is the environment variable of a key: sip2.tls_addr is
// CIRCA_SIP2_TLS_ADDR.
func envName(key string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// effectiveSetting is a setting's value as circa serve uses it, and where
// that value came from.
type effectiveSetting struct {
	setting
	value  string // as the flag shows it; a list is comma-separated
	origin string // default, FILE:LINE, env CIRCA_X or flag --x
}

// shown is the value as circa config show prints it: secrets masked, the
// empty value visible.
func (e effectiveSetting) shown() string {
	switch {
	case e.value == "":
		return `""`
	case e.secret:
		return "********"
	}
	return e.value
}

// fileValue is one setting as a configuration file gives it: the text for
// its flag and the line it is on.
type fileValue struct {
	text string
	line int
}

// resolveSettings settles every setting of table on fs: a flag given on the
// command line keeps its value; otherwise an environment variable (from
// environ, "NAME=value" as os.Environ gives) overrides the file, which
// overrides the flag's default. Every value is then checked. It returns each
// setting's value and origin, warnings about CIRCA_ variables that are no
// setting, and every problem found (not just the first); problems with
// flags alone are bad arguments (exit status 2). file may be empty: no
// file; shownFile is its name in messages.
func resolveSettings(fs *pflag.FlagSet, table []setting, file, shownFile string, environ []string) ([]effectiveSetting, []string, error) {
	var errs, flagErrs []error
	fromFile := map[string]fileValue{}
	if file != "" {
		var err error
		if fromFile, err = readConfigFile(file, shownFile, table); err != nil {
			errs = append(errs, err)
		}
	}
	fromEnv, warnings, err := settingsFromEnv(environ, table)
	if err != nil {
		errs = append(errs, err)
	}
	out := make([]effectiveSetting, 0, len(table))
	for _, s := range table {
		f := fs.Lookup(s.flag)
		if f == nil {
			continue // a setting of circa serve alone, given to another command
		}
		e := effectiveSetting{setting: s, origin: "default"}
		where := "--" + s.flag // how a problem names the value's origin
		if f.Changed {
			e.origin = "flag --" + s.flag
		} else if v, ok := fromEnv[s.key]; ok {
			e.origin, where = "env "+envName(s.key), envName(s.key)
			if err := fs.Set(s.flag, v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", where, s.setError(v, err)))
				continue
			}
		} else if v, ok := fromFile[s.key]; ok {
			e.origin = fmt.Sprintf("%s:%d", shownFile, v.line)
			where = e.origin + ": " + s.key
			if err := fs.Set(s.flag, v.text); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", where, s.setError(v.text, err)))
				continue
			}
		}
		values := []string{f.Value.String()}
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			values = sv.GetSlice()
			e.value = strings.Join(values, ",")
		} else {
			e.value = values[0]
		}
		if err := s.check(values); err != nil {
			err = fmt.Errorf("%s: %w", where, err)
			if e.origin == "flag --"+s.flag {
				flagErrs = append(flagErrs, err)
			} else {
				errs = append(errs, err)
			}
			continue
		}
		out = append(out, e)
	}
	if len(errs) == 0 && len(flagErrs) > 0 {
		return nil, warnings, &exitError{code: 2, err: errors.Join(flagErrs...)} // bad arguments only
	}
	return out, warnings, errors.Join(append(errs, flagErrs...)...)
}

// settingsFromEnv returns the settings CIRCA_ variables give, by key. A
// variable inside a group of settings (CIRCA_SIP2_…) that names none is a
// misspelling and an error; any other CIRCA_ variable that is not a setting
// is only warned about, since scripts around circa may use the prefix too.
func settingsFromEnv(environ []string, table []setting) (map[string]string, []string, error) {
	byName := map[string]string{}
	var names, groups []string
	for _, s := range table {
		byName[envName(s.key)] = s.key
		names = append(names, envName(s.key))
		if g, _, ok := strings.Cut(s.key, "."); ok {
			groups = append(groups, envName(g)+"_")
		}
	}
	values := map[string]string{}
	var warnings []string
	var errs []error
	for _, kv := range environ {
		name, v, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, envPrefix) || slices.Contains(otherVariables, name) {
			continue
		}
		if key, ok := byName[name]; ok {
			values[key] = v
			continue
		}
		if slices.ContainsFunc(groups, func(g string) bool { return strings.HasPrefix(name, g) }) {
			errs = append(errs, fmt.Errorf("environment variable %s is not a setting%s", name, store.DidYouMean(name, names)))
			continue
		}
		warnings = append(warnings, fmt.Sprintf("environment variable %s is not a setting of circa serve; ignored", name))
	}
	slices.Sort(warnings)
	return values, warnings, errors.Join(errs...)
}

// readConfigFile reads a configuration file: a YAML mapping whose keys are
// the groups of table's keys (sip2:, tls:, …) holding their settings, or a
// setting itself. It returns each setting the file gives, as text for its
// flag, or every problem, each naming the line.
func readConfigFile(path, shown string, table []setting) (map[string]fileValue, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("configuration file: %w", err)
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	return parseConfig(data, shown, dir, table)
}

// parseConfig reads a configuration file's text; shown names the file in
// messages and dir is its directory, against which relative paths resolve.
func parseConfig(data []byte, shown, dir string, table []setting) (map[string]fileValue, error) {
	p := &configParser{file: shown, dir: dir, table: table, values: map[string]fileValue{}, seen: map[string]int{}}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) { // io.EOF: empty, or comments only
		return nil, yamlError(shown, err)
	}
	if len(doc.Content) > 0 {
		root := doc.Content[0]
		if root.Kind == yaml.MappingNode {
			p.mapping(root, "")
		} else if !(root.Kind == yaml.ScalarNode && root.Tag == "!!null") {
			p.fail(root.Line, "", "want a mapping of settings such as \"http:\" or \"log:\"")
		}
	}
	var more yaml.Node
	if err := dec.Decode(&more); err == nil {
		p.fail(more.Line, "", "a second YAML document; the file holds one")
	} else if !errors.Is(err, io.EOF) {
		p.errs = append(p.errs, yamlError(shown, err))
	}
	return p.values, errors.Join(p.errs...)
}

// yamlLine finds the line in yaml.v3's syntax errors ("yaml: line 3: …").
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlError names the file and line of a YAML syntax error.
func yamlError(file string, err error) error {
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		return fmt.Errorf("%s:%s: %s", file, m[1], m[2])
	}
	return fmt.Errorf("%s: %s", file, strings.TrimPrefix(err.Error(), "yaml: "))
}

// configParser walks a configuration file's nodes, collecting every problem.
type configParser struct {
	file   string
	dir    string
	table  []setting
	values map[string]fileValue
	seen   map[string]int // key or group → the line it first appeared on
	errs   []error
}

func (p *configParser) fail(line int, key, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if key != "" {
		msg = key + ": " + msg
	}
	p.errs = append(p.errs, fmt.Errorf("%s:%d: %s", p.file, line, msg))
}

// mapping reads a mapping whose keys are under prefix ("" or "sip2.").
func (p *configParser) mapping(n *yaml.Node, prefix string) {
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			p.fail(k.Line, "", "a key must be a plain name")
			continue
		}
		key := prefix + k.Value
		if first, ok := p.seen[key]; ok {
			p.fail(k.Line, key, "given twice (first on line %d)", first)
			continue
		}
		p.seen[key] = k.Line
		if v.Kind == yaml.AliasNode || k.Kind == yaml.AliasNode || k.Value == "<<" {
			p.fail(k.Line, key, "anchors, aliases and merge keys are not read in this file; write the value out")
			continue
		}
		if s, ok := p.setting(key); ok {
			p.value(s, v, k.Line)
			continue
		}
		if p.isGroup(key) {
			if v.Kind != yaml.MappingNode {
				p.fail(k.Line, key, "is a group of settings (%s): want its settings indented under it", strings.Join(p.groupKeys(key), ", "))
				continue
			}
			p.mapping(v, key+".")
			continue
		}
		p.fail(k.Line, key, "unknown key%s", store.DidYouMean(key, p.keys()))
	}
}

func (p *configParser) setting(key string) (setting, bool) {
	i := slices.IndexFunc(p.table, func(s setting) bool { return s.key == key })
	if i < 0 {
		return setting{}, false
	}
	return p.table[i], true
}

func (p *configParser) isGroup(key string) bool { return len(p.groupKeys(key)) > 0 }

func (p *configParser) groupKeys(group string) []string {
	var keys []string
	for _, s := range p.table {
		if strings.HasPrefix(s.key, group+".") {
			keys = append(keys, s.key)
		}
	}
	return keys
}

func (p *configParser) keys() []string {
	keys := make([]string, len(p.table))
	for i, s := range p.table {
		keys[i] = s.key
	}
	return keys
}

// value reads one setting's node as text for its flag, checking its YAML
// type and its value.
func (p *configParser) value(s setting, n *yaml.Node, line int) {
	var text string
	switch s.kind {
	case kindCount:
		var i int
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || n.Decode(&i) != nil {
			p.fail(line, s.key, "want a whole number such as 64, not %s", s.describe(n))
			return
		}
		text = strconv.Itoa(i)
	case kindBool:
		var b bool
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || n.Decode(&b) != nil {
			p.fail(line, s.key, "want true or false, not %s", s.describe(n))
			return
		}
		text = strconv.FormatBool(b)
	case kindEmails, kindProxies:
		if n.Kind != yaml.SequenceNode {
			example := "[library@example.org]"
			if s.kind == kindProxies {
				example = "[127.0.0.1, 10.0.0.0/8]"
			}
			p.fail(line, s.key, "want a list such as %s, not %s", example, s.describe(n))
			return
		}
		var list []string
		for _, c := range n.Content {
			if c.Kind != yaml.ScalarNode || c.Tag != "!!str" {
				p.fail(c.Line, s.key, "want each entry to be text, not %s", s.describe(c))
				return
			}
			list = append(list, c.Value)
		}
		if err := s.check(list); err != nil {
			p.fail(line, s.key, "%v", err)
			return
		}
		var b strings.Builder
		w := csv.NewWriter(&b)
		w.Write(list)
		w.Flush()
		text = strings.TrimSuffix(b.String(), "\n")
	default:
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			p.fail(line, s.key, "no value: write \"\" for none")
			return
		}
		if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
			p.fail(line, s.key, "want text, not %s (quote it: \"...\")", s.describe(n))
			return
		}
		text = n.Value
		if s.kind == kindPath && text != "" && !filepath.IsAbs(text) {
			text = filepath.Join(p.dir, text)
		}
	}
	if !s.kind.isList() {
		if err := s.check([]string{text}); err != nil {
			p.fail(line, s.key, "%v", err)
			return
		}
	}
	p.values[s.key] = fileValue{text: text, line: line}
}

// describe names what a node holds, for a message about a wrong type,
// without a secret's value.
func (s setting) describe(n *yaml.Node) string {
	if s.secret && n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
		return "a value of another type"
	}
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	switch n.Tag {
	case "!!null":
		return "nothing"
	case "!!str":
		return fmt.Sprintf("the text %q", n.Value)
	case "!!int":
		return "the number " + n.Value
	case "!!float":
		return "the number " + n.Value
	case "!!bool":
		return n.Value
	}
	return fmt.Sprintf("%q", n.Value)
}

// setError explains why the flag refused v: in the words of check when it
// has them, else in the flag's.
func (s setting) setError(v string, err error) error {
	if why := s.check([]string{v}); why != nil {
		return why
	}
	if s.secret {
		return errors.New("not a value it takes")
	}
	if cause := errors.Unwrap(err); cause != nil {
		return fmt.Errorf("%q: %w", v, cause)
	}
	return err
}

// quote is v in a message: quoted, or hidden when it is a secret.
func (s setting) quote(v string) string {
	if s.secret {
		return "the value"
	}
	return strconv.Quote(v)
}

// check says what is wrong with a setting's value, or nil. values is the
// value as its flag holds it (one text, or a list's entries).
func (s setting) check(values []string) error {
	if s.kind == kindEmails {
		for _, v := range values {
			if a, err := mail.ParseAddress(v); err != nil || a.Address != v {
				return fmt.Errorf("%s is not an e-mail address such as library@example.org", s.quote(v))
			}
		}
		return nil
	}
	if s.kind == kindProxies {
		_, err := forwarded.ParseProxies(values)
		return err
	}
	v := ""
	if len(values) > 0 {
		v = values[0]
	}
	switch s.kind {
	case kindAddr, kindAddrOrOff:
		if v == "" && s.kind == kindAddrOrOff {
			return nil
		}
		host, port, err := net.SplitHostPort(v)
		if _, perr := strconv.ParseUint(port, 10, 16); err != nil || perr != nil || strings.ContainsAny(host, " /") {
			hint := ""
			if s.kind == kindAddrOrOff {
				hint = `, or "" for none`
			}
			return fmt.Errorf("%s is not an address to listen on: want host:port such as 127.0.0.1:8080 or :6443%s", s.quote(v), hint)
		}
	case kindURL:
		if v == "" {
			return nil
		}
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%s is not an http or https URL such as https://library.example.edu/oai", s.quote(v))
		}
	case kindChoice:
		if !slices.Contains(s.choices, v) {
			return fmt.Errorf("%s is not one of %s", s.quote(v), strings.Join(s.choices, ", "))
		}
	case kindCount:
		if n, err := strconv.Atoi(v); err != nil || n < 0 {
			return fmt.Errorf("%s is not a whole number, 0 or more", s.quote(v))
		}
	case kindBool:
		if _, err := strconv.ParseBool(v); err != nil {
			return fmt.Errorf("%s is not true or false", s.quote(v))
		}
	case kindDuration:
		if d, err := time.ParseDuration(v); err != nil || d < 0 {
			return fmt.Errorf("%s is not a duration such as 90s, 30m or 2h", s.quote(v))
		}
	}
	return nil
}

// systemConfigFile is the configuration file of a system install: the
// Debian package's, which its service runs with.
const systemConfigFile = "/etc/circa/circa.yaml"

// systemConfig is the file execute reads by that rule; the tests clear it,
// so that a package installed on the machine running them goes unread.
var systemConfig = systemConfigFile

// readsSettings marks the commands that take every setting of circa serve
// from the configuration file and the CIRCA_ variables: serve, and config
// show which shows them. Every other command takes only the root flags'
// settings (data.dir, log.level, log.format) from them.
const readsSettings = "reads-settings"

// ignoresSettings marks the commands that need no data directory and read
// no configuration file, so that a broken file never stops them: config
// check (its file is its argument), version and man; shell completion too.
const ignoresSettings = "ignores-settings"

func markReadsSettings(cmd *cobra.Command)   { annotate(cmd, readsSettings) }
func markIgnoresSettings(cmd *cobra.Command) { annotate(cmd, ignoresSettings) }

func annotate(cmd *cobra.Command, mark string) {
	if cmd.Annotations == nil {
		cmd.Annotations = map[string]string{}
	}
	cmd.Annotations[mark] = ""
}

// applySettings settles the flags a command takes from the configuration
// file and the environment (every setting for serve and config show, the
// root flags' for the others) and returns the warnings to log once logging
// is set up. Inside a running server the client has settled them already.
func (a *app) applySettings(cmd *cobra.Command) ([]string, error) {
	if ignoresConfig(cmd) {
		return nil, nil
	}
	rootFlags := cmd.Root().PersistentFlags()
	if a.server != nil {
		for name, v := range a.forwarded {
			if _, ok := rootSetting(rootFlags, name); ok {
				if err := rootFlags.Set(name, v); err != nil {
					return nil, err
				}
			}
		}
		return nil, nil
	}
	file, err := a.configFile(rootFlags)
	if err != nil {
		return nil, err
	}
	_, all := cmd.Annotations[readsSettings]
	fs := rootFlags
	if all {
		fs = cmd.Flags()
	}
	effective, warnings, err := resolveSettings(fs, settings, a.path(file), file, a.environ)
	if err != nil {
		return nil, err
	}
	if !all {
		return nil, nil // the other variables are serve's business
	}
	if err := applyDemoDefaults(cmd.Flags(), effective); err != nil {
		return nil, err
	}
	a.settings = effective
	return warnings, nil
}

// ignoresConfig says whether cmd, or the group it is in, is marked as
// reading no configuration file; cobra's shell-completion commands read
// none either.
func ignoresConfig(cmd *cobra.Command) bool {
	for c := cmd; c.HasParent(); c = c.Parent() {
		if _, ok := c.Annotations[ignoresSettings]; ok {
			return true
		}
		if !c.Parent().HasParent() && (c.Name() == "completion" || c.Name() == cobra.ShellCompRequestCmd) {
			return true
		}
	}
	return false
}

// configFile is the configuration file a command reads ("" for none):
// --config, else CIRCA_CONFIG, else the system install's file when it
// exists and neither --data-dir nor CIRCA_DATA_DIR names a data directory.
func (a *app) configFile(rootFlags *pflag.FlagSet) (string, error) {
	if f := rootFlags.Lookup("config"); f.Changed {
		return f.Value.String(), nil
	}
	if v, ok := lookupEnv(a.environ, "CIRCA_CONFIG"); ok {
		return v, nil
	}
	_, dirFromEnv := lookupEnv(a.environ, envName("data.dir"))
	if a.systemConfig == "" || rootFlags.Lookup("data-dir").Changed || dirFromEnv {
		return "", nil
	}
	f, err := os.Open(a.systemConfig)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		// Falling back to ./data would open or create another database.
		return "", fmt.Errorf("configuration file: %w (read when no --config, CIRCA_CONFIG or --data-dir is given)", err)
	}
	f.Close()
	return a.systemConfig, nil
}

// lookupEnv finds a variable in environ ("NAME=value" as os.Environ gives).
func lookupEnv(environ []string, name string) (string, bool) {
	for _, kv := range slices.Backward(environ) {
		if n, v, ok := strings.Cut(kv, "="); ok && n == name {
			return v, true
		}
	}
	return "", false
}

// rootSetting is the setting of a root flag, if it has one.
func rootSetting(rootFlags *pflag.FlagSet, flag string) (setting, bool) {
	i := slices.IndexFunc(settings, func(s setting) bool { return s.flag == flag })
	if i < 0 || rootFlags.Lookup(flag) == nil {
		return setting{}, false
	}
	return settings[i], true
}

// forwardedSettings are the root flags' settled values, sent with a command
// line to a running server: paths made absolute, since the server runs in
// another directory.
func (a *app) forwardedSettings(rootFlags *pflag.FlagSet) map[string]string {
	values := map[string]string{}
	rootFlags.VisitAll(func(f *pflag.Flag) {
		if s, ok := rootSetting(rootFlags, f.Name); ok {
			v := f.Value.String()
			if s.kind == kindPath {
				v = a.path(v)
			}
			values[f.Name] = v
		}
	})
	return values
}

func newConfigCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Show or check the settings of circa serve",
	}
	show := &cobra.Command{
		Use:   "show [--config FILE] [serve flags]",
		Short: "Print every setting of circa serve, its value and where the value comes from",
		Long: `Print every setting of circa serve as it would run with the same configuration file,
CIRCA_ environment variables and flags: the key, its value (secrets masked) and its
origin: default, FILE:LINE, env CIRCA_X, or flag --x.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return writeSettings(cmd.OutOrStdout(), a.settings)
		},
	}
	markReadsSettings(show)
	show.Flags().AddFlagSet(newServeCommand(&app{}).Flags())
	check := &cobra.Command{
		Use:   "check FILE",
		Short: "Check a configuration file, naming every problem with its line",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, _, err := resolveSettings(serveFlagsAtDefaults(), settings, a.path(args[0]), args[0], nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: ok\n", args[0])
			return nil
		},
	}
	markIgnoresSettings(check)
	cmd.AddCommand(show, check)
	return cmd
}

// writeSettings prints settings as a table of key, value and origin.
func writeSettings(out io.Writer, settings []effectiveSetting) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "KEY\tVALUE\tORIGIN")
	for _, e := range settings {
		fmt.Fprintf(w, "%s\t%s\t%s\n", e.key, e.shown(), e.origin)
	}
	return w.Flush()
}

// serveFlagsAtDefaults is a fresh set of circa serve's flags, its own and
// the root's, each at its default.
func serveFlagsAtDefaults() *pflag.FlagSet {
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	scratch := &app{}
	addGlobalFlags(fs, scratch)
	fs.AddFlagSet(newServeCommand(scratch).Flags())
	return fs
}
