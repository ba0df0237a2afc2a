package responder

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/fixtures"
	"github.com/circa-ils/circa/ncip"
	"github.com/circa-ils/circa/store"
)

func TestEveryCodeHasAProblem(t *testing.T) {
	t.Parallel()
	for _, c := range circ.Codes() {
		typ, ok := problemTypes[c]
		if !ok || typ == "" {
			t.Errorf("circ code %v has no NCIP Problem type", c)
			continue
		}
		if ncip.SchemeFor("", typ) == "" {
			t.Errorf("circ code %v: %q is in no NCIP scheme", c, typ)
		}
	}
	for service, m := range serviceProblemTypes {
		for c, typ := range m {
			if ncip.SchemeFor(service, typ) == "" {
				t.Errorf("%s %v: %q is in no NCIP scheme", service, c, typ)
			}
		}
	}
}

func TestLookupUser(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	all := "elements=Name Information,User Address Information,User Privilege,Block Or Trap,User Id,Date Of Birth,User Language"
	r := e.ill("LookupUser", "user="+fixtures.PatronGood, all, "loans=1", "requests=1", "account=1")
	ok(t, "lookup", r)
	for _, want := range []string{"<ncip:Surname>", "Whitfield", "<ncip:ElectronicAddressData>", "<ncip:UserPrivilegeStatusType>Active",
		fixtures.ItemOnLoan, "<ncip:DateOfBirth>1998-03-14", "<ncip:UserFiscalAccount>"} {
		if !bytes.Contains(r.Body, []byte(strings.ReplaceAll(want, "ncip:", ""))) && !bytes.Contains(r.Body, []byte(want)) {
			t.Errorf("LookupUserResponse lacks %q:\n%s", want, r.Body)
		}
	}
	if r.Response.UserID == nil || r.Response.UserID.Value != fixtures.PatronGood {
		t.Fatalf("user id %+v", r.Response.UserID)
	}
	// Only what was asked for.
	bare := e.ill("LookupUser", "user="+fixtures.PatronGood)
	ok(t, "bare lookup", bare)
	if bytes.Contains(bare.Body, []byte("Whitfield")) || bytes.Contains(bare.Body, []byte("LoanedItem")) {
		t.Fatalf("personal data not asked for:\n%s", bare.Body)
	}
	// Barcode and PIN.
	ok(t, "barcode+PIN", e.ill("LookupUser", "barcode="+fixtures.PatronGood, "pin="+fixtures.DemoPIN))
	problem(t, "wrong PIN", e.ill("LookupUser", "barcode="+fixtures.PatronGood, "pin=9999"), ncip.UserAuthenticationFailed)
	unknownWithPIN := problem(t, "unknown with PIN", e.ill("LookupUser", "barcode=NOBODY", "pin=9999"), ncip.UserAuthenticationFailed)
	if unknownWithPIN.Value != "" && unknownWithPIN.Value != "NOBODY" {
		t.Fatalf("problem value %q", unknownWithPIN.Value)
	}
	p := problem(t, "unknown", e.ill("LookupUser", "user=NOBODY"), ncip.UnknownUser)
	if p.Type.Scheme != ncip.SchemeLookupUserError || p.Element != "UserId" || p.Value != "NOBODY" {
		t.Fatalf("problem %+v", p)
	}
	problem(t, "no user", e.raw(fixtures.PartnerKey, `<LookupUser><UserElementType>Name Information</UserElementType></LookupUser>`), ncip.NeededDataMissing)
	// A blocked patron is found, with the block and privilege status.
	b := e.ill("LookupUser", "user="+fixtures.PatronBlocked, "elements=User Privilege,Block Or Trap")
	ok(t, "blocked", b)
	if !bytes.Contains(b.Body, []byte("Blocked")) || !bytes.Contains(b.Body, []byte("Block: manual")) {
		t.Fatalf("block not reported:\n%s", b.Body)
	}
	ok(t, "expired", e.ill("LookupUser", "user="+fixtures.PatronExpired, "elements=User Privilege"))
	f := e.ill("LookupUser", "user="+fixtures.PatronFees, "account=1", "elements=Block Or Trap")
	ok(t, "fees", f)
	if !bytes.Contains(f.Body, []byte("1250")) && !bytes.Contains(f.Body, []byte("12.50")) {
		t.Fatalf("balance of 12.50 not reported:\n%s", f.Body)
	}
	rq := e.ill("LookupUser", "user="+fixtures.PatronExternal, "requests=1")
	ok(t, "requests", rq)
	if !bytes.Contains(rq.Body, []byte(fixtures.ItemHeld)) {
		t.Fatalf("requested item missing:\n%s", rq.Body)
	}
}

