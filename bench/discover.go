package bench

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Generated demo and scaled libraries number their patrons and items from
// these barcodes on (fixtures/README.md).
const (
	firstPatron = 21000000001000
	firstItem   = 31000000001000
	// missLimit ends the scan after this many unknown identifiers in a row.
	missLimit = 300
)

// Discover finds n parties the server will serve: patrons in good
// standing (23: charge privileges not denied, valid patron) and available
// items (17: circulation status 03). For write mixes each item is claimed
// by checking it out and in once, and kept only when both succeed without
// an alert, so the measured cycles never meet a hold, a transit or a
// non-circulating item. Patrons are reused round-robin when the library
// has fewer good patrons than connections; items only by read-only loads.
func Discover(ctx context.Context, t SIPTarget, l Login, n int, write bool, timeout time.Duration) ([]Party, int, error) {
	const workers = 4
	probe, _ := MixByName("status-poll")
	var conns []*sipConn
	for range min(workers, n) {
		c, err := newSIPConn(ctx, t, l, Party{}, probe, time.Now(), timeout)
		if err != nil {
			for _, c := range conns {
				c.close()
			}
			return nil, 0, fmt.Errorf("discover: %w", err)
		}
		conns = append(conns, c)
	}
	defer func() {
		for _, c := range conns {
			c.close()
		}
	}()
	now := sipDate(time.Now())
	past := sipDate(time.Now().Add(-time.Hour))

	scan := func(base int, accept func(c *sipConn, id string) (ok, known bool), want int) []string {
		var (
			mu     sync.Mutex
			next   int
			misses int
			found  []string
			wg     sync.WaitGroup
		)
		for _, c := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					mu.Lock()
					if len(found) >= want || misses >= missLimit {
						mu.Unlock()
						return
					}
					id := strconv.Itoa(base + next)
					next++
					mu.Unlock()
					ok, known := accept(c, id)
					mu.Lock()
					if known {
						misses = 0
					} else {
						misses++
					}
					if ok && len(found) < want {
						found = append(found, id)
					}
					mu.Unlock()
					if c.dead {
						return
					}
				}
			}()
		}
		wg.Wait()
		return found
	}

	patrons := scan(firstPatron, func(c *sipConn, id string) (bool, bool) {
		st := patronStatusStep(l, Party{Patron: id, PIN: demoPIN}, now)
		line, kind := c.raw(&st)
		if kind != "" && kind != ErrStatus {
			return false, true
		}
		known := kind == ""
		return known && len(line) > 2 && line[2] != 'Y', known
	}, n)
	if len(patrons) == 0 {
		return nil, 0, fmt.Errorf("discover: no patron in good standing from %d on", firstPatron)
	}
	var claimed atomic.Int64
	items := scan(firstItem, func(c *sipConn, id string) (bool, bool) {
		st := itemInfoStep(l, Party{Item: id}, now)
		line, kind := c.raw(&st)
		known := kind == "" && bytes.Contains(line, []byte("|AJ"))
		if !known || len(line) < 4 || string(line[2:4]) != "03" {
			return false, known
		}
		if !write {
			return true, true
		}
		p := Party{Patron: patrons[int(claimed.Add(1))%len(patrons)], PIN: demoPIN, Item: id}
		// Renew too: short-loan items allow no renewal and would fail the
		// kiosk mix's 29. Claims are stamped an hour back so the measured
		// writes, stamped from now on, never repeat their bytes.
		out, renew := checkoutStep(l, p, past), renewStep(l, p, past)
		if _, kind := c.raw(&out); kind != "" {
			return false, true
		}
		_, renewKind := c.raw(&renew)
		in := checkinStep(l, p, past)
		line, kind = c.raw(&in)
		return renewKind == "" && kind == "" && len(line) > 5 && line[5] == 'N', true
	}, n)
	if len(items) < n && (write || len(items) == 0) {
		return nil, 0, fmt.Errorf("discover: %d usable items for %d connections; seed a larger library (circa db seed --scale)", len(items), n)
	}
	parties := make([]Party, n)
	for i := range parties {
		parties[i] = Party{Patron: patrons[i%len(patrons)], PIN: demoPIN, Item: items[i%len(items)]}
	}
	return parties, len(patrons), nil
}

// demoPIN is every generated patron's PIN.
const demoPIN = "1234"

// raw sends a one-off step and returns the reply line (valid until the
// next read) and the error kind.
func (c *sipConn) raw(st *step) ([]byte, string) {
	enc := st.encode()
	seq := byte('0' + c.seq)
	req := enc[c.seq]
	c.seq = (c.seq + 1) % 10
	c.nc.SetDeadline(time.Now().Add(c.timeout))
	if _, err := c.nc.Write(req); err != nil {
		c.dead = true
		return nil, ioKind(err)
	}
	line, err := c.r.ReadSlice('\r')
	if err != nil {
		c.dead = true
		return nil, ioKind(err)
	}
	line = trimLine(line)
	return line, validate(line, st, seq)
}

func trimLine(line []byte) []byte {
	line = line[:len(line)-1]
	for len(line) > 0 && line[0] == '\n' {
		line = line[1:]
	}
	return line
}
