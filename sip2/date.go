package sip2

import (
	"math"
	"sync/atomic"
	"time"
	"unsafe"
)

// DateLen is the length of a SIP2 date: YYYYMMDDZZZZHHMMSS.
const DateLen = 18

const blankDate = "                  "

// ParseDate reads a SIP2 date leniently. It accepts the specification's form
// with a blank zone (local time in loc) or "   Z" (UTC), a literal "ZZZZ"
// zone (local), and the forms devices and servers write in practice:
// "YYYY-MM-DD HH:MM:SS", "YYYY-MM-DD" and "YYYYMMDD". Blank strings and
// placeholders give the zero time and ok=false. A nil loc means time.Local.
func ParseDate(s string, loc *time.Location) (t time.Time, ok bool) {
	if loc == nil {
		loc = time.Local
	}
	if t, ok := parseSIPDate(s, loc); ok { // the common case, in one pass
		return t, true
	}
	if isBlankDate(s) { // an unused date, as kiosks send them
		return time.Time{}, false
	}
	n := len(s)
	for n > 0 && s[n-1] == ' ' {
		n--
	}
	s = s[:n]
	switch {
	case len(s) >= 14 && digits(s[:8]) && len(s) <= DateLen:
		// YYYYMMDD + zone(4) + HHMMSS; trailing blanks were trimmed.
		if len(s) != DateLen || !digits(s[12:18]) {
			return time.Time{}, false
		}
		zone := s[8:12]
		l := loc
		if zone[3] == 'Z' && zone != "ZZZZ" {
			l = time.UTC
		}
		return mkDate(s[0:4], s[4:6], s[6:8], s[12:14], s[14:16], s[16:18], l)
	case len(s) == 8 && digits(s):
		return mkDate(s[0:4], s[4:6], s[6:8], "00", "00", "00", loc)
	case len(s) >= 10 && s[4] == '-' && s[7] == '-':
		if len(s) == 10 {
			return mkDate(s[0:4], s[5:7], s[8:10], "00", "00", "00", loc)
		}
		if len(s) == 19 && (s[10] == ' ' || s[10] == 'T') && s[13] == ':' && s[16] == ':' {
			return mkDate(s[0:4], s[5:7], s[8:10], s[11:13], s[14:16], s[17:19], loc)
		}
	}
	return time.Time{}, false
}

// parseSIPDate reads a complete 18-character date with a blank, "   Z" or
// "ZZZZ" zone. The eight date digits and the six time digits are checked
// and converted a word at a time.
func parseSIPDate(s string, loc *time.Location) (time.Time, bool) {
	if len(s) != DateLen {
		return time.Time{}, false
	}
	date := load8(s[:8])
	clock := load8(s[10:18])>>16 | '0'<<48 | '0'<<56 // HHMMSS, padded with "00"
	if !digits8(date) || !digits8(clock) {
		return time.Time{}, false
	}
	switch s[8:12] {
	case "    ", "ZZZZ":
	case "   Z":
		loc = time.UTC
	default:
		return time.Time{}, false
	}
	// Two-digit numbers in 16-bit lanes: century, year, month, day; and
	// hour, minute, second.
	d, c := pairs(date), pairs(clock)
	mo, day, h, mi, sec := int(d>>32&0xFF), int(d>>48), int(c&0xFF), int(c>>16&0xFF), int(c>>32&0xFF)
	if mo < 1 || mo > 12 || day < 1 || day > 31 || h > 23 || mi > 59 || sec > 60 {
		return time.Time{}, false
	}
	return civilTime(int(d&0xFF)*100+int(d>>16&0xFF), mo, day, h, mi, sec, loc), true
}

// isBlankDate reports whether s is the 18 spaces of an unused date,
// comparing words rather than calling the runtime's string comparison.
func isBlankDate(s string) bool {
	return len(s) == DateLen && load8(s[:8]) == lanes01*' ' && load8(s[8:16]) == lanes01*' ' && s[16:] == "  "
}

