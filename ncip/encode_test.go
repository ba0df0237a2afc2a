package ncip

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/circa-ils/circa/internal/conformance"
)

var (
	tDue    = time.Date(2026, 12, 18, 23, 59, 0, 0, time.FixedZone("", -5*3600))
	tPlaced = time.Date(2026, 11, 20, 9, 30, 0, 0, time.UTC)
	agency  = SchemeValue{Scheme: "http://example.org/agencies", Value: "MAIN"}
	hdr     = &ResponseHeader{FromAgencyID: SV("MAIN"), ToAgencyID: SV("LENDER"), FromSystemID: SV("circa")}
)

func intp(n int) *int { return &n }

func fullUserOptional() *UserOptionalFields {
	return &UserOptionalFields{
		Name: &PersonalName{GivenName: "Ada", Surname: "Lovelace", Unstructured: "Ada Lovelace"},
		Addresses: []Address{
			{Role: SV("Home"), Physical: &PhysicalAddress{Structured: &StructuredAddress{Line1: "12 Analytical St", Locality: "London", Postal: "N1", Country: "GB"}, Type: SV("Postal Address")}},
			{Role: SV("Home"), Physical: &PhysicalAddress{Structured: &StructuredAddress{Street: "1 Engine Rd", District: "Soho"}, Type: SV("Street Address")}},
			{Role: SV("Home"), Physical: &PhysicalAddress{Unstructured: "1 Loop Lane\nLondon", Type: SV("Postal Address")}},
			{Role: SV("Home"), Electronic: &ElectronicAddress{Type: SV("mailto"), Data: "ada@example.org"}},
			{Role: SV("Home"), ValidFrom: tPlaced, Electronic: &ElectronicAddress{Type: SV("tel"), Data: "+44 20 0000"}},
		},
		DateOfBirth: time.Date(1815, 12, 10, 0, 0, 0, 0, time.UTC),
		Languages:   []SchemeValue{SV("eng")},
		Privileges: []UserPrivilege{
			{AgencyID: agency, Type: SV("STATUS"), Status: SV("OK"), StatusDate: tPlaced, Description: "active"},
			{AgencyID: agency, Type: SV("PROFILE"), ValidTo: tDue},
		},
		Blocks:  []BlockOrTrap{{AgencyID: agency, Type: SV("Fines over limit"), ValidFrom: tPlaced}},
		UserIDs: []Identifier{{AgencyID: agency, Type: SV("Barcode"), Value: "P0001"}},
	}
}

func fullItemOptional() *ItemOptionalFields {
	return &ItemOptionalFields{
		Bibliographic: &BibliographicDescription{
			Author: "Knuth, Donald", ItemID: &BibliographicItemID{Identifier: "9780201896831", Code: SV("ISBN")},
			RecordIDs: []BibliographicRecordID{{Identifier: "b100", AgencyID: agency}, {Identifier: "12345", Code: SV("OCLC")}},
			Edition:   "3rd", Pagination: "650 p.", PlaceOfPublication: "Reading, Mass.", PublicationDate: "1997",
			Publisher: "Addison-Wesley", Title: "The Art of Computer Programming <vol. 1> & more",
			BibliographicLevel: SV("Monograph"), Language: SV("eng"), MediumType: SV("Book"),
		},
		ItemUseRestrictionType: []SchemeValue{SV("In Library Use Only")},
		CirculationStatus:      SV("Available On Shelf"),
		HoldQueueLength:        intp(0),
		Description:            &ItemDescription{CallNumber: "QA76.6 .K64", CopyNumber: "c.2", HoldingsStatement: "v.1"},
		Locations:              []Location{{Type: SV("Permanent"), Names: []LocationNameInstance{{Level: 1, Value: "Main"}, {Level: 2, Value: "Stacks"}}}},
		DateDue:                tDue,
	}
}

func fullFiscal() *FiscalTransaction {
	return &FiscalTransaction{
		ActionType: SV("Assess"), ReferenceID: &FiscalTransactionReferenceID{AgencyID: agency, Value: "F1"},
		RelatedReferenceIDs: []FiscalTransactionReferenceID{{AgencyID: agency, Value: "F0"}},
		TransactionType:     SV("Service Charge"), ValidFrom: tPlaced, Amount: Amount{CurrencyCode: SV("EUR"), Value: 550},
		PaymentMethodType: SV("Cash"), Description: "ILL fee", RequestID: ID("R1"),
		ItemDetails: &ItemDetails{ItemID: Identifier{Value: "I1"}, Bibliographic: BibliographicDescription{Title: "T"}, DateCheckedOut: tPlaced, DateDue: tDue},
	}
}

