package loader_test

import (
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/fibercache"
	"github.com/cachekit/cachekit/loader"
	"github.com/gofiber/fiber/v2"
)

// Development mode behind a page cache: Watch in front of fibercache, on
// the engine's Cache, so a template edit reaches the next request even
// when the cache holds the page.
func ExampleEngine_Watch() {
	dir, _ := os.MkdirTemp("", "views")
	defer os.RemoveAll(dir)
	page := filepath.Join(dir, "home.html")
	os.WriteFile(page, []byte("<p>version 1</p>"), 0o644)

	cache := cachekit.New(cachekit.Config{})
	engine := loader.New(dir, ".html").Cache(cache)
	engine.Reload(true) // development

	app := fiber.New(fiber.Config{Views: engine})
	app.Use(engine.Watch())
	app.Use(fibercache.New(fibercache.Config{Cache: cache, TTL: time.Hour}))
	app.Get("/", func(c *fiber.Ctx) error { return c.Render("home", fiber.Map{}) })

	get := func() {
		resp, err := app.Test(httptest.NewRequest("GET", "/", nil))
		if err != nil {
			panic(err)
		}
		body, _ := io.ReadAll(resp.Body)
		fmt.Println(resp.Header.Get("X-Cache"), string(body))
	}
	get()
	get()
	os.WriteFile(page, []byte("<p>version 2</p>"), 0o644)
	get()
	// Output:
	// MISS <p>version 1</p>
	// HIT <p>version 1</p>
	// MISS <p>version 2</p>
}
