package selfcheck

import (
	"context"
	"testing"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/fixtures"
	"github.com/circa-ils/circa/store"
)

// A users file that says a patron is INACTIVE denies them at the kiosk:
// patron status (24) flags charge, renewal, recall and hold denied, and a
// checkout is refused; the next file saying ACTIVE lets them borrow again.
func TestInactiveStatusFromTheUsersFile(t *testing.T) {
	e := newEnv(t).start()
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
	k := e.dial()
	k.login(fixtures.KioskLogin, fixtures.KioskPassword)
	kiosk := func(seq string) (flags string, ok byte) {
		t.Helper()
		st := decode(t, k.send("2300020260310    100405AOMAIN|AA"+fixtures.PatronExternal+"|AC|AD"+fixtures.DemoPIN+"|AY"+seq+"AZ????"))
		co := decode(t, k.send("11YN"+D+B+"AOMAIN|AA"+fixtures.PatronExternal+"|AB"+fixtures.ItemDiacritics+"|AC|AD"+fixtures.DemoPIN+"|AY"+seq+"AZ????"))
		if co.Fixed[0] == '1' {
			if got := k.send("09N" + D + D + "AP|AOMAIN|AB" + fixtures.ItemDiacritics + "|AC|AY" + seq + "AZ????"); got[2] != '1' {
				t.Fatalf("checkin: %q", got)
			}
		}
		return st.Fixed[:4], co.Fixed[0]
	}
	sync("INACTIVE")
	if flags, ok := kiosk("1"); flags != "YYYY" || ok != '0' {
		t.Fatalf("INACTIVE: flags %q, checkout ok=%c; want YYYY and a refusal", flags, ok)
	}
	sync("ACTIVE")
	if flags, ok := kiosk("2"); flags != "    " || ok != '1' {
		t.Fatalf("ACTIVE again: flags %q, checkout ok=%c", flags, ok)
	}
}
