package sip2

import (
	"bufio"
	"flag"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the expected lines of testdata/golden/*.txt")

// TestGoldenTranscripts replays each transcript against the server with the
// test session and a fixed clock, and compares every answer byte for byte.
func TestGoldenTranscripts(t *testing.T) {
	files, err := filepath.Glob("testdata/golden/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no transcripts: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			clock := time.Date(2026, 11, 27, 10, 15, 0, 0, time.UTC)
			ts := startServer(t, func(o *Options) { o.Now = func() time.Time { return clock } })
			c, err := net.Dial("tcp", ts.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			br := bufio.NewReader(c)

			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
			for i := 0; i < len(lines); i++ {
				line := lines[i]
				if !strings.HasPrefix(line, "> ") {
					out = append(out, line)
					continue
				}
				out = append(out, line)
				frame := unescape(line[2:])
				if strings.HasSuffix(frame, "AZ") {
					frame = string(appendChecksum([]byte(frame[:len(frame)-2]), 0))
				}
				if !strings.HasSuffix(frame, "\r") && !strings.HasSuffix(frame, "\n") {
					frame += "\r"
				}
				if _, err := c.Write([]byte(frame)); err != nil {
					t.Fatal(err)
				}
				got, err := br.ReadString('\r')
				if err != nil {
					t.Fatalf("line %d: %v", i+1, err)
				}
				got = strings.TrimPrefix(got, "\n")
				var want string
				if i+1 < len(lines) && strings.HasPrefix(lines[i+1], "< ") {
					i++
					want = lines[i][2:]
				}
				gotLine := strconv.Quote(strings.TrimSuffix(got, "\r"))
				gotLine = gotLine[1 : len(gotLine)-1]
				out = append(out, "< "+gotLine)
				if !*update && gotLine != want {
					t.Errorf("line %d: answer to %q\n got %s\nwant %s", i+1, line[2:], gotLine, want)
				}
			}
			if *update {
				if err := os.WriteFile(file, []byte(strings.Join(out, "\n")+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			// The server hands a retransmission to the Session, which alone
			// knows whether it is a retry (selfcheck answers it from circ's
			// journal).
			if n := ts.h.checkouts.Load(); strings.Contains(file, "kiosk") && n != 2 {
				t.Errorf("checkouts = %d: the retransmission did not reach the session", n)
			}
		})
	}
}

// unescape decodes \r, \n and \xNN in a transcript line.
func unescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case 'r':
			b.WriteByte('\r')
			i++
		case 'n':
			b.WriteByte('\n')
			i++
		case 'x':
			if v, err := strconv.ParseUint(s[i+2:i+4], 16, 8); i+3 < len(s) && err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
			b.WriteByte('\\')
		default:
			b.WriteByte('\\')
		}
	}
	return b.String()
}
