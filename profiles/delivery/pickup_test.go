package delivery

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// put writes a partner file (and optionally its manifest) into dir.
func put(t *testing.T, dir, name string, content []byte, withManifest bool) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), content, 0o644); err != nil {
		t.Fatal(err)
	}
	if withManifest {
		sum := sha256.Sum256(content)
		m := Manifest{File: name, Size: int64(len(content)), SHA256: hex.EncodeToString(sum[:]),
			Created: time.Date(2026, 11, 27, 4, 0, 0, 0, time.UTC), Summary: Summary{Records: 1}}
		enc, err := m.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, ManifestName(name)), enc, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCollectArchivesOnlyProcessedFiles(t *testing.T) {
	srv := startServer(t)
	in := srv.Path("/out")
	put(t, in, "a.csv", []byte("id,amount\n1,2.50\n"), true)
	put(t, in, "b.csv", []byte("id,amount\n2,3.00\n"), false)
	put(t, in, "c.txt", []byte("not ours"), false)
	put(t, in, ".d.csv.part", []byte("half"), false)
	if err := os.Mkdir(filepath.Join(in, "e.csv"), 0o755); err != nil { // a directory, not a file
		t.Fatal(err)
	}
	c := newClient(t, sftpTarget(srv, "/out"), fastRetry)
	ctx := context.Background()

	files, err := c.List(ctx, "*.csv")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, f.Name)
	}
	if !slices.Equal(names, []string{"a.csv", "b.csv"}) {
		t.Fatalf("List = %q", names)
	}

	local := t.TempDir()
	var processed []string
	failB := true
	process := func(_ context.Context, f Fetched) error {
		b, err := os.ReadFile(f.Path)
		if err != nil {
			return err
		}
		if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != f.SHA256 {
			t.Errorf("%s: local copy does not match its checksum", f.Name)
		}
		if f.Name == "b.csv" && failB {
			return errors.New("import failed")
		}
		processed = append(processed, f.Name)
		return nil
	}
	logins := srv.Logins()
	done, err := c.Collect(ctx, CollectOptions{Pattern: "*.csv", LocalDir: local}, process)
	if err == nil || len(done) != 1 || done[0].Name != "a.csv" || done[0].Manifest == nil {
		t.Fatalf("first collect: %+v, %v", done, err)
	}
	// One connection lists and fetches, another archives.
	if n := srv.Logins() - logins; n != 2 {
		t.Fatalf("collect logged in %d times, want 2", n)
	}
	// a.csv and its manifest went to archive/; b.csv stays for next time.
	if got := dirNames(t, in); !slices.Equal(got, []string{".d.csv.part", "archive", "b.csv", "c.txt", "e.csv"}) {
		t.Fatalf("after first collect the inbox holds %q", got)
	}
	if got := dirNames(t, filepath.Join(in, "archive")); !slices.Equal(got, []string{"a.csv", "a.csv.manifest.json"}) {
		t.Fatalf("archive holds %q", got)
	}

	failB = false
	done, err = c.Collect(ctx, CollectOptions{Pattern: "*.csv", LocalDir: local}, process)
	if err != nil || len(done) != 1 || done[0].Name != "b.csv" {
		t.Fatalf("second collect: %+v, %v", done, err)
	}
	if !slices.Equal(processed, []string{"a.csv", "b.csv"}) {
		t.Fatalf("processed %q", processed)
	}
	if got := dirNames(t, local); !slices.Equal(got, []string{"a.csv", "b.csv"}) {
		t.Fatalf("local dir holds %q", got)
	}

	// Archiving again is a no-op.
	if err := c.Archive(ctx, done[0]); err != nil {
		t.Fatalf("second archive: %v", err)
	}
}

