package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/circa-ils/circa/ncip"
)

// ncipService is one NCIP service the generator sends, with the fixed
// reply the HTTP echo gives for it.
type ncipService struct {
	name string
	echo []byte
}

var ncipServices = []ncipService{
	{name: "LookupUser", echo: []byte(`<?xml version="1.0" encoding="UTF-8"?>
<ncip:NCIPMessage xmlns:ncip="http://www.niso.org/2008/ncip" ncip:version="http://www.niso.org/schemas/ncip/v2_02/ncip_v2_02.xsd"><ncip:LookupUserResponse><ncip:ResponseHeader><ncip:FromAgencyId><ncip:AgencyId>DEMO-LIBRARY</ncip:AgencyId></ncip:FromAgencyId><ncip:ToAgencyId><ncip:AgencyId>DEMO-BROKER</ncip:AgencyId></ncip:ToAgencyId></ncip:ResponseHeader><ncip:UserId><ncip:AgencyId>DEMO-LIBRARY</ncip:AgencyId><ncip:UserIdentifierValue>21000000001000</ncip:UserIdentifierValue></ncip:UserId><ncip:UserOptionalFields><ncip:NameInformation><ncip:PersonalNameInformation><ncip:StructuredPersonalUserName><ncip:GivenName>Pat</ncip:GivenName><ncip:Surname>Ron</ncip:Surname></ncip:StructuredPersonalUserName></ncip:PersonalNameInformation></ncip:NameInformation></ncip:UserOptionalFields></ncip:LookupUserResponse></ncip:NCIPMessage>
`)},
	{name: "CheckOutItem", echo: []byte(`<?xml version="1.0" encoding="UTF-8"?>
<ncip:NCIPMessage xmlns:ncip="http://www.niso.org/2008/ncip" ncip:version="http://www.niso.org/schemas/ncip/v2_02/ncip_v2_02.xsd"><ncip:CheckOutItemResponse><ncip:ResponseHeader><ncip:FromAgencyId><ncip:AgencyId>DEMO-LIBRARY</ncip:AgencyId></ncip:FromAgencyId><ncip:ToAgencyId><ncip:AgencyId>DEMO-BROKER</ncip:AgencyId></ncip:ToAgencyId></ncip:ResponseHeader><ncip:ItemId><ncip:AgencyId>DEMO-LIBRARY</ncip:AgencyId><ncip:ItemIdentifierValue>31000000001000</ncip:ItemIdentifierValue></ncip:ItemId><ncip:UserId><ncip:AgencyId>DEMO-LIBRARY</ncip:AgencyId><ncip:UserIdentifierValue>21000000001000</ncip:UserIdentifierValue></ncip:UserId><ncip:DateDue>2026-02-01T04:59:59Z</ncip:DateDue></ncip:CheckOutItemResponse></ncip:NCIPMessage>
`)},
	{name: "CheckInItem", echo: []byte(`<?xml version="1.0" encoding="UTF-8"?>
<ncip:NCIPMessage xmlns:ncip="http://www.niso.org/2008/ncip" ncip:version="http://www.niso.org/schemas/ncip/v2_02/ncip_v2_02.xsd"><ncip:CheckInItemResponse><ncip:ResponseHeader><ncip:FromAgencyId><ncip:AgencyId>DEMO-LIBRARY</ncip:AgencyId></ncip:FromAgencyId><ncip:ToAgencyId><ncip:AgencyId>DEMO-BROKER</ncip:AgencyId></ncip:ToAgencyId></ncip:ResponseHeader><ncip:ItemId><ncip:AgencyId>DEMO-LIBRARY</ncip:AgencyId><ncip:ItemIdentifierValue>31000000001000</ncip:ItemIdentifierValue></ncip:ItemId></ncip:CheckInItemResponse></ncip:NCIPMessage>
`)},
}

// NCIPTarget is an NCIP responder: its endpoint and the API key sent as
// X-API-Key.
type NCIPTarget struct {
	URL, Key string
}

// NCIPAgencies are the initiation header's agencies: the partner sending
// and the library answering.
type NCIPAgencies struct {
	From, To string
}

// ncipMix is a named cycle of NCIP services for one connection.
type ncipMix struct {
	name     string
	write    bool
	services []string
}

