// Package conformance is for the tests that check circa against real outside
// programs: xmllint with the official schemas, stunnel as a kiosk's TLS
// client, OpenSSH's sshd as an SFTP server.
//
// `make test` needs nothing but Go: where a program is missing, the test that
// needs it skips and says so, and the checks run in `make conformance`, which
// installs the programs and sets CIRCA_CONFORMANCE=1. Under that variable a
// missing program fails the test instead, so that no run can pass by skipping
// them unseen.
package conformance

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/circa-ils/circa/schemas"
)

// Env is the variable `make conformance` sets to 1.
const Env = "CIRCA_CONFORMANCE"

// Required reports whether this run is `make conformance`, where every
// outside program must be present.
func Required() bool { return os.Getenv(Env) == "1" }

// Tool returns the path of the first of names on PATH. When none is there it
// skips the test, or under `make conformance` fails it.
func Tool(tb testing.TB, names ...string) string {
	tb.Helper()
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	msg := missing(names)
	if Required() {
		tb.Fatalf("%s=1 but %s", Env, msg)
	}
	tb.Skip(msg + "; runs in make conformance")
	return ""
}

// Have reports whether name is on PATH, for a check that is one part of a
// larger test: when it is missing the test goes on without that check and
// logs so, or under `make conformance` fails.
func Have(tb testing.TB, name string) bool {
	tb.Helper()
	if _, err := exec.LookPath(name); err == nil {
		return true
	}
	if Required() {
		tb.Fatalf("%s=1 but %s", Env, missing([]string{name}))
	}
	tb.Logf("%s: check skipped; it runs in make conformance", missing([]string{name}))
	return false
}

// Only skips the test outside `make conformance`, for a check that needs more
// than a program on PATH (sshd needs root for its /run/sshd).
func Only(tb testing.TB, what string) {
	tb.Helper()
	if !Required() {
		tb.Skip(what + " runs in make conformance (" + Env + "=1)")
	}
}

func missing(names []string) string {
	return strings.Join(names, " or ") + " is not on PATH"
}

// SchemaDir writes the official schemas circa carries (package schemas) to a
// directory removed after the test, and returns it. It is not the test's
// TempDir, whose name holds the test's: a '#' in a subtest's name would cut
// the path for libxml2.
func SchemaDir(tb testing.TB) string {
	tb.Helper()
	dir, remove, err := schemas.WriteTemp()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(remove)
	return dir
}

// ValidateNCIP validates every document against ncip_v2_02.xsd with one
// xmllint run, offline, and fails the test naming each invalid one. Without
// xmllint it skips the test as Tool does; a test with other checks asks Have
// first.
func ValidateNCIP(tb testing.TB, docs ...[]byte) {
	tb.Helper()
	xmllint := Tool(tb, "xmllint")
	xmllintDocs(tb, xmllint, []string{"--schema", filepath.Join(SchemaDir(tb), schemas.NCIP)}, "not valid against ncip_v2_02.xsd", docs)
}

// ValidateAlmaUsers validates every document against Alma's rest_users.xsd
// with one xmllint run, offline; without xmllint it skips as Tool does.
func ValidateAlmaUsers(tb testing.TB, docs ...[]byte) {
	tb.Helper()
	xmllint := Tool(tb, "xmllint")
	xmllintDocs(tb, xmllint, []string{"--schema", filepath.Join(SchemaDir(tb), schemas.AlmaUsers)}, "not valid against rest_users.xsd", docs)
}

// WellFormed parses every document with xmllint without a schema, for
// messages no schema covers. Without xmllint it skips as Tool does.
func WellFormed(tb testing.TB, docs ...[]byte) {
	tb.Helper()
	xmllint := Tool(tb, "xmllint")
	xmllintDocs(tb, xmllint, nil, "not well-formed", docs)
}

func xmllintDocs(tb testing.TB, xmllint string, args []string, fault string, docs [][]byte) {
	tb.Helper()
	if len(docs) == 0 {
		tb.Fatal("no documents to check")
	}
	tmp := tb.TempDir()
	args = append([]string{"--noout", "--nonet"}, args...)
	names := make([]string, len(docs))
	for i, b := range docs {
		names[i] = filepath.Join(tmp, fmt.Sprintf("%03d.xml", i))
		if err := os.WriteFile(names[i], b, 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	out, err := exec.Command(xmllint, append(args, names...)...).CombinedOutput()
	if err == nil {
		return
	}
	// xmllint names a file in every message about it and ends with
	// "NAME validates" for the good ones when it has a schema.
	for i, b := range docs {
		if bytes.Contains(out, []byte(names[i])) && !bytes.Contains(out, []byte(names[i]+" validates")) {
			tb.Errorf("document %d %s:\n%s", i, fault, b)
		}
	}
	tb.Fatalf("xmllint: %v\n%s", err, out)
}
