package selfcheck

import (
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/circa-ils/circa/fixtures"
)

// TestFullDiskTellsTheKiosk: while the store's commits fail (a full disk),
// a kiosk's writes get ok=0 with the system-unavailable message instead of
// the generic failure, 98 reports off-line, and nothing is stored; once a
// commit succeeds again the kiosk is back on-line and its retry acts.
func TestFullDiskTellsTheKiosk(t *testing.T) {
	var full atomic.Bool
	e := newEnv(t)
	e.fault = func() error {
		if full.Load() {
			return &os.PathError{Op: "write", Path: e.path, Err: syscall.ENOSPC}
		}
		return nil
	}
	e.start()
	k := e.dial()
	k.login(fixtures.KioskLogin, fixtures.KioskPassword)
	if got := k.send("9900402.00"); !strings.HasPrefix(got, "98Y") {
		t.Fatalf("on-line: %q", got)
	}
	unavailable, _ := BuiltinMessage(DefaultLanguage, "system_unavailable")

	full.Store(true)
	head := e.head()
	checkout := "11YN" + D + B + "AOMAIN|AA21000000000001|AB31000000000002|AC|AD1234|AY1AZ????"
	r := decode(t, k.send(checkout))
	if r.Code != "12" || r.Fixed[0] != '0' || r.Value("AF") != unavailable || r.Value("AB") != "31000000000002" {
		t.Errorf("checkout on a full disk: %s %q %v", r.Code, r.Fixed, r.Fields)
	}
	r = decode(t, k.send("09N"+D+D+"APMAIN|AOMAIN|AB31000000000003|AC|AY2AZ????"))
	if r.Code != "10" || r.Fixed[0] != '0' || r.Value("AF") != unavailable {
		t.Errorf("checkin on a full disk: %s %q %v", r.Code, r.Fixed, r.Fields)
	}
	r = decode(t, k.send("29NN"+D+B+"AOMAIN|AA21000000000001|AB31000000000002|AC|AD1234|AY3AZ????"))
	if r.Code != "30" || r.Fixed[0] != '0' || r.Value("AF") != unavailable {
		t.Errorf("renew on a full disk: %s %q %v", r.Code, r.Fixed, r.Fields)
	}
	st := decode(t, k.send("9900402.00AY4AZ????"))
	if st.Code != "98" || st.Fixed[0] != 'N' || st.Value("AF") != unavailable {
		t.Errorf("status on a full disk: %q %v", st.Fixed, st.Fields)
	}
	if h := e.head(); h != head {
		t.Errorf("the store changed while its disk was full: %d → %d", head, h)
	}
	if strings.Contains(e.logs.String(), "21000000000001") || !strings.Contains(e.logs.String(), "no space left on device") {
		t.Errorf("log: %s", e.logs.String())
	}

	full.Store(false)
	// The kiosk retries: nothing was stored, so the checkout acts now.
	r = decode(t, k.send(checkout))
	if r.Fixed[0] != '1' {
		t.Errorf("checkout after the disk was freed: %q %v", r.Fixed, r.Fields)
	}
	if got := k.send("9900402.00AY5AZ????"); !strings.HasPrefix(got, "98Y") {
		t.Errorf("status after a commit succeeded: %q", got)
	}
}

func TestSystemUnavailableInEveryLanguage(t *testing.T) {
	for _, lang := range BuiltinLanguages() {
		if text, ok := BuiltinMessage(lang, "system_unavailable"); !ok || text == "" {
			t.Errorf("%s: no system_unavailable text", lang)
		}
	}
}
