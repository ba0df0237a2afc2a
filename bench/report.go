package bench

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is one run's result. Figures without an echo_ prefix are the
// server's; the echo's come from the same generator in the windows
// alternating with the server's. Ratios are medians of the pairwise
// ratios of adjacent (echo, server) windows.
type Report struct {
	Protocol string  `json:"protocol"`
	Mix      string  `json:"mix"`
	Load     string  `json:"load"`
	TLS      bool    `json:"tls"`
	Conns    int     `json:"conns"`
	Rate     float64 `json:"rate,omitempty"`
	Patrons  int     `json:"patrons,omitempty"` // distinct patrons the connections share
	WindowMS int64   `json:"window_ms"`
	Pairs    int     `json:"pairs"`

	Requests        uint64            `json:"requests"`
	Throughput      float64           `json:"throughput_rps"`
	WriteThroughput float64           `json:"write_throughput_rps,omitempty"`
	P50             float64           `json:"p50_ms"`
	P90             float64           `json:"p90_ms"`
	P99             float64           `json:"p99_ms"`
	P999            float64           `json:"p999_ms"`
	Max             float64           `json:"max_ms"`
	Errors          uint64            `json:"errors"`
	ErrorKinds      map[string]uint64 `json:"error_kinds"`
	ConnMin         uint64            `json:"conn_min_completions"`
	ConnMax         uint64            `json:"conn_max_completions"`
	ConnMinMax      float64           `json:"conn_min_max_ratio"`
	EchoConnMinMax  float64           `json:"echo_conn_min_max_ratio,omitempty"` // the generator's own fairness

	ServerCPUPerReq     float64 `json:"server_cpu_us_per_req,omitempty"`
	EchoCPUPerReq       float64 `json:"echo_cpu_us_per_req,omitempty"`
	RSSKiB              int64   `json:"server_rss_kib,omitempty"`
	RSSConnectedKiB     int64   `json:"server_rss_connected_kib,omitempty"`
	EchoRSSKiB          int64   `json:"echo_rss_kib,omitempty"`
	EchoRSSConnectedKiB int64   `json:"echo_rss_connected_kib,omitempty"`
	StealPct            float64 `json:"steal_pct"`
	IdleKiB             float64 `json:"idle_kib_per_conn,omitempty"`
	EchoIdleKiB         float64 `json:"echo_idle_kib_per_conn,omitempty"`

	EchoThroughput float64   `json:"echo_throughput_rps"`
	EchoP50        float64   `json:"echo_p50_ms"`
	EchoP99        float64   `json:"echo_p99_ms"`
	EchoP999       float64   `json:"echo_p999_ms"`
	RatioVsEcho    float64   `json:"ratio_vs_echo"`
	Ratios         []float64 `json:"ratios"`
	P99VsEcho      float64   `json:"p99_ratio_vs_echo"`

	Store              *StoreLimits `json:"store,omitempty"`
	GroupCommit        float64      `json:"group_commit_ops,omitempty"`
	FsyncUpdate        float64      `json:"fsync_update_ops,omitempty"`
	RatioVsGroupCommit float64      `json:"ratio_vs_group_commit,omitempty"`
	RatioVsFsync       float64      `json:"ratio_vs_fsync_update,omitempty"`
	ServerOpsCommit    float64      `json:"server_ops_per_commit,omitempty"`
	ServerCommits      float64      `json:"server_commits_per_s,omitempty"`

	Crash   *CrashResult   `json:"crash,omitempty"`
	Windows []WindowResult `json:"windows"`
	Host    Host           `json:"host"`

	Crashed bool     `json:"-"`
	Writes  []Writes `json:"-"`
	write   bool
}

// CrashResult is what the --crash-at check found after the restart. Every
// acknowledged write is checked against the store: a checkout made a loan
// of the item to its patron (or renewed the one it had), a checkin closed
// it, a renewal found it open, each in the order sent; and the store holds
// no loan of the run that the writes do not account for.
type CrashResult struct {
	KilledAfterMS int64 `json:"killed_after_ms"`
	Acked         int   `json:"acked"`   // acknowledged writes recorded
	Checked       int   `json:"checked"` // of those, found in the store
	Checkouts     int   `json:"checked_checkouts"`
	Checkins      int   `json:"checked_checkins"`
	Renewals      int   `json:"checked_renewals"`
	// Unanswered writes (in flight at the kill, or with a broken reply)
	// may or may not have happened: either is right.
	Unanswered int      `json:"unanswered"`
	Missing    []string `json:"missing"` // per item, the first acknowledged write the store does not show
	DBProblems []string `json:"db_problems"`
	// OK: something was checked, everything acknowledged was found, and
	// the store is consistent.
	OK bool `json:"ok"`
}

