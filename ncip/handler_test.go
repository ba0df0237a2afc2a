package ncip

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeService answers by item barcode: "panic", "error", "problem", "nil",
// "incomplete" misbehave; anything else succeeds.
type fakeService struct {
	mu    sync.Mutex
	calls []*Call
}

func (s *fakeService) record(c *Call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, c)
}

func (s *fakeService) last() *Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[len(s.calls)-1]
}

func (s *fakeService) LookupUser(_ context.Context, c *Call, r *LookupUser) (*LookupUserResponse, error) {
	s.record(c)
	if pin, _ := r.Secret(); pin != "1234" {
		return &LookupUserResponse{Problems: []Problem{*NewProblem("LookupUser", UserAuthenticationFailed, "")}}, nil
	}
	return &LookupUserResponse{UserID: Identifier{Value: r.UserIdentifier()}, UserOptionalFields: &UserOptionalFields{
		Name:       &PersonalName{GivenName: "Ada", Surname: "Lovelace"},
		Privileges: []UserPrivilege{{AgencyID: SV("MAIN"), Type: SV("STATUS"), Status: SV("OK")}},
	}}, nil
}

func (s *fakeService) CheckOutItem(_ context.Context, c *Call, r *CheckOutItem) (*CheckOutItemResponse, error) {
	s.record(c)
	switch r.ItemID.Value {
	case "panic":
		panic("service exploded")
	case "error":
		return nil, errors.New("store: disk on fire")
	case "problem":
		return nil, NewProblem("CheckOutItem", UnknownItem, "no such item").At("ItemId", r.ItemID.Value)
	case "nil":
		return nil, nil
	case "incomplete":
		return &CheckOutItemResponse{ItemID: r.ItemID}, nil
	case "legacy":
		c.Write.BareVersion = true
		c.Write.NoNamespace = true
	}
	c.Partner = "reshare"
	return &CheckOutItemResponse{ItemID: r.ItemID, UserID: Identifier{Value: r.UserIdentifier()}, DateDue: tDue}, nil
}

func (s *fakeService) CheckInItem(_ context.Context, c *Call, r *CheckInItem) (*CheckInItemResponse, error) {
	s.record(c)
	return &CheckInItemResponse{ItemID: r.ItemID}, nil
}

func (s *fakeService) RenewItem(_ context.Context, c *Call, r *RenewItem) (*RenewItemResponse, error) {
	s.record(c)
	return &RenewItemResponse{Problems: []Problem{*NewProblem("RenewItem", MaximumRenewalsExceeded, "")}}, nil
}

// authService adds an Authorizer and one add-on service.
type authService struct{ fakeService }

func (s *authService) Authorize(_ context.Context, c *Call) error {
	if c.APIKey != "good-key" {
		return NewProblem(c.Service, AgencyAuthenticationFailed, "unknown partner")
	}
	return nil
}

func (s *authService) DeleteItem(_ context.Context, c *Call, r *DeleteItem) (*DeleteItemResponse, error) {
	s.record(c)
	return &DeleteItemResponse{ItemID: r.ItemID}, nil
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type testServer struct {
	*httptest.Server
	svc  Service
	log  *syncBuffer
	obs  chan Observation
	opts HandlerOptions
}

func newTestServer(t *testing.T, svc Service, mod ...func(*HandlerOptions)) *testServer {
	t.Helper()
	ts := &testServer{svc: svc, log: &syncBuffer{}, obs: make(chan Observation, 16)}
	o := HandlerOptions{Logger: zerolog.New(ts.log), Observer: func(o Observation) { ts.obs <- o }}
	for _, f := range mod {
		f(&o)
	}
	ts.opts = o
	mux := http.NewServeMux()
	h := NewHandler(svc, o)
	mux.Handle("/ncip", h)
	mux.Handle("/ncip/", h)
	ts.Server = httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	return ts
}

type reply struct {
	status int
	header http.Header
	body   []byte
	msg    *ResponseMessage
	obs    Observation
}

func (ts *testServer) do(t *testing.T, req *http.Request) reply {
	t.Helper()
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := reply{status: resp.StatusCode, header: resp.Header, body: body}
	select {
	case r.obs = <-ts.obs:
	case <-time.After(10 * time.Second):
		t.Fatal("no observation")
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/xml") {
		t.Errorf("content type %q", resp.Header.Get("Content-Type"))
	}
	if bytes.Contains(body, []byte("<html")) || bytes.Contains(body, []byte("goroutine ")) {
		t.Errorf("HTML or stack trace in body:\n%s", body)
	}
	r.msg, err = DecodeResponse(body, DecodeOptions{})
	if err != nil {
		t.Fatalf("response is not NCIP: %v\n%s", err, body)
	}
	return r
}

func (ts *testServer) post(t *testing.T, path, contentType string, body []byte) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, ts.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return ts.do(t, req)
}

