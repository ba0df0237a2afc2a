package oai

import (
	"testing"
)

func TestSmoke(t *testing.T) {
	c, _ := newServer(t, newRepo(), Options{PageSize: 2})
	for _, q := range []string{"verb=Identify", "verb=ListMetadataFormats", "verb=ListSets",
		"verb=GetRecord&identifier=oai:library.example.edu:b1&metadataPrefix=oai_dc",
		"verb=GetRecord&identifier=oai:library.example.edu:b1&metadataPrefix=marc21_holdings",
		"verb=ListRecords&metadataPrefix=marc21", "verb=ListIdentifiers&metadataPrefix=marc21&set=lib",
		"verb=Bad", "verb=ListRecords&from=2025-01-01&until=2025-01-01T00:00:00Z&foo=1"} {
		c.get(q)
		t.Logf("%s\n%s", q, c.pages[len(c.pages)-1])
	}
	c.validate()
}
