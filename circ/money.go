package circ

import "github.com/circa-ils/circa/store"

// Decimals returns how many minor-unit digits a currency has.
func Decimals(currency string) int { return store.Decimals(currency) }

// FormatAmount renders minor units as a decimal string ("12.50").
func FormatAmount(minor int64, currency string) string { return store.FormatAmount(minor, currency) }

// ParseAmount reads a decimal amount ("12.5", "12.50", "12") into minor
// units, refusing more decimals than the currency has and anything that is
// not a plain non-negative number.
func ParseAmount(s, currency string) (int64, error) { return store.ParseAmount(s, currency) }
