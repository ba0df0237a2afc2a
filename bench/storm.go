package bench

import (
	"context"
	"sync"
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
			failed := make([]bool, len(parties))
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
					conns[i], failed[i] = c, err != nil
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
				if failed[i] {
					w.ErrorKinds[ErrSetup]++
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
	rep.finish(nil)
	return rep, nil
}
