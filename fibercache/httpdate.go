package fibercache

import "time"

// parseHTTPDate parses an HTTP-date as RFC 9110 §5.6.7 defines it: the
// IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") and the two obsolete forms
// a recipient must accept, RFC 850 ("Sunday, 06-Nov-94 08:49:37 GMT") and
// asctime ("Sun Nov  6 08:49:37 1994"). Names are case-sensitive and the
// spacing is exact, as the grammar says; anything else is not a date
// (ok false). A two-digit RFC 850 year more than 50 years in the future is
// read as the past century's (§5.6.7). It returns Unix seconds.
func parseHTTPDate(b []byte, now time.Time) (unix int64, ok bool) {
	switch {
	case len(b) == 29 && b[3] == ',':
		return parseIMFFixdate(b)
	case len(b) == 24 && b[3] == ' ':
		return parseAsctime(b)
	default:
		return parseRFC850(b, now)
	}
}

var (
	shortDays = [7]string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}
	longDays  = [7]string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}
	months    = [12]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}
)

// parseIMFFixdate parses "Sun, 06 Nov 1994 08:49:37 GMT".
func parseIMFFixdate(b []byte) (int64, bool) {
	wd := dayIndex(shortDays[:], b[:3])
	if wd < 0 || b[4] != ' ' || b[7] != ' ' || b[11] != ' ' || b[16] != ' ' || string(b[25:]) != " GMT" {
		return 0, false
	}
	day, ok1 := digits(b[5:7])
	mon := monthIndex(b[8:11])
	year, ok2 := digits(b[12:16])
	if !ok1 || !ok2 || mon < 0 {
		return 0, false
	}
	return civil(year, mon, day, b[17:25], wd)
}

// parseAsctime parses "Sun Nov  6 08:49:37 1994" (the day space-padded).
func parseAsctime(b []byte) (int64, bool) {
	wd := dayIndex(shortDays[:], b[:3])
	mon := monthIndex(b[4:7])
	if wd < 0 || mon < 0 || b[7] != ' ' || b[10] != ' ' || b[19] != ' ' {
		return 0, false
	}
	dd := [2]byte{b[8], b[9]}
	if dd[0] == ' ' {
		dd[0] = '0'
	}
	day, ok1 := digits(dd[:])
	year, ok2 := digits(b[20:24])
	if !ok1 || !ok2 {
		return 0, false
	}
	return civil(year, mon, day, b[11:19], wd)
}

// parseRFC850 parses "Sunday, 06-Nov-94 08:49:37 GMT".
func parseRFC850(b []byte, now time.Time) (int64, bool) {
	comma := -1
	for i := 0; i < len(b) && i < 10; i++ {
		if b[i] == ',' {
			comma = i
			break
		}
	}
	if comma < 0 {
		return 0, false
	}
	wd := dayIndex(longDays[:], b[:comma])
	r := b[comma+1:]
	if wd < 0 || len(r) != 23 || r[0] != ' ' || r[3] != '-' || r[7] != '-' || r[10] != ' ' || string(r[19:]) != " GMT" {
		return 0, false
	}
	day, ok1 := digits(r[1:3])
	mon := monthIndex(r[4:7])
	yy, ok2 := digits(r[8:10])
	if !ok1 || !ok2 || mon < 0 {
		return 0, false
	}
	year := now.UTC().Year()/100*100 + yy
	if year > now.UTC().Year()+50 {
		year -= 100
	}
	return civil(year, mon, day, r[11:19], wd)
}

// civil checks the time of day "hh:mm:ss" and the calendar date (the day
// exists; the weekday matches) and returns the Unix time.
func civil(year, mon, day int, hms []byte, wd int) (int64, bool) {
	if hms[2] != ':' || hms[5] != ':' {
		return 0, false
	}
	h, ok1 := digits(hms[0:2])
	mi, ok2 := digits(hms[3:5])
	s, ok3 := digits(hms[6:8])
	// second 60: a leap second, which the grammar allows.
	if !ok1 || !ok2 || !ok3 || h > 23 || mi > 59 || s > 60 || day < 1 {
		return 0, false
	}
	t := time.Date(year, time.Month(mon+1), day, h, mi, 0, 0, time.UTC)
	if t.Day() != day || int(t.Weekday()) != wd {
		return 0, false // 31 Feb, or a weekday that is not the date's
	}
	return t.Unix() + int64(s), true
}

func digits(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, len(b) > 0
}

func dayIndex(names []string, b []byte) int {
	for i, n := range names {
		if string(b) == n {
			return i
		}
	}
	return -1
}

func monthIndex(b []byte) int {
	for i, n := range months {
		if string(b) == n {
			return i
		}
	}
	return -1
}

// parseAge parses an Age field value as RFC 9111 §5.1 says: the first
// member of a list, delta-seconds (saturating at 2^31); ok false for
// anything else (a negative number, a fraction, a parameter), which the
// cache ignores.
func parseAge(v []byte) (secs int64, ok bool) {
	end := len(v)
	for i, c := range v {
		if c == ',' {
			end = i
			break
		}
	}
	v = v[:end]
	i, j := 0, len(v)
	for i < j && (v[i] == ' ' || v[i] == '\t') {
		i++
	}
	for j > i && (v[j-1] == ' ' || v[j-1] == '\t') {
		j--
	}
	v = v[i:j]
	if len(v) == 0 {
		return 0, false
	}
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		if secs < deltaMax {
			secs = secs*10 + int64(c-'0')
		}
	}
	return min(secs, deltaMax), true
}
