package circ

import (
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/circa-ils/circa/store"
	"github.com/circa-ils/circa/store/boltstore"
)

// The first wrong PINs are free; the next locks the PIN, and while locked
// even the right PIN, already remembered as verified, is refused unchecked
// and nothing is written. A right PIN after the lock ends the run.
func TestPINLocksAfterFreeFailures(t *testing.T) {
	l := newLib(t)
	l.patron("P1", "ADULT")
	if _, err := l.svc.VerifyPatron(ctx, "P1", "1234"); err != nil {
		t.Fatal(err) // now in the memory of verified pairs
	}
	for i := 1; i <= PINFreeFailures+1; i++ {
		if _, err := l.svc.VerifyPatron(ctx, "P1", "0000"); !errors.Is(err, ErrPatronAuthFailed) {
			t.Fatalf("wrong PIN %d: %v", i, err)
		}
	}
	lock, err := l.svc.PINLockOf(ctx, "P1")
	if err != nil || lock.Failures != PINFreeFailures+1 || !lock.Locked(l.svc.Now()) || !lock.LockedUntil.Equal(l.svc.Now().Add(PINFirstLock)) {
		t.Fatalf("lock state %+v %v", lock, err)
	}
	commits := l.db.CommitStats().Commits
	for _, pin := range []string{"1234", "0000"} {
		if _, err := l.svc.VerifyPatron(ctx, "P1", pin); !errors.Is(err, ErrPatronPINLocked) {
			t.Fatalf("locked, PIN %s: %v", pin, err)
		}
		sum, err := l.svc.PatronStatus(ctx, PatronQuery{Patron: "P1", PIN: pin, Brief: true})
		if err != nil || sum.PINOK || sum.PINRefusal != PatronPINLocked {
			t.Fatalf("status while locked: ok=%v refusal=%v %v", sum.PINOK, sum.PINRefusal, err)
		}
	}
	if c := l.db.CommitStats().Commits; c != commits {
		t.Fatalf("locked checks wrote %d commits", c-commits)
	}
	// The operations that take a PIN are refused the same way.
	if _, err := l.svc.Renew(ctx, RenewRequest{Agent: atMain, Patron: "P1", PIN: "1234", Item: "nothing"}); !errors.Is(err, ErrPatronPINLocked) {
		t.Fatalf("renewal while locked: %v", err)
	}
	if st := l.svc.PINStats(); st.Locked != 5 || st.Failed != PINFreeFailures+1 {
		t.Fatalf("stats %+v", st)
	}
	l.advance(PINFirstLock)
	if _, err := l.svc.VerifyPatron(ctx, "P1", "1234"); err != nil {
		t.Fatalf("right PIN after the lock: %v", err)
	}
	if lock, _ := l.svc.PINLockOf(ctx, "P1"); lock.Failures != 0 {
		t.Fatalf("success did not end the run: %+v", lock)
	}
	// A success with no failures before it writes nothing.
	commits = l.db.CommitStats().Commits
	if _, err := l.svc.VerifyPatron(ctx, "P1", "1234"); err != nil || l.db.CommitStats().Commits != commits {
		t.Fatalf("plain success: %v, %d commits", err, l.db.CommitStats().Commits-commits)
	}
}

// A patron who mistypes and then gets it right is never held up.
func TestPINOneMistakeNeverLocks(t *testing.T) {
	l := newLib(t)
	l.patron("P1", "ADULT")
	for range 20 {
		for range PINFreeFailures {
			if _, err := l.svc.VerifyPatron(ctx, "P1", "4321"); !errors.Is(err, ErrPatronAuthFailed) {
				t.Fatal(err)
			}
		}
		if _, err := l.svc.VerifyPatron(ctx, "P1", "1234"); err != nil {
			t.Fatalf("right PIN after %d mistakes: %v", PINFreeFailures, err)
		}
	}
}

