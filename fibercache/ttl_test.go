package fibercache

import (
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/gofiber/fiber/v2"
)

// TestTTLMeaning: Page's ttl and Config.TTL mean what a TTL means in the
// core (cachekit.NoExpiry): DefaultTTL is the Cache's Config.DefaultTTL,
// NoExpiry a page fresh until invalidated (bounded by MaxStoreTTL), and
// Page(0) stores nothing, as Django's cache_page(0). Over a real Memory.
func TestTTLMeaning(t *testing.T) {
	const def = 7 * time.Minute // the Cache's Config.DefaultTTL
	m, err := cachekit.NewMemory(cachekit.MemoryConfig{MaxBytes: 16 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	cache := cachekit.New(cachekit.Config{Storage: m, DefaultTTL: def})
	store := int(cachekit.MaxStoreTTL / time.Second)
	for _, tc := range []struct {
		name string
		mw   fiber.Handler
		ttl  int // seconds the stored page is fresh for; -1: never stored
	}{
		{"Page minute", Page(time.Minute, Config{Cache: cache}), 60},
		{"Page DefaultTTL", Page(cachekit.DefaultTTL, Config{Cache: cache}), int(def / time.Second)},
		{"Page NoExpiry", Page(cachekit.NoExpiry, Config{Cache: cache}), store},
		{"Page 0", Page(0, Config{Cache: cache}), -1},
		{"New default", New(Config{Cache: cache}), 60},
		{"New DefaultTTL", New(Config{Cache: cache, TTL: cachekit.DefaultTTL}), int(def / time.Second)},
		{"New NoExpiry", New(Config{Cache: cache, TTL: cachekit.NoExpiry}), store},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := newApp()
			var runs atomic.Int32
			path := "/" + strings.ReplaceAll(tc.name, " ", "-")
			app.Get(path, tc.mw, func(c *fiber.Ctx) error {
				return c.SendString("run " + strconv.Itoa(int(runs.Add(1))))
			})
			get(t, app, path)
			r := get(t, app, path)
			if tc.ttl < 0 {
				if r.xcache() != "BYPASS" || !strings.Contains(r.cacheStatus(), "ttl-0") || r.body != "run 2" {
					t.Fatalf("%s: X-Cache %q, Cache-Status %q, body %q: want BYPASS, ttl-0, run 2", path, r.xcache(), r.cacheStatus(), r.body)
				}
				return
			}
			if r.xcache() != "HIT" || r.body != "run 1" {
				t.Fatalf("%s: X-Cache %q, Cache-Status %q, body %q", path, r.xcache(), r.cacheStatus(), r.body)
			}
			if got := ttlOf(t, r); got < tc.ttl-5 || got > tc.ttl {
				t.Errorf("%s: ttl %d, want %d", path, got, tc.ttl)
			}
		})
	}
}

// TestPageZeroInsideNew: Page(0) on a route under a site-wide New keeps
// the page out of the outer cache too.
func TestPageZeroInsideNew(t *testing.T) {
	cache := newCache(t)
	app := newApp()
	app.Use(New(Config{Cache: cache}))
	var runs atomic.Int32
	app.Get("/never", Page(0, Config{Cache: cache}), func(c *fiber.Ctx) error {
		return c.SendString("run " + strconv.Itoa(int(runs.Add(1))))
	})
	app.Get("/cached", func(c *fiber.Ctx) error { return c.SendString("cached") })
	for i := 1; i <= 3; i++ {
		if r := get(t, app, "/never"); r.body != "run "+strconv.Itoa(i) || r.xcache() != "BYPASS" {
			t.Fatalf("request %d: %q, X-Cache %q, Cache-Status %q", i, r.body, r.xcache(), r.cacheStatus())
		}
	}
	get(t, app, "/cached")
	if r := get(t, app, "/cached"); r.xcache() != "HIT" {
		t.Fatalf("the site-wide cache stopped caching other routes: %q", r.xcache())
	}
}
