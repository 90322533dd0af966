package fibercache

import (
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
)

func TestProbeReval304(t *testing.T) {
	for _, add := range []string{"Set-Cookie", "private", "no-store", "vary", "cdn-public"} {
		t.Run(add, func(t *testing.T) {
			inBubble(t, func(t *testing.T) {
				app := newApp()
				app.Use(New(Config{Cache: newCache(t), Strict: true}))
				var renders atomic.Int64
				app.Get("/", func(c *fiber.Ctx) error {
					c.Set(fiber.HeaderCacheControl, "max-age=10")
					c.Set(fiber.HeaderETag, `"v"`)
					if c.Fresh() {
						switch add {
						case "Set-Cookie":
							c.Cookie(&fiber.Cookie{Name: "sid", Value: "alice"})
						case "private":
							c.Set(fiber.HeaderCacheControl, "private, max-age=10")
						case "no-store":
							c.Set(fiber.HeaderCacheControl, "no-store")
						case "vary":
							c.Set(fiber.HeaderVary, "X-User")
						case "cdn-public":
							c.Set("CDN-Cache-Control", "public, max-age=100")
						}
						return c.SendStatus(304)
					}
					return c.SendString("body " + strconv.FormatInt(renders.Add(1), 10))
				})
				get(t, app, "/")
				time.Sleep(11 * time.Second)
				r := get(t, app, "/")
				t.Log("reval:", r.status, r.xcache(), r.cacheStatus(), r.header.Values("Set-Cookie"), r.header.Get("Cache-Control"), r.body)
				r = get(t, app, "/")
				t.Log("next:", r.status, r.xcache(), r.cacheStatus(), r.header.Values("Set-Cookie"), r.header.Get("Cache-Control"), r.body)
				r = get(t, app, "/", "Authorization", "x")
				t.Log("cred:", r.status, r.xcache(), r.cacheStatus(), r.body)
			})
		})
	}
}
