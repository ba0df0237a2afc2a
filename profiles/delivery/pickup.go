package delivery

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// ArchiveDir is the subdirectory of the target directory that processed
// files are moved to.
const ArchiveDir = "archive"

// RemoteFile is a file waiting in the target directory.
type RemoteFile struct {
	Name    string
	Size    int64
	ModTime time.Time
}

// Fetched is a remote file copied to a local path.
type Fetched struct {
	RemoteFile
	// Path is the local copy.
	Path string
	// SHA256 is the content's checksum (lowercase hex); importers use it
	// to recognise a file they have already processed.
	SHA256 string
	// Manifest is the sidecar manifest, when the partner sent one; the
	// file has been checked against it.
	Manifest *Manifest
}

// List returns the files in the target directory whose names match pattern
// (path.Match syntax; empty means all), sorted by name. Hidden files (our
// own and other tools' temporaries), directories and manifests are left
// out, the last unless pattern itself ends in ".manifest.json".
func (c *Client) List(ctx context.Context, pattern string) ([]RemoteFile, error) {
	if pattern == "" {
		pattern = "*"
	}
	if _, err := path.Match(pattern, ""); err != nil {
		return nil, fmt.Errorf("pattern %q: %w: %w", pattern, ErrInvalid, err)
	}
	wantManifests := strings.HasSuffix(pattern, ManifestSuffix)
	ss := c.Open()
	defer ss.Close()
	out, err := ss.list(ctx, pattern, wantManifests)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", c.target, err)
	}
	return out, nil
}

