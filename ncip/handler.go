package ncip

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Call carries the transport facts of one NCIP request, so the service can
// authenticate the partner. The handler applies no policy of its own.
type Call struct {
	Service string            // request element name, e.g. "CheckOutItem"
	Version string            // the request's version attribute
	Header  *InitiationHeader // nil when the request had none
	APIKey  string            // X-API-Key header, Authorization: Bearer, or ?apikey=
	Token   string            // the {token} of /ncip/{token}
	// PeerCertificates are the TLS client certificates as the client sent
	// them, leaf first. The listener may have left them unverified: an
	// Authorizer that relies on them verifies them.
	PeerCertificates []*x509.Certificate
	RemoteAddr       string     // host:port of the client: the peer, or the one a trusted proxy named (port 0 if none given)
	RemoteIP         netip.Addr // the client's address, as in RemoteAddr
	Received         time.Time

	// Set by the service:

	// Partner names the authenticated partner in the log line and metrics.
	Partner string
	// Write shapes the response; the service may switch on legacy options
	// for this partner. It starts as HandlerOptions.Write with Version set
	// to the request's version.
	Write WriteOptions
	// Auth is the Authorizer's own record of the caller it accepted, for
	// the service method answering the same request; the handler does not
	// read it.
	Auth any
}

// Service implements the core NCIP services every ILL partner uses. The
// others are add-on interfaces; a Service that lacks one answers that
// service with an "Unsupported Service" Problem.
//
// A method answers a refusal with a response whose Problems are set, or by
// returning a *Problem as the error. Any other error is logged and answered
// with "Temporary Processing Failure"; its text reaches the log, so it must
// carry no secret or personal data. Methods run concurrently.
type Service interface {
	LookupUser(ctx context.Context, c *Call, r *LookupUser) (*LookupUserResponse, error)
	CheckOutItem(ctx context.Context, c *Call, r *CheckOutItem) (*CheckOutItemResponse, error)
	CheckInItem(ctx context.Context, c *Call, r *CheckInItem) (*CheckInItemResponse, error)
	RenewItem(ctx context.Context, c *Call, r *RenewItem) (*RenewItemResponse, error)
}

// Add-on services.
type (
	// Authorizer is called before every service method; a non-nil error
	// (a *Problem such as Agency Authentication Failed) answers the request.
	Authorizer interface {
		Authorize(ctx context.Context, c *Call) error
	}
	// LookupVersionService is implemented by a Service that answers LookupVersion.
	LookupVersionService interface {
		LookupVersion(ctx context.Context, c *Call, r *LookupVersion) (*LookupVersionResponse, error)
	}
	// LookupAgencyService is implemented by a Service that answers LookupAgency.
	LookupAgencyService interface {
		LookupAgency(ctx context.Context, c *Call, r *LookupAgency) (*LookupAgencyResponse, error)
	}
	// LookupItemService is implemented by a Service that answers LookupItem.
	LookupItemService interface {
		LookupItem(ctx context.Context, c *Call, r *LookupItem) (*LookupItemResponse, error)
	}
	// LookupItemSetService is implemented by a Service that answers LookupItemSet.
	LookupItemSetService interface {
		LookupItemSet(ctx context.Context, c *Call, r *LookupItemSet) (*LookupItemSetResponse, error)
	}
	// LookupRequestService is implemented by a Service that answers LookupRequest.
	LookupRequestService interface {
		LookupRequest(ctx context.Context, c *Call, r *LookupRequest) (*LookupRequestResponse, error)
	}
	// AcceptItemService is implemented by a Service that answers AcceptItem.
	AcceptItemService interface {
		AcceptItem(ctx context.Context, c *Call, r *AcceptItem) (*AcceptItemResponse, error)
	}
	// RequestItemService is implemented by a Service that answers RequestItem.
	RequestItemService interface {
		RequestItem(ctx context.Context, c *Call, r *RequestItem) (*RequestItemResponse, error)
	}
	// CancelRequestItemService is implemented by a Service that answers CancelRequestItem.
	CancelRequestItemService interface {
		CancelRequestItem(ctx context.Context, c *Call, r *CancelRequestItem) (*CancelRequestItemResponse, error)
	}
	// RecallItemService is implemented by a Service that answers RecallItem.
	RecallItemService interface {
		RecallItem(ctx context.Context, c *Call, r *RecallItem) (*RecallItemResponse, error)
	}
	// DeleteItemService is implemented by a Service that answers DeleteItem.
	DeleteItemService interface {
		DeleteItem(ctx context.Context, c *Call, r *DeleteItem) (*DeleteItemResponse, error)
	}
	// CreateUserFiscalTransactionService is implemented by a Service that answers CreateUserFiscalTransaction.
	CreateUserFiscalTransactionService interface {
		CreateUserFiscalTransaction(ctx context.Context, c *Call, r *CreateUserFiscalTransaction) (*CreateUserFiscalTransactionResponse, error)
	}
	// ItemShippedService is implemented by a Service that answers ItemShipped.
	ItemShippedService interface {
		ItemShipped(ctx context.Context, c *Call, r *ItemShipped) (*ItemShippedResponse, error)
	}
)

