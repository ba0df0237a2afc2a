// Package sdnotify tells systemd how a service started with Type=notify is
// doing: ready once it serves, alive while it is healthy (the watchdog), and
// stopping. It speaks the notify protocol (sd_notify(3)): one datagram of
// newline-separated KEY=VALUE lines to the unix socket named by
// $NOTIFY_SOCKET, which may be in the abstract namespace ('@' first).
//
// Outside systemd, where $NOTIFY_SOCKET is unset, every call does nothing,
// so the server runs the same by hand, under a test or in a container.
package sdnotify

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"
)

// The states this server reports.
const (
	Ready    = "READY=1"
	Stopping = "STOPPING=1"
	Watchdog = "WATCHDOG=1"
)

// Notifier sends states to the service manager. The zero value and a nil
// *Notifier are valid and send nothing.
type Notifier struct {
	addr *net.UnixAddr
	// watchdog is how often systemd expects WATCHDOG=1, or 0 when it
	// expects none.
	watchdog time.Duration
}

// FromEnv returns a Notifier for the socket and watchdog systemd gave this
// process in its environment, or nil when it gave none.
func FromEnv() (*Notifier, error) {
	return fromEnv(os.Getenv, os.Getpid())
}

func fromEnv(getenv func(string) string, pid int) (*Notifier, error) {
	socket := getenv("NOTIFY_SOCKET")
	if socket == "" {
		return nil, nil
	}
	if socket[0] != '/' && socket[0] != '@' {
		return nil, fmt.Errorf("NOTIFY_SOCKET %q is neither a path nor an abstract socket name", socket)
	}
	// Go names abstract sockets with a leading '@', as systemd does.
	n := &Notifier{addr: &net.UnixAddr{Net: "unixgram", Name: socket}}
	interval, err := watchdogInterval(getenv, pid)
	if err != nil {
		return nil, err
	}
	n.watchdog = interval
	return n, nil
}

// watchdogInterval reads WATCHDOG_USEC, which applies to this process only
// when WATCHDOG_PID is unset or names it (a child that inherited the
// environment must not keep its parent's watchdog happy).
func watchdogInterval(getenv func(string) string, pid int) (time.Duration, error) {
	usec := getenv("WATCHDOG_USEC")
	if usec == "" {
		return 0, nil
	}
	if p := getenv("WATCHDOG_PID"); p != "" && p != strconv.Itoa(pid) {
		return 0, nil
	}
	n, err := strconv.ParseUint(usec, 10, 63)
	if err != nil || n == 0 || n > uint64(time.Duration(1<<62)/time.Microsecond) {
		return 0, fmt.Errorf("WATCHDOG_USEC %q is not a positive number of microseconds", usec)
	}
	return time.Duration(n) * time.Microsecond, nil
}

// Notify sends one or more states (KEY=VALUE each) in one datagram.
func (n *Notifier) Notify(states ...string) error {
	if n == nil || n.addr == nil {
		return nil
	}
	var msg []byte
	for i, s := range states {
		if i > 0 {
			msg = append(msg, '\n')
		}
		msg = append(msg, s...)
	}
	conn, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return fmt.Errorf("notify systemd: %w", err)
	}
	defer conn.Close()
	if _, err := conn.Write(msg); err != nil {
		return fmt.Errorf("notify systemd: %w", err)
	}
	return nil
}

// WatchdogInterval is how often systemd expects to hear the service is
// alive, or 0 when it runs no watchdog for it.
func (n *Notifier) WatchdogInterval() time.Duration {
	if n == nil {
		return 0
	}
	return n.watchdog
}

// RunWatchdog sends WATCHDOG=1 at half the watchdog interval, each time
// after healthy has said the service can do its work, until ctx ends. While
// healthy says no it sends nothing, so systemd, once the interval has passed
// without a word, restarts a service that is stuck or cannot work, as the
// unit's WatchdogSec asks. healthy gets a context ending at the next beat; a
// check that takes longer counts as a failure. report hears why a beat was
// not sent (the failed check) or not delivered. Without a watchdog it
// returns at once.
func (n *Notifier) RunWatchdog(ctx context.Context, healthy func(context.Context) error, report func(error)) {
	every := n.WatchdogInterval() / 2
	if every <= 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		cctx, cancel := context.WithTimeout(ctx, every)
		err := healthy(cctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = n.Notify(Watchdog)
		}
		if err != nil {
			report(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
