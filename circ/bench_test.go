package circ

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/circa-ils/circa/store"
	"github.com/circa-ils/circa/store/boltstore"
)

// benchLib makes a library with one patron and one item per caller, so
// callers never contend for a record and the benchmark measures commits.
func benchLib(b *testing.B, callers int) *Service { return benchLibCommit(b, callers, false) }

// benchLibCommit is benchLib with, when fsyncEach, one fsync'd bbolt
// transaction per operation instead of group commit: the baseline.
func benchLibCommit(b *testing.B, callers int, fsyncEach bool) *Service {
	b.Helper()
	db, err := boltstore.Open(filepath.Join(b.TempDir(), boltstore.DefaultFile), boltstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	err = db.Update(ctx, func(tx store.Tx) error {
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
	var opts []Option
	if fsyncEach {
		opts = append(opts, WithCommit(func(_ context.Context, fn func(store.Tx) error) error { return db.UpdateDirect(fn) }))
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
			name      string
			fsyncEach bool
		}{{"group-commit", false}, {"fsync-update", true}} {
			b.Run(fmt.Sprintf("%s/callers=%d", mode.name, callers), func(b *testing.B) {
				svc := benchLibCommit(b, callers, mode.fsyncEach)
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
				if st := svc.DB().CommitStats(); st.Commits > 0 {
					b.ReportMetric(float64(st.Operations)/float64(st.Commits), "ops/commit")
					b.ReportMetric(float64(st.PagesWritten)/float64(st.Operations), "pages/op")
				}
			})
		}
	}
}

// pairsFor runs checkout+checkin pairs from callers goroutines for d and
// returns the pairs per second.
func pairsFor(b *testing.B, svc *Service, callers int, d time.Duration) float64 {
	var done atomic.Int64
	var wg sync.WaitGroup
	stop := time.Now().Add(d)
	begin := time.Now()
	for c := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			patron, item := fmt.Sprintf("BP%04d", c), fmt.Sprintf("BI%04d", c)
			for time.Now().Before(stop) {
				if _, err := svc.Checkout(ctx, CheckoutRequest{Agent: atMain, Patron: patron, Item: item}); err != nil {
					b.Error(err)
					return
				}
				if _, err := svc.Checkin(ctx, CheckinRequest{Agent: atMain, Item: item}); err != nil {
					b.Error(err)
					return
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	return float64(done.Load()) / time.Since(begin).Seconds()
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// BenchmarkGroupCommitRatio alternates short windows of group commit and of
// one fsync'd Update per operation (A B A B …) on two copies of the same
// library, so both see the same machine, and reports the median of the
// paired ratios. Run it with -benchtime=1x; BENCHMARKS.md records the
// figures.
func BenchmarkGroupCommitRatio(b *testing.B) {
	const windows = 5
	const window = 500 * time.Millisecond
	for _, callers := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			group := benchLib(b, callers)
			direct := benchLibCommit(b, callers, true)
			for range b.N {
				var ratios, gs, ds []float64
				for range windows {
					g := pairsFor(b, group, callers, window)
					d := pairsFor(b, direct, callers, window)
					gs, ds, ratios = append(gs, g), append(ds, d), append(ratios, g/d)
				}
				b.ReportMetric(median(ratios), "ratio")
				b.ReportMetric(median(gs), "group-pairs/s")
				b.ReportMetric(median(ds), "fsync-pairs/s")
			}
		})
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
			err := svc.DB().View(ctx, func(tx store.Tx) error {
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

// BenchmarkRetryReplay measures the answer to a retry when events about
// other records were journalled since its first answer: the replay reads
// them all in the writer's transaction, so this is the cost a retry adds
// to a busy window.
func BenchmarkRetryReplay(b *testing.B) {
	for _, events := range []int{0, 1000, 20000} {
		b.Run(fmt.Sprintf("events=%d", events), func(b *testing.B) {
			svc := benchLib(b, 1)
			retry := Retry{Key: "kiosk", Match: "frame", Window: time.Hour}
			first, err := svc.Checkout(ctx, CheckoutRequest{Agent: atMain, Patron: "BP0000", Item: "BI0000", Retry: retry})
			if err != nil {
				b.Fatal(err)
			}
			for done := 0; done < events; done += 1000 {
				err := svc.DB().Update(ctx, func(tx store.Tx) error {
					for i := range min(1000, events-done) {
						ev := store.Event{At: start, Kind: "checkout", Refs: []store.Ref{{Kind: "item", ID: uint64(1000 + done + i)}, {Kind: "patron", ID: 1}}}
						if _, err := tx.Emit(ev); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			for b.Loop() {
				again, err := svc.Checkout(ctx, CheckoutRequest{Agent: atMain, Patron: "BP0000", Item: "BI0000", Retry: retry})
				if err != nil || again.LoanID != first.LoanID || again.Renewed {
					b.Fatalf("not replayed: %+v %v", again, err)
				}
			}
		})
	}
}

// BenchmarkKeyedCheckoutCheckin is BenchmarkCheckoutCheckin for one caller
// whose requests carry a kiosk's retry slot, as SIP2 frames with a sequence
// number do: each answer replaces the slot's previous one.
func BenchmarkKeyedCheckoutCheckin(b *testing.B) {
	svc := benchLib(b, 1)
	n := 0
	for b.Loop() {
		n++
		out := Retry{Key: "kiosk", Match: fmt.Sprintf("out %d", n), Window: time.Minute}
		if _, err := svc.Checkout(ctx, CheckoutRequest{Agent: atMain, Patron: "BP0000", Item: "BI0000", Retry: out}); err != nil {
			b.Fatal(err)
		}
		in := Retry{Key: "kiosk", Match: fmt.Sprintf("in %d", n), Window: time.Minute}
		if _, err := svc.Checkin(ctx, CheckinRequest{Agent: atMain, Item: "BI0000", Retry: in}); err != nil {
			b.Fatal(err)
		}
	}
	if st := svc.DB().CommitStats(); st.Operations > 0 {
		b.ReportMetric(float64(st.PagesWritten)/float64(st.Operations), "pages/op")
	}
}
