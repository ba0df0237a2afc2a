package responder

import (
	"cmp"
	"context"
	"encoding/xml"
	"html"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/fixtures"
	"github.com/circa-ils/circa/ncip"
	"github.com/circa-ils/circa/store"
)

// The requests below are built the way VuFind's XCNCIP2 driver builds
// them: ns1 prefix, a standalone declaration, the InitiationHeader from
// its fromAgency to its agency, the patron's barcode and PIN as two
// AuthenticationInputs typed Username and Password beside a UserId typed
// Institution Id Number, and its element names in its order.

const vufindSchemeAuthType = "http://www.niso.org/ncip/v1_0/imp1/schemes/authenticationinputtype/authenticationinputype.scm"

func vufindElement(name, text, scheme string) string {
	attr := ""
	if scheme != "" {
		attr = ` ns1:Scheme="` + scheme + `"`
	}
	return "<ns1:" + name + attr + ">" + html.EscapeString(text) + "</ns1:" + name + ">"
}

func vufindMessage(service, inner string) string {
	return `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` +
		`<ns1:NCIPMessage xmlns:ns1="http://www.niso.org/2008/ncip" ns1:version="http://www.niso.org/schemas/ncip/v2_02/ncip_v2_02.xsd">` +
		`<ns1:` + service + `><ns1:InitiationHeader><ns1:FromAgencyId><ns1:AgencyId>` + fixtures.PartnerAgency + `</ns1:AgencyId></ns1:FromAgencyId>` +
		`<ns1:ToAgencyId><ns1:AgencyId>` + fixtures.LocalAgency + `</ns1:AgencyId></ns1:ToAgencyId></ns1:InitiationHeader>` +
		inner + `</ns1:` + service + `></ns1:NCIPMessage>`
}

// vufindPatron is the driver's AuthenticationInput pair and UserId.
func vufindPatron(barcode, pin string) string {
	auth := func(data, typ string) string {
		return "<ns1:AuthenticationInput>" + vufindElement("AuthenticationInputData", data, "") +
			vufindElement("AuthenticationDataFormatType", "text", "http://www.iana.org/assignments/media-types/") +
			vufindElement("AuthenticationInputType", typ, vufindSchemeAuthType) + "</ns1:AuthenticationInput>"
	}
	return auth(barcode, "Username") + auth(pin, "Password") +
		"<ns1:UserId>" + vufindElement("AgencyId", fixtures.LocalAgency, "") +
		vufindElement("UserIdentifierType", "Institution Id Number", "") +
		vufindElement("UserIdentifierValue", barcode, "") + "</ns1:UserId>"
}

func vufindItemID(barcode string) string {
	return "<ns1:ItemId>" + vufindElement("AgencyId", fixtures.LocalAgency, "") +
		vufindElement("ItemIdentifierValue", barcode, "") + "</ns1:ItemId>"
}

// vufindLookupUser is the one LookupUser the driver sends for login,
// profile, loans, holds, fines and blocks alike.
func vufindLookupUser(barcode, pin string) string {
	var b strings.Builder
	b.WriteString(vufindPatron(barcode, pin))
	for _, e := range []string{"User Address Information", "Name Information", "User Privilege", "Block Or Trap"} {
		b.WriteString(vufindElement("UserElementType", e, "http://www.niso.org/ncip/v1_0/schemes/userelementtype/userelementtype.scm"))
	}
	b.WriteString("<ns1:LoanedItemsDesired /><ns1:RequestedItemsDesired /><ns1:UserFiscalAccountDesired />")
	return vufindMessage("LookupUser", b.String())
}

