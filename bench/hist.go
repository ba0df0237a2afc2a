package bench

import (
	"math"
	"math/bits"
	"time"
)

// Histogram buckets: values below 2^subBits nanoseconds are exact; above,
// each power of two is split into 2^subBits linear buckets, so a recorded
// value is off by at most 1/2^subBits (about 3%) and the whole histogram
// is a fixed array whatever the run length.
const (
	subBits  = 5
	subCount = 1 << subBits
	nBuckets = (64 - subBits + 1) * subCount
)

// Histogram is a log-linear latency histogram of fixed size. The zero
// value is empty and ready; it is not safe for concurrent use (give each
// connection its own and Merge them).
type Histogram struct {
	counts [nBuckets]uint64
	n      uint64
	sum    uint64
	max    uint64
}

func bucketOf(v uint64) int {
	if v < subCount {
		return int(v)
	}
	e := bits.Len64(v) - 1 - subBits // ≥ 0
	return (e+1)*subCount + int(v>>uint(e)) - subCount
}

// upperOf is the largest value that falls into bucket b.
func upperOf(b int) uint64 {
	if b < subCount {
		return uint64(b)
	}
	e := b/subCount - 1
	m := uint64(b%subCount + subCount)
	return (m+1)<<uint(e) - 1
}

// Record adds one latency; negative values count as zero.
func (h *Histogram) Record(d time.Duration) {
	v := uint64(0)
	if d > 0 {
		v = uint64(d)
	}
	h.counts[bucketOf(v)]++
	h.n++
	h.sum += v
	if v > h.max {
		h.max = v
	}
}

// Merge adds every value recorded in o.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	if o.max > h.max {
		h.max = o.max
	}
}

// Reset empties the histogram.
func (h *Histogram) Reset() { *h = Histogram{} }

// Count is the number of recorded values.
func (h *Histogram) Count() uint64 { return h.n }

// Max is the largest recorded value, exactly.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Mean is the average of the recorded values.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / h.n)
}

// Quantile returns the value at quantile q (0–1): the upper bound of the
// bucket holding the ceil(q·n)-th smallest value, never above Max.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for b, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(min(upperOf(b), h.max))
		}
	}
	return time.Duration(h.max)
}
