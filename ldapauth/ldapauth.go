// Package ldapauth checks patrons' passwords against a campus directory
// over LDAP, for the patron groups whose auth names an LDAP profile. It
// implements circ.Directory: find the patron's entry with the service
// account, then bind as that entry with the password the patron typed.
//
// Each profile has a pool of connections, opened on demand to the first of
// its URLs that answers and kept for the next check. A check that cannot
// get a connection, or whose directory does not answer within the
// profile's timeout, is answered circ.ErrDirectoryUnavailable — never as a
// wrong password. Passwords are never kept, cached or logged; the service
// account's is read from its file at each check, so a rotated one is used
// at once.
package ldapauth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/rs/zerolog"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/profiles"
)

// Directory checks passwords against the LDAP profiles of the snapshot in
// force. The zero value is not usable; use New.
type Directory struct {
	current func() *profiles.Snapshot
	log     zerolog.Logger

	mu     sync.Mutex
	pools  map[string]*pool // by profile code
	stats  map[string]*Stats
	closed bool
}

// New returns a Directory over the LDAP profiles current returns.
func New(current func() *profiles.Snapshot, log zerolog.Logger) *Directory {
	return &Directory{current: current, log: log, pools: map[string]*pool{}, stats: map[string]*Stats{}}
}

// Stats count one directory's checks since the server started.
type Stats struct {
	OK, Rejected, Unavailable atomic.Uint64
	// Open is the number of connections held open.
	Open atomic.Int64
	// up is 1 while the last attempt to reach the directory succeeded.
	up atomic.Bool
	// lastError says, without secrets, why the directory was last
	// unreachable: for health and `circa ldap test`.
	lastError atomic.Pointer[string]
}

// Up reports whether the directory answered the last attempt to reach it;
// before any attempt it is taken as up.
func (s *Stats) Up() bool { return s.up.Load() }

// LastError is why the directory was last unreachable ("" when never).
func (s *Stats) LastError() string {
	if p := s.lastError.Load(); p != nil {
		return *p
	}
	return ""
}

func (s *Stats) reached(err error) {
	s.up.Store(err == nil)
	if err != nil {
		msg := err.Error()
		s.lastError.Store(&msg)
	}
}

// Sources lists the codes of the configured directories with their stats.
func (d *Directory) Sources() map[string]*Stats {
	snap := d.current()
	out := make(map[string]*Stats, len(snap.LDAP))
	d.mu.Lock()
	defer d.mu.Unlock()
	for code := range snap.LDAP {
		out[code] = d.statsOf(code)
	}
	return out
}

func (d *Directory) statsOf(code string) *Stats {
	s, ok := d.stats[code]
	if !ok {
		s = &Stats{}
		s.up.Store(true)
		d.stats[code] = s
	}
	return s
}

// Verify implements circ.Directory.
func (d *Directory) Verify(ctx context.Context, source string, who circ.DirectoryUser, password string) error {
	p, err := d.pool(source)
	if err != nil {
		d.log.Warn().Str("ldap", source).Err(err).Msg("password check for a directory that is not configured")
		return fmt.Errorf("%w: %v", circ.ErrDirectoryUnavailable, err)
	}
	err = p.verify(ctx, who, password)
	switch {
	case err == nil:
		p.stats.OK.Add(1)
	case errors.Is(err, circ.ErrDirectoryRejected):
		p.stats.Rejected.Add(1)
	default:
		p.stats.Unavailable.Add(1)
		d.log.Warn().Str("ldap", source).Err(err).Msg("directory could not check a password")
	}
	return err
}

// Lookup binds with the service account and finds the entry the profile's
// filter selects for user ("" only binds), for `circa ldap test`. It
// returns the entry's DN and the URL that answered.
func (d *Directory) Lookup(ctx context.Context, source, user string) (dn, server string, err error) {
	p, err := d.pool(source)
	if err != nil {
		return "", "", err
	}
	ctx, cancel := context.WithTimeout(ctx, p.prof.Timeout())
	defer cancel()
	c, err := p.get(ctx)
	if err != nil {
		return "", "", err
	}
	healthy := false
	defer func() { p.put(c, healthy) }()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	if err := p.serviceBind(ctx, c); err != nil {
		return "", c.url, err
	}
	if user != "" {
		if dn, err = p.find(ctx, c, circ.DirectoryUser{User: user, Barcode: user}); err != nil {
			return "", c.url, err
		}
	}
	healthy = true
	return dn, c.url, nil
}

// probeEvery is how often Run retries a directory that is down.
const probeEvery = 30 * time.Second

// Run retries each directory that is down every 30 seconds until ctx
// ends, so its Up, /healthz and /metrics clear once it answers again
// without waiting for a patron to try.
func (d *Directory) Run(ctx context.Context) error {
	t := time.NewTicker(probeEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			d.probe(ctx)
		}
	}
}

