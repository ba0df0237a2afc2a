package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/circa-ils/circa/marc"
)

// The pages in docs/ are run as tests, so that what they show is what circa
// does. Each page runs its fenced blocks in order in a fresh directory of its
// own, with CIRCA_DATA_DIR set to ./data in it. A block's info string says
// what it is:
//
//	```console            lines "$ circa …" are run; the lines after one are its
//	                      output (stdout and stderr as a terminal shows them);
//	                      a line "..." matches any lines, "..." inside a line
//	                      any text; JSON log lines are left out; a command
//	                      may continue over lines ending in \, and $PWD in
//	                      it is the page's directory
//	```console exit=N     every command of the block exits with status N
//	```console stdin=F    every command of the block reads the file F
//	```console serve      starts `circa serve` in the background for the rest of
//	                      the page; loopback addresses in its flags are replaced
//	                      by free ports, and later commands naming an address
//	                      it printed reach the real one
//	```yaml file=F        (csv, xml, text too) written to F in the page's
//	                      directory; a later command must name F
//	```yaml file=F expand $PWD in it is the page's directory, as in commands
//	```marc file=F        records in MARCMaker text (=LDR, =001, =245 10$a…)
//	                      written to F as ISO 2709
//	```xml check=GLOB     the one file matching GLOB holds this text (with ...)
//	norun                 shown, not run (and a file block not written)
//	pending               names a command not built yet: skipped and listed
//
// CIRCA_DOCS_DIR names another folder of pages (TestDocsRunnerFails uses it);
// CIRCA_DOCS_PENDING=run runs the pending blocks as well.

const docsDirEnv = "CIRCA_DOCS_DIR"

// runPending runs pending blocks too (CIRCA_DOCS_PENDING=run), to try the
// pages on a tree where the commands they name have been built.
var runPending = os.Getenv("CIRCA_DOCS_PENDING") == "run"

