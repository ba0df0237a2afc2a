package importer

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Progress shows how far a run is: on a terminal a bar redrawn in place,
// elsewhere (a log, a pipe, a cron mail) a plain line every interval.
type Progress struct {
	w        io.Writer
	terminal bool
	what     string
	size     int64 // bytes of input in all, 0 when unknown
	start    time.Time
	shown    time.Time
	now      func() time.Time
}

// How often each kind of output is redrawn.
const (
	barInterval  = 200 * time.Millisecond
	lineInterval = 10 * time.Second
)

// NewProgress shows the progress of reading size bytes of input as what
// (e.g. "import marc") on w.
func NewProgress(w io.Writer, terminal bool, what string, size int64) *Progress {
	now := time.Now()
	return &Progress{w: w, terminal: terminal, what: what, size: size, start: now, shown: now, now: time.Now}
}

// Update reports records read and the byte offset reached.
func (p *Progress) Update(records int, offset int64) {
	now := p.now()
	interval := lineInterval
	if p.terminal {
		interval = barInterval
	}
	if now.Sub(p.shown) < interval {
		return
	}
	p.shown = now
	elapsed := now.Sub(p.start)
	rate := float64(records) / max(elapsed.Seconds(), 1e-3)
	var left string
	var fraction float64
	if p.size > 0 && offset > 0 {
		fraction = min(float64(offset)/float64(p.size), 1)
		remaining := time.Duration(float64(elapsed) * (1 - fraction) / fraction)
		left = formatLeft(remaining)
	}
	if p.terminal {
		fmt.Fprintf(p.w, "\r\x1b[K%s %s %3.0f%%  %d records  %.0f/s  %s", p.what, bar(fraction, 24), 100*fraction, records, rate, left)
		return
	}
	line := fmt.Sprintf("%s: %d records, %.0f records/s", p.what, records, rate)
	if p.size > 0 {
		line += fmt.Sprintf(", %.0f%% read, about %s", 100*fraction, left)
	}
	fmt.Fprintln(p.w, line)
}

// Done ends the display.
func (p *Progress) Done() {
	if p.terminal {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
}

func bar(fraction float64, width int) string {
	full := int(fraction * float64(width))
	return "[" + strings.Repeat("#", full) + strings.Repeat("-", width-full) + "]"
}

func formatLeft(d time.Duration) string {
	d = d.Round(time.Second)
	if d < time.Minute {
		return fmt.Sprintf("%ds left", int(d.Seconds()))
	}
	if d < time.Hour {
		return fmt.Sprintf("%dm%02ds left", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm left", int(d.Hours()), int(d.Minutes())%60)
}
