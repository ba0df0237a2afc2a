package delivery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// fsys is one open session with a target. Names are relative to the target
// directory and use forward slashes.
type fsys interface {
	// create opens name for writing, creating or truncating it.
	create(name string) (fileWriter, error)
	open(name string) (io.ReadCloser, error)
	// stat follows fs conventions: errors.Is(err, fs.ErrNotExist) when
	// name is missing.
	stat(name string) (fs.FileInfo, error)
	// replaces reports whether rename atomically replaces an existing
	// target; when false, rename onto an existing name fails.
	replaces() bool
	rename(from, to string) error
	// renameNoReplace fails when to exists, whatever replaces says.
	renameNoReplace(from, to string) error
	remove(name string) error
	mkdir(name string) error
	list(dir string) ([]fs.FileInfo, error)
	// idle tells the session that no operation is running until the next
	// request, so waiting is not a stall.
	idle()
	close() error
}

// fileWriter is a file being written. sync makes its content durable where
// the target can; Close must be called in every case.
type fileWriter interface {
	io.Writer
	io.ReaderFrom
	sync() error
	Close() error
}

// connect opens a session with the target. The session ends when ctx does.
func (c *Client) connect(ctx context.Context) (fsys, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	switch c.target.Kind {
	case KindLocal:
		fi, err := os.Stat(c.target.LocalDir)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("%s: %w", c.target.LocalDir, ErrNoDir)
			}
			return nil, wrapFSError(err)
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("%s is not a directory: %w", c.target.LocalDir, ErrNoDir)
		}
		return &localFS{dir: c.target.LocalDir}, nil
	case KindSFTP:
		return c.dialSFTP(ctx)
	default:
		return nil, fmt.Errorf("target kind %q: %w", c.target.Kind, ErrInvalid)
	}
}

// wrapFSError marks file-system errors that retrying cannot cure.
func wrapFSError(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("%w: %w", ErrPermission, err)
	}
	var se *sftp.StatusError
	if errors.As(err, &se) && se.FxCode() == sftp.ErrSSHFxPermissionDenied {
		return fmt.Errorf("%w: %w", ErrPermission, err)
	}
	return err
}

// ---- local directory ----

type localFS struct{ dir string }

func (l *localFS) path(name string) string { return filepath.Join(l.dir, filepath.FromSlash(name)) }

type localFile struct{ *os.File }

func (f localFile) sync() error { return f.File.Sync() }

func (l *localFS) create(name string) (fileWriter, error) {
	f, err := os.OpenFile(l.path(name), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	return localFile{f}, nil
}

func (l *localFS) open(name string) (io.ReadCloser, error) { return os.Open(l.path(name)) }
func (l *localFS) stat(name string) (fs.FileInfo, error)   { return os.Stat(l.path(name)) }
func (l *localFS) replaces() bool                          { return true }

func (l *localFS) rename(from, to string) error {
	if err := os.Rename(l.path(from), l.path(to)); err != nil {
		return err
	}
	return syncDir(filepath.Dir(l.path(to)))
}

// renameNoReplace links then unlinks: link(2) refuses an existing name.
func (l *localFS) renameNoReplace(from, to string) error {
	if err := os.Link(l.path(from), l.path(to)); err != nil {
		return err
	}
	if err := os.Remove(l.path(from)); err != nil {
		return err
	}
	if err := syncDir(filepath.Dir(l.path(to))); err != nil {
		return err
	}
	return syncDir(filepath.Dir(l.path(from)))
}

func (l *localFS) remove(name string) error {
	if err := os.Remove(l.path(name)); err != nil {
		return err
	}
	return syncDir(filepath.Dir(l.path(name)))
}

func (l *localFS) mkdir(name string) error { return os.Mkdir(l.path(name), 0o755) }

func (l *localFS) list(dir string) ([]fs.FileInfo, error) {
	entries, err := os.ReadDir(l.path(dir))
	if err != nil {
		return nil, err
	}
	out := make([]fs.FileInfo, 0, len(entries))
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			continue // gone since the listing
		}
		out = append(out, fi)
	}
	return out, nil
}

func (l *localFS) idle()        {}
func (l *localFS) close() error { return nil }

// probeWrite creates and removes a hidden file, proving the directory
// takes files.
func (l *localFS) probeWrite() error {
	f, err := os.CreateTemp(l.dir, ".circa-check-*")
	if err != nil {
		return err
	}
	name := f.Name()
	err = f.Close()
	if rerr := os.Remove(name); err == nil {
		err = rerr
	}
	return err
}

// syncDir makes a rename or removal in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// ---- SFTP ----

type sftpFS struct {
	dir        string
	cl         *sftp.Client
	ssh        *ssh.Client
	conn       *stallConn
	stop       func() bool
	posix      bool
	fsyncAvail bool
}

func (s *sftpFS) path(name string) string { return path.Join(s.dir, name) }

type sftpFile struct {
	*sftp.File
	canSync bool
}

func (f sftpFile) sync() error {
	if !f.canSync {
		return nil
	}
	return f.File.Sync()
}

// ReadFrom sends the content with several writes in flight, which is what
// makes SFTP fast on links with latency.
func (f sftpFile) ReadFrom(r io.Reader) (int64, error) { return f.File.ReadFromWithConcurrency(r, 0) }

