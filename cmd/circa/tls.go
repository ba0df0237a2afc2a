package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/circa-ils/circa/profiles"
	"github.com/circa-ils/circa/store"
	"github.com/circa-ils/circa/tlsproxy"
)

func tlsDir(a *app, dir string) string {
	if dir != "" {
		return a.path(dir)
	}
	return filepath.Join(a.dataDir, "tls")
}

func newTLSCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "tls", Short: "Make the CA, server, kiosk and NCIP partner certificates for SIP2 over TLS and HTTPS"}
	var dir string
	var hosts []string
	initCmd := &cobra.Command{
		Use:   "init",
		Short: "Create a CA and a server certificate signed by it",
		Long: `Create a CA (ca.pem, ca-key.pem) and a server certificate (server.pem, server-key.pem)
for the given host names and addresses in DIR (default DATA/tls, where serve looks).
Kiosks, stunnel and circa tunnel verify the server against ca.pem.`,
		Args: cobra.NoArgs,
		RunE: a.admin(func(cmd *cobra.Command, args []string) error {
			p, err := tlsproxy.InitCA(tlsDir(a, dir), hosts)
			if err != nil {
				return err
			}
			if err := a.auditCertificate(cmd, "server", "", p, strings.Join(hosts, " ")); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "CA          %s\ncertificate %s\nkey         %s\n", p.CACert, p.Cert, p.Key)
			return nil
		}),
	}
	initCmd.Flags().StringVar(&dir, "dir", "", "directory for the files (default DATA/tls)")
	initCmd.Flags().StringSliceVar(&hosts, "host", []string{"localhost", "127.0.0.1"}, "host names and IP addresses the server answers as")

	var issueDir, out, profile, institution string
	issue := &cobra.Command{
		Use:   "issue --profile CODE",
		Short: "Issue a client certificate for a group of kiosks or an NCIP partner",
		Long: `Issue a client certificate naming a profile (subject CN) and an institution
(URI urn:circa:institution:CODE), signed by the CA in --dir. A profile that requires a
client certificate accepts only logins (SIP2 over TLS) or requests (HTTPS) presenting
one that names it. The profile (self-check, NCIP partner or remote storage) must exist.`,
		Args: cobra.NoArgs,
		RunE: a.admin(func(cmd *cobra.Command, args []string) error {
			if profile == "" {
				return usageError("--profile is required")
			}
			// A certificate naming no profile would be refused at every
			// login, long after it was installed on a kiosk.
			err := a.withProfiles(func(b *backend, reg *profiles.Registry) error {
				return certProfileExists(reg.Current(), profile)
			})
			if err != nil {
				return err
			}
			outDir := a.path(out)
			if out == "" {
				outDir = tlsDir(a, issueDir)
			}
			p, err := tlsproxy.IssueClient(tlsDir(a, issueDir), profile, institution, outDir)
			if err != nil {
				return err
			}
			if err := a.auditCertificate(cmd, "client "+profile, profile, p, institution); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "certificate %s\nkey         %s\nCA          %s\n", p.Cert, p.Key, p.CACert)
			return nil
		}),
	}
	issue.Flags().StringVar(&issueDir, "dir", "", "directory holding the CA (default DATA/tls)")
	issue.Flags().StringVar(&out, "out", "", "directory for the client files (default: the CA directory)")
	issue.Flags().StringVar(&profile, "profile", "", "self-check profile code the certificate names")
	issue.Flags().StringVar(&institution, "institution", "", "institution id the certificate names")
	cmd.AddCommand(initCmd, issue)
	return cmd
}

// auditCertificate records a certificate made, by the paths of its files
// (never the key's content) and what it names. A certificate made before
// the data directory has a database (tls init at installation) has no
// trail to go to, and making one for it would be a surprise.
func (a *app) auditCertificate(cmd *cobra.Command, key, profile string, p tlsproxy.Paths, names string) error {
	if _, err := os.Stat(dbPath(a.dataDir)); a.server == nil && errors.Is(err, os.ErrNotExist) {
		return nil
	}
	abs := func(p string) string {
		if a, err := filepath.Abs(p); err == nil {
			return a
		}
		return p
	}
	return a.withBackend(func(b *backend) error {
		return b.db.RecordAudit(cmd.Context(), "certificate", key, profile, struct {
			Certificate string `json:"certificate"`
			KeyFile     string `json:"key_file"`
			CA          string `json:"ca"`
			Names       string `json:"names,omitempty"`
		}{abs(p.Cert), abs(p.Key), abs(p.CACert), names})
	})
}

