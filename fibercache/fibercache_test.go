package fibercache

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/gofiber/fiber/v2"
)

func TestCredentialedAndPublic(t *testing.T) {
	cache := newCache(t)
	app := newApp()
	app.Use(New(Config{Cache: cache}))
	var runs atomic.Int64
	app.Get("/public", func(c *fiber.Ctx) error {
		c.Set("Cache-Control", "public, max-age=60")
		return c.SendString(fmt.Sprint("public ", runs.Add(1)))
	})
	app.Get("/plain", func(c *fiber.Ctx) error {
		return c.SendString(fmt.Sprint("plain ", runs.Add(1)))
	})
	r := get(t, app, "/public", "Authorization", "Bearer x")
	expect(t, "public with Authorization stored", r.cacheStatus(), "cachekit; fwd=uri-miss; stored")
	expect(t, "anonymous gets it", get(t, app, "/public").body, "public 1")
	r = get(t, app, "/public", "Cookie", "sid=1")
	expect(t, "a public page serves credentialed requests", r.xcache(), "HIT")

	get(t, app, "/plain")
	expect(t, "anonymous hit", get(t, app, "/plain").xcache(), "HIT")
	r = get(t, app, "/plain", "Cookie", "sid=1")
	expect(t, "credentialed request is not served a non-public page", r.xcache(), "BYPASS")
	expect(t, "credentialed detail", r.cacheStatus(), "cachekit; fwd=bypass; detail=credentials")
	r = get(t, app, "/plain", "Cookie", "_ga=GA1.2.3; _gid=x; cookieconsent_status=dismiss")
	expect(t, "harmless cookies share the page", r.xcache(), "HIT")
}

func TestNextSkips(t *testing.T) {
	cache := newCache(t)
	app := newApp()
	app.Use(New(Config{Cache: cache, Next: func(c *fiber.Ctx) bool { return c.Query("nocache") != "" }}))
	h, runs := counting("x")
	app.Get("/", h)
	get(t, app, "/?nocache=1")
	r := get(t, app, "/?nocache=1")
	expect(t, "no X-Cache when skipped", r.xcache(), "")
	expect(t, "runs", runs.Load(), int64(2))
}

func TestPageInsideSiteWide(t *testing.T) {
	cache := newCache(t)
	app := newApp()
	app.Use(New(Config{Cache: cache, TTL: time.Hour}))
	h, runs := counting("x")
	app.Get("/short", Page(30*time.Second, Config{Cache: cache, KeyPrefix: "page"}), h)
	get(t, app, "/short")
	r := get(t, app, "/short")
	expect(t, "X-Cache", r.xcache(), "HIT")
	if ttl := ttlOf(t, r); ttl > 30 {
		t.Errorf("the site-wide TTL (%d) won over the route's", ttl)
	}
	expect(t, "one X-Cache header", len(r.header.Values("X-Cache")), 1)
	expect(t, "runs", runs.Load(), int64(1))
}

// failingStore fails every operation.
type failingStore struct{}

func (failingStore) Get(string) ([]byte, error) { return nil, errors.New("store down") }

func (failingStore) Set(string, []byte, time.Duration) error { return errors.New("store down") }

func (failingStore) Delete(string) error { return errors.New("store down") }

func (failingStore) Reset() error { return nil }

func (failingStore) Close() error { return nil }

func TestStorageErrorsNeverFailAPage(t *testing.T) {
	cache := cachekit.New(cachekit.Config{Storage: failingStore{}, ErrorLogInterval: time.Hour})
	app := newApp()
	app.Use(New(Config{Cache: cache}))
	h, runs := counting("page")
	app.Get("/", h)
	for i := 1; i <= 3; i++ {
		r := get(t, app, "/")
		expect(t, "status", r.status, 200)
		expect(t, "body", r.body, fmt.Sprint("page ", i))
		expect(t, "X-Cache", r.xcache(), "MISS")
	}
	expect(t, "runs", runs.Load(), int64(3))
	if err := InvalidatePath(cache, "/"); err == nil {
		t.Errorf("InvalidatePath on a failing store reported success")
	}
}
