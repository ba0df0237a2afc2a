// Package sftptest runs a real SSH server with an SFTP subsystem on 127.0.0.1
// for tests, rooted in a temporary directory, with switches that inject the
// faults file delivery must survive: a connection cut mid-upload, a lost
// rename reply, a refused rename, a server without posix-rename and a refused
// login.
//
// It is meant for tests in any package:
//
//	srv := sftptest.Start(t)                       // stopped by t.Cleanup
//	os.Mkdir(srv.Path("/out"), 0o755)              // SFTP "/out" on local disk
//	target := delivery.Target{Kind: delivery.KindSFTP, Host: srv.Host, Port: srv.Port,
//		User: srv.User, PrivateKey: string(srv.ClientKeyPEM), KnownHosts: srv.KnownHosts,
//		RemoteDir: "/out"}
//	srv.SetFaults(sftptest.Faults{CutAfterBytes: 4096}) // next upload is cut
package sftptest

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Faults are the misbehaviours the server can be told to show. The zero
// value is a well-behaved server. Faults apply to connections already open as
// well as new ones.
type Faults struct {
	// CutAfterBytes, when positive, drops the TCP connection once that many
	// bytes of file content have been written. The bytes up to the limit
	// reach the file; the write that crosses it gets no reply, and writes
	// the server had already buffered are discarded. It fires once and then
	// clears itself.
	CutAfterBytes int64
	// CutAfterRename performs the next rename and then drops the connection
	// before the reply is sent: the client never learns that it succeeded.
	// It fires once and then clears itself.
	CutAfterRename bool
	// RefuseRename answers every rename, plain or posix, with permission
	// denied and leaves the files where they are.
	RefuseRename bool
	// NoPosixRename hides the posix-rename@openssh.com extension from the
	// version handshake and refuses the request if a client sends it anyway,
	// like servers that only offer SFTP v3's plain rename.
	NoPosixRename bool
	// FailAuth rejects every public key, so logins fail.
	FailAuth bool
}

// Server is a running test SSH/SFTP server. Its exported fields describe how
// to reach it; they must not be changed.
type Server struct {
	// Host and Port are where the server listens (Host is always 127.0.0.1).
	Host string
	Port int
	// Addr is Host:Port.
	Addr string
	// User is the login name the server expects (any name is accepted; this
	// one is provided for convenience).
	User string
	// Root is the local directory that the SFTP path "/" maps to. Every
	// path a client sends is resolved inside it.
	Root string
	// ClientKeyPEM is an unencrypted OpenSSH private key whose public half is
	// the one authorised key.
	ClientKeyPEM []byte
	// KnownHosts is one known_hosts line that pins the server's host key for
	// Addr.
	KnownHosts string
	// HostKey is the server's public host key.
	HostKey ssh.PublicKey

	ln         net.Listener
	config     *ssh.ServerConfig
	authorized []byte

	mu     sync.Mutex
	faults Faults
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup

	logins    atomic.Int64
	authFails atomic.Int64
	written   atomic.Int64
}

// Start runs a server rooted in a fresh t.TempDir and stops it when the test
// ends.
func Start(tb testing.TB) *Server {
	tb.Helper()
	s, err := New(tb.TempDir())
	if err != nil {
		tb.Fatalf("sftptest: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// New starts a server rooted in root, an existing directory. The caller must
// Close it.
func New(root string) (*Server, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(root); err != nil {
		return nil, err
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("root %s is not a directory", root)
	}

	_, hostPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	hostSigner, err := ssh.NewSignerFromKey(hostPriv)
	if err != nil {
		return nil, err
	}
	clientPub, clientPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	block, err := ssh.MarshalPrivateKey(clientPriv, "circa sftptest client")
	if err != nil {
		return nil, err
	}
	sshClientPub, err := ssh.NewPublicKey(clientPub)
	if err != nil {
		return nil, err
	}

	s := &Server{
		Host:         "127.0.0.1",
		User:         "circa",
		Root:         root,
		ClientKeyPEM: pem.EncodeToMemory(block),
		HostKey:      hostSigner.PublicKey(),
		authorized:   sshClientPub.Marshal(),
		conns:        make(map[net.Conn]struct{}),
	}
	s.config = &ssh.ServerConfig{PublicKeyCallback: s.checkKey}
	s.config.AddHostKey(hostSigner)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.ln = ln
	s.Addr = ln.Addr().String()
	s.Port = ln.Addr().(*net.TCPAddr).Port
	s.KnownHosts = knownhosts.Line([]string{knownhosts.Normalize(s.Addr)}, s.HostKey)

	s.wg.Add(1)
	go s.acceptLoop()
	return s, nil
}

// SetFaults replaces the active faults.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	s.faults = f
	s.mu.Unlock()
}

// Faults returns the active faults; a one-shot fault that has fired reads
// as cleared.
func (s *Server) Faults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults
}

// Logins reports how many logins succeeded so far.
func (s *Server) Logins() int64 { return s.logins.Load() }

// BytesWritten reports how many bytes of file content clients have written
// so far, re-sent bytes included.
func (s *Server) BytesWritten() int64 { return s.written.Load() }

// AuthFailures reports how many public keys were rejected so far.
func (s *Server) AuthFailures() int64 { return s.authFails.Load() }

// Path returns the local path of the SFTP path p.
func (s *Server) Path(p string) string {
	return filepath.Join(s.Root, filepath.FromSlash(path.Clean("/"+p)))
}

// DropConnections closes every open client connection, as a network failure
// would.
func (s *Server) DropConnections() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.Close()
	}
}

