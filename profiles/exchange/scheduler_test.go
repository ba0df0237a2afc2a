package exchange

import (
	"context"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/circa-ils/circa/fixtures"
	"github.com/circa-ils/circa/profiles"
	"github.com/circa-ils/circa/profiles/delivery"
	"github.com/circa-ils/circa/profiles/delivery/sftptest"
)

// runScheduler runs the scheduler until a run satisfies until, then stops
// it and checks Run returns nil.
func runScheduler(t *testing.T, e *env, until func(Report) bool) []Report {
	t.Helper()
	for len(e.reportC) > 0 {
		<-e.reportC
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- e.sched.Run(rctx) }()
	var seen []Report
	deadline := time.After(30 * time.Second)
	for waiting := true; waiting; {
		select {
		case r := <-e.reportC:
			seen = append(seen, r)
			waiting = !until(r)
		case <-deadline:
			cancel()
			<-done
			t.Fatalf("no matching run; saw %+v", seen)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run returned %v after its context ended", err)
	}
	return seen
}

// smsProfile is a profile that can always run: a local target and no
// notices it cannot render.
func smsProfile(t *testing.T, code string) *profiles.Exchange {
	p := profiles.NewExchange(profiles.TypeSMS, code)
	p.Library, p.Target = fixtures.LibraryMain, delivery.Target{Kind: delivery.KindLocal, LocalDir: t.TempDir()}
	p.Schedule = profiles.Schedule{EveryMinutes: 5}
	p.SMS.Templates = map[string]map[string]string{"eng": {
		profiles.NoticeHoldShelf: "{{.Title}} is waiting for you at {{.Pickup}} until {{.Expires}}.",
		profiles.NoticeCourtesy:  "{{.Title}} is due on {{.Due}}.",
		profiles.NoticeOverdue:   "{{.Title}} was due on {{.Due}}. Please return it.",
		profiles.NoticeFee:       "You owe {{.Amount}} {{.Currency}} at {{.Library}}.",
	}}
	return p
}

func TestSchedulerRunsDueProfilesAndSkipsStopped(t *testing.T) {
	e := newEnv(t)
	srv, tg := sftpTarget(t)
	b := bursarProfile(tg)
	b.Schedule = profiles.Schedule{EveryMinutes: 5}
	e.save(b)
	e.save(smsProfile(t, "ZZZ"))
	srv.SetFaults(sftptest.Faults{FailAuth: true})
	if run, _ := e.sched.RunNow(ctx, "BURSAR", RunOptions{}); !run.Permanent {
		t.Fatalf("want a stopped profile, got %+v", run)
	}
	if _, err := e.sched.RunNow(ctx, "ZZZ", RunOptions{}); err != nil {
		t.Fatal(err)
	}
	e.advance(30 * time.Minute)
	before := srv.AuthFailures()
	seen := runScheduler(t, e, func(r Report) bool { return r.Profile == "ZZZ" && r.Run.Trigger == "schedule" })
	for _, r := range seen {
		if r.Profile == "BURSAR" {
			t.Errorf("the scheduler ran a stopped profile: %+v", r)
		}
	}
	if srv.AuthFailures() != before {
		t.Fatal("the stopped profile's server was contacted")
	}
	// Run by hand, the profile starts again.
	srv.SetFaults(sftptest.Faults{})
	if _, err := e.sched.RunNow(ctx, "BURSAR", RunOptions{}); err != nil {
		t.Fatal(err)
	}
	if st, _ := ProfileStatus(ctx, e.db, "BURSAR"); st.Stopped != "" {
		t.Fatalf("still stopped: %+v", st)
	}
}

func TestSchedulerStopsOnCancel(t *testing.T) {
	e := newEnv(t)
	e.save(smsProfile(t, "S1"))
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- e.sched.Run(rctx) }()
	e.sched.Wake()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func TestNewSchedulerNeedsItsParts(t *testing.T) {
	if _, err := NewScheduler(Options{}); err == nil {
		t.Fatal("an empty configuration was accepted")
	}
}

func TestRunNowUnknownProfile(t *testing.T) {
	e := newEnv(t)
	if _, err := e.sched.RunNow(ctx, "NOPE", RunOptions{}); err == nil {
		t.Fatal("unknown profile ran")
	}
}

func TestHostKeyMismatchStopsTheProfile(t *testing.T) {
	e := newEnv(t)
	_, tg := sftpTarget(t)
	other := sftptest.Start(t)
	tg.KnownHosts = knownhosts.Line([]string{knownhosts.Normalize(tg.Addr())}, other.HostKey)
	e.save(bursarProfile(tg))
	run, err := e.sched.RunNow(ctx, "BURSAR", RunOptions{})
	if err == nil || run.Result != ResultStopped || !strings.Contains(run.Error, "host key") {
		t.Fatalf("want a stop for the host key, got %+v, %v", run, err)
	}
	// Nothing was built for a target that cannot take it: every fee is
	// still open.
	if st, _ := ProfileStatus(ctx, e.db, "BURSAR"); st.Stopped == "" || len(st.Pending) != 0 {
		t.Fatalf("status %+v: stopped, no file built", st)
	}
	if n := len(e.exportedTxns()); n != 0 {
		t.Fatalf("%d fees marked exported for a target that refused us", n)
	}
}
