package circ

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/circa-ils/circa/store"
)

// refusalTally counts, per library, the checkouts, checkins and renewals
// refused on the library's current day. A refusal changes nothing in the
// store, so the journal that counts the day's loans and returns cannot
// count it; this count lives in memory and starts again with the process.
type refusalTally struct {
	mu   sync.Mutex
	days map[string]dayCount // library → its count on one local date
}

type dayCount struct {
	date string // YYYY-MM-DD in the library's zone
	n    int
}

// countRefusal counts err when it is a refusal of an operation at library.
func (s *Service) countRefusal(ctx context.Context, library string, err error) {
	var refusal *Error
	if !errors.As(err, &refusal) {
		return
	}
	date := s.Now().In(s.zoneOf(ctx, library)).Format("2006-01-02")
	t := &s.refusals
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.days == nil {
		t.days = map[string]dayCount{}
	}
	d := t.days[library]
	if d.date != date {
		d = dayCount{date: date}
	}
	d.n++
	t.days[library] = d
}

// RefusedToday returns, per library code, how many checkouts, checkins and
// renewals were refused there today (the library's local date) since the
// process started. Operations that named no library count under "".
func (s *Service) RefusedToday(ctx context.Context) map[string]int {
	now := s.Now()
	s.refusals.mu.Lock()
	days := make(map[string]dayCount, len(s.refusals.days))
	for lib, d := range s.refusals.days {
		days[lib] = d
	}
	s.refusals.mu.Unlock()
	out := make(map[string]int, len(days))
	for lib, d := range days {
		if d.date == now.In(s.zoneOf(ctx, lib)).Format("2006-01-02") {
			out[lib] = d.n
		}
	}
	return out
}

// zoneOf is Zone outside a transaction: a library's zone from the cache,
// read from the store the first time.
func (s *Service) zoneOf(ctx context.Context, library string) *time.Location {
	s.zonesMu.Lock()
	z, ok := s.zones[library]
	s.zonesMu.Unlock()
	if ok {
		return z
	}
	z = time.UTC
	s.db.View(ctx, func(tx store.Tx) error {
		z = s.Zone(tx, library)
		return nil
	})
	return z
}

// NewLoginGuard returns a login throttle of its own, with the rules of the
// kiosk logins' (Service.Logins), for another kind of account.
func NewLoginGuard(now func() time.Time) *LoginGuard { return newLoginGuard(now) }
