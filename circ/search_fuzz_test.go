package circ

import (
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/circa-ils/circa/store"
	"github.com/circa-ils/circa/store/boltstore"
)

// FuzzNormalizeISBN: what comes out is an ISBN's digits or nothing.
func FuzzNormalizeISBN(f *testing.F) {
	for _, s := range []string{"978-0-306-40615-7", "0-306-40615-2", "080442957X", "12", "978 0 306 40615 7x", "ISBN 123"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := normalizeISBN(s)
		if got == "" {
			return
		}
		if len(got) != 10 && len(got) != 13 {
			t.Fatalf("normalizeISBN(%q) = %q", s, got)
		}
		for i, r := range got {
			if !(r >= '0' && r <= '9') && !(r == 'X' && i == len(got)-1) {
				t.Fatalf("normalizeISBN(%q) = %q", s, got)
			}
		}
	})
}

// FuzzAddressOf: every part of an address comes from the text given.
func FuzzAddressOf(f *testing.F) {
	for _, s := range []string{"12 Analytical Row, London, N1 9GU", "a, b, c, d, e", ",,,", "one line", "x,y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c := addressOf(s)
		if c.Kind != "address" {
			t.Fatalf("kind %q", c.Kind)
		}
		for _, part := range []string{c.Line1, c.City, c.Postal} {
			if strings.Contains(part, ",") || !strings.Contains(s, part) {
				t.Fatalf("addressOf(%q) = %+v", s, c)
			}
		}
	})
}

// FuzzPatronMatcher: a patron is found by any start of the last name.
func FuzzPatronMatcher(f *testing.F) {
	f.Add("Lovelace", "Ada", 4)
	f.Add("Östlund", "Åsa", 2)
	f.Fuzz(func(t *testing.T, last, first string, n int) {
		last = strings.Join(strings.Fields(last), " ")
		if last == "" || strings.Contains(last, ",") || n <= 0 || n > len(last) {
			return
		}
		q := strings.TrimSpace(last[:n])
		if q == "" || !strings.HasPrefix(strings.ToLower(last), strings.ToLower(q)) {
			return // nothing, or q cut a character in two
		}
		p := store.Patron{LastName: last, FirstName: first}
		if !patronMatcher(q)(&p) {
			t.Fatalf("%q does not find %q", q, last)
		}
	})
}

// FuzzResolveBib: any name resolves to a record or fails with an error
// that says why, and a record found by a name that is not id:N is the one
// with that 001 or, for a number, that id.
func FuzzResolveBib(f *testing.F) {
	db, err := boltstore.Open(filepath.Join(f.TempDir(), boltstore.DefaultFile), boltstore.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	err = db.Update(ctx, func(tx store.Tx) error {
		for _, cn := range []string{"2", "x9", "3", "id:1", "ocm 5"} {
			if err := tx.PutBib(&store.Bib{ControlNumber: cn, Title: cn, MARCXML: "<record/>"}, start); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"2", "id:2", "x9", "id:", "id:99999999999999999999", "ocm 5", " 3 ", "0", "-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		db.View(ctx, func(tx store.Tx) error {
			b, err := ResolveBib(tx, name)
			if err != nil {
				var amb *AmbiguousBibError
				var nf *NotFoundError
				if !errors.As(err, &amb) && !errors.As(err, &nf) && !strings.HasPrefix(strings.TrimSpace(name), "id:") {
					t.Fatalf("ResolveBib(%q): unexpected %v", name, err)
				}
				return nil
			}
			n := strings.TrimSpace(name)
			byID := func(s string) bool { id, err := strconv.ParseUint(s, 10, 64); return err == nil && id == b.ID }
			if rest, ok := strings.CutPrefix(n, "id:"); ok && !byID(rest) || !ok && b.ControlNumber != n && !byID(n) {
				t.Fatalf("ResolveBib(%q) = bib %d with 001 %q", name, b.ID, b.ControlNumber)
			}
			return nil
		})
	})
}
