package ldapauth

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/internal/slapdtest"
	"github.com/circa-ils/circa/profiles"
)

// directoryOver returns a Directory whose only profile, "campus", is prof.
func directoryOver(t *testing.T, prof *profiles.LDAP) *Directory {
	t.Helper()
	if err := prof.Validate(); err != nil {
		t.Fatal(err)
	}
	snap := &profiles.Snapshot{LDAP: map[string]*profiles.LDAP{"campus": prof}}
	d := New(func() *profiles.Snapshot { return snap }, zerolog.Nop())
	t.Cleanup(d.Close)
	return d
}

func campusProfile(s *slapdtest.Server, urls ...string) *profiles.LDAP {
	p := profiles.NewLDAP("campus")
	p.URLs = urls
	p.CAFile = s.CAFile
	p.BindDN, p.BindPasswordFile = slapdtest.BindDN, s.BindPasswordFile
	p.BaseDN = slapdtest.BaseDN
	p.TimeoutSeconds = 2
	return p
}

func TestVerifyAgainstSlapdOverLDAPSAndStartTLS(t *testing.T) {
	s := slapdtest.Start(t)
	ctx := context.Background()
	student := slapdtest.People[0]
	for _, tc := range []struct {
		name     string
		url      string
		startTLS bool
	}{{"ldaps", s.LDAPS, false}, {"starttls", s.LDAP, true}} {
		t.Run(tc.name, func(t *testing.T) {
			p := campusProfile(s, tc.url)
			p.StartTLS = tc.startTLS
			d := directoryOver(t, p)
			if err := d.Verify(ctx, "campus", circ.DirectoryUser{User: student.UID}, student.Password); err != nil {
				t.Fatalf("right password: %v", err)
			}
			for name, pw := range map[string]string{"wrong": "not it", "other's": slapdtest.People[1].Password, "empty": ""} {
				if err := d.Verify(ctx, "campus", circ.DirectoryUser{User: student.UID}, pw); !errors.Is(err, circ.ErrDirectoryRejected) {
					t.Errorf("%s password: %v, want rejected", name, err)
				}
			}
			if err := d.Verify(ctx, "campus", circ.DirectoryUser{User: "nobody"}, "x"); !errors.Is(err, circ.ErrDirectoryRejected) {
				t.Errorf("unknown user: %v, want rejected", err)
			}
			st := d.Sources()["campus"]
			if st.OK.Load() != 1 || st.Rejected.Load() != 4 || st.Unavailable.Load() != 0 || !st.Up() {
				t.Errorf("stats ok %d rejected %d unavailable %d up %v", st.OK.Load(), st.Rejected.Load(), st.Unavailable.Load(), st.Up())
			}
			if n := st.Open.Load(); n != 1 {
				t.Errorf("%d connections open after checks one at a time, want 1 reused", n)
			}
		})
	}
}

func TestVerifyByBarcodeFilter(t *testing.T) {
	s := slapdtest.Start(t)
	p := campusProfile(s, s.LDAPS)
	p.Filter = "(&(objectClass=inetOrgPerson)(employeeNumber={barcode}))"
	d := directoryOver(t, p)
	student := slapdtest.People[1]
	err := d.Verify(context.Background(), "campus", circ.DirectoryUser{User: "typed at kiosk", Barcode: student.EmployeeNumber}, student.Password)
	if err != nil {
		t.Fatal(err)
	}
}

// A user id that would widen an unescaped filter to every entry finds
// none: with (uid={user}), `*)(uid=*` unescaped would match everyone, and
// the password of any of them would let the stranger in.
func TestInjectionInUserIDFindsNothing(t *testing.T) {
	s := slapdtest.Start(t)
	d := directoryOver(t, campusProfile(s, s.LDAPS))
	for _, user := range []string{"*", "*)(uid=*", "astudent)(|(uid=*", `astudent\2a`, "a*", "astudent\x00"} {
		for _, pw := range []string{slapdtest.People[0].Password, slapdtest.People[1].Password} {
			err := d.Verify(context.Background(), "campus", circ.DirectoryUser{User: user}, pw)
			if !errors.Is(err, circ.ErrDirectoryRejected) {
				t.Errorf("user %q: %v, want rejected (no entry)", user, err)
			}
		}
	}
}

