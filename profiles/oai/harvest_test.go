package oai

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/beevik/etree"

	"github.com/circa-ils/circa/internal/conformance"
	"github.com/circa-ils/circa/schemas"
)

func TestHarvestRoundTrip(t *testing.T) {
	c, _ := newServer(t, newRepo(), Options{PageSize: 2})
	base := c.url
	for _, prefix := range []string{"oai_dc", "marc21", "marc21_holdings"} {
		var pages [][]byte
		var got []HarvestedRecord
		sum, err := Harvest(context.Background(), base, HarvestOptions{Prefix: prefix, Client: c.http,
			Validate: func(p []byte) error { pages = append(pages, p); return nil }},
			func(r HarvestedRecord) error { got = append(got, r); return nil })
		if err != nil {
			t.Fatalf("%s: %v", prefix, err)
		}
		want := HarvestSummary{Pages: 3, Records: 6, Deleted: 1, CompleteListSize: 6, ResponseDate: "2025-06-01T12:00:00Z"}
		if sum != want {
			t.Errorf("%s: summary %+v, want %+v", prefix, sum, want)
		}
		if len(got) != 6 || got[2].Identifier != "oai:library.example.edu:b3" || !got[2].Deleted || got[2].Metadata != nil {
			t.Fatalf("%s: records %+v", prefix, got)
		}
		if !slices.Equal(got[0].Sets, []string{"lib:MAIN"}) || got[0].Datestamp != "2025-01-02T09:00:00Z" {
			t.Errorf("%s: first header %+v", prefix, got[0])
		}
		// Each record's metadata stands alone with its namespace declarations.
		md := etree.NewDocument()
		if err := md.ReadFromBytes(got[0].Metadata); err != nil {
			t.Fatalf("%s: metadata: %v", prefix, err)
		}
		wantNS := nsMARC
		if prefix == "oai_dc" {
			wantNS = dcNS
		}
		if md.Root().NamespaceURI() != wantNS || md.Root().SelectAttr("xsi:schemaLocation") == nil {
			t.Errorf("%s: metadata root %s in %q", prefix, md.Root().Tag, md.Root().NamespaceURI())
		}
		c.pages = append(c.pages, pages...)
	}
	// Headers only, selectively.
	sum, err := Harvest(context.Background(), base, HarvestOptions{IdentifiersOnly: true, Set: "lib:MAIN", From: "2025-01-03", Until: "2025-01-31", Client: c.http},
		func(r HarvestedRecord) error {
			if r.Metadata != nil {
				t.Errorf("metadata in ListIdentifiers")
			}
			return nil
		})
	if err != nil || sum.Records != 3 || sum.Deleted != 1 || sum.Pages != 2 {
		t.Errorf("selective harvest %+v, %v", sum, err)
	}
	// Nothing to harvest is not an error.
	sum, err = Harvest(context.Background(), base, HarvestOptions{From: "2030-01-01", Client: c.http}, func(HarvestedRecord) error { return nil })
	if err != nil || sum.Records != 0 || sum.Pages != 1 {
		t.Errorf("empty harvest %+v, %v", sum, err)
	}
	// Any other OAI error is.
	_, err = Harvest(context.Background(), base, HarvestOptions{Prefix: "mods", Client: c.http}, func(HarvestedRecord) error { return nil })
	var pe *ProtocolError
	if !errors.As(err, &pe) || pe.Code != "cannotDisseminateFormat" {
		t.Errorf("unknown prefix: %v", err)
	}
	// fn stops the harvest with its error; Validate too.
	stop := errors.New("enough")
	sum, err = Harvest(context.Background(), base, HarvestOptions{Client: c.http}, func(HarvestedRecord) error { return stop })
	if !errors.Is(err, stop) || sum.Records != 1 {
		t.Errorf("fn error: %+v %v", sum, err)
	}
	_, err = Harvest(context.Background(), base, HarvestOptions{Client: c.http, Validate: func([]byte) error { return stop }}, func(HarvestedRecord) error { return nil })
	if !errors.Is(err, stop) {
		t.Errorf("Validate error: %v", err)
	}
	c.validate()
}

// stub serves fixed answers in turn.
func stub(t *testing.T, answers ...func(w http.ResponseWriter)) (string, *http.Client) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1)) - 1
		answers[min(i, len(answers)-1)](w)
	}))
	tr := &http.Transport{}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		srv.Close()
	})
	return srv.URL, &http.Client{Transport: tr}
}

