package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/sync/errgroup"

	"github.com/circa-ils/circa/daia"
	"github.com/circa-ils/circa/fixtures"
	"github.com/circa-ils/circa/forwarded"
	"github.com/circa-ils/circa/internal/sdnotify"
	"github.com/circa-ils/circa/ldapauth"
	"github.com/circa-ils/circa/ncip"
	"github.com/circa-ils/circa/ncip/responder"
	"github.com/circa-ils/circa/netlimit"
	fx "github.com/circa-ils/circa/profiles/exchange"
	"github.com/circa-ils/circa/profiles/initiator"
	"github.com/circa-ils/circa/profiles/oai"
	"github.com/circa-ils/circa/profiles/publishing"
	"github.com/circa-ils/circa/sip2"
	"github.com/circa-ils/circa/sip2/selfcheck"
	"github.com/circa-ils/circa/statuspage"
	"github.com/circa-ils/circa/store"
	"github.com/circa-ils/circa/tlsproxy"
)

type serveOptions struct {
	demo          bool
	sip2Addr      string
	sip2TLSAddr   string
	httpAddr      string
	httpsAddr     string
	proxies       []string
	debugAddr     string
	tlsCert       string
	tlsKey        string
	tlsClientCA   string
	tlsClientAuth string
	maxConns      int
	maxUnauth     int
	httpMaxConns  int
	httpPerSource int
	idleTimeout   time.Duration
	loginTimeout  time.Duration
	shutdownGrace time.Duration
	logFile       string
	oai           publishing.Options
}