func TestDocs(t *testing.T) {
	dir := os.Getenv(docsDirEnv)
	if dir == "" {
		dir = filepath.Join("..", "..", "docs")
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	var pages []string
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".md") {
			pages = append(pages, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(pages) == 0 {
		t.Fatalf("no pages in %s", dir)
	}
	for _, page := range pages {
		rel, _ := filepath.Rel(dir, page)
		t.Run(strings.TrimSuffix(rel, ".md"), func(t *testing.T) { runPage(t, page, rel) })
	}
}

var mdLink = regexp.MustCompile(`\]\(([^)#\s]+)(#[^)]*)?\)`)

// TestDocsLinks: every link between files of the repository points at a file
// that exists, and the index links every page.
func TestDocsLinks(t *testing.T) {
	dir, err := filepath.Abs(filepath.Join("..", "..", "docs"))
	if err != nil {
		t.Fatal(err)
	}
	index, err := os.ReadFile(filepath.Join(dir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".md") {
			return err
		}
		text, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		for _, m := range mdLink.FindAllStringSubmatch(string(text), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(path), target)); err != nil {
				t.Errorf("docs/%s links %s, which does not exist", rel, target)
			}
		}
		if rel != "README.md" && !strings.Contains(string(index), "]("+filepath.ToSlash(rel)+")") {
			t.Errorf("docs/README.md does not link %s", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// docBlock is one fenced block of a page.
type docBlock struct {
	line  int    // line of the opening fence
	lang  string // console, yaml, csv, xml, marc, …
	attrs map[string]string
	body  []string
}

func (b docBlock) has(flag string) bool { _, ok := b.attrs[flag]; return ok }

// parseBlocks returns the fenced blocks of a page in order.
func parseBlocks(text string) ([]docBlock, error) {
	var blocks []docBlock
	var cur *docBlock
	for i, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		if cur == nil {
			if !strings.HasPrefix(trimmed, "```") {
				continue
			}
			fields := strings.Fields(strings.TrimPrefix(trimmed, "```"))
			b := docBlock{line: i + 1, attrs: map[string]string{}}
			if len(fields) > 0 {
				b.lang, fields = fields[0], fields[1:]
			}
			for _, f := range fields {
				k, v, _ := strings.Cut(f, "=")
				b.attrs[k] = v
			}
			cur = &b
			continue
		}
		if trimmed == "```" {
			blocks = append(blocks, *cur)
			cur = nil
			continue
		}
		cur.body = append(cur.body, line)
	}
	if cur != nil {
		return nil, fmt.Errorf("line %d: block not closed", cur.line)
	}
	return blocks, nil
}

// docCommand is one "$ circa …" line of a console block and its output.
type docCommand struct {
	line int
	args []string
	want []string
}

// parseConsole splits a console block into commands and their outputs.
func parseConsole(b docBlock) ([]docCommand, error) {
	var cmds []docCommand
	for i := 0; i < len(b.body); i++ {
		line := b.body[i]
		n := b.line + 1 + i
		if !strings.HasPrefix(line, "$ ") {
			if len(cmds) == 0 {
				return nil, fmt.Errorf("line %d: output before any command", n)
			}
			cmds[len(cmds)-1].want = append(cmds[len(cmds)-1].want, line)
			continue
		}
		cmd := strings.TrimPrefix(line, "$ ")
		for strings.HasSuffix(cmd, `\`) && i+1 < len(b.body) {
			i++
			cmd = strings.TrimSuffix(cmd, `\`) + " " + strings.TrimSpace(b.body[i])
		}
		args, err := shellWords(cmd)
		if err != nil {
			return nil, fmt.Errorf("line %d: %v", n, err)
		}
		if len(args) == 0 || args[0] != "circa" {
			return nil, fmt.Errorf("line %d: only circa commands are run, not %q", n, cmd)
		}
		cmds = append(cmds, docCommand{line: n, args: args[1:]})
	}
	return cmds, nil
}

// shellWords splits a command line as a POSIX shell would for the quoting
// the pages use: single quotes, double quotes, backslash escapes.
func shellWords(s string) ([]string, error) {
	var words []string
	var w strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		case c == '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return nil, fmt.Errorf("unclosed ' in %q", s)
			}
			w.WriteString(s[i+1 : i+1+end])
			i += end + 1
			inWord = true
		case c == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte(`"\$`, s[i+1]) >= 0 {
					i++
				}
				w.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, fmt.Errorf("unclosed \" in %q", s)
			}
			inWord = true
		case c == '\\' && i+1 < len(s):
			i++
			w.WriteByte(s[i])
			inWord = true
		case c == '|' || c == '>' || c == '<' || c == ';' || c == '&':
			return nil, fmt.Errorf("%q: pipes and redirections are not run; use stdin=FILE", s)
		default:
			w.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words, nil
}

// pageRun is the state of one page being run.
type pageRun struct {
	t       *testing.T
	name    string
	work    string
	files   map[string]int    // files written by blocks → their line, until a command names them
	addrs   map[string]string // address shown in the page → address really listening
	stopped []func()
}

func runPage(t *testing.T, path, name string) {
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := parseBlocks(string(text))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	p := &pageRun{t: t, name: name, work: t.TempDir(), files: map[string]int{}, addrs: map[string]string{}}
	t.Chdir(p.work)
	t.Setenv("CIRCA_DATA_DIR", filepath.Join(p.work, "data"))
	defer func() {
		for i := len(p.stopped) - 1; i >= 0; i-- {
			p.stopped[i]()
		}
	}()
	var pending []string
	for _, b := range blocks {
		if b.has("norun") {
			continue
		}
		where := fmt.Sprintf("%s:%d", name, b.line)
		switch {
		case b.lang == "console":
			cmds, err := parseConsole(b)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			for _, c := range cmds {
				p.use(c.args)
			}
			if b.has("pending") && !runPending {
				pending = append(pending, p.pendingNote(where, cmds))
				continue
			}
			if b.has("serve") {
				p.serve(where, cmds)
				continue
			}
			p.runConsole(where, b, cmds)
		case b.attrs["file"] != "":
			p.writeFile(where, b)
		case b.attrs["check"] != "":
			p.checkFile(where, b)
		}
	}
	for f, line := range p.files {
		t.Errorf("%s:%d: file %s is written but no command uses it", name, line, f)
	}
	for _, n := range pending {
		t.Log(n)
	}
}

// use marks the files a command names as used.
func (p *pageRun) use(args []string) {
	for f := range p.files {
		for _, a := range args {
			if a == f || strings.HasSuffix(a, "/"+f) || strings.HasSuffix(a, "="+f) {
				delete(p.files, f)
			}
		}
	}
}

// pendingNote lists a pending block, and says so when its commands exist now.
func (p *pageRun) pendingNote(where string, cmds []docCommand) string {
	built := len(cmds) > 0
	var lines []string
	for _, c := range cmds {
		root := newRootCommand(&app{})
		found, rest, err := root.Find(c.args)
		if err != nil || found == root || !found.Runnable() || found.HasSubCommands() && len(rest) > 0 {
			built = false
		}
		lines = append(lines, "circa "+strings.Join(c.args, " "))
	}
	note := "pending " + where + ": " + strings.Join(lines, "; ")
	if built {
		note += " (its commands all exist now: switch it on)"
	}
	return note
}

// expand gives $PWD, the page's directory, its value and replaces the
// addresses shown in the page by the ones really listening.
func (p *pageRun) expand(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		a = strings.ReplaceAll(a, "$PWD", p.work)
		for shown, real := range p.addrs {
			a = strings.ReplaceAll(a, shown, real)
		}
		out[i] = a
	}
	return out
}

func (p *pageRun) runConsole(where string, b docBlock, cmds []docCommand) {
	wantCode := 0
	if v, ok := b.attrs["exit"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			p.t.Fatalf("%s: exit=%q is not a number", where, v)
		}
		wantCode = n
	}
	for _, c := range cmds {
		at := fmt.Sprintf("%s:%d", p.name, c.line)
		var stdin []byte
		if f := b.attrs["stdin"]; f != "" {
			data, err := os.ReadFile(f)
			if err != nil {
				p.t.Fatalf("%s: stdin: %v", at, err)
			}
			stdin = data
			delete(p.files, f)
		}
		var out syncBuffer
		code := execute(context.Background(), p.expand(c.args), bytes.NewReader(stdin), &out, &out)
		got := p.unexpand(dropLogLines(out.String()))
		if code != wantCode {
			p.t.Fatalf("%s: circa %s: exit %d, want %d\n%s", at, strings.Join(c.args, " "), code, wantCode, got)
		}
		if !matchLines(c.want, splitOutput(got)) {
			p.t.Fatalf("%s: circa %s: output differs\n--- page\n%s\n--- circa\n%s", at, strings.Join(c.args, " "),
				strings.Join(c.want, "\n"), got)
		}
	}
}

// dropLogLines leaves out the JSON log lines a command writes on stderr:
// they carry times and durations, and a page shows what a person reads.
func dropLogLines(s string) string {
	lines := strings.SplitAfter(s, "\n")
	kept := lines[:0]
	for _, l := range lines {
		if !strings.HasPrefix(l, `{"level":`) {
			kept = append(kept, l)
		}
	}
	return strings.Join(kept, "")
}

// unexpand shows real listening addresses as the page names them.
func (p *pageRun) unexpand(s string) string {
	for shown, real := range p.addrs {
		s = strings.ReplaceAll(s, real, shown)
	}
	return s
}

var loopbackAddr = regexp.MustCompile(`^127\.0\.0\.1:\d+$`)

// serve starts the block's one `circa serve` for the rest of the page, on
// free ports in place of the ones shown.
func (p *pageRun) serve(where string, cmds []docCommand) {
	if len(cmds) != 1 || len(cmds[0].args) == 0 || cmds[0].args[0] != "serve" {
		p.t.Fatalf("%s: a serve block holds one circa serve command", where)
	}
	c := cmds[0]
	args := p.expand(c.args)
	shown := map[string]string{} // flag → address shown
	for i := 1; i < len(args); i++ {
		flag, val, hasVal := strings.Cut(args[i], "=")
		if !hasVal && i+1 < len(args) && strings.HasPrefix(flag, "--") {
			val = args[i+1]
		}
		if loopbackAddr.MatchString(val) {
			shown[flag] = val
			if hasVal {
				args[i] = flag + "=127.0.0.1:0"
			} else {
				args[i+1] = "127.0.0.1:0"
			}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	out, logs := &syncBuffer{}, &syncBuffer{}
	done := make(chan int, 1)
	go func() { done <- execute(ctx, args, nil, out, logs) }()
	p.stopped = append(p.stopped, func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				p.t.Errorf("%s: serve exit %d\n%s", where, code, logs.String())
			}
		case <-time.After(20 * time.Second):
			p.t.Errorf("%s: serve did not stop", where)
		}
	})
	waitServing(p.t, out, done)
	listeners := map[string]string{"sip2": "--sip2-addr", "sip2-tls": "--sip2-tls-addr", "http": "--http-addr", "https": "--https-addr",
		"debug": "--debug-addr"}
	for _, line := range strings.Split(out.String(), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || listeners[f[0]] == "" {
			continue
		}
		real := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(f[1], "https://"), "http://"), "/debug/pprof/")
		if s := shown[listeners[f[0]]]; s != "" {
			p.addrs[s] = real
		}
	}
	got := p.unexpand(out.String())
	if !matchLines(c.want, splitOutput(got)) {
		p.t.Fatalf("%s: circa serve: output differs\n--- page\n%s\n--- circa\n%s", where, strings.Join(c.want, "\n"), got)
	}
}

