package fibercache

import (
	"testing"

	"github.com/gofiber/fiber/v2"
)

func TestParseTargeted(t *testing.T) {
	cases := []struct {
		in              string
		ok              bool
		maxAge          int64
		noStore, privat bool
	}{
		{"max-age=3600", true, 3600, false, false},
		{" max-age=3600 ", true, 3600, false, false},
		{"foobar, max-age=3600", true, 3600, false, false},
		{"max-age=60;x=1, private", true, 60, false, true},
		{"no-store", true, -1, true, false},
		{"max-age=2147483648", true, deltaMax, false, false},
		{"max-age=99999999999", true, deltaMax, false, false},
		{"max-age=10000, &&&&&", false, 0, false, false},
		{`max-age="10000"`, false, 0, false, false},
		{"max-age=-1", false, 0, false, false},
		{"max-age=1.5", false, 0, false, false},
		{"MaX-aGe=3600", false, 0, false, false},
		{"max-age =100", false, 0, false, false},
		{"max-age= 100", false, 0, false, false},
		{"max-age=1,", false, 0, false, false},
		{"", false, 0, false, false},
		{`a="unterminated`, false, 0, false, false},
		{"a=:aGVsbG8=:, b=?1, c=tok/en:x, d=-1.25", true, -1, false, false},
	}
	for _, tc := range cases {
		cc, ok := parseTargeted([]byte(tc.in))
		if ok != tc.ok || ok && (cc.maxAge != tc.maxAge || cc.noStore != tc.noStore || cc.private != tc.privat) {
			t.Errorf("parseTargeted(%q) = %+v %v", tc.in, cc, ok)
		}
	}
}

// FuzzParseTargeted: never panics; durations are never negative nor past
// deltaMax; a field that parses parses the same with spaces around it.
func FuzzParseTargeted(f *testing.F) {
	for _, s := range []string{"max-age=3600", "a;b=1, c=\"x\"", "&&", ":YQ==:", "?1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cc, ok := parseTargeted([]byte(s))
		if !ok {
			return
		}
		for _, d := range []int64{cc.maxAge, cc.sMaxAge, cc.staleWhileRev, cc.staleIf} {
			if d < -1 || d > deltaMax {
				t.Fatalf("%q: duration %d", s, d)
			}
		}
		if cc2, ok2 := parseTargeted([]byte(" " + s + " ")); !ok2 || cc2 != cc {
			t.Fatalf("%q parses, but not with spaces around it", s)
		}
	})
}

// Under Strict, a CDN-Cache-Control that parses replaces Cache-Control and
// Expires for this cache; one that does not is ignored; without Strict it
// is only passed on.
func TestTargetedCacheControl(t *testing.T) {
	cases := []struct {
		name         string
		strict       bool
		cdn, cc, exp string
		front        string // Cache-Control set in front of the middleware
		stored       bool
	}{
		{"cdn max-age", true, "max-age=60", "", "", "", true},
		{"cdn fresh, cc no-store still refused", true, "max-age=60", "no-store", "", "", false},
		{"cdn fresh, cc private still refused", true, "max-age=60", "private", "", "", false},
		{"cdn fresh, cc no-cache", true, "max-age=60", "no-cache", "", "", true},
		{"cdn fresh, cc max-age=0", true, "max-age=60", "max-age=0", "", "", true},
		{"cdn no-store, cc fresh", true, "no-store", "max-age=60", "", "", false},
		{"cdn private", true, "private", "max-age=60", "", "", false},
		{"cdn no-cache", true, "no-cache", "max-age=60", "", "", false},
		{"cdn max-age=0, future Expires", true, "max-age=0", "", "Fri, 01 Jan 2100 00:00:00 GMT", "", false},
		{"cdn invalid: cc applies", true, "max-age=60, &&&", "no-store", "", "", false},
		{"cdn wrong type: cc applies", true, `max-age="60"`, "no-store", "", "", false},
		{"front no-store still forbids", true, "max-age=60", "", "", "no-store", false},
		{"not strict: ignored", false, "max-age=60", "no-store", "", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			app := newApp()
			if tc.front != "" {
				app.Use(func(c *fiber.Ctx) error { c.Set(fiber.HeaderCacheControl, tc.front); return c.Next() })
			}
			app.Use(New(Config{Cache: newCache(t), Strict: tc.strict}))
			h, runs := counting("p")
			app.Get("/", func(c *fiber.Ctx) error {
				c.Set("CDN-Cache-Control", tc.cdn)
				if tc.cc != "" {
					c.Set(fiber.HeaderCacheControl, tc.cc)
				}
				if tc.exp != "" {
					c.Set(fiber.HeaderExpires, tc.exp)
				}
				return h(c)
			})
			get(t, app, "/")
			r := get(t, app, "/")
			want, renders := "MISS", int64(2)
			if tc.stored {
				want, renders = "HIT", 1
				expect(t, "CDN-Cache-Control replayed", r.header.Get("CDN-Cache-Control"), tc.cdn)
			}
			expect(t, "X-Cache", r.xcache(), want)
			expect(t, "renders", runs.Load(), renders)
		})
	}
}
