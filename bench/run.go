package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Load models.
const (
	Closed = "closed" // N connections, no think time: throughput
	Open   = "open"   // a fixed total rate, Poisson per connection: latency
	Storm  = "storm"  // N connections connect, log in and send 99 at once
	Idle   = "idle"   // N sessions held open: server memory per session
)

// Config describes one benchmark run. The server and the echo baseline
// are driven by the same generator in alternating windows, echo first.
type Config struct {
	Protocol    string // "sip2" (default) or "ncip"
	Mix         string
	Load        string        // Closed (default), Open or Storm
	Conns       int           // connections per target
	Rate        float64       // Open: total requests per second
	Windows     int           // pairs of windows (echo, server)
	Window      time.Duration // length of each window
	MaxRequests uint64        // stop once the server has answered this many (0: no cap)
	Timeout     time.Duration // per request (default 10 s)
	Login       Login

	// Server and Echo are the SIP2 targets. For NCIP, NCIPServer and
	// NCIPEcho are driven and Server still finds patrons and items.
	Server, Echo         SIPTarget
	NCIPServer, NCIPEcho NCIPTarget
	Agencies             NCIPAgencies
	ServerPID, EchoPID   int // local processes to read /proc from (0: none)
	// MetricsURL is the server's Prometheus endpoint; its store counters
	// give the commits and operations per commit of each window.
	MetricsURL string

	// StoreDir is where the store's commit limits are measured before a
	// write mix ("" skips); StoreTime is each measurement's length.
	StoreDir  string
	StoreTime time.Duration

	// CrashAt kills the server (Kill) after this much load on it; the run
	// then ends and Report.Writes holds what the crash check verifies.
	// SIP2 only.
	CrashAt time.Duration
	Kill    func() error

	Progress io.Writer // one line per window; nil: quiet
}

// WindowResult is one window's figures.
type WindowResult struct {
	Target     string            `json:"target"` // "echo" or "server"
	Requests   uint64            `json:"requests"`
	Throughput float64           `json:"throughput_rps"`
	P50        float64           `json:"p50_ms"`
	P99        float64           `json:"p99_ms"`
	Max        float64           `json:"max_ms"`
	Errors     uint64            `json:"errors"`
	ErrorKinds map[string]uint64 `json:"error_kinds,omitempty"`
	CPUPerReq  float64           `json:"cpu_us_per_req,omitempty"`
	KiBPerConn float64           `json:"kib_per_conn,omitempty"`
	Commits    float64           `json:"commits_per_s,omitempty"`
	OpsCommit  float64           `json:"ops_per_commit,omitempty"`
	StealPct   float64           `json:"steal_pct"`
	Killed     bool              `json:"killed,omitempty"` // the server was killed in this window (--crash-at)
	hist       Histogram
	writes     uint64
	secs       float64
}

