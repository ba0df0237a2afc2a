package daia

import (
	"net/http"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// What one request may name. A discovery layer asks for one result page at
// a time (VuFind: 20 by default); 100 titles leave room for long pages.
const (
	MaxIDs        = 100
	maxIDBytes    = 256
	maxQueryBytes = 32 << 10
	maxCallback   = 64
)

// DocPrefix is the scheme given to a request identifier sent without one,
// so that every document id in an answer is a URI. A title is found by
// "circa:ID" as by "ID".
const DocPrefix = "circa:"

// requestID is one request identifier: as sent, as the document that
// answers it is named, and the 001 or bib id it names.
type requestID struct {
	requested string
	doc       string
	lookup    string
}

// query is a parsed availability request.
type query struct {
	ids      []requestID // distinct, in the order sent
	callback string      // JSONP function name, when asked for
	suppress bool        // every answer 200, as suppress_response_codes asks
}

// apiError is DAIA's error response.
type apiError struct {
	Error       string `json:"error"`
	Code        int    `json:"code"`
	Description string `json:"error_description,omitempty"`
}

func invalid(desc string) *apiError {
	return &apiError{Error: "invalid_request", Code: http.StatusUnprocessableEntity, Description: desc}
}

// parseQuery reads a DAIA query string: id (repeated, or request
// identifiers joined by |, escaped or not), format (json when missing),
// callback, and suppress_response_codes (honoured once the query could be
// read). Patron-specific availability and
// access tokens are not offered. Other parameters are ignored.
func parseQuery(raw string) (query, *apiError) {
	var q query
	if len(raw) > maxQueryBytes {
		return q, invalid("the query is longer than 32 KiB")
	}
	v, err := url.ParseQuery(raw) // keeps the parameters it could read
	_, q.suppress = v["suppress_response_codes"]
	if err != nil {
		return q, invalid("the query is not valid URL encoding")
	}
	if f, ok := v["format"]; ok && (len(f) != 1 || f[0] != "json") {
		return q, invalid("format must be json")
	}
	for _, p := range []string{"patron", "patron-type", "access_token"} {
		if _, ok := v[p]; ok {
			return q, &apiError{Error: "not_implemented", Code: http.StatusNotImplemented,
				Description: p + ": patron-specific availability is not offered; every patron gets the same answer"}
		}
	}
	if cb, ok := v["callback"]; ok {
		if len(cb) != 1 || !validCallback(cb[0]) {
			return q, invalid("callback must be 1 to 64 letters, digits and underscores")
		}
		q.callback = cb[0]
	}
	seen := map[string]bool{}
	n := 0
	for _, value := range v["id"] {
		for part := range strings.SplitSeq(value, "|") {
			id := strings.TrimSpace(part)
			if id == "" {
				continue
			}
			if n++; n > MaxIDs {
				return q, invalid("at most 100 ids in one request")
			}
			if len(id) > maxIDBytes || !utf8.ValidString(id) || strings.ContainsFunc(id, unicode.IsControl) {
				return q, invalid("an id is longer than 256 bytes or not printable UTF-8")
			}
			r := newRequestID(id)
			if !seen[r.doc] {
				seen[r.doc] = true
				q.ids = append(q.ids, r)
			}
		}
	}
	if n == 0 {
		return q, invalid("id is required: a MARC 001 or circa bib id, several joined by | or repeated")
	}
	return q, nil
}

// newRequestID reads an identifier: "SCHEME:REST" names the title REST
// (VuFind puts its daiaIdPrefix, "ppn:" by default, before each record
// id); one without a scheme names itself.
func newRequestID(id string) requestID {
	if i := schemeEnd(id); i > 0 && i+1 < len(id) {
		return requestID{requested: id, doc: id, lookup: id[i+1:]}
	}
	return requestID{requested: id, doc: DocPrefix + id, lookup: id}
}

// schemeEnd is the index of the colon ending id's URI scheme
// (RFC 3986: a letter, then letters, digits, +, - and .), or -1.
func schemeEnd(id string) int {
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'):
		case i > 0 && c == ':':
			return i
		default:
			return -1
		}
	}
	return -1
}

func validCallback(s string) bool {
	if s == "" || len(s) > maxCallback {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
