package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/pflag"
)

// wholeDuration is a setting stored as a count of unit (a profile's
// timeout_seconds, every_minutes) behind a flag that reads and shows a
// duration with its unit: --timeout 30s, --every 1h. A bare number still
// means that many units, as it did before the flag took units.
type wholeDuration struct {
	n    *int
	unit time.Duration
}

func (w wholeDuration) String() string {
	if w.n == nil {
		return ""
	}
	return (time.Duration(*w.n) * w.unit).String()
}

func (w wholeDuration) Set(s string) error {
	if n, err := strconv.Atoi(s); err == nil {
		*w.n = n
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("want a duration such as %s", 90*w.unit)
	}
	if d%w.unit != 0 {
		return fmt.Errorf("%s is not a whole number of %s", d, w.unit)
	}
	*w.n = int(d / w.unit)
	return nil
}

func (w wholeDuration) Type() string { return "duration" }

// durationVar binds p, counted in unit, to a duration flag.
func durationVar(fs *pflag.FlagSet, p *int, name string, def int, unit time.Duration, usage string) {
	*p = def
	fs.Var(wholeDuration{n: p, unit: unit}, name, usage)
}
