package fibercache

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

func TestHitMissHeaders(t *testing.T) {
	cache := newCache(t)
	app := newApp()
	app.Use(New(Config{Cache: cache}))
	h, runs := counting("page")
	app.Get("/", h)

	r1 := get(t, app, "/")
	expect(t, "first X-Cache", r1.xcache(), "MISS")
	expect(t, "first Cache-Status", r1.cacheStatus(), "cachekit; fwd=uri-miss; stored")
	if r1.header.Get("ETag") == "" || r1.header.Get("Last-Modified") == "" {
		t.Errorf("the render lacks the validators made at store time: %v", r1.header)
	}
	r2 := get(t, app, "/")
	expect(t, "second X-Cache", r2.xcache(), "HIT")
	if !regexp.MustCompile(`^cachekit; hit; ttl=60$`).MatchString(r2.cacheStatus()) {
		t.Errorf("hit Cache-Status = %q", r2.cacheStatus())
	}
	expect(t, "hit Age", r2.header.Get("Age"), "0")
	expect(t, "hit body", r2.body, "page 1")
	expect(t, "hit Content-Type", r2.header.Get("Content-Type"), "text/html")
	expect(t, "hit ETag", r2.header.Get("ETag"), r1.header.Get("ETag"))
	expect(t, "hit Last-Modified", r2.header.Get("Last-Modified"), r1.header.Get("Last-Modified"))
	expect(t, "runs", runs.Load(), int64(1))

	p := do(t, app, http.MethodPost, "/")
	expect(t, "POST X-Cache", p.xcache(), "BYPASS")
	expect(t, "POST Cache-Status", p.cacheStatus(), "cachekit; fwd=method")
}

func TestAgeGrows(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		cache := newCache(t)
		app := newApp()
		app.Use(New(Config{Cache: cache}))
		h, _ := counting("page")
		app.Get("/", h)
		get(t, app, "/")
		time.Sleep(1100 * time.Millisecond)
		r := get(t, app, "/")
		expect(t, "X-Cache", r.xcache(), "HIT")
		expect(t, "Age", r.header.Get("Age"), "1")
	})
}

func TestHeadFromGetEntry(t *testing.T) {
	cache := newCache(t)
	app := newApp()
	app.Use(New(Config{Cache: cache}))
	h, runs := counting(strings.Repeat("x", 100))
	app.Get("/", h)

	head := do(t, app, http.MethodHead, "/")
	expect(t, "cold HEAD X-Cache", head.xcache(), "MISS")
	expect(t, "cold HEAD Cache-Status", head.cacheStatus(), "cachekit; fwd=uri-miss; detail=head")
	g := get(t, app, "/")
	expect(t, "GET after a HEAD", g.xcache(), "MISS") // a HEAD stores nothing
	head = do(t, app, http.MethodHead, "/")
	expect(t, "HEAD X-Cache", head.xcache(), "HIT")
	expect(t, "HEAD body", head.body, "")
	expect(t, "HEAD Content-Length", head.header.Get("Content-Length"), strconv.Itoa(len(g.body)))
	expect(t, "HEAD ETag", head.header.Get("ETag"), g.header.Get("ETag"))
	expect(t, "runs", runs.Load(), int64(2))
}

func TestConditionalRequests(t *testing.T) {
	cache := newCache(t)
	app := newApp()
	app.Use(New(Config{Cache: cache}))
	h, runs := counting("page")
	app.Get("/", h)
	app.Get("/own", func(c *fiber.Ctx) error {
		c.Set("ETag", `W/"v7"`)
		c.Set("Last-Modified", "Mon, 02 Jan 2006 15:04:05 GMT")
		return c.SendString("own validators")
	})

	first := get(t, app, "/")
	etag := first.header.Get("ETag")
	if !regexp.MustCompile(`^W/"[A-Za-z0-9_-]{24}"$`).MatchString(etag) {
		t.Fatalf("made ETag %q is not a weak entity-tag", etag)
	}
	r := get(t, app, "/", "If-None-Match", etag)
	expect(t, "If-None-Match status", r.status, 304)
	expect(t, "304 body", r.body, "")
	expect(t, "304 ETag", r.header.Get("ETag"), etag)
	expect(t, "304 X-Cache", r.xcache(), "HIT")
	r = get(t, app, "/", "If-None-Match", `"other", `+etag)
	expect(t, "weak match in a list", r.status, 304)
	r = get(t, app, "/", "If-None-Match", `"other", `+strings.TrimPrefix(etag, "W/"))
	expect(t, "weak comparison ignores W/", r.status, 304)
	r = get(t, app, "/", "If-None-Match", `"other"`)
	expect(t, "no match", r.status, 200)
	r = get(t, app, "/", "If-None-Match", `*`)
	expect(t, "If-None-Match: *", r.status, 304)

	lm := first.header.Get("Last-Modified")
	r = get(t, app, "/", "If-Modified-Since", lm)
	expect(t, "If-Modified-Since = Last-Modified", r.status, 304)
	later := time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
	r = get(t, app, "/", "If-Modified-Since", later)
	expect(t, "If-Modified-Since later", r.status, 304)
	r = get(t, app, "/", "If-Modified-Since", "Mon, 02 Jan 2006 15:04:05 GMT")
	expect(t, "If-Modified-Since earlier", r.status, 200)
	// If-None-Match wins over If-Modified-Since.
	r = get(t, app, "/", "If-None-Match", `"other"`, "If-Modified-Since", later)
	expect(t, "If-None-Match wins", r.status, 200)
	expect(t, "runs", runs.Load(), int64(1))

	get(t, app, "/own")
	r = get(t, app, "/own", "If-None-Match", `"v7"`)
	expect(t, "handler's weak ETag, weak comparison", r.status, 304)
	expect(t, "handler's ETag kept", r.header.Get("ETag"), `W/"v7"`)
	r = get(t, app, "/own", "If-Modified-Since", "Mon, 02 Jan 2006 15:04:05 GMT")
	expect(t, "handler's Last-Modified", r.status, 304)
}

