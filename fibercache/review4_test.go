package fibercache

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
)

// TestCacheControlHitOneExpires: with Config.CacheControl, a page whose
// handler set Expires but no Cache-Control is sent with our Cache-Control
// and one Expires, ours, on the miss and on every hit (the hot layer's
// prepared lines included): two Expires lines make the response expired
// for every cache downstream (RFC 9111 §5.3).
func TestCacheControlHitOneExpires(t *testing.T) {
	for _, front := range []bool{false, true} {
		app := newApp()
		if front { // a middleware in front already wrote a line
			app.Use(func(c *fiber.Ctx) error { c.Set("X-Request-Id", "r"); return c.Next() })
		}
		app.Use(New(Config{Cache: newCache(t), CacheControl: true}))
		app.Get("/", func(c *fiber.Ctx) error {
			c.Set("Expires", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat))
			c.Set("X-Frame-Options", "DENY")
			return c.SendString("page")
		})
		for i := range 4 {
			r := get(t, app, "/")
			if want := map[bool]string{true: "HIT", false: "MISS"}[i > 0]; r.xcache() != want {
				t.Fatalf("front %v, request %d: X-Cache %q, want %q", front, i, r.xcache(), want)
			}
			if exp := r.header.Values("Expires"); len(exp) != 1 {
				t.Errorf("front %v, request %d (%s): Expires lines %q, want one", front, i, r.xcache(), exp)
			}
			if cc := r.header.Values("Cache-Control"); len(cc) != 1 || !strings.HasPrefix(cc[0], "public, max-age=") {
				t.Errorf("front %v, request %d: Cache-Control %q", front, i, cc)
			}
			expect(t, "X-Frame-Options", strings.Join(r.header.Values("X-Frame-Options"), ","), "DENY")
		}
	}
}
