package schemas_test

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/circa-ils/circa/internal/conformance"
	"github.com/circa-ils/circa/schemas"
)

// TestFilesMatchSHA256SUMS checks that WriteDir writes exactly the files
// SHA256SUMS lists, each byte for byte as published (SOURCES.md).
func TestFilesMatchSHA256SUMS(t *testing.T) {
	f, err := os.Open("SHA256SUMS")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok {
			t.Fatalf("SHA256SUMS: bad line %q", sc.Text())
		}
		want[name] = sum
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := schemas.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		rel = filepath.ToSlash(rel)
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		switch w, ok := want[rel]; {
		case !ok:
			t.Errorf("%s is embedded but not in SHA256SUMS", rel)
		case w != hex.EncodeToString(sum[:]):
			t.Errorf("%s differs from its published form (SHA256SUMS)", rel)
		}
		delete(want, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for name := range want {
		t.Errorf("%s is in SHA256SUMS but not embedded", name)
	}
	for _, p := range []string{schemas.NCIP, schemas.OAIDir + "/oai-all.xsd", schemas.OAIDir + "/catalog.xml"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Error(err)
		}
	}
}

const ncipCheckIn = `<?xml version="1.0" encoding="UTF-8"?>
<ns1:NCIPMessage xmlns:ns1="http://www.niso.org/2008/ncip" ns1:version="http://www.niso.org/schemas/ncip/v2_02/ncip_v2_02.xsd">
<ns1:CheckInItem><ns1:ItemId><ns1:ItemIdentifierValue>I-1</ns1:ItemIdentifierValue></ns1:ItemId></ns1:CheckInItem>
</ns1:NCIPMessage>`

// An OAI-PMH page with each metadata format circa serves: its schemas import
// others by their official URLs, which the catalog maps to the local files.
const oaiPage = `<?xml version="1.0" encoding="UTF-8"?>
<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><responseDate>2026-01-01T00:00:00Z</responseDate>
<request verb="ListRecords" metadataPrefix="oai_dc">http://library.example.edu/oai</request><ListRecords>
<record><header><identifier>oai:library.example.edu:1</identifier><datestamp>2026-01-01T00:00:00Z</datestamp></header>
<metadata><oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" xmlns:dc="http://purl.org/dc/elements/1.1/">
<dc:title xml:lang="en">A title</dc:title></oai_dc:dc></metadata></record>
<record><header><identifier>oai:library.example.edu:2</identifier><datestamp>2026-01-01T00:00:00Z</datestamp></header>
<metadata><record xmlns="http://www.loc.gov/MARC21/slim"><leader>00000cam a2200000 i 4500</leader>
<datafield tag="245" ind1="1" ind2="0"><subfield code="a">A title</subfield></datafield></record></metadata></record>
</ListRecords></OAI-PMH>`

// TestValidateOffline validates with xmllint against the written schemas
// with the network refused: every import must resolve to a file beside them.
func TestValidateOffline(t *testing.T) {
	xmllint := conformance.Tool(t, "xmllint")
	dir := t.TempDir()
	if err := schemas.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	oaiDir := filepath.Join(dir, schemas.OAIDir)
	check := func(name, schema, doc string) error {
		t.Helper()
		f := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(f, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(xmllint, "--noout", "--nonet", "--schema", schema, f)
		cmd.Env = append(os.Environ(), "XML_CATALOG_FILES="+filepath.Join(oaiDir, "catalog.xml"))
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%w\n%s", err, out)
		}
		return nil
	}
	ncipXSD := filepath.Join(dir, schemas.NCIP)
	oaiXSD := filepath.Join(oaiDir, "oai-all.xsd")
	if err := check("ncip.xml", ncipXSD, ncipCheckIn); err != nil {
		t.Errorf("NCIP: %v", err)
	}
	if err := check("oai.xml", oaiXSD, oaiPage); err != nil {
		t.Errorf("OAI-PMH: %v", err)
	}
	// The schemas do constrain: an unprefixed NCIP version and a MARC leader
	// of the wrong length are refused.
	if check("bad-ncip.xml", ncipXSD, strings.Replace(ncipCheckIn, "ns1:version=", "version=", 1)) == nil {
		t.Error("an unprefixed version validated")
	}
	if check("bad-oai.xml", oaiXSD, strings.Replace(oaiPage, "i 4500", "i 450", 1)) == nil {
		t.Error("a 23-character leader validated")
	}
}
