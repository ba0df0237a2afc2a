package tlsproxy

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The idle-connection memory measurement runs its clients in a child process (this test binary started again with
// memClientEnv set), so the server process's heap holds only the server side of each connection.
const (
	memClientEnv = "TLSPROXY_MEM_CLIENT" // server address
	memCountEnv  = "TLSPROXY_MEM_CONNS"
	memCAEnv     = "TLSPROXY_MEM_CA"
	memConns     = 2000
	memHello     = "9900302.00\r"
)

// runMemClient is the child: it opens the connections, does one SIP2-sized exchange on each, says "ready" on
// stdout and holds them until stdin closes.
func runMemClient() int {
	addr := os.Getenv(memClientEnv)
	n, err := strconv.Atoi(os.Getenv(memCountEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	pem, err := os.ReadFile(os.Getenv(memCAEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	cfg := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
	conns := make([]net.Conn, n)
	errs := make(chan error, n)
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	for i := range conns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := tls.Dial("tcp", addr, cfg)
			if err != nil {
				errs <- err
				return
			}
			conns[i] = c
			c.SetDeadline(time.Now().Add(30 * time.Second))
			if _, err := io.WriteString(c, memHello); err != nil {
				errs <- err
				return
			}
			if _, err := bufio.NewReaderSize(c, 64).ReadString('\r'); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		c.Close()
	}
	return 0
}

// BenchmarkIdleTLSConnMemory measures the server-side memory of idle TLS connections, each with its goroutine
// blocked in a read through a 1 KiB bufio.Reader after one exchange, the way a SIP2 server holds a kiosk between
// messages. Run it with -benchtime=1x; it reports heap+stack and RSS growth per connection.
func BenchmarkIdleTLSConnMemory(b *testing.B) {
	pki := newPKI(b)
	sc := pki.serverConfig(b, ClientCertNone)
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	l := NewListener(inner, sc.TLSConfig(), 10*time.Second)
	defer l.Close()

	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	defer func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				if err := Handshake(c, 10*time.Second); err != nil {
					return
				}
				r := bufio.NewReaderSize(c, 1024)
				for {
					line, err := r.ReadString('\r')
					if err != nil {
						return
					}
					if _, err := io.WriteString(c, line); err != nil {
						return
					}
				}
			}()
		}
	}()

	for b.Loop() {
		before := memNow()
		child := exec.Command(os.Args[0], "-test.run=^$")
		child.Env = append(os.Environ(),
			memClientEnv+"="+l.Addr().String(),
			memCountEnv+"="+strconv.Itoa(memConns),
			memCAEnv+"="+filepath.Join(pki.dir, CACertFile))
		stdin, err := child.StdinPipe()
		if err != nil {
			b.Fatal(err)
		}
		stdout, err := child.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		child.Stderr = os.Stderr
		if err := child.Start(); err != nil {
			b.Fatal(err)
		}
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil || strings.TrimSpace(line) != "ready" {
			stdin.Close()
			child.Wait()
			b.Fatalf("client process: %q, %v", line, err)
		}
		after := memNow()
		stdin.Close()
		if err := child.Wait(); err != nil {
			b.Fatal(err)
		}
		perConn := func(a, b int64) float64 { return float64(a-b) / memConns / 1024 }
		b.ReportMetric(perConn(after.heap, before.heap), "heap-KiB/conn")
		b.ReportMetric(perConn(after.stack, before.stack), "stack-KiB/conn")
		if before.rss > 0 && after.rss > 0 {
			b.ReportMetric(perConn(after.rss, before.rss), "RSS-KiB/conn")
		}
	}
}

type memSample struct{ heap, stack, rss int64 }

// memNow returns the live heap and goroutine stacks after a collection, and the resident set size (0 if unknown).
// RSS only grows within a process, so it is meaningful for the first run of the benchmark.
func memNow() memSample {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m := memSample{heap: int64(ms.HeapAlloc), stack: int64(ms.StackInuse)}
	if b, err := os.ReadFile("/proc/self/statm"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 1 {
			if pages, err := strconv.ParseInt(f[1], 10, 64); err == nil {
				m.rss = pages * int64(os.Getpagesize())
			}
		}
	}
	return m
}
