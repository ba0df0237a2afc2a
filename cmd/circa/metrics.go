package main

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/daia"
	"github.com/circa-ils/circa/ldapauth"
	"github.com/circa-ils/circa/ncip"
	"github.com/circa-ils/circa/netlimit"
	"github.com/circa-ils/circa/profiles"
	fx "github.com/circa-ils/circa/profiles/exchange"
	"github.com/circa-ils/circa/profiles/initiator"
	"github.com/circa-ils/circa/profiles/publishing"
	"github.com/circa-ils/circa/sip2"
	"github.com/circa-ils/circa/store"
	"github.com/circa-ils/circa/tlsproxy"
)

// latencyBuckets span what circa answers in (tens of microseconds to a
// fsync under load) and what peers answer in (seconds).
var latencyBuckets = []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}

// Kiosk metrics carry the self-check profile a connection logged in as:
// only codes of configured profiles, and at most maxProfileLabels of them,
// so neither a peer nor a long-running server can grow the series without
// bound. Connections not logged in count under profileNone; logins beyond
// the bound under profileOther.
const (
	profileNone      = "none"
	profileOther     = "other"
	maxProfileLabels = 64
)

// sip2Metrics turns one SIP2 listener's events into Prometheus metrics.
type sip2Metrics struct {
	listener string
	messages *prometheus.HistogramVec
	// byCode holds the messages histogram's series of each request code
	// by outcome, resolved on first use: a message then costs a map read,
	// not a hash of its labels, and codes never sent show no series.
	byCode      map[string][]atomic.Pointer[prometheus.Observer]
	open        prometheus.Gauge
	rejected    *prometheus.CounterVec
	loginFailed prometheus.Counter
	malformed   *prometheus.CounterVec
	profiles    *sip2ProfileMetrics
}

// sip2MetricVecs are shared by the plain and TLS listeners, labelled by listener.
type sip2MetricVecs struct {
	messages    *prometheus.HistogramVec
	open        *prometheus.GaugeVec
	rejected    *prometheus.CounterVec
	loginFailed *prometheus.CounterVec
	malformed   *prometheus.CounterVec
	profiles    *sip2ProfileMetrics
}

// newSIP2MetricVecs registers the SIP2 metrics; configured reports whether
// a code names a self-check profile, and initial are the profiles whose
// series exist from the start (sessions 0), so an alert on a kiosk that
// never logged in since a restart has a series to read.
func newSIP2MetricVecs(reg prometheus.Registerer, configured func(code string) bool, initial []string) *sip2MetricVecs {
	v := &sip2MetricVecs{
		messages: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "circa_sip2_message_duration_seconds", Help: "Time to answer a SIP2 message, by message code and outcome.",
			Buckets: latencyBuckets}, []string{"listener", "code", "outcome"}),
		open: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "circa_sip2_connections_open", Help: "Open SIP2 connections."}, []string{"listener"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "circa_sip2_connections_rejected_total", Help: "Connections closed because a limit was reached, by limit: max_conns, max_unauth_per_source, open_files."}, []string{"listener", "limit"}),
		loginFailed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "circa_sip2_logins_failed_total", Help: "Failed SIP2 logins (93)."}, []string{"listener"}),
		malformed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "circa_sip2_errors_total", Help: "Malformed SIP2 input, by kind."}, []string{"listener", "kind"}),
		profiles: newSIP2ProfileMetrics(reg, configured),
	}
	reg.MustRegister(v.messages, v.open, v.rejected, v.loginFailed, v.malformed)
	for _, code := range initial {
		v.profiles.of(code)
	}
	return v
}

func (v *sip2MetricVecs) observer(listener string) *sip2Metrics {
	// Every limit and kind starts at 0, so increase() sees the first one.
	for _, l := range []sip2.Limit{sip2.LimitConns, sip2.LimitUnauthPerSource, sip2.LimitFiles} {
		v.rejected.WithLabelValues(listener, string(l))
	}
	for k := sip2.Malformed(0); k.String() != "unknown"; k++ {
		v.malformed.WithLabelValues(listener, k.String())
	}
	byCode := map[string][]atomic.Pointer[prometheus.Observer]{}
	for _, code := range append([]string{"93"}, profiles.SIP2Messages...) {
		byCode[code] = make([]atomic.Pointer[prometheus.Observer], len(sip2Outcomes))
	}
	return &sip2Metrics{listener: listener, messages: v.messages, byCode: byCode, open: v.open.WithLabelValues(listener),
		rejected: v.rejected, loginFailed: v.loginFailed.WithLabelValues(listener),
		malformed: v.malformed, profiles: v.profiles}
}

