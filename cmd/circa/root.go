package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/circa-ils/circa/store"
)

// app is what every command shares: global flags, the standard streams, and
// where the store comes from. Inside a running server (commands that arrived
// on the admin socket) server is the server's open backend; otherwise
// commands open the data directory themselves.
type app struct {
	config    string
	dataDir   string
	logLevel  string
	logFormat string
	// systemConfig is the system install's configuration file, read when
	// no other file and no data directory is given ("" for none).
	systemConfig string

	in          io.Reader
	out, errOut io.Writer
	argv        []string
	cwd         string
	environ     []string           // the process's environment, for the CIRCA_ settings
	settings    []effectiveSetting // what circa serve's settings came to, and from where
	server      *backend
	// peer is the user who sent the command over the admin socket.
	peer *store.Actor
	log  zerolog.Logger
	// secrets are the values of the --NAME-file flags given, by flag name:
	// read once by the client, carried to a running server beside the
	// command line.
	secrets map[string]string
	// forwarded are the root flags' values as the client settled them
	// from its configuration file, environment and flags, by flag name.
	forwarded map[string]string
}

// exitError carries a process exit status through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}
func (e *exitError) Unwrap() error { return e.err }

// usageError marks bad arguments (exit status 2).
func usageError(format string, args ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format, args...)}
}

// execute runs the command line and returns the process exit status.
// Errors are printed as one line on stderr.
func execute(ctx context.Context, args []string, in io.Reader, out, errOut io.Writer) int {
	cwd, _ := os.Getwd()
	a := &app{in: in, out: out, errOut: errOut, argv: args, cwd: cwd, environ: os.Environ(), systemConfig: systemConfig}
	return a.run(ctx)
}

func (a *app) run(ctx context.Context) int {
	root := newRootCommand(a)
	root.SetArgs(a.argv)
	root.SetIn(a.in)
	root.SetOut(a.out)
	root.SetErr(a.errOut)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			printError(a.errOut, ee.err)
		}
		return ee.code
	}
	printError(a.errOut, err)
	if isCobraUsage(err) {
		return 2
	}
	return 1
}

// printError writes an error as one line, or one line per error when it
// joins several (a profile with three problems names each on its own line).
func printError(w io.Writer, err error) {
	for _, l := range errorLines(err) {
		fmt.Fprintln(w, "circa: "+l)
	}
}

// errorLines splits errors.Join's errors, keeping the context wrapped around
// them ("selfcheck K1: ") on each line. Other errors with several wrapped
// errors (fmt.Errorf with two %w) read as one sentence and stay one line.
func errorLines(err error) []string {
	msg := err.Error()
	switch e := err.(type) {
	case interface{ Unwrap() []error }:
		var msgs, lines []string
		for _, c := range e.Unwrap() {
			if c != nil {
				msgs = append(msgs, c.Error())
				lines = append(lines, errorLines(c)...)
			}
		}
		if strings.Join(msgs, "\n") == msg {
			return lines
		}
	case interface{ Unwrap() error }:
		if inner := e.Unwrap(); inner != nil && strings.HasSuffix(msg, inner.Error()) {
			if lines := errorLines(inner); len(lines) > 1 {
				prefix := oneLine(strings.TrimSuffix(msg, inner.Error()))
				for i := range lines {
					lines[i] = strings.TrimSpace(prefix + " " + lines[i])
				}
				return lines
			}
		}
	}
	return []string{oneLine(msg)}
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// isCobraUsage recognises cobra's own argument and flag errors.
func isCobraUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand", "accepts ", "requires at least", "flag needs an argument", "invalid argument", "required flag"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

func newRootCommand(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:           "circa",
		Short:         "Library circulation protocol server (SIP2, NCIP, OAI-PMH)",
		Long:          "circa serves self-check kiosks over SIP2, resource-sharing and remote-storage partners over NCIP,\nand harvesters over OAI-PMH, from one embedded database. The same command administers it.",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			warnings, err := a.applySettings(cmd)
			if err != nil {
				return err
			}
			if err := a.setupLogging(); err != nil {
				return err
			}
			for _, w := range warnings {
				a.log.Warn().Msg(w)
			}
			return a.readSecrets(cmd)
		},
	}
	addGlobalFlags(root.PersistentFlags(), a)

	root.AddGroup(&cobra.Group{ID: "server", Title: "Server:"}, &cobra.Group{ID: "circ", Title: "Circulation:"},
		&cobra.Group{ID: "admin", Title: "Administration:"})
	for _, c := range []*cobra.Command{newServeCommand(a), newConfigCommand(a), newTLSCommand(a), newTunnelCommand(a), newTLSProxyCommand(a)} {
		c.GroupID = "server"
		root.AddCommand(c)
	}
	for _, c := range []*cobra.Command{newCheckoutCommand(a), newCheckinCommand(a), newRenewCommand(a),
		newPatronCommand(a), newItemCommand(a), newLoanCommand(a), newFeeCommand(a)} {
		c.GroupID = "circ"
		root.AddCommand(c)
	}
	for _, c := range []*cobra.Command{newDBCommand(a), newRulesCommand(a), newProfileCommand(a), newNCIPCommand(a), newStorageCommand(a),
		newLibraryCommand(a), newLocationCommand(a), newDeskCommand(a), newGroupCommand(a), newLDAPCommand(a), newPolicyCommand(a), newInstitutionCommand(a), newImportCommand(a), newStaffCommand(a), newAuditCommand(a)} {
		c.GroupID = "admin"
		root.AddCommand(c)
	}
	root.AddCommand(newSIP2Commands(a)...)
	root.AddCommand(newBenchCommand(a))
	addCatalogCommands(root, a) // bib; item add, move, delete; publish; oai
	version := newVersionCommand()
	markIgnoresSettings(version)
	root.AddCommand(version)
	build := currentBuild()
	root.Version = build.Version
	root.SetVersionTemplate(build.String())
	man := newManCommand(a)
	markIgnoresSettings(man)
	root.AddCommand(man)
	refuseUnknownSubcommands(root)
	return root
}