// Outcome classifies a handled request for metrics.
type Outcome string

// Outcomes.
const (
	OutcomeOK       Outcome = "ok"       // success response
	OutcomeProblem  Outcome = "problem"  // a Problem inside the service response
	OutcomeInvalid  Outcome = "invalid"  // top-level Problem: unreadable message, unknown service
	OutcomeError    Outcome = "error"    // Temporary Processing Failure: service error, panic, bad response
	OutcomeRejected Outcome = "rejected" // HTTP-level refusal: wrong method, body too large
)

// Observation describes one handled request.
type Observation struct {
	Service     string // a schema service name; "" when the message could not be read or named none
	Partner     string
	Outcome     Outcome
	ProblemType string // first Problem's type, if any
	Status      int    // HTTP status
	Duration    time.Duration
}

// Observer receives one Observation per request, after the response is
// written. It must be safe for concurrent use.
type Observer func(Observation)

// HandlerOptions configure NewHandler; they are copied.
type HandlerOptions struct {
	Logger zerolog.Logger // one line per request; the zero value logs nothing
	// MaxBodyBytes caps the request body; larger bodies get 413. 0 means 1 MiB.
	MaxBodyBytes int64
	Decode       DecodeOptions
	Write        WriteOptions // defaults for every response
	Observer     Observer
	// PathPrefix is where the handler is mounted; "" means "/ncip". The
	// segment after it is the partner token.
	PathPrefix string
	// VersionsSupported answers LookupVersion when the Service does not
	// implement LookupVersionService; nil means NCIP 2.0, 2.01 and 2.02.
	VersionsSupported []string
	// AgencyID is this library's agency, written as the ResponseHeader's
	// FromAgencyId when a request's InitiationHeader names no ToAgencyId.
	AgencyID SchemeValue
}

type handler struct {
	svc Service
	o   HandlerOptions
}

// NewHandler returns the http.Handler for POST /ncip and /ncip/{token}.
// Protocol problems are always answered with HTTP 200 and NCIP XML; only a
// wrong method (405) or an oversized body (413) gets another status, still
// with an NCIP Problem body. Panics in the service are answered with a
// Temporary Processing Failure Problem.
func NewHandler(svc Service, o HandlerOptions) http.Handler {
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 1 << 20
	}
	if o.Decode.Limits.MaxBytes <= 0 {
		// UTF-16 and 8-bit bodies grow when turned into UTF-8.
		o.Decode.Limits.MaxBytes = int(2 * o.MaxBodyBytes)
	}
	if o.PathPrefix == "" {
		o.PathPrefix = "/ncip"
	}
	o.PathPrefix = strings.TrimSuffix(o.PathPrefix, "/")
	if o.VersionsSupported == nil {
		o.VersionsSupported = []string{
			Version202,
			"http://www.niso.org/schemas/ncip/v2_01/ncip_v2_01.xsd",
			"http://www.niso.org/schemas/ncip/v2_0/imp1/xsd/ncip_v2_0.xsd",
		}
	}
	return &handler{svc: svc, o: o}
}

// result is what ServeHTTP learned, for the log line and the observer.
type result struct {
	service     string
	element     string // an unknown service element, for the log only
	partner     string
	outcome     Outcome
	problemType string
	status      int
	err         error // internal error, logged only
	panicked    any
	stack       []byte
}

