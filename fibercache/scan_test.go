package fibercache

import (
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
)

func TestRequestNoCacheAndNoStore(t *testing.T) {
	cache := newCache(t)
	app := newApp()
	app.Use(New(Config{Cache: cache, HonorRequestNoCache: true}))
	h, runs := counting("page")
	app.Get("/", h)
	app.Get("/cold", h)

	get(t, app, "/")
	r := get(t, app, "/", "Cache-Control", "no-cache")
	expect(t, "no-cache X-Cache", r.xcache(), "MISS")
	expect(t, "no-cache Cache-Status", r.cacheStatus(), "cachekit; fwd=request; stored")
	expect(t, "no-cache body", r.body, "page 2")
	r = get(t, app, "/")
	expect(t, "after no-cache", r.body, "page 2")
	expect(t, "after no-cache X-Cache", r.xcache(), "HIT")
	r = get(t, app, "/", "Pragma", "no-cache")
	expect(t, "Pragma: no-cache revalidates", r.body, "page 3")
	r = get(t, app, "/", "Cache-Control", "NO-CACHE")
	expect(t, "directive case", r.body, "page 4")

	r = get(t, app, "/cold", "Cache-Control", "no-store")
	expect(t, "no-store X-Cache", r.xcache(), "BYPASS")
	expect(t, "no-store Cache-Status", r.cacheStatus(), "cachekit; fwd=request; detail=no-store")
	r = get(t, app, "/cold")
	expect(t, "no-store stored nothing", r.xcache(), "MISS")
	r = get(t, app, "/cold", "Cache-Control", "max-age=0, No-Store")
	expect(t, "no-store is not served from the cache", r.xcache(), "BYPASS")
	expect(t, "runs", runs.Load(), int64(7))
}

// TestRequestNoCacheIgnored: by default a shared cache answers a hard
// reload from the cache (Varnish, nginx): no client can make every request
// render nor empty the hot layer.
func TestRequestNoCacheIgnored(t *testing.T) {
	cache := newCache(t)
	app := newApp()
	app.Use(New(Config{Cache: cache}))
	h, runs := counting("page")
	app.Get("/", h)
	get(t, app, "/")
	for _, hdr := range [][]string{
		{"Cache-Control", "no-cache"},
		{"Pragma", "no-cache"},
		{"Cache-Control", "NO-CACHE, max-age=0"},
		{"Cache-Control", "max-age=0"},
		{"Cache-Control", "no-cache", "Pragma", "no-cache"},
	} {
		r := get(t, app, "/", hdr...)
		expect(t, strings.Join(hdr, " ")+" X-Cache", r.xcache(), "HIT")
		expect(t, strings.Join(hdr, " ")+" body", r.body, "page 1")
	}
	expect(t, "runs", runs.Load(), int64(1))
}

func TestPerUserHeader(t *testing.T) {
	cache := newCache(t)
	app := newApp()
	app.Use(New(Config{Cache: cache, UserHeader: "Authorization", CacheControl: true}))
	app.Get("/", func(c *fiber.Ctx) error { return c.SendString("hi " + c.Get("Authorization")) })
	get(t, app, "/", "Authorization", "Bearer a")
	r := get(t, app, "/", "Authorization", "Bearer a")
	expect(t, "user a hit", r.body, "hi Bearer a")
	expect(t, "user a X-Cache", r.xcache(), "HIT")
	if cc := r.header.Get("Cache-Control"); !strings.HasPrefix(cc, "private, max-age=") {
		t.Errorf("a per-user page went downstream as %q", cc)
	}
	r = get(t, app, "/", "Authorization", "Bearer b")
	expect(t, "user b", r.body, "hi Bearer b")
	r = get(t, app, "/")
	expect(t, "anonymous", r.body, "hi ")
}