// addGlobalFlags adds the flags every command takes.
func addGlobalFlags(pf *pflag.FlagSet, a *app) {
	pf.StringVar(&a.config, "config", "", "configuration file (YAML; env CIRCA_CONFIG; default "+systemConfigFile+" when it exists and no data directory is given); its paths are relative to its directory")
	pf.StringVar(&a.dataDir, "data-dir", "data", "data directory holding circa.db (env CIRCA_DATA_DIR)")
	pf.StringVar(&a.logLevel, "log-level", "info", "log level: debug, info, warn, error (env CIRCA_LOG_LEVEL)")
	pf.StringVar(&a.logFormat, "log-format", "json", "log format: json, or console for people (env CIRCA_LOG_FORMAT)")
}

// refuseUnknownSubcommands makes every command group (a command with
// subcommands and nothing to run itself) refuse an argument that names none
// of its subcommands: cobra would print the group's help and exit 0, so a
// misspelt `circa profile selfchek` in a script would pass for success.
func refuseUnknownSubcommands(c *cobra.Command) {
	if c.HasSubCommands() && !c.Runnable() {
		// cobra's own default, which SuggestionsFor does not apply.
		c.SuggestionsMinimumDistance = 2
		c.Args = func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return nil
			}
			msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
			if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
				msg += fmt.Sprintf("; did you mean %s?", strings.Join(quoteAll(s), " or "))
			}
			return usageError("%s (see %s --help)", msg, cmd.CommandPath())
		}
		// Without a run function cobra would show help before checking
		// the arguments; with no argument help is still the answer.
		c.RunE = func(cmd *cobra.Command, args []string) error { return cmd.Help() }
	}
	for _, sub := range c.Commands() {
		refuseUnknownSubcommands(sub)
	}
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}

func (a *app) setupLogging() error {
	lvl, err := zerolog.ParseLevel(a.logLevel)
	if err != nil || a.logLevel == "" {
		return usageError("unknown log level %q", a.logLevel)
	}
	var w io.Writer = a.errOut
	switch a.logFormat {
	case "json":
	case "console":
		w = consoleWriter(a.errOut)
	default:
		return usageError("unknown log format %q (json or console)", a.logFormat)
	}
	a.log = zerolog.New(w).Level(lvl).With().Timestamp().Logger()
	return nil
}

// consoleWriter formats log lines for people. Colour codes only for a
// terminal: in a file or a pipe to a log collector they are noise.
func consoleWriter(out io.Writer) zerolog.ConsoleWriter {
	return zerolog.ConsoleWriter{Out: out, TimeFormat: "15:04:05", NoColor: !isTerminal(out)}
}

// isTerminal says whether w is a terminal.
func isTerminal(w any) bool {
	f, ok := w.(interface{ Fd() uintptr })
	return ok && term.IsTerminal(int(f.Fd()))
}

// path resolves a file argument against the directory the command was
// typed in, which differs from the server's when it arrived on the admin
// socket.
func (a *app) path(p string) string {
	if p == "" || p == "-" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(a.cwd, p)
}
