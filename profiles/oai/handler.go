package oai

import (
	"bufio"
	"compress/gzip"
	"crypto/rand"
	"errors"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/circa-ils/circa/forwarded"
)

// Options configure a Handler. NewHandler keeps a copy.
type Options struct {
	// TokenKey signs resumptionTokens (HMAC-SHA256). Every instance serving the
	// same repository must share it; nil means a random key per process, so
	// tokens do not survive a restart.
	TokenKey []byte
	// PageSize is the number of records, headers or sets per response; default 100.
	PageSize int
	// TokenTTL, when positive, makes tokens expire after that long and adds
	// expirationDate to them. Zero: tokens never expire (they hold no server state).
	TokenTTL time.Duration
	// MaxBodyBytes bounds a POST body; default 64 KiB.
	MaxBodyBytes int64
	// Logger receives one line per request and one per record needing
	// normalisation; the zero Logger discards.
	Logger zerolog.Logger
	// OnProblem, when set, receives a Report each time a record is published
	// after normalisation or cannot be rendered. It is called from request
	// goroutines, concurrently, and must not block for long.
	OnProblem func(Report)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Stats counts data problems since the handler was made.
type Stats struct {
	Reports      uint64 // renderings reported through OnProblem
	Issues       uint64 // normalisations applied, summed over reports
	Unrenderable uint64 // renderings published as a header alone
}

// Handler is the OAI-PMH 2.0 data provider: an http.Handler for GET and POST
// (form-encoded) requests with all six verbs.
type Handler struct {
	repo  Repository
	opts  Options
	stats struct{ reports, issues, unrenderable atomic.Uint64 }
}

const (
	defaultPageSize = 100
	timeFormat      = "2006-01-02T15:04:05Z"
	oaiNS           = "http://www.openarchives.org/OAI/2.0/"
	xsiNS           = "http://www.w3.org/2001/XMLSchema-instance"
)

// format is one metadata format the repository disseminates.
type format struct {
	prefix, schema, namespace string
}

// formats lists what ListMetadataFormats announces, in that order. Every record
// is available in all of them.
var formats = []format{
	{"oai_dc", dcSchema, dcNS},
	{"marc21", marcSchema, marcNS},
	{"marc21_holdings", marcSchema, marcNS},
}

func knownPrefix(p string) bool {
	return slices.ContainsFunc(formats, func(f format) bool { return f.prefix == p })
}

// NewHandler returns the data provider for repo.
func NewHandler(repo Repository, o Options) *Handler {
	if o.PageSize <= 0 {
		o.PageSize = defaultPageSize
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 64 << 10
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if len(o.TokenKey) == 0 {
		o.TokenKey = make([]byte, 32)
		rand.Read(o.TokenKey)
	} else {
		o.TokenKey = slices.Clone(o.TokenKey)
	}
	return &Handler{repo: repo, opts: o}
}

// Stats returns the data-problem counters.
func (h *Handler) Stats() Stats {
	return Stats{
		Reports:      h.stats.reports.Load(),
		Issues:       h.stats.issues.Load(),
		Unrenderable: h.stats.unrenderable.Load(),
	}
}

// exchange is the state of one request.
type exchange struct {
	h       *Handler
	w       http.ResponseWriter
	r       *http.Request
	req     request
	errs    []oaiError
	now     time.Time
	ident   Identity
	baseURL string
	log     zerolog.Logger

	started bool
	gz      *gzip.Writer
	bw      *bufio.Writer
	x       xmlWriter
	n       int // list elements written
}

var _ http.Handler = (*Handler)(nil)

// errStopList ends Repository.List once a page is full.
var errStopList = errors.New("oai: page full")

// ServeHTTP answers one OAI-PMH request. Protocol errors are OAI error elements
// with HTTP 200; only transport problems (method, body size) and repository
// failures use other status codes. A POST's arguments are its form-encoded body
// together with any in the URL, so an argument given in both is repeated.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	raw := r.URL.RawQuery
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodPost:
		if ct := r.Header.Get("Content-Type"); ct != "" {
			if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/x-www-form-urlencoded" {
				http.Error(w, "OAI-PMH POST requests must be application/x-www-form-urlencoded", http.StatusUnsupportedMediaType)
				return
			}
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.opts.MaxBodyBytes))
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
			return
		} else if err != nil {
			http.Error(w, "request body unreadable", http.StatusBadRequest)
			return
		}
		if raw != "" && len(body) > 0 {
			raw += "&"
		}
		raw += string(body)
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		http.Error(w, "OAI-PMH uses GET or POST", http.StatusMethodNotAllowed)
		return
	}
	ex := &exchange{h: h, w: w, r: r, now: h.opts.Now().UTC().Truncate(time.Second)}
	ex.log = h.opts.Logger.With().Str("proto", "oai").Str("remote", r.RemoteAddr).Logger()
	ex.req, ex.errs = parseRequest(splitArgs(raw))
	var err error
	if ex.ident, err = h.repo.Identity(r.Context()); err != nil {
		ex.fail(err)
		return
	}
	ex.baseURL = ex.ident.BaseURL
	if ex.baseURL == "" {
		ex.baseURL = forwarded.Scheme(r) + "://" + r.Host + r.URL.Path
	}
	switch ex.req.verb {
	case "Identify":
		err = ex.identify()
	case "ListMetadataFormats":
		err = ex.listMetadataFormats()
	case "ListSets":
		err = ex.listSets()
	case "GetRecord":
		err = ex.getRecord()
	case "ListIdentifiers", "ListRecords":
		err = ex.list()
	default:
		err = ex.writeErrors()
	}
	if err != nil {
		ex.fail(err)
		return
	}
	ev := ex.log.Info().Str("verb", ex.req.verb).Int("n", ex.n).Dur("dur", time.Since(start))
	if len(ex.errs) > 0 {
		codes := make([]string, len(ex.errs))
		for i, e := range ex.errs {
			codes[i] = e.code
		}
		ev = ev.Strs("codes", codes)
	}
	ev.Send()
}

