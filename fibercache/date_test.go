package fibercache

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/proxy"
	"github.com/valyala/fasthttp"
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

// TestHitAllocsWithOwnDate: a page hit allocates nothing, whether fasthttp
// writes the Date or the middleware sends the stored one
// (DisableDefaultDate), request parsed and response written.
func TestHitAllocsWithOwnDate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's sync.Pool drops items: allocations vary")
	}
	for _, own := range []bool{false, true} {
		app := fiber.New(fiber.Config{DisableStartupMessage: true, DisableDefaultDate: own})
		app.Use(New(Config{Cache: newCache(t), TTL: time.Hour}))
		app.Get("/blog", renderPage)
		h := app.Handler()
		warmAnswer(t, h, benchBrowserRequest)
		raw := []byte(benchBrowserRequest)
		rd := bytes.NewReader(raw)
		br := bufio.NewReader(rd)
		bw := bufio.NewWriter(io.Discard)
		var ctx fasthttp.RequestCtx
		ctx.Init(&fasthttp.Request{}, nil, nil)
		serveOne := func() {
			ctx.Request.Reset()
			ctx.Response.Reset()
			ctx.ResetUserValues()
			rd.Reset(raw)
			br.Reset(rd)
			if err := ctx.Request.Read(br); err != nil {
				t.Fatal(err)
			}
			h(&ctx)
			if err := ctx.Response.Write(bw); err != nil {
				t.Fatal(err)
			}
			_ = bw.Flush()
		}
		serveOne()
		if x := string(ctx.Response.Header.Peek("X-Cache")); x != "HIT" {
			t.Fatalf("DisableDefaultDate %v: X-Cache %q", own, x)
		}
		if n := testing.AllocsPerRun(100, serveOne); n != 0 {
			t.Errorf("DisableDefaultDate %v: %v allocations per hit", own, n)
		}
	}
}

// TestStoredDateLineAsSetDate: the Date line sendStoredDate writes into the
// header list is the one setDate reads in, whatever Date lines the
// response had; values setDate would trim or refuse go through setDate.
func TestStoredDateLineAsSetDate(t *testing.T) {
	lv := newListView()
	for _, v := range []string{"Tue, 01 Dec 2026 15:21:29 GMT", "x", " padded ", "tab\t", "a:b", "\x01bad", ""} {
		for _, before := range [][][2]string{nil, {{"X-A", "a"}}, {{"Date", "old"}, {"X-B", "b"}}, {{"date", "lower"}}} {
			var a, b fasthttp.ResponseHeader
			for _, h := range []*fasthttp.ResponseHeader{&a, &b} {
				for _, kv := range before {
					h.Set(kv[0], kv[1])
				}
			}
			// before's Date lines: fasthttp's Set drops them; put them
			// in the list as a middleware in front could, read in.
			for _, kv := range before {
				if kv[0] == "Date" || kv[0] == "date" {
					setDate(&a, []byte(kv[1]))
					setDate(&b, []byte(kv[1]))
				}
			}
			if plainDateValue([]byte(v)) {
				if lv.hasLineFold(&a, "date") {
					a.Del(fiber.HeaderDate)
				}
				lv.appendLine(&a, "Date", []byte(v))
			} else {
				setDate(&a, []byte(v))
			}
			setDate(&b, []byte(v))
			// Every line (String leaves Date lines out without the
			// server's NoDefaultDate).
			lines := func(h *fasthttp.ResponseHeader) string {
				var s string
				h.VisitAll(func(k, v []byte) { s += string(k) + ": " + string(v) + "\n" })
				return s
			}
			if la, lb := lines(&a), lines(&b); la != lb {
				t.Errorf("value %q, before %q: %q, setDate %q", v, before, la, lb)
			}
		}
	}
}
