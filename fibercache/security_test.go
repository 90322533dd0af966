package fibercache

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gofiber/fiber/v2"
)

// TestNeverShared is the security table of issue 5: pairs of requests that
// must never share a cache entry. Request a is sent twice (so it is stored
// if it may be), then b: b must get its own render, never a's.
func TestNeverShared(t *testing.T) {
	type hdrs = []string
	cases := []struct {
		name    string
		cfg     Config
		handler func(c *fiber.Ctx, n int64) error
		pathA   string
		a       hdrs
		pathB   string
		b       hdrs
		aHit    bool // a's second request is a HIT (the pair is cacheable at all)
	}{
		{
			name: "session cookies, page shows the user",
			handler: func(c *fiber.Ctx, n int64) error {
				return c.SendString("hello " + c.Cookies("session"))
			},
			a: hdrs{"Cookie", "session=alice"},
			b: hdrs{"Cookie", "session=bob"},
		},
		{
			name: "session cookies with per-user caching",
			cfg:  Config{UserCookie: "session"},
			handler: func(c *fiber.Ctx, n int64) error {
				return c.SendString("hello " + c.Cookies("session"))
			},
			a:    hdrs{"Cookie", "session=alice"},
			b:    hdrs{"Cookie", "session=bob"},
			aHit: true,
		},
		{
			name: "two query strings",
			handler: func(c *fiber.Ctx, n int64) error {
				return c.SendString("q=" + c.Query("q"))
			},
			pathA: "/p?q=1",
			pathB: "/p?q=2",
			aHit:  true,
		},
		{
			name: "Accept-Language with Vary",
			handler: func(c *fiber.Ctx, n int64) error {
				c.Vary("Accept-Language")
				return c.SendString("lang " + c.Get("Accept-Language"))
			},
			a:    hdrs{"Accept-Language", "en"},
			b:    hdrs{"Accept-Language", "fr"},
			aHit: true,
		},
		{
			name: "Authorization",
			handler: func(c *fiber.Ctx, n int64) error {
				return c.SendString("auth " + c.Get("Authorization"))
			},
			a: hdrs{"Authorization", "Bearer alice"},
			b: hdrs{"Authorization", "Bearer bob"},
		},
		{
			name: "Authorization, anonymous second",
			handler: func(c *fiber.Ctx, n int64) error {
				return c.SendString("auth " + c.Get("Authorization"))
			},
			a: hdrs{"Authorization", "Bearer alice"},
			b: hdrs{},
		},
		{
			name: "handler sets a cookie",
			handler: func(c *fiber.Ctx, n int64) error {
				c.Cookie(&fiber.Cookie{Name: "csrf", Value: fmt.Sprint("token", n)})
				return c.SendString(fmt.Sprint("form with token", n))
			},
		},
		{
			name: "private response",
			handler: func(c *fiber.Ctx, n int64) error {
				c.Set("Cache-Control", "private, max-age=600")
				return c.SendString(fmt.Sprint("render ", n))
			},
		},
		{
			name: "no-store response",
			handler: func(c *fiber.Ctx, n int64) error {
				c.Set("Cache-Control", "no-store")
				return c.SendString(fmt.Sprint("render ", n))
			},
		},
		{
			name: "500 error",
			handler: func(c *fiber.Ctx, n int64) error {
				return c.Status(500).SendString(fmt.Sprint("error ", n))
			},
		},
		{
			name: "Vary: *",
			handler: func(c *fiber.Ctx, n int64) error {
				c.Set("Vary", "*")
				return c.SendString(fmt.Sprint("render ", n))
			},
		},
		{
			name: "odd casing CACHE-CONTROL: Private",
			handler: func(c *fiber.Ctx, n int64) error {
				c.Set("CACHE-CONTROL", "Private")
				return c.SendString(fmt.Sprint("render ", n))
			},
		},
		{
			name: "odd casing cache-control: NO-STORE",
			handler: func(c *fiber.Ctx, n int64) error {
				c.Response().Header.Set("cache-control", "NO-STORE")
				return c.SendString(fmt.Sprint("render ", n))
			},
		},
		{
			name: "odd casing Set-Cookie",
			handler: func(c *fiber.Ctx, n int64) error {
				c.Response().Header.Set("SET-COOKIE", fmt.Sprint("id=", n))
				return c.SendString(fmt.Sprint("render ", n))
			},
		},
		{
			name: "same URL, another host",
			handler: func(c *fiber.Ctx, n int64) error {
				return c.SendString("host " + c.Hostname())
			},
			a:    hdrs{"Host", "a.example"},
			b:    hdrs{"Host", "b.example"},
			aHit: true,
		},
		{
			name: "same URL, another X-Forwarded-Host",
			handler: func(c *fiber.Ctx, n int64) error {
				return c.SendString("link " + c.BaseURL())
			},
			a:    hdrs{},
			b:    hdrs{"X-Forwarded-Host", "evil.example"},
			aHit: true,
		},
		{
			name: "same URL, another X-Forwarded-Proto",
			handler: func(c *fiber.Ctx, n int64) error {
				return c.SendString("link " + c.BaseURL())
			},
			a:    hdrs{},
			b:    hdrs{"X-Forwarded-Proto", "https"},
			aHit: true,
		},
		{
			name: "non-harmless cookie, anonymous first",
			handler: func(c *fiber.Ctx, n int64) error {
				return c.SendString("user " + c.Cookies("sid"))
			},
			a: hdrs{},
			b: hdrs{"Cookie", "sid=carol"},
			// a alone is cacheable; b carries a credential and must not
			// be served a's page.
			aHit: true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cache := newCache(t)
			cfg := tc.cfg
			cfg.Cache = cache
			app := newApp()
			app.Use(New(cfg))
			var runs atomic.Int64
			h := func(c *fiber.Ctx) error { return tc.handler(c, runs.Add(1)) }
			app.Get("/", h)
			app.Get("/p", h)
			pa, pb := tc.pathA, tc.pathB
			if pa == "" {
				pa = "/"
			}
			if pb == "" {
				pb = pa
			}
			a1 := get(t, app, pa, tc.a...)
			a2 := get(t, app, pa, tc.a...)
			if got := a2.xcache() == "HIT"; got != tc.aHit {
				t.Errorf("a's second request: X-Cache %q (Cache-Status %q), want hit=%v", a2.xcache(), a2.cacheStatus(), tc.aHit)
			}
			runsBefore := runs.Load()
			b := get(t, app, pb, tc.b...)
			if b.xcache() == "HIT" || b.xcache() == "STALE" {
				t.Errorf("b was served from the cache: X-Cache %q, Cache-Status %q, body %q", b.xcache(), b.cacheStatus(), b.body)
			}
			if runs.Load() == runsBefore {
				t.Errorf("b's handler did not run; b got %q (a got %q)", b.body, a1.body)
			}
			if b.body == a1.body || b.body == a2.body {
				t.Errorf("b got a's page %q", b.body)
			}
			for _, r := range []result{a1, a2, b} {
				if r.xcache() == "" || r.cacheStatus() == "" {
					t.Errorf("a response lacks X-Cache/Cache-Status: %v", r.header)
				}
				if strings.Contains(r.header.Get("Cache-Status"), "hit") && r.header.Get("Age") == "" {
					t.Errorf("a hit without Age")
				}
			}
		})
	}
}
