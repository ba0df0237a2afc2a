package sip2

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	_ "time/tzdata" // the zones below, whatever the machine has installed
)

// testZones are zones whose periods the date memory must get right: fixed
// offsets, the usual DST, a 30-minute DST (Lord Howe), a negative DST
// (Dublin), a skipped day (Apia) and the machine's own.
func testZones(t testing.TB) []*time.Location {
	zones := []*time.Location{time.UTC, time.Local, time.FixedZone("LIB", 3600), time.FixedZone("NFLD", -(3*3600 + 1800))}
	for _, name := range []string{"America/New_York", "Australia/Lord_Howe", "Europe/Dublin", "Pacific/Apia", "Asia/Kathmandu"} {
		loc, err := time.LoadLocation(name)
		if err != nil {
			t.Fatal(err)
		}
		zones = append(zones, loc)
	}
	return zones
}

// sipDate writes the civil time in the SIP2 form with a blank zone.
func sipDate(y, mo, d, h, mi, s int) string {
	return fmt.Sprintf("%04d%02d%02d    %02d%02d%02d", y, mo, d, h, mi, s)
}

// TestDatesMatchTimePackage reads and writes civil times around every
// offset change of 2011 and 2026 and at random across years 0–9999, in
// zones taken in turn so the remembered periods keep changing, and checks
// each against time.Date and Time.In.
func TestDatesMatchTimePackage(t *testing.T) {
	zones := testZones(t)
	type civil struct{ y, mo, d, h, mi, s int }
	var times []civil
	for _, loc := range zones[4:] {
		for _, y := range []int{2011, 2026} {
			// Walk the year a day at a time and, where the offset changes,
			// every 15 minutes of the two days around the change.
			for day := time.Date(y, 1, 1, 12, 0, 0, 0, loc); day.Year() == y; day = day.AddDate(0, 0, 1) {
				next := day.AddDate(0, 0, 1)
				if _, a := day.Zone(); func() bool { _, b := next.Zone(); return a == b }() {
					continue
				}
				for m := -24 * 60; m <= 48*60; m += 15 {
					c := time.Date(day.Year(), day.Month(), day.Day(), 0, m, 59, 0, time.UTC)
					times = append(times, civil{c.Year(), int(c.Month()), c.Day(), c.Hour(), c.Minute(), c.Second()})
				}
			}
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 5000 {
		times = append(times, civil{r.IntN(10000), 1 + r.IntN(12), 1 + r.IntN(31), r.IntN(24), r.IntN(60), r.IntN(61)})
	}
	for i, c := range times {
		loc := zones[i%len(zones)]
		if i%3 == 0 { // runs of one zone hit the memory, the rest miss it
			loc = zones[4+i/3%5]
		}
		want := time.Date(c.y, time.Month(c.mo), c.d, c.h, c.mi, c.s, 0, loc)
		got, ok := ParseDate(sipDate(c.y, c.mo, c.d, c.h, c.mi, c.s), loc)
		if !ok || got != want {
			t.Fatalf("ParseDate(%s) in %s = %v %v, want %v", sipDate(c.y, c.mo, c.d, c.h, c.mi, c.s), loc, got, ok, want)
		}
		// Writing: the instant in this zone and, in turn, another one.
		for _, l := range []*time.Location{loc, zones[(i+1)%len(zones)]} {
			lt := want.In(l)
			zone := "    "
			if l == time.UTC {
				zone = "   Z"
			}
			w := fmt.Sprintf("%04d%02d%02d%s%02d%02d%02d", lt.Year(), lt.Month(), lt.Day(), zone, lt.Hour(), lt.Minute(), lt.Second())
			if lt.Year() > 9999 {
				w = "9999" + w[5:]
			}
			if got := FormatDate(want, l); got != w {
				t.Fatalf("FormatDate(%v, %s) = %q, want %q", want, l, got, w)
			}
		}
	}
}

// TestDateDaysRoundTrip checks the day arithmetic against the time package:
// every day of two whole eras (years 0–799), of 1899–2101 and of
// 9600–9999, and every 13th day in between.
func TestDateDaysRoundTrip(t *testing.T) {
	if daysFromCivil(0, 1, 1)*86400 != minCivil || daysFromCivil(10000, 1, 1)*86400 != maxCivil {
		t.Fatal("range of years 0–9999")
	}
	first, last := daysFromCivil(0, 1, 1), daysFromCivil(10000, 1, 1)
	for days := first; days < last; {
		d := time.Unix(days*86400, 0).UTC()
		if got := daysFromCivil(d.Year(), int(d.Month()), d.Day()); got != days {
			t.Fatalf("daysFromCivil(%v) = %d, want %d", d, got, days)
		}
		if y, m, dd := civilFromDays(days); y != d.Year() || m != int(d.Month()) || dd != d.Day() {
			t.Fatalf("civilFromDays(%d) = %d-%d-%d, want %v", days, y, m, dd, d)
		}
		if y := d.Year(); y < 800 || y >= 1899 && y <= 2101 || y >= 9600 {
			days++
		} else {
			days += 13
		}
	}
}

// TestDateOutOfRange writes instants whose year has more than four digits
// or is negative, clamped as before the date memory existed.
func TestDateOutOfRange(t *testing.T) {
	ny, _ := time.LoadLocation("America/New_York")
	for _, c := range []struct {
		t    time.Time
		loc  *time.Location
		want string
	}{
		{time.Date(12026, 5, 6, 7, 8, 9, 0, time.UTC), time.UTC, "99990506   Z070809"},
		{time.Date(-3, 5, 6, 7, 8, 9, 0, ny), ny, "00000506    070809"},
		{time.Date(10000, 1, 1, 3, 0, 0, 0, time.UTC), ny, "99991231    220000"},
	} {
		if got := FormatDate(c.t, c.loc); got != c.want {
			t.Errorf("FormatDate(%v) = %q, want %q", c.t, got, c.want)
		}
	}
}

// FuzzParseDate checks ParseDate on 18-character dates against a reading
// with strconv and time.Date, in zones taken in turn.
func FuzzParseDate(f *testing.F) {
	f.Add("20261127    101500", uint8(0))
	f.Add("20260308    023000", uint8(4))
	f.Add("20261004   Z013000", uint8(5))
	f.Add("00000229ZZZZ235960", uint8(6))
	f.Add("20260231    000000", uint8(7))
	zones := testZones(f)
	f.Fuzz(func(t *testing.T, s string, z uint8) {
		loc := zones[int(z)%len(zones)]
		got, ok := ParseDate(s, loc)
		if len(s) != DateLen || !digits(s[:8]) || !digits(s[12:]) {
			return
		}
		n := func(a, b int) int { v, _ := strconv.Atoi(s[a:b]); return v }
		y, mo, d, h, mi, sec := n(0, 4), n(4, 6), n(6, 8), n(12, 14), n(14, 16), n(16, 18)
		l := loc
		switch s[8:12] {
		case "    ", "ZZZZ":
		case "   Z":
			l = time.UTC
		default:
			return
		}
		valid := mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h <= 23 && mi <= 59 && sec <= 60
		if ok != valid || valid && got != time.Date(y, time.Month(mo), d, h, mi, sec, 0, l) {
			t.Fatalf("ParseDate(%q, %s) = %v %v", s, loc, got, ok)
		}
	})
}

// TestAppendDigits checks fixed-width numbers against fmt, clamped at both
// ends, for the widths with a fast path and around them.
func TestAppendDigits(t *testing.T) {
	for width := 1; width <= 6; width++ {
		for n := -3; n <= 1_000_003; n++ {
			if n > 12000 && n%997 != 0 && n < 999_990 {
				continue
			}
			want := fmt.Sprintf("%0*d", width, max(n, 0))
			if len(want) > width {
				want = strings.Repeat("9", width)
			}
			if got := string(appendDigits(nil, n, width)); got != want {
				t.Fatalf("appendDigits(%d, %d) = %q, want %q", n, width, got, want)
			}
		}
	}
}

// TestDatesAcrossGoroutines reads and writes dates in different zones on
// several goroutines at once, so the shared date memory is replaced while
// others read it (run with -race).
func TestDatesAcrossGoroutines(t *testing.T) {
	zones := testZones(t)
	var wg sync.WaitGroup
	errs := make(chan string, len(zones))
	for g, loc := range zones {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 7))
			for range 300 {
				y, mo, d, h, mi, s := 1990+r.IntN(60), 1+r.IntN(12), 1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60)
				want := time.Date(y, time.Month(mo), d, h, mi, s, 0, loc)
				got, ok := ParseDate(sipDate(y, mo, d, h, mi, s), loc)
				lt := want.In(loc)
				if !ok || got != want || FormatDate(want, loc)[12:] != fmt.Sprintf("%02d%02d%02d", lt.Hour(), lt.Minute(), lt.Second()) {
					errs <- fmt.Sprintf("%s: %v %v, want %v", loc, got, ok, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