// TestLookupUserReads: a LookupUser reads only the patron record, the
// standing too, or the lists too, depending on what it asks for; each way
// checks a PIN the same and answers the same Problems.
func TestLookupUserReads(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, c := range []struct {
		name   string
		fields []string
		want   []string // in the success body
	}{
		{"record", []string{"elements=Name Information,User Id"}, []string{"Whitfield", "<ncip:UserIdentifierValue>" + fixtures.PatronGood}},
		{"standing", []string{"elements=Name Information,User Privilege,Block Or Trap"}, []string{"Whitfield", "Active"}},
		{"lists", []string{"elements=Name Information", "loans=1"}, []string{"Whitfield", fixtures.ItemOnLoan}},
		{"account", []string{"account=1"}, []string{"<ncip:UserFiscalAccount>"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, id := range [][]string{{"user=" + fixtures.PatronGood}, {"barcode=" + fixtures.PatronGood, "pin=" + fixtures.DemoPIN}} {
				r := e.ill("LookupUser", append(id, c.fields...)...)
				ok(t, "lookup", r)
				for _, w := range c.want {
					if !bytes.Contains(r.Body, []byte(w)) {
						t.Errorf("%v: lacks %q:\n%s", id, w, r.Body)
					}
				}
				if !slices.Contains(c.fields, "loans=1") && bytes.Contains(r.Body, []byte("LoanedItem")) {
					t.Errorf("%v: loans not asked for:\n%s", id, r.Body)
				}
			}
			problem(t, "wrong PIN", e.ill("LookupUser", append([]string{"barcode=" + fixtures.PatronGood, "pin=9999"}, c.fields...)...),
				ncip.UserAuthenticationFailed)
			problem(t, "unknown with PIN", e.ill("LookupUser", append([]string{"barcode=NOBODY", "pin=9999"}, c.fields...)...),
				ncip.UserAuthenticationFailed)
			p := problem(t, "unknown", e.ill("LookupUser", append([]string{"user=NOBODY"}, c.fields...)...), ncip.UnknownUser)
			if p.Element != "UserId" || p.Value != "NOBODY" {
				t.Errorf("unknown: problem %+v", p)
			}
		})
	}
	// Fees count in the standing without the lists, and their block is
	// named as one.
	f := e.ill("LookupUser", "user="+fixtures.PatronFees, "elements=User Privilege,Block Or Trap")
	if ok(t, "fees", f); !bytes.Contains(f.Body, []byte(">Blocked<")) || !bytes.Contains(f.Body, []byte(">Block: fees owed<")) ||
		bytes.Contains(f.Body, []byte("UserFiscalAccount")) {
		t.Fatalf("fees block:\n%s", f.Body)
	}
	// A manual block is listed once.
	b := e.ill("LookupUser", "user="+fixtures.PatronBlocked, "elements=Block Or Trap")
	if ok(t, "blocked", b); bytes.Count(b.Body, []byte("<ncip:BlockOrTrap>")) != 1 {
		t.Fatalf("manual block:\n%s", b.Body)
	}
}

