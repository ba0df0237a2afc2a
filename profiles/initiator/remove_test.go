package initiator

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/fixtures"
	"github.com/circa-ils/circa/profiles"
	"github.com/circa-ils/circa/store"
)

// successor is the code of a second profile of the demo annex.
const successor = "ANNEX2"

// successorOf adds a second online profile of the same facility and
// library, sending to f; inactive, it sends nothing until activated.
func (e *env) successorOf(f *facility, active bool) *profiles.Storage {
	e.t.Helper()
	p := *e.reg.Current().Storage[fixtures.StorageCode]
	on := *p.Online
	on.URL = f.url()
	p.Code, p.AgencyIDs, p.Active, p.Online = successor, []string{"DEMO-ANNEX-2"}, active, &on
	if err := e.reg.Save(ctx, &p); err != nil {
		e.t.Fatal(err)
	}
	return e.reg.Current().Storage[successor]
}

// undelivered places a hold while the facility is down, so its
// RequestItem waits in the outbox after one failed attempt.
func (e *env) undelivered(f *facility) circ.HoldResult {
	e.t.Helper()
	f.stop()
	h := e.hold(fixtures.PatronGood)
	e.pass()
	if m := e.message(KindRequest, h.Retrieval); m.Status != StatusPending || m.Attempts != 1 {
		e.t.Fatalf("RequestItem while the facility is down: %+v", m)
	}
	return h
}

func (e *env) remove(code string, o RemoveOptions) ([]Message, error) {
	o.Now = *e.now.Load()
	return Remove(ctx, e.db, e.reg, code, o)
}

// TestRemoveRefusesUndelivered: a profile whose outbox holds a message the
// facility has not answered is not removed, and the refusal says how many
// and what to do; a hand-over to a profile of another facility or library,
// to one that is not online, to itself or to nobody is refused too.
// Nothing changes.
func TestRemoveRefusesUndelivered(t *testing.T) {
	e := newEnv(t)
	f := newFacility(t)
	e.online(f)
	h := e.undelivered(f)
	_, err := e.remove(fixtures.StorageCode, RemoveOptions{})
	if !errors.Is(err, ErrUndelivered) || !strings.Contains(err.Error(), "ANNEX has 1 (RequestItem of request "+strconv.FormatUint(h.Retrieval, 10)) ||
		!strings.Contains(err.Error(), "--hand-to") || !strings.Contains(err.Error(), "--drop") {
		t.Fatalf("remove: %v", err)
	}
	other := e.successorOf(newFacility(t), true)
	for name, edit := range map[string]func(p *profiles.Storage){
		"another facility": func(p *profiles.Storage) { p.Facility = "ELSEWHERE" },
		"another library":  func(p *profiles.Storage) { p.Library = fixtures.LibraryBranch; p.Desk = "" },
		"not online":       func(p *profiles.Storage) { p.Online = nil },
	} {
		p := *other
		edit(&p)
		if err := e.reg.Save(ctx, &p); err != nil {
			t.Fatal(err)
		}
		if _, err := e.remove(fixtures.StorageCode, RemoveOptions{HandTo: successor}); err == nil {
			t.Fatalf("hand-over to a profile of %s accepted", name)
		}
	}
	for _, o := range []RemoveOptions{{HandTo: fixtures.StorageCode}, {HandTo: "NOBODY"}, {HandTo: successor, Drop: true}} {
		if _, err := e.remove(fixtures.StorageCode, o); err == nil {
			t.Fatalf("%+v accepted", o)
		}
	}
	if _, ok := e.reg.Current().Storage[fixtures.StorageCode]; !ok {
		t.Fatal("the profile is gone")
	}
	if m := e.message(KindRequest, h.Retrieval); m.Status != StatusPending || len(e.pending()) != 1 {
		t.Fatalf("message after the refusals: %+v, outbox %v", m, e.pending())
	}
	// With nothing undelivered the profile goes.
	f.start()
	e.pass()
	if _, err := e.remove(fixtures.StorageCode, RemoveOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.reg.Current().Storage[fixtures.StorageCode]; ok {
		t.Fatal("the profile is still there")
	}
}

// TestRemoveHandsOver: the removed profile's undelivered messages move, in
// order, to the outbox of the other profile of the facility, written with
// its agency and the same RequestId, and it delivers them; the removed
// profile's records say where they went.
func TestRemoveHandsOver(t *testing.T) {
	e := newEnv(t)
	f := newFacility(t)
	e.online(f)
	a := e.undelivered(f)
	b, err := e.svc.PlaceHold(ctx, circ.HoldRequest{Agent: agent, Patron: fixtures.PatronExternal, Item: fixtures.ItemAnnex})
	if err != nil {
		t.Fatal(err)
	}
	e.cancel(a)
	e.pass()
	want := e.pending()
	if len(want) != 3 {
		t.Fatalf("outbox %v", want)
	}
	f2 := newFacility(t)
	e.successorOf(f2, false)
	moved, err := e.remove(fixtures.StorageCode, RemoveOptions{HandTo: successor})
	if err != nil || len(moved) != 3 {
		t.Fatalf("remove --hand-to: %d moved, %v", len(moved), err)
	}
	if got := e.pendingOf(successor); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("%s's outbox %v, want %v", successor, got, want)
	}
	old := e.message(KindRequest, a.Retrieval)
	if old.Status != StatusHandedOver || old.HandedTo != successor || old.Body != nil {
		t.Fatalf("the removed profile's record %+v", old)
	}
	if r := e.request(b.Retrieval); r.Note != "facility ANNEX: RequestItem handed to profile "+successor {
		t.Fatalf("retrieval note %q", r.Note)
	}
	m := e.messageOf(successor, KindRequest, a.Retrieval)
	if m.Profile != successor || m.HandedFrom != fixtures.StorageCode || m.Attempts != old.Attempts || m.Status != StatusPending ||
		!strings.Contains(string(m.Body), "<ncip:AgencyId>DEMO-ANNEX-2</ncip:AgencyId>") {
		t.Fatalf("handed-over message: profile %s from %s, %d attempts (had %d), %s\n%s", m.Profile, m.HandedFrom, m.Attempts, old.Attempts, m.Status, m.Body)
	}

	p := *e.reg.Current().Storage[successor]
	p.Active = true
	if err := e.reg.Save(ctx, &p); err != nil {
		t.Fatal(err)
	}
	e.pass()
	if got := e.pendingOf(successor); len(got) != 0 {
		t.Fatalf("still pending: %v", got)
	}
	rid, ridB := strconv.FormatUint(a.Retrieval, 10), strconv.FormatUint(b.Retrieval, 10)
	var seen []string
	for _, r := range f2.received() {
		if r.RequestID == rid || r.RequestID == ridB {
			seen = append(seen, r.Service+" "+r.RequestID)
		}
	}
	if got, want := strings.Join(seen, ", "), "RequestItem "+rid+", RequestItem "+ridB+", CancelRequestItem "+rid; got != want {
		t.Fatalf("the facility received %s, want %s", got, want)
	}
	if len(f.received()) != 0 {
		t.Fatalf("the old endpoint received %+v", f.received())
	}
}

