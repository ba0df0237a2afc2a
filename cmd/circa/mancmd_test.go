package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/circa-ils/circa/internal/conformance"
)

// Every command a user can type has its page, dated by SOURCE_DATE_EPOCH,
// carrying its flags; man itself, being for the package build, has none.
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
	// man-db renders each page without a warning, as lintian asks.
	if !conformance.Have(t, "man") {
		return
	}
	for _, name := range []string{"circa.1", "circa-serve.1", "circa-fee-pay.1"} {
		cmd := exec.Command("man", "--warnings", "-E", "UTF-8", "-l", "-Tutf8", "-Z", filepath.Join(dir, name))
		cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8", "MANWIDTH=80")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil || stderr.Len() > 0 {
			t.Errorf("man %s: %v %s", name, err, stderr.String())
		}
	}
}
