package importer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/store"
	"github.com/circa-ils/circa/store/boltstore"
)

// failingReader gives the first n bytes of r, then fails as a disk would.
type failingReader struct {
	r io.Reader
	n int
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errDiskGone
	}
	p = p[:min(len(p), f.n)]
	n, err := f.r.Read(p)
	f.n -= n
	return n, err
}

func TestCSVImportResumesAfterACrash(t *testing.T) {
	ctx := context.Background()
	db, err := boltstore.Open(filepath.Join(t.TempDir(), "circa.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(ctx, func(tx store.Tx) error {
		if err := tx.PutLibrary(&store.Library{Code: "MAIN", Timezone: "UTC", Currency: "USD"}); err != nil {
			return err
		}
		if err := tx.PutGroup(&store.Group{Code: "UNDERGRAD", Name: "Undergraduates"}); err != nil {
			return err
		}
		return tx.PutRules(&store.Rules{Currency: "USD", Groups: []store.GroupRule{{UserGroup: "UNDERGRAD"}}})
	})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := circ.New(db)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("cardnumber,surname,branchcode,categorycode\n")
	for i := range 120 {
		fmt.Fprintf(&b, "2%04d,Name%d,MAIN,UNDERGRAD\n", i, i)
	}
	data := b.String()
	source := func(r io.Reader) Source {
		s, err := NewCSVSource(r, CSVOptions{UniqueKey: "barcode"})
		if err != nil {
			t.Fatal(err)
		}
		parse, _ := KohaPatrons.PatronParser(s)
		s.SetParse(parse)
		return s
	}
	o := Options{Key: "patrons/test", Batch: 50}
	_, err = Run(ctx, svc, source(&failingReader{r: strings.NewReader(data), n: len(data) * 3 / 4}), ApplyPatron, o)
	if !errors.Is(err, errDiskGone) {
		t.Fatalf("err %v, want the reader's failure", err)
	}
	prepared := 0
	o.Prepare = func(*Record) error { prepared++; return nil }
	rep, err := Run(ctx, svc, source(strings.NewReader(data)), ApplyPatron, o)
	if err != nil {
		t.Fatal(err)
	}
	if prepared != 70 {
		t.Errorf("%d records prepared, want the 70 after the resume point (the 50 read past need no PIN hashed)", prepared)
	}
	if rep.ResumedAt != 50 || rep.Counts["patrons created"] != 120 || rep.Problems != 0 {
		t.Errorf("report %+v: want a resume after the committed batches and 120 created in all", rep)
	}
	n := 0
	db.View(ctx, func(tx store.Tx) error {
		return tx.ForEachPatron(func(store.Patron) bool { n++; return true })
	})
	if n != 120 {
		t.Errorf("%d patrons stored, want 120", n)
	}
}
