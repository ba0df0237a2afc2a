package delivery

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/circa-ils/circa/profiles/delivery/sftptest"
)

func benchDeliver(b *testing.B, tg Target, dir string, size int) {
	src := filepath.Join(b.TempDir(), "src")
	if err := os.WriteFile(src, payload(size), 0o644); err != nil {
		b.Fatal(err)
	}
	d, err := Prepare("bench.dat", src, Summary{Records: 1000, Totals: map[string]string{"USD": "1234.56"}})
	if err != nil {
		b.Fatal(err)
	}
	c, err := NewClient(tg, Options{Retry: fastRetry})
	if err != nil {
		b.Fatal(err)
	}
	st := StateStoreFunc(func(context.Context, Delivery) error { return nil })
	b.SetBytes(int64(size))
	i := 0
	for b.Loop() {
		d.Name = fmt.Sprintf("bench_%d.dat", i)
		i++
		d.Step, d.ManifestStep = StepPending, StepPending
		if _, err := c.Deliver(context.Background(), st, d); err != nil {
			b.Fatal(err)
		}
		os.Remove(filepath.Join(dir, d.Name))
		os.Remove(filepath.Join(dir, ManifestName(d.Name)))
	}
}

// BenchmarkDeliverSFTP measures one whole delivery over SSH on loopback:
// connect, handshake, upload, rename, read-back verify, manifest.
func BenchmarkDeliverSFTP(b *testing.B) {
	for _, size := range []int{4 << 10, 1 << 20, 16 << 20} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			srv := sftptestStart(b)
			benchDeliver(b, sftpTarget(srv, "/"), srv.Root, size)
		})
	}
}

// BenchmarkDeliverLocal measures a delivery into a local directory, fsyncs
// included.
func BenchmarkDeliverLocal(b *testing.B) {
	for _, size := range []int{4 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			dir := b.TempDir()
			benchDeliver(b, Target{Kind: KindLocal, LocalDir: dir}, dir, size)
		})
	}
}

// benchManyFiles delivers a run of small files (an SMS run writes one per
// notice), each on its own connection or all over one session.
func benchManyFiles(b *testing.B, tg Target, dir string, files int, shared bool) {
	src := filepath.Join(b.TempDir(), "notice")
	if err := os.WriteFile(src, payload(300), 0o644); err != nil {
		b.Fatal(err)
	}
	d, err := Prepare("notice.txt", src, Summary{Records: 1})
	if err != nil {
		b.Fatal(err)
	}
	c, err := NewClient(tg, Options{Retry: fastRetry})
	if err != nil {
		b.Fatal(err)
	}
	st := StateStoreFunc(func(context.Context, Delivery) error { return nil })
	ctx := context.Background()
	run := 0
	for b.Loop() {
		ss := c.Open()
		for i := range files {
			d.Name = fmt.Sprintf("notice_%d_%d.txt", run, i)
			d.Step, d.ManifestStep = StepPending, StepPending
			deliver := c.Deliver
			if shared {
				deliver = ss.Deliver
			}
			if _, err := deliver(ctx, st, d); err != nil {
				b.Fatal(err)
			}
		}
		ss.Close()
		b.StopTimer()
		for i := range files {
			name := fmt.Sprintf("notice_%d_%d.txt", run, i)
			os.Remove(filepath.Join(dir, name))
			os.Remove(filepath.Join(dir, ManifestName(name)))
		}
		run++
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*files)/1e6, "ms/file")
}

// BenchmarkDeliverManyFiles measures a run of 200 small files over SSH on
// loopback, to the in-process test server and (in make conformance) to
// Debian's sshd: a connection per file against one for the run.
func BenchmarkDeliverManyFiles(b *testing.B) {
	const files = 200
	servers := map[string]func(b *testing.B) (Target, string){
		"testserver": func(b *testing.B) (Target, string) {
			srv := sftptestStart(b)
			return sftpTarget(srv, "/"), srv.Root
		},
		"openssh": func(b *testing.B) (Target, string) {
			o := sftptest.StartOpenSSH(b)
			drop := filepath.Join(o.Dir, "drop")
			if err := os.Mkdir(drop, 0o755); err != nil {
				b.Fatal(err)
			}
			return Target{Kind: KindSFTP, Host: o.Host, Port: o.Port, User: o.User, PrivateKey: string(o.ClientKeyPEM),
				KnownHosts: o.KnownHosts, RemoteDir: drop}, drop
		},
	}
	for _, server := range []string{"testserver", "openssh"} {
		for _, mode := range []string{"connection-per-file", "one-session"} {
			b.Run(server+"/"+mode, func(b *testing.B) {
				tg, dir := servers[server](b)
				benchManyFiles(b, tg, dir, files, mode == "one-session")
			})
		}
	}
}