// ServeHTTP answers one NCIP message; see NewHandler.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	call := &Call{Received: start, RemoteAddr: r.RemoteAddr, Write: h.o.Write}
	res := &result{status: http.StatusOK}
	n := 0
	defer func() {
		res.partner = call.Partner
		h.finish(r, res, start, n)
	}()

	token, ok := h.token(r.URL.Path)
	if !ok {
		res.status, res.outcome, res.problemType = http.StatusNotFound, OutcomeRejected, ProtocolError
		n = h.write(w, res.status, encodeProblems([]Problem{*NewProblem("", ProtocolError, "no NCIP endpoint at this path")}, h.o.Write))
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		res.status, res.outcome, res.problemType = http.StatusMethodNotAllowed, OutcomeRejected, ProtocolError
		n = h.write(w, res.status, encodeProblems([]Problem{*NewProblem("", ProtocolError, "NCIP messages must be sent with POST")}, h.o.Write))
		return
	}
	if r.Body == nil {
		r.Body = http.NoBody
	}
	buf, err := readBody(http.MaxBytesReader(w, r.Body, h.o.MaxBodyBytes), r.ContentLength, h.o.MaxBodyBytes)
	// The message is copied out of the body as it is read (see toUTF8),
	// so the buffer serves the next request.
	defer buf.recycle()
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			res.status, res.outcome, res.problemType = http.StatusRequestEntityTooLarge, OutcomeRejected, InvalidMessageSyntaxError
			msg := "message larger than " + strconv.FormatInt(h.o.MaxBodyBytes, 10) + " bytes"
			n = h.write(w, res.status, encodeProblems([]Problem{*NewProblem("", InvalidMessageSyntaxError, msg)}, h.o.Write))
			return
		}
		// The client went away or the connection broke: nobody to answer.
		res.status, res.outcome, res.err = 499, OutcomeRejected, err
		return
	}

	call.Token = token
	call.APIKey = apiKey(r)
	if r.TLS != nil {
		call.PeerCertificates = r.TLS.PeerCertificates
	}
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		call.RemoteIP = ap.Addr().Unmap()
	} else if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		call.RemoteIP, _ = netip.ParseAddr(host)
	}

	n = h.write(w, http.StatusOK, h.process(r.Context(), call, formBody(r.Header.Get("Content-Type"), buf.b), res))
}

// bodyBuf is a pooled request body buffer; bodies larger than
// maxPooledBody are left to the garbage collector.
type bodyBuf struct{ b []byte }

var bodyPool = sync.Pool{New: func() any { return &bodyBuf{b: make([]byte, 0, 4<<10)} }}

const maxPooledBody = 64 << 10

// readBody reads a whole request body into a pooled buffer, sized from the
// Content-Length when the sender gave one.
func readBody(r io.Reader, length, limit int64) (*bodyBuf, error) {
	buf := bodyPool.Get().(*bodyBuf)
	b := buf.b[:0]
	if length > int64(cap(b)) && length <= limit {
		b = make([]byte, 0, length+1) // +1 so the final read sees EOF without growing
	}
	defer func() { buf.b = b }()
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		m, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+m]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

func (buf *bodyBuf) recycle() {
	if cap(buf.b) <= maxPooledBody {
		buf.b = buf.b[:0]
		bodyPool.Put(buf)
	}
}

func (h *handler) token(path string) (string, bool) {
	rest, ok := strings.CutPrefix(path, h.o.PathPrefix)
	if !ok {
		return "", false
	}
	if rest == "" || rest == "/" {
		return "", true
	}
	tok, ok := strings.CutPrefix(rest, "/")
	if !ok || tok == "" || strings.Contains(strings.TrimSuffix(tok, "/"), "/") {
		return "", false
	}
	return strings.TrimSuffix(tok, "/"), true
}

func apiKey(r *http.Request) string {
	// Canonical header names are looked up without being rebuilt.
	if k := strings.TrimSpace(r.Header.Get("X-Api-Key")); k != "" {
		return k
	}
	if a := r.Header.Get("Authorization"); len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
		return strings.TrimSpace(a[7:])
	}
	if r.URL.RawQuery == "" {
		return ""
	}
	return r.URL.Query().Get("apikey")
}

// formBody returns the NCIP message of an HTML-form post (field "xml" or
// "XForms:Model", as some servers accept), or body itself.
func formBody(contentType string, body []byte) []byte {
	if !containsFold(contentType, "form") && !bytes.HasPrefix(body, []byte("xml=")) {
		// An XML body, however it is labelled: nothing to unwrap.
		return body
	}
	mt, params, _ := mime.ParseMediaType(contentType)
	switch {
	case mt == "application/x-www-form-urlencoded" || (mt == "" && bytes.HasPrefix(body, []byte("xml="))):
		if v, err := url.ParseQuery(string(body)); err == nil {
			for _, k := range []string{"xml", "XForms:Model"} {
				if x := v.Get(k); x != "" {
					return []byte(x)
				}
			}
		}
	case mt == "multipart/form-data" && params["boundary"] != "":
		mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
		for {
			p, err := mr.NextPart()
			if err != nil {
				break
			}
			if n := p.FormName(); n == "xml" || n == "XForms:Model" {
				if x, err := io.ReadAll(p); err == nil {
					return x
				}
			}
		}
	}
	return body
}