func TestFailoverFromDeadURL(t *testing.T) {
	s := slapdtest.Start(t)
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL := "ldaps://" + dead.Addr().String()
	dead.Close() // nothing listens there now: connection refused
	d := directoryOver(t, campusProfile(s, deadURL, s.LDAPS))
	student := slapdtest.People[0]
	if err := d.Verify(context.Background(), "campus", circ.DirectoryUser{User: student.UID}, student.Password); err != nil {
		t.Fatalf("with the first URL dead: %v", err)
	}
	dn, server, err := d.Lookup(context.Background(), "campus", student.UID)
	if err != nil || server != s.LDAPS || dn != "uid=astudent,"+slapdtest.BaseDN {
		t.Fatalf("lookup: %q via %s, %v", dn, server, err)
	}
}

// A directory that stops, or one that accepts connections and never
// answers, is "cannot verify now" within the profile's timeout, and a
// directory that comes back is used again.
func TestDirectoryDownOrSilentIsUnavailableFast(t *testing.T) {
	s := slapdtest.Start(t)
	p := campusProfile(s, s.LDAPS)
	p.TimeoutSeconds = 1
	d := directoryOver(t, p)
	student := slapdtest.People[0]
	ctx := context.Background()
	who := circ.DirectoryUser{User: student.UID}
	if err := d.Verify(ctx, "campus", who, student.Password); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	start := time.Now()
	err := d.Verify(ctx, "campus", who, student.Password)
	if !errors.Is(err, circ.ErrDirectoryUnavailable) {
		t.Fatalf("stopped directory: %v, want unavailable", err)
	}
	if took := time.Since(start); took > 1500*time.Millisecond {
		t.Errorf("stopped directory answered after %s", took)
	} else {
		t.Logf("stopped directory: unavailable after %s", took)
	}
	st := d.Sources()["campus"]
	if st.Up() || st.LastError() == "" || st.Unavailable.Load() != 1 {
		t.Errorf("after the outage: up %v, last error %q, unavailable %d", st.Up(), st.LastError(), st.Unavailable.Load())
	}
	s.Restart()
	d.probe(ctx)
	if !st.Up() {
		t.Fatal("a probe of the restarted directory left it down")
	}
	if err := d.Verify(ctx, "campus", who, student.Password); err != nil {
		t.Fatalf("restarted directory: %v", err)
	}

	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, never answered
		}
	}()
	p = campusProfile(s, "ldaps://"+silent.Addr().String())
	p.TimeoutSeconds = 1
	d = directoryOver(t, p)
	start = time.Now()
	if err := d.Verify(ctx, "campus", who, student.Password); !errors.Is(err, circ.ErrDirectoryUnavailable) {
		t.Fatalf("silent directory: %v, want unavailable", err)
	}
	if took := time.Since(start); took > 1500*time.Millisecond {
		t.Errorf("silent directory answered after %s", took)
	} else {
		t.Logf("silent directory: unavailable after %s (timeout 1s)", took)
	}
}

// Without TLS a connection is refused unless the profile allows it and the
// directory is on loopback, where a plain ldap:// check works.
func TestPlainLDAPOnlyWhenAllowedOnLoopback(t *testing.T) {
	s := slapdtest.Start(t)
	p := campusProfile(s, s.LDAP)
	if err := p.Validate(); err == nil {
		t.Fatal("ldap:// without start_tls or allow_plain validated")
	}
	p.AllowPlain = true
	d := directoryOver(t, p)
	student := slapdtest.People[0]
	if err := d.Verify(context.Background(), "campus", circ.DirectoryUser{User: student.UID}, student.Password); err != nil {
		t.Fatalf("plain on loopback when allowed: %v", err)
	}
	remote := *p
	remote.URLs = []string{"ldap://192.0.2.10"}
	if err := remote.Validate(); err == nil {
		t.Fatal("allow_plain validated for an address that is not loopback")
	}
}

