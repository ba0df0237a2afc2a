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

// ValidatePages checks many pages with one xmllint run against the schemas in
// schemaDir (as XMLLintValidator does for one). The error names the pages that
// fail, by their index, with xmllint's messages.
func ValidatePages(schemaDir string, pages [][]byte) error {
	bin, err := exec.LookPath("xmllint")
	if err != nil {
		return fmt.Errorf("oai: xmllint not found (Debian package libxml2-utils): %w", err)
	}
	tmp, err := os.MkdirTemp("", "circa-oai-pages")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	args := []string{"--noout", "--nonet", "--schema", filepath.Join(schemaDir, "oai-all.xsd")}
	for i, p := range pages {
		f := filepath.Join(tmp, fmt.Sprintf("page%03d.xml", i))
		if err := os.WriteFile(f, p, 0o600); err != nil {
			return err
		}
		args = append(args, f)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "XML_CATALOG_FILES="+filepath.Join(schemaDir, "catalog.xml"))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("xmllint: %w\n%s", err, out)
	}
	return nil
}