func checkoutXML(item string) []byte {
	r := &CheckOutItem{
		Header:  &InitiationHeader{FromAgencyID: SV("ILL"), FromAgencyAuthentication: "agency-secret", ToAgencyID: SV("MAIN")},
		UserRef: UserRef{UserID: ID("P0001")}, ItemID: Identifier{Value: item},
	}
	b, _ := EncodeRequest(r, WriteOptions{Version: "http://www.niso.org/schemas/ncip/v2_0/imp1/xsd/ncip_v2_0.xsd"})
	return b
}

func TestHandlerSuccess(t *testing.T) {
	svc := &fakeService{}
	ts := newTestServer(t, svc)
	r := ts.post(t, "/ncip", "application/xml", checkoutXML("I1"))
	if r.status != 200 || r.msg.Service != "CheckOutItem" || len(r.msg.Problems) != 0 || r.msg.ItemID.Value != "I1" || !r.msg.DateDue.Equal(tDue) {
		t.Fatalf("reply %d %+v\n%s", r.status, r.msg, r.body)
	}
	validateNCIP(t, r.body)
	if h := r.msg.Header; h == nil || h.FromAgencyID.Value != "MAIN" || h.ToAgencyID.Value != "ILL" {
		t.Errorf("response header not swapped: %+v", h)
	}
	if bytes.Contains(r.body, []byte("agency-secret")) {
		t.Error("FromAgencyAuthentication echoed")
	}
	if !bytes.Contains(r.body, []byte(`ncip:version="http://www.niso.org/schemas/ncip/v2_0/imp1/xsd/ncip_v2_0.xsd"`)) {
		t.Errorf("request version not echoed:\n%s", r.body)
	}
	if r.obs != (Observation{Service: "CheckOutItem", Partner: "reshare", Outcome: OutcomeOK, Status: 200, Duration: r.obs.Duration}) {
		t.Errorf("observation %+v", r.obs)
	}
	c := svc.last()
	if c.Service != "CheckOutItem" || c.Header.FromAgencyAuthentication != "agency-secret" || !c.RemoteIP.IsLoopback() || c.Token != "" || c.APIKey != "" {
		t.Errorf("call %+v", c)
	}
	line := ts.log.String()
	for _, want := range []string{`"service":"CheckOutItem"`, `"partner":"reshare"`, `"outcome":"ok"`, `"status":200`, `"level":"info"`} {
		if !strings.Contains(line, want) {
			t.Errorf("log line lacks %s: %s", want, line)
		}
	}
}

func TestHandlerTransportFacts(t *testing.T) {
	svc := &fakeService{}
	ts := newTestServer(t, svc)
	for name, tc := range map[string]struct {
		path, header, value string
		key, token          string
	}{
		"x-api-key": {"/ncip", "X-API-Key", "k1", "k1", ""},
		"bearer":    {"/ncip", "Authorization", "Bearer k2", "k2", ""},
		"query":     {"/ncip?apikey=k3", "", "", "k3", ""},
		"token":     {"/ncip/tok-9", "", "", "", "tok-9"},
		"token /":   {"/ncip/tok-9/", "", "", "", "tok-9"},
	} {
		t.Run(name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, ts.URL+tc.path, bytes.NewReader(checkoutXML("I1")))
			if tc.header != "" {
				req.Header.Set(tc.header, tc.value)
			}
			r := ts.do(t, req)
			if r.status != 200 {
				t.Fatalf("status %d", r.status)
			}
			if c := svc.last(); c.APIKey != tc.key || c.Token != tc.token {
				t.Errorf("key %q token %q", c.APIKey, c.Token)
			}
			if strings.Contains(ts.log.String(), "k1") || strings.Contains(ts.log.String(), "k2") || strings.Contains(ts.log.String(), "tok-9") {
				t.Errorf("credential logged: %s", ts.log.String())
			}
		})
	}
	t.Run("bad path", func(t *testing.T) {
		r := ts.post(t, "/ncip/a/b", "", checkoutXML("I1"))
		if r.status != http.StatusNotFound || r.obs.Outcome != OutcomeRejected {
			t.Errorf("status %d %+v", r.status, r.obs)
		}
	})
}

