package redisbus_test

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/fibercache"
	"github.com/cachekit/cachekit/internal/testserver"
	"github.com/cachekit/cachekit/loader"
	"github.com/gofiber/fiber/v2"
)

type product struct {
	ID   int
	Name string
}

// listApp serves /list: a page tagged by hand (shop) holding a {{cache}}
// list block of card blocks tagged p:<id>, rendered by the loader.
func listApp(cache *cachekit.Cache, products *atomic.Pointer[[]product], renders *atomic.Int64) *fiber.App {
	app := fiber.New(fiber.Config{DisableStartupMessage: true, Views: loader.New("testdata", ".html").Cache(cache)})
	app.Use(fibercache.New(fibercache.Config{Cache: cache, TTL: time.Hour}))
	app.Get("/list", func(c *fiber.Ctx) error {
		renders.Add(1)
		fibercache.Tag(c, "shop")
		return c.Render("pages/list", fiber.Map{"Products": *products.Load()})
	})
	return app
}

// Over a real Redis, two instances in the two-level mode with the bus: a
// tagged page is stored on its first render, and an invalidation of a card
// nested in a list block reaches the page on instance B.
func TestNestedInvalidationReachesOtherInstance(t *testing.T) {
	addr := testserver.Addr(t, "CACHEKIT_REDIS_ADDR")
	for _, twoLevel := range []bool{true, false} {
		t.Run(fmt.Sprint("two-level=", twoLevel), func(t *testing.T) {
			prefix := "deps" + strconv.FormatUint(rand.Uint64(), 36)
			var products atomic.Pointer[[]product]
			products.Store(&[]product{{1, "lamp"}, {2, "desk"}})
			var rendersA, rendersB atomic.Int64
			cacheA, cacheB := siteInstance(t, addr, prefix, twoLevel), siteInstance(t, addr, prefix, twoLevel)
			a, b := listApp(cacheA, &products, &rendersA), listApp(cacheB, &products, &rendersB)

			r := do(t, a, "GET", "/list")
			if r.xcache != "MISS" || !strings.Contains(r.body, "lamp") {
				t.Fatalf("A, first: %s %q", r.xcache, r.body)
			}
			if r := do(t, a, "GET", "/list"); r.xcache != "HIT" {
				t.Fatalf("A, second: %s: a tagged page is stored on its first render", r.xcache)
			}
			if r := do(t, b, "GET", "/list"); r.xcache != "HIT" || rendersB.Load() != 0 {
				t.Fatalf("B does not serve A's page: %s, %d renders", r.xcache, rendersB.Load())
			}
			do(t, b, "GET", "/list") // B holds it locally in the two-level mode

			products.Store(&[]product{{1, "LAMP"}, {2, "desk"}})
			if err := cacheA.InvalidateTags("p:1"); err != nil {
				t.Fatal(err)
			}
			eventually(t, "B still serves a page built from a card A invalidated", func() bool {
				r := do(t, b, "GET", "/list")
				return r.xcache != "HIT" && strings.Contains(r.body, "LAMP")
			})
			// B re-rendered from the cards it could reuse: desk is a hit.
			if r := do(t, b, "GET", "/list"); r.xcache != "HIT" || !strings.Contains(r.body, "LAMP") {
				t.Fatalf("B after its render: %s %q", r.xcache, r.body)
			}
			// And the hand-written tag still works.
			if err := cacheB.InvalidateTags("shop"); err != nil {
				t.Fatal(err)
			}
			eventually(t, "A still serves a page whose tag B invalidated", func() bool { return do(t, a, "GET", "/list").xcache != "HIT" })
		})
	}
}