// vufindRequestItem is placeHold's RequestItem: the record id as a
// BibliographicItemId coded Legal Deposit Number, the item, the type with
// scope Item, the pickup location's number and the last interest date.
func vufindRequestItem(barcode, pin, bib, item, pickup string, needBefore time.Time) string {
	inner := vufindPatron(barcode, pin) +
		"<ns1:BibliographicId><ns1:BibliographicItemId>" + vufindElement("BibliographicItemIdentifier", bib, "") +
		vufindElement("BibliographicItemIdentifierCode", "Legal Deposit Number",
			"http://www.niso.org/ncip/v1_0/imp1/schemes/bibliographicitemidentifiercode/bibliographicitemidentifiercode.scm") +
		"</ns1:BibliographicItemId></ns1:BibliographicId>" + vufindItemID(item) +
		vufindElement("RequestType", "Hold", "http://www.niso.org/ncip/v1_0/imp1/schemes/requesttype/requesttype.scm") +
		vufindElement("RequestScopeType", "Item", "http://www.niso.org/ncip/v1_0/imp1/schemes/requestscopetype/requestscopetype.scm")
	if pickup != "" {
		inner += vufindElement("PickupLocation", pickup, "")
	}
	inner += vufindElement("NeedBeforeDate", needBefore.Format(time.RFC3339), "")
	return vufindMessage("RequestItem", inner)
}

// userAnswer is a LookupUserResponse read by the paths the driver reads.
type userAnswer struct {
	Problems []string `xml:"LookupUserResponse>Problem>ProblemType"`
	UserID   string   `xml:"LookupUserResponse>UserId>UserIdentifierValue"`
	Agency   string   `xml:"LookupUserResponse>UserId>AgencyId"`
	Given    string   `xml:"LookupUserResponse>UserOptionalFields>NameInformation>PersonalNameInformation>StructuredPersonalUserName>GivenName"`
	Surname  string   `xml:"LookupUserResponse>UserOptionalFields>NameInformation>PersonalNameInformation>StructuredPersonalUserName>Surname"`
	Email    []string `xml:"LookupUserResponse>UserOptionalFields>UserAddressInformation>ElectronicAddress>ElectronicAddressData"`
	Line1    []string `xml:"LookupUserResponse>UserOptionalFields>UserAddressInformation>PhysicalAddress>StructuredAddress>Line1"`
	Postal   []string `xml:"LookupUserResponse>UserOptionalFields>UserAddressInformation>PhysicalAddress>StructuredAddress>PostalCode"`
	ValidTo  string   `xml:"LookupUserResponse>UserOptionalFields>UserPrivilege>ValidToDate"`
	Blocks   []string `xml:"LookupUserResponse>UserOptionalFields>BlockOrTrap>BlockOrTrapType"`
	Loans    []struct {
		DateDue    string   `xml:"DateDue"`
		Title      string   `xml:"Title"`
		ItemID     string   `xml:"ItemId>ItemIdentifierValue"`
		ItemAgency string   `xml:"ItemId>AgencyId"`
		Bib        string   `xml:"Ext>BibliographicDescription>BibliographicRecordId>BibliographicRecordIdentifier"`
		BibAgency  string   `xml:"Ext>BibliographicDescription>BibliographicRecordId>AgencyId"`
		NoRenewal  []string `xml:"Ext>RenewalNotPermitted"`
	} `xml:"LookupUserResponse>LoanedItem"`
	Requests []struct {
		Bib        string `xml:"Ext>BibliographicDescription>BibliographicRecordId>BibliographicRecordIdentifier"`
		BibID      string `xml:"BibliographicId>BibliographicRecordId>BibliographicRecordIdentifier"`
		Agency     string `xml:"Ext>BibliographicDescription>BibliographicRecordId>AgencyId"`
		Title      string `xml:"Title"`
		Position   string `xml:"HoldQueuePosition"`
		RequestID  string `xml:"RequestId>RequestIdentifierValue"`
		ItemID     string `xml:"ItemId>ItemIdentifierValue"`
		Pickup     string `xml:"PickupLocation"`
		DatePlaced string `xml:"DatePlaced"`
		Status     string `xml:"RequestStatusType"`
		Type       string `xml:"RequestType"`
	} `xml:"LookupUserResponse>RequestedItem"`
	Fines []struct {
		Amount  string `xml:"FiscalTransactionInformation>Amount>MonetaryValue"`
		Accrual string `xml:"AccrualDate"`
		Type    string `xml:"FiscalTransactionInformation>FiscalTransactionType"`
		Bib     string `xml:"FiscalTransactionInformation>ItemDetails>BibliographicDescription>BibliographicRecordId>BibliographicRecordIdentifier"`
	} `xml:"LookupUserResponse>UserFiscalAccount>AccountDetails"`
}

