package oai

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// reports collects what OnProblem receives.
type reports struct {
	mu   sync.Mutex
	list []Report
}

func (r *reports) add(rep Report) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.list = append(r.list, rep)
}

func (r *reports) take() []Report {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.list
	r.list = nil
	return out
}

func hasIssue(rep Report, where string, kind IssueKind) bool {
	return slices.ContainsFunc(rep.Issues, func(i Issue) bool { return i.Where == where && i.Kind == kind })
}

func dirtyRepo() *memRepo {
	repo := newRepo()
	dirty := []byte(`<?xml version="1.0" encoding="UTF-8"?>` +
		`<marc:collection xmlns:marc="http://www.loc.gov/MARC21/slim"><marc:record type="Bogus">` +
		`<marc:leader>01234nam  22bad    4500</marc:leader>` +
		`<marc:controlfield tag="001">d1</marc:controlfield>` +
		`<marc:datafield tag="245" ind1="#" ind2="A" id="x` + "\x01" + `"><marc:subfield code="a">Stray` + "\x1f" + `b delimiter` + "\x1b" + `(B and` + "\x1e" + `</marc:subfield>` +
		`<marc:subfield code="bb">dropped</marc:subfield><marc:subfield code="c">Caf` + "\xe9" + ` &eacute;crit &#x1F;ref</marc:subfield></marc:datafield>` +
		`<marc:datafield tag="500" ind1=" " ind2=" "><marc:subfield code="">only a bad code</marc:subfield></marc:datafield>` +
		`<marc:datafield tag="24" ind1=" " ind2=" "><marc:subfield code="a">bad tag</marc:subfield></marc:datafield>` +
		`<marc:controlfield tag="008">late control field</marc:controlfield>` +
		`<marc:note>unknown element</marc:note>` +
		`</marc:record><marc:record><marc:leader>second</marc:leader></marc:record></marc:collection>`)
	repo.recs = []Record{
		{ID: "d1", Datestamp: day(10), Sets: []string{"lib:MAIN", "bad set"}, MARCXML: dirty,
			Holdings: []Holding{{Institution: "CIRCA", Library: "MAIN", Location: "stacks", CallNumber: "QA76\x07 .D1",
				Items: []Item{{Barcode: "39000009", Status: "available"}}}, {}}},
		{ID: "d2", Datestamp: day(11), MARCXML: []byte("this is not XML")},
		{ID: "d3", Datestamp: day(12), MARCXML: []byte(`<record xmlns="http://www.loc.gov/MARC21/slim"><leader>`)},
		{ID: "d4", Datestamp: day(13)},
		{ID: "d5", Datestamp: day(14), MARCXML: []byte(`<html><body>oops</body></html>`)},
		{ID: "d6", Datestamp: day(15), MARCXML: []byte(`<record><controlfield tag="001">no namespace, no leader</controlfield>` +
			`<datafield tag="245" ind1="0" ind2="0"><subfield code="a">Plain</subfield></datafield></record>`)},
	}
	return repo
}

