package circ

import (
	"maps"
	"testing"
	"time"
)

// Refused checkouts, checkins and renewals are counted per library for
// the library's current day; successes are not, and midnight in the
// library's zone starts the count again.
func TestRefusedToday(t *testing.T) {
	l := newLib(t)
	l.patron("P1", "GRAD")
	l.item("BOOK1", "BOOK", "MAIN", "STACKS")
	atBranch := Agent{Protocol: "sip2", Account: "kiosk2", Library: "BRANCH"}

	if _, err := l.checkout("P1", "BOOK1"); err != nil {
		t.Fatal(err)
	}
	l.checkout("P1", "NOPE")
	l.svc.Renew(ctx, RenewRequest{Agent: atBranch, Patron: "P1", Item: "NOPE"})
	l.svc.Checkin(ctx, CheckinRequest{Agent: atBranch, Item: "NOPE"})
	if got, want := l.svc.RefusedToday(ctx), map[string]int{"MAIN": 1, "BRANCH": 2}; !maps.Equal(got, want) {
		t.Fatalf("RefusedToday = %v, want %v", got, want)
	}

	// To the next midnight in New York, where both libraries are.
	ny, _ := time.LoadLocation("America/New_York")
	now := l.svc.Now().In(ny)
	l.advance(time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 1, 0, ny).Sub(now))
	if got := l.svc.RefusedToday(ctx); len(got) != 0 {
		t.Fatalf("after midnight: %v, want nothing", got)
	}
	l.checkout("P1", "NOPE")
	if got, want := l.svc.RefusedToday(ctx), map[string]int{"MAIN": 1}; !maps.Equal(got, want) {
		t.Fatalf("next day: %v, want %v", got, want)
	}
}
