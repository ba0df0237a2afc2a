package sftptest

import (
	"errors"
	"io"
	"net"
	"os"
	"sync/atomic"

	"github.com/pkg/sftp"
)

// fsHandler serves one connection's SFTP requests from the server's root
// directory. Paths arrive cleaned and absolute, so joining them under the
// root keeps every request inside it.
type fsHandler struct {
	srv  *Server
	conn net.Conn
	// cut is set once a fault has cut the connection: writes the server
	// had already buffered must not land, as they would not have arrived.
	cut atomic.Bool
}

func (h *fsHandler) Fileread(r *sftp.Request) (io.ReaderAt, error) {
	return os.Open(h.srv.Path(r.Filepath))
}

func (h *fsHandler) Filewrite(r *sftp.Request) (io.WriterAt, error) {
	pf := r.Pflags()
	flags := os.O_WRONLY
	if pf.Read {
		flags = os.O_RDWR
	}
	if pf.Creat {
		flags |= os.O_CREATE
	}
	if pf.Trunc {
		flags |= os.O_TRUNC
	}
	if pf.Excl {
		flags |= os.O_EXCL
	}
	f, err := os.OpenFile(h.srv.Path(r.Filepath), flags, 0o644)
	if err != nil {
		return nil, err
	}
	return &countingFile{f: f, h: h}, nil
}

func (h *fsHandler) Filecmd(r *sftp.Request) error {
	p := h.srv.Path(r.Filepath)
	switch r.Method {
	case "Setstat":
		attrs, flags := r.Attributes(), r.AttrFlags()
		if flags.Size {
			if err := os.Truncate(p, int64(attrs.Size)); err != nil {
				return err
			}
		}
		if flags.Permissions {
			if err := os.Chmod(p, attrs.FileMode().Perm()); err != nil {
				return err
			}
		}
		if flags.Acmodtime {
			return os.Chtimes(p, attrs.AccessTime(), attrs.ModTime())
		}
		return nil
	case "Rename":
		return h.rename(r, false)
	case "Rmdir":
		return os.Remove(p)
	case "Mkdir":
		return os.Mkdir(p, 0o755)
	case "Remove":
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		if fi.IsDir() {
			return sftp.ErrSSHFxFailure
		}
		return os.Remove(p)
	default:
		return sftp.ErrSSHFxOpUnsupported
	}
}

// PosixRename replaces the target, as posix-rename@openssh.com does.
func (h *fsHandler) PosixRename(r *sftp.Request) error {
	if h.srv.Faults().NoPosixRename {
		return sftp.ErrSSHFxOpUnsupported
	}
	return h.rename(r, true)
}

func (h *fsHandler) rename(r *sftp.Request, replace bool) error {
	f := h.srv.Faults()
	if f.RefuseRename {
		return sftp.ErrSSHFxPermissionDenied
	}
	from, to := h.srv.Path(r.Filepath), h.srv.Path(r.Target)
	if !replace {
		// SFTP v3: renaming onto an existing name is an error, which is
		// what OpenSSH answers too.
		if _, err := os.Lstat(to); err == nil {
			return sftp.ErrSSHFxFailure
		}
	}
	if err := os.Rename(from, to); err != nil {
		return err
	}
	if f.CutAfterRename && h.srv.takeCutAfterRename() {
		h.cut.Store(true)
		h.conn.Close()
		return sftp.ErrSSHFxConnectionLost
	}
	return nil
}

func (h *fsHandler) Filelist(r *sftp.Request) (sftp.ListerAt, error) {
	p := h.srv.Path(r.Filepath)
	switch r.Method {
	case "List":
		entries, err := os.ReadDir(p)
		if err != nil {
			return nil, err
		}
		infos := make([]os.FileInfo, 0, len(entries))
		for _, e := range entries {
			fi, err := e.Info()
			if err != nil {
				continue // removed while listing
			}
			infos = append(infos, fi)
		}
		return listerAt(infos), nil
	case "Stat":
		fi, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		return listerAt{fi}, nil
	default:
		return nil, sftp.ErrSSHFxOpUnsupported
	}
}

type listerAt []os.FileInfo

func (l listerAt) ListAt(dst []os.FileInfo, offset int64) (int, error) {
	if offset >= int64(len(l)) {
		return 0, io.EOF
	}
	n := copy(dst, l[offset:])
	if n < len(dst) {
		return n, io.EOF
	}
	return n, nil
}

// countingFile writes file content and applies the CutAfterBytes fault.
type countingFile struct {
	f *os.File
	h *fsHandler
}

func (c *countingFile) WriteAt(p []byte, off int64) (int, error) {
	if c.h.cut.Load() {
		return 0, errConnectionCut
	}
	allowed, cut := c.h.srv.consume(int64(len(p)))
	n, err := c.f.WriteAt(p[:allowed], off)
	c.h.srv.written.Add(int64(n))
	if cut {
		c.h.cut.Store(true)
		c.h.conn.Close()
		return n, errConnectionCut
	}
	return n, err
}

var errConnectionCut = errors.New("sftptest: connection cut")

func (c *countingFile) Close() error { return c.f.Close() }

// consume books n bytes against the CutAfterBytes budget and reports how many
// may be written and whether the connection must be cut afterwards.
func (s *Server) consume(n int64) (allowed int64, cut bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	left := s.faults.CutAfterBytes
	if left <= 0 {
		return n, false
	}
	if n < left {
		s.faults.CutAfterBytes -= n
		return n, false
	}
	s.faults.CutAfterBytes = 0
	return left, true
}

func (s *Server) takeCutAfterRename() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	was := s.faults.CutAfterRename
	s.faults.CutAfterRename = false
	return was
}