// The count survives a restart and staff can clear it.
func TestPINFailuresSurviveRestartAndUnlock(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, boltstore.DefaultFile)
	db, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h, _ := HashSecret("1234")
	p := store.Patron{Barcode: "P1", LastName: "Doe", UserGroup: "ADULT", HomeLibrary: "MAIN", Expiry: start.AddDate(1, 0, 0), PINHash: h}
	if err := db.Update(ctx, func(tx store.Tx) error { return tx.PutPatron(&p, start) }); err != nil {
		t.Fatal(err)
	}
	now := start
	clock := WithClock(func() time.Time { return now })
	svc, err := New(db, clock)
	if err != nil {
		t.Fatal(err)
	}
	for range PINFreeFailures + 2 {
		svc.VerifyPatron(ctx, "P1", "9999")
	}
	db.Close()

	db, err = boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	svc, err = New(db, clock)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.VerifyPatron(ctx, "P1", "1234"); !errors.Is(err, ErrPatronPINLocked) {
		t.Fatalf("after restart: %v", err)
	}
	lock, _ := svc.PINLockOf(ctx, "P1")
	if lock.Failures != PINFreeFailures+1 || !lock.LockedUntil.Equal(now.Add(PINFirstLock)) {
		// The 7th guess was refused unchecked: it did not count.
		t.Fatalf("after restart: %+v", lock)
	}
	if err := svc.UnlockPIN(ctx, "P1"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.VerifyPatron(ctx, "P1", "1234"); err != nil {
		t.Fatalf("after unlock: %v", err)
	}
	if err := svc.UnlockPIN(ctx, "NOBODY"); !errors.Is(err, ErrPatronUnknown) {
		t.Fatalf("unlock of an unknown patron: %v", err)
	}
}

// Guesses sent at once cannot all be checked before the first failure is
// counted: a patron's checks run one at a time.
func TestPINConcurrentGuessesAreCounted(t *testing.T) {
	l := newLib(t)
	l.patron("P1", "ADULT")
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.svc.VerifyPatron(ctx, "P1", "g"+string(rune('a'+i)))
		}()
	}
	wg.Wait()
	st := l.svc.PINStats()
	if st.Failed > PINFreeFailures+1 {
		t.Fatalf("%d guesses checked at once, want at most %d", st.Failed, PINFreeFailures+1)
	}
	if st.Failed+st.Locked+st.Busy != 40 {
		t.Fatalf("stats %+v do not add up to 40", st)
	}
}

func TestPINLockSchedule(t *testing.T) {
	want := map[int]time.Duration{1: 0, 5: 0, 6: time.Minute, 7: 2 * time.Minute, 8: 4 * time.Minute,
		19: 8192 * time.Minute, 20: PINMaxLock, 1000: PINMaxLock}
	for n, d := range want {
		if got := pinLockAfter(n); got != d {
			t.Errorf("lock after %d failures: %v, want %v", n, got, d)
		}
	}
}

// TestPINGuessesPerYear measures what the policy allows a guesser who never
// stops: every guess is sent the moment the lock ends, for a year of the
// service's clock, against the real store.
func TestPINGuessesPerYear(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a year of guesses")
	}
	l := newLib(t)
	l.patron("P1", "ADULT")
	first := l.svc.Now()
	day, year := 0, 0
	for i := 0; l.svc.Now().Before(first.AddDate(1, 0, 0)); i++ {
		_, err := l.svc.VerifyPatron(ctx, "P1", "0000")
		switch {
		case errors.Is(err, ErrPatronAuthFailed):
			year++
			if l.svc.Now().Before(first.Add(24 * time.Hour)) {
				day++
			}
		case errors.Is(err, ErrPatronPINLocked):
			lock, _ := l.svc.PINLockOf(ctx, "P1")
			l.advance(lock.LockedUntil.Sub(l.svc.Now()))
		default:
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	t.Logf("a continuous guesser gets %d guesses in the first day and %d in a year (%.2f%% of 4-digit PINs)",
		day, year, float64(year)/100)
	if day != 16 || year != 70 {
		t.Fatalf("day %d, year %d: the arithmetic in pin.go is out of date", day, year)
	}
}
