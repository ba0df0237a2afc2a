package oai

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
)

// ids returns the identifiers of a list page, without the repository prefix.
func ids(doc *etree.Document) []string {
	var out []string
	for _, e := range doc.FindElements("//header/identifier") {
		out = append(out, e.Text()[len("oai:library.example.edu:"):])
	}
	return out
}

func token(t *testing.T, doc *etree.Document) (tok string, cursor, size int, present bool) {
	t.Helper()
	e := doc.FindElement("//resumptionToken")
	if e == nil {
		return "", 0, 0, false
	}
	cursor, err1 := strconv.Atoi(e.SelectAttrValue("cursor", ""))
	size, err2 := strconv.Atoi(e.SelectAttrValue("completeListSize", ""))
	if err1 != nil || err2 != nil {
		t.Fatalf("resumptionToken attributes %v", e.Attr)
	}
	return e.Text(), cursor, size, true
}

func TestListRecordsPaging(t *testing.T) {
	for _, verb := range []string{"ListRecords", "ListIdentifiers"} {
		t.Run(verb, func(t *testing.T) {
			c, _ := newServer(t, newRepo(), Options{PageSize: 2})
			var got []string
			doc := c.get("verb=" + verb + "&metadataPrefix=marc21")
			var pages []*etree.Document
			var toks []string
			for i := 0; ; i++ {
				pages = append(pages, doc)
				got = append(got, ids(doc)...)
				tok, cursor, size, ok := token(t, doc)
				if !ok {
					t.Fatalf("page %d has no resumptionToken", i)
				}
				if cursor != 2*i || size != 6 {
					t.Errorf("page %d: cursor %d size %d", i, cursor, size)
				}
				if tok == "" {
					break
				}
				toks = append(toks, tok)
				doc = c.get("verb=" + verb + "&resumptionToken=" + url.QueryEscape(tok))
				if attrs := requestAttrs(doc); len(attrs) != 2 || attrs["resumptionToken"] != tok {
					t.Errorf("resumed request attributes %v", attrs)
				}
			}
			if want := []string{"b1", "b2", "b3", "b4", "b5", "b%206/%C3%A9"}; !slices.Equal(got, want) {
				t.Errorf("harvested %v, want %v", got, want)
			}
			if len(pages) != 3 {
				t.Errorf("%d pages, want 3", len(pages))
			}
			// Replaying the previous token, and then the latest, returns the same pages.
			for i := len(toks) - 1; i >= 0; i-- {
				before := c.pages[i+1]
				c.get("verb=" + verb + "&resumptionToken=" + url.QueryEscape(toks[i]))
				if !bytes.Equal(c.pages[len(c.pages)-1], before) {
					t.Errorf("replaying token %d gave a different page", i)
				}
			}
			if verb == "ListIdentifiers" && pages[0].FindElement("//metadata") != nil {
				t.Error("ListIdentifiers carries metadata")
			}
			c.validate()
		})
	}
}

func TestTokens(t *testing.T) {
	repo := newRepo()
	c, _ := newServer(t, repo, Options{PageSize: 2})
	tok, _, _, _ := token(t, c.get("verb=ListRecords&metadataPrefix=oai_dc"))
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) string {
		b := slices.Clone(raw)
		b[i] ^= 1
		return base64.RawURLEncoding.EncodeToString(b)
	}
	otherKey := encodeToken([]byte("another key"), listState{verb: "ListRecords", prefix: "oai_dc", until: testNow, cursor: 2})
	cases := map[string]string{
		"tampered cursor": "verb=ListRecords&resumptionToken=" + flip(len(raw)-17),
		"tampered prefix": "verb=ListRecords&resumptionToken=" + flip(3),
		"tampered mac":    "verb=ListRecords&resumptionToken=" + flip(len(raw)-1),
		"truncated":       "verb=ListRecords&resumptionToken=" + tok[:len(tok)-4],
		"garbage":         "verb=ListRecords&resumptionToken=%21%21not-a-token",
		"other key":       "verb=ListRecords&resumptionToken=" + otherKey,
		"other verb":      "verb=ListIdentifiers&resumptionToken=" + tok,
		"sets verb":       "verb=ListSets&resumptionToken=" + tok,
		"empty":           "verb=ListRecords&resumptionToken=",
	}
	for name, q := range cases {
		doc := c.get(q)
		if codes := errorCodes(doc); !slices.Equal(codes, []string{"badResumptionToken"}) {
			t.Errorf("%s: codes %v", name, codes)
		}
		if attrs := requestAttrs(doc); attrs["verb"] == "" {
			t.Errorf("%s: badResumptionToken should echo the request, got %v", name, attrs)
		}
	}

	// The upper bound is frozen when the list starts: a record changed after
	// that moves out of this list, and the rest of the list is unaffected.
	repo.update(func() { repo.recs[0].Datestamp = testNow.Add(time.Hour) }) // b1 changes after the harvest began
	doc := c.get("verb=ListRecords&resumptionToken=" + tok)
	if got := ids(doc); !slices.Equal(got, []string{"b3", "b4"}) {
		t.Errorf("after a change, resumed page %v", got)
	}
	if _, _, size, _ := token(t, doc); size != 5 {
		t.Errorf("completeListSize after a change %d, want 5", size)
	}
	c.validate()
}

