package fibercache

import (
	"strings"
	"testing"
)

func parseCC(s string) cacheControl {
	cc := newCacheControl()
	cc.parse([]byte(s))
	return cc
}

func TestParseCacheControl(t *testing.T) {
	cases := []struct {
		in   string
		want cacheControl
	}{
		{"", cacheControl{maxAge: -1, sMaxAge: -1, staleWhileRev: -1, staleIf: -1}},
		{"private", cacheControl{private: true, any: true, maxAge: -1, sMaxAge: -1, staleWhileRev: -1, staleIf: -1}},
		{"PRIVATE", cacheControl{private: true, any: true, maxAge: -1, sMaxAge: -1, staleWhileRev: -1, staleIf: -1}},
		{"Public, Max-Age=60", cacheControl{public: true, any: true, maxAge: 60, sMaxAge: -1, staleWhileRev: -1, staleIf: -1}},
		{`max-age="120", s-maxage = 30`, cacheControl{any: true, maxAge: 120, sMaxAge: 30, staleWhileRev: -1, staleIf: -1}},
		{"max-age=60, max-age=10", cacheControl{any: true, maxAge: 10, sMaxAge: -1, staleWhileRev: -1, staleIf: -1}},
		{"max-age=abc", cacheControl{any: true, maxAge: 0, sMaxAge: -1, staleWhileRev: -1, staleIf: -1}},
		{"max-age", cacheControl{any: true, maxAge: 0, sMaxAge: -1, staleWhileRev: -1, staleIf: -1}},
		{"max-age=-5", cacheControl{any: true, maxAge: 0, sMaxAge: -1, staleWhileRev: -1, staleIf: -1}},
		{"max-age=99999999999999999999", cacheControl{any: true, maxAge: deltaMax, sMaxAge: -1, staleWhileRev: -1, staleIf: -1}},
		{`no-cache="Set-Cookie, X-Foo", public`, cacheControl{noCache: true, public: true, any: true, maxAge: -1, sMaxAge: -1, staleWhileRev: -1, staleIf: -1}},
		{`x-ext="a, private", max-age=5`, cacheControl{any: true, maxAge: 5, sMaxAge: -1, staleWhileRev: -1, staleIf: -1}},
		{"no-store,,, ,must-revalidate", cacheControl{noStore: true, mustRevalidate: true, any: true, maxAge: -1, sMaxAge: -1, staleWhileRev: -1, staleIf: -1}},
		{"stale-while-revalidate=30, stale-if-error=600, proxy-revalidate", cacheControl{proxyRevalidate: true, any: true, maxAge: -1, sMaxAge: -1, staleWhileRev: 30, staleIf: 600}},
		{"private_x, xprivate, pri vate", cacheControl{any: true, maxAge: -1, sMaxAge: -1, staleWhileRev: -1, staleIf: -1}},
		{`"junk", private`, cacheControl{private: true, any: true, maxAge: -1, sMaxAge: -1, staleWhileRev: -1, staleIf: -1}},
	}
	for _, tc := range cases {
		if got := parseCC(tc.in); got != tc.want {
			t.Errorf("parse(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

// FuzzParseCacheControl: the parser never panics nor loops, directive names
// match whatever their case, and a field split over two lines means the
// same as the joined line.
func FuzzParseCacheControl(f *testing.F) {
	for _, s := range []string{"private", "Public, max-age=60", `no-cache="a, b"`, "max-age=\"1", `\"`, ",=,", "s-maxage=0, max-age=9", "stale-if-error=1;x"} {
		f.Add(s, "no-store")
	}
	f.Fuzz(func(t *testing.T, s, s2 string) {
		cc := parseCC(s)
		if up := parseCC(strings.ToUpper(s)); up != cc {
			t.Errorf("case changes the meaning of %q: %+v vs %+v", s, cc, up)
		}
		for _, v := range []int64{cc.maxAge, cc.sMaxAge, cc.staleWhileRev, cc.staleIf} {
			if v < -1 || v > deltaMax {
				t.Errorf("%q: delta out of range %d", s, v)
			}
		}
		if strings.Count(s, `"`)%2 == 0 && strings.Count(s, `\`) == 0 {
			two := newCacheControl()
			two.parse([]byte(s))
			two.parse([]byte(s2))
			joined := parseCC(s + "," + s2)
			if strings.Count(s2, `"`) == 0 && two != joined {
				t.Errorf("%q + %q: two lines %+v, one line %+v", s, s2, two, joined)
			}
		}
	})
}

// TestParseCacheControlReload: the reload value browsers send, read on its
// own fast path, parses as the general loop parses it.
func TestParseCacheControlReload(t *testing.T) {
	for _, first := range []string{"", "max-age=5", "no-cache", "max-age=0"} {
		fast, slow := newCacheControl(), newCacheControl()
		if first != "" {
			fast.parse([]byte(first))
			slow.parse([]byte(first))
		}
		fast.parse([]byte("max-age=0"))
		slow.parse([]byte(" max-age=0 ")) // not the fast path
		if fast != slow {
			t.Errorf("after %q: fast %+v, loop %+v", first, fast, slow)
		}
	}
}
