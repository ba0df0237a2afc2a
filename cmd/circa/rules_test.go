package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRulesImportDecimalAmounts: a fine written as 0.25 is 25 cents, not
// fines switched off, and rules show prints it back with its currency.
func TestRulesImportDecimalAmounts(t *testing.T) {
	dir := seededDir(t)
	d := []string{"--data-dir", dir}
	shown := run(t, append([]string{"rules", "show"}, d...)...)
	if shown.code != 0 || !strings.Contains(shown.out, "fine_per_day: 0.25 USD") || !strings.Contains(shown.out, "max_balance: 10.00 USD") {
		t.Fatalf("rules show: %+v", shown)
	}
	edited := strings.Replace(shown.out, "fine_per_day: 0.25 USD", "fine_per_day: 0.35", 1)
	f := writeFile(t, t.TempDir(), "rules.yaml", edited)
	if r := run(t, append([]string{"rules", "import", f}, d...)...); r.code != 0 {
		t.Fatalf("import: %+v", r)
	}
	again := run(t, append([]string{"rules", "show"}, d...)...)
	if !strings.Contains(again.out, "fine_per_day: 0.35 USD") {
		t.Fatalf("0.35 not kept:\n%s", again.out)
	}
}

// TestRulesImportRefusesBadInput: each mistake gets a message naming the
// line or the rule, and the rules stay as they were.
func TestRulesImportRefusesBadInput(t *testing.T) {
	dir := seededDir(t)
	d := []string{"--data-dir", dir}
	orig := run(t, append([]string{"rules", "show"}, d...)...).out
	lineOf := func(text, sub string) string {
		i := strings.Index(text, sub)
		return "line " + itoa(strings.Count(text[:i], "\n")+1) + ": "
	}
	cases := []struct {
		name, from, to, want string
	}{
		{"minor units", "fine_per_day: 0.25 USD", "fine_per_day: 25",
			lineOf(orig, "fine_per_day: 0.25 USD") + `fine_per_day: "25" has no decimal point or currency`},
		{"too precise", "fine_cap: 5.00 USD", "fine_cap: 5.005 USD",
			lineOf(orig, "fine_cap: 5.00 USD") + `fine_cap: amount "5.005" has more decimals than USD has (2)`},
		{"misspelt policy", "item_policy: SHORTLOAN", "item_policy: SHORTLAON",
			`item policy "SHORTLAON" is unknown (did you mean "SHORTLOAN"?)`},
		{"negative days", "loan_days: 7\n", "loan_days: -5\n",
			"loan rule 5 (item_policy VIDEO): loan_days is -5; it must be a positive number of days"},
		{"unknown field", "loan_days: 7\n", "loan_dayz: 7\n",
			`unknown field "loan_dayz" (did you mean "loan_days"?)`},
		{"unknown library", "library: BRANCH", "library: BRANCHES", `library "BRANCHES" is unknown`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(orig, c.from) {
				t.Fatalf("%q not in the demo rules", c.from)
			}
			f := writeFile(t, t.TempDir(), "rules.yaml", strings.Replace(orig, c.from, c.to, 1))
			r := run(t, append([]string{"rules", "import", f}, d...)...)
			if r.code == 0 || !strings.Contains(r.errOut, c.want) {
				t.Fatalf("exit %d, want message %q, got %q", r.code, c.want, r.errOut)
			}
			if now := run(t, append([]string{"rules", "show"}, d...)...).out; now != orig {
				t.Fatalf("rules changed:\n%s", now)
			}
		})
	}
}

// TestRulesImportDryRun prints the difference and changes nothing.
func TestRulesImportDryRun(t *testing.T) {
	dir := seededDir(t)
	d := []string{"--data-dir", dir}
	orig := run(t, append([]string{"rules", "show"}, d...)...).out
	stats := run(t, append([]string{"db", "stats"}, d...)...).out
	f := writeFile(t, t.TempDir(), "rules.yaml", strings.Replace(orig, "max_overdue: 5", "max_overdue: 8", 1))
	r := run(t, append([]string{"rules", "import", "--dry-run", f}, d...)...)
	if r.code != 0 || !strings.Contains(r.out, "\n-max_overdue: 5\n+max_overdue: 8\n") || strings.Contains(r.out, "loan_limit: 25") {
		t.Fatalf("dry run: %+v", r)
	}
	if now := run(t, append([]string{"rules", "show"}, d...)...).out; now != orig {
		t.Fatalf("dry run changed the rules:\n%s", now)
	}
	if now := run(t, append([]string{"db", "stats"}, d...)...).out; stripCommits(now) != stripCommits(stats) {
		t.Fatalf("dry run wrote:\n%s\n%s", stats, now)
	}
	same := writeFile(t, t.TempDir(), "same.yaml", orig)
	if r := run(t, append([]string{"rules", "import", "--dry-run", same}, d...)...); r.code != 0 || !strings.Contains(r.out, "no change") {
		t.Fatalf("dry run of the same rules: %+v", r)
	}
}

// stripCommits drops the line of db stats that counts this process's commits.
func stripCommits(s string) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if !strings.HasPrefix(l, "commits since start") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

func itoa(n int) string { return strconv.Itoa(n) }
