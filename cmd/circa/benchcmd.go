package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/circa-ils/circa/bench"
	"github.com/circa-ils/circa/fixtures"
	"github.com/spf13/cobra"
)

// benchOptions are the flags of circa bench and circa bench sip2.
type benchOptions struct {
	self        bool
	exe         string
	addr        string
	useTLS      bool
	caFile      string
	allowRemote bool
	conns       int
	duration    time.Duration
	windows     int
	mix         string
	load        string
	rate        float64
	maxRequests uint64
	timeout     time.Duration
	storeDir    string
	storeTime   time.Duration
	crashAt     time.Duration
	json        bool
	login       bench.Login

	proto    string // "sip2" or "ncip"
	url      string
	key      string
	agencies bench.NCIPAgencies
}

func newBenchCommand(a *app) *cobra.Command {
	o := &benchOptions{}
	cmd := &cobra.Command{
		Use:   "bench [sip2] (--self | --addr ADDR) [flags]",
		Short: "Load-test a SIP2 server against an echo baseline measured in the same run",
		Long: "Drive real SIP2 sessions (93 login once, 99, then the mix) against a server and against a built-in\n" +
			"echo server with the same framing, in alternating windows (echo, server, echo, server, …), and report\n" +
			"each window, the pairwise ratios and their median. Every reply is checked: message type, AY echo, AZ\n" +
			"checksum and the expected ok flag. Write mixes first measure the store's group-commit limit and its\n" +
			"one-fsync-per-operation rate on the server's disk.\n\n" +
			"Mixes: read (99, 23, 17, 63), kiosk (63, 11, 29, 17, 09), sorter (11, then 17 and 09), checkout (11, 09),\n" +
			"status-poll (99). Loads: closed (no think time), open (--rate in total, Poisson, latency from the\n" +
			"intended send time), storm (every connection connects, logs in and sends 99 at once), idle (every\n" +
			"session held open while the server's resident set is measured).\n\n" +
			"--self starts `circa serve --demo` (and the echo) as child processes on free loopback ports in a\n" +
			"temporary directory, so one command gives the whole report; every child is stopped on exit.",
		Example: "  circa bench --self --mix kiosk --conns 100 --duration 10s --json\n" +
			"  circa bench sip2 --self --tls --mix read --conns 100\n" +
			"  circa bench --self --mix kiosk --conns 20 --crash-at 3s\n" +
			"  circa bench sip2 --addr 127.0.0.1:6001 --mix read --load open --rate 1000 --conns 1000",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBench(cmd.Context(), a, o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	addBenchFlags(cmd, o)
	sip := &cobra.Command{
		Use:   "sip2 (--self | --addr ADDR) [flags]",
		Short: "Load-test a SIP2 server (the same as circa bench)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			return runBench(c.Context(), a, o, c.OutOrStdout(), c.ErrOrStderr())
		},
	}
	addBenchFlags(sip, o)
	cmd.AddCommand(sip, newBenchNCIPCommand(a), newBenchEchoCommand(a))
	return cmd
}

func newBenchNCIPCommand(a *app) *cobra.Command {
	o := &benchOptions{}
	cmd := &cobra.Command{
		Use:   "ncip (--self | --url URL --addr SIP2ADDR) [flags]",
		Short: "Load-test an NCIP responder against an HTTP echo measured in the same run",
		Long: "Drive NCIP over HTTP/1.1 keep-alive (one TCP connection per generator connection) against the\n" +
			"responder and against a built-in HTTP echo with a fixed NCIP reply, in alternating windows. Every\n" +
			"answer must be HTTP 200 with the service's response and no Problem. Patrons and items are found over\n" +
			"SIP2 (--addr, or the child server with --self).\n\n" +
			"Mixes: lookup-user (LookupUser), checkout (CheckOutItem then CheckInItem of each connection's item).",
		Example: "  circa bench ncip --self --mix checkout --conns 10 --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.proto = "ncip"
			if !cmd.Flags().Changed("mix") {
				o.mix = "lookup-user"
			}
			return runBench(cmd.Context(), a, o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	addBenchFlags(cmd, o)
	f := cmd.Flags()
	f.StringVar(&o.url, "url", "", "the NCIP endpoint, e.g. http://127.0.0.1:8080/ncip")
	f.StringVar(&o.key, "key", fixtures.PartnerKey, "API key sent as X-API-Key (or --key-file)")
	addSecretFile(f, "key", "the API key", setFlag(f, "key"))
	f.StringVar(&o.agencies.From, "from", fixtures.PartnerAgency, "FromAgencyId of the requests")
	f.StringVar(&o.agencies.To, "to", fixtures.LocalAgency, "ToAgencyId of the requests")
	return cmd
}

func addBenchFlags(cmd *cobra.Command, o *benchOptions) {
	f := cmd.Flags()
	f.BoolVar(&o.self, "self", false, "start circa serve --demo as a child process and benchmark it")
	f.StringVar(&o.exe, "exe", "", "the circa binary --self starts (default: this one)")
	f.StringVar(&o.addr, "addr", "", "SIP2 server address (plain, or TLS with --tls)")
	f.BoolVar(&o.useTLS, "tls", false, "speak SIP2 over TLS")
	f.StringVar(&o.caFile, "ca", "", "CA file the server's certificate is checked against (--tls)")
	f.BoolVar(&o.allowRemote, "allow-remote", false, "allow a server that is not on loopback")
	f.IntVar(&o.conns, "conns", 10, "connections to each of server and echo")
	f.DurationVar(&o.duration, "duration", 10*time.Second, "total length of the measured windows (echo and server)")
	f.IntVar(&o.windows, "windows", 5, "pairs of windows (echo, server) the duration is split into")
	f.StringVar(&o.mix, "mix", "read", "request mix: read, kiosk, sorter, checkout, status-poll")
	f.StringVar(&o.load, "load", bench.Closed, "load model: closed, open, storm or idle")
	f.Float64Var(&o.rate, "rate", 0, "open loop: total requests per second (implies --load open)")
	f.Uint64Var(&o.maxRequests, "max-requests", 10_000_000, "stop after the server has answered this many requests")
	f.DurationVar(&o.timeout, "timeout", 10*time.Second, "per-request timeout")
	f.StringVar(&o.storeDir, "store-dir", "", "where to measure the store's commit limits (default: the data directory with --self, else the temp directory)")
	f.DurationVar(&o.storeTime, "store-time", time.Second, "length of each store measurement")
	f.DurationVar(&o.crashAt, "crash-at", 0, "with --self: SIGKILL the server after this much load on it (moved at least a tenth into a window, so writes are in flight), restart it and check every acknowledged checkout, checkin and renewal against the store (SIP2; fails when none was checked)")
	f.BoolVar(&o.json, "json", false, "print one JSON object instead of the table")
	f.StringVar(&o.login.User, "login", fixtures.KioskLogin, "SIP2 login user (93 CN)")
	f.StringVar(&o.login.Password, "password", fixtures.KioskPassword, "SIP2 login password (93 CO; or --password-file)")
	addSecretFile(f, "password", "the login password", setFlag(f, "password"))
	f.StringVar(&o.login.Institution, "institution", fixtures.KioskInstitution, "institution id (AO)")
	f.StringVar(&o.login.Location, "location", fixtures.KioskInstitution, "location code (93 CP, 09 AP)")
}

func runBench(ctx context.Context, a *app, o *benchOptions, out, errOut io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if o.self == (o.addr != "") {
		return usageError("give exactly one of --self and --addr")
	}
	if o.conns < 1 || o.windows < 1 || o.duration <= 0 || o.maxRequests == 0 {
		return usageError("--conns, --windows, --duration and --max-requests must be positive")
	}
	if o.crashAt > 0 && !o.self {
		return usageError("--crash-at needs --self: it kills and restarts the server")
	}
	if o.crashAt > 0 && o.proto == "ncip" {
		return usageError("--crash-at checks SIP2 writes only")
	}
	if o.proto == "ncip" {
		if !slices.Contains(bench.NCIPMixNames(), o.mix) {
			return usageError("unknown NCIP mix %q (one of %s)", o.mix, strings.Join(bench.NCIPMixNames(), ", "))
		}
		if !o.self && o.url == "" {
			return usageError("give --url (and --addr of the same server's SIP2) or --self")
		}
		if o.load == bench.Storm || o.load == bench.Idle || o.useTLS {
			return usageError("--load storm, --load idle and --tls are SIP2 only")
		}
	} else if _, err := bench.MixByName(o.mix); err != nil {
		return usageError("%v", err)
	}
	if o.rate > 0 && o.load == bench.Closed {
		o.load = bench.Open
	}
	switch o.load {
	case bench.Closed, bench.Storm, bench.Idle:
	case bench.Open:
		if o.rate <= 0 {
			return usageError("--load open needs --rate")
		}
	default:
		return usageError("unknown load %q (closed, open, storm or idle)", o.load)
	}
	cfg := bench.Config{Protocol: o.proto, Agencies: o.agencies, Mix: o.mix, Load: o.load, Conns: o.conns, Rate: o.rate, Windows: o.windows,
		Window: o.duration / time.Duration(2*o.windows), MaxRequests: o.maxRequests, Timeout: o.timeout,
		Login: o.login, StoreTime: o.storeTime, CrashAt: o.crashAt, Progress: errOut}
	var self *bench.Self
	if o.self {
		exe := o.exe
		if exe == "" {
			var err error
			if exe, err = os.Executable(); err != nil {
				return err
			}
		}
		var err error
		if self, err = bench.StartSelf(ctx, exe); err != nil {
			return err
		}
		defer self.Close()
		if err := self.Configure(&cfg, o.useTLS); err != nil {
			return err
		}
		cfg.NCIPServer.Key = o.key
	} else {
		if err := checkLoopback(o.addr, o.allowRemote); err != nil {
			return err
		}
		cfg.Server = bench.SIPTarget{Addr: o.addr}
		echo, err := startLocalEcho(a, &cfg, o)
		if err != nil {
			return err
		}
		defer echo.Close()
		if o.proto == "ncip" {
			u, err := url.Parse(o.url)
			if err != nil || u.Host == "" {
				return usageError("--url %q is not an http URL", o.url)
			}
			if err := checkLoopback(u.Host, o.allowRemote); err != nil {
				return err
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return err
			}
			h := bench.StartHTTPEcho(ln)
			defer h.Close()
			cfg.NCIPServer = bench.NCIPTarget{URL: o.url, Key: o.key}
			cfg.NCIPEcho = bench.NCIPTarget{URL: h.URL()}
		}
		cfg.StoreDir = os.TempDir()
	}
	if o.storeDir != "" {
		cfg.StoreDir = a.path(o.storeDir)
	}
	rep, err := bench.Run(ctx, cfg)
	if err != nil {
		return err
	}
	if o.crashAt > 0 {
		if !rep.Crashed {
			return fmt.Errorf("the run ended before --crash-at %s: give a longer --duration", o.crashAt)
		}
		res, err := self.CheckCrash(ctx, rep.Writes)
		if err != nil {
			return err
		}
		res.KilledAfterMS = o.crashAt.Milliseconds()
		rep.Crash = res
	}
	if o.json {
		enc := json.NewEncoder(out)
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		rep.WriteTable(out)
	}
	if rep.Crash != nil && !rep.Crash.OK {
		return &exitError{code: 1, err: fmt.Errorf("crash check failed: %d of %d acknowledged writes found, %d missing, %d store problems",
			rep.Crash.Checked, rep.Crash.Acked, len(rep.Crash.Missing), len(rep.Crash.DBProblems))}
	}
	return nil
}

// startLocalEcho runs the echo in this process for a server given by
// address; with --tls it presents a fresh self-signed certificate.
func startLocalEcho(a *app, cfg *bench.Config, o *benchOptions) (io.Closer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	if !o.useTLS {
		e := bench.StartEcho(ln)
		cfg.Echo = bench.SIPTarget{Addr: e.Addr()}
		return e, nil
	}
	tc, err := bench.ClientTLS(a.path(o.caFile))
	if err != nil {
		ln.Close()
		return nil, err
	}
	cfg.Server.TLS = tc
	e, echoClient, err := bench.StartTLSEcho(ln)
	if err != nil {
		ln.Close()
		return nil, err
	}
	cfg.Echo = bench.SIPTarget{Addr: e.Addr(), TLS: echoClient}
	return e, nil
}

// checkLoopback refuses a server off this machine unless allowed: a load
// test is not something to point at a production system by accident.
func checkLoopback(addr string, allow bool) error {
	if allow {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return usageError("--addr %q: %v", addr, err)
	}
	ips, err := net.LookupIP(host)
	if err != nil {
		return usageError("--addr %q: %v", addr, err)
	}
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return usageError("--addr %s is not on loopback; pass --allow-remote to load a remote server", addr)
		}
	}
	return nil
}

func newBenchEchoCommand(a *app) *cobra.Command {
	o := bench.EchoOptions{}
	cmd := &cobra.Command{
		Use:   "echo",
		Short: "Run the echo baselines (SIP2 plain and TLS, NCIP over HTTP) until stopped",
		Long: "The echo servers answer every request with a fixed, valid reply of the right type and sequence\n" +
			"number, with the same framing as circa serve. circa bench drives them in the same run as the server.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			o.CertFile, o.KeyFile = a.path(o.CertFile), a.path(o.KeyFile)
			return bench.ServeEcho(ctx, o, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.SIP2Addr, "sip2-addr", "127.0.0.1:6101", "plain SIP2 echo address (empty: off)")
	f.StringVar(&o.SIP2TLSAddr, "sip2-tls-addr", "127.0.0.1:6543", "SIP2 over TLS echo address (empty: off)")
	f.StringVar(&o.HTTPAddr, "http-addr", "127.0.0.1:8180", "NCIP HTTP echo address")
	f.StringVar(&o.CertFile, "tls-cert", "", "certificate the TLS echo presents (default: a fresh self-signed one)")
	f.StringVar(&o.KeyFile, "tls-key", "", "key of --tls-cert")
	return cmd
}
