package dashboard_test

import (
	"strings"
	"testing"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/dashboard"
	"github.com/cachekit/cachekit/fibercache"
	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// What the Recorder adds to a page-cache hit: the same site-wide hit with
// and without it in front, served through the app's fasthttp handler.
func BenchmarkHit(b *testing.B) {
	for _, withRecorder := range []bool{false, true} {
		name := "fibercache"
		if withRecorder {
			name = "fibercache+recorder"
		}
		b.Run(name, func(b *testing.B) {
			mem, err := cachekit.NewMemory(cachekit.MemoryConfig{MaxBytes: 8 << 20})
			if err != nil {
				b.Fatal(err)
			}
			rec := dashboard.NewRecorder()
			cache := cachekit.New(cachekit.Config{Storage: mem, Observe: rec.Observe})
			defer cache.Close()
			app := fiber.New()
			if withRecorder {
				app.Use(rec.Handler())
			}
			app.Use(fibercache.New(fibercache.Config{Cache: cache, TTL: time.Hour}))
			for _, p := range []string{"/", "/c/:slug", "/p/:id", "/a/:x/b/:y", "/about"} {
				app.Get(p, func(c *fiber.Ctx) error { return c.SendString(strings.Repeat("page ", 200)) })
			}
			h := app.Handler()
			var ctx fasthttp.RequestCtx
			serve := func() {
				ctx.Request.Reset()
				ctx.Response.Reset()
				ctx.Request.SetRequestURI("/c/lamps")
				ctx.Request.Header.SetHost("example.com")
				h(&ctx)
			}
			for i := 0; i < 50 && string(ctx.Response.Header.Peek("X-Cache")) != "HIT"; i++ {
				serve()
				time.Sleep(time.Millisecond)
			}
			if x := string(ctx.Response.Header.Peek("X-Cache")); x != "HIT" {
				b.Fatalf("X-Cache %q %q", x, ctx.Response.Header.Peek("Cache-Status"))
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				serve()
			}
			b.StopTimer()
			if withRecorder && rec.Routes()["GET /c/:slug"].Hit < uint64(b.N) {
				b.Fatalf("hits not counted under the route: %v", rec.Routes())
			}
		})
	}
}
