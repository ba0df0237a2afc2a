package store

import "testing"

// Every currency the minor-units table names is one KnownCurrency accepts.
func TestCurrencyTables(t *testing.T) {
	for c := range minorDigits {
		if !KnownCurrency(c) {
			t.Errorf("%s has minor digits but is not a known currency", c)
		}
	}
	for _, c := range []string{"USD", "EUR", "GBP", "JPY", "CHF"} {
		if !KnownCurrency(c) {
			t.Errorf("%s unknown", c)
		}
	}
	for _, c := range []string{"", "usd", "EURO", "XXX", "ABC"} {
		if KnownCurrency(c) {
			t.Errorf("%q known", c)
		}
	}
}