func (e *env) vufindUser(barcode, pin string) userAnswer {
	e.t.Helper()
	status, body := e.post("/ncip", fixtures.PartnerKey, vufindLookupUser(barcode, pin), true)
	var a userAnswer
	if err := xml.Unmarshal(body, &a); err != nil || status != 200 {
		e.t.Fatalf("status %d, %v\n%s", status, err, body)
	}
	return a
}

// vufindDate parses a date the way the driver does (RFC 3339 with offset).
func vufindDate(t *testing.T, what, s string) time.Time {
	t.Helper()
	d, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatalf("%s %q: the driver cannot read it: %v", what, s, err)
	}
	return d
}

// TestVuFindPatronLogin: patronLogin's LookupUser with the barcode and PIN
// answers the patron's id, agency, name and e-mail where the driver reads
// them; a wrong PIN or an unknown barcode gets User Authentication Failed
// and no patron data.
func TestVuFindPatronLogin(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var a userAnswer
	e.unchanged("LookupUser", func() { a = e.vufindUser(fixtures.PatronGood, fixtures.DemoPIN) })
	if len(a.Problems) > 0 || a.UserID != fixtures.PatronGood || a.Agency != fixtures.LocalAgency {
		t.Fatalf("login: problems %v, id %q agency %q", a.Problems, a.UserID, a.Agency)
	}
	if a.Given == "" || a.Surname == "" || len(a.Email) == 0 || !strings.Contains(a.Email[0], "@") {
		t.Errorf("profile: %q %q %v", a.Given, a.Surname, a.Email)
	}
	if len(a.Line1) == 0 || a.Line1[0] == "" || len(a.Postal) == 0 {
		t.Errorf("address: %v %v", a.Line1, a.Postal)
	}
	vufindDate(t, "ValidToDate", a.ValidTo)
	for _, bad := range [][2]string{{fixtures.PatronGood, "9999"}, {"21999999999999", fixtures.DemoPIN}} {
		b := e.vufindUser(bad[0], bad[1])
		if len(b.Problems) != 1 || b.Problems[0] != ncip.UserAuthenticationFailed || b.UserID != "" || b.Given != "" {
			t.Errorf("%s/%s: problems %v id %q name %q", bad[0], bad[1], b.Problems, b.UserID, b.Given)
		}
	}
	if blocked := e.vufindUser(fixtures.PatronBlocked, fixtures.DemoPIN); len(blocked.Blocks) == 0 || !strings.HasPrefix(blocked.Blocks[0], "Block") {
		t.Errorf("blocked patron: BlockOrTrapType %v (the driver counts only types starting Block)", blocked.Blocks)
	}
}

// TestVuFindMyLoans: getMyTransactions reads each LoanedItem's due date,
// title, barcode, item agency and, in Ext, the title's record id, so it
// never falls back to a LookupItem per loan; a loan past its renewal limit
// carries RenewalNotPermitted.
func TestVuFindMyLoans(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, bib := e.bibOf(fixtures.ItemOnLoan)
	a := e.vufindUser(fixtures.PatronGood, fixtures.DemoPIN)
	if len(a.Loans) != 1 {
		t.Fatalf("%d loans", len(a.Loans))
	}
	l := a.Loans[0]
	vufindDate(t, "DateDue", l.DateDue)
	if l.ItemID != fixtures.ItemOnLoan || l.ItemAgency != fixtures.LocalAgency || l.Title != bib.Title ||
		l.Bib != strconv.FormatUint(bib.ID, 10) || l.BibAgency != fixtures.LocalAgency {
		t.Errorf("loan: %+v (title %q, bib %d)", l, bib.Title, bib.ID)
	}
	if len(l.NoRenewal) != 0 {
		t.Errorf("a renewable loan says RenewalNotPermitted")
	}
	for range 20 {
		status, body := e.post("/ncip", fixtures.PartnerKey, vufindRenew(fixtures.PatronGood, fixtures.DemoPIN, fixtures.ItemOnLoan), false)
		if status != 200 || strings.Contains(string(body), "Problem") {
			break
		}
	}
	if l := e.vufindUser(fixtures.PatronGood, fixtures.DemoPIN).Loans[0]; len(l.NoRenewal) != 1 {
		t.Errorf("a loan past its renewal limit lacks RenewalNotPermitted")
	}
}

