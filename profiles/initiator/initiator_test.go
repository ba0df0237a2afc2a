package initiator

import (
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/fixtures"
	"github.com/circa-ils/circa/internal/conformance"
	"github.com/circa-ils/circa/ncip"
	"github.com/circa-ils/circa/ncip/responder"
	"github.com/circa-ils/circa/store"
)

// TestRequestAndCancelReachTheFacilityOnce: a hold on an annex item sends
// one RequestItem, valid against the NCIP schema, with the retrieval's
// RequestId, the facility's key and no patron data; passes with nothing
// new send nothing; the patron's cancellation sends a CancelRequestItem
// with the same RequestId, and the answers are recorded on the request
// and the report.
func TestRequestAndCancelReachTheFacilityOnce(t *testing.T) {
	e := newEnv(t)
	f := newFacility(t)
	p := e.online(f)

	h := e.hold(fixtures.PatronGood)
	if err := e.snd.Queue(ctx, p); err != nil {
		t.Fatal(err)
	}
	m := e.message(KindRequest, h.Retrieval)
	conformance.ValidateNCIP(t, m.Body)
	if strings.Contains(string(m.Body), fixtures.PatronGood) {
		t.Fatal("the patron's barcode went into a message of a profile without patron_details")
	}
	e.pass()
	// A pass with nothing new writes nothing.
	commits := e.db.CommitStats().Commits
	e.pass()
	if n := e.db.CommitStats().Commits; n != commits {
		t.Fatalf("an idle pass made %d commits", n-commits)
	}
	got := f.received()
	rid := strconv.FormatUint(h.Retrieval, 10)
	if len(got) != 1 || got[0].Service != KindRequest || got[0].RequestID != rid || got[0].Item != fixtures.ItemAnnex ||
		got[0].User != fixtures.LibraryMain || got[0].Key != facilityKey {
		t.Fatalf("facility received %+v, want one RequestItem %s for %s", got, rid, fixtures.ItemAnnex)
	}
	if m := e.message(KindRequest, h.Retrieval); m.Status != StatusSent || m.Attempts != 1 || m.Body != nil {
		t.Fatalf("message after the answer: %+v", m)
	}
	if r := e.request(h.Retrieval); r.Note != "facility ANNEX: RequestItem sent" {
		t.Fatalf("retrieval note %q", r.Note)
	}
	// The stale-retrieval line of the report says the facility has it.
	e.now.Store(new(seededAt.AddDate(0, 0, 5)))
	ms, err := e.svc.StorageReport(ctx, circ.StorageReportOptions{Facility: p.Facility, Days: 3})
	if err != nil {
		t.Fatal(err)
	}
	if ms, err = Annotate(ctx, e.db, e.reg.Current(), p.Facility, ms); err != nil {
		t.Fatal(err)
	}
	if !hasLine(ms, circ.MismatchNotRetrieved, h.Retrieval, "; RequestItem sent") {
		t.Fatalf("report %+v lacks the sent retrieval", ms)
	}

	e.cancel(h)
	if err := e.snd.Queue(ctx, p); err != nil {
		t.Fatal(err)
	}
	conformance.ValidateNCIP(t, e.message(KindCancel, h.Retrieval).Body)
	e.pass()
	e.pass()
	got = f.received()
	if len(got) != 2 || got[1].Service != KindCancel || got[1].RequestID != rid || got[1].Item != fixtures.ItemAnnex {
		t.Fatalf("facility received %+v, want the cancellation of %s", got, rid)
	}
	if len(f.held) != 0 {
		t.Fatalf("the facility still holds %v", f.held)
	}
	if m := e.message(KindCancel, h.Retrieval); m.Status != StatusSent {
		t.Fatalf("cancellation %+v", m)
	}
	if len(e.pending()) != 0 {
		t.Fatalf("outbox %v", e.pending())
	}
}

// TestPatronDetailsSendTheBarcode: with patron_details the UserId is the
// patron's barcode.
func TestPatronDetailsSendTheBarcode(t *testing.T) {
	e := newEnv(t)
	f := newFacility(t)
	p := *e.online(f)
	on := *p.Online
	on.PatronDetails = true
	p.Online = &on
	if err := e.reg.Save(ctx, &p); err != nil {
		t.Fatal(err)
	}
	e.hold(fixtures.PatronGood)
	e.pass()
	if got := f.received(); len(got) != 1 || got[0].User != fixtures.PatronGood {
		t.Fatalf("facility received %+v", got)
	}
}

