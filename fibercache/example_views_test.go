package fibercache_test

import (
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/fibercache"
	"github.com/gofiber/fiber/v2"
)

// Django's view helpers: cache_control, never_cache and patch_vary_headers
// in their Fiber spelling. The page is kept 10 minutes here and 1 minute
// in browsers; /account is kept nowhere.
func ExampleCacheControl() {
	app := fiber.New()
	cache := cachekit.New(cachekit.Config{})
	app.Get("/p", fibercache.Page(10*time.Minute, fibercache.Config{Cache: cache}), func(c *fiber.Ctx) error {
		fibercache.CacheControl(c, "public", "max-age=60")
		fibercache.PatchVary(c, fiber.HeaderAcceptLanguage)
		return c.SendString("product")
	})
	app.Get("/account", fibercache.Page(10*time.Minute, fibercache.Config{Cache: cache}), func(c *fiber.Ctx) error {
		fibercache.NeverCache(c)
		return c.SendString("yours")
	})
	for _, target := range []string{"/p", "/p", "/account", "/account"} {
		resp, err := app.Test(httptest.NewRequest("GET", target, nil))
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%s %s | %s | Vary %q\n", target, resp.Header.Get("X-Cache"), resp.Header.Get("Cache-Control"), resp.Header.Get("Vary"))
	}
	// Output:
	// /p MISS | public, max-age=60 | Vary "Accept-Language"
	// /p HIT | public, max-age=60 | Vary "Accept-Language"
	// /account MISS | max-age=0, no-cache, no-store, must-revalidate, private | Vary ""
	// /account MISS | max-age=0, no-cache, no-store, must-revalidate, private | Vary ""
}

// Strict: only what the response allows is stored, as RFC 9111 has a
// shared cache do. A page without freshness is not kept; one with max-age
// is, and its upstream Age counts.
func ExampleConfig_strict() {
	app := fiber.New()
	app.Use(fibercache.New(fibercache.Config{Cache: cachekit.New(cachekit.Config{}), Strict: true}))
	app.Get("/plain", func(c *fiber.Ctx) error { return c.SendString("no freshness") })
	app.Get("/fresh", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderCacheControl, "max-age=3600")
		c.Set(fiber.HeaderAge, "600") // already 10 minutes old upstream
		return c.SendString("fresh")
	})
	for _, target := range []string{"/plain", "/plain", "/fresh", "/fresh"} {
		resp, err := app.Test(httptest.NewRequest("GET", target, nil))
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(target, resp.Header.Get("X-Cache"), resp.Header.Get("Cache-Status"))
	}
	// Output:
	// /plain MISS cachekit; fwd=uri-miss; detail=no-freshness
	// /plain MISS cachekit; fwd=uri-miss; detail=uncacheable
	// /fresh MISS cachekit; fwd=uri-miss; stored
	// /fresh HIT cachekit; hit; ttl=3000
}
