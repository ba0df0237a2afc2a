package bench

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/circa-ils/circa/store"
)

// Self is a server under test that the run starts itself: `circa serve
// --demo` on free loopback ports in a temporary directory, plus the echo
// baseline as a second child (`circa bench echo`) so both are measured
// from /proc the same way.
type Self struct {
	Exe string // the circa binary
	Dir string // working directory; removed by Close

	server, echo *Process
	serveArgs    []string
}

// StartSelf starts the server on the demo library and the echo.
func StartSelf(ctx context.Context, exe string) (*Self, error) {
	dir, err := os.MkdirTemp("", "circa-bench-")
	if err != nil {
		return nil, err
	}
	s := &Self{Exe: exe, Dir: dir}
	data := filepath.Join(dir, "data")
	// Measured as deployed: logging a line per message, into a file. Every
	// kiosk comes from one address here, so the cap per source is off.
	s.serveArgs = []string{"serve", "--demo", "--data-dir", data, "--sip2-addr", "127.0.0.1:0",
		"--sip2-tls-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--log-level", "info",
		"--max-unauth-per-source", "0"}
	if s.server, err = StartProcess(ctx, exe, s.serveArgs, filepath.Join(dir, "server.log")); err != nil {
		s.Close()
		return nil, err
	}
	// The echo presents the server's own certificate, so handshakes cost
	// the same on both sides.
	s.echo, err = StartProcess(ctx, exe, []string{"bench", "echo", "--sip2-addr", "127.0.0.1:0",
		"--sip2-tls-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0",
		"--tls-cert", filepath.Join(data, "tls", "server.pem"), "--tls-key", filepath.Join(data, "tls", "server-key.pem")},
		filepath.Join(dir, "echo.log"))
	if err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// DataDir is the server's data directory.
func (s *Self) DataDir() string { return filepath.Join(s.Dir, "data") }

// Configure points cfg at the children: plain or TLS SIP2, their PIDs, the
// store baseline on the server's disk and the kill switch for --crash-at.
func (s *Self) Configure(cfg *Config, useTLS bool) error {
	cfg.Server = SIPTarget{Addr: s.server.Addrs.SIP2}
	cfg.Echo = SIPTarget{Addr: s.echo.Addrs.SIP2}
	if useTLS {
		tc, err := ClientTLS(s.server.Addrs.CA)
		if err != nil {
			return err
		}
		cfg.Server = SIPTarget{Addr: s.server.Addrs.SIP2TLS, TLS: tc}
		cfg.Echo = SIPTarget{Addr: s.echo.Addrs.SIP2TLS, TLS: tc}
	}
	cfg.NCIPServer.URL = "http://" + s.server.Addrs.HTTP + "/ncip"
	cfg.NCIPEcho.URL = "http://" + s.echo.Addrs.HTTP + "/ncip"
	cfg.ServerPID, cfg.EchoPID = s.server.PID(), s.echo.PID()
	cfg.StoreDir = s.DataDir()
	cfg.MetricsURL = "http://" + s.server.Addrs.HTTP + "/metrics"
	cfg.Kill = s.server.Kill
	return nil
}

// Addrs are the server's and the echo's addresses.
func (s *Self) Addrs() (server, echo Addrs) { return s.server.Addrs, s.echo.Addrs }

// CheckCrash restarts the killed server on the same data directory, stops
// it, and checks in the store that every acknowledged checkout is on loan
// to its patron, every acknowledged checkin is returned, and the store is
// consistent.
func (s *Self) CheckCrash(ctx context.Context, acked []AckedLoan) (*CrashResult, error) {
	restarted, err := StartProcess(ctx, s.Exe, s.serveArgs, filepath.Join(s.Dir, "server.log"))
	if err != nil {
		return nil, fmt.Errorf("restart after the kill: %w", err)
	}
	if err := restarted.Stop(30 * time.Second); err != nil {
		return nil, fmt.Errorf("stop the restarted server: %w", err)
	}
	return VerifyLoans(filepath.Join(s.DataDir(), store.DefaultFile), acked)
}

// VerifyLoans opens a stopped server's store and checks the acknowledged
// loans and returns and the store's consistency.
func VerifyLoans(path string, acked []AckedLoan) (*CrashResult, error) {
	db, err := store.Open(path, store.Options{})
	if err != nil {
		return nil, err
	}
	defer db.Close()
	res := &CrashResult{Missing: []string{}, Reappeared: []string{}, DBProblems: []string{}}
	err = db.View(context.Background(), func(tx *store.Tx) error {
		for _, a := range acked {
			if a.InFlight {
				res.InFlight++
				continue
			}
			item, err := tx.ItemByBarcode(a.Item)
			if !a.OnLoan {
				res.AckedReturns++
				if err != nil {
					return fmt.Errorf("item %s: %w", a.Item, err)
				}
				if _, open, err := tx.OpenLoanOfItem(item.ID); err != nil {
					return err
				} else if open {
					res.Reappeared = append(res.Reappeared, a.Item)
				} else {
					res.Returned++
				}
				continue
			}
			res.AckedLoans++
			if err != nil {
				res.Missing = append(res.Missing, a.Item)
				continue
			}
			patron, err := tx.PatronByBarcode(a.Patron)
			if err != nil {
				res.Missing = append(res.Missing, a.Item)
				continue
			}
			loan, ok, err := tx.OpenLoanOfItem(item.ID)
			if err != nil {
				return err
			}
			if !ok || loan.PatronID != patron.ID {
				res.Missing = append(res.Missing, a.Item)
				continue
			}
			res.Present++
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	problems, err := db.Check()
	if err != nil {
		return nil, err
	}
	for _, p := range problems {
		res.DBProblems = append(res.DBProblems, p.String())
	}
	res.OK = len(res.Missing) == 0 && len(res.Reappeared) == 0 && len(res.DBProblems) == 0
	return res, nil
}

// Close stops both children (SIGTERM, then SIGKILL) and removes the
// working directory.
func (s *Self) Close() error {
	var errs []error
	for _, p := range []*Process{s.echo, s.server} {
		if p != nil {
			errs = append(errs, p.Stop(10*time.Second))
		}
	}
	errs = append(errs, os.RemoveAll(s.Dir))
	return errors.Join(errs...)
}

// ClientTLS trusts the CA in caFile (empty: the system roots).
func ClientTLS(caFile string) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile == "" {
		return c, nil
	}
	b, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s: no PEM certificate", caFile)
	}
	c.RootCAs = pool
	return c, nil
}

// EchoOptions are the listeners of `circa bench echo`.
type EchoOptions struct {
	SIP2Addr, SIP2TLSAddr, HTTPAddr string
	CertFile, KeyFile               string // "": an in-memory self-signed certificate
}

// ServeEcho runs the SIP2 (plain and TLS) and NCIP HTTP echo baselines
// until ctx ends, printing their addresses to out the way `circa serve`
// does.
func ServeEcho(ctx context.Context, o EchoOptions, out io.Writer) error {
	var serverTLS *tls.Config
	caNote := ""
	if o.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return err
		}
		serverTLS = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	} else {
		var err error
		if serverTLS, _, err = selfSignedTLS(); err != nil {
			return err
		}
		f, err := os.CreateTemp("", "circa-bench-echo-ca-*.pem")
		if err != nil {
			return err
		}
		defer os.Remove(f.Name())
		pem.Encode(f, &pem.Block{Type: "CERTIFICATE", Bytes: serverTLS.Certificates[0].Certificate[0]})
		f.Close()
		caNote = " (CA " + f.Name() + ")"
	}
	var closers []func() error
	defer func() {
		for _, c := range closers {
			c()
		}
	}()
	if o.SIP2Addr != "" {
		ln, err := net.Listen("tcp", o.SIP2Addr)
		if err != nil {
			return err
		}
		e := StartEcho(ln)
		closers = append(closers, e.Close)
		fmt.Fprintf(out, "  sip2      %s\n", e.Addr())
	}
	if o.SIP2TLSAddr != "" {
		ln, err := net.Listen("tcp", o.SIP2TLSAddr)
		if err != nil {
			return err
		}
		e := StartEcho(tls.NewListener(ln, serverTLS))
		closers = append(closers, e.Close)
		fmt.Fprintf(out, "  sip2-tls  %s%s\n", e.Addr(), caNote)
	}
	ln, err := net.Listen("tcp", o.HTTPAddr)
	if err != nil {
		return err
	}
	h := StartHTTPEcho(ln)
	closers = append(closers, h.Close)
	fmt.Fprintf(out, "  http      http://%s (/ncip)\n", ln.Addr())
	<-ctx.Done()
	return nil
}
