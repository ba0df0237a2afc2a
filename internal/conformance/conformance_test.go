package conformance

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// childEnv names the helper test a child process runs; unset, the helpers
// pass at once.
const childEnv = "CIRCA_CONFORMANCE_TEST_CHILD"

func TestChildNeedsTool(t *testing.T) {
	if os.Getenv(childEnv) != "tool" {
		return
	}
	Tool(t, "circa-no-such-program", "circa-nor-this-one")
	t.Log("ran past Tool")
}

func TestChildHasTool(t *testing.T) {
	if os.Getenv(childEnv) != "have" {
		return
	}
	if Have(t, "circa-no-such-program") {
		t.Fatal("a missing program reported present")
	}
	t.Log("ran past Have")
}

func TestChildOnly(t *testing.T) {
	if os.Getenv(childEnv) != "only" {
		return
	}
	Only(t, "the sshd check")
	t.Log("ran past Only")
}

// child runs one helper test in a new test process with the conformance
// variable set or not, and returns whether it passed and what it printed.
func child(t *testing.T, which string, required bool) (bool, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestChild", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+which, Env+"=")
	if required {
		cmd.Env = append(cmd.Env, Env+"=1")
	}
	out, err := cmd.CombinedOutput()
	if _, exit := err.(*exec.ExitError); err != nil && !exit {
		t.Fatal(err)
	}
	return err == nil, string(out)
}

// TestMissingProgram: in make test a missing program skips the test with the
// reason; in make conformance it fails the test.
func TestMissingProgram(t *testing.T) {
	for _, c := range []struct {
		which, skipped, failed, ranOn string
	}{
		{"tool", "circa-no-such-program or circa-nor-this-one is not on PATH; runs in make conformance",
			"CIRCA_CONFORMANCE=1 but circa-no-such-program or circa-nor-this-one is not on PATH", ""},
		{"have", "", "CIRCA_CONFORMANCE=1 but circa-no-such-program is not on PATH", "ran past Have"},
		{"only", "the sshd check runs in make conformance (CIRCA_CONFORMANCE=1)", "", "ran past Only"},
	} {
		ok, out := child(t, c.which, false)
		switch {
		case !ok:
			t.Errorf("%s, make test: failed\n%s", c.which, out)
		case c.skipped != "" && (!strings.Contains(out, "--- SKIP") || !strings.Contains(out, c.skipped)):
			t.Errorf("%s, make test: not skipped with %q\n%s", c.which, c.skipped, out)
		case c.skipped == "" && (strings.Contains(out, "--- SKIP") || !strings.Contains(out, c.ranOn) ||
			!strings.Contains(out, "is not on PATH: check skipped; it runs in make conformance")):
			t.Errorf("%s, make test: the test did not go on, saying why\n%s", c.which, out)
		}
		ok, out = child(t, c.which, true)
		switch {
		case c.failed != "" && (ok || !strings.Contains(out, c.failed)):
			t.Errorf("%s, make conformance: did not fail with %q\n%s", c.which, c.failed, out)
		case c.failed == "" && (!ok || !strings.Contains(out, c.ranOn)):
			t.Errorf("%s, make conformance: did not run\n%s", c.which, out)
		}
	}
}
