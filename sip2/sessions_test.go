package sip2

import (
	"strings"
	"testing"
	"time"
)

func TestServerSnapshot(t *testing.T) {
	ts := startServer(t, nil)
	if snap := ts.srv.Snapshot(); len(snap.Sessions) != 0 || snap.NotLoggedIn != 0 {
		t.Fatalf("idle server: %+v", snap)
	}
	before := time.Now()
	kiosk := dialRaw(t, ts.addr)
	login(t, kiosk)
	if got := kiosk.roundTrip(sign(checkoutFrame, "1")); !strings.HasPrefix(got, "12") {
		t.Fatalf("checkout: %q", got)
	}
	// A stranger that never logs in is counted, not listed.
	stranger := dialRaw(t, ts.addr)
	waitFor(t, func() bool { return ts.srv.Snapshot().NotLoggedIn == 1 })

	snap := ts.srv.Snapshot()
	if len(snap.Sessions) != 1 {
		t.Fatalf("sessions: %+v", snap)
	}
	s := snap.Sessions[0]
	if s.Account != "kiosk" || s.Institution != "MAIN" || s.TLS || s.Messages != 2 || s.LastCode != "11" || s.Errors != 0 {
		t.Errorf("session after login and checkout: %+v", s)
	}
	if s.Since.Before(before) || s.LastAt.Before(s.Since) || s.LastTook <= 0 || s.RemoteAddr.String() != kiosk.c.LocalAddr().String() {
		t.Errorf("times or address: %+v", s)
	}

	// A damaged frame and a message the session does not implement are
	// errors; the count survives the next good message.
	if got := kiosk.roundTrip("11YN20261127    101500AOMAIN|AY2AZ0000\r"); !strings.HasPrefix(got, "96") {
		t.Fatalf("damaged frame: %q", got)
	}
	if got := kiosk.roundTrip(sign("6500120261127    101500AOMAIN|AA2900001234|", "3")); !strings.HasPrefix(got, "66") {
		t.Fatalf("renew all: %q", got)
	}
	kiosk.roundTrip(sign("9900302.00", "4"))
	s = ts.srv.Snapshot().Sessions[0]
	if s.Errors != 2 || s.Messages != 5 || s.LastCode != "99" {
		t.Errorf("after two errors and a status: %+v", s)
	}

	kiosk.c.Close()
	stranger.c.Close()
	waitFor(t, func() bool { snap := ts.srv.Snapshot(); return len(snap.Sessions) == 0 && snap.NotLoggedIn == 0 })
}