// fail answers a repository failure. Before any byte is written it is a 500;
// afterwards the response is cut off, so a harvester sees a broken page instead
// of a short list it would take for complete.
func (ex *exchange) fail(err error) {
	if errors.Is(err, ex.r.Context().Err()) && ex.r.Context().Err() != nil {
		return // the client went away
	}
	ex.log.Error().Err(err).Str("verb", ex.req.verb).Int("n", ex.n).Msg("oai request failed")
	if !ex.started {
		http.Error(ex.w, "repository unavailable", http.StatusInternalServerError)
		return
	}
	panic(http.ErrAbortHandler)
}

// start writes the response headers and the envelope up to and including the
// request element. Attributes are echoed unless a badVerb or badArgument error
// is being reported.
func (ex *exchange) start() {
	ex.started = true
	hd := ex.w.Header()
	hd.Set("Content-Type", "text/xml; charset=UTF-8")
	hd.Add("Vary", "Accept-Encoding")
	var out io.Writer = ex.w
	if acceptsGzip(ex.r.Header.Values("Accept-Encoding")) {
		hd.Set("Content-Encoding", "gzip")
		ex.gz = gzip.NewWriter(ex.w)
		out = ex.gz
	}
	ex.w.WriteHeader(http.StatusOK)
	ex.bw = bufio.NewWriterSize(out, 32<<10)
	ex.x = xmlWriter{w: ex.bw}
	x := &ex.x
	x.raw(`<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<OAI-PMH xmlns="` + oaiNS + `" xmlns:xsi="` + xsiNS + `" xsi:schemaLocation="` + oaiNS + ` http://www.openarchives.org/OAI/2.0/OAI-PMH.xsd">`)
	x.element("responseDate", ex.now.Format(timeFormat))
	x.raw("<request")
	echo := ex.req.verb != ""
	for _, e := range ex.errs {
		if e.code == codeBadVerb || e.code == codeBadArgument {
			echo = false
		}
	}
	if echo {
		for _, k := range argOrder {
			if v, ok := ex.req.args[k]; ok {
				x.raw(" " + k + `="`)
				x.attr(v)
				x.raw(`"`)
			}
		}
	}
	x.raw(">")
	x.text(cleanText(ex.baseURL, "baseURL", new([]Issue)))
	x.raw("</request>")
}

// end closes the envelope and flushes everything to the client.
func (ex *exchange) end() error {
	ex.x.raw("</OAI-PMH>\n")
	err := ex.bw.Flush()
	if ex.gz != nil {
		if cerr := ex.gz.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		ex.log.Debug().Err(err).Msg("oai response not delivered")
	}
	return nil
}

// writeErrors answers with the errors collected so far.
func (ex *exchange) writeErrors() error {
	ex.start()
	for _, e := range ex.errs {
		ex.x.raw(`<error code="` + e.code + `">`)
		ex.x.text(e.msg)
		ex.x.raw("</error>")
	}
	return ex.end()
}

func (ex *exchange) addErr(code, msg string) { ex.errs = append(ex.errs, oaiError{code, msg}) }

// acceptsGzip reports whether an Accept-Encoding header allows gzip.
func acceptsGzip(values []string) bool {
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			name = strings.ToLower(strings.TrimSpace(name))
			if name != "gzip" && name != "x-gzip" {
				continue
			}
			q := 1.0
			if k, v, ok := strings.Cut(strings.TrimSpace(params), "="); ok && strings.TrimSpace(k) == "q" {
				if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
					q = f
				}
			}
			return q > 0
		}
	}
	return false
}

// identifier returns the OAI identifier of a bib id: oai:<repositoryIdentifier>:<bibID>,
// with bytes outside the oai-identifier local-part alphabet percent-escaped.
func (ex *exchange) identifier(bibID string) string {
	return "oai:" + ex.ident.RepositoryIdentifier + ":" + escapeLocal(bibID)
}

// bibID resolves an identifier argument; ok is false when it is not one of ours.
func (ex *exchange) bibID(identifier string) (string, bool) {
	rest, ok := strings.CutPrefix(identifier, "oai:")
	if !ok {
		return "", false
	}
	repo, local, ok := strings.Cut(rest, ":")
	if !ok || !strings.EqualFold(repo, ex.ident.RepositoryIdentifier) || local == "" {
		return "", false
	}
	return unescapeLocal(local)
}

// escapeLocal percent-escapes every byte of a local identifier outside
// [a-zA-Z0-9\-_.!~*'();/?:@&=+$,] (the guidelines' alphabet without '%').
func escapeLocal(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isAlnum(c) || isUnreservedMark(c) || strings.IndexByte(";/?:@&=+$,", c) >= 0 {
			b.WriteByte(c)
		} else {
			b.WriteString("%" + strings.ToUpper(strconv.FormatUint(uint64(c)>>4, 16)+strconv.FormatUint(uint64(c)&15, 16)))
		}
	}
	return b.String()
}

func unescapeLocal(s string) (string, bool) {
	if !strings.Contains(s, "%") {
		return s, true
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
			return "", false
		}
		v, _ := strconv.ParseUint(s[i+1:i+3], 16, 8)
		b.WriteByte(byte(v))
		i += 2
	}
	return b.String(), true
}
