package responder

import (
	"context"
	"encoding/xml"
	"strconv"
	"testing"
	"time"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/fixtures"
	"github.com/circa-ils/circa/ncip"
)

// countsAnswer is a LookupUserResponse's lists and their counts summary.
type countsAnswer struct {
	Loaned []struct {
		Status string `xml:"CirculationStatus"`
		Value  string `xml:"LoanedItemCountValue"`
	} `xml:"LookupUserResponse>LoanedItemsCount"`
	Requested []struct {
		Type  string `xml:"RequestType"`
		Value string `xml:"RequestedItemCountValue"`
	} `xml:"LookupUserResponse>RequestedItemsCount"`
	Loans    []struct{} `xml:"LookupUserResponse>LoanedItem"`
	Requests []struct{} `xml:"LookupUserResponse>RequestedItem"`
}

func (e *env) counts(body string) countsAnswer {
	e.t.Helper()
	status, out := e.post("/ncip", fixtures.PartnerKey, body, true)
	var a countsAnswer
	if err := xml.Unmarshal(out, &a); err != nil || status != 200 {
		e.t.Fatalf("status %d, %v\n%s", status, err, out)
	}
	return a
}

func countValue(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("count %q: %v", s, err)
	}
	return n
}

// TestLookupUserCounts: with LoanedItemsDesired and RequestedItemsDesired
// (VuFind's one LookupUser) the answer carries the counts summary beside
// the lists: loans by circulation status (On Loan always, Recalled once a
// loan is recalled) and requests by type, each agreeing with its list;
// without them, neither lists nor counts. Every answer is kept for the
// schema check.
func TestLookupUserCounts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	agent := circ.Agent{Protocol: "cli", Library: fixtures.LibraryMain}
	_, bib := e.bibOf(fixtures.ItemBranch)
	if _, err := e.svc.PlaceHold(context.Background(), circ.HoldRequest{Agent: agent, Patron: fixtures.PatronGood,
		BibID: bib.ID, TitleLevel: true}); err != nil {
		t.Fatal(err)
	}
	check := func(onLoan, recalled int) {
		t.Helper()
		a := e.counts(vufindLookupUser(fixtures.PatronGood, fixtures.DemoPIN))
		want := []struct {
			status string
			n      int
		}{{"On Loan", onLoan}}
		if recalled > 0 {
			want = append(want, struct {
				status string
				n      int
			}{"Recalled", recalled})
		}
		if len(a.Loaned) != len(want) {
			t.Fatalf("LoanedItemsCount %+v, want %+v", a.Loaned, want)
		}
		total := 0
		for i, w := range want {
			if a.Loaned[i].Status != w.status || countValue(t, a.Loaned[i].Value) != w.n {
				t.Errorf("LoanedItemsCount %+v, want %+v", a.Loaned[i], w)
			}
			total += w.n
		}
		if total != len(a.Loans) {
			t.Errorf("counts add up to %d loans, the list has %d", total, len(a.Loans))
		}
		if len(a.Requested) != 1 || a.Requested[0].Type != "Hold" || countValue(t, a.Requested[0].Value) != len(a.Requests) || len(a.Requests) == 0 {
			t.Errorf("RequestedItemsCount %+v for %d requests", a.Requested, len(a.Requests))
		}
	}
	check(1, 0)
	if _, err := e.svc.Recall(context.Background(), circ.RecallRequest{Agent: agent, Item: fixtures.ItemOnLoan}); err != nil {
		t.Fatal(err)
	}
	check(0, 1)

	plain := e.counts(vufindMessage("LookupUser", vufindPatron(fixtures.PatronGood, fixtures.DemoPIN)))
	if len(plain.Loaned)+len(plain.Requested)+len(plain.Loans)+len(plain.Requests) != 0 {
		t.Errorf("lists and counts not asked for: %+v", plain)
	}
}

// TestVuFindRenewWithOwnHold: VuFind's RenewItem for a loan whose
// borrower also holds its title renews it; another patron's hold on the
// title refuses it with a Problem and changes nothing.
func TestVuFindRenewWithOwnHold(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	agent := circ.Agent{Protocol: "cli", Library: fixtures.LibraryMain}
	_, bib := e.bibOf(fixtures.ItemOnLoan)
	renew := func() (problems []string) {
		t.Helper()
		status, body := e.post("/ncip", fixtures.PartnerKey, vufindRenew(fixtures.PatronGood, fixtures.DemoPIN, fixtures.ItemOnLoan), true)
		var r struct {
			Problems []string `xml:"RenewItemResponse>Problem>ProblemType"`
			DateDue  string   `xml:"RenewItemResponse>DateDue"`
		}
		if err := xml.Unmarshal(body, &r); err != nil || status != 200 || (len(r.Problems) == 0 && r.DateDue == "") {
			t.Fatalf("renew: %d %v\n%s", status, err, body)
		}
		return r.Problems
	}
	if _, err := e.svc.PlaceHold(context.Background(), circ.HoldRequest{Agent: agent, Patron: fixtures.PatronGood,
		BibID: bib.ID, TitleLevel: true}); err != nil {
		t.Fatal(err)
	}
	e.advance(24 * time.Hour)
	if p := renew(); len(p) != 0 {
		t.Fatalf("the borrower's own hold refused the renewal: %v", p)
	}
	if _, err := e.svc.PlaceHold(context.Background(), circ.HoldRequest{Agent: agent, Patron: fixtures.PatronExternal,
		BibID: bib.ID, TitleLevel: true}); err != nil {
		t.Fatal(err)
	}
	e.unchanged("RenewItem with another patron waiting", func() {
		if p := renew(); len(p) != 1 || p[0] != ncip.RenewalNotAllowedOutstandingReqs {
			t.Errorf("another patron's hold: problems %v", p)
		}
	})
}
