package sip2

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"reflect"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/circa-ils/circa/netlimit"
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
	// MaxConns limits concurrent connections (0: no limit). Keep it below
	// the process's open-file limit, so that accept never fails for want
	// of a descriptor. When it is reached the oldest connection that has
	// not logged in is closed to make room; when every connection has
	// logged in the new one is closed at once.
	MaxConns int
	// MaxUnauthPerSource limits the connections from one source address
	// that have not logged in yet; more are closed at once (0: no limit).
	MaxUnauthPerSource int
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
	live      int                // connections counted against MaxConns: all but those closed to make room
	unauth    map[netip.Addr]int // connections not logged in, by source
	// The connections not logged in, oldest first: the first to go when
	// MaxConns is reached.
	unauthHead, unauthTail *conn
	refusals               netlimit.RefusalLog
	wg                     sync.WaitGroup // one per connection goroutine
	done                   chan struct{}  // closed by Shutdown/Close; wakes accept back-off
	doneOnce               sync.Once
}

// NewServer returns a server with a copy of o.
func NewServer(o *Options) *Server {
	s := &Server{opts: *o, listeners: map[*net.Listener]struct{}{}, conns: map[*conn]struct{}{},
		unauth: map[netip.Addr]int{}, done: make(chan struct{})}
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
	s.refusals.Log, s.refusals.Proto = op.Logger, "sip2"
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
			if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				// Out of descriptors: the limits were set too high for the
				// process. Retry soon, as connections end all the time.
				backoff = min(max(2*backoff, time.Millisecond), 50*time.Millisecond)
				s.observer.ConnRejected(nil, LimitFiles)
				s.refused(LimitFiles, 0, netip.Addr{})
			} else {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.opts.Logger.Warn().Err(err).Dur("retry_in", backoff).Msg("sip2 accept failed")
			}
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
	src := netlimit.Source(nc.RemoteAddr())
	if max := s.opts.MaxUnauthPerSource; max > 0 && s.unauth[src] >= max {
		s.mu.Unlock()
		s.refuse(nc, LimitUnauthPerSource, max, src)
		return
	}
	var evicted *conn
	if max := s.opts.MaxConns; max > 0 && s.live >= max {
		if evicted = s.unauthHead; evicted == nil {
			s.mu.Unlock()
			s.refuse(nc, LimitConns, max, src)
			return
		}
		s.unlinkUnauthLocked(evicted)
		evicted.evicted = true
		s.live--
	}
	c := s.newConn(nc)
	c.src = src
	s.conns[c] = struct{}{}
	s.live++
	s.linkUnauthLocked(c)
	s.wg.Add(1)
	s.mu.Unlock()
	if evicted != nil {
		evicted.nc.Close()
		s.observer.ConnRejected(evicted.info.RemoteAddr, LimitConns)
		s.refused(LimitConns, s.opts.MaxConns, evicted.src)
	}
	go c.serve()
}

// refuse closes a new connection at once because limit is reached.
func (s *Server) refuse(nc net.Conn, limit Limit, value int, src netip.Addr) {
	s.observer.ConnRejected(nc.RemoteAddr(), limit)
	s.refused(limit, value, src)
	nc.Close()
}

// linkUnauthLocked adds a new connection to those not logged in.
func (s *Server) linkUnauthLocked(c *conn) {
	c.unauthLinked = true
	c.unauthPrev = s.unauthTail
	if s.unauthTail != nil {
		s.unauthTail.unauthNext = c
	} else {
		s.unauthHead = c
	}
	s.unauthTail = c
	s.unauth[c.src]++
}

// unlinkUnauthLocked removes c from the connections not logged in, if it
// is one of them.
func (s *Server) unlinkUnauthLocked(c *conn) {
	if !c.unauthLinked {
		return
	}
	c.unauthLinked = false
	if c.unauthPrev != nil {
		c.unauthPrev.unauthNext = c.unauthNext
	} else {
		s.unauthHead = c.unauthNext
	}
	if c.unauthNext != nil {
		c.unauthNext.unauthPrev = c.unauthPrev
	} else {
		s.unauthTail = c.unauthPrev
	}
	c.unauthPrev, c.unauthNext = nil, nil
	if s.unauth[c.src]--; s.unauth[c.src] <= 0 {
		delete(s.unauth, c.src)
	}
}

// loggedIn takes c out of the limits on connections not logged in.
func (s *Server) loggedIn(c *conn) {
	s.mu.Lock()
	s.unlinkUnauthLocked(c)
	s.mu.Unlock()
}

func (s *Server) untrackConn(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.unlinkUnauthLocked(c)
	if !c.evicted {
		s.live--
	}
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
