package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// circaBinary builds the command into a test directory: --self starts it
// as the child server, as it starts the real binary in use.
func circaBinary(t *testing.T) string {
	t.Helper()
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(gobin); err != nil {
		gobin = "go"
	}
	bin := filepath.Join(t.TempDir(), "circa")
	if out, err := exec.Command(gobin, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build circa: %v\n%s", err, out)
	}
	return bin
}

func TestBenchSelf(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server")
	}
	bin := circaBinary(t)
	for _, args := range [][]string{
		{"bench", "--self", "--exe", bin, "--mix", "kiosk", "--conns", "4", "--duration", "1200ms", "--windows", "2",
			"--store-time", "100ms", "--json"},
		{"bench", "sip2", "--self", "--exe", bin, "--tls", "--mix", "read", "--conns", "4", "--duration", "600ms",
			"--windows", "2", "--json"},
		{"bench", "ncip", "--self", "--exe", bin, "--mix", "checkout", "--conns", "2", "--duration", "600ms",
			"--windows", "2", "--store-time", "50ms", "--json"},
	} {
		r := run(t, args...)
		if r.code != 0 {
			t.Fatalf("%v: exit %d\n%s", args, r.code, r.errOut)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(r.out), &m); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, r.out)
		}
		keys := []string{"mix", "conns", "throughput_rps", "p50_ms", "p99_ms", "p999_ms", "errors",
			"echo_throughput_rps", "echo_p99_ms", "ratio_vs_echo", "server_cpu_us_per_req", "server_rss_kib"}
		if m["mix"] == "kiosk" || m["mix"] == "checkout" {
			keys = append(keys, "group_commit_ops", "fsync_update_ops", "ratio_vs_group_commit", "ratio_vs_fsync_update")
		}
		for _, k := range keys {
			if _, ok := m[k]; !ok {
				t.Errorf("%v: key %q missing", args, k)
			}
		}
		if m["errors"] != 0.0 || m["throughput_rps"].(float64) <= 0 || m["ratio_vs_echo"].(float64) <= 0 {
			t.Errorf("%v: errors %v throughput %v ratio %v", args, m["errors"], m["throughput_rps"], m["ratio_vs_echo"])
		}
		if !strings.Contains(r.errOut, "window 2/2 server") {
			t.Errorf("%v: no progress lines:\n%s", args, r.errOut)
		}
	}

	// --crash-at: kill the server mid-load, restart it, check the loans.
	r := run(t, "bench", "--self", "--exe", bin, "--mix", "checkout", "--conns", "8", "--duration", "4s", "--windows", "2",
		"--store-time", "50ms", "--crash-at", "400ms", "--json")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.out, r.errOut)
	}
	var rep struct {
		Crash struct {
			Acked      int
			Checked    int
			Checkouts  int `json:"checked_checkouts"`
			Checkins   int `json:"checked_checkins"`
			Unanswered int
			Missing    []string
			DBProblems []string `json:"db_problems"`
			OK         bool
		}
	}
	if err := json.Unmarshal([]byte(r.out), &rep); err != nil {
		t.Fatal(err)
	}
	// A closed-loop checkout mix has a write in flight on every connection
	// at the kill; every acknowledged one before it is checked.
	c := rep.Crash
	if !c.OK || c.Checked == 0 || c.Checked != c.Acked || c.Checkouts == 0 || c.Checkins == 0 || len(c.Missing) != 0 {
		t.Errorf("crash check: %+v", c)
	}
	t.Logf("crash check: %+v", c)
	if n := childProcesses(t, bin); n != 0 {
		t.Errorf("%d children of %s left running", n, bin)
	}
}

func TestBenchUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"bench"},
		{"bench", "--self", "--addr", "127.0.0.1:1"},
		{"bench", "--addr", "192.0.2.1:6001"},
		{"bench", "--addr", "127.0.0.1:1", "--crash-at", "1s"},
		{"bench", "ncip", "--self", "--crash-at", "1s"},
		{"bench", "--self", "--mix", "nosuch"},
		{"bench", "--self", "--load", "open"},
		{"bench", "--self", "--load", "sideways"},
		{"bench", "--self", "--conns", "0"},
		{"bench", "ncip", "--self", "--mix", "kiosk"},
		{"bench", "ncip", "--addr", "127.0.0.1:1"},
		{"bench", "ncip", "--self", "--load", "storm"},
	} {
		if r := run(t, args...); r.code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, r.code, r.errOut)
		}
	}
}

// childProcesses counts running processes of the binary bin.
func childProcesses(t *testing.T, bin string) int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Skip("no /proc")
	}
	n := 0
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.HasPrefix(string(b), bin+"\x00") {
			n++
		}
	}
	return n
}
