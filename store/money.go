package store

import (
	"fmt"
	"strconv"
	"strings"
)

// minorDigits holds the ISO 4217 minor units of the currencies that do not
// use two decimals. A small table rather than golang.org/x/text/currency:
// libraries charge in a handful of currencies, and the table is checked in
// one test instead of a dependency's data being trusted blindly.
var minorDigits = map[string]int{
	"BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0,
	"PYG": 0, "RWF": 0, "UGX": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
	"BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
}

// Decimals returns how many minor-unit digits a currency has (ISO 4217).
func Decimals(currency string) int {
	if d, ok := minorDigits[strings.ToUpper(currency)]; ok {
		return d
	}
	return 2
}

// FormatAmount renders minor units as a decimal string ("12.50").
func FormatAmount(minor int64, currency string) string {
	d := Decimals(currency)
	neg := minor < 0
	if neg {
		minor = -minor
	}
	s := strconv.FormatInt(minor, 10)
	if d > 0 {
		for len(s) <= d {
			s = "0" + s
		}
		s = s[:len(s)-d] + "." + s[len(s)-d:]
	}
	if neg {
		s = "-" + s
	}
	return s
}

// FormatMoney renders minor units with their currency ("0.25 USD"), the
// form the rules are written in.
func FormatMoney(minor int64, currency string) string {
	return FormatAmount(minor, currency) + " " + currency
}

// ParseAmount reads a decimal amount ("12.5", "12.50", "12") into minor
// units, refusing more decimals than the currency has and anything that is
// not a plain non-negative number.
func ParseAmount(s, currency string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty amount")
	}
	d := Decimals(currency)
	whole, frac, hasFrac := strings.Cut(s, ".")
	if whole == "" {
		whole = "0"
	}
	if hasFrac && len(frac) > d {
		// Trailing zeros beyond the currency's precision are harmless.
		trimmed := strings.TrimRight(frac, "0")
		if len(trimmed) > d {
			return 0, fmt.Errorf("amount %q has more decimals than %s has (%d)", s, strings.ToUpper(currency), d)
		}
		frac = trimmed
	}
	for _, part := range []string{whole, frac} {
		for _, r := range part {
			if r < '0' || r > '9' {
				return 0, fmt.Errorf("amount %q is not a number", s)
			}
		}
	}
	for len(frac) < d {
		frac += "0"
	}
	n, err := strconv.ParseInt(whole+frac, 10, 64)
	if err != nil || len(whole) > 15 {
		return 0, fmt.Errorf("amount %q out of range", s)
	}
	return n, nil
}

// currencies are the ISO 4217 codes of the currencies in circulation (funds,
// metals and test codes left out: no library charges in them).
var currencies = func() map[string]bool {
	m := map[string]bool{}
	for _, c := range strings.Fields(`AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB
		BRL BSD BTN BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD
		FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF
		KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD
		NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE
		SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VED VES VND VUV
		WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG ZWL`) {
		m[c] = true
	}
	return m
}()

// KnownCurrency says whether code is an ISO 4217 currency in circulation,
// written as the standard writes it (three capitals).
func KnownCurrency(code string) bool { return currencies[code] }
