package tlsproxy

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// Defaults for the relay options left at zero.
const (
	DefaultDialTimeout  = 10 * time.Second
	DefaultBackoffMin   = 250 * time.Millisecond
	DefaultBackoffMax   = 10 * time.Second
	DefaultMaxAttempts  = 8
	DefaultWriteTimeout = 30 * time.Second
)

// relayBufSize is the copy buffer per direction. SIP2 messages are a few hundred bytes, and two small buffers
// keep an idle relayed connection cheap.
const relayBufSize = 1 << 10

// errShuttingDown refuses a connection accepted just as Shutdown began.
var errShuttingDown = errors.New("tlsproxy: shutting down")

// aLongTimeAgo is a deadline in the past: setting it unblocks a pending read at once.
var aLongTimeAgo = time.Unix(1, 0)

// relayConfig is what differs between the proxy and the tunnel; both share the relay below.
type relayConfig struct {
	// wrap, when set, wraps each listener given to Serve (the proxy's TLS listener).
	wrap func(net.Listener) net.Listener
	// accept prepares an accepted conn (the proxy's TLS handshake) and returns the logger to use for it.
	accept func(s *session, log zerolog.Logger) (zerolog.Logger, error)
	// upstreams are the servers a connection may be relayed to, in the order they are tried (at least one).
	upstreams    []upstream
	dialTimeout  time.Duration // per upstream tried
	backoffMin   time.Duration
	backoffMax   time.Duration
	maxAttempts  int
	idleTimeout  time.Duration
	writeTimeout time.Duration
	log          zerolog.Logger
}

func (c *relayConfig) setDefaults(dialTimeout, backoffMin, backoffMax time.Duration, maxAttempts int,
	idleTimeout, writeTimeout time.Duration) {
	c.dialTimeout = orDefault(dialTimeout, DefaultDialTimeout)
	c.backoffMin = orDefault(backoffMin, DefaultBackoffMin)
	c.backoffMax = max(orDefault(backoffMax, DefaultBackoffMax), c.backoffMin)
	c.maxAttempts = maxAttempts
	if c.maxAttempts <= 0 {
		c.maxAttempts = DefaultMaxAttempts
	}
	c.idleTimeout = max(idleTimeout, 0)
	c.writeTimeout = orDefault(writeTimeout, DefaultWriteTimeout)
}

// upstream is one server a relay can connect to.
type upstream struct {
	addr string
	dial func(ctx context.Context) (net.Conn, error) // one attempt, bounded by its ctx
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// relay accepts connections, connects each to an upstream with bounded retries, and copies bytes both ways with
// half-close. It implements the Serve/Shutdown/Close contract for Proxy and Tunnel.
type relay struct {
	cfg    relayConfig
	ctx    context.Context // cancelled by Shutdown and Close: stops dials and backoff waits
	cancel context.CancelFunc
	ids    atomic.Uint64
	// current is the index of the upstream that last answered, tried first by every connection.
	current atomic.Int64

	mu        sync.Mutex
	closed    bool
	listeners map[net.Listener]struct{}
	sessions  map[*session]struct{}
	wg        sync.WaitGroup // one per session goroutine
}

func newRelay(cfg relayConfig) *relay {
	ctx, cancel := context.WithCancel(context.Background())
	return &relay{
		cfg:       cfg,
		ctx:       ctx,
		cancel:    cancel,
		listeners: make(map[net.Listener]struct{}),
		sessions:  make(map[*session]struct{}),
	}
}

// session is one relayed connection: in was accepted, out was dialled.
type session struct {
	in       net.Conn
	out      net.Conn // nil until dialled; guarded by relay.mu
	draining atomic.Bool
	lastIO   atomic.Int64 // unix nanoseconds of the last byte moved either way
}

func (r *relay) serve(l net.Listener) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		l.Close()
		return nil
	}
	r.listeners[l] = struct{}{}
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.listeners, l)
		r.mu.Unlock()
		l.Close()
	}()

	acc := l
	if r.cfg.wrap != nil {
		acc = r.cfg.wrap(l)
	}
	var delay time.Duration
	for {
		c, err := acc.Accept()
		if err != nil {
			if r.stopping() {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			// Anything else (too many open files, a reset during accept) passes: back off and try again.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			r.cfg.log.Warn().Err(err).Dur("retry_in", delay).Msg("accept failed")
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-r.ctx.Done():
				t.Stop()
				return nil
			}
			continue
		}
		delay = 0
		s := &session{in: c}
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			c.Close()
			return nil
		}
		r.sessions[s] = struct{}{}
		r.wg.Add(1)
		r.mu.Unlock()
		go r.handle(s)
	}
}

