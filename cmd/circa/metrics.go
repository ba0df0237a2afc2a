package main

import (
	"fmt"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/ncip"
	fx "github.com/circa-ils/circa/profiles/exchange"
	"github.com/circa-ils/circa/profiles/initiator"
	"github.com/circa-ils/circa/sip2"
	"github.com/circa-ils/circa/store"
)

// latencyBuckets span what circa answers in (tens of microseconds to a
// fsync under load) and what peers answer in (seconds).
var latencyBuckets = []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}

// sip2Metrics turns SIP2 server events into Prometheus metrics.
type sip2Metrics struct {
	listener    string
	messages    *prometheus.HistogramVec
	open        prometheus.Gauge
	rejected    *prometheus.CounterVec
	loginFailed prometheus.Counter
	malformed   *prometheus.CounterVec
}

// sip2MetricVecs are shared by the plain and TLS listeners, labelled by listener.
type sip2MetricVecs struct {
	messages    *prometheus.HistogramVec
	open        *prometheus.GaugeVec
	rejected    *prometheus.CounterVec
	loginFailed *prometheus.CounterVec
	malformed   *prometheus.CounterVec
}

func newSIP2MetricVecs(reg prometheus.Registerer) *sip2MetricVecs {
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
	}
	reg.MustRegister(v.messages, v.open, v.rejected, v.loginFailed, v.malformed)
	return v
}

func (v *sip2MetricVecs) observer(listener string) *sip2Metrics {
	return &sip2Metrics{listener: listener, messages: v.messages, open: v.open.WithLabelValues(listener),
		rejected: v.rejected, loginFailed: v.loginFailed.WithLabelValues(listener),
		malformed: v.malformed}
}

func (m *sip2Metrics) ConnOpened(sip2.ConnInfo) { m.open.Inc() }
func (m *sip2Metrics) ConnClosed(sip2.ConnInfo) { m.open.Dec() }
func (m *sip2Metrics) ConnRejected(_ net.Addr, l sip2.Limit) {
	m.rejected.WithLabelValues(m.listener, string(l)).Inc()
}
func (m *sip2Metrics) LoginFailed(sip2.ConnInfo) { m.loginFailed.Inc() }
func (m *sip2Metrics) Malformed(kind sip2.Malformed) {
	m.malformed.WithLabelValues(m.listener, kind.String()).Inc()
}
func (m *sip2Metrics) MessageHandled(code string, d time.Duration, o sip2.Outcome) {
	m.messages.WithLabelValues(m.listener, code, o.String()).Observe(d.Seconds())
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

// exchangeMetrics counts file-exchange runs by profile and result; a
// permanent failure (host key, login) also sets a gauge operators can alert on.
func exchangeMetrics(reg prometheus.Registerer) fx.Observer {
	runs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "circa_exchange_runs_total", Help: "File-exchange runs, by profile, type and result."}, []string{"profile", "type", "result"})
	records := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "circa_exchange_records_total", Help: "Records exported or import lines applied."}, []string{"profile", "type"})
	stopped := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "circa_exchange_stopped", Help: "1 while a profile is stopped by a permanent error (authentication, host key)."}, []string{"profile"})
	reg.MustRegister(runs, records, stopped)
	return func(r fx.Report) {
		runs.WithLabelValues(r.Profile, r.Type, r.Run.Result).Inc()
		records.WithLabelValues(r.Profile, r.Type).Add(float64(r.Run.Records))
		if r.Run.Permanent {
			stopped.WithLabelValues(r.Profile).Set(1)
		} else {
			stopped.WithLabelValues(r.Profile).Set(0)
		}
	}
}

// storageMetrics counts the messages sent to facilities that take requests
// online, by answer, and shows how many wait: a growing backlog means a
// facility is unreachable.
func storageMetrics(reg prometheus.Registerer) func(initiator.Report) {
	sent := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "circa_storage_messages_total", Help: "Attempts at sending NCIP messages to remote-storage facilities, by profile, service and result (sent, refused, failed)."},
		[]string{"profile", "service", "result"})
	pending := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "circa_storage_messages_pending", Help: "Messages waiting to be delivered to a remote-storage facility."}, []string{"profile"})
	reg.MustRegister(sent, pending)
	return func(r initiator.Report) {
		sent.WithLabelValues(r.Profile, r.Kind, r.Result).Inc()
		pending.WithLabelValues(r.Profile).Set(float64(r.Pending))
	}
}

func registerStoreMetrics(reg prometheus.Registerer, db *store.DB) {
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
		Name: "circa_store_healthy", Help: "1 while the store can write: 0 from a failed commit until one succeeds, or while a commit stalls.",
	}, func() float64 {
		if db.Health().OK {
			return 1
		}
		return 0
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
		"locked": func(s circ.PINStats) uint64 { return s.Locked },
		"busy":   func(s circ.PINStats) uint64 { return s.Busy },
	} {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "circa_pin_refused_total", Help: "Patron PIN checks refused unchecked: PIN locked after too many wrong ones, or hashing busy.",
			ConstLabels: prometheus.Labels{"reason": reason},
		}, pins(get)))
	}
}