// responseCases returns one fully populated success response of every kind
// and the problem variants the schema allows.
func responseCases() map[string]Response {
	probs := []Problem{*NewProblem("CheckOutItem", UserBlocked, "blocked").At("UserId", "P0001"), *NewProblem("CheckOutItem", NeededDataMissing, "")}
	return map[string]Response{
		"LookupAgency": &LookupAgencyResponse{Header: hdr, AgencyID: agency,
			OrganizationNames:            []OrganizationName{{Type: SV("Translated Name"), Name: "Městská knihovna"}},
			Addresses:                    []Address{{Role: SV("Official"), Physical: &PhysicalAddress{Unstructured: "Smetanova 173", Type: SV("Street Address")}}},
			ApplicationProfilesSupported: []SchemeValue{SV("ILL")}, ConsortiumAgreements: []SchemeValue{SV("x")}, AgencyUserPrivilegeTypes: []SchemeValue{SV("STATUS")},
			PickupLocations: []LocationNameInstance{{Level: 1, Value: "Main Library"}, {Level: 2, Value: "Branch"}}},
		"LookupUser": &LookupUserResponse{Header: hdr, UserID: Identifier{AgencyID: agency, Value: "P0001"},
			FiscalAccounts:       []UserFiscalAccount{{Balance: Amount{Value: -550}, Details: []AccountDetails{{AccrualDate: tPlaced, Transaction: *fullFiscal()}}}},
			LoanedItemsCounts:    []ItemCount{{CirculationStatus: SV("On Loan"), Count: 2}, {ItemUseRestrictionType: SV("Overnight Only"), Count: 0}},
			RequestedItemsCounts: []ItemCount{{RequestType: SV("Hold"), Count: 1}, {CirculationStatus: SV("In Transit Between Library Locations"), Count: 1}, {ItemUseRestrictionType: SV("x"), Count: 1}},
			LoanedItems: []LoanedItem{
				{ItemID: Identifier{Value: "I1"}, BibliographicIDs: []BibliographicID{{RecordID: &BibliographicRecordID{Identifier: "b1", AgencyID: agency}}}, ReminderLevel: 1, DateDue: tDue, Amount: &Amount{Value: 0}, Title: "T", MediumType: SV("Book")},
				{ItemID: Identifier{Value: "I2"}, BibliographicIDs: []BibliographicID{{ItemID: &BibliographicItemID{Identifier: "978"}}},
					Bibliographic: &BibliographicDescription{RecordIDs: []BibliographicRecordID{{Identifier: "b2", AgencyID: agency}}}, RenewalNotPermitted: true},
			},
			RequestedItems: []RequestedItem{
				{ItemID: ID("I3"), RequestType: SV("Hold"), RequestStatusType: SV("Available For Pickup"), DatePlaced: tPlaced, PickupDate: tDue, PickupLocation: SV("MAIN"), PickupExpiryDate: tDue, ReminderLevel: 2, HoldQueuePosition: 1, Title: "T"},
				{RequestID: ID("R9"), ItemID: ID("I9"), RequestType: SV("Page"), RequestStatusType: SV("In Process"), DatePlaced: tPlaced,
					Bibliographic: &BibliographicDescription{RecordIDs: []BibliographicRecordID{{Identifier: "b9", AgencyID: agency}}}},
			},
			UserOptionalFields: fullUserOptional()},
		"LookupUser-org": &LookupUserResponse{UserID: Identifier{Value: "INST"}, UserOptionalFields: &UserOptionalFields{Organizations: []OrganizationName{{Type: SV("Legal"), Name: "Partner Library"}}}},
		"LookupItem": &LookupItemResponse{Header: hdr, ItemID: ID("I1"), HoldPickupDate: tDue, DateRecalled: tPlaced,
			CurrentBorrower: ID("P1"), CurrentRequesters: []Identifier{{Value: "P2"}}, ItemOptionalFields: fullItemOptional()},
		"LookupItemSet": &LookupItemSetResponse{Header: hdr, NextItemToken: "AQID", Bibs: []BibInformation{
			{BibliographicID: &BibliographicID{RecordID: &BibliographicRecordID{Identifier: "1", AgencyID: agency}},
				Description: &BibliographicDescription{Title: "T", Author: "A"}, TitleHoldQueueLength: intp(1),
				HoldingsSets: []HoldingsSet{{ID: "7", Location: &Location{Type: SV("Permanent"), Names: []LocationNameInstance{{Level: 1, Value: "MAIN"}}}, CallNumber: "QA 76",
					Items: []ItemInformation{{ItemID: ID("I1"), CurrentBorrower: ID("P1"), ItemOptionalFields: fullItemOptional()}, {ItemID: ID("I2")}}}}},
			{BibliographicID: &BibliographicID{ItemID: &BibliographicItemID{Identifier: "nope"}}, Problems: []Problem{*NewProblem("LookupItemSet", UnknownItem, "no such title")}},
			{HoldingsSets: []HoldingsSet{{Items: []ItemInformation{{ItemID: ID("I9"), Problems: []Problem{*NewProblem("LookupItemSet", UnknownItem, "")}}}}}},
			{HoldingsSets: []HoldingsSet{{ID: "8", Problems: []Problem{*NewProblem("LookupItemSet", UnknownItem, "")}}}},
		}},
		"LookupRequest": &LookupRequestResponse{Header: hdr, RequestID: ID("R1"), ItemID: ID("I1"), UserID: ID("P1"), RequestType: SV("Hold"),
			RequestScopeType: SV("Item"), RequestStatusType: SV("In Process"), HoldQueuePosition: 2, EarliestDateNeeded: tPlaced, NeedBeforeDate: tDue,
			PickupDate: tDue, PickupLocation: SV("MAIN"), PickupExpiryDate: tDue, DateOfUserRequest: tPlaced, DateAvailable: tDue,
			AcknowledgedFee: &Amount{Value: 1}, PaidFee: &Amount{Value: 1}, ItemOptionalFields: fullItemOptional(), UserOptionalFields: fullUserOptional()},
		"AcceptItem":                 &AcceptItemResponse{Header: hdr, RequestID: Identifier{AgencyID: agency, Value: "VDX1234"}, ItemID: ID("ILL-VDX1234")},
		"CheckOutItem":               &CheckOutItemResponse{Header: hdr, ItemID: Identifier{Value: "I1"}, UserID: Identifier{Value: "P1"}, DateDue: tDue, RenewalCount: intp(0), FiscalTransaction: fullFiscal(), ItemOptionalFields: fullItemOptional(), UserOptionalFields: fullUserOptional()},
		"CheckOutItem-indeterminate": &CheckOutItemResponse{ItemID: Identifier{Value: "I1"}, UserID: Identifier{Value: "P1"}, IndeterminateLoanPeriod: true},
		"CheckOutItem-problem":       &CheckOutItemResponse{Header: hdr, Problems: probs, RequiredFee: &Amount{CurrencyCode: SV("CZK"), Value: 5000}, RequiredItemUseRestrictionTypes: []SchemeValue{SV("Paid service")}},
		"CheckInItem": &CheckInItemResponse{Header: hdr, ItemID: Identifier{Value: "I1"}, UserID: ID("P1"),
			Routing:           &RoutingInformation{Instructions: "Send to Branch", Destination: &Location{Type: SV("Current"), Names: []LocationNameInstance{{Level: 1, Value: "BR1"}}}, RequestType: SV("Hold"), UserID: ID("P2")},
			FiscalTransaction: fullFiscal(), ItemOptionalFields: fullItemOptional(), UserOptionalFields: fullUserOptional()},
		"CheckInItem-bin":   &CheckInItemResponse{ItemID: Identifier{Value: "I1"}, Routing: &RoutingInformation{Instructions: "Bin", BinNumber: "7"}},
		"RenewItem":         &RenewItemResponse{Header: hdr, ItemID: Identifier{Value: "I1"}, UserID: ID("P1"), DateDue: tDue, DateForReturn: tDue, RenewalCount: intp(2), FiscalTransaction: fullFiscal(), ItemOptionalFields: fullItemOptional(), UserOptionalFields: fullUserOptional()},
		"RenewItem-pending": &RenewItemResponse{Pending: true, DateOfExpectedReply: tDue},
		"RenewItem-problem": &RenewItemResponse{Problems: []Problem{*NewProblem("RenewItem", MaximumRenewalsExceeded, "")}, RequiredFee: &Amount{Value: 100}},
		"RequestItem": &RequestItemResponse{Header: hdr, RequestID: ID("R1"), ItemID: ID("I1"), UserID: Identifier{Value: "P1"}, RequestType: SV("Hold"), RequestScopeType: SV("Bibliographic Item"),
			DateAvailable: tDue, HoldPickupDate: tDue, FiscalTransaction: fullFiscal(), ItemOptionalFields: fullItemOptional(), UserOptionalFields: fullUserOptional()},
		"RequestItem-problem":         &RequestItemResponse{Problems: []Problem{*NewProblem("RequestItem", DuplicateRequest, "")}, RequiredItemUseRestrictionTypes: []SchemeValue{SV("x")}},
		"CancelRequestItem":           &CancelRequestItemResponse{Header: hdr, ItemID: ID("I1"), UserID: Identifier{Value: "P1"}, FiscalTransaction: fullFiscal(), ItemOptionalFields: fullItemOptional(), UserOptionalFields: fullUserOptional()},
		"RecallItem":                  &RecallItemResponse{Header: hdr, ItemID: Identifier{Value: "I1"}, UserID: ID("P1"), DateDue: tDue, FiscalTransaction: fullFiscal(), ItemOptionalFields: fullItemOptional(), UserOptionalFields: fullUserOptional()},
		"DeleteItem":                  &DeleteItemResponse{Header: hdr, ItemID: Identifier{AgencyID: agency, Value: "I1"}},
		"CreateUserFiscalTransaction": &CreateUserFiscalTransactionResponse{Header: hdr, UserID: Identifier{Value: "P1"}, ReferenceID: FiscalTransactionReferenceID{AgencyID: agency, Value: "F77"}},
		"ItemShipped":                 &ItemShippedResponse{Header: hdr},
	}
}

