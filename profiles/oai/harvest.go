package oai

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/beevik/etree"
)

// HarvestOptions select what Harvest lists and how pages are checked.
type HarvestOptions struct {
	Prefix string // metadataPrefix; default oai_dc
	// From and Until are sent as given: YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ.
	From, Until string
	Set         string
	// IdentifiersOnly harvests with ListIdentifiers (headers, no metadata).
	IdentifiersOnly bool
	// Validate, when set, is called with every page's raw bytes (for example an
	// XML Schema check); an error stops the harvest.
	Validate func(page []byte) error
	// Client sends the requests; nil means http.DefaultClient.
	Client *http.Client
	// MaxPageBytes bounds one page; default 256 MiB.
	MaxPageBytes int64
	// Retries is how many times a 503 answer is retried, honouring Retry-After
	// (at most a minute each); 0 means 3, negative means none.
	Retries int
}

// HarvestedRecord is one header, with its metadata when harvesting records.
type HarvestedRecord struct {
	Identifier string
	Datestamp  string
	Deleted    bool
	Sets       []string
	// Metadata is the metadata element's content as a standalone XML element,
	// carrying the namespace declarations it relies on; nil for deletions and
	// for ListIdentifiers.
	Metadata []byte
}

// HarvestSummary says what a harvest saw.
type HarvestSummary struct {
	Pages            int
	Records          int    // headers received, deletions included
	Deleted          int    // of which deletions
	CompleteListSize int    // the last completeListSize announced; 0 if none
	ResponseDate     string // of the first page: the from of the next incremental harvest
}

// ProtocolError is an OAI-PMH error the harvested repository answered with.
type ProtocolError struct {
	Code, Message string
}

func (e *ProtocolError) Error() string {
	return "oai: repository answered " + e.Code + ": " + e.Message
}

// Harvest lists a repository at baseURL with ListRecords (or ListIdentifiers),
// following resumptionTokens to the end of the list, and calls fn for every
// record in order. Every page must be well-formed OAI-PMH and pass
// o.Validate. noRecordsMatch is an empty harvest, not an error; any other OAI
// error is a *ProtocolError. An error from fn stops the harvest and is returned.
func Harvest(ctx context.Context, baseURL string, o HarvestOptions, fn func(HarvestedRecord) error) (HarvestSummary, error) {
	var sum HarvestSummary
	if o.Prefix == "" {
		o.Prefix = "oai_dc"
	}
	if o.Client == nil {
		o.Client = http.DefaultClient
	}
	if o.MaxPageBytes <= 0 {
		o.MaxPageBytes = 256 << 20
	}
	if o.Retries == 0 {
		o.Retries = 3
	}
	o.Retries = max(o.Retries, 0)
	verb := "ListRecords"
	if o.IdentifiersOnly {
		verb = "ListIdentifiers"
	}
	args := url.Values{"verb": {verb}, "metadataPrefix": {o.Prefix}}
	for k, v := range map[string]string{"from": o.From, "until": o.Until, "set": o.Set} {
		if v != "" {
			args.Set(k, v)
		}
	}
	prevToken := ""
	for {
		page, err := fetchPage(ctx, o, baseURL, args)
		if err != nil {
			return sum, fmt.Errorf("page %d: %w", sum.Pages+1, err)
		}
		sum.Pages++
		if o.Validate != nil {
			if err := o.Validate(page); err != nil {
				return sum, fmt.Errorf("page %d does not validate: %w", sum.Pages, err)
			}
		}
		p, err := parsePage(page, verb)
		if err != nil {
			return sum, fmt.Errorf("page %d: %w", sum.Pages, err)
		}
		if sum.Pages == 1 {
			sum.ResponseDate = p.responseDate
		}
		if p.err != nil {
			if p.err.Code == codeNoRecordsMatch && sum.Pages == 1 {
				return sum, nil
			}
			return sum, fmt.Errorf("page %d: %w", sum.Pages, p.err)
		}
		for _, rec := range p.records {
			sum.Records++
			if rec.Deleted {
				sum.Deleted++
			}
			if err := fn(rec); err != nil {
				return sum, err
			}
		}
		if p.listSize > 0 {
			sum.CompleteListSize = p.listSize
		}
		if p.token == "" {
			return sum, nil
		}
		if p.token == prevToken {
			return sum, fmt.Errorf("page %d: the repository repeated its resumptionToken", sum.Pages)
		}
		prevToken = p.token
		args = url.Values{"verb": {verb}, "resumptionToken": {p.token}}
	}
}