// containsFold reports whether s contains the lower-case ASCII word sub,
// ignoring case.
func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}

// Response header values, shared by every response: net/http only reads
// them, and Set or Add by anyone else replaces the slice.
var (
	xmlContentType = []string{"application/xml; charset=utf-8"}
	noSniff        = []string{"nosniff"}
)

// write sends the message in m with status, recycles m and returns the
// message's length.
func (h *handler) write(w http.ResponseWriter, status int, m *writer) int {
	hdr := w.Header()
	hdr["Content-Type"] = xmlContentType
	hdr["X-Content-Type-Options"] = noSniff
	hdr["Content-Length"] = []string{strconv.Itoa(len(m.buf))}
	w.WriteHeader(status)
	_, _ = w.Write(m.buf)
	n := len(m.buf)
	m.recycle()
	return n
}

// process decodes, dispatches and encodes one message; it never fails.
func (h *handler) process(ctx context.Context, call *Call, body []byte, res *result) *writer {
	msg, err := DecodeRequest(body, h.o.Decode)
	if msg == nil {
		res.outcome = OutcomeInvalid
		var se *ServiceError
		if errors.As(err, &se) {
			// Only names from the schema become metric labels; any other
			// element name is the sender's to choose.
			if knownServices[se.Service] {
				res.service = se.Service
			} else {
				res.element = clip(se.Service)
			}
		}
		p := ProblemFor("", err)
		res.problemType = p.Type.Value
		return encodeProblems([]Problem{*p}, h.o.Write)
	}
	res.service = msg.Service
	call.Service = msg.Service
	call.Version = msg.Version
	call.Header = msg.Request.Initiation()
	if msg.Version != "" && call.Write.Version == "" {
		call.Write.Version = msg.Version
	}

	var resp Response
	if err != nil {
		resp = ProblemResponse(msg.Service, ProblemFor(msg.Service, err))
	} else {
		resp = h.dispatch(ctx, call, msg.Request, res)
	}
	if *resp.header() == nil {
		*resp.header() = h.reply(call.Header)
	}
	out := encodeResponse(resp, call.Write)
	if out.err != nil {
		res.err = fmt.Errorf("encode %s response: %w", msg.Service, out.err)
		out.recycle()
		resp = ProblemResponse(msg.Service, NewProblem(msg.Service, TemporaryProcessingFailure, "the response could not be built"))
		*resp.header() = h.reply(call.Header)
		out = encodeResponse(resp, call.Write)
	}
	if ps := *resp.problems(); len(ps) > 0 {
		res.problemType = ps[0].Type.Value
		if res.outcome == "" {
			res.outcome = OutcomeProblem
		}
		if res.problemType == TemporaryProcessingFailure {
			res.outcome = OutcomeError
		}
	} else {
		res.outcome = OutcomeOK
	}
	return out
}

// reply is the ResponseHeader answering an InitiationHeader (nil for none).
func (h *handler) reply(ih *InitiationHeader) *ResponseHeader {
	rh := ih.Reply()
	if rh != nil && rh.FromAgencyID.Value == "" {
		rh.FromAgencyID = h.o.AgencyID
	}
	return rh
}

// dispatch runs the service method, turning errors and panics into Problems.
func (h *handler) dispatch(ctx context.Context, call *Call, req Request, res *result) (resp Response) {
	service := req.Service()
	defer func() {
		if v := recover(); v != nil {
			res.panicked, res.stack = v, debug.Stack()
			resp = ProblemResponse(service, NewProblem(service, TemporaryProcessingFailure, "the request could not be processed"))
		}
	}()
	if a, ok := h.svc.(Authorizer); ok {
		if err := a.Authorize(ctx, call); err != nil {
			return h.fromError(service, err, res)
		}
	}
	var err error
	resp, err = h.call(ctx, call, req)
	if err != nil {
		return h.fromError(service, err, res)
	}
	if resp == nil {
		res.err = fmt.Errorf("%s: service returned no response", service)
		return ProblemResponse(service, NewProblem(service, TemporaryProcessingFailure, "the request could not be processed"))
	}
	return resp
}

func (h *handler) fromError(service string, err error, res *result) Response {
	var p *Problem
	if !errors.As(err, &p) {
		res.err = err
		p = NewProblem(service, TemporaryProcessingFailure, "the request could not be processed")
	}
	return ProblemResponse(service, p)
}

