package main

import (
	"bytes"
	"strings"
	"testing"
)

// A misspelt subcommand of any command group is an error, not the group's
// help with exit status 0, and names the command meant.
func TestUnknownSubcommandExitsTwoWithSuggestion(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args    []string
		meant   string
		command string
	}{
		{[]string{"profile", "selfchek"}, `"selfcheck"`, `"circa profile"`},
		{[]string{"profile", "selfcheck", "lst"}, `"list"`, `"circa profile selfcheck"`},
		{[]string{"db", "chek"}, `"check"`, `"circa db"`},
		{[]string{"patron", "shwo", "P1"}, `"show"`, `"circa patron"`},
		{[]string{"sevre"}, `"serve"`, `"circa"`},
	} {
		r := run(t, append(c.args, "--data-dir", dir)...)
		lines := strings.Split(strings.TrimSuffix(r.errOut, "\n"), "\n")
		if r.code != 2 || len(lines) != 1 || r.out != "" ||
			!strings.Contains(r.errOut, c.meant) || !strings.Contains(r.errOut, c.command) {
			t.Errorf("%v: %+v", c.args, r)
		}
	}
	// Nothing close: still an error, without a suggestion.
	if r := run(t, "profile", "zzzzzzzz"); r.code != 2 || strings.Contains(r.errOut, "did you mean") {
		t.Errorf("far-off name: %+v", r)
	}
	// A group alone still shows its help.
	if r := run(t, "profile"); r.code != 0 || !strings.Contains(r.out, "Available Commands") {
		t.Errorf("group without arguments: %+v", r)
	}
	for _, args := range [][]string{{"profile", "--bogus"}, {"db", "check", "--bogus"}, {"--bogus"}} {
		if r := run(t, args...); r.code != 2 || !strings.Contains(r.errOut, "unknown flag") {
			t.Errorf("%v: %+v", args, r)
		}
	}
}

// A profile with three problems names each on its own line.
func TestSeveralErrorsOnePerLine(t *testing.T) {
	dir := seededDir(t)
	r := run(t, "profile", "selfcheck", "add", "k3", "--password", "pw", "--institution", "MAIN", "--library", "MAIN",
		"--checksum", "maybe", "--charset", "ebcdic", "--terminator", "LF", "--data-dir", dir)
	if r.code != 1 {
		t.Fatalf("%+v", r)
	}
	lines := strings.Split(strings.TrimSuffix(r.errOut, "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("want three lines, got %q", r.errOut)
	}
	for i, want := range []string{`checksum "maybe"`, `charset "ebcdic"`, `terminator "LF"`} {
		if !strings.HasPrefix(lines[i], "circa: selfcheck k3: ") || !strings.Contains(lines[i], want) {
			t.Errorf("line %d: %q", i, lines[i])
		}
	}
}

// Console logs written anywhere but a terminal carry no colour codes.
func TestConsoleLogWithoutTerminalHasNoColour(t *testing.T) {
	var buf bytes.Buffer
	a := &app{errOut: &buf, logLevel: "debug", logFormat: "console"}
	if err := a.setupLogging(); err != nil {
		t.Fatal(err)
	}
	a.log.Warn().Str("component", "test").Int("n", 3).Msg("hello")
	if !strings.Contains(buf.String(), "hello") || strings.Contains(buf.String(), "\x1b") {
		t.Fatalf("%q", buf.String())
	}
}

// Duration flags read and show units; a bare number keeps its old meaning.
func TestDurationFlagsCarryUnits(t *testing.T) {
	dir := seededDir(t)
	d := []string{"--data-dir", dir}
	r := run(t, append([]string{"profile", "selfcheck", "add", "k4", "--password", "pw", "--institution", "MAIN", "--library", "MAIN",
		"--timeout", "45s", "--retry-window", "2m"}, d...)...)
	if r.code != 0 {
		t.Fatalf("add: %+v", r)
	}
	r = run(t, append([]string{"profile", "selfcheck", "show", "k4"}, d...)...)
	if !strings.Contains(r.out, "timeout_seconds: 45\n") || !strings.Contains(r.out, "retry_window_seconds: 120\n") {
		t.Fatalf("show: %s", r.out)
	}
	if r = run(t, append([]string{"profile", "selfcheck", "edit", "k4", "--timeout", "40"}, d...)...); r.code != 0 {
		t.Fatalf("bare seconds: %+v", r)
	}
	if r = run(t, append([]string{"profile", "selfcheck", "show", "k4"}, d...)...); !strings.Contains(r.out, "timeout_seconds: 40\n") {
		t.Fatalf("show: %s", r.out)
	}
	for _, v := range []string{"1500ms", "soon"} {
		if r = run(t, append([]string{"profile", "selfcheck", "edit", "k4", "--timeout", v}, d...)...); r.code != 2 {
			t.Errorf("--timeout %s: %+v", v, r)
		}
	}
	r = run(t, append([]string{"profile", "ncip", "edit", "ILL", "--retry-window", "10m"}, d...)...)
	if r.code != 0 {
		t.Fatalf("ncip edit: %+v", r)
	}
	if r = run(t, append([]string{"profile", "ncip", "show", "ILL"}, d...)...); !strings.Contains(r.out, "retry_window_seconds: 600\n") {
		t.Fatalf("ncip show: %s", r.out)
	}
	r = run(t, append([]string{"profile", "bursar", "add", "B2", "--library", "MAIN", "--target", "local",
		"--local-dir", t.TempDir(), "--every", "2h"}, d...)...)
	if r.code != 0 {
		t.Fatalf("bursar add: %+v", r)
	}
	if r = run(t, append([]string{"profile", "bursar", "list"}, d...)...); !strings.Contains(r.out, "every 120 min") {
		t.Fatalf("bursar list: %s", r.out)
	}
	r = run(t, "profile", "selfcheck", "add", "--help")
	for _, want := range []string{"--timeout duration", "(default 30s)", "--retry-window duration", "(default 1m0s)"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("help lacks %q", want)
		}
	}
}
