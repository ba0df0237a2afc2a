package delivery

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
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