func TestTokenExpiry(t *testing.T) {
	now := testNow
	c, _ := newServer(t, newRepo(), Options{PageSize: 2, TokenTTL: time.Hour, Now: func() time.Time { return now }})
	doc := c.get("verb=ListIdentifiers&metadataPrefix=oai_dc")
	e := doc.FindElement("//resumptionToken")
	if got := e.SelectAttrValue("expirationDate", ""); got != "2025-06-01T13:00:00Z" {
		t.Errorf("expirationDate %q", got)
	}
	now = now.Add(59 * time.Minute)
	if codes := errorCodes(c.get("verb=ListIdentifiers&resumptionToken=" + e.Text())); len(codes) != 0 {
		t.Errorf("fresh token refused: %v", codes)
	}
	now = now.Add(2 * time.Minute)
	if codes := errorCodes(c.get("verb=ListIdentifiers&resumptionToken=" + e.Text())); !slices.Equal(codes, []string{"badResumptionToken"}) {
		t.Errorf("expired token: %v", codes)
	}
	c.validate()
}

func TestListBoundaries(t *testing.T) {
	c, _ := newServer(t, newRepo(), Options{PageSize: 2})
	cases := []struct {
		query string
		want  []string
	}{
		// from and until are inclusive at second granularity.
		{"from=2025-01-03T10:00:00Z&until=2025-01-04T23:59:59Z", []string{"b2", "b3", "b4"}},
		{"from=2025-01-03T10:00:01Z&until=2025-01-04T23:59:58Z", nil},
		// A day until covers that whole day.
		{"from=2025-01-04&until=2025-01-04", []string{"b4"}},
		{"until=2025-01-02", []string{"b1"}},
		{"from=2025-01-06", []string{"b%206/%C3%A9"}},
		{"from=2025-01-05T00:00:00Z&until=2025-01-05T00:00:00Z", []string{"b5"}},
		// Sets select descendants too.
		{"set=lib:LAW", []string{"b2"}},
		{"set=lib&from=2025-01-03&until=2025-01-04", []string{"b2", "b3", "b4"}},
		{"set=lib:NONE", nil},
		{"set=li", nil},
		{"from=2030-01-01", nil},
	}
	for _, tc := range cases {
		doc := c.get("verb=ListIdentifiers&metadataPrefix=oai_dc&" + tc.query)
		got := ids(doc)
		if tc.want == nil {
			if codes := errorCodes(doc); !slices.Equal(codes, []string{"noRecordsMatch"}) {
				t.Errorf("%s: codes %v", tc.query, codes)
			}
			continue
		}
		if _, _, _, ok := token(t, doc); len(tc.want) <= 2 && ok {
			t.Errorf("%s: a list that fits in one page has a resumptionToken", tc.query)
		}
		if len(tc.want) > 2 {
			tok, _, size, _ := token(t, doc)
			if size != len(tc.want) {
				t.Errorf("%s: completeListSize %d, want %d", tc.query, size, len(tc.want))
			}
			got = append(got, ids(c.get("verb=ListIdentifiers&resumptionToken="+tok))...)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.query, got, tc.want)
		}
	}
	c.validate()
}