// fetchPage GETs one page, retrying 503 answers as Retry-After asks.
func fetchPage(ctx context.Context, o HarvestOptions, baseURL string, args url.Values) ([]byte, error) {
	sep := "?"
	if strings.Contains(baseURL, "?") {
		sep = "&"
	}
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+sep+args.Encode(), nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("User-Agent", "circa-oai-harvester")
		resp, err := o.Client.Do(req)
		if err != nil {
			return nil, err
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, o.MaxPageBytes+1))
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		switch {
		case resp.StatusCode == http.StatusServiceUnavailable && attempt < o.Retries:
			wait := time.Duration(0)
			if s, err := strconv.Atoi(strings.TrimSpace(resp.Header.Get("Retry-After"))); err == nil && s > 0 {
				wait = min(time.Duration(s)*time.Second, time.Minute)
			}
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, ctx.Err()
			case <-t.C:
			}
			continue
		case resp.StatusCode != http.StatusOK:
			return nil, fmt.Errorf("HTTP status %s", resp.Status)
		case int64(len(body)) > o.MaxPageBytes:
			return nil, fmt.Errorf("page larger than %d bytes", o.MaxPageBytes)
		}
		return body, nil
	}
}

// harvestPage is what parsePage finds in one response.
type harvestPage struct {
	responseDate string
	err          *ProtocolError // the first error element, if any
	records      []HarvestedRecord
	token        string
	listSize     int
}

var errNotOAI = errors.New("not an OAI-PMH response")

// parsePage reads one list response strictly: well-formed XML, an OAI-PMH root
// in the protocol's namespace, and either errors or the verb's element.
func parsePage(b []byte, verb string) (*harvestPage, error) {
	doc := etree.NewDocument()
	doc.ReadSettings.MaxDepth = 256
	if err := doc.ReadFromBytes(b); err != nil {
		return nil, fmt.Errorf("not well-formed XML: %w", err)
	}
	root := doc.Root()
	if root == nil || root.Tag != "OAI-PMH" || root.NamespaceURI() != oaiNS {
		return nil, errNotOAI
	}
	p := &harvestPage{}
	if e := root.SelectElement("responseDate"); e != nil {
		p.responseDate = strings.TrimSpace(e.Text())
	}
	if e := root.SelectElement("error"); e != nil {
		p.err = &ProtocolError{Code: e.SelectAttrValue("code", ""), Message: strings.TrimSpace(e.Text())}
		return p, nil
	}
	list := root.SelectElement(verb)
	if list == nil {
		return nil, fmt.Errorf("%w: no %s element", errNotOAI, verb)
	}
	for _, e := range list.ChildElements() {
		var h *etree.Element
		switch e.Tag {
		case "header":
			h = e
		case "record":
			h = e.SelectElement("header")
		case "resumptionToken":
			p.token = strings.TrimSpace(e.Text())
			if n, err := strconv.Atoi(e.SelectAttrValue("completeListSize", "")); err == nil {
				p.listSize = n
			}
			continue
		default:
			continue
		}
		if h == nil {
			return nil, errors.New("a record without a header")
		}
		rec := HarvestedRecord{Deleted: h.SelectAttrValue("status", "") == "deleted"}
		if id := h.SelectElement("identifier"); id != nil {
			rec.Identifier = strings.TrimSpace(id.Text())
		}
		if rec.Identifier == "" {
			return nil, errors.New("a header without an identifier")
		}
		if ds := h.SelectElement("datestamp"); ds != nil {
			rec.Datestamp = strings.TrimSpace(ds.Text())
		}
		for _, s := range h.SelectElements("setSpec") {
			rec.Sets = append(rec.Sets, strings.TrimSpace(s.Text()))
		}
		if md := e.SelectElement("metadata"); md != nil && e.Tag == "record" {
			if kids := md.ChildElements(); len(kids) > 0 {
				rec.Metadata = standalone(kids[0])
			}
		}
		p.records = append(p.records, rec)
	}
	return p, nil
}

// standalone serialises an element with the namespace declarations it inherits.
func standalone(e *etree.Element) []byte {
	c := e.Copy()
	have := map[string]bool{}
	for _, a := range c.Attr {
		if a.Space == "xmlns" || a.Space == "" && a.Key == "xmlns" {
			have[a.FullKey()] = true
		}
	}
	for p := e.Parent(); p != nil; p = p.Parent() {
		for _, a := range p.Attr {
			if (a.Space == "xmlns" || a.Space == "" && a.Key == "xmlns") && !have[a.FullKey()] {
				have[a.FullKey()] = true
				c.CreateAttr(a.FullKey(), a.Value)
			}
		}
	}
	doc := etree.NewDocumentWithRoot(c)
	doc.WriteSettings.CanonicalText = true
	doc.WriteSettings.CanonicalAttrVal = true
	b, _ := doc.WriteToBytes()
	return b
}
