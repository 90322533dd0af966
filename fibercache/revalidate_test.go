package fibercache

import (
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
)

// TestRevalidation: under Strict, a stale page with the handler's own
// validator is revalidated: the handler sees the stored validator, and a
// handler that answers 304 (c.Fresh) skips its render while the stored
// body is served with the headers the 304 updated; a changed page replaces
// it; pages without a validator of their own are not kept stale.
func TestRevalidation(t *testing.T) {
	cases := []struct {
		name       string
		etag, lm   string
		changed    bool // the page changed: the handler answers 200
		wantRender int64
		wantBody   string
		wantXCache string
		wantHeader string // X-Version on the third response
	}{
		{"etag 304", `"v1"`, "", false, 1, "body 1", "HIT", "2"},
		{"last-modified 304", "", "Mon, 01 Jun 2026 00:00:00 GMT", false, 1, "body 1", "HIT", "2"},
		{"etag changed", `"v1"`, "", true, 2, "body 2", "MISS", "2"},
		{"no validator: not kept", "", "", false, 2, "body 2", "MISS", "2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			inBubble(t, func(t *testing.T) {
				app := newApp()
				app.Use(New(Config{Cache: newCache(t), Strict: true}))
				var renders, version atomic.Int64
				var sawINM, sawIMS atomic.Value
				app.Get("/", func(c *fiber.Ctx) error {
					v := version.Add(1)
					sawINM.Store(strings.Clone(c.Get(fiber.HeaderIfNoneMatch)))
					sawIMS.Store(strings.Clone(c.Get(fiber.HeaderIfModifiedSince)))
					c.Set(fiber.HeaderCacheControl, "max-age=10")
					c.Set("X-Version", strconv.FormatInt(v, 10))
					if tc.etag != "" {
						c.Set(fiber.HeaderETag, tc.etag)
					}
					if tc.lm != "" {
						c.Set(fiber.HeaderLastModified, tc.lm)
					}
					if !tc.changed && c.Fresh() {
						return c.SendStatus(fiber.StatusNotModified)
					}
					return c.SendString("body " + strconv.FormatInt(renders.Add(1), 10))
				})
				expect(t, "first", get(t, app, "/").xcache(), "MISS")
				expect(t, "fresh hit", get(t, app, "/").xcache(), "HIT")
				time.Sleep(11 * time.Second)
				r := get(t, app, "/", fiber.HeaderIfNoneMatch, `"client"`)
				expect(t, "X-Cache when stale", r.xcache(), tc.wantXCache)
				expect(t, "body", r.body, tc.wantBody)
				expect(t, "status", r.status, 200)
				expect(t, "renders", renders.Load(), tc.wantRender)
				expect(t, "X-Version updated", r.header.Get("X-Version"), tc.wantHeader)
				if tc.etag != "" {
					expect(t, "If-None-Match the handler saw", sawINM.Load(), tc.etag)
				} else if tc.lm != "" {
					expect(t, "If-Modified-Since the handler saw", sawIMS.Load(), tc.lm)
					expect(t, "no If-None-Match", sawINM.Load(), "")
				} else {
					expect(t, "the client's If-None-Match reached the handler", sawINM.Load(), `"client"`)
				}
				// Fresh again for 10 s: a hit, with the updated header.
				r = get(t, app, "/")
				if tc.wantXCache == "HIT" || tc.changed {
					expect(t, "after revalidation", r.xcache(), "HIT")
					expect(t, "X-Version on the hit", r.header.Get("X-Version"), "2")
				}
				expect(t, "renders at the end", renders.Load(), tc.wantRender)
			})
		})
	}
}

// A 304 keeps the stored page's tags: InvalidateTags still reaches the
// refreshed page.
func TestRevalidationKeepsTags(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		cache := newCache(t)
		app := newApp()
		app.Use(New(Config{Cache: cache, Strict: true}))
		var renders atomic.Int64
		app.Get("/", func(c *fiber.Ctx) error {
			c.Set(fiber.HeaderCacheControl, "max-age=10")
			c.Set(fiber.HeaderETag, `"same"`)
			if c.Fresh() {
				return c.SendStatus(fiber.StatusNotModified)
			}
			Tag(c, "post:1")
			return c.SendString("body " + strconv.FormatInt(renders.Add(1), 10))
		})
		get(t, app, "/")
		time.Sleep(11 * time.Second)
		expect(t, "revalidated", get(t, app, "/").xcache(), "HIT")
		expect(t, "hit", get(t, app, "/").xcache(), "HIT")
		if err := cache.InvalidateTags("post:1"); err != nil {
			t.Fatal(err)
		}
		r := get(t, app, "/")
		expect(t, "after InvalidateTags", r.xcache(), "MISS")
		expect(t, "body", r.body, "body 2")
	})

}
