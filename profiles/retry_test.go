package profiles

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// The retry window of a kiosk is timeout × retries as reported in 98,
// capped by retry_window_seconds; a partner's is its own setting. Both
// default when unset (profiles saved before the setting existed) and are
// validated, exported and imported.
func TestRetryWindows(t *testing.T) {
	for _, c := range []struct {
		timeout, retries, window int
		want                     time.Duration
	}{
		{30, 3, 60, 60 * time.Second},    // 90 s capped
		{10, 2, 60, 20 * time.Second},    // the kiosk gives up sooner
		{10, 2, 0, 20 * time.Second},     // unset cap: the default
		{0, 3, 45, 45 * time.Second},     // timeout unknown in 98: the cap
		{200, 3, 120, 120 * time.Second}, // over 99.9 s is reported unknown
		{30, 999, 90, 90 * time.Second},  // retries unknown
		{30, 0, 60, 0},                   // a kiosk that never retries
	} {
		k := kiosk("k")
		k.TimeoutSeconds, k.Retries, k.RetryWindowSeconds = c.timeout, c.retries, c.window
		if got := k.RetryWindow(); got != c.want {
			t.Errorf("timeout %d × retries %d, cap %d: window %v, want %v", c.timeout, c.retries, c.window, got, c.want)
		}
	}
	bad := kiosk("k")
	bad.RetryWindowSeconds = MaxRetryWindow + 1
	Prepare(bad)
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "retry_window_seconds") {
		t.Fatalf("window over the maximum accepted: %v", err)
	}
	bad.RetryWindowSeconds = -1
	if err := bad.Validate(); err == nil {
		t.Fatal("negative window accepted")
	}
	if p := (&NCIPPartner{}); p.RetryWindow() != 300*time.Second {
		t.Fatalf("partner default %v", p.RetryWindow())
	}

	r := openRegistry(t)
	k := kiosk("k1")
	k.RetryWindowSeconds = 0 // as saved before the setting existed
	Prepare(k)
	if err := r.Save(ctx, k); err != nil {
		t.Fatal(err)
	}
	if got := r.Current().SelfCheck["k1"].RetryWindowSeconds; got != DefaultSelfCheckRetryWindow {
		t.Fatalf("unset window loads as %d", got)
	}
	var buf bytes.Buffer
	if err := ExportYAML(&buf, r.Current(), TypeSelfCheck); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "retry_window_seconds: 60") {
		t.Fatalf("export without the window:\n%s", buf.String())
	}
	in := strings.Replace(buf.String(), "retry_window_seconds: 60", "retry_window_seconds: 25", 1)
	ps, err := ImportYAML(strings.NewReader(in), TypeSelfCheck)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Save(ctx, ps...); err != nil {
		t.Fatal(err)
	}
	if got := r.Current().SelfCheck["k1"].RetryWindowSeconds; got != 25 {
		t.Fatalf("imported window %d", got)
	}
}
