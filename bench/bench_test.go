package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/circa-ils/circa/ncip"
	"github.com/circa-ils/circa/sip2"
	"github.com/circa-ils/circa/store"
	"github.com/circa-ils/circa/store/boltstore"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var demoLogin = Login{User: "kiosk1", Password: "kiosk1pass", Location: "MAIN", Institution: "MAIN"}

func TestHistogramQuantilesWithinBucketError(t *testing.T) {
	var h Histogram
	rng := rand.New(rand.NewPCG(1, 2))
	vals := make([]time.Duration, 100_000)
	for i := range vals {
		// Latencies from 1 µs to about 1 s, log-uniform.
		vals[i] = time.Duration(float64(int64(1000)<<rng.IntN(20)) * (1 + rng.Float64()))
		h.Record(vals[i])
	}
	sort.Slice(vals, func(i, j int) bool { return vals[i] < vals[j] })
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		exact := vals[int(q*float64(len(vals)))-1]
		got := h.Quantile(q)
		if got < exact || float64(got) > float64(exact)*1.07 {
			t.Errorf("q%.3f = %v, exact %v", q, got, exact)
		}
	}
	if h.Max() != vals[len(vals)-1] || h.Count() != uint64(len(vals)) {
		t.Errorf("max %v count %d, want %v %d", h.Max(), h.Count(), vals[len(vals)-1], len(vals))
	}
}

func TestHistogramSmallValuesMergeAndReset(t *testing.T) {
	var a, b Histogram
	for i := range 10 {
		a.Record(time.Duration(i + 1))
	}
	b.Record(-5) // counts as zero
	b.Record(time.Hour)
	a.Merge(&b)
	if a.Count() != 12 || a.Quantile(0.5) != 5 || a.Max() != time.Hour || a.Quantile(0) != 0 {
		t.Fatalf("count %d p50 %v max %v p0 %v", a.Count(), a.Quantile(0.5), a.Max(), a.Quantile(0))
	}
	if got := a.Quantile(1); got != time.Hour {
		t.Errorf("p100 = %v", got)
	}
	a.Reset()
	if a.Count() != 0 || a.Quantile(0.99) != 0 || a.Mean() != 0 {
		t.Error("reset histogram not empty")
	}
	// Every value lands in a bucket whose upper bound is within 1/32 of it.
	for v := uint64(1); v < 1<<40; v = v*3/2 + 1 {
		b := bucketOf(v)
		if up := upperOf(b); up < v || float64(up-v) > float64(v)/subCount+1 {
			t.Fatalf("value %d in bucket %d with upper bound %d", v, b, up)
		}
	}
}

// reply signs a reply message with the sequence number and returns the
// line without terminator.
func reply(code, fixed, seq string, fields ...string) []byte {
	m := msg(code, fixed, fields...)
	m.Seq = seq
	return m.AppendTo(nil, &sip2.EncodeOptions{Checksum: true})
}

func TestValidateRepliesByKind(t *testing.T) {
	now := sipDate(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC))
	p := Party{Patron: "21000000001000", PIN: "1234", Item: "31000000001000"}
	out := checkoutStep(demoLogin, p, now)
	info := patronInfoStep(demoLogin, p, now)
	good := reply("12", "1NNY"+now, "3", "AO", "MAIN", "AA", p.Patron)
	corrupt := bytes.Clone(good)
	corrupt[len(corrupt)-1] ^= 1
	tampered := bytes.Clone(good)
	tampered[10] = 'X' // body changed, checksum no longer matches
	for _, tc := range []struct {
		name string
		line []byte
		st   *step
		seq  byte
		want string
	}{
		{"good checkout", good, &out, '3', ""},
		{"refused checkout", reply("12", "0NNY"+now, "3"), &out, '3', ErrStatus},
		{"wrong message", reply("10", "1NNN"+now, "3"), &out, '3', ErrCode},
		{"resend request", []byte("96AZFEF6"), &out, '3', ErrCode},
		{"sequence not echoed", good, &out, '4', ErrSeq},
		{"bad checksum digits", corrupt, &out, '3', ErrChecksum},
		{"body changed", tampered, &out, '3', ErrChecksum},
		{"no checksum", []byte("121NNY" + now + "AOMAIN|"), &out, '3', ErrChecksum},
		{"lowercase checksum accepted", []byte(strings.ToLower(string(good[len(good)-4:]))), &out, '3', ErrCode},
		{"valid patron", reply("64", "              000"+now+strings.Repeat("0000", 6), "1", "AO", "MAIN", "BL", "Y"), &info, '1', ""},
		{"invalid patron", reply("64", "              000"+now+strings.Repeat("0000", 6), "1", "AO", "MAIN", "BL", "N"), &info, '1', ErrStatus},
		{"empty", nil, &out, '3', ErrCode},
	} {
		if got := validate(tc.line, tc.st, tc.seq); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	// A lowercase checksum is read (lenient in).
	low := bytes.Clone(good)
	copy(low[len(low)-4:], strings.ToLower(string(low[len(low)-4:])))
	if got := validate(low, &out, '3'); got != "" {
		t.Errorf("lowercase checksum: %q", got)
	}
}

