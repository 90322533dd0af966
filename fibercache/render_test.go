package fibercache

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
)

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

func TestColdStampedeRendersOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("500 connections")
	}
	ours := stampede(t, 500, New(Config{Cache: newCache(t)}))
	t.Logf("500 concurrent cold requests: fibercache ran the handler %d time(s)", ours)
	expect(t, "fibercache handler runs", ours, int64(1))
}

func TestStaleWhileRevalidate(t *testing.T) {
	inBubble(t, func(t *testing.T) {
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
		base, client := listenInMemory(t, app, 32)
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
	})
}

func TestStaleIfError(t *testing.T) {
	for _, failure := range []string{"status 500", "status 503", "error", "404 error"} {
		t.Run(failure, func(t *testing.T) {
			inBubble(t, func(t *testing.T) {
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
		})
	}
}