func TestLookupVersionAgencyItem(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	v := e.ill("LookupVersion")
	ok(t, "version", v)
	if !bytes.Contains(v.Body, []byte(ncip.Version202)) {
		t.Fatalf("versions:\n%s", v.Body)
	}
	a := e.ill("LookupAgency", "agency="+fixtures.LocalAgency)
	ok(t, "agency", a)
	if !bytes.Contains(a.Body, []byte("Main Library")) {
		t.Fatalf("agency:\n%s", a.Body)
	}
	ok(t, "storage agency", e.annex("LookupAgency", "agency="+fixtures.LocalAgency))
	it := e.ill("LookupItem", "item="+fixtures.ItemOnLoan)
	ok(t, "item", it)
	for _, want := range []string{"On Loan", "MAIN", "<ncip:DateDue>"} {
		if !bytes.Contains(it.Body, []byte(want)) {
			t.Fatalf("LookupItem lacks %q:\n%s", want, it.Body)
		}
	}
	ok(t, "annex item by facility", e.annex("LookupItem", "item="+fixtures.ItemAnnex))
	problem(t, "unknown item", e.ill("LookupItem", "item=NOPE"), ncip.UnknownItem)
	problem(t, "no item", e.raw(fixtures.PartnerKey, `<LookupItem><ItemElementType>Bibliographic Description</ItemElementType></LookupItem>`), ncip.NeededDataMissing)
}

func TestLookupRequest(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ok(t, "request", e.ill("RequestItem", "item="+fixtures.ItemAvailable, "request=LR-1", "request-type=Page"))
	for _, id := range []string{"LR-1"} {
		r := e.ill("LookupRequest", "request="+id)
		ok(t, "lookup "+id, r)
		if r.Response.ItemID == nil || r.Response.ItemID.Value != fixtures.ItemAvailable {
			t.Fatalf("lookup %s: %s", id, r.Body)
		}
	}
	problem(t, "unknown request", e.ill("LookupRequest", "request=NOPE"), ncip.UnknownRequest)
	// A local patron's hold is not the partner's to see by id.
	info, err := e.svc.LookupRequest(context.Background(), circ.RequestQuery{Patron: fixtures.PatronExternal, Item: fixtures.ItemHeld})
	if err != nil {
		t.Fatal(err)
	}
	problem(t, "someone else's request", e.ill("LookupRequest", "request="+circ.RequestKey(info.ID)), ncip.UnknownRequest)
	ok(t, "by user and item", e.ill("LookupRequest", "user="+fixtures.PatronExternal, "item="+fixtures.ItemHeld))
	problem(t, "nothing named", e.raw(fixtures.PartnerKey, `<LookupRequest><RequestType>Hold</RequestType></LookupRequest>`), ncip.NeededDataMissing)
}

func TestLendingServicesRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	problem(t, "checkout unknown item", e.ill("CheckOutItem", "item=NOPE"), ncip.UnknownItem)
	problem(t, "checkout non-circulating", e.ill("CheckOutItem", "item="+fixtures.ItemNonCirculating), ncip.ItemDoesNotCirculate)
	problem(t, "checkout on loan to another", e.ill("CheckOutItem", "item="+fixtures.ItemOnLoan), ncip.ResourceCannotBeProvided)
	problem(t, "checkout held for another", e.ill("CheckOutItem", "item="+fixtures.ItemHeld), ncip.ResourceCannotBeProvided)
	problem(t, "checkout no item", e.ill("CheckOutItem"), ncip.NeededDataMissing)
	problem(t, "checkin not on loan", e.ill("CheckInItem", "item="+fixtures.ItemAvailable), ncip.ItemNotCheckedOut)
	problem(t, "checkin unknown", e.ill("CheckInItem", "item=NOPE"), ncip.UnknownItem)
	problem(t, "request unknown item", e.ill("RequestItem", "item=NOPE", "request=R-x"), ncip.UnknownItem)
	problem(t, "request non-circulating", e.ill("RequestItem", "item="+fixtures.ItemNonCirculating, "request=R-y"), ncip.ItemDoesNotCirculate)
	problem(t, "request unknown title", e.ill("RequestItem", "bib=cir999999999", "request=R-z"), ncip.UnknownItem)
	problem(t, "request names nothing", e.raw(fixtures.PartnerKey, `<RequestItem><UserId><UserIdentifierValue>B-1</UserIdentifierValue></UserId>`+
		`<RequestType>Hold</RequestType><RequestScopeType>Item</RequestScopeType></RequestItem>`), ncip.NeededDataMissing)
	problem(t, "request by a blocked user", e.ill("RequestItem", "user="+fixtures.PatronBlocked, "item="+fixtures.ItemAvailable), ncip.UserBlocked)
	problem(t, "request with a wrong PIN", e.ill("RequestItem", "barcode="+fixtures.PatronGood, "pin=0000", "item="+fixtures.ItemAvailable),
		ncip.UserAuthenticationFailed)
	problem(t, "renew not on loan", e.ill("RenewItem", "item="+fixtures.ItemAvailable), ncip.ItemNotCheckedOut)
	problem(t, "renew another's loan", e.ill("RenewItem", "user=NOBODY", "item="+fixtures.ItemOnLoan), ncip.ItemNotCheckedOut)
	problem(t, "cancel unknown", e.ill("CancelRequestItem", "request=NOPE"), ncip.UnknownRequest)
	problem(t, "recall not on loan", e.ill("RecallItem", "item="+fixtures.ItemAvailable), ncip.ItemNotCheckedOut)
	problem(t, "delete permanent item", e.ill("DeleteItem", "item="+fixtures.ItemAvailable), ncip.ElementRuleViolated)
	problem(t, "delete unknown item", e.ill("DeleteItem", "item=NOPE"), ncip.UnknownItem)
	problem(t, "fee for unknown user", e.ill("CreateUserFiscalTransaction", "user=NOBODY", "amount=5.00"), ncip.UnknownUser)
	problem(t, "fee of nothing", e.ill("CreateUserFiscalTransaction", "user="+fixtures.PatronGood, "amount=0"), ncip.InvalidAmount)
	problem(t, "payment", e.ill("CreateUserFiscalTransaction", "user="+fixtures.PatronGood, "amount=1.00", "fiscal-action=Pay"),
		ncip.UnauthorizedCombinationForAgency)
	problem(t, "accept without user", e.ill("AcceptItem", "request=A-1", "item=X"), ncip.NeededDataMissing)
	problem(t, "accept for unknown user", e.ill("AcceptItem", "request=A-1", "user=NOBODY", "item=X"), ncip.UnknownUser)
	problem(t, "the same, retried", e.ill("AcceptItem", "request=A-1", "user=NOBODY", "item=X"), ncip.UnknownUser)
	ok(t, "the user corrected", e.ill("AcceptItem", "request=A-1", "user="+fixtures.PatronGood, "item=X"))
	problem(t, "accept onto our own barcode", e.ill("AcceptItem", "request=A-2", "user="+fixtures.PatronGood, "item="+fixtures.ItemAvailable),
		ncip.CannotAcceptItem)
}

func TestRenewRecallFee(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.ill("RenewItem", "user="+fixtures.PatronGood, "item="+fixtures.ItemOnLoan)
	m := ok(t, "renew", r)
	if m.DateDue.IsZero() {
		t.Fatalf("no due date:\n%s", r.Body)
	}
	// GRAD? No: UNDERGRAD books renew three times.
	for range 2 {
		ok(t, "renew again", e.ill("RenewItem", "user="+fixtures.PatronGood, "item="+fixtures.ItemOnLoan))
	}
	problem(t, "renewal limit", e.ill("RenewItem", "user="+fixtures.PatronGood, "item="+fixtures.ItemOnLoan), ncip.MaximumRenewalsExceeded)
	rc := e.ill("RecallItem", "item="+fixtures.ItemOnLoan)
	if ok(t, "recall", rc); !rc.Response.DateDue.Equal(seededAt.Add(circ.RecallGrace)) {
		t.Fatalf("recalled due %v\n%s", rc.Response.DateDue, rc.Body)
	}
	e.unchanged("a repeated recall", func() { ok(t, "recall again", e.ill("RecallItem", "item="+fixtures.ItemOnLoan)) })

	fee := e.ill("CreateUserFiscalTransaction", "user="+fixtures.PatronGood, "amount=7.50", "request=ILL-FEE-1", "description=ILL fee")
	ok(t, "fee", fee)
	e.unchanged("a repeated fee", func() {
		again := e.ill("CreateUserFiscalTransaction", "user="+fixtures.PatronGood, "amount=7.50", "request=ILL-FEE-1", "description=ILL fee")
		ok(t, "fee again", again)
		if !bytes.Equal(bodyAfterHeader(again.Body), bodyAfterHeader(fee.Body)) {
			t.Fatalf("a retry got another answer:\n%s\n%s", fee.Body, again.Body)
		}
	})
	sum, err := e.svc.PatronStatus(context.Background(), circ.PatronQuery{Patron: fixtures.PatronGood})
	if err != nil || sum.Standing.Balance != 750 {
		t.Fatalf("balance %d, %v", sum.Standing.Balance, err)
	}
}