func (m *sip2Metrics) ConnOpened(sip2.ConnInfo) { m.open.Inc() }
func (m *sip2Metrics) ConnClosed(_ sip2.ConnInfo, account string) {
	m.open.Dec()
	if account != "" {
		m.profiles.of(account).sessions.Add(-1)
	}
}
func (m *sip2Metrics) ConnRejected(_ net.Addr, l sip2.Limit) {
	m.rejected.WithLabelValues(m.listener, string(l)).Inc()
}
func (m *sip2Metrics) LoggedIn(_ sip2.ConnInfo, account, previous string) {
	if previous != "" {
		m.profiles.of(previous).sessions.Add(-1)
	}
	p := m.profiles.of(account)
	p.logins.Inc()
	if account != "" {
		p.sessions.Add(1)
	}
}
func (m *sip2Metrics) LoginFailed(sip2.ConnInfo) { m.loginFailed.Inc() }
func (m *sip2Metrics) Malformed(account string, kind sip2.Malformed) {
	m.malformed.WithLabelValues(m.listener, kind.String()).Inc()
	m.profiles.of(account).malformed.Inc()
}
func (m *sip2Metrics) MessageHandled(account, code string, d time.Duration, o sip2.Outcome) {
	secs := d.Seconds()
	m.messageSeries(code, o).Observe(secs)
	p := m.profiles.of(account)
	p.latency.Observe(secs)
	if int(o) < len(p.outcomes) {
		p.outcomes[o].Inc()
	} else {
		m.profiles.messages.WithLabelValues(p.label, o.String()).Inc()
	}
}

func (m *sip2Metrics) messageSeries(code string, o sip2.Outcome) prometheus.Observer {
	slots, ok := m.byCode[code]
	if !ok || int(o) >= len(slots) {
		return m.messages.WithLabelValues(m.listener, code, o.String())
	}
	if h := slots[o].Load(); h != nil {
		return *h
	}
	h := m.messages.WithLabelValues(m.listener, code, o.String())
	slots[o].Store(&h)
	return h
}

// sip2ProfileMetrics are the SIP2 metrics labelled by self-check profile.
type sip2ProfileMetrics struct {
	messages   *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	malformed  *prometheus.CounterVec
	logins     *prometheus.CounterVec
	sessions   *prometheus.Desc
	configured func(code string) bool

	// byAccount holds the series of each admitted account (and of "" as
	// profileNone); a lookup on every message is one map read.
	byAccount sync.Map
	mu        sync.Mutex // admits accounts
	admitted  int
	other     *profileSeries
}

// profileSeries are one profile label's series, resolved once.
type profileSeries struct {
	label     string
	outcomes  []prometheus.Counter // by sip2.Outcome
	latency   prometheus.Observer
	malformed prometheus.Counter
	logins    prometheus.Counter
	sessions  atomic.Int64 // connections logged in now
}

// sip2Outcomes are the outcomes a profile's series are resolved for.
var sip2Outcomes = func() []sip2.Outcome {
	var out []sip2.Outcome
	for o := sip2.Outcome(0); o.String() != "unknown"; o++ {
		out = append(out, o)
	}
	return out
}()

