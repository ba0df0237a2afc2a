package circ

import (
	"testing"
	"time"

	"github.com/circa-ils/circa/store"
)

var testRules = store.Rules{
	Loans: []store.LoanRule{
		{Circulates: true, LoanDays: 21, RenewalLimit: 2, FinePerDay: 25, FineCap: 500},
		{ItemPolicy: "REF", Circulates: false},
		{ItemPolicy: "VIDEO", Circulates: true, LoanDays: 7, RenewalLimit: 1, FinePerDay: 100, FineCap: 1000},
		{ItemPolicy: "VIDEO", UserGroup: "FACULTY", Circulates: true, LoanDays: 14, RenewalLimit: 3, FinePerDay: 100},
		{ItemPolicy: "BOOK", Library: "BRANCH", Circulates: true, LoanDays: 14, RenewalLimit: 1, FinePerDay: 10},
		{ItemPolicy: "SHORT", Circulates: true, LoanHours: 4, RenewalLimit: 0, FinePerDay: 200},
	},
	Groups:        []store.GroupRule{{UserGroup: "UNDERGRAD", LoanLimit: 2}, {UserGroup: "FACULTY", LoanLimit: 0}},
	MaxOverdue:    3,
	MaxBalance:    1000,
	BlockExpired:  true,
	HoldShelfDays: 7,
	Currency:      "USD",
	RentalFees:    []store.RentalFee{{ItemPolicy: "VIDEO", Amount: 150}},
}

func TestFindLoanRule(t *testing.T) {
	cases := []struct {
		name, group, policy, library string
		circulates                   bool
		days, hours, renewals        int
	}{
		{"default row", "UNDERGRAD", "BOOK", "MAIN", true, 21, 0, 2},
		{"policy beats default", "UNDERGRAD", "REF", "MAIN", false, 0, 0, 0},
		{"policy row", "UNDERGRAD", "VIDEO", "MAIN", true, 7, 0, 1},
		{"group and policy beat policy", "FACULTY", "VIDEO", "MAIN", true, 14, 0, 3},
		{"library beats group", "FACULTY", "BOOK", "BRANCH", true, 14, 0, 1},
		{"hour loans", "GRAD", "SHORT", "MAIN", true, 0, 4, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := FindLoanRule(&testRules, c.group, c.policy, c.library)
			if r.Circulates != c.circulates || r.LoanDays != c.days || r.LoanHours != c.hours || r.RenewalLimit != c.renewals {
				t.Fatalf("got %+v", r)
			}
		})
	}
	if r := FindLoanRule(&store.Rules{}, "X", "Y", "Z"); r.Circulates {
		t.Fatal("no rules must mean not circulating")
	}
}

func TestDueDate(t *testing.T) {
	ny, _ := time.LoadLocation("America/New_York")
	// 23:30 New York on 1 March is 04:30 UTC on 2 March.
	now := time.Date(2026, 3, 2, 4, 30, 0, 0, time.UTC)
	got := DueDate(store.LoanRule{LoanDays: 21}, now, ny)
	want := time.Date(2026, 3, 22, 23, 59, 59, 0, ny)
	if !got.Equal(want) {
		t.Fatalf("day loan due %v, want %v (end of the library's day)", got.In(ny), want)
	}
	if got.Location() != time.UTC {
		t.Fatal("due dates are stored in UTC")
	}
	got = DueDate(store.LoanRule{LoanHours: 4}, now, ny)
	if !got.Equal(now.Add(4 * time.Hour)) {
		t.Fatalf("hour loan due %v", got)
	}
}

func TestOverdueFine(t *testing.T) {
	due := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	rule := store.LoanRule{FinePerDay: 25, FineCap: 100}
	cases := []struct {
		name     string
		returned time.Time
		want     int64
	}{
		{"on time", due, 0},
		{"early", due.Add(-time.Hour), 0},
		{"one hour late is a started day", due.Add(time.Hour), 25},
		{"exactly two days", due.Add(48 * time.Hour), 50},
		{"capped", due.Add(30 * 24 * time.Hour), 100},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := OverdueFine(rule, due, c.returned); got != c.want {
				t.Fatalf("fine %d, want %d", got, c.want)
			}
		})
	}
	if OverdueFine(store.LoanRule{}, due, due.Add(72*time.Hour)) != 0 {
		t.Fatal("no rate means no fine")
	}
}

