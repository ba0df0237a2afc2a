package ncip

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// fuzzSeeds returns realistic messages: the saved samples, the package's
// own test data and every request circa can write.
func fuzzSeeds(f *testing.F) [][]byte {
	var seeds [][]byte
	files, _ := filepath.Glob(filepath.Join(samplesDir, "*.xml"))
	if len(files) == 0 {
		f.Fatalf("no samples in %s", samplesDir)
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	if b, err := os.ReadFile(filepath.Join("testdata", "checkout.xml")); err == nil {
		seeds = append(seeds, b)
	}
	for _, r := range requestCases() {
		b, err := EncodeRequest(r, WriteOptions{})
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, b)
		nb, _ := EncodeRequest(r, WriteOptions{NoNamespace: true})
		seeds = append(seeds, nb)
	}
	for _, r := range responseCases() {
		if b, err := EncodeResponse(r, WriteOptions{}); err == nil {
			seeds = append(seeds, b)
		}
	}
	seeds = append(seeds,
		[]byte(`<?xml version="1.0" encoding="ISO-8859-1"?><NCIPMessage version="2"><CheckInItem><ItemId><ItemIdentifierValue>caf`+"\xe9"+`</ItemIdentifierValue></ItemId></CheckInItem></NCIPMessage>`),
		[]byte(`<!DOCTYPE x [<!ENTITY a "b">]><NCIPMessage>&a;</NCIPMessage>`),
		[]byte(`<!DOCTYPE NCIPMessage PUBLIC "-//NISO//NCIP DTD Version 1//EN" "http://www.niso.org/ncip/v1_0/imp1/dtd/ncip_v1_0.dtd">`+v1CheckIn),
		[]byte(`<NCIPMessage xmlns="urn:example:not-ncip" version="2.02"><CheckInItem><ItemId>I</ItemId></CheckInItem></NCIPMessage>`),
		[]byte(`<NCIPMessage version="http://www.niso.org/ncip/v1_0/imp1/dtd/ncip_v1_0.dtd"><RequestItem><UniqueUserId><UserIdentifierValue>U</UserIdentifierValue></UniqueUserId>`+
			`<UniqueBibliographicId><BibliographicRecordId><BibliographicRecordIdentifier>1</BibliographicRecordIdentifier></BibliographicRecordId></UniqueBibliographicId></RequestItem></NCIPMessage>`),
		[]byte(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?><ns1:NCIPMessage xmlns:ns1="http://www.niso.org/2008/ncip" ns1:version="http://www.niso.org/schemas/ncip/v2_02/ncip_v2_02.xsd"><ns1:LookupItemSet>`+
			`<ns1:BibliographicId><ns1:BibliographicItemId><ns1:BibliographicItemIdentifier>123</ns1:BibliographicItemIdentifier><ns1:BibliographicItemIdentifierCode ns1:Scheme="http://www.niso.org/ncip/v1_0/imp1/schemes/bibliographicitemidentifiercode/bibliographicitemidentifiercode.scm">Legal Deposit Number</ns1:BibliographicItemIdentifierCode></ns1:BibliographicItemId></ns1:BibliographicId>`+
			`<ns1:ItemElementType ns1:Scheme="http://www.niso.org/ncip/v1_0/schemes/itemelementtype/itemelementtype.scm">Circulation Status</ns1:ItemElementType><ns1:NextItemToken>AQID</ns1:NextItemToken></ns1:LookupItemSet></ns1:NCIPMessage>`),
		[]byte(`<NCIPMessage><LookupItemSet><ItemId>I1</ItemId><HoldingsSetId>7</HoldingsSetId><BibliographicId><BibliographicRecordId><BibliographicRecordIdentifier>1</BibliographicRecordIdentifier></BibliographicRecordId></BibliographicId>`+
			`<MaximumItemsCount>99999999999999999999999</MaximumItemsCount></LookupItemSet></NCIPMessage>`),
		[]byte(`<NCIPMessage><LookupItemSet><ItemId>I1</ItemId><MaximumItemsCount>0</MaximumItemsCount><NextItemToken/></LookupItemSet></NCIPMessage>`),
		[]byte(`<ns1:NCIPMessage xmlns:ns1="http://www.niso.org/2008/ncip" ns1:version="http://www.niso.org/schemas/ncip/v2_02/ncip_v2_02.xsd"><ns1:LookupUser>`+
			`<ns1:AuthenticationInput><ns1:AuthenticationInputData>P1</ns1:AuthenticationInputData><ns1:AuthenticationDataFormatType>text</ns1:AuthenticationDataFormatType><ns1:AuthenticationInputType>Username</ns1:AuthenticationInputType></ns1:AuthenticationInput>`+
			`<ns1:AuthenticationInput><ns1:AuthenticationInputData>1234</ns1:AuthenticationInputData><ns1:AuthenticationDataFormatType>text</ns1:AuthenticationDataFormatType><ns1:AuthenticationInputType>Password</ns1:AuthenticationInputType></ns1:AuthenticationInput>`+
			`<ns1:UserId><ns1:AgencyId>A</ns1:AgencyId><ns1:UserIdentifierType>Institution Id Number</ns1:UserIdentifierType><ns1:UserIdentifierValue>P1</ns1:UserIdentifierValue></ns1:UserId>`+
			`<ns1:UserElementType>Block Or Trap</ns1:UserElementType><ns1:LoanedItemsDesired /><ns1:RequestedItemsDesired /><ns1:UserFiscalAccountDesired /></ns1:LookupUser></ns1:NCIPMessage>`),
		[]byte(`<NCIPMessage><RequestItem><UserId><UserIdentifierValue>P1</UserIdentifierValue></UserId><ItemId><AgencyId>A</AgencyId><ItemIdentifierValue>I1</ItemIdentifierValue></ItemId>`+
			`<RequestType>Hold</RequestType><RequestScopeType>Item</RequestScopeType><PickupLocation>2</PickupLocation><NeedBeforeDate>2027-01-01T23:59:59+01:00</NeedBeforeDate></RequestItem></NCIPMessage>`),
		[]byte(`<NCIPMessage><LookupUser><UserId>P1</UserId><AuthenticationInput><AuthenticationInputData>1</AuthenticationInputData><AuthenticationInputType>PIN</AuthenticationInputType></AuthenticationInput></LookupUser></NCIPMessage>`),
		[]byte(`<NCIPMessage><CheckOutItem><ItemId><ItemIdentifierValue>A&amp;&#x42;<![CDATA[<c>]]></ItemIdentifierValue></ItemId><UserId><UserIdentifierValue> u </UserIdentifierValue></UserId><PaidFeeAmount><MonetaryValue>-0.5</MonetaryValue></PaidFeeAmount></CheckOutItem></NCIPMessage>`),
	)
	return seeds
}

// FuzzParse checks that no input panics the reader, and that whatever it
// accepts is written back as a message that reads the same: one pass of
// decode and encode reaches a fixed point.
func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeRequest(b, DecodeOptions{})
		if m == nil {
			if err == nil {
				t.Fatal("nil message without error")
			}
			if p := ProblemFor("", err); p.Type.Value == "" {
				t.Fatalf("no problem for %v", err)
			}
			return
		}
		if m.Request == nil {
			t.Fatalf("message without request: %+v", m)
		}
		b1, err1 := EncodeRequest(m.Request, WriteOptions{})
		if err1 != nil {
			if !errors.Is(err1, ErrIncomplete) {
				t.Fatalf("encode: %v", err1)
			}
			return
		}
		m2, err2 := DecodeRequest(b1, DecodeOptions{})
		if m2 == nil {
			t.Fatalf("re-decode failed: %v\n%s", err2, b1)
		}
		var p *Problem
		if err2 != nil && (err == nil || !errors.As(err2, &p)) {
			t.Fatalf("re-decode: %v (first decode: %v)\n%s", err2, err, b1)
		}
		b2, err := EncodeRequest(m2.Request, WriteOptions{})
		if err != nil {
			t.Fatalf("second encode: %v", err)
		}
		if !bytes.Equal(b1, b2) {
			t.Fatalf("not a fixed point:\n%s\n---\n%s", b1, b2)
		}
	})
}

