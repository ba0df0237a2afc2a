package ncip

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"

	"github.com/circa-ils/circa/internal/conformance"
)

func mustDecode(t *testing.T, s string) Request {
	t.Helper()
	m, err := DecodeRequest([]byte(s), DecodeOptions{})
	if err != nil {
		t.Fatalf("DecodeRequest: %v\n%s", err, s)
	}
	return m.Request
}

// TestSamplesParse reads every saved sample: requests into typed requests,
// responses into ResponseMessages. The samples are valid against the schema
// circa carries.
func TestSamplesParse(t *testing.T) {
	dir := samplesDir
	files, err := filepath.Glob(filepath.Join(dir, "*.xml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no samples in %s: %v", dir, err)
	}
	var all [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b)
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			service := name[:strings.IndexByte(name, '-')]
			if strings.Contains(name, "-request-") {
				m, err := DecodeRequest(b, DecodeOptions{})
				if err != nil {
					t.Fatalf("DecodeRequest: %v", err)
				}
				if m.Service != service || m.Request == nil || m.Request.Service() != service {
					t.Fatalf("service = %q, want %s", m.Service, service)
				}
				if !strings.HasPrefix(m.Version, "http://www.niso.org/schemas/ncip/") {
					t.Errorf("version = %q", m.Version)
				}
				return
			}
			m, err := DecodeResponse(b, DecodeOptions{})
			if err != nil {
				t.Fatalf("DecodeResponse: %v", err)
			}
			if service == "Problem" {
				if m.Service != "" || len(m.Problems) == 0 {
					t.Fatalf("top-level problem not read: %+v", m)
				}
			} else if m.Service != service {
				t.Fatalf("service = %q, want %s", m.Service, service)
			}
		})
	}
	if conformance.Have(t, "xmllint") {
		conformance.ValidateNCIP(t, all...)
	}
}

func TestSampleRequestFields(t *testing.T) {
	dir := samplesDir
	read := func(name string) Request {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return mustDecode(t, string(b))
	}
	co := read("CheckOutItem-request-xc.xml").(*CheckOutItem)
	if co.Header.FromAgencyID.Value != "ENG" || co.Header.ToAgencyID.Value != "MIT" || co.UserIdentifier() != "10923123" ||
		co.ItemID.Value != "19823098123" || co.RequestID.Value != "REQ123" || co.ItemID.AgencyID.Scheme != "localhost/ncip/v1/schemes/agencies/1" {
		t.Errorf("CheckOutItem = %+v", co)
	}
	lu := read("LookupUser-request-xc.xml").(*LookupUser)
	if lu.UserIdentifier() != "98765432" || !lu.LoanedItemsDesired || !lu.RequestedItemsDesired || !lu.UserFiscalAccountDesired {
		t.Errorf("LookupUser = %+v", lu)
	}
	if s, ok := lu.Secret(); !ok || s != "password" {
		t.Errorf("LookupUser secret = %q, %v", s, ok)
	}
	ai := read("AcceptItem-request-xc.xml").(*AcceptItem)
	if ai.RequestID.Value != "VDX1234" || !ai.RequestedActionType.Is("circulate") || ai.UserID.Value != "OCLCTEST" ||
		ai.ItemOptionalFields.Bibliographic.Title != "The title of the book" || ai.ItemOptionalFields.Bibliographic.ItemID.Code.Value != "ISBN" ||
		!ai.DateForReturn.Equal(time.Date(2010, 11, 20, 0, 0, 0, 329e6, time.UTC)) {
		t.Errorf("AcceptItem = %+v", ai)
	}
	ri := read("RequestItem-request-xc.xml").(*RequestItem)
	if !ri.TitleLevel() || ri.BibliographicIDs[0].RecordID.Identifier != "2052516" || ri.BibliographicIDs[0].RecordID.Code.Value != "OCLC" || ri.RequestID.Value != "WCNav1234" {
		t.Errorf("RequestItem = %+v", ri)
	}
	cr := read("CancelRequestItem-request-xc.xml").(*CancelRequestItem)
	if cr.RequestID.Value != "101919" || !cr.RequestType.Is("Hold") || cr.UserIdentifier() != "98765432" {
		t.Errorf("CancelRequestItem = %+v", cr)
	}
	ci := read("CheckInItem-request-xc.xml").(*CheckInItem)
	if ci.ItemID.Value != "10923123" || ci.ItemID.Type.Value != "Barcode" || ci.DateEventOccurred.IsZero() {
		t.Errorf("CheckInItem = %+v", ci)
	}
}

const coreCheckOut = `<NCIPMessage%s %sversion="2.0"><CheckOutItem>
<InitiationHeader><FromAgencyId><AgencyId>ILL</AgencyId></FromAgencyId><ToAgencyId><AgencyId>MAIN</AgencyId></ToAgencyId></InitiationHeader>
<UserId><UserIdentifierValue>P1</UserIdentifierValue></UserId><ItemId><ItemIdentifierValue>I1</ItemIdentifierValue></ItemId>
</CheckOutItem></NCIPMessage>`

func TestTolerantNamespaces(t *testing.T) {
	for name, doc := range map[string]string{
		"no namespace":      strings.Replace(strings.Replace(coreCheckOut, "%s", "", 1), "%s", "", 1),
		"default namespace": strings.Replace(strings.Replace(coreCheckOut, "%s", ` xmlns="`+Namespace+`"`, 1), "%s", "", 1),
		"other prefix": `<x:NCIPMessage xmlns:x="` + Namespace + `" x:version="2"><x:CheckOutItem><x:InitiationHeader><x:FromAgencyId><x:AgencyId>ILL</x:AgencyId></x:FromAgencyId>` +
			`<x:ToAgencyId><x:AgencyId>MAIN</x:AgencyId></x:ToAgencyId></x:InitiationHeader><x:UserId><x:UserIdentifierValue>P1</x:UserIdentifierValue></x:UserId>` +
			`<x:ItemId><x:ItemIdentifierValue>I1</x:ItemIdentifierValue></x:ItemId></x:CheckOutItem></x:NCIPMessage>`,
		"unprefixed version with prefixed elements": `<ncip:NCIPMessage xmlns:ncip="` + Namespace + `" version="2"><ncip:CheckOutItem><ncip:UserId><ncip:UserIdentifierValue>P1</ncip:UserIdentifierValue></ncip:UserId>` +
			`<ncip:ItemId><ncip:ItemIdentifierValue>I1</ncip:ItemIdentifierValue></ncip:ItemId></ncip:CheckOutItem></ncip:NCIPMessage>`,
		"no NCIPMessage wrapper": `<CheckOutItem><UserId><UserIdentifierValue>P1</UserIdentifierValue></UserId><ItemId><ItemIdentifierValue>I1</ItemIdentifierValue></ItemId></CheckOutItem>`,
	} {
		t.Run(name, func(t *testing.T) {
			co := mustDecode(t, doc).(*CheckOutItem)
			if co.UserIdentifier() != "P1" || co.ItemID.Value != "I1" {
				t.Errorf("got %+v", co)
			}
		})
	}
	m, err := DecodeRequest([]byte(`<NCIPMessage version="http://www.niso.org/schemas/ncip/v2_0/ncip_v2_0.xsd"><CheckInItem><ItemId><ItemIdentifierValue>I</ItemIdentifierValue></ItemId></CheckInItem></NCIPMessage>`), DecodeOptions{})
	if err != nil || m.Version != "http://www.niso.org/schemas/ncip/v2_0/ncip_v2_0.xsd" {
		t.Errorf("unprefixed version: %v %+v", err, m)
	}
}