func newTunnelCommand(a *app) *cobra.Command {
	o := &tlsproxy.TunnelOptions{}
	cmd := &cobra.Command{
		Use:   "tunnel --connect HOST:6443 [--connect HOST2:6443…]",
		Short: "Run on a kiosk PC instead of stunnel: plain SIP2 in, TLS to the server out",
		Long: `Accept plain SIP2 from kiosks on --listen (loopback) and carry each connection over TLS to
a server, verifying it against --ca and presenting --cert/--key when given.

With several servers (--connect repeated, or separated by commas) each kiosk connection
goes to the server that last answered; when that one cannot be reached the tunnel tries
the others in the order given, so kiosks move to a server that works and stay there.
A server that refuses connections is passed at once; one that accepts and then hangs
holds each kiosk connection that tries it for up to --dial-timeout. While no server can
be reached, a kiosk connection waits and the tunnel retries with backoff. A kiosk
connection stays with its server; when that server goes away the kiosk reconnects and
logs in again, through the tunnel, to one that answers.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			for i, s := range o.Servers {
				o.Servers[i] = strings.TrimSpace(s)
			}
			if len(o.Servers) == 0 {
				return usageError("--connect is required")
			}
			o.CertFile, o.KeyFile, o.CAFile = a.path(o.CertFile), a.path(o.KeyFile), a.path(o.CAFile)
			o.Logger = a.log.With().Str("component", "tunnel").Logger()
			t, err := tlsproxy.NewTunnel(o)
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", o.Listen)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "tunnel %s → %s (TLS)\n", ln.Addr(), strings.Join(o.Servers, ", "))
			return runUntilSignal(cmd.Context(), func() error { return t.Serve(ln) }, t.Shutdown)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Listen, "listen", tlsproxy.DefaultTunnelListen, "plain address kiosks connect to")
	f.StringSliceVar(&o.Servers, "connect", nil, "a circa server's TLS address; repeat or separate with commas to name servers tried in order")
	f.StringVar(&o.CertFile, "cert", "", "client certificate (from circa tls issue)")
	f.StringVar(&o.KeyFile, "key", "", "client key")
	f.StringVar(&o.CAFile, "ca", "", "CA certificate the servers must chain to")
	f.StringVar(&o.ServerName, "server-name", "", "name to verify in every server's certificate (default: the host of each --connect)")
	f.DurationVar(&o.DialTimeout, "dial-timeout", tlsproxy.DefaultDialTimeout, "longest wait for one server's TCP connect and TLS handshake")
	f.IntVar(&o.MaxAttempts, "max-attempts", 0, "attempts (each trying every server once) per kiosk connection before giving up (0: default)")
	return cmd
}

func newTLSProxyCommand(a *app) *cobra.Command {
	var listen, upstream, cert, key, clientCA, clientAuth string
	cmd := &cobra.Command{
		Use:   "tlsproxy --upstream HOST:PORT",
		Short: "Front a plaintext SIP2 server with TLS (TLS in, plain out)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if upstream == "" || cert == "" || key == "" {
				return usageError("--upstream, --cert and --key are required")
			}
			auth, err := tlsproxy.ParseClientAuth(clientAuth)
			if err != nil {
				return usageError("%v", err)
			}
			sc, err := tlsproxy.NewServerConfig(tlsproxy.ServerOptions{CertFile: a.path(cert), KeyFile: a.path(key),
				ClientAuth: auth, ClientCAFile: a.path(clientCA)})
			if err != nil {
				return err
			}
			p, err := tlsproxy.NewProxy(&tlsproxy.ProxyOptions{Upstream: upstream, TLSConfig: sc.TLSConfig(),
				Logger: a.log.With().Str("component", "tlsproxy").Logger()})
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "tlsproxy %s (TLS) → %s\n", ln.Addr(), upstream)
			stopReload := reloadOnHUP(cmd.Context(), a, sc)
			defer stopReload()
			return runUntilSignal(cmd.Context(), func() error { return p.Serve(ln) }, p.Shutdown)
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", ":6443", "TLS address to accept on")
	f.StringVar(&upstream, "upstream", "", "plaintext SIP2 server")
	f.StringVar(&cert, "cert", "", "server certificate")
	f.StringVar(&key, "key", "", "server key")
	f.StringVar(&clientCA, "client-ca", "", "CA bundle for client certificates")
	f.StringVar(&clientAuth, "client-auth", "none", "client certificates: none, optional or required")
	return cmd
}

// runUntilSignal serves until SIGTERM or SIGINT, then shuts down with a grace period.
func runUntilSignal(ctx context.Context, serve func() error, shutdown func(context.Context) error) error {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- serve() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := shutdown(sctx)
	if serr := <-errc; serr != nil && !errors.Is(serr, net.ErrClosed) {
		err = errors.Join(err, serr)
	}
	return err
}

// reloadOnHUP re-reads the certificate files on SIGHUP without dropping
// connections; a bad file keeps the old certificate and is logged.
func reloadOnHUP(ctx context.Context, a *app, sc *tlsproxy.ServerConfig) (stop func()) {
	return onHangup(ctx, func() { reloadCertificate(a, sc) })
}

func reloadCertificate(a *app, sc *tlsproxy.ServerConfig) {
	if err := sc.Reload(); err != nil {
		a.log.Error().Err(err).Msg("TLS certificate reload failed; keeping the old certificate")
	} else {
		a.log.Info().Msg("TLS certificate reloaded")
	}
}

// certProfileExists refuses a code that names no profile a client
// certificate can stand for.
func certProfileExists(s *profiles.Snapshot, code string) error {
	_, sc := s.SelfCheck[code]
	_, nc := s.NCIP[code]
	_, st := s.Storage[code]
	if sc || nc || st {
		return nil
	}
	known := append(append(sortedKeys(s.SelfCheck), sortedKeys(s.NCIP)...), sortedKeys(s.Storage)...)
	return &exitError{code: 1, err: fmt.Errorf("no self-check, NCIP or storage profile %q%s; add it first (circa profile selfcheck add)",
		code, store.DidYouMean(code, known))}
}
