package fibercache

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/compress"
)

// counting returns a handler that renders "<prefix> <n>" with n the number
// of runs so far, and the counter.
func counting(prefix string) (fiber.Handler, *atomic.Int64) {
	var n atomic.Int64
	return func(c *fiber.Ctx) error {
		c.Type("html")
		return c.SendString(fmt.Sprintf("%s %d", prefix, n.Add(1)))
	}, &n
}

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
	if !regexp.MustCompile(`^"[A-Za-z0-9_-]{24}"$`).MatchString(etag) {
		t.Fatalf("made ETag %q is not a strong entity-tag", etag)
	}
	r := get(t, app, "/", "If-None-Match", etag)
	expect(t, "If-None-Match status", r.status, 304)
	expect(t, "304 body", r.body, "")
	expect(t, "304 ETag", r.header.Get("ETag"), etag)
	expect(t, "304 X-Cache", r.xcache(), "HIT")
	r = get(t, app, "/", "If-None-Match", `"other", W/`+etag)
	expect(t, "weak match in a list", r.status, 304)
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

func TestRequestNoCacheAndNoStore(t *testing.T) {
	cache := newCache(t)
	app := newApp()
	app.Use(New(Config{Cache: cache}))
	h, runs := counting("page")
	app.Get("/", h)
	app.Get("/cold", h)

	get(t, app, "/")
	r := get(t, app, "/", "Cache-Control", "no-cache")
	expect(t, "no-cache X-Cache", r.xcache(), "MISS")
	expect(t, "no-cache Cache-Status", r.cacheStatus(), "cachekit; fwd=request; stored")
	expect(t, "no-cache body", r.body, "page 2")
	r = get(t, app, "/")
	expect(t, "after no-cache", r.body, "page 2")
	expect(t, "after no-cache X-Cache", r.xcache(), "HIT")
	r = get(t, app, "/", "Pragma", "no-cache")
	expect(t, "Pragma: no-cache revalidates", r.body, "page 3")
	r = get(t, app, "/", "Cache-Control", "NO-CACHE")
	expect(t, "directive case", r.body, "page 4")

	r = get(t, app, "/cold", "Cache-Control", "no-store")
	expect(t, "no-store X-Cache", r.xcache(), "BYPASS")
	expect(t, "no-store Cache-Status", r.cacheStatus(), "cachekit; fwd=request; detail=no-store")
	r = get(t, app, "/cold")
	expect(t, "no-store stored nothing", r.xcache(), "MISS")
	r = get(t, app, "/cold", "Cache-Control", "max-age=0, No-Store")
	expect(t, "no-store is not served from the cache", r.xcache(), "BYPASS")
	expect(t, "runs", runs.Load(), int64(7))
}

