package tlsproxy

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"time"

	"github.com/rs/zerolog"
)

// DefaultTunnelListen is where a Tunnel listens when TunnelOptions.Listen is empty: loopback only, on the port
// kiosks use for plain SIP2.
const DefaultTunnelListen = "127.0.0.1:6001"

// TunnelOptions configure a [Tunnel]. Zero durations and counts take the package defaults.
type TunnelOptions struct {
	Listen      string        // plain address for ListenAndServe; DefaultTunnelListen when empty
	Connect     string        // the circa server's TLS address, host:port (required)
	CertFile    string        // client certificate (PEM), as written by IssueClient; empty for none
	KeyFile     string        // its private key
	CAFile      string        // CA bundle the server certificate must chain to; empty: the system roots
	ServerName  string        // name checked in the server certificate; the host of Connect when empty
	DialTimeout time.Duration // per attempt, TCP connect and TLS handshake together
	BackoffMin  time.Duration // first wait after a failed attempt
	BackoffMax  time.Duration // the wait doubles up to this
	MaxAttempts int           // attempts per kiosk connection before the kiosk side is closed
	IdleTimeout time.Duration // close after this long with no byte either way; 0 never
	// WriteTimeout bounds each write to either side.
	WriteTimeout time.Duration
	Logger       zerolog.Logger
}

// Tunnel runs on a kiosk PC in place of stunnel: each plain connection accepted on loopback gets its own TLS
// connection to the server, and bytes are copied both ways with half-close. While the server cannot be reached
// the kiosk connection waits, unread, and the tunnel retries with exponential backoff; after MaxAttempts it closes
// the kiosk side. Kiosks reconnect and log in again by themselves, so each kiosk connection is tied to one server
// connection and never moved to another.
type Tunnel struct {
	listen string
	r      *relay
}

// NewTunnel reads the certificate files, checks and copies o.
func NewTunnel(o *TunnelOptions) (*Tunnel, error) {
	host, _, err := net.SplitHostPort(o.Connect)
	if err != nil {
		return nil, fmt.Errorf("tlsproxy: tunnel server address %q: %w", o.Connect, err)
	}
	tlsCfg, err := ClientConfig(o.CAFile, o.CertFile, o.KeyFile)
	if err != nil {
		return nil, err
	}
	tlsCfg.ServerName = o.ServerName
	if tlsCfg.ServerName == "" {
		tlsCfg.ServerName = host
	}
	t := &Tunnel{listen: o.Listen}
	if t.listen == "" {
		t.listen = DefaultTunnelListen
	}
	cfg := relayConfig{
		log: o.Logger.With().Str("proto", "tunnel").Logger(),
		accept: func(_ *session, log zerolog.Logger) (zerolog.Logger, error) {
			return log, nil
		},
	}
	cfg.setDefaults(o.DialTimeout, o.BackoffMin, o.BackoffMax, o.MaxAttempts, o.IdleTimeout, o.WriteTimeout)
	dialer := &tls.Dialer{Config: tlsCfg}
	server := o.Connect
	cfg.dial = func(ctx context.Context) (net.Conn, error) {
		return dialer.DialContext(ctx, "tcp", server)
	}
	t.r = newRelay(cfg)
	return t, nil
}

// ListenAndServe listens on the configured address and calls Serve.
func (t *Tunnel) ListenAndServe() error {
	l, err := net.Listen("tcp", t.listen)
	if err != nil {
		return err
	}
	return t.Serve(l)
}

// Serve accepts kiosk connections on l and relays each to the server over TLS. It closes l when it returns, and
// returns nil after Shutdown or Close.
func (t *Tunnel) Serve(l net.Listener) error { return t.r.serve(l) }

// Shutdown stops accepting, releases kiosk connections still waiting for the server, stops reading from kiosks
// and passes that on as a TLS close, then waits for the server to finish answering and close, or for ctx. When ctx
// ends first it closes everything and returns ctx.Err().
func (t *Tunnel) Shutdown(ctx context.Context) error { return t.r.shutdown(ctx) }

// Close stops accepting and closes every connection at once.
func (t *Tunnel) Close() error { return t.r.close() }
