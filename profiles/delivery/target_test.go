package delivery

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/circa-ils/circa/profiles/delivery/sftptest"
)

func otherKey(t *testing.T) ssh.PublicKey {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestWrongHostKey(t *testing.T) {
	srv := startServer(t)
	tg := sftpTarget(srv, "/out")
	tg.KnownHosts = knownhosts.Line([]string{knownhosts.Normalize(srv.Addr)}, otherKey(t))
	c := newClient(t, tg, fastRetry)
	got, err := c.Deliver(context.Background(), &memStore{}, prepare(t, "x.dat", []byte("secret bursar data")))
	if !errors.Is(err, ErrHostKey) || !IsPermanent(err) {
		t.Fatalf("wrong host key: %v", err)
	}
	var ke *knownhosts.KeyError
	if !errors.As(err, &ke) || len(ke.Want) != 1 {
		t.Fatalf("want a knownhosts key mismatch, got %v", err)
	}
	if got.Attempts != 1 || srv.Logins() != 0 || srv.AuthFailures() != 0 {
		t.Fatalf("attempts %d, logins %d, auth tries %d: the client must stop before authenticating",
			got.Attempts, srv.Logins(), srv.AuthFailures())
	}
	if names := dirNames(t, srv.Path("/out")); len(names) != 0 {
		t.Fatalf("a server with the wrong host key received %q", names)
	}

	// A revoked key is refused just the same.
	tg.KnownHosts = "@revoked * " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(srv.HostKey))) + "\n" + srv.KnownHosts
	c = newClient(t, tg, fastRetry)
	if _, err := c.Deliver(context.Background(), &memStore{}, prepare(t, "x.dat", []byte("x"))); !errors.Is(err, ErrHostKey) {
		t.Fatalf("revoked host key: %v", err)
	}
}

func TestUnknownHostRejectedByValidate(t *testing.T) {
	srv := startServer(t)
	tg := sftpTarget(srv, "/out")
	tg.KnownHosts = knownhosts.Line([]string{"[127.0.0.1]:1"}, srv.HostKey) // right key, other port
	err := tg.Validate()
	if err == nil || !strings.Contains(err.Error(), "pins no key for") {
		t.Fatalf("Validate: %v", err)
	}
	if _, err := NewClient(tg, Options{}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("NewClient: %v", err)
	}
}

func TestHashedKnownHosts(t *testing.T) {
	srv := startServer(t)
	tg := sftpTarget(srv, "/out")
	tg.KnownHosts = knownhosts.Line([]string{knownhosts.HashHostname(knownhosts.Normalize(srv.Addr))}, srv.HostKey)
	c := newClient(t, tg, fastRetry)
	if _, err := c.Deliver(context.Background(), &memStore{}, prepare(t, "h.dat", []byte("h"))); err != nil {
		t.Fatal(err)
	}
}

func TestAuthFailure(t *testing.T) {
	srv := startServer(t)
	srv.SetFaults(sftptest.Faults{FailAuth: true})
	c := newClient(t, sftpTarget(srv, "/out"), fastRetry)
	got, err := c.Deliver(context.Background(), &memStore{}, prepare(t, "x.dat", []byte("x")))
	if !errors.Is(err, ErrAuth) || !IsPermanent(err) || got.Attempts != 1 {
		t.Fatalf("auth failure: %+v, %v", got, err)
	}
	if names := dirNames(t, srv.Path("/out")); len(names) != 0 {
		t.Fatalf("failed login wrote %q", names)
	}
	// The error names the user and server but never the key.
	if strings.Contains(err.Error(), "PRIVATE KEY") {
		t.Fatalf("error quotes the key: %v", err)
	}
}