func newServeCommand(a *app) *cobra.Command {
	o := &serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the server on a data directory",
		Long: `Run the server: SIP2 in plain text (loopback by default) and over TLS, HTTP (/ncip, /oai,
/api/availability, /metrics, /healthz; loopback by default), HTTPS for partners and harvesters
(/ncip, /oai, /api/availability, /healthz) and the admin socket the other circa commands use while it runs.
Logs go to stderr (for journald), or with --log-file appended to a file.

With --demo an empty data directory is seeded with the demo library and its profiles
first, a self-signed CA and server certificate are made in DATA/tls when none exists,
and every listener stays on loopback unless an address is given. Port 0 picks a free
port; the chosen addresses are printed on start-up. SIGTERM drains and stops; SIGHUP
reopens the log file and re-reads the TLS certificate of SIP2 over TLS and HTTPS.

Under systemd (Type=notify) it reports ready once every listener is bound and
serving, and feeds the unit's watchdog while the database can commit.

Every flag has a key in the configuration file given with --config (YAML) and a
CIRCA_ environment variable; flags override the environment, which overrides the
file. circa config show prints what each setting comes to and from where.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if a.server != nil {
				return usageError("serve cannot run through the admin socket")
			}
			return runServe(cmd.Context(), a, o)
		},
	}
	markReadsSettings(cmd)
	f := cmd.Flags()
	f.BoolVar(&o.demo, "demo", false, "seed the demo library into an empty data directory; loopback only")
	f.StringVar(&o.sip2Addr, "sip2-addr", "127.0.0.1:6001", "plain SIP2 address (empty: off)")
	f.StringVar(&o.sip2TLSAddr, "sip2-tls-addr", ":6443", "SIP2 over TLS address (empty: off; with --demo 127.0.0.1:6443)")
	f.StringVar(&o.httpAddr, "http-addr", "127.0.0.1:8080", "HTTP address for /ncip, /oai, /api/availability, /metrics and /healthz")
	f.StringVar(&o.httpsAddr, "https-addr", ":8443", "HTTPS address for /ncip, /oai, /api/availability and /healthz (empty: off; with --demo 127.0.0.1:8443)")
	f.StringSliceVar(&o.proxies, "http-trusted-proxies", nil, "reverse proxies (addresses or CIDR prefixes) whose Forwarded and X-Forwarded-For/-Proto headers are believed")
	f.StringVar(&o.debugAddr, "debug-addr", "", "address for Go's /debug/pprof profiles (empty: off; keep it on loopback)")
	f.StringVar(&o.tlsCert, "tls-cert", "", "server certificate (default DATA/tls/server.pem)")
	f.StringVar(&o.tlsKey, "tls-key", "", "server key (default DATA/tls/server-key.pem)")
	f.StringVar(&o.tlsClientCA, "tls-client-ca", "", "CA bundle for kiosk client certificates (default DATA/tls/ca.pem when present)")
	f.StringVar(&o.tlsClientAuth, "tls-client-auth", "optional", "kiosk client certificates: none, optional or required")
	f.IntVar(&o.maxConns, "max-conns", 0, "most concurrent SIP2 connections per listener (0: the open-file limit less a reserve, shared by the SIP2 listeners)")
	f.IntVar(&o.maxUnauth, "max-unauth-per-source", 64, "most SIP2 connections from one address that have not logged in (0: no limit)")
	f.IntVar(&o.httpMaxConns, "http-max-conns", 0, "most concurrent HTTP and HTTPS connections together (0: half the open-file reserve left beside the SIP2 listeners)")
	f.IntVar(&o.httpPerSource, "http-max-conns-per-source", 64, "most concurrent HTTP and HTTPS connections from one address, a proxy's included (0: no limit)")
	f.DurationVar(&o.idleTimeout, "idle-timeout", 30*time.Minute, "close a SIP2 connection idle this long")
	f.DurationVar(&o.loginTimeout, "login-timeout", 2*time.Minute, "close a SIP2 connection that has not logged in by then")
	f.DurationVar(&o.shutdownGrace, "shutdown-grace", 10*time.Second, "how long busy connections may take to finish on SIGTERM")
	f.StringVar(&o.logFile, "log-file", "", "append logs to this file, reopened on SIGHUP for logrotate (default: stderr)")
	f.StringVar(&o.oai.Name, "oai-name", "circa catalogue", "OAI-PMH repositoryName")
	f.StringVar(&o.oai.BaseURL, "oai-base-url", "", "OAI-PMH baseURL as harvesters reach it (default: taken from each request)")
	f.StringSliceVar(&o.oai.AdminEmails, "oai-admin-email", []string{"circa-admin@example.org"}, "OAI-PMH adminEmail (repeatable)")
	f.StringVar(&o.oai.RepositoryID, "oai-repository-id", "catalog.circa.invalid", "domain-like name in OAI identifiers (oai:NAME:bib-id)")
	return cmd
}

// demoAddrs are where --demo listens over TLS unless told otherwise, by
// flag: its well-known credentials stay on loopback.
var demoAddrs = map[string]string{"sip2-tls-addr": "127.0.0.1:6443", "https-addr": "127.0.0.1:8443"}

// applyDemoDefaults moves the TLS listeners to demoAddrs under --demo when
// no flag, variable or file gave an address, and says so in effective.
func applyDemoDefaults(fs *pflag.FlagSet, effective []effectiveSetting) error {
	if demo, err := fs.GetBool("demo"); err != nil || !demo {
		return err
	}
	for flag, addr := range demoAddrs {
		if fs.Changed(flag) {
			continue
		}
		if err := fs.Set(flag, addr); err != nil {
			return err
		}
		for i := range effective {
			if effective[i].flag == flag {
				effective[i].value, effective[i].origin = addr, "default with --demo"
			}
		}
	}
	return nil
}

func runServe(ctx context.Context, a *app, o *serveOptions) error {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	systemd, err := sdnotify.FromEnv()
	if err != nil {
		return err
	}
	var reloads []func() // on SIGHUP, in this order
	logOut := a.errOut
	if o.logFile != "" {
		lf, err := openLogFile(a.path(o.logFile))
		if err != nil {
			return err
		}
		defer lf.Close()
		logOut = lf
		reloads = append(reloads, func() {
			if err := lf.Reopen(); err != nil {
				a.log.Error().Err(err).Msg("keeping the old log file")
			}
		})
	}
	switch {
	case a.logFormat == "json":
		lines := newLineBatcher(logOut)
		defer lines.Close()
		a.log = a.log.Output(lines)
	case o.logFile != "":
		a.log = a.log.Output(consoleWriter(logOut))
	}
	proxies, err := forwarded.ParseProxies(o.proxies)
	if err != nil {
		return usageError("--http-trusted-proxies: %v", err)
	}
	maxConns, httpMaxConns := connLimits(a, o)
	b, err := openBackendWith(a.dataDir, true, a.log)
	if err != nil {
		return err
	}
	defer b.Close()
	if o.demo {
		if err := seedDemoIfEmpty(ctx, a, b); err != nil {
			return err
		}
	}
	reg, err := b.registry(ctx)
	if err != nil {
		return err
	}

	metrics := prometheus.NewRegistry()
	metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	registerStoreMetrics(metrics, b.db)
	registerAuthMetrics(metrics, b.svc)
	metrics.MustRegister(newDirectoryCollector(b.directory))
	registerBuildInfo(metrics)
	metrics.MustRegister(newJobsCollector(b.db, reg))
	b.exchangeObserver, b.publishingObserver = exchangeMetrics(metrics), publishingMetrics(metrics)
	sipMetrics := newSIP2MetricVecs(metrics, func(code string) bool {
		_, ok := reg.Current().SelfCheck[code]
		return ok
	}, sortedKeys(reg.Current().SelfCheck))

	// Listeners first, so a busy port fails start-up before anything runs.
	var lns []net.Listener
	closeAll := func() {
		for _, l := range lns {
			l.Close()
		}
	}
	listen := func(addr string) (net.Listener, error) {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			closeAll()
			return nil, err
		}
		lns = append(lns, l)
		return l, nil
	}
	httpLn, err := listen(o.httpAddr)
	if err != nil {
		return fmt.Errorf("http listener: %w", err)
	}
	httpRefused := httpRejectedCounter(metrics)
	httpLimits := netlimit.NewListener(httpLn, httpMaxConns, o.httpPerSource,
		&netlimit.RefusalLog{Log: a.log, Proto: "http"}, func(limit string) { httpRefused.WithLabelValues(limit).Inc() })
	httpLn = httpLimits
	var debugLn net.Listener
	if o.debugAddr != "" {
		if debugLn, err = listen(o.debugAddr); err != nil {
			return fmt.Errorf("debug listener: %w", err)
		}
	}
	var sipLn, sipTLSLn net.Listener
	if o.sip2Addr != "" {
		if sipLn, err = listen(o.sip2Addr); err != nil {
			return fmt.Errorf("SIP2 listener: %w", err)
		}
	}
	var files tlsFiles
	if o.sip2TLSAddr != "" || o.httpsAddr != "" {
		if files, err = serverTLSFiles(a, o); err != nil {
			closeAll()
			return err
		}
	}
	var sip2TLSCfg, httpsCfg *tlsproxy.ServerConfig
	var tlsCfgs []*tlsproxy.ServerConfig // reloaded on SIGHUP
	if o.sip2TLSAddr != "" {
		sc, err := sip2TLSConfig(o, files)
		if err != nil {
			closeAll()
			return err
		}
		sip2TLSCfg = sc
		tlsCfgs = append(tlsCfgs, sc)
		l, err := listen(o.sip2TLSAddr)
		if err != nil {
			return fmt.Errorf("SIP2 TLS listener: %w", err)
		}
		sipTLSLn = tlsproxy.NewListener(l, sc.TLSConfig(), 30*time.Second)
	}
	var httpsLn net.Listener
	var ncipOpts []responder.Option
	if o.httpsAddr != "" {
		sc, err := httpsTLSConfig(files)
		if err != nil {
			closeAll()
			return err
		}
		httpsCfg = sc
		tlsCfgs = append(tlsCfgs, sc)
		ncipOpts = append(ncipOpts, responder.WithClientCAs(sc.ClientCAs))
		l, err := listen(o.httpsAddr)
		if err != nil {
			return fmt.Errorf("HTTPS listener: %w", err)
		}
		httpsLn = httpsListener(httpLimits.Share(l), sc, serveHTTPTimeouts.handshake)
	}

	sc, err := selfcheck.NewHandler(selfcheck.Options{Service: b.svc, Profiles: reg, Logger: a.log})
	if err != nil {
		closeAll()
		return err
	}
	sipOpts := func(listener string) *sip2.Options {
		return &sip2.Options{Handler: sc, Logger: a.log.With().Str("listener", listener).Logger(),
			Observer: sipMetrics.observer(listener), Location: b.zone(ctx, ""), MaxConns: maxConns,
			MaxUnauthPerSource: o.maxUnauth, IdleTimeout: o.idleTimeout, LoginTimeout: o.loginTimeout}
	}
	sipSrv := sip2.NewServer(sipOpts("sip2"))
	sipTLSSrv := sip2.NewServer(sipOpts("sip2-tls"))

	// Partners and harvesters reach the same routes over HTTP and HTTPS;
	// /metrics stays on the plain listener, which is loopback by default.
	partnerMux := http.NewServeMux()
	partnerMux.Handle("GET /healthz", healthHandler(b.db, b.directory))
	ncipHandler := ncip.NewHandler(responder.New(b.svc, reg.Current, ncipOpts...), ncip.HandlerOptions{
		Logger: a.log, Observer: ncipObserver(metrics), PathPrefix: "/ncip"})
	partnerMux.Handle("/ncip", ncipHandler)
	partnerMux.Handle("/ncip/", ncipHandler)
	oaiHandler, err := publishing.Handler(b.db, o.oai, oai.Options{Logger: a.log})
	if err != nil {
		closeAll()
		return err
	}
	partnerMux.Handle("/oai", oaiHandler)
	availability, err := daia.NewHandler(daia.Options{Service: b.svc, Logger: a.log.With().Str("component", "availability").Logger(),
		Observer: availabilityObserver(metrics)})
	if err != nil {
		closeAll()
		return err
	}
	partnerMux.Handle(daia.Path, availability)
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(metrics, promhttp.HandlerOpts{}))
	mux.Handle("/", partnerMux)

	ls := listeners{http: httpLn, https: httpsLn, sip2: sipLn, sip2TLS: sipTLSLn, debug: debugLn}
	var sipServers []statuspage.SIP2Listener
	if sipLn != nil {
		sipServers = append(sipServers, statuspage.SIP2Listener{Name: "sip2", Server: sipSrv})
	}
	if sipTLSLn != nil {
		sipServers = append(sipServers, statuspage.SIP2Listener{Name: "sip2-tls", Server: sipTLSSrv})
	}
	statusPage, err := statuspage.New(statuspage.Options{DB: b.db, Circ: b.svc, Registry: reg, SIP2: sipServers,
		Listeners: func() []statuspage.Listener { return ls.forStatus(sip2TLSCfg, httpsCfg) },
		Health:    func(ctx context.Context) store.Health { return storeHealth(ctx, b.db) },
		Logger:    a.log.With().Str("component", "status").Logger()})
	if err != nil {
		closeAll()
		return err
	}
	// Staff reach the page on HTTPS too; sign-in is refused over plain
	// HTTP from another machine.
	partnerMux.Handle(statuspage.PagePath, statusPage)
	partnerMux.Handle(statuspage.PagePath+"/", statusPage)

	scheduler, err := fx.NewScheduler(fx.Options{DB: b.db, Circ: b.svc, Registry: reg,
		Dir: fx.DataDir(a.dataDir), Logger: a.log.With().Str("component", "exchange").Logger(), Observer: b.exchangeObserver})
	if err != nil {
		closeAll()
		return err
	}
	sender, err := initiator.New(initiator.Options{DB: b.db, Registry: reg, Clock: b.svc.Now,
		Logger: a.log, Observer: storageMetrics(metrics)})
	if err != nil {
		closeAll()
		return err
	}
	publisher, err := publishing.NewPublisher(b.db, publishing.PublisherOptions{Dir: filepath.Join(a.dataDir, "publishing"),
		Logger: a.log.With().Str("component", "publishing").Logger(), Observer: b.publishingObserver})
	if err != nil {
		closeAll()
		return err
	}
	httpSrv := newHTTPServer(forwarded.Handler(proxies, mux), serveHTTPTimeouts, a.log.With().Str("listener", "http").Logger())
	httpsSrv := newHTTPServer(forwarded.Handler(proxies, partnerMux), serveHTTPTimeouts, a.log.With().Str("listener", "https").Logger())

	adm, err := listenAdmin(a, b)
	if err != nil {
		closeAll()
		return err
	}
	ls.admin = adm.ln
	registerCertificateMetrics(metrics, time.Now, map[string]*tlsproxy.ServerConfig{"sip2": sip2TLSCfg, "https": httpsCfg})
	printAddresses(a, o, b, ls, files.printedCA, adm)
	for _, sc := range tlsCfgs {
		reloads = append(reloads, func() { reloadCertificate(a, sc) })
	}
	stopHangup := onHangup(ctx, reloads...)
	defer stopHangup()

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := httpSrv.Serve(httpLn); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	if httpsLn != nil {
		g.Go(func() error {
			if err := httpsSrv.Serve(httpsLn); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})
	}
	if debugLn != nil {
		// Profiles only: a listener of its own, so they are never exposed where /ncip is.
		debugSrv := &http.Server{Handler: pprofMux(), ReadHeaderTimeout: 10 * time.Second}
		g.Go(func() error {
			if err := debugSrv.Serve(debugLn); !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
				return err
			}
			return nil
		})
		g.Go(func() error { <-gctx.Done(); return debugSrv.Close() })
	}
	if sipLn != nil {
		g.Go(func() error { return sipSrv.Serve(sipLn) })
	}
	if sipTLSLn != nil {
		g.Go(func() error { return sipTLSSrv.Serve(sipTLSLn) })
	}
	g.Go(func() error { return adm.Serve(gctx) })
	// The loops that act for the whole library run on one node at a time.
	g.Go(func() error {
		return runLeading(gctx, b.db, a.log.With().Str("component", "leader").Logger(), leaderGauge(metrics),
			func(ctx context.Context) error { pruneHourly(ctx, a, b); return nil },
			scheduler.Run, sender.Run, publisher.Run)
	})
	g.Go(func() error { return b.directory.Run(gctx) })
	// Every listener is bound and has its server: connections made from
	// now on are served (the kernel queues those made before Serve runs).
	if err := systemd.Notify(sdnotify.Ready); err != nil {
		a.log.Error().Err(err).Msg("could not tell systemd the server is ready")
	}
	g.Go(func() error {
		systemd.RunWatchdog(gctx, func(ctx context.Context) error {
			if h := storeHealth(ctx, b.db); !h.OK {
				return errors.New(h.Failure)
			}
			return nil
		}, func(err error) { a.log.Error().Err(err).Msg("not feeding the systemd watchdog") })
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		a.log.Info().Msg("shutting down")
		if err := systemd.Notify(sdnotify.Stopping); err != nil {
			a.log.Error().Err(err).Msg("could not tell systemd the server is stopping")
		}
		sctx, cancel := context.WithTimeout(context.Background(), o.shutdownGrace)
		defer cancel()
		return errors.Join(sipSrv.Shutdown(sctx), sipTLSSrv.Shutdown(sctx), httpSrv.Shutdown(sctx), httpsSrv.Shutdown(sctx),
			adm.Shutdown(sctx))
	})
	err = g.Wait()
	a.log.Info().Msg("stopped")
	return err
}

// healthReport is the body of /healthz.
type healthReport struct {
	Status string       `json:"status"` // "ok" or "failing"
	Store  store.Health `json:"store"`
	// LDAP says of each directory whether it answered its last check. A
	// directory that is down leaves the status ok: local patrons and
	// everything but its patrons' logins still work.
	LDAP map[string]directoryHealth `json:"ldap,omitempty"`
}

// directoryHealth is a directory's part of /healthz; why it is down is in
// the log and `circa ldap test`, not here, where partners read.
type directoryHealth struct {
	Up bool `json:"up"`
}

// healthProbeWait bounds how long /healthz waits for a probe commit; a
// disk slower than that is reported as still writing.
const healthProbeWait = 2 * time.Second

// healthHandler answers /healthz: 200 while the store can write, 503 with
// the failure from a commit the disk refused until a later commit succeeds.
// Reads may still work then, but nothing a kiosk or broker does is stored,
// which is what a load balancer or an operator must hear. An idle server's
// answer stays current through the store's probe commit, written at most
// once per store.ProbeAfter however often this is asked.
func healthHandler(db store.DB, dir *ldapauth.Directory) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rep := healthReport{Store: storeHealth(r.Context(), db)}
		for code, st := range dir.Sources() {
			if rep.LDAP == nil {
				rep.LDAP = map[string]directoryHealth{}
			}
			rep.LDAP[code] = directoryHealth{Up: st.Up()}
		}
		rep.Status = "ok"
		code := http.StatusOK
		if !rep.Store.OK {
			rep.Status, code = "failing", http.StatusServiceUnavailable
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(rep)
	})
}

// storeHealth is the store's verdict for /healthz, the status page and the
// circa_store_healthy metric: whether it can read, and then whether its
// latest commit (or a probe, at most once per store.ProbeAfter however
// often it is asked) succeeded.
func storeHealth(ctx context.Context, db store.DB) store.Health {
	if err := db.View(ctx, func(store.Tx) error { return nil }); err != nil {
		h := db.Health()
		h.OK, h.Failure = false, err.Error()
		return h
	}
	ctx, cancel := context.WithTimeout(ctx, healthProbeWait)
	defer cancel()
	return db.CheckHealth(ctx)
}

// fileReserve is how many descriptors the default --max-conns leaves for
// everything but SIP2 connections: the HTTP, admin and debug listeners and
// their connections, the database, log and exchange files.
func fileReserve(files uint64) uint64 { return 64 + files/8 }

// connLimits raises the open-file limit and returns the connection limit of
// each SIP2 listener and of the HTTP listener. By default the SIP2
// listeners share the open-file limit less the reserve, and HTTP may take
// half the reserve, so that neither a flood of kiosk connections nor one of
// HTTP connections leaves accept without descriptors for the other.
func connLimits(a *app, o *serveOptions) (sip2PerListener, http int) {
	files, err := raiseFileLimit()
	if err != nil {
		a.log.Warn().Err(err).Uint64("open_files", files).Msg("could not raise the open-file limit")
	}
	http = o.httpMaxConns
	if files == 0 {
		return o.maxConns, http
	}
	reserve := fileReserve(files)
	if http <= 0 {
		http = int(min(reserve/2, 1<<20))
	}
	listeners := uint64(0)
	for _, addr := range []string{o.sip2Addr, o.sip2TLSAddr} {
		if addr != "" {
			listeners++
		}
	}
	if listeners == 0 {
		return o.maxConns, http
	}
	if o.maxConns > 0 {
		if uint64(o.maxConns)*listeners+reserve > files {
			a.log.Warn().Int("max_conns", o.maxConns).Uint64("open_files", files).
				Msg("--max-conns is above what the open-file limit allows; accept may fail for want of descriptors")
		}
		return o.maxConns, http
	}
	n := 1
	if files > reserve {
		n = int(min((files-reserve)/listeners, 1<<20))
	}
	a.log.Info().Uint64("open_files", files).Int("max_conns", n).Int("http_max_conns", http).
		Msg("connection limits from the open-file limit")
	return n, http
}

// listeners are the server's sockets; all but http and admin may be nil.
type listeners struct{ http, https, sip2, sip2TLS, debug, admin net.Listener }

// forStatus lists the sockets for the status page, with the expiry of the
// certificate each TLS listener serves now (it changes on SIGHUP).
func (ls listeners) forStatus(sip2TLS, https *tlsproxy.ServerConfig) []statuspage.Listener {
	var out []statuspage.Listener
	add := func(name string, l net.Listener, sc *tlsproxy.ServerConfig) {
		if l == nil {
			return
		}
		sl := statuspage.Listener{Name: name, Addr: l.Addr().String()}
		if sc != nil {
			if c := sc.Certificate(); c != nil {
				sl.CertExpires = c.NotAfter
			}
		}
		out = append(out, sl)
	}
	add("http", ls.http, nil)
	add("https", ls.https, https)
	add("sip2", ls.sip2, nil)
	add("sip2-tls", ls.sip2TLS, sip2TLS)
	add("debug", ls.debug, nil)
	add("admin", ls.admin, nil)
	return out
}

func printAddresses(a *app, o *serveOptions, b *backend, ls listeners, caFile string, adm *adminServer) {
	httpLn, sipLn, sipTLSLn := ls.http, ls.sip2, ls.sip2TLS
	out := a.out
	fmt.Fprintf(out, "circa %s serving %s\n", currentBuild().Version, b.db.Describe())
	if sipLn != nil {
		fmt.Fprintf(out, "  sip2      %s\n", sipLn.Addr())
	}
	if sipTLSLn != nil {
		if caFile != "" {
			fmt.Fprintf(out, "  sip2-tls  %s (CA %s)\n", sipTLSLn.Addr(), caFile)
		} else {
			fmt.Fprintf(out, "  sip2-tls  %s\n", sipTLSLn.Addr())
		}
	}
	fmt.Fprintf(out, "  http      http://%s (/ncip /oai /api/availability /metrics /healthz /status)\n", httpLn.Addr())
	if ls.https != nil {
		fmt.Fprintf(out, "  https     https://%s (/ncip /oai /api/availability /healthz /status)\n", ls.https.Addr())
	}
	if ls.debug != nil {
		fmt.Fprintf(out, "  debug     http://%s/debug/pprof/\n", ls.debug.Addr())
	}
	fmt.Fprintf(out, "  admin     %s\n", adm.ln.Addr())
	if o.demo {
		fmt.Fprintf(out, "demo self-check login: %s / %s (institution %s); NCIP key %s; patrons and items in fixtures/README.md\n",
			fixtures.KioskLogin, fixtures.KioskPassword, fixtures.KioskInstitution, fixtures.PartnerKey)
	}
	ev := a.log.Info().Str("http", httpLn.Addr().String()).Str("data_dir", a.dataDir)
	if sipLn != nil {
		ev = ev.Str("sip2", sipLn.Addr().String())
	}
	if sipTLSLn != nil {
		ev = ev.Str("sip2_tls", sipTLSLn.Addr().String())
	}
	if ls.https != nil {
		ev = ev.Str("https", ls.https.Addr().String())
	}
	ev.Msg("serving")
}

// pruneHourly prunes, hourly, the answers kept for retried requests whose
// retry window has ended (payment and charge ids are kept for good) and
// the audit entries older than the audit retention period.
func pruneHourly(ctx context.Context, a *app, b *backend) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			var n int
			now := b.svc.Now()
			err := b.db.Update(ctx, func(tx store.Tx) error {
				var err error
				n, err = tx.ForgetBefore(now)
				return err
			})
			if err != nil {
				a.log.Error().Err(err).Msg("pruning retry answers failed")
			} else if n > 0 {
				a.log.Info().Int("pruned", n).Msg("pruned retry answers")
			}
			n, err = b.db.PruneAudit(ctx, time.Now())
			if err != nil {
				a.log.Error().Err(err).Msg("pruning the audit trail failed")
			} else if n > 0 {
				a.log.Info().Int("pruned", n).Msg("pruned audit entries past their retention")
			}
		}
	}
}

// seedDemoIfEmpty seeds the demo library and its profiles into a database
// without records.
func seedDemoIfEmpty(ctx context.Context, a *app, b *backend) error {
	stats, err := b.db.Stats()
	if err != nil {
		return err
	}
	if stats["libraries"] > 0 || stats["items"] > 0 {
		return nil
	}
	sum, err := fixtures.Seed(ctx, b.db, fixtures.Options{Now: time.Now().UTC().Truncate(time.Second)})
	if err != nil {
		return fmt.Errorf("seed demo library: %w", err)
	}
	if err := b.reloadRules(ctx); err != nil {
		return err
	}
	reg, err := b.registry(ctx)
	if err != nil {
		return err
	}
	if err := fixtures.SeedProfiles(ctx, reg); err != nil {
		return fmt.Errorf("seed demo profiles: %w", err)
	}
	a.log.Info().Int("items", sum.Items).Int("patrons", sum.Patrons).Int("bibs", sum.Bibs).Msg("demo library seeded")
	return nil
}

// pprofMux serves Go's runtime profiles under /debug/pprof/.
func pprofMux() *http.ServeMux {
	m := http.NewServeMux()
	m.HandleFunc("/debug/pprof/", pprof.Index)
	m.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	m.HandleFunc("/debug/pprof/profile", pprof.Profile)
	m.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	m.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return m
}
