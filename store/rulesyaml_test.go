package store

import (
	"reflect"
	"strings"
	"testing"
)

func TestRulesYAMLRoundTrip(t *testing.T) {
	r := Rules{
		Loans:      []LoanRule{{ItemPolicy: "BOOK", Circulates: true, LoanDays: 21, FinePerDay: 25, FineCap: 1000}},
		Groups:     []GroupRule{{UserGroup: "GRAD", LoanLimit: 5}},
		MaxBalance: 1050,
		RentalFees: []RentalFee{{ItemPolicy: "VIDEO", Amount: 150}},
		Currency:   "USD",
	}
	out, err := EncodeRules(&r)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"fine_per_day: 0.25 USD", "fine_cap: 10.00 USD", "max_balance: 10.50 USD", "amount: 1.50 USD"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
	back, err := DecodeRules(out)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, r) {
		t.Fatalf("round trip:\n%+v\n%+v", back, r)
	}
}

// TestRulesYAMLAmounts: a bare decimal is in the rules' currency; what
// would be misread is refused with the line it is on.
func TestRulesYAMLAmounts(t *testing.T) {
	doc := func(cur, amount string) string {
		return "currency: " + cur + "\nloans:\n  - item_policy: BOOK\n    circulates: true\n    loan_days: 7\n    fine_per_day: " + amount + "\n"
	}
	ok := []struct {
		cur, amount string
		want        int64
	}{
		{"USD", "0.25", 25},
		{"USD", "0.25 USD", 25},
		{"USD", "0", 0},
		{"USD", "1.50 usd", 150},
		{"JPY", "10 JPY", 10},
		{"JPY", "10.0", 10},
		{"KWD", "0.125", 125},
	}
	for _, c := range ok {
		r, err := DecodeRules([]byte(doc(c.cur, c.amount)))
		if err != nil || r.Loans[0].FinePerDay != c.want {
			t.Errorf("%s %q: %d, %v; want %d", c.cur, c.amount, r.Loans[0].FinePerDay, err, c.want)
		}
	}
	bad := []struct{ cur, amount, want string }{
		{"USD", "25", `line 6: fine_per_day: "25" has no decimal point or currency`},
		{"USD", "0.255 USD", "line 6: fine_per_day: amount \"0.255\" has more decimals than USD has (2)"},
		{"JPY", "10.5 JPY", "line 6: fine_per_day: amount \"10.5\" has more decimals than JPY has (0)"},
		{"USD", "0.25 EUR", `line 6: fine_per_day: "0.25 EUR" is in EUR, the rules are in USD`},
		{"USD", "0.25 DOLLARS", "three-letter ISO 4217 code"},
		{"USD", "a lot", "line 6: fine_per_day"},
		{"USD", "-1.00", "not a number"},
	}
	for _, c := range bad {
		_, err := DecodeRules([]byte(doc(c.cur, c.amount)))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %q: %v, want %q", c.cur, c.amount, err, c.want)
		}
	}
}

func TestRulesYAMLUnknownField(t *testing.T) {
	_, err := DecodeRules([]byte("currency: USD\nloans:\n  - item_policy: BOOK\n    loan_dayz: 7\n"))
	if err == nil || !strings.Contains(err.Error(), `line 4: unknown field "loan_dayz" (did you mean "loan_days"?)`) {
		t.Fatalf("got %v", err)
	}
}