// TestVuFindFines: getMyFines reads each AccountDetails' amount, accrual
// date, type and the fined item's title id.
func TestVuFindFines(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	item, bib := e.bibOf(fixtures.ItemAvailable)
	err := e.db.Update(context.Background(), func(tx store.Tx) error {
		p, err := tx.PatronByBarcode(fixtures.PatronFees)
		if err != nil {
			return err
		}
		return tx.PutFee(&store.Fee{PatronID: p.ID, ItemID: item.ID, Type: "01", Amount: 700, Balance: 700, Currency: "USD",
			Status: store.FeeOpen, Library: item.Library, Description: "Damaged item", Created: time.Now().UTC()})
	})
	if err != nil {
		t.Fatal(err)
	}
	a := e.vufindUser(fixtures.PatronFees, fixtures.DemoPIN)
	if len(a.Fines) < 3 {
		t.Fatalf("%d fines", len(a.Fines))
	}
	withItem := 0
	for _, f := range a.Fines {
		if f.Bib != "" && f.Bib != strconv.FormatUint(bib.ID, 10) {
			t.Errorf("fine for %s names title %s, not %d", item.Barcode, f.Bib, bib.ID)
		}
		vufindDate(t, "AccrualDate", f.Accrual)
		if v, err := strconv.ParseFloat(f.Amount, 64); err != nil || v <= 0 || f.Type == "" {
			t.Errorf("fine: %+v", f)
		}
		if f.Bib != "" {
			withItem++
		}
	}
	if withItem != 1 {
		t.Errorf("%d fines name a title, want the one for an item: %+v", withItem, a.Fines)
	}
}

func vufindRenew(barcode, pin, item string) string {
	return vufindMessage("RenewItem", vufindPatron(barcode, pin)+vufindItemID(item))
}

// TestVuFindRenew: renewMyItems reads RenewItemResponse/DateDue; a wrong
// PIN gets its Problem and renews nothing.
func TestVuFindRenew(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	before := vufindDate(t, "DateDue", e.vufindUser(fixtures.PatronGood, fixtures.DemoPIN).Loans[0].DateDue)
	e.unchanged("RenewItem with a wrong PIN", func() {
		_, body := e.post("/ncip", fixtures.PartnerKey, vufindRenew(fixtures.PatronGood, "0000", fixtures.ItemOnLoan), true)
		if !strings.Contains(string(body), ncip.UserAuthenticationFailed) {
			t.Errorf("wrong PIN:\n%s", body)
		}
	})
	e.advance(24 * time.Hour)
	status, body := e.post("/ncip", fixtures.PartnerKey, vufindRenew(fixtures.PatronGood, fixtures.DemoPIN, fixtures.ItemOnLoan), true)
	var r struct {
		Problems []string `xml:"RenewItemResponse>Problem>ProblemType"`
		DateDue  string   `xml:"RenewItemResponse>DateDue"`
	}
	if err := xml.Unmarshal(body, &r); err != nil || status != 200 || len(r.Problems) > 0 {
		t.Fatalf("renew: %d %v %v\n%s", status, err, r.Problems, body)
	}
	if due := vufindDate(t, "DateDue", r.DateDue); !due.After(before) {
		t.Errorf("due %v, was %v", due, before)
	}
}