func (d *Directory) probe(ctx context.Context) {
	for code, st := range d.Sources() {
		if !st.Up() {
			if _, _, err := d.Lookup(ctx, code, ""); err != nil {
				d.log.Debug().Str("ldap", code).Err(err).Msg("directory still down")
			}
		}
	}
}

// Close closes every pooled connection; checks after it are unavailable.
func (d *Directory) Close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	for code, p := range d.pools {
		p.close()
		delete(d.pools, code)
	}
}

// pool returns the pool of a profile as it is now: a changed profile gets
// a new pool, and the old one's idle connections are closed.
func (d *Directory) pool(code string) (*pool, error) {
	prof, ok := d.current().LDAP[code]
	if !ok {
		return nil, fmt.Errorf("no LDAP profile %s", code)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, errors.New("directory closed")
	}
	p, ok := d.pools[code]
	if ok && reflect.DeepEqual(&p.prof, prof) {
		return p, nil
	}
	if ok {
		p.close()
	}
	p = newPool(*prof, d.statsOf(code))
	d.pools[code] = p
	return p, nil
}

// conn is a pooled connection and the URL it reached.
type conn struct {
	*ldap.Conn
	url string
}

// pool holds the open connections to one directory. slots bounds the
// checks in flight (and so the connections) by the profile's pool size.
type pool struct {
	prof  profiles.LDAP
	stats *Stats
	slots chan struct{}
	idle  chan *conn

	mu     sync.Mutex
	closed bool
}

func newPool(prof profiles.LDAP, stats *Stats) *pool {
	n := prof.Pool()
	return &pool{prof: prof, stats: stats, slots: make(chan struct{}, n), idle: make(chan *conn, n)}
}

// get takes a slot and an idle connection, or opens one.
func (p *pool) get(ctx context.Context) (*conn, error) {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: every connection busy for %s", circ.ErrDirectoryUnavailable, p.prof.Timeout())
	}
	if c := p.takeIdle(); c != nil {
		return c, nil
	}
	c, err := p.dial(ctx)
	p.stats.reached(err)
	if err != nil {
		<-p.slots
		return nil, err
	}
	p.stats.Open.Add(1)
	return c, nil
}

// takeIdle returns an idle connection the directory has not closed, or nil.
func (p *pool) takeIdle() *conn {
	for {
		select {
		case c := <-p.idle:
			if !c.IsClosing() {
				return c
			}
			p.stats.Open.Add(-1)
		default:
			return nil
		}
	}
}

// put returns a connection to the pool, or closes it when it is not fit
// for another check.
func (p *pool) put(c *conn, healthy bool) {
	p.mu.Lock()
	keep := healthy && !p.closed && !c.IsClosing()
	if keep {
		select {
		case p.idle <- c:
		default:
			keep = false
		}
	}
	p.mu.Unlock()
	if !keep {
		c.Close()
		p.stats.Open.Add(-1)
	}
	<-p.slots
}

func (p *pool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for {
		select {
		case c := <-p.idle:
			c.Close()
			p.stats.Open.Add(-1)
		default:
			return
		}
	}
}