func TestHandlerTLSPeerCertificates(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "storage-facility"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	svc := &fakeService{}
	obs := make(chan Observation, 1)
	srv := httptest.NewUnstartedServer(NewHandler(svc, HandlerOptions{Observer: func(o Observation) { obs <- o }}))
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAnyClientCert}
	srv.StartTLS()
	defer srv.Close()
	client := srv.Client()
	client.Transport.(*http.Transport).TLSClientConfig.Certificates = []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}
	resp, err := client.Post(srv.URL+"/ncip", "text/xml; charset=UTF-8", bytes.NewReader(checkoutXML("I1")))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	<-obs
	if c := svc.last(); len(c.PeerCertificates) != 1 || c.PeerCertificates[0].Subject.CommonName != "storage-facility" {
		t.Errorf("peer certificates %+v", c.PeerCertificates)
	}
}

func TestHandlerProblems(t *testing.T) {
	svc := &fakeService{}
	ts := newTestServer(t, svc)
	for name, tc := range map[string]struct {
		item, problem string
		outcome       Outcome
		level         string
	}{
		"problem error":    {"problem", UnknownItem, OutcomeProblem, "info"},
		"generic error":    {"error", TemporaryProcessingFailure, OutcomeError, "warn"},
		"panic":            {"panic", TemporaryProcessingFailure, OutcomeError, "error"},
		"nil response":     {"nil", TemporaryProcessingFailure, OutcomeError, "warn"},
		"invalid response": {"incomplete", TemporaryProcessingFailure, OutcomeError, "warn"},
	} {
		t.Run(name, func(t *testing.T) {
			r := ts.post(t, "/ncip", "application/xml", checkoutXML(tc.item))
			if r.status != 200 || r.msg.Service != "CheckOutItem" || len(r.msg.Problems) != 1 || r.msg.Problems[0].Type.Value != tc.problem {
				t.Fatalf("reply %d %+v\n%s", r.status, r.msg, r.body)
			}
			validateNCIP(t, r.body)
			if r.obs.Outcome != tc.outcome || r.obs.ProblemType != tc.problem {
				t.Errorf("observation %+v", r.obs)
			}
			if r.msg.Header == nil || r.msg.Header.ToAgencyID.Value != "ILL" {
				t.Errorf("problem response lacks the swapped header: %+v", r.msg.Header)
			}
			for _, secret := range []string{"disk on fire", "service exploded"} {
				if bytes.Contains(r.body, []byte(secret)) {
					t.Errorf("internal error %q reached the partner", secret)
				}
			}
			lines := strings.Split(strings.TrimSpace(ts.log.String()), "\n")
			if last := lines[len(lines)-1]; !strings.Contains(last, `"level":"`+tc.level+`"`) {
				t.Errorf("log level: %s", last)
			}
		})
	}
	t.Run("renew refused", func(t *testing.T) {
		b, _ := EncodeRequest(&RenewItem{UserRef: UserRef{UserID: ID("P")}, ItemID: Identifier{Value: "I"}}, WriteOptions{})
		r := ts.post(t, "/ncip", "application/xml", b)
		if len(r.msg.Problems) != 1 || r.msg.Problems[0].Type != (SchemeValue{Scheme: SchemeRenewItemError, Value: MaximumRenewalsExceeded}) || r.msg.Header != nil {
			t.Errorf("reply %+v", r.msg)
		}
	})
}

