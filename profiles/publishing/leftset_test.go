package publishing

import (
	"slices"
	"testing"
	"time"

	"github.com/circa-ils/circa/fixtures"
	"github.com/circa-ils/circa/profiles/delivery"
	"github.com/circa-ils/circa/profiles/oai"
	"github.com/circa-ils/circa/store"
)

// TestRecordLeavingSetIsDeleted: a record whose only item moves to another
// library leaves that library's sets and the profile selecting it; their
// incremental harvests list it as deleted, while the harvests of the sets
// it joined, and of the whole repository, list it live. The profile's
// incremental file run sends it in the _delete file.
func TestRecordLeavingSetIsDeleted(t *testing.T) {
	db := openDB(t, demoFile(t))
	it := itemOf(t, db, fixtures.ItemBranch)
	var others int
	db.View(ctx, func(tx store.Tx) error {
		its, err := tx.ItemsOfBib(it.BibID)
		others = len(its) - 1
		return err
	})
	if others != 0 || it.Library != fixtures.LibraryBranch {
		t.Fatalf("%s is not the only item of its record at BRANCH (%d others, %s)", fixtures.ItemBranch, others, it.Library)
	}
	pickup := t.TempDir()
	if err := SaveProfiles(ctx, db, Profile{Code: "RIVERSIDE", Selection: Selection{Libraries: []string{fixtures.LibraryBranch}},
		Format: FormatMARCXMLTarGz, Target: &delivery.Target{Kind: delivery.KindLocal, LocalDir: pickup}}); err != nil {
		t.Fatal(err)
	}
	c := newClock(seedNow.Add(time.Hour))
	s := startServer(t, db, oai.Options{PageSize: 500, Now: c.now})
	_, first := s.harvest(oai.HarvestOptions{Prefix: "marc21", IdentifiersOnly: true})
	p := newPublisher(t, db, t.TempDir(), c)
	if _, err := p.Full(ctx, "RIVERSIDE"); err != nil {
		t.Fatal(err)
	}

	c.add(time.Hour)
	if _, err := service(t, db, c).MoveItem(ctx, staff, fixtures.ItemBranch, "MAIN-STACKS", ""); err != nil {
		t.Fatal(err)
	}
	c.add(time.Hour)
	id := oaiID(it.BibID)
	for _, set := range []string{"library:BRANCH", "library:BRANCH:BRANCH-STACKS", "profile:RIVERSIDE"} {
		for _, ids := range []bool{false, true} {
			recs, sum := s.harvest(oai.HarvestOptions{Prefix: "marc21", Set: set, From: first.ResponseDate, IdentifiersOnly: ids})
			if len(recs) != 1 || !recs[id].Deleted || sum.Deleted != 1 || !slices.Contains(recs[id].Sets, set) {
				t.Errorf("set %s since the move (identifiers only %v): %+v", set, ids, recs)
			}
		}
	}
	for _, set := range []string{"", "library:MAIN", "library:MAIN:MAIN-STACKS"} {
		recs, _ := s.harvest(oai.HarvestOptions{Prefix: "marc21_holdings", Set: set, From: first.ResponseDate})
		if r, ok := recs[id]; !ok || r.Deleted || slices.Contains(r.Sets, "library:BRANCH") || !slices.Contains(r.Sets, "library:MAIN:MAIN-STACKS") {
			t.Errorf("set %q since the move: %+v", set, r)
		}
	}
	doc := s.get("verb=ListIdentifiers&metadataPrefix=marc21&set=library:BRANCH&from=" + first.ResponseDate)
	if got := texts(doc, "//ListIdentifiers/header[@status='deleted']/identifier"); !slices.Equal(got, []string{id}) {
		t.Errorf("ListIdentifiers of BRANCH: deleted %v", got)
	}
	// The lists' completeListSize counts the deletion too.
	from, err := time.Parse(time.RFC3339, first.ResponseDate)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := NewRepository(db, testOptions).Count(ctx, oai.Range{From: from, Until: c.now(), Set: "library:BRANCH:BRANCH-STACKS"}); err != nil || n != 1 {
		t.Errorf("count since the move %d %v, want 1", n, err)
	}

	inc, err := p.Incremental(ctx, "RIVERSIDE")
	if err != nil {
		t.Fatal(err)
	}
	if len(inc.Files) != 1 || inc.Records != 1 || inc.Deleted != 1 {
		t.Fatalf("incremental run after the move: %+v", inc)
	}
	f, ok := readAlmaFiles(t, delivered(t, pickup))[inc.Files[0]]
	if !ok || f.Part != PartDelete || len(f.Records) != 1 || f.Records[0].Leader[5] != 'd' ||
		f.Records[0].ControlValue("001") != bibControl(t, db, it.BibID) {
		t.Errorf("the _delete file %s: %+v", inc.Files[0], f)
	}
	s.validate()
}

func bibControl(t *testing.T, db store.DB, id uint64) string {
	t.Helper()
	var b store.Bib
	if err := db.View(ctx, func(tx store.Tx) (err error) { b, err = tx.Bib(id); return err }); err != nil {
		t.Fatal(err)
	}
	return b.ControlNumber
}