// ttlOf returns the ttl= of a hit's Cache-Status.
func ttlOf(t *testing.T, r result) int {
	t.Helper()
	m := regexp.MustCompile(`ttl=(-?\d+)`).FindStringSubmatch(r.cacheStatus())
	if m == nil {
		t.Fatalf("no ttl in Cache-Status %q", r.cacheStatus())
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

func TestResponseFreshness(t *testing.T) {
	cache := newCache(t)
	app := newApp()
	app.Use(New(Config{Cache: cache, TTL: time.Hour}))
	cc := func(v string) fiber.Handler {
		return func(c *fiber.Ctx) error {
			c.Set("Cache-Control", v)
			return c.SendString(v)
		}
	}
	app.Get("/max-age", cc("max-age=120"))
	app.Get("/s-maxage", cc("max-age=120, s-maxage=30"))
	app.Get("/odd", cc(`Public, MAX-AGE="90"`))
	app.Get("/zero", cc("max-age=0"))
	app.Get("/szero", cc("public, max-age=600, s-maxage=0"))
	app.Get("/none", func(c *fiber.Ctx) error { return c.SendString("none") })
	app.Get("/expires", func(c *fiber.Ctx) error {
		c.Set("Expires", time.Now().Add(45*time.Second).UTC().Format(http.TimeFormat))
		return c.SendString("expires")
	})
	app.Get("/expired", func(c *fiber.Ctx) error {
		c.Set("Expires", "0")
		return c.SendString("expired")
	})
	app.Get("/route", Page(10*time.Minute, Config{Cache: cache}), cc("max-age=5"))
	app.Get("/route-zero", Page(10*time.Minute, Config{Cache: cache}), cc("max-age=0"))

	for path, want := range map[string][2]int{
		"/max-age":  {115, 120},
		"/s-maxage": {25, 30},
		"/odd":      {85, 90},
		"/none":     {3595, 3600},
		"/expires":  {39, 45},
		"/route":    {595, 600},
	} {
		get(t, app, path)
		r := get(t, app, path)
		if r.xcache() != "HIT" {
			t.Errorf("%s: X-Cache %q, Cache-Status %q", path, r.xcache(), r.cacheStatus())
			continue
		}
		if ttl := ttlOf(t, r); ttl < want[0] || ttl > want[1] {
			t.Errorf("%s: ttl %d, want %d..%d", path, ttl, want[0], want[1])
		}
	}
	for _, path := range []string{"/zero", "/szero", "/expired", "/route-zero"} {
		get(t, app, path)
		r := get(t, app, path)
		if r.xcache() != "MISS" || strings.Contains(r.cacheStatus(), "stored") {
			t.Errorf("%s was stored: %q %q", path, r.xcache(), r.cacheStatus())
		}
	}
}

func TestTagsAndSurrogateKeys(t *testing.T) {
	cache := newCache(t)
	app := newApp()
	app.Use(New(Config{Cache: cache}))
	var runs atomic.Int64
	app.Get("/post/:id", func(c *fiber.Ctx) error {
		Tag(c, "post-"+c.Params("id"), "")
		c.Set("Surrogate-Key", "blog author-"+c.Params("id"))
		return c.SendString(fmt.Sprintf("post %s render %d", c.Params("id"), runs.Add(1)))
	})
	// warm reaches a HIT (a render under a tag born during that render is
	// not stored: the core cannot tell it from a concurrent invalidation).
	warm := func(path string) result {
		for i := 0; i < 3; i++ {
			if r := get(t, app, path); r.xcache() == "HIT" {
				return r
			}
		}
		t.Fatalf("%s never became a hit", path)
		return result{}
	}
	r := warm("/post/1")
	warm("/post/2")
	if v := r.header.Get("Surrogate-Key"); v != "" {
		t.Errorf("Surrogate-Key leaked to the client: %q", v)
	}
	first := r.body

	if err := cache.InvalidateTags("post-1"); err != nil {
		t.Fatal(err)
	}
	r = get(t, app, "/post/1")
	expect(t, "after InvalidateTags(Tag)", r.xcache(), "MISS")
	if r.body == first {
		t.Errorf("invalidated page served again")
	}
	if v := r.header.Get("Surrogate-Key"); v != "" {
		t.Errorf("Surrogate-Key leaked on a miss: %q", v)
	}
	expect(t, "other page untouched", get(t, app, "/post/2").xcache(), "HIT")

	warm("/post/1")
	if err := cache.InvalidateTags("blog"); err != nil { // a Surrogate-Key tag
		t.Fatal(err)
	}
	expect(t, "after InvalidateTags(Surrogate-Key) 1", get(t, app, "/post/1").xcache(), "MISS")
	expect(t, "after InvalidateTags(Surrogate-Key) 2", get(t, app, "/post/2").xcache(), "MISS")
}

func TestInvalidatePathDropsEveryVariant(t *testing.T) {
	cache := newCache(t)
	app := newApp()
	app.Use(New(Config{Cache: cache}))
	app.Use(New(Config{Cache: cache, KeyPrefix: "other"})) // another prefix, same path
	var runs atomic.Int64
	h := func(c *fiber.Ctx) error {
		c.Vary("Accept-Language")
		return c.SendString(fmt.Sprintf("%s %s %s %d", c.Hostname(), c.OriginalURL(), c.Get("Accept-Language"), runs.Add(1)))
	}
	app.Get("/blog/post", h)
	app.Get("/about", h)

	variants := [][]string{
		{"/blog/post"},
		{"/blog/post?page=2"},
		{"/blog/post", "Accept-Language", "fr"},
		{"/blog/post", "Host", "other.example"},
		{"/Blog/Post/"},
	}
	reqs := func() []result {
		var rs []result
		for _, v := range variants {
			rs = append(rs, get(t, app, v[0], v[1:]...))
		}
		return rs
	}
	reqs()
	reqs() // the second round learns nothing new...
	for i, r := range reqs() {
		expect(t, fmt.Sprintf("variant %d before", i), r.xcache(), "HIT")
	}
	get(t, app, "/about")
	expect(t, "/about", get(t, app, "/about").xcache(), "HIT")

	if err := InvalidatePath(cache, "/blog/post/"); err != nil {
		t.Fatal(err)
	}
	for i, r := range reqs() {
		expect(t, fmt.Sprintf("variant %d after", i), r.xcache(), "MISS")
	}
	for i, r := range reqs() {
		expect(t, fmt.Sprintf("variant %d rendered again", i), r.xcache(), "HIT")
	}
	expect(t, "other path untouched", get(t, app, "/about").xcache(), "HIT")
}

// A record lost to eviction must never bring back what was invalidated,
// whether records are held in process (Memory) or read from the store.
func TestLostRecordBringsNothingBack(t *testing.T) {
	mem, err := cachekit.NewMemory(cachekit.MemoryConfig{MaxBytes: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	for _, store := range []fiber.Storage{mem, &recordingStore{Memory: mem}} {
		_ = mem.Reset()
		cache := cachekit.New(cachekit.Config{Storage: store})
		app := newApp()
		app.Use(New(Config{Cache: cache}))
		h, _ := counting("page")
		app.Get("/p", h)
		rkey := string(appendPathKey(nil, keyRecord, "/p"))
		get(t, app, "/p")
		expect(t, "stored", get(t, app, "/p").body, "page 1")
		if err := InvalidatePath(cache, "/p"); err != nil {
			t.Fatal(err)
		}
		expect(t, "invalidated", get(t, app, "/p").body, "page 2")
		// The store evicts the record; the page stored under it is still
		// valid (it was rendered after the invalidation), and page 1 must
		// never come back.
		if err := cache.Delete(rkey); err != nil {
			t.Fatal(err)
		}
		r := get(t, app, "/p")
		if r.body == "page 1" {
			t.Fatalf("%T: invalidated page came back", store)
		}
		for i := 0; i < 2; i++ {
			if r := get(t, app, "/p"); r.body == "page 1" {
				t.Fatalf("%T: invalidated page came back", store)
			}
		}
	}
}

func TestVaryLearnedNeverWrongVariant(t *testing.T) {
	cache := newCache(t)
	app := newApp()
	app.Use(New(Config{Cache: cache}))
	var vary atomic.Bool
	app.Get("/", func(c *fiber.Ctx) error {
		if vary.Load() {
			c.Vary("X-Theme")
			return c.SendString("theme " + c.Get("X-Theme"))
		}
		return c.SendString("plain")
	})
	get(t, app, "/", "X-Theme", "dark")
	expect(t, "plain stored", get(t, app, "/", "X-Theme", "dark").body, "plain")
	// A deploy makes the page vary: the record learns it on the next
	// render, and no variant is ever served to the wrong request.
	vary.Store(true)
	if err := InvalidatePath(cache, "/"); err != nil {
		t.Fatal(err)
	}
	expect(t, "dark", get(t, app, "/", "X-Theme", "dark").body, "theme dark")
	expect(t, "light", get(t, app, "/", "X-Theme", "light").body, "theme light")
	for i := 0; i < 2; i++ {
		d := get(t, app, "/", "X-Theme", "dark")
		l := get(t, app, "/", "X-Theme", "light")
		expect(t, "dark again", d.body, "theme dark")
		expect(t, "light again", l.body, "theme light")
		if i == 1 {
			expect(t, "dark hit", d.xcache(), "HIT")
			expect(t, "light hit", l.xcache(), "HIT")
		}
	}
}

func TestPurge(t *testing.T) {
	cache := newCache(t)
	app := fiber.New(fiber.Config{DisableStartupMessage: true, RequestMethods: append(fiber.DefaultMethods[:len(fiber.DefaultMethods):len(fiber.DefaultMethods)], "PURGE")})
	app.Use("/open", Purge(PurgeConfig{Cache: cache})) // no token: refuses all
	app.Use(Purge(PurgeConfig{Cache: cache, Token: "s3cret"}))
	app.Use(New(Config{Cache: cache}))
	var runs atomic.Int64
	app.Get("/*", func(c *fiber.Ctx) error {
		c.Set("Surrogate-Key", "all")
		return c.SendString(fmt.Sprint(c.Path(), runs.Add(1)))
	})
	warm := func(path string) {
		for i := 0; i < 3; i++ {
			if get(t, app, path).xcache() == "HIT" {
				return
			}
		}
		t.Fatalf("%s never became a hit", path)
	}
	warm("/a")
	warm("/open/x")

	r := do(t, app, "PURGE", "/a")
	expect(t, "no token", r.status, 403)
	r = do(t, app, "PURGE", "/a", "X-Purge-Token", "guess")
	expect(t, "wrong token", r.status, 403)
	r = do(t, app, "PURGE", "/open/x", "X-Purge-Token", "")
	expect(t, "handler without a token configured", r.status, 403)
	r = do(t, app, "PURGE", "/open/x", "X-Purge-Token", "s3cret")
	expect(t, "a token configured elsewhere does not open it", r.status, 403)
	expect(t, "nothing purged", get(t, app, "/a").xcache(), "HIT")
	expect(t, "nothing purged", get(t, app, "/open/x").xcache(), "HIT")

	r = do(t, app, "PURGE", "/a", "X-Purge-Token", "s3cret")
	expect(t, "purge by path", r.status, 200)
	expect(t, "purged", get(t, app, "/a").xcache(), "MISS")

	warm("/a")
	r = do(t, app, "PURGE", "/", "X-Purge-Token", "s3cret", "Surrogate-Key", "all")
	expect(t, "purge by key", r.status, 200)
	expect(t, "purged by key", get(t, app, "/a").xcache(), "MISS")
	expect(t, "purged by key", get(t, app, "/open/x").xcache(), "MISS")
}

func gunzip(t *testing.T, s string) string {
	t.Helper()
	zr, err := gzip.NewReader(strings.NewReader(s))
	if err != nil {
		t.Fatalf("not gzip: %v", err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var bigPage = strings.Repeat("<p>a paragraph of html that compresses well</p>\n", 60)

func TestCompressOutside(t *testing.T) {
	cache := newCache(t)
	app := newApp()
	app.Use(compress.New())
	app.Use(New(Config{Cache: cache}))
	var runs atomic.Int64
	app.Get("/", func(c *fiber.Ctx) error {
		runs.Add(1)
		c.Type("html")
		return c.SendString(bigPage)
	})
	r := get(t, app, "/", "Accept-Encoding", "gzip")
	expect(t, "gzip miss", r.header.Get("Content-Encoding"), "gzip")
	expect(t, "gzip miss body", gunzip(t, r.body), bigPage)
	r = get(t, app, "/", "Accept-Encoding", "gzip")
	expect(t, "gzip hit", r.xcache(), "HIT")
	expect(t, "gzip hit encoding", r.header.Get("Content-Encoding"), "gzip")
	expect(t, "gzip hit body", gunzip(t, r.body), bigPage)
	r = get(t, app, "/")
	expect(t, "identity hit (stored uncompressed)", r.xcache(), "HIT")
	expect(t, "identity encoding", r.header.Get("Content-Encoding"), "")
	expect(t, "identity body", r.body, bigPage)
	expect(t, "runs", runs.Load(), int64(1))
}

func TestCompressInside(t *testing.T) {
	cache := newCache(t)
	app := newApp()
	app.Use(New(Config{Cache: cache}))
	app.Use(compress.New())
	var runs atomic.Int64
	app.Get("/", func(c *fiber.Ctx) error {
		runs.Add(1)
		c.Type("html")
		return c.SendString(bigPage)
	})
	r := get(t, app, "/", "Accept-Encoding", "gzip")
	expect(t, "gzip miss encoding", r.header.Get("Content-Encoding"), "gzip")
	expect(t, "gzip miss stored", r.cacheStatus(), "cachekit; fwd=uri-miss; stored")
	r = get(t, app, "/", "Accept-Encoding", "GZIP")
	expect(t, "gzip hit", r.xcache(), "HIT")
	expect(t, "gzip hit body", gunzip(t, r.body), bigPage)
	expect(t, "Vary replayed", r.header.Get("Vary"), "Accept-Encoding")

	r = get(t, app, "/")
	expect(t, "a client without gzip is not served the gzip entry", r.xcache(), "MISS")
	expect(t, "identity encoding", r.header.Get("Content-Encoding"), "")
	expect(t, "identity body", r.body, bigPage)
	r = get(t, app, "/")
	expect(t, "identity hit", r.xcache(), "HIT")
	expect(t, "identity hit body", r.body, bigPage)
	expect(t, "identity hit encoding", r.header.Get("Content-Encoding"), "")

	r = get(t, app, "/", "Accept-Encoding", "gzip;q=0, deflate")
	if r.header.Get("Content-Encoding") == "gzip" {
		t.Errorf("a client refusing gzip got gzip")
	}
	r = get(t, app, "/", "Accept-Encoding", "br")
	expect(t, "br miss", r.xcache(), "MISS")
	expect(t, "br encoding", r.header.Get("Content-Encoding"), "br")
	expect(t, "runs", runs.Load(), int64(4))
}

func TestStreamedBodyBypassed(t *testing.T) {
	cache := newCache(t)
	app := newApp()
	app.Use(New(Config{Cache: cache}))
	big := strings.Repeat("streamed ", 10000)
	app.Get("/", func(c *fiber.Ctx) error {
		return c.SendStream(strings.NewReader(big))
	})
	for i := 0; i < 2; i++ {
		r := get(t, app, "/")
		expect(t, "body whole", r.body, big)
		expect(t, "X-Cache", r.xcache(), "MISS")
		expect(t, "Cache-Status", r.cacheStatus(), "cachekit; fwd=uri-miss; detail=stream")
	}
}

func TestPerResponseHeadersNotReplayed(t *testing.T) {
	cache := newCache(t)
	app := newApp()
	var reqID atomic.Int64
	app.Use(func(c *fiber.Ctx) error { // in front: a request ID
		c.Set("X-Request-Id", strconv.FormatInt(reqID.Add(1), 10))
		return c.Next()
	})
	app.Use(New(Config{Cache: cache}))
	app.Get("/", func(c *fiber.Ctx) error {
		c.Set("X-Page", "kept")
		c.Response().Header.Add("Link", "</a.css>; rel=preload")
		c.Response().Header.Add("Link", "</b.js>; rel=preload")
		c.Set("Keep-Alive", "timeout=5")
		c.Set("X-Hop", "per-connection")
		c.Set("Connection", "X-Hop")
		c.Set("Age", "999")
		c.Set("X-Cache", "bogus")
		return c.SendString("page")
	})
	get(t, app, "/")
	r := get(t, app, "/")
	expect(t, "X-Cache", r.xcache(), "HIT")
	expect(t, "X-Request-Id is the hit's own", r.header.Get("X-Request-Id"), "2")
	expect(t, "X-Page replayed", r.header.Get("X-Page"), "kept")
	expect(t, "both Link headers", strings.Join(r.header.Values("Link"), "|"), "</a.css>; rel=preload|</b.js>; rel=preload")
	expect(t, "Keep-Alive not replayed", r.header.Get("Keep-Alive"), "")
	expect(t, "Connection-listed header not replayed", r.header.Get("X-Hop"), "")
	expect(t, "Age is the cache's", r.header.Get("Age"), "0")
}

func TestCredentialedAndPublic(t *testing.T) {
	cache := newCache(t)
	app := newApp()
	app.Use(New(Config{Cache: cache}))
	var runs atomic.Int64
	app.Get("/public", func(c *fiber.Ctx) error {
		c.Set("Cache-Control", "public, max-age=60")
		return c.SendString(fmt.Sprint("public ", runs.Add(1)))
	})
	app.Get("/plain", func(c *fiber.Ctx) error {
		return c.SendString(fmt.Sprint("plain ", runs.Add(1)))
	})
	r := get(t, app, "/public", "Authorization", "Bearer x")
	expect(t, "public with Authorization stored", r.cacheStatus(), "cachekit; fwd=uri-miss; stored")
	expect(t, "anonymous gets it", get(t, app, "/public").body, "public 1")
	r = get(t, app, "/public", "Cookie", "sid=1")
	expect(t, "a public page serves credentialed requests", r.xcache(), "HIT")

	get(t, app, "/plain")
	expect(t, "anonymous hit", get(t, app, "/plain").xcache(), "HIT")
	r = get(t, app, "/plain", "Cookie", "sid=1")
	expect(t, "credentialed request is not served a non-public page", r.xcache(), "BYPASS")
	expect(t, "credentialed detail", r.cacheStatus(), "cachekit; fwd=bypass; detail=credentials")
	r = get(t, app, "/plain", "Cookie", "_ga=GA1.2.3; _gid=x; cookieconsent_status=dismiss")
	expect(t, "harmless cookies share the page", r.xcache(), "HIT")
}

func TestPerUserHeader(t *testing.T) {
	cache := newCache(t)
	app := newApp()
	app.Use(New(Config{Cache: cache, UserHeader: "Authorization", CacheControl: true}))
	app.Get("/", func(c *fiber.Ctx) error { return c.SendString("hi " + c.Get("Authorization")) })
	get(t, app, "/", "Authorization", "Bearer a")
	r := get(t, app, "/", "Authorization", "Bearer a")
	expect(t, "user a hit", r.body, "hi Bearer a")
	expect(t, "user a X-Cache", r.xcache(), "HIT")
	if cc := r.header.Get("Cache-Control"); !strings.HasPrefix(cc, "private, max-age=") {
		t.Errorf("a per-user page went downstream as %q", cc)
	}
	r = get(t, app, "/", "Authorization", "Bearer b")
	expect(t, "user b", r.body, "hi Bearer b")
	r = get(t, app, "/")
	expect(t, "anonymous", r.body, "hi ")
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

func TestColdStampedeRendersOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("500 connections")
	}
	ours := stampede(t, 500, New(Config{Cache: newCache(t)}))
	t.Logf("500 concurrent cold requests: fibercache ran the handler %d time(s)", ours)
	expect(t, "fibercache handler runs", ours, int64(1))
}

func TestStaleWhileRevalidate(t *testing.T) {
	cache := newCache(t)
	app := newApp()
	var runs atomic.Int64
	app.Get("/", Page(200*time.Millisecond, Config{Cache: cache, StaleWhileRevalidate: time.Minute}), func(c *fiber.Ctx) error {
		n := runs.Add(1)
		if n > 1 {
			time.Sleep(100 * time.Millisecond) // the refresh is slow
		}
		Tag(c, "swr")
		return c.SendString(fmt.Sprint("v", n))
	})
	base := listen(t, app)
	client := newClient(t, 32)
	fetch(t, client, base+"/")
	r := fetch(t, client, base+"/")
	for i := 0; r.xcache() != "HIT" && i < 3; i++ { // a new tag may skip one store
		r = fetch(t, client, base+"/")
	}
	expect(t, "warm", r.xcache(), "HIT")
	first := r.body
	before := runs.Load()
	time.Sleep(250 * time.Millisecond)

	var wg sync.WaitGroup
	var stale atomic.Int64
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := fetch(t, client, base+"/")
			if r.xcache() == "STALE" && r.body == first && strings.Contains(r.cacheStatus(), "detail=stale-while-revalidate") {
				stale.Add(1)
			}
		}()
	}
	wg.Wait()
	expect(t, "stale answers while the refresh runs", stale.Load(), int64(20))
	deadline := time.Now().Add(3 * time.Second)
	for {
		r = fetch(t, client, base+"/")
		if r.xcache() == "HIT" && r.body != first {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the refresh never landed: %q %q", r.xcache(), r.body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	expect(t, "one background refresh", runs.Load()-before, int64(1))
}

func TestStaleIfError(t *testing.T) {
	for _, failure := range []string{"status 500", "status 503", "error", "404 error"} {
		t.Run(failure, func(t *testing.T) {
			cache := newCache(t)
			app := newApp()
			var fail atomic.Bool
			app.Get("/", Page(100*time.Millisecond, Config{Cache: cache, StaleIfError: time.Minute}), func(c *fiber.Ctx) error {
				if fail.Load() {
					c.Set("X-Failed", "yes")
					switch failure {
					case "status 500":
						return c.Status(500).SendString("boom")
					case "status 503":
						return c.Status(503).SendString("down")
					}
					if failure == "404 error" {
						return fiber.ErrNotFound
					}
					return errors.New("database down")
				}
				return c.SendString("good")
			})
			app.Get("/nosie", Page(100*time.Millisecond, Config{Cache: cache}), func(c *fiber.Ctx) error {
				if fail.Load() {
					return c.Status(500).SendString("boom")
				}
				return c.SendString("good")
			})
			get(t, app, "/")
			get(t, app, "/nosie")
			time.Sleep(150 * time.Millisecond)
			fail.Store(true)
			r := get(t, app, "/")
			if failure == "404 error" {
				// Not a server error: the page is gone, and says so.
				expect(t, "status", r.status, 404)
				expect(t, "X-Cache", r.xcache(), "MISS")
				return
			}
			expect(t, "status", r.status, 200)
			expect(t, "body", r.body, "good")
			expect(t, "X-Cache", r.xcache(), "STALE")
			expect(t, "failed render's headers dropped", r.header.Get("X-Failed"), "")
			if !strings.Contains(r.cacheStatus(), "detail=stale-if-error") {
				t.Errorf("Cache-Status %q", r.cacheStatus())
			}
			r = get(t, app, "/nosie")
			expect(t, "without stale-if-error the failure goes out", r.status, 500)
			expect(t, "without stale-if-error X-Cache", r.xcache(), "MISS")
		})
	}
}

func TestBadConfigPanicsAtNew(t *testing.T) {
	broken := cachekit.New(cachekit.Config{Prefix: "has space"})
	cases := []struct {
		name string
		fn   func()
		want string
	}{
		{"negative TTL", func() { New(Config{TTL: -time.Second}) }, "fibercache: Config.TTL is negative"},
		{"Page zero TTL", func() { Page(0) }, "fibercache: Page needs a positive TTL"},
		{"negative SWR", func() { New(Config{StaleWhileRevalidate: -1}) }, "fibercache: Config.StaleWhileRevalidate"},
		{"negative SIE", func() { New(Config{StaleIfError: -1}) }, "fibercache: Config.StaleIfError"},
		{"status 99", func() { New(Config{Statuses: []int{200, 99}}) }, "fibercache: Config.Statuses holds 99"},
		{"status 206", func() { New(Config{Statuses: []int{206}}) }, "fibercache: Config.Statuses holds 206"},
		{"no statuses", func() { New(Config{Statuses: []int{}}) }, "fibercache: Config.Statuses is empty"},
		{"bad prefix", func() { New(Config{KeyPrefix: "a b"}) }, "fibercache: Config.KeyPrefix"},
		{"bad harmless cookie", func() { New(Config{HarmlessCookies: []string{"a=b"}}) }, "fibercache: Config.HarmlessCookies"},
		{"user cookie harmless", func() { New(Config{UserCookie: "_ga_x"}) }, "fibercache: Config.UserCookie"},
		{"bad user header", func() { New(Config{UserHeader: "X User"}) }, "fibercache: Config.UserHeader"},
		{"broken cache", func() { New(Config{Cache: broken}) }, "fibercache: Config.Cache cannot work"},
		{"broken purge cache", func() { Purge(PurgeConfig{Cache: broken}) }, "fibercache: PurgeConfig.Cache cannot work"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				p := recover()
				s, _ := p.(string)
				if !strings.HasPrefix(s, tc.want) {
					t.Errorf("panic %v, want it to start with %q", p, tc.want)
				}
			}()
			tc.fn()
		})
	}
}

func TestNextSkips(t *testing.T) {
	cache := newCache(t)
	app := newApp()
	app.Use(New(Config{Cache: cache, Next: func(c *fiber.Ctx) bool { return c.Query("nocache") != "" }}))
	h, runs := counting("x")
	app.Get("/", h)
	get(t, app, "/?nocache=1")
	r := get(t, app, "/?nocache=1")
	expect(t, "no X-Cache when skipped", r.xcache(), "")
	expect(t, "runs", runs.Load(), int64(2))
}

func TestPageInsideSiteWide(t *testing.T) {
	cache := newCache(t)
	app := newApp()
	app.Use(New(Config{Cache: cache, TTL: time.Hour}))
	h, runs := counting("x")
	app.Get("/short", Page(30*time.Second, Config{Cache: cache, KeyPrefix: "page"}), h)
	get(t, app, "/short")
	r := get(t, app, "/short")
	expect(t, "X-Cache", r.xcache(), "HIT")
	if ttl := ttlOf(t, r); ttl > 30 {
		t.Errorf("the site-wide TTL (%d) won over the route's", ttl)
	}
	expect(t, "one X-Cache header", len(r.header.Values("X-Cache")), 1)
	expect(t, "runs", runs.Load(), int64(1))
}

// failingStore fails every operation.
type failingStore struct{}

func (failingStore) Get(string) ([]byte, error)              { return nil, errors.New("store down") }
func (failingStore) Set(string, []byte, time.Duration) error { return errors.New("store down") }
func (failingStore) Delete(string) error                     { return errors.New("store down") }
func (failingStore) Reset() error                            { return nil }
func (failingStore) Close() error                            { return nil }

func TestStorageErrorsNeverFailAPage(t *testing.T) {
	cache := cachekit.New(cachekit.Config{Storage: failingStore{}, ErrorLogInterval: time.Hour})
	app := newApp()
	app.Use(New(Config{Cache: cache}))
	h, runs := counting("page")
	app.Get("/", h)
	for i := 1; i <= 3; i++ {
		r := get(t, app, "/")
		expect(t, "status", r.status, 200)
		expect(t, "body", r.body, fmt.Sprint("page ", i))
		expect(t, "X-Cache", r.xcache(), "MISS")
	}
	expect(t, "runs", runs.Load(), int64(3))
	if err := InvalidatePath(cache, "/"); err == nil {
		t.Errorf("InvalidatePath on a failing store reported success")
	}
}

// recordingStore remembers the page keys written through it.
type recordingStore struct {
	*cachekit.Memory
	mu   sync.Mutex
	keys []string
}

func (s *recordingStore) Set(key string, val []byte, exp time.Duration) error {
	if strings.Contains(key, ":fcp:") || strings.Contains(key, ":fcP:") {
		s.mu.Lock()
		s.keys = append(s.keys, key)
		s.mu.Unlock()
	}
	return s.Memory.Set(key, val, exp)
}

func TestCorruptEntryIsNeverServed(t *testing.T) {
	mem, err := cachekit.NewMemory(cachekit.MemoryConfig{MaxBytes: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	store := &recordingStore{Memory: mem}
	cache := cachekit.New(cachekit.Config{Storage: store})
	app := newApp()
	app.Use(New(Config{Cache: cache}))
	h, runs := counting("page")
	app.Get("/", h)
	get(t, app, "/")
	expect(t, "hit before", get(t, app, "/").xcache(), "HIT")
	if len(store.keys) != 1 {
		t.Fatalf("page keys written: %q", store.keys)
	}
	// Overwrite the page, through the core, with bytes that are not an
	// entry (a deploy that changed the format, a bug elsewhere).
	const head = ":0:e:"
	if !strings.HasPrefix(store.keys[0], head) {
		t.Fatalf("unexpected storage key %q", store.keys[0])
	}
	if err := cache.Set(store.keys[0][len(head):], []byte("FC\x01 garbage"), 0); err != nil {
		t.Fatal(err)
	}
	r := get(t, app, "/")
	expect(t, "body", r.body, "page 2")
	expect(t, "X-Cache", r.xcache(), "MISS")
	expect(t, "runs", runs.Load(), int64(2))
}
