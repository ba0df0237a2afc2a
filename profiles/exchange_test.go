package profiles

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/circa-ils/circa/profiles/delivery"
)

func TestScheduleNext(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skip("no time zone data")
	}
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	cases := []struct {
		s     Schedule
		after string
		want  string
	}{
		{Schedule{EveryMinutes: 15}, "2026-11-27T04:07:00Z", "2026-11-27T04:15:00Z"},
		{Schedule{EveryMinutes: 15}, "2026-11-27T04:15:00Z", "2026-11-27T04:30:00Z"},
		{Schedule{At: "02:00"}, "2026-11-27T08:00:00Z", "2026-11-28T07:00:00Z"}, // 02:00 EST
		{Schedule{At: "02:00"}, "2026-11-27T06:59:00Z", "2026-11-27T07:00:00Z"},
		{Schedule{At: "23:30"}, "2026-07-01T12:00:00Z", "2026-07-02T03:30:00Z"}, // EDT
		{Schedule{At: "06:00", Weekday: "Monday"}, "2026-11-27T12:00:00Z", "2026-11-30T11:00:00Z"},
		// The night clocks go back (2026-11-01), 02:00 comes once, in EST.
		{Schedule{At: "02:00"}, "2026-10-31T12:00:00Z", "2026-11-01T07:00:00Z"},
	}
	for _, c := range cases {
		got := c.s.Next(at(c.after), ny)
		if !got.Equal(at(c.want)) {
			t.Errorf("%s after %s: %s, want %s", c.s, c.after, got.UTC().Format(time.RFC3339), c.want)
		}
	}
	if !(Schedule{}).Next(time.Now(), ny).IsZero() {
		t.Error("an empty schedule runs")
	}
}

func TestScheduleValidate(t *testing.T) {
	for _, s := range []Schedule{{}, {EveryMinutes: -1}, {At: "24:00"}, {At: "7:00"}, {At: "07:00", Weekday: "someday"},
		{EveryMinutes: 5, At: "07:00"}} {
		if s.Validate() == nil {
			t.Errorf("%+v accepted", s)
		}
	}
}

func localExchange(t *testing.T, typ, code string) *Exchange {
	p := NewExchange(typ, code)
	p.Library, p.Target = "MAIN", delivery.Target{Kind: delivery.KindLocal, LocalDir: t.TempDir()}
	switch typ {
	case TypeRequests:
		p.Requests.Facility = "ANNEX"
	case TypeSMS:
		p.SMS.Templates = map[string]map[string]string{"eng": {NoticeHoldShelf: "h", NoticeCourtesy: "c", NoticeOverdue: "o", NoticeFee: "f {{.Amount}}"}}
	}
	return p
}

func TestExchangeValidation(t *testing.T) {
	for _, typ := range ExchangeTypes {
		if err := localExchange(t, typ, "X").Validate(); err != nil {
			t.Errorf("%s defaults: %v", typ, err)
		}
	}
	p := localExchange(t, TypeSMS, "bad code")
	p.Library, p.Bursar = "", &BursarSettings{}
	p.SMS.Templates["eng"]["fee"] = "{{.Amount"
	p.SMS.Templates["eng"]["overdue"] = "{{.Tittle}} is late"
	p.SMS.Notices = []string{"telegram"}
	p.Target.LocalDir = "relative"
	err := p.Validate()
	for _, want := range []string{"code", "library", "bursar settings on a sms profile", "template eng/fee", "template eng/overdue", "telegram", "local_dir"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("validation misses %q: %v", want, err)
		}
	}
	u := localExchange(t, TypeUsers, "U")
	u.Users.AddNew, u.Users.ImportPattern = true, "a/b"
	u.Users.Groups = map[string]string{"UGRD": "UNDERGRAD", "GRD": " "}
	if err := u.Validate(); err == nil || !strings.Contains(err.Error(), "home_library") || !strings.Contains(err.Error(), "pattern") ||
		!strings.Contains(err.Error(), `groups: "GRD"`) || strings.Contains(err.Error(), "UGRD") {
		t.Errorf("users validation: %v", err)
	}
}

