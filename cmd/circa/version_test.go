package main

import (
	"debug/buildinfo"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"testing"
)

// circa version and circa --version print the same: what -ldflags set,
// else what the toolchain recorded, else "unknown".
func TestVersionCommand(t *testing.T) {
	defer func(v, c, d string) { version, commit, buildDate = v, c, d }(version, commit, buildDate)
	version, commit, buildDate = "1.4.0", "0123456789abcdef0123456789abcdef01234567", "2026-12-01T10:00:00Z"
	want := "circa 1.4.0\n  commit  0123456789abcdef0123456789abcdef01234567\n  built   2026-12-01T10:00:00Z\n" +
		"  go      " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + "\n"
	for _, args := range [][]string{{"version"}, {"--version"}} {
		if r := run(t, args...); r.code != 0 || r.out != want {
			t.Errorf("%v: %+v, want %q", args, r, want)
		}
	}
}

func TestDescribeBuild(t *testing.T) {
	defer func(v, c, d string) { version, commit, buildDate = v, c, d }(version, commit, buildDate)
	vcs := &debug.BuildInfo{Main: debug.Module{Path: "github.com/circa-ils/circa", Version: "v1.5.0"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "feedface"}, {Key: "vcs.time", Value: "2026-11-30T08:00:00Z"},
			{Key: "vcs.modified", Value: "true"}}}
	goLine := "  go      " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + "\n"
	version, commit, buildDate = "dev", "", ""
	for name, tc := range map[string]struct {
		info *debug.BuildInfo
		want string
	}{
		"nothing recorded": {nil, "circa dev\n  commit  unknown\n  built   unknown\n" + goLine},
		"devel":            {&debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "circa dev\n  commit  unknown\n  built   unknown\n" + goLine},
		"go build in git": {vcs, "circa v1.5.0\n  commit  feedface (with uncommitted changes)\n" +
			"  built   2026-11-30T08:00:00Z (the commit's time)\n" + goLine},
	} {
		if got := describeBuild(tc.info).String(); got != tc.want {
			t.Errorf("%s:\n%s\nwant\n%s", name, got, tc.want)
		}
	}
	// -ldflags win over what the toolchain recorded.
	version, commit, buildDate = "1.5.1", "c0ffee", "2026-12-01T00:00:00Z"
	if got, want := describeBuild(vcs).String(), "circa 1.5.1\n  commit  c0ffee\n  built   2026-12-01T00:00:00Z\n"+goLine; got != want {
		t.Errorf("with -ldflags:\n%s\nwant\n%s", got, want)
	}
}

// The binaries themselves: make build stamps version, commit and date into
// the variables circa version reads, and a plain go build prints what the
// toolchain recorded in it.
func TestBuiltBinaryVersion(t *testing.T) {
	if testing.Short() {
		t.Skip("builds circa twice")
	}
	dir := t.TempDir()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	output := func(bin string) string {
		t.Helper()
		out, err := exec.Command(bin, "version").Output()
		if err != nil {
			t.Fatalf("%s version: %v", bin, err)
		}
		return string(out)
	}
	goLine := "  go      " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + "\n"
	if _, err := exec.LookPath("make"); err != nil {
		t.Log("make is not on PATH: the Makefile's stamping is not checked")
	} else {
		bin := filepath.Join(dir, "circa-make")
		cmd := exec.Command("make", "-s", "-C", root, "build", "BIN="+bin, "VERSION=9.8.7-test",
			"COMMIT=abcdef0123", "BUILD_DATE=2026-01-02T03:04:05Z")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("make build: %v\n%s", err, out)
		}
		if got, want := output(bin), "circa 9.8.7-test\n  commit  abcdef0123\n  built   2026-01-02T03:04:05Z\n"+goLine; got != want {
			t.Errorf("make build's binary says\n%s\nwant\n%s", got, want)
		}
	}
	bin := filepath.Join(dir, "circa-plain")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := output(bin), describeBuild(info).String(); got != want {
		t.Errorf("go build's binary says\n%s\nwant, from its recorded build information,\n%s", got, want)
	}
}
