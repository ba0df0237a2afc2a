package main

import (
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/circa-ils/circa/tlsproxy"
)

// httpTimeouts bound how long one HTTP peer may hold a connection: until
// its TLS handshake is done, until its request headers are in, to send a
// body, to read an answer, and idle between requests.
type httpTimeouts struct {
	handshake, header, read, write, idle time.Duration
}

// serveHTTPTimeouts are those of circa serve's HTTP and HTTPS listeners.
// The write bound is long because an OAI harvester reads a large list
// slowly.
var serveHTTPTimeouts = httpTimeouts{handshake: 10 * time.Second, header: 10 * time.Second,
	read: time.Minute, write: 10 * time.Minute, idle: 2 * time.Minute}

// httpsMaxStreams is how many requests one HTTP/2 connection may have in
// flight: with the per-source connection cap, what one partner address may
// run at once stays near what HTTP/1.1 allows.
const httpsMaxStreams = 8

// newHTTPServer returns the server of one listener with the timeouts t and,
// over TLS, HTTP/2 with at most httpsMaxStreams streams a connection.
// net/http's own messages go to l at debug level: they are mostly failed
// handshakes of scanners, which must not fill the log.
func newHTTPServer(h http.Handler, t httpTimeouts, l zerolog.Logger) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: t.header, ReadTimeout: t.read, WriteTimeout: t.write,
		IdleTimeout: t.idle, HTTP2: &http.HTTP2Config{MaxConcurrentStreams: httpsMaxStreams},
		ErrorLog: log.New(debugWriter{l}, "", 0)}
}

// debugWriter writes each line a log.Logger gives it as a debug line.
type debugWriter struct{ l zerolog.Logger }

func (w debugWriter) Write(p []byte) (int, error) {
	w.l.Debug().Msg(strings.TrimSpace(string(p)))
	return len(p), nil
}

// httpsListener serves TLS on l with sc's certificate, offering HTTP/2 and
// HTTP/1.1. Accept returns at once; each handshake runs in its
// connection's goroutine and must end within handshake.
func httpsListener(l net.Listener, sc *tlsproxy.ServerConfig, handshake time.Duration) net.Listener {
	cfg := sc.TLSConfig()
	cfg.NextProtos = []string{"h2", "http/1.1"}
	return tlsproxy.NewListener(l, cfg, handshake)
}

// tlsFiles are the files the TLS listeners serve: the certificate and key,
// the bundle client certificates are verified against ("" when none) and
// the CA in DATA/tls to print on start-up ("" when none).
type tlsFiles struct {
	cert, key, clientCA, printedCA string
}

// serverTLSFiles finds the TLS files. With --demo a CA and server
// certificate are made in DATA/tls when missing; otherwise the files must
// exist (circa tls init makes them).
func serverTLSFiles(a *app, o *serveOptions) (tlsFiles, error) {
	dir := filepath.Join(a.dataDir, "tls")
	f := tlsFiles{cert: o.tlsCert, key: o.tlsKey, clientCA: a.path(o.tlsClientCA), printedCA: filepath.Join(dir, tlsproxy.CACertFile)}
	if f.cert == "" {
		f.cert = filepath.Join(dir, tlsproxy.ServerCertFile)
	}
	if f.key == "" {
		f.key = filepath.Join(dir, tlsproxy.ServerKeyFile)
	}
	f.cert, f.key = a.path(f.cert), a.path(f.key)
	if o.demo && o.tlsCert == "" && o.tlsKey == "" {
		if _, created, err := tlsproxy.EnsureSelfSigned(dir, []string{"localhost", "127.0.0.1", "::1"}); err != nil {
			return tlsFiles{}, fmt.Errorf("demo TLS certificate: %w", err)
		} else if created {
			a.log.Info().Str("dir", dir).Msg("created a demo CA and server certificate")
		}
	}
	if _, err := os.Stat(f.cert); err != nil {
		return tlsFiles{}, fmt.Errorf("SIP2 over TLS and HTTPS need a certificate: %s is missing (run circa tls init, give --tls-cert/--tls-key, or turn TLS off with --sip2-tls-addr '' --https-addr '')", f.cert)
	}
	if _, err := os.Stat(f.printedCA); err != nil {
		f.printedCA = ""
	}
	if f.clientCA == "" {
		f.clientCA = f.printedCA
	}
	return f, nil
}

// sip2TLSConfig is the TLS policy of the SIP2 listener: kiosk client
// certificates as --tls-client-auth says, verified in the handshake; none
// are asked for when there is no CA bundle.
func sip2TLSConfig(o *serveOptions, f tlsFiles) (*tlsproxy.ServerConfig, error) {
	auth, err := tlsproxy.ParseClientAuth(o.tlsClientAuth)
	if err != nil {
		return nil, usageError("%v", err)
	}
	if f.clientCA == "" {
		auth = tlsproxy.ClientCertNone
	}
	return tlsproxy.NewServerConfig(tlsproxy.ServerOptions{CertFile: f.cert, KeyFile: f.key, ClientAuth: auth, ClientCAFile: f.clientCA})
}

// httpsTLSConfig is the TLS policy of the HTTPS listener: a client
// certificate from any issuer is asked for and left to the NCIP partner's
// profile to judge, with the client CA bundle as the default issuer.
func httpsTLSConfig(f tlsFiles) (*tlsproxy.ServerConfig, error) {
	return tlsproxy.NewServerConfig(tlsproxy.ServerOptions{CertFile: f.cert, KeyFile: f.key,
		ClientAuth: tlsproxy.ClientCertRequest, ClientCAFile: f.clientCA})
}
