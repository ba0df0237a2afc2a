package publishing

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/circa-ils/circa/fixtures"
	"github.com/circa-ils/circa/profiles/oai"
	"github.com/circa-ils/circa/store/boltstore"
)

// TestVerbsAndErrorsSchema asks every verb, and provokes every error, on
// the demo library; every page is schema-validated.
func TestVerbsAndErrorsSchema(t *testing.T) {
	db := openDB(t, demoFile(t))
	c := newClock(seedNow.Add(time.Hour))
	if err := SaveProfiles(ctx, db, Profile{Code: "VIDEO", Name: "Films", Selection: Selection{MaterialTypes: []string{"video"}}}); err != nil {
		t.Fatal(err)
	}
	svc := service(t, db, c)
	gone := itemOf(t, db, fixtures.ItemBranch).BibID
	if _, err := svc.DeleteBib(ctx, staff, gone); err != nil {
		t.Fatal(err)
	}
	c.add(time.Minute)
	s := startServer(t, db, oai.Options{PageSize: 200, Now: c.now})
	avail := itemOf(t, db, fixtures.ItemAvailable)

	doc := s.get("verb=Identify")
	if got := texts(doc, "/OAI-PMH/Identify/deletedRecord"); len(got) != 1 || got[0] != "persistent" {
		t.Errorf("deletedRecord %v", got)
	}
	if got := texts(doc, "/OAI-PMH/Identify/earliestDatestamp"); len(got) != 1 || got[0] >= seedNow.Format(time.RFC3339) {
		t.Errorf("earliestDatestamp %v", got)
	}
	doc = s.get("verb=ListMetadataFormats&identifier=" + url.QueryEscape(oaiID(avail.BibID)))
	if got := texts(doc, "/OAI-PMH/ListMetadataFormats/metadataFormat/metadataPrefix"); !slices.Contains(got, "marc21_holdings") {
		t.Errorf("formats %v", got)
	}
	doc = s.get("verb=ListSets")
	specs := texts(doc, "/OAI-PMH/ListSets/set/setSpec")
	for _, want := range []string{"library:MAIN", "library:MAIN:MAIN-STACKS", "library:BRANCH:BRANCH-STACKS", "profile:VIDEO"} {
		if !slices.Contains(specs, want) {
			t.Errorf("ListSets lacks %s: %v", want, specs)
		}
	}

	doc = s.get("verb=GetRecord&metadataPrefix=marc21_holdings&identifier=" + url.QueryEscape(oaiID(avail.BibID)))
	if got := texts(doc, "/OAI-PMH/GetRecord/record/header/setSpec"); !slices.Contains(got, "library:MAIN:MAIN-STACKS") || !slices.Contains(got, "library:MAIN") {
		t.Errorf("sets of %s: %v", fixtures.ItemAvailable, got)
	}
	for _, f := range doc.FindElements("//metadata/*/datafield[@tag='852']") {
		if a := f.FindElement("subfield[@code='a']"); a == nil || a.Text() != fixtures.KioskInstitution {
			t.Errorf("852 without the demo's institution")
		}
	}
	if barcodes := texts(doc, "//metadata/*/datafield[@tag='876']/subfield[@code='p']"); !slices.Contains(barcodes, fixtures.ItemAvailable) {
		t.Errorf("876 $p %v lacks %s", barcodes, fixtures.ItemAvailable)
	}
	doc = s.post(url.Values{"verb": {"GetRecord"}, "metadataPrefix": {"oai_dc"}, "identifier": {oaiID(avail.BibID)}})
	if got := texts(doc, "//metadata/*/*[local-name()='title']"); len(got) == 0 || !strings.HasPrefix(got[0], "The quiet harbor") {
		t.Errorf("dc:title %v", got)
	}
	doc = s.get("verb=GetRecord&metadataPrefix=marc21&identifier=" + url.QueryEscape(oaiID(gone)))
	if h := doc.FindElement("/OAI-PMH/GetRecord/record/header"); h == nil || h.SelectAttrValue("status", "") != "deleted" ||
		doc.FindElement("/OAI-PMH/GetRecord/record/metadata") != nil {
		t.Errorf("deleted record is not a bare deleted header")
	}
	if got := texts(doc, "/OAI-PMH/GetRecord/record/header/setSpec"); !slices.Contains(got, "library:BRANCH:BRANCH-STACKS") {
		t.Errorf("deleted record forgot its sets: %v", got)
	}

	doc = s.get("verb=ListIdentifiers&metadataPrefix=oai_dc&set=profile:VIDEO")
	if n := len(doc.FindElements("/OAI-PMH/ListIdentifiers/header")); n == 0 {
		t.Error("profile set is empty")
	}
	doc = s.get("verb=ListRecords&metadataPrefix=marc21&set=library:BRANCH&from=" + seedNow.Add(time.Hour).Format("2006-01-02T15:04:05Z"))
	if got := texts(doc, "/OAI-PMH/ListRecords/record/header/identifier"); len(got) != 1 || got[0] != oaiID(gone) {
		t.Errorf("deletions since seeding in library:BRANCH: %v", got)
	}
	tok := doc.FindElement("/OAI-PMH/ListRecords/resumptionToken")
	if tok != nil {
		t.Errorf("a one-page list has a resumptionToken")
	}

	for _, tc := range []struct{ query, code string }{
		{"verb=Nonsense", "badVerb"},
		{"verb=ListRecords", "badArgument"},
		{"verb=ListRecords&metadataPrefix=mods", "cannotDisseminateFormat"},
		{"verb=GetRecord&metadataPrefix=marc21&identifier=oai:library.example.edu:999999", "idDoesNotExist"},
		{"verb=GetRecord&metadataPrefix=marc21&identifier=oai:library.example.edu:12x", "idDoesNotExist"},
		{"verb=ListRecords&metadataPrefix=marc21&from=2001-01-01&until=2001-12-31", "noRecordsMatch"},
		{"verb=ListRecords&metadataPrefix=marc21&set=library:NOWHERE", "noRecordsMatch"},
		{"verb=ListIdentifiers&resumptionToken=forged", "badResumptionToken"},
		{"verb=ListRecords&metadataPrefix=marc21&from=2026-01-02&until=2026-01-01T00:00:00Z", "badArgument"},
	} {
		if got := errorCodes(s.get(tc.query)); !slices.Contains(got, tc.code) {
			t.Errorf("%s: errors %v, want %s", tc.query, got, tc.code)
		}
	}
	s.validate()
}

