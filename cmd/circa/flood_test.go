package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/circa-ils/circa/fixtures"
)

// floodFiles is the open-file limit of the server under the flood: low, so
// that more idle connections than it allows stay cheap to open.
const floodFiles = 1024

// TestFloodChildServe is the server of TestKioskLogsInUnderConnectionFlood:
// the test binary run again with a low open-file limit. It does nothing in
// a normal run.
func TestFloodChildServe(t *testing.T) {
	dir := os.Getenv("CIRCA_FLOOD_CHILD_DIR")
	if dir == "" {
		t.Skip("run by TestKioskLogsInUnderConnectionFlood")
	}
	// The soft limit below the hard one, as many systems start services:
	// serve raises it.
	lim := syscall.Rlimit{Cur: floodFiles / 2, Max: floodFiles}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	code := execute(ctx, []string{"serve", "--demo", "--data-dir", dir, "--http-addr", "127.0.0.1:0",
		"--sip2-addr", "127.0.0.1:0", "--sip2-tls-addr", "127.0.0.1:0", "--https-addr", "", "--log-level", "info"}, nil, os.Stdout, os.Stderr)
	if code != 0 {
		t.Fatalf("serve exited %d", code)
	}
}

// TestKioskLogsInUnderConnectionFlood opens more idle connections than the
// server's open-file limit, from a few sources (held back by the cap per
// source) and from many (held back by the total limit), and then a kiosk
// from another address logs in.
func TestKioskLogsInUnderConnectionFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 1,500 connections")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestFloodChildServe$", "-test.v")
	cmd.Env = append(os.Environ(), "CIRCA_FLOOD_CHILD_DIR="+seededDir(t))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	var sip2Addr, httpAddr string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() && (sip2Addr == "" || httpAddr == "") {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "sip2" {
			sip2Addr = f[1]
		}
		if len(f) >= 2 && f[0] == "http" {
			httpAddr = strings.TrimPrefix(f[1], "http://")
		}
	}
	go func() { io.Copy(io.Discard, stdout); exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("server: %v\n%s", err, stderr.String())
			}
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			t.Error("server did not stop")
		}
	})
	if sip2Addr == "" {
		t.Fatalf("no address printed:\n%s", stderr.String())
	}

	// The flood: 600 connections from 4 addresses and 900 from 30, none of
	// which logs in; 1,500 in all against a limit of 1,024 descriptors.
	var flood []net.Conn
	defer func() {
		for _, c := range flood {
			c.Close()
		}
	}()
	dial := func(src string) {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 2 * time.Second}
		if c, err := d.Dial("tcp", sip2Addr); err == nil {
			flood = append(flood, c)
		}
	}
	for i := range 600 {
		dial(fmt.Sprintf("127.0.0.%d", 2+i%4))
	}
	for i := range 900 {
		dial(fmt.Sprintf("127.0.1.%d", 2+i%30))
	}
	if len(flood) < 1200 {
		t.Fatalf("only %d flood connections opened", len(flood))
	}

	// A real kiosk from another address logs in.
	// The fastest of three tries must be prompt: a flood that starved the
	// kiosk slows every try, while one slow try is the shared machine's.
	kioskLogin := func(flood string) {
		t.Helper()
		fastest := time.Duration(1<<63 - 1)
		for range 3 {
			start := time.Now()
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.2.1")}, Timeout: 5 * time.Second}
			c, err := d.Dial("tcp", sip2Addr)
			if err != nil {
				t.Fatalf("kiosk dial: %v", err)
			}
			c.SetDeadline(time.Now().Add(5 * time.Second))
			fmt.Fprintf(c, "9300CN%s|CO%s|CPMAIN|\r", fixtures.KioskLogin, fixtures.KioskPassword)
			reply, err := bufio.NewReader(c).ReadString('\r')
			took := time.Since(start)
			c.Close()
			if err != nil || !strings.HasPrefix(reply, "941") {
				t.Fatalf("kiosk login under the %s flood: %q, %v (after %v)\n%s", flood, reply, err, took, stderr.String())
			}
			t.Logf("kiosk login under a %s flood: %v", flood, took)
			fastest = min(fastest, took)
		}
		if fastest > time.Second {
			t.Errorf("kiosk login took at best %v under the %s flood, want under 1 s", fastest, flood)
		}
	}
	kioskLogin(fmt.Sprintf("SIP2 (%d connections)", len(flood)))

	// The reserve left room for the HTTP side, and the refusals were counted.
	resp, err := http.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		t.Fatalf("metrics under the flood: %v", err)
	}
	resp.Body.Close()
	mfs := scrape(t, "http://"+httpAddr)
	for _, limit := range []string{"max_unauth_per_source", "max_conns"} {
		if v, _ := sample(mfs, "circa_sip2_connections_rejected_total", map[string]string{"limit": limit, "listener": "sip2"}); v == 0 {
			t.Errorf("no refusals by %s counted", limit)
		}
	}

	// Idle HTTP connections from many addresses take at most their share of
	// the reserve: kiosks still log in and accept never runs out.
	var httpFlood []net.Conn
	defer func() {
		for _, c := range httpFlood {
			c.Close()
		}
	}()
	for i := range 600 {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(fmt.Sprintf("127.0.3.%d", 2+i%30))}, Timeout: 2 * time.Second}
		if c, err := d.Dial("tcp", httpAddr); err == nil {
			httpFlood = append(httpFlood, c)
		}
	}
	kioskLogin("HTTP")
	for _, c := range httpFlood {
		c.Close()
	}
	httpFlood = nil
	for i := 0; ; i++ { // the closed connections give their places back as the server notices
		if resp, err := http.Get("http://" + httpAddr + "/metrics"); err == nil {
			resp.Body.Close()
			break
		}
		if i == 50 {
			t.Fatal("/metrics unreachable after the HTTP flood ended")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if v, _ := sample(scrape(t, "http://"+httpAddr), "circa_http_connections_rejected_total", map[string]string{"limit": "max_conns"}); v == 0 {
		t.Error("no HTTP refusals by max_conns counted")
	}

	logs := stderr.String()
	if !strings.Contains(logs, `"proto":"http","limit":"max_conns"`) {
		t.Errorf("the HTTP refusals were not logged:\n%s", grepLines(logs, "limit"))
	}
	want := fmt.Sprintf(`"open_files":%d,"max_conns":%d`, floodFiles, (floodFiles-fileReserve(floodFiles))/2)
	if !strings.Contains(logs, want) {
		t.Errorf("the connection limit does not follow the raised open-file limit (want %s):\n%s", want, grepLines(logs, "open_files"))
	}
	if n := strings.Count(logs, `"limit":"max_unauth_per_source","max":64,"source":"127.0.0.2"`); n != 1 {
		t.Errorf("%d log lines for the refusals from 127.0.0.2, want 1:\n%s", n, grepLines(logs, "127.0.0.2"))
	}
	if strings.Contains(logs, "too many open files") {
		t.Errorf("accept ran out of descriptors:\n%s", grepLines(logs, "too many open files"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
