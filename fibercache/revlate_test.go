package fibercache

import (
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
)

// TestHitETagReplacesOuterETag: a middleware in front of the cache that
// set an ETag (fasthttp's Set spells it "Etag") gets the page's in its
// place on a hit, as on the miss, whose handler set its own: one ETag,
// never the outer one beside the page's.
func TestHitETagReplacesOuterETag(t *testing.T) {
	app := newApp()
	app.Use(func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderETag, `"outer"`)
		return c.Next()
	})
	app.Use(New(Config{Cache: newCache(t), TTL: time.Hour}))
	app.Get("/p", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderETag, `"page"`)
		return c.SendString("body")
	})
	r1 := get(t, app, "/p")
	r2 := get(t, app, "/p")
	expect(t, "second x-cache", r2.xcache(), "HIT")
	expect(t, "miss etags", strings.Join(r1.header.Values("Etag"), ","), `"page"`)
	expect(t, "hit etags", strings.Join(r2.header.Values("Etag"), ","), `"page"`)
	r3 := get(t, app, "/p", "If-None-Match", `"page"`)
	expect(t, "304 status", r3.status, 304)
	expect(t, "304 etags", strings.Join(r3.header.Values("Etag"), ","), `"page"`)
}
