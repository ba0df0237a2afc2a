package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/circa-ils/circa/fixtures"
	"github.com/circa-ils/circa/store"
)

type serveOptions struct {
	demo          bool
	httpAddr      string
	shutdownGrace time.Duration
}

func newServeCommand(a *app) *cobra.Command {
	o := &serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the server on a data directory",
		Long: `Run the server: the store, HTTP (/healthz, /metrics) and the admin socket that
other circa commands use while it runs. With --demo an empty data directory is
seeded with the demo library first, and every listener stays on loopback.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if a.server != nil {
				return usageError("serve cannot run through the admin socket")
			}
			return runServe(cmd.Context(), a, o)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.demo, "demo", false, "seed the demo library into an empty data directory and listen on loopback only")
	f.StringVar(&o.httpAddr, "http-addr", "127.0.0.1:8080", "HTTP address for /ncip, /oai, /metrics and /healthz (port 0 picks a free port)")
	f.DurationVar(&o.shutdownGrace, "shutdown-grace", 10*time.Second, "how long busy connections may take to finish on SIGTERM")
	return cmd
}

func runServe(ctx context.Context, a *app, o *serveOptions) error {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	b, err := openBackend(a.dataDir)
	if err != nil {
		return err
	}
	defer b.Close()
	if o.demo {
		if err := seedDemoIfEmpty(ctx, a, b); err != nil {
			return err
		}
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	registerStoreMetrics(reg, b.db)

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if err := b.db.View(r.Context(), func(*store.Tx) error { return nil }); err != nil {
			http.Error(w, "store unavailable", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	httpSrv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	httpLn, err := net.Listen("tcp", o.httpAddr)
	if err != nil {
		return fmt.Errorf("http listener: %w", err)
	}
	adm, err := listenAdmin(a, b)
	if err != nil {
		httpLn.Close()
		return err
	}

	out := a.out
	fmt.Fprintf(out, "circa %s serving %s\n", version, b.db.Path())
	fmt.Fprintf(out, "  http      http://%s (/metrics /healthz)\n", httpLn.Addr())
	fmt.Fprintf(out, "  admin     %s\n", adm.ln.Addr())
	a.log.Info().Str("http", httpLn.Addr().String()).Str("data_dir", a.dataDir).Msg("serving")

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := httpSrv.Serve(httpLn); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	g.Go(func() error { return adm.Serve(gctx) })
	g.Go(func() error {
		<-gctx.Done()
		a.log.Info().Msg("shutting down")
		sctx, cancel := context.WithTimeout(context.Background(), o.shutdownGrace)
		defer cancel()
		return errors.Join(httpSrv.Shutdown(sctx), adm.Shutdown(sctx))
	})
	err = g.Wait()
	a.log.Info().Msg("stopped")
	return err
}

// seedDemoIfEmpty seeds the demo library into a database without records.
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

func registerStoreMetrics(reg *prometheus.Registry, db *store.DB) {
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "circa_store_commits_total", Help: "Write transactions committed (each fsync'd).",
	}, func() float64 { c, _ := db.CommitStats(); return float64(c) }))
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "circa_store_operations_total", Help: "Write operations committed; operations/commits is the group-commit batch size.",
	}, func() float64 { _, n := db.CommitStats(); return float64(n) }))
}