// digits8 reports whether the eight bytes of x are decimal digits: x-'0'
// borrows from a lane below '0', and x+0x46 carries into the top bit of a
// lane above '9' (the lowest offending lane is always marked).
func digits8(x uint64) bool {
	return ((x-lanes01*'0')|(x+lanes01*0x46))&lanes80 == 0
}

// pairs turns eight digits into four two-digit numbers, one per 16-bit
// lane, the first two digits in the lowest lane.
func pairs(x uint64) uint64 {
	v := x - lanes01*'0'
	return (v*10 + v>>8) & lanes00FF
}

func mkDate(y, mo, d, h, mi, sec string, loc *time.Location) (time.Time, bool) {
	if !digits(y) || !digits(mo) || !digits(d) || !digits(h) || !digits(mi) || !digits(sec) {
		return time.Time{}, false
	}
	Y, M, D, H, Mi, S := atoi(y), atoi(mo), atoi(d), atoi(h), atoi(mi), atoi(sec)
	if M < 1 || M > 12 || D < 1 || D > 31 || H > 23 || Mi > 59 || S > 60 {
		return time.Time{}, false
	}
	return civilTime(Y, M, D, H, Mi, S, loc), true
}

// Dates are read and written for every message, and time.Date and
// Time.In look the zone up each time. Within one period of a zone (between
// two changes of its UTC offset) the conversion is plain arithmetic, so the
// codec remembers the last period it met per Location and does the
// arithmetic itself while a time falls inside it.

// zonePeriod is a stretch of time [start, end), in Unix seconds, in which
// loc keeps one offset from UTC.
type zonePeriod struct {
	loc        *time.Location
	offset     int64
	start, end int64
}

// zoneMemo holds the last period met for a few Locations, picked by a hash
// of the Location's address. Each entry is immutable and replaced whole, so
// readers on any goroutine see a consistent period.
var zoneMemo [4]atomic.Pointer[zonePeriod]

// memoSlot picks loc's entry by a multiplicative hash of its address.
func memoSlot(loc *time.Location) *atomic.Pointer[zonePeriod] {
	return &zoneMemo[uint64(uintptr(unsafe.Pointer(loc)))*0x9E3779B97F4A7C15>>62]
}

// rememberZone records the period of loc that t (a time in loc) falls in.
func rememberZone(t time.Time, loc *time.Location) *zonePeriod {
	_, off := t.Zone()
	p := &zonePeriod{loc: loc, offset: int64(off), start: math.MinInt64, end: math.MaxInt64}
	start, end := t.ZoneBounds() // zero when the period has no such end
	if !start.IsZero() {
		p.start = start.Unix()
	}
	if !end.IsZero() {
		p.end = end.Unix()
	}
	memoSlot(loc).Store(p)
	return p
}

// civilTime returns time.Date(y, mo, d, h, mi, s, 0, loc) for a year of
// 0–9999 and fields that passed the range checks above (a day past the end
// of its month rolls over, as with time.Date).
//
// time.Date takes the civil time as if it were UTC (c), finds the period
// of loc containing c, and subtracts its offset; if the result falls
// outside that period it takes the offset at the result instead. While c
// and c minus the remembered period's offset both fall inside the
// remembered period, the first step is the whole answer.
func civilTime(y, mo, d, h, mi, s int, loc *time.Location) time.Time {
	c := daysFromCivil(y, mo, d)*86400 + int64(h*3600+mi*60+s)
	if loc == time.UTC {
		return time.Unix(c, 0).UTC()
	}
	if p := memoSlot(loc).Load(); p != nil && p.loc == loc && c >= p.start && c < p.end {
		if u := c - p.offset; u >= p.start && u < p.end {
			return time.Unix(u, 0).In(loc)
		}
	}
	t := time.Date(y, time.Month(mo), d, h, mi, s, 0, loc)
	rememberZone(t, loc)
	return t
}

// daysFromCivil counts the days from 1970-01-01 to a date of the
// proleptic Gregorian calendar (years from 0 on), in 400-year eras of
// 146097 days that start on 1 March.
func daysFromCivil(y, m, d int) int64 {
	y += 400 // one era more keeps the arithmetic non-negative for year 0
	if m <= 2 {
		y--
	}
	era := y / 400
	yoe := y - era*400
	doy := (153*((m+9)%12)+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era-1)*146097 + int64(doe) - 719468
}