func page(body string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "text/xml")
		w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/">` +
			`<responseDate>2025-01-01T00:00:00Z</responseDate><request>http://x</request>` + body + `</OAI-PMH>`))
	}
}

const stubRecord = `<record><header><identifier>oai:x.org:1</identifier><datestamp>2025-01-01</datestamp></header>` +
	`<metadata><oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>T</dc:title></oai_dc:dc></metadata></record>`

func TestHarvestBadServers(t *testing.T) {
	noop := func(HarvestedRecord) error { return nil }
	cases := map[string][]func(http.ResponseWriter){
		"not XML": {func(w http.ResponseWriter) { w.Write([]byte("<html><body>Maintenance")) }},
		"not OAI": {func(w http.ResponseWriter) { w.Write([]byte("<rss/>")) }},
		"cut off": {func(w http.ResponseWriter) {
			w.Write([]byte(`<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><ListRecords>` + stubRecord))
		}},
		"no list":        {page(`<Identify/>`)},
		"HTTP 500":       {func(w http.ResponseWriter) { http.Error(w, "boom", 500) }},
		"repeated token": {page(`<ListRecords>` + stubRecord + `<resumptionToken>same</resumptionToken></ListRecords>`)},
		"no identifier":  {page(`<ListRecords><record><header><datestamp>2025-01-01</datestamp></header></record></ListRecords>`)},
		"late noRecordsMatch": {page(`<ListRecords>` + stubRecord + `<resumptionToken>t1</resumptionToken></ListRecords>`),
			page(`<error code="noRecordsMatch">gone</error>`)},
	}
	for name, answers := range cases {
		url, client := stub(t, answers...)
		if _, err := Harvest(context.Background(), url, HarvestOptions{Client: client}, noop); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestHarvestRetriesUnavailable(t *testing.T) {
	busy := func(w http.ResponseWriter) {
		w.Header().Set("Retry-After", "0")
		http.Error(w, "busy", http.StatusServiceUnavailable)
	}
	url, client := stub(t, busy, busy, page(`<ListRecords>`+stubRecord+`</ListRecords>`))
	var got []HarvestedRecord
	sum, err := Harvest(context.Background(), url+"?x=1", HarvestOptions{Client: client}, func(r HarvestedRecord) error { got = append(got, r); return nil })
	if err != nil || sum.Records != 1 {
		t.Fatalf("%+v %v", sum, err)
	}
	if !strings.Contains(string(got[0].Metadata), `xmlns:dc="http://purl.org/dc/elements/1.1/"`) {
		t.Errorf("metadata %s", got[0].Metadata)
	}
	url, client = stub(t, busy)
	if _, err := Harvest(context.Background(), url, HarvestOptions{Client: client, Retries: 2}, func(HarvestedRecord) error { return nil }); err == nil {
		t.Error("a server that stays unavailable is not an error")
	}
}

func TestXMLLintValidator(t *testing.T) {
	conformance.Tool(t, "xmllint")
	validate, err := XMLLintValidator(filepath.Join(conformance.SchemaDir(t), schemas.OAIDir))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := XMLLintValidator(t.TempDir()); err == nil {
		t.Error("a directory without schemas was accepted")
	}
	c, _ := newServer(t, newRepo(), Options{PageSize: 2})
	sum, err := Harvest(context.Background(), c.url, HarvestOptions{Prefix: "marc21_holdings", Client: c.http, Validate: validate},
		func(HarvestedRecord) error { return nil })
	if err != nil || sum.Pages != 3 {
		t.Fatalf("validated harvest: %+v %v", sum, err)
	}
	bad := `<?xml version="1.0" encoding="UTF-8"?><OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><responseDate>2025-01-01T00:00:00Z</responseDate>` +
		`<request>http://x</request><error code="noSuchCode">x</error></OAI-PMH>`
	if err := validate([]byte(bad)); err == nil {
		t.Error("an unknown error code validated")
	}
	url, client := stub(t, func(w http.ResponseWriter) { w.Write([]byte(bad)) })
	if _, err := Harvest(context.Background(), url, HarvestOptions{Client: client, Validate: validate}, func(HarvestedRecord) error { return nil }); err == nil {
		t.Error("an invalid page passed the harvest")
	}
}