// Writes are the writes a connection sent to its item during a run, in
// order, and when the run's writes began: what the crash check verifies.
type Writes struct {
	Party
	Since time.Time
	log   []write
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// target is one side of the comparison with its open connections.
type target struct {
	name  string
	pid   int
	conns []loadConn
}

// Run measures the server against the echo baseline.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	var mix Mix
	var nmix ncipMix
	var err error
	if cfg.Protocol == "ncip" {
		if nmix, err = ncipMixByName(cfg.Mix); err != nil {
			return nil, err
		}
		if cfg.Load == Storm || cfg.Load == Idle {
			return nil, errors.New("the storm and idle loads are SIP2 only")
		}
		mix = Mix{Name: nmix.name, Write: nmix.write}
	} else if mix, err = MixByName(cfg.Mix); err != nil {
		return nil, err
	}
	if cfg.Conns < 1 || cfg.Windows < 1 || cfg.Window <= 0 {
		return nil, errors.New("conns, windows and window length must be positive")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Load == "" {
		cfg.Load = Closed
	}
	rep := newReport(cfg, mix)
	if mix.Write && cfg.StoreDir != "" && cfg.Load != Storm && cfg.Load != Idle {
		st := cfg.StoreTime
		if st <= 0 {
			st = time.Second
		}
		progress(cfg, "measuring the store's commit limits in %s (%d writers)", cfg.StoreDir, min(cfg.Conns, 1000))
		lim, err := MeasureStore(ctx, cfg.StoreDir, min(cfg.Conns, 1000), st)
		if err != nil {
			return nil, err
		}
		rep.Store = &lim
	}
	progress(cfg, "finding %d patrons and items on %s", cfg.Conns, cfg.Server.Addr)
	parties, patrons, err := Discover(ctx, cfg.Server, cfg.Login, cfg.Conns, mix.Write && cfg.Load != Storm && cfg.Load != Idle, cfg.Timeout)
	if err != nil {
		return nil, err
	}
	rep.Patrons = patrons
	switch cfg.Load {
	case Storm:
		return runStorm(ctx, cfg, rep, parties)
	case Idle:
		return runIdle(ctx, cfg, rep, parties)
	}

	echo := &target{name: "echo", pid: cfg.EchoPID}
	server := &target{name: "server", pid: cfg.ServerPID}
	defer echo.close()
	defer server.close()
	now := time.Now()
	for _, t := range []*target{echo, server} {
		st, nt := cfg.Echo, cfg.NCIPEcho
		if t == server {
			st, nt = cfg.Server, cfg.NCIPServer
		}
		dial := func(p Party) (loadConn, error) { return newSIPConn(ctx, st, cfg.Login, p, mix, now, cfg.Timeout) }
		where := st.Addr
		if cfg.Protocol == "ncip" {
			dial = func(p Party) (loadConn, error) { return newNCIPConn(ctx, nt, cfg.Agencies, p, nmix, cfg.Timeout) }
			where = nt.URL
		}
		progress(cfg, "connecting %d sessions to %s (%s)", cfg.Conns, t.name, where)
		if t.conns, err = connectAll(parties, dial); err != nil {
			return nil, fmt.Errorf("%s: %w", t.name, err)
		}
	}
	if cfg.CrashAt > 0 {
		for _, lc := range server.conns {
			if c, ok := lc.(*sipConn); ok {
				c.writeLog = make([]write, 0, 64)
			}
		}
	}
	rep.RSSConnectedKiB = procRSS(cfg.ServerPID)
	rep.EchoRSSConnectedKiB = procRSS(cfg.EchoPID)

	var serverTime time.Duration
	var crashed atomic.Bool
	// Loans the check looks at are those made from here on: the claims of
	// Discover were answered before.
	since := time.Now()
	// The request cap is shared out over the windows, so every window
	// stays bounded by count as well as by time.
	perWindow := int64(math.MaxInt64)
	if cfg.MaxRequests > 0 {
		perWindow = max(1, int64(cfg.MaxRequests)/int64(2*cfg.Windows))
	}
	for k := 0; k < cfg.Windows && ctx.Err() == nil; k++ {
		for _, t := range []*target{echo, server} {
			var stop *time.Timer
			if t == server && cfg.Kill != nil && cfg.CrashAt > 0 && !crashed.Load() && serverTime+cfg.Window > cfg.CrashAt {
				// Never at a window's edge, where nothing is in flight.
				at := min(max(cfg.CrashAt-serverTime, cfg.Window/10), cfg.Window*9/10)
				stop = time.AfterFunc(at, func() {
					crashed.Store(true)
					cfg.Kill()
				})
			}
			var budget atomic.Int64
			budget.Store(perWindow)
			w := runWindow(ctx, cfg, t, &budget)
			if stop != nil {
				stop.Stop()
				w.Killed = crashed.Load()
			}
			if t == server {
				serverTime += cfg.Window
			}
			rep.Windows = append(rep.Windows, w)
			progress(cfg, "window %d/%d %-6s %8.0f req/s  p50 %.3f ms  p99 %.3f ms  errors %d",
				k+1, cfg.Windows, t.name, w.Throughput, w.P50, w.P99, w.Errors)
		}
		if crashed.Load() {
			break
		}
	}
	rep.RSSKiB = procRSS(cfg.ServerPID)
	rep.EchoRSSKiB = procRSS(cfg.EchoPID)
	rep.finish(server.conns, echo.conns)
	if crashed.Load() {
		rep.Crashed = true
		for _, lc := range server.conns {
			if c, ok := lc.(*sipConn); ok {
				rep.Writes = append(rep.Writes, Writes{Party: c.party, Since: since, log: c.writeLog})
			}
		}
	}
	return rep, nil
}

func progress(cfg Config, format string, args ...any) {
	if cfg.Progress != nil {
		fmt.Fprintf(cfg.Progress, "circa bench: "+format+"\n", args...)
	}
}

func (t *target) close() {
	for _, c := range t.conns {
		c.close()
	}
}

// connectAll opens one session per party, 64 at a time.
func connectAll(parties []Party, dial func(Party) (loadConn, error)) ([]loadConn, error) {
	conns := make([]loadConn, len(parties))
	errs := make([]error, len(parties))
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	for i, p := range parties {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := dial(p)
			if err != nil {
				errs[i] = err
				return
			}
			conns[i] = c
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, c := range conns {
			if c != nil {
				c.close()
			}
		}
		return nil, err
	}
	return conns, nil
}

// runWindow drives every live connection of t for one window.
func runWindow(ctx context.Context, cfg Config, t *target, budget *atomic.Int64) WindowResult {
	for _, lc := range t.conns {
		c := lc.stats()
		c.hist.Reset()
		c.done, c.writes = 0, 0
		clear(c.errs)
	}
	var m0 storeCounters
	if t.name == "server" {
		m0 = scrapeStore(metricsClient, cfg.MetricsURL)
	}
	cpu0, host0 := procCPU(t.pid), readHostCPU()
	start := time.Now()
	end := start.Add(cfg.Window)
	var wg sync.WaitGroup
	perConn := cfg.Rate / float64(len(t.conns))
	for i, c := range t.conns {
		if c.stats().dead {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if cfg.Load == Open {
				openLoop(ctx, c, perConn, start, end, uint64(i))
				return
			}
			for ctx.Err() == nil && !c.stats().dead && time.Now().Before(end) {
				if budget.Add(-1) < 0 {
					return
				}
				c.next(time.Time{})
			}
		}()
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	w := WindowResult{Target: t.name, secs: secs, ErrorKinds: map[string]uint64{}}
	for _, lc := range t.conns {
		c := lc.stats()
		w.hist.Merge(&c.hist)
		w.Requests += c.done
		for k, v := range c.errs {
			w.ErrorKinds[k] += v
			w.Errors += v
		}
		w.writes += c.writes
	}
	w.Throughput = float64(w.Requests) / secs
	w.P50, w.P99, w.Max = ms(w.hist.Quantile(0.5)), ms(w.hist.Quantile(0.99)), ms(w.hist.Max())
	if cpu1 := procCPU(t.pid); cpu0 >= 0 && cpu1 >= 0 && w.Requests > 0 {
		w.CPUPerReq = float64(cpu1-cpu0) / float64(w.Requests)
	}
	w.StealPct = stealPct(host0, readHostCPU())
	if m0.ok {
		if m1 := scrapeStore(metricsClient, cfg.MetricsURL); m1.ok && m1.commits > m0.commits {
			w.Commits = (m1.commits - m0.commits) / secs
			w.OpsCommit = (m1.ops - m0.ops) / (m1.commits - m0.commits)
		}
	}
	return w
}

// openLoop sends at Poisson-distributed intended times at rate per second
// and measures each latency from its intended time, so a server that
// falls behind shows its queue instead of slowing the generator down.
func openLoop(ctx context.Context, c loadConn, rate float64, start, end time.Time, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, uint64(start.UnixNano())))
	next := start.Add(time.Duration(rng.ExpFloat64() / rate * float64(time.Second)))
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for ctx.Err() == nil && !c.stats().dead && next.Before(end) {
		if d := time.Until(next); d > 0 {
			timer.Reset(d)
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
		}
		c.next(next)
		next = next.Add(time.Duration(rng.ExpFloat64() / rate * float64(time.Second)))
	}
}

// median of a non-empty slice (0 when empty).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
