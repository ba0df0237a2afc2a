package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/fixtures"
	"github.com/circa-ils/circa/internal/conformance"
	"github.com/circa-ils/circa/ncip"
	"github.com/circa-ils/circa/ncip/responder"
	"github.com/circa-ils/circa/profiles"
	"github.com/circa-ils/circa/profiles/initiator"
	"github.com/circa-ils/circa/schemas"
	"github.com/circa-ils/circa/store"
)

// ncipServer serves NCIP for a seeded data directory on a loopback port.
func ncipServer(t *testing.T) (*backend, string) {
	t.Helper()
	b, err := openBackend(seededDir(t))
	if err != nil {
		t.Fatal(err)
	}
	reg, err := b.registry(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(ncip.NewHandler(responder.New(b.svc, reg.Current), ncip.HandlerOptions{}))
	t.Cleanup(func() {
		srv.Close()
		b.Close()
	})
	return b, srv.URL + "/ncip"
}

func TestNCIPSend(t *testing.T) {
	_, url := ncipServer(t)
	r := run(t, "ncip", "send", "--url", url, "--key", fixtures.PartnerKey, "--service", "LookupUser",
		"from="+fixtures.PartnerAgency, "user="+fixtures.PatronGood, "elements=Name Information")
	if r.code != 0 || !strings.Contains(r.out, "LookupUserResponse") || !strings.Contains(r.out, "Whitfield") {
		t.Fatalf("send: %+v", r)
	}
	r = run(t, "ncip", "send", "--url", url, "--key", fixtures.PartnerKey, "--service", "LookupUser", "user=NOBODY")
	if r.code != 1 || !strings.Contains(r.out, "Unknown User") || !strings.Contains(r.errOut, "NCIP Problem: Unknown User") {
		t.Fatalf("problem: %+v", r)
	}
	r = run(t, "ncip", "send", "--url", url, "--key", "wrong", "--service", "LookupVersion")
	if r.code != 1 || !strings.Contains(r.errOut, "Agency Authentication Failed") {
		t.Fatalf("wrong key: %+v", r)
	}
	req, err := ncip.BuildRequest("CheckOutItem", []string{"from=" + fixtures.PartnerAgency, "user=BROKER-1", "item=" + fixtures.ItemAvailable})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := ncip.EncodeRequest(req, ncip.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "checkout.xml")
	if err := os.WriteFile(file, msg, 0o600); err != nil {
		t.Fatal(err)
	}
	r = run(t, "ncip", "send", "--url", url+"/"+fixtures.PartnerKey, file)
	if r.code != 0 || !strings.Contains(r.out, "<ncip:DateDue>") {
		t.Fatalf("send file: %+v", r)
	}
	for _, args := range [][]string{
		{"ncip", "send", "--url", url, "--service", "LookupUser", "nonsense"},
		{"ncip", "send", "--url", url, "--service", "LookupUser", "colour=blue"},
		{"ncip", "send", "--url", url},
	} {
		if r := run(t, args...); r.code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, r.code, r.errOut)
		}
	}
}

func TestNCIPCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.xml")
	bad := filepath.Join(dir, "bad.xml")
	req, _ := ncip.BuildRequest("CheckInItem", []string{"from=A", "to=B", "item=I-1"})
	msg, _ := ncip.EncodeRequest(req, ncip.WriteOptions{})
	os.WriteFile(good, msg, 0o600)
	// A bare version attribute: what many partners send, not schema-valid.
	os.WriteFile(bad, []byte(strings.Replace(string(msg), "ncip:version=", "version=", 1)), 0o600)

	// A wrong --schema is reported as such whether xmllint is installed or
	// not, and each file is still read the way circa reads it.
	r := run(t, "ncip", "check", "--schema", filepath.Join(dir, "missing.xsd"), good)
	if r.code != 1 || !strings.Contains(r.out, "good.xml: not validated (CheckInItem request)") || !strings.Contains(r.errOut, "missing.xsd not found") {
		t.Fatalf("missing schema: %+v", r)
	}
	t.Run("without xmllint", func(t *testing.T) {
		t.Setenv("PATH", t.TempDir())
		r := run(t, "ncip", "check", good)
		if r.code != 1 || !strings.Contains(r.out, "good.xml: not validated (CheckInItem request)") ||
			!strings.Contains(r.errOut, "not validated: xmllint is not on PATH") {
			t.Fatalf("no xmllint: %+v", r)
		}
	})

	conformance.Tool(t, "xmllint")
	// Without --schema, the schema built into the binary.
	if r := run(t, "ncip", "check", good); r.code != 0 || !strings.Contains(r.out, "good.xml: valid (CheckInItem request)") {
		t.Fatalf("good: %+v", r)
	}
	r = run(t, "ncip", "check", good, bad)
	if r.code != 1 || !strings.Contains(r.out, "bad.xml: INVALID") || !strings.Contains(r.errOut, "1 of 2 files") {
		t.Fatalf("bad: %+v", r)
	}
	xsd := filepath.Join(conformance.SchemaDir(t), schemas.NCIP)
	r = run(t, "ncip", "check", "--schema", xsd, good, bad)
	if r.code != 1 || !strings.Contains(r.out, "good.xml: valid") || !strings.Contains(r.out, "bad.xml: INVALID") {
		t.Fatalf("--schema: %+v", r)
	}
}