func TestPrivateKeyFromFile(t *testing.T) {
	srv := startServer(t)
	keyFile := filepath.Join(t.TempDir(), "id_ed25519")
	if err := os.WriteFile(keyFile, srv.ClientKeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	tg := sftpTarget(srv, "/out")
	tg.PrivateKey = keyFile
	c := newClient(t, tg, fastRetry)
	if _, err := c.Deliver(context.Background(), &memStore{}, prepare(t, "k.dat", []byte("k"))); err != nil {
		t.Fatal(err)
	}
}

func TestValidate(t *testing.T) {
	srv := startServer(t)
	good := sftpTarget(srv, "/out")
	if err := good.Validate(); err != nil {
		t.Fatalf("good sftp target: %v", err)
	}
	if err := (Target{Kind: KindLocal, LocalDir: t.TempDir()}).Validate(); err != nil {
		t.Fatalf("good local target: %v", err)
	}
	// Made with ssh-keygen -N: deriving a passphrase key in the test
	// would take seconds under the race detector.
	encrypted, err := os.ReadFile("testdata/encrypted_ed25519")
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name string
		mod  func(*Target)
		want []string // every one must appear in the joined error
	}{
		{"no kind", func(tg *Target) { *tg = Target{} }, []string{"kind is required"}},
		{"unknown kind", func(tg *Target) { tg.Kind = "ftp" }, []string{`kind "ftp" is unknown`}},
		{"everything missing", func(tg *Target) { *tg = Target{Kind: KindSFTP, Port: 70000, Timeout: -1} },
			[]string{"host is required", "port 70000", "user is required", "remote_dir is required",
				"private_key is required", "known_hosts is required", "timeout"}},
		{"encrypted key", func(tg *Target) { tg.PrivateKey = string(encrypted) }, []string{"passphrase-protected"}},
		{"garbage key", func(tg *Target) { tg.PrivateKey = "-----BEGIN OPENSSH PRIVATE KEY-----\nnope\n" },
			[]string{"private_key does not parse"}},
		{"missing key file", func(tg *Target) { tg.PrivateKey = "/nonexistent/id_ed25519" }, []string{"private_key:"}},
		{"garbage known_hosts", func(tg *Target) { tg.KnownHosts = "this is not a key" }, []string{"known_hosts"}},
		{"cert authority", func(tg *Target) { tg.KnownHosts = "@cert-authority " + srv.KnownHosts },
			[]string{"@cert-authority"}},
		{"local dir on sftp", func(tg *Target) { tg.LocalDir = "/tmp" }, []string{"local_dir is set"}},
		{"relative local dir", func(tg *Target) { *tg = Target{Kind: KindLocal, LocalDir: "out"} },
			[]string{"must be an absolute path"}},
		{"sftp fields on local", func(tg *Target) { *tg = Target{Kind: KindLocal, LocalDir: "/x", Host: "h", User: "u"} },
			[]string{"host is set", "user is set"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tg := good
			tc.mod(&tg)
			err := tg.Validate()
			if err == nil {
				t.Fatal("Validate accepted it")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "BEGIN") {
				t.Errorf("error quotes key material: %q", err)
			}
		})
	}
}

func TestIsPermanent(t *testing.T) {
	cases := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{io.EOF, false},
		{io.ErrUnexpectedEOF, false},
		{sftp.ErrSSHFxConnectionLost, false},
		{context.Canceled, false},
		{fmt.Errorf("x: %w", os.ErrDeadlineExceeded), false},
		{fmt.Errorf("x: %w", ErrHostKey), true},
		{fmt.Errorf("x: %w", ErrAuth), true},
		{&knownhosts.KeyError{}, true},
		{fmt.Errorf("open: %w", os.ErrPermission), true},
		{&sftp.StatusError{Code: uint32(sftp.ErrSSHFxPermissionDenied)}, true},
		{&sftp.StatusError{Code: uint32(sftp.ErrSSHFxFailure)}, false},
		{errors.New("ssh: handshake failed: ssh: unable to authenticate, attempted methods [none publickey]"), true},
		{errors.Join(context.Canceled, ErrAuth), false},
	}
	for _, tc := range cases {
		if got := IsPermanent(tc.err); got != tc.want {
			t.Errorf("IsPermanent(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestRetryDelay(t *testing.T) {
	r := Retry{Initial: 100, Max: 1000}.withDefaults()
	for attempt, bounds := range map[int][2]int64{1: {50, 100}, 2: {100, 200}, 3: {200, 400}, 4: {400, 800}, 5: {500, 1000}, 30: {500, 1000}} {
		for range 50 {
			if d := int64(r.delay(attempt)); d < bounds[0] || d > bounds[1] {
				t.Fatalf("delay(%d) = %d, want within %v", attempt, d, bounds)
			}
		}
	}
}