// ncipMixes are the NCIP workloads: a broker looking patrons up, and a
// broker checking items out and in again (each connection its own item).
var ncipMixes = []ncipMix{
	{name: "lookup-user", services: []string{"LookupUser"}},
	{name: "checkout", write: true, services: []string{"CheckOutItem", "CheckInItem"}},
}

// NCIPMixNames lists the NCIP mixes.
func NCIPMixNames() []string {
	names := make([]string, len(ncipMixes))
	for i, m := range ncipMixes {
		names[i] = m.name
	}
	return names
}

func ncipMixByName(name string) (ncipMix, error) {
	for _, m := range ncipMixes {
		if m.name == name {
			return m, nil
		}
	}
	return ncipMix{}, fmt.Errorf("unknown NCIP mix %q (one of %s)", name, strings.Join(NCIPMixNames(), ", "))
}

// ncipConn is one broker connection: an HTTP/1.1 client with a single
// keep-alive connection, so N generator connections are N TCP connections.
type ncipConn struct {
	connStats
	client   *http.Client
	t        NCIPTarget
	bodies   [][]byte
	services []string
	replies  [][]byte // the response element each service must answer with
	pos      int
}

func newNCIPConn(ctx context.Context, t NCIPTarget, ag NCIPAgencies, p Party, mix ncipMix, timeout time.Duration) (*ncipConn, error) {
	c := &ncipConn{t: t, connStats: connStats{errs: map[string]uint64{}},
		client: &http.Client{Timeout: timeout, Transport: &http.Transport{MaxIdleConnsPerHost: 1, MaxConnsPerHost: 1,
			DisableCompression: true, Proxy: nil}}}
	fields := []string{"from=" + ag.From, "to=" + ag.To, "user=" + p.Patron, "item=" + p.Item}
	for _, svc := range append([]string{"LookupUser"}, mix.services...) {
		req, err := ncip.BuildRequest(svc, fields)
		if err != nil {
			return nil, err
		}
		body, err := ncip.EncodeRequest(req, ncip.WriteOptions{})
		if err != nil {
			return nil, err
		}
		c.bodies = append(c.bodies, body)
		c.services = append(c.services, svc)
		c.replies = append(c.replies, []byte(svc+"Response>"))
	}
	// The first request (a LookupUser) opens the connection outside the
	// measured windows.
	if kind := c.post(ctx, 0); kind != "" {
		c.close()
		return nil, fmt.Errorf("NCIP LookupUser: %s", kind)
	}
	c.bodies, c.services, c.replies = c.bodies[1:], c.services[1:], c.replies[1:]
	return c, nil
}

func (c *ncipConn) stats() *connStats { return &c.connStats }

func (c *ncipConn) close() { c.client.CloseIdleConnections() }

// post sends request i and checks the answer: HTTP 200, the service's
// response element, and no Problem.
func (c *ncipConn) post(ctx context.Context, i int) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.t.URL, bytes.NewReader(c.bodies[i]))
	if err != nil {
		return ErrIO
	}
	req.Header.Set("Content-Type", "application/xml; charset=utf-8")
	if c.t.Key != "" {
		req.Header.Set("X-API-Key", c.t.Key)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || os.IsTimeout(err) {
			return ErrTimeout
		}
		return ErrIO
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	switch {
	case err != nil:
		return ErrIO
	case resp.StatusCode != http.StatusOK:
		return ErrHTTP
	case bytes.Contains(body, []byte("Problem>")):
		return ErrProblem
	case !bytes.Contains(body, c.replies[i]):
		return ErrCode
	}
	return ""
}

func (c *ncipConn) next(intended time.Time) {
	if intended.IsZero() {
		intended = time.Now()
	}
	kind := c.post(context.Background(), c.pos)
	c.hist.Record(time.Since(intended))
	if kind == ErrIO || kind == ErrTimeout {
		c.dead = true
	}
	if kind != "" {
		c.errs[kind+"/"+c.services[c.pos]]++
	} else if c.services[c.pos] != "LookupUser" {
		c.writes++
	}
	c.done++
	c.total++
	c.pos = (c.pos + 1) % len(c.bodies)
}
