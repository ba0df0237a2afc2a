package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/circa-ils/circa/daia"
	"github.com/circa-ils/circa/fixtures"
	"github.com/circa-ils/circa/profiles/delivery/sftptest"
	"github.com/circa-ils/circa/sip2"
	"github.com/circa-ils/circa/tlsproxy"
)

// scrape reads a running server's /metrics as Prometheus parses it.
func scrape(t *testing.T, httpURL string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(httpURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return mfs
}

// sample returns the value of the series of name whose labels include
// want, and whether there is one. A histogram's value is its count.
func sample(mfs map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	mf, ok := mfs[name]
	if !ok {
		return 0, false
	}
next:
	for _, m := range mf.GetMetric() {
		for k, v := range want {
			if !slices.ContainsFunc(m.GetLabel(), func(l *dto.LabelPair) bool { return l.GetName() == k && l.GetValue() == v }) {
				continue next
			}
		}
		switch {
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		default:
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

// labelValues returns every value label takes in the families named with prefix.
func labelValues(mfs map[string]*dto.MetricFamily, prefix, label string) []string {
	var out []string
	for name, mf := range mfs {
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && !slices.Contains(out, l.GetValue()) {
					out = append(out, l.GetValue())
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

// The metrics of a running server after kiosk traffic, file-exchange and
// publishing runs and a certificate reload: per-profile kiosk series that
// a stranger cannot add to, job results and last success times, the
// certificate's remaining time as reloaded, build and store health; and
// the alert rules and docs/metrics.md name only what it exports.
func TestMetricsOfARunningServer(t *testing.T) {
	// Registered before the server's own handler, so the SIGHUP below can
	// never find the process without one.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	// The annex takes requests online at an address where nothing listens.
	dir := seededDir(t)
	key := filepath.Join(t.TempDir(), "facility.key")
	if err := os.WriteFile(key, []byte("library-key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := run(t, "profile", "storage", "edit", fixtures.StorageCode, "--data-dir", dir, "--online-url", "http://"+closedAddr(t)+"/ncip",
		"--online-api-key-file", key); r.code != 0 {
		t.Fatalf("storage edit: %+v", r)
	}
	// A campus directory, also where nothing listens, has its series too.
	if r := run(t, "ldap", "add", "campus", "--data-dir", dir, "--url", "ldaps://"+closedAddr(t), "--base-dn", "dc=campus",
		"--no-check"); r.code != 0 {
		t.Fatalf("ldap add: %+v", r)
	}
	s := startDemoServerIn(t, dir)
	kiosk := fixtures.KioskLogin // the demo kiosk's profile code is its login

	// Strangers: one speaking no SIP2, one logging in as no profile.
	junk, err := net.Dial("tcp", s.sip2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := junk.Write([]byte("GET / HTTP/1.0\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	junk.Close()
	stranger, err := net.Dial("tcp", s.sip2)
	if err != nil {
		t.Fatal(err)
	}
	c := sip2.NewClient(stranger, sip2.ClientOptions{Timeout: 10 * time.Second})
	m, _ := sip2.ParseFieldSpec("93", []string{"CN=intruder", "CO=guess", "CP=MAIN"}, time.Now())
	if reply, err := c.Send(t.Context(), m); err != nil || reply.Fixed[0] != '0' {
		t.Fatalf("login as no profile: %v %v", reply, err)
	}
	c.Close()

	conn, err := net.Dial("tcp", s.sip2)
	if err != nil {
		t.Fatal(err)
	}
	kioskSession(t, conn, time.Now(), fixtures.ItemAnnex)
	// A partner's request without a key.
	if resp, err := http.Post(s.httpURL+"/ncip", "application/xml", strings.NewReader("<NCIPMessage/>")); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}

	// A discovery layer asks for a title circa has and one it has not.
	if resp, err := http.Get(s.httpURL + daia.Path + "?id=ppn:cir000000001%7Cppn:nothing&format=json"); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}

	// A kiosk still connected over TLS counts as a session.
	tc, err := tls.Dial("tcp", s.sip2TLS, s.tlsConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	held := sip2.NewClient(tc, sip2.ClientOptions{Timeout: 10 * time.Second})
	m, _ = sip2.ParseFieldSpec("93", []string{"CN=" + fixtures.KioskLogin, "CO=" + fixtures.KioskPassword, "CP=MAIN"}, time.Now())
	if reply, err := held.Send(t.Context(), m); err != nil || reply.Fixed[0] != '1' {
		t.Fatalf("kiosk login over TLS: %v %v", reply, err)
	}

	// A bursar file of fines that goes, and one of replacement fees left
	// undelivered by an SFTP server refusing to rename it into place, which
	// stops the profile; both run by hand only, so no scheduled run joins
	// the counts.
	drop := t.TempDir()
	if r := run(t, "profile", "bursar", "add", "BUR", "--data-dir", s.dir, "--library", "MAIN", "--target", "local",
		"--local-dir", drop, "--fee-types", "04", "--active=false"); r.code != 0 {
		t.Fatalf("bursar add: %+v", r)
	}
	if r := run(t, "profile", "run", "BUR", "--data-dir", s.dir); r.code != 0 {
		t.Fatalf("bursar run: %+v", r)
	}
	ranAt := time.Now()
	srv := sftptest.Start(t)
	if err := os.Mkdir(srv.Path("/out"), 0o755); err != nil {
		t.Fatal(err)
	}
	sshKey := filepath.Join(t.TempDir(), "id")
	if err := os.WriteFile(sshKey, srv.ClientKeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if r := run(t, "profile", "bursar", "add", "BAD", "--data-dir", s.dir, "--library", "MAIN", "--host", srv.Host,
		"--port", strconv.Itoa(srv.Port), "--user", srv.User, "--private-key", sshKey, "--known-hosts", srv.KnownHosts,
		"--remote-dir", "/out", "--fee-types", "07", "--active=false"); r.code != 0 {
		t.Fatalf("bursar add over SFTP: %+v", r)
	}
	srv.SetFaults(sftptest.Faults{RefuseRename: true})
	if r := run(t, "profile", "run", "BAD", "--data-dir", s.dir); r.code == 0 {
		t.Fatalf("bursar run refused its rename: %+v", r)
	}
	pickup := t.TempDir()
	yml := filepath.Join(t.TempDir(), "films.yaml")
	doc := "code: films\nselection:\n  material_types: [video]\nformat: marcxml.tar.gz\nevery: 24h\n" +
		"target:\n  kind: local\n  local_dir: " + pickup + "\n"
	if err := os.WriteFile(yml, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := run(t, "publish", "profile", "import", yml, "--data-dir", s.dir); r.code != 0 {
		t.Fatalf("publishing profile: %+v", r)
	}
	if r := run(t, "publish", "full", "films", "--data-dir", s.dir); r.code != 0 {
		t.Fatalf("publish: %+v", r)
	}

	// The hold on the annex item waits for the facility.
	waitMetric(t, s.httpURL, "circa_storage_messages_pending", map[string]string{"profile": fixtures.StorageCode}, 1)
	mfs := scrape(t, s.httpURL)
	for result, want := range map[string]float64{"found": 1, "unknown": 1, "unread": 0} {
		if v, ok := sample(mfs, "circa_availability_titles_total", map[string]string{"result": result}); !ok || v != want {
			t.Errorf("circa_availability_titles_total{result=%q} = %v (%v), want %v", result, v, ok, want)
		}
	}
	t.Run("kiosk profiles", func(t *testing.T) {
		expect(t, mfs, "circa_sip2_profile_messages_total", map[string]string{"profile": kiosk, "outcome": "ok"}, func(v float64) bool { return v >= 12 })
		expect(t, mfs, "circa_sip2_profile_message_duration_seconds", map[string]string{"profile": kiosk}, func(v float64) bool { return v >= 13 })
		expect(t, mfs, "circa_sip2_profile_messages_total", map[string]string{"profile": profileNone, "outcome": "refused"}, func(v float64) bool { return v == 1 })
		expect(t, mfs, "circa_sip2_profile_logins_total", map[string]string{"profile": kiosk}, func(v float64) bool { return v == 2 })
		expect(t, mfs, "circa_sip2_profile_sessions", map[string]string{"profile": kiosk}, func(v float64) bool { return v == 1 })
		expect(t, mfs, "circa_sip2_logins_failed_total", map[string]string{"listener": "sip2"}, func(v float64) bool { return v == 1 })
		expect(t, mfs, "circa_sip2_profile_errors_total", map[string]string{"profile": profileNone}, func(v float64) bool { return v == 1 })
		expect(t, mfs, "circa_sip2_errors_total", map[string]string{"listener": "sip2", "kind": "frame"}, func(v float64) bool { return v == 1 })
		if got := labelValues(mfs, "circa_sip2_profile_", "profile"); !slices.Equal(got, []string{kiosk, profileNone, profileOther}) {
			t.Errorf("profile labels %q: only configured profiles, none and other", got)
		}
	})
	t.Run("file exchange and publishing", func(t *testing.T) {
		bur := map[string]string{"profile": "BUR", "type": "bursar"}
		bad := map[string]string{"profile": "BAD", "type": "bursar"}
		expect(t, mfs, "circa_exchange_runs_total", map[string]string{"profile": "BUR", "result": "ok"}, func(v float64) bool { return v == 1 })
		expect(t, mfs, "circa_exchange_runs_total", map[string]string{"profile": "BAD", "result": "stopped"}, func(v float64) bool { return v == 1 })
		expect(t, mfs, "circa_exchange_files_total", bur, func(v float64) bool { return v == 1 })
		expect(t, mfs, "circa_exchange_last_success_timestamp_seconds", bur, func(v float64) bool {
			return math.Abs(v-float64(ranAt.Unix())) < 30
		})
		if _, ok := sample(mfs, "circa_exchange_last_success_timestamp_seconds", bad); ok {
			t.Error("a profile that never succeeded has a last success time")
		}
		expect(t, mfs, "circa_exchange_undelivered_files", bur, func(v float64) bool { return v == 0 })
		expect(t, mfs, "circa_exchange_stopped", bad, func(v float64) bool { return v == 1 })
		expect(t, mfs, "circa_exchange_undelivered_files", bad, func(v float64) bool { return v == 1 })
		expect(t, mfs, "circa_exchange_stopped", bur, func(v float64) bool { return v == 0 })
		films := map[string]string{"profile": "films"}
		expect(t, mfs, "circa_publishing_runs_total", map[string]string{"profile": "films", "kind": "full", "result": "ok"}, func(v float64) bool { return v == 1 })
		expect(t, mfs, "circa_publishing_files_total", films, func(v float64) bool { return v == 1 })
		expect(t, mfs, "circa_publishing_records_total", films, func(v float64) bool { return v > 0 })
		expect(t, mfs, "circa_publishing_last_success_timestamp_seconds", films, func(v float64) bool {
			return math.Abs(v-float64(time.Now().Unix())) < 60
		})
		expect(t, mfs, "circa_publishing_undelivered_files", films, func(v float64) bool { return v == 0 })
		expect(t, mfs, "circa_publishing_failing", films, func(v float64) bool { return v == 0 })
		expect(t, mfs, "circa_storage_messages_total", map[string]string{"profile": fixtures.StorageCode, "result": "failed"}, func(v float64) bool { return v >= 1 })
	})
	t.Run("build and store", func(t *testing.T) {
		expect(t, mfs, "circa_build_info", map[string]string{"version": currentBuild().Version, "goversion": runtime.Version()}, func(v float64) bool { return v == 1 })
		expect(t, mfs, "circa_store_healthy", nil, func(v float64) bool { return v == 1 })
		expect(t, mfs, "circa_store_last_commit_seconds", nil, func(v float64) bool { return v > 0 && v < 10 })
		expect(t, mfs, "circa_store_file_bytes", nil, func(v float64) bool {
			fi, err := os.Stat(filepath.Join(s.dir, "circa.db"))
			return err == nil && v == float64(fi.Size())
		})
		expect(t, mfs, "circa_background_leader", nil, func(v float64) bool { return v == 1 })
	})
	t.Run("alert rules name exported metrics", func(t *testing.T) {
		rules, err := os.ReadFile("../../docs/circa-alerts.yaml")
		if err != nil {
			t.Fatal(err)
		}
		names := metricNames(string(rules))
		if len(names) < 10 {
			t.Fatalf("the rules name only %q", names)
		}
		for _, n := range names {
			if !exported(mfs, n) {
				t.Errorf("docs/circa-alerts.yaml uses %s, which circa does not export", n)
			}
		}
	})
	t.Run("docs list every metric", func(t *testing.T) {
		page, err := os.ReadFile("../../docs/metrics.md")
		if err != nil {
			t.Fatal(err)
		}
		documented := metricNames(string(page))
		for name := range mfs {
			if strings.HasPrefix(name, "circa_") && !slices.Contains(documented, name) {
				t.Errorf("docs/metrics.md does not list %s", name)
			}
		}
		for _, n := range documented {
			if !exported(mfs, n) {
				t.Errorf("docs/metrics.md lists %s, which circa does not export", n)
			}
		}
	})

	// The client CA and server certificate as served; then a new server
	// certificate expiring in ten days, reloaded on SIGHUP.
	server := map[string]string{"use": "sip2_server"}
	expect(t, mfs, "circa_certificate_expiry_seconds", server, func(v float64) bool { return v > 30*86400 })
	expect(t, mfs, "circa_certificate_expiry_seconds", map[string]string{"use": "sip2_client_ca"}, func(v float64) bool { return v > 30*86400 })
	reissue(t, filepath.Join(s.dir, "tls"), 10*24*time.Hour)
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, _ := sample(scrape(t, s.httpURL), "circa_certificate_expiry_seconds", server)
		if v > 9*86400 && v <= 10*86400 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the reload the server certificate expires in %v s, want about ten days", v)
		}
		time.Sleep(20 * time.Millisecond)
	}

	held.Close()
	waitMetric(t, s.httpURL, "circa_sip2_profile_sessions", map[string]string{"profile": kiosk}, 0)
}

// expect checks the value of a series.
func expect(t *testing.T, mfs map[string]*dto.MetricFamily, name string, labels map[string]string, ok func(float64) bool) {
	t.Helper()
	v, found := sample(mfs, name, labels)
	if !found {
		t.Errorf("no series %s%v", name, labels)
	} else if !ok(v) {
		t.Errorf("%s%v = %v", name, labels, v)
	}
}

// waitMetric waits up to 10 s for a series to reach want.
func waitMetric(t *testing.T, httpURL, name string, labels map[string]string, want float64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, ok := sample(scrape(t, httpURL), name, labels)
		if ok && v == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s%v = %v, want %v", name, labels, v, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var metricName = regexp.MustCompile(`\bcirca_[a-z0-9_]*[a-z0-9]`)

// metricNames returns the circa metric names a text mentions.
func metricNames(text string) []string {
	names := metricName.FindAllString(text, -1)
	slices.Sort(names)
	return slices.Compact(names)
}

// exported reports whether name is a family of the scrape, or one of a
// histogram's series.
func exported(mfs map[string]*dto.MetricFamily, name string) bool {
	if _, ok := mfs[name]; ok {
		return true
	}
	for _, suffix := range []string{"_bucket", "_count", "_sum"} {
		if mf, ok := mfs[strings.TrimSuffix(name, suffix)]; ok && name != mf.GetName() && mf.GetType() == dto.MetricType_HISTOGRAM {
			return true
		}
	}
	return false
}

// reissue replaces the server certificate in dir with one from the same CA
// that is valid for d more.
func reissue(t *testing.T, dir string, d time.Duration) {
	t.Helper()
	ca, err := tls.LoadX509KeyPair(filepath.Join(dir, tlsproxy.CACertFile), filepath.Join(dir, "ca-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "circa reissued"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(d), DNSNames: []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Leaf, &key.PublicKey, ca.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, tlsproxy.ServerKeyFile), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, tlsproxy.ServerCertFile), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Kiosk labels stay bounded however many profiles log in: codes of
// configured profiles up to the bound, the rest as other, and an account
// that is no configured profile never becomes a label.
func TestSIP2ProfileLabelsAreBounded(t *testing.T) {
	reg := prometheus.NewRegistry()
	removed := map[string]bool{}
	configured := func(code string) bool { return strings.HasPrefix(code, "kiosk") && !removed[code] }
	v := newSIP2MetricVecs(reg, configured, []string{"kiosk-a"})
	obs := v.observer("sip2")
	for i := range maxProfileLabels + 10 {
		account := "kiosk" + strconv.Itoa(i)
		obs.LoggedIn(sip2.ConnInfo{}, account, "")
		obs.MessageHandled(account, "11", time.Millisecond, sip2.OutcomeOK)
	}
	obs.LoggedIn(sip2.ConnInfo{}, "stranger", "")
	obs.MessageHandled("stranger", "11", time.Millisecond, sip2.OutcomeOK)
	obs.MessageHandled("", "99", time.Millisecond, sip2.OutcomeRefused)
	obs.Malformed("", sip2.MalformedChecksum)

	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		byName[mf.GetName()] = mf
	}
	labels := labelValues(byName, "circa_sip2_profile_", "profile")
	if len(labels) != maxProfileLabels+2 || !slices.Contains(labels, "kiosk-a") || slices.Contains(labels, "stranger") ||
		!slices.Contains(labels, profileNone) || !slices.Contains(labels, profileOther) {
		t.Fatalf("%d labels: %q", len(labels), labels)
	}
	// kiosk-a came first; kiosk0 … kiosk62 filled the bound; kiosk63 on
	// and the stranger count as other.
	if v, _ := sample(byName, "circa_sip2_profile_messages_total", map[string]string{"profile": profileOther, "outcome": "ok"}); v != 12 {
		t.Errorf("other: %v messages", v)
	}
	if v, _ := sample(byName, "circa_sip2_profile_sessions", map[string]string{"profile": profileOther}); v != 12 {
		t.Errorf("other: %v sessions", v)
	}
	if v, _ := sample(byName, "circa_sip2_profile_errors_total", map[string]string{"profile": profileNone}); v != 1 {
		t.Errorf("none: %v errors", v)
	}
	// Closing gives the sessions back, and a second login on a connection moves it.
	obs.LoggedIn(sip2.ConnInfo{}, "kiosk1", "kiosk0")
	obs.ConnClosed(sip2.ConnInfo{}, "kiosk1")
	mfs, _ = reg.Gather()
	for _, mf := range mfs {
		byName[mf.GetName()] = mf
	}
	for code, want := range map[string]float64{"kiosk0": 0, "kiosk1": 1} {
		if v, _ := sample(byName, "circa_sip2_profile_sessions", map[string]string{"profile": code}); v != want {
			t.Errorf("%s: %v sessions, want %v", code, v, want)
		}
	}
	// Profiles removed from the configuration: the one without a kiosk
	// shows no sessions series, the one with a kiosk still does.
	removed["kiosk0"], removed["kiosk1"] = true, true
	mfs, _ = reg.Gather()
	for _, mf := range mfs {
		byName[mf.GetName()] = mf
	}
	if _, ok := sample(byName, "circa_sip2_profile_sessions", map[string]string{"profile": "kiosk0"}); ok {
		t.Error("a removed profile without kiosks still has a sessions series")
	}
	if v, _ := sample(byName, "circa_sip2_profile_sessions", map[string]string{"profile": "kiosk1"}); v != 1 {
		t.Errorf("a removed profile's connected kiosk: %v sessions", v)
	}
}

// closedAddr returns a loopback address where nothing listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// BenchmarkSIP2MetricsMessage is what the metrics add to each SIP2 message:
// the listener's histogram and the logged-in profile's series, from
// concurrent connections.
func BenchmarkSIP2MetricsMessage(b *testing.B) {
	obs := newSIP2MetricVecs(prometheus.NewRegistry(), func(string) bool { return true }, []string{fixtures.KioskLogin}).observer("sip2-tls")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			obs.MessageHandled(fixtures.KioskLogin, "11", 300*time.Microsecond, sip2.OutcomeOK)
		}
	})
}