// TestRemoveDrops: with --drop the undelivered messages are given up: each
// is marked dropped, noted on its retrieval and listed by the storage
// report while its retrieval is open; nothing is sent any more.
func TestRemoveDrops(t *testing.T) {
	e := newEnv(t)
	f := newFacility(t)
	p := e.online(f)
	h := e.undelivered(f)
	dropped, err := e.remove(fixtures.StorageCode, RemoveOptions{Drop: true})
	if err != nil || len(dropped) != 1 {
		t.Fatalf("remove --drop: %+v, %v", dropped, err)
	}
	m := e.message(KindRequest, h.Retrieval)
	if m.Status != StatusDropped || m.Body != nil || !strings.Contains(m.Outcome(), "dropped when profile ANNEX was removed (not yet delivered: 1 attempts") {
		t.Fatalf("dropped message %+v: %s", m, m.Outcome())
	}
	if r := e.request(h.Retrieval); !strings.HasPrefix(r.Note, "facility ANNEX: RequestItem dropped when profile ANNEX was removed") {
		t.Fatalf("retrieval note %q", r.Note)
	}
	ms, err := Annotate(ctx, e.db, e.reg.Current(), p.Facility, nil)
	if err != nil || !hasLine(ms, MismatchDropped, h.Retrieval, "RequestItem dropped when profile ANNEX was removed") {
		t.Fatalf("report %+v, %v", ms, err)
	}
	f.start()
	e.snd.Queue(ctx, p) // a sender still holding the removed profile
	e.pass()
	if got := f.received(); len(got) != 0 {
		t.Fatalf("the facility received %+v after the drop", got)
	}
	if st := e.pending(); len(st) != 0 {
		t.Fatalf("the removed profile's outbox %v", st)
	}
	// Once the retrieval is settled the line goes.
	if _, err := e.svc.StorageRetrieve(ctx, circ.StorageEvent{Agent: agent, Facility: p.Facility, Item: fixtures.ItemAnnex}); err != nil {
		t.Fatal(err)
	}
	if ms, err := Annotate(ctx, e.db, e.reg.Current(), "", nil); err != nil || hasLine(ms, MismatchDropped, h.Retrieval, "") {
		t.Fatalf("report after the retrieval %+v, %v", ms, err)
	}
}

