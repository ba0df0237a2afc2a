package selfcheck

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the expected replies of testdata/*.txt")

// TestTranscripts replays every transcript in testdata on a fresh server:
// "> " lines are sent (a trailing AZ???? is replaced by the checksum),
// "< " lines are the expected replies, "#" lines are comments, and
// "! reconnect" / "! restart" open a new connection or restart the server
// on the same file first.
func TestTranscripts(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no transcripts: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			runTranscript(t, file)
		})
	}
}

func runTranscript(t *testing.T, file string) {
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t).start()
	k := e.dial()
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	var out []string
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		switch {
		case line == "! reconnect":
			k.c.Close()
			k = e.dial()
		case line == "! restart":
			k.c.Close()
			e.restart()
			k = e.dial()
		case strings.HasPrefix(line, "> "):
			got := k.send(line[2:])
			out = append(out, line, "< "+got)
			if i+1 < len(lines) && strings.HasPrefix(lines[i+1], "< ") {
				i++
				if want := lines[i][2:]; got != want && !*update {
					t.Errorf("%s:%d: reply to %.2s\n got: %q\nwant: %q", file, i+1, line[2:], got, want)
				}
			} else if !*update {
				t.Errorf("%s:%d: no expected reply after the request", file, i+1)
			}
			continue
		case strings.HasPrefix(line, "< "):
			t.Errorf("%s:%d: reply without a request", file, i+1)
		}
		out = append(out, line)
	}
	if *update {
		if err := os.WriteFile(file, []byte(strings.Join(out, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
