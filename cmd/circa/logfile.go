package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// logFile is the server's log when --log-file names one: lines are
// appended, and Reopen (on SIGHUP) opens the path again, so that once
// logrotate has renamed the file the server writes to a new one and the old
// one can be compressed, without copying or truncating it.
type logFile struct {
	path string
	mu   sync.Mutex
	f    *os.File
}

// logFileMode keeps the log from other users: it names patrons only as
// keyed hashes, but it does show kiosk addresses and account names.
const logFileMode = 0o640

func openLogFile(path string) (*logFile, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, logFileMode)
	if err != nil {
		return nil, fmt.Errorf("log file: %w", err)
	}
	return &logFile{path: path, f: f}, nil
}

// Write appends one batch of whole lines.
func (l *logFile) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Write(p)
}

// Reopen switches to the file now at the path. When it cannot be opened the
// old file stays in use, so no line is lost.
func (l *logFile) Reopen() error {
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, logFileMode)
	if err != nil {
		return fmt.Errorf("reopen log file: %w", err)
	}
	l.mu.Lock()
	old := l.f
	l.f = f
	l.mu.Unlock()
	return old.Close()
}

func (l *logFile) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Close()
}

// onHangup runs reloads, in order, on every SIGHUP until stop is called.
// Registering makes SIGHUP harmless too: by default it would end the
// process, and logrotate or an operator sends it to reload.
func onHangup(ctx context.Context, reloads ...func()) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case <-c:
				for _, reload := range reloads {
					reload()
				}
			}
		}
	}()
	return func() {
		signal.Stop(c)
		cancel()
		<-done
	}
}