func (r *relay) stopping() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

func (r *relay) handle(s *session) {
	defer r.wg.Done()
	defer func() {
		r.mu.Lock()
		delete(r.sessions, s)
		r.mu.Unlock()
	}()
	log := r.cfg.log.With().Uint64("conn", r.ids.Add(1)).Str("remote", s.in.RemoteAddr().String()).Logger()
	log, err := r.cfg.accept(s, log)
	if err != nil {
		log.Info().Err(err).Msg("connection refused before relaying")
		s.in.Close()
		return
	}
	out, err := r.dialRetry(log)
	if err != nil {
		s.in.Close()
		return
	}
	// From here Close closes out as well. A Shutdown that began while dialling has already marked the session
	// draining, so pipe passes the end on at once.
	r.mu.Lock()
	s.out = out
	r.mu.Unlock()
	log.Debug().Str("upstream", out.RemoteAddr().String()).Msg("relaying")
	up, down := r.pipe(s)
	log.Debug().Int64("bytes_up", up).Int64("bytes_down", down).Msg("relay closed")
}

// dialRetry tries the upstreams up to maxAttempts rounds with exponential backoff (jittered, capped) between
// rounds, while the accepted conn waits unread. It stops early when the relay shuts down.
func (r *relay) dialRetry(log zerolog.Logger) (net.Conn, error) {
	wait := r.cfg.backoffMin
	for attempt := 1; ; attempt++ {
		c, addr, err := r.dialRound(log)
		if err == nil {
			return c, nil
		}
		if r.ctx.Err() != nil {
			return nil, r.ctx.Err()
		}
		if attempt >= r.cfg.maxAttempts {
			log.Warn().Err(err).Str("upstream", addr).Int("attempts", attempt).Msg("upstream unreachable, giving up")
			return nil, err
		}
		// Equal jitter: half the wait is fixed, half random, so kiosks cut off together do not return together.
		d := wait/2 + rand.N(wait/2+1)
		log.Warn().Err(err).Str("upstream", addr).Int("attempt", attempt).Dur("retry_in", d).
			Msg("upstream unreachable, retrying")
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-r.ctx.Done():
			t.Stop()
			return nil, r.ctx.Err()
		}
		wait = min(2*wait, r.cfg.backoffMax)
	}
}

// dialRound tries each upstream once, each bounded by dialTimeout: first the one that last answered, then the
// others in list order. Starting from the last one that answered keeps connections on a survivor, so they do not
// pay a dead server's timeout each time. On failure it returns the address tried last and its error.
func (r *relay) dialRound(log zerolog.Logger) (net.Conn, string, error) {
	var err error
	var addr string
	for _, i := range tryOrder(int(r.current.Load()), len(r.cfg.upstreams)) {
		up := r.cfg.upstreams[i]
		if err != nil {
			log.Warn().Err(err).Str("upstream", addr).Str("next", up.addr).Msg("upstream unreachable, trying the next")
		}
		ctx, cancel := context.WithTimeout(r.ctx, r.cfg.dialTimeout)
		c, dialErr := up.dial(ctx)
		cancel()
		if dialErr == nil {
			r.current.Store(int64(i))
			return c, up.addr, nil
		}
		err, addr = dialErr, up.addr
		if r.ctx.Err() != nil {
			break
		}
	}
	return nil, addr, err
}