func TestMixRequestsAreValidSIP2(t *testing.T) {
	p := Party{Patron: "21000000001000", PIN: "1234", Item: "31000000001000"}
	for _, mix := range Mixes {
		steps := mix.build(demoLogin, p, sipDate(time.Now()))
		if len(steps) == 0 {
			t.Fatalf("%s: no steps", mix.Name)
		}
		writes := 0
		for _, st := range steps {
			for seq, b := range st.encode() {
				m, err := sip2.Decode(b[:len(b)-1], sip2.DecodeOptions{Checksum: sip2.ChecksumRequired})
				if err != nil {
					t.Fatalf("%s %s: %v", mix.Name, b, err)
				}
				if m.Seq != string(rune('0'+seq)) {
					t.Errorf("%s: seq %q, want %d", b, m.Seq, seq)
				}
			}
			if st.op != opRead {
				writes++
			}
		}
		if (writes > 0) != mix.Write {
			t.Errorf("%s: %d writes, Write=%v", mix.Name, writes, mix.Write)
		}
	}
	if _, err := MixByName("nosuch"); err == nil || !strings.Contains(err.Error(), "kiosk") {
		t.Errorf("unknown mix: %v", err)
	}
}

func startEcho(t *testing.T) *EchoServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := StartEcho(ln)
	t.Cleanup(func() { e.Close() })
	return e
}

func TestEchoAnswersEveryMixStepOverTCPAndTLS(t *testing.T) {
	plain := SIPTarget{Addr: startEcho(t).Addr()}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	te, client, err := StartTLSEcho(ln)
	if err != nil {
		t.Fatal(err)
	}
	defer te.Close()
	secure := SIPTarget{Addr: te.Addr(), TLS: client}
	p := Party{Patron: "21000000001000", PIN: "1234", Item: "31000000001000"}
	for _, target := range []SIPTarget{plain, secure} {
		for _, mix := range Mixes {
			c, err := newSIPConn(context.Background(), target, demoLogin, p, mix, time.Now(), 5*time.Second)
			if err != nil {
				t.Fatalf("%s: %v", mix.Name, err)
			}
			for range 25 { // more than ten: sequence numbers wrap
				c.next(time.Time{})
			}
			c.close()
			if c.done != 25 || len(c.errs) != 0 || c.hist.Count() != 25 {
				t.Errorf("%s over %s: done %d errors %v", mix.Name, target.Addr, c.done, c.errs)
			}
		}
	}
	// The echo's fixed replies are valid SIP2 for a strict decoder too.
	for code, r := range echoReplies() {
		for _, b := range r {
			if _, err := sip2.Decode(b[:len(b)-1], sip2.DecodeOptions{Checksum: sip2.ChecksumRequired}); err != nil {
				t.Errorf("reply to %s: %v", code, err)
			}
		}
	}
}