func TestStorageReportCommand(t *testing.T) {
	dir := seededDir(t)
	r := run(t, "storage", "report", "--data-dir", dir, "--facility", fixtures.StorageCode)
	if r.code != 0 || !strings.Contains(r.out, "no mismatches (facility ANNEX, 3 days)") {
		t.Fatalf("clean report: %+v", r)
	}
	b, err := openBackend(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.svc.PlaceHold(context.Background(), circ.HoldRequest{Agent: staffAgent(fixtures.LibraryMain), Patron: fixtures.PatronGood,
		Item: fixtures.ItemAnnex})
	b.Close()
	if err != nil {
		t.Fatal(err)
	}
	r = run(t, "storage", "report", "--data-dir", dir, "--days", "0")
	if r.code != 0 || !strings.Contains(r.out, circ.MismatchNotRetrieved) || !strings.Contains(r.out, fixtures.ItemAnnex) ||
		!strings.Contains(r.out, "1 mismatches (all facilities, 0 days)") {
		t.Fatalf("report: %+v", r)
	}
	r = run(t, "storage", "report", "--data-dir", dir, "--days", "0", "--json")
	var ms []circ.Mismatch
	if err := json.Unmarshal([]byte(r.out), &ms); err != nil || len(ms) != 1 || ms[0].Item != fixtures.ItemAnnex {
		t.Fatalf("json: %v %+v", err, r)
	}
	if r := run(t, "storage", "report", "--data-dir", dir, "--days", "-1"); r.code != 2 {
		t.Fatalf("negative days: %+v", r)
	}
}

// TestStorageOnlineProfileAndReport: a storage profile is set to take
// requests online from the command line (secrets as file paths only), an
// undelivered RequestItem shows in `circa storage report`, and
// --online-url "" turns it off again.
func TestStorageOnlineProfileAndReport(t *testing.T) {
	dir := seededDir(t)
	d := []string{"--data-dir", dir}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String() + "/ncip"
	ln.Close() // connections are refused from now on
	key := filepath.Join(t.TempDir(), "annex.key")
	if err := os.WriteFile(key, []byte("secret-annex-key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := run(t, append([]string{"profile", "storage", "edit", fixtures.StorageCode, "--online-url", "ftp://annex"}, d...)...); r.code != 1 ||
		!strings.Contains(r.errOut, "online url") {
		t.Fatalf("ftp url: %+v", r)
	}
	if r := run(t, append([]string{"profile", "storage", "edit", fixtures.StorageCode, "--online-url", url, "--online-api-key-file", key}, d...)...); r.code != 0 {
		t.Fatalf("edit: %+v", r)
	}
	r := run(t, append([]string{"profile", "storage", "show", fixtures.StorageCode}, d...)...)
	if r.code != 0 || !strings.Contains(r.out, "url: "+url) || !strings.Contains(r.out, "api_key_file: "+key) || strings.Contains(r.out, "secret-annex-key") {
		t.Fatalf("show: %+v", r)
	}

	b, err := openBackend(dir)
	if err != nil {
		t.Fatal(err)
	}
	hold, err := b.svc.PlaceHold(context.Background(), circ.HoldRequest{Agent: staffAgent(fixtures.LibraryMain), Patron: fixtures.PatronGood,
		Item: fixtures.ItemAnnex})
	if err != nil {
		b.Close()
		t.Fatal(err)
	}
	reg, err := b.registry(context.Background())
	if err == nil {
		var snd *initiator.Sender
		if snd, err = initiator.New(initiator.Options{DB: b.db, Registry: reg}); err == nil {
			snd.Pass(context.Background())
		}
	}
	b.Close()
	if err != nil {
		t.Fatal(err)
	}
	r = run(t, "storage", "report", "--data-dir", dir, "--days", "0")
	rid := circ.RequestKey(hold.Retrieval)
	if r.code != 0 || !strings.Contains(r.out, initiator.MismatchNotDelivered) ||
		!strings.Contains(r.out, "RequestItem not yet delivered: 1 attempts, last error ") || !strings.Contains(r.out, "connection refused") ||
		!strings.Contains(r.out, "retrieval requested, not yet retrieved; RequestItem not yet delivered") ||
		!strings.Contains(r.out, "2 mismatches") || !strings.Contains(r.out, " "+rid+" ") {
		t.Fatalf("report: %+v", r)
	}

	if r := run(t, append([]string{"profile", "storage", "edit", fixtures.StorageCode, "--online-url", ""}, d...)...); r.code != 0 {
		t.Fatalf("edit off: %+v", r)
	}
	if r := run(t, append([]string{"profile", "storage", "show", fixtures.StorageCode}, d...)...); r.code != 0 || strings.Contains(r.out, "online") {
		t.Fatalf("show after turning off: %+v", r)
	}
}

// TestStorageProfileRemoveLosesNothing: a storage profile whose facility
// has not answered a RequestItem is not removed; --hand-to gives the
// message to another online profile of the facility, and --drop on that
// one gives it up, which `circa storage report` then lists.
func TestStorageProfileRemoveLosesNothing(t *testing.T) {
	dir := seededDir(t)
	d := []string{"--data-dir", dir}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String() + "/ncip"
	ln.Close() // connections are refused from now on
	key := filepath.Join(t.TempDir(), "annex.key")
	if err := os.WriteFile(key, []byte("secret-annex-key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	online := []string{"--online-url", url, "--online-api-key-file", key}
	if r := run(t, append(append([]string{"profile", "storage", "edit", fixtures.StorageCode}, online...), d...)...); r.code != 0 {
		t.Fatalf("edit: %+v", r)
	}
	b, err := openBackend(dir)
	if err != nil {
		t.Fatal(err)
	}
	hold, err := b.svc.PlaceHold(context.Background(), circ.HoldRequest{Agent: staffAgent(fixtures.LibraryMain), Patron: fixtures.PatronGood,
		Item: fixtures.ItemAnnex})
	if err == nil {
		var reg *profiles.Registry
		if reg, err = b.registry(context.Background()); err == nil {
			var snd *initiator.Sender
			if snd, err = initiator.New(initiator.Options{DB: b.db, Registry: reg}); err == nil {
				snd.Pass(context.Background())
			}
		}
	}
	b.Close()
	if err != nil {
		t.Fatal(err)
	}
	rid := circ.RequestKey(hold.Retrieval)

	r := run(t, append([]string{"profile", "storage", "remove", fixtures.StorageCode}, d...)...)
	if r.code != 1 || !strings.Contains(r.errOut, "ANNEX has 1 (RequestItem of request "+rid) || !strings.Contains(r.errOut, "--hand-to") ||
		!strings.Contains(r.errOut, "--drop") {
		t.Fatalf("remove with an unanswered message: %+v", r)
	}
	if r := run(t, append([]string{"profile", "storage", "remove", fixtures.StorageCode, "--hand-to", "X", "--drop"}, d...)...); r.code == 0 {
		t.Fatalf("--hand-to with --drop: %+v", r)
	}
	add := append([]string{"profile", "storage", "add", "ANNEX2", "--agency", "DEMO-ANNEX-2", "--local-agency", fixtures.LocalAgency,
		"--facility", fixtures.LocationAnnex, "--locations", fixtures.LocationAnnex, "--library", fixtures.LibraryMain, "--active=false",
		"--api-key", "annex2-key"}, online...)
	if r := run(t, append(add, d...)...); r.code != 0 {
		t.Fatalf("add ANNEX2: %+v", r)
	}
	r = run(t, append([]string{"profile", "storage", "remove", fixtures.StorageCode, "--hand-to", "ANNEX2"}, d...)...)
	if r.code != 0 || !strings.Contains(r.out, "RequestItem of request "+rid+": handed to profile ANNEX2") ||
		!strings.Contains(r.out, "removed storage profile "+fixtures.StorageCode) {
		t.Fatalf("remove --hand-to: %+v", r)
	}
	r = run(t, "storage", "report", "--data-dir", dir, "--days", "0")
	if r.code != 0 || !strings.Contains(r.out, initiator.MismatchNotDelivered) || !strings.Contains(r.out, " "+rid+" ") {
		t.Fatalf("report after the hand-over: %+v", r)
	}
	r = run(t, append([]string{"profile", "storage", "remove", "ANNEX2", "--drop"}, d...)...)
	if r.code != 0 || !strings.Contains(r.out, "RequestItem of request "+rid+": dropped when profile ANNEX2 was removed") {
		t.Fatalf("remove --drop: %+v", r)
	}
	r = run(t, "storage", "report", "--data-dir", dir, "--days", "0")
	if r.code != 0 || !strings.Contains(r.out, initiator.MismatchDropped) || !strings.Contains(r.out, "RequestItem dropped when profile ANNEX2 was removed") {
		t.Fatalf("report after the drop: %+v", r)
	}
}

// TestServeSendsStorageRequestsOnline: `circa serve` runs the storage
// sender. A hold placed at a kiosk on an annex item reaches the facility
// (another circa's NCIP responder, on a real socket) as a RequestItem, and
// /metrics counts it and shows the outbox emptied.
func TestServeSendsStorageRequestsOnline(t *testing.T) {
	fac, url := ncipServer(t)
	reg, err := fac.registry(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	partner := profiles.NewNCIPPartner("LIBRARY")
	partner.AgencyIDs, partner.LocalAgency, partner.Library = []string{fixtures.LocalAgency}, fixtures.StorageAgency, fixtures.LibraryMain
	partner.Auth.APIKey = "library-key"
	if err := profiles.Prepare(partner); err != nil {
		t.Fatal(err)
	}
	if err := reg.Save(context.Background(), partner); err != nil {
		t.Fatal(err)
	}
	dir := seededDir(t)
	key := filepath.Join(t.TempDir(), "facility.key")
	if err := os.WriteFile(key, []byte("library-key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := run(t, "profile", "storage", "edit", fixtures.StorageCode, "--data-dir", dir, "--online-url", url,
		"--online-api-key-file", key, "--online-patron-details"); r.code != 0 {
		t.Fatalf("edit: %+v", r)
	}
	s := startDemoServerIn(t, dir)
	conn, err := net.Dial("tcp", s.sip2)
	if err != nil {
		t.Fatal(err)
	}
	kioskSession(t, conn, time.Now(), fixtures.ItemAnnex)

	deadline := time.Now().Add(20 * time.Second)
	for {
		var held bool
		err := fac.db.View(context.Background(), func(tx store.Tx) error {
			return tx.ForEachRequest(func(r store.Request) bool {
				held = held || r.Partner == "LIBRARY" && r.Status.Open()
				return !held
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		if held {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the facility never received the request")
		}
		time.Sleep(50 * time.Millisecond)
	}
	resp, err := http.Get(s.httpURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := `circa_storage_messages_total{profile="ANNEX",result="sent",service="RequestItem"} 1`
	for !strings.Contains(string(body), want) {
		// The answer is recorded just after the facility stored the request.
		if time.Now().After(deadline) {
			t.Fatalf("metrics lack %s", want)
		}
		time.Sleep(50 * time.Millisecond)
		if resp, err = http.Get(s.httpURL + "/metrics"); err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	// Delivered, the outbox is empty.
	waitMetric(t, s.httpURL, "circa_storage_messages_pending", map[string]string{"profile": fixtures.StorageCode}, 0)
}

// TestNCIPSendItemShipped: staff tell circa, as the facility, that the
// annex item of a retrieval is on its way, naming the retrieval by its
// RequestId; circa fulfils it. Without an address the command says what
// is missing and sends nothing.
func TestNCIPSendItemShipped(t *testing.T) {
	b, url := ncipServer(t)
	ctx := context.Background()
	h, err := b.svc.PlaceHold(ctx, circ.HoldRequest{Agent: circ.Agent{Protocol: "cli", Library: fixtures.LibraryMain},
		Patron: fixtures.PatronGood, Item: fixtures.ItemAnnex, Pickup: fixtures.LibraryMain})
	if err != nil || h.Retrieval == 0 {
		t.Fatalf("hold: %+v, %v", h, err)
	}
	args := []string{"ncip", "send", "--url", url, "--key", fixtures.StorageKey, "--service", "ItemShipped",
		"from=" + fixtures.StorageAgency, "request=" + circ.RequestKey(h.Retrieval)}
	if r := run(t, args...); r.code != 2 || !strings.Contains(r.errOut, "address=") {
		t.Fatalf("without an address: %+v", r)
	}
	r := run(t, append(args, "address="+fixtures.LibraryMain, "note=tote 7")...)
	if r.code != 0 || !strings.Contains(r.out, "ItemShippedResponse") {
		t.Fatalf("send: %+v", r)
	}
	info, err := b.svc.LookupRequest(ctx, circ.RequestQuery{ID: h.Retrieval})
	if err != nil || info.Status != store.RequestFulfilled {
		t.Fatalf("retrieval after ItemShipped: %+v, %v", info, err)
	}
}

// TestNCIPSendLookupItemSet: ncip send builds a LookupItemSet from bib=
// fields, asks for the usual elements by default, pages with max= and
// token=, and refuses a max that is not a positive number.
func TestNCIPSendLookupItemSet(t *testing.T) {
	b, url := ncipServer(t)
	bibs := map[string]string{}
	if err := b.db.View(context.Background(), func(tx store.Tx) error {
		for _, bc := range []string{fixtures.ItemOnLoan, fixtures.ItemAvailable} {
			it, err := tx.ItemByBarcode(bc)
			if err != nil {
				return err
			}
			bibs[bc] = "bib=" + strconv.FormatUint(it.BibID, 10)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	send := func(fields ...string) result {
		return run(t, append([]string{"ncip", "send", "--url", url, "--key", fixtures.PartnerKey, "--service", "LookupItemSet",
			"from=" + fixtures.PartnerAgency}, fields...)...)
	}
	r := send(bibs[fixtures.ItemOnLoan], bibs[fixtures.ItemAvailable], "max=1")
	if r.code != 0 || !strings.Contains(r.out, "<ncip:CirculationStatus>On Loan</ncip:CirculationStatus>") ||
		!strings.Contains(r.out, "<ncip:DateDue>") || strings.Contains(r.out, fixtures.ItemAvailable) {
		t.Fatalf("first page: %+v", r)
	}
	_, token, found := strings.Cut(r.out, "<ncip:NextItemToken>")
	token, _, _ = strings.Cut(token, "</ncip:NextItemToken>")
	if !found || token == "" {
		t.Fatalf("no NextItemToken: %s", r.out)
	}
	r = send(bibs[fixtures.ItemOnLoan], bibs[fixtures.ItemAvailable], "max=1", "token="+token)
	if r.code != 0 || !strings.Contains(r.out, fixtures.ItemAvailable) || strings.Contains(r.out, "NextItemToken") {
		t.Fatalf("second page: %+v", r)
	}
	if r := send("bib=1", "max=0"); r.code != 2 {
		t.Fatalf("max=0: exit %d, want 2 (%s)", r.code, r.errOut)
	}
}