// TestHarvestDemoLibrary harvests the whole demo library page by page: it
// returns exactly the catalogue, deletions flagged.
func TestHarvestDemoLibrary(t *testing.T) {
	db := openDB(t, demoFile(t))
	c := newClock(seedNow.Add(time.Hour))
	s := startServer(t, db, oai.Options{PageSize: 700, Now: c.now})
	recs, sum := s.harvest(oai.HarvestOptions{Prefix: "marc21"})
	want := catalogue(t, db)
	if len(recs) != len(want) || sum.Records != len(want) || sum.CompleteListSize != len(want) {
		t.Fatalf("harvested %d records (list size %d), catalogue has %d", len(recs), sum.CompleteListSize, len(want))
	}
	for id, deleted := range want {
		r, ok := recs[oaiID(id)]
		if !ok || r.Deleted != deleted || !deleted && r.Metadata == nil {
			t.Fatalf("bib %d: harvested %+v", id, ok)
		}
	}
	if sum.Pages != (len(want)+699)/700 {
		t.Errorf("%d pages", sum.Pages)
	}
	branch, _ := s.harvest(oai.HarvestOptions{Prefix: "oai_dc", Set: "library:BRANCH", IdentifiersOnly: true})
	if len(branch) == 0 || len(branch) >= len(want) {
		t.Errorf("library:BRANCH has %d of %d records", len(branch), len(want))
	}
	for _, r := range branch {
		if !slices.ContainsFunc(r.Sets, func(s string) bool { return strings.HasPrefix(s, "library:BRANCH") }) {
			t.Fatalf("%s in library:BRANCH with sets %v", r.Identifier, r.Sets)
		}
	}
	s.validate()
}

// TestIncrementalHarvestSeesEveryChange moves an item, deletes a record and
// adds one; a harvest from the previous harvest's responseDate returns
// exactly those three.
func TestIncrementalHarvestSeesEveryChange(t *testing.T) {
	db := openDB(t, demoFile(t))
	c := newClock(seedNow.Add(time.Hour))
	s := startServer(t, db, oai.Options{PageSize: 500, Now: c.now})
	_, first := s.harvest(oai.HarvestOptions{Prefix: "marc21_holdings", IdentifiersOnly: true})

	c.add(time.Hour)
	svc := service(t, db, c)
	moved, err := svc.MoveItem(ctx, staff, fixtures.ItemAvailable, "MAIN-REF", "")
	if err != nil {
		t.Fatal(err)
	}
	gone := itemOf(t, db, fixtures.ItemBranch).BibID
	if _, err := svc.DeleteBib(ctx, staff, gone); err != nil {
		t.Fatal(err)
	}
	added, err := svc.PutBibs(ctx, staff, newRecord("inc000000001", "Incremental harvesting explained"))
	if err != nil {
		t.Fatal(err)
	}
	c.add(time.Hour)

	recs, sum := s.harvest(oai.HarvestOptions{Prefix: "marc21_holdings", From: first.ResponseDate})
	want := []string{oaiID(moved.BibID), oaiID(gone), oaiID(added[0].Bib.ID)}
	var got []string
	for id := range recs {
		got = append(got, id)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) || sum.Deleted != 1 || !recs[oaiID(gone)].Deleted {
		t.Fatalf("incremental harvest: %v (deleted %d), want %v", got, sum.Deleted, want)
	}
	if !slices.Contains(recs[oaiID(moved.BibID)].Sets, "library:MAIN:MAIN-REF") {
		t.Errorf("moved item's record sets: %v", recs[oaiID(moved.BibID)].Sets)
	}
	if !strings.Contains(string(recs[oaiID(moved.BibID)].Metadata), "MAIN-REF") {
		t.Errorf("moved item's holdings do not show its new location")
	}
	// A selective harvest of the deleted record's set sees the deletion.
	branch, _ := s.harvest(oai.HarvestOptions{Prefix: "marc21", Set: "library:BRANCH:BRANCH-STACKS", From: first.ResponseDate})
	if len(branch) != 1 || !branch[oaiID(gone)].Deleted {
		t.Errorf("set harvest since the change: %+v", branch)
	}
	s.validate()
}

