package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/ldapauth"
	"github.com/circa-ils/circa/profiles"
	fx "github.com/circa-ils/circa/profiles/exchange"
	"github.com/circa-ils/circa/profiles/publishing"
	"github.com/circa-ils/circa/store"
	"github.com/circa-ils/circa/store/boltstore"
)

// backend is an open data directory: the store and the circulation service.
type backend struct {
	dataDir string
	db      store.DB
	svc     *circ.Service
	// directory checks the passwords of patron groups whose auth names an
	// LDAP profile.
	directory *ldapauth.Directory

	regOnce sync.Once
	reg     *profiles.Registry
	regErr  error

	// Inside the server, runs started by a command count in its metrics
	// too; elsewhere these are nil.
	exchangeObserver   fx.Observer
	publishingObserver func(publishing.RunResult, error)
}

// registry returns the profile registry, loaded on first use. Inside the
// server it is the one sessions read, so a change made by an admin command
// reaches new logins at once.
func (b *backend) registry(ctx context.Context) (*profiles.Registry, error) {
	b.regOnce.Do(func() { b.reg, b.regErr = profiles.Open(ctx, b.db) })
	return b.reg, b.regErr
}

// adminSocketName is the admin socket inside a data directory.
const adminSocketName = "admin.sock"

func dbPath(dataDir string) string { return filepath.Join(dataDir, boltstore.DefaultFile) }

// file returns the embedded store, for the commands that work on its file;
// on another backend they refuse and say what to use instead.
func (b *backend) file(command string) (*boltstore.DB, error) {
	if db, ok := b.db.(*boltstore.DB); ok {
		return db, nil
	}
	return nil, fmt.Errorf("%s works on the embedded store's file; %s is kept by its database server (use pg_dump and PostgreSQL's own tools)", command, b.db.Describe())
}

// openBackend opens a data directory for a command. A command that runs
// without a server holds the file alone, so nothing can harvest while it
// writes; serve opens it with commit stamps (boltstore.Options.CommitStamps),
// since its harvesters read while kiosks write.
func openBackend(dataDir string) (*backend, error) {
	return openBackendWith(dataDir, false, zerolog.Nop())
}

func openBackendWith(dataDir string, commitStamps bool, log zerolog.Logger) (*backend, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, err
	}
	db, err := boltstore.Open(dbPath(dataDir), boltstore.Options{LockTimeout: time.Second, CommitStamps: commitStamps})
	if errors.Is(err, store.ErrLocked) {
		return nil, fmt.Errorf("%s is in use by another process and its admin socket does not answer", dataDir)
	}
	if err != nil {
		return nil, err
	}
	b := &backend{dataDir: dataDir, db: db}
	b.directory = ldapauth.New(func() *profiles.Snapshot {
		reg, err := b.registry(context.Background())
		if err != nil {
			return &profiles.Snapshot{}
		}
		return reg.Current()
	}, log)
	if b.svc, err = circ.New(db, circ.WithDirectory(b.directory)); err != nil {
		db.Close()
		return nil, err
	}
	return b, nil
}

func (b *backend) Close() error {
	b.directory.Close()
	return b.db.Close()
}

func (b *backend) reloadRules(ctx context.Context) error { return b.svc.ReloadRules(ctx) }

// zone is the time zone times are shown in: the named library's, or the
// first library's.
func (b *backend) zone(ctx context.Context, library string) *time.Location {
	loc := time.UTC
	b.db.View(ctx, func(tx store.Tx) error {
		if library == "" {
			if libs, _ := tx.Libraries(); len(libs) > 0 {
				library = libs[0].Code
			}
		}
		loc = b.svc.Zone(tx, library)
		return nil
	})
	return loc
}

// withBackend runs fn with the server's backend when inside the server, or
// with the data directory opened for this command.
func (a *app) withBackend(fn func(*backend) error) error {
	if a.server != nil {
		return fn(a.server)
	}
	b, err := openBackendWith(a.dataDir, false, a.log)
	if err != nil {
		return err
	}
	defer b.Close()
	return fn(b)
}

// adminRequest is one command line sent to a running server.
type adminRequest struct {
	Args []string `json:"args"`
	Cwd  string   `json:"cwd"`
	// Stdin is the line a command marked stdinLine reads (a PIN).
	Stdin string `json:"stdin,omitempty"`
	// Secrets are the secrets the client read for --NAME-file flags.
	Secrets map[string]string `json:"secrets,omitempty"`
	// Settings are the root flags' values as the client settled them
	// from its configuration file, environment and flags, by flag name.
	Settings map[string]string `json:"settings,omitempty"`
}

// adminResponse is the command's output and exit status.
type adminResponse struct {
	Stdout string `json:"stdout"`
	Stderr string `json:"stderr"`
	Code   int    `json:"code"`
}

