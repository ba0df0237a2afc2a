package boltstore

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"syscall"

	"github.com/circa-ils/circa/store"
)

// Restore replaces the database at dst with the backup at src. src must be
// a circa database this binary can read (not a newer schema; an older one
// is migrated when next opened). dst must not be held by another process:
// Restore takes its lock for the whole swap, so a server cannot open the
// file half-written, and refuses with ErrLocked while one runs. The file it
// replaces is kept as dst+".bak".
func Restore(src, dst string, lockTimeout time.Duration) error {
	cand, err := Open(src, Options{ReadOnly: true, LockTimeout: lockTimeout})
	if err != nil {
		if errors.Is(err, store.ErrNewer) || errors.Is(err, store.ErrLocked) {
			return err
		}
		return fmt.Errorf("store: %s is not a circa database: %w", src, err)
	}
	cand.Close()

	if _, err := os.Stat(dst); err == nil {
		// The lock bbolt takes, taken directly: the file being replaced
		// may be damaged beyond bbolt opening it.
		held, err := lockFile(dst, lockTimeout)
		if err != nil {
			return err
		}
		defer held.Close()
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("store: %w", err)
	}

	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	tmp := dst + ".restore"
	if err := copyFile(src, tmp); err != nil {
		os.Remove(tmp)
		return err
	}
	if _, err := os.Stat(dst); err == nil {
		if err := os.Rename(dst, dst+".bak"); err != nil {
			os.Remove(tmp)
			return fmt.Errorf("store: keep %s: %w", dst, err)
		}
	}
	if err := os.Rename(tmp, dst); err != nil {
		return fmt.Errorf("store: restore %s: %w", dst, err)
	}
	return syncDir(filepath.Dir(dst))
}

// copyFile copies src to a new file dst, fsynced.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("store: copy %s: %w", src, err)
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return fmt.Errorf("store: %w", err)
	}
	return out.Close()
}

// lockFile takes the exclusive flock bbolt takes on a database file,
// waiting up to timeout; closing the file releases it.
func lockFile(path string, timeout time.Duration) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	deadline := time.Now().Add(timeout)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return nil, fmt.Errorf("%w: %s is locked (is circa serve running on it?)", store.ErrLocked, path)
			}
			return nil, fmt.Errorf("store: lock %s: %w", path, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("store: sync %s: %w", dir, err)
	}
	return nil
}
