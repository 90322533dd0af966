package fibercache

import (
	"net/http"
	"testing"
	"time"
)

func TestParseHTTPDate(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	want := time.Date(1994, 11, 6, 8, 49, 37, 0, time.UTC).Unix()
	cases := []struct {
		in   string
		ok   bool
		want int64
	}{
		{"Sun, 06 Nov 1994 08:49:37 GMT", true, want},
		{"Sunday, 06-Nov-94 08:49:37 GMT", true, want},
		{"Sun Nov  6 08:49:37 1994", true, want},
		{"Thursday, 18-Aug-50 02:01:18 GMT", true, time.Date(2050, 8, 18, 2, 1, 18, 0, time.UTC).Unix()},
		{"Tue, 19 Jan 2038 03:14:08 GMT", true, 1 << 31},
		{"Sun, 21 Nov 2286 04:46:39 GMT", true, time.Date(2286, 11, 21, 4, 46, 39, 0, time.UTC).Unix()},
		{"Sun, 06 Nov 1994 08:49:37 UTC", false, 0},
		{"Sun, 06 Nov 1994 08:49:37 gMT", false, 0},
		{"SUN, 06 Nov 1994 08:49:37 GMT", false, 0},
		{"Sun, 06 NOV 1994 08:49:37 GMT", false, 0},
		{"Sun, 06  Nov 1994 08:49:37 GMT", false, 0},
		{"Sun, 06 Nov 94 08:49:37 GMT", false, 0},
		{"Sun 06 Nov 1994 08:49:37 GMT", false, 0},
		{"Sun, 06-Nov-1994 08:49:37 GMT", false, 0},
		{"Sun, 06 Nov 1994 08.49.37 GMT", false, 0},
		{"Sun, 06 Nov 1994 8:49:37 GMT", false, 0},
		{"Mon, 06 Nov 1994 08:49:37 GMT", false, 0}, // wrong weekday
		{"Sun, 31 Feb 1994 08:49:37 GMT", false, 0},
		{"Sun, 06 Nov 1994 24:00:00 GMT", false, 0},
		{"", false, 0},
		{"0", false, 0},
	}
	for _, tc := range cases {
		got, ok := parseHTTPDate([]byte(tc.in), now)
		if ok != tc.ok || got != tc.want {
			t.Errorf("parseHTTPDate(%q) = %d %v, want %d %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestParseAge(t *testing.T) {
	cases := []struct {
		in   string
		ok   bool
		want int64
	}{
		{"0", true, 0}, {"7200", true, 7200}, {" 12 ", true, 12}, {"7200, 0", true, 7200}, {"0, 7200", true, 0},
		{"2147483647", true, 2147483647}, {"2147483648", true, deltaMax}, {"99999999999999999999", true, deltaMax},
		{"abc", false, 0}, {"-7200", false, 0}, {"7200.0", false, 0}, {"7200;foo=bar", false, 0}, {"", false, 0}, {",1", false, 0},
	}
	for _, tc := range cases {
		got, ok := parseAge([]byte(tc.in))
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("parseAge(%q) = %d %v, want %d %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// FuzzParseHTTPDate: never panics; what parses is a real instant that
// formats back to the same IMF-fixdate text (for that form), and agrees
// with net/http on it.
func FuzzParseHTTPDate(f *testing.F) {
	for _, s := range []string{"Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994", "Thu, 01 Jan 1970 00:00:00 GMT", "x"} {
		f.Add(s)
	}
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		u, ok := parseHTTPDate([]byte(s), now)
		if !ok {
			return
		}
		if len(s) == 29 && s[3] == ',' && s[17:19] != "60" && s[23:25] != "60" {
			if back := time.Unix(u, 0).UTC().Format(http.TimeFormat); back != s {
				t.Fatalf("%q parsed to %d, which formats as %q", s, u, back)
			}
		}
	})
}

// FuzzParseAge: never panics, never negative, never past deltaMax, and
// digits alone always parse.
func FuzzParseAge(f *testing.F) {
	for _, s := range []string{"0", "7200, 0", "abc", "2147483648", " 1 "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, ok := parseAge([]byte(s))
		if ok && (n < 0 || n > deltaMax) {
			t.Fatalf("parseAge(%q) = %d", s, n)
		}
		if !ok && len(s) > 0 && len(s) < 10 && allDigits(s) {
			t.Fatalf("parseAge(%q) refused digits", s)
		}
	})
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
