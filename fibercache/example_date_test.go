package fibercache_test

import (
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/fibercache"
	"github.com/gofiber/fiber/v2"
)

// Hits carry the stored Date when the app leaves Date to the cache
// (fiber.Config.DisableDefaultDate); fasthttp otherwise writes the time of
// serving on every response.
func ExampleNew_disableDefaultDate() {
	app := fiber.New(fiber.Config{DisableDefaultDate: true})
	app.Use(fibercache.New(fibercache.Config{Cache: cachekit.New(cachekit.Config{}), Strict: true}))
	app.Get("/", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderCacheControl, "max-age=3600")
		return c.SendString("page")
	})
	var first string
	for i := 0; i < 2; i++ {
		resp, err := app.Test(httptest.NewRequest("GET", "/", nil))
		if err != nil {
			fmt.Println(err)
			return
		}
		date := resp.Header.Get(fiber.HeaderDate)
		if i == 0 {
			first = date
			_, err := time.Parse(time.RFC1123, date)
			fmt.Println(resp.Header.Get("X-Cache"), "has a Date:", err == nil)
			time.Sleep(1100 * time.Millisecond)
			continue
		}
		fmt.Println(resp.Header.Get("X-Cache"), "same Date as stored:", date == first)
	}
	// Output:
	// MISS has a Date: true
	// HIT same Date as stored: true
}