func (p *pageRun) writeFile(where string, b docBlock) {
	name := b.attrs["file"]
	if filepath.IsAbs(name) || strings.Contains(name, "..") {
		p.t.Fatalf("%s: file=%s must be a name inside the page's directory", where, name)
	}
	text := strings.Join(b.body, "\n") + "\n"
	if b.has("expand") {
		text = strings.ReplaceAll(text, "$PWD", p.work)
	}
	data := []byte(text)
	if b.lang == "marc" {
		var err error
		if data, err = mrkToISO2709(data); err != nil {
			p.t.Fatalf("%s: %v", where, err)
		}
	}
	path := filepath.Join(p.work, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		p.t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		p.t.Fatal(err)
	}
	p.files[name] = b.line
}

func (p *pageRun) checkFile(where string, b docBlock) {
	matches, err := filepath.Glob(filepath.Join(p.work, b.attrs["check"]))
	if err != nil || len(matches) != 1 {
		p.t.Fatalf("%s: check=%s matches %d files, want 1 (%v)", where, b.attrs["check"], len(matches), err)
	}
	data, err := os.ReadFile(matches[0])
	if err != nil {
		p.t.Fatal(err)
	}
	if !matchLines(b.body, splitOutput(string(data))) {
		p.t.Fatalf("%s: %s differs\n--- page\n%s\n--- file\n%s", where, b.attrs["check"], strings.Join(b.body, "\n"), data)
	}
}