func TestEncodeResponsesValidate(t *testing.T) {
	conformance.Tool(t, "xmllint")
	for name, r := range responseCases() {
		t.Run(name, func(t *testing.T) {
			b, err := EncodeResponse(r, WriteOptions{})
			if err != nil {
				t.Fatal(err)
			}
			validateNCIP(t, b)
		})
	}
	// Every service's Problem-only response validates too.
	for svc := range serviceNames() {
		if svc == "LookupVersion" {
			continue
		}
		t.Run("problem-"+svc, func(t *testing.T) {
			r := ProblemResponse(svc, NewProblem(svc, UnknownUser, "no such user").At("UserId", "X"))
			*r.header() = hdr
			b, err := EncodeResponse(r, WriteOptions{Version: "http://www.niso.org/schemas/ncip/v2_0/imp1/xsd/ncip_v2_0.xsd"})
			if err != nil {
				t.Fatal(err)
			}
			validateNCIP(t, b)
		})
	}
	t.Run("top-level-problems", func(t *testing.T) {
		validateNCIP(t, EncodeProblems([]Problem{*NewProblem("", InvalidMessageSyntaxError, "bad"), *NewProblem("", UnknownService, "x").At("NCIPMessage", "Foo")}, WriteOptions{}))
	})
}

func serviceNames() map[string]bool {
	m := map[string]bool{}
	for _, s := range []string{"LookupVersion", "LookupAgency", "LookupUser", "LookupItem", "LookupItemSet", "LookupRequest", "AcceptItem", "CheckOutItem", "CheckInItem", "RenewItem", "RequestItem", "CancelRequestItem", "RecallItem", "DeleteItem", "CreateUserFiscalTransaction", "ItemShipped"} {
		m[s] = true
	}
	return m
}

