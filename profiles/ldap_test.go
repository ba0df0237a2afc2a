package profiles

import (
	"strings"
	"testing"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

func TestLDAPValidate(t *testing.T) {
	base := func() *LDAP {
		p := NewLDAP("campus")
		p.URLs = []string{"ldaps://ldap.example.edu"}
		p.BaseDN = "ou=people,dc=example,dc=edu"
		return p
	}
	if err := base().Validate(); err != nil {
		t.Fatalf("a good profile: %v", err)
	}
	for name, tc := range map[string]struct {
		change func(*LDAP)
		want   string
	}{
		"no url":               {func(p *LDAP) { p.URLs = nil }, "at least one url"},
		"plain":                {func(p *LDAP) { p.URLs = []string{"ldap://ldap.example.edu"} }, "in clear"},
		"plain off loopback":   {func(p *LDAP) { p.URLs = []string{"ldap://10.0.0.5"}; p.AllowPlain = true }, "loopback"},
		"plain to a name":      {func(p *LDAP) { p.URLs = []string{"ldap://ldap.example.edu"}; p.AllowPlain = true }, "loopback"},
		"other scheme":         {func(p *LDAP) { p.URLs = []string{"http://ldap.example.edu"} }, "ldaps://"},
		"credentials in url":   {func(p *LDAP) { p.URLs = []string{"ldaps://u:p@ldap.example.edu"} }, "only the scheme"},
		"base in url":          {func(p *LDAP) { p.URLs = []string{"ldaps://ldap.example.edu/dc=x"} }, "only the scheme"},
		"no base":              {func(p *LDAP) { p.BaseDN = "" }, "base_dn is required"},
		"bad base":             {func(p *LDAP) { p.BaseDN = "not a dn" }, "base_dn"},
		"bind without file":    {func(p *LDAP) { p.BindDN = "cn=circa,dc=example,dc=edu" }, "go together"},
		"relative file":        {func(p *LDAP) { p.BindDN, p.BindPasswordFile = "cn=circa,dc=x", "pw" }, "absolute path"},
		"filter without user":  {func(p *LDAP) { p.Filter = "(objectClass=person)" }, "{user} or {barcode}"},
		"unbalanced filter":    {func(p *LDAP) { p.Filter = "(uid={user}" }, "filter"},
		"timeout beyond kiosk": {func(p *LDAP) { p.TimeoutSeconds = 60 }, "timeout_seconds"},
		"pool too big":         {func(p *LDAP) { p.PoolSize = 1000 }, "pool_size"},
	} {
		p := base()
		tc.change(p)
		err := p.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
	for _, ok := range []func(*LDAP){
		func(p *LDAP) { p.URLs = []string{"ldap://ldap.example.edu:389"}; p.StartTLS = true },
		func(p *LDAP) {
			p.URLs = []string{"ldap://127.0.0.1:3389", "ldap://[::1]", "ldap://localhost"}
			p.AllowPlain = true
		},
		func(p *LDAP) { p.Filter = "(&(objectClass=person)(employeeNumber={barcode}))" },
	} {
		p := base()
		ok(p)
		if err := p.Validate(); err != nil {
			t.Errorf("%+v: %v", p, err)
		}
	}
}

// Whatever a kiosk sends as the user id or a record holds as the barcode,
// the filter keeps the template's shape: an AND of two equality matches
// whose values are exactly what was sent.
func FuzzSearchFilter(f *testing.F) {
	for _, s := range []string{"astudent", "*", "*)(uid=*", ")(|(uid=*", `\2a`, "\x00", "é", "(", "a)(b", "{user}", "{barcode}"} {
		f.Add(s, "21000000000001")
	}
	p := &LDAP{Filter: "(&(uid={user})(employeeNumber={barcode}))"}
	f.Fuzz(func(t *testing.T, user, barcode string) {
		filter := p.SearchFilter(user, barcode)
		packet, err := ldap.CompileFilter(filter)
		if err != nil {
			t.Fatalf("%q, %q: %q does not compile: %v", user, barcode, filter, err)
		}
		if packet.Tag != ldap.FilterAnd || len(packet.Children) != 2 {
			t.Fatalf("%q: not an AND of two: %s", filter, ldap.FilterMap[uint64(packet.Tag)])
		}
		for i, want := range [][2]string{{"uid", user}, {"employeeNumber", barcode}} {
			c := packet.Children[i]
			if c.Tag != ldap.FilterEqualityMatch || len(c.Children) != 2 {
				t.Fatalf("%q: part %d is %s", filter, i, ldap.FilterMap[uint64(c.Tag)])
			}
			if attr, value := valueOf(c.Children[0]), valueOf(c.Children[1]); attr != want[0] || value != want[1] {
				t.Fatalf("%q: part %d matches %s=%q, want %s=%q", filter, i, attr, value, want[0], want[1])
			}
		}
	})
}

func valueOf(p *ber.Packet) string { return string(p.Data.Bytes()) }
