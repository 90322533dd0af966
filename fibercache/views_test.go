package fibercache

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
)

func TestCacheControlHelper(t *testing.T) {
	cases := []struct {
		name, before string
		directives   []string
		want         string
	}{
		{"set", "", []string{"public", "max-age=3600"}, "public, max-age=3600"},
		{"replace same name", "max-age=60, s-maxage=5", []string{"s-maxage=30"}, "max-age=60, s-maxage=30"},
		{"max-age keeps the smaller", "max-age=60", []string{"max-age=3600"}, "max-age=60"},
		{"max-age lowered", "max-age=3600", []string{"max-age=60"}, "max-age=60"},
		{"private drops public", "public, max-age=5", []string{"private"}, "max-age=5, private"},
		{"public drops private", "private", []string{"public"}, "public"},
		{"case-insensitive names", "Max-Age=10", []string{"MAX-AGE=20"}, "max-age=10"},
		{"invalid ignored", "", []string{"bad name", "max-age=1\r\nX: y", "no-store"}, "no-store"},
		{"quoted value kept", `no-cache="Set-Cookie, X"`, []string{"public"}, `no-cache="Set-Cookie, X", public`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			app := newApp()
			app.Get("/", func(c *fiber.Ctx) error {
				if tc.before != "" {
					c.Set(fiber.HeaderCacheControl, tc.before)
				}
				CacheControl(c, tc.directives...)
				return c.SendString("x")
			})
			expect(t, "Cache-Control", get(t, app, "/").header.Get("Cache-Control"), tc.want)
		})
	}
}

func TestPatchVary(t *testing.T) {
	cases := []struct {
		name, before string
		add          []string
		want         string
	}{
		{"add", "", []string{"Accept-Language"}, "Accept-Language"},
		{"no repeat, any case", "Accept-Encoding", []string{"accept-encoding", "Cookie"}, "Accept-Encoding, Cookie"},
		{"star wins", "Cookie", []string{"*"}, "*"},
		{"invalid ignored", "", []string{"a b", "", "X-Y"}, "X-Y"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			app := newApp()
			app.Get("/", func(c *fiber.Ctx) error {
				if tc.before != "" {
					c.Set(fiber.HeaderVary, tc.before)
				}
				PatchVary(c, tc.add...)
				return c.SendString("x")
			})
			expect(t, "Vary", get(t, app, "/").header.Get("Vary"), tc.want)
		})
	}
}

// NeverCache keeps a page out of this cache, even under Page's TTL, and
// tells every downstream cache the same.
func TestNeverCache(t *testing.T) {
	for _, mw := range []struct {
		name string
		h    func(*Config) fiber.Handler
	}{
		{"New", func(c *Config) fiber.Handler { return New(*c) }},
		{"Page", func(c *Config) fiber.Handler { return Page(time.Hour, *c) }},
		{"Strict", func(c *Config) fiber.Handler { c.Strict = true; return New(*c) }},
	} {
		t.Run(mw.name, func(t *testing.T) {
			app := newApp()
			h, runs := counting("p")
			app.Get("/", mw.h(&Config{Cache: newCache(t)}), func(c *fiber.Ctx) error {
				c.Set(fiber.HeaderCacheControl, "public, max-age=600")
				NeverCache(c)
				return h(c)
			})
			for i := 0; i < 3; i++ {
				r := get(t, app, "/")
				expect(t, "X-Cache", r.xcache(), "MISS")
				cc := r.header.Get("Cache-Control")
				for _, d := range []string{"max-age=0", "no-cache", "no-store", "must-revalidate", "private"} {
					if !strings.Contains(cc, d) {
						t.Errorf("Cache-Control %q lacks %s", cc, d)
					}
				}
				if strings.Contains(cc, "public") || strings.Contains(cc, "600") {
					t.Errorf("Cache-Control %q kept public or max-age=600", cc)
				}
				if exp, err := http.ParseTime(r.header.Get("Expires")); err != nil || time.Since(exp) > time.Minute {
					t.Errorf("Expires %q is not now", r.header.Get("Expires"))
				}
			}
			expect(t, "renders", runs.Load(), int64(3))
		})
	}
}

