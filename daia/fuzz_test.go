package daia

import (
	"net/http"
	"strings"
	"testing"
)

// FuzzParseQuery: any query string is either refused with a DAIA error
// (a 4xx or 501 with a description) or read into 1 to 100 distinct
// request identifiers, each a document URI naming a non-empty lookup no
// longer than an id may be; and the next-request URL made from them reads
// back as the same identifiers.
func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{
		"id=ppn:cir000000001&format=json",
		"id=ppn:1%7Cppn:2|ppn:3&format=json",
		"id=1&id=2&id=1&callback=cb",
		"id=circa:&id=a:b:c&suppress_response_codes",
		"id=%zz&suppress_response_codes",
		"id=ppn:1&patron=x",
		"format=xml",
		"id=+ppn:1+%7C++",
		"id=" + strings.Repeat("x|", 101),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, e := parseQuery(raw)
		if e != nil {
			if e.Description == "" || e.Error == "" || (e.Code != http.StatusNotImplemented && (e.Code < 400 || e.Code > 499)) {
				t.Fatalf("%q: error %+v", raw, e)
			}
			return
		}
		if len(q.ids) == 0 || len(q.ids) > MaxIDs {
			t.Fatalf("%q: %d ids", raw, len(q.ids))
		}
		seen := map[string]bool{}
		for _, id := range q.ids {
			if seen[id.doc] || schemeEnd(id.doc) < 1 || id.lookup == "" || len(id.requested) > maxIDBytes ||
				strings.ContainsAny(id.requested, "|") || strings.TrimSpace(id.requested) != id.requested {
				t.Fatalf("%q: request id %+v", raw, id)
			}
			seen[id.doc] = true
		}
		back, e := parseQuery(strings.TrimPrefix(nextURL(q.ids, q.callback), "?"))
		if e != nil || len(back.ids) != len(q.ids) || back.callback != q.callback {
			t.Fatalf("%q: next URL %q reads back as %+v %+v", raw, nextURL(q.ids, q.callback), back, e)
		}
		for i := range back.ids {
			if back.ids[i] != q.ids[i] {
				t.Fatalf("%q: next URL gives %+v for %+v", raw, back.ids[i], q.ids[i])
			}
		}
	})
}