type requestAnswer struct {
	Problems  []string `xml:"RequestItemResponse>Problem>ProblemType"`
	ItemID    string   `xml:"RequestItemResponse>ItemId>ItemIdentifierValue"`
	RequestID string   `xml:"RequestItemResponse>RequestId>RequestIdentifierValue"`
}

func (e *env) vufindPlace(barcode, pin, bib, item, pickup string) requestAnswer {
	e.t.Helper()
	status, body := e.post("/ncip", fixtures.PartnerKey, vufindRequestItem(barcode, pin, bib, item, pickup, time.Now().AddDate(0, 2, 0)), true)
	var a requestAnswer
	if err := xml.Unmarshal(body, &a); err != nil || status != 200 {
		e.t.Fatalf("status %d, %v\n%s", status, err, body)
	}
	return a
}

// vufindPickups is loadPickUpLocationsFromNcip: LookupAgency, then
// number → name from Ext/LocationName/LocationNameInstance.
func (e *env) vufindPickups() (agency string, pickups map[string]string) {
	e.t.Helper()
	inner := vufindElement("AgencyId", fixtures.LocalAgency, "")
	for _, t := range []string{"Agency Address Information", "Agency User Privilege Type", "Application Profile Supported Type",
		"Authentication Prompt", "Consortium Agreement", "Organization Name Information"} {
		inner += vufindElement("AgencyElementType", t, "http://www.niso.org/ncip/v1_0/imp1/schemes/agencyelementtype/agencyelementtype.scm")
	}
	status, body := e.post("/ncip", fixtures.PartnerKey, vufindMessage("LookupAgency", inner), true)
	var a struct {
		Agency    string `xml:"LookupAgencyResponse>AgencyId"`
		Locations []struct {
			Level string `xml:"LocationNameLevel"`
			Value string `xml:"LocationNameValue"`
		} `xml:"LookupAgencyResponse>Ext>LocationName>LocationNameInstance"`
	}
	if err := xml.Unmarshal(body, &a); err != nil || status != 200 {
		e.t.Fatalf("status %d, %v\n%s", status, err, body)
	}
	pickups = map[string]string{}
	for _, l := range a.Locations {
		pickups[l.Level] = l.Value
	}
	return a.Agency, pickups
}

// TestVuFindPickupLocations: LookupAgency lists every library by name
// under numbers the driver can send back.
func TestVuFindPickupLocations(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	agency, pickups := e.vufindPickups()
	if agency != fixtures.LocalAgency || len(pickups) < 2 {
		t.Fatalf("agency %q, pickups %v", agency, pickups)
	}
	for n, name := range pickups {
		if _, err := strconv.Atoi(n); err != nil || name == "" {
			t.Errorf("pickup %q: %q", n, name)
		}
	}
}

// pickupNumber is the number LookupAgency gives the library named name.
func pickupNumber(t *testing.T, pickups map[string]string, name string) string {
	t.Helper()
	for n, v := range pickups {
		if v == name {
			return n
		}
	}
	t.Fatalf("no pickup location %q in %v", name, pickups)
	return ""
}

