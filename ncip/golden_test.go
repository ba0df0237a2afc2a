package ncip

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// TestGolden pins the exact bytes written for every response kind, so a
// change of form (order, indentation, prefixes) is a reviewed diff. Run
// go test ./ncip -run Golden -update to accept a deliberate change.
func TestGolden(t *testing.T) {
	cases := map[string][]byte{}
	for name, r := range responseCases() {
		b, err := EncodeResponse(r, WriteOptions{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		cases[name+"Response"] = b
	}
	for _, r := range requestCases() {
		b, err := EncodeRequest(r, WriteOptions{})
		if err != nil {
			t.Fatalf("%s: %v", r.Service(), err)
		}
		cases[r.Service()+"Request"] = b
	}
	cases["Problem"] = EncodeProblems([]Problem{*NewProblem("", UnknownService, "unknown service FetchCoffee").At("NCIPMessage", "FetchCoffee")}, WriteOptions{})
	legacy, _ := EncodeResponse(&CheckInItemResponse{Problems: []Problem{*NewProblem("CheckInItem", UnknownItem, "")}}, WriteOptions{NoNamespace: true, Version: "2.0"})
	cases["Legacy-CheckInItemResponse"] = legacy

	dir := filepath.Join("testdata", "golden")
	if *update {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, got := range cases {
		path := filepath.Join(dir, name+".xml")
		if *update {
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update to create it)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from %s:\n%s", name, path, got)
		}
	}
}