func newSIP2ProfileMetrics(reg prometheus.Registerer, configured func(string) bool) *sip2ProfileMetrics {
	p := &sip2ProfileMetrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "circa_sip2_profile_messages_total", Help: "SIP2 messages answered, by the self-check profile the kiosk logged in as (none before login, other beyond " + strconv.Itoa(maxProfileLabels) + " profiles) and outcome."},
			[]string{"profile", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "circa_sip2_profile_message_duration_seconds", Help: "Time to answer a SIP2 message, by self-check profile.",
			Buckets: latencyBuckets}, []string{"profile"}),
		malformed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "circa_sip2_profile_errors_total", Help: "Malformed SIP2 input, by self-check profile."}, []string{"profile"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "circa_sip2_profile_logins_total", Help: "Successful SIP2 logins, by self-check profile."}, []string{"profile"}),
		sessions: prometheus.NewDesc("circa_sip2_profile_sessions",
			"SIP2 connections logged in now, by self-check profile.", []string{"profile"}, nil),
		configured: configured,
	}
	reg.MustRegister(p.messages, p.latency, p.malformed, p.logins, p)
	p.other = p.series(profileOther)
	p.byAccount.Store("", p.series(profileNone))
	return p
}

func (p *sip2ProfileMetrics) series(label string) *profileSeries {
	s := &profileSeries{label: label, latency: p.latency.WithLabelValues(label),
		malformed: p.malformed.WithLabelValues(label), logins: p.logins.WithLabelValues(label)}
	for _, o := range sip2Outcomes {
		s.outcomes = append(s.outcomes, p.messages.WithLabelValues(label, o.String()))
	}
	return s
}

// Describe and Collect expose the sessions of each profile label: a
// profile removed from the configuration drops out once its last kiosk
// has gone, so an alert on a profile without sessions does not fire for
// it.
func (p *sip2ProfileMetrics) Describe(ch chan<- *prometheus.Desc) { ch <- p.sessions }

func (p *sip2ProfileMetrics) Collect(ch chan<- prometheus.Metric) {
	emit := func(s *profileSeries) {
		ch <- prometheus.MustNewConstMetric(p.sessions, prometheus.GaugeValue, float64(s.sessions.Load()), s.label)
	}
	emit(p.other)
	p.byAccount.Range(func(account, v any) bool {
		s := v.(*profileSeries)
		if account != "" && (s.sessions.Load() != 0 || p.configured(s.label)) {
			emit(s)
		}
		return true
	})
}

// of returns the series an account counts under.
func (p *sip2ProfileMetrics) of(account string) *profileSeries {
	if s, ok := p.byAccount.Load(account); ok {
		return s.(*profileSeries)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if s, ok := p.byAccount.Load(account); ok {
		return s.(*profileSeries)
	}
	// Accounts counted as other are not remembered: the map stays bounded.
	if p.admitted >= maxProfileLabels || !p.configured(account) || account == profileNone || account == profileOther {
		return p.other
	}
	s := p.series(account)
	p.byAccount.Store(account, s)
	p.admitted++
	return s
}

// ncipObserver records NCIP requests.
func ncipObserver(reg prometheus.Registerer) ncip.Observer {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "circa_ncip_request_duration_seconds", Help: "Time to answer an NCIP request, by service and outcome.",
		Buckets: latencyBuckets}, []string{"service", "partner", "outcome"})
	problems := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "circa_ncip_problems_total", Help: "NCIP responses carrying a Problem, by problem type."}, []string{"service", "problem"})
	reg.MustRegister(h, problems)
	return func(o ncip.Observation) {
		h.WithLabelValues(o.Service, o.Partner, fmt.Sprint(o.Outcome)).Observe(o.Duration.Seconds())
		if o.ProblemType != "" {
			problems.WithLabelValues(o.Service, o.ProblemType).Inc()
		}
	}
}

// availabilityObserver times /api/availability requests by outcome and
// counts the titles they asked for: found, unknown to circa (a discovery
// layer whose ids circa cannot match shows as a rising unknown), or left
// for a next request.
func availabilityObserver(reg prometheus.Registerer) func(daia.Observation) {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "circa_availability_request_duration_seconds", Help: "Time to answer an availability request, by outcome (ok, refused, busy, failed).",
		Buckets: latencyBuckets}, []string{"outcome"})
	titles := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "circa_availability_titles_total", Help: "Titles availability requests named, by result (found, unknown, unread)."}, []string{"result"})
	reg.MustRegister(h, titles)
	return func(o daia.Observation) {
		h.WithLabelValues(o.Outcome).Observe(o.Duration.Seconds())
		if o.Outcome == daia.OutcomeOK {
			titles.WithLabelValues("found").Add(float64(o.Documents))
			titles.WithLabelValues("unknown").Add(float64(o.IDs - o.Documents - o.Unread))
			titles.WithLabelValues("unread").Add(float64(o.Unread))
		}
	}
}