func TestBorrowRefusalAndFlags(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name   string
		p      store.Patron
		st     Standing
		want   Code
		flagOn []int
	}{
		{"good", store.Patron{UserGroup: "GRAD"}, Standing{}, OK, nil},
		{"manual block", store.Patron{Blocks: []store.Block{{Type: "manual"}}}, Standing{ManualBlock: true}, PatronBlocked,
			[]int{FlagChargeDenied, FlagRenewalDenied, FlagRecallDenied, FlagHoldDenied}},
		{"card lost", store.Patron{Blocks: []store.Block{{Type: "card_lost"}}}, Standing{ManualBlock: true}, PatronBlocked,
			[]int{FlagChargeDenied, FlagRenewalDenied, FlagRecallDenied, FlagHoldDenied, FlagCardLost}},
		{"expired", store.Patron{}, Standing{Expired: true}, PatronExpired,
			[]int{FlagChargeDenied, FlagRenewalDenied, FlagRecallDenied, FlagHoldDenied}},
		{"too many overdue", store.Patron{}, Standing{Overdue: 3, Loans: 3}, PatronBlocked,
			[]int{FlagChargeDenied, FlagRenewalDenied, FlagRecallDenied, FlagTooManyOverdue}},
		{"overdue below threshold", store.Patron{}, Standing{Overdue: 2, Loans: 2}, OK, nil},
		{"balance at threshold", store.Patron{}, Standing{Balance: 1000}, OK, nil},
		{"balance above threshold", store.Patron{}, Standing{Balance: 1001}, PatronBlocked,
			[]int{FlagChargeDenied, FlagRenewalDenied, FlagRecallDenied, FlagExcessiveFines, FlagExcessiveFees}},
		{"at loan limit", store.Patron{UserGroup: "UNDERGRAD"}, Standing{Loans: 2}, OK, []int{FlagTooManyCharged}},
		{"recall overdue", store.Patron{}, Standing{Loans: 1, Overdue: 1, Recalled: 1}, OK, []int{FlagRecallOverdue}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := BorrowRefusal(&testRules, c.st); got != c.want {
				t.Fatalf("refusal %v, want %v", got, c.want)
			}
			flags := FlagsOf(&testRules, &c.p, c.st)
			var want PatronFlags
			for _, f := range c.flagOn {
				want[f] = true
			}
			if flags != want {
				t.Fatalf("flags %v, want %v", flags, want)
			}
		})
	}
	p := store.Patron{Expiry: now.Add(-time.Hour)}
	if !StandingOf(&p, nil, nil, now).Expired {
		t.Fatal("past expiry not expired")
	}
	loans := []store.Loan{{Due: now.Add(-time.Minute), Recalled: true}, {Due: now.Add(time.Hour)}}
	fees := []store.Fee{{Balance: 300, Status: store.FeeOpen}, {Balance: 200, Status: store.FeeExported}, {Balance: 0, Status: store.FeePaid}, {Balance: 50, Status: store.FeeWaived}}
	st := StandingOf(&store.Patron{}, loans, fees, now)
	if st.Overdue != 1 || st.Loans != 2 || st.Balance != 500 || st.Recalled != 1 {
		t.Fatalf("standing %+v", st)
	}
}

func TestCirculationStatusCoversEveryItemStatus(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range store.ItemStatuses {
		code := CirculationStatus(&store.Item{Status: s}, false)
		if code == CircOther {
			t.Errorf("status %s maps to 01 other", s)
		}
		seen[code] = true
	}
	if CirculationStatus(&store.Item{Status: store.ItemOnLoan}, true) != CircRecalled {
		t.Error("recalled loan not 07")
	}
	if len(seen) != len(store.ItemStatuses) {
		t.Errorf("statuses share codes: %v", seen)
	}
}