// TestFacilityDownThenBack: while the facility refuses connections and
// then answers 503, each attempt is counted with its error and reported as
// not delivered; once it is back the running loop delivers everything in
// order, the cancellation after its request, each request once.
func TestFacilityDownThenBack(t *testing.T) {
	e := newEnv(t)
	f := newFacility(t)
	p := e.online(f)
	f.stop()

	a := e.hold(fixtures.PatronGood)
	e.pass()
	m := e.message(KindRequest, a.Retrieval)
	if m.Status != StatusPending || m.Attempts != 1 || !strings.Contains(m.LastError, "connection refused") {
		t.Fatalf("after a refused connection: %+v", m)
	}
	ms, err := Annotate(ctx, e.db, e.reg.Current(), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !hasLine(ms, MismatchNotDelivered, a.Retrieval, "RequestItem not yet delivered: 1 attempts, last error ") {
		t.Fatalf("report %+v", ms)
	}

	f.start()
	f.mu.Lock()
	f.busy = true
	f.mu.Unlock()
	e.pass()
	if m := e.message(KindRequest, a.Retrieval); m.Attempts != 2 || m.LastError != "HTTP 503 Service Unavailable" {
		t.Fatalf("after a 503: %+v", m)
	}
	// A second patron's hold (on another copy) and the first patron's
	// cancellation queue behind the undelivered request.
	b, err := e.svc.PlaceHold(ctx, circ.HoldRequest{Agent: agent, Patron: fixtures.PatronExternal, Item: fixtures.ItemAnnex})
	if err != nil {
		t.Fatal(err)
	}
	e.cancel(a)
	if err := e.snd.Queue(ctx, p); err != nil {
		t.Fatal(err)
	}
	// b's hold is a second retrieval of the same item, queued between.
	rid, ridB := strconv.FormatUint(a.Retrieval, 10), strconv.FormatUint(b.Retrieval, 10)
	if got, want := strings.Join(e.pending(), " "), rid+"/RequestItem "+ridB+"/RequestItem "+rid+"/CancelRequestItem"; got != want {
		t.Fatalf("outbox %q, want %q", got, want)
	}
	if len(f.received()) != 0 {
		t.Fatalf("a busy facility took %v", f.received())
	}
	// Taken offline meanwhile, the profile's undelivered messages still
	// show in the report.
	off := *e.reg.Current().Storage[p.Code]
	off.Online = nil
	if err := e.reg.Save(ctx, &off); err != nil {
		t.Fatal(err)
	}
	if ms, err := Annotate(ctx, e.db, e.reg.Current(), "", nil); err != nil || !hasLine(ms, MismatchNotDelivered, a.Retrieval, "CancelRequestItem not yet delivered") {
		t.Fatalf("report of the offline profile %+v, %v", ms, err)
	}
	if err := e.reg.Save(ctx, p); err != nil {
		t.Fatal(err)
	}

	// Back: the running loop delivers, after its backoff.
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- e.snd.Run(runCtx) }()
	f.mu.Lock()
	f.busy = false
	f.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for len(e.pending()) > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if p := e.pending(); len(p) != 0 {
		t.Fatalf("still pending after the facility came back: %v", p)
	}
	got := f.received()
	if len(got) != 3 || got[0].Service != KindRequest || got[0].RequestID != rid || got[1].RequestID != ridB ||
		got[2].Service != KindCancel || got[2].RequestID != rid {
		t.Fatalf("facility received %+v, want RequestItem %s, RequestItem %s, CancelRequestItem %s", got, rid, ridB, rid)
	}
	if f.held[ridB] != fixtures.ItemAnnex || len(f.held) != 1 {
		t.Fatalf("facility holds %v, want only %s", f.held, ridB)
	}
	if m := e.message(KindRequest, a.Retrieval); m.Status != StatusSent || m.Attempts != 3 || m.LastError != "" {
		t.Fatalf("request after delivery: %+v", m)
	}
}

