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

// DefaultTunnelListen is where a Tunnel listens when TunnelOptions.Listen is empty: loopback only, on the port
// kiosks use for plain SIP2.
const DefaultTunnelListen = "127.0.0.1:6001"

// TunnelOptions configure a [Tunnel]. Zero durations and counts take the package defaults.
type TunnelOptions struct {
	Listen      string        // plain address for ListenAndServe; DefaultTunnelListen when empty
	Servers     []string      // the circa servers' TLS addresses, host:port, in the order to try them (at least one)
	CertFile    string        // client certificate (PEM), as written by IssueClient; empty for none
	KeyFile     string        // its private key
	CAFile      string        // CA bundle the server certificate must chain to; empty: the system roots
	ServerName  string        // name checked in every server certificate; the host of the server dialled when empty
	DialTimeout time.Duration // per server tried, TCP connect and TLS handshake together
	BackoffMin  time.Duration // first wait after an attempt (every server tried once) failed
	BackoffMax  time.Duration // the wait doubles up to this
	MaxAttempts int           // attempts per kiosk connection before the kiosk side is closed
	IdleTimeout time.Duration // close after this long with no byte either way; 0 never
	// WriteTimeout bounds each write to either side.
	WriteTimeout time.Duration
	Logger       zerolog.Logger
}

// Tunnel runs on a kiosk PC in place of stunnel: each plain connection accepted on loopback gets its own TLS
// connection to a server, and bytes are copied both ways with half-close. Each attempt tries the servers once,
// starting with the one that last answered and going on in list order, so kiosks stay on a server that works and
// fail over to another when it stops answering. While no server can be reached the kiosk connection waits, unread,
// and the tunnel retries with exponential backoff; after MaxAttempts it closes the kiosk side. Kiosks reconnect and
// log in again by themselves, so each kiosk connection is tied to one server connection and never moved to another.
type Tunnel struct {
	listen string
	r      *relay
}

// NewTunnel reads the certificate files, checks and copies o.
func NewTunnel(o *TunnelOptions) (*Tunnel, error) {
	if len(o.Servers) == 0 {
		return nil, errors.New("tlsproxy: tunnel needs at least one server address")
	}
	tlsCfg, err := ClientConfig(o.CAFile, o.CertFile, o.KeyFile)
	if err != nil {
		return nil, err
	}
	cfg := relayConfig{
		log: o.Logger.With().Str("proto", "tunnel").Logger(),
		accept: func(_ *session, log zerolog.Logger) (zerolog.Logger, error) {
			return log, nil
		},
	}
	seen := make(map[string]bool, len(o.Servers))
	for _, server := range o.Servers {
		host, _, err := net.SplitHostPort(server)
		if err != nil {
			return nil, fmt.Errorf("tlsproxy: tunnel server address %q: %w", server, err)
		}
		if seen[server] {
			return nil, fmt.Errorf("tlsproxy: tunnel server address %q listed twice", server)
		}
		seen[server] = true
		serverCfg := tlsCfg.Clone()
		serverCfg.ServerName = o.ServerName
		if serverCfg.ServerName == "" {
			serverCfg.ServerName = host
		}
		dialer := &tls.Dialer{Config: serverCfg}
		cfg.upstreams = append(cfg.upstreams, upstream{addr: server, dial: func(ctx context.Context) (net.Conn, error) {
			return dialer.DialContext(ctx, "tcp", server)
		}})
	}
	cfg.setDefaults(o.DialTimeout, o.BackoffMin, o.BackoffMax, o.MaxAttempts, o.IdleTimeout, o.WriteTimeout)
	t := &Tunnel{listen: o.Listen, r: newRelay(cfg)}
	if t.listen == "" {
		t.listen = DefaultTunnelListen
	}
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
