package publishing

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/circa-ils/circa/internal/conformance"
	"github.com/circa-ils/circa/marc"
	"github.com/circa-ils/circa/profiles/delivery"
	"github.com/circa-ils/circa/profiles/oai"
)

// TestMarclintDemo publishes the whole demo catalogue with its holdings
// and items, as a file and over OAI-PMH, and runs Debian's marclint
// (MARC::Lint) on every record: it must report nothing.
func TestMarclintDemo(t *testing.T) {
	marclint := conformance.Tool(t, "marclint")
	db := openDB(t, demoFile(t))
	out := t.TempDir()
	prof := Profile{Code: "all", Holdings: true, Items: true,
		Target: &delivery.Target{Kind: delivery.KindLocal, LocalDir: out}}
	if err := SaveProfiles(ctx, db, prof); err != nil {
		t.Fatal(err)
	}
	c := newClock(seedNow.Add(time.Hour))
	res, err := newPublisher(t, db, t.TempDir(), c).Full(ctx, "all")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(out, res.Files[0]))
	if err != nil {
		t.Fatal(err)
	}
	mrc := filepath.Join(t.TempDir(), "demo.mrc")
	n := toISO2709(t, b, mrc)
	if n != res.Records || n < 1000 {
		t.Fatalf("%d records converted of %d published", n, res.Records)
	}
	lint(t, marclint, mrc)

	// The same records harvested as marc21_holdings.
	recs, _ := startServer(t, db, oai.Options{}).harvest(oai.HarvestOptions{Prefix: "marc21_holdings"})
	var coll bytes.Buffer
	coll.WriteString("<collection>")
	live := 0
	for _, r := range recs {
		if !r.Deleted {
			coll.Write(r.Metadata)
			live++
		}
	}
	coll.WriteString("</collection>")
	harvested := filepath.Join(t.TempDir(), "oai.mrc")
	if n := toISO2709(t, coll.Bytes(), harvested); n != live || n < res.Records {
		t.Fatalf("%d harvested records converted of %d, %d published in the file", n, live, res.Records)
	}
	lint(t, marclint, harvested)
}

// toISO2709 converts a MARCXML collection to a binary MARC file, which is
// what marclint reads, and returns the number of records.
func toISO2709(t *testing.T, xml []byte, path string) int {
	t.Helper()
	r := marc.NewXMLReader(bytes.NewReader(xml))
	var buf bytes.Buffer
	n := 0
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		bin, err := marc.Marshal(rec)
		if err != nil {
			t.Fatalf("record %d: %v", n+1, err)
		}
		buf.Write(bin)
		n++
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return n
}

// lint runs marclint on a file and fails with its warnings.
func lint(t *testing.T, marclint, path string) {
	t.Helper()
	cmd := exec.Command(marclint, "--quiet", "--nostats", path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("marclint: %v: %s", err, stderr.String())
	}
	if s := strings.TrimSpace(string(stdout) + stderr.String()); s != "" {
		lines := strings.Split(s, "\n")
		t.Errorf("marclint: %d lines of warnings; first ones:\n%s", len(lines), strings.Join(lines[:min(len(lines), 40)], "\n"))
	}
}