// TestProblemIsRecordedAndNotRetried: a Problem is the facility's final
// answer: recorded on the message, the retrieval's note and the report,
// and not sent again.
func TestProblemIsRecordedAndNotRetried(t *testing.T) {
	e := newEnv(t)
	f := newFacility(t)
	p := e.online(f)
	f.problem = ncip.UnknownItem
	h := e.hold(fixtures.PatronGood)
	e.pass()
	e.pass()
	if got := f.received(); len(got) != 1 {
		t.Fatalf("facility received %+v, want one attempt", got)
	}
	want := "refused: Unknown Item: no such item in the facility (ItemIdentifierValue)"
	if m := e.message(KindRequest, h.Retrieval); m.Status != StatusRefused || m.Outcome() != want {
		t.Fatalf("message %+v, outcome %q", m, m.Outcome())
	}
	if r := e.request(h.Retrieval); r.Note != "facility ANNEX: RequestItem "+want || !r.Status.Open() {
		t.Fatalf("retrieval %+v", r)
	}
	ms, err := Annotate(ctx, e.db, e.reg.Current(), p.Facility, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !hasLine(ms, MismatchRefused, h.Retrieval, "RequestItem "+want) {
		t.Fatalf("report %+v", ms)
	}
	// Once the retrieval is closed, the refusal is no longer news, and
	// no cancellation goes to a facility that never took the request.
	e.cancel(h)
	e.pass()
	if got := f.received(); len(got) != 1 {
		t.Fatalf("facility received %+v after the cancellation", got)
	}
	if ms, _ := Annotate(ctx, e.db, e.reg.Current(), p.Facility, nil); hasLine(ms, MismatchRefused, h.Retrieval, "RequestItem") {
		t.Fatalf("closed retrieval still reported: %+v", ms)
	}
}

// TestCrashBetweenSendAndRecord: the process dies after the facility took
// the RequestItem and before its answer was recorded. After the restart
// the same message goes again with the same RequestId; the facility holds
// one request and circa records it sent, whether the facility answers the
// repeat as a success or with Duplicate Request.
func TestCrashBetweenSendAndRecord(t *testing.T) {
	for _, dup := range []bool{false, true} {
		t.Run("duplicate_problem="+strconv.FormatBool(dup), func(t *testing.T) {
			e := newEnv(t)
			f := newFacility(t)
			e.online(f)
			f.dupProb = dup
			h := e.hold(fixtures.PatronGood)
			e.snd.afterSend = func(Message) error { return errCrash }
			e.pass()
			if m := e.message(KindRequest, h.Retrieval); m.Status != StatusPending || m.Attempts != 1 {
				t.Fatalf("before the restart: %+v", m)
			}
			e.restart()
			e.pass()
			got := f.received()
			rid := strconv.FormatUint(h.Retrieval, 10)
			if len(got) != 2 || got[0].RequestID != rid || got[1].RequestID != rid || got[1].Service != KindRequest {
				t.Fatalf("facility received %+v, want the same RequestItem twice", got)
			}
			if f.requests != 1 {
				t.Fatalf("the facility holds %d requests", f.requests)
			}
			m := e.message(KindRequest, h.Retrieval)
			if m.Status != StatusSent || m.Attempts != 2 {
				t.Fatalf("after the restart: %+v", m)
			}
		})
	}
}

var errCrash = errors.New("crash")

// TestCancelBeforeAnyAttemptSendsNothing: a request cancelled before it
// was ever attempted is withdrawn: the facility hears of neither.
func TestCancelBeforeAnyAttemptSendsNothing(t *testing.T) {
	e := newEnv(t)
	f := newFacility(t)
	p := e.online(f)
	h := e.hold(fixtures.PatronGood)
	if err := e.snd.Queue(ctx, p); err != nil {
		t.Fatal(err)
	}
	e.cancel(h)
	e.pass()
	if got := f.received(); len(got) != 0 {
		t.Fatalf("facility received %+v", got)
	}
	if m := e.message(KindRequest, h.Retrieval); m.Status != StatusWithdrawn {
		t.Fatalf("request message %+v", m)
	}
	if len(e.pending()) != 0 {
		t.Fatalf("outbox %v", e.pending())
	}
}

// TestBackoffDoublesUpToItsCap checks the spacing of retries.
func TestBackoffDoublesUpToItsCap(t *testing.T) {
	b := Backoff{Initial: time.Second, Max: 10 * time.Second}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}
	for i, w := range want {
		if got := b.delay(i + 1); got != w {
			t.Errorf("after %d failures: %v, want %v", i+1, got, w)
		}
	}
}