func TestTolerantContent(t *testing.T) {
	t.Run("out of order", func(t *testing.T) {
		co := mustDecode(t, `<NCIPMessage><CheckOutItem><RequestId><RequestIdentifierValue>R</RequestIdentifierValue></RequestId>
			<ItemId><ItemIdentifierValue>I1</ItemIdentifierValue><AgencyId>A</AgencyId></ItemId>
			<UserId><UserIdentifierValue>P1</UserIdentifierValue></UserId>
			<InitiationHeader><ToAgencyId><AgencyId>MAIN</AgencyId></ToAgencyId><FromAgencyId><AgencyId>ILL</AgencyId></FromAgencyId></InitiationHeader>
			</CheckOutItem></NCIPMessage>`).(*CheckOutItem)
		if co.Header.FromAgencyID.Value != "ILL" || co.ItemID.AgencyID.Value != "A" || co.RequestID.Value != "R" || co.UserIdentifier() != "P1" {
			t.Errorf("got %+v", co)
		}
	})
	t.Run("UserId and AuthenticationInput", func(t *testing.T) {
		lu := mustDecode(t, `<NCIPMessage><LookupUser><UserId><UserIdentifierValue>P1</UserIdentifierValue></UserId>
			<AuthenticationInput><AuthenticationInputData>1234</AuthenticationInputData><AuthenticationDataFormatType/><AuthenticationInputType>pin</AuthenticationInputType></AuthenticationInput>
			<UserElementType>Name Information</UserElementType></LookupUser></NCIPMessage>`).(*LookupUser)
		if lu.UserIdentifier() != "P1" || !lu.Wants("name information") {
			t.Errorf("got %+v", lu)
		}
		if s, ok := lu.Secret(); !ok || s != "1234" {
			t.Errorf("secret = %q %v", s, ok)
		}
		if strings.Contains(lu.Auth[0].String(), "1234") {
			t.Errorf("String leaks the PIN: %s", lu.Auth[0])
		}
	})
	t.Run("username authentication only", func(t *testing.T) {
		lu := mustDecode(t, `<NCIPMessage><LookupUser><AuthenticationInput><AuthenticationInputData>jdoe</AuthenticationInputData>
			<AuthenticationInputType>username</AuthenticationInputType></AuthenticationInput></LookupUser></NCIPMessage>`).(*LookupUser)
		if lu.UserIdentifier() != "jdoe" {
			t.Errorf("got %q", lu.UserIdentifier())
		}
		if _, ok := lu.Secret(); ok {
			t.Error("no secret was sent")
		}
	})
	t.Run("amount without currency, missing scheme, decimals", func(t *testing.T) {
		r := mustDecode(t, `<NCIPMessage><CreateUserFiscalTransaction><UserId><UserIdentifierValue>P1</UserIdentifierValue></UserId>
			<FiscalTransactionInformation><FiscalActionType>Assess</FiscalActionType><FiscalTransactionType>Service Charge</FiscalTransactionType>
			<Amount><MonetaryValue> 12.5 </MonetaryValue></Amount></FiscalTransactionInformation></CreateUserFiscalTransaction></NCIPMessage>`).(*CreateUserFiscalTransaction)
		f := r.FiscalTransaction
		if f.Amount.Value != 1250 || f.Amount.CurrencyCode.Value != "" || f.ActionType != (SchemeValue{Value: "Assess"}) {
			t.Errorf("got %+v", f)
		}
	})
	t.Run("padded agency ids", func(t *testing.T) {
		co := mustDecode(t, `<NCIPMessage><CheckInItem><InitiationHeader><FromAgencyId><AgencyId ncip:Scheme=" s ">g    </AgencyId></FromAgencyId>
			<ToAgencyId><AgencyId>
			  MAIN
			</AgencyId></ToAgencyId></InitiationHeader><ItemId><AgencyId> g </AgencyId><ItemIdentifierValue> I1 </ItemIdentifierValue></ItemId></CheckInItem></NCIPMessage>`).(*CheckInItem)
		if co.Header.FromAgencyID != (SchemeValue{Scheme: "s", Value: "g"}) || co.Header.ToAgencyID.Value != "MAIN" || co.ItemID.AgencyID.Value != "g" || co.ItemID.Value != "I1" {
			t.Errorf("got %+v %+v", co.Header, co.ItemID)
		}
	})
	t.Run("unknown Ext content and unknown elements", func(t *testing.T) {
		co := mustDecode(t, `<NCIPMessage xmlns:wcl="http://oclc.org/WCL/ncip/2011/extensions"><CheckInItem><ItemId><ItemIdentifierValue>I1</ItemIdentifierValue></ItemId>
			<Ext><wcl:Anything a="1"><wcl:Deep><ItemId><ItemIdentifierValue>WRONG</ItemIdentifierValue></ItemId></wcl:Deep></wcl:Anything></Ext>
			<SomethingNew>x</SomethingNew></CheckInItem></NCIPMessage>`).(*CheckInItem)
		if co.ItemID.Value != "I1" {
			t.Errorf("got %+v", co)
		}
	})
	t.Run("v1 UniqueAgencyId", func(t *testing.T) {
		co := mustDecode(t, `<NCIPMessage><CheckInItem><InitiationHeader><FromAgencyId><UniqueAgencyId><Scheme>s</Scheme><Value>ILL</Value></UniqueAgencyId></FromAgencyId></InitiationHeader>
			<ItemId><ItemIdentifierValue>I1</ItemIdentifierValue></ItemId></CheckInItem></NCIPMessage>`).(*CheckInItem)
		if co.Header.FromAgencyID != (SchemeValue{Scheme: "s", Value: "ILL"}) {
			t.Errorf("got %+v", co.Header)
		}
	})
	t.Run("NCIP v1 without a DOCTYPE", func(t *testing.T) {
		co := mustDecode(t, `<NCIPMessage version="http://www.niso.org/ncip/v1_0/imp1/dtd/ncip_v1_0.dtd"><CheckOutItem>
			<InitiationHeader><FromAgencyId><UniqueAgencyId><Scheme>http://x/agencies</Scheme><Value>ILL</Value></UniqueAgencyId></FromAgencyId>
			<ToAgencyId><UniqueAgencyId><Scheme>http://x/agencies</Scheme><Value>MAIN</Value></UniqueAgencyId></ToAgencyId></InitiationHeader>
			<UniqueUserId><UniqueAgencyId><Scheme>s</Scheme><Value>MAIN</Value></UniqueAgencyId><UserIdentifierValue>P1</UserIdentifierValue></UniqueUserId>
			<UniqueItemId><UniqueAgencyId><Scheme>s</Scheme><Value>MAIN</Value></UniqueAgencyId><ItemIdentifierValue>I1</ItemIdentifierValue></UniqueItemId>
			<UniqueRequestId><UniqueAgencyId><Scheme>s</Scheme><Value>ILL</Value></UniqueAgencyId><RequestIdentifierValue>R1</RequestIdentifierValue></UniqueRequestId>
			</CheckOutItem></NCIPMessage>`).(*CheckOutItem)
		if co.Header.FromAgencyID != (SchemeValue{Scheme: "http://x/agencies", Value: "ILL"}) || co.Header.ToAgencyID.Value != "MAIN" ||
			co.UserID.Value != "P1" || co.UserID.AgencyID != (SchemeValue{Scheme: "s", Value: "MAIN"}) || co.ItemID.Value != "I1" || co.RequestID.Value != "R1" {
			t.Errorf("got %+v %+v %+v %+v", co.Header, co.UserID, co.ItemID, co.RequestID)
		}
		lu := mustDecode(t, `<NCIPMessage><LookupUser><AuthenticationInput><AuthenticationInputData>1234</AuthenticationInputData>
			<AuthenticationDataFormatType><Scheme>http://www.iana.org/assignments/media-types</Scheme><Value>text/plain</Value></AuthenticationDataFormatType>
			<AuthenticationInputType><Scheme>`+SchemeAuthenticationInputType+`</Scheme><Value>PIN</Value></AuthenticationInputType></AuthenticationInput>
			<UniqueUserId><UserIdentifierValue>P1</UserIdentifierValue></UniqueUserId></LookupUser></NCIPMessage>`).(*LookupUser)
		if s, ok := lu.Secret(); !ok || s != "1234" || lu.UserIdentifier() != "P1" || lu.Auth[0].Type.Scheme != SchemeAuthenticationInputType {
			t.Errorf("got %+v", lu)
		}
	})
	t.Run("entities, CDATA, comments and PIs", func(t *testing.T) {
		co := mustDecode(t, `<?xml version="1.0"?><!-- c --><?pi x?><NCIPMessage><CheckInItem><ItemId><ItemIdentifierValue>A&amp;B&#x20;&#67;<!-- c --><![CDATA[<D>]]><?pi?></ItemIdentifierValue></ItemId></CheckInItem></NCIPMessage><!-- end -->`).(*CheckInItem)
		if co.ItemID.Value != "A&B C<D>" {
			t.Errorf("got %q", co.ItemID.Value)
		}
	})
	t.Run("dates", func(t *testing.T) {
		loc := time.FixedZone("partner", 2*3600)
		for in, want := range map[string]time.Time{
			"2010-11-20T00:00:00.329Z":  time.Date(2010, 11, 20, 0, 0, 0, 329e6, time.UTC),
			"2015-04-15T11:20:30":       time.Date(2015, 4, 15, 11, 20, 30, 0, loc),
			"2015-04-15":                time.Date(2015, 4, 15, 0, 0, 0, 0, loc),
			"2015-04-15T11:20:30-05:00": time.Date(2015, 4, 15, 16, 20, 30, 0, time.UTC),
			"2015-04-15T11:20:30+0100":  time.Date(2015, 4, 15, 10, 20, 30, 0, time.UTC),
		} {
			m, err := DecodeRequest([]byte(`<NCIPMessage><RenewItem><ItemId><ItemIdentifierValue>I</ItemIdentifierValue></ItemId><DesiredDateDue>`+in+`</DesiredDateDue></RenewItem></NCIPMessage>`), DecodeOptions{Location: loc})
			if err != nil {
				t.Fatalf("%s: %v", in, err)
			}
			if got := m.Request.(*RenewItem).DesiredDateDue; !got.Equal(want) {
				t.Errorf("%s: got %v, want %v", in, got, want)
			}
		}
	})
}

