package main

import (
	"io"
	"sync"
)

// lineBatcher lets many log lines share one write system call: the server
// logs a line per SIP2 or NCIP message, and a write per line cost as much
// CPU as the message's own reply. Lines queue in memory while the previous
// batch is being written and go out together, so nothing waits for a timer
// and an idle server writes each line at once. A full queue (1 MiB, e.g.
// stderr stuck behind a slow pipe) makes loggers wait rather than grow.
type lineBatcher struct {
	out     io.Writer
	mu      sync.Mutex
	room    *sync.Cond // signalled when the queue has been taken
	buf     []byte     // queued lines
	wake    chan struct{}
	done    chan struct{}
	shut    bool // Close has begun: no more wake-ups
	flushed bool // Close has written the queue: write through
}

const maxQueuedLog = 1 << 20

func newLineBatcher(out io.Writer) *lineBatcher {
	b := &lineBatcher{out: out, wake: make(chan struct{}, 1), done: make(chan struct{})}
	b.room = sync.NewCond(&b.mu)
	go b.run()
	return b
}

// Write queues one log line (zerolog writes a whole line per call).
func (b *lineBatcher) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for len(b.buf) >= maxQueuedLog && !b.shut {
		b.room.Wait()
	}
	if b.flushed {
		return b.out.Write(p)
	}
	b.buf = append(b.buf, p...)
	if !b.shut {
		select {
		case b.wake <- struct{}{}:
		default:
		}
	}
	return len(p), nil
}

func (b *lineBatcher) run() {
	defer close(b.done)
	var spare []byte
	for range b.wake {
		b.mu.Lock()
		batch := b.buf
		b.buf = spare[:0]
		b.room.Broadcast()
		b.mu.Unlock()
		if len(batch) > 0 {
			b.out.Write(batch) // a log that cannot be written has nowhere to report it
		}
		spare = batch
	}
}

// Close writes what is queued; later lines go straight through, in order.
func (b *lineBatcher) Close() {
	b.mu.Lock()
	if b.shut {
		b.mu.Unlock()
		return
	}
	b.shut = true
	close(b.wake)
	b.room.Broadcast()
	b.mu.Unlock()
	<-b.done
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.buf) > 0 {
		b.out.Write(b.buf)
	}
	b.buf, b.flushed = nil, true
}
