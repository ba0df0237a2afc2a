package ncip

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// sharedDir returns $CIRCA_SHARED_DIR, the folder holding the NCIP schema
// and samples, or skips the test when it is not set.
func sharedDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("CIRCA_SHARED_DIR")
	if dir == "" {
		t.Skip("CIRCA_SHARED_DIR is not set: set it to the shared folder (with schemas/ncip and samples/ncip) to run this test")
	}
	return dir
}

// validateNCIP validates b against ncip_v2_02.xsd with xmllint, offline.
// Without CIRCA_SHARED_DIR or xmllint it only logs that it could not, so
// the checks that follow it in a test still run; tests whose point is the
// schema call sharedDir first and are skipped instead.
func validateNCIP(t testing.TB, b []byte) {
	t.Helper()
	dir := os.Getenv("CIRCA_SHARED_DIR")
	if dir == "" {
		t.Log("schema validation skipped: CIRCA_SHARED_DIR is not set")
		return
	}
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		t.Log("schema validation skipped: xmllint is not installed (Debian package libxml2-utils)")
		return
	}
	xsd := filepath.Join(dir, "schemas", "ncip", "ncip_v2_02.xsd")
	cmd := exec.Command(xmllint, "--noout", "--nonet", "--schema", xsd, "-")
	cmd.Stdin = bytes.NewReader(b)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("not valid against ncip_v2_02.xsd: %v\n%s\n--- message ---\n%s", err, out.String(), b)
	}
}

// checkWellFormed parses b with xmllint without a schema, for messages the
// schema does not cover (LookupVersion, the legacy writer options).
func checkWellFormed(t testing.TB, b []byte) {
	t.Helper()
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		t.Log("well-formedness check skipped: xmllint is not installed (Debian package libxml2-utils)")
		return
	}
	cmd := exec.Command(xmllint, "--noout", "--nonet", "-")
	cmd.Stdin = bytes.NewReader(b)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("not well-formed: %v\n%s\n%s", err, out, b)
	}
}
