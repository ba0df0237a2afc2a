package sftptest

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"

	"github.com/pkg/sftp"
	"go.uber.org/goleak"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// dial logs in to srv the way a real client would: pinned host key from
// srv.KnownHosts, key auth with srv.ClientKeyPEM.
func dial(t *testing.T, srv *Server) (*sftp.Client, error) {
	t.Helper()
	signer, err := ssh.ParsePrivateKey(srv.ClientKeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	_, _, pinned, _, _, err := ssh.ParseKnownHosts([]byte(srv.KnownHosts))
	if err != nil {
		t.Fatal(err)
	}
	sc, err := ssh.Dial("tcp", srv.Addr, &ssh.ClientConfig{
		User: srv.User, Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.FixedHostKey(pinned),
	})
	if err != nil {
		return nil, err
	}
	cl, err := sftp.NewClient(sc)
	if err != nil {
		sc.Close()
		return nil, err
	}
	t.Cleanup(func() { cl.Close(); sc.Close() })
	return cl, nil
}

func TestRoundTripAndJail(t *testing.T) {
	srv := Start(t)
	cl, err := dial(t, srv)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cl.HasExtension("posix-rename@openssh.com"); !ok {
		t.Fatal("posix-rename not advertised")
	}
	if err := cl.Mkdir("/out"); err != nil {
		t.Fatal(err)
	}
	f, err := cl.Create("/out/../../../escape.txt") // cleaned to /escape.txt inside the root
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if b, err := os.ReadFile(srv.Path("/escape.txt")); err != nil || string(b) != "hello" {
		t.Fatalf("file in root: %q, %v", b, err)
	}
	if srv.BytesWritten() != 5 || srv.Logins() != 1 {
		t.Fatalf("written %d, logins %d", srv.BytesWritten(), srv.Logins())
	}

	// Plain rename refuses an existing target; posix-rename replaces it.
	for _, n := range []string{"/out/a", "/out/b"} {
		w, err := cl.Create(n)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(n))
		w.Close()
	}
	var se *sftp.StatusError
	if err := cl.Rename("/out/a", "/out/b"); !errors.As(err, &se) || se.FxCode() != sftp.ErrSSHFxFailure {
		t.Fatalf("rename onto existing: %v", err)
	}
	if err := cl.PosixRename("/out/a", "/out/b"); err != nil {
		t.Fatal(err)
	}
	r, err := cl.Open("/out/b")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r)
	r.Close()
	if string(b) != "/out/a" {
		t.Fatalf("after posix-rename /out/b holds %q", b)
	}
	infos, err := cl.ReadDir("/out")
	if err != nil || len(infos) != 1 || infos[0].Name() != "b" {
		t.Fatalf("ReadDir: %v, %v", infos, err)
	}
}

func TestFaults(t *testing.T) {
	srv := Start(t)

	t.Run("FailAuth", func(t *testing.T) {
		srv.SetFaults(Faults{FailAuth: true})
		defer srv.SetFaults(Faults{})
		if _, err := dial(t, srv); err == nil {
			t.Fatal("login succeeded")
		}
		if srv.AuthFailures() == 0 {
			t.Fatal("no auth failure counted")
		}
	})

	t.Run("NoPosixRename", func(t *testing.T) {
		srv.SetFaults(Faults{NoPosixRename: true})
		defer srv.SetFaults(Faults{})
		cl, err := dial(t, srv)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := cl.HasExtension("posix-rename@openssh.com"); ok {
			t.Fatal("posix-rename still advertised")
		}
		if _, ok := cl.HasExtension("statvfs@openssh.com"); !ok {
			t.Fatal("other extensions were dropped too")
		}
		w, _ := cl.Create("/x")
		w.Close()
		if err := cl.PosixRename("/x", "/y"); err == nil {
			t.Fatal("posix-rename accepted")
		}
	})

	t.Run("RefuseRename", func(t *testing.T) {
		srv.SetFaults(Faults{RefuseRename: true})
		defer srv.SetFaults(Faults{})
		cl, err := dial(t, srv)
		if err != nil {
			t.Fatal(err)
		}
		w, _ := cl.Create("/r")
		w.Close()
		if err := cl.Rename("/r", "/s"); !errors.Is(err, os.ErrPermission) && !isCode(err, sftp.ErrSSHFxPermissionDenied) {
			t.Fatalf("refused rename: %v", err)
		}
	})

	t.Run("CutAfterBytes", func(t *testing.T) {
		cl, err := dial(t, srv)
		if err != nil {
			t.Fatal(err)
		}
		srv.SetFaults(Faults{CutAfterBytes: 10})
		w, err := cl.Create("/cut")
		if err != nil {
			t.Fatal(err)
		}
		_, werr := w.Write(bytes.Repeat([]byte("z"), 64))
		w.Close()
		if werr == nil {
			t.Fatal("write across the cut succeeded")
		}
		if b, _ := os.ReadFile(srv.Path("/cut")); len(b) != 10 {
			t.Fatalf("file holds %d bytes, want the 10 before the cut", len(b))
		}
		if srv.Faults().CutAfterBytes != 0 {
			t.Fatal("one-shot fault did not clear")
		}
	})

	t.Run("CutAfterRename", func(t *testing.T) {
		cl, err := dial(t, srv)
		if err != nil {
			t.Fatal(err)
		}
		w, _ := cl.Create("/from")
		w.Close()
		srv.SetFaults(Faults{CutAfterRename: true})
		if err := cl.Rename("/from", "/to"); err == nil {
			t.Fatal("rename reply arrived")
		}
		if _, err := os.Stat(srv.Path("/to")); err != nil {
			t.Fatalf("rename did not happen: %v", err)
		}
	})
}

