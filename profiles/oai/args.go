package oai

import (
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// OAI-PMH error codes (spec §3.6).
const (
	codeBadArgument             = "badArgument"
	codeBadResumptionToken      = "badResumptionToken"
	codeBadVerb                 = "badVerb"
	codeCannotDisseminateFormat = "cannotDisseminateFormat"
	codeIDDoesNotExist          = "idDoesNotExist"
	codeNoRecordsMatch          = "noRecordsMatch"
	codeNoMetadataFormats       = "noMetadataFormats"
	codeNoSetHierarchy          = "noSetHierarchy"
)

// oaiError is one <error> element of a response.
type oaiError struct {
	code, msg string
}

// The protocol arguments, in the order the request element echoes them.
var argOrder = []string{"verb", "identifier", "metadataPrefix", "from", "until", "set", "resumptionToken"}

// verbRules says which arguments each verb takes (spec §4).
var verbRules = map[string]struct {
	required, optional []string
	exclusive          bool // takes resumptionToken as an exclusive argument
}{
	"Identify":            {},
	"ListMetadataFormats": {optional: []string{"identifier"}},
	"ListSets":            {exclusive: true},
	"GetRecord":           {required: []string{"identifier", "metadataPrefix"}},
	"ListIdentifiers":     {required: []string{"metadataPrefix"}, optional: []string{"from", "until", "set"}, exclusive: true},
	"ListRecords":         {required: []string{"metadataPrefix"}, optional: []string{"from", "until", "set"}, exclusive: true},
}

// request is a syntactically checked OAI-PMH request.
type request struct {
	verb  string
	args  map[string]string // every protocol argument given, verb included
	from  time.Time         // zero: none
	until time.Time         // zero: none; a day is widened to its last second
}

// pair is one key=value of a form-encoded argument string.
type pair struct{ key, value string }

// splitArgs decodes an application/x-www-form-urlencoded string keeping order and
// repetitions. Malformed escapes are reported by key.
func splitArgs(s string) (pairs []pair, malformed []string) {
	for s != "" {
		var kv string
		kv, s, _ = strings.Cut(s, "&")
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		key, err1 := url.QueryUnescape(k)
		val, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			if err1 != nil {
				key = k
			}
			malformed = append(malformed, key)
			continue
		}
		pairs = append(pairs, pair{key, val})
	}
	return pairs, malformed
}

// parseRequest checks a request's arguments without consulting the repository.
// It returns every error found; a badVerb error is the only one returned when
// the verb is missing, repeated or unknown, since the other arguments cannot be
// judged without it.
func parseRequest(pairs []pair, malformed []string) (request, []oaiError) {
	req := request{args: map[string]string{}}
	var errs []oaiError
	var verbs []string
	for _, p := range pairs {
		if p.key == "verb" {
			verbs = append(verbs, p.value)
		}
	}
	switch {
	case len(verbs) == 0:
		return req, []oaiError{{codeBadVerb, "the verb argument is missing"}}
	case len(verbs) > 1:
		return req, []oaiError{{codeBadVerb, "the verb argument is repeated"}}
	}
	rules, ok := verbRules[verbs[0]]
	if !ok {
		return req, []oaiError{{codeBadVerb, "the value of the verb argument is not a legal OAI-PMH verb"}}
	}
	req.verb = verbs[0]
	req.args["verb"] = req.verb
	for _, k := range malformed {
		errs = append(errs, oaiError{codeBadArgument, "argument " + quoteArg(k) + " has a malformed percent-encoding"})
	}
	allowed := map[string]bool{"verb": true}
	for _, a := range rules.required {
		allowed[a] = true
	}
	for _, a := range rules.optional {
		allowed[a] = true
	}
	if rules.exclusive {
		allowed["resumptionToken"] = true
	}
	count := map[string]int{}
	var keys []string // in order of first appearance
	first := map[string]string{}
	for _, p := range pairs {
		if p.key == "verb" {
			continue
		}
		if count[p.key] == 0 {
			keys = append(keys, p.key)
			first[p.key] = p.value
		}
		count[p.key]++
	}
	for _, k := range keys {
		switch {
		case !allowed[k]:
			errs = append(errs, oaiError{codeBadArgument, "argument " + quoteArg(k) + " is not allowed for " + req.verb})
		case count[k] > 1:
			errs = append(errs, oaiError{codeBadArgument, "argument " + k + " is repeated"})
		default:
			req.args[k] = first[k]
		}
	}
	if rules.exclusive && count["resumptionToken"] > 0 {
		if len(keys) > 1 {
			errs = append(errs, oaiError{codeBadArgument, "resumptionToken is an exclusive argument and cannot be combined with others"})
		}
		if tok, ok := req.args["resumptionToken"]; ok && !validText(tok) {
			errs = append(errs, oaiError{codeBadArgument, "the resumptionToken contains characters XML cannot carry"})
		}
		return req, errs
	}
	for _, a := range rules.required {
		if count[a] == 0 {
			errs = append(errs, oaiError{codeBadArgument, "required argument " + a + " is missing"})
		}
	}
	if v, ok := req.args["identifier"]; ok && !validURI(v) {
		errs = append(errs, oaiError{codeBadArgument, "the identifier is not a syntactically valid URI"})
	}
	if v, ok := req.args["metadataPrefix"]; ok && !validPrefix(v) {
		errs = append(errs, oaiError{codeBadArgument, "the metadataPrefix has illegal syntax"})
	}
	if v, ok := req.args["set"]; ok && !validSetSpec(v) {
		errs = append(errs, oaiError{codeBadArgument, "the set argument is not a legal setSpec"})
	}
	var fromDay, untilDay, fromOK, untilOK bool
	if v, ok := req.args["from"]; ok {
		if req.from, fromDay, fromOK = parseDatestamp(v); !fromOK {
			errs = append(errs, oaiError{codeBadArgument, "from is not a date (YYYY-MM-DD) or a UTC time (YYYY-MM-DDThh:mm:ssZ)"})
		}
	}
	if v, ok := req.args["until"]; ok {
		if req.until, untilDay, untilOK = parseDatestamp(v); !untilOK {
			errs = append(errs, oaiError{codeBadArgument, "until is not a date (YYYY-MM-DD) or a UTC time (YYYY-MM-DDThh:mm:ssZ)"})
		} else if untilDay {
			req.until = req.until.Add(24*time.Hour - time.Second)
		}
	}
	if fromOK && untilOK {
		if fromDay != untilDay {
			errs = append(errs, oaiError{codeBadArgument, "from and until must have the same granularity"})
		} else if req.from.After(req.until) {
			errs = append(errs, oaiError{codeBadArgument, "from is later than until"})
		}
	}
	return req, errs
}

