package delivery

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"strings"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Errors that retrying cannot cure. They are wrapped with detail; test with
// errors.Is. IsPermanent reports true for all of them.
var (
	// ErrHostKey: the server's host key is not the pinned one, or no key is
	// pinned for it.
	ErrHostKey = errors.New("host key not accepted")
	// ErrAuth: the server refused our key.
	ErrAuth = errors.New("authentication failed")
	// ErrPermission: the server or file system refused access.
	ErrPermission = errors.New("permission denied")
	// ErrNoDir: the target directory does not exist.
	ErrNoDir = errors.New("target directory does not exist")
	// ErrSourceChanged: the local file no longer has the size and checksum
	// it had when the delivery was prepared.
	ErrSourceChanged = errors.New("source file changed since it was prepared")
	// ErrConflict: a remote file that should be ours holds other content.
	ErrConflict = errors.New("remote file has other content")
	// ErrInvalid: the Target or Delivery is malformed.
	ErrInvalid = errors.New("invalid delivery")
)

// permanentError marks an error that a retry will not cure.
type permanentError struct{ err error }

func (p *permanentError) Error() string { return p.err.Error() }
func (p *permanentError) Unwrap() error { return p.err }

func permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

// IsPermanent reports whether err is one that retrying will not cure: a host
// key mismatch or unknown host, a refused login, permission denied, a
// missing target directory, a changed source, a conflicting remote file or
// an invalid request. Network failures, timeouts and EOF are transient.
// Context cancellation is neither: it reports false, and retry loops stop on
// it anyway.
func IsPermanent(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var p *permanentError
	if errors.As(err, &p) {
		return true
	}
	for _, e := range []error{ErrHostKey, ErrAuth, ErrPermission, ErrNoDir, ErrSourceChanged, ErrConflict, ErrInvalid, os.ErrPermission} {
		if errors.Is(err, e) {
			return true
		}
	}
	var ke *knownhosts.KeyError
	var re *knownhosts.RevokedError
	if errors.As(err, &ke) || errors.As(err, &re) {
		return true
	}
	var se *sftp.StatusError
	if errors.As(err, &se) {
		switch se.FxCode() {
		case sftp.ErrSSHFxPermissionDenied, sftp.ErrSSHFxOpUnsupported:
			return true
		}
	}
	return strings.Contains(err.Error(), "ssh: unable to authenticate")
}

// Retry bounds how often a transient failure is retried. Zero fields take
// the defaults.
type Retry struct {
	// Attempts is the total number of tries, the first included (default 5).
	Attempts int
	// Initial is the wait before the second try (default 1s); each later
	// wait doubles, up to Max (default 1m). Waits are jittered down by up
	// to half so that many runners do not retry in step.
	Initial time.Duration
	Max     time.Duration
}

func (r Retry) withDefaults() Retry {
	if r.Attempts <= 0 {
		r.Attempts = 5
	}
	if r.Initial <= 0 {
		r.Initial = time.Second
	}
	if r.Max <= 0 {
		r.Max = time.Minute
	}
	if r.Max < r.Initial {
		r.Max = r.Initial
	}
	return r
}

// delay is the wait after the given failed attempt (1-based).
func (r Retry) delay(attempt int) time.Duration {
	d := r.Initial
	for i := 1; i < attempt && d < r.Max; i++ {
		d *= 2
	}
	d = min(d, r.Max)
	half := d / 2
	return half + rand.N(half+1)
}

// do runs op until it succeeds, fails permanently, ctx ends or the attempts
// run out. onFail sees every failure with its attempt number.
func (r Retry) do(ctx context.Context, op func(ctx context.Context) error, onFail func(attempt int, err error)) error {
	r = r.withDefaults()
	for attempt := 1; ; attempt++ {
		err := op(ctx)
		if err == nil {
			return nil
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return errors.Join(ctxErr, err)
		}
		if onFail != nil {
			onFail(attempt, err)
		}
		var stop *stopError
		if IsPermanent(err) || errors.As(err, &stop) || attempt >= r.Attempts {
			return err
		}
		t := time.NewTimer(r.delay(attempt))
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(ctx.Err(), err)
		case <-t.C:
		}
	}
}
