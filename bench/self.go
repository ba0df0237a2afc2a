package bench

import (
	"cmp"
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
	"slices"
	"time"

	"github.com/circa-ils/circa/store"
	"github.com/circa-ils/circa/store/boltstore"
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
	// kiosk and broker comes from one address here, so the caps per source
	// are off.
	s.serveArgs = []string{"serve", "--demo", "--data-dir", data, "--sip2-addr", "127.0.0.1:0",
		"--sip2-tls-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--https-addr", "127.0.0.1:0", "--log-level", "info",
		"--max-unauth-per-source", "0", "--http-max-conns-per-source", "0"}
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
// it, and checks every acknowledged write against the store and the
// store's consistency (VerifyWrites).
func (s *Self) CheckCrash(ctx context.Context, writes []Writes) (*CrashResult, error) {
	restarted, err := StartProcess(ctx, s.Exe, s.serveArgs, filepath.Join(s.Dir, "server.log"))
	if err != nil {
		return nil, fmt.Errorf("restart after the kill: %w", err)
	}
	if err := restarted.Stop(30 * time.Second); err != nil {
		return nil, fmt.Errorf("stop the restarted server: %w", err)
	}
	return VerifyWrites(filepath.Join(s.DataDir(), boltstore.DefaultFile), writes)
}

// loanState is where a connection's item can be, as far as its writes
// tell: how many of the run's loans they account for, and whether the
// last of them is still out.
type loanState struct {
	n  int
	on bool
}

// apply is the state after a write from s, given the item's loans of the
// run in order; false when the store shows the write cannot have happened.
func (s loanState) apply(op opKind, loans []store.Loan) (loanState, bool) {
	switch op {
	case opCheckout:
		if s.on {
			return s, true // the patron's own item: renewed
		}
		if s.n < len(loans) {
			return loanState{s.n + 1, true}, true
		}
		return s, false
	case opCheckin:
		if !s.on {
			return s, true // nothing was on loan
		}
		return loanState{s.n, false}, !loans[s.n-1].Open()
	case opRenew:
		return s, s.on
	}
	return s, true
}

// VerifyWrites opens a stopped server's store and checks every
// acknowledged write of every connection, in the order sent, against the
// loans its item got since the run began, then the store's consistency.
// An unanswered write may or may not have happened, so both are followed.
func VerifyWrites(path string, writes []Writes) (*CrashResult, error) {
	db, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		return nil, err
	}
	defer db.Close()
	res := &CrashResult{Missing: []string{}, DBProblems: []string{}}
	err = db.View(context.Background(), func(tx store.Tx) error {
		patronLoans := map[uint64][]store.Loan{} // a patron's loans, open and returned, shared by connections
		for _, w := range writes {
			for _, op := range w.log {
				if op.acked {
					res.Acked++
				}
			}
			if len(w.log) == 0 {
				continue
			}
			item, err := tx.ItemByBarcode(w.Item)
			if err != nil {
				res.Missing = append(res.Missing, fmt.Sprintf("item %s: %v", w.Item, err))
				continue
			}
			patron, err := tx.PatronByBarcode(w.Patron)
			if err != nil {
				res.Missing = append(res.Missing, fmt.Sprintf("item %s: patron: %v", w.Item, err))
				continue
			}
			all, ok := patronLoans[patron.ID]
			if !ok {
				open, err := tx.OpenLoansOfPatron(patron.ID)
				if err != nil {
					return err
				}
				hist, err := tx.LoanHistoryOfPatron(patron.ID)
				if err != nil {
					return err
				}
				all = append(open, hist...)
				patronLoans[patron.ID] = all
			}
			var loans []store.Loan
			for _, l := range all {
				if l.ItemID == item.ID && !l.Out.Before(w.Since) {
					loans = append(loans, l)
				}
			}
			slices.SortFunc(loans, func(a, b store.Loan) int { return cmp.Compare(a.ID, b.ID) })
			if msg := followWrites(res, w, loans); msg != "" {
				res.Missing = append(res.Missing, "item "+w.Item+": "+msg)
				continue
			}
			// The item's open loan, if any, is the last one its writes made.
			if open, ok, err := tx.OpenLoanOfItem(item.ID); err != nil {
				return err
			} else if ok && (len(loans) == 0 || open.ID != loans[len(loans)-1].ID) {
				res.Missing = append(res.Missing, fmt.Sprintf("item %s: on a loan (%d) its writes did not make", w.Item, open.ID))
			}
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
	res.OK = res.Checked > 0 && res.Checked == res.Acked && len(res.Missing) == 0 && len(res.DBProblems) == 0
	return res, nil
}

// followWrites walks one connection's writes through the states its item
// can be in, counting the acknowledged writes the store shows, and returns
// why it cannot, or "".
func followWrites(res *CrashResult, w Writes, loans []store.Loan) string {
	states := []loanState{{}}
	for i, op := range w.log {
		var next []loanState
		add := func(s loanState) {
			if !slices.Contains(next, s) {
				next = append(next, s)
			}
		}
		for _, s := range states {
			if t, ok := s.apply(op.op, loans); ok {
				add(t)
			}
			if !op.acked {
				add(s) // it may not have happened
			}
		}
		if len(next) == 0 {
			return fmt.Sprintf("acknowledged %s (write %d of %d) is not in the store (%d loans since the run began)",
				op.op, i+1, len(w.log), len(loans))
		}
		states = next
		switch {
		case !op.acked:
			res.Unanswered++
			continue
		case op.op == opCheckout:
			res.Checkouts++
		case op.op == opCheckin:
			res.Checkins++
		case op.op == opRenew:
			res.Renewals++
		}
		res.Checked++
	}
	end := loanState{n: len(loans), on: len(loans) > 0 && loans[len(loans)-1].Open()}
	if !slices.Contains(states, end) {
		return fmt.Sprintf("the store has %d loans since the run began (the last open: %v), more than the writes made", end.n, end.on)
	}
	return ""
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
