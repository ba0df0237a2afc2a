package responder

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"html"
	"strconv"
	"strings"
	"testing"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/fixtures"
	"github.com/circa-ils/circa/ncip"
	"github.com/circa-ils/circa/store"
)

// itemSetAnswer is a LookupItemSetResponse read by the paths VuFind's
// XCNCIP2 driver reads (getStatuses, getConsortialHoldings,
// getHoldingsForChunk): an element missing from its place reads as empty.
type itemSetAnswer struct {
	Problems []string `xml:"LookupItemSetResponse>Problem>ProblemType"`
	Bibs     []struct {
		RecordID string   `xml:"BibliographicId>BibliographicRecordId>BibliographicRecordIdentifier"`
		ItemID   string   `xml:"BibliographicId>BibliographicItemId>BibliographicItemIdentifier"`
		Problems []string `xml:"Problem>ProblemType"`
		Title    string   `xml:"BibliographicDescription>Title"`
		Holdings []struct {
			ID         string   `xml:"HoldingsSetId"`
			Problems   []string `xml:"Problem>ProblemType"`
			CallNumber string   `xml:"CallNumber"`
			Location   []string `xml:"Location>LocationName>LocationNameInstance>LocationNameValue"`
			Items      []struct {
				ID         string   `xml:"ItemId>ItemIdentifierValue"`
				IDType     string   `xml:"ItemId>ItemIdentifierType"`
				Agency     string   `xml:"ItemId>AgencyId"`
				Problems   []string `xml:"Problem>ProblemType"`
				Status     string   `xml:"ItemOptionalFields>CirculationStatus"`
				CallNumber string   `xml:"ItemOptionalFields>ItemDescription>CallNumber"`
				Location   []string `xml:"ItemOptionalFields>Location>LocationName>LocationNameInstance>LocationNameValue"`
				Queue      string   `xml:"ItemOptionalFields>HoldQueueLength"`
				DateDue    string   `xml:"ItemOptionalFields>DateDue"`
				DueOutside string   `xml:"DateDue"`
			} `xml:"ItemInformation"`
		} `xml:"HoldingsSet"`
	} `xml:"LookupItemSetResponse>BibInformation"`
	NextItemToken string `xml:"LookupItemSetResponse>NextItemToken"`
}

func readItemSet(t *testing.T, body []byte) itemSetAnswer {
	t.Helper()
	var a itemSetAnswer
	if err := xml.Unmarshal(body, &a); err != nil {
		t.Fatalf("unreadable answer: %v\n%s", err, body)
	}
	return a
}

