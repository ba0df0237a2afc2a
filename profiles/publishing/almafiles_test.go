package publishing

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/profiles/delivery"
)

// almaFileName is how jobs written for Alma's publishing pick files up:
// they take the names ending in .tar.gz from the directory (Princeton's
// lib_jobs) and read the profile, job id, date, time and part from the
// name Alma gives them, e.g.
// incremental_recap_25908087650006421_20230420_160408[057]_new.xml.tar.gz.
var almaFileName = regexp.MustCompile(`^(.+)_([0-9]+)_([0-9]{8})_([0-9]{6})\[([0-9]{3})\]_(new|delete)\.xml\.tar\.gz$`)

// almaFile is one publishing file as such a job reads it.
type almaFile struct {
	Profile, Job, Date, Time, Part string
	Records                        []circ.MARCRecord
}

// readAlmaFiles reads a pick-up directory's files the way such a job
// does: every .tar.gz that is not empty, matched by almaFileName, every
// entry of its tar archive a MARCXML document whose root is <collection>
// in the MARC21 slim namespace. Other files (manifests) are left alone.
func readAlmaFiles(t *testing.T, files map[string][]byte) map[string]almaFile {
	t.Helper()
	out := map[string]almaFile{}
	for name, b := range files {
		if !regexp.MustCompile(`\.tar\.gz$`).MatchString(name) || len(b) == 0 {
			continue
		}
		m := almaFileName.FindStringSubmatch(name)
		if m == nil {
			t.Errorf("%s does not have the name of an Alma publishing file", name)
			continue
		}
		f := almaFile{Profile: m[1], Job: m[2], Date: m[3], Time: m[4], Part: m[6]}
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		tr := tar.NewReader(zr)
		for {
			hdr, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			doc, err := io.ReadAll(tr)
			if err != nil {
				t.Fatalf("%s: %s: %v", name, hdr.Name, err)
			}
			var root struct{ XMLName xml.Name }
			if err := xml.Unmarshal(doc, &root); err != nil || root.XMLName != (xml.Name{Space: circ.MARC21slimNS, Local: "collection"}) {
				t.Errorf("%s: %s: root %v %v, want a MARCXML collection", name, hdr.Name, root.XMLName, err)
			}
			recs, err := circ.ParseMARCXML(doc)
			if err != nil {
				t.Fatalf("%s: %s: %v", name, hdr.Name, err)
			}
			f.Records = append(f.Records, recs...)
		}
		out[name] = f
	}
	return out
}

// TestAlmaFileNames: the files of a run are named as Alma names them and
// each is found by the consumer's pattern.
func TestAlmaFileNames(t *testing.T) {
	for _, c := range []struct {
		seq          int
		part, format string
		want         string
	}{
		{1, PartNew, FormatMARCXMLTarGz, "recap_1_20261102_095950[000]_new.xml.tar.gz"},
		{12, PartDelete, FormatMARCXMLTarGz, "recap_12_20261102_095950[000]_delete.xml.tar.gz"},
		{3, PartNew, FormatMARCXML, "recap_3_20261102_095950[000]_new.xml"},
	} {
		got := FileName("recap", c.seq, seedNow.Add(59*time.Minute+50*time.Second), c.part, c.format)
		if got != c.want {
			t.Errorf("FileName = %q, want %q", got, c.want)
		}
		if m := almaFileName.FindStringSubmatch(got); (m != nil) != (c.format == FormatMARCXMLTarGz) ||
			m != nil && !slices.Equal(m[1:], []string{"recap", strconv.Itoa(c.seq), "20261102", "095950", "000", c.part}) {
			t.Errorf("consumer's pattern on %s: %q", got, m)
		}
	}
}

// TestResumeFileOfOneFileVersion: a delivery that a version writing one
// file per run left unfinished is still finished, under its own name.
func TestResumeFileOfOneFileVersion(t *testing.T) {
	db := openDB(t, demoFile(t))
	pickup, outbox := t.TempDir(), t.TempDir()
	if err := SaveProfiles(ctx, db, Profile{Code: "old", NoManifest: true,
		Target: &delivery.Target{Kind: delivery.KindLocal, LocalDir: pickup}}); err != nil {
		t.Fatal(err)
	}
	const name = "old_incremental_000001_20261102T095950Z.xml"
	src := filepath.Join(outbox, name)
	if err := os.WriteFile(src, []byte(`<collection xmlns="`+circ.MARC21slimNS+`"></collection>`), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := delivery.Prepare(name, src, delivery.Summary{Records: 1})
	if err != nil {
		t.Fatal(err)
	}
	d.NoManifest = true
	c := newClock(seedNow.Add(time.Hour))
	p := newPublisher(t, db, outbox, c)
	through := seedNow.Add(50 * time.Minute)
	if err := p.saveState(ctx, "old", runState{Pending: &pending{Kind: "incremental", Seq: 1, Through: through, Records: 1, One: &d}}); err != nil {
		t.Fatal(err)
	}
	res, err := p.Incremental(ctx, "old")
	if err != nil || !res.Resumed || !slices.Equal(res.Files, []string{name}) {
		t.Fatalf("resumed run %+v %v", res, err)
	}
	if got := keys(delivered(t, pickup)); !slices.Equal(got, []string{name}) {
		t.Errorf("pick-up holds %v", got)
	}
	if st, err := p.state(ctx, "old"); err != nil || st.Pending != nil || st.Runs != 1 || !st.Through.Equal(through) {
		t.Errorf("state after the run %+v %v", st, err)
	}
}