// Host records where the run happened.
type Host struct {
	CPU        string `json:"cpu"`
	NumCPU     int    `json:"num_cpu"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	Go         string `json:"go"`
	FS         string `json:"fs,omitempty"`
	Time       string `json:"time"`
}

func newReport(cfg Config, mix Mix) *Report {
	proto := cfg.Protocol
	if proto == "" {
		proto = "sip2"
	}
	return &Report{Protocol: proto, Mix: mix.Name, Load: cfg.Load, TLS: cfg.Server.TLS != nil, Conns: cfg.Conns,
		Rate: cfg.Rate, WindowMS: cfg.Window.Milliseconds(), ErrorKinds: map[string]uint64{}, write: mix.Write,
		Ratios: []float64{}, Windows: []WindowResult{}, Host: hostInfo(cfg.StoreDir)}
}

func hostInfo(dir string) Host {
	h := Host{NumCPU: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), Go: runtime.Version(),
		Time: time.Now().UTC().Format(time.RFC3339)}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				h.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if dir != "" {
		h.FS = fsOf(dir)
	}
	return h
}

// fsOf names the file system holding dir, from /proc/mounts (longest
// mount point that is a prefix of dir).
func fsOf(dir string) string {
	b, err := os.ReadFile("/proc/mounts")
	if err != nil {
		return ""
	}
	best, fs := -1, ""
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 4 {
			continue
		}
		mp := f[1]
		if (dir == mp || strings.HasPrefix(dir, strings.TrimSuffix(mp, "/")+"/")) && len(mp) > best {
			best, fs = len(mp), f[2]+" "+f[0]+" ("+f[3]+")"
		}
	}
	return fs
}

// finish computes the aggregate figures from the windows.
func (r *Report) finish(serverConns, echoConns []loadConn) {
	var sh, eh Histogram
	var sTP, eTP, sCPU, eCPU, sP99, eP99, steal, commits, opsCommit []float64
	var writes uint64
	var secs float64
	for i := range r.Windows {
		w := &r.Windows[i]
		steal = append(steal, w.StealPct)
		if w.Killed {
			continue // partial by design: left out of every aggregate
		}
		if w.Target == "server" {
			sh.Merge(&w.hist)
			r.Requests += w.Requests
			r.Errors += w.Errors
			for k, v := range w.ErrorKinds {
				r.ErrorKinds[k] += v
			}
			sTP = append(sTP, w.Throughput)
			sP99 = append(sP99, w.P99)
			writes += w.writes
			secs += w.secs
			if w.CPUPerReq > 0 {
				sCPU = append(sCPU, w.CPUPerReq)
			}
			if w.Commits > 0 {
				commits, opsCommit = append(commits, w.Commits), append(opsCommit, w.OpsCommit)
			}
			// The window before a server window is its echo partner.
			if i > 0 && r.Windows[i-1].Target == "echo" && r.Windows[i-1].Throughput > 0 {
				e := &r.Windows[i-1]
				r.Ratios = append(r.Ratios, w.Throughput/e.Throughput)
			}
		} else {
			eh.Merge(&w.hist)
			eTP = append(eTP, w.Throughput)
			eP99 = append(eP99, w.P99)
			if w.CPUPerReq > 0 {
				eCPU = append(eCPU, w.CPUPerReq)
			}
		}
	}
	r.Pairs = len(r.Ratios)
	r.Throughput, r.EchoThroughput = median(sTP), median(eTP)
	if secs > 0 && r.write {
		r.WriteThroughput = float64(writes) / secs
	}
	r.P50, r.P90, r.P99 = ms(sh.Quantile(0.5)), ms(sh.Quantile(0.9)), ms(sh.Quantile(0.99))
	r.P999, r.Max = ms(sh.Quantile(0.999)), ms(sh.Max())
	r.EchoP50, r.EchoP99, r.EchoP999 = ms(eh.Quantile(0.5)), ms(eh.Quantile(0.99)), ms(eh.Quantile(0.999))
	r.RatioVsEcho = median(r.Ratios)
	var p99r []float64
	for i := 0; i < len(sP99) && i < len(eP99); i++ {
		if eP99[i] > 0 {
			p99r = append(p99r, sP99[i]/eP99[i])
		}
	}
	r.P99VsEcho = median(p99r)
	r.ServerCPUPerReq, r.EchoCPUPerReq = median(sCPU), median(eCPU)
	r.StealPct = median(steal)
	r.ServerCommits, r.ServerOpsCommit = median(commits), median(opsCommit)
	r.ConnMin, r.ConnMax = completionRange(serverConns)
	if r.ConnMax > 0 {
		r.ConnMinMax = float64(r.ConnMin) / float64(r.ConnMax)
	}
	if lo, hi := completionRange(echoConns); hi > 0 {
		r.EchoConnMinMax = float64(lo) / float64(hi)
	}
	if r.Store != nil {
		r.GroupCommit, r.FsyncUpdate = r.Store.GroupCommit, r.Store.FsyncUpdate
		if r.GroupCommit > 0 {
			r.RatioVsGroupCommit = r.WriteThroughput / r.GroupCommit
		}
		if r.FsyncUpdate > 0 {
			r.RatioVsFsync = r.WriteThroughput / r.FsyncUpdate
		}
	}
}

// WriteTable writes the report for people.
func (r *Report) WriteTable(w io.Writer) {
	tls := "TCP"
	if r.TLS {
		tls = "TLS"
	}
	fmt.Fprintf(w, "circa bench %s, mix %s, %s load, %d conns over %s", r.Protocol, r.Mix, r.Load, r.Conns, tls)
	if r.Rate > 0 {
		fmt.Fprintf(w, " at %.0f req/s", r.Rate)
	}
	fmt.Fprintf(w, ", %d pairs of %d ms windows\n", r.Pairs, r.WindowMS)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "window\ttarget\treq/s\tp50 ms\tp99 ms\tmax ms\terrors\tcpu µs/req\tsteal %\t")
	for i, win := range r.Windows {
		target := win.Target
		if win.Killed {
			target += " (killed)"
		}
		fmt.Fprintf(tw, "%d\t%s\t%.0f\t%.3f\t%.3f\t%.3f\t%d\t%.1f\t%.1f\t\n", i/2+1, target, win.Throughput,
			win.P50, win.P99, win.Max, win.Errors, win.CPUPerReq, win.StealPct)
	}
	tw.Flush()
	fmt.Fprintf(w, "server: %.0f req/s (median window)  p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f ms  errors %d",
		r.Throughput, r.P50, r.P90, r.P99, r.P999, r.Max, r.Errors)
	if len(r.ErrorKinds) > 0 {
		kinds := make([]string, 0, len(r.ErrorKinds))
		for k, v := range r.ErrorKinds {
			kinds = append(kinds, fmt.Sprintf("%s=%d", k, v))
		}
		sort.Strings(kinds)
		fmt.Fprintf(w, " (%s)", strings.Join(kinds, " "))
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "echo:   %.0f req/s (median window)  p50 %.3f  p99 %.3f  p99.9 %.3f ms\n", r.EchoThroughput, r.EchoP50, r.EchoP99, r.EchoP999)
	fmt.Fprintf(w, "ratio vs echo: %.2f (median of %s)  p99 ratio %.2f\n", r.RatioVsEcho, fmtRatios(r.Ratios), r.P99VsEcho)
	if r.ConnMax > 0 {
		fmt.Fprintf(w, "per-connection completions: min %d  max %d  (min/max %.2f; echo %.2f)\n", r.ConnMin, r.ConnMax, r.ConnMinMax, r.EchoConnMinMax)
	}
	if r.IdleKiB != 0 {
		fmt.Fprintf(w, "idle sessions: server %.1f KiB each, echo %.1f KiB each\n", r.IdleKiB, r.EchoIdleKiB)
	}
	if r.ServerCPUPerReq > 0 || r.RSSKiB > 0 {
		fmt.Fprintf(w, "server CPU %.1f µs/req (echo %.1f), RSS %d KiB (echo %d KiB)\n", r.ServerCPUPerReq, r.EchoCPUPerReq, r.RSSKiB, r.EchoRSSKiB)
	}
	if r.Store != nil {
		fmt.Fprintf(w, "writes: %.0f/s; store limits on this disk (%d writers): group commit %.0f ops/s (%.0f ops/commit), one fsync'd Update per op %.0f ops/s\n",
			r.WriteThroughput, r.Store.Writers, r.GroupCommit, r.Store.OpsPerCommit, r.FsyncUpdate)
		fmt.Fprintf(w, "ratio vs group commit %.2f, vs one-fsync-per-op %.1f×\n", r.RatioVsGroupCommit, r.RatioVsFsync)
	}
	if r.ServerCommits > 0 {
		fmt.Fprintf(w, "server store: %.0f commits/s, %.1f operations per commit\n", r.ServerCommits, r.ServerOpsCommit)
	}
	if c := r.Crash; c != nil {
		fmt.Fprintf(w, "crash at %d ms: %d of %d acknowledged writes found (%d checkouts, %d checkins, %d renewals), %d missing; %d unanswered; %d store problems: ok=%v\n",
			c.KilledAfterMS, c.Checked, c.Acked, c.Checkouts, c.Checkins, c.Renewals, len(c.Missing), c.Unanswered,
			len(c.DBProblems), c.OK)
	}
	fmt.Fprintf(w, "host: %s, %d CPUs, GOMAXPROCS %d, %s, steal %.1f%%", r.Host.CPU, r.Host.NumCPU, r.Host.GOMAXPROCS, r.Host.Go, r.StealPct)
	if r.Host.FS != "" {
		fmt.Fprintf(w, ", fs %s", r.Host.FS)
	}
	fmt.Fprintln(w)
}

func fmtRatios(rs []float64) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = fmt.Sprintf("%.2f", r)
	}
	return strings.Join(s, " ")
}

// completionRange is the fewest and most requests any one connection
// completed.
func completionRange(conns []loadConn) (lo, hi uint64) {
	for i, c := range conns {
		n := c.stats().total
		if i == 0 {
			lo, hi = n, n
		}
		lo, hi = min(lo, n), max(hi, n)
	}
	return lo, hi
}
