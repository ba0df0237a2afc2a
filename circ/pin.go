package circ

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/circa-ils/circa/store"
)

// Patron PINs are throttled per patron, in one place for SIP2, NCIP and the
// command line, and the count is kept in the store so a restart does not
// give a guesser a fresh start.
//
// The policy: the first PINFreeFailures wrong PINs in a row cost nothing, so
// a patron who mistypes is never locked out; each further wrong PIN locks
// the patron's PIN for a period that starts at PINFirstLock and doubles up
// to PINMaxLock. A right PIN (while not locked) or staff's unlock ends the
// run. A locked check is refused without hashing, without consulting the
// memory of verified PINs, and without writing.
//
// What that allows a guesser who never stops: failures 1–5 at once; the
// n-th failure (6 ≤ n ≤ 19) locks for 2^(n−6) minutes (1 … 8,192), so the
// lock after the 19th ends 16,383 minutes (11.4 days) after the first
// guess; from then on one guess each 7 days: 1 + ⌊(525,600 − 16,383) /
// 10,080⌋ = 51 more. 19 + 51 = 70 guesses in the first year, a 0.7 % chance
// at a random 4-digit PIN, and 52 in each later year. In the first day:
// the n-th failure comes 2^(n−6) − 1 minutes after the first, within 1,440
// minutes up to n = 16, so 16. TestPINGuessesPerYear measures both.
const (
	PINFreeFailures = 5
	PINFirstLock    = time.Minute
	PINMaxLock      = 7 * 24 * time.Hour
)

// pinLockAfter is the lock that the n-th wrong PIN in a row imposes.
func pinLockAfter(n int) time.Duration {
	if n <= PINFreeFailures {
		return 0
	}
	d := PINFirstLock
	for i := PINFreeFailures + 1; i < n && d < PINMaxLock; i++ {
		d *= 2
	}
	return min(d, PINMaxLock)
}

// PINStats counts PIN checks that failed or were refused, for /metrics.
type PINStats struct {
	Failed uint64 // a wrong PIN
	Locked uint64 // refused unchecked: the patron's PIN is locked
	Busy   uint64 // refused unchecked: hashing budget full
	// Unavailable counts checks a directory could not answer: refused
	// without counting against the patron.
	Unavailable uint64
}

type pinCounters struct{ failed, locked, busy, unavailable atomic.Uint64 }

// PINStats returns the PIN counters since the service started.
func (s *Service) PINStats() PINStats {
	return PINStats{Failed: s.pins.failed.Load(), Locked: s.pins.locked.Load(), Busy: s.pins.busy.Load(),
		Unavailable: s.pins.unavailable.Load()}
}

// pinVerdict is the outcome of a PIN check made before the operation's
// transaction, so that argon2 never runs inside a write transaction and a
// failure can be recorded whatever the operation does.
type pinVerdict struct {
	need      bool   // a PIN was given or is required
	patronID  uint64 // the patron whose PIN or password was accepted
	hash      string // the patron's PIN hash the PIN matched
	directory string // the LDAP profile that accepted the password, "" for a PIN
	refusal   *Error // why the PIN is not accepted
}

// patronLocks serialises the PIN checks of one patron, so concurrent
// guesses cannot all slip in before the first failure is counted.
type patronLocks struct {
	mu   sync.Mutex
	busy map[uint64]chan struct{}
}

