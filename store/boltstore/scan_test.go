package boltstore

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/circa-ils/circa/store"
)

func TestContainsFoldASCII(t *testing.T) {
	cases := []struct {
		s, text string
		want    bool
	}{
		{"Lovelace", "love", true},
		{"xxLOVELACE", "lace", true},
		{"Lovelace", "lovelacee", false},
		{"", "a", false},
		{"abc", "", true},
		{"aaaab", "aab", true},
		{"Müller", "mü", true},
		{"a@b.org", "@b.o", true},
		{"12-34", "2-3", true},
		{"Zz", "zz", true},
		{"[", "{", false}, // not letters: no folding
	}
	for _, c := range cases {
		if got := containsFoldASCII([]byte(c.s), []byte(strings.ToLower(c.text))); got != c.want {
			t.Errorf("containsFoldASCII(%q, %q) = %v", c.s, c.text, got)
		}
	}
}

// FuzzContainsFoldASCII checks the fast search against the obvious one.
func FuzzContainsFoldASCII(f *testing.F) {
	f.Add([]byte("Lovelace, Ada"), "ADA")
	f.Add([]byte("aaab"), "ab")
	f.Fuzz(func(t *testing.T, s []byte, text string) {
		lower := []byte(strings.ToLower(text))
		want := bytes.Contains(asciiLower(s), asciiLower(lower))
		if !bytes.Equal(asciiLower(lower), lower) {
			return // beyond ASCII folding; not this search's promise
		}
		if got := containsFoldASCII(s, lower); got != want {
			t.Fatalf("containsFoldASCII(%q, %q) = %v, want %v", s, lower, got, want)
		}
	})
}

func asciiLower(b []byte) []byte {
	out := bytes.Clone(b)
	for i, c := range out {
		if 'A' <= c && c <= 'Z' {
			out[i] = c + 'a' - 'A'
		}
	}
	return out
}

// The scans pass every record holding the text, in any case, and no other.
func TestForEachHolding(t *testing.T) {
	db := openTest(t)
	mustUpdate(t, db, func(tx store.Tx) error {
		for _, p := range []store.Patron{{Barcode: "A1", LastName: "Lovelace"}, {Barcode: "B1", LastName: "Babbage"}, {Barcode: "C1", LastName: "lovell"}} {
			if err := tx.PutPatron(&p, t0); err != nil {
				return err
			}
		}
		return nil
	})
	var got []string
	db.View(context.Background(), func(tx store.Tx) error {
		return tx.ForEachPatronHolding("LOVE", func(p store.Patron) bool { got = append(got, p.Barcode); return true })
	})
	if strings.Join(got, ",") != "A1,C1" {
		t.Errorf("patrons holding LOVE: %v", got)
	}
	// Text without letters takes the plain search.
	got = nil
	db.View(context.Background(), func(tx store.Tx) error {
		return tx.ForEachPatronHolding("1", func(p store.Patron) bool { got = append(got, p.Barcode); return true })
	})
	if strings.Join(got, ",") != "A1,B1,C1" {
		t.Errorf("patrons holding 1: %v", got)
	}
}