func hasLine(ms []circ.Mismatch, kind string, request uint64, detail string) bool {
	for _, m := range ms {
		if m.Kind == kind && m.Request == request && strings.Contains(m.Detail, detail) {
			return true
		}
	}
	return false
}

// TestFacilityClosesTheLoop: after the RequestItem went out, the
// facility's CheckOutItem to circa's own NCIP responder (retrieved and
// sent) fulfils the retrieval as before; nothing more goes to the
// facility and the report says nothing more of the message.
func TestFacilityClosesTheLoop(t *testing.T) {
	e := newEnv(t)
	f := newFacility(t)
	p := e.online(f)
	h := e.hold(fixtures.PatronGood)
	e.pass()

	srv := httptest.NewServer(ncip.NewHandler(responder.New(e.svc, e.reg.Current), ncip.HandlerOptions{}))
	defer srv.Close()
	cl := ncip.Client{URL: srv.URL + "/ncip", APIKey: fixtures.StorageKey}
	res, err := cl.Do(ctx, &ncip.CheckOutItem{Header: &ncip.InitiationHeader{FromAgencyID: ncip.SV(fixtures.StorageAgency), ToAgencyID: ncip.SV(fixtures.LocalAgency)},
		UserRef: ncip.UserRef{UserID: ncip.ID(fixtures.StorageCode)}, ItemID: ncip.Identifier{Value: fixtures.ItemAnnex}})
	if err != nil || res.Status != 200 || res.Problem != nil {
		t.Fatalf("facility CheckOutItem: %+v, %v", res, err)
	}
	if r := e.request(h.Retrieval); r.Status != store.RequestFulfilled {
		t.Fatalf("retrieval after the facility sent the item: %+v", r)
	}
	e.pass()
	if got := f.received(); len(got) != 1 {
		t.Fatalf("facility received %+v", got)
	}
	e.now.Store(new(seededAt.Add(time.Hour)))
	ms, err := e.svc.StorageReport(ctx, circ.StorageReportOptions{Facility: p.Facility, Days: 0})
	if err == nil {
		ms, err = Annotate(ctx, e.db, e.reg.Current(), p.Facility, ms)
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.Request == h.Retrieval && (m.Kind == MismatchNotDelivered || m.Kind == MismatchRefused || strings.Contains(m.Detail, KindRequest)) {
			t.Fatalf("report still speaks of the message: %+v", m)
		}
	}
}

// TestUndeliverableMessageHoldsBackTheRest: messages leave in order; while
// the first cannot be delivered, the ones queued after it wait, so the
// cancellation behind a request never reaches the facility first.
func TestUndeliverableMessageHoldsBackTheRest(t *testing.T) {
	e := newEnv(t)
	f := newFacility(t)
	p := e.online(f)
	a := e.hold(fixtures.PatronGood)
	rid := strconv.FormatUint(a.Retrieval, 10)
	f.failID = rid
	e.pass()
	b, err := e.svc.PlaceHold(ctx, circ.HoldRequest{Agent: agent, Patron: fixtures.PatronExternal, Item: fixtures.ItemAnnex})
	if err != nil {
		t.Fatal(err)
	}
	e.cancel(a)
	if err := e.snd.Queue(ctx, p); err != nil {
		t.Fatal(err)
	}
	e.pass()
	if got := f.received(); len(got) != 2 || got[0].Service != "503" || got[1].Service != "503" {
		t.Fatalf("facility received %+v, want only the two failed attempts at %s", got, rid)
	}
	f.mu.Lock()
	f.failID = ""
	f.mu.Unlock()
	e.pass()
	got := f.received()[2:]
	ridB := strconv.FormatUint(b.Retrieval, 10)
	if len(got) != 3 || got[0].RequestID != rid || got[0].Service != KindRequest || got[1].RequestID != ridB ||
		got[2].RequestID != rid || got[2].Service != KindCancel {
		t.Fatalf("facility received %+v after the fault cleared", got)
	}
}