// dial opens a connection to the first URL that answers, in order.
func (p *pool) dial(ctx context.Context) (*conn, error) {
	var errs []string
	for _, u := range p.prof.URLs {
		c, err := p.dialURL(ctx, u)
		if err == nil {
			return &conn{Conn: c, url: u}, nil
		}
		errs = append(errs, u+": "+err.Error())
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("%w: %s", circ.ErrDirectoryUnavailable, strings.Join(errs, "; "))
}

func (p *pool) dialURL(ctx context.Context, raw string) (*ldap.Conn, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	port := u.Port()
	if port == "" {
		port = ldap.DefaultLdapPort
		if u.Scheme == "ldaps" {
			port = ldap.DefaultLdapsPort
		}
	}
	addr := net.JoinHostPort(u.Hostname(), port)
	cfg, err := p.tlsConfig(u.Hostname())
	if err != nil {
		return nil, err
	}
	var nd net.Dialer
	var nc net.Conn
	if u.Scheme == "ldaps" {
		nc, err = (&tls.Dialer{NetDialer: &nd, Config: cfg}).DialContext(ctx, "tcp", addr)
	} else {
		nc, err = nd.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, err
	}
	if u.Scheme == "ldap" && !p.prof.StartTLS && !p.prof.PlainAllowed(nc.RemoteAddr().String()) {
		nc.Close()
		return nil, errors.New("refusing a connection without TLS to an address that is not loopback")
	}
	c := ldap.NewConn(nc, u.Scheme == "ldaps")
	c.Start()
	if u.Scheme == "ldap" && p.prof.StartTLS {
		stop := context.AfterFunc(ctx, func() { c.Close() })
		err := c.StartTLS(cfg)
		if !stop() || err != nil {
			c.Close()
			return nil, fmt.Errorf("StartTLS: %w", errOr(err, ctx.Err()))
		}
	}
	return c, nil
}

func errOr(err, other error) error {
	if err != nil {
		return err
	}
	return other
}

func (p *pool) tlsConfig(host string) (*tls.Config, error) {
	cfg := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	if p.prof.CAFile != "" {
		pem, err := os.ReadFile(p.prof.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s: no PEM certificate in it", p.prof.CAFile)
		}
		cfg.RootCAs = roots
	}
	return cfg, nil
}

// verify checks a password on a pooled connection; a connection that
// broke under it is replaced by a new one (which tries the URLs in order)
// once, while time remains.
func (p *pool) verify(ctx context.Context, who circ.DirectoryUser, password string) error {
	if password == "" {
		// An empty password would be an unauthenticated bind, which
		// directories accept without checking anything (RFC 4513 5.1.2).
		return circ.ErrDirectoryRejected
	}
	ctx, cancel := context.WithTimeout(ctx, p.prof.Timeout())
	defer cancel()
	var err error
	for range 2 {
		var c *conn
		if c, err = p.get(ctx); err != nil {
			return err
		}
		var healthy bool
		healthy, err = p.check(ctx, c, who, password)
		p.put(c, healthy)
		if healthy || ctx.Err() != nil {
			break
		}
	}
	if err != nil && ctx.Err() != nil && !errors.Is(err, circ.ErrDirectoryRejected) {
		return fmt.Errorf("%w: no answer within %s", circ.ErrDirectoryUnavailable, p.prof.Timeout())
	}
	return err
}

// check runs one password check on c; healthy says c can serve another.
func (p *pool) check(ctx context.Context, c *conn, who circ.DirectoryUser, password string) (healthy bool, err error) {
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	if err := p.serviceBind(ctx, c); err != nil {
		return false, err
	}
	dn, err := p.find(ctx, c, who)
	if err != nil {
		return !errors.Is(err, circ.ErrDirectoryUnavailable), err
	}
	c.SetTimeout(time.Until(deadline(ctx)))
	err = c.Bind(dn, password)
	switch {
	case err == nil:
		return true, nil
	case ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials):
		return true, circ.ErrDirectoryRejected
	}
	return false, fmt.Errorf("%w: bind as the patron's entry: %v", circ.ErrDirectoryUnavailable, err)
}

// serviceBind binds as the service account, or anonymously without one,
// undoing the previous check's bind as a patron.
func (p *pool) serviceBind(ctx context.Context, c *conn) error {
	c.SetTimeout(time.Until(deadline(ctx)))
	var err error
	if p.prof.BindDN == "" {
		_, err = c.SimpleBind(&ldap.SimpleBindRequest{AllowEmptyPassword: true})
	} else {
		var secret []byte
		secret, err = os.ReadFile(p.prof.BindPasswordFile)
		if err != nil {
			return fmt.Errorf("%w: bind_password_file: %v", circ.ErrDirectoryUnavailable, err)
		}
		first, _, _ := strings.Cut(string(secret), "\n")
		err = c.Bind(p.prof.BindDN, strings.TrimRight(first, "\r"))
	}
	p.stats.reached(err)
	if err != nil {
		return fmt.Errorf("%w: service bind as %s: %v", circ.ErrDirectoryUnavailable, orAnonymous(p.prof.BindDN), err)
	}
	return nil
}

func orAnonymous(dn string) string {
	if dn == "" {
		return "anonymous"
	}
	return dn
}

// find returns the DN of the one entry the filter selects for who.
func (p *pool) find(ctx context.Context, c *conn, who circ.DirectoryUser) (string, error) {
	limit := int(time.Until(deadline(ctx)) / time.Second)
	req := ldap.NewSearchRequest(p.prof.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 2, max(limit, 1), false,
		p.prof.SearchFilter(who.User, who.Barcode), []string{"1.1"}, nil)
	c.SetTimeout(time.Until(deadline(ctx)))
	res, err := c.Search(req)
	switch {
	case ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) || (err == nil && len(res.Entries) > 1):
		return "", fmt.Errorf("%w: the filter selects more than one entry; make it name one person", circ.ErrDirectoryUnavailable)
	case ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject):
		return "", fmt.Errorf("%w: base_dn %s does not exist", circ.ErrDirectoryUnavailable, p.prof.BaseDN)
	case err != nil:
		return "", fmt.Errorf("%w: search: %v", circ.ErrDirectoryUnavailable, err)
	case len(res.Entries) == 0:
		return "", fmt.Errorf("%w: no entry for that user", circ.ErrDirectoryRejected)
	}
	return res.Entries[0].DN, nil
}

func deadline(ctx context.Context) time.Time {
	d, ok := ctx.Deadline()
	if !ok {
		return time.Now().Add(time.Duration(profiles.DefaultLDAPTimeout) * time.Second)
	}
	return d
}