// Close stops listening, drops every connection and waits until all of the
// server's goroutines have returned.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	err := s.ln.Close()
	s.wg.Wait()
	return err
}

func (s *Server) checkKey(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
	if s.Faults().FailAuth || !bytes.Equal(key.Marshal(), s.authorized) {
		s.authFails.Add(1)
		return nil, errors.New("sftptest: public key not accepted")
	}
	return nil, nil
}

func (s *Server) acceptLoop() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return // closed; a loopback listener has no other failure worth retrying
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serveConn(c)
	}
}

func (s *Server) forget(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	c.Close()
}

func (s *Server) serveConn(c net.Conn) {
	defer s.wg.Done()
	defer s.forget(c)
	sconn, chans, reqs, err := ssh.NewServerConn(c, s.config)
	if err != nil {
		return
	}
	defer sconn.Close()
	s.logins.Add(1)

	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(1)
	go func() {
		defer wg.Done()
		ssh.DiscardRequests(reqs)
	}()
	for nc := range chans {
		if nc.ChannelType() != "session" {
			nc.Reject(ssh.UnknownChannelType, "only session channels")
			continue
		}
		ch, chReqs, err := nc.Accept()
		if err != nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.serveSession(c, ch, chReqs)
		}()
	}
}

func (s *Server) serveSession(c net.Conn, ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	started := false
	var done chan struct{}
	for req := range reqs {
		ok := !started && req.Type == "subsystem" && len(req.Payload) >= 4 && string(req.Payload[4:]) == "sftp"
		if req.WantReply {
			req.Reply(ok, nil)
		}
		if !ok {
			continue
		}
		started = true
		done = make(chan struct{})
		go func() {
			defer close(done)
			h := &fsHandler{srv: s, conn: c}
			rw := &sessionRW{Channel: ch}
			if s.Faults().NoPosixRename {
				rw.w = &versionFilter{w: ch, drop: "posix-rename@openssh.com"}
			}
			rs := sftp.NewRequestServer(rw, sftp.Handlers{FileGet: h, FilePut: h, FileCmd: h, FileList: h})
			rs.Serve()
			rs.Close()
		}()
	}
	if done != nil {
		<-done
	}
}

// sessionRW is the channel the SFTP server talks over, with an optional
// filter on what it writes.
type sessionRW struct {
	ssh.Channel
	w io.Writer
}

func (s *sessionRW) Write(p []byte) (int, error) {
	if s.w != nil {
		return s.w.Write(p)
	}
	return s.Channel.Write(p)
}

// versionFilter removes one extension from the SSH_FXP_VERSION packet, the
// first packet an SFTP server sends, and passes everything after it through.
type versionFilter struct {
	w    io.Writer
	drop string
	buf  []byte
	done bool
}

func (v *versionFilter) Write(p []byte) (int, error) {
	if v.done {
		return v.w.Write(p)
	}
	v.buf = append(v.buf, p...)
	if len(v.buf) < 4 {
		return len(p), nil
	}
	n := int(uint32(v.buf[0])<<24 | uint32(v.buf[1])<<16 | uint32(v.buf[2])<<8 | uint32(v.buf[3]))
	if len(v.buf) < 4+n {
		return len(p), nil
	}
	v.done = true
	out := append(dropExtension(v.buf[:4+n], v.drop), v.buf[4+n:]...)
	v.buf = nil
	if _, err := v.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// dropExtension returns the SSH_FXP_VERSION packet pkt (length prefix
// included) without the extension named name. A packet it cannot parse is
// returned unchanged.
func dropExtension(pkt []byte, name string) []byte {
	const fxpVersion = 2
	if len(pkt) < 9 || pkt[4] != fxpVersion {
		return pkt
	}
	out := append([]byte(nil), pkt[:9]...) // length, type, version
	rest := pkt[9:]
	for len(rest) > 0 {
		ext, r, ok := readString(rest)
		if !ok {
			return pkt
		}
		data, r, ok := readString(r)
		if !ok {
			return pkt
		}
		if string(ext) != name {
			out = appendString(out, ext)
			out = appendString(out, data)
		}
		rest = r
	}
	n := uint32(len(out) - 4)
	out[0], out[1], out[2], out[3] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
	return out
}

func readString(b []byte) (s, rest []byte, ok bool) {
	if len(b) < 4 {
		return nil, nil, false
	}
	n := uint64(b[0])<<24 | uint64(b[1])<<16 | uint64(b[2])<<8 | uint64(b[3])
	if uint64(len(b)-4) < n {
		return nil, nil, false
	}
	return b[4 : 4+n], b[4+n:], true
}

func appendString(b, s []byte) []byte {
	n := uint32(len(s))
	b = append(b, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	return append(b, s...)
}
