package oai

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// XMLLintValidator returns a HarvestOptions.Validate function that checks each
// page with xmllint against the OAI-PMH schemas in schemaDir, offline. schemaDir
// must hold oai-all.xsd (importing OAI-PMH.xsd, oai_dc.xsd, oai-identifier.xsd
// and MARC21slim.xsd) and catalog.xml, the XML catalog that maps the schemas'
// remote locations to the local copies. It fails when xmllint is not installed
// or the directory lacks those files.
func XMLLintValidator(schemaDir string) (func(page []byte) error, error) {
	bin, err := exec.LookPath("xmllint")
	if err != nil {
		return nil, fmt.Errorf("oai: xmllint not found (Debian package libxml2-utils): %w", err)
	}
	schema := filepath.Join(schemaDir, "oai-all.xsd")
	catalog := filepath.Join(schemaDir, "catalog.xml")
	for _, f := range []string{schema, catalog} {
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("oai: schema directory: %w", err)
		}
	}
	return func(page []byte) error {
		cmd := exec.Command(bin, "--noout", "--nonet", "--schema", schema, "-")
		cmd.Env = append(os.Environ(), "XML_CATALOG_FILES="+catalog)
		cmd.Stdin = bytes.NewReader(page)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("xmllint: %w: %s", err, bytes.TrimSpace(out))
		}
		return nil
	}, nil
}
