package main

import (
	"bytes"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// slowWriter records every write call and can be held shut.
type slowWriter struct {
	mu     sync.Mutex
	gate   sync.Mutex
	buf    bytes.Buffer
	writes int
}

func (w *slowWriter) Write(p []byte) (int, error) {
	w.gate.Lock()
	defer w.gate.Unlock()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes++
	return w.buf.Write(p)
}

func TestLineBatcherKeepsEveryLineInOrder(t *testing.T) {
	out := &slowWriter{}
	out.gate.Lock() // the first batch waits, so the rest queue up behind it
	lb := newLineBatcher(out)
	const writers, lines = 8, 2000
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range lines {
				fmt.Fprintf(lb, "{\"w\":%d,\"i\":%d}\n", w, i)
			}
		}()
	}
	out.gate.Unlock()
	wg.Wait()
	lb.Close()
	fmt.Fprintf(lb, "{\"after\":\"close\"}\n")

	got := strings.Split(strings.TrimSuffix(out.buf.String(), "\n"), "\n")
	if len(got) != writers*lines+1 {
		t.Fatalf("%d lines, want %d", len(got), writers*lines+1)
	}
	next := make([]int, writers)
	for _, l := range got[:len(got)-1] {
		var w, i int
		if _, err := fmt.Sscanf(l, "{\"w\":%d,\"i\":%d}", &w, &i); err != nil {
			t.Fatalf("torn line %q: %v", l, err)
		}
		if i != next[w] {
			t.Fatalf("writer %d: line %d after %d", w, i, next[w]-1)
		}
		next[w]++
	}
	if got[len(got)-1] != `{"after":"close"}` {
		t.Fatalf("line written after Close: %q", got[len(got)-1])
	}
	if out.writes >= writers*lines {
		t.Errorf("%d write calls for %d lines: nothing was batched", out.writes, writers*lines)
	}
}

// A stuck output holds loggers back at the queue limit instead of growing
// without bound, and loses nothing once it moves.
func TestLineBatcherBoundsItsQueue(t *testing.T) {
	out := &slowWriter{}
	out.gate.Lock()
	lb := newLineBatcher(out)
	line := strings.Repeat("x", 1023) + "\n"
	done := make(chan struct{})
	go func() {
		for range 3 * maxQueuedLog / len(line) {
			lb.Write([]byte(line))
		}
		close(done)
	}()
	for {
		lb.mu.Lock()
		n := len(lb.buf)
		lb.mu.Unlock()
		if n >= maxQueuedLog {
			break
		}
		select {
		case <-done:
			t.Fatal("every write returned while the output was stuck")
		default:
			runtime.Gosched()
		}
	}
	lb.mu.Lock()
	if n := len(lb.buf); n > maxQueuedLog+len(line) {
		t.Errorf("queue grew to %d bytes", n)
	}
	lb.mu.Unlock()
	out.gate.Unlock()
	<-done
	lb.Close()
	if want := 3 * maxQueuedLog / len(line) * len(line); out.buf.Len() != want {
		t.Fatalf("%d bytes written, want %d", out.buf.Len(), want)
	}
}
