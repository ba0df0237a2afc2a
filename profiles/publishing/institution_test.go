package publishing

import (
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/circa-ils/circa/fixtures"
	"github.com/circa-ils/circa/profiles/delivery"
	"github.com/circa-ils/circa/profiles/oai"
	"github.com/circa-ils/circa/store"
)

// TestOneInstitution: OAI-PMH and files name the institution the same way,
// the one `circa institution set` stores.
func TestOneInstitution(t *testing.T) {
	db := openDB(t, demoFile(t))
	const code = "01CIRCA_INST"
	if err := db.Update(ctx, func(tx store.Tx) error { return tx.PutInstitution(&store.Institution{Code: code}) }); err != nil {
		t.Fatal(err)
	}
	bib := itemOf(t, db, fixtures.ItemBranch).BibID
	out := t.TempDir()
	prof := Profile{Code: "one", Holdings: true, Selection: Selection{BibIDs: []uint64{bib}},
		Target: &delivery.Target{Kind: delivery.KindLocal, LocalDir: out}}
	if err := SaveProfiles(ctx, db, prof); err != nil {
		t.Fatal(err)
	}
	res, err := newPublisher(t, db, t.TempDir(), newClock(seedNow.Add(time.Hour))).Full(ctx, "one")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(out, res.Files[0]))
	if err != nil {
		t.Fatal(err)
	}
	recs := records(t, res.Files[0], b)
	if len(recs) != 1 || len(recs[0].Fields("852")) == 0 {
		t.Fatalf("file: %+v", recs)
	}
	for _, f := range recs[0].Fields("852") {
		if f.Value("a") != code {
			t.Errorf("file 852 $a %q", f.Value("a"))
		}
	}
	s := startServer(t, db, oai.Options{})
	doc := s.get("verb=GetRecord&metadataPrefix=marc21_holdings&identifier=" + url.QueryEscape(oaiID(bib)))
	got := texts(doc, "//metadata/*/datafield[@tag='852']/subfield[@code='a']")
	if len(got) == 0 {
		t.Fatal("OAI record without 852")
	}
	for _, a := range got {
		if a != code {
			t.Errorf("OAI 852 $a %q", a)
		}
	}
}
