package selfcheck

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/fixtures"
)

// borrower returns who has an item on loan ("" for nobody).
func (e *env) borrower(item string) string {
	e.t.Helper()
	info, err := e.svc.ItemInfo(context.Background(), item)
	if err != nil {
		e.t.Fatal(err)
	}
	if info.CircStatus != circ.CircCharged {
		return ""
	}
	return info.Borrower.Barcode
}

const (
	checkoutB1 = "11YN" + D + B + "AOMAIN|AA21000000000001|AB31000000000001|AC|AD1234|AY1AZ????"
	checkinB1  = "09N" + D + D + "APMAIN|AOMAIN|AB31000000000001|AC|AY2AZ????"
)

// The reproduction: a checkout, its checkin, then the same checkout
// bytes on a new connection. The old answer came back and no loan was made;
// the repeat is a new request and lends the item again.
func TestRepeatAfterCheckinMakesNewLoan(t *testing.T) {
	e := newEnv(t).start()
	a := e.dial()
	a.login(fixtures.KioskLogin, fixtures.KioskPassword)
	if got := a.send(checkoutB1); !strings.HasPrefix(got, "121") {
		t.Fatalf("checkout: %q", got)
	}
	if got := a.send(checkinB1); !strings.HasPrefix(got, "101") {
		t.Fatalf("checkin: %q", got)
	}
	a.c.Close()
	head := e.head()
	b := e.dial()
	b.login(fixtures.KioskLogin, fixtures.KioskPassword)
	if got := b.send(checkoutB1); !strings.HasPrefix(got, "121") {
		t.Fatalf("checkout again: %q", got)
	}
	if e.head() == head {
		t.Fatal("the repeated checkout was answered from the journal")
	}
	if who := e.borrower("31000000000001"); who != "21000000000001" {
		t.Fatalf("no new loan: item on loan to %q", who)
	}
}

// The same inside one session: the sequence number wraps at 10 and the
// kiosk sends blank dates, so the eleventh frame repeats the first's bytes.
func TestSequenceWrapWithBlankDatesMakesNewLoan(t *testing.T) {
	e := newEnv(t).start()
	k := e.dial()
	k.login(fixtures.KioskLogin, fixtures.KioskPassword)
	checkout := "11YN" + B + B + "AOMAIN|AA21000000000001|AB31000000000001|AC|AD1234|AY0AZ????"
	if got := k.send(checkout); !strings.HasPrefix(got, "121") {
		t.Fatalf("checkout: %q", got)
	}
	if got := k.send("09N" + B + B + "APMAIN|AOMAIN|AB31000000000001|AC|AY1AZ????"); !strings.HasPrefix(got, "101") {
		t.Fatalf("checkin: %q", got)
	}
	for seq := 2; seq < 10; seq++ {
		k.send(fmt.Sprintf("17%sAOMAIN|AB31000000000002|AC|AY%dAZ????", B, seq))
	}
	head := e.head()
	if got := k.send(checkout); !strings.HasPrefix(got, "121") {
		t.Fatalf("checkout after the wrap: %q", got)
	}
	if e.head() == head || e.borrower("31000000000001") != "21000000000001" {
		t.Fatal("the checkout after the wrap made no loan")
	}
}

// Two kiosks share one account at different locations (CP): the same bytes
// from the second are its own request, never the first's answer.
func TestKiosksAtOtherLocationsShareNoAnswers(t *testing.T) {
	e := newEnv(t).start()
	login := func(cp string) *kiosk {
		k := e.dial()
		if got := k.send("9300CN" + fixtures.KioskLogin + "|CO" + fixtures.KioskPassword + "|CP" + cp + "|"); !strings.HasPrefix(got, "941") {
			t.Fatalf("login at %s: %q", cp, got)
		}
		return k
	}
	a, b := login("KIOSK-A"), login("KIOSK-B")
	first := a.send(checkoutB1)
	head := e.head()
	second := b.send(checkoutB1)
	if second == first || e.head() == head || !strings.Contains(second, "Renewed") {
		t.Fatalf("the other kiosk got the first kiosk's answer:\n first: %q\n again: %q", first, second)
	}
	// Each kiosk's own retransmission still replays its own answer.
	head = e.head()
	if again := login("KIOSK-B").send(checkoutB1); again != second || e.head() != head {
		t.Fatalf("kiosk B's retransmission: %q (journal %d → %d)", again, head, e.head())
	}
}

