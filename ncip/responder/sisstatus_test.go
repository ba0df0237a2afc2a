package responder

import (
	"context"
	"testing"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/fixtures"
	"github.com/circa-ils/circa/ncip"
	"github.com/circa-ils/circa/store"
)

// A users file that says a patron is INACTIVE makes a partner's checkout,
// renewal and request for them a User Blocked problem, changing nothing,
// until a file says ACTIVE again.
func TestInactiveStatusFromTheUsersFile(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sync := func(status string) {
		t.Helper()
		u := circ.SyncUser{MatchValue: "U20230005", PrimaryID: fixtures.PatronExternal, FirstName: "Priya", LastName: "Raman",
			UserGroup: "UNDERGRAD", Status: status, Identifiers: []store.Identifier{{Type: fixtures.IdentUniversityID, Value: "U20230005"}}}
		out, err := e.svc.SyncPatrons(context.Background(), circ.SyncOptions{Agent: circ.Agent{Protocol: "exchange"},
			MatchType: fixtures.IdentUniversityID}, []circ.SyncUser{u})
		if err != nil || out[0].Action == circ.SyncRejected {
			t.Fatalf("sync %s: %+v, %v", status, out, err)
		}
	}
	user := "user=" + fixtures.PatronExternal
	ok(t, "checkout before", e.ill("CheckOutItem", user, "item="+fixtures.ItemAvailable))
	sync("INACTIVE")
	e.unchanged("services for an INACTIVE patron", func() {
		problem(t, "checkout", e.ill("CheckOutItem", user, "item="+fixtures.ItemDiacritics), ncip.UserBlocked)
		problem(t, "renewal", e.ill("RenewItem", user, "item="+fixtures.ItemAvailable), ncip.UserBlocked)
		problem(t, "request", e.ill("RequestItem", user, "item="+fixtures.ItemOnLoan, "request=SIS-1"), ncip.UserBlocked)
	})
	sync("ACTIVE")
	ok(t, "renewal after ACTIVE", e.ill("RenewItem", user, "item="+fixtures.ItemAvailable))
}