// exchangeMetrics counts file-exchange runs by profile and result, and the
// records and files they moved.
func exchangeMetrics(reg prometheus.Registerer) fx.Observer {
	runs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "circa_exchange_runs_total", Help: "File-exchange runs, by profile, type and result (ok, failed, stopped, skipped)."}, []string{"profile", "type", "result"})
	records := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "circa_exchange_records_total", Help: "Records exported or import lines applied."}, []string{"profile", "type"})
	files := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "circa_exchange_files_total", Help: "Files delivered or collected."}, []string{"profile", "type"})
	reg.MustRegister(runs, records, files)
	return func(r fx.Report) {
		runs.WithLabelValues(r.Profile, r.Type, r.Run.Result).Inc()
		records.WithLabelValues(r.Profile, r.Type).Add(float64(r.Run.Records))
		files.WithLabelValues(r.Profile, r.Type).Add(float64(len(r.Run.Files)))
	}
}

// publishingMetrics counts catalogue publishing runs by profile and result,
// and the records and files they delivered.
func publishingMetrics(reg prometheus.Registerer) func(publishing.RunResult, error) {
	runs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "circa_publishing_runs_total", Help: "Catalogue publishing runs, by profile, kind (full, incremental) and result (ok, failed)."},
		[]string{"profile", "kind", "result"})
	records := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "circa_publishing_records_total", Help: "Records delivered in publishing files, deletions included."}, []string{"profile"})
	files := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "circa_publishing_files_total", Help: "Publishing files delivered."}, []string{"profile"})
	reg.MustRegister(runs, records, files)
	return func(r publishing.RunResult, err error) {
		result := "ok"
		if err != nil {
			result = "failed"
		}
		runs.WithLabelValues(r.Profile, r.Kind, result).Inc()
		records.WithLabelValues(r.Profile).Add(float64(r.Records))
		files.WithLabelValues(r.Profile).Add(float64(len(r.Files)))
	}
}

// storageMetrics counts the messages sent to facilities that take requests
// online, by answer.
func storageMetrics(reg prometheus.Registerer) func(initiator.Report) {
	sent := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "circa_storage_messages_total", Help: "Attempts at sending NCIP messages to remote-storage facilities, by profile, service and result (sent, refused, failed)."},
		[]string{"profile", "service", "result"})
	reg.MustRegister(sent)
	return func(r initiator.Report) {
		sent.WithLabelValues(r.Profile, r.Kind, r.Result).Inc()
	}
}

// jobsCollector reads, at each scrape, what the store says of every
// file-exchange, publishing and online-storage profile: runs made by a
// command or before a restart count as much as the server's own, so "did
// last night's bursar file go?" has an answer from the first scrape.
type jobsCollector struct {
	db  store.DB
	reg *profiles.Registry

	exchangeOK, exchangeUndelivered, exchangeStopped    *prometheus.Desc
	publishingOK, publishingUndelivered, publishingFail *prometheus.Desc
	storagePending                                      *prometheus.Desc
}

// jobsScrapeWait bounds the store reads of one scrape.
const jobsScrapeWait = 5 * time.Second

