package delivery

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/crypto/ssh"
)

// Step is how far the upload of one file has got. Each step is saved before
// the next action, so a record always names a state the target has reached.
type Step string

// The steps of a delivery, in order.
const (
	// StepPending: nothing sent yet (or nothing that counts).
	StepPending Step = "pending"
	// StepUploadedTemp: the whole file sits under its temporary name,
	// synced where the server offers fsync@openssh.com.
	StepUploadedTemp Step = "uploaded-temp"
	// StepRenamed: the file has its final name.
	StepRenamed Step = "renamed"
	// StepVerified: the final file was read back with the right size and
	// sha256 (or had already been collected by the partner).
	StepVerified Step = "verified"
	// StepDone: the data file and its manifest are both verified.
	StepDone Step = "done"
)

func (s Step) valid() bool {
	switch s {
	case "", StepPending, StepUploadedTemp, StepRenamed, StepVerified, StepDone:
		return true
	}
	return false
}

// Delivery is the persisted state of one file on its way to a target. The
// caller keeps it (through StateStore) and hands it back to Resume after a
// failure or a restart.
type Delivery struct {
	// Name is the file's final name in the target directory. Names are the
	// caller's and must be deterministic: the same data gets the same name,
	// so that sending it again is recognised.
	Name string `json:"name"`
	// Source is the local path of the file to send; it must keep its
	// content until the delivery is done.
	Source string `json:"source"`
	// Size and SHA256 (lowercase hex) describe Source as prepared.
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	// Created is when the file was prepared; it goes into the manifest.
	Created time.Time `json:"created"`
	// Summary holds the control figures written to the manifest.
	Summary Summary `json:"summary"`
	// NoManifest skips the sidecar manifest, for partners whose pick-up
	// directory must hold data files only.
	NoManifest bool `json:"no_manifest,omitempty"`

	// Step is the data file's progress; StepDone means the whole delivery,
	// manifest included, is finished.
	Step Step `json:"step"`
	// ManifestStep is the manifest's progress.
	ManifestStep Step `json:"manifest_step,omitempty"`
	// Attempts counts the tries made for this delivery.
	Attempts int `json:"attempts"`
	// LastError is the last failure, for operators; empty once done.
	LastError string `json:"last_error,omitempty"`
}

// StateStore persists delivery records. Save must make d durable before it
// returns: the protocol acts on the target only after the step that allows
// it has been saved. Save is called between network operations, never
// during one, so an implementation can run one short store transaction per
// call. An error stops the delivery at once (it is not retried); Resume
// later carries on from the last saved step. Records are keyed by Name.
type StateStore interface {
	Save(ctx context.Context, d Delivery) error
}

// StateStoreFunc adapts a function to StateStore.
type StateStoreFunc func(ctx context.Context, d Delivery) error

// Save calls f.
func (f StateStoreFunc) Save(ctx context.Context, d Delivery) error { return f(ctx, d) }