func TestHandlerBadInput(t *testing.T) {
	ts := newTestServer(t, &fakeService{}, func(o *HandlerOptions) { o.MaxBodyBytes = 4096 })
	for name, tc := range map[string]struct {
		body    string
		status  int
		problem string
		outcome Outcome
	}{
		"not xml":         {"not xml at all", 200, InvalidMessageSyntaxError, OutcomeInvalid},
		"empty":           {"", 200, InvalidMessageSyntaxError, OutcomeInvalid},
		"xml bomb":        {`<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><NCIPMessage>&b;</NCIPMessage>`, 200, InvalidMessageSyntaxError, OutcomeInvalid},
		"unknown service": {`<NCIPMessage version="2"><MakeTea/></NCIPMessage>`, 200, UnknownService, OutcomeInvalid},
		"unsupported":     {`<NCIPMessage version="2"><CreateUser/></NCIPMessage>`, 200, UnsupportedService, OutcomeInvalid},
		"oversized":       {"<NCIPMessage>" + strings.Repeat(" ", 5000) + "</NCIPMessage>", 413, InvalidMessageSyntaxError, OutcomeRejected},
		"missing item":    {`<NCIPMessage><CheckOutItem><UserId><UserIdentifierValue>P</UserIdentifierValue></UserId></CheckOutItem></NCIPMessage>`, 200, NeededDataMissing, OutcomeProblem},
	} {
		t.Run(name, func(t *testing.T) {
			r := ts.post(t, "/ncip", "application/xml", []byte(tc.body))
			if r.status != tc.status || len(r.msg.Problems) != 1 || r.msg.Problems[0].Type.Value != tc.problem {
				t.Fatalf("reply %d %+v\n%s", r.status, r.msg, r.body)
			}
			if r.obs.Outcome != tc.outcome {
				t.Errorf("outcome %q", r.obs.Outcome)
			}
			if name == "unknown service" && r.obs.Service != "" {
				t.Errorf("unknown element %q became a metric label", r.obs.Service)
			}
			if name == "unsupported" && r.obs.Service != "CreateUser" {
				t.Errorf("service %q", r.obs.Service)
			}
			validateNCIP(t, r.body)
		})
	}
	t.Run("GET", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, ts.URL+"/ncip", nil)
		r := ts.do(t, req)
		if r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != "POST" || len(r.msg.Problems) != 1 {
			t.Errorf("reply %d %v %+v", r.status, r.header, r.msg)
		}
		validateNCIP(t, r.body)
	})
}

func TestHandlerBodies(t *testing.T) {
	svc := &fakeService{}
	ts := newTestServer(t, svc)
	msg := checkoutXML("I1")
	t.Run("form field", func(t *testing.T) {
		r := ts.post(t, "/ncip", "application/x-www-form-urlencoded", []byte(url.Values{"xml": {string(msg)}}.Encode()))
		if r.msg.Service != "CheckOutItem" || len(r.msg.Problems) != 0 {
			t.Errorf("%+v", r.msg)
		}
	})
	t.Run("form field without content type", func(t *testing.T) {
		r := ts.post(t, "/ncip", "", []byte(url.Values{"xml": {string(msg)}}.Encode()))
		if r.msg.Service != "CheckOutItem" || len(r.msg.Problems) != 0 {
			t.Errorf("%+v", r.msg)
		}
	})
	t.Run("raw XML labelled as a form (curl -d)", func(t *testing.T) {
		r := ts.post(t, "/ncip", "application/x-www-form-urlencoded", msg)
		if r.msg.Service != "CheckOutItem" || len(r.msg.Problems) != 0 {
			t.Errorf("%+v", r.msg)
		}
	})
	t.Run("multipart", func(t *testing.T) {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		_ = mw.WriteField("XForms:Model", string(msg))
		_ = mw.Close()
		r := ts.post(t, "/ncip", mw.FormDataContentType(), buf.Bytes())
		if r.msg.Service != "CheckOutItem" || len(r.msg.Problems) != 0 {
			t.Errorf("%+v", r.msg)
		}
	})
	for _, ct := range []string{"text/xml; charset=UTF-8", `application/xml; charset="utf-8"`, "text/plain", "application/octet-stream"} {
		t.Run(ct, func(t *testing.T) {
			if r := ts.post(t, "/ncip", ct, msg); r.status != 200 || len(r.msg.Problems) != 0 {
				t.Errorf("%d %+v", r.status, r.msg)
			}
		})
	}
	t.Run("legacy options chosen by the service", func(t *testing.T) {
		r := ts.post(t, "/ncip", "", checkoutXML("legacy"))
		if !bytes.Contains(r.body, []byte(`<NCIPMessage version="`)) || bytes.Contains(r.body, []byte("ncip:")) {
			t.Errorf("legacy form not written:\n%s", r.body)
		}
	})
}