// TestKeyFileIsReadAtEachConnection: a missing key file is the reason
// reported for the undelivered message; once the file is there the
// message goes, with its key.
func TestKeyFileIsReadAtEachConnection(t *testing.T) {
	e := newEnv(t)
	f := newFacility(t)
	p := *e.online(f)
	on := *p.Online
	keyFile := on.APIKeyFile
	on.APIKeyFile = keyFile + ".new"
	p.Online = &on
	if err := e.reg.Save(ctx, &p); err != nil {
		t.Fatal(err)
	}
	h := e.hold(fixtures.PatronGood)
	e.pass()
	m := e.message(KindRequest, h.Retrieval)
	if m.Status != StatusPending || !strings.Contains(m.Outcome(), "last error api key: open "+on.APIKeyFile) || len(f.received()) != 0 {
		t.Fatalf("without its key file: %q, facility received %+v", m.Outcome(), f.received())
	}
	if err := os.Rename(keyFile, on.APIKeyFile); err != nil {
		t.Fatal(err)
	}
	e.pass()
	if m := e.message(KindRequest, h.Retrieval); m.Status != StatusSent {
		t.Fatalf("with its key file: %+v", m)
	}
}

// TestRefusedCancellationIsReportedUntilTheFacilityReports: a
// cancellation the facility refuses (it no longer knows the request) is a
// report line until the facility next reports on the item.
func TestRefusedCancellationIsReportedUntilTheFacilityReports(t *testing.T) {
	e := newEnv(t)
	f := newFacility(t)
	p := e.online(f)
	h := e.hold(fixtures.PatronGood)
	e.pass()
	f.mu.Lock()
	clear(f.held)
	f.mu.Unlock()
	e.now.Store(new(seededAt.Add(time.Hour)))
	e.cancel(h)
	e.pass()
	m := e.message(KindCancel, h.Retrieval)
	if m.Status != StatusRefused || m.Answer != ncip.UnknownRequest {
		t.Fatalf("cancellation %+v", m)
	}
	ms, err := Annotate(ctx, e.db, e.reg.Current(), p.Facility, nil)
	if err != nil || !hasLine(ms, MismatchRefused, h.Retrieval, "CancelRequestItem refused: Unknown Request") {
		t.Fatalf("report %+v, %v", ms, err)
	}
	e.now.Store(new(seededAt.Add(2 * time.Hour)))
	if _, err := e.svc.StorageCheckin(ctx, circ.StorageEvent{Agent: agent, Facility: p.Facility, Item: fixtures.ItemAnnex}); err != nil {
		t.Fatal(err)
	}
	if ms, _ := Annotate(ctx, e.db, e.reg.Current(), p.Facility, nil); hasLine(ms, MismatchRefused, h.Retrieval, "") {
		t.Fatalf("still reported after the facility's check-in: %+v", ms)
	}
}

// TestRetrievalOfAVanishedItemIsSkipped: a retrieval whose item is gone by
// the time the journal is read asks the facility for nothing and does not
// stop the requests after it.
func TestRetrievalOfAVanishedItemIsSkipped(t *testing.T) {
	e := newEnv(t)
	f := newFacility(t)
	e.online(f)
	gone := e.hold(fixtures.PatronGood)
	err := e.db.Update(ctx, func(tx store.Tx) error {
		it, err := tx.ItemByBarcode(fixtures.ItemAnnex)
		if err != nil {
			return err
		}
		return tx.DeleteItem(it.ID, seededAt)
	})
	if err != nil {
		t.Fatal(err)
	}
	// Another annex copy, requested after.
	var other string
	if err := e.db.View(ctx, func(tx store.Tx) error {
		return tx.ForEachItem(func(it store.Item) bool {
			if it.Location == fixtures.LocationAnnex && it.Status == store.ItemAvailable && it.Barcode != fixtures.ItemAnnex {
				other = it.Barcode
			}
			return other == ""
		})
	}); err != nil {
		t.Fatal(err)
	}
	next, err := e.svc.PlaceHold(ctx, circ.HoldRequest{Agent: agent, Patron: fixtures.PatronExternal, Item: other})
	if err != nil || next.Retrieval == 0 {
		t.Fatalf("hold on annex item %q: %+v, %v", other, next, err)
	}
	e.pass()
	if got := f.received(); len(got) != 1 || got[0].Item != other {
		t.Fatalf("facility received %+v, want only the request for %s", got, other)
	}
	var queued bool
	if err := e.db.View(ctx, func(tx store.Tx) (err error) {
		_, queued, err = loadMessage(tx, fixtures.StorageCode, keyOf(gone.Retrieval, KindRequest))
		return err
	}); err != nil || queued {
		t.Fatalf("queued %v, %v", queued, err)
	}
}