func newJobsCollector(db store.DB, reg *profiles.Registry) *jobsCollector {
	ex := []string{"profile", "type"}
	pub := []string{"profile"}
	return &jobsCollector{db: db, reg: reg,
		exchangeOK: prometheus.NewDesc("circa_exchange_last_success_timestamp_seconds",
			"When the profile's latest successful file-exchange run finished (Unix time; absent before the first).", ex, nil),
		exchangeUndelivered: prometheus.NewDesc("circa_exchange_undelivered_files",
			"Files built and not yet delivered; the next run retries them.", ex, nil),
		exchangeStopped: prometheus.NewDesc("circa_exchange_stopped",
			"1 while a profile is stopped by a permanent error (authentication, host key) until run by hand.", ex, nil),
		publishingOK: prometheus.NewDesc("circa_publishing_last_success_timestamp_seconds",
			"When the profile's latest publishing run finished with every file delivered (Unix time; absent before the first).", pub, nil),
		publishingUndelivered: prometheus.NewDesc("circa_publishing_undelivered_files",
			"Publishing files built and not yet delivered.", pub, nil),
		publishingFail: prometheus.NewDesc("circa_publishing_failing",
			"1 while the profile's latest publishing run failed, until one succeeds.", pub, nil),
		storagePending: prometheus.NewDesc("circa_storage_messages_pending",
			"Messages waiting to be delivered to a remote-storage facility that takes requests online.", pub, nil),
	}
}

func (c *jobsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.exchangeOK, c.exchangeUndelivered, c.exchangeStopped,
		c.publishingOK, c.publishingUndelivered, c.publishingFail, c.storagePending} {
		ch <- d
	}
}

// Collect leaves out a profile whose state cannot be read: the store's own
// health metric tells why, and the scrape still carries the rest.
func (c *jobsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), jobsScrapeWait)
	defer cancel()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	snap := c.reg.Current()
	for code, p := range snap.Exchange {
		st, err := fx.ProfileStatus(ctx, c.db, code)
		if err != nil {
			continue
		}
		if !st.LastSuccess.IsZero() {
			gauge(c.exchangeOK, unixSeconds(st.LastSuccess), code, p.Type)
		}
		gauge(c.exchangeUndelivered, float64(len(st.Pending)), code, p.Type)
		gauge(c.exchangeStopped, boolGauge(st.Stopped != ""), code, p.Type)
	}
	if pubs, err := publishing.LoadProfiles(ctx, c.db); err == nil {
		for _, p := range pubs {
			st, err := publishing.LoadStatus(ctx, c.db, p.Code)
			if err != nil {
				continue
			}
			if !st.LastRun.IsZero() {
				gauge(c.publishingOK, unixSeconds(st.LastRun), p.Code)
			}
			gauge(c.publishingUndelivered, float64(st.Undelivered), p.Code)
			gauge(c.publishingFail, boolGauge(st.Failed != ""), p.Code)
		}
	}
	for code, p := range snap.Storage {
		if p.Online == nil {
			continue
		}
		if n, err := initiator.PendingCount(ctx, c.db, code); err == nil {
			gauge(c.storagePending, float64(n), code)
		}
	}
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// registerCertificateMetrics exposes how long each TLS listener's server
// certificate and the client CA certificates it trusts have left, read from
// what is in use at each scrape (so a SIGHUP reload shows at once). use
// names the listener ("sip2", "https"); a listener that is off is nil.
func registerCertificateMetrics(reg prometheus.Registerer, now func() time.Time, listeners map[string]*tlsproxy.ServerConfig) {
	c := &certificateCollector{now: now, listeners: map[string]*tlsproxy.ServerConfig{}, desc: prometheus.NewDesc("circa_certificate_expiry_seconds",
		"Seconds until a certificate in use expires (its notAfter), by use and subject; negative once expired.",
		[]string{"use", "subject"}, nil)}
	for use, sc := range listeners {
		if sc != nil {
			c.listeners[use] = sc
		}
	}
	reg.MustRegister(c)
}

type certificateCollector struct {
	listeners map[string]*tlsproxy.ServerConfig
	now       func() time.Time
	desc      *prometheus.Desc
}

func (c *certificateCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *certificateCollector) Collect(ch chan<- prometheus.Metric) {
	now := c.now()
	for use, sc := range c.listeners {
		emit := func(kind string, cert *x509.Certificate) {
			ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, cert.NotAfter.Sub(now).Seconds(),
				use+kind, cert.Subject.CommonName)
		}
		emit("_server", sc.Certificate())
		cas := sc.ClientCACertificates()
		seen := map[string]bool{}
		for _, ca := range cas {
			// Two CAs of one name in a bundle (an old and a renewed one) are
			// one series: the one that lasts longest.
			if seen[ca.Subject.CommonName] {
				continue
			}
			seen[ca.Subject.CommonName] = true
			emit("_client_ca", latestOf(cas, ca.Subject.CommonName))
		}
	}
}

