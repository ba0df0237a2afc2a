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

// The idle-connection memory measurements run their clients (and, for the proxy, its upstream) in a child process:
// this test binary started again with memClientEnv set. The measuring process's heap then holds only the server
// side of each connection.
const (
	memClientEnv = "TLSPROXY_MEM_CLIENT" // "1"; the child reads what to dial from stdin
	memCountEnv  = "TLSPROXY_MEM_CONNS"
	memCAEnv     = "TLSPROXY_MEM_CA"
	memConns     = 2000
	memHello     = "9900302.00\r"
)

// runMemClient is the child. It starts a plain echo upstream and prints "upstream ADDR", reads the address to
// dial from stdin, opens the connections with one SIP2-sized exchange each, prints "ready" and holds them until
// stdin closes.
func runMemClient() int {
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "memory client:", err)
		return 1
	}
	n, err := strconv.Atoi(os.Getenv(memCountEnv))
	if err != nil {
		return fail(err)
	}
	pem, err := os.ReadFile(os.Getenv(memCAEnv))
	if err != nil {
		return fail(err)
	}
	up, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	go func() {
		for {
			c, err := up.Accept()
			if err != nil {
				return
			}
			go func() {
				io.Copy(c, c)
				c.Close()
			}()
		}
	}()
	fmt.Println("upstream", up.Addr())
	in := bufio.NewReader(os.Stdin)
	addr, err := in.ReadString('\n')
	if err != nil {
		return fail(err)
	}
	addr = strings.TrimSpace(addr)

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
	if err, failed := <-errs; failed {
		return fail(err)
	}
	fmt.Println("ready")
	io.Copy(io.Discard, in)
	for _, c := range conns {
		c.Close()
	}
	up.Close()
	return 0
}

// BenchmarkIdleTLSConnMemory measures the server-side memory of idle TLS connections, each with its goroutine
// blocked in a read through a 1 KiB bufio.Reader after one exchange, the way a SIP2 server holds a kiosk between
// messages. Run it with -benchtime=1x; it reports heap, stack and RSS growth per connection.
func BenchmarkIdleTLSConnMemory(b *testing.B) {
	pki := newPKI(b)
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	l := NewListener(inner, pki.serverConfig(b, ClientCertNone).TLSConfig(), 10*time.Second)
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
		measureIdle(b, pki, func(string) string { return l.Addr().String() })
	}
}

// BenchmarkIdleProxyConnMemory measures the Proxy's memory per idle relayed connection: the TLS side, the
// upstream TCP side, two goroutines and two copy buffers. Run it with -benchtime=1x.
func BenchmarkIdleProxyConnMemory(b *testing.B) {
	pki := newPKI(b)
	tlsCfg := pki.serverConfig(b, ClientCertNone).TLSConfig()
	for b.Loop() {
		var (
			p    *Proxy
			done = make(chan error, 1)
		)
		measureIdle(b, pki, func(upstream string) string {
			var err error
			if p, err = NewProxy(&ProxyOptions{Upstream: upstream, TLSConfig: tlsCfg}); err != nil {
				b.Fatal(err)
			}
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			go func() { done <- p.Serve(l) }()
			return l.Addr().String()
		})
		p.Close()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	}
}

// measureIdle starts the child, lets start set up the server given the child's upstream address, and reports the
// growth of this process's memory per connection once the child holds memConns idle connections.
func measureIdle(b *testing.B, pki *testPKI, start func(upstream string) (addr string)) {
	b.Helper()
	before := memNow()
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(),
		memClientEnv+"=1",
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
	defer child.Wait()
	defer stdin.Close()
	out := bufio.NewReader(stdout)
	line, err := out.ReadString('\n')
	upstream, ok := strings.CutPrefix(strings.TrimSpace(line), "upstream ")
	if err != nil || !ok {
		b.Fatalf("child process: %q, %v", line, err)
	}
	if _, err := fmt.Fprintln(stdin, start(upstream)); err != nil {
		b.Fatal(err)
	}
	if line, err := out.ReadString('\n'); err != nil || strings.TrimSpace(line) != "ready" {
		b.Fatalf("child process: %q, %v", line, err)
	}
	after := memNow()
	perConn := func(a, b int64) float64 { return float64(a-b) / memConns / 1024 }
	b.ReportMetric(perConn(after.heap, before.heap), "heap-KiB/conn")
	b.ReportMetric(perConn(after.stack, before.stack), "stack-KiB/conn")
	if before.rss > 0 && after.rss > 0 {
		b.ReportMetric(perConn(after.rss, before.rss), "RSS-KiB/conn")
	}
}

type memSample struct{ heap, stack, rss int64 }

// memNow returns the live heap and goroutine stacks after a collection, and the resident set size (0 if unknown).
// RSS only grows within a process, so it is meaningful for the first run of a benchmark.
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
