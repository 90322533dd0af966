package redisbus_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/fibercache"
	"github.com/cachekit/cachekit/internal/testserver"
	"github.com/cachekit/cachekit/redisbus"
	"github.com/gofiber/fiber/v2"
	redisstore "github.com/gofiber/storage/redis/v3"
	goredis "github.com/redis/go-redis/v9"
	"github.com/valyala/fasthttp"
)

// fibercache over one real Redis shared by several machines (make test
// starts it; CACHEKIT_REDIS_ADDR): each app has its own cachekit.Cache,
// alone on Redis or two-level with this bus.

func newApp() *fiber.App { return fiber.New(fiber.Config{DisableStartupMessage: true}) }

// result is one response, read whole.
type result struct {
	status int
	xcache string
	body   string
}

// do sends one request through app.Test: real HTTP/1.1 bytes through
// fasthttp's server.
func do(t testing.TB, app *fiber.App, method, target string) result {
	t.Helper()
	resp, err := app.Test(httptest.NewRequest(method, target, nil), -1)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return result{status: resp.StatusCode, xcache: resp.Header.Get("X-Cache"), body: string(b)}
}

// memoryCache is a cache on its own embedded store: the benchmark's reference.
func memoryCache(t testing.TB) *cachekit.Cache {
	m, err := cachekit.NewMemory(cachekit.MemoryConfig{MaxBytes: 16 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return cachekit.New(cachekit.Config{Storage: m})
}

// benchPage is a 2.5 KB page.
var benchPage = bytes.Repeat([]byte("<p>cachekit benchmark page</p>\n"), 80)

const benchRequest = "GET /blog HTTP/1.1\r\nHost: example.com\r\nUser-Agent: bench\r\nAccept: text/html\r\n\r\n"

// serveLoop answers benchRequest with app's handler, parsed from bytes and
// written out, on every core: the cost of one whole request in process.
func serveLoop(b *testing.B, app *fiber.App) {
	h := app.Handler()
	read := func(ctx *fasthttp.RequestCtx, br *bufio.Reader) {
		ctx.Request.Reset()
		ctx.Response.Reset()
		ctx.ResetUserValues()
		if err := ctx.Request.Read(br); err != nil {
			panic(err)
		}
	}
	var ctx fasthttp.RequestCtx
	ctx.Init(&fasthttp.Request{}, nil, nil)
	for i := 0; i < 3; i++ { // store the page
		read(&ctx, bufio.NewReader(strings.NewReader(benchRequest)))
		h(&ctx)
	}
	if x := string(ctx.Response.Header.Peek("X-Cache")); x != "HIT" || !bytes.Equal(ctx.Response.Body(), benchPage) {
		b.Fatalf("not a hit: %s %s", x, ctx.Response.Header.Peek("Cache-Status"))
	}
	raw := []byte(benchRequest)
	b.ReportAllocs()
	b.SetBytes(int64(len(benchPage)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var ctx fasthttp.RequestCtx
		ctx.Init(&fasthttp.Request{}, nil, nil)
		rd := bytes.NewReader(raw)
		br := bufio.NewReader(rd)
		bw := bufio.NewWriter(io.Discard)
		for pb.Next() {
			rd.Reset(raw)
			br.Reset(rd)
			read(&ctx, br)
			h(&ctx)
			if err := ctx.Response.Write(bw); err != nil {
				panic(err)
			}
		}
	})
}

// instance is one machine: its own Cache over the shared Redis, optionally
// two-level (a local Memory in front, invalidations on the Redis bus).
func siteInstance(t testing.TB, addr, prefix string, twoLevel bool) *cachekit.Cache {
	t.Helper()
	client := goredis.NewClient(&goredis.Options{Addr: addr})
	t.Cleanup(func() { client.Close() })
	cfg := cachekit.Config{Storage: redisstore.NewFromConnection(client), Prefix: prefix, Timeout: time.Second,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if twoLevel {
		local, err := cachekit.NewMemory(cachekit.MemoryConfig{MaxBytes: 8 << 20})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Local, cfg.LocalTTL = local, time.Minute
		cfg.Bus = redisbus.New(client, "cachekit:test:"+prefix)
	}
	c := cachekit.New(cfg)
	if c.Err() != nil {
		t.Fatal(c.Err())
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// siteApp serves /p/:id, tagged product:<id>, counting renders.
func siteApp(cache *cachekit.Cache, renders *atomic.Int64) *fiber.App {
	app := newApp()
	app.Use(fibercache.New(fibercache.Config{Cache: cache, TTL: time.Hour}))
	app.Get("/p/:id", func(c *fiber.Ctx) error {
		renders.Add(1)
		fibercache.Tag(c, "product:"+c.Params("id"))
		return c.SendString("product " + c.Params("id"))
	})
	return app
}

// eventually retries check for up to a second: with the bus, another
// instance sees an invalidation when its message arrives (about a
// millisecond on loopback), not at the same instant.
func eventually(t *testing.T, what string, check func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for !check() {
		if time.Now().After(deadline) {
			t.Fatal(what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestTwoInstancesShareRedis(t *testing.T) {
	addr := testserver.Addr(t, "CACHEKIT_REDIS_ADDR")
	for _, twoLevel := range []bool{false, true} {
		t.Run(fmt.Sprint("two-level=", twoLevel), func(t *testing.T) {
			prefix := "fc" + strconv.FormatUint(rand.Uint64(), 36)
			var rendersA, rendersB atomic.Int64
			cacheB := siteInstance(t, addr, prefix, twoLevel)
			b := siteApp(cacheB, &rendersB)
			cacheA := siteInstance(t, addr, prefix, twoLevel)
			a := siteApp(cacheA, &rendersA)

			// A tagged page is stored on its first render, on Redis too.
			do(t, a, "GET", "/p/1")
			if r := do(t, b, "GET", "/p/1"); r.xcache != "HIT" || r.body != "product 1" {
				t.Fatalf("B does not serve A's page: %s %q", r.xcache, r.body)
			}
			do(t, b, "GET", "/p/1") // B holds it locally in the two-level mode
			if rendersB.Load() != 0 {
				t.Fatalf("B rendered %d times", rendersB.Load())
			}

			if err := fibercache.InvalidatePath(cacheA, "/p/1"); err != nil {
				t.Fatal(err)
			}
			eventually(t, "B still serves a path A invalidated", func() bool { return do(t, b, "GET", "/p/1").xcache != "HIT" })

			do(t, a, "GET", "/p/1")
			for i := 0; i < 2; i++ { // the second from B's hot layer, its page decoded once (its memo)
				if r := do(t, b, "GET", "/p/1"); r.xcache != "HIT" {
					t.Fatalf("B does not serve A's fresh page: %s", r.xcache)
				}
			}
			if err := cacheA.InvalidateTags("product:1"); err != nil {
				t.Fatal(err)
			}
			eventually(t, "B still serves a page whose tag A invalidated", func() bool { return do(t, b, "GET", "/p/1").xcache != "HIT" })
		})
	}
}

// Kill redis-server in the middle of 2,000 requests: no 5xx, every body
// right; restart it and the pages are hits again, without a restart of the app.
func TestRedisDiesUnderLoad(t *testing.T) {
	server := testserver.Redis(t)
	client := goredis.NewClient(&goredis.Options{Addr: server.Addr})
	defer client.Close()
	cache := cachekit.New(cachekit.Config{Storage: redisstore.NewFromConnection(client), Timeout: 50 * time.Millisecond,
		CircuitCooldown: 100 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	var renders atomic.Int64
	app := siteApp(cache, &renders)
	for i := 0; i < 2000; i++ {
		if i == 700 {
			server.Kill()
		}
		id := strconv.Itoa(i % 25)
		r := do(t, app, "GET", "/p/"+id)
		if r.status >= 500 || r.body != "product "+id {
			t.Fatalf("request %d with Redis dead: %d %q (%s)", i, r.status, r.body, r.xcache)
		}
	}
	if cache.Stats().Errors == 0 {
		t.Fatal("no storage error counted though Redis was killed")
	}
	server.Restart()
	eventually2 := time.Now().Add(10 * time.Second)
	for time.Now().Before(eventually2) {
		if do(t, app, "GET", "/p/1").xcache == "HIT" {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("no hit after Redis came back")
}

// BenchmarkSharedStoreHit: the benchmark page's hit over the embedded store,
// over Redis, and over Redis in the two-level mode with the bus, in one run.
func BenchmarkSharedStoreHit(b *testing.B) {
	addr := testserver.Addr(b, "CACHEKIT_REDIS_ADDR")
	variants := []struct {
		name  string
		cache func() *cachekit.Cache
	}{
		{"Memory", func() *cachekit.Cache { return memoryCache(b) }},
		{"Redis", func() *cachekit.Cache {
			return siteInstance(b, addr, "bench"+strconv.FormatUint(rand.Uint64(), 36), false)
		}},
		{"Redis-two-level-bus", func() *cachekit.Cache {
			return siteInstance(b, addr, "bench"+strconv.FormatUint(rand.Uint64(), 36), true)
		}},
	}
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			app := newApp()
			app.Use(fibercache.New(fibercache.Config{Cache: v.cache(), TTL: time.Hour}))
			app.Get("/blog", func(c *fiber.Ctx) error { c.Type("html"); return c.Send(benchPage) })
			serveLoop(b, app)
		})
	}
}

// TestHintVariantsOverRedisBus: two-level instances over one Redis, their
// Bus on it. B serves several variants of one path from its hot layer,
// asked for in turn across hint ticks (the path's record keeps one hint
// for all of them, leading to one variant's place). Once A's tag
// invalidation or InvalidatePath reached B for one variant, no variant
// is a HIT of the old page any more, whichever the hint led to; B then
// serves each variant its own new page.
func TestHintVariantsOverRedisBus(t *testing.T) {
	addr := testserver.Addr(t, "CACHEKIT_REDIS_ADDR")
	prefix := "fh" + strconv.FormatUint(rand.Uint64(), 36)
	var gen atomic.Int64
	gen.Store(1)
	mk := func(cache *cachekit.Cache) *fiber.App {
		app := newApp()
		app.Use(fibercache.New(fibercache.Config{Cache: cache, TTL: time.Hour}))
		app.Get("/p", func(c *fiber.Ctx) error {
			fibercache.Tag(c, "t")
			return c.SendString(c.Query("v") + "@" + strconv.FormatInt(gen.Load(), 10))
		})
		return app
	}
	a := mk(siteInstance(t, addr, prefix, true))
	cacheA := siteInstance(t, addr, prefix, true) // A's Cache for the invalidations (one instance more on the bus)
	cacheB := siteInstance(t, addr, prefix, true)
	b := mk(cacheB)
	variants := []string{"1", "2", "3", "22", "x"}
	settle := func(round int64) {
		t.Helper()
		for _, v := range variants { // A's instance sees the invalidation over the bus too
			want := v + "@" + strconv.FormatInt(round, 10)
			eventually(t, "A serves an old page", func() bool { return do(t, a, "GET", "/p?v="+v).body == want })
		}
		for i := range 4 {
			for _, v := range variants {
				r := do(t, b, "GET", "/p?v="+v)
				want := v + "@" + strconv.FormatInt(round, 10)
				if r.body != want || (i > 0 && r.xcache != "HIT") {
					t.Fatalf("round %d, pass %d, v=%s: %s %q, want HIT %q", round, i, v, r.xcache, r.body, want)
				}
			}
			time.Sleep(2 * time.Millisecond) // a new hint tick
		}
	}
	for round, inv := range []func() error{
		func() error { return cacheA.InvalidateTags("t") },
		func() error { return fibercache.InvalidatePath(cacheA, "/p") },
		func() error { return cacheA.InvalidateTags("t") },
	} {
		settle(gen.Load())
		old := gen.Load()
		gen.Add(1)
		if err := inv(); err != nil {
			t.Fatal(err)
		}
		first := variants[round%len(variants)]
		eventually(t, "B still serves the page A invalidated", func() bool {
			return do(t, b, "GET", "/p?v="+first).xcache != "HIT"
		})
		for _, v := range variants {
			if r := do(t, b, "GET", "/p?v="+v); r.body == v+"@"+strconv.FormatInt(old, 10) {
				t.Fatalf("after invalidation %d reached B, v=%s: %s %q", round, v, r.xcache, r.body)
			}
		}
	}
}