func TestEncodeLookupVersion(t *testing.T) {
	b, err := EncodeResponse(&LookupVersionResponse{Header: hdr, VersionsSupported: []string{Version202, "http://www.niso.org/schemas/ncip/v2_0/imp1/xsd/ncip_v2_0.xsd"}}, WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkWellFormed(t, b)
	s := string(b)
	for _, want := range []string{"<ncip:LookupVersionResponse>", "<ncip:FromAgencyId>", "<ncip:VersionSupported>" + Version202} {
		if !strings.Contains(s, want) {
			t.Errorf("missing %q in\n%s", want, s)
		}
	}
	if _, err := EncodeResponse(&LookupVersionResponse{}, WriteOptions{}); !errors.Is(err, ErrIncomplete) {
		t.Errorf("empty LookupVersionResponse: err = %v, want ErrIncomplete", err)
	}
}

func TestEncodeOptions(t *testing.T) {
	r := &CheckInItemResponse{Problems: []Problem{*NewProblem("CheckInItem", UnknownItem, "")}}
	t.Run("default", func(t *testing.T) {
		b, _ := EncodeResponse(r, WriteOptions{})
		s := string(b)
		if !strings.Contains(s, `xmlns:ncip="http://www.niso.org/2008/ncip" ncip:version="`+Version202+`"`) {
			t.Errorf("namespace/version not as expected:\n%s", s)
		}
		if !strings.Contains(s, `<ncip:ProblemType ncip:Scheme="`+SchemeCheckInItemError+`">Unknown Item</ncip:ProblemType>`) {
			t.Errorf("problem type not as expected:\n%s", s)
		}
	})
	t.Run("bare-version", func(t *testing.T) {
		b, _ := EncodeResponse(r, WriteOptions{BareVersion: true, Version: "2.02"})
		checkWellFormed(t, b)
		if !strings.Contains(string(b), `xmlns:ncip="http://www.niso.org/2008/ncip" version="2.02">`) {
			t.Errorf("bare version missing:\n%s", b)
		}
	})
	t.Run("no-namespace", func(t *testing.T) {
		b, _ := EncodeResponse(r, WriteOptions{NoNamespace: true})
		checkWellFormed(t, b)
		s := string(b)
		if strings.Contains(s, "ncip:") || strings.Contains(s, "xmlns") {
			t.Errorf("namespace written:\n%s", s)
		}
		if !strings.Contains(s, `<NCIPMessage version="`) || !strings.Contains(s, `<ProblemType Scheme="`) {
			t.Errorf("unexpected form:\n%s", s)
		}
	})
	t.Run("problem-strings", func(t *testing.T) {
		b, _ := EncodeResponse(r, WriteOptions{ProblemTypes: map[string]string{UnknownItem: "Item Not Found"}, OmitProblemScheme: true})
		validateNCIP(t, b)
		if !strings.Contains(string(b), `<ncip:ProblemType>Item Not Found</ncip:ProblemType>`) {
			t.Errorf("renamed problem missing:\n%s", b)
		}
	})
}

func TestEncodeEscapesAndDropsInvalidCharacters(t *testing.T) {
	r := &CheckOutItemResponse{ItemID: Identifier{Value: "a<b>&\"c\"\x01\x00\r\n\uFFFE\xff"}, UserID: Identifier{Value: "u"}, DateDue: tDue}
	b, err := EncodeResponse(r, WriteOptions{Version: "v\"<&\t"})
	if err != nil {
		t.Fatal(err)
	}
	validateNCIP(t, b)
	if !strings.Contains(string(b), "a&lt;b&gt;&amp;\"c\"&#xD;\n\uFFFD</ncip:ItemIdentifierValue>") {
		t.Errorf("escaping wrong:\n%q", b)
	}
}

func TestEncodeIncomplete(t *testing.T) {
	for name, r := range map[string]Response{
		"no due date":                &CheckOutItemResponse{ItemID: Identifier{Value: "I"}, UserID: Identifier{Value: "U"}},
		"no item or request":         &RequestItemResponse{UserID: Identifier{Value: "U"}},
		"requested no date":          &LookupUserResponse{RequestedItems: []RequestedItem{{ItemID: ID("I")}}},
		"loan count no kind":         &LookupUserResponse{LoanedItemsCounts: []ItemCount{{Count: 1}}},
		"request count no kind":      &LookupUserResponse{RequestedItemsCounts: []ItemCount{{Count: 1}}},
		"address without kind":       &LookupUserResponse{UserOptionalFields: &UserOptionalFields{Addresses: []Address{{Role: SV("Home")}}}},
		"routing no dest":            &CheckInItemResponse{Routing: &RoutingInformation{Instructions: "x"}},
		"item set without titles":    &LookupItemSetResponse{},
		"title without holdings":     &LookupItemSetResponse{Bibs: []BibInformation{{Description: &BibliographicDescription{Title: "T"}}}},
		"holdings set without items": &LookupItemSetResponse{Bibs: []BibInformation{{HoldingsSets: []HoldingsSet{{ID: "1"}}}}},
		"location without name":      &LookupItemResponse{ItemID: ID("I"), ItemOptionalFields: &ItemOptionalFields{Locations: []Location{{Type: SV("x")}}}},
	} {
		if _, err := EncodeResponse(r, WriteOptions{}); !errors.Is(err, ErrIncomplete) {
			t.Errorf("%s: err = %v, want ErrIncomplete", name, err)
		}
	}
}