func TestWritesNeverRepeatTheirBytes(t *testing.T) {
	// The server answers a repeated request (same bytes, sequence number
	// and checksum) from its journal: a generator repeating itself would
	// measure replays. Writes must differ; reads may repeat.
	e := startEcho(t)
	p := Party{Patron: "21000000001000", PIN: "1234", Item: "31000000001000"}
	mix, _ := MixByName("checkout")
	c, err := newSIPConn(context.Background(), SIPTarget{Addr: e.Addr()}, demoLogin, p, mix, time.Now(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	seen := map[string]bool{}
	var last time.Time
	for i := range 60 {
		st := &c.steps[c.pos]
		b := string(c.stamp(st))
		if seen[b] {
			t.Fatalf("write %d repeats earlier bytes: %s", i, b)
		}
		seen[b] = true
		m, err := sip2.Decode([]byte(b[:len(b)-1]), sip2.DecodeOptions{Checksum: sip2.ChecksumRequired})
		if err != nil {
			t.Fatal(err)
		}
		stamp, ok := sip2.ParseDate(m.Fixed[st.dates[0]:st.dates[0]+sip2.DateLen], time.Local)
		if !ok || !stamp.After(last) {
			t.Fatalf("write %d stamped %v after %v", i, stamp, last)
		}
		last = stamp
		c.next(time.Time{}) // the real send advances the sequence number and step
	}
	if len(c.errs) != 0 || c.done != 60 {
		t.Errorf("errors %v done %d", c.errs, c.done)
	}
}

func TestEchoAnswersGarbageWithResend(t *testing.T) {
	e := startEcho(t)
	c, err := net.Dial("tcp", e.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("ZZnonsense\r\r"))
	buf := make([]byte, 64)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := io.ReadAtLeast(c, buf, 2*len("96AZFEF6\r"))
	if err != nil || string(buf[:n]) != "96AZFEF6\r96AZFEF6\r" {
		t.Fatalf("%q %v", buf[:n], err)
	}
	if sip2.Checksum([]byte("96AZ")) != 0xFEF6 {
		t.Error("the fixed 96 carries a wrong checksum")
	}
}

func TestHTTPEchoAnswersNCIPServices(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := StartHTTPEcho(ln)
	defer h.Close()
	for _, svc := range []string{"LookupUser", "CheckOutItem", "CheckInItem"} {
		req, err := ncip.BuildRequest(svc, []string{"from=DEMO-BROKER", "to=DEMO-LIBRARY", "user=21000000001000", "item=31000000001000"})
		if err != nil {
			t.Fatal(err)
		}
		body, err := ncip.EncodeRequest(req, ncip.WriteOptions{})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.Post(h.URL(), "application/xml", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !bytes.Contains(got, []byte("<ncip:"+svc+"Response>")) {
			t.Errorf("%s: %d %s", svc, resp.StatusCode, got)
		}
		// The reply decodes as that service's response.
		res, err := ncip.DecodeResponse(got, ncip.DecodeOptions{})
		if err != nil || res.Service != svc || len(res.Problems) != 0 {
			t.Errorf("%s: decode %v", svc, err)
		}
	}
	resp, err := http.Post(h.URL(), "application/xml", strings.NewReader("<x/>"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("unknown service: %d", resp.StatusCode)
	}
}

// runAgainstEcho runs the whole harness with an echo standing in for the
// server: discovery, claims, windows and the report.
func runAgainstEcho(t *testing.T, cfg Config) *Report {
	t.Helper()
	cfg.Server = SIPTarget{Addr: startEcho(t).Addr()}
	cfg.Echo = SIPTarget{Addr: startEcho(t).Addr()}
	cfg.Login = demoLogin
	cfg.ServerPID = os.Getpid()
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestReportJSONKeys(t *testing.T) {
	var progress bytes.Buffer
	rep := runAgainstEcho(t, Config{Mix: "kiosk", Conns: 4, Windows: 2, Window: 150 * time.Millisecond,
		StoreDir: t.TempDir(), StoreTime: 50 * time.Millisecond, Progress: &progress})
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"mix", "conns", "throughput_rps", "p50_ms", "p99_ms", "p999_ms", "errors",
		"echo_throughput_rps", "echo_p99_ms", "ratio_vs_echo", "group_commit_ops", "fsync_update_ops",
		"ratio_vs_group_commit", "ratio_vs_fsync_update", "conn_min_completions", "conn_max_completions",
		"server_cpu_us_per_req", "server_rss_kib", "steal_pct", "windows", "ratios", "host"} {
		if _, ok := m[k]; !ok {
			t.Errorf("key %q missing from %s", k, b)
		}
	}
	if rep.Errors != 0 || rep.Requests == 0 || rep.Pairs != 2 || len(rep.Windows) != 4 || rep.ConnMin == 0 {
		t.Errorf("errors %d requests %d pairs %d windows %d min %d", rep.Errors, rep.Requests, rep.Pairs, len(rep.Windows), rep.ConnMin)
	}
	if rep.GroupCommit <= 0 || rep.FsyncUpdate <= 0 || rep.WriteThroughput <= 0 {
		t.Errorf("store %+v writes %v", rep.Store, rep.WriteThroughput)
	}
	if strings.Count(progress.String(), "window ") != 4 {
		t.Errorf("progress:\n%s", progress.String())
	}
	var table bytes.Buffer
	rep.WriteTable(&table)
	for _, s := range []string{"ratio vs echo", "group commit", "per-connection completions"} {
		if !strings.Contains(table.String(), s) {
			t.Errorf("table lacks %q:\n%s", s, table.String())
		}
	}
	// Read mixes carry no store figures.
	rep = runAgainstEcho(t, Config{Mix: "read", Conns: 2, Windows: 1, Window: 50 * time.Millisecond, StoreDir: t.TempDir()})
	b, _ = json.Marshal(rep)
	if bytes.Contains(b, []byte("group_commit_ops")) || rep.Errors != 0 {
		t.Errorf("read mix: %s", b)
	}
}

func TestOpenLoopStormAndRequestCap(t *testing.T) {
	rep := runAgainstEcho(t, Config{Mix: "read", Load: Open, Rate: 400, Conns: 8, Windows: 1, Window: 200 * time.Millisecond})
	if rep.Errors != 0 || rep.Requests == 0 || rep.Requests > 200 {
		t.Errorf("open loop at 400/s for 200 ms: %d requests, %d errors", rep.Requests, rep.Errors)
	}
	rep = runAgainstEcho(t, Config{Mix: "status-poll", Load: Storm, Conns: 16, Windows: 2, Window: 10 * time.Millisecond})
	if rep.Errors != 0 || rep.Requests != 32 || rep.RatioVsEcho <= 0 {
		t.Errorf("storm: %d sessions, %d failures, ratio %v", rep.Requests, rep.Errors, rep.RatioVsEcho)
	}
	rep = runAgainstEcho(t, Config{Mix: "kiosk", Load: Idle, Conns: 20, Windows: 1, Window: 10 * time.Millisecond})
	if rep.Errors != 0 || rep.Requests != 20 || rep.Windows[1].KiBPerConn == 0 && rep.IdleKiB != 0 {
		t.Errorf("idle: %d sessions, %d failures, %+v", rep.Requests, rep.Errors, rep.Windows)
	}
	rep = runAgainstEcho(t, Config{Mix: "status-poll", Conns: 2, Windows: 3, Window: time.Minute, MaxRequests: 600})
	if rep.Requests != 300 || len(rep.Windows) != 6 {
		t.Errorf("request cap: %d requests in %d windows", rep.Requests, len(rep.Windows))
	}
}

func TestNCIPAgainstHTTPEcho(t *testing.T) {
	var urls []string
	for range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		h := StartHTTPEcho(ln)
		t.Cleanup(func() { h.Close() })
		urls = append(urls, h.URL())
	}
	for _, mix := range NCIPMixNames() {
		rep := runAgainstEcho(t, Config{Protocol: "ncip", Mix: mix, Conns: 3, Windows: 2, Window: 100 * time.Millisecond,
			NCIPServer: NCIPTarget{URL: urls[0], Key: "k"}, NCIPEcho: NCIPTarget{URL: urls[1]},
			Agencies: NCIPAgencies{From: "DEMO-BROKER", To: "DEMO-LIBRARY"}})
		if rep.Protocol != "ncip" || rep.Errors != 0 || rep.Requests == 0 || rep.RatioVsEcho <= 0 {
			t.Errorf("%s: %+v", mix, rep)
		}
		if (rep.WriteThroughput > 0) != (mix == "checkout") {
			t.Errorf("%s: writes %v/s", mix, rep.WriteThroughput)
		}
	}
	// A Problem, a wrong response and a transport error are counted by kind.
	srv := http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Header.Get("X-API-Key") {
		case "problem":
			w.Write([]byte("<ncip:NCIPMessage><ncip:LookupUserResponse><ncip:Problem></ncip:Problem></ncip:LookupUserResponse></ncip:NCIPMessage>"))
		case "wrong":
			w.Write([]byte("<ncip:NCIPMessage><ncip:CheckInItemResponse/></ncip:NCIPMessage>"))
		default:
			http.Error(w, "no", http.StatusForbidden)
		}
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	mix, _ := ncipMixByName("lookup-user")
	for key, want := range map[string]string{"problem": ErrProblem, "wrong": ErrCode, "": ErrHTTP} {
		c := &ncipConn{t: NCIPTarget{URL: "http://" + ln.Addr().String(), Key: key}, client: &http.Client{}}
		req, _ := ncip.BuildRequest("LookupUser", []string{"from=A", "to=B", "user=U"})
		body, _ := ncip.EncodeRequest(req, ncip.WriteOptions{})
		c.bodies, c.services, c.replies = [][]byte{body}, mix.services, [][]byte{[]byte("LookupUserResponse>")}
		if got := c.post(context.Background(), 0); got != want {
			t.Errorf("key %q: %q, want %q", key, got, want)
		}
		c.close()
	}
}

func TestDiscoverNeedsEnoughItems(t *testing.T) {
	// The echo knows every identifier; a dead address knows none.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if _, _, err := Discover(context.Background(), SIPTarget{Addr: addr}, demoLogin, 2, false, time.Second); err == nil {
		t.Error("discover on a closed port succeeded")
	}
	parties, patrons, err := Discover(context.Background(), SIPTarget{Addr: startEcho(t).Addr()}, demoLogin, 5, true, time.Second)
	if err != nil || len(parties) != 5 || patrons != 5 {
		t.Fatalf("%v %v %d", parties, err, patrons)
	}
	seen := map[string]bool{}
	for _, p := range parties {
		if seen[p.Item] {
			t.Errorf("item %s given to two connections", p.Item)
		}
		seen[p.Item] = true
	}
}

func TestStoreLimitsAndProc(t *testing.T) {
	lim, err := MeasureStore(context.Background(), t.TempDir(), 8, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if lim.GroupCommit <= 0 || lim.FsyncUpdate <= 0 || lim.OpsPerCommit < 1 || lim.Writers != 8 {
		t.Errorf("%+v", lim)
	}
	if procCPU(os.Getpid()) < 0 || procRSS(os.Getpid()) <= 0 || procCPU(-1) != -1 || procRSS(-1) != 0 || procRSS(1<<30) != 0 {
		t.Error("/proc readings")
	}
	if h := readHostCPU(); h.total == 0 {
		t.Error("/proc/stat unreadable")
	}
	if fs := fsOf(t.TempDir()); fs == "" {
		t.Error("no file system found for the temp directory")
	}
}

func TestVerifyWritesAfterCrash(t *testing.T) {
	path := filepath.Join(t.TempDir(), boltstore.DefaultFile)
	db, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	since := time.Now().UTC().Truncate(time.Second)
	before, after := since.Add(-time.Minute), since.Add(time.Second)
	// Each item's loans: true is a loan still out, false one returned.
	itemLoans := map[string][]bool{
		"I1": {false, false, true}, // checked out, in, out, in, out
		"I2": {false, true},        // out, in, then an unanswered checkout that happened
		"I3": {false},              // out, in, out acknowledged: the last checkout is lost
		"I4": {false, true},        // out, in, then a loan no write made
		"I5": {},                   // only a claim before the run
	}
	err = db.Update(context.Background(), func(tx store.Tx) error {
		// db check reports records naming a library, group or policy that
		// does not exist.
		if err := tx.PutLibrary(&store.Library{Code: "MAIN", Name: "Main", Timezone: "UTC", Currency: "USD"}); err != nil {
			return err
		}
		if err := tx.PutGroup(&store.Group{Code: "UNDERGRAD", Name: "Undergraduates"}); err != nil {
			return err
		}
		if err := tx.PutPolicy(&store.Policy{Code: "BOOK", Name: "Book"}); err != nil {
			return err
		}
		p := &store.Patron{Barcode: "P1", LastName: "One", UserGroup: "UNDERGRAD", HomeLibrary: "MAIN", Expiry: since.AddDate(1, 0, 0)}
		if err := tx.PutPatron(p, before); err != nil {
			return err
		}
		bib := &store.Bib{Title: "A title"}
		if err := tx.PutBib(bib, before); err != nil {
			return err
		}
		for _, b := range []string{"I1", "I2", "I3", "I4", "I5"} {
			it := &store.Item{Barcode: b, BibID: bib.ID, Library: "MAIN", Policy: "BOOK", Status: store.ItemAvailable, Pieces: 1}
			if n := len(itemLoans[b]); n > 0 && itemLoans[b][n-1] {
				it.Status = store.ItemOnLoan
			}
			if err := tx.PutItem(it, before); err != nil {
				return err
			}
			// The claim Discover made before the run, returned: not the run's.
			claim := &store.Loan{ItemID: it.ID, PatronID: p.ID, Library: "MAIN", Out: before, Due: since.AddDate(0, 0, 21)}
			if err := tx.OpenLoan(claim); err != nil {
				return err
			}
			if err := tx.CloseLoan(claim, before, "MAIN"); err != nil {
				return err
			}
			for _, open := range itemLoans[b] {
				l := &store.Loan{ItemID: it.ID, PatronID: p.ID, Library: "MAIN", Out: after, Due: since.AddDate(0, 0, 21)}
				if err := tx.OpenLoan(l); err != nil {
					return err
				}
				if !open {
					if err := tx.CloseLoan(l, after, "MAIN"); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	out, in, renew := write{op: opCheckout, acked: true}, write{op: opCheckin, acked: true}, write{op: opRenew, acked: true}
	unanswered := func(w write) write { w.acked = false; return w }
	party := func(item string, log ...write) Writes {
		return Writes{Party: Party{Patron: "P1", Item: item}, Since: since, log: log}
	}
	res, err := VerifyWrites(path, []Writes{
		party("I1", out, renew, in, out, in, out),
		party("I2", out, in, unanswered(out)),
		party("I5", unanswered(out)), // in flight at the kill, never applied
	})
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK || res.Checked != 8 || res.Acked != 8 || res.Checkouts != 4 || res.Checkins != 3 || res.Renewals != 1 ||
		res.Unanswered != 2 || len(res.Missing) != 0 {
		t.Errorf("all found: %+v", res)
	}
	res, err = VerifyWrites(path, []Writes{
		party("I1", out, in, out, in, out, in), // the last checkin is lost
		party("I3", out, in, out),
		party("I4", out, in),
		party("I5", out),
		{Party: Party{Patron: "P1", Item: "I9"}, Since: since, log: []write{out}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.OK || len(res.Missing) != 5 || res.Checked != 9 {
		t.Errorf("missing writes: %+v", res)
	}
	// Nothing acknowledged is nothing checked, which is not a pass.
	if res, err = VerifyWrites(path, []Writes{party("I5", unanswered(out))}); err != nil || res.OK || res.Checked != 0 {
		t.Errorf("nothing to check: %+v %v", res, err)
	}
}

func TestAddrLines(t *testing.T) {
	var a Addrs
	for _, l := range []string{"circa dev serving /x/circa.db", "  sip2      127.0.0.1:1", "  sip2-tls  127.0.0.1:2 (CA /d/tls/ca.pem)",
		"  http      http://127.0.0.1:3 (/ncip /oai /metrics /healthz)", "  admin     /d/admin.sock"} {
		a.parseAddrLine(l)
	}
	want := Addrs{SIP2: "127.0.0.1:1", SIP2TLS: "127.0.0.1:2", HTTP: "127.0.0.1:3", CA: "/d/tls/ca.pem"}
	if a != want {
		t.Errorf("%+v", a)
	}
	if _, err := ClientTLS(filepath.Join(t.TempDir(), "none.pem")); err == nil {
		t.Error("missing CA file accepted")
	}
}
