package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Files shaped like a Koha library's exports: the patron import CSV, and
// issues, reserves and accountlines with the cardnumber and barcode joined
// in. The codes mapping turns Koha's branch and category codes into the
// demo library's.
const (
	kohaMapping = `preset: koha
codes:
  library: {CPL: MAIN, FPL: BRANCH}
  group: {PT: UNDERGRAD, ST: STAFF}
`
	kohaPatrons = "\ufeffcardnumber,surname,firstname,branchcode,categorycode,dateexpiry,dateofbirth,email,phone,address,city,zipcode,password,lang\n" +
		"23000001,Nakamura,Aiko,CPL,PT,2027-06-30,2001-04-02,aiko@example.edu,555-0101,12 Elm St,Ithaca,14850,4321,en\n" +
		"23000002,\"O'Brien\",\"Sean\nPatrick\",FPL,ST,2027-06-30,,,,,,,,default\n" +
		"23000003,Nowhere,Nora,XPL,PT,2027-06-30,,,,,,,,\n"
	// Dates are days from today (see days): the first loan is overdue.
	kohaIssues = "cardnumber,barcode,issuedate,date_due,renewals_count\n" +
		"23000001,31000000000001,{-15} 14:05:00,{-4},1\n" +
		"23000002,31000000000002,{-10},{+11} 23:59:00,0\n" +
		"23000002,31000000000008,{-10},{+11},0\n"
	kohaReserves = "cardnumber,barcode,reservedate,branchcode,priority\n" +
		"23000002,31000000000007,2026-11-02,FPL,2\n" +
		"23000001,31000000000007,2026-11-01,CPL,1\n"
	kohaAccountlines = "cardnumber,amount,amountoutstanding,debit_type_code,date,description\n" +
		"23000001,5.00,3.50,OVERDUE,2026-10-01,Late: quiet harbor\n" +
		"23000002,1.005,1.005,LOST,2026-10-02,Lost book\n"
)

// days replaces {-15} and {+11} with the dates that many days from today.
var daysFrom = regexp.MustCompile(`\{([-+]\d+)\}`)

func days(s string) string {
	return daysFrom.ReplaceAllStringFunc(s, func(m string) string {
		n, _ := strconv.Atoi(m[1 : len(m)-1])
		return time.Now().AddDate(0, 0, n).Format("2006-01-02")
	})
}

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		data = days(data)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func wantOutput(t *testing.T, r result, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(r.out, p) {
			t.Errorf("output does not say %q:\n%s%s", p, r.out, r.errOut)
		}
	}
}

