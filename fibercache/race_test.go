package fibercache

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/gofiber/fiber/v2"
)

// Concurrent requests that coalesce on one render must never be handed a
// response that was not storable: each runs its own handler.
func TestCoalescedWaitersNeverShareAPersonalResponse(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		app := newApp()
		app.Use(New(Config{Cache: newCache(t)}))
		var runs atomic.Int64
		app.Get("/welcome", func(c *fiber.Ctx) error {
			n := runs.Add(1)
			time.Sleep(50 * time.Millisecond)
			c.Cookie(&fiber.Cookie{Name: "visitor", Value: fmt.Sprint("v", n)})
			return c.SendString(fmt.Sprint("welcome visitor v", n))
		})
		base, client := listenInMemory(t, app, 20)
		var wg sync.WaitGroup
		var mu sync.Mutex
		seen := map[string]bool{}
		for i := 0; i < 20; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := fetch(t, client, base+"/welcome")
				cookie := r.header.Get("Set-Cookie")
				if !strings.HasPrefix(cookie, "visitor=v") || !strings.Contains(r.body, strings.TrimPrefix(strings.SplitN(cookie, ";", 2)[0], "visitor=")) {
					t.Errorf("body %q does not match its own cookie %q", r.body, cookie)
				}
				mu.Lock()
				if seen[r.body] {
					t.Errorf("two clients got the same personal page %q", r.body)
				}
				seen[r.body] = true
				mu.Unlock()
			}()
		}
		wg.Wait()
		expect(t, "handler runs", runs.Load(), int64(20))
	})
}

// Waiters get the one render, marked collapsed.
func TestCoalescedWaitersAreMarked(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		app := newApp()
		app.Use(New(Config{Cache: newCache(t)}))
		var runs atomic.Int64
		app.Get("/slow", func(c *fiber.Ctx) error {
			runs.Add(1)
			time.Sleep(150 * time.Millisecond)
			return c.SendString("slow page")
		})
		base, client := listenInMemory(t, app, 10)
		var wg sync.WaitGroup
		var collapsed atomic.Int64
		for i := 0; i < 10; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := fetch(t, client, base+"/slow")
				if r.body != "slow page" {
					t.Errorf("body %q", r.body)
				}
				if r.cacheStatus() == "cachekit; fwd=uri-miss; collapsed; stored" && r.xcache() == "MISS" {
					collapsed.Add(1)
				}
			}()
		}
		wg.Wait()
		expect(t, "handler runs", runs.Load(), int64(1))
		if collapsed.Load() == 0 {
			t.Errorf("no waiter was marked collapsed")
		}
	})
}

// An InvalidatePath that lands while a page renders is never undone: the
// render is not served afterwards, whether or not it had to learn a Vary
// list (which rewrites the path's record).
func TestInvalidationDuringRenderIsKept(t *testing.T) {
	for _, vary := range []bool{false, true} {
		t.Run(fmt.Sprint("vary=", vary), func(t *testing.T) {
			cache := newCache(t)
			app := newApp()
			app.Use(New(Config{Cache: cache}))
			var runs atomic.Int64
			var invalidate atomic.Bool
			invalidate.Store(true)
			app.Get("/p", func(c *fiber.Ctx) error {
				n := runs.Add(1)
				if vary {
					c.Vary("X-Theme")
				}
				body := fmt.Sprint("render ", n) // made from the old data
				if invalidate.CompareAndSwap(true, false) {
					if err := InvalidatePath(cache, "/p"); err != nil { // the data changes meanwhile
						t.Error(err)
					}
				}
				return c.SendString(body)
			})
			get(t, app, "/p")
			r := get(t, app, "/p")
			if r.body == "render 1" {
				t.Fatalf("a render that predates an invalidation was served after it (%s)", r.cacheStatus())
			}
		})
	}
}

// A middleware in front that rewrites the path by a header: the key holds
// the path the handler sees, not only the request target.
func TestRewriteInFront(t *testing.T) {
	app := newApp()
	app.Use(func(c *fiber.Ctx) error {
		if c.Get("X-Mobile") != "" {
			c.Path("/m" + c.Path())
		}
		return c.Next()
	})
	app.Use(New(Config{Cache: newCache(t)}))
	app.Get("/page", func(c *fiber.Ctx) error { return c.SendString("desktop") })
	app.Get("/m/page", func(c *fiber.Ctx) error { return c.SendString("mobile") })
	get(t, app, "/page")
	expect(t, "desktop hit", get(t, app, "/page").xcache(), "HIT")
	expect(t, "mobile", get(t, app, "/page", "X-Mobile", "1").body, "mobile")
	expect(t, "mobile hit", get(t, app, "/page", "X-Mobile", "1").body, "mobile")
	expect(t, "desktop again", get(t, app, "/page").body, "desktop")
}

// Secret header values never appear in a storage key in clear.
func TestSecretsNotInKeys(t *testing.T) {
	m := newMiddleware(configDefault(Config{Cache: cachekit.New(cachekit.Config{})}), false)
	for _, vary := range []string{"Cookie", "Authorization"} {
		rec := &record{nonce: []byte("0123456789abcdef"), vary: []byte(vary)}
		k := keyFor(m, rec, "example.com", "/", "Cookie", "session=topsecret", "Authorization", "Bearer topsecret")
		if strings.Contains(k, "topsecret") {
			t.Errorf("Vary: %s key %q holds the secret", vary, k)
		}
	}
	mu := newMiddleware(configDefault(Config{Cache: cachekit.New(cachekit.Config{}), UserCookie: "session"}), false)
	rec := &record{nonce: []byte("0123456789abcdef")}
	k1 := keyFor(mu, rec, "example.com", "/", "Cookie", "session=topsecret")
	k2 := keyFor(mu, rec, "example.com", "/", "Cookie", "session=other")
	if strings.Contains(k1, "topsecret") || k1 == k2 {
		t.Errorf("per-user keys %q %q", k1, k2)
	}
}