// vufindItemSet builds the LookupItemSet VuFind's getStatusRequest sends:
// ns1 prefix, standalone declaration, its InitiationHeader, each id as a
// BibliographicItemId with the code Legal Deposit Number, its seven
// ItemElementTypes with their scheme, and the token of the last page.
func vufindItemSet(ids []string, token string) string {
	scheme := func(s string) string { return ` ns1:Scheme="` + s + `"` }
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` +
		`<ns1:NCIPMessage xmlns:ns1="http://www.niso.org/2008/ncip" ns1:version="http://www.niso.org/schemas/ncip/v2_02/ncip_v2_02.xsd">` +
		`<ns1:LookupItemSet><ns1:InitiationHeader><ns1:FromAgencyId><ns1:AgencyId>` + fixtures.PartnerAgency + `</ns1:AgencyId></ns1:FromAgencyId>` +
		`<ns1:ToAgencyId><ns1:AgencyId>` + fixtures.LocalAgency + `</ns1:AgencyId></ns1:ToAgencyId></ns1:InitiationHeader>`)
	for _, id := range ids {
		b.WriteString(`<ns1:BibliographicId><ns1:BibliographicItemId><ns1:BibliographicItemIdentifier>` + html.EscapeString(id) +
			`</ns1:BibliographicItemIdentifier><ns1:BibliographicItemIdentifierCode` +
			scheme("http://www.niso.org/ncip/v1_0/imp1/schemes/bibliographicitemidentifiercode/bibliographicitemidentifiercode.scm") +
			`>Legal Deposit Number</ns1:BibliographicItemIdentifierCode></ns1:BibliographicItemId></ns1:BibliographicId>`)
	}
	for _, e := range []string{"Bibliographic Description", "Circulation Status", "Electronic Resource", "Hold Queue Length",
		"Item Description", "Item Use Restriction Type", "Location"} {
		b.WriteString(`<ns1:ItemElementType` + scheme(ncip.SchemeItemElementType) + `>` + e + `</ns1:ItemElementType>`)
	}
	if token != "" {
		b.WriteString(`<ns1:NextItemToken>` + html.EscapeString(token) + `</ns1:NextItemToken>`)
	}
	b.WriteString(`</ns1:LookupItemSet></ns1:NCIPMessage>`)
	return b.String()
}

// bibOf returns the bib id and 001 of an item's title.
func (e *env) bibOf(barcode string) (store.Item, store.Bib) {
	e.t.Helper()
	var it store.Item
	var b store.Bib
	err := e.db.View(context.Background(), func(tx store.Tx) error {
		var err error
		if it, err = tx.ItemByBarcode(barcode); err != nil {
			return err
		}
		b, err = tx.Bib(it.BibID)
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return it, b
}

// addCopies adds n copies of an item to its title, at its location.
func (e *env) addCopies(of store.Item, n int) []string {
	e.t.Helper()
	var out []string
	for i := range n {
		bc := fmt.Sprintf("%s-C%02d", of.Barcode, i)
		_, err := e.svc.AddItem(context.Background(), circ.Agent{Protocol: "staff", Account: "test", Library: of.Library},
			circ.NewItem{BibID: of.BibID, Barcode: bc, Location: of.Location, Policy: of.Policy})
		if err != nil {
			e.t.Fatal(err)
		}
		out = append(out, bc)
	}
	return out
}

// TestLookupItemSetVuFind replays the requests VuFind's XCNCIP2 driver
// builds for a result list and a record's holdings, paging with its
// NextItemToken loop, and checks each element the driver reads is where
// it reads it: the title's id, the items' barcodes, status, call number,
// location and due date.
func TestLookupItemSetVuFind(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, loanedBib := e.bibOf(fixtures.ItemOnLoan)
	avail, availBib := e.bibOf(fixtures.ItemAvailable)
	copies := e.addCopies(avail, 120) // more than one page of the default size
	ids := []string{strconv.FormatUint(loanedBib.ID, 10), "NO-SUCH-TITLE", strconv.FormatUint(availBib.ID, 10)}
	if loanedBib.ControlNumber != "" {
		ids[0] = loanedBib.ControlNumber // VuFind's record id is the 001
	}
	seen := map[string]map[string]string{} // bib → barcode → status
	bibProblems := map[string][]string{}
	token, pages := "", 0
	e.unchanged("LookupItemSet", func() {
		for {
			pages++
			if pages > 10 {
				t.Fatal("the NextItemToken loop does not end")
			}
			status, body := e.post("/ncip", fixtures.PartnerKey, vufindItemSet(ids, token), true)
			a := readItemSet(t, body)
			if status != 200 || len(a.Problems) > 0 {
				t.Fatalf("page %d: status %d, problems %v\n%s", pages, status, a.Problems, body)
			}
			for _, b := range a.Bibs {
				bib := b.RecordID + b.ItemID
				if bib == "" {
					t.Fatalf("a BibInformation without the BibliographicId VuFind requires:\n%s", body)
				}
				bibProblems[bib] = append(bibProblems[bib], b.Problems...)
				for _, h := range b.Holdings {
					for _, it := range h.Items {
						if seen[bib] == nil {
							seen[bib] = map[string]string{}
						}
						if _, dup := seen[bib][it.ID]; dup {
							t.Fatalf("item %s given twice", it.ID)
						}
						seen[bib][it.ID] = it.Status
						if it.IDType != "Barcode" || it.Agency != fixtures.LocalAgency {
							t.Errorf("item %s: type %q agency %q", it.ID, it.IDType, it.Agency)
						}
						if len(it.Location) == 0 || it.Location[0] == "" || it.CallNumber == "" && h.CallNumber == "" {
							t.Errorf("item %s: location %v, call number %q/%q", it.ID, it.Location, it.CallNumber, h.CallNumber)
						}
						if it.Queue == "" {
							t.Errorf("item %s: no HoldQueueLength", it.ID)
						}
						if it.DateDue != "" || it.DueOutside != "" {
							t.Errorf("item %s: a DateDue not asked for", it.ID)
						}
					}
				}
			}
			if a.NextItemToken == "" {
				break
			}
			token = a.NextItemToken
		}
	})
	if pages < 2 {
		t.Fatalf("%d items answered in %d page", len(copies)+2, pages)
	}
	if got := seen[ids[0]][fixtures.ItemOnLoan]; got != "On Loan" {
		t.Errorf("item on loan: status %q", got)
	}
	if got := seen[ids[2]][fixtures.ItemAvailable]; got != "Available On Shelf" {
		t.Errorf("available item: status %q (VuFind counts only Available On Shelf and Not Charged as available)", got)
	}
	for _, bc := range copies {
		if seen[ids[2]][bc] != "Available On Shelf" {
			t.Errorf("copy %s: %q", bc, seen[ids[2]][bc])
		}
	}
	if p := bibProblems["NO-SUCH-TITLE"]; len(p) != 1 || p[0] != ncip.UnknownItem {
		t.Errorf("unknown title: problems %v", p)
	}
	if len(bibProblems[ids[0]])+len(bibProblems[ids[2]]) > 0 {
		t.Errorf("known titles with problems: %v", bibProblems)
	}
}

// TestLookupItemSetElements: by ItemId and by BibliographicRecordId, each
// asked element is written where the schema has it and nothing else is;
// an unknown item gets its Problem beside the known ones.
func TestLookupItemSetElements(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, bib := e.bibOf(fixtures.ItemOnLoan)
	r := e.ill("LookupItemSet", "item="+fixtures.ItemOnLoan, "item=NO-SUCH-ITEM", "item="+fixtures.ItemAvailable)
	ok(t, "by item", r)
	a := readItemSet(t, r.Body)
	if len(a.Bibs) != 3 || a.NextItemToken != "" {
		t.Fatalf("%d titles, token %q:\n%s", len(a.Bibs), a.NextItemToken, r.Body)
	}
	onLoan := a.Bibs[0].Holdings[0].Items[0]
	if onLoan.ID != fixtures.ItemOnLoan || onLoan.Status != "On Loan" || onLoan.DateDue == "" || onLoan.CallNumber == "" {
		t.Errorf("item on loan: %+v", onLoan)
	}
	if a.Bibs[0].Title != bib.Title {
		t.Errorf("title %q, want %q", a.Bibs[0].Title, bib.Title)
	}
	unknown := a.Bibs[1].Holdings[0].Items[0]
	if unknown.ID != "NO-SUCH-ITEM" || len(unknown.Problems) != 1 || unknown.Problems[0] != ncip.UnknownItem {
		t.Errorf("unknown item: %+v", unknown)
	}
	if a.Bibs[2].Holdings[0].Items[0].DateDue != "" {
		t.Errorf("an available item with a due date")
	}
	// Only what is asked for.
	bare := e.ill("LookupItemSet", "bib="+strconv.FormatUint(bib.ID, 10), "elements=Circulation Status")
	ok(t, "status only", bare)
	for _, not := range []string{"BibliographicDescription", "Location", "CallNumber", "DateDue", "HoldQueueLength"} {
		if bytes.Contains(bare.Body, []byte(not)) {
			t.Errorf("%s not asked for:\n%s", not, bare.Body)
		}
	}
	b := readItemSet(t, bare.Body)
	if len(b.Bibs) != 1 || b.Bibs[0].RecordID != strconv.FormatUint(bib.ID, 10) {
		t.Fatalf("the BibliographicId asked for is not echoed:\n%s", bare.Body)
	}
	// By holding: its items only, and a Problem for an unknown one.
	avail, _ := e.bibOf(fixtures.ItemAvailable)
	holding := strconv.FormatUint(avail.HoldingID, 10)
	hr := e.raw(fixtures.PartnerKey, `<LookupItemSet><HoldingsSetId>`+holding+`</HoldingsSetId><HoldingsSetId>999999</HoldingsSetId>`+
		`<ItemElementType>Circulation Status</ItemElementType></LookupItemSet>`)
	ok(t, "by holding", hr)
	h := readItemSet(t, hr.Body)
	if len(h.Bibs) != 2 || len(h.Bibs[0].Holdings) != 1 || h.Bibs[0].Holdings[0].ID != holding {
		t.Fatalf("by holding:\n%s", hr.Body)
	}
	for _, it := range h.Bibs[0].Holdings[0].Items {
		if it.ID == fixtures.ItemOnLoan {
			t.Errorf("an item of another holding")
		}
	}
	if len(h.Bibs[0].Holdings[0].Items) == 0 || h.Bibs[1].Holdings[0].ID != "999999" || len(h.Bibs[1].Holdings[0].Problems) != 1 {
		t.Fatalf("by holding:\n%s", hr.Body)
	}
	problem(t, "nothing named", e.raw(fixtures.PartnerKey, `<LookupItemSet><ItemElementType>Location</ItemElementType></LookupItemSet>`), ncip.NeededDataMissing)
}

// TestLookupItemSetPaging: pages of MaximumItemsCount items cover every
// item once, across a restart; a token altered, forged, or used with another request is
// refused with a Problem and changes nothing; MaximumItemsCount that is not
// a positive number is refused, one of 10^9 is bounded.
func TestLookupItemSetPaging(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	avail, bib := e.bibOf(fixtures.ItemAvailable)
	copies := e.addCopies(avail, 7)
	id := "bib=" + strconv.FormatUint(bib.ID, 10)
	got := map[string]bool{}
	var tokens []string
	token := ""
	for range 10 {
		fields := []string{id, "max=3"}
		if token != "" {
			fields = append(fields, "token="+token)
		}
		r := e.ill("LookupItemSet", fields...)
		ok(t, "page", r)
		a := readItemSet(t, r.Body)
		n := 0
		for _, b := range a.Bibs {
			for _, h := range b.Holdings {
				for _, it := range h.Items {
					got[it.ID] = true
					n++
				}
			}
		}
		if n == 0 || n > 3 {
			t.Fatalf("%d items in a page of 3:\n%s", n, r.Body)
		}
		if token = a.NextItemToken; token == "" {
			break
		}
		tokens = append(tokens, token)
		if len(tokens) == 1 {
			e.restart() // a harvester's next page may come after circa restarts
		}
	}
	if len(got) != len(copies)+1 || !got[fixtures.ItemAvailable] {
		t.Fatalf("items seen %v, want %d", got, len(copies)+1)
	}
	if len(tokens) != 2 {
		t.Fatalf("%d tokens for 8 items in pages of 3", len(tokens))
	}
	e.unchanged("bad tokens", func() {
		tok := tokens[0]
		flipped := []byte(tok)
		flipped[len(flipped)/2] ^= 1
		for name, bad := range map[string]string{
			"altered":       string(flipped),
			"forged":        "AQEA" + strings.Repeat("A", 32),
			"not base64":    "%%%",
			"long":          strings.Repeat("A", 5000),
			"other request": tok, // with another bib list below
		} {
			fields := []string{id, "token=" + bad}
			if name == "other request" {
				fields = append(fields, "bib=NO-SUCH-TITLE")
			}
			p := problem(t, name, e.ill("LookupItemSet", fields...), ncip.ElementRuleViolated)
			if p.Element != "NextItemToken" {
				t.Errorf("%s: element %q", name, p.Element)
			}
		}
		for _, bad := range []string{"0", "-4", "ten", ""} {
			r := e.raw(fixtures.PartnerKey, `<LookupItemSet><InitiationHeader><FromAgencyId><AgencyId>`+fixtures.PartnerAgency+`</AgencyId></FromAgencyId><ToAgencyId><AgencyId>`+
				fixtures.LocalAgency+`</AgencyId></ToAgencyId></InitiationHeader><ItemId><ItemIdentifierValue>`+fixtures.ItemAvailable+
				`</ItemIdentifierValue></ItemId><MaximumItemsCount>`+bad+`</MaximumItemsCount></LookupItemSet>`)
			problem(t, "MaximumItemsCount "+bad, r, ncip.ElementRuleViolated)
		}
	})
}

// TestLookupItemSetBounds: a request naming more titles than one answer
// holds, asking for 10^9 items a page, is answered in bounded pages that
// together give every title once, unknown ones included.
func TestLookupItemSetBounds(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	avail, bib := e.bibOf(fixtures.ItemAvailable)
	e.addCopies(avail, itemSetMaxItems+20)
	const titles = 3*itemSetMaxTitles + 7
	fields := []string{"max=1000000000", "elements=Circulation Status"}
	want := map[string]bool{}
	for i := range titles {
		id := fmt.Sprintf("MISSING-%03d", i)
		if i == 1 {
			id = strconv.FormatUint(bib.ID, 10)
		}
		want[id] = true
		fields = append(fields, "bib="+id)
	}
	seen := map[string]bool{}
	token, pages := "", 0
	for {
		pages++
		if pages > 2*titles {
			t.Fatal("paging does not end")
		}
		f := fields
		if token != "" {
			f = append(append([]string{}, fields...), "token="+token)
		}
		r := e.ill("LookupItemSet", f...)
		ok(t, "page", r)
		a := readItemSet(t, r.Body)
		items := 0
		for _, b := range a.Bibs {
			seen[b.RecordID] = true
			for _, h := range b.Holdings {
				items += len(h.Items)
			}
		}
		if len(a.Bibs) > itemSetMaxTitles || items > itemSetMaxItems {
			t.Fatalf("page %d: %d titles, %d items", pages, len(a.Bibs), items)
		}
		if token = a.NextItemToken; token == "" {
			break
		}
	}
	if len(seen) != len(want) {
		t.Fatalf("%d titles answered of %d", len(seen), len(want))
	}
	if pages < titles/itemSetMaxTitles+1 {
		t.Fatalf("%d pages", pages)
	}
}
