package circ

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/circa-ils/circa/store"
	"github.com/circa-ils/circa/store/boltstore"
)

func patronBarcodes(h PatronHits) []string {
	var out []string
	for _, p := range h.Patrons {
		out = append(out, p.Barcode)
	}
	return out
}

func TestSearchPatrons(t *testing.T) {
	l := newLib(t)
	l.patron("P1", "GRAD", func(p *store.Patron) {
		p.LastName, p.FirstName = "Lovelace", "Ada"
		p.Identifiers = []store.Identifier{{Type: "univ_id", Value: "U-77"}}
		p.Contacts = []store.Contact{{Kind: "email", Value: "Countess@Example.org"}}
	})
	l.patron("P2", "GRAD", func(p *store.Patron) { p.LastName, p.FirstName = "Lovell", "Jim" })
	l.patron("P3", "GRAD", func(p *store.Patron) { p.LastName, p.FirstName = "Babbage", "Charles" })
	l.patron("P4", "GRAD", func(p *store.Patron) { p.LastName, p.FirstName = "Östlund", "Åsa" })
	l.patron("LOVE", "GRAD", func(p *store.Patron) { p.LastName, p.FirstName = "Hopper", "Grace" })
	cases := []struct {
		query string
		want  []string
	}{
		{"p1", []string{"P1"}},                 // barcode, any case
		{"u-77", []string{"P1"}},               // identifier value
		{"love", []string{"LOVE", "P1", "P2"}}, // the barcode first, then names in id order
		{"LOVEL", []string{"P1", "P2"}},        // last-name prefix
		{"ada", []string{"P1"}},                // first-name prefix
		{"Ada Love", []string{"P1"}},           // first and last
		{"lovell, j", []string{"P2"}},          // last, first
		{"countess@example", []string{"P1"}},   // e-mail prefix
		{"öst", []string{"P4"}},                // beyond ASCII
		{"ÖSTLUND", []string{"P4"}},            // beyond ASCII, other case
		{"velace", nil},                        // prefixes only
		{"  babbage  ", []string{"P3"}},        // spaces
		{"nobody", nil},
	}
	for _, c := range cases {
		h, err := l.svc.SearchPatrons(ctx, c.query, 0)
		if err != nil {
			t.Fatalf("%q: %v", c.query, err)
		}
		if got := patronBarcodes(h); !slices.Equal(got, c.want) || h.More {
			t.Errorf("search %q: %v (more %v), want %v", c.query, got, h.More, c.want)
		}
		for _, p := range h.Patrons {
			if p.PINHash != "" {
				t.Errorf("search %q returned a PIN hash", c.query)
			}
		}
	}
	h, _ := l.svc.SearchPatrons(ctx, "love", 2)
	if got := patronBarcodes(h); !slices.Equal(got, []string{"LOVE", "P1"}) || !h.More {
		t.Errorf("limited search: %v more %v", got, h.More)
	}
	if _, err := l.svc.SearchPatrons(ctx, " ", 0); err == nil {
		t.Errorf("empty search accepted")
	}
}