// TestVuFindPlaceHold: placeHold's RequestItem (item scope, a pickup
// number from LookupAgency) answers the request id, and the hold then
// shows in getMyHolds with its title id, pickup location, position and
// status; a wrong PIN, an unknown item or an unknown pickup number get
// their Problem and place nothing.
func TestVuFindPlaceHold(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	item, bib := e.bibOf(fixtures.ItemOnLoan)
	_, pickups := e.vufindPickups()
	var branch string
	for n, v := range pickups {
		if !strings.Contains(strings.ToLower(v), "main") {
			branch = n
		}
	}
	bibID := strconv.FormatUint(bib.ID, 10)
	e.unchanged("refused RequestItems", func() {
		for _, bad := range []struct{ pin, item, pickup, want string }{
			{"0000", fixtures.ItemOnLoan, branch, ncip.UserAuthenticationFailed},
			{fixtures.DemoPIN, "NO-SUCH-ITEM", branch, ncip.UnknownItem},
			{fixtures.DemoPIN, fixtures.ItemOnLoan, "999", ""},
		} {
			a := e.vufindPlace(fixtures.PatronExternal, bad.pin, bibID, bad.item, bad.pickup)
			if len(a.Problems) == 0 || bad.want != "" && a.Problems[0] != bad.want || a.RequestID != "" {
				t.Errorf("%+v: %+v", bad, a)
			}
		}
	})
	a := e.vufindPlace(fixtures.PatronExternal, fixtures.DemoPIN, bibID, fixtures.ItemOnLoan, branch)
	if len(a.Problems) > 0 || a.ItemID+a.RequestID == "" {
		t.Fatalf("hold: %+v", a)
	}
	u := e.vufindUser(fixtures.PatronExternal, fixtures.DemoPIN)
	found := false
	for _, q := range u.Requests {
		if q.Bib != bibID {
			continue
		}
		found = true
		vufindDate(t, "DatePlaced", q.DatePlaced)
		if q.Type != "Hold" || q.Status != "In Process" || q.Position != "1" || q.RequestID == "" || q.BibID != bibID ||
			q.Agency != fixtures.LocalAgency || q.Title != bib.Title || q.Pickup == "" {
			t.Errorf("hold on %s: %+v", item.Barcode, q)
		}
	}
	if !found {
		t.Errorf("the hold is not in the patron's requests: %+v", u.Requests)
	}
}

// TestVuFindPlaceTitleHold: a RequestItem without an item (VuFind's
// ItemId then has no value) places a title-level hold on the title its
// BibliographicItemId names, listed with that title and no item.
func TestVuFindPlaceTitleHold(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, bib := e.bibOf(fixtures.ItemOnLoan)
	bibID := strconv.FormatUint(bib.ID, 10)
	e.unchanged("a title hold on an unknown title", func() {
		if a := e.vufindPlace(fixtures.PatronExternal, fixtures.DemoPIN, "NO-SUCH-TITLE", "", ""); len(a.Problems) != 1 || a.Problems[0] != ncip.UnknownItem {
			t.Errorf("unknown title: %+v", a)
		}
	})
	a := e.vufindPlace(fixtures.PatronExternal, fixtures.DemoPIN, bibID, "", "")
	if len(a.Problems) > 0 || a.RequestID == "" {
		t.Fatalf("title hold: %+v", a)
	}
	for _, q := range e.vufindUser(fixtures.PatronExternal, fixtures.DemoPIN).Requests {
		if q.RequestID == a.RequestID {
			if q.Bib != bibID || q.ItemID != "" || q.Status != "In Process" {
				t.Errorf("title hold: %+v", q)
			}
			return
		}
	}
	t.Errorf("title hold %s not listed", a.RequestID)
}

// TestVuFindHolds: a hold placed at a numbered pickup location is listed
// waiting there, In Process; once its item is checked in it reads as
// Available For Pickup (the status the driver shows as ready) with its
// item and no queue position left.
func TestVuFindHolds(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, pickups := e.vufindPickups()
	onLoan, bib := e.bibOf(fixtures.ItemOnLoan)
	pickup := pickupNumber(t, pickups, e.libraryName(onLoan.Library))
	placed := e.vufindPlace(fixtures.PatronExternal, fixtures.DemoPIN, strconv.FormatUint(bib.ID, 10), fixtures.ItemOnLoan, pickup)
	if len(placed.Problems) > 0 || placed.RequestID == "" {
		t.Fatalf("hold: %+v", placed)
	}
	hold := func() (status, item, where string) {
		for _, q := range e.vufindUser(fixtures.PatronExternal, fixtures.DemoPIN).Requests {
			if q.RequestID == placed.RequestID {
				return q.Status, q.ItemID, q.Pickup
			}
		}
		t.Fatalf("hold %s not listed", placed.RequestID)
		return
	}
	if status, _, where := hold(); status != "In Process" || where != onLoan.Library {
		t.Errorf("hold before its item is back: %q at %q", status, where)
	}
	if _, err := e.svc.Checkin(context.Background(), circ.CheckinRequest{
		Agent: circ.Agent{Protocol: "staff", Account: "test", Library: onLoan.Library}, Item: fixtures.ItemOnLoan}); err != nil {
		t.Fatal(err)
	}
	if status, item, _ := hold(); status != "Available For Pickup" || item != fixtures.ItemOnLoan {
		t.Errorf("hold with its item on the shelf: %q, item %q", status, item)
	}
}

