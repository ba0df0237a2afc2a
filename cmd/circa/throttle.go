package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/profiles"
)

// stdinLine marks a command that reads one line from standard input (a
// PIN, kept off the command line): the admin socket carries that line to
// the server.
const stdinLine = "stdin-line"

// readLine reads one line of at most 1 KiB.
func readLine(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, 1024)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// pinState is the PIN line of `patron show`.
func pinState(l circ.PINLock, now time.Time, zone *time.Location) string {
	switch {
	case l.Locked(now):
		return fmt.Sprintf("locked until %s after %d wrong in a row (circa patron unlock clears it)", showTime(l.LockedUntil, zone), l.Failures)
	case l.Failures > 0:
		return fmt.Sprintf("%d wrong in a row, last %s", l.Failures, showTime(l.LastFailure, zone))
	}
	return "no recent wrong PINs"
}

func newPatronPINCommands(a *app) []*cobra.Command {
	unlock := &cobra.Command{
		Use:   "unlock PATRON",
		Short: "Clear a patron's run of wrong PINs and the lock it imposed",
		Args:  cobra.ExactArgs(1),
		RunE: a.admin(func(cmd *cobra.Command, args []string) error {
			return a.withBackend(func(b *backend) error {
				if err := refusalError("unlock", b.svc.UnlockPIN(cmd.Context(), args[0])); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "PIN of %s unlocked\n", args[0])
				return nil
			})
		}),
	}
	verify := &cobra.Command{
		Use:         "verify-pin PATRON",
		Short:       "Check a patron's PIN, read from standard input, as a kiosk would (throttled alike)",
		Args:        cobra.ExactArgs(1),
		Annotations: map[string]string{stdinLine: "PIN"},
		RunE: a.admin(func(cmd *cobra.Command, args []string) error {
			pin, err := readLine(cmd.InOrStdin())
			if err != nil {
				return err
			}
			return a.withBackend(func(b *backend) error {
				if _, err := b.svc.VerifyPatron(cmd.Context(), args[0], pin); err != nil {
					return refusalError("PIN check", err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "PIN of %s is right\n", args[0])
				return nil
			})
		}),
	}
	return []*cobra.Command{unlock, verify}
}

// printLogins appends an account's login throttle to `profile selfcheck
// show` as YAML comments, so the output still imports.
func printLogins(w io.Writer, st circ.AccountLogins, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "# login throttle (the running server's memory):")
	locked := "not locked"
	if now.Before(st.LockedUntil) {
		locked = "locked until " + showTime(st.LockedUntil, time.UTC) + " for sources that have not logged in to it"
	}
	fmt.Fprintf(tw, "#   account\t%d failed in a row, %s\n", st.Failures, locked)
	fmt.Fprintf(tw, "#   trusted sources\t%d (exempt from the account's lock)\n", st.Trusted)
	for _, s := range st.Sources {
		state := "not locked"
		if now.Before(s.LockedUntil) {
			state = "locked until " + showTime(s.LockedUntil, time.UTC)
		}
		fmt.Fprintf(tw, "#   source %s\t%d failed in a row, %s\n", s.Source, s.Failures, state)
	}
	tw.Flush()
}

func newSelfCheckUnlockCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "unlock CODE",
		Short: "Clear a self-check account's login throttle and that of the sources that failed on it",
		Args:  cobra.ExactArgs(1),
		RunE: a.admin(func(cmd *cobra.Command, args []string) error {
			return a.withProfiles(func(b *backend, reg *profiles.Registry) error {
				if _, ok := reg.Current().SelfCheck[args[0]]; !ok {
					return &exitError{code: 1, err: fmt.Errorf("no selfcheck profile %s", args[0])}
				}
				b.svc.Logins().Unlock(args[0])
				fmt.Fprintf(cmd.OutOrStdout(), "logins to %s unlocked\n", args[0])
				return nil
			})
		}),
	}
}