// TestResumeAfterRestart continues a list with a token issued before the
// server restarted on the reopened file, and replays the previous token.
func TestResumeAfterRestart(t *testing.T) {
	path := demoFile(t)
	c := newClock(seedNow.Add(time.Hour))
	db, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t, db, oai.Options{PageSize: 40, Now: c.now})
	doc := s.get("verb=ListIdentifiers&metadataPrefix=marc21")
	first := texts(doc, "/OAI-PMH/ListIdentifiers/header/identifier")
	tok1 := texts(doc, "/OAI-PMH/ListIdentifiers/resumptionToken")
	if len(first) != 40 || len(tok1) != 1 || tok1[0] == "" {
		t.Fatalf("first page: %d headers, token %v", len(first), tok1)
	}
	doc = s.get("verb=ListIdentifiers&resumptionToken=" + url.QueryEscape(tok1[0]))
	second := texts(doc, "/OAI-PMH/ListIdentifiers/header/identifier")
	tok2 := texts(doc, "/OAI-PMH/ListIdentifiers/resumptionToken")
	if cur := doc.FindElement("/OAI-PMH/ListIdentifiers/resumptionToken"); cur == nil || cur.SelectAttrValue("cursor", "") != "40" {
		t.Errorf("second page cursor")
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db2 := openDB(t, path)
	c.add(time.Hour)
	s2 := startServer(t, db2, oai.Options{PageSize: 40, Now: c.now})
	doc = s2.get("verb=ListIdentifiers&resumptionToken=" + url.QueryEscape(tok2[0]))
	third := texts(doc, "/OAI-PMH/ListIdentifiers/header/identifier")
	if len(third) != 40 || slices.Contains(second, third[0]) || slices.Contains(first, third[0]) {
		t.Fatalf("page after restart: %d headers starting %v", len(third), third[:min(1, len(third))])
	}
	if cur := doc.FindElement("/OAI-PMH/ListIdentifiers/resumptionToken"); cur == nil || cur.SelectAttrValue("cursor", "") != "80" {
		t.Errorf("third page cursor")
	}
	// The previous token gives the same page again.
	doc = s2.get("verb=ListIdentifiers&resumptionToken=" + url.QueryEscape(tok1[0]))
	if again := texts(doc, "/OAI-PMH/ListIdentifiers/header/identifier"); !slices.Equal(again, second) {
		t.Errorf("replayed token gave a different page")
	}
	s2.pages = append(s.pages, s2.pages...)
	s2.validate()
}

// TestCountMatchesListing checks list sizes, cached or not, against what
// the lists hold.
func TestCountMatchesListing(t *testing.T) {
	db := openDB(t, demoFile(t))
	repo := NewRepository(db, testOptions)
	until := seedNow.Add(time.Hour)
	for _, set := range []string{"", "library:BRANCH:BRANCH-MEDIA"} {
		rg := oai.Range{Until: until, Set: set}
		listed := 0
		if err := repo.List(ctx, oai.ListRequest{Range: rg, Limit: 1 << 30, HeadersOnly: true}, func(oai.Record) error { listed++; return nil }); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			n, err := repo.Count(ctx, rg)
			if err != nil || n != listed {
				t.Errorf("set %q: count %d, listed %d (%v)", set, n, listed, err)
			}
		}
	}
	// Past its TTL, a count is reused only while nothing commits.
	o := testOptions
	o.CountTTL = time.Nanosecond
	repo = NewRepository(db, o)
	rg := oai.Range{Until: until.Add(24 * time.Hour)}
	before, _ := repo.Count(ctx, rg)
	c := newClock(until)
	committed := db.Changed()
	if _, err := service(t, db, c).PutBibs(ctx, staff, newRecord("cnt000000001", "Counted")); err != nil {
		t.Fatal(err)
	}
	<-committed // the store announces a commit just after acknowledging it
	if after, _ := repo.Count(ctx, rg); after != before+1 {
		t.Errorf("count after an addition: %d, want %d", after, before+1)
	}
}

