package circ

import (
	"testing"
	"time"

	"github.com/circa-ils/circa/store"
)

var atAnnex = Agent{Protocol: "ncip", Account: "ANNEX", Library: "MAIN"}

func annexEvent(item string) StorageEvent {
	return StorageEvent{Agent: atAnnex, Facility: "ANNEX", Item: item}
}

func states(t *testing.T, l *testLib, item string) []string {
	t.Helper()
	h, err := l.svc.StorageHistory(ctx, item)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range h {
		out = append(out, s.State)
	}
	return out
}

func TestStorageRoundTrip(t *testing.T) {
	l := newLib(t)
	l.patron("P1", "GRAD")
	l.item("A1", "BOOK", "MAIN", "ANNEX")

	acc, err := l.svc.StorageCheckin(ctx, annexEvent("A1"))
	if err != nil || acc.State != StorageAccessioned || acc.Item.Status != store.ItemAvailable {
		t.Fatalf("accession: %+v %v", acc, err)
	}
	head := l.journalHead()
	if again, err := l.svc.StorageCheckin(ctx, annexEvent("A1")); err != nil || !again.Repeat {
		t.Fatalf("repeat accession: %+v %v", again, err)
	}
	if l.journalHead() != head {
		t.Fatal("a repeat changed the store")
	}

	hold, err := l.svc.PlaceHold(ctx, HoldRequest{Agent: atMain, Patron: "P1", Item: "A1"})
	if err != nil || hold.Retrieval == 0 {
		t.Fatalf("hold: %+v %v", hold, err)
	}
	l.advance(time.Hour)
	ret, err := l.svc.StorageRetrieve(ctx, annexEvent("A1"))
	if err != nil || ret.State != StorageRetrieved || ret.Retrieval != hold.Retrieval || ret.Hold != hold.Request ||
		ret.Destination != "MAIN" || ret.Item.Status != store.ItemInTransit {
		t.Fatalf("retrieve: %+v %v", ret, err)
	}
	if again, err := l.svc.StorageRetrieve(ctx, annexEvent("A1")); err != nil || !again.Repeat {
		t.Fatalf("repeat retrieve: %+v %v", again, err)
	}
	ci, err := l.svc.Checkin(ctx, CheckinRequest{Agent: atMain, Item: "A1"})
	if ci.Alert != AlertHoldHere || ci.RequestID != hold.Request {
		t.Fatalf("arrival at the desk: %+v %v", ci, err)
	}
	if _, err := l.checkout("P1", "A1"); err != nil {
		t.Fatal(err)
	}
	_, err = l.svc.StorageRetrieve(ctx, annexEvent("A1"))
	wantCode(t, err, ItemHasLoan)
	if _, err := l.svc.Checkin(ctx, CheckinRequest{Agent: atMain, Item: "A1"}); err != nil {
		t.Fatal(err)
	}
	ref, err := l.svc.StorageCheckin(ctx, annexEvent("A1"))
	if err != nil || ref.State != StorageRefiled {
		t.Fatalf("refile: %+v %v", ref, err)
	}
	want := []string{StorageAccessioned, StorageRequested, StorageRetrieved, StorageRefiled}
	if got := states(t, l, "A1"); !equalStrings(got, want) {
		t.Fatalf("history %v, want %v", got, want)
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestStorageRefileClosesLoanAndReleasesHold(t *testing.T) {
	l := newLib(t)
	l.patron("P1", "GRAD")
	l.patron("P2", "GRAD")
	l.item("A1", "BOOK", "MAIN", "ANNEX")
	if _, err := l.checkout("P1", "A1"); err != nil {
		t.Fatal(err)
	}
	res, err := l.svc.StorageCheckin(ctx, annexEvent("A1"))
	if err != nil || res.State != StorageAccessioned {
		t.Fatalf("checkin of a loaned item: %+v %v", res, err)
	}
	sum, _ := l.svc.PatronStatus(ctx, PatronQuery{Patron: "P1"})
	if len(sum.Loans) != 0 {
		t.Fatal("loan still open after the facility took the item back")
	}
	_, err = l.svc.StorageCheckin(ctx, StorageEvent{Agent: atAnnex, Facility: "OTHER", Item: "A1"})
	wantCode(t, err, LocationUnknown)
	l.item("S1", "BOOK", "MAIN", "STACKS")
	_, err = l.svc.StorageCheckin(ctx, annexEvent("S1"))
	wantCode(t, err, LocationUnknown)
	_, err = l.svc.StorageCheckin(ctx, annexEvent("NOPE"))
	wantCode(t, err, ItemUnknown)
}

func TestStorageNotFoundMovesHold(t *testing.T) {
	l := newLib(t)
	l.patron("P1", "GRAD")
	a1 := l.item("A1", "BOOK", "MAIN", "ANNEX")
	a2 := l.copyOf(a1, "A2")
	hold, err := l.svc.PlaceHold(ctx, HoldRequest{Agent: atMain, Patron: "P1", Item: "A1"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := l.svc.StorageMissing(ctx, annexEvent("A1"))
	if err != nil || res.State != StorageNotFound || res.MovedTo != a2.Barcode || res.Hold != hold.Request ||
		res.Item.Status != store.ItemMissing {
		t.Fatalf("not found: %+v %v", res, err)
	}
	if again, err := l.svc.StorageMissing(ctx, annexEvent("A1")); err != nil || !again.Repeat {
		t.Fatalf("repeat: %+v %v", again, err)
	}
	if got := states(t, l, "A2"); !equalStrings(got, []string{StorageRequested}) {
		t.Fatalf("A2 history %v", got)
	}
	info, _ := l.svc.LookupRequest(ctx, RequestQuery{ID: hold.Request})
	if info.Item != "A2" || info.Status != store.RequestWaiting {
		t.Fatalf("hold after move: %+v", info)
	}
	// The second copy is not there either: the hold stays waiting.
	res, err = l.svc.StorageMissing(ctx, annexEvent("A2"))
	if err != nil || res.MovedTo != "" || res.Hold != hold.Request {
		t.Fatalf("second not found: %+v %v", res, err)
	}
	info, _ = l.svc.LookupRequest(ctx, RequestQuery{ID: hold.Request})
	if info.Status != store.RequestWaiting {
		t.Fatalf("hold after second miss: %+v", info)
	}
}

func TestStorageReport(t *testing.T) {
	l := newLib(t)
	l.patron("P1", "GRAD")
	l.patron("P2", "GRAD")
	for _, b := range []string{"A1", "A2", "A3", "A4"} {
		l.item(b, "BOOK", "MAIN", "ANNEX")
		if _, err := l.svc.StorageCheckin(ctx, annexEvent(b)); err != nil {
			t.Fatal(err)
		}
	}
	l.item("A5", "BOOK", "MAIN", "ANNEX") // never accessioned
	// A1 requested, never retrieved.
	if _, err := l.svc.PlaceHold(ctx, HoldRequest{Agent: atMain, Patron: "P1", Item: "A1"}); err != nil {
		t.Fatal(err)
	}
	// A2 retrieved, never received.
	if _, err := l.svc.PlaceHold(ctx, HoldRequest{Agent: atMain, Patron: "P1", Item: "A2"}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.svc.StorageRetrieve(ctx, annexEvent("A2")); err != nil {
		t.Fatal(err)
	}
	// A3 requested, then refiled without being sent: the hold waits.
	if _, err := l.svc.PlaceHold(ctx, HoldRequest{Agent: atMain, Patron: "P2", Item: "A3"}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.svc.StorageRetrieve(ctx, annexEvent("A3")); err != nil {
		t.Fatal(err)
	}
	if _, err := l.svc.StorageCheckin(ctx, annexEvent("A3")); err != nil {
		t.Fatal(err)
	}
	// A4 reported missing, yet someone set it available again.
	if _, err := l.svc.StorageMissing(ctx, annexEvent("A4")); err != nil {
		t.Fatal(err)
	}
	err := l.db.Update(ctx, func(tx store.Tx) error {
		it, err := tx.ItemByBarcode("A4")
		if err != nil {
			return err
		}
		it.Status = store.ItemAvailable
		return tx.PutItem(&it, start)
	})
	if err != nil {
		t.Fatal(err)
	}

	fresh, err := l.svc.StorageReport(ctx, StorageReportOptions{Facility: "ANNEX", Days: 3})
	if err != nil {
		t.Fatal(err)
	}
	if got := kinds(fresh); !equalStrings(got, []string{"A3 " + MismatchRefiledWaits, "A4 " + MismatchMissingOnFile, "A5 " + MismatchStateUnknown}) {
		t.Fatalf("fresh report %v", got)
	}
	l.advance(4 * 24 * time.Hour)
	stale, err := l.svc.StorageReport(ctx, StorageReportOptions{Days: 3})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"A1 " + MismatchNotRetrieved: true, "A2 " + MismatchNotReceived: true, "A3 " + MismatchRefiledWaits: true,
		"A4 " + MismatchMissingOnFile: true, "A5 " + MismatchStateUnknown: true}
	for _, k := range kinds(stale) {
		if !want[k] {
			t.Errorf("unexpected %s", k)
		}
		delete(want, k)
	}
	if len(want) > 0 {
		t.Fatalf("missing %v from %v", want, kinds(stale))
	}
	other, err := l.svc.StorageReport(ctx, StorageReportOptions{Facility: "ELSEWHERE", Days: 3})
	if err != nil || len(other) != 0 {
		t.Fatalf("report of another facility: %v %v", other, err)
	}
	if len(MismatchKinds()) != 5 {
		t.Fatal("MismatchKinds incomplete")
	}
}

func kinds(ms []Mismatch) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Item+" "+m.Kind)
	}
	return out
}
