package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/fixtures"
	"github.com/circa-ils/circa/internal/slapdtest"
	"github.com/circa-ils/circa/sip2"
)

// campusPeople are demo patrons the campus directory knows, by barcode.
var campusPeople = []slapdtest.Person{
	{UID: "ewhitfield", EmployeeNumber: fixtures.PatronGood, Password: "Whitfield campus pass"},
	{UID: "praman", EmployeeNumber: fixtures.PatronExternal, Password: "Raman campus pass"},
}

// ldapCampus starts slapd and gives the demo library an LDAP profile
// "campus" that the UNDERGRAD group's passwords are checked by.
func ldapCampus(t *testing.T) (*slapdtest.Server, string) {
	t.Helper()
	s := slapdtest.Start(t, campusPeople...)
	dir := seededDir(t)
	r := run(t, "ldap", "add", "campus", "--data-dir", dir, "--url", s.LDAPS, "--ca-file", s.CAFile,
		"--bind-dn", slapdtest.BindDN, "--bind-password-file", s.BindPasswordFile, "--base-dn", slapdtest.BaseDN,
		"--filter", "(&(objectClass=inetOrgPerson)(employeeNumber={user}))", "--timeout", "2s")
	if r.code != 0 {
		t.Fatalf("ldap add: %+v", r)
	}
	if r = run(t, "group", "edit", "UNDERGRAD", "--auth", "ldap:campus", "--data-dir", dir); r.code != 0 {
		t.Fatalf("group edit --auth: %+v", r)
	}
	return s, dir
}

func TestLDAPCommands(t *testing.T) {
	s, dir := ldapCampus(t)
	r := run(t, "ldap", "test", "campus", "--user", fixtures.PatronGood, "--data-dir", dir)
	if r.code != 0 || !strings.Contains(r.out, "connected\t"+s.LDAPS) || !strings.Contains(r.out, "entry\tuid=ewhitfield,"+slapdtest.BaseDN) {
		t.Fatalf("ldap test: %+v", r)
	}
	if r = run(t, "ldap", "test", "campus", "--user", "*", "--data-dir", dir); r.code != 1 || !strings.Contains(r.errOut, "no entry") {
		t.Fatalf("ldap test of a wildcard user: %+v", r)
	}
	r = run(t, "ldap", "show", "campus", "--data-dir", dir)
	if r.code != 0 || !strings.Contains(r.out, "bind_password_file: "+s.BindPasswordFile) || strings.Contains(r.out, slapdtest.BindPassword) {
		t.Fatalf("ldap show: %+v", r)
	}
	exported := filepath.Join(t.TempDir(), "ldap.yaml")
	if r = run(t, "ldap", "export", exported, "--data-dir", dir); r.code != 0 {
		t.Fatalf("ldap export: %+v", r)
	}
	if r = run(t, "ldap", "import", exported, "--data-dir", dir); r.code != 0 || !strings.Contains(r.out, "imported 1 ldap profiles") {
		t.Fatalf("ldap import of its own export (checked against the directory): %+v", r)
	}
	if r = run(t, "group", "show", "UNDERGRAD", "--data-dir", dir); r.code != 0 || !strings.Contains(r.out, "ldap:campus") {
		t.Fatalf("group show: %+v", r)
	}
	if r = run(t, "group", "edit", "GRAD", "--auth", "ldap:nowhere", "--data-dir", dir); r.code == 0 {
		t.Fatalf("a group named a directory that does not exist: %+v", r)
	}
	if r = run(t, "ldap", "add", "plain", "--url", "ldap://192.0.2.1", "--base-dn", "dc=x", "--no-check", "--data-dir", dir); r.code == 0 ||
		!strings.Contains(r.errOut, "in clear") {
		t.Fatalf("ldap add without TLS: %+v", r)
	}
	if r = run(t, "ldap", "remove", "campus", "--data-dir", dir); r.code != 1 || !strings.Contains(r.errOut, "UNDERGRAD") {
		t.Fatalf("remove of a directory in use: %+v", r)
	}

	// The command line checks a password through the same path as kiosks.
	verify := func(pw string) result {
		var out, errOut strings.Builder
		code := execute(context.Background(), []string{"patron", "verify-pin", fixtures.PatronGood, "--data-dir", dir},
			strings.NewReader(pw+"\n"), &out, &errOut)
		return result{code, out.String(), errOut.String()}
	}
	if r = verify(campusPeople[0].Password); r.code != 0 {
		t.Fatalf("verify-pin with the campus password: %+v", r)
	}
	if r = verify(fixtures.DemoPIN); r.code == 0 {
		t.Fatalf("verify-pin with the library PIN of a directory patron: %+v", r)
	}
	s.Stop()
	r = run(t, "ldap", "test", "campus", "--data-dir", dir)
	if r.code != 1 || !strings.Contains(r.errOut, "cannot verify") {
		t.Fatalf("ldap test with the directory down: %+v", r)
	}
	if r = run(t, "ldap", "edit", "campus", "--pool-size", "2", "--data-dir", dir); r.code != 1 || !strings.Contains(r.errOut, "--no-check") {
		t.Fatalf("edit while the directory is down: %+v", r)
	}
	if r = run(t, "group", "edit", "UNDERGRAD", "--auth", "local", "--data-dir", dir); r.code != 0 {
		t.Fatal(r)
	}
	if r = run(t, "ldap", "remove", "campus", "--data-dir", dir); r.code != 0 {
		t.Fatalf("remove: %+v", r)
	}
}