func (s *Session) list(ctx context.Context, pattern string, wantManifests bool) ([]RemoteFile, error) {
	var out []RemoteFile
	err := s.do(ctx, "list", func(f fsys) error {
		out = out[:0]
		infos, err := f.list("")
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("list: %w: %w", ErrNoDir, err)
			}
			return fmt.Errorf("list: %w", wrapFSError(err))
		}
		for _, fi := range infos {
			name := fi.Name()
			if !fi.Mode().IsRegular() || checkName(name) != nil {
				continue
			}
			if strings.HasSuffix(name, ManifestSuffix) != wantManifests {
				continue
			}
			if ok, _ := path.Match(pattern, name); ok {
				out = append(out, RemoteFile{Name: name, Size: fi.Size(), ModTime: fi.ModTime()})
			}
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

// Fetch copies the remote file rf to localPath atomically (temporary name,
// fsync, rename, directory fsync), so a crash never leaves a partial file
// under localPath. A file still growing on the server is not taken (the
// attempt fails and is retried). If the partner sent a sidecar manifest, the
// copy is checked against it; a mismatch is ErrConflict. Fetching again
// overwrites the local copy with the same content.
func (c *Client) Fetch(ctx context.Context, rf RemoteFile, localPath string) (Fetched, error) {
	if err := checkName(rf.Name); err != nil {
		return Fetched{}, fmt.Errorf("fetch: %w: %w", ErrInvalid, err)
	}
	ss := c.Open()
	defer ss.Close()
	return ss.fetch(ctx, rf, localPath)
}

func (s *Session) fetch(ctx context.Context, rf RemoteFile, localPath string) (Fetched, error) {
	var got Fetched
	err := s.do(ctx, "fetch", func(f fsys) error {
		var err error
		got, err = fetchOne(f, rf, localPath)
		return err
	})
	if err != nil {
		return Fetched{}, fmt.Errorf("fetch %s from %s: %w", rf.Name, s.c.target, err)
	}
	s.c.log.Info().Str("file", rf.Name).Int64("bytes", got.Size).Msg("fetched")
	return got, nil
}

func fetchOne(f fsys, rf RemoteFile, localPath string) (Fetched, error) {
	before, err := f.stat(rf.Name)
	if err != nil {
		return Fetched{}, fmt.Errorf("stat %s: %w", rf.Name, wrapFSError(err))
	}
	r, err := f.open(rf.Name)
	if err != nil {
		return Fetched{}, fmt.Errorf("open %s: %w", rf.Name, wrapFSError(err))
	}
	defer r.Close()

	dir := filepath.Dir(localPath)
	tmp := filepath.Join(dir, "."+filepath.Base(localPath)+".part")
	w, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return Fetched{}, permanent(fmt.Errorf("local copy: %w", err))
	}
	committed := false
	defer func() {
		if !committed {
			w.Close()
			os.Remove(tmp)
		}
	}()
	h := sha256.New()
	n, err := io.Copy(w, io.TeeReader(r, h))
	if err != nil {
		return Fetched{}, fmt.Errorf("read %s: %w", rf.Name, err)
	}
	after, err := f.stat(rf.Name)
	if err != nil {
		return Fetched{}, fmt.Errorf("stat %s: %w", rf.Name, wrapFSError(err))
	}
	if n != before.Size() || after.Size() != n || !after.ModTime().Equal(before.ModTime()) {
		return Fetched{}, fmt.Errorf("%s changed while it was read (%d bytes, now %d): still being written", rf.Name, n, after.Size())
	}
	got := Fetched{RemoteFile: RemoteFile{Name: rf.Name, Size: n, ModTime: after.ModTime()},
		Path: localPath, SHA256: hex.EncodeToString(h.Sum(nil))}

	m, err := readManifest(f, rf.Name)
	if err != nil {
		return Fetched{}, err
	}
	if m != nil {
		if err := m.Check(got.Size, got.SHA256); err != nil {
			return Fetched{}, err
		}
		got.Manifest = m
	}

	if err := w.Sync(); err != nil {
		return Fetched{}, permanent(fmt.Errorf("local copy: %w", err))
	}
	if err := w.Close(); err != nil {
		return Fetched{}, permanent(fmt.Errorf("local copy: %w", err))
	}
	if err := os.Rename(tmp, localPath); err != nil {
		return Fetched{}, permanent(fmt.Errorf("local copy: %w", err))
	}
	committed = true
	if err := syncDir(dir); err != nil {
		return Fetched{}, permanent(fmt.Errorf("local copy: %w", err))
	}
	return got, nil
}

// readManifest returns the sidecar manifest of name, or nil if there is
// none. A manifest that does not parse is ErrConflict.
func readManifest(f fsys, name string) (*Manifest, error) {
	r, err := f.open(ManifestName(name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", ManifestName(name), wrapFSError(err))
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", ManifestName(name), err)
	}
	m, err := ParseManifest(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %w", ManifestName(name), ErrConflict, err)
	}
	if m.File != name {
		return nil, fmt.Errorf("%s describes %q: %w", ManifestName(name), m.File, ErrConflict)
	}
	return &m, nil
}

// Archive moves a processed file, and its manifest, into the archive/
// subdirectory (created if missing). Call it only once the caller has
// processed the fetched copy. It is idempotent: a file already archived is
// success. If the remote file no longer matches what was fetched (the
// partner sent a new version under the same name), it is left in place and
// the error is ErrConflict. An archive entry of the same name with other
// content is kept; the file is archived under NAME.<sha256 prefix>.
func (c *Client) Archive(ctx context.Context, got Fetched) error {
	return c.finish(ctx, got, false)
}

// Remove deletes a processed file and its manifest from the target
// directory, with the same checks and idempotence as Archive.
func (c *Client) Remove(ctx context.Context, got Fetched) error {
	return c.finish(ctx, got, true)
}

func (c *Client) finish(ctx context.Context, got Fetched, del bool) error {
	ss := c.Open()
	defer ss.Close()
	return ss.finish(ctx, got, del)
}

func (s *Session) finish(ctx context.Context, got Fetched, del bool) error {
	if err := checkName(got.Name); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	op := "archive"
	if del {
		op = "remove"
	}
	err := s.do(ctx, op, func(f fsys) error { return finishOne(f, got, del) })
	if err != nil {
		return fmt.Errorf("%s %s on %s: %w", op, got.Name, s.c.target, err)
	}
	s.c.log.Info().Str("file", got.Name).Str("op", op).Msg("picked-up file cleared")
	return nil
}

// finishOne archives or deletes a fetched file and its manifest.
func finishOne(f fsys, got Fetched, del bool) error {
	op := "archive"
	if del {
		op = "remove"
	}
	m, err := compare(f, got.Name, got.Size, got.SHA256)
	if err != nil {
		return err
	}
	switch m {
	case different:
		return fmt.Errorf("%s changed since it was fetched: %w", got.Name, ErrConflict)
	case same:
		if del {
			err = f.remove(got.Name)
		} else {
			err = archiveOne(f, got.Name, got.SHA256)
		}
		if err != nil {
			return fmt.Errorf("%s %s: %w", op, got.Name, wrapFSError(err))
		}
	}
	// The manifest follows the data file, also when an earlier call moved
	// the data file and stopped.
	mname := ManifestName(got.Name)
	if _, err := f.stat(mname); errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("stat %s: %w", mname, wrapFSError(err))
	}
	if del {
		err = f.remove(mname)
	} else {
		var sum string
		sum, _, err = hashFile(f, mname)
		if err == nil {
			err = archiveOne(f, mname, sum)
		}
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s %s: %w", op, mname, wrapFSError(err))
	}
	return nil
}

// archiveOne moves name into the archive directory without ever replacing
// an archived file.
func archiveOne(f fsys, name, sum string) error {
	if err := f.mkdir(ArchiveDir); err != nil {
		if fi, serr := f.stat(ArchiveDir); serr != nil || !fi.IsDir() {
			return err
		}
	}
	for _, dest := range []string{path.Join(ArchiveDir, name), path.Join(ArchiveDir, name+"."+sum[:12])} {
		err := f.renameNoReplace(name, dest)
		if err == nil {
			return nil
		}
		fi, serr := f.stat(name)
		if errors.Is(serr, fs.ErrNotExist) {
			return nil // moved by the rename whose reply we lost
		}
		if serr != nil || !fi.Mode().IsRegular() {
			return err
		}
		m, cerr := compare(f, dest, fi.Size(), sum)
		if cerr != nil {
			return cerr
		}
		switch m {
		case absent:
			return err // the rename failed for another reason
		case same:
			return f.remove(name) // archived before; drop the duplicate
		}
	}
	return fmt.Errorf("archive already holds other files named %s: %w", name, ErrConflict)
}

// CollectOptions direct Collect.
type CollectOptions struct {
	// Pattern selects files by name (path.Match syntax; empty means all).
	Pattern string
	// LocalDir receives the copies, under their remote names.
	LocalDir string
	// Delete removes processed files instead of archiving them.
	Delete bool
	// RequireManifest skips files without a sidecar manifest: the partner
	// may not have finished sending them.
	RequireManifest bool
}

// Collect fetches every matching file, hands each to process, and archives
// (or deletes) a file only after process returned nil. A file whose fetch or
// processing fails stays on the server for the next run, so process must be
// idempotent (Fetched.SHA256 identifies content already seen): a crash
// between processing and archiving repeats the processing. Listing and
// fetching share one connection, which is closed while process runs;
// archiving shares another. Collect returns the files it finished and every
// error, joined; it stops early only when the target itself refuses (host
// key, login) or ctx ends.
func (c *Client) Collect(ctx context.Context, o CollectOptions, process func(context.Context, Fetched) error) ([]Fetched, error) {
	if o.LocalDir == "" {
		return nil, fmt.Errorf("collect: local dir is required: %w", ErrInvalid)
	}
	pattern := o.Pattern
	if pattern == "" {
		pattern = "*"
	}
	if _, err := path.Match(pattern, ""); err != nil {
		return nil, fmt.Errorf("pattern %q: %w: %w", pattern, ErrInvalid, err)
	}
	var errs []error
	stop := func(err error) bool {
		return ctx.Err() != nil || errors.Is(err, ErrHostKey) || errors.Is(err, ErrAuth)
	}

	ss := c.Open()
	files, err := ss.list(ctx, pattern, strings.HasSuffix(pattern, ManifestSuffix))
	if err != nil {
		ss.Close()
		return nil, fmt.Errorf("list %s: %w", c.target, err)
	}
	var fetched []Fetched
	for _, rf := range files {
		got, err := ss.fetch(ctx, rf, filepath.Join(o.LocalDir, rf.Name))
		if err != nil {
			errs = append(errs, err)
			if stop(err) {
				break
			}
			continue
		}
		if o.RequireManifest && got.Manifest == nil {
			c.log.Info().Str("file", rf.Name).Msg("no manifest yet; left for the next run")
			if err := os.Remove(got.Path); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		fetched = append(fetched, got)
	}
	ss.Close()

	var processed []Fetched
	for _, got := range fetched {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		if err := process(ctx, got); err != nil {
			errs = append(errs, fmt.Errorf("process %s: %w", got.Name, err))
			continue
		}
		processed = append(processed, got)
	}

	var done []Fetched
	ss = c.Open()
	defer ss.Close()
	for _, got := range processed {
		if err := ss.finish(ctx, got, o.Delete); err != nil {
			errs = append(errs, err)
			if stop(err) {
				break
			}
			continue
		}
		done = append(done, got)
	}
	return done, errors.Join(errs...)
}

// Capabilities are what a target offers, as found by Check.
type Capabilities struct {
	// PosixRename: renames replace atomically (posix-rename@openssh.com,
	// or a local directory). Without it the careful fallback is used.
	PosixRename bool
	// Fsync: file content can be made durable before the rename
	// (fsync@openssh.com, or a local directory).
	Fsync bool
}

// Check connects once, with no retry, and reports what the target offers
// (see Session.Check). It is what "test this destination" runs.
func (c *Client) Check(ctx context.Context) (Capabilities, error) {
	ss := c.Open()
	defer ss.Close()
	return ss.Check(ctx)
}
