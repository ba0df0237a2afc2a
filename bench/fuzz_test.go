package bench

import (
	"strings"
	"testing"
	"time"

	"github.com/circa-ils/circa/sip2"
)

// FuzzValidate feeds arbitrary reply lines to the reply checker: it must
// never panic, and a reply it accepts must carry the expected code, the
// sequence number sent and a checksum that verifies.
func FuzzValidate(f *testing.F) {
	now := sipDate(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC))
	for _, r := range echoReplies() {
		for _, b := range r[:2] {
			f.Add(string(b[:len(b)-1]), byte('0'))
		}
	}
	f.Add("96AZFEF6", byte('1'))
	f.Add("121NNY"+now+"AOMAIN|AA21000000001000|AY3AZ0000", byte('3'))
	f.Add("", byte('0'))
	p := Party{Patron: "21000000001000", PIN: "1234", Item: "31000000001000"}
	steps := []step{statusStep(), checkoutStep(demoLogin, p, now), patronInfoStep(demoLogin, p, now), itemInfoStep(demoLogin, p, now)}
	f.Fuzz(func(t *testing.T, line string, seq byte) {
		for i := range steps {
			st := &steps[i]
			if validate([]byte(line), st, seq) != "" {
				continue
			}
			if !strings.HasPrefix(line, st.reply) {
				t.Fatalf("accepted %q as a %s reply", line, st.reply)
			}
			if _, err := sip2.Decode([]byte(line), sip2.DecodeOptions{Checksum: sip2.ChecksumRequired}); err != nil {
				t.Fatalf("accepted %q, which the codec rejects: %v", line, err)
			}
		}
	})
}

// FuzzParseLines feeds arbitrary process output and metrics text to the
// line parsers: they must never panic.
func FuzzParseLines(f *testing.F) {
	f.Add("  sip2-tls  127.0.0.1:2 (CA /d/tls/ca.pem)\n  http      http://127.0.0.1:3 (/ncip)")
	f.Add("# HELP circa_store_commits_total x\ncirca_store_commits_total 12\ncirca_store_operations_total 40\n")
	f.Add("  sip2 \n(CA")
	f.Add("circa_store_commits_total NaN\ncirca_store_operations_total +Inf\n")
	f.Fuzz(func(t *testing.T, text string) {
		var a Addrs
		for _, line := range strings.Split(text, "\n") {
			a.parseAddrLine(line)
		}
		c := parseStoreCounters(strings.NewReader(text))
		if c.ok && (c.commits != c.commits || c.ops != c.ops) {
			t.Fatalf("NaN counters from %q", text)
		}
	})
}
