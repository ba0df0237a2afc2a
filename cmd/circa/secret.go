package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"
)

// secretFile is the value of a --NAME-file flag: the path of a file whose
// first line is a secret, or "-" for standard input. It keeps passwords,
// PINs and keys out of the command line, where ps, shell history and the
// admin log of a shell session would show them.
type secretFile struct {
	path string
	name string // the secret flag it stands in for, refused beside it
	what string // prompt text
	set  func(string) error
}

func (s *secretFile) String() string     { return s.path }
func (s *secretFile) Set(v string) error { s.path = v; return nil }
func (s *secretFile) Type() string       { return "PATH" }

// addSecretFile adds --NAME-file beside the secret flag NAME (which need not
// exist); set receives the secret read before the command runs.
func addSecretFile(fs *pflag.FlagSet, name, what string, set func(string) error) {
	fs.Var(&secretFile{name: name, what: what, set: set}, name+"-file",
		"read "+what+" from the first line of this file; - for standard input, prompted without echo on a terminal")
}

// setFlag is the usual set of addSecretFile: the secret flag itself, so
// code reading it (and fs.Changed) sees the secret as if it had been typed.
func setFlag(fs *pflag.FlagSet, name string) func(string) error {
	return func(v string) error { return fs.Set(name, v) }
}

// readSecrets reads the secrets of the --NAME-file flags given. A command
// forwarded to a running server reads nothing there: the client read them
// and sent them beside the command line (a.secrets).
func (a *app) readSecrets(cmd *cobra.Command) error {
	fs := cmd.Flags()
	var err error
	fromStdin := ""
	fs.Visit(func(f *pflag.Flag) {
		s, ok := f.Value.(*secretFile)
		if !ok || err != nil {
			return
		}
		if fs.Lookup(s.name) != nil && fs.Changed(s.name) {
			err = usageError("--%s and --%s: give one", s.name, f.Name)
			return
		}
		v, have := a.secrets[f.Name]
		if !have {
			if a.server != nil {
				err = fmt.Errorf("--%s: the secret did not come with the command", f.Name)
				return
			}
			if s.path == "-" {
				if fromStdin != "" {
					err = usageError("--%s and --%s both read standard input: give one a file", fromStdin, f.Name)
					return
				}
				fromStdin = f.Name
			}
			if v, err = a.readSecret(cmd, s); err != nil {
				return
			}
		}
		if v == "" {
			err = usageError("--%s: %s is empty", f.Name, s.what)
			return
		}
		if a.secrets == nil {
			a.secrets = map[string]string{}
		}
		a.secrets[f.Name] = v
		err = s.set(v)
	})
	return err
}

func (a *app) readSecret(cmd *cobra.Command, s *secretFile) (string, error) {
	if s.path != "-" {
		f, err := os.Open(a.path(s.path))
		if err != nil {
			return "", err
		}
		defer f.Close()
		return readSecretLine(f)
	}
	in := cmd.InOrStdin()
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return promptWithoutEcho(f, cmd.ErrOrStderr(), s.what)
	}
	return readSecretLine(in)
}

// readSecretLine reads one line of at most 1 KiB a byte at a time, so that
// what follows on standard input (the lines of `sip2 shell`) stays unread.
func readSecretLine(r io.Reader) (string, error) {
	var line []byte
	b := make([]byte, 1)
	for len(line) < 1024 {
		n, err := r.Read(b)
		if n == 1 {
			if b[0] == '\n' {
				break
			}
			line = append(line, b[0])
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", err
		}
	}
	return strings.TrimSuffix(string(line), "\r"), nil
}