// An unsafe method's success drops the stored pages of its URL and of its
// Location / Content-Location on the same host (RFC 9111 §4.4); failures,
// safe methods and other hosts drop nothing.
func TestUnsafeMethodInvalidates(t *testing.T) {
	cases := []struct {
		name, method, target string
		status               int
		location, contentLoc string
		dropped              []string // of /a, /b, /c
	}{
		{"POST own URL", "POST", "/a", 200, "", "", []string{"/a"}},
		{"PUT own URL, query ignored", "PUT", "/a?x=1", 201, "", "", []string{"/a"}},
		{"DELETE", "DELETE", "/a", 204, "", "", []string{"/a"}},
		{"PATCH Location", "PATCH", "/a", 303, "/b", "", []string{"/a", "/b"}},
		{"POST Content-Location absolute same host", "POST", "/c", 200, "", "http://example.com/b", []string{"/b", "/c"}},
		{"Location relative", "POST", "/a", 302, "c", "", []string{"/a", "/c"}},
		{"Location other host", "POST", "/a", 302, "http://other.example/b", "", []string{"/a"}},
		{"POST failed", "POST", "/a", 500, "/b", "", nil},
		{"POST 404", "POST", "/a", 404, "", "", nil},
		{"OPTIONS is safe", "OPTIONS", "/a", 200, "", "", nil},
		{"unknown method", "M-SEARCH", "/a", 200, "", "", []string{"/a"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			app := fiber.New(fiber.Config{DisableStartupMessage: true,
				RequestMethods: append(append([]string(nil), fiber.DefaultMethods...), "M-SEARCH")})
			app.Use(New(Config{Cache: newCache(t), TTL: time.Hour}))
			h, runs := counting("p")
			app.Get("/:p", h)
			app.Add(tc.method, "/:p", func(c *fiber.Ctx) error {
				if tc.location != "" {
					c.Set(fiber.HeaderLocation, tc.location)
				}
				if tc.contentLoc != "" {
					c.Set(fiber.HeaderContentLocation, tc.contentLoc)
				}
				return c.SendStatus(tc.status)
			})
			paths := []string{"/a", "/b", "/c"}
			for _, p := range paths {
				get(t, app, p, "Host", "example.com")
				expect(t, "X-Cache "+p, get(t, app, p, "Host", "example.com").xcache(), "HIT")
			}
			do(t, app, tc.method, tc.target, "Host", "example.com")
			before := runs.Load()
			for _, p := range paths {
				want := "HIT"
				for _, d := range tc.dropped {
					if d == p {
						want = "MISS"
					}
				}
				expect(t, "after: X-Cache "+p, get(t, app, p, "Host", "example.com").xcache(), want)
			}
			expect(t, "renders after", runs.Load()-before, int64(len(tc.dropped)))
		})
	}
}

// Strict stores only what the response allows, any final status; the
// upstream Age counts and is on hits.
func TestStrictConfig(t *testing.T) {
	cases := []struct {
		name   string
		status int
		hdr    []string
		stored bool
		age    string // the hit's Age
	}{
		{"no freshness: not stored", 200, nil, false, ""},
		{"max-age", 200, []string{"Cache-Control", "max-age=60"}, true, "0"},
		{"404 with max-age", 404, []string{"Cache-Control", "max-age=60"}, true, "0"},
		{"301 with Expires", 301, []string{"Expires", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)}, true, "0"},
		{"500 with s-maxage", 500, []string{"Cache-Control", "s-maxage=60"}, true, "0"},
		{"Age counts", 200, []string{"Cache-Control", "max-age=3600", "Age", "120"}, true, "120"},
		{"Age past max-age", 200, []string{"Cache-Control", "max-age=3600", "Age", "7200"}, false, ""},
		{"bad Expires", 200, []string{"Expires", "soon"}, false, ""},
		{"Set-Cookie still refused", 200, []string{"Cache-Control", "max-age=60", "Set-Cookie", "s=1"}, false, ""},
		{"private still refused", 200, []string{"Cache-Control", "private, max-age=60"}, false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			app := newApp()
			app.Use(New(Config{Cache: newCache(t), Strict: true}))
			h, runs := counting("p")
			app.Get("/", func(c *fiber.Ctx) error {
				for i := 0; i+1 < len(tc.hdr); i += 2 {
					c.Response().Header.Add(tc.hdr[i], tc.hdr[i+1])
				}
				c.Status(tc.status)
				return h(c)
			})
			get(t, app, "/")
			r := get(t, app, "/")
			if tc.stored {
				expect(t, "X-Cache", r.xcache(), "HIT")
				expect(t, "status", r.status, tc.status)
				expect(t, "Age", r.header.Get("Age"), tc.age)
				expect(t, "renders", runs.Load(), int64(1))
			} else {
				expect(t, "X-Cache", r.xcache(), "MISS")
				expect(t, "renders", runs.Load(), int64(2))
			}
		})
	}
}

// Surrogate-Key is stripped unless Config.SurrogateHeaders passes it and
// Surrogate-Control on, on misses and hits alike.
func TestSurrogateHeaders(t *testing.T) {
	for _, on := range []bool{false, true} {
		app := newApp()
		app.Use(New(Config{Cache: newCache(t), SurrogateHeaders: on}))
		app.Get("/", func(c *fiber.Ctx) error {
			c.Set("Surrogate-Key", "post-1 blog")
			c.Set("Surrogate-Control", "max-age=86400")
			return c.SendString("x")
		})
		wantKey, wantCtl := "", ""
		if on {
			wantKey, wantCtl = "post-1 blog", "max-age=86400"
		}
		miss := get(t, app, "/")
		expect(t, "miss Surrogate-Key", miss.header.Get("Surrogate-Key"), wantKey)
		hit := get(t, app, "/")
		expect(t, "X-Cache", hit.xcache(), "HIT")
		expect(t, "hit Surrogate-Key", hit.header.Get("Surrogate-Key"), wantKey)
		expect(t, "hit Surrogate-Control", hit.header.Get("Surrogate-Control"), wantCtl)
	}
}
