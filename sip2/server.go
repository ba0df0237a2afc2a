package sip2

import (
	"context"
	"errors"
	"io"
	"net"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// Options configure a Server. NewServer copies them; zero values get the
// defaults given per field.
type Options struct {
	Handler Handler
	// Logger gets one line per message and per connection event. It never
	// receives passwords, PINs, patron identifiers or personal data.
	Logger zerolog.Logger
	// Observer receives events for metrics (nil: none).
	Observer Observer
	// Wire, when set, receives a transcript of every frame in and out,
	// redacted like the logs. For debugging.
	Wire io.Writer
	// Location is the library's time zone for dates (nil: time.Local).
	Location *time.Location
	// Now is the clock for transaction dates (nil: time.Now).
	Now func() time.Time
	// Defaults are the wire settings of a new connection.
	Defaults ConnSettings

	// MaxMessage is the longest frame accepted, terminator included
	// (default 4096). A longer one closes the connection.
	MaxMessage int
	// LoginTimeout is how long a new connection has to log in successfully
	// (default 2 minutes; negative: no limit, for kiosks that never log in).
	LoginTimeout time.Duration
	// IdleTimeout is how long a connection may wait between messages
	// (default 30 minutes, well above the 5–7 minute status polls of kiosks).
	IdleTimeout time.Duration
	// ReadTimeout bounds the rest of a message once its first bytes
	// arrived, and the TLS handshake (default 30 seconds).
	ReadTimeout time.Duration
	// WriteTimeout bounds writing a response (default 30 seconds).
	WriteTimeout time.Duration
	// MaxConns limits concurrent connections; more are closed at once
	// (0: no limit).
	MaxConns int
	// ErrLimit is how many malformed messages in a row a connection may
	// send; the next one closes it (default 5).
	ErrLimit int
}

const (
	defaultMaxMessage   = 4096
	defaultLoginTimeout = 2 * time.Minute
	defaultIdleTimeout  = 30 * time.Minute
	defaultReadTimeout  = 30 * time.Second
	defaultWriteTimeout = 30 * time.Second
	defaultErrLimit     = 5
)

// aLongTimeAgo is a read deadline in the past: it wakes a blocked read at
// once, which is how Shutdown releases idle connections.
var aLongTimeAgo = time.Unix(1, 0)

// Server accepts SIP2 connections and runs one Session per connection.
type Server struct {
	opts     Options
	observer Observer
	bufPool  sync.Pool // *[]byte of opts.MaxMessage, lent to connections while a message is read
	wireMu   sync.Mutex

	nextID   atomic.Uint64
	shutting atomic.Bool

	mu        sync.Mutex
	listeners map[*net.Listener]struct{}
	conns     map[*conn]struct{}
	wg        sync.WaitGroup // one per connection goroutine
	done      chan struct{}  // closed by Shutdown/Close; wakes accept back-off
	doneOnce  sync.Once
}

// NewServer returns a server with a copy of o.
func NewServer(o *Options) *Server {
	s := &Server{opts: *o, listeners: map[*net.Listener]struct{}{}, conns: map[*conn]struct{}{}, done: make(chan struct{})}
	op := &s.opts
	if op.MaxMessage <= 0 {
		op.MaxMessage = defaultMaxMessage
	}
	if op.LoginTimeout == 0 {
		op.LoginTimeout = defaultLoginTimeout
	}
	if op.IdleTimeout <= 0 {
		op.IdleTimeout = defaultIdleTimeout
	}
	if op.ReadTimeout <= 0 {
		op.ReadTimeout = defaultReadTimeout
	}
	if op.WriteTimeout <= 0 {
		op.WriteTimeout = defaultWriteTimeout
	}
	if op.ErrLimit <= 0 {
		op.ErrLimit = defaultErrLimit
	}
	if reflect.ValueOf(op.Logger).IsZero() { // the zero Logger writes nowhere; say so, so nothing is derived from it
		op.Logger = zerolog.Nop()
	}
	if op.Location == nil {
		op.Location = time.Local
	}
	if op.Now == nil {
		op.Now = time.Now
	}
	s.observer = op.Observer
	if s.observer == nil {
		s.observer = NopObserver{}
	}
	n := op.MaxMessage
	s.bufPool.New = func() any { b := make([]byte, n); return &b }
	return s
}

// Serve accepts connections on l until Shutdown or Close, and then returns
// nil. Other accept errors are retried with back-off; a listener closed by
// someone else ends Serve with its error. Serve closes l when it returns.
func (s *Server) Serve(l net.Listener) error {
	if !s.trackListener(&l, true) {
		l.Close()
		return nil
	}
	defer s.trackListener(&l, false)
	defer l.Close()
	var backoff time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			if s.shutting.Load() {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.opts.Logger.Warn().Err(err).Dur("retry_in", backoff).Msg("sip2 accept failed")
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-s.done:
				t.Stop()
				return nil
			}
			continue
		}
		backoff = 0
		s.startConn(nc)
	}
}

func (s *Server) trackListener(l *net.Listener, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		if s.shutting.Load() {
			return false
		}
		s.listeners[l] = struct{}{}
	} else {
		delete(s.listeners, l)
	}
	return true
}

func (s *Server) startConn(nc net.Conn) {
	s.mu.Lock()
	if s.shutting.Load() {
		s.mu.Unlock()
		nc.Close()
		return
	}
	if s.opts.MaxConns > 0 && len(s.conns) >= s.opts.MaxConns {
		s.mu.Unlock()
		s.observer.ConnRejected(nc.RemoteAddr())
		s.opts.Logger.Warn().Str("proto", "sip2").Str("remote", nc.RemoteAddr().String()).
			Int("max_conns", s.opts.MaxConns).Msg("connection limit reached; connection refused")
		nc.Close()
		return
	}
	c := s.newConn(nc)
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go c.serve()
}

func (s *Server) untrackConn(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.wg.Done()
}

// Shutdown stops accepting, releases idle connections at once, lets
// connections that are handling a message send its response, and waits for
// every connection to end or for ctx. When ctx ends first it calls Close and
// returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.shutting.Store(true)
	err := s.closeListenersLocked()
	for c := range s.conns {
		c.release()
	}
	s.mu.Unlock()
	s.doneOnce.Do(func() { close(s.done) })

	finished := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(finished)
	}()
	select {
	case <-finished:
		return err
	case <-ctx.Done():
		s.Close()
		return ctx.Err()
	}
}

// Close closes the listeners and every connection at once, cancelling the
// contexts of messages in flight. It does not wait for Session methods to
// return; use Shutdown for a graceful stop.
func (s *Server) Close() error {
	s.mu.Lock()
	s.shutting.Store(true)
	err := s.closeListenersLocked()
	for c := range s.conns {
		c.nc.Close() // before cancel: a cancelled Session must find nothing to write to
		c.cancel()
	}
	s.mu.Unlock()
	s.doneOnce.Do(func() { close(s.done) })
	return err
}

func (s *Server) closeListenersLocked() error {
	var errs []error
	for l := range s.listeners {
		if err := (*l).Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
		delete(s.listeners, l)
	}
	return errors.Join(errs...)
}

// wire writes one transcript line.
func (s *Server) wire(id uint64, dir string, b []byte) {
	if s.opts.Wire == nil {
		return
	}
	line := make([]byte, 0, len(b)+32)
	line = append(line, "conn "...)
	line = appendInt(line, int(id))
	line = append(line, dir...)
	line = append(line, b...)
	line = append(line, '\n')
	s.wireMu.Lock()
	s.opts.Wire.Write(line)
	s.wireMu.Unlock()
}