func TestWrongCAIsUnavailable(t *testing.T) {
	s := slapdtest.Start(t)
	other := slapdtest.Start(t)
	p := campusProfile(s, s.LDAPS)
	p.CAFile = other.CAFile
	d := directoryOver(t, p)
	student := slapdtest.People[0]
	err := d.Verify(context.Background(), "campus", circ.DirectoryUser{User: student.UID}, student.Password)
	if !errors.Is(err, circ.ErrDirectoryUnavailable) {
		t.Fatalf("certificate from another CA: %v, want unavailable", err)
	}
}

func TestUnconfiguredSourceIsUnavailable(t *testing.T) {
	d := New(func() *profiles.Snapshot { return &profiles.Snapshot{} }, zerolog.Nop())
	err := d.Verify(context.Background(), "gone", circ.DirectoryUser{User: "x"}, "y")
	if !errors.Is(err, circ.ErrDirectoryUnavailable) {
		t.Fatal(err)
	}
}

// Many checks at once share the pool's connections: never more open than
// its size, and each check still gets its own answer.
func TestPoolBoundsConnections(t *testing.T) {
	s := slapdtest.Start(t)
	p := campusProfile(s, s.LDAPS)
	p.PoolSize = 2
	d := directoryOver(t, p)
	st := d.Sources()["campus"]
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	var most atomic.Int64
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			who := slapdtest.People[i%2]
			pw := who.Password
			if i%4 == 3 {
				pw = "wrong"
			}
			err := d.Verify(context.Background(), "campus", circ.DirectoryUser{User: who.UID}, pw)
			for n := st.Open.Load(); ; {
				if m := most.Load(); n <= m || most.CompareAndSwap(m, n) {
					break
				}
			}
			if (pw == "wrong") != errors.Is(err, circ.ErrDirectoryRejected) || (pw != "wrong" && err != nil) {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("check: %v", err)
	}
	if most.Load() > 2 || st.Open.Load() > 2 {
		t.Errorf("%d connections open at most, %d now; the pool holds 2", most.Load(), st.Open.Load())
	}
	if st.OK.Load() != 30 || st.Rejected.Load() != 10 {
		t.Errorf("ok %d, rejected %d", st.OK.Load(), st.Rejected.Load())
	}
}

// A profile that requires StartTLS never falls back to sending passwords in
// clear to a directory that does not offer TLS.
func TestStartTLSRequiredIsNeverSkipped(t *testing.T) {
	s := slapdtest.StartWithoutTLS(t)
	p := campusProfile(s, s.LDAP)
	p.StartTLS = true
	d := directoryOver(t, p)
	student := slapdtest.People[0]
	err := d.Verify(context.Background(), "campus", circ.DirectoryUser{User: student.UID}, student.Password)
	if !errors.Is(err, circ.ErrDirectoryUnavailable) || !strings.Contains(err.Error(), "StartTLS") {
		t.Fatalf("StartTLS refused by the directory: %v, want unavailable", err)
	}
	p = campusProfile(s, s.LDAP)
	p.AllowPlain = true // on loopback only
	d = directoryOver(t, p)
	if err := d.Verify(context.Background(), "campus", circ.DirectoryUser{User: student.UID}, student.Password); err != nil {
		t.Fatalf("plain LDAP allowed on loopback: %v", err)
	}
}

// BenchmarkVerify measures one password check on a pooled ldaps://
// connection to slapd on loopback: a service bind, a search and a bind as
// the patron.
func BenchmarkVerify(b *testing.B) {
	s := slapdtest.Start(b)
	p := campusProfile(s, s.LDAPS)
	snap := &profiles.Snapshot{LDAP: map[string]*profiles.LDAP{"campus": p}}
	d := New(func() *profiles.Snapshot { return snap }, zerolog.Nop())
	defer d.Close()
	student := slapdtest.People[0]
	who := circ.DirectoryUser{User: student.UID}
	for b.Loop() {
		if err := d.Verify(context.Background(), "campus", who, student.Password); err != nil {
			b.Fatal(err)
		}
	}
}