func TestListOfExactlyOneAndOfOnePage(t *testing.T) {
	repo := newRepo()
	repo.recs = repo.recs[:1]
	for _, size := range []int{1, 2} {
		c, _ := newServer(t, repo, Options{PageSize: size})
		doc := c.get("verb=ListRecords&metadataPrefix=marc21")
		if got := ids(doc); !slices.Equal(got, []string{"b1"}) {
			t.Errorf("page size %d: %v", size, got)
		}
		if doc.FindElement("//resumptionToken") != nil {
			t.Errorf("page size %d: a complete one-record list has a resumptionToken", size)
		}
		c.validate()
	}
	// A list exactly two pages long ends with an empty token on the second page.
	repo = newRepo()
	repo.recs = repo.recs[:4]
	c, _ := newServer(t, repo, Options{PageSize: 2})
	tok, _, _, _ := token(t, c.get("verb=ListRecords&metadataPrefix=oai_dc"))
	doc := c.get("verb=ListRecords&resumptionToken=" + tok)
	if tok, cursor, size, ok := token(t, doc); !ok || tok != "" || cursor != 2 || size != 4 {
		t.Errorf("closing token %q cursor %d size %d present %v", tok, cursor, size, ok)
	}
	c.validate()
}

func TestDeletedInLists(t *testing.T) {
	c, _ := newServer(t, newRepo(), Options{})
	doc := c.get("verb=ListRecords&metadataPrefix=oai_dc&from=2025-01-03&until=2025-01-03")
	recs := doc.FindElements("//ListRecords/record")
	if len(recs) != 2 {
		t.Fatalf("%d records", len(recs))
	}
	if h := recs[1].SelectElement("header"); h.SelectAttrValue("status", "") != "deleted" || recs[1].SelectElement("metadata") != nil {
		t.Errorf("deleted record b3 rendered as %v", recs[1])
	}
	if recs[0].SelectElement("metadata") == nil || recs[0].SelectElement("header").SelectAttr("status") != nil {
		t.Error("live record b2 rendered without metadata or with a status")
	}
	doc = c.get("verb=ListIdentifiers&metadataPrefix=oai_dc&set=lib:MAIN")
	var deleted []string
	for _, h := range doc.FindElements("//header[@status='deleted']") {
		deleted = append(deleted, h.SelectElement("identifier").Text())
	}
	if !slices.Equal(deleted, []string{"oai:library.example.edu:b3"}) {
		t.Errorf("deleted headers in a set harvest: %v", deleted)
	}
	c.validate()
}

func TestGzip(t *testing.T) {
	c, _ := newServer(t, newRepo(), Options{})
	// The transport asks for gzip itself only when the request does not; ask
	// explicitly to see the encoded bytes.
	for _, tc := range []struct {
		accept string
		gz     bool
	}{{"gzip", true}, {"br, gzip;q=0.5", true}, {"gzip;q=0", false}, {"identity", false}, {"", false}} {
		req, _ := http.NewRequest("GET", c.url+"?verb=ListRecords&metadataPrefix=marc21", nil)
		if tc.accept != "" {
			req.Header.Set("Accept-Encoding", tc.accept)
		} else {
			c.http.Transport.(*http.Transport).DisableCompression = true
		}
		resp, err := c.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.Header.Get("Content-Encoding") == "gzip"; got != tc.gz {
			t.Errorf("Accept-Encoding %q: gzip %v", tc.accept, got)
		}
		if resp.Header.Get("Vary") != "Accept-Encoding" {
			t.Errorf("Vary %q", resp.Header.Get("Vary"))
		}
		if tc.gz {
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if body, err = io.ReadAll(zr); err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Contains(body, []byte("<ListRecords>")) {
			t.Errorf("Accept-Encoding %q: body %.200s", tc.accept, body)
		}
		c.pages = append(c.pages, body)
	}
	c.validate()
}

func TestRepositoryFailures(t *testing.T) {
	repo := newRepo()
	repo.listErr = errors.New("disk on fire")
	c, _ := newServer(t, repo, Options{PageSize: 3})
	// Before any record is written: a plain 500.
	resp, err := c.http.Get(c.url + "?verb=ListRecords&metadataPrefix=oai_dc")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("status %d", resp.StatusCode)
	}
	// In the middle of a page: the response is cut off, never a short list that
	// looks complete.
	repo.update(func() { repo.failAt = 2 })
	for _, q := range []string{"verb=ListRecords&metadataPrefix=oai_dc", "verb=ListIdentifiers&metadataPrefix=oai_dc"} {
		if body, complete := fetchAll(c, q); complete {
			t.Errorf("%s: a failed page arrived complete: %s", q, body)
		}
	}
	// Count failing after the records were written also cuts the page off.
	repo.update(func() { repo.listErr, repo.countErr = nil, errors.New("index gone") })
	if body, complete := fetchAll(c, "verb=ListRecords&metadataPrefix=oai_dc"); complete {
		t.Errorf("a page whose count failed arrived complete: %s", body)
	}
}