// TestListStreams checks that a page goes out while the repository is still
// reading it: the repository's 300th record is not read until the client
// holds bytes of the page.
func TestListStreams(t *testing.T) {
	db := openDB(t, demoFile(t))
	repo := NewRepository(db, testOptions)
	received := make(chan struct{})
	var gate blockingRepo
	gate.Repository, gate.at, gate.wait = repo, 300, received
	h := oai.NewHandler(&gate, oai.Options{PageSize: 400})
	srv := newStreamServer(t, h)
	resp, err := srv.Client().Get(srv.URL + "?verb=ListRecords&metadataPrefix=marc21_holdings")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 4096)
	if _, err := resp.Body.Read(buf); err != nil {
		t.Fatal(err)
	}
	close(received)
	rest, err := readAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if gate.timedOut.Load() {
		t.Fatal("the page was built in memory: no byte reached the client before the 300th record was read")
	}
	if !strings.HasSuffix(strings.TrimSpace(string(rest)), "</OAI-PMH>") {
		t.Fatal("page incomplete")
	}
}

func TestSetTokens(t *testing.T) {
	for code, want := range map[string]string{"MAIN-STACKS": "MAIN-STACKS", "RARE BOOKS": "RARE~20BOOKS", "a:b~c": "a~3Ab~7Ec", "Ü": "~C3~9C"} {
		if got := SetToken(code); got != want {
			t.Errorf("SetToken(%q) = %q, want %q", code, got, want)
		}
	}
	if got := LocationSet("MAIN", "RARE BOOKS"); got != "library:MAIN:RARE~20BOOKS" {
		t.Errorf("LocationSet %s", got)
	}
}

func TestRecordIDs(t *testing.T) {
	db := openDB(t, demoFile(t))
	repo := NewRepository(db, testOptions)
	for _, id := range []string{"", "0", "01", "-1", "x", strconv.Itoa(1 << 30)} {
		if _, err := repo.Record(ctx, id); err == nil {
			t.Errorf("record %q found", id)
		}
	}
	if _, err := repo.Record(ctx, "1"); err != nil {
		t.Error(err)
	}
}

// blockingRepo holds the listing at its at-th record until wait is closed
// (or, failing the test, for half a minute).
type blockingRepo struct {
	*Repository
	at       int
	wait     <-chan struct{}
	timedOut atomic.Bool
}

func (b *blockingRepo) List(ctx context.Context, req oai.ListRequest, fn func(oai.Record) error) error {
	n := 0
	return b.Repository.List(ctx, req, func(r oai.Record) error {
		if n++; n == b.at {
			t := time.NewTimer(30 * time.Second)
			defer t.Stop()
			select {
			case <-b.wait:
			case <-t.C:
				b.timedOut.Store(true)
			case <-ctx.Done():
			}
		}
		return fn(r)
	})
}

func newStreamServer(t *testing.T, h http.Handler) *httptest.Server {
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		srv.Client().Transport.(*http.Transport).CloseIdleConnections()
		srv.Close()
	})
	return srv
}

func readAll(r io.Reader) ([]byte, error) { return io.ReadAll(r) }

// FuzzSetToken checks that any code becomes one valid setSpec token and that
// different codes never share one.
func FuzzSetToken(f *testing.F) {
	for _, s := range []string{"MAIN", "MAIN-STACKS", "RARE BOOKS", "a:b", "~", "Ü", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, code string) {
		tok := SetToken(code)
		for i := 0; i < len(tok); i++ {
			c := tok[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_.!~*'()", c) >= 0) {
				t.Fatalf("SetToken(%q) = %q holds %q", code, tok, c)
			}
		}
		if code != "" && tok == "" {
			t.Fatalf("SetToken(%q) is empty", code)
		}
		var back []byte
		for i := 0; i < len(tok); i++ {
			if tok[i] == '~' {
				v, err := strconv.ParseUint(tok[i+1:i+3], 16, 8)
				if err != nil {
					t.Fatalf("SetToken(%q) = %q: bad escape", code, tok)
				}
				back = append(back, byte(v))
				i += 2
				continue
			}
			back = append(back, tok[i])
		}
		if string(back) != code {
			t.Fatalf("SetToken(%q) = %q decodes to %q", code, tok, back)
		}
	})
}