// Prepare describes the local file source for delivery under name: it
// measures and hashes it now, so that a changed source is caught later.
func Prepare(name, source string, sum Summary) (Delivery, error) {
	if err := checkName(name); err != nil {
		return Delivery{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := sum.validate(); err != nil {
		return Delivery{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	f, err := os.Open(source)
	if err != nil {
		return Delivery{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return Delivery{}, err
	}
	return Delivery{
		Name: name, Source: source, Size: n, SHA256: hex.EncodeToString(h.Sum(nil)),
		Created: time.Now().UTC().Truncate(time.Second), Summary: sum,
		Step: StepPending, ManifestStep: StepPending,
	}, nil
}

// Manifest returns the sidecar manifest describing d's data file.
func (d Delivery) Manifest() Manifest {
	return Manifest{File: d.Name, Size: d.Size, SHA256: d.SHA256, Created: d.Created, Summary: d.Summary}
}

// maxNameLen leaves room for the temporary and manifest names within the
// usual 255-byte limit of a file name.
const maxNameLen = 255 - len(".") - len(ManifestSuffix) - len(".part")

// checkName accepts a plain file name that is not hidden (temporary files
// are) and fits with its suffixes.
func checkName(name string) error {
	switch {
	case name == "":
		return errors.New("file name is empty")
	case len(name) > maxNameLen:
		return fmt.Errorf("file name is longer than %d bytes", maxNameLen)
	case strings.HasPrefix(name, "."):
		return fmt.Errorf("file name %q starts with a dot", name)
	case strings.ContainsAny(name, "/\\\x00"):
		return fmt.Errorf("file name %q contains a slash, backslash or NUL", name)
	}
	return nil
}

func (d *Delivery) validate() error {
	var errs []error
	if err := checkName(d.Name); err != nil {
		errs = append(errs, err)
	}
	if d.Source == "" {
		errs = append(errs, errors.New("source is empty"))
	}
	if d.Size < 0 {
		errs = append(errs, fmt.Errorf("size %d is negative", d.Size))
	}
	if !isSHA256Hex(d.SHA256) {
		errs = append(errs, errors.New("sha256 is not 64 hex digits"))
	}
	if !d.Step.valid() {
		errs = append(errs, fmt.Errorf("step %q is unknown", d.Step))
	}
	if !d.ManifestStep.valid() || d.ManifestStep == StepDone {
		errs = append(errs, fmt.Errorf("manifest step %q is unknown", d.ManifestStep))
	}
	if err := d.Summary.validate(); err != nil {
		errs = append(errs, err)
	}
	if err := checkTime(d.Created); err != nil {
		errs = append(errs, err)
	}
	d.SHA256 = strings.ToLower(d.SHA256)
	return errors.Join(errs...)
}

// Options tune a Client.
type Options struct {
	// Logger receives one line per finished transfer and per failure; the
	// zero value logs nothing. Key material never reaches it.
	Logger zerolog.Logger
	// Retry bounds retries of transient failures.
	Retry Retry
}

// Client delivers files to, and picks files up from, one Target. Each of its
// calls opens its own connection and closes it before returning, so a
// Client holds nothing open between calls and is safe for concurrent use;
// a Session (Client.Open) shares one connection among many calls.
type Client struct {
	target   Target
	signer   ssh.Signer
	hostKeys *hostKeyChecker
	log      zerolog.Logger
	retry    Retry
}

// NewClient validates t and prepares to connect to it.
func NewClient(t Target, o Options) (*Client, error) {
	if err := t.Validate(); err != nil {
		return nil, fmt.Errorf("target %s: %w: %w", t, ErrInvalid, err)
	}
	c := &Client{target: t, retry: o.Retry.withDefaults(),
		log: o.Logger.With().Str("target", t.String()).Logger()}
	if t.Kind == KindSFTP {
		var err error
		if c.signer, err = loadSigner(t.PrivateKey); err != nil {
			return nil, err
		}
		if c.hostKeys, err = newHostKeyChecker(t.KnownHosts, t.Addr()); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Target returns the client's target.
func (c *Client) Target() Target { return c.target }

// stopError ends a retry loop without claiming the target is at fault (the
// caller's state store failed).
type stopError struct{ err error }

func (s *stopError) Error() string { return s.err.Error() }
func (s *stopError) Unwrap() error { return s.err }

// Deliver records d (fresh from Prepare) through st, then sends it on a
// connection of its own: see Session.Resume.
func (c *Client) Deliver(ctx context.Context, st StateStore, d Delivery) (Delivery, error) {
	ss := c.Open()
	defer ss.Close()
	return ss.Deliver(ctx, st, d)
}

// Deliver records d (fresh from Prepare) through st, then sends it on the
// session's connection: see Resume.
func (s *Session) Deliver(ctx context.Context, st StateStore, d Delivery) (Delivery, error) {
	if err := d.validate(); err != nil {
		return d, fmt.Errorf("deliver %s: %w: %w", d.Name, ErrInvalid, err)
	}
	if d.Step == "" {
		d.Step = StepPending
	}
	if err := st.Save(ctx, d); err != nil {
		return d, fmt.Errorf("deliver %s: save state: %w", d.Name, err)
	}
	return s.Resume(ctx, st, d)
}

// Resume takes d from whatever step it was saved at to StepDone on a
// connection of its own: see Session.Resume.
func (c *Client) Resume(ctx context.Context, st StateStore, d Delivery) (Delivery, error) {
	ss := c.Open()
	defer ss.Close()
	return ss.Resume(ctx, st, d)
}

// part is one file of a delivery: the data file or its manifest.
type part struct {
	name string
	size int64
	sum  string
	open func() (io.ReadCloser, error)
	step *Step
}

func (p part) temp() string { return "." + p.name + ".part" }

func (c *Client) advance(ctx context.Context, f fsys, d *Delivery, save func(context.Context) error) error {
	data := part{name: d.Name, size: d.Size, sum: d.SHA256, step: &d.Step, open: func() (io.ReadCloser, error) {
		r, err := os.Open(d.Source)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: %w: %w", d.Source, ErrSourceChanged, err)
		}
		return r, err
	}}
	if err := c.runPart(ctx, f, data, save); err != nil {
		return err
	}
	if d.NoManifest {
		return nil
	}
	mb, err := d.Manifest().Encode()
	if err != nil {
		return permanent(err)
	}
	sum := sha256.Sum256(mb)
	man := part{name: ManifestName(d.Name), size: int64(len(mb)), sum: hex.EncodeToString(sum[:]), step: &d.ManifestStep,
		open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(mb)), nil }}
	return c.runPart(ctx, f, man, save)
}

// runPart drives one file through the steps. fresh tells whether the temp
// file was written by this very call (and need not be checked again).
func (c *Client) runPart(ctx context.Context, f fsys, p part, save func(context.Context) error) error {
	if *p.step == "" {
		*p.step = StepPending
	}
	fresh := false
	advanceTo := func(s Step) error {
		*p.step = s
		return save(ctx)
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		switch *p.step {
		case StepPending:
			// A run that lost its state may have got further than the
			// record says: a final file with our content is already done.
			m, err := compare(f, p.name, p.size, p.sum)
			if err != nil {
				return err
			}
			if m == same {
				if err := removeIfExists(f, p.temp()); err != nil {
					return err
				}
				if err := advanceTo(StepRenamed); err != nil {
					return err
				}
				continue
			}
			if err := c.upload(f, p); err != nil {
				return err
			}
			fresh = true
			if err := advanceTo(StepUploadedTemp); err != nil {
				return err
			}
		case StepUploadedTemp:
			if !fresh {
				_, err := f.stat(p.temp())
				switch {
				case errors.Is(err, fs.ErrNotExist):
					// Renames are atomic and nobody else touches our
					// hidden temp: if it is gone, our rename happened and
					// only its reply was lost.
					if err := c.afterLostRename(f, p); err != nil {
						return err
					}
					if err := advanceTo(StepRenamed); err != nil {
						return err
					}
					continue
				case err != nil:
					return err
				}
				// The temp is there but may not have survived a server
				// crash intact (no fsync on some servers): send it again.
				if err := c.upload(f, p); err != nil {
					return err
				}
				fresh = true
			}
			if err := c.rename(f, p); err != nil {
				return err
			}
			if err := advanceTo(StepRenamed); err != nil {
				return err
			}
		case StepRenamed:
			if err := c.verify(f, p); err != nil {
				return err
			}
			if err := advanceTo(StepVerified); err != nil {
				return err
			}
		case StepVerified, StepDone:
			return nil
		default:
			return fmt.Errorf("step %q: %w", *p.step, ErrInvalid)
		}
	}
}

// upload writes the whole part to its temp name, syncs it, and checks that
// the target holds exactly what was sent.
func (c *Client) upload(f fsys, p part) error {
	src, err := p.open()
	if err != nil {
		return err
	}
	defer src.Close()
	w, err := f.create(p.temp())
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("create %s: %w: %w", p.temp(), ErrNoDir, err)
		}
		return fmt.Errorf("create %s: %w", p.temp(), wrapFSError(err))
	}
	h := sha256.New()
	n, err := w.ReadFrom(io.TeeReader(src, h))
	if err != nil {
		w.Close()
		return fmt.Errorf("write %s: %w", p.temp(), wrapFSError(err))
	}
	if n != p.size || hex.EncodeToString(h.Sum(nil)) != p.sum {
		w.Close()
		f.remove(p.temp())
		return fmt.Errorf("%s: read %d bytes, prepared %d: %w", p.name, n, p.size, ErrSourceChanged)
	}
	if err := w.sync(); err != nil {
		w.Close()
		return fmt.Errorf("sync %s: %w", p.temp(), err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("close %s: %w", p.temp(), err)
	}
	fi, err := f.stat(p.temp())
	if err != nil {
		return fmt.Errorf("stat %s: %w", p.temp(), err)
	}
	if fi.Size() != p.size {
		return fmt.Errorf("%s holds %d bytes after sending %d", p.temp(), fi.Size(), p.size)
	}
	return nil
}

// rename moves the temp onto the final name. Without posix-rename, SFTP v3
// rename refuses an existing target: if what is there is already our file,
// the temp is dropped; if it is other content, it is replaced, which is what
// posix-rename would have done.
func (c *Client) rename(f fsys, p part) error {
	if f.replaces() {
		if err := f.rename(p.temp(), p.name); err != nil {
			return fmt.Errorf("rename %s: %w", p.temp(), wrapFSError(err))
		}
		return nil
	}
	err := f.renameNoReplace(p.temp(), p.name)
	if err == nil {
		return nil
	}
	err = fmt.Errorf("rename %s: %w", p.temp(), wrapFSError(err))
	if IsPermanent(err) {
		return err
	}
	m, cerr := compare(f, p.name, p.size, p.sum)
	switch {
	case cerr != nil || m == absent:
		return err
	case m == same:
		return removeIfExists(f, p.temp())
	}
	c.log.Warn().Str("file", p.name).Msg("replacing an existing remote file with other content")
	if err := f.remove(p.name); err != nil {
		return fmt.Errorf("remove %s: %w", p.name, wrapFSError(err))
	}
	if err := f.renameNoReplace(p.temp(), p.name); err != nil {
		return fmt.Errorf("rename %s: %w", p.temp(), wrapFSError(err))
	}
	return nil
}

// afterLostRename checks the final name once the temp has turned out to be
// gone, i.e. renamed by an earlier attempt.
func (c *Client) afterLostRename(f fsys, p part) error {
	m, err := compare(f, p.name, p.size, p.sum)
	if err != nil {
		return err
	}
	switch m {
	case different:
		return fmt.Errorf("%s: temp gone and final file differs: %w", p.name, ErrConflict)
	case absent:
		c.log.Warn().Str("file", p.name).Msg("file renamed and already collected by the partner")
	}
	return nil
}

// verify reads the final file back. A partner may already have collected
// it, which counts as delivered.
func (c *Client) verify(f fsys, p part) error {
	m, err := compare(f, p.name, p.size, p.sum)
	if err != nil {
		return fmt.Errorf("verify %s: %w", p.name, err)
	}
	switch m {
	case different:
		return fmt.Errorf("verify %s: %w", p.name, ErrConflict)
	case absent:
		c.log.Warn().Str("file", p.name).Msg("file collected by the partner before it could be verified")
	}
	return nil
}

type match int

const (
	absent match = iota
	same
	different
)

// compare tells whether name on the target is absent, or has the given size
// and sha256.
func compare(f fsys, name string, size int64, sum string) (match, error) {
	fi, err := f.stat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return absent, nil
	}
	if err != nil {
		return absent, fmt.Errorf("stat %s: %w", name, wrapFSError(err))
	}
	if !fi.Mode().IsRegular() {
		return different, nil
	}
	if fi.Size() != size {
		return different, nil
	}
	got, _, err := hashFile(f, name)
	if errors.Is(err, fs.ErrNotExist) {
		return absent, nil
	}
	if err != nil {
		return absent, err
	}
	if got != sum {
		return different, nil
	}
	return same, nil
}

func hashFile(f fsys, name string) (string, int64, error) {
	r, err := f.open(name)
	if err != nil {
		return "", 0, fmt.Errorf("open %s: %w", name, wrapFSError(err))
	}
	defer r.Close()
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return "", n, fmt.Errorf("read %s: %w", name, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

func removeIfExists(f fsys, name string) error {
	if err := f.remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", name, wrapFSError(err))
	}
	return nil
}
