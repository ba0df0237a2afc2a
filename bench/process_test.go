package bench

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A child's log stops growing at its limit, and the child never sees an
// error for it.
func TestCappedLogStopsAtItsLimit(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "server.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c := &cappedLog{f: f, left: 100}
	line := []byte(strings.Repeat("x", 29) + "\n")
	for range 10 {
		if n, err := c.Write(line); n != len(line) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	got, _ := os.ReadFile(f.Name())
	body, note, found := strings.Cut(string(got), "\n[circa bench: log cut at")
	if !found || len(body) != 100 || !strings.HasSuffix(note, "MiB]\n") {
		t.Fatalf("log after the limit: %d bytes before the note, %q", len(body), note)
	}
}