// A kiosk over TLS logs a campus patron in with the directory's password,
// a wrong password is throttled as a wrong PIN is, and a directory that
// stops answers "cannot verify" at once, counted in /metrics and /healthz
// and not against the patron.
func TestKioskAuthenticatesAgainstLDAP(t *testing.T) {
	s, dir := ldapCampus(t)
	srv := startDemoServerIn(t, dir)
	conn, err := tls.Dial("tcp", srv.sip2TLS, srv.tlsConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	c := sip2.NewClient(conn, sip2.ClientOptions{Timeout: 20 * time.Second})
	defer c.Close()
	ctx := context.Background()
	now := time.Now()
	send := func(code string, specs ...string) *sip2.Message {
		t.Helper()
		now = now.Add(time.Second) // no frame repeats another: none is a retry
		m, err := sip2.ParseFieldSpec(code, specs, now)
		if err != nil {
			t.Fatal(err)
		}
		reply, err := c.Send(ctx, m)
		if err != nil {
			t.Fatalf("%s: %v", code, err)
		}
		return reply
	}
	if r := send("93", "CN="+fixtures.KioskLogin, "CO="+fixtures.KioskPassword, "CP=MAIN"); r.Fixed[0] != '1' {
		t.Fatalf("login: %v", r)
	}
	good := campusPeople[0]
	if r := send("23", "AO=MAIN", "AA="+good.EmployeeNumber, "AD="+good.Password); r.Value("CQ") != "Y" || r.Value("BL") != "Y" {
		t.Fatalf("23 with the campus password: %v", r)
	}
	if r := send("63", "AO=MAIN", "AA="+good.EmployeeNumber, "AD="+good.Password, "summary=          "); r.Value("CQ") != "Y" {
		t.Fatalf("63 with the campus password: %v", r)
	}
	if r := send("11", "AO=MAIN", "AA="+good.EmployeeNumber, "AD="+good.Password, "AB="+fixtures.ItemBranch); r.Fixed[0] != '1' {
		t.Fatalf("checkout with the campus password: %v", r)
	}
	if r := send("23", "AO=MAIN", "AA="+good.EmployeeNumber, "AD="+fixtures.DemoPIN); r.Value("CQ") != "N" {
		t.Fatalf("the library PIN of a campus patron: %v", r)
	}
	for i := 2; i <= circ.PINFreeFailures+1; i++ {
		if r := send("23", "AO=MAIN", "AA="+good.EmployeeNumber, "AD=guess"); r.Value("CQ") != "N" || !strings.Contains(r.Value("AF"), "Wrong PIN") {
			t.Fatalf("wrong password %d: %v", i, r)
		}
	}
	if r := send("23", "AO=MAIN", "AA="+good.EmployeeNumber, "AD="+good.Password); r.Value("CQ") != "N" || !strings.Contains(r.Value("AF"), "locked") {
		t.Fatalf("right password after too many wrong ones: %v", r)
	}
	if r := send("11", "AO=MAIN", "AA="+good.EmployeeNumber, "AD="+good.Password, "AB="+fixtures.ItemAvailable); r.Fixed[0] != '0' {
		t.Fatalf("checkout while locked: %v", r)
	}

	other := campusPeople[1]
	s.Stop()
	for range 2 * circ.PINFreeFailures {
		start := time.Now()
		r := send("23", "AO=MAIN", "AA="+other.EmployeeNumber, "AD="+other.Password)
		if r.Value("CQ") != "N" || !strings.Contains(r.Value("AF"), "cannot be checked right now") {
			t.Fatalf("directory down: %v", r)
		}
		if took := time.Since(start); took > 2500*time.Millisecond {
			t.Fatalf("directory down answered after %s", took)
		}
	}
	if r := run(t, "patron", "show", other.EmployeeNumber, "--data-dir", dir); r.code != 0 || !strings.Contains(r.out, "no recent wrong PINs") {
		t.Fatalf("an outage counted against the patron: %+v", r)
	}
	metrics := httpGet(t, srv.httpURL+"/metrics")
	for _, want := range []string{`circa_ldap_up{source="campus"} 0`, `circa_ldap_checks_total{result="ok",source="campus"} 3`,
		`circa_ldap_checks_total{result="rejected",source="campus"} 6`, `circa_pin_refused_total{reason="directory_unavailable"} 10`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	var health healthReport
	if err := json.Unmarshal([]byte(httpGet(t, srv.httpURL+"/healthz")), &health); err != nil {
		t.Fatal(err)
	}
	if h, ok := health.LDAP["campus"]; !ok || h.Up || health.Status != "ok" {
		t.Fatalf("/healthz with the directory down: %+v", health)
	}

	// NCIP's AuthenticationInput goes the same way.
	lookupUser := func(password string) result {
		return run(t, "ncip", "send", "--url", srv.httpURL+"/ncip", "--key", fixtures.PartnerKey, "--service", "LookupUser",
			"from="+fixtures.PartnerAgency, "user="+other.EmployeeNumber, "password="+password)
	}
	if r := lookupUser(other.Password); r.code != 1 || !strings.Contains(r.errOut, "Temporary Processing Failure") ||
		!strings.Contains(r.out, "AuthenticationInput") {
		t.Fatalf("NCIP LookupUser with the directory down: %+v", r)
	}

	s.Restart()
	if r := send("23", "AO=MAIN", "AA="+other.EmployeeNumber, "AD="+other.Password); r.Value("CQ") != "Y" {
		t.Fatalf("directory back: %v", r)
	}
	if r := lookupUser(other.Password); r.code != 0 {
		t.Fatalf("NCIP LookupUser with the campus password: %+v", r)
	}
	if r := lookupUser("guess"); r.code != 1 || !strings.Contains(r.errOut, "User Authentication Failed") {
		t.Fatalf("NCIP LookupUser with a wrong password: %+v", r)
	}
	if logs := srv.logs.String(); strings.Contains(logs, other.Password) || strings.Contains(logs, slapdtest.BindPassword) {
		t.Fatal("a password reached the log")
	}
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
