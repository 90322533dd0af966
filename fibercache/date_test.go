package fibercache

import (
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/proxy"
)

// With fiber.Config{DisableDefaultDate: true}, hits carry the Date the page
// was stored with (RFC 9111: a cache does not update Date), with Age
// counting from it, and every response the middleware handles has a Date.
func TestHitsCarryStoredDate(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		app := fiber.New(fiber.Config{DisableStartupMessage: true, DisableDefaultDate: true})
		app.Use(New(Config{Cache: newCache(t), TTL: time.Hour}))
		h, _ := counting("p")
		app.Get("/", h)
		app.Get("/private", func(c *fiber.Ctx) error {
			c.Set(fiber.HeaderCacheControl, "private")
			return c.SendString("mine")
		})
		first := get(t, app, "/")
		d := first.header.Get(fiber.HeaderDate)
		if _, err := http.ParseTime(d); err != nil {
			t.Fatalf("the miss's Date %q: %v", d, err)
		}
		time.Sleep(5 * time.Second)
		r := get(t, app, "/")
		expect(t, "X-Cache", r.xcache(), "HIT")
		expect(t, "Date lines on the hit", len(r.header.Values(fiber.HeaderDate)), 1)
		expect(t, "the hit's Date is the stored one", r.header.Get(fiber.HeaderDate), d)
		expect(t, "Age", r.header.Get(fiber.HeaderAge), "5")
		r = get(t, app, "/", fiber.HeaderIfNoneMatch, first.header.Get(fiber.HeaderETag))
		expect(t, "304 from the cache", r.status, fiber.StatusNotModified)
		expect(t, "the 304's Date", r.header.Get(fiber.HeaderDate), d)
		r = get(t, app, "/private")
		expect(t, "not stored", r.cacheStatus(), "cachekit; fwd=uri-miss; detail=private")
		expect(t, "a bypass has a Date", r.header.Get(fiber.HeaderDate), time.Now().UTC().Format(http.TimeFormat))
	})
}

// Behind a reverse proxy, the upstream's Date is stored and sent on hits;
// without DisableDefaultDate, fasthttp writes the serve time, once.
func TestUpstreamDateOnHits(t *testing.T) {
	base := dateOrigin(t)
	for _, own := range []bool{true, false} {
		t.Run("DisableDefaultDate="+strconv.FormatBool(own), func(t *testing.T) {
			app := fiber.New(fiber.Config{DisableStartupMessage: true, DisableDefaultDate: own})
			app.Use(New(Config{Cache: newCache(t)}))
			app.Use(func(c *fiber.Ctx) error { return proxy.Do(c, base+c.OriginalURL()) })
			upstream := time.Now().Add(-10 * time.Second).UTC().Format(http.TimeFormat)
			q := "/x?d=" + url.QueryEscape(upstream)
			get(t, app, q)
			r := get(t, app, q)
			expect(t, "X-Cache", r.xcache(), "HIT")
			expect(t, "Date lines", len(r.header.Values(fiber.HeaderDate)), 1)
			if own {
				expect(t, "the upstream's Date", r.header.Get(fiber.HeaderDate), upstream)
			} else if r.header.Get(fiber.HeaderDate) == upstream {
				t.Errorf("without DisableDefaultDate fasthttp writes its own Date, got the upstream's %q", upstream)
			}
			if a, _ := strconv.Atoi(r.header.Get(fiber.HeaderAge)); a < 10 || a > 40 {
				t.Errorf("Age = %d, want about 10 (from the upstream Date)", a)
			}
		})
	}
}
