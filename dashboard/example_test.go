package dashboard_test

import (
	"fmt"
	"net/http/httptest"
	"os"
	"strings"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/dashboard"
	"github.com/cachekit/cachekit/fibercache"
	"github.com/gofiber/fiber/v2"
)

// The page in one line: the cache-wide figures, and the invalidate forms
// when a Token is set (mount the handler for POST as well).
func ExampleNew() {
	cache := cachekit.Default()
	h := dashboard.New(dashboard.Config{Cache: cache, Token: os.Getenv("CACHE_TOKEN")})

	app := fiber.New()
	app.Get("/_cache", h)
	app.Post("/_cache", h)

	res, _ := app.Test(httptest.NewRequest("GET", "/_cache", nil))
	fmt.Println(res.StatusCode, res.Header.Get("Content-Type"), res.Header.Get("Cache-Control"))
	// Output: 200 text/html; charset=utf-8 no-store
}

// The whole setup: a Recorder in front of the site-wide page cache counts
// each response under its route pattern, and its Observe counts {{cache}}
// blocks.
func Example() {
	mem, _ := cachekit.NewMemory(cachekit.MemoryConfig{MaxBytes: 64 << 20})
	rec := dashboard.NewRecorder(dashboard.RecorderConfig{Interval: 10 * time.Second, History: 60})
	cache := cachekit.New(cachekit.Config{Storage: mem, Observe: rec.Observe})
	defer cache.Close()

	app := fiber.New()
	app.Use(rec.Handler()) // in front of the page cache
	app.Use(fibercache.New(fibercache.Config{
		Cache: cache,
		Next:  func(c *fiber.Ctx) bool { return strings.HasPrefix(c.Path(), "/_cache") },
	}))
	app.Get("/c/:slug", func(c *fiber.Ctx) error { return c.SendString("category " + c.Params("slug")) })

	h := dashboard.New(dashboard.Config{Cache: cache, Memory: mem, Recorder: rec, Token: "change-me"})
	app.Get("/_cache", h)
	app.Post("/_cache", h)

	for _, path := range []string{"/c/lamps", "/c/lamps", "/c/mugs"} {
		res, _ := app.Test(httptest.NewRequest("GET", path, nil))
		fmt.Println(path, res.Header.Get("X-Cache"))
	}
	fmt.Printf("%+v\n", rec.Routes()["GET /c/:slug"])
	// Output:
	// /c/lamps MISS
	// /c/lamps HIT
	// /c/mugs MISS
	// {Hit:1 Stale:0 Miss:2 Bypass:0}
}
