package responder

import (
	"bytes"
	"testing"

	"github.com/circa-ils/circa/fixtures"
	"github.com/circa-ils/circa/ncip"
)

// v1Header is the InitiationHeader of an NCIP 1.0 message from the demo
// partner: agencies as v1 UniqueAgencyId with Scheme and Value children.
const v1Header = `<InitiationHeader><FromAgencyId><UniqueAgencyId><Scheme>http://www.niso.org/ncip/v1_0/schemes/agencyidtype/agencyidtype.scm</Scheme>` +
	`<Value>` + fixtures.PartnerAgency + `</Value></UniqueAgencyId></FromAgencyId><ToAgencyId><UniqueAgencyId>` +
	`<Scheme>http://www.niso.org/ncip/v1_0/schemes/agencyidtype/agencyidtype.scm</Scheme><Value>` + fixtures.LocalAgency + `</Value>` +
	`</UniqueAgencyId></ToAgencyId></InitiationHeader>`

// v1 wraps a v1 service element in an NCIPMessage naming the v1 DTD.
func v1(prolog, inner string) string {
	return `<?xml version="1.0" encoding="UTF-8"?>` + "\n" + prolog +
		`<NCIPMessage version="http://www.niso.org/ncip/v1_0/imp1/dtd/ncip_v1_0.dtd">` + inner + `</NCIPMessage>`
}

func (e *env) postV1(body string) *ncip.Result {
	e.t.Helper()
	status, out := e.post("/ncip", fixtures.PartnerKey, body, true)
	m, err := ncip.DecodeResponse(out, ncip.DecodeOptions{})
	if err != nil {
		e.t.Fatalf("undecodable response (%v):\n%s", err, out)
	}
	res := &ncip.Result{Status: status, Body: out, Response: m}
	if len(m.Problems) > 0 {
		res.Problem = &m.Problems[0]
	}
	return res
}

// TestV1Partners replays NCIP 1.0 partner messages. Neither real message
// was at hand, so both are written by hand from the v1 element names in
// the reference: EnvisionWare's NCIP 1.01 LookupUser, which starts with a
// DOCTYPE naming the v1 DTD, and ReShare's v1 RequestItem, which names the
// title with UniqueBibliographicId.
func TestV1Partners(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	doctype := `<!DOCTYPE NCIPMessage PUBLIC "-//NISO//NCIP DTD Version 1//EN" "http://www.niso.org/ncip/v1_0/imp1/dtd/ncip_v1_0.dtd">` + "\n"
	lu := e.postV1(v1(doctype, `<LookupUser>`+v1Header+`<UniqueUserId><UniqueAgencyId><Scheme>s</Scheme><Value>`+fixtures.LocalAgency+`</Value></UniqueAgencyId>`+
		`<UserIdentifierValue>`+fixtures.PatronGood+`</UserIdentifierValue></UniqueUserId>`+
		`<UserElementType><Scheme>http://www.niso.org/ncip/v1_0/schemes/userelementtype/userelementtype.scm</Scheme><Value>User Privilege</Value></UserElementType>`+
		`</LookupUser>`))
	if ok(t, "EnvisionWare LookupUser with a DOCTYPE", lu); lu.Response.UserID == nil || lu.Response.UserID.Value != fixtures.PatronGood ||
		!bytes.Contains(lu.Body, []byte("Active")) {
		t.Fatalf("lookup:\n%s", lu.Body)
	}

	bib := titleOf(t, e, fixtures.ItemBranch)
	ri := e.postV1(v1("", `<RequestItem>`+v1Header+
		`<UniqueUserId><UniqueAgencyId><Scheme>s</Scheme><Value>`+fixtures.PartnerAgency+`</Value></UniqueAgencyId><UserIdentifierValue>`+brokerUser+`</UserIdentifierValue></UniqueUserId>`+
		`<UniqueBibliographicId><BibliographicRecordId><BibliographicRecordIdentifier>`+bib+`</BibliographicRecordIdentifier>`+
		`<UniqueAgencyId><Scheme>s</Scheme><Value>`+fixtures.LocalAgency+`</Value></UniqueAgencyId></BibliographicRecordId></UniqueBibliographicId>`+
		`<UniqueRequestId><UniqueAgencyId><Scheme>s</Scheme><Value>`+fixtures.PartnerAgency+`</Value></UniqueAgencyId><RequestIdentifierValue>RS-V1-1</RequestIdentifierValue></UniqueRequestId>`+
		`<RequestType><Scheme>http://www.niso.org/ncip/v1_0/imp1/schemes/requesttype/requesttype.scm</Scheme><Value>Loan</Value></RequestType>`+
		`<RequestScopeType><Scheme>http://www.niso.org/ncip/v1_0/imp1/schemes/requestscopetype/requestscopetype.scm</Scheme><Value>Bibliographic Item</Value></RequestScopeType>`+
		`</RequestItem>`))
	if ok(t, "ReShare v1 RequestItem by title", ri); ri.Response.RequestID == nil || ri.Response.RequestID.Value != "RS-V1-1" ||
		!bytes.Contains(ri.Body, []byte("Bibliographic Item")) {
		t.Fatalf("request:\n%s", ri.Body)
	}
	r := e.ill("LookupRequest", "request=RS-V1-1")
	if ok(t, "the title request", r); !bytes.Contains(r.Body, []byte("Bibliographic Item")) || !bytes.Contains(r.Body, []byte("<ncip:Title>")) {
		t.Fatalf("lookup request:\n%s", r.Body)
	}
	// Naming neither item nor title says a title would do.
	p := problem(t, "no item, no title", e.postV1(v1("", `<RequestItem>`+v1Header+
		`<UniqueUserId><UserIdentifierValue>`+brokerUser+`</UserIdentifierValue></UniqueUserId>`+
		`<RequestType><Value>Loan</Value></RequestType><RequestScopeType><Value>Item</Value></RequestScopeType></RequestItem>`)), ncip.NeededDataMissing)
	if !bytes.Contains([]byte(p.Detail), []byte("BibliographicId")) {
		t.Fatalf("problem %+v", p)
	}
}
