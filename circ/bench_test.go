package circ

import (
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/circa-ils/circa/store"
)

// benchLib makes a library with one patron and one item per caller, so
// callers never contend for a record and the benchmark measures commits.
func benchLib(b *testing.B, callers int, opts ...Option) *Service {
	b.Helper()
	db, err := store.Open(filepath.Join(b.TempDir(), store.DefaultFile), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	err = db.Update(ctx, func(tx *store.Tx) error {
		if err := tx.PutLibrary(&store.Library{Code: "MAIN", Timezone: "UTC", Currency: "USD"}); err != nil {
			return err
		}
		if err := tx.PutRules(&testRules); err != nil {
			return err
		}
		bib := store.Bib{Title: "Benchmark title", MARCXML: "<record/>"}
		if err := tx.PutBib(&bib, start); err != nil {
			return err
		}
		for i := range callers {
			p := store.Patron{Barcode: fmt.Sprintf("BP%04d", i), LastName: "x", UserGroup: "FACULTY", Expiry: time.Now().AddDate(5, 0, 0)}
			if err := tx.PutPatron(&p, start); err != nil {
				return err
			}
			it := store.Item{Barcode: fmt.Sprintf("BI%04d", i), BibID: bib.ID, Library: "MAIN", Policy: "BOOK", Status: store.ItemAvailable, Pieces: 1}
			if err := tx.PutItem(&it, start); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	svc, err := New(db, opts...)
	if err != nil {
		b.Fatal(err)
	}
	return svc
}

// BenchmarkCheckoutCheckin runs checkout+checkin pairs from 1, 10 and 100
// concurrent callers, through group commit and through the baseline of one
// fsync'd bbolt Update per operation, in the same run. pairs/s is the figure
// to compare; BENCHMARKS.md records the ratios.
func BenchmarkCheckoutCheckin(b *testing.B) {
	for _, callers := range []int{1, 10, 100} {
		for _, mode := range []struct {
			name string
			opts []Option
		}{{"group-commit", nil}, {"fsync-update", []Option{WithoutGroupCommit()}}} {
			b.Run(fmt.Sprintf("%s/callers=%d", mode.name, callers), func(b *testing.B) {
				svc := benchLib(b, callers, mode.opts...)
				var next atomic.Int64
				var wg sync.WaitGroup
				b.ResetTimer()
				begin := time.Now()
				for c := range callers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						patron, item := fmt.Sprintf("BP%04d", c), fmt.Sprintf("BI%04d", c)
						for next.Add(1) <= int64(b.N) {
							if _, err := svc.Checkout(ctx, CheckoutRequest{Agent: atMain, Patron: patron, Item: item}); err != nil {
								b.Error(err)
								return
							}
							if _, err := svc.Checkin(ctx, CheckinRequest{Agent: atMain, Item: item}); err != nil {
								b.Error(err)
								return
							}
						}
					}()
				}
				wg.Wait()
				b.ReportMetric(float64(b.N)/time.Since(begin).Seconds(), "pairs/s")
				if commits, ops := svc.DB().CommitStats(); commits > 0 {
					b.ReportMetric(float64(ops)/float64(commits), "ops/commit")
				}
			})
		}
	}
}

// BenchmarkItemByBarcode is a store point read: index lookup and decode.
func BenchmarkItemByBarcode(b *testing.B) {
	svc := benchLib(b, 1000)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			bc := fmt.Sprintf("BI%04d", i%1000)
			i++
			err := svc.DB().View(ctx, func(tx *store.Tx) error {
				_, err := tx.ItemByBarcode(bc)
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkItemInfo is a full read operation as a kiosk's item status asks.
func BenchmarkItemInfo(b *testing.B) {
	svc := benchLib(b, 1000)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := svc.ItemInfo(ctx, fmt.Sprintf("BI%04d", i%1000)); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}