func TestHygieneNormalises(t *testing.T) {
	var got reports
	c, h := newServer(t, dirtyRepo(), Options{OnProblem: got.add})
	for _, prefix := range []string{"marc21", "marc21_holdings", "oai_dc"} {
		doc := c.get("verb=GetRecord&identifier=oai:library.example.edu:d1&metadataPrefix=" + prefix)
		reps := got.take()
		if len(reps) != 1 {
			t.Fatalf("%s: %d reports", prefix, len(reps))
		}
		rep := reps[0]
		if rep.Err != nil || rep.Identifier != "oai:library.example.edu:d1" || rep.Prefix != prefix {
			t.Errorf("%s: report %+v", prefix, rep)
		}
		for _, want := range []struct {
			where string
			kind  IssueKind
		}{
			{"245$a", IssueControlChar}, {"245$c", IssueInvalidUTF8}, {"245$c", IssueCharRef},
			{"leader", IssueLeader}, {"245 ind1", IssueIndicator}, {"245 ind2", IssueIndicator},
			{"245", IssueSubfieldCode}, {"500", IssueEmptyField}, {"24", IssueTag},
			{"008", IssueStructure}, {"MARCXML", IssueStructure}, {"setSpec", IssueSetSpec},
		} {
			if !hasIssue(rep, want.where, want.kind) {
				t.Errorf("%s: no %s issue at %s in %+v", prefix, want.kind, want.where, rep.Issues)
			}
		}
		if !hasIssue(rep, "245", IssueControlChar) {
			t.Errorf("%s: control character in a 245 attribute not located: %+v", prefix, rep.Issues)
		}
		if n := len(slices.DeleteFunc(slices.Clone(rep.Issues), func(i Issue) bool { return i.Kind != IssueControlChar || i.Where != "245$a" })); n != 3 {
			t.Errorf("%s: %d control characters reported, want 3", prefix, n)
		}
		if prefix == "marc21_holdings" && !hasIssue(rep, "852[1]$h", IssueControlChar) || prefix == "marc21_holdings" && !hasIssue(rep, "852[2]", IssueEmptyField) {
			t.Errorf("holdings issues missing: %+v", rep.Issues)
		}
		page := c.pages[len(c.pages)-1]
		// The one invalid UTF-8 byte is the only U+FFFD, and no forbidden byte is left
		// (oai_dc does not carry 245 $c.)
		if n := bytes.Count(page, []byte("\uFFFD")); n != 1 && prefix != "oai_dc" || n != 0 && prefix == "oai_dc" {
			t.Errorf("%s: %d U+FFFD in the page", prefix, n)
		}
		if i := bytes.IndexFunc(page, func(r rune) bool { return !isXMLChar(r) }); i >= 0 {
			t.Errorf("%s: forbidden character at %d", prefix, i)
		}
		if prefix != "oai_dc" {
			if got := text(t, doc, "//metadata/record/datafield[@tag='245']/subfield[@code='a']"); got != "Strayb delimiter(B and" {
				t.Errorf("245$a %q", got)
			}
			if got := text(t, doc, "//metadata/record/datafield[@tag='245']/subfield[@code='c']"); got != "Caf\uFFFD écrit ref" {
				t.Errorf("245$c %q", got)
			}
			f := doc.FindElement("//metadata/record/datafield[@tag='245']")
			if f.SelectAttrValue("ind1", "") != " " || f.SelectAttrValue("ind2", "") != "a" {
				t.Errorf("indicators %v", f.Attr)
			}
			if got := text(t, doc, "//metadata/record/leader"); got != "01234nam  22000    44500" {
				t.Errorf("leader %q", got)
			}
			var tags []string
			for _, e := range doc.FindElements("//metadata/record/*") {
				tags = append(tags, e.Tag+e.SelectAttrValue("tag", ""))
			}
			want := []string{"leader", "controlfield001", "controlfield008", "datafield245"}
			if prefix == "marc21_holdings" {
				want = append(want, "datafield852", "datafield876")
			}
			if !slices.Equal(tags, want) {
				t.Errorf("%s: fields %v, want %v", prefix, tags, want)
			}
		}
		if got := texts(doc, "//header/setSpec"); !slices.Equal(got, []string{"lib:MAIN"}) {
			t.Errorf("header setSpecs %v", got)
		}
	}
	st := h.Stats()
	if st.Reports != 3 || st.Unrenderable != 0 || st.Issues < 3*12 {
		t.Errorf("stats %+v", st)
	}
	c.validate()
}

func TestHygieneLeader(t *testing.T) {
	var details []string
	got := normaliseLeader("01234nam  22bad    4500", func(s string) { details = append(details, s) })
	if got != "01234nam  22000    44500" {
		t.Errorf("leader %q", got)
	}
	if !strings.Contains(strings.Join(details, ";"), "position 12") {
		t.Errorf("details %v", details)
	}
	if got := normaliseLeader("short", func(string) {}); len(got) != 24 {
		t.Errorf("short leader %q", got)
	}
	details = nil
	if got := normaliseLeader("00000cam a2200000 i 4500", func(s string) { details = append(details, s) }); got != "00000cam a2200000 i 4500" || details != nil {
		t.Errorf("valid leader changed to %q (%v)", got, details)
	}
}