// FuzzParseResponse checks the response reader never panics and that the
// Problems it finds survive being written and read again.
func FuzzParseResponse(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeResponse(b, DecodeOptions{})
		if err != nil || len(m.Problems) == 0 {
			return
		}
		out := EncodeProblems(m.Problems, WriteOptions{})
		m2, err := DecodeResponse(out, DecodeOptions{})
		if err != nil || len(m2.Problems) != len(m.Problems) {
			t.Fatalf("problems lost: %v\n%s", err, out)
		}
		if !bytes.Equal(EncodeProblems(m2.Problems, WriteOptions{}), out) {
			t.Fatalf("problems changed:\n%s", out)
		}
	})
}

// FuzzFormBody checks that reading a message out of an HTML-form post never
// panics and returns either a form field or the body itself.
func FuzzFormBody(f *testing.F) {
	msg := []byte(`<NCIPMessage><CheckInItem/></NCIPMessage>`)
	f.Add("application/x-www-form-urlencoded", []byte("xml=%3CNCIPMessage%2F%3E"))
	f.Add("", []byte("xml=<NCIPMessage/>&x=1"))
	f.Add("multipart/form-data; boundary=b", []byte("--b\r\nContent-Disposition: form-data; name=\"xml\"\r\n\r\n<NCIPMessage/>\r\n--b--\r\n"))
	f.Add("application/xml", msg)
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		out := formBody(contentType, body)
		if len(out) > len(body) {
			t.Fatalf("form field longer than the body: %d > %d", len(out), len(body))
		}
	})
}