// tryOrder lists the indexes 0..n-1 with first moved to the front.
func tryOrder(first, n int) []int {
	order := make([]int, 0, n)
	order = append(order, first)
	for i := range n {
		if i != first {
			order = append(order, i)
		}
	}
	return order
}

// pipe copies both ways until both directions have ended, and returns the bytes moved each way. A clean end of
// one direction is passed on as a half-close; an error in either ends both.
func (r *relay) pipe(s *session) (up, down int64) {
	s.lastIO.Store(time.Now().UnixNano())
	done := make(chan struct{})
	go func() {
		defer close(done)
		down = r.copyHalf(s, s.in, s.out)
	}()
	up = r.copyHalf(s, s.out, s.in)
	<-done
	s.in.Close()
	s.out.Close()
	return up, down
}

// copyHalf copies src to dst. At a clean end of src (EOF, or Shutdown releasing the accepted side) it half-closes
// dst; on any error it closes both conns so the other direction ends too.
func (r *relay) copyHalf(s *session, dst, src net.Conn) int64 {
	buf := make([]byte, relayBufSize)
	var total int64
	fromClient := src == s.in
	for {
		if r.cfg.idleTimeout > 0 {
			src.SetReadDeadline(time.Now().Add(r.cfg.idleTimeout))
		}
		if fromClient && s.draining.Load() {
			// Set after the deadline above, so Shutdown's deadline in the past cannot be overwritten.
			src.SetReadDeadline(aLongTimeAgo)
		}
		n, err := src.Read(buf)
		if n > 0 {
			s.lastIO.Store(time.Now().UnixNano())
			dst.SetWriteDeadline(time.Now().Add(r.cfg.writeTimeout))
			if _, werr := dst.Write(buf[:n]); werr != nil {
				s.in.Close()
				s.out.Close()
				return total
			}
			total += int64(n)
		}
		switch {
		case err == nil:
			continue
		case errors.Is(err, io.EOF):
		case errors.Is(err, os.ErrDeadlineExceeded) && fromClient && s.draining.Load():
			// Shutdown: stop taking requests, let the upstream answer what it has and close.
		case errors.Is(err, os.ErrDeadlineExceeded) && r.cfg.idleTimeout > 0 &&
			time.Since(time.Unix(0, s.lastIO.Load())) < r.cfg.idleTimeout:
			continue // the other direction was busy
		default:
			s.in.Close()
			s.out.Close()
			return total
		}
		if err := closeWrite(dst); err != nil {
			s.in.Close()
			s.out.Close()
		}
		return total
	}
}

// closeWrite ends the write side of c: a TLS close_notify followed by a TCP FIN, or a plain FIN. A conn that cannot
// half-close is closed.
func closeWrite(c net.Conn) error {
	type closeWriter interface{ CloseWrite() error }
	if tc, ok := c.(*tls.Conn); ok {
		if err := tc.CloseWrite(); err != nil {
			return err
		}
		c = tc.NetConn()
	}
	if cw, ok := c.(closeWriter); ok {
		return cw.CloseWrite()
	}
	return c.Close()
}

// shutdown stops accepting, releases waiting and idle connections, and waits for the relayed ones to end or ctx.
func (r *relay) shutdown(ctx context.Context) error {
	r.mu.Lock()
	r.closed = true
	for l := range r.listeners {
		l.Close()
	}
	for s := range r.sessions {
		s.draining.Store(true)
		s.in.SetReadDeadline(aLongTimeAgo)
	}
	r.mu.Unlock()
	r.cancel()

	done := make(chan struct{})
	go func() {
		r.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		r.close()
		<-done
		return ctx.Err()
	}
}

// close stops accepting, closes every connection and waits for their goroutines to return.
func (r *relay) close() error {
	r.mu.Lock()
	r.closed = true
	for l := range r.listeners {
		l.Close()
	}
	for s := range r.sessions {
		s.draining.Store(true)
		s.in.Close()
		if s.out != nil {
			s.out.Close()
		}
	}
	r.mu.Unlock()
	r.cancel()
	r.wg.Wait()
	return nil
}
