package fibercache_test

import (
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/fibercache"
	"github.com/gofiber/fiber/v2"
)

func show(app *fiber.App, target string, header ...string) {
	req := httptest.NewRequest("GET", target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := app.Test(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.StatusCode, resp.Header.Get("X-Cache"), "|", resp.Header.Get("Cache-Status"))
}

// The whole site: every GET page is cached for a minute, or for what its
// Cache-Control max-age says. Pages for signed-in users (a session cookie)
// and pages that set cookies are never stored.
func ExampleNew() {
	app := fiber.New()
	app.Use(fibercache.New(fibercache.Config{
		Cache: cachekit.New(cachekit.Config{}), // default: cachekit.Default()
	}))
	app.Get("/", func(c *fiber.Ctx) error {
		return c.SendString("home")
	})

	show(app, "/")
	show(app, "/")
	show(app, "/", "Cookie", "session=alice")
	// Output:
	// 200 MISS | cachekit; fwd=uri-miss; stored
	// 200 HIT | cachekit; hit; ttl=60
	// 200 BYPASS | cachekit; fwd=bypass; detail=credentials
}

// One route, five minutes, whatever the response's own max-age says;
// the page is tagged so that editing the post drops it.
func ExamplePage() {
	cache := cachekit.New(cachekit.Config{})
	app := fiber.New()
	app.Get("/post/:id", fibercache.Page(5*time.Minute, fibercache.Config{Cache: cache}), func(c *fiber.Ctx) error {
		fibercache.Tag(c, "post-"+c.Params("id"))
		return c.SendString("post " + c.Params("id"))
	})

	show(app, "/post/1")
	show(app, "/post/1")
	_ = cache.InvalidateTags("post-1") // the post was edited
	show(app, "/post/1")
	show(app, "/post/1")
	// Output:
	// 200 MISS | cachekit; fwd=uri-miss; stored
	// 200 HIT | cachekit; hit; ttl=300
	// 200 MISS | cachekit; fwd=uri-miss; stored
	// 200 HIT | cachekit; hit; ttl=300
}

// InvalidatePath drops every cached variant of a path: each query string,
// host, language and user.
func ExampleInvalidatePath() {
	cache := cachekit.New(cachekit.Config{})
	app := fiber.New()
	app.Use(fibercache.New(fibercache.Config{Cache: cache}))
	app.Get("/news", func(c *fiber.Ctx) error { return c.SendString("news") })

	show(app, "/news?page=2")
	show(app, "/news?page=2")
	_ = fibercache.InvalidatePath(cache, "/news")
	show(app, "/news?page=2")
	// Output:
	// 200 MISS | cachekit; fwd=uri-miss; stored
	// 200 HIT | cachekit; hit; ttl=60
	// 200 MISS | cachekit; fwd=uri-miss; stored
}

// Purge answers PURGE requests that carry the token.
func ExamplePurge() {
	cache := cachekit.New(cachekit.Config{})
	app := fiber.New(fiber.Config{RequestMethods: append(fiber.DefaultMethods, "PURGE")})
	app.Use(fibercache.Purge(fibercache.PurgeConfig{Cache: cache, Token: "s3cret"}))
	app.Use(fibercache.New(fibercache.Config{Cache: cache}))
	app.Get("/news", func(c *fiber.Ctx) error { return c.SendString("news") })

	show(app, "/news")
	for _, token := range []string{"guess", "s3cret"} {
		req := httptest.NewRequest("PURGE", "/news", nil)
		req.Header.Set("X-Purge-Token", token)
		resp, _ := app.Test(req)
		fmt.Println("PURGE with", token, resp.StatusCode)
	}
	show(app, "/news")
	// Output:
	// 200 MISS | cachekit; fwd=uri-miss; stored
	// PURGE with guess 403
	// PURGE with s3cret 200
	// 200 MISS | cachekit; fwd=uri-miss; stored
}