// bodyAfterHeader drops the response header, whose content is the same.
func bodyAfterHeader(b []byte) []byte {
	if i := bytes.Index(b, []byte("</ncip:ResponseHeader>")); i >= 0 {
		return b[i:]
	}
	return b
}

func TestRequestAndCancel(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// A local patron's title-level hold.
	bib := titleOf(t, e, fixtures.ItemBranch)
	h := e.ill("RequestItem", "user="+fixtures.PatronGood, "bib="+bib, "bib-code=SYSNUMBER", "request=H-1", "pickup=MAIN")
	ok(t, "title hold", h)
	if !bytes.Contains(h.Body, []byte("Bibliographic Item")) {
		t.Fatalf("scope:\n%s", h.Body)
	}
	problem(t, "same patron again", e.ill("RequestItem", "user="+fixtures.PatronGood, "item="+fixtures.ItemBranch, "request=H-2"), ncip.DuplicateRequest)
	problem(t, "reused request id", e.ill("RequestItem", "item="+fixtures.ItemDiacritics, "request=H-1"), ncip.DuplicateRequest)
	ok(t, "cancel by id", e.ill("CancelRequestItem", "request=H-1"))
	e.unchanged("a repeated cancel", func() { ok(t, "cancel again", e.ill("CancelRequestItem", "request=H-1")) })
	info, err := e.svc.LookupRequest(context.Background(), circ.RequestQuery{Partner: fixtures.PartnerCode, ExternalID: "H-1"})
	if err != nil || info.Status != "cancelled" {
		t.Fatalf("after cancel: %+v %v", info, err)
	}
	// A lending request without an id, cancelled by item.
	ok(t, "lending request", e.ill("RequestItem", "item="+fixtures.ItemDiacritics))
	ok(t, "cancel by item", e.ill("CancelRequestItem", "item="+fixtures.ItemDiacritics))
	problem(t, "cancel it twice without an id", e.ill("CancelRequestItem", "item="+fixtures.ItemAvailable), ncip.UnknownRequest)
}

// titleOf returns the control number of an item's bib.
func titleOf(t *testing.T, e *env, item string) string {
	t.Helper()
	sum, err := e.svc.ItemInfo(context.Background(), item)
	if err != nil {
		t.Fatal(err)
	}
	return circ.RequestKey(sum.Item.BibID)
}

func TestStorageServices(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	problem(t, "facility LookupUser", e.annex("LookupUser", "user="+fixtures.PatronGood), ncip.UnauthorizedServiceForAgency)
	problem(t, "facility AcceptItem", e.annex("AcceptItem", "request=X", "user="+fixtures.PatronGood), ncip.UnauthorizedServiceForAgency)
	problem(t, "item not in the annex", e.annex("CheckInItem", "item="+fixtures.ItemAvailable), ncip.ElementRuleViolated)
	problem(t, "unknown item", e.annex("CheckOutItem", "item=NOPE"), ncip.UnknownItem)
	problem(t, "not found without item", e.annex("CancelRequestItem", "request=1"), ncip.NeededDataMissing)
	r := e.annex("CheckInItem", "item="+fixtures.ItemAnnex)
	ok(t, "refile at rest", r)
	e.unchanged("a refile of an item at rest", func() { ok(t, "again", e.annex("CheckInItem", "item="+fixtures.ItemAnnex)) })
	ok(t, "not found", e.annex("CancelRequestItem", "item="+fixtures.ItemAnnex))
	e.unchanged("a repeated not-found", func() { ok(t, "again", e.annex("CancelRequestItem", "item="+fixtures.ItemAnnex)) })
	hist, err := e.svc.StorageHistory(context.Background(), fixtures.ItemAnnex)
	if err != nil || hist[len(hist)-1].State != circ.StorageNotFound {
		t.Fatalf("history %+v %v", hist, err)
	}
	it, _ := e.svc.ItemInfo(context.Background(), fixtures.ItemAnnex)
	if it.Item.Status != "missing" {
		t.Fatalf("status %s", it.Item.Status)
	}
	e.advance(time.Hour)
	ok(t, "found and refiled", e.annex("CheckInItem", "item="+fixtures.ItemAnnex))
}

