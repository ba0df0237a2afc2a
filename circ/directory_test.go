package circ

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/circa-ils/circa/store"
)

// scriptedDirectory answers as a directory holding one password would,
// or as one that is down, and records what it was asked.
type scriptedDirectory struct {
	mu       sync.Mutex
	password string
	down     bool
	asked    []DirectoryUser
}

func (d *scriptedDirectory) Verify(_ context.Context, source string, who DirectoryUser, password string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.asked = append(d.asked, who)
	switch {
	case source != "campus":
		return ErrDirectoryUnavailable
	case d.down:
		return ErrDirectoryUnavailable
	case password != d.password:
		return ErrDirectoryRejected
	}
	return nil
}

func (d *scriptedDirectory) calls() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.asked)
}

// A group naming a directory has its patrons' passwords checked there, not
// their PIN; wrong passwords are throttled as wrong PINs are; a directory
// that cannot answer refuses without counting a failure.
func TestDirectoryChecksGroupPasswordsUnderThePINThrottle(t *testing.T) {
	l := newLib(t)
	dir := &scriptedDirectory{password: "campus pass"}
	l.svc.directory = dir
	l.patron("P1", "GRAD")
	l.patron("P2", "ADULT")

	if err := l.svc.EditGroup(ctx, "GRAD", func(g *store.Group) { g.Auth = "ldap:campus" }, atMain); err == nil {
		t.Fatal("a group named an LDAP profile that does not exist")
	}
	if err := l.svc.EditGroup(ctx, "GRAD", func(g *store.Group) { g.Auth = "ldap:" }, atMain); err == nil {
		t.Fatal("a group named an LDAP profile without a code")
	}
	if err := l.db.Update(ctx, func(tx store.Tx) error { return tx.PutProfile(DirectoryProfileType, "campus", []byte(`{}`)) }); err != nil {
		t.Fatal(err)
	}
	if err := l.svc.EditGroup(ctx, "GRAD", func(g *store.Group) { g.Auth = "ldap:campus" }, atMain); err != nil {
		t.Fatal(err)
	}
	if err := l.db.View(ctx, func(tx store.Tx) error {
		using, err := GroupsUsingDirectory(tx, "campus")
		if len(using) != 1 || using[0] != "GRAD" {
			t.Errorf("groups using campus: %v", using)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}

	if _, err := l.svc.VerifyPatron(ctx, "P1", "campus pass"); err != nil {
		t.Fatalf("right campus password: %v", err)
	}
	if dir.asked[0] != (DirectoryUser{User: "P1", Barcode: "P1"}) {
		t.Errorf("directory asked about %+v", dir.asked[0])
	}
	if _, err := l.svc.VerifyPatron(ctx, "P1", "1234"); !errors.Is(err, ErrPatronAuthFailed) {
		t.Fatalf("the local PIN of a directory patron: %v", err)
	}
	if _, err := l.svc.VerifyPatron(ctx, "P2", "1234"); err != nil || dir.calls() != 2 {
		t.Fatalf("a local patron: %v, directory asked %d times", err, dir.calls())
	}
	sum, err := l.svc.PatronStatus(ctx, PatronQuery{Patron: "P1", PIN: "campus pass", Brief: true})
	if err != nil || !sum.PINOK {
		t.Fatalf("status with the campus password: ok=%v %v", sum.PINOK, err)
	}

	for i := 1; i <= PINFreeFailures+1; i++ { // the right password above ended the run
		if _, err := l.svc.VerifyPatron(ctx, "P1", "guess"); !errors.Is(err, ErrPatronAuthFailed) {
			t.Fatalf("wrong password %d: %v", i, err)
		}
	}
	asked := dir.calls()
	if _, err := l.svc.VerifyPatron(ctx, "P1", "campus pass"); !errors.Is(err, ErrPatronPINLocked) {
		t.Fatalf("right password while locked: %v", err)
	}
	if dir.calls() != asked {
		t.Fatal("the directory was asked while the patron was locked")
	}
	if err := l.svc.UnlockPIN(ctx, "P1"); err != nil {
		t.Fatal(err)
	}

	dir.mu.Lock()
	dir.down = true
	dir.mu.Unlock()
	for range 3 * PINFreeFailures {
		if _, err := l.svc.VerifyPatron(ctx, "P1", "campus pass"); !errors.Is(err, &Error{Code: AuthUnavailable}) {
			t.Fatalf("directory down: %v", err)
		}
	}
	if lock, _ := l.svc.PINLockOf(ctx, "P1"); lock.Failures != 0 {
		t.Fatalf("an unavailable directory counted %d failures", lock.Failures)
	}
	if st := l.svc.PINStats(); st.Unavailable != 3*PINFreeFailures || st.Failed != PINFreeFailures+2 {
		t.Fatalf("stats %+v", st)
	}
	if _, err := l.svc.Renew(ctx, RenewRequest{Agent: atMain, Patron: "P1", PIN: "campus pass", Item: "x"}); !errors.Is(err, &Error{Code: AuthUnavailable}) {
		t.Fatalf("renewal with the directory down: %v", err)
	}

	// Back to local PINs: the directory is no longer asked.
	if err := l.svc.EditGroup(ctx, "GRAD", func(g *store.Group) { g.Auth = AuthLocal }, atMain); err != nil {
		t.Fatal(err)
	}
	asked = dir.calls()
	if _, err := l.svc.VerifyPatron(ctx, "P1", "1234"); err != nil || dir.calls() != asked {
		t.Fatalf("local again: %v, directory asked %d more times", err, dir.calls()-asked)
	}
}

// A verdict reached by one source is not accepted once the group names
// another: the operation's transaction sees the group as it is then.
func TestDirectoryVerdictNeedsTheSourceInForce(t *testing.T) {
	l := newLib(t)
	l.svc.directory = &scriptedDirectory{password: "campus pass"}
	p := l.patron("P1", "GRAD")
	if err := l.db.Update(ctx, func(tx store.Tx) error { return tx.PutProfile(DirectoryProfileType, "campus", []byte(`{}`)) }); err != nil {
		t.Fatal(err)
	}
	if err := l.svc.EditGroup(ctx, "GRAD", func(g *store.Group) { g.Auth = "ldap:campus" }, atMain); err != nil {
		t.Fatal(err)
	}
	v, err := l.svc.checkPIN(ctx, "P1", "campus pass", true)
	if err != nil || v.refusal != nil {
		t.Fatalf("check: %v %v", err, v.refusal)
	}
	if err := l.svc.EditGroup(ctx, "GRAD", func(g *store.Group) { g.Auth = "" }, atMain); err != nil {
		t.Fatal(err)
	}
	err = l.db.View(ctx, func(tx store.Tx) error {
		ok, err := v.accepts(tx, &p)
		if ok {
			t.Error("a directory's verdict accepted after the group went back to PINs")
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