// libraryName is a library's name as LookupAgency gives it.
func (e *env) libraryName(code string) string {
	e.t.Helper()
	var name string
	err := e.db.View(context.Background(), func(tx store.Tx) error {
		l, err := tx.Library(code)
		name = cmp.Or(l.Name, code)
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return name
}

// TestVuFindCancelHold: cancelHolds' CancelRequestItem (request id, item,
// type) answers the UserId the driver counts as success, and the hold is
// gone; a wrong PIN, or another patron naming the request, cancels nothing.
func TestVuFindCancelHold(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, bib := e.bibOf(fixtures.ItemOnLoan)
	_, pickups := e.vufindPickups()
	var any string
	for n := range pickups {
		any = n
	}
	placed := e.vufindPlace(fixtures.PatronExternal, fixtures.DemoPIN, strconv.FormatUint(bib.ID, 10), fixtures.ItemOnLoan, any)
	if placed.RequestID == "" {
		t.Fatalf("hold: %+v", placed)
	}
	cancel := func(patron, pin string) (problems []string, user string) {
		inner := vufindPatron(patron, pin) +
			"<ns1:RequestId>" + vufindElement("AgencyId", fixtures.LocalAgency, "") +
			vufindElement("RequestIdentifierValue", placed.RequestID, "") + "</ns1:RequestId>" + vufindItemID(fixtures.ItemOnLoan) +
			vufindElement("RequestType", "Hold", "http://www.niso.org/ncip/v1_0/imp1/schemes/requesttype/requesttype.scm") +
			vufindElement("RequestScopeType", "Bibliographic Item", "http://www.niso.org/ncip/v1_0/imp1/schemes/requestscopetype/requestscopetype.scm")
		status, body := e.post("/ncip", fixtures.PartnerKey, vufindMessage("CancelRequestItem", inner), true)
		var a struct {
			Problems []string `xml:"CancelRequestItemResponse>Problem>ProblemType"`
			User     string   `xml:"CancelRequestItemResponse>UserId>UserIdentifierValue"`
		}
		if err := xml.Unmarshal(body, &a); err != nil || status != 200 {
			t.Fatalf("status %d, %v\n%s", status, err, body)
		}
		return a.Problems, a.User
	}
	e.unchanged("refused CancelRequestItems", func() {
		if p, user := cancel(fixtures.PatronExternal, "0000"); len(p) != 1 || p[0] != ncip.UserAuthenticationFailed || user != "" {
			t.Errorf("wrong PIN: %v %q", p, user)
		}
		if p, user := cancel(fixtures.PatronGood, fixtures.DemoPIN); len(p) != 1 || user != "" {
			t.Errorf("another patron's request: %v %q", p, user)
		}
	})
	if p, user := cancel(fixtures.PatronExternal, fixtures.DemoPIN); len(p) > 0 || user != fixtures.PatronExternal {
		t.Fatalf("cancel: %v %q", p, user)
	}
	for _, q := range e.vufindUser(fixtures.PatronExternal, fixtures.DemoPIN).Requests {
		if q.RequestID == placed.RequestID && q.Status != "Cancelled" {
			t.Errorf("cancelled hold still %q", q.Status)
		}
	}
}
