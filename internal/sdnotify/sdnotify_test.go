package sdnotify

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// listen opens a unixgram socket as systemd does and returns its name for
// NOTIFY_SOCKET.
func listen(t *testing.T, name string) *net.UnixConn {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Net: "unixgram", Name: name})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func receive(t *testing.T, c *net.UnixConn, wait time.Duration) (string, bool) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return "", false
		}
		t.Fatal(err)
	}
	return string(buf[:n]), true
}

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestNotifyReachesAPathAndAnAbstractSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify")
	abstract := fmt.Sprintf("@circa-sdnotify-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	for _, name := range []string{path, abstract} {
		sock := listen(t, name)
		n, err := fromEnv(env(map[string]string{"NOTIFY_SOCKET": name}), os.Getpid())
		if err != nil || n == nil {
			t.Fatalf("%s: %v %v", name, n, err)
		}
		if err := n.Notify(Ready, "STATUS=serving"); err != nil {
			t.Fatal(err)
		}
		if got, ok := receive(t, sock, 5*time.Second); !ok || got != "READY=1\nSTATUS=serving" {
			t.Fatalf("%s: got %q", name, got)
		}
		if err := n.Notify(Stopping); err != nil {
			t.Fatal(err)
		}
		if got, _ := receive(t, sock, 5*time.Second); got != "STOPPING=1" {
			t.Fatalf("%s: got %q", name, got)
		}
	}
}

func TestWithoutSystemdNothingIsSent(t *testing.T) {
	n, err := fromEnv(env(nil), os.Getpid())
	if err != nil || n != nil {
		t.Fatalf("%v %v", n, err)
	}
	if err := n.Notify(Ready); err != nil {
		t.Fatal(err)
	}
	if d := n.WatchdogInterval(); d != 0 {
		t.Fatal(d)
	}
	n.RunWatchdog(context.Background(), func(context.Context) error { t.Fatal("checked"); return nil }, nil)
}

func TestEnvironmentErrorsAndTheWatchdogsOwner(t *testing.T) {
	pid := os.Getpid()
	for _, c := range []struct {
		vars map[string]string
		want time.Duration
		bad  bool
	}{
		{vars: map[string]string{"NOTIFY_SOCKET": "relative/path"}, bad: true},
		{vars: map[string]string{"NOTIFY_SOCKET": "/run/n", "WATCHDOG_USEC": "30000000"}, want: 30 * time.Second},
		{vars: map[string]string{"NOTIFY_SOCKET": "/run/n", "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": strconv.Itoa(pid)}, want: 30 * time.Second},
		// A child that inherited its parent's watchdog must not feed it.
		{vars: map[string]string{"NOTIFY_SOCKET": "/run/n", "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": strconv.Itoa(pid + 1)}},
		{vars: map[string]string{"NOTIFY_SOCKET": "/run/n", "WATCHDOG_USEC": "0"}, bad: true},
		{vars: map[string]string{"NOTIFY_SOCKET": "/run/n", "WATCHDOG_USEC": "-5"}, bad: true},
		{vars: map[string]string{"NOTIFY_SOCKET": "/run/n", "WATCHDOG_USEC": "99999999999999999999"}, bad: true},
	} {
		n, err := fromEnv(env(c.vars), pid)
		if c.bad {
			if err == nil {
				t.Errorf("%v: no error", c.vars)
			}
			continue
		}
		if err != nil {
			t.Errorf("%v: %v", c.vars, err)
			continue
		}
		if got := n.WatchdogInterval(); got != c.want {
			t.Errorf("%v: interval %s, want %s", c.vars, got, c.want)
		}
	}
}

// The watchdog is fed at half its interval while the health check passes,
// and starved while it fails, so that systemd restarts a server that can no
// longer do its work.
func TestWatchdogIsFedOnlyWhileHealthy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify")
	sock := listen(t, path)
	n, err := fromEnv(env(map[string]string{"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "200000"}), os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	var failing atomic.Bool
	var checks, reported atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		n.RunWatchdog(ctx, func(cctx context.Context) error {
			checks.Add(1)
			if _, ok := cctx.Deadline(); !ok {
				t.Error("health check without a deadline")
			}
			if failing.Load() {
				return errors.New("disk refused the commit")
			}
			return nil
		}, func(error) { reported.Add(1) })
	}()
	start := time.Now()
	for i := 0; i < 3; i++ {
		if got, ok := receive(t, sock, 5*time.Second); !ok || got != Watchdog {
			t.Fatalf("beat %d: %q", i, got)
		}
	}
	// Three beats: the first at once, then one per 100ms.
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("three beats in %s: faster than half the interval", d)
	}
	failing.Store(true)
	receive(t, sock, 150*time.Millisecond) // a beat already on its way
	if got, ok := receive(t, sock, 500*time.Millisecond); ok {
		t.Fatalf("fed while failing: %q", got)
	}
	if reported.Load() == 0 {
		t.Error("the failing check was not reported")
	}
	failing.Store(false)
	if got, ok := receive(t, sock, 5*time.Second); !ok || got != Watchdog {
		t.Fatalf("not fed again after recovery: %q", got)
	}
	cancel()
	<-done
	if checks.Load() < 5 {
		t.Errorf("%d checks", checks.Load())
	}
}

func TestNotifyReportsAMissingSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gone")
	n, err := fromEnv(env(map[string]string{"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "100000"}), os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Notify(Ready); err == nil {
		t.Fatal("no error for a socket nobody listens on")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n.RunWatchdog(ctx, func(context.Context) error { return nil }, func(err error) {
		if err == nil {
			t.Error("nil error reported")
		}
		cancel() // the watchdog keeps trying: a full socket buffer passes
	})
	if ctx.Err() == nil {
		t.Fatal("the undelivered beat was not reported")
	}
}
