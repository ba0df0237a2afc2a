package main

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/circa-ils/circa/store"
)

// grantingDB grants leases from a channel, so a test decides when this
// node leads and when its lead is lost.
type grantingDB struct {
	store.DB
	leases chan *testLease
}

func (g grantingDB) Lead(ctx context.Context, _ string) (store.Lease, error) {
	select {
	case l := <-g.leases:
		return l, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type testLease struct {
	lost     chan struct{}
	released atomic.Bool
}

func (l *testLease) Lost() <-chan struct{} { return l.lost }
func (l *testLease) Release()              { l.released.Store(true) }

// The loops run only while the node leads, stop when the lead is lost, and
// run again when it leads again; a loop that fails while leading stops
// the server.
func TestLoopsRunOnlyWhileLeading(t *testing.T) {
	db := grantingDB{leases: make(chan *testLease)}
	var running atomic.Int32
	starts := make(chan struct{}, 4)
	loop := func(ctx context.Context) error {
		running.Add(1)
		defer running.Add(-1)
		starts <- struct{}{}
		<-ctx.Done()
		return nil
	}
	var leading atomic.Bool
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runLeading(ctx, db, zerolog.Nop(), leading.Store, loop) }()

	time.Sleep(50 * time.Millisecond)
	if running.Load() != 0 || leading.Load() {
		t.Fatal("loops ran before the node led")
	}
	first := &testLease{lost: make(chan struct{})}
	db.leases <- first
	<-starts
	if !leading.Load() {
		t.Fatal("leading not reported")
	}
	close(first.lost)
	waitFor(t, func() bool { return running.Load() == 0 && !leading.Load() && first.released.Load() })

	second := &testLease{lost: make(chan struct{})}
	db.leases <- second
	<-starts
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("runLeading after ctx ended: %v", err)
	}
	if running.Load() != 0 || !second.released.Load() {
		t.Fatal("loops left running or lease kept after the server stopped")
	}

	failing := func(context.Context) error { return errors.New("disk gone") }
	go func() { done <- runLeading(context.Background(), db, zerolog.Nop(), nil, failing) }()
	db.leases <- &testLease{lost: make(chan struct{})}
	if err := <-done; err == nil {
		t.Fatal("a loop's failure while leading was not returned")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