func TestImportKohaCSVFiles(t *testing.T) {
	dir := seededDir(t)
	in := writeFiles(t, map[string]string{"mapping.yaml": kohaMapping, "patrons.csv": kohaPatrons,
		"issues.csv": kohaIssues, "reserves.csv": kohaReserves, "accountlines.csv": kohaAccountlines})
	d := []string{"--data-dir", dir}
	patrons := append([]string{"import", "patrons", filepath.Join(in, "patrons.csv"), "--mapping", filepath.Join(in, "mapping.yaml")}, d...)

	// A dry run reports and changes nothing.
	r := run(t, append(patrons, "--dry-run")...)
	if r.code != 1 {
		t.Fatalf("dry run exit %d: %+v", r.code, r)
	}
	wantOutput(t, r, "nothing will be changed", `line 5 (23000003): unknown library code "XPL"`, "patrons created          2", "problems                 1")
	wantFail(t, run(t, append([]string{"patron", "show", "23000001"}, d...)...))

	// --strict imports nothing while one line is bad.
	r = run(t, append(patrons, "--strict")...)
	wantFail(t, r, "--strict: nothing imported; 1 records have problems")
	wantFail(t, run(t, append([]string{"patron", "show", "23000001"}, d...)...))

	// The import takes the good records and reports the bad one.
	r = run(t, patrons...)
	if r.code != 1 {
		t.Fatalf("exit %d: %+v", r.code, r)
	}
	wantOutput(t, r, `line 5 (23000003): unknown library code "XPL"`, "patrons created          2")
	r = run(t, append([]string{"patron", "show", "23000002"}, d...)...)
	if r.code != 0 || !strings.Contains(r.out, "Sean\nPatrick O'Brien") || !strings.Contains(r.out, "BRANCH") {
		t.Errorf("patron show: %+v", r)
	}

	// Loans, holds and fees read Koha's column names without a mapping;
	// the reserves' branch codes need one.
	circMapping := filepath.Join(in, "circ.yaml")
	if err := os.WriteFile(circMapping, []byte("codes:\n  library: {CPL: MAIN, FPL: BRANCH}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		kind, file string
		want       []string
	}{
		{"loans", "issues.csv", []string{"loans created            2", "line 4 (31000000000008): item 31000000000008 is already on loan to another patron"}},
		{"holds", "reserves.csv", []string{"holds created            2"}},
		{"fees", "accountlines.csv", []string{"fees created             1", `line 3 (23000002): amount "1.005" has more decimals than USD has (2)`}},
	} {
		args := append([]string{"import", c.kind, filepath.Join(in, c.file)}, d...)
		if c.kind == "holds" {
			args = append(args, "--mapping", circMapping)
		}
		r := run(t, args...)
		wantOutput(t, r, c.want...)
		again := run(t, args...)
		if strings.Contains(again.out, "created") || strings.Contains(again.out, "updated") {
			t.Errorf("second run of %s changed something:\n%s", c.kind, again.out)
		}
	}

	r = run(t, append([]string{"item", "show", "31000000000007"}, d...)...)
	wantOutput(t, r, "hold queue        2")
	r = run(t, append([]string{"patron", "show", "23000001", "--json"}, d...)...)
	if r.code != 0 || !strings.Contains(r.out, `"Loans": 1,`) || !strings.Contains(r.out, `"Overdue": 1,`) || !strings.Contains(r.out, `"Balance": 350,`) {
		t.Errorf("patron 23000001 after the imports: %+v", r)
	}
	r = run(t, append([]string{"db", "check"}, d...)...)
	if r.code != 0 {
		t.Errorf("db check after the imports: %+v", r)
	}

	// The second run of the patrons changes nothing either, PINs included.
	r = run(t, patrons...)
	wantOutput(t, r, "patrons unchanged        2")
	if strings.Contains(r.out, "created") || strings.Contains(r.out, "updated") {
		t.Errorf("second patron run:\n%s", r.out)
	}
}

func TestImportCSVArguments(t *testing.T) {
	dir := seededDir(t)
	in := writeFiles(t, map[string]string{"p.csv": "surname\nx\n", "bad.yaml": "columns: {card: barcod}\n"})
	d := []string{"--data-dir", dir}
	wantFail(t, run(t, append([]string{"import", "patrons", filepath.Join(in, "p.csv")}, d...)...), `"mapping" not set`)
	r := run(t, append([]string{"import", "patrons", filepath.Join(in, "p.csv"), "--mapping", "kooha"}, d...)...)
	if r.code != 2 {
		t.Errorf("a misspelt preset: exit %d", r.code)
	}
	wantFail(t, r, `unknown mapping "kooha"`, `did you mean "koha"?`)
	wantFail(t, run(t, append([]string{"import", "patrons", filepath.Join(in, "p.csv"), "--mapping", filepath.Join(in, "bad.yaml")}, d...)...),
		`unknown field "barcod"`)
	wantFail(t, run(t, append([]string{"import", "patrons", filepath.Join(in, "p.csv"), "--mapping", "koha"}, d...)...),
		"no barcode column")
	wantFail(t, run(t, append([]string{"import", "loans", filepath.Join(in, "p.csv")}, d...)...), "no patron column")
}

func TestImportCSVThroughTheServer(t *testing.T) {
	dir := seededDir(t)
	startServer(t, dir)
	in := writeFiles(t, map[string]string{"mapping.yaml": kohaMapping, "patrons.csv": kohaPatrons})
	wd, _ := os.Getwd()
	defer os.Chdir(wd)
	if err := os.Chdir(in); err != nil {
		t.Fatal(err)
	}
	// Relative paths are the caller's, not the server's.
	r := run(t, "import", "patrons", "patrons.csv", "--mapping", "./mapping.yaml", "--data-dir", dir)
	if r.code != 1 {
		t.Fatalf("exit %d: %+v", r.code, r)
	}
	wantOutput(t, r, "patrons created          2")
	r = run(t, "patron", "show", "23000001", "--data-dir", dir)
	wantOutput(t, r, "Aiko Nakamura")
}