// TestRemoveWhileAnAnswerIsOnItsWay: the profile is removed while one of
// its messages is out at the facility; the answer, recorded after, leaves
// the hand-over or the drop as it was, and the queue of a sender still
// holding the removed profile adds nothing to its outbox.
func TestRemoveWhileAnAnswerIsOnItsWay(t *testing.T) {
	for name, o := range map[string]RemoveOptions{"hand-to": {HandTo: successor}, "drop": {Drop: true}} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			f := newFacility(t)
			p := e.online(f)
			e.successorOf(newFacility(t), false)
			h := e.hold(fixtures.PatronGood)
			var removeErr error
			e.snd.afterSend = func(Message) error {
				_, removeErr = e.remove(fixtures.StorageCode, o)
				return nil
			}
			e.pass()
			e.snd.afterSend = nil
			if removeErr != nil {
				t.Fatal(removeErr)
			}
			m := e.message(KindRequest, h.Retrieval)
			want, note := StatusHandedOver, "handed to profile "+successor
			if o.Drop {
				want, note = StatusDropped, "dropped when profile ANNEX was removed"
			}
			if m.Status != want || m.Answer == "accepted" {
				t.Fatalf("message after the late answer: %+v", m)
			}
			if r := e.request(h.Retrieval); !strings.Contains(r.Note, note) {
				t.Fatalf("retrieval note %q", r.Note)
			}
			if !o.Drop {
				if got := e.pendingOf(successor); len(got) != 1 || e.messageOf(successor, KindRequest, h.Retrieval).Status != StatusPending {
					t.Fatalf("%s's outbox %v", successor, got)
				}
			}
			// A second hold, then a sender with its old snapshot.
			if _, err := e.svc.PlaceHold(ctx, circ.HoldRequest{Agent: agent, Patron: fixtures.PatronExternal, Item: fixtures.ItemAnnex}); err != nil {
				t.Fatal(err)
			}
			if err := e.snd.Queue(ctx, p); err != nil {
				t.Fatal(err)
			}
			if got := e.pending(); len(got) != 0 {
				t.Fatalf("a removed profile queued %v", got)
			}
			if _, ok := e.reg.Current().Storage[fixtures.StorageCode]; ok {
				t.Fatal("the profile is still there")
			}
		})
	}
}

// TestRemoveRacesTheRunningSender: the profile is removed with --drop
// while the running sender is queueing and sending the requests and
// cancellations of a busy desk. Whatever the interleaving, each message
// ends answered (and then the facility has it), withdrawn or dropped,
// the retrievals carry the profile's notes, and nothing a sender queued
// after the removal stays pending in the removed profile's outbox.
func TestRemoveRacesTheRunningSender(t *testing.T) {
	e := newEnv(t)
	f := newFacility(t)
	e.online(f)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- e.snd.Run(runCtx) }()
	var holds []circ.HoldResult
	removed := make(chan error, 1)
	for i := range 6 {
		h := e.hold(fixtures.PatronGood)
		holds = append(holds, h)
		if i == 3 {
			go func() {
				_, err := e.remove(fixtures.StorageCode, RemoveOptions{Drop: true})
				removed <- err
			}()
		}
		time.Sleep(time.Duration(i*40) * time.Millisecond)
		e.cancel(h)
	}
	if err := <-removed; err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the loop's last pass, with nothing of the profile left
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if p := e.pending(); len(p) != 0 {
		t.Fatalf("left pending: %v", p)
	}
	got := map[string]bool{}
	for _, r := range f.received() {
		got[r.Service+" "+r.RequestID] = true
	}
	for _, h := range holds {
		r := e.request(h.Retrieval)
		for _, kind := range []string{KindRequest, KindCancel} {
			var m Message
			var ok bool
			if err := e.db.View(ctx, func(tx store.Tx) (err error) {
				m, ok, err = loadMessage(tx, fixtures.StorageCode, keyOf(h.Retrieval, kind))
				return err
			}); err != nil {
				t.Fatal(err)
			}
			if !ok {
				continue
			}
			switch m.Status {
			case StatusSent:
				if !got[kind+" "+m.RequestID] {
					t.Errorf("%s %s recorded sent, never received", kind, m.RequestID)
				}
			case StatusDropped, StatusWithdrawn:
			default:
				t.Errorf("%s %s ends %s", kind, m.RequestID, m.Status)
			}
			if m.Status != StatusWithdrawn && !strings.HasPrefix(r.Note, "facility ANNEX: ") {
				t.Errorf("retrieval %d note %q", h.Retrieval, r.Note)
			}
		}
	}
}