func (s *sftpFS) create(name string) (fileWriter, error) {
	f, err := s.cl.OpenFile(s.path(name), os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
	if err != nil {
		return nil, notExist(name, err)
	}
	return sftpFile{File: f, canSync: s.fsyncAvail}, nil
}

func (s *sftpFS) open(name string) (io.ReadCloser, error) {
	f, err := s.cl.Open(s.path(name))
	if err != nil {
		return nil, notExist(name, err)
	}
	return f, nil
}

func (s *sftpFS) stat(name string) (fs.FileInfo, error) {
	fi, err := s.cl.Stat(s.path(name))
	if err != nil {
		return nil, notExist(name, err)
	}
	return fi, nil
}

// notExist makes an SFTP "no such file" status match fs.ErrNotExist, which
// pkg/sftp does for some requests and not others.
func notExist(name string, err error) error {
	var se *sftp.StatusError
	if errors.As(err, &se) && se.FxCode() == sftp.ErrSSHFxNoSuchFile {
		return fmt.Errorf("%s: %w", name, fs.ErrNotExist)
	}
	return err
}

func (s *sftpFS) replaces() bool { return s.posix }

func (s *sftpFS) rename(from, to string) error {
	if s.posix {
		return s.cl.PosixRename(s.path(from), s.path(to))
	}
	return s.cl.Rename(s.path(from), s.path(to))
}

// renameNoReplace uses SFTP v3 rename, which fails when the target exists.
func (s *sftpFS) renameNoReplace(from, to string) error {
	return s.cl.Rename(s.path(from), s.path(to))
}

func (s *sftpFS) remove(name string) error { return notExist(name, s.cl.Remove(s.path(name))) }
func (s *sftpFS) mkdir(name string) error  { return s.cl.Mkdir(s.path(name)) }

func (s *sftpFS) list(dir string) ([]fs.FileInfo, error) { return s.cl.ReadDir(s.path(dir)) }

func (s *sftpFS) idle() { s.conn.park() }

func (s *sftpFS) close() error {
	s.stop()
	return errors.Join(s.cl.Close(), s.ssh.Close())
}

// dialSFTP connects, verifies the pinned host key, logs in with the key and
// starts the SFTP subsystem. Host-key and login failures are permanent;
// everything else is transient.
func (c *Client) dialSFTP(ctx context.Context) (fsys, error) {
	t := c.target
	addr := t.Addr()
	d := net.Dialer{Timeout: t.timeout()}
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	conn := &stallConn{Conn: raw, timeout: t.timeout()}
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	fail := func(err error) (fsys, error) {
		stop()
		raw.Close()
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, errors.Join(ctxErr, err)
		}
		return nil, err
	}

	var hostErr error
	cfg := &ssh.ClientConfig{
		User: t.User,
		Auth: []ssh.AuthMethod{ssh.PublicKeys(c.signer)},
		HostKeyCallback: func(host string, remote net.Addr, key ssh.PublicKey) error {
			if err := c.hostKeys.callback(host, remote, key); err != nil {
				hostErr = err
				return err
			}
			return nil
		},
		HostKeyAlgorithms: c.hostKeys.algos,
		Timeout:           t.timeout(),
	}
	sconn, chans, reqs, err := ssh.NewClientConn(conn, addr, cfg)
	if err != nil {
		switch {
		case hostErr != nil:
			return fail(fmt.Errorf("ssh %s: %w: %w", addr, ErrHostKey, hostErr))
		case strings.Contains(err.Error(), "unable to authenticate"):
			return fail(fmt.Errorf("ssh %s as %s: %w: %w", addr, t.User, ErrAuth, err))
		default:
			return fail(fmt.Errorf("ssh %s: %w", addr, err))
		}
	}
	sc := ssh.NewClient(sconn, chans, reqs)
	cl, err := sftp.NewClient(sc, sftp.UseConcurrentWrites(true))
	if err != nil {
		sc.Close()
		return fail(fmt.Errorf("sftp %s: %w", addr, err))
	}
	_, posix := cl.HasExtension("posix-rename@openssh.com")
	_, fsync := cl.HasExtension("fsync@openssh.com")
	conn.park()
	return &sftpFS{dir: t.RemoteDir, cl: cl, ssh: sc, conn: conn, stop: stop, posix: posix, fsyncAvail: fsync}, nil
}

// stallConn pushes its deadline forward on every read and write, so a
// connection that makes no progress for timeout fails instead of hanging.
// Between operations a session parks it: the SSH client's reader then waits
// without a deadline until the next request is written, so a connection
// kept for a run survives the pauses between its files.
type stallConn struct {
	net.Conn
	timeout time.Duration
	mu      sync.Mutex
	parked  bool
}

func (c *stallConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	if !c.parked {
		c.Conn.SetDeadline(time.Now().Add(c.timeout))
	}
	c.mu.Unlock()
	return c.Conn.Read(p)
}

func (c *stallConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.parked = false
	c.Conn.SetDeadline(time.Now().Add(c.timeout))
	c.mu.Unlock()
	return c.Conn.Write(p)
}

// park lifts the deadline, also from a read already waiting, until the next
// write.
func (c *stallConn) park() {
	c.mu.Lock()
	c.parked = true
	c.Conn.SetDeadline(time.Time{})
	c.mu.Unlock()
}
