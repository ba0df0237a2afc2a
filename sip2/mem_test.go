package sip2

import (
	"bufio"
	"context"
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// idleConns opens n connections to addr, runs one login on each and leaves
// them idle.
func idleConns(b *testing.B, addr string, n int, login bool) []net.Conn {
	conns := make([]net.Conn, 0, n)
	frame := []byte(sign(loginFrame, "0"))
	for i := 0; i < n; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatalf("dial %d: %v", i, err)
		}
		conns = append(conns, c)
		if login {
			c.Write(frame)
			if _, err := bufio.NewReaderSize(c, 16).ReadString('\r'); err != nil {
				b.Fatalf("login %d: %v", i, err)
			}
		}
	}
	return conns
}

func inUse() (heapAndStack, stack uint64) {
	for range 4 { // each collection halves an oversized stack at most once
		runtime.GC()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse + ms.StackInuse, ms.StackInuse
}

// BenchmarkIdleConnMemory measures heap and stack per idle, logged-in plain
// connection with 5,000 of them open, with a logger enabled as in production. The figure includes the test's own
// client socket; "raw-KiB/conn" is the same measure for bare accepted sockets
// without any server goroutine, so the difference is what the sip2 server
// adds per connection. Run with -benchtime=1x.
func BenchmarkIdleConnMemory(b *testing.B) {
	const n = 5000
	for b.Loop() {
		// Baseline: accepted sockets held without a goroutine.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		accepted := make(chan net.Conn, n)
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					close(accepted)
					return
				}
				accepted <- c
			}
		}()
		before, _ := inUse()
		raw := idleConns(b, l.Addr().String(), n, false)
		for len(accepted) < n {
			runtime.Gosched()
		}
		after, _ := inUse()
		rawPer := float64(after-before) / n / 1024
		l.Close()
		for _, c := range raw {
			c.Close()
		}
		for c := range accepted {
			c.Close()
		}

		// The sip2 server with n idle kiosks, logging JSON like production.
		h := &testHandler{}
		srv := NewServer(&Options{Handler: h, Location: time.UTC, Logger: zerolog.New(io.Discard).Level(zerolog.InfoLevel)})
		l2, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- srv.Serve(l2) }()
		before, stackBefore := inUse()
		conns := idleConns(b, l2.Addr().String(), n, true)
		after, stackAfter := inUse()
		per := float64(after-before) / n / 1024
		b.ReportMetric(per, "KiB/conn")
		b.ReportMetric(float64(stackAfter-stackBefore)/n/1024, "stack-KiB/conn")
		b.ReportMetric(rawPer, "raw-KiB/conn")
		b.ReportMetric(per-rawPer, "sip2-KiB/conn")
		for _, c := range conns {
			c.Close()
		}
		srv.Shutdown(context.Background())
		<-done
	}
}
