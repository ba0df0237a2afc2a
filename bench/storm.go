package bench

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// runStorm alternates reconnect storms against the echo and the server:
// all connections dial at once, handshake, log in (93) and send 99, then
// close. A window's throughput is connections per second of its storm
// and its latencies are each session's time to a good 98.
func runStorm(ctx context.Context, cfg Config, rep *Report, parties []Party) (*Report, error) {
	status, _ := MixByName("status-poll")
	for k := 0; k < cfg.Windows && ctx.Err() == nil; k++ {
		for _, t := range []struct {
			name string
			st   SIPTarget
			pid  int
		}{{"echo", cfg.Echo, cfg.EchoPID}, {"server", cfg.Server, cfg.ServerPID}} {
			w := WindowResult{Target: t.name, ErrorKinds: map[string]uint64{}}
			cpu0, host0 := procCPU(t.pid), readHostCPU()
			hists := make([]Histogram, len(parties))
			conns := make([]*sipConn, len(parties))
			failed := make([]string, len(parties))
			gate := make(chan struct{})
			var wg sync.WaitGroup
			for i, p := range parties {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-gate
					t0 := time.Now()
					c, err := newSIPConn(ctx, t.st, cfg.Login, p, status, t0, cfg.Timeout)
					hists[i].Record(time.Since(t0))
					if err != nil {
						failed[i] = setupKind(err)
					} else {
						conns[i] = c
					}
				}()
			}
			start := time.Now()
			close(gate)
			wg.Wait()
			w.secs = time.Since(start).Seconds()
			for i, c := range conns {
				if c != nil {
					c.close()
				}
				if failed[i] != "" {
					w.ErrorKinds[failed[i]]++
					w.Errors++
				} else {
					w.Requests++
				}
				w.hist.Merge(&hists[i])
			}
			w.Throughput = float64(w.Requests) / w.secs
			w.P50, w.P99, w.Max = ms(w.hist.Quantile(0.5)), ms(w.hist.Quantile(0.99)), ms(w.hist.Max())
			if cpu1 := procCPU(t.pid); cpu0 >= 0 && cpu1 >= 0 && w.Requests > 0 {
				w.CPUPerReq = float64(cpu1-cpu0) / float64(w.Requests)
			}
			w.StealPct = stealPct(host0, readHostCPU())
			rep.Windows = append(rep.Windows, w)
			progress(cfg, "storm %d/%d %-6s %d sessions in %.0f ms  p99 %.1f ms  failures %d",
				k+1, cfg.Windows, t.name, w.Requests, w.secs*1000, w.P99, w.Errors)
			// Let the closed sessions drain before the next storm.
			time.Sleep(cfg.Window)
		}
	}
	rep.RSSKiB = procRSS(cfg.ServerPID)
	rep.finish(nil, nil)
	return rep, nil
}

// setupKind names why a session could not be set up.
func setupKind(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return ErrSetup + "/timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return ErrSetup + "/refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, syscall.EPIPE):
		return ErrSetup + "/closed"
	case errors.As(err, new(*tls.CertificateVerificationError)):
		return ErrSetup + "/certificate"
	}
	return ErrSetup + "/other"
}

// runIdle measures memory per idle session: for each target in turn it
// opens every session (93, 99), lets the server settle for a window, and
// divides the growth of the server's resident set by the sessions. One
// target at a time, so the generator needs file descriptors for one set.
// It runs one pair only: a Go process keeps freed memory for minutes, so a
// second set of sessions would reuse the first one's pages and measure
// nothing.
func runIdle(ctx context.Context, cfg Config, rep *Report, parties []Party) (*Report, error) {
	status, _ := MixByName("status-poll")
	var sKiB, eKiB []float64
	for k := 0; k < 1 && ctx.Err() == nil; k++ {
		for _, t := range []struct {
			name string
			st   SIPTarget
			pid  int
		}{{"echo", cfg.Echo, cfg.EchoPID}, {"server", cfg.Server, cfg.ServerPID}} {
			w := WindowResult{Target: t.name, ErrorKinds: map[string]uint64{}}
			rss0 := procRSS(t.pid)
			start := time.Now()
			conns, err := connectAll(parties, func(p Party) (loadConn, error) {
				t0 := time.Now()
				c, err := newSIPConn(ctx, t.st, cfg.Login, p, status, t0, cfg.Timeout)
				if err == nil {
					c.hist.Record(time.Since(t0))
				}
				return c, err
			})
			if err != nil {
				return nil, fmt.Errorf("%s: %w", t.name, err)
			}
			w.secs = time.Since(start).Seconds()
			select {
			case <-ctx.Done():
			case <-time.After(cfg.Window):
			}
			rss1 := procRSS(t.pid)
			for _, c := range conns {
				w.hist.Merge(&c.stats().hist)
				c.close()
			}
			w.Requests = uint64(len(conns))
			w.Throughput = float64(w.Requests) / w.secs
			w.P50, w.P99, w.Max = ms(w.hist.Quantile(0.5)), ms(w.hist.Quantile(0.99)), ms(w.hist.Max())
			if rss0 > 0 && rss1 > 0 {
				w.KiBPerConn = float64(rss1-rss0) / float64(len(conns))
				if t.name == "server" {
					sKiB = append(sKiB, w.KiBPerConn)
				} else {
					eKiB = append(eKiB, w.KiBPerConn)
				}
			}
			rep.Windows = append(rep.Windows, w)
			progress(cfg, "idle %-6s %d sessions: %.1f KiB each (RSS %d → %d KiB)", t.name, len(conns), w.KiBPerConn, rss0, rss1)
			// Let the server release the closed sessions before the next set.
			select {
			case <-ctx.Done():
			case <-time.After(cfg.Window):
			}
		}
	}
	rep.finish(nil, nil)
	rep.IdleKiB, rep.EchoIdleKiB = median(sKiB), median(eKiB)
	return rep, nil
}