// latestOf returns the certificate named cn that expires last.
func latestOf(certs []*x509.Certificate, cn string) *x509.Certificate {
	var best *x509.Certificate
	for _, c := range certs {
		if c.Subject.CommonName == cn && (best == nil || c.NotAfter.After(best.NotAfter)) {
			best = c
		}
	}
	return best
}

// registerBuildInfo exposes which circa is running, as circa version says.
func registerBuildInfo(reg prometheus.Registerer) {
	b := currentBuild()
	commit := b.Commit
	if commit == "" {
		commit = "unknown"
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "circa_build_info",
		Help:        "Always 1; its labels say which circa is running (as circa version prints).",
		ConstLabels: prometheus.Labels{"version": b.Version, "commit": commit, "goversion": runtime.Version()}})
	g.Set(1)
	reg.MustRegister(g)
}

func registerStoreMetrics(reg prometheus.Registerer, db store.DB) {
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "circa_store_commits_total", Help: "Write transactions committed (each fsync'd).",
	}, func() float64 { return float64(db.CommitStats().Commits) }))
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "circa_store_operations_total", Help: "Write operations committed; operations/commits is the group-commit batch size.",
	}, func() float64 { return float64(db.CommitStats().Operations) }))
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "circa_store_commit_failures_total", Help: "Commits the disk refused (full, I/O error); their operations were answered as failed.",
	}, func() float64 { return float64(db.CommitStats().Failed) }))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "circa_store_healthy", Help: "1 while the store can write, as /healthz answers: 0 from a failed commit until one succeeds, or while a commit stalls.",
	}, func() float64 {
		return boolGauge(storeHealth(context.Background(), db).OK)
	}))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "circa_store_last_commit_seconds", Help: "How long the latest successful commit took, from its batch's start to the end of its sync.",
	}, func() float64 { return db.CommitStats().Last.Seconds() }))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "circa_store_last_commit_timestamp_seconds", Help: "When the latest successful commit ended (Unix time; 0 before the first).",
	}, func() float64 {
		if t := db.Health().Committed; !t.IsZero() {
			return unixSeconds(t)
		}
		return 0
	}))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "circa_store_file_bytes", Help: "Size of the store on disk: its file, or its PostgreSQL database.",
	}, func() float64 {
		n, err := db.Size()
		if err != nil {
			return 0
		}
		return float64(n)
	}))
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "circa_store_pages_written_total", Help: "Pages written by committed transactions.",
	}, func() float64 { return float64(db.CommitStats().PagesWritten) }))
	for _, phase := range []struct {
		name, help string
		get        func(store.CommitStats) time.Duration
	}{
		{"apply", "running the operations of each commit", func(s store.CommitStats) time.Duration { return s.Apply }},
		{"spill", "turning changed nodes into pages", func(s store.CommitStats) time.Duration { return s.Spill }},
		{"write", "writing and syncing the pages", func(s store.CommitStats) time.Duration { return s.Write }},
	} {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "circa_store_commit_" + phase.name + "_seconds_total", Help: "Time the writer spent " + phase.help + ".",
		}, func() float64 { return phase.get(db.CommitStats()).Seconds() }))
	}
}

// httpRejectedCounter counts HTTP connections closed at once by a limit.
func httpRejectedCounter(reg prometheus.Registerer) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "circa_http_connections_rejected_total",
		Help: "HTTP connections closed at once because a limit was reached, by limit: max_conns, max_conns_per_source."},
		[]string{"limit"})
	reg.MustRegister(c)
	for _, l := range []string{netlimit.LimitConns, netlimit.LimitConnsPerSource} {
		c.WithLabelValues(l)
	}
	return c
}

