package profiles

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/store"
	"github.com/circa-ils/circa/store/boltstore"
)

var ctx = context.Background()

func openRegistry(t *testing.T) *Registry {
	t.Helper()
	db, err := boltstore.Open(filepath.Join(t.TempDir(), boltstore.DefaultFile), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	// Profiles may name only libraries and desks that exist.
	err = db.Update(ctx, func(tx store.Tx) error {
		for _, lib := range []store.Library{{Code: "MAIN"}, {Code: "BRANCH"}} {
			if err := tx.PutLibrary(&lib); err != nil {
				return err
			}
		}
		return tx.PutDesk(&store.Desk{Code: "CIRC", Library: "MAIN"})
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err := Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func kiosk(code string) *SelfCheck {
	p := NewSelfCheck(code)
	p.Password, p.Institution, p.Library = "secret", "MAIN", "MAIN"
	return p
}

func TestSelfCheckValidation(t *testing.T) {
	good := kiosk("k1")
	if err := Prepare(good); err != nil {
		t.Fatal(err)
	}
	if err := good.Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	if ok, _ := circ.VerifySecret(good.PasswordHash, "secret"); !ok || good.Password != "" {
		t.Fatal("password not hashed on prepare")
	}
	bad := *good
	bad.Code, bad.Checksum, bad.Charset, bad.Terminator = "bad code", "maybe", "ebcdic", "LF"
	bad.AllowedMessages = []string{"11", "42"}
	bad.TimeoutSeconds, bad.SortBin, bad.DueDateFormat = 1000, "color", "roman"
	bad.Messages = map[string]map[string]string{"en": {"Bad Code": "x|y"}}
	err := bad.Validate()
	for _, want := range []string{"code", "checksum", "charset", "terminator", "allowed message", "timeout", "sort bin", "due date", "language", "contains"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("validation misses %q: %v", want, err)
		}
	}
	if !good.Allows("93") || !good.Allows("37") {
		t.Fatal("empty allow-list must allow all")
	}
	good.AllowedMessages = []string{"99", "11"}
	if good.Allows("37") || !good.Allows("11") || !good.Allows("93") {
		t.Fatal("allow-list not applied (93 always allowed)")
	}
}

func TestSaveReloadAndUniqueness(t *testing.T) {
	r := openRegistry(t)
	k1, k2 := kiosk("k1"), kiosk("k2")
	for _, p := range []Profile{k1, k2} {
		Prepare(p)
	}
	if err := r.Save(ctx, k1, k2); err != nil {
		t.Fatal(err)
	}
	if p, ok := r.Current().SelfCheckByLogin("k2"); !ok || p.Code != "k2" {
		t.Fatal("login lookup")
	}
	old := r.Current()
	k3 := kiosk("k3")
	k3.Login = "k1"
	Prepare(k3)
	if err := r.Save(ctx, k3); err == nil || !strings.Contains(err.Error(), "login") {
		t.Fatalf("duplicate login accepted: %v", err)
	}
	// Changing a profile's own login is fine.
	k1b := *r.Current().SelfCheck["k1"]
	k1b.Login = "kiosk-one"
	if err := r.Save(ctx, &k1b); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Current().SelfCheckByLogin("kiosk-one"); !ok {
		t.Fatal("new login not in the new snapshot")
	}
	if _, ok := old.SelfCheckByLogin("k1"); !ok {
		t.Fatal("an old snapshot changed")
	}
	if err := r.Remove(ctx, TypeSelfCheck, "k2"); err != nil {
		t.Fatal(err)
	}
	if err := r.Remove(ctx, TypeSelfCheck, "k2"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second remove: %v", err)
	}
	// Agency ids are unique across NCIP partners and storage facilities.
	ill := &NCIPPartner{Code: "ILL", Active: true, AgencyIDs: []string{"BROKER"}, LocalAgency: "ME", Library: "MAIN", Auth: NCIPAuth{APIKey: "k"}}
	annex := &Storage{Code: "ANNEX", Active: true, AgencyIDs: []string{"broker"}, LocalAgency: "ME", Facility: "A", Locations: []string{"ANNEX"}, Library: "MAIN", Auth: NCIPAuth{APIKey: "k2"}}
	Prepare(ill)
	Prepare(annex)
	if err := r.Save(ctx, ill); err != nil {
		t.Fatal(err)
	}
	if err := r.Save(ctx, annex); err == nil {
		t.Fatal("agency id shared by two profiles")
	}
	if p, ok := r.Current().ByAgency(" broker "); !ok || p.ProfileCode() != "ILL" {
		t.Fatal("agency lookup is not case- and blank-tolerant")
	}
}

func TestYAMLRoundTrip(t *testing.T) {
	r := openRegistry(t)
	k := kiosk("k1")
	k.AllowedMessages = []string{"99", "11"}
	k.Messages = map[string]map[string]string{"fre": {"checkout_ok": "Bonne lecture"}}
	Prepare(k)
	if err := r.Save(ctx, k); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := ExportYAML(&buf, r.Current(), TypeSelfCheck); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "secret") {
		t.Fatal("plain password exported")
	}
	ps, err := ImportYAML(bytes.NewReader(buf.Bytes()), TypeSelfCheck)
	if err != nil || len(ps) != 1 {
		t.Fatalf("import: %v", err)
	}
	got := ps[0].(*SelfCheck)
	if got.PasswordHash != k.PasswordHash || got.Messages["fre"]["checkout_ok"] != "Bonne lecture" || len(got.AllowedMessages) != 2 {
		t.Fatalf("round trip: %+v", got)
	}
	for name, doc := range map[string]string{
		"wrong type":    "version: 1\ntype: ncip\nprofiles: []\n",
		"unknown field": "version: 1\ntype: selfcheck\nprofiles:\n  - code: a\n    colour: red\n",
		"invalid":       "version: 1\ntype: selfcheck\nprofiles:\n  - code: a\n    login: a\n",
		"duplicate":     "version: 1\ntype: selfcheck\nprofiles:\n  - {code: a, login: a, password: p, institution: M, library: M, checksum: auto, charset: utf-8, terminator: CR, due_date_format: sip2, sort_bin: hold}\n  - {code: a, login: b, password: p, institution: M, library: M, checksum: auto, charset: utf-8, terminator: CR, due_date_format: sip2, sort_bin: hold}\n",
		"empty":         "",
	} {
		if _, err := ImportYAML(strings.NewReader(doc), TypeSelfCheck); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestKeysAndAllowLists(t *testing.T) {
	h := KeyHash("demo-ncip-key")
	if !KeyMatches(h, "demo-ncip-key") || KeyMatches(h, "demo-ncip-kez") || KeyMatches(h, "") || KeyMatches("", "x") {
		t.Fatal("key matching")
	}
	a := AllowList{"127.0.0.1", "10.0.0.0/8", "::1"}
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]bool{"127.0.0.1": true, "10.2.3.4": true, "::ffff:10.2.3.4": true, "192.168.1.1": false, "::1": true} {
		if a.Allows(netip.MustParseAddr(addr)) != want {
			t.Errorf("%s: want %v", addr, want)
		}
	}
	if (AllowList{"nonsense"}).Validate() == nil {
		t.Fatal("bad entry accepted")
	}
	if !(AllowList{}).Allows(netip.MustParseAddr("8.8.8.8")) {
		t.Fatal("empty list must allow all")
	}
	p := &NCIPPartner{Code: "X", AgencyIDs: []string{" padded"}, Services: []string{"Teleport"}, AcceptItemBlocked: "sometimes"}
	err := p.Validate()
	for _, want := range []string{"authentication", "local_agency", "library", "Teleport", "padded", "accept_item_blocked"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("partner validation misses %q: %v", want, err)
		}
	}
}

// TestAcceptItemBlockedSetting: the partner setting is read from YAML,
// defaults to refusing, and takes only its two values.
func TestAcceptItemBlockedSetting(t *testing.T) {
	doc := func(v string) string {
		return "version: 1\ntype: ncip\nprofiles:\n  - code: ILL\n    active: true\n    agency_ids: [BROKER]\n    local_agency: ME\n" +
			"    library: MAIN\n    auth: {api_key: k}\n" + v
	}
	for v, allows := range map[string]bool{"": false, "    accept_item_blocked: refuse\n": false, "    accept_item_blocked: allow\n": true} {
		ps, err := ImportYAML(strings.NewReader(doc(v)), TypeNCIP)
		if err != nil || len(ps) != 1 {
			t.Fatalf("%q: %v", v, err)
		}
		if got := ps[0].(*NCIPPartner).AcceptsForBlocked(); got != allows {
			t.Errorf("%q: accepts for blocked patrons = %v", v, got)
		}
	}
	if _, err := ImportYAML(strings.NewReader(doc("    accept_item_blocked: yes\n")), TypeNCIP); err == nil || !strings.Contains(err.Error(), "accept_item_blocked") {
		t.Errorf("a bad value: %v", err)
	}
	r := openRegistry(t)
	p := &NCIPPartner{Code: "ILL", Active: true, AgencyIDs: []string{"BROKER"}, LocalAgency: "ME", Library: "MAIN", Auth: NCIPAuth{APIKey: "k"},
		AcceptItemBlocked: AcceptBlockedAllow}
	Prepare(p)
	if err := r.Save(ctx, p); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := ExportYAML(&buf, r.Current(), TypeNCIP); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "accept_item_blocked: allow") {
		t.Fatalf("not exported:\n%s", buf.String())
	}
}

// TestYAMLImportGetsAddDefaults: an entry that leaves settings out gets the
// defaults `add` gives, not zero values that fail validation.
func TestYAMLImportGetsAddDefaults(t *testing.T) {
	doc := "version: 1\ntype: selfcheck\nprofiles:\n  - code: k9\n    password: p\n    institution: MAIN\n    library: MAIN\n    timeout_seconds: 10\n"
	ps, err := ImportYAML(strings.NewReader(doc), TypeSelfCheck)
	if err != nil {
		t.Fatal(err)
	}
	got := ps[0].(*SelfCheck)
	want := NewSelfCheck("k9")
	want.Institution, want.Library, want.TimeoutSeconds, want.PasswordHash = "MAIN", "MAIN", 10, got.PasswordHash
	if !reflect.DeepEqual(got, want) || got.PasswordHash == "" {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
	doc = "version: 1\ntype: storage\nprofiles:\n  - {code: S1, local_agency: L, facility: F, locations: [ANNEX], library: MAIN, agency_ids: [S], auth: {api_key: k}}\n"
	ps, err = ImportYAML(strings.NewReader(doc), TypeStorage)
	if err != nil {
		t.Fatal(err)
	}
	if s := ps[0].(*Storage); !s.Active || s.StaleDays != NewStorage("S1").StaleDays {
		t.Fatalf("storage defaults: %+v", s)
	}
}

// TestSaveRefusesUnknownLibraryAndDesk: a profile naming a library or desk
// that does not exist, or another library's desk, is refused and nothing
// is stored.
func TestSaveRefusesUnknownLibraryAndDesk(t *testing.T) {
	r := openRegistry(t)
	cases := []struct {
		library, desk, want string
	}{
		{"MAINN", "", `selfcheck k1: library "MAINN" does not exist (did you mean "MAIN"?)`},
		{"MAIN", "CIRK", `selfcheck k1: desk "CIRK" does not exist (did you mean "CIRC"?)`},
		{"BRANCH", "CIRC", `selfcheck k1: desk "CIRC" belongs to library MAIN, not BRANCH`},
	}
	for _, c := range cases {
		k := kiosk("k1")
		k.Library, k.Desk = c.library, c.desk
		Prepare(k)
		if err := r.Save(ctx, k); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s/%s: %v, want %q", c.library, c.desk, err, c.want)
		}
		if _, ok := r.Current().SelfCheck["k1"]; ok {
			t.Fatalf("%s/%s: stored", c.library, c.desk)
		}
	}
	n := NewNCIPPartner("ILL")
	n.AgencyIDs, n.LocalAgency, n.Library, n.PickupLibrary = []string{"ILL"}, "MAIN", "MAIN", "NOWHERE"
	n.Auth.APIKey = "k"
	Prepare(n)
	if err := r.Save(ctx, n); err == nil || !strings.Contains(err.Error(), `pickup_library "NOWHERE" does not exist`) {
		t.Errorf("ncip pickup library: %v", err)
	}
	k := kiosk("k1")
	k.Desk = "CIRC"
	Prepare(k)
	if err := r.Save(ctx, k); err != nil {
		t.Fatal(err)
	}
}

// TestStorageOnlineSettings: a facility taking requests online needs an
// http(s) address without credentials in it, a key file or a client
// certificate with its key (over https), and absolute paths; the settings
// survive a YAML export and import.
func TestStorageOnlineSettings(t *testing.T) {
	base := func(o *StorageOnline) *Storage {
		s := NewStorage("S1")
		s.AgencyIDs, s.LocalAgency, s.Facility, s.Locations, s.Library = []string{"AN"}, "LIB", "ANNEX", []string{"ANNEX"}, "MAIN"
		s.Auth.APIKey = "in"
		s.Online = o
		Prepare(s)
		return s
	}
	for _, c := range []struct {
		o    StorageOnline
		want string // "" means valid
	}{
		{StorageOnline{URL: "https://asrs.example.edu/ncip", APIKeyFile: "/etc/circa/asrs.key"}, ""},
		{StorageOnline{URL: "https://asrs.example.edu/ncip", ClientCertFile: "/c.pem", ClientKeyFile: "/k.pem", CAFile: "/ca.pem"}, ""},
		{StorageOnline{URL: "ftp://asrs.example.edu", APIKeyFile: "/k"}, "online url"},
		{StorageOnline{URL: "asrs.example.edu/ncip", APIKeyFile: "/k"}, "online url"},
		{StorageOnline{URL: "https://user:pw@asrs.example.edu/ncip", APIKeyFile: "/k"}, "no credentials in the address"},
		{StorageOnline{URL: "https://asrs.example.edu/ncip"}, "give api_key_file or client_cert_file"},
		{StorageOnline{URL: "https://asrs.example.edu/ncip", ClientCertFile: "/c.pem"}, "go together"},
		{StorageOnline{URL: "http://asrs.example.edu/ncip", ClientCertFile: "/c.pem", ClientKeyFile: "/k.pem"}, "needs an https:// url"},
		{StorageOnline{URL: "https://asrs.example.edu/ncip", APIKeyFile: "asrs.key"}, "absolute path"},
		{StorageOnline{URL: "https://asrs.example.edu/ncip", APIKeyFile: "/k", TimeoutSeconds: -1}, "timeout_seconds"},
	} {
		err := base(&c.o).Validate()
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%+v: %v, want %q", c.o, err, c.want)
		}
	}
	if d := (&StorageOnline{}).Timeout(); d != DefaultStorageTimeout*time.Second {
		t.Errorf("default timeout %v", d)
	}

	r := openRegistry(t)
	s := base(&StorageOnline{URL: "https://asrs.example.edu/ncip", APIKeyFile: "/etc/circa/asrs.key", TimeoutSeconds: 10, PatronDetails: true})
	if err := r.Save(ctx, s); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := ExportYAML(&buf, r.Current(), TypeStorage); err != nil {
		t.Fatal(err)
	}
	ps, err := ImportYAML(bytes.NewReader(buf.Bytes()), TypeStorage)
	if err != nil || len(ps) != 1 {
		t.Fatalf("import: %v\n%s", err, buf.String())
	}
	if got := ps[0].(*Storage).Online; got == nil || *got != *s.Online {
		t.Fatalf("round trip: %+v, want %+v", got, s.Online)
	}
}

