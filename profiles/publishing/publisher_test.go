package publishing

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/fixtures"
	"github.com/circa-ils/circa/profiles/delivery"
	"github.com/circa-ils/circa/profiles/delivery/sftptest"
	"github.com/circa-ils/circa/store"
	"github.com/circa-ils/circa/store/boltstore"
)

var fastRetry = delivery.Retry{Attempts: 3, Initial: time.Millisecond, Max: 4 * time.Millisecond}

// sftpProfile is a profile delivering the records held in MAIN's reference
// and media collections to srv's /out.
func sftpProfile(srv *sftptest.Server, format string) Profile {
	return Profile{Code: "recap", Name: "ReCAP partner", Selection: Selection{Locations: []string{"MAIN-REF", "MAIN-MEDIA"}},
		Format: format, Holdings: true, Items: true, Every: time.Hour,
		Target: &delivery.Target{Kind: delivery.KindSFTP, Host: srv.Host, Port: srv.Port, User: srv.User,
			PrivateKey: string(srv.ClientKeyPEM), KnownHosts: srv.KnownHosts, RemoteDir: "/out"}}
}

func newPublisher(t *testing.T, db store.DB, dir string, c *clock) *Publisher {
	t.Helper()
	p, err := NewPublisher(db, PublisherOptions{Dir: dir, Now: c.now,
		Delivery: delivery.Options{Retry: fastRetry}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// delivered returns the files in a pick-up directory, by name.
func delivered(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = b
	}
	return out
}

// records parses a delivered file (unpacking a .tar.gz) into MARC records.
func records(t *testing.T, name string, b []byte) []circ.MARCRecord {
	t.Helper()
	if strings.HasSuffix(name, ".tar.gz") {
		zr, err := gzip.NewReader(strings.NewReader(string(b)))
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(zr)
		hdr, err := tr.Next()
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Name != strings.TrimSuffix(name, ".tar.gz") {
			t.Errorf("tar entry %s in %s", hdr.Name, name)
		}
		if b, err = io.ReadAll(tr); err != nil {
			t.Fatal(err)
		}
		if _, err := tr.Next(); err != io.EOF {
			t.Errorf("more than one tar entry: %v", err)
		}
	}
	recs, err := circ.ParseMARCXML(b)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// selectedBibs counts the live records sftpProfile selects.
func selectedBibs(t *testing.T, db store.DB) int {
	t.Helper()
	n := 0
	err := db.View(ctx, func(tx store.Tx) error {
		return tx.ForEachBib(func(b store.Bib) bool {
			if b.Temporary || b.Deleted || b.Suppressed {
				return true
			}
			places, _ := circ.PlacesOf(tx, b.ID)
			if slices.ContainsFunc(places, func(p circ.Place) bool { return p.Location == "MAIN-REF" || p.Location == "MAIN-MEDIA" }) {
				n++
			}
			return true
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPublishFullThenIncremental delivers a first load and then exactly the
// changes, each once.
func TestPublishFullThenIncremental(t *testing.T) {
	db := openDB(t, demoFile(t))
	srv := sftptest.Start(t)
	if err := os.Mkdir(srv.Path("/out"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := SaveProfiles(ctx, db, sftpProfile(srv, FormatMARCXMLTarGz)); err != nil {
		t.Fatal(err)
	}
	c := newClock(seedNow.Add(time.Hour))
	p := newPublisher(t, db, t.TempDir(), c)
	full, err := p.Full(ctx, "recap")
	if err != nil {
		t.Fatal(err)
	}
	want := selectedBibs(t, db)
	const fullName = "recap_1_20261102_095950[000]_new.xml.tar.gz"
	if full.Records != want || full.Deleted != 0 || !slices.Equal(full.Files, []string{fullName}) {
		t.Fatalf("full run %+v, want %d records", full, want)
	}
	files := delivered(t, srv.Path("/out"))
	if len(files) != 2 || files[delivery.ManifestName(fullName)] == nil {
		t.Fatalf("delivered %v", keys(files))
	}
	alma := readAlmaFiles(t, files)
	recs := alma[fullName].Records
	if len(alma) != 1 || len(recs) != want || alma[fullName].Part != PartNew || alma[fullName].Profile != "recap" {
		t.Fatalf("consumer reads %d files, %d records", len(alma), len(recs))
	}
	if h := recs[0].Fields("852"); len(h) == 0 || h[0].Value("a") != fixtures.KioskInstitution {
		t.Errorf("no holdings 852 in %+v", recs[0].Data)
	}

	// Changes: an item moves into the selection, a record in it goes, one
	// comes; a record held elsewhere is not sent.
	c.add(time.Hour)
	svc := service(t, db, c)
	moved, err := svc.MoveItem(ctx, staff, fixtures.ItemAvailable, "MAIN-REF", "")
	if err != nil {
		t.Fatal(err)
	}
	gone := itemOf(t, db, fixtures.ItemMagnetic).BibID
	if _, err := svc.DeleteBib(ctx, staff, gone); err != nil {
		t.Fatal(err)
	}
	shelveNewRecord(t, svc, "pub000000001", "Published once", "39999000000001", "MAIN-REF", "REFERENCE")
	shelveNewRecord(t, svc, "pub000000002", "Held elsewhere", "39999000000002", "BRANCH-STACKS", "BOOK")
	// The reference book moves to the stacks: its record leaves the
	// selection and the partner, which has it, is told it is gone.
	left, err := svc.MoveItem(ctx, staff, fixtures.ItemNonCirculating, "MAIN-STACKS", "")
	if err != nil {
		t.Fatal(err)
	}
	c.add(time.Minute)
	inc, err := p.Incremental(ctx, "recap")
	if err != nil {
		t.Fatal(err)
	}
	newName, delName := "recap_2_20261102_110050[000]_new.xml.tar.gz", "recap_2_20261102_110050[000]_delete.xml.tar.gz"
	if inc.Records != 4 || inc.Deleted != 2 || !slices.Equal(inc.Files, []string{newName, delName}) {
		t.Fatalf("incremental run %+v", inc)
	}
	alma = readAlmaFiles(t, delivered(t, srv.Path("/out")))
	if len(alma) != 3 || len(alma[newName].Records) != 2 || len(alma[delName].Records) != 2 || alma[delName].Part != PartDelete {
		t.Fatalf("consumer reads %v", keys(delivered(t, srv.Path("/out"))))
	}
	got := map[string]byte{}
	for _, name := range []string{newName, delName} {
		for _, r := range alma[name].Records {
			if (r.Leader[5] == 'd') != (name == delName) {
				t.Errorf("%s holds a record with leader %q", name, r.Leader)
			}
			got[strings.TrimSpace(r.ControlValue("001"))] = r.Leader[5]
		}
	}
	var movedBib, goneBib, leftBib store.Bib
	db.View(ctx, func(tx store.Tx) error {
		movedBib, _ = tx.Bib(moved.BibID)
		goneBib, _ = tx.Bib(gone)
		leftBib, _ = tx.Bib(left.BibID)
		return nil
	})
	if len(got) != 4 || got[goneBib.ControlNumber] != 'd' || got[leftBib.ControlNumber] != 'd' ||
		got["pub000000001"] == 'd' || got[movedBib.ControlNumber] == 'd' {
		t.Fatalf("incremental file: %v", got)
	}

	// Nothing changed: no file.
	c.add(time.Hour)
	again, err := p.Incremental(ctx, "recap")
	if err != nil || len(again.Files) != 0 {
		t.Fatalf("idle run %+v %v", again, err)
	}
	if n := len(delivered(t, srv.Path("/out"))); n != 6 {
		t.Errorf("%d files delivered, want three files and their manifests", n)
	}
}

// TestPublishCrashBetweenUploadAndRename stops a run after the upload, with
// and without the saved step surviving, and restarts on the reopened file:
// the file arrives exactly once and later runs send nothing again.
func TestPublishCrashBetweenUploadAndRename(t *testing.T) {
	for _, saved := range []bool{true, false} {
		name := "step saved"
		if !saved {
			name = "step lost"
		}
		t.Run(name, func(t *testing.T) {
			path := demoFile(t)
			srv := sftptest.Start(t)
			if err := os.Mkdir(srv.Path("/out"), 0o755); err != nil {
				t.Fatal(err)
			}
			outbox := t.TempDir()
			c := newClock(seedNow.Add(time.Hour))
			db, err := boltstore.Open(path, boltstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if err := SaveProfiles(ctx, db, sftpProfile(srv, FormatMARCXML)); err != nil {
				t.Fatal(err)
			}
			p := newPublisher(t, db, outbox, c)
			errCrash := errors.New("simulated crash")
			p.crash = func(d delivery.Delivery, after bool) error {
				if d.Step == delivery.StepUploadedTemp && after == saved {
					return errCrash
				}
				return nil
			}
			first, err := p.Incremental(ctx, "recap")
			if !errors.Is(err, errCrash) {
				t.Fatalf("want the crash, got %+v %v", first, err)
			}
			files := delivered(t, srv.Path("/out"))
			if len(files) != 1 {
				t.Fatalf("after the crash the target holds %v", keys(files))
			}
			for n := range files {
				if !strings.HasPrefix(n, ".") || !strings.HasSuffix(n, ".part") {
					t.Fatalf("after the crash the target holds %s", n)
				}
			}
			if st, err := LoadStatus(ctx, db, "recap"); err != nil || st.Undelivered != 1 || !st.LastRun.IsZero() {
				t.Fatalf("status after the crash: %+v %v", st, err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}

			db = openDB(t, path)
			c.add(time.Hour)
			p = newPublisher(t, db, outbox, c)
			var seen []RunResult
			p.o.Observer = func(r RunResult, err error) {
				if err == nil {
					seen = append(seen, r)
				}
			}
			res, err := p.Incremental(ctx, "recap")
			if err != nil {
				t.Fatal(err)
			}
			if len(seen) != 1 || !slices.Equal(seen[0].Files, res.Files) {
				t.Errorf("observer saw %+v", seen)
			}
			if st, err := LoadStatus(ctx, db, "recap"); err != nil || st.Undelivered != 0 || !st.LastRun.Equal(c.now()) {
				t.Errorf("status after the resumed run: %+v %v", st, err)
			}
			const name = "recap_1_20261102_095950[000]_new.xml"
			if !res.Resumed || !slices.Equal(res.Files, []string{name}) || res.Records != selectedBibs(t, db) {
				t.Fatalf("resumed run %+v", res)
			}
			files = delivered(t, srv.Path("/out"))
			if len(files) != 2 || files[name] == nil || files[delivery.ManifestName(name)] == nil {
				t.Fatalf("delivered %v", keys(files))
			}
			if n := len(records(t, name, files[name])); n != res.Records {
				t.Fatalf("file holds %d records, run says %d", n, res.Records)
			}
			if left, _ := os.ReadDir(filepath.Join(outbox, "recap")); len(left) != 0 {
				t.Errorf("outbox keeps %d files", len(left))
			}
			c.add(time.Hour)
			if again, err := p.Incremental(ctx, "recap"); err != nil || len(again.Files) != 0 {
				t.Fatalf("run after recovery %+v %v", again, err)
			}
			if n := len(delivered(t, srv.Path("/out"))); n != 2 {
				t.Errorf("%d files on the target after another run", n)
			}
		})
	}
}

// TestPublisherRun runs the scheduled loop until the first file is out,
// then stops it.
func TestPublisherRun(t *testing.T) {
	db := openDB(t, demoFile(t))
	pickup := t.TempDir()
	prof := Profile{Code: "local", Every: time.Hour, Selection: Selection{MaterialTypes: []string{"video"}},
		Target: &delivery.Target{Kind: delivery.KindLocal, LocalDir: pickup}, NoManifest: true}
	if err := SaveProfiles(ctx, db, prof); err != nil {
		t.Fatal(err)
	}
	c := newClock(seedNow.Add(time.Hour))
	p, err := NewPublisher(db, PublisherOptions{Dir: t.TempDir(), Now: c.now, Poll: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	changed := db.Changed()
	go func() { done <- p.Run(runCtx) }()
	for {
		st, err := p.state(ctx, "local")
		if err != nil {
			t.Fatal(err)
		}
		if st.Runs == 1 && st.Pending == nil {
			break
		}
		select {
		case <-changed:
			changed = db.Changed()
		case err := <-done:
			t.Fatalf("Run returned early: %v", err)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	files := delivered(t, pickup)
	if len(files) != 1 {
		t.Fatalf("pick-up holds %v", keys(files))
	}
	for name, b := range files {
		for _, r := range records(t, name, b) {
			if r.Leader[6] != 'g' {
				t.Errorf("non-video record in the video selection: %s", r.Leader)
			}
		}
	}
}

func TestProfileValidation(t *testing.T) {
	db := openDB(t, demoFile(t))
	bad := []Profile{
		{Code: ""},
		{Code: "has space"},
		{Code: "x", Format: "mods"},
		{Code: "x", Every: time.Second},
		{Code: "x", Every: time.Hour},
		{Code: "x", Target: &delivery.Target{Kind: delivery.KindLocal, LocalDir: "relative"}},
		{Code: "x", Selection: Selection{Libraries: []string{"NOWHERE"}}},
	}
	for _, pr := range bad {
		if err := SaveProfiles(ctx, db, pr); err == nil {
			t.Errorf("profile %+v accepted", pr)
		}
	}
	if profs, err := LoadProfiles(ctx, db); err != nil || len(profs) != 0 {
		t.Errorf("stored after refusals: %v %v", profs, err)
	}
	good := Profile{Code: "ok", Selection: Selection{Libraries: []string{"BRANCH"}, Locations: []string{"BRANCH-MEDIA"}}}
	if err := SaveProfiles(ctx, db, good); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadProfile(ctx, db, "ok"); err != nil {
		t.Fatal(err)
	}
	if err := RemoveProfile(ctx, db, "ok"); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadProfile(ctx, db, "ok"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("removed profile: %v", err)
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// FuzzDecodeIDs checks the saved member list: any bytes decode or fail
// cleanly, and what decodes encodes back to the same set.
func FuzzDecodeIDs(f *testing.F) {
	f.Add(idSet{1: {}, 2: {}, 300: {}, 1 << 40: {}}.encode())
	f.Add([]byte{0x80})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := decodeIDs(b)
		if err != nil {
			return
		}
		again, err := decodeIDs(s.encode())
		if err != nil || len(again) != len(s) {
			t.Fatalf("round trip: %d ids, then %d (%v)", len(s), len(again), err)
		}
		for id := range s {
			if _, ok := again[id]; !ok {
				t.Fatalf("id %d lost", id)
			}
		}
	})
}
