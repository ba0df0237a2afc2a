// Package daia answers availability for a discovery layer's result list in
// one call: GET /api/availability?id=…&id=… in the Document Availability
// Information API's JSON (DAIA 1.0, https://gbv.github.io/daia/daia.html),
// which VuFind's DAIA driver reads. The answer is live: every title of a
// request is read from circulation in one read transaction.
//
// The endpoint is open, as /oai is: it tells what an OPAC shows anyone
// (where copies are, whether they are on the shelf, when a loan is due,
// how many wait), never who has an item. What one request may cost is
// bounded: 100 ids, 32 KiB of query, 100 items described per title, about
// 2,000 items read (the titles after that are offered in a Link to a next
// request), and a few requests computed at once.
package daia

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/circa-ils/circa/circ"
)

// Path is where circa serve mounts the handler.
const Path = "/api/availability"

// Version is the DAIA specification the answers follow (X-DAIA-Version).
const Version = "1.0.0"

// What one request may make the server read by default, and how long a
// request waits for its turn when others are being computed.
const (
	DefaultItemsPerTitle = 100
	DefaultItemBudget    = 2000
	queueWait            = 2 * time.Second
)

// Options configure a Handler.
type Options struct {
	Service *circ.Service
	Logger  zerolog.Logger
	// MaxConcurrent is how many requests are computed at once; others wait
	// up to two seconds for a turn, then get 503. 0 means GOMAXPROCS.
	MaxConcurrent int
	// Observer, when set, is told of every GET, HEAD or refused request.
	Observer func(Observation)
	// ItemsPerTitle and ItemBudget bound one request's reading (see
	// circ.AvailabilityLimits); 0 means DefaultItemsPerTitle and
	// DefaultItemBudget.
	ItemsPerTitle, ItemBudget int
}

// Handler serves DAIA availability.
type Handler struct {
	svc      *circ.Service
	log      zerolog.Logger
	limits   circ.AvailabilityLimits
	turns    chan struct{}
	wait     time.Duration // for a turn
	observer func(Observation)
}

// Outcomes of a request, for Observation.
const (
	OutcomeOK      = "ok"
	OutcomeRefused = "refused" // a bad request: DAIA's 4xx or 501
	OutcomeBusy    = "busy"    // no turn within the wait: 503
	OutcomeFailed  = "failed"  // the store could not be read: 500
)

// Observation describes one answered request, for metrics.
type Observation struct {
	Outcome   string
	IDs       int // distinct request identifiers
	Documents int // titles answered
	Unread    int // identifiers left for the Link to a next request
	Duration  time.Duration
}

// NewHandler makes a Handler.
func NewHandler(o Options) (*Handler, error) {
	if o.Service == nil {
		return nil, errors.New("daia: a circulation service is required")
	}
	n := o.MaxConcurrent
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	lim := circ.AvailabilityLimits{ItemsPerTitle: cmp.Or(max(o.ItemsPerTitle, 0), DefaultItemsPerTitle),
		Items: cmp.Or(max(o.ItemBudget, 0), DefaultItemBudget)}
	return &Handler{svc: o.Service, log: o.Logger, limits: lim, turns: make(chan struct{}, n), wait: queueWait,
		observer: o.Observer}, nil
}

