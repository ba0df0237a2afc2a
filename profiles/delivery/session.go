package delivery

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"
)

// Session is one connection to a Client's target shared by a run of
// operations: a run that delivers many files (one per SMS notice) pays for
// the SSH handshake and login once instead of once per file. The connection
// is opened by the first operation and kept until Close; an operation that
// fails in a way that may have broken it drops it, and the retry opens a
// new one, so every guarantee of a single delivery (hidden temporary name,
// rename, read-back, resume from the saved step) holds for each file. The
// connection ends when the context of the operation that opened it ends:
// give every operation of a run the run's context. A Session is for one
// goroutine at a time.
type Session struct {
	c *Client
	f fsys
}

// Open starts a session with the client's target; nothing is connected
// until the first operation.
func (c *Client) Open() *Session { return &Session{c: c} }

// Target returns the session's target.
func (s *Session) Target() Target { return s.c.target }

// Close ends the session's connection, if it has one.
func (s *Session) Close() error {
	if s.f == nil {
		return nil
	}
	err := s.f.close()
	s.f = nil
	return err
}

// use runs body on the session's connection, opening one if needed, with
// no retry. A failure that may have broken the connection drops it; a
// permanent one (a refused file, a missing directory) leaves it for the
// next operation.
func (s *Session) use(ctx context.Context, body func(fsys) error) error {
	if s.f == nil {
		f, err := s.c.connect(ctx)
		if err != nil {
			return err
		}
		s.f = f
	}
	err := body(s.f)
	var stop *stopError
	if err != nil && !IsPermanent(err) && !errors.As(err, &stop) {
		s.Close()
		return err
	}
	s.f.idle()
	return err
}

// do runs body with the client's retries, logging each failed attempt.
func (s *Session) do(ctx context.Context, op string, body func(fsys) error) error {
	return s.c.retry.do(ctx, func(ctx context.Context) error { return s.use(ctx, body) },
		func(attempt int, err error) {
			s.c.log.Warn().Err(err).Str("op", op).Int("attempt", attempt).Bool("permanent", IsPermanent(err)).
				Msg("attempt failed")
		})
}

// Resume takes d from whatever step it was saved at to StepDone: the data
// file is written under a hidden temporary name (.NAME.part), synced,
// renamed into place and read back; then the manifest NAME.manifest.json
// goes the same way (unless NoManifest). Every step is saved through st
// before the next one starts. Transient failures are retried on a new
// connection with backoff; permanent ones (see IsPermanent) return at once.
// Calling Resume on a finished delivery does nothing, and a delivery cut
// short anywhere, even between an action and the saving of its result,
// ends with exactly one complete copy of each file.
//
// The returned Delivery is the latest state, also on error.
func (s *Session) Resume(ctx context.Context, st StateStore, d Delivery) (Delivery, error) {
	if err := d.validate(); err != nil {
		return d, fmt.Errorf("resume %s: %w: %w", d.Name, ErrInvalid, err)
	}
	if d.Step == StepDone {
		return d, nil
	}
	save := func(ctx context.Context) error {
		if err := st.Save(ctx, d); err != nil {
			return &stopError{fmt.Errorf("save state of %s at %s: %w", d.Name, d.Step, err)}
		}
		return nil
	}
	log := s.c.log.With().Str("file", d.Name).Logger()
	start := time.Now()
	err := s.c.retry.do(ctx, func(ctx context.Context) error {
		d.Attempts++
		return s.use(ctx, func(f fsys) error {
			if err := s.c.advance(ctx, f, &d, save); err != nil {
				return err
			}
			d.Step, d.LastError = StepDone, ""
			return save(ctx)
		})
	}, func(attempt int, err error) {
		d.LastError = err.Error()
		log.Warn().Err(err).Int("attempt", attempt).Str("step", string(d.Step)).
			Bool("permanent", IsPermanent(err)).Msg("delivery attempt failed")
		var se *stopError
		if !errors.As(err, &se) {
			if serr := st.Save(ctx, d); serr != nil {
				log.Error().Err(serr).Msg("saving delivery state failed")
			}
		}
	})
	if err != nil {
		return d, fmt.Errorf("deliver %s to %s: %w", d.Name, s.c.target, err)
	}
	log.Info().Int64("bytes", d.Size).Int("attempts", d.Attempts).Dur("dur", time.Since(start)).Msg("delivered")
	return d, nil
}

// CheckTimeout bounds CheckTarget.
const CheckTimeout = 30 * time.Second

// CheckTarget proves, within CheckTimeout, that t can be reached and takes
// files (see Session.Check): what a profile's target must pass before the
// profile is saved, so that nothing is marked sent into files nobody
// receives.
func CheckTarget(ctx context.Context, t Target) error {
	ctx, cancel := context.WithTimeout(ctx, CheckTimeout)
	defer cancel()
	cl, err := NewClient(t, Options{})
	if err != nil {
		return err
	}
	_, err = cl.Check(ctx)
	return err
}

// Check reports what the target offers, on the session's connection (one
// is opened, with no retry, if the session has none): the host key, the
// login and the target directory are all verified, and the directory is
// listed. A local directory must also take a file: a hidden probe is
// created and removed at once. Nothing is written to an SFTP server, whose
// pick-up jobs might see it.
func (s *Session) Check(ctx context.Context) (Capabilities, error) {
	var caps Capabilities
	err := s.use(ctx, func(f fsys) error {
		fi, err := f.stat("")
		if errors.Is(err, fs.ErrNotExist) || (err == nil && !fi.IsDir()) {
			return ErrNoDir
		}
		if err != nil {
			return wrapFSError(err)
		}
		if _, err := f.list(""); err != nil {
			return fmt.Errorf("cannot list the directory: %w", wrapFSError(err))
		}
		if l, ok := f.(*localFS); ok {
			if err := l.probeWrite(); err != nil {
				return fmt.Errorf("cannot create a file: %w", wrapFSError(err))
			}
		}
		caps = Capabilities{PosixRename: f.replaces(), Fsync: true}
		if sf, ok := f.(*sftpFS); ok {
			caps.Fsync = sf.fsyncAvail
		}
		return nil
	})
	if err != nil {
		return Capabilities{}, fmt.Errorf("check %s: %w", s.c.target, err)
	}
	return caps, nil
}
