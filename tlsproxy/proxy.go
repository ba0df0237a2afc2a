package tlsproxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/rs/zerolog"
)

// DefaultProxyListen is where a Proxy listens when ProxyOptions.Listen is empty.
const DefaultProxyListen = ":6443"

// ProxyOptions configure a [Proxy]. Zero durations and counts take the package defaults.
type ProxyOptions struct {
	Listen           string      // address for ListenAndServe; DefaultProxyListen when empty
	Upstream         string      // plaintext server, host:port (required)
	TLSConfig        *tls.Config // server side policy, normally ServerConfig.TLSConfig() (required)
	HandshakeTimeout time.Duration
	DialTimeout      time.Duration // per connection attempt to the upstream
	BackoffMin       time.Duration // first wait after a failed attempt
	BackoffMax       time.Duration // the wait doubles up to this
	MaxAttempts      int           // attempts per accepted connection before it is closed
	IdleTimeout      time.Duration // close after this long with no byte either way; 0 never
	WriteTimeout     time.Duration // bound on each write to either side
	Logger           zerolog.Logger
}

// Proxy accepts TLS connections and relays each one, decrypted, to a plaintext upstream such as a legacy SIP2
// server. Each accepted connection gets its own upstream connection; an end of input in one direction is passed
// on as a half-close.
type Proxy struct {
	listen string
	r      *relay
}

// NewProxy checks and copies o.
func NewProxy(o *ProxyOptions) (*Proxy, error) {
	if o.Upstream == "" {
		return nil, errors.New("tlsproxy: proxy needs an upstream address")
	}
	if o.TLSConfig == nil {
		return nil, errors.New("tlsproxy: proxy needs a TLS configuration")
	}
	if _, _, err := net.SplitHostPort(o.Upstream); err != nil {
		return nil, fmt.Errorf("tlsproxy: upstream %q: %w", o.Upstream, err)
	}
	p := &Proxy{listen: o.Listen}
	if p.listen == "" {
		p.listen = DefaultProxyListen
	}
	tlsCfg := o.TLSConfig.Clone()
	hsTimeout := orDefault(o.HandshakeTimeout, DefaultHandshakeTimeout)
	upstreamAddr := o.Upstream
	cfg := relayConfig{
		log: o.Logger.With().Str("proto", "tlsproxy").Logger(),
		accept: func(s *session, log zerolog.Logger) (zerolog.Logger, error) {
			tc := s.in.(*tls.Conn)
			if err := tc.SetDeadline(time.Now().Add(hsTimeout)); err != nil {
				return log, err
			}
			// Checked after setting the deadline, so a Shutdown's deadline in the past cannot be overwritten.
			if s.draining.Load() {
				return log, errShuttingDown
			}
			if err := tc.Handshake(); err != nil {
				return log, err
			}
			if err := tc.SetDeadline(time.Time{}); err != nil {
				return log, err
			}
			st := tc.ConnectionState()
			if id, ok := Identity(&st); ok {
				log = log.With().Str("profile", id.Profile).Str("inst", id.Institution).Logger()
			}
			return log, nil
		},
	}
	cfg.setDefaults(o.DialTimeout, o.BackoffMin, o.BackoffMax, o.MaxAttempts, o.IdleTimeout, o.WriteTimeout)
	dialer := &net.Dialer{}
	cfg.upstreams = []upstream{{addr: upstreamAddr, dial: func(ctx context.Context) (net.Conn, error) {
		return dialer.DialContext(ctx, "tcp", upstreamAddr)
	}}}
	cfg.wrap = func(l net.Listener) net.Listener { return NewListener(l, tlsCfg, hsTimeout) }
	p.r = newRelay(cfg)
	return p, nil
}

// ListenAndServe listens on the configured address and calls Serve.
func (p *Proxy) ListenAndServe() error {
	l, err := net.Listen("tcp", p.listen)
	if err != nil {
		return err
	}
	return p.Serve(l)
}

// Serve accepts plain TCP connections on l, runs the TLS handshake of each in its own goroutine and relays it. It
// closes l when it returns, and returns nil after Shutdown or Close.
func (p *Proxy) Serve(l net.Listener) error { return p.r.serve(l) }

// Shutdown stops accepting, releases connections still handshaking or waiting for the upstream, stops reading
// from clients and passes that on as a half-close, then waits for the upstream to finish answering and close, or
// for ctx. When ctx ends first it closes everything and returns ctx.Err().
func (p *Proxy) Shutdown(ctx context.Context) error { return p.r.shutdown(ctx) }

// Close stops accepting and closes every connection at once.
func (p *Proxy) Close() error { return p.r.close() }
