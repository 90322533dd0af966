package fibercache

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/gofiber/fiber/v2"
)

// Cache.Clear reaches cached pages: the next request renders afresh, on the
// embedded store (hot layer on) as on any other.
func TestClearDropsPages(t *testing.T) {
	cache := newCache(t)
	app := newApp()
	app.Use(New(Config{Cache: cache}))
	var runs atomic.Int64
	app.Get("/p", func(c *fiber.Ctx) error { return c.SendString(fmt.Sprint("page ", runs.Add(1))) })
	get(t, app, "/p")
	get(t, app, "/p")
	expect(t, "hit before Clear", get(t, app, "/p").body, "page 1")
	if err := cache.Clear(); err != nil {
		t.Fatal(err)
	}
	r := get(t, app, "/p")
	expect(t, "after Clear", r.xcache(), "MISS")
	expect(t, "rendered afresh", r.body, "page 2")
	expect(t, "stored again", get(t, app, "/p").xcache(), "HIT")
}