// TestHandlerBodyBuffers sends bodies of many sizes, with and without a
// Content-Length, one after another: body and response buffers are reused
// between requests, so each answer must still be its own request's, and
// must say its own length.
func TestHandlerBodyBuffers(t *testing.T) {
	ts := newTestServer(t, &fakeService{})
	for i, pad := range []int{0, 3000, 70000, 10, 9000, 0, 200000, 5} {
		item := fmt.Sprintf("I%d-%d", i, pad)
		msg := checkoutXML(item)
		// Padding goes in a comment after the XML declaration.
		at := bytes.IndexByte(msg, '\n') + 1
		body := slices.Concat(msg[:at], []byte("<!--"+strings.Repeat("p", pad)+"-->"), msg[at:])
		for _, chunked := range []bool{false, true} {
			var rd io.Reader = bytes.NewReader(body)
			if chunked {
				rd = io.MultiReader(rd) // hides the length: sent chunked
			}
			req, err := http.NewRequest(http.MethodPost, ts.URL+"/ncip", rd)
			if err != nil {
				t.Fatal(err)
			}
			r := ts.do(t, req)
			if r.status != 200 || len(r.msg.Problems) != 0 || r.msg.ItemID.Value != item {
				t.Fatalf("%s (chunked %v): %d %+v\n%s", item, chunked, r.status, r.msg, r.body)
			}
			if cl := r.header.Get("Content-Length"); cl != strconv.Itoa(len(r.body)) {
				t.Errorf("%s: Content-Length %q for %d bytes", item, cl, len(r.body))
			}
		}
	}
	// A form post whose content type is not in lower case is still a form.
	form := []byte(url.Values{"xml": {string(checkoutXML("FORM-1"))}}.Encode())
	if r := ts.post(t, "/ncip", "Application/X-WWW-Form-URLEncoded", form); r.msg.ItemID.Value != "FORM-1" {
		t.Errorf("upper-case form: %+v\n%s", r.msg, r.body)
	}
}

func TestHandlerAddOns(t *testing.T) {
	svc := &authService{}
	ts := newTestServer(t, svc, func(o *HandlerOptions) { o.AgencyID = SchemeValue{Scheme: "http://x/agencies", Value: "MAIN"} })
	del, _ := EncodeRequest(&DeleteItem{ItemID: Identifier{Value: "TMP1"}}, WriteOptions{})
	acc, _ := EncodeRequest(&AcceptItem{RequestID: Identifier{Value: "R"}, RequestedActionType: SV("Hold For Pickup")}, WriteOptions{})
	ver, _ := EncodeRequest(&LookupVersion{Header: &InitiationHeader{FromAgencyID: SV("ILL"), ToAgencyID: SV("MAIN")}}, WriteOptions{})
	send := func(body []byte, key string) reply {
		req, _ := http.NewRequest(http.MethodPost, ts.URL+"/ncip", bytes.NewReader(body))
		req.Header.Set("X-API-Key", key)
		return ts.do(t, req)
	}
	if r := send(del, "wrong"); len(r.msg.Problems) != 1 || r.msg.Problems[0].Type.Value != AgencyAuthenticationFailed || r.msg.Service != "DeleteItem" {
		t.Errorf("unauthorised: %+v", r.msg)
	}
	if r := send(del, "good-key"); len(r.msg.Problems) != 0 || r.msg.ItemID.Value != "TMP1" {
		t.Errorf("delete: %+v", r.msg)
	} else {
		validateNCIP(t, r.body)
	}
	if r := send(acc, "good-key"); len(r.msg.Problems) != 1 || r.msg.Problems[0].Type.Value != UnsupportedService || r.msg.Service != "AcceptItem" {
		t.Errorf("accept: %+v", r.msg)
	} else {
		validateNCIP(t, r.body)
	}
	noTo, _ := EncodeRequest(&DeleteItem{Header: &InitiationHeader{FromAgencyID: SV("ILL")}, ItemID: Identifier{Value: "T2"}}, WriteOptions{})
	if r := send(noTo, "good-key"); r.msg.Header == nil || r.msg.Header.FromAgencyID != (SchemeValue{Scheme: "http://x/agencies", Value: "MAIN"}) || r.msg.Header.ToAgencyID.Value != "ILL" {
		t.Errorf("own agency not filled in: %+v", r.msg.Header)
	}
	r := send(ver, "good-key")
	if r.msg.Service != "LookupVersion" || !bytes.Contains(r.body, []byte("<ncip:VersionSupported>"+Version202)) ||
		r.msg.Header == nil || r.msg.Header.FromAgencyID.Value != "MAIN" || r.msg.Header.ToAgencyID.Value != "ILL" {
		t.Errorf("lookup version: %+v\n%s", r.msg, r.body)
	}
}

