package ncip

import (
	"path/filepath"
	"testing"

	"github.com/circa-ils/circa/internal/conformance"
)

// samplesDir holds schema-valid messages from the XC NCIP2 Toolkit
// (testdata/xc/NOTICE.md).
var samplesDir = filepath.Join("testdata", "xc")

// validateNCIP validates b against ncip_v2_02.xsd with xmllint, offline.
// Without xmllint it logs that it could not, so the checks that follow it
// in a test still run (make conformance runs them all); tests whose point
// is the schema call conformance.Tool first and are skipped instead.
func validateNCIP(t testing.TB, b []byte) {
	t.Helper()
	if conformance.Have(t, "xmllint") {
		conformance.ValidateNCIP(t, b)
	}
}

// checkWellFormed parses b with xmllint without a schema, for messages the
// schema does not cover (LookupVersion, the legacy writer options).
func checkWellFormed(t testing.TB, b []byte) {
	t.Helper()
	if conformance.Have(t, "xmllint") {
		conformance.WellFormed(t, b)
	}
}