// civilFromDays is the inverse of daysFromCivil, for the days of years
// 0–9999 and well beyond either end.
func civilFromDays(z int64) (y, m, d int) {
	z += 719468 + 146097*5 // five eras more keeps the arithmetic non-negative
	era := z / 146097
	doe := int(z - era*146097)
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = doy - (153*mp+2)/5 + 1
	m = mp + 3
	if m > 12 {
		m -= 12
	}
	y = yoe + int(era-5)*400
	if m <= 2 {
		y++
	}
	return y, m, d
}

// Civil seconds of 0000-01-01 and 10000-01-01: the years a SIP2 date can
// hold, and the range civilFromDays is used for.
const (
	minCivil = -62167219200
	maxCivil = 253402300800
)

// AppendDate appends t in the 18-character SIP2 form. Times are written in
// loc (nil means time.Local); in UTC the zone is "   Z", otherwise blank. The
// zero time is written as 18 spaces, the form for an unused optional date.
func AppendDate(dst []byte, t time.Time, loc *time.Location) []byte {
	if t.IsZero() {
		return append(dst, blankDate...)
	}
	if loc == nil {
		loc = time.Local
	}
	u := t.Unix()
	var off int64
	if loc != time.UTC {
		p := memoSlot(loc).Load()
		if p == nil || p.loc != loc || u < p.start || u >= p.end {
			p = rememberZone(t.In(loc), loc)
		}
		off = p.offset
	}
	var y, mo, d, h, mi, s int
	if c := u + off; c >= minCivil && c < maxCivil {
		days := (c - minCivil) / 86400 // non-negative, so the division floors
		sec := int(c - minCivil - days*86400)
		y, mo, d = civilFromDays(days + minCivil/86400)
		h, mi, s = sec/3600, sec/60%60, sec%60
	} else {
		var m time.Month
		t = t.In(loc)
		y, m, d = t.Date()
		h, mi, s = t.Clock()
		mo = int(m)
	}
	dst = appendDigits(dst, y, 4)
	dst = appendDigits(dst, mo, 2)
	dst = appendDigits(dst, d, 2)
	if loc == time.UTC {
		dst = append(dst, "   Z"...)
	} else {
		dst = append(dst, "    "...)
	}
	dst = appendDigits(dst, h, 2)
	dst = appendDigits(dst, mi, 2)
	return appendDigits(dst, s, 2)
}

// FormatDate returns t in the 18-character SIP2 form (see AppendDate).
func FormatDate(t time.Time, loc *time.Location) string {
	var b [DateLen]byte
	return string(AppendDate(b[:0], t, loc))
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return len(s) > 0
}

// atoi reads leading decimal digits; anything else ends the number. It is
// lenient on purpose: fixed numeric fields from devices are sometimes blank.
func atoi(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ' ' && n == 0 {
			continue
		}
		if c < '0' || c > '9' {
			break
		}
		if n > 1e8 {
			break
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// appendDigits appends n as exactly width decimal digits, clamped to the
// largest value that fits; negative numbers are written as zero.
func appendDigits(dst []byte, n, width int) []byte {
	if n < 0 {
		n = 0
	}
	switch { // the common cases: date and time parts, years, counts, limits
	case width == 2 && n < 100:
		return append(dst, byte('0'+n/10), byte('0'+n%10))
	case width == 3 && n < 1000:
		return append(dst, byte('0'+n/100), byte('0'+n/10%10), byte('0'+n%10))
	case width == 4 && n < 10000:
		return append(dst, byte('0'+n/1000), byte('0'+n/100%10), byte('0'+n/10%10), byte('0'+n%10))
	}
	var b [20]byte
	for i := width - 1; i >= 0; i-- {
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if n > 0 { // too large for the width
		for i := range width {
			b[i] = '9'
		}
	}
	return append(dst, b[:width]...)
}