// call invokes the method for req; a nil typed response becomes a nil Response.
func (h *handler) call(ctx context.Context, c *Call, req Request) (Response, error) {
	unsupported := func() (Response, error) {
		return nil, NewProblem("", UnsupportedService, "service "+req.Service()+" is not supported")
	}
	switch r := req.(type) {
	case *LookupUser:
		return wrap(h.svc.LookupUser(ctx, c, r))
	case *CheckOutItem:
		return wrap(h.svc.CheckOutItem(ctx, c, r))
	case *CheckInItem:
		return wrap(h.svc.CheckInItem(ctx, c, r))
	case *RenewItem:
		return wrap(h.svc.RenewItem(ctx, c, r))
	case *LookupVersion:
		if s, ok := h.svc.(LookupVersionService); ok {
			return wrap(s.LookupVersion(ctx, c, r))
		}
		return &LookupVersionResponse{VersionsSupported: h.o.VersionsSupported}, nil
	case *LookupAgency:
		if s, ok := h.svc.(LookupAgencyService); ok {
			return wrap(s.LookupAgency(ctx, c, r))
		}
	case *LookupItem:
		if s, ok := h.svc.(LookupItemService); ok {
			return wrap(s.LookupItem(ctx, c, r))
		}
	case *LookupItemSet:
		if s, ok := h.svc.(LookupItemSetService); ok {
			return wrap(s.LookupItemSet(ctx, c, r))
		}
	case *LookupRequest:
		if s, ok := h.svc.(LookupRequestService); ok {
			return wrap(s.LookupRequest(ctx, c, r))
		}
	case *AcceptItem:
		if s, ok := h.svc.(AcceptItemService); ok {
			return wrap(s.AcceptItem(ctx, c, r))
		}
	case *RequestItem:
		if s, ok := h.svc.(RequestItemService); ok {
			return wrap(s.RequestItem(ctx, c, r))
		}
	case *CancelRequestItem:
		if s, ok := h.svc.(CancelRequestItemService); ok {
			return wrap(s.CancelRequestItem(ctx, c, r))
		}
	case *RecallItem:
		if s, ok := h.svc.(RecallItemService); ok {
			return wrap(s.RecallItem(ctx, c, r))
		}
	case *DeleteItem:
		if s, ok := h.svc.(DeleteItemService); ok {
			return wrap(s.DeleteItem(ctx, c, r))
		}
	case *CreateUserFiscalTransaction:
		if s, ok := h.svc.(CreateUserFiscalTransactionService); ok {
			return wrap(s.CreateUserFiscalTransaction(ctx, c, r))
		}
	case *ItemShipped:
		if s, ok := h.svc.(ItemShippedService); ok {
			return wrap(s.ItemShipped(ctx, c, r))
		}
	}
	return unsupported()
}

// wrap converts a typed (*XResponse, error) into (Response, error) without
// letting a nil pointer become a non-nil interface.
func wrap[T any, PT interface {
	*T
	Response
}](r PT, err error) (Response, error) {
	if r == nil {
		return nil, err
	}
	return r, err
}

func (h *handler) finish(r *http.Request, res *result, start time.Time, n int) {
	dur := time.Since(start)
	lvl := zerolog.InfoLevel
	switch {
	case res.panicked != nil:
		lvl = zerolog.ErrorLevel
	case res.err != nil || res.outcome == OutcomeError:
		lvl = zerolog.WarnLevel
	}
	ev := h.o.Logger.WithLevel(lvl)
	if ev != nil {
		ev = ev.Str("proto", "ncip").
			Str("service", res.service).
			Str("partner", res.partner).
			Str("outcome", string(res.outcome)).
			Int("status", res.status).
			Str("remote", r.RemoteAddr).
			Int64("bytes_in", r.ContentLength).
			Int("bytes_out", n).
			Dur("dur", dur)
		if res.problemType != "" {
			ev = ev.Str("problem", res.problemType)
		}
		if res.element != "" {
			ev = ev.Str("element", res.element)
		}
		if res.err != nil {
			ev = ev.AnErr("error", res.err)
		}
		if res.panicked != nil {
			ev = ev.Str("panic", fmt.Sprint(res.panicked)).Bytes("stack", res.stack)
		}
		ev.Msg("ncip request")
	}
	if h.o.Observer != nil {
		h.o.Observer(Observation{Service: res.service, Partner: res.partner, Outcome: res.outcome, ProblemType: res.problemType, Status: res.status, Duration: dur})
	}
}