// catalogue adds records with the given 001, title, author and ISBN, one
// item each, and returns their ids.
func (l *testLib) catalogue(recs ...[4]string) []uint64 {
	l.t.Helper()
	var ids []uint64
	err := l.db.Update(ctx, func(tx store.Tx) error {
		for i, r := range recs {
			b := store.Bib{ControlNumber: r[0], Title: r[1], Author: r[2], ISBN: r[3], MARCXML: "<record/>"}
			if err := tx.PutBib(&b, start); err != nil {
				return err
			}
			ids = append(ids, b.ID)
			it := store.Item{Barcode: fmt.Sprintf("I%d-%d", b.ID, i), BibID: b.ID, Library: "MAIN", Location: "STACKS",
				CallNumber: fmt.Sprintf("QA76.%d .L%d", i+1, i), Policy: "BOOK", Status: store.ItemAvailable, Pieces: 1}
			if err := tx.PutItem(&it, start); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		l.t.Fatal(err)
	}
	return ids
}

func TestSearchBibsAndItems(t *testing.T) {
	l := newLib(t)
	ids := l.catalogue(
		[4]string{"ocm001", "The analytical engine: notes", "Lovelace, Ada", "9780306406157"},
		[4]string{"2", "Engines of logic", "Davis, Martin", ""},
		[4]string{"ocm003", "Cosmos", "Sagan, Carl", "0306406152"},
	)
	titles := func(h BibHits) []uint64 {
		var out []uint64
		for _, b := range h.Bibs {
			out = append(out, b.ID)
		}
		return out
	}
	cases := []struct {
		query string
		want  []uint64
	}{
		{"ocm003", []uint64{ids[2]}},            // 001
		{"id:2", []uint64{ids[1]}},              // internal id
		{"978-0-306-40615-7", []uint64{ids[0]}}, // ISBN with hyphens
		{"0-306-40615-2", []uint64{ids[2]}},     // ISBN-10
		{"engine", []uint64{ids[0], ids[1]}},    // title word prefix
		{"ENGINE lovel", []uint64{ids[0]}},      // every word must start one
		{"sagan", []uint64{ids[2]}},             // author
		{"gine", nil},                           // word starts only
	}
	for _, c := range cases {
		h, err := l.svc.SearchBibs(ctx, c.query, 0)
		if err != nil {
			t.Fatalf("%q: %v", c.query, err)
		}
		if got := titles(h); !slices.Equal(got, c.want) {
			t.Errorf("bib search %q: %v, want %v", c.query, got, c.want)
		}
	}

	items := func(q string) []string {
		h, err := l.svc.SearchItems(ctx, q, 0)
		if err != nil {
			t.Fatalf("%q: %v", q, err)
		}
		var out []string
		for _, it := range h.Items {
			out = append(out, it.Barcode)
		}
		return out
	}
	first := fmt.Sprintf("I%d-0", ids[0])
	if got := items(strings.ToLower(first)); !slices.Equal(got, []string{first}) {
		t.Errorf("item by barcode: %v", got)
	}
	if got := items("qa76.3"); !slices.Equal(got, []string{fmt.Sprintf("I%d-2", ids[2])}) {
		t.Errorf("item by call number: %v", got)
	}
	if got := items("QA76"); len(got) != 3 {
		t.Errorf("items by call-number prefix: %v", got)
	}
	if got := items("ocm001"); !slices.Equal(got, []string{first}) {
		t.Errorf("items by 001: %v", got)
	}
}

func TestResolveBib(t *testing.T) {
	l := newLib(t)
	// Record 1 has 001 "2"; record 2 has 001 "x9"; record 3 has 001 "3".
	ids := l.catalogue([4]string{"2", "One", "", ""}, [4]string{"x9", "Two", "", ""}, [4]string{"3", "Three", "", ""})
	resolve := func(name string) (uint64, error) {
		var id uint64
		err := l.db.View(ctx, func(tx store.Tx) error {
			b, err := ResolveBib(tx, name)
			id = b.ID
			return err
		})
		return id, err
	}
	for _, c := range []struct {
		name string
		want uint64
	}{{"x9", ids[1]}, {"id:2", ids[1]}, {"id:1", ids[0]}, {"1", ids[0]}, {"3", ids[2]}, {" x9 ", ids[1]}} {
		got, err := resolve(c.name)
		if err != nil || got != c.want {
			t.Errorf("ResolveBib(%q) = %d, %v; want %d", c.name, got, err, c.want)
		}
	}
	_, err := resolve("2")
	var amb *AmbiguousBibError
	if !errors.As(err, &amb) || !strings.Contains(err.Error(), "write id:2 or id:1") {
		t.Errorf("ambiguous 2: %v", err)
	}
	for _, name := range []string{"99", "nope", "id:x", "id:0", "id:99"} {
		var nf *NotFoundError
		if _, err := resolve(name); err == nil || (name != "id:x" && name != "id:0" && !errors.As(err, &nf)) {
			t.Errorf("ResolveBib(%q): %v", name, err)
		}
	}
}

// BenchmarkSearchPatrons searches 100,000 patrons by a last-name prefix
// that a few hundred share, by a barcode and by an e-mail address.
func BenchmarkSearchPatrons(b *testing.B) {
	db, err := boltstore.Open(filepath.Join(b.TempDir(), boltstore.DefaultFile), boltstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	last := []string{"Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
		"Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin"}
	first := []string{"Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Margaret", "Ken", "Dennis", "Frances"}
	const patrons = 100000
	for chunk := 0; chunk < patrons; chunk += 10000 {
		err := db.Update(ctx, func(tx store.Tx) error {
			for i := chunk; i < chunk+10000; i++ {
				// Surnames get a numbered suffix so a prefix like "Smith12"
				// matches tens of patrons, as a real surname does.
				p := store.Patron{Barcode: fmt.Sprintf("21000%09d", i), LastName: fmt.Sprintf("%s%d", last[i%len(last)], i%1000),
					FirstName: first[i%len(first)], UserGroup: "UNDERGRAD", HomeLibrary: "MAIN", Expiry: start.AddDate(2, 0, 0),
					Identifiers: []store.Identifier{{Type: "univ_id", Value: fmt.Sprintf("U%07d", i)}},
					Contacts: []store.Contact{{Kind: "email", Value: fmt.Sprintf("user%d@example.edu", i)},
						{Kind: "address", Line1: fmt.Sprintf("%d Main Street", i), City: "Springfield", Postal: "12345"}}}
				if err := tx.PutPatron(&p, start); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	svc, err := New(db, WithClock(func() time.Time { return start }))
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct{ name, query string }{
		{"name", "smith12"}, {"barcode", "21000000054321"}, {"email", "user777@"}, {"none", "zzyzx"}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				h, err := svc.SearchPatrons(ctx, c.query, 0)
				if err != nil {
					b.Fatal(err)
				}
				if c.name != "none" && len(h.Patrons) == 0 {
					b.Fatalf("%q found nothing", c.query)
				}
			}
		})
	}
}