func TestEncodings(t *testing.T) {
	doc := `<NCIPMessage><CheckInItem><ItemId><ItemIdentifierValue>Třebová – café</ItemIdentifierValue></ItemId></CheckInItem></NCIPMessage>`
	utf16 := func(e unicode.Endianness, bom unicode.BOMPolicy, decl bool) []byte {
		s := doc
		if decl {
			s = `<?xml version="1.0" encoding="UTF-16"?>` + s
		}
		b, err := unicode.UTF16(e, bom).NewEncoder().Bytes([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	latin := func(cm *charmap.Charmap, decl string) []byte {
		s := strings.ReplaceAll(doc, "Třebová – café", "café")
		b, err := cm.NewEncoder().Bytes([]byte(decl + s))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for name, tc := range map[string]struct {
		in   []byte
		want string
	}{
		"utf-8 with BOM":                {append([]byte{0xEF, 0xBB, 0xBF}, doc...), "Třebová – café"},
		"utf-16le with BOM":             {utf16(unicode.LittleEndian, unicode.UseBOM, true), "Třebová – café"},
		"utf-16be with BOM":             {utf16(unicode.BigEndian, unicode.UseBOM, true), "Třebová – café"},
		"utf-16le without BOM":          {utf16(unicode.LittleEndian, unicode.IgnoreBOM, true), "Třebová – café"},
		"iso-8859-1 declared":           {latin(charmap.ISO8859_1, `<?xml version="1.0" encoding="ISO-8859-1"?>`), "café"},
		"windows-1252 declared":         {latin(charmap.Windows1252, `<?xml version='1.0' encoding='windows-1252' ?>`), "café"},
		"latin-1 undeclared":            {latin(charmap.ISO8859_1, ""), "café"},
		"latin-1 mislabelled as utf-8":  {latin(charmap.ISO8859_1, `<?xml version="1.0" encoding="UTF-8"?>`), "café"},
		"utf-8 labelled as iso-8859-1?": {[]byte(`<?xml version="1.0" encoding="utf-8"?>` + doc), "Třebová – café"},
	} {
		t.Run(name, func(t *testing.T) {
			m, err := DecodeRequest(tc.in, DecodeOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got := m.Request.(*CheckInItem).ItemID.Value; got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	if _, err := DecodeRequest([]byte(`<?xml version="1.0" encoding="x-unheard-of"?>`+doc), DecodeOptions{}); !errors.Is(err, ErrBadEncoding) {
		t.Errorf("unknown encoding: err = %v", err)
	}
}

func TestBadInput(t *testing.T) {
	deep := strings.Repeat("<a>", 100) + strings.Repeat("</a>", 100)
	many := "<NCIPMessage><CheckInItem>" + strings.Repeat("<x/>", 5000) + "</CheckInItem></NCIPMessage>"
	for name, tc := range map[string]struct {
		in      string
		err     error
		problem string
	}{
		"empty":          {"", ErrNotXML, InvalidMessageSyntaxError},
		"not xml":        {"hello world", ErrNotXML, InvalidMessageSyntaxError},
		"json":           {`{"service":"CheckOutItem"}`, ErrNotXML, InvalidMessageSyntaxError},
		"html":           {"<html><body>It works!</body></html>", ErrNotNCIP, InvalidMessageSyntaxError},
		"truncated":      {"<NCIPMessage><CheckInItem><ItemId>", ErrNotXML, InvalidMessageSyntaxError},
		"mismatched":     {"<NCIPMessage><CheckInItem></CheckOutItem></NCIPMessage>", ErrNotXML, InvalidMessageSyntaxError},
		"two roots":      {"<NCIPMessage/><NCIPMessage/>", ErrNotXML, InvalidMessageSyntaxError},
		"unquoted attr":  {"<NCIPMessage version=2/>", ErrNotXML, InvalidMessageSyntaxError},
		"undefined ent":  {"<NCIPMessage><CheckInItem>&foo;</CheckInItem></NCIPMessage>", ErrNotXML, InvalidMessageSyntaxError},
		"bad char ref":   {"<NCIPMessage><CheckInItem>&#0;</CheckInItem></NCIPMessage>", ErrNotXML, InvalidMessageSyntaxError},
		"empty message":  {"<NCIPMessage/>", ErrNoService, InvalidMessageSyntaxError},
		"dtd subset":     {`<!DOCTYPE NCIPMessage PUBLIC "-//NISO//NCIP DTD Version 1//EN" "http://www.niso.org/ncip/v1_0/imp1/dtd/ncip_v1_0.dtd" []><NCIPMessage/>`, ErrDTD, InvalidMessageSyntaxError},
		"xml bomb":       {`<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><NCIPMessage>&lol2;</NCIPMessage>`, ErrDTD, InvalidMessageSyntaxError},
		"entity inside":  {`<NCIPMessage><!ENTITY x "y"></NCIPMessage>`, ErrDTD, InvalidMessageSyntaxError},
		"external ent":   {`<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><NCIPMessage>&xxe;</NCIPMessage>`, ErrDTD, InvalidMessageSyntaxError},
		"cdata outside":  {`<![CDATA[x]]><NCIPMessage/>`, ErrNotXML, InvalidMessageSyntaxError},
		"lowercase dtd":  {`<!doctype NCIPMessage><NCIPMessage/>`, ErrDTD, InvalidMessageSyntaxError},
		"too deep":       {deep, ErrTooDeep, InvalidMessageSyntaxError},
		"too many":       {many, ErrTooMany, InvalidMessageSyntaxError},
		"problem as req": {`<NCIPMessage><Problem><ProblemType>x</ProblemType></Problem></NCIPMessage>`, ErrNotNCIP, InvalidMessageSyntaxError},
	} {
		t.Run(name, func(t *testing.T) {
			m, err := DecodeRequest([]byte(tc.in), DecodeOptions{})
			if m != nil || !errors.Is(err, tc.err) {
				t.Fatalf("got %+v, %v; want error %v", m, err, tc.err)
			}
			if p := ProblemFor("", err); p.Type.Value != tc.problem || p.Type.Scheme != SchemeMessagingError {
				t.Errorf("problem = %+v", p)
			}
		})
	}
	big := make([]byte, 2<<20)
	if _, err := DecodeRequest(big, DecodeOptions{}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized: %v", err)
	}
}

func TestServiceProblems(t *testing.T) {
	for name, tc := range map[string]struct {
		in, service, problem, element string
		topLevel                      bool
	}{
		"unknown service":     {`<NCIPMessage><FetchCoffee/></NCIPMessage>`, "FetchCoffee", UnknownService, "NCIPMessage", true},
		"unsupported service": {`<NCIPMessage><ItemReceived/></NCIPMessage>`, "ItemReceived", UnsupportedService, "NCIPMessage", true},
		"nothing shipped":     {`<NCIPMessage><ItemShipped><DateShipped>2026-12-01</DateShipped></ItemShipped></NCIPMessage>`, "ItemShipped", NeededDataMissing, "ItemShipped/ItemId", false},
		"bad shipped date":    {`<NCIPMessage><ItemShipped><ItemId>I</ItemId><DateShipped>Tuesday</DateShipped></ItemShipped></NCIPMessage>`, "ItemShipped", InvalidDate, "DateShipped", false},
		"missing item":        {`<NCIPMessage><CheckOutItem><UserId><UserIdentifierValue>P</UserIdentifierValue></UserId></CheckOutItem></NCIPMessage>`, "CheckOutItem", NeededDataMissing, "CheckOutItem/ItemId", false},
		"missing user":        {`<NCIPMessage><LookupUser/></NCIPMessage>`, "LookupUser", NeededDataMissing, "LookupUser/UserId", false},
		"bad date":            {`<NCIPMessage><RenewItem><ItemId><ItemIdentifierValue>I</ItemIdentifierValue></ItemId><DesiredDateDue>next week</DesiredDateDue></RenewItem></NCIPMessage>`, "RenewItem", InvalidDate, "DesiredDateDue", false},
		"bad amount":          {`<NCIPMessage><CheckOutItem><UserId><UserIdentifierValue>P</UserIdentifierValue></UserId><ItemId><ItemIdentifierValue>I</ItemIdentifierValue></ItemId><PaidFeeAmount><MonetaryValue>1.234</MonetaryValue></PaidFeeAmount></CheckOutItem></NCIPMessage>`, "CheckOutItem", InvalidAmount, "MonetaryValue", false},
	} {
		t.Run(name, func(t *testing.T) {
			m, err := DecodeRequest([]byte(tc.in), DecodeOptions{})
			if err == nil {
				t.Fatal("no error")
			}
			if tc.topLevel != (m == nil) {
				t.Fatalf("message = %+v, top-level want %v", m, tc.topLevel)
			}
			if m != nil && m.Service != tc.service {
				t.Errorf("service = %q", m.Service)
			}
			p := ProblemFor(tc.service, err)
			if p.Type.Value != tc.problem || p.Element != tc.element || p.Type.Scheme == "" {
				t.Errorf("problem = %+v", p)
			}
		})
	}
}

// requestCases holds one fully populated request of every service.
func requestCases() []Request {
	h := &InitiationHeader{FromSystemID: SV("sys"), FromSystemAuthentication: "s1", FromAgencyID: SchemeValue{Scheme: "http://x/a", Value: "ILL"},
		FromAgencyAuthentication: "s2", OnBehalfOfAgency: SV("DESK"), ToSystemID: SV("circa"), ToAgencyID: SV("MAIN"), ApplicationProfileType: SV("ReShare")}
	auth := UserRef{Auth: []AuthenticationInput{
		{Data: "P1", FormatType: SchemeValue{Scheme: SchemeMediaTypes, Value: "text/plain"}, Type: SV("Barcode Id")},
		{Data: "1234", FormatType: SchemeValue{Scheme: SchemeMediaTypes, Value: "text/plain"}, Type: SV("PIN")},
	}}
	uid := UserRef{UserID: &Identifier{AgencyID: SV("MAIN"), Type: SV("Barcode"), Value: "P1"}}
	item := Identifier{AgencyID: SV("MAIN"), Type: SV("Barcode"), Value: "I1"}
	amt := &Amount{CurrencyCode: SV("USD"), Value: 250}
	et := []SchemeValue{SV("Bibliographic Description")}
	ut := []SchemeValue{SV("Name Information")}
	return []Request{
		&LookupVersion{Header: &InitiationHeader{FromAgencyID: SV("ILL"), ToAgencyID: SV("MAIN")}},
		&LookupAgency{Header: h, AgencyID: SV("MAIN"), ElementTypes: []SchemeValue{SV("Agency Address Information")}},
		&LookupUser{Header: h, UserRef: auth, ElementTypes: ut, LoanedItemsDesired: true, RequestedItemsDesired: true, UserFiscalAccountDesired: true},
		&LookupItem{Header: h, ItemID: &item, ElementTypes: et, CurrentBorrowerDesired: true, CurrentRequestersDesired: true},
		&LookupItemSet{Header: h, BibliographicIDs: []BibliographicID{{ItemID: &BibliographicItemID{Identifier: "b1", Code: SV("Legal Deposit Number")}},
			{RecordID: &BibliographicRecordID{Identifier: "2", AgencyID: SV("MAIN")}}}, ElementTypes: et, CurrentBorrowerDesired: true, MaximumItemsCount: 20, NextItemToken: "AQID"},
		&LookupRequest{Header: h, UserRef: uid, ItemID: &item, RequestType: SV("Hold"), RequestElementTypes: []SchemeValue{SV("Request Status Type")}, ItemElementTypes: et, UserElementTypes: ut},
		&AcceptItem{Header: h, DateEventOccurred: tPlaced, RequestID: Identifier{AgencyID: SV("ILL"), Value: "R1"}, RequestedActionType: SV("Hold For Pickup"),
			UserID: uid.UserID, ItemID: &item, DateForReturn: tDue, RenewalNotPermitted: true, FiscalTransaction: fullFiscal(), ItemOptionalFields: fullItemOptional(),
			UserOptionalFields: &UserOptionalFields{Name: &PersonalName{Unstructured: "A B"}, Addresses: []Address{{Role: SV("Home"), Electronic: &ElectronicAddress{Type: SV("mailto"), Data: "a@b"}}}},
			PickupLocation:     SV("MAIN"), PickupExpiryDate: tDue},
		&CheckOutItem{Header: h, DateEventOccurred: tPlaced, UserRef: uid, ItemID: item, RequestID: &Identifier{Value: "R1"}, AcknowledgedFee: amt, PaidFee: amt,
			DesiredDateDue: tDue, ItemElementTypes: et, UserElementTypes: ut},
		&CheckInItem{Header: h, DateEventOccurred: tPlaced, ItemID: item, ItemElementTypes: et, UserElementTypes: ut},
		&RenewItem{Header: h, UserRef: auth, ItemID: item, ItemElementTypes: et, UserElementTypes: ut, DesiredDateDue: tDue, DesiredDateForReturn: tDue, AcknowledgedFee: amt, PaidFee: amt},
		&RequestItem{Header: h, UserRef: uid, ItemIDs: []Identifier{item}, BibliographicIDs: []BibliographicID{{RecordID: &BibliographicRecordID{Identifier: "123", Code: SV("OCLC")}}},
			RequestID: &Identifier{Value: "R2"}, RequestType: SV("Page"), RequestScopeType: SV("Bibliographic Item"), ItemOptionalFields: fullItemOptional(),
			EarliestDateNeeded: tPlaced, NeedBeforeDate: tDue, PickupLocation: SV("MAIN"), PickupExpiryDate: tDue, AcknowledgedFee: amt, PaidFee: amt, ItemElementTypes: et, UserElementTypes: ut},
		&CancelRequestItem{Header: h, UserRef: uid, RequestID: &Identifier{Value: "R2"}, ItemID: &item, RequestType: SV("Hold"), RequestScopeType: SV("Item"), AcknowledgedFee: amt, PaidFee: amt, ItemElementTypes: et, UserElementTypes: ut},
		&RecallItem{Header: h, ItemID: item, DesiredDateDue: tDue, ItemElementTypes: et, UserElementTypes: ut},
		&DeleteItem{Header: h, DateEventOccurred: tPlaced, ItemID: item},
		&CreateUserFiscalTransaction{Header: h, UserRef: uid, FiscalTransaction: *fullFiscal()},
		// The golden file keeps the last ItemShipped, the full one.
		&ItemShipped{ItemID: &item, DateShipped: tDue, Shipping: ShippingInformation{Electronic: &ElectronicAddress{Type: SV("mailto"), Data: "desk@example.org"}}},
		&ItemShipped{Header: h, RequestID: &Identifier{AgencyID: SV("MAIN"), Value: "R3"}, ItemID: &item, UserID: uid.UserID, DateShipped: tPlaced,
			Shipping: ShippingInformation{Instructions: "Fragile", Note: "tote 4", Physical: &PhysicalAddress{
				Structured: &StructuredAddress{Line1: "Main Library", Line2: "Loading dock", Locality: "Springfield", Postal: "12345"}, Type: SV("Postal Address")}},
			ItemOptionalFields: &ItemOptionalFields{Bibliographic: &BibliographicDescription{Title: "T"}}},
	}
}

// TestItemShippedFields: a facility's ItemShipped is read whichever way it
// names the item (RequestId alone, ItemId alone), with its shipping
// details, and one without DateShipped or ShippingInformation still says
// the item is on its way.
func TestItemShippedFields(t *testing.T) {
	m, err := DecodeRequest([]byte(`<NCIPMessage xmlns="http://www.niso.org/2008/ncip" version="2.02"><ItemShipped>
<InitiationHeader><FromAgencyId><AgencyId>ANNEX</AgencyId></FromAgencyId><ToAgencyId><AgencyId>MAIN</AgencyId></ToAgencyId></InitiationHeader>
<RequestId><AgencyId>MAIN</AgencyId><RequestIdentifierValue> 42 </RequestIdentifierValue></RequestId>
<DateShipped>2026-12-01T09:30:00-05:00</DateShipped>
<ShippingInformation><ShippingNote>tote 4</ShippingNote><PhysicalAddress><UnstructuredAddress>
<UnstructuredAddressType>Newline-Delimited Text</UnstructuredAddressType><UnstructuredAddressData>Main Library</UnstructuredAddressData>
</UnstructuredAddress><PhysicalAddressType>Postal Address</PhysicalAddressType></PhysicalAddress></ShippingInformation>
</ItemShipped></NCIPMessage>`), DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r := m.Request.(*ItemShipped)
	if r.RequestID == nil || r.RequestID.Value != "42" || r.ItemID != nil || r.Header.FromAgencyID.Value != "ANNEX" ||
		!r.DateShipped.Equal(time.Date(2026, 12, 1, 14, 30, 0, 0, time.UTC)) || r.Shipping.Note != "tote 4" ||
		r.Shipping.Physical == nil || r.Shipping.Physical.Unstructured != "Main Library" {
		t.Fatalf("ItemShipped read as %+v", r)
	}
	m, err = DecodeRequest([]byte(`<NCIPMessage><ItemShipped><ItemId>I1</ItemId></ItemShipped></NCIPMessage>`), DecodeOptions{})
	if err != nil || m.Request.(*ItemShipped).ItemID.Value != "I1" {
		t.Fatalf("bare ItemShipped: %+v, %v", m, err)
	}
	// Strict out: what the schema requires is written or refused.
	if _, err := EncodeRequest(m.Request, WriteOptions{}); !errors.Is(err, ErrIncomplete) {
		t.Fatalf("ItemShipped without date or address encoded: %v", err)
	}
}

// TestRequestRoundTrip writes every request, validates it against the
// schema and reads it back unchanged.
func TestRequestRoundTrip(t *testing.T) {
	for _, r := range requestCases() {
		t.Run(r.Service(), func(t *testing.T) {
			b, err := EncodeRequest(r, WriteOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if r.Service() == "LookupVersion" {
				checkWellFormed(t, b)
			} else {
				validateNCIP(t, b)
			}
			m, err := DecodeRequest(b, DecodeOptions{})
			if err != nil {
				t.Fatalf("decode: %v\n%s", err, b)
			}
			b2, err := EncodeRequest(m.Request, WriteOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b, b2) {
				t.Errorf("round trip changed the message:\n%s\n---\n%s", b, b2)
			}
		})
	}
}

// TestLargeTextIsLinear feeds text split into many pieces by references and
// comments; joining them must not be quadratic (the test would time out).
func TestLargeTextIsLinear(t *testing.T) {
	for name, piece := range map[string]string{"references": "a&amp;", "comments": "ab<!---->", "cdata": "<![CDATA[ab]]>"} {
		t.Run(name, func(t *testing.T) {
			n := (1 << 20) / len(piece) / 2
			doc := "<NCIPMessage><CheckInItem><ItemId><ItemIdentifierValue>" + strings.Repeat(piece, n) + "</ItemIdentifierValue></ItemId></CheckInItem></NCIPMessage>"
			m, err := DecodeRequest([]byte(doc), DecodeOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got := len(m.Request.(*CheckInItem).ItemID.Value); got != 2*n {
				t.Errorf("value length %d, want %d", got, 2*n)
			}
		})
	}
}

// v1CheckIn is an NCIP 1.0 CheckInItem as EnvisionWare's NCIP 1.01 client
// sends it, written by hand from the NCIP v1 DTD's element names (no
// captured message was at hand): a DOCTYPE that names the v1 DTD and
// declares nothing.
const v1CheckIn = `<NCIPMessage version="http://www.niso.org/ncip/v1_0/imp1/dtd/ncip_v1_0.dtd"><CheckInItem><InitiationHeader>` +
	`<FromAgencyId><UniqueAgencyId><Scheme>http://x/agencies</Scheme><Value>ILL</Value></UniqueAgencyId></FromAgencyId>` +
	`<ToAgencyId><UniqueAgencyId><Scheme>http://x/agencies</Scheme><Value>MAIN</Value></UniqueAgencyId></ToAgencyId></InitiationHeader>` +
	`<UniqueItemId><UniqueAgencyId><Scheme>http://x/agencies</Scheme><Value>MAIN</Value></UniqueAgencyId><ItemIdentifierValue>I1</ItemIdentifierValue></UniqueItemId>` +
	`</CheckInItem></NCIPMessage>`

// TestExternalDoctype: a DOCTYPE that only names an external DTD is read
// past (the DTD is never fetched); any other DOCTYPE is refused.
func TestExternalDoctype(t *testing.T) {
	for name, prolog := range map[string]string{
		"public":          `<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<!DOCTYPE NCIPMessage PUBLIC "-//NISO//NCIP DTD Version 1//EN" "http://www.niso.org/ncip/v1_0/imp1/dtd/ncip_v1_0.dtd">` + "\n",
		"system":          `<!DOCTYPE NCIPMessage SYSTEM "http://www.niso.org/ncip/v1_0/imp1/dtd/ncip_v1_0.dtd">`,
		"single quotes":   `<!DOCTYPE NCIPMessage PUBLIC '-//NISO//NCIP DTD Version 1//EN' 'ncip_v1_0.dtd' >`,
		"line breaks":     "<!DOCTYPE NCIPMessage\r\n  PUBLIC \"-//NISO//NCIP DTD Version 1//EN\"\r\n  \"http://www.niso.org/ncip/v1_0/imp1/dtd/ncip_v1_0.dtd\">\r\n",
		"comment between": `<!DOCTYPE NCIPMessage SYSTEM "ncip_v1_0.dtd"><!-- v1 -->`,
	} {
		t.Run(name, func(t *testing.T) {
			ci := mustDecode(t, prolog+v1CheckIn).(*CheckInItem)
			if ci.ItemID.Value != "I1" || ci.Header.FromAgencyID.Value != "ILL" {
				t.Errorf("got %+v %+v", ci.ItemID, ci.Header)
			}
		})
	}
	for name, prolog := range map[string]string{
		"internal subset":      `<!DOCTYPE NCIPMessage SYSTEM "ncip_v1_0.dtd" [<!ENTITY a "b">]>`,
		"empty subset":         `<!DOCTYPE NCIPMessage SYSTEM "ncip_v1_0.dtd" []>`,
		"subset only":          `<!DOCTYPE NCIPMessage [<!ELEMENT NCIPMessage ANY>]>`,
		"no external id":       `<!DOCTYPE NCIPMessage>`,
		"public without sysid": `<!DOCTYPE NCIPMessage PUBLIC "-//NISO//NCIP DTD Version 1//EN">`,
		"bad public id":        `<!DOCTYPE NCIPMessage PUBLIC "a<b>" "x.dtd">`,
		"unquoted":             `<!DOCTYPE NCIPMessage SYSTEM x.dtd>`,
		"unterminated":         `<!DOCTYPE NCIPMessage SYSTEM "x.dtd`,
		"lowercase keyword":    `<!DOCTYPE NCIPMessage system "x.dtd">`,
		"lowercase doctype":    `<!doctype NCIPMessage SYSTEM "x.dtd">`,
		"no space":             `<!DOCTYPE NCIPMessage SYSTEM"x.dtd">`,
		"extra token":          `<!DOCTYPE NCIPMessage SYSTEM "x.dtd" "y">`,
		"other root":           `<!DOCTYPE html SYSTEM "about:legacy-compat">`,
		"two doctypes":         `<!DOCTYPE NCIPMessage SYSTEM "x.dtd"><!DOCTYPE NCIPMessage SYSTEM "x.dtd">`,
	} {
		t.Run(name, func(t *testing.T) {
			m, err := DecodeRequest([]byte(prolog+v1CheckIn), DecodeOptions{})
			if m != nil || !errors.Is(err, ErrDTD) {
				t.Fatalf("got %+v, %v; want ErrDTD", m, err)
			}
			if p := ProblemFor("", err); p.Type.Value != InvalidMessageSyntaxError {
				t.Errorf("problem = %+v", p)
			}
		})
	}
	if _, err := DecodeRequest([]byte(v1CheckIn+`<!DOCTYPE NCIPMessage SYSTEM "x.dtd">`), DecodeOptions{}); !errors.Is(err, ErrDTD) {
		t.Errorf("DOCTYPE after the root element: %v", err)
	}
}

// TestEnvelopeRefused: a message in another namespace, or of a version that
// is neither NCIP 1.x nor 2.x, is refused with a top-level Problem; no
// namespace, an undeclared prefix and every version partners send still read.
func TestEnvelopeRefused(t *testing.T) {
	body := `<CheckInItem><ItemId><ItemIdentifierValue>I1</ItemIdentifierValue></ItemId></CheckInItem>`
	for name, tc := range map[string]struct {
		doc     string
		err     error
		problem string
	}{
		"default namespace":  {`<NCIPMessage xmlns="urn:example:not-ncip" version="2.02">` + body + `</NCIPMessage>`, ErrNamespace, InvalidMessageSyntaxError},
		"prefixed root":      {`<x:NCIPMessage xmlns:x="urn:example:not-ncip" xmlns="` + Namespace + `">` + body + `</x:NCIPMessage>`, ErrNamespace, InvalidMessageSyntaxError},
		"service element":    {`<NCIPMessage xmlns="` + Namespace + `"><CheckInItem xmlns="urn:example:not-ncip"><ItemId><ItemIdentifierValue>I1</ItemIdentifierValue></ItemId></CheckInItem></NCIPMessage>`, ErrNamespace, InvalidMessageSyntaxError},
		"prefixed service":   {`<NCIPMessage xmlns="` + Namespace + `" xmlns:o="urn:other"><o:CheckInItem><ItemId><ItemIdentifierValue>I1</ItemIdentifierValue></ItemId></o:CheckInItem></NCIPMessage>`, ErrNamespace, InvalidMessageSyntaxError},
		"old namespace":      {`<NCIPMessage xmlns="http://www.niso.org/ncip" version="2.02">` + body + `</NCIPMessage>`, ErrNamespace, InvalidMessageSyntaxError},
		"version 3":          {`<NCIPMessage version="3.0">` + body + `</NCIPMessage>`, ErrVersion, ProtocolError},
		"FOLIO test 5.6":     {`<NCIPMessage version="5.6">` + body + `</NCIPMessage>`, ErrVersion, ProtocolError},
		"a word":             {`<NCIPMessage version="bare">` + body + `</NCIPMessage>`, ErrVersion, ProtocolError},
		"schema v3":          {`<NCIPMessage version="http://www.niso.org/schemas/ncip/v3_0/ncip_v3_0.xsd">` + body + `</NCIPMessage>`, ErrVersion, ProtocolError},
		"not an NCIP schema": {`<NCIPMessage version="http://example.org/schemas/v2_0/other.xsd">` + body + `</NCIPMessage>`, ErrVersion, ProtocolError},
		"unwrapped v9":       {`<CheckInItem version="9"><ItemId><ItemIdentifierValue>I1</ItemIdentifierValue></ItemId></CheckInItem>`, ErrVersion, ProtocolError},
	} {
		t.Run(name, func(t *testing.T) {
			m, err := DecodeRequest([]byte(tc.doc), DecodeOptions{})
			if m != nil || !errors.Is(err, tc.err) {
				t.Fatalf("got %+v, %v; want %v", m, err, tc.err)
			}
			p := ProblemFor("", err)
			if p.Type.Value != tc.problem || p.Type.Scheme != SchemeMessagingError {
				t.Errorf("problem = %+v", p)
			}
			validateNCIP(t, EncodeProblems([]Problem{*p}, WriteOptions{}))
		})
	}
	for _, v := range []string{"", "2", "2.0", "2.01", "2.02", "1.0", "1.01", "v2", " 2.02 ",
		"http://www.niso.org/schemas/ncip/v2_02/ncip_v2_02.xsd", "http://www.niso.org/schemas/ncip/v2_0/imp1/xsd/ncip_v2_0.xsd",
		"http://www.niso.org/schemas/ncip/v2_0/ncip_v2_0.xsd", "http://www.niso.org/ncip/v2_02/imp1/xsd/ncip_v2_02.xsd",
		"http://www.niso.org/ncip/v1_0/imp1/dtd/ncip_v1_0.dtd"} {
		for _, ns := range []string{"", ` xmlns="` + Namespace + `"`} {
			doc := `<NCIPMessage` + ns + ` version="` + v + `">` + body + `</NCIPMessage>`
			if ci := mustDecode(t, doc).(*CheckInItem); ci.ItemID.Value != "I1" {
				t.Errorf("%s: got %+v", doc, ci)
			}
		}
	}
	// An undeclared prefix and an undeclared default are no namespace.
	mustDecode(t, `<ncip:NCIPMessage ncip:version="2.02"><ncip:CheckInItem><ncip:ItemId><ncip:ItemIdentifierValue>I1</ncip:ItemIdentifierValue></ncip:ItemId></ncip:CheckInItem></ncip:NCIPMessage>`)
	mustDecode(t, `<NCIPMessage xmlns="">`+body+`</NCIPMessage>`)
	// Without the NCIPMessage wrapper the root is the service; its first
	// child is content, whose Ext-like namespaces are not judged.
	mustDecode(t, `<CheckInItem xmlns="`+Namespace+`"><ItemId xmlns:wcl="urn:wcl"><ItemIdentifierValue>I1</ItemIdentifierValue></ItemId></CheckInItem>`)
	mustDecode(t, `<CheckInItem><Ext xmlns="urn:wcl"/><ItemId><ItemIdentifierValue>I1</ItemIdentifierValue></ItemId></CheckInItem>`)
}

// TestV1BibliographicId: NCIP 1.0 names a title with UniqueBibliographicId,
// read as the v2 BibliographicId. The message is ReShare's v1 RequestItem
// as its lib-ncip-client NCIP1 templates write it, typed by hand from the
// v1 element names (no captured message was at hand).
func TestV1BibliographicId(t *testing.T) {
	doc := `<?xml version="1.0" encoding="UTF-8"?><NCIPMessage version="http://www.niso.org/ncip/v1_0/imp1/dtd/ncip_v1_0.dtd"><RequestItem>` +
		`<InitiationHeader><FromAgencyId><UniqueAgencyId><Scheme>http://www.niso.org/ncip/v1_0/schemes/agencyidtype/agencyidtype.scm</Scheme><Value>RESHARE</Value></UniqueAgencyId></FromAgencyId>` +
		`<ToAgencyId><UniqueAgencyId><Scheme>http://www.niso.org/ncip/v1_0/schemes/agencyidtype/agencyidtype.scm</Scheme><Value>MAIN</Value></UniqueAgencyId></ToAgencyId></InitiationHeader>` +
		`<UniqueUserId><UniqueAgencyId><Scheme>s</Scheme><Value>RESHARE</Value></UniqueAgencyId><UserIdentifierValue>U1</UserIdentifierValue></UniqueUserId>` +
		`<UniqueBibliographicId><BibliographicRecordId><BibliographicRecordIdentifier>cir000000001</BibliographicRecordIdentifier>` +
		`<UniqueAgencyId><Scheme>s</Scheme><Value>MAIN</Value></UniqueAgencyId></BibliographicRecordId></UniqueBibliographicId>` +
		`<UniqueRequestId><UniqueAgencyId><Scheme>s</Scheme><Value>RESHARE</Value></UniqueAgencyId><RequestIdentifierValue>RS-9</RequestIdentifierValue></UniqueRequestId>` +
		`<RequestType><Scheme>http://www.niso.org/ncip/v1_0/imp1/schemes/requesttype/requesttype.scm</Scheme><Value>Loan</Value></RequestType>` +
		`<RequestScopeType><Scheme>http://www.niso.org/ncip/v1_0/imp1/schemes/requestscopetype/requestscopetype.scm</Scheme><Value>Bibliographic Item</Value></RequestScopeType>` +
		`</RequestItem></NCIPMessage>`
	ri := mustDecode(t, doc).(*RequestItem)
	if len(ri.BibliographicIDs) != 1 || ri.BibliographicIDs[0].RecordID == nil || ri.BibliographicIDs[0].RecordID.Identifier != "cir000000001" ||
		ri.BibliographicIDs[0].RecordID.AgencyID.Value != "MAIN" || ri.RequestID.Value != "RS-9" || ri.UserIdentifier() != "U1" || !ri.TitleLevel() {
		t.Fatalf("got %+v", ri)
	}
	// Naming neither says that either would do.
	m, err := DecodeRequest([]byte(`<NCIPMessage><RequestItem><UserId><UserIdentifierValue>U1</UserIdentifierValue></UserId><RequestType>Hold</RequestType></RequestItem></NCIPMessage>`), DecodeOptions{})
	p := ProblemFor("RequestItem", err)
	if m == nil || p.Type.Value != NeededDataMissing || !strings.Contains(p.Detail, "BibliographicId") {
		t.Fatalf("got %+v, %+v", m, p)
	}
}