// ServeHTTP answers GET and HEAD with a DAIA response or error response,
// and OPTIONS with what a browser's cross-origin preflight asks.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	hd := w.Header()
	hd.Set("X-DAIA-Version", Version)
	hd.Set("Access-Control-Allow-Origin", "*")
	hd.Set("X-Content-Type-Options", "nosniff")
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodOptions:
		hd.Set("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
		hd.Set("Access-Control-Allow-Headers", "Content-Type")
		hd.Set("Access-Control-Max-Age", "86400")
		w.WriteHeader(http.StatusNoContent)
		return
	default:
		hd.Set("Allow", "GET, HEAD, OPTIONS")
		h.fail(w, r, query{}, &apiError{Error: "invalid_request", Code: http.StatusMethodNotAllowed,
			Description: "use GET"})
		h.observe(Observation{Outcome: OutcomeRefused, Duration: time.Since(start)})
		return
	}
	q, perr := parseQuery(r.URL.RawQuery)
	if perr != nil {
		h.fail(w, r, q, perr)
		h.observe(Observation{Outcome: OutcomeRefused, Duration: time.Since(start)})
		return
	}
	if !h.takeTurn(r.Context()) {
		hd.Set("Retry-After", "1")
		h.fail(w, r, q, &apiError{Error: "service_unavailable", Code: http.StatusServiceUnavailable,
			Description: "too many availability requests at once; try again"})
		h.observe(Observation{Outcome: OutcomeBusy, IDs: len(q.ids), Duration: time.Since(start)})
		return
	}
	resp, rest, err := h.answer(r.Context(), q)
	<-h.turns
	if err != nil {
		h.log.Error().Err(err).Str("path", Path).Msg("availability read failed")
		h.fail(w, r, q, &apiError{Error: "internal_error", Code: http.StatusInternalServerError,
			Description: "the availability could not be read"})
		h.observe(Observation{Outcome: OutcomeFailed, IDs: len(q.ids), Duration: time.Since(start)})
		return
	}
	if len(rest) > 0 {
		hd.Set("Link", "<"+nextURL(rest, q.callback)+`>; rel="next"`)
	}
	h.write(w, r, q, http.StatusOK, resp)
	h.observe(Observation{Outcome: OutcomeOK, IDs: len(q.ids), Documents: len(resp.Document), Unread: len(rest),
		Duration: time.Since(start)})
}

func (h *Handler) observe(o Observation) {
	if h.observer != nil {
		h.observer(o)
	}
}

func (h *Handler) takeTurn(ctx context.Context) bool {
	select {
	case h.turns <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(h.wait)
	defer t.Stop()
	select {
	case h.turns <- struct{}{}:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}

// answer reads the titles and returns the response and the request
// identifiers left unread because the item budget ran out.
func (h *Handler) answer(ctx context.Context, q query) (response, []requestID, error) {
	lookups := make([]string, len(q.ids))
	for i, id := range q.ids {
		lookups[i] = id.lookup
	}
	titles, read, err := h.svc.TitlesAvailability(ctx, lookups, h.limits)
	if err != nil {
		return response{}, nil, err
	}
	resp := response{Timestamp: h.svc.Now().Format(time.RFC3339), Document: []document{}}
	// Two identifiers of one title get one document, so that no item is
	// listed twice (DAIA's first integrity rule).
	shown := map[uint64]bool{}
	for i := range titles {
		t := &titles[i]
		if !t.Found || shown[t.Bib.ID] {
			continue
		}
		shown[t.Bib.ID] = true
		resp.Document = append(resp.Document, documentOf(q.ids[i], t))
	}
	return resp, q.ids[read:], nil
}

// nextURL asks, relative to this request, for the identifiers not read.
func nextURL(rest []requestID, callback string) string {
	ids := make([]string, len(rest))
	for i, r := range rest {
		ids[i] = url.QueryEscape(r.requested)
	}
	u := "?id=" + strings.Join(ids, "%7C") + "&format=json"
	if callback != "" {
		u += "&callback=" + callback
	}
	return u
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, q query, e *apiError) {
	status := e.Code
	if q.suppress {
		status = http.StatusOK
	}
	h.write(w, r, q, status, e)
}

// write sends v as JSON, or as JSONP when the query named a callback.
func (h *Handler) write(w http.ResponseWriter, r *http.Request, q query, status int, v any) {
	var b bytes.Buffer
	if q.callback != "" {
		b.WriteString("/**/" + q.callback + "(")
	}
	if err := json.NewEncoder(&b).Encode(v); err != nil {
		h.log.Error().Err(err).Msg("availability answer could not be encoded")
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	ct := "application/json; charset=utf-8"
	if q.callback != "" {
		b.Truncate(b.Len() - 1) // the encoder's newline
		b.WriteString(");\n")
		ct = "application/javascript; charset=utf-8"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Language", "en")
	w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(b.Bytes())
	}
}