func (l *patronLocks) lock(ctx context.Context, id uint64) error {
	t := time.NewTimer(hashWait)
	defer t.Stop()
	for {
		l.mu.Lock()
		ch, held := l.busy[id]
		if !held {
			if l.busy == nil {
				l.busy = map[uint64]chan struct{}{}
			}
			l.busy[id] = make(chan struct{})
			l.mu.Unlock()
			return nil
		}
		l.mu.Unlock()
		select {
		case <-ch:
		case <-t.C:
			return ErrBusy
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (l *patronLocks) unlock(id uint64) {
	l.mu.Lock()
	close(l.busy[id])
	delete(l.busy, id)
	l.mu.Unlock()
}

// checkPIN judges a patron's PIN, when one is given or required. An
// unknown patron gets an empty verdict: the operation reports it as unknown.
func (s *Service) checkPIN(ctx context.Context, barcode, pin string, required bool) (pinVerdict, error) {
	v := pinVerdict{need: pin != "" || required}
	if !v.need {
		return v, nil
	}
	var p store.Patron
	err := s.view(ctx, func(tx store.Tx) error {
		var err error
		p, err = tx.PatronByBarcode(barcode)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return v, nil
	}
	if err != nil {
		return v, err
	}
	if err := s.pinLocks.lock(ctx, p.ID); err != nil {
		if errors.Is(err, ErrBusy) {
			s.pins.busy.Add(1)
			v.refusal = refuse(Busy, "")
			return v, nil
		}
		return v, err
	}
	defer s.pinLocks.unlock(p.ID)

	var fails store.PINFailures
	var directory string
	err = s.view(ctx, func(tx store.Tx) error {
		var err error
		if p, err = tx.Patron(p.ID); err != nil {
			return err
		}
		if directory, err = authOf(tx, &p); err != nil {
			return err
		}
		fails, err = tx.PINFailures(p.ID)
		return err
	})
	if err != nil {
		return v, err
	}
	now := s.Now()
	if now.Before(fails.LockedUntil) {
		s.pins.locked.Add(1)
		v.refusal = refuse(PatronPINLocked, "until "+fails.LockedUntil.Format(time.RFC3339))
		return v, nil
	}
	var good bool
	switch {
	case pin == "" || (directory == "" && p.PINHash == ""):
		// Nothing to guess at: nothing is checked and nothing counted.
		v.refusal = refuse(PatronAuthFailed, "")
		return v, nil
	case directory != "":
		var unavailable bool
		good, unavailable = s.verifyWithDirectory(ctx, directory, DirectoryUser{User: barcode, Barcode: p.Barcode}, pin)
		if unavailable {
			s.pins.unavailable.Add(1)
			v.refusal = refuse(AuthUnavailable, "")
			return v, nil
		}
	default:
		good, err = VerifySecret(p.PINHash, pin)
		if errors.Is(err, ErrBusy) {
			s.pins.busy.Add(1)
			v.refusal = refuse(Busy, "")
			return v, nil
		}
		good = good && err == nil
	}
	if !good {
		s.pins.failed.Add(1)
		fails.Count++
		fails.Last = now
		fails.LockedUntil = now.Add(pinLockAfter(fails.Count))
		if err := s.commit(ctx, func(tx store.Tx) error { return tx.PutPINFailures(p.ID, fails) }); err != nil {
			return v, err
		}
		v.refusal = refuse(PatronAuthFailed, "")
		return v, nil
	}
	if fails.Count > 0 {
		if err := s.commit(ctx, func(tx store.Tx) error { return tx.PutPINFailures(p.ID, store.PINFailures{}) }); err != nil {
			return v, err
		}
	}
	v.patronID, v.directory, v.hash = p.ID, directory, p.PINHash
	return v, nil
}

// accepts reports whether the verdict still holds for the patron as the
// operation's transaction sees it: the PIN matched the hash the patron
// has now, or the directory that checked the password is still the one
// the patron's group names.
func (v *pinVerdict) accepts(tx store.Tx, p *store.Patron) (bool, error) {
	switch {
	case v.patronID != p.ID:
		return false, nil
	case v.directory == "":
		return v.hash != "" && v.hash == p.PINHash, nil
	}
	directory, err := authOf(tx, p)
	return err == nil && directory == v.directory, err
}

// PINLock is the state of a patron's PIN throttle.
type PINLock struct {
	Failures    int       `json:"failures"`               // wrong PINs in a row
	LastFailure time.Time `json:"last_failure,omitempty"` // zero when none
	LockedUntil time.Time `json:"locked_until,omitempty"` // zero or past when not locked
}

// Locked reports whether the PIN is locked at now.
func (l PINLock) Locked(now time.Time) bool { return now.Before(l.LockedUntil) }

// PINLockOf returns a patron's PIN throttle state.
func (s *Service) PINLockOf(ctx context.Context, barcode string) (PINLock, error) {
	var l PINLock
	var f store.PINFailures
	err := s.view(ctx, func(tx store.Tx) error {
		p, err := tx.PatronByBarcode(barcode)
		if err != nil {
			return err
		}
		f, err = tx.PINFailures(p.ID)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return l, refuse(PatronUnknown, "no patron with that barcode")
	}
	return PINLock{Failures: f.Count, LastFailure: f.Last, LockedUntil: f.LockedUntil}, err
}

// UnlockPIN ends a patron's run of wrong PINs and any lock it imposed.
func (s *Service) UnlockPIN(ctx context.Context, barcode string) error {
	var p store.Patron
	err := s.view(ctx, func(tx store.Tx) error {
		var err error
		p, err = tx.PatronByBarcode(barcode)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return refuse(PatronUnknown, "no patron with that barcode")
	}
	if err != nil {
		return err
	}
	return s.commit(ctx, func(tx store.Tx) error { return tx.PutPINFailures(p.ID, store.PINFailures{}) })
}