// admin wraps a command's run function: when a server is running on the
// data directory the command line is sent to it over the admin socket and
// runs there, against the open store; otherwise it runs here.
func (a *app) admin(run func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if a.server != nil {
			return a.runAudited(run, cmd, args)
		}
		sock := filepath.Join(a.dataDir, adminSocketName)
		conn, err := net.DialTimeout("unix", sock, time.Second)
		if err != nil {
			return a.runAudited(run, cmd, args)
		}
		defer conn.Close()
		req := adminRequest{Args: a.argv, Cwd: a.cwd, Secrets: a.secrets, Settings: a.forwardedSettings(cmd.Root().PersistentFlags())}
		if _, ok := cmd.Annotations[stdinLine]; ok {
			if req.Stdin, err = readLine(cmd.InOrStdin()); err != nil {
				return err
			}
		}
		resp, err := forward(conn, req)
		if err != nil {
			return fmt.Errorf("admin socket %s: %w", sock, err)
		}
		fmt.Fprint(cmd.OutOrStdout(), resp.Stdout)
		fmt.Fprint(cmd.ErrOrStderr(), resp.Stderr)
		if resp.Code != 0 {
			return &exitError{code: resp.Code}
		}
		return nil
	}
}

// audited wraps the run function of a command that writes but never goes
// through the admin socket, so that its changes are audited all the same.
func (a *app) audited(run func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error { return a.runAudited(run, cmd, args) }
}

// runAudited runs a command with the changes it makes recorded in the
// audit trail as made by the user who ran it: the admin socket's peer
// inside a server, the process's own user otherwise. A command marked
// auditSummary records one entry of its own instead of one per record.
func (a *app) runAudited(run func(cmd *cobra.Command, args []string) error, cmd *cobra.Command, args []string) error {
	actor := localActor()
	if a.peer != nil {
		actor = *a.peer
	}
	_, summary := cmd.Annotations[auditSummary]
	cmd.SetContext(store.WithAudit(cmd.Context(), store.AuditScope{Actor: actor, Command: cmd.CommandPath(), Summary: summary}))
	return run(cmd, args)
}

func forward(conn net.Conn, req adminRequest) (adminResponse, error) {
	var resp adminResponse
	conn.SetDeadline(time.Now().Add(10 * time.Minute))
	if err := json.NewEncoder(conn).Encode(req); err != nil {
		return resp, err
	}
	err := json.NewDecoder(bufio.NewReader(conn)).Decode(&resp)
	return resp, err
}

// adminServer answers command lines on the admin socket with the server's
// backend. The socket is owner-only: whoever can use it can run any admin
// command.
type adminServer struct {
	ln      net.Listener
	b       *backend
	parent  *app
	wg      sync.WaitGroup
	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	closing bool
}

func listenAdmin(parent *app, b *backend) (*adminServer, error) {
	sock := filepath.Join(b.dataDir, adminSocketName)
	// The store's file lock is held, so no other server owns this socket:
	// a leftover one is from a process that died.
	os.Remove(sock)
	old := umask(0o177)
	ln, err := net.Listen("unix", sock)
	umask(old)
	if err != nil {
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	if err := os.Chmod(sock, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	return &adminServer{ln: ln, b: b, parent: parent, conns: map[net.Conn]struct{}{}}, nil
}

// Serve answers until Shutdown; it returns nil after a shutdown.
func (s *adminServer) Serve(ctx context.Context) error {
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			s.mu.Lock()
			closing := s.closing
			s.mu.Unlock()
			if closing || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		s.mu.Lock()
		s.conns[conn] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() {
				s.mu.Lock()
				delete(s.conns, conn)
				s.mu.Unlock()
				conn.Close()
			}()
			s.handle(ctx, conn)
		}()
	}
}

func (s *adminServer) handle(ctx context.Context, conn net.Conn) {
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var req adminRequest
	if err := json.NewDecoder(bufio.NewReader(conn)).Decode(&req); err != nil {
		return
	}
	conn.SetReadDeadline(time.Time{})
	var stdout, stderr bytes.Buffer
	var code int
	// Whoever can open the socket can change anything: a command whose
	// user cannot be told is not run, as it could not be audited.
	peer, err := peerActor(conn)
	if err != nil {
		stderr.WriteString("circa: admin socket: cannot tell which user is asking: " + err.Error() + "\n")
		code = 1
	} else {
		a := &app{in: strings.NewReader(req.Stdin), out: &stdout, errOut: &stderr, argv: req.Args, cwd: req.Cwd,
			server: s.b, log: s.parent.log, secrets: req.Secrets, peer: &peer, forwarded: req.Settings}
		code = a.run(ctx)
	}
	s.parent.log.Info().Str("component", "admin").Int("code", code).Str("command", commandName(req.Args)).Msg("admin command")
	conn.SetWriteDeadline(time.Now().Add(time.Minute))
	json.NewEncoder(conn).Encode(adminResponse{Stdout: stdout.String(), Stderr: stderr.String(), Code: code})
}

// commandName is the command path without flags or arguments, which may
// hold patron barcodes.
func commandName(args []string) string {
	cmd, _, err := newRootCommand(&app{}).Find(args)
	if err != nil {
		return "unknown"
	}
	return cmd.CommandPath()
}

// Shutdown stops accepting, then waits for running commands or ctx.
func (s *adminServer) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	err := s.ln.Close()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		<-done
	}
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}
