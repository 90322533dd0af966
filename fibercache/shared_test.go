package fibercache

import (
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/internal/testserver"
	"github.com/cachekit/cachekit/redisbus"
	"github.com/gofiber/fiber/v2"
	redisstore "github.com/gofiber/storage/redis/v3"
	goredis "github.com/redis/go-redis/v9"
)

// Several machines on one shared store: each app has its own cachekit.Cache
// over one real Redis (make test starts it; CACHEKIT_REDIS_ADDR).

func TestMain(m *testing.M) {
	testserver.Announce("fibercache", "CACHEKIT_REDIS_ADDR")
	os.Exit(m.Run())
}

func redisAddr(t testing.TB) string { return testserver.Addr(t, "CACHEKIT_REDIS_ADDR") }

// instance is one machine: its own Cache over the shared Redis, optionally
// two-level (a local Memory in front, invalidations on the Redis bus).
func instance(t testing.TB, addr, prefix string, twoLevel bool) *cachekit.Cache {
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
	app.Use(New(Config{Cache: cache, TTL: time.Hour}))
	app.Get("/p/:id", func(c *fiber.Ctx) error {
		renders.Add(1)
		Tag(c, "product:"+c.Params("id"))
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
	addr := redisAddr(t)
	for _, twoLevel := range []bool{false, true} {
		t.Run(fmt.Sprint("two-level=", twoLevel), func(t *testing.T) {
			prefix := "fc" + strconv.FormatUint(rand.Uint64(), 36)
			var rendersA, rendersB atomic.Int64
			cacheB := instance(t, addr, prefix, twoLevel)
			b := siteApp(cacheB, &rendersB)
			cacheA := instance(t, addr, prefix, twoLevel)
			a := siteApp(cacheA, &rendersA)

			// New tags are not stored on their first render: warm on A.
			for i := 0; i < 3 && do(t, a, "GET", "/p/1").xcache() != "HIT"; i++ {
			}
			if r := do(t, b, "GET", "/p/1"); r.xcache() != "HIT" || r.body != "product 1" {
				t.Fatalf("B does not serve A's page: %s %q", r.xcache(), r.body)
			}
			do(t, b, "GET", "/p/1") // B holds it locally in the two-level mode
			if rendersB.Load() != 0 {
				t.Fatalf("B rendered %d times", rendersB.Load())
			}

			if err := InvalidatePath(cacheA, "/p/1"); err != nil {
				t.Fatal(err)
			}
			eventually(t, "B still serves a path A invalidated", func() bool { return do(t, b, "GET", "/p/1").xcache() != "HIT" })

			for i := 0; i < 3 && do(t, a, "GET", "/p/1").xcache() != "HIT"; i++ {
			}
			if r := do(t, b, "GET", "/p/1"); r.xcache() != "HIT" {
				t.Fatalf("B does not serve A's fresh page: %s", r.xcache())
			}
			if err := cacheA.InvalidateTags("product:1"); err != nil {
				t.Fatal(err)
			}
			eventually(t, "B still serves a page whose tag A invalidated", func() bool { return do(t, b, "GET", "/p/1").xcache() != "HIT" })
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
			t.Fatalf("request %d with Redis dead: %d %q (%s)", i, r.status, r.body, r.xcache())
		}
	}
	if cache.Stats().Errors == 0 {
		t.Fatal("no storage error counted though Redis was killed")
	}
	server.Restart()
	eventually2 := time.Now().Add(10 * time.Second)
	for time.Now().Before(eventually2) {
		if do(t, app, "GET", "/p/1").xcache() == "HIT" {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("no hit after Redis came back")
}

// BenchmarkSharedStoreHit: the benchmark page's hit over the embedded store,
// over Redis, and over Redis in the two-level mode with the bus, in one run.
func BenchmarkSharedStoreHit(b *testing.B) {
	addr := redisAddr(b)
	variants := []struct {
		name  string
		cache func() *cachekit.Cache
	}{
		{"Memory", func() *cachekit.Cache { return newCache(b) }},
		{"Redis", func() *cachekit.Cache { return instance(b, addr, "bench"+strconv.FormatUint(rand.Uint64(), 36), false) }},
		{"Redis-two-level-bus", func() *cachekit.Cache {
			return instance(b, addr, "bench"+strconv.FormatUint(rand.Uint64(), 36), true)
		}},
	}
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			app := newApp()
			app.Use(New(Config{Cache: v.cache(), TTL: time.Hour}))
			app.Get("/blog", renderPage)
			serveLoop(b, app, true)
		})
	}
}