func TestQueueRules(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	reqs := []store.Request{
		{ID: 1, PatronID: 10, ItemID: 5, Status: store.RequestWaiting, Expires: now.Add(-time.Hour)}, // expired
		{ID: 2, PatronID: 11, Kind: store.RequestRetrieval, ItemID: 6, Status: store.RequestWaiting},
		{ID: 3, PatronID: 12, ItemID: 7, Status: store.RequestWaiting},
		{ID: 4, PatronID: 13, TitleLevel: true, Status: store.RequestWaiting},
	}
	if r, ok := firstWaiting(reqs, 6, now); !ok || r.ID != 4 {
		t.Fatalf("first waiting for item 6: %v %v", r.ID, ok)
	}
	if r, ok := firstWaiting(reqs, 7, now); !ok || r.ID != 3 {
		t.Fatalf("first waiting for item 7: %v %v", r.ID, ok)
	}
	it := store.Item{ID: 7}
	if !heldForOther(&it, reqs, 99, now) {
		t.Fatal("item-level request by another patron must hold the item")
	}
	if heldForOther(&it, reqs, 12, now) {
		t.Fatal("the requester is not blocked by their own request")
	}
	if heldForOther(&store.Item{ID: 8}, reqs, 99, now) {
		t.Fatal("a title-level wait does not hold a shelf copy")
	}
	if !othersWaiting(reqs, 8, 99, now) {
		t.Fatal("title-level wait blocks renewal")
	}
	if othersWaiting(reqs[:3], 8, 99, now) {
		t.Fatal("an item-level request on another copy does not block renewal")
	}
	if othersWaiting(reqs[:3], 7, 12, now) {
		t.Fatal("the borrower's own request does not block their renewal")
	}
	if othersWaiting(reqs[:1], 5, 99, now) || !othersWaiting(reqs[:1], 5, 99, now.Add(-2*time.Hour)) {
		t.Fatal("a request blocks renewal until its expiry, not after")
	}
	if queuePosition(reqs, 4) != 3 {
		t.Fatalf("queue position skips retrievals: %d", queuePosition(reqs, 4))
	}
}

func TestSecretHashing(t *testing.T) {
	h, err := HashSecret("1234")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := VerifySecret(h, "1234"); !ok || err != nil {
		t.Fatalf("verify right PIN: %v %v", ok, err)
	}
	if ok, _ := VerifySecret(h, "1235"); ok {
		t.Fatal("wrong PIN verified")
	}
	h2, _ := HashSecret("1234")
	if h == h2 {
		t.Fatal("hashes are not salted")
	}
	for _, bad := range []string{"", "$argon2id$v=19$m=1,t=1,p=1$$", "plain", "$argon2id$v=19$m=99999999,t=1,p=1$AAAA$AAAA"} {
		if _, err := VerifySecret(bad, "1234"); err == nil {
			t.Errorf("malformed hash %q accepted", bad)
		}
	}
}

func TestEveryCodeHasAName(t *testing.T) {
	for _, c := range Codes() {
		if c.String() == "unknown code" || c.String() == "" {
			t.Errorf("code %d has no name", c)
		}
	}
}

func TestMoney(t *testing.T) {
	for _, c := range []struct {
		in   string
		cur  string
		want int64
		ok   bool
	}{
		{"12.50", "USD", 1250, true}, {"12.5", "USD", 1250, true}, {"12", "USD", 1200, true}, {".05", "USD", 5, true},
		{"0.500", "USD", 50, true}, {"1.005", "USD", 0, false}, {"-1", "USD", 0, false}, {"1e3", "USD", 0, false},
		{"", "USD", 0, false}, {"500", "JPY", 500, true}, {"5.1", "JPY", 0, false}, {"1.234", "KWD", 1234, true},
		{"99999999999999999999", "USD", 0, false},
	} {
		got, err := ParseAmount(c.in, c.cur)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("ParseAmount(%q, %s) = %d, %v", c.in, c.cur, got, err)
		}
	}
	for _, c := range []struct {
		minor int64
		cur   string
		want  string
	}{{1250, "USD", "12.50"}, {5, "USD", "0.05"}, {0, "USD", "0.00"}, {500, "JPY", "500"}, {-150, "EUR", "-1.50"}} {
		if got := FormatAmount(c.minor, c.cur); got != c.want {
			t.Errorf("FormatAmount(%d, %s) = %s", c.minor, c.cur, got)
		}
	}
}