func TestArchiveConflicts(t *testing.T) {
	srv := startServer(t)
	in := srv.Path("/out")
	c := newClient(t, sftpTarget(srv, "/out"), fastRetry)
	ctx := context.Background()
	local := t.TempDir()

	put(t, in, "x.xml", []byte("<v1/>"), false)
	got, err := c.Fetch(ctx, RemoteFile{Name: "x.xml"}, filepath.Join(local, "x.xml"))
	if err != nil {
		t.Fatal(err)
	}
	// The partner replaces the file before we archive: leave the new one.
	put(t, in, "x.xml", []byte("<v2/>"), false)
	if err := c.Archive(ctx, got); !errors.Is(err, ErrConflict) {
		t.Fatalf("archive of a replaced file: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(in, "x.xml")); string(b) != "<v2/>" {
		t.Fatalf("the new version was touched: %q", b)
	}

	// Archive v2, then a v3 under the same name goes beside it, not over it.
	got, err = c.Fetch(ctx, RemoteFile{Name: "x.xml"}, filepath.Join(local, "x.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Archive(ctx, got); err != nil {
		t.Fatal(err)
	}
	put(t, in, "x.xml", []byte("<v3/>"), false)
	got3, err := c.Fetch(ctx, RemoteFile{Name: "x.xml"}, filepath.Join(local, "x.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Archive(ctx, got3); err != nil {
		t.Fatal(err)
	}
	archived := dirNames(t, filepath.Join(in, "archive"))
	if len(archived) != 2 || archived[0] != "x.xml" || archived[1] != "x.xml."+got3.SHA256[:12] {
		t.Fatalf("archive holds %q", archived)
	}
	if b, _ := os.ReadFile(filepath.Join(in, "archive", "x.xml")); string(b) != "<v2/>" {
		t.Fatalf("archived v2 was overwritten: %q", b)
	}
}

func TestFetchChecksManifest(t *testing.T) {
	srv := startServer(t)
	in := srv.Path("/out")
	put(t, in, "m.csv", []byte("original"), true)
	if err := os.WriteFile(filepath.Join(in, "m.csv"), []byte("tampered"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, sftpTarget(srv, "/out"), fastRetry)
	dst := filepath.Join(t.TempDir(), "m.csv")
	if _, err := c.Fetch(context.Background(), RemoteFile{Name: "m.csv"}, dst); !errors.Is(err, ErrConflict) || !IsPermanent(err) {
		t.Fatalf("fetch against a mismatched manifest: %v", err)
	}
	if _, err := os.Stat(dst); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a rejected file reached the local path: %v", err)
	}
	if got := dirNames(t, filepath.Dir(dst)); len(got) != 0 {
		t.Fatalf("local dir holds %q", got)
	}
}

func TestCollectDeleteAndRequireManifest(t *testing.T) {
	srv := startServer(t)
	in := srv.Path("/out")
	put(t, in, "with.csv", []byte("1"), true)
	put(t, in, "without.csv", []byte("2"), false)
	c := newClient(t, sftpTarget(srv, "/out"), fastRetry)
	local := t.TempDir()
	done, err := c.Collect(context.Background(), CollectOptions{LocalDir: local, Delete: true, RequireManifest: true},
		func(context.Context, Fetched) error { return nil })
	if err != nil || len(done) != 1 || done[0].Name != "with.csv" {
		t.Fatalf("collect: %+v, %v", done, err)
	}
	if got := dirNames(t, in); !slices.Equal(got, []string{"without.csv"}) {
		t.Fatalf("inbox holds %q", got)
	}
	if got := dirNames(t, local); !slices.Equal(got, []string{"with.csv"}) {
		t.Fatalf("local dir holds %q", got)
	}
}

func TestCollectFromLocalDir(t *testing.T) {
	in := t.TempDir()
	put(t, in, "l1.csv", []byte("1"), false)
	put(t, in, "l2.csv", []byte("22"), true)
	c := newClient(t, Target{Kind: KindLocal, LocalDir: in}, fastRetry)
	local := t.TempDir()
	done, err := c.Collect(context.Background(), CollectOptions{LocalDir: local}, func(context.Context, Fetched) error { return nil })
	if err != nil || len(done) != 2 {
		t.Fatalf("collect: %+v, %v", done, err)
	}
	if got := dirNames(t, filepath.Join(in, ArchiveDir)); !slices.Equal(got, []string{"l1.csv", "l2.csv", "l2.csv.manifest.json"}) {
		t.Fatalf("archive holds %q", got)
	}
	if got := dirNames(t, in); !slices.Equal(got, []string{ArchiveDir}) {
		t.Fatalf("inbox holds %q", got)
	}
}

func TestListBadPattern(t *testing.T) {
	c := newClient(t, Target{Kind: KindLocal, LocalDir: t.TempDir()}, fastRetry)
	if _, err := c.List(context.Background(), "[x"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad pattern: %v", err)
	}
}