// registerAuthMetrics exposes the login and PIN throttles: failed logins by
// reason, logins refused unchecked by reason, and PIN checks failed,
// refused while locked, or refused as busy.
func registerAuthMetrics(reg prometheus.Registerer, svc *circ.Service) {
	logins := func(get func(circ.LoginStats) uint64) func() float64 {
		return func() float64 { return float64(get(svc.Logins().Stats())) }
	}
	for reason, get := range map[string]func(circ.LoginStats) uint64{
		circ.LoginWrongPassword:  func(s circ.LoginStats) uint64 { return s.WrongPassword },
		circ.LoginUnknownAccount: func(s circ.LoginStats) uint64 { return s.UnknownAccount },
		circ.LoginOtherFailure:   func(s circ.LoginStats) uint64 { return s.OtherFailure },
	} {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "circa_login_failures_total", Help: "Account logins refused after their password was checked, by reason.",
			ConstLabels: prometheus.Labels{"reason": reason},
		}, logins(get)))
	}
	for reason, get := range map[string]func(circ.LoginStats) uint64{
		"source":  func(s circ.LoginStats) uint64 { return s.SourceThrottled },
		"account": func(s circ.LoginStats) uint64 { return s.AccountThrottled },
		"busy":    func(s circ.LoginStats) uint64 { return s.Busy },
	} {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "circa_login_throttled_total", Help: "Account logins refused without a password check: source or account throttled, or hashing busy.",
			ConstLabels: prometheus.Labels{"reason": reason},
		}, logins(get)))
	}
	pins := func(get func(circ.PINStats) uint64) func() float64 {
		return func() float64 { return float64(get(svc.PINStats())) }
	}
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "circa_pin_failures_total", Help: "Patron PIN checks that found the PIN wrong.",
	}, pins(func(s circ.PINStats) uint64 { return s.Failed })))
	for reason, get := range map[string]func(circ.PINStats) uint64{
		"locked":                func(s circ.PINStats) uint64 { return s.Locked },
		"busy":                  func(s circ.PINStats) uint64 { return s.Busy },
		"directory_unavailable": func(s circ.PINStats) uint64 { return s.Unavailable },
	} {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "circa_pin_refused_total", Help: "Patron PIN checks refused unchecked: PIN locked after too many wrong ones, hashing busy, or the directory could not answer.",
			ConstLabels: prometheus.Labels{"reason": reason},
		}, pins(get)))
	}
}

// directoryCollector reports each LDAP profile's password checks, whether
// its directory answered the last attempt to reach it, and the connections
// held open to it. Only configured profiles have series.
type directoryCollector struct {
	dir               *ldapauth.Directory
	checks, up, conns *prometheus.Desc
}

func newDirectoryCollector(dir *ldapauth.Directory) *directoryCollector {
	return &directoryCollector{dir: dir,
		checks: prometheus.NewDesc("circa_ldap_checks_total",
			"Patron password checks by an LDAP directory, by result: ok, rejected (wrong password or no such user), unavailable (no answer in time).",
			[]string{"source", "result"}, nil),
		up: prometheus.NewDesc("circa_ldap_up",
			"1 while the LDAP directory answered the last attempt to reach it.", []string{"source"}, nil),
		conns: prometheus.NewDesc("circa_ldap_connections_open",
			"Connections held open to the LDAP directory.", []string{"source"}, nil),
	}
}

func (c *directoryCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.checks
	ch <- c.up
	ch <- c.conns
}

func (c *directoryCollector) Collect(ch chan<- prometheus.Metric) {
	for code, st := range c.dir.Sources() {
		for result, n := range map[string]uint64{"ok": st.OK.Load(), "rejected": st.Rejected.Load(), "unavailable": st.Unavailable.Load()} {
			ch <- prometheus.MustNewConstMetric(c.checks, prometheus.CounterValue, float64(n), code, result)
		}
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, boolGauge(st.Up()), code)
		ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(st.Open.Load()), code)
	}
}

// leaderGauge exports whether this node runs the background loops: with
// several nodes on one database, exactly one of them shows 1.
func leaderGauge(reg prometheus.Registerer) func(bool) {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "circa_background_leader",
		Help: "1 while this node runs the background loops (file exchange, publishing, storage sender, pruning), else 0."})
	reg.MustRegister(g)
	return func(leading bool) {
		if leading {
			g.Set(1)
		} else {
			g.Set(0)
		}
	}
}