// splitOutput splits output into lines without trailing blanks.
func splitOutput(s string) []string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) == 1 && lines[0] == "" {
		return nil
	}
	return lines
}

// matchLines reports whether got matches want, where a want line "..."
// matches any number of lines and "..." inside a line any text. Trailing
// spaces and blank lines at the end do not count.
func matchLines(want, got []string) bool {
	for len(want) > 0 && strings.TrimSpace(want[len(want)-1]) == "" {
		want = want[:len(want)-1]
	}
	if len(want) == 0 {
		return len(got) == 0
	}
	if strings.TrimSpace(want[0]) == "..." {
		for i := 0; i <= len(got); i++ {
			if matchLines(want[1:], got[i:]) {
				return true
			}
		}
		return false
	}
	return len(got) > 0 && matchLine(want[0], got[0]) && matchLines(want[1:], got[1:])
}

func matchLine(want, got string) bool {
	want, got = strings.TrimRight(want, " \t"), strings.TrimRight(got, " \t")
	parts := strings.Split(want, "...")
	if len(parts) == 1 {
		return want == got
	}
	if !strings.HasPrefix(got, parts[0]) {
		return false
	}
	got = got[len(parts[0]):]
	for _, part := range parts[1 : len(parts)-1] {
		i := strings.Index(got, part)
		if i < 0 {
			return false
		}
		got = got[i+len(part):]
	}
	last := parts[len(parts)-1]
	return len(got) >= len(last) && strings.HasSuffix(got, last)
}