// parseDatestamp accepts the protocol's two granularities and nothing else:
// no zone offsets, no fractions, years 0001-9999.
func parseDatestamp(s string) (t time.Time, day, ok bool) {
	switch len(s) {
	case len("2006-01-02"):
		t, err := time.Parse(time.DateOnly, s)
		return t, true, err == nil && t.Year() >= 1
	case len("2006-01-02T15:04:05Z"):
		if s[10] != 'T' || s[19] != 'Z' {
			return time.Time{}, false, false
		}
		t, err := time.Parse("2006-01-02T15:04:05Z", s)
		return t, false, err == nil && t.Year() >= 1
	}
	return time.Time{}, false, false
}

// validText reports whether XML 1.0 can carry s.
func validText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !isXMLChar(r) {
			return false
		}
	}
	return true
}

// isUnreservedMark reports the characters the protocol allows in setSpec and
// metadataPrefix besides letters and digits.
func isUnreservedMark(c byte) bool {
	return strings.IndexByte("-_.!~*'()", c) >= 0
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// validPrefix checks the metadataPrefix syntax [A-Za-z0-9\-_\.!~\*'\(\)]+.
func validPrefix(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isAlnum(s[i]) && !isUnreservedMark(s[i]) {
			return false
		}
	}
	return true
}

// validSetSpec checks the setSpec syntax: colon-separated non-empty tokens of
// the metadataPrefix alphabet.
func validSetSpec(s string) bool {
	for _, part := range strings.Split(s, ":") {
		if !validPrefix(part) {
			return false
		}
	}
	return true
}

// validURI is a conservative check that s is an absolute URI an XML Schema
// validator accepts as anyURI: a scheme, then only URI characters, well-formed
// percent escapes and at most one '#'.
func validURI(s string) bool {
	scheme, _, ok := strings.Cut(s, ":")
	if !ok || scheme == "" || !(s[0] >= 'a' && s[0] <= 'z' || s[0] >= 'A' && s[0] <= 'Z') {
		return false
	}
	for i := 0; i < len(scheme); i++ {
		if !isAlnum(scheme[i]) && scheme[i] != '+' && scheme[i] != '-' && scheme[i] != '.' {
			return false
		}
	}
	if rest := s[len(scheme)+1:]; strings.HasPrefix(rest, "//") {
		authority := rest[2:]
		if i := strings.IndexAny(authority, "/?#"); i >= 0 {
			authority = authority[:i]
		}
		if !authorityPattern.MatchString(authority) {
			return false
		}
	}
	hashes := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case isAlnum(c) || isUnreservedMark(c) || strings.IndexByte(";/?:@&=+$,", c) >= 0:
		case c == '#':
			hashes++
		case c == '%':
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return false
			}
			i += 2
		default:
			return false
		}
	}
	return hashes <= 1
}

// authorityPattern is a conservative [userinfo@]host[:port] with a registered
// name as host (no IP literals).
var authorityPattern = regexp.MustCompile(`^([A-Za-z0-9\-._~!$&'()*+,;=%:]*@)?[A-Za-z0-9\-._~!$&'()*+,;=%]+(:[0-9]+)?$`)

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// quoteArg renders an argument name for an error message, shortened and limited
// to printable ASCII so the message is safe whatever was sent.
func quoteArg(k string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(k) && i < 40; i++ {
		if c := k[i]; c >= 0x20 && c < 0x7f {
			b.WriteByte(c)
		} else {
			b.WriteByte('?')
		}
	}
	if len(k) > 40 {
		b.WriteString("...")
	}
	b.WriteByte('"')
	return b.String()
}
