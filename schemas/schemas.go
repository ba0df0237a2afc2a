// Package schemas carries the official XML schemas that circa's messages are
// checked against — NCIP 2.02, OAI-PMH 2.0 with oai_dc and MARC21 slim, Alma's users schema — byte
// for byte as their publishers issued them (SOURCES.md names each origin and
// licence). They are embedded so that `circa ncip check` and `circa oai
// harvest --validate` work from the binary alone, and so that tests find them
// without anything beside the repository.
//
// xmllint reads schemas from files and resolves their imports beside them, so
// callers write the set to a directory with WriteDir and point xmllint there.
package schemas

import (
	"embed"
	"io/fs"
	"os"
	"path/filepath"
)

//go:embed ncip/ncip_v2_02.xsd oai/*.xsd oai/catalog.xml alma/*.xsd
var files embed.FS

// Paths of the schemas inside the directory WriteDir fills.
const (
	// NCIP is the NCIP 2.02 schema.
	NCIP = "ncip/ncip_v2_02.xsd"
	// OAIDir holds oai-all.xsd, which imports OAI-PMH.xsd and every metadata
	// format circa serves, and catalog.xml, the XML catalog that maps the
	// schemas' remote locations to the files beside it.
	OAIDir = "oai"
	// AlmaUsers is Ex Libris' users schema (it includes rest_user.xsd and
	// rest_researcher.xsd beside it), which student-information-system
	// users files and circa's users exports follow.
	AlmaUsers = "alma/rest_users.xsd"
)

// WriteDir writes every schema under dir (created if missing), keeping the
// paths above, so that xmllint can validate offline against dir/NCIP or with
// the catalog in dir/OAIDir.
func WriteDir(dir string) error {
	return fs.WalkDir(files, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, filepath.FromSlash(path))
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		b, err := files.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	})
}

// WriteTemp writes every schema to a new temporary directory, as WriteDir
// does, and returns it with the function that removes it. The directory's
// name holds no '#': libxml2 resolves a schema's imports as URIs, and a '#'
// would cut the path.
func WriteTemp() (dir string, remove func(), err error) {
	dir, err = os.MkdirTemp("", "circa-schemas-")
	if err != nil {
		return "", nil, err
	}
	remove = func() { os.RemoveAll(dir) }
	if err := WriteDir(dir); err != nil {
		remove()
		return "", nil, err
	}
	return dir, remove, nil
}