// The window: the demo kiosk reports 30 s × 3 retries, capped at the
// profile's 60 s. A retransmission inside it replays; the same frame after
// it is a new request.
func TestRepeatAfterWindowActs(t *testing.T) {
	e := newEnv(t).start()
	a := e.dial()
	a.login(fixtures.KioskLogin, fixtures.KioskPassword)
	first := a.send(checkoutB1)
	head := e.head()
	e.advance(59 * time.Second)
	b := e.dial()
	b.login(fixtures.KioskLogin, fixtures.KioskPassword)
	if again := b.send(checkoutB1); again != first || e.head() != head {
		t.Fatalf("retransmission within the window: %q (journal %d → %d)", again, head, e.head())
	}
	e.advance(2 * time.Second)
	c := e.dial()
	c.login(fixtures.KioskLogin, fixtures.KioskPassword)
	if late := c.send(checkoutB1); !strings.Contains(late, "Renewed") || e.head() == head {
		t.Fatalf("the repeat after the window did not act: %q", late)
	}
}

// TestRetriesAgainstModel interleaves new requests and retransmissions of
// two kiosks (same account, two locations) on the same and on new
// connections, with blank dates and wrapping sequence numbers so that new
// requests often repeat old bytes, and checks the loans against a model in
// which every request, retried or not, leaves the loans as acting on it
// once more would: a true retry changes nothing because nothing changed
// since its first answer, and a repeat after a change must act.
func TestRetriesAgainstModel(t *testing.T) {
	e := newEnv(t).start()
	rng := rand.New(rand.NewPCG(7, 11))
	items := []string{"31000000000001", "31000000000002", "31000000000007", "31000000000008"}
	patrons := []string{"21000000000001", "21000000000005"}
	loans := map[string]string{"31000000000008": "21000000000001"}
	type kioskState struct {
		cp   string
		k    *kiosk
		seq  int
		last string // last frame sent
	}
	connect := func(ks *kioskState) {
		if ks.k != nil {
			ks.k.c.Close()
		}
		ks.k = e.dial()
		if got := ks.k.send("9300CN" + fixtures.KioskLogin + "|CO" + fixtures.KioskPassword + "|CP" + ks.cp + "|"); !strings.HasPrefix(got, "941") {
			t.Fatalf("login: %q", got)
		}
	}
	kiosks := []*kioskState{{cp: "K1"}, {cp: "K2"}}
	for _, ks := range kiosks {
		connect(ks)
	}
	apply := func(frame string) {
		item := frame[strings.Index(frame, "|AB")+3:][:14]
		switch frame[:2] {
		case "11":
			patron := frame[strings.Index(frame, "|AA")+3:][:14]
			if loans[item] == "" {
				loans[item] = patron
			}
		case "09":
			delete(loans, item)
		}
	}
	retries, replayed := 0, 0
	for step := range 1000 {
		ks := kiosks[rng.IntN(len(kiosks))]
		e.advance(time.Duration(rng.IntN(15)) * time.Second)
		var frame string
		switch r := rng.IntN(10); {
		case r < 3 && ks.last != "":
			if rng.IntN(2) == 0 {
				connect(ks) // the reply was lost with the connection
			}
			frame = ks.last
			retries++
		default:
			item, patron := items[rng.IntN(len(items))], patrons[rng.IntN(len(patrons))]
			switch rng.IntN(3) {
			case 0:
				frame = "11YN" + B + B + "AOMAIN|AA" + patron + "|AB" + item + "|AC|AD1234"
			case 1:
				frame = "09N" + B + B + "APMAIN|AOMAIN|AB" + item + "|AC"
			default:
				frame = "29NN" + B + B + "AOMAIN|AA" + patron + "|AD1234|AB" + item + "|AC"
			}
			frame += fmt.Sprintf("|AY%dAZ????", ks.seq)
			ks.seq = (ks.seq + 1) % 10
		}
		head := e.head()
		ks.k.send(frame)
		if frame == ks.last && e.head() == head {
			replayed++
		}
		ks.last = frame
		apply(frame)
		for _, it := range items {
			if got := e.borrower(it); got != loans[it] {
				t.Fatalf("step %d (%q from %s): %s on loan to %q, model says %q", step, frame, ks.cp, it, got, loans[it])
			}
		}
	}
	t.Logf("%d retransmissions, %d answered without acting", retries, replayed)
	if replayed == 0 {
		t.Fatal("no retransmission was answered from the journal")
	}
}