// TestNCIPClientCertSettings: a partner's own CA and certificate name go
// with client_cert, the CA as an absolute path; they survive YAML.
func TestNCIPClientCertSettings(t *testing.T) {
	base := func(a NCIPAuth) *NCIPPartner {
		p := NewNCIPPartner("BROKER")
		p.AgencyIDs, p.LocalAgency, p.Library, p.Auth = []string{"BRK"}, "LIB", "MAIN", a
		return p
	}
	for _, c := range []struct {
		a    NCIPAuth
		want string // "" means valid
	}{
		{NCIPAuth{ClientCert: true}, ""},
		{NCIPAuth{ClientCert: true, ClientCA: "/etc/circa/broker-ca.pem", ClientCertName: "ncip.broker.example"}, ""},
		{NCIPAuth{APIKeyHash: "x", ClientCA: "/etc/circa/broker-ca.pem"}, "only apply with client_cert"},
		{NCIPAuth{APIKeyHash: "x", ClientCertName: "ncip.broker.example"}, "only apply with client_cert"},
		{NCIPAuth{ClientCert: true, ClientCA: "broker-ca.pem"}, "absolute path"},
		{NCIPAuth{ClientCert: true, ClientCertName: " ncip.broker.example"}, "no blanks"},
	} {
		err := base(c.a).Validate()
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%+v: %v, want %q", c.a, err, c.want)
		}
	}
	r := openRegistry(t)
	p := base(NCIPAuth{ClientCert: true, ClientCA: "/etc/circa/broker-ca.pem", ClientCertName: "ncip.broker.example"})
	if err := r.Save(ctx, p); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := ExportYAML(&buf, r.Current(), TypeNCIP); err != nil {
		t.Fatal(err)
	}
	ps, err := ImportYAML(bytes.NewReader(buf.Bytes()), TypeNCIP)
	if err != nil || len(ps) != 1 {
		t.Fatalf("import: %v (%d profiles)\n%s", err, len(ps), buf.String())
	}
	if got := ps[0].(*NCIPPartner).Auth; got.ClientCA != p.Auth.ClientCA || got.ClientCertName != p.Auth.ClientCertName || !got.ClientCert {
		t.Fatalf("after YAML: %+v", got)
	}
}
