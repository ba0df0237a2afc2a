package oai

import (
	"errors"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// emailPattern is OAI-PMH.xsd's emailType.
var emailPattern = regexp.MustCompile(`^\S+@(\S+\.)+\S+$`)

// repositoryIDPattern is oai-identifier.xsd's repositoryIdentifierType.
var repositoryIDPattern = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9\-]*(\.[a-zA-Z][a-zA-Z0-9\-]*)+$`)

func (ex *exchange) identify() error {
	if len(ex.errs) > 0 {
		return ex.writeErrors()
	}
	id := ex.ident
	sample := "1"
	err := ex.h.repo.List(ex.r.Context(), ListRequest{Range: Range{Until: ex.now}, Limit: 1, HeadersOnly: true},
		func(rec Record) error { sample = rec.ID; return nil })
	if err != nil {
		return err
	}
	earliest := id.EarliestDatestamp
	if earliest.IsZero() {
		earliest = ex.now
	}
	var discard []Issue
	ex.start()
	x := &ex.x
	x.raw("<Identify>")
	x.element("repositoryName", cleanText(id.Name, "repositoryName", &discard))
	x.element("baseURL", cleanText(ex.baseURL, "baseURL", &discard))
	x.element("protocolVersion", "2.0")
	for _, e := range id.AdminEmails {
		if emailPattern.MatchString(e) && validText(e) {
			x.element("adminEmail", e)
		} else {
			ex.log.Warn().Msg("an admin e-mail of the repository identity is not a valid address and is left out")
		}
	}
	x.element("earliestDatestamp", earliest.UTC().Format(timeFormat))
	x.element("deletedRecord", "persistent")
	x.element("granularity", "YYYY-MM-DDThh:mm:ssZ")
	x.element("compression", "gzip")
	if repositoryIDPattern.MatchString(id.RepositoryIdentifier) {
		x.raw(`<description><oai-identifier xmlns="http://www.openarchives.org/OAI/2.0/oai-identifier"` +
			` xsi:schemaLocation="http://www.openarchives.org/OAI/2.0/oai-identifier http://www.openarchives.org/OAI/2.0/oai-identifier.xsd">`)
		x.element("scheme", "oai")
		x.element("repositoryIdentifier", id.RepositoryIdentifier)
		x.element("delimiter", ":")
		x.element("sampleIdentifier", ex.identifier(sample))
		x.raw("</oai-identifier></description>")
	} else {
		ex.log.Warn().Msg("the repository identifier is not a domain-style name; Identify omits the oai-identifier description")
	}
	x.raw("</Identify>")
	return ex.end()
}

func (ex *exchange) listMetadataFormats() error {
	if id, ok := ex.req.args["identifier"]; ok && validURI(id) {
		rec, found, err := ex.lookup(id)
		if err != nil {
			return err
		}
		switch {
		case !found:
			ex.addErr(codeIDDoesNotExist, "no record has this identifier")
		case !rec.Deleted:
			if _, _, err := parseMARC(rec.MARCXML); err != nil {
				ex.addErr(codeNoMetadataFormats, "the record's stored MARC cannot be read, so no format can be disseminated")
			}
		}
	}
	if len(ex.errs) > 0 {
		return ex.writeErrors()
	}
	ex.start()
	x := &ex.x
	x.raw("<ListMetadataFormats>")
	for _, f := range formats {
		x.raw("<metadataFormat>")
		x.element("metadataPrefix", f.prefix)
		x.element("schema", f.schema)
		x.element("metadataNamespace", f.namespace)
		x.raw("</metadataFormat>")
	}
	x.raw("</ListMetadataFormats>")
	return ex.end()
}

// lookup fetches the record an identifier argument names.
func (ex *exchange) lookup(identifier string) (Record, bool, error) {
	bib, ok := ex.bibID(identifier)
	if !ok {
		return Record{}, false, nil
	}
	rec, err := ex.h.repo.Record(ex.r.Context(), bib)
	if errors.Is(err, ErrNotFound) {
		return Record{}, false, nil
	}
	return rec, err == nil, err
}

func (ex *exchange) getRecord() error {
	prefix := ex.req.args["metadataPrefix"]
	if validPrefix(prefix) && !knownPrefix(prefix) {
		ex.addErr(codeCannotDisseminateFormat, "this repository does not disseminate metadataPrefix "+prefix)
	}
	var rec Record
	if id, ok := ex.req.args["identifier"]; ok && validURI(id) {
		var found bool
		var err error
		if rec, found, err = ex.lookup(id); err != nil {
			return err
		} else if !found {
			ex.addErr(codeIDDoesNotExist, "no record has this identifier")
		}
	}
	if len(ex.errs) > 0 {
		return ex.writeErrors()
	}
	ex.start()
	ex.x.raw("<GetRecord>")
	ex.writeRecord(rec, prefix)
	ex.x.raw("</GetRecord>")
	return ex.end()
}

func (ex *exchange) listSets() error {
	var st listState
	if tok, ok := ex.req.args["resumptionToken"]; ok && len(ex.errs) == 0 {
		var err error
		if st, err = ex.decodeToken(tok); err != nil {
			return ex.writeErrors()
		}
	}
	if len(ex.errs) > 0 {
		return ex.writeErrors()
	}
	sets, err := ex.h.repo.Sets(ex.r.Context())
	if err != nil {
		return err
	}
	if len(sets) == 0 {
		ex.addErr(codeNoSetHierarchy, "this repository does not support sets")
		return ex.writeErrors()
	}
	sets = slices.Clone(sets)
	slices.SortFunc(sets, func(a, b Set) int { return strings.Compare(a.Spec, b.Spec) })
	valid := sets[:0]
	for _, s := range sets {
		if validSetSpec(s.Spec) {
			valid = append(valid, s)
		} else {
			ex.h.report(ex, Report{Issues: []Issue{{Where: "setSpec", Kind: IssueSetSpec, Detail: "set with an invalid setSpec left out of ListSets"}}})
		}
	}
	sets = valid
	if len(sets) == 0 {
		ex.addErr(codeNoSetHierarchy, "this repository has no usable sets")
		return ex.writeErrors()
	}
	i := 0
	if st.after.ID != "" {
		i = sort.Search(len(sets), func(k int) bool { return sets[k].Spec > st.after.ID })
	}
	page := sets[i:]
	more := len(page) > ex.h.opts.PageSize
	if more {
		page = page[:ex.h.opts.PageSize]
	}
	if len(page) == 0 {
		ex.addErr(codeBadResumptionToken, "no sets remain after this resumptionToken; the set hierarchy has changed")
		return ex.writeErrors()
	}
	ex.start()
	x := &ex.x
	x.raw("<ListSets>")
	var discard []Issue
	for _, s := range page {
		x.raw("<set>")
		x.element("setSpec", s.Spec)
		x.element("setName", cleanText(s.Name, "setName", &discard))
		x.raw("</set>")
		ex.n++
	}
	if more || st.cursor > 0 {
		next := listState{verb: "ListSets", until: ex.now, after: Key{ID: page[len(page)-1].Spec}, cursor: st.cursor + len(page)}
		ex.writeToken(st.cursor, next, more, len(sets))
	}
	x.raw("</ListSets>")
	return ex.end()
}

// decodeToken checks a resumptionToken against the verb and the clock; a failure
// has been added to ex.errs.
func (ex *exchange) decodeToken(tok string) (listState, error) {
	st, err := decodeToken(ex.h.opts.TokenKey, tok)
	switch {
	case err != nil:
	case st.verb != ex.req.verb:
		err = errors.New("the resumptionToken belongs to a " + st.verb + " list")
	case !st.expires.IsZero() && ex.now.After(st.expires):
		err = errors.New("the resumptionToken expired at " + st.expires.Format(timeFormat))
	case st.verb != "ListSets" && !knownPrefix(st.prefix):
		err = errors.New("the resumptionToken names a format no longer disseminated")
	}
	if err != nil {
		ex.addErr(codeBadResumptionToken, err.Error())
	}
	return st, err
}

// writeToken writes the resumptionToken element of a page starting at cursor:
// the token for the next page, or the empty one closing the list. The list size
// is never below what has been listed, should the repository have changed.
func (ex *exchange) writeToken(cursor int, next listState, more bool, size int) {
	size = max(size, next.cursor+boolInt(more))
	x := &ex.x
	x.raw(`<resumptionToken completeListSize="` + strconv.Itoa(size) + `" cursor="` + strconv.Itoa(cursor) + `"`)
	if !more {
		x.raw("/>")
		return
	}
	if ttl := ex.h.opts.TokenTTL; ttl > 0 {
		next.expires = ex.now.Add(ttl)
		x.raw(` expirationDate="` + next.expires.Format(timeFormat) + `"`)
	}
	x.raw(">" + encodeToken(ex.h.opts.TokenKey, next) + "</resumptionToken>")
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// list answers ListIdentifiers and ListRecords, streaming each record to the
// client as the repository yields it.
func (ex *exchange) list() error {
	var st listState
	if tok, ok := ex.req.args["resumptionToken"]; ok && len(ex.errs) == 0 {
		var err error
		if st, err = ex.decodeToken(tok); err != nil {
			return ex.writeErrors()
		}
	} else if _, isToken := ex.req.args["resumptionToken"]; !isToken {
		st = listState{verb: ex.req.verb, prefix: ex.req.args["metadataPrefix"], set: ex.req.args["set"], from: ex.req.from, until: ex.now}
		if !ex.req.until.IsZero() && ex.req.until.Before(ex.now) {
			st.until = ex.req.until
		}
		if validPrefix(st.prefix) && !knownPrefix(st.prefix) {
			ex.addErr(codeCannotDisseminateFormat, "this repository does not disseminate metadataPrefix "+st.prefix)
		}
		if validSetSpec(st.set) {
			sets, err := ex.h.repo.Sets(ex.r.Context())
			if err != nil {
				return err
			}
			if len(sets) == 0 {
				ex.addErr(codeNoSetHierarchy, "this repository does not support sets")
			}
		}
	}
	if len(ex.errs) > 0 {
		return ex.writeErrors()
	}
	rng := Range{From: st.from, Until: st.until, Set: st.set}
	if !rng.From.IsZero() && rng.From.After(rng.Until) {
		ex.addErr(codeNoRecordsMatch, "no record has a datestamp in this range")
		return ex.writeErrors()
	}
	page := ex.h.opts.PageSize
	var last Key
	more := false
	err := ex.h.repo.List(ex.r.Context(), ListRequest{Range: rng, After: st.after, Limit: page + 1, HeadersOnly: ex.req.verb == "ListIdentifiers"},
		func(rec Record) error {
			if ex.n == page {
				more = true
				return errStopList
			}
			if ex.n == 0 {
				ex.start()
				ex.x.raw("<" + ex.req.verb + ">")
			}
			if ex.req.verb == "ListIdentifiers" {
				ex.writeHeader(rec, "")
			} else {
				ex.writeRecord(rec, st.prefix)
			}
			ex.n++
			last = Key{Datestamp: rec.Datestamp, ID: rec.ID}
			return nil
		})
	if err != nil && !errors.Is(err, errStopList) {
		return err
	}
	if ex.n == 0 {
		msg := "no record matches the arguments"
		if st.cursor > 0 {
			msg = "no records remain in this list"
		}
		ex.addErr(codeNoRecordsMatch, msg)
		return ex.writeErrors()
	}
	if more || st.cursor > 0 {
		size, err := ex.h.repo.Count(ex.r.Context(), rng)
		if err != nil {
			return err
		}
		next := st
		next.after = last
		next.cursor = st.cursor + ex.n
		next.expires = time.Time{}
		ex.writeToken(st.cursor, next, more, size)
	}
	ex.x.raw("</" + ex.req.verb + ">")
	return ex.end()
}

// writeHeader writes a record's header, leaving out setSpecs that break the
// syntax, and returns those problems; a header-only listing (prefix "") reports
// them itself.
func (ex *exchange) writeHeader(rec Record, prefix string) []Issue {
	var issues []Issue
	x := &ex.x
	if rec.Deleted {
		x.raw(`<header status="deleted">`)
	} else {
		x.raw("<header>")
	}
	x.element("identifier", ex.identifier(rec.ID))
	x.element("datestamp", rec.Datestamp.UTC().Format(timeFormat))
	for _, s := range rec.Sets {
		if validSetSpec(s) {
			x.element("setSpec", s)
		} else {
			issues = append(issues, Issue{Where: "setSpec", Kind: IssueSetSpec, Detail: "setSpec " + quoteArg(s) + " left out of the header"})
		}
	}
	x.raw("</header>")
	if prefix == "" && len(issues) > 0 {
		ex.h.report(ex, Report{Identifier: ex.identifier(rec.ID), Issues: issues})
	}
	return issues
}

// writeRecord writes one <record>: the header alone for a deletion or for a
// record that cannot be rendered, otherwise header and metadata.
func (ex *exchange) writeRecord(rec Record, prefix string) {
	var m *marcRecord
	var issues []Issue
	var err error
	if !rec.Deleted {
		m, issues, err = parseMARC(rec.MARCXML)
		if err == nil && prefix == "marc21_holdings" {
			m = m.withHoldings(rec.Holdings, func(is Issue) { issues = append(issues, is) })
		}
	}
	ex.x.raw("<record>")
	issues = append(ex.writeHeader(rec, prefix), issues...)
	if m != nil {
		ex.x.raw("<metadata>")
		if prefix == "oai_dc" {
			writeDC(&ex.x, crosswalkDC(m))
		} else {
			writeMARC(&ex.x, m)
		}
		ex.x.raw("</metadata>")
	}
	ex.x.raw("</record>")
	if len(issues) > 0 || err != nil {
		ex.h.report(ex, Report{Identifier: ex.identifier(rec.ID), Prefix: prefix, Issues: issues, Err: err})
	}
}

// report counts, logs (a warning only when a record cannot be rendered) and
// hands on one Report.
func (h *Handler) report(ex *exchange, r Report) {
	h.stats.reports.Add(1)
	h.stats.issues.Add(uint64(len(r.Issues)))
	if r.Err != nil {
		h.stats.unrenderable.Add(1)
		ex.log.Warn().Str("identifier", r.Identifier).Str("prefix", r.Prefix).Int("issues", len(r.Issues)).Err(r.Err).
			Msg("record cannot be rendered; published as its header alone")
	} else {
		ex.log.Debug().Str("identifier", r.Identifier).Str("prefix", r.Prefix).Int("issues", len(r.Issues)).
			Msg("record normalised before publishing")
	}
	if h.opts.OnProblem != nil {
		h.opts.OnProblem(r)
	}
}