func TestExchangeRegistryAndYAML(t *testing.T) {
	r := openRegistry(t)
	b := localExchange(t, TypeBursar, "B1")
	b.Bursar.FeeTypes = []string{"04"}
	if err := r.Save(ctx, b, localExchange(t, TypeSMS, "S1")); err != nil {
		t.Fatal(err)
	}
	if err := r.Save(ctx, localExchange(t, TypeUsers, "B1")); err == nil || !strings.Contains(err.Error(), "used by bursar B1") {
		t.Fatalf("a code shared across exchange types: %v", err)
	}
	if got := r.Current().Exchange["B1"]; got == nil || got.Type != TypeBursar || got.Bursar.FeeTypes[0] != "04" {
		t.Fatalf("snapshot %+v", got)
	}
	var buf bytes.Buffer
	if err := ExportYAML(&buf, r.Current(), TypeBursar); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "S1") {
		t.Fatal("the bursar export holds an SMS profile")
	}
	ps, err := ImportYAML(strings.NewReader(buf.String()), TypeBursar)
	if err != nil || len(ps) != 1 || ps[0].(*Exchange).Bursar.FeeTypes[0] != "04" {
		t.Fatalf("round trip: %v, %v", ps, err)
	}
	if _, err := ImportYAML(strings.NewReader(buf.String()), TypeSMS); err == nil {
		t.Fatal("a bursar file imported as SMS profiles")
	}
	if err := r.Remove(ctx, TypeBursar, "B1"); err != nil || r.Current().Exchange["B1"] != nil {
		t.Fatalf("remove: %v", err)
	}
}

func TestExchangeYAMLLeavesInlineKeysOut(t *testing.T) {
	p := localExchange(t, TypeBursar, "B")
	p.Target = delivery.Target{Kind: delivery.KindSFTP, Host: "h", User: "u", RemoteDir: "/", KnownHosts: "x",
		PrivateKey: "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n"}
	s := &Snapshot{Exchange: map[string]*Exchange{"B": p}}
	var buf bytes.Buffer
	if err := ExportYAML(&buf, s, TypeBursar); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "PRIVATE KEY") {
		t.Fatalf("key material exported:\n%s", buf.String())
	}
	if p.Target.PrivateKey == "" {
		t.Fatal("exporting changed the profile")
	}
}

// TestYAMLImportGivenSettingReplacesDefault: a schedule given as
// every_minutes keeps no default time of day, as `add --every` does.
func TestYAMLImportGivenSettingReplacesDefault(t *testing.T) {
	p := localExchange(t, TypeBursar, "B1")
	p.Schedule = Schedule{EveryMinutes: 5}
	doc, err := yaml.Marshal(yamlFile[*Exchange]{fileVersion, TypeBursar, []*Exchange{p}})
	if err != nil {
		t.Fatal(err)
	}
	ps, err := ImportYAML(bytes.NewReader(doc), TypeBursar)
	if err != nil {
		t.Fatal(err)
	}
	if got := ps[0].(*Exchange).Schedule; got != (Schedule{EveryMinutes: 5}) {
		t.Fatalf("schedule %+v", got)
	}
}

// TestSMSDefaultTemplates: a fresh SMS profile needs no templates; the
// built-in ones cover every kind in every language they name; a profile's
// own override them, and a language nobody wrote for is refused by name.
func TestSMSDefaultTemplates(t *testing.T) {
	p := NewExchange(TypeSMS, "S")
	p.Library, p.Target = "MAIN", delivery.Target{Kind: delivery.KindLocal, LocalDir: t.TempDir()}
	if err := p.Validate(); err != nil {
		t.Fatalf("fresh profile: %v", err)
	}
	for lang, set := range DefaultNoticeTemplates {
		for _, kind := range NoticeKinds {
			if err := checkTemplate(set[kind]); set[kind] == "" || err != nil {
				t.Errorf("built-in %s/%s %q: %v", lang, kind, set[kind], err)
			}
		}
	}
	p.SMS.Templates = map[string]map[string]string{"eng": {NoticeHoldShelf: "Ready: {{.Title}}"}}
	for _, c := range []struct{ lang, kind, body, in string }{
		{"eng", NoticeHoldShelf, "Ready: {{.Title}}", "eng"},
		{"eng", NoticeFee, DefaultNoticeTemplates["eng"][NoticeFee], "eng"},
		{"fre", NoticeHoldShelf, DefaultNoticeTemplates["fre"][NoticeHoldShelf], "fre"},
		{"wel", NoticeHoldShelf, "Ready: {{.Title}}", "eng"},
		{"", NoticeOverdue, DefaultNoticeTemplates["eng"][NoticeOverdue], "eng"},
	} {
		if body, in := p.SMS.Template(c.lang, c.kind); body != c.body || in != c.in {
			t.Errorf("Template(%q, %s) = %q in %q, want %q in %q", c.lang, c.kind, body, in, c.body, c.in)
		}
	}
	p.SMS.DefaultLanguage = "wel"
	p.SMS.Templates = map[string]map[string]string{"wel": {NoticeFee: "Mae arnoch {{.Amount}} {{.Currency}}."}}
	err := p.Validate()
	for _, kind := range []string{NoticeHoldShelf, NoticeCourtesy, NoticeOverdue} {
		if err == nil || !strings.Contains(err.Error(), "no "+kind+` template for the default language "wel"`) ||
			!strings.Contains(err.Error(), "--template wel/"+kind+"=TEXT") {
			t.Errorf("%s: %v", kind, err)
		}
	}
	if strings.Contains(err.Error(), "no fee template") {
		t.Errorf("the profile's own fee template was missed: %v", err)
	}
}
