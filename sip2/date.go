package sip2

import "time"

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
// "ZZZZ" zone.
func parseSIPDate(s string, loc *time.Location) (time.Time, bool) {
	if len(s) != DateLen {
		return time.Time{}, false
	}
	var v [7]int // century, year, month, day, hour, minute, second
	for i, at := range [7]int{0, 2, 4, 6, 12, 14, 16} {
		a, b := s[at]-'0', s[at+1]-'0'
		if a > 9 || b > 9 {
			return time.Time{}, false
		}
		v[i] = int(a)*10 + int(b)
	}
	switch s[8:12] {
	case "    ", "ZZZZ":
	case "   Z":
		loc = time.UTC
	default:
		return time.Time{}, false
	}
	if v[2] < 1 || v[2] > 12 || v[3] < 1 || v[3] > 31 || v[4] > 23 || v[5] > 59 || v[6] > 60 {
		return time.Time{}, false
	}
	return time.Date(v[0]*100+v[1], time.Month(v[2]), v[3], v[4], v[5], v[6], 0, loc), true
}

func mkDate(y, mo, d, h, mi, sec string, loc *time.Location) (time.Time, bool) {
	if !digits(y) || !digits(mo) || !digits(d) || !digits(h) || !digits(mi) || !digits(sec) {
		return time.Time{}, false
	}
	Y, M, D, H, Mi, S := atoi(y), atoi(mo), atoi(d), atoi(h), atoi(mi), atoi(sec)
	if M < 1 || M > 12 || D < 1 || D > 31 || H > 23 || Mi > 59 || S > 60 {
		return time.Time{}, false
	}
	return time.Date(Y, time.Month(M), D, H, Mi, S, 0, loc), true
}

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
	t = t.In(loc)
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	dst = appendDigits(dst, y, 4)
	dst = appendDigits(dst, int(mo), 2)
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
	if width == 2 && n < 100 { // the common case: date and time parts
		return append(dst, byte('0'+n/10), byte('0'+n%10))
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