func TestDropConnections(t *testing.T) {
	srv := Start(t)
	cl, err := dial(t, srv)
	if err != nil {
		t.Fatal(err)
	}
	srv.DropConnections()
	if _, err := cl.Stat("/"); err == nil {
		t.Fatal("client still served after DropConnections")
	}
	if _, err := dial(t, srv); err != nil {
		t.Fatalf("new login after DropConnections: %v", err)
	}
}

func isCode(err error, code error) bool {
	var se *sftp.StatusError
	return errors.As(err, &se) && se.FxCode() == code
}

func TestCloseDropsClients(t *testing.T) {
	srv, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cl, err := dial(t, srv)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Stat("/"); err == nil {
		t.Fatal("client still served after Close")
	}
	if srv.Close() != nil {
		t.Fatal("second Close failed")
	}
}

func TestKnownHostsLine(t *testing.T) {
	srv := Start(t)
	_, hosts, key, _, _, err := ssh.ParseKnownHosts([]byte(srv.KnownHosts))
	if err != nil || len(hosts) != 1 || hosts[0] != knownhosts.Normalize(srv.Addr) || !bytes.Equal(key.Marshal(), srv.HostKey.Marshal()) {
		t.Fatalf("KnownHosts %q: %v", srv.KnownHosts, err)
	}
}

func FuzzDropExtension(f *testing.F) {
	version := func(exts ...string) []byte {
		b := []byte{0, 0, 0, 0, 2, 0, 0, 0, 3}
		for _, e := range exts {
			b = appendString(b, []byte(e))
		}
		n := len(b) - 4
		b[0], b[1], b[2], b[3] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
		return b
	}
	f.Add(version("hardlink@openssh.com", "1", "posix-rename@openssh.com", "1", "statvfs@openssh.com", "2"))
	f.Add(version("posix-rename@openssh.com", "1"))
	f.Add(version())
	f.Add([]byte{0, 0, 0, 5, 2, 0, 0, 0, 3, 0, 0, 0, 9})
	f.Add([]byte{0, 0, 0, 1, 101})
	f.Fuzz(func(t *testing.T, pkt []byte) {
		out := dropExtension(pkt, "posix-rename@openssh.com")
		if bytes.Equal(out, pkt) {
			return
		}
		// A rewritten packet is a well-formed version packet without it.
		n := int(out[0])<<24 | int(out[1])<<16 | int(out[2])<<8 | int(out[3])
		if n != len(out)-4 || out[4] != 2 {
			t.Fatalf("bad rewritten packet %x", out)
		}
		rest := out[9:]
		for len(rest) > 0 {
			name, r, ok := readString(rest)
			if !ok {
				t.Fatalf("unparsable rewritten packet %x", out)
			}
			if _, r, ok = readString(r); !ok {
				t.Fatalf("unparsable rewritten packet %x", out)
			}
			if string(name) == "posix-rename@openssh.com" {
				t.Fatalf("extension survived in %x", out)
			}
			rest = r
		}
	})
}