// TestRemoteStorageItemShipped: the facility's ItemShipped, naming the
// retrieval circa asked for by its RequestId, fulfils it and sends the
// item to the hold's pickup library, as its CheckOutItem does; a repeat
// changes nothing. Unknown items and requests, a RequestId of another
// item and an ILL partner get Problems and change nothing.
func TestRemoteStorageItemShipped(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	hold, err := e.svc.PlaceHold(ctx, circ.HoldRequest{Agent: circ.Agent{Protocol: "cli", Library: fixtures.LibraryMain},
		Patron: fixtures.PatronGood, Item: fixtures.ItemAnnex, Pickup: fixtures.LibraryBranch})
	if err != nil || hold.Retrieval == 0 {
		t.Fatalf("hold on the annex item: %+v, %v", hold, err)
	}
	rid := circ.RequestKey(hold.Retrieval)
	ship := func(fields ...string) *ncip.Result {
		return e.annex("ItemShipped", append([]string{"address=" + fixtures.LibraryBranch, "note=tote 4"}, fields...)...)
	}
	e.unchanged("refused shipments", func() {
		problem(t, "unknown item", ship("item=NOPE"), ncip.UnknownItem)
		problem(t, "unknown request", ship("request=999999"), ncip.UnknownRequest)
		problem(t, "not a request number", ship("request=R-1"), ncip.UnknownRequest)
		problem(t, "a hold is no retrieval", ship("request="+circ.RequestKey(hold.Request)), ncip.UnknownRequest)
		problem(t, "request of another item", ship("request="+rid, "item="+fixtures.ItemAvailable), ncip.ElementRuleViolated)
		problem(t, "item outside the annex", ship("item="+fixtures.ItemAvailable), ncip.ElementRuleViolated)
		problem(t, "from the ILL partner", e.ill("ItemShipped", "item="+fixtures.ItemAnnex, "address=x"), ncip.UnauthorizedServiceForAgency)
		p := problem(t, "nothing named", e.raw(fixtures.StorageKey, `<ItemShipped><InitiationHeader><FromAgencyId><AgencyId>`+fixtures.StorageAgency+
			`</AgencyId></FromAgencyId></InitiationHeader><DateShipped>2026-12-01</DateShipped></ItemShipped>`), ncip.NeededDataMissing)
		if p.Element != "ItemShipped/ItemId" {
			t.Fatalf("problem element %q", p.Element)
		}
	})

	ok(t, "shipped", ship("request="+rid, "shipped=2026-11-03T08:00:00Z"))
	info, err := e.svc.LookupRequest(ctx, circ.RequestQuery{ID: hold.Retrieval})
	if err != nil || info.Status != store.RequestFulfilled {
		t.Fatalf("retrieval after ItemShipped: %+v, %v", info, err)
	}
	if h, err := e.svc.LookupRequest(ctx, circ.RequestQuery{ID: hold.Request}); err != nil || h.Status != store.RequestInTransit {
		t.Fatalf("hold after ItemShipped: %+v, %v", h, err)
	}
	it, err := e.svc.ItemInfo(ctx, fixtures.ItemAnnex)
	if err != nil || it.Item.Status != store.ItemInTransit || it.Destination != fixtures.LibraryBranch {
		t.Fatalf("item after ItemShipped: %+v, %v", it.Item, err)
	}
	hist, err := e.svc.StorageHistory(ctx, fixtures.ItemAnnex)
	if err != nil {
		t.Fatal(err)
	}
	if last := hist[len(hist)-1]; last.State != circ.StorageRetrieved || last.Request != hold.Retrieval ||
		last.Note != "shipped 2026-11-03T08:00:00Z: tote 4" {
		t.Fatalf("storage history ends %+v", last)
	}
	e.unchanged("a repeated ItemShipped", func() {
		ok(t, "by request again", ship("request="+rid))
		ok(t, "by item again", ship("item="+fixtures.ItemAnnex))
	})
	e.validate()
}
