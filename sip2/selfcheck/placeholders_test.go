package selfcheck

import (
	"strings"
	"testing"
)

// TestBuiltinTextsUseKnownPlaceholders: every shipped translation uses only
// the placeholders its code's English text has, so overrides are checked
// against the same list the situation fills.
func TestBuiltinTextsUseKnownPlaceholders(t *testing.T) {
	for lang, texts := range builtin {
		for code, text := range texts {
			if err := CheckPlaceholders(code, text); err != nil {
				t.Errorf("%s: %v", lang, err)
			}
		}
	}
}

func TestCheckPlaceholders(t *testing.T) {
	if err := CheckPlaceholders("checkout_ok", "Bonne lecture : {title} ({due}) {curly braces}"); err != nil {
		t.Fatal(err)
	}
	err := CheckPlaceholders("checkout_ok", "Checked out {titel}, due {due}, fee {amount}")
	if err == nil || !strings.Contains(err.Error(), "unknown placeholder {titel}, {amount}; this message knows {due}, {title}") {
		t.Fatalf("got %v", err)
	}
	err = CheckPlaceholders("end_session", "Bye {name}")
	if err == nil || !strings.Contains(err.Error(), "this message knows none") {
		t.Fatalf("got %v", err)
	}
}