// fetchAll GETs a page and reports whether it arrived whole and well-formed.
func fetchAll(c *oaiClient, query string) ([]byte, bool) {
	resp, err := c.http.Get(c.url + "?" + query)
	if err != nil {
		return nil, false
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return body, false
	}
	return body, etree.NewDocument().ReadFromBytes(body) == nil
}

// blockingRepo holds List after a few records until released.
type blockingRepo struct {
	*memRepo
	after   int
	release chan struct{}
}

func (b *blockingRepo) List(ctx context.Context, req ListRequest, fn func(Record) error) error {
	n := 0
	return b.memRepo.List(ctx, req, func(r Record) error {
		if n == b.after {
			<-b.release
		}
		n++
		return fn(r)
	})
}

// TestListStreams shows a page reaches the client while the repository is
// still producing it: the repository waits for the client to have read the
// first record before it yields the rest.
func TestListStreams(t *testing.T) {
	repo := newRepo()
	big := strings.Repeat("A long summary. ", 2500) // 40 kB, more than the write buffer
	repo.recs = repo.recs[:4]
	for i := range repo.recs {
		repo.recs[i].Deleted = false
		repo.recs[i].MARCXML = marcXML("x", "Big", `<datafield tag="520" ind1=" " ind2=" "><subfield code="a">`+big+`</subfield></datafield>`)
	}
	br := &blockingRepo{memRepo: repo, after: 2, release: make(chan struct{})}
	c, _ := newServer(t, br, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", c.url+"?verb=ListRecords&metadataPrefix=marc21", nil)
	req.Header.Set("Accept-Encoding", "identity") // repeated text would sit in the compressor
	resp, err := c.http.Do(req)
	if err != nil {
		close(br.release)
		t.Fatalf("no response while the repository was still listing: %v", err)
	}
	defer resp.Body.Close()
	var body []byte
	buf := make([]byte, 4096)
	for !bytes.Contains(body, []byte("oai:library.example.edu:b1")) {
		n, err := resp.Body.Read(buf)
		body = append(body, buf[:n]...)
		if err != nil {
			close(br.release)
			t.Fatalf("read before the first record arrived: %v", err)
		}
	}
	close(br.release)
	rest, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	body = append(body, rest...)
	c.pages = append(c.pages, body)
	if n := bytes.Count(body, []byte("<header>")); n != 4 {
		t.Errorf("%d records", n)
	}
	c.validate()
}

// TestSubSecondDatestamps: a repository keeping finer datestamps lists in its
// own order, resumes at the exact position, and publishes whole seconds.
func TestSubSecondDatestamps(t *testing.T) {
	repo := newRepo()
	at := day(20, 10, 0, 0)
	repo.recs = []Record{
		{ID: "b", Datestamp: at.Add(300 * time.Millisecond), MARCXML: marcXML("b", "B")},
		{ID: "z", Datestamp: at.Add(100 * time.Millisecond), MARCXML: marcXML("z", "Z")},
		{ID: "a", Datestamp: at.Add(900 * time.Millisecond), MARCXML: marcXML("a", "A")},
		{ID: "y", Datestamp: at.Add(time.Second), MARCXML: marcXML("y", "Y")},
	}
	c, _ := newServer(t, repo, Options{PageSize: 1})
	var got []string
	doc := c.get("verb=ListIdentifiers&metadataPrefix=oai_dc&from=2025-01-20T10:00:00Z&until=2025-01-20T10:00:00Z")
	for {
		got = append(got, ids(doc)...)
		for _, ds := range texts(doc, "//header/datestamp") {
			if ds != "2025-01-20T10:00:00Z" {
				t.Errorf("datestamp %s", ds)
			}
		}
		tok, _, size, _ := token(t, doc)
		if size != 3 {
			t.Errorf("completeListSize %d", size)
		}
		if tok == "" {
			break
		}
		doc = c.get("verb=ListIdentifiers&resumptionToken=" + tok)
	}
	if !slices.Equal(got, []string{"z", "b", "a"}) {
		t.Errorf("order %v", got)
	}
	c.validate()
}