// mrkToISO2709 converts records in MARCMaker text ("=LDR  00000nam…",
// "=001  id", "=245  10$aTitle$cAuthor", blank lines between records, "\"
// for a blank in the leader, control fields and indicators, {dollar} for a
// literal $) to ISO 2709, laid out by marc.Marshal.
func mrkToISO2709(text []byte) ([]byte, error) {
	var out []byte
	var rec *marc.Record
	records := 0
	flush := func() error {
		if rec == nil {
			return nil
		}
		records++
		if len(rec.Leader) != 24 {
			return fmt.Errorf("record %d: the leader is %d characters, not 24", records, len(rec.Leader))
		}
		b, err := marc.Marshal(rec)
		if err != nil {
			return fmt.Errorf("record %d: %w", records, err)
		}
		out, rec = append(out, b...), nil
		return nil
	}
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" {
			if err := flush(); err != nil {
				return nil, err
			}
			continue
		}
		if !strings.HasPrefix(line, "=") || len(line) < 4 || !utf8.ValidString(line) {
			return nil, fmt.Errorf("line %d: %q is not a MARCMaker line (=TAG  data)", n, line)
		}
		if rec == nil {
			rec = &marc.Record{}
		}
		tag := line[1:4]
		value := strings.TrimPrefix(line[4:], "  ")
		value = strings.TrimPrefix(value, " ")
		switch {
		case tag == "LDR":
			rec.Leader = strings.ReplaceAll(value, `\`, " ")
		case tag < "010" && isDigits(tag):
			rec.Control = append(rec.Control, marc.ControlField{Tag: tag, Value: strings.ReplaceAll(unescapeMRK(value), `\`, " ")})
		case isDigits(tag):
			if len(value) < 2 {
				return nil, fmt.Errorf("line %d: field %s has no indicators", n, tag)
			}
			ind := strings.ReplaceAll(value[:2], `\`, " ")
			subs := strings.Split(value[2:], "$")
			if subs[0] != "" || len(subs) < 2 {
				return nil, fmt.Errorf("line %d: field %s: subfields start with $ after the indicators", n, tag)
			}
			f := marc.DataField{Tag: tag, Ind1: ind[:1], Ind2: ind[1:]}
			for _, s := range subs[1:] {
				if s == "" {
					return nil, fmt.Errorf("line %d: field %s: a $ without a subfield code", n, tag)
				}
				_, size := utf8.DecodeRuneInString(s)
				f.Subfields = append(f.Subfields, marc.Subfield{Code: s[:size], Value: unescapeMRK(s[size:])})
			}
			rec.Data = append(rec.Data, f)
		default:
			return nil, fmt.Errorf("line %d: %q is not a tag", n, tag)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return out, nil
}

// unescapeMRK reads MARCMaker's escapes of characters with a meaning of
// their own.
func unescapeMRK(s string) string {
	return strings.NewReplacer("{dollar}", "$", "{backslash}", `\`).Replace(s)
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// TestMRKToISO2709 checks the converter against a record laid out by hand.
func TestMRKToISO2709(t *testing.T) {
	got, err := mrkToISO2709([]byte("=LDR  00000nam a2200000 a 4500\n=001  b1\n=245  10$aT{dollar}$cA\n"))
	if err != nil {
		t.Fatal(err)
	}
	// Base 24 + 2×12 + 1 = 49; 001 is 3 bytes at 0, 245 is 2+4+3+1 = 10 at 3.
	want := "00063nam a2200049 a 4500" + "001000300000" + "245001000003" + "\x1e" +
		"b1\x1e" + "10\x1faT$\x1fcA\x1e" + "\x1d"
	if string(got) != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
	for _, bad := range []string{"=LDR  short\n", "=245  10aTitle\n", "LDR\n", "=24x  10$aT\n", "=LDR  00000nam a2200000 a 4500\n=245  1\n"} {
		if _, err := mrkToISO2709([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// FuzzMRKToISO2709: any text is refused or gives records whose leaders give
// their true lengths and whose directories point at their fields.
func FuzzMRKToISO2709(f *testing.F) {
	f.Add("=LDR  00000nam a2200000 a 4500\n=001  b1\n=245  10$aT$cA\n\n=LDR  00000nam a2200000 a 4500\n=952  \\\\$p1$aMAIN\n")
	f.Fuzz(func(t *testing.T, text string) {
		out, err := mrkToISO2709([]byte(text))
		if err != nil {
			return
		}
		for len(out) > 0 {
			n, err := strconv.Atoi(string(out[:5]))
			if err != nil || n > len(out) || out[n-1] != 0x1d {
				t.Fatalf("record length %q does not end a record in %q", out[:5], out)
			}
			rec := out[:n]
			base, err := strconv.Atoi(string(rec[12:17]))
			if err != nil || base > n || rec[base-1] != 0x1e || (base-25)%12 != 0 {
				t.Fatalf("base address %q is wrong in %q", rec[12:17], rec)
			}
			for e := 24; e < base-1; e += 12 {
				length, _ := strconv.Atoi(string(rec[e+3 : e+7]))
				start, _ := strconv.Atoi(string(rec[e+7 : e+12]))
				if end := base + start + length; end > n-1 || rec[end-1] != 0x1e {
					t.Fatalf("directory entry %q does not end at a field terminator in %q", rec[e:e+12], rec)
				}
			}
			out = out[n:]
		}
	})
}

// TestDocsRunnerFails runs TestDocs over pages that must fail, in a child
// test process, and over one that must pass.
func TestDocsRunnerFails(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the test binary again")
	}
	cases := []struct {
		name, page, want string
		pass             bool
	}{
		{"wrong output", "```console\n$ circa db init\nready for ever\n```\n", "output differs", false},
		{"wrong exit status", "```console exit=2\n$ circa db init\n...\n```\n", "exit 0, want 2", false},
		{"unused file", "```yaml file=rules.yaml\ncurrency: USD\n```\n", "file rules.yaml is written but no command uses it", false},
		{"not circa", "```console\n$ rm -rf data\n```\n", "only circa commands are run", false},
		{"wrong file content", "```console\n$ circa db init\n...\n$ circa rules show\n...\n$ circa profile selfcheck export kiosks.yaml\n```\n" +
			"```yaml check=kiosks.yaml\nversion: 2\n...\n```\n", "kiosks.yaml differs", false},
		{"right output", "```console\n$ circa db init\n.../data/circa.db ready (schema version ...)\n```\n" +
			"```yaml file=rules.yaml\ncurrency: US\n```\n```console exit=1\n$ circa rules import rules.yaml\ncirca: ...\n```\n" +
			"```console pending\n$ circa nosuch command\n```\n", "pending", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "page.md"), []byte("# A page\n\n"+c.page), 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(os.Args[0], "-test.run", "^TestDocs$", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), docsDirEnv+"="+dir)
			out, err := cmd.CombinedOutput()
			if c.pass != (err == nil) {
				t.Fatalf("pass=%v, err %v:\n%s", c.pass, err, out)
			}
			if !strings.Contains(string(out), c.want) {
				t.Fatalf("output lacks %q:\n%s", c.want, out)
			}
		})
	}
}
