package responder

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/circa-ils/circa/fixtures"
)

// borrower returns who has an item on loan ("" for nobody).
func (e *env) borrower(item string) string {
	e.t.Helper()
	info, err := e.svc.ItemInfo(context.Background(), item)
	if err != nil {
		e.t.Fatal(err)
	}
	if info.Borrower == nil {
		return ""
	}
	return info.Borrower.Barcode
}

// The reproduction: CheckOutItem, CheckInItem, then the same
// CheckOutItem body. The old answer came back and the item stayed
// available; the repeat is a new request and lends it again — also when
// the server restarted in between.
func TestRepeatedCheckOutAfterCheckInLendsAgain(t *testing.T) {
	for _, restart := range []bool{false, true} {
		e := newEnv(t)
		checkout := []string{"item=" + fixtures.ItemAvailable, "request=LEND-9"}
		ok(t, "checkout", e.ill("CheckOutItem", checkout...))
		ok(t, "checkin", e.ill("CheckInItem", "item="+fixtures.ItemAvailable))
		if restart {
			e.restart()
		}
		head := e.head()
		ok(t, "checkout again", e.ill("CheckOutItem", checkout...))
		if e.head() == head || e.borrower(fixtures.ItemAvailable) != fixtures.PatronILL {
			t.Fatalf("restart %v: the repeated CheckOutItem made no loan", restart)
		}
	}
}

// A true retry (the reply was lost) is answered once and acts once, also
// after a restart; the partner's window is 300 s by default.
func TestAcceptItemRetryAnsweredOnce(t *testing.T) {
	e := newEnv(t)
	accept := []string{"request=ILL-300", "item=ILL-300-1", "user=" + fixtures.PatronGood, "title=Borrowed"}
	first := e.ill("AcceptItem", accept...)
	ok(t, "accept", first)
	head := e.head()
	e.advance(299 * time.Second)
	e.restart()
	again := e.ill("AcceptItem", accept...)
	if ok(t, "retry", again); !bytes.Equal(bodyAfterHeader(again.Body), bodyAfterHeader(first.Body)) || e.head() != head {
		t.Fatalf("retry after restart answered differently or acted (journal %d → %d):\n%s\n%s", head, e.head(), first.Body, again.Body)
	}
}