// TestHandlerLogsNoSecrets sends PINs, agency secrets, API keys and
// personal data and checks none of them reaches the log.
func TestHandlerLogsNoSecrets(t *testing.T) {
	svc := &fakeService{}
	ts := newTestServer(t, svc, func(o *HandlerOptions) { o.Logger = o.Logger.Level(zerolog.DebugLevel) })
	lu := &LookupUser{Header: &InitiationHeader{FromAgencyID: SV("ILL"), FromAgencyAuthentication: "agency-s3cret", ToAgencyID: SV("MAIN")},
		UserRef: UserRef{Auth: []AuthenticationInput{{Data: "P0001", Type: SV("Barcode Id")}, {Data: "1234", Type: SV("PIN")}}}}
	for _, pin := range []string{"1234", "9876"} {
		lu.Auth[1].Data = pin
		b, _ := EncodeRequest(lu, WriteOptions{})
		req, _ := http.NewRequest(http.MethodPost, ts.URL+"/ncip/path-t0ken", bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer api-k3y")
		r := ts.do(t, req)
		if pin == "1234" {
			validateNCIP(t, r.body)
			if !bytes.Contains(r.body, []byte("Lovelace")) {
				t.Errorf("user data missing:\n%s", r.body)
			}
		} else if len(r.msg.Problems) != 1 || r.msg.Problems[0].Type.Value != UserAuthenticationFailed {
			t.Errorf("bad PIN: %+v", r.msg)
		}
		if bytes.Contains(r.body, []byte(pin)) || bytes.Contains(r.body, []byte("agency-s3cret")) {
			t.Errorf("secret echoed:\n%s", r.body)
		}
	}
	log := ts.log.String()
	// PINs are looked for as JSON strings and XML text: bare digits also
	// turn up in port numbers and durations.
	for _, secret := range []string{`"1234"`, ">1234<", `"9876"`, ">9876<", "agency-s3cret", "api-k3y", "path-t0ken", "Lovelace", "Ada", "P0001"} {
		if strings.Contains(log, secret) {
			t.Errorf("log contains %q:\n%s", secret, log)
		}
	}
}

func TestClient(t *testing.T) {
	svc := &fakeService{}
	ts := newTestServer(t, svc)
	c := &Client{URL: ts.URL + "/ncip", APIKey: "k", HTTP: ts.Client()}
	req, err := BuildRequest("CheckOutItem", []string{"from=ILL", "to=MAIN", "user=P1", "item=I9", "request=R1", "due=2026-12-24T17:00:00Z"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Do(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	<-ts.obs
	if res.Status != 200 || res.Problem != nil || res.Response.ItemID.Value != "I9" || res.Response.Service != "CheckOutItem" {
		t.Errorf("result %+v", res)
	}
	if call := svc.last(); call.APIKey != "k" || call.Header.ToAgencyID.Value != "MAIN" {
		t.Errorf("call %+v", call)
	}
	res, err = c.Send(context.Background(), []byte("garbage"))
	if err != nil {
		t.Fatal(err)
	}
	<-ts.obs
	if res.Problem == nil || res.Problem.Type.Value != InvalidMessageSyntaxError || res.Response.Service != "" {
		t.Errorf("garbage result %+v", res)
	}
	if _, err := (&Client{URL: "http://127.0.0.1:1/ncip"}).Send(context.Background(), []byte("x")); err == nil {
		t.Error("no error for a closed port")
	}
}

func TestBuildRequest(t *testing.T) {
	common := []string{"from=ILL", "to=MAIN", "from-auth=s", "profile=ReShare"}
	for service, fields := range map[string][]string{
		"LookupVersion":               nil,
		"LookupAgency":                {"agency=MAIN"},
		"LookupUser":                  {"barcode=P1", "pin=1234", "elements=Name Information,User Privilege", "loans=1", "requests=1", "account=1"},
		"LookupItem":                  {"item=I1"},
		"LookupRequest":               {"request=R1"},
		"AcceptItem":                  {"request=R1", "user=P1", "item=ILL-R1", "title=T", "author=A", "isbn=978", "call-number=QA1", "pickup=MAIN", "due=2026-12-24"},
		"CheckOutItem":                {"user=P1", "password=pw", "item=I1", "due=2026-12-24T10:00:00+01:00"},
		"CheckInItem":                 {"item=I1"},
		"RenewItem":                   {"user=P1", "item=I1"},
		"RequestItem":                 {"user=P1", "bib=12345", "request-type=Page", "pickup=MAIN"},
		"CancelRequestItem":           {"user=P1", "request=R1"},
		"RecallItem":                  {"item=I1", "on-behalf-of=DESK"},
		"DeleteItem":                  {"item=I1"},
		"CreateUserFiscalTransaction": {"user=P1", "amount=5.00", "currency=EUR", "description=ILL fee"},
		"ItemShipped":                 {"request=R1", "item=I1", "shipped=2026-12-01T09:00:00Z", "address=Main Library; 1 High St", "note=tote 4"},
	} {
		t.Run(service, func(t *testing.T) {
			r, err := BuildRequest(service, append(append([]string{}, common...), fields...))
			if err != nil {
				t.Fatal(err)
			}
			b, err := EncodeRequest(r, WriteOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if service == "LookupVersion" {
				checkWellFormed(t, b)
			} else {
				validateNCIP(t, b)
			}
			m, err := DecodeRequest(b, DecodeOptions{})
			if err != nil || m.Service != service {
				t.Fatalf("decode: %v %+v", err, m)
			}
		})
	}
	for _, bad := range [][]string{{"nokey"}, {"colour=red"}, {"due=soon"}} {
		if _, err := BuildRequest("CheckOutItem", bad); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
	if _, err := BuildRequest("MakeTea", nil); err == nil {
		t.Error("unknown service built")
	}
	if _, err := BuildRequest("CreateUserFiscalTransaction", []string{"user=P", "amount=lots"}); err == nil {
		t.Error("bad amount accepted")
	}
	if _, err := BuildRequest("ItemShipped", []string{"item=I1"}); err == nil || !strings.Contains(err.Error(), "address=") {
		t.Errorf("ItemShipped without an address: %v", err)
	}
	if _, err := BuildRequest("ItemShipped", []string{"item=I1", "address=x", "shipped=yesterday"}); err == nil {
		t.Error("bad shipped date accepted")
	}
}

// TestSampleRequestsThroughHandler posts every saved request sample and
// checks that the answer validates against the schema.
func TestSampleRequestsThroughHandler(t *testing.T) {
	dir := samplesDir + "/"
	ts := newTestServer(t, &fakeService{})
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !strings.Contains(e.Name(), "-request-") {
			continue
		}
		t.Run(e.Name(), func(t *testing.T) {
			b, err := os.ReadFile(dir + e.Name())
			if err != nil {
				t.Fatal(err)
			}
			r := ts.post(t, "/ncip", "application/xml", b)
			if r.status != 200 || r.msg.Service+"-request-xc.xml" != e.Name() {
				t.Fatalf("reply %d %+v\n%s", r.status, r.msg, r.body)
			}
			validateNCIP(t, r.body)
		})
	}
}

func TestHandlerWithoutBody(t *testing.T) {
	obs := make(chan Observation, 1)
	h := NewHandler(&fakeService{}, HandlerOptions{Observer: func(o Observation) { obs <- o }})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, &http.Request{Method: http.MethodPost, URL: &url.URL{Path: "/ncip"}, Header: http.Header{}})
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), InvalidMessageSyntaxError) {
		t.Errorf("%d %s", rec.Code, rec.Body)
	}
	if o := <-obs; o.Outcome != OutcomeInvalid {
		t.Errorf("%+v", o)
	}
}