func TestDownstreamCacheControl(t *testing.T) {
	cache := newCache(t)
	app := newApp()
	app.Use(New(Config{Cache: cache, TTL: 2 * time.Minute, CacheControl: true}))
	app.Get("/", func(c *fiber.Ctx) error { return c.SendString("x") })
	app.Get("/own", func(c *fiber.Ctx) error {
		c.Set("Cache-Control", "max-age=30, must-revalidate")
		return c.SendString("own")
	})
	for i := 0; i < 2; i++ {
		r := get(t, app, "/")
		if !regexp.MustCompile(`^public, max-age=(119|120)$`).MatchString(r.header.Get("Cache-Control")) {
			t.Errorf("Cache-Control %q", r.header.Get("Cache-Control"))
		}
		if exp, err := http.ParseTime(r.header.Get("Expires")); err != nil || time.Until(exp) < 110*time.Second {
			t.Errorf("Expires %q", r.header.Get("Expires"))
		}
		r = get(t, app, "/own")
		expect(t, "handler's own Cache-Control", r.header.Get("Cache-Control"), "max-age=30, must-revalidate")
	}
	app2 := newApp()
	app2.Use(New(Config{Cache: cache, KeyPrefix: "off"}))
	app2.Get("/", func(c *fiber.Ctx) error { return c.SendString("x") })
	get(t, app2, "/")
	expect(t, "off by default", get(t, app2, "/").header.Get("Cache-Control"), "")
}

// TestAppendHTTPDate: appendHTTPDate writes what time's AppendFormat with
// http.TimeFormat writes, across the calendar (leap days, century years,
// year ends) and outside its range.
func TestAppendHTTPDate(t *testing.T) {
	us := []int64{0, 1, 59, 60, 3599, 3600, 86399, 86400, 951782400, 951868800, 4107542400, 4107628800,
		946684799, 946684800, 1709164800, 1709251199, 253402300799, 253402300800, -1, -86401, 1 << 40}
	for u := int64(0); u < 253402300800; u += 86400*97 + 3607 {
		us = append(us, u)
	}
	for _, u := range us {
		want := time.Unix(u, 0).UTC().AppendFormat([]byte("x"), http.TimeFormat)
		if got := appendHTTPDate([]byte("x"), u); string(got) != string(want) {
			t.Fatalf("appendHTTPDate(%d) = %q, want %q", u, got, want)
		}
	}
}

func FuzzAppendHTTPDate(f *testing.F) {
	f.Add(int64(0))
	f.Add(int64(1764601289))
	f.Add(int64(253402300799))
	f.Fuzz(func(t *testing.T, u int64) {
		want := time.Unix(u, 0).UTC().AppendFormat(nil, http.TimeFormat)
		if got := appendHTTPDate(nil, u); string(got) != string(want) {
			t.Fatalf("appendHTTPDate(%d) = %q, want %q", u, got, want)
		}
	})
}

// TestDownstreamSecondsAsSetCanonical: downstreamSeconds sets Cache-Control
// and Expires as SetCanonical of their values did, on a response that had
// them (or others) already or not, through the list view and without it.
func TestDownstreamSecondsAsSetCanonical(t *testing.T) {
	now := time.Date(2026, 12, 1, 15, 21, 29, 999e6, time.UTC)
	for _, lv := range []listView{newListView(), {}} {
		m := &middleware{list: lv}
		for _, before := range [][][2]string{nil, {{"Expires", "0"}, {"X-A", "a"}}, {{"Cache-Control", "no-store"}}} {
			for _, flags := range []byte{0, flagPerUser} {
				for _, secs := range []int64{0, 59, 3600, 31536000} {
					app := fiber.New()
					c := app.AcquireCtx(new(fasthttp.RequestCtx))
					var want fasthttp.ResponseHeader
					for _, kv := range before {
						c.Response().Header.Set(kv[0], kv[1])
						want.Set(kv[0], kv[1])
					}
					m.downstreamSeconds(c, flags, secs, now)
					cc := "public, max-age="
					if flags&flagPerUser != 0 {
						cc = "private, max-age="
					}
					want.SetCanonical([]byte("Cache-Control"), []byte(cc+strconv.FormatInt(secs, 10)))
					want.SetCanonical([]byte("Expires"), []byte(now.Add(time.Duration(secs)*time.Second).Format(http.TimeFormat)))
					if got := c.Response().Header.String(); got != want.String() {
						t.Errorf("before %q, flags %d, %d s: %q, want %q", before, flags, secs, got, want.String())
					}
					app.ReleaseCtx(c)
				}
			}
		}
	}
}
