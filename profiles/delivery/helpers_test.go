package delivery

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/circa-ils/circa/profiles/delivery/sftptest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// memStore records every saved state, as a bbolt-backed store would, and can
// simulate the process dying at a chosen save.
type memStore struct {
	mu    sync.Mutex
	saves []Delivery
	// kill, when set, is asked after each save whether the process dies
	// there; persisted tells whether that save reached the disk first.
	kill func(n int, d Delivery) (die, persisted bool)
}

var errKilled = errors.New("process killed")

func (s *memStore) Save(_ context.Context, d Delivery) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.kill != nil {
		if die, persisted := s.kill(len(s.saves), d); die {
			if persisted {
				s.saves = append(s.saves, d)
			}
			return errKilled
		}
	}
	s.saves = append(s.saves, d)
	return nil
}

func (s *memStore) last(t *testing.T) Delivery {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.saves) == 0 {
		t.Fatal("nothing saved")
	}
	return s.saves[len(s.saves)-1]
}

func (s *memStore) steps() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, d := range s.saves {
		out = append(out, string(d.Step)+"/"+string(d.ManifestStep))
	}
	return out
}

var fastRetry = Retry{Attempts: 4, Initial: time.Millisecond, Max: 4 * time.Millisecond}

func sftpTarget(srv *sftptest.Server, dir string) Target {
	return Target{Kind: KindSFTP, Host: srv.Host, Port: srv.Port, User: srv.User,
		PrivateKey: string(srv.ClientKeyPEM), KnownHosts: srv.KnownHosts, RemoteDir: dir}
}

// startServer runs a test SFTP server with an empty /out directory.
func startServer(t *testing.T) *sftptest.Server {
	t.Helper()
	srv := sftptest.Start(t)
	if err := os.Mkdir(srv.Path("/out"), 0o755); err != nil {
		t.Fatal(err)
	}
	return srv
}

func newClient(t *testing.T, tg Target, r Retry) *Client {
	t.Helper()
	c, err := NewClient(tg, Options{Retry: r})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// payload returns n deterministic pseudo-random bytes.
func payload(n int) []byte {
	r := rand.New(rand.NewPCG(uint64(n), 42))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// prepare writes content to a source file and prepares its delivery.
func prepare(t *testing.T, name string, content []byte) Delivery {
	t.Helper()
	src := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(src, content, 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := Prepare(name, src, Summary{Records: 3, Totals: map[string]string{"USD": "12.50", "EUR": "-1.00"},
		FirstID: "B-1", LastID: "B-3"})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// dirNames lists a directory, sorted.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

// assertDelivered checks that dir holds exactly the data file and its
// manifest, complete and correct, and no temporary files.
func assertDelivered(t *testing.T, dir string, d Delivery, content []byte) {
	t.Helper()
	want := []string{d.Name, ManifestName(d.Name)}
	sort.Strings(want)
	got := dirNames(t, dir)
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("directory holds %q, want %q", got, want)
	}
	b, err := os.ReadFile(filepath.Join(dir, d.Name))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, content) {
		t.Fatalf("delivered %d bytes differ from the %d sent", len(b), len(content))
	}
	mb, err := os.ReadFile(filepath.Join(dir, ManifestName(d.Name)))
	if err != nil {
		t.Fatal(err)
	}
	m, err := ParseManifest(mb)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Check(int64(len(content)), d.SHA256); err != nil {
		t.Fatal(err)
	}
	if m.File != d.Name || m.Records != d.Summary.Records || m.Totals["USD"] != "12.50" {
		t.Fatalf("manifest %+v does not describe %s", m, d.Name)
	}
}

func sftptestStart(tb testing.TB) *sftptest.Server { return sftptest.Start(tb) }