func TestHygieneUnrenderable(t *testing.T) {
	var got reports
	c, h := newServer(t, dirtyRepo(), Options{OnProblem: got.add, PageSize: 10})
	doc := c.get("verb=ListRecords&metadataPrefix=marc21")
	recs := doc.FindElements("//ListRecords/record")
	if len(recs) != 6 {
		t.Fatalf("%d records on the page, want all 6", len(recs))
	}
	for i, rec := range recs {
		hasMeta := rec.SelectElement("metadata") != nil
		if want := i == 0 || i == 5; hasMeta != want {
			t.Errorf("record %d: metadata %v, want %v", i, hasMeta, want)
		}
		if rec.SelectElement("header").SelectAttr("status") != nil {
			t.Errorf("record %d published as deleted", i)
		}
	}
	var failed []string
	for _, r := range got.take() {
		if r.Err != nil {
			failed = append(failed, r.Identifier[len("oai:library.example.edu:"):])
		}
	}
	if !slices.Equal(failed, []string{"d2", "d3", "d4", "d5"}) {
		t.Errorf("unrenderable reported: %v", failed)
	}
	if st := h.Stats(); st.Unrenderable != 4 {
		t.Errorf("stats %+v", st)
	}
	// The same records as GetRecord: header alone.
	doc = c.get("verb=GetRecord&metadataPrefix=oai_dc&identifier=oai:library.example.edu:d2")
	if doc.FindElement("//GetRecord/record/header") == nil || doc.FindElement("//GetRecord/record/metadata") != nil {
		t.Error("unrenderable GetRecord is not a header alone")
	}
	// A record without namespace or leader is read leniently and given one.
	doc = c.get("verb=GetRecord&metadataPrefix=oai_dc&identifier=oai:library.example.edu:d6")
	if got := text(t, doc, "//metadata/dc/title"); got != "Plain" {
		t.Errorf("lenient record title %q", got)
	}
	c.validate()
}

func TestCleanText(t *testing.T) {
	var issues []Issue
	if got := cleanText("plain é text\t\n", "x", &issues); got != "plain é text\t\n" || issues != nil {
		t.Errorf("clean text changed: %q %v", got, issues)
	}
	got := cleanText("a\x00b\xffc\uFFFEd", "x", &issues)
	if got != "ab\uFFFDcd" || len(issues) != 3 {
		t.Errorf("cleanText = %q, %v", got, issues)
	}
}

// TestRandomRecordsValidate renders records with random leaders, tags,
// indicators, subfield codes and values (control characters, invalid UTF-8,
// markup characters included) and checks every page against the schemas.
func TestRandomRecordsValidate(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const alphabet = "0123456789abcAZ #|\\$&<>\"'\x00\x1b\x1f\x7f\xff\xc3\xa9é\U0001F4DA:;/=.-"
	pick := func(n int) string {
		var b strings.Builder
		for range n {
			i := rng.IntN(len(alphabet))
			b.WriteByte(alphabet[i])
		}
		return b.String()
	}
	esc := func(s string) string {
		r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;")
		return r.Replace(s)
	}
	repo := newRepo()
	repo.recs = nil
	for i := range 200 {
		var b strings.Builder
		b.WriteString(`<record xmlns="http://www.loc.gov/MARC21/slim"><leader>` + esc(pick(20+rng.IntN(8))) + `</leader>`)
		for range rng.IntN(4) {
			b.WriteString(`<controlfield tag="` + esc(pick(3)) + `">` + esc(pick(rng.IntN(40))) + `</controlfield>`)
		}
		for range rng.IntN(8) {
			tag := pick(3)
			if rng.IntN(2) == 0 {
				tag = []string{"245", "100", "650", "260", "264", "020", "041", "856", "520"}[rng.IntN(9)]
			}
			b.WriteString(`<datafield tag="` + esc(tag) + `" ind1="` + esc(pick(rng.IntN(2))) + `" ind2="` + esc(pick(1)) + `">`)
			for range rng.IntN(4) {
				b.WriteString(`<subfield code="` + esc(pick(rng.IntN(3))) + `">` + esc(pick(rng.IntN(30))) + `</subfield>`)
			}
			b.WriteString(`</datafield>`)
		}
		b.WriteString(`</record>`)
		repo.recs = append(repo.recs, Record{ID: pick(5), Datestamp: day(1).Add(time.Duration(i) * time.Second), Sets: []string{pick(4)},
			MARCXML: []byte(b.String()), Holdings: []Holding{{ID: pick(3), Institution: pick(3), Library: pick(3), Location: pick(8), CallNumber: pick(8),
				CallNumberType: pick(2), Items: []Item{{ID: pick(3), Barcode: pick(8), Status: pick(4)}}}}})
	}
	c, h := newServer(t, repo, Options{PageSize: 200})
	for _, p := range []string{"oai_dc", "marc21", "marc21_holdings"} {
		doc := c.get("verb=ListRecords&metadataPrefix=" + p)
		if n := len(doc.FindElements("//ListRecords/record")); n != 200 {
			t.Errorf("%s: %d records on the page", p, n)
		}
	}
	if st := h.Stats(); st.Unrenderable != 0 {
		t.Errorf("stats %+v", st)
	}
	c.validate()
}
