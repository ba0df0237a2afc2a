package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// Every command a user can type has its page, dated by SOURCE_DATE_EPOCH,
// carrying its flags; man itself, being for the package build, has none.
// lintian checks that man renders them without a warning (make conformance).
func TestManWritesAPagePerCommand(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "1767225600") // 2026-01-01
	dir := filepath.Join(t.TempDir(), "man1")
	if r := run(t, "man", dir); r.code != 0 {
		t.Fatalf("man: %+v", r)
	}
	var want []string
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if !c.IsAvailableCommand() && c.HasParent() {
			return
		}
		want = append(want, strings.ReplaceAll(c.CommandPath(), " ", "-")+".1")
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRootCommand(&app{}))
	for _, name := range want {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("no page for %s", name)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "circa-man.1")); err == nil {
		t.Error("the hidden man command has a page")
	}
	serve, err := os.ReadFile(filepath.Join(dir, "circa-serve.1"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{`.TH "CIRCA-SERVE" "1" "Jan 2026" "circa `, `\fB--log-file\fP`, `reopened on SIGHUP`} {
		if !bytes.Contains(serve, []byte(s)) {
			t.Errorf("circa-serve.1 lacks %q:\n%s", s, serve)
		}
	}
	if bytes.Contains(serve, []byte("Auto generated")) {
		t.Error("page carries cobra's build-dated history section")
	}
}
