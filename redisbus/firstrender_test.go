package redisbus_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"sync"
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
)

// Two instances on one real Redis, rounds of a race: a path's first render
// on A (no record yet; when tagged, the tag's first use too) against a
// change of the data and its invalidation on B (InvalidatePath, or
// InvalidateTags). Once the invalidation returned, B never serves the old
// data, and neither does A: at once when alone on Redis, once the bus
// message arrives in the two-level mode. Through redisbus.Atomic (a new
// generation is a SET NX) and gofiber's redis storage alone (a plain SET).
func TestFirstRenderRacesInvalidationOnRedis(t *testing.T) {
	addr := testserver.Addr(t, "CACHEKIT_REDIS_ADDR")
	for _, tc := range []struct {
		name             string
		atomic, twoLevel bool
		tagged           bool
	}{
		{"path, plain storage", false, false, false},
		{"path, Atomic", true, false, false},
		{"path, two-level", true, true, false},
		{"tag, plain storage", false, false, true},
		{"tag, Atomic", true, false, true},
		{"tag, two-level", true, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prefix := randomPrefix()
			var data atomic.Value
			mk := func() (*cachekit.Cache, *fiber.App) {
				client := goredis.NewClient(&goredis.Options{Addr: addr})
				t.Cleanup(func() { client.Close() })
				var store fiber.Storage = redisstore.NewFromConnection(client)
				if tc.atomic {
					store = redisbus.Atomic(redisstore.NewFromConnection(client))
				}
				cfg := cachekit.Config{Storage: store, Prefix: prefix, Timeout: 5 * time.Second,
					Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
				if tc.twoLevel {
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
				app := newApp()
				app.Use(fibercache.New(fibercache.Config{Cache: c, TTL: time.Hour}))
				app.Get("/p/:n", func(ctx *fiber.Ctx) error {
					if tc.tagged {
						fibercache.Tag(ctx, "t:"+ctx.Params("n")) // before the data
					}
					return ctx.SendString(data.Load().(string))
				})
				return c, app
			}
			_, a := mk()
			cacheB, b := mk()
			body := func(app *fiber.App, target string) string {
				resp, err := app.Test(httptest.NewRequest("GET", target, nil), -1)
				if err != nil {
					t.Error(err)
					return ""
				}
				defer resp.Body.Close()
				bs, _ := io.ReadAll(resp.Body)
				return string(bs)
			}
			for round := range 60 {
				target := fmt.Sprint("/p/", round)
				old, next := fmt.Sprint("v", round), fmt.Sprint("v", round, "+")
				data.Store(old)
				var wg sync.WaitGroup
				wg.Go(func() { body(a, target) })
				wg.Go(func() {
					time.Sleep(time.Duration(round%5) * 100 * time.Microsecond) // vary the interleaving
					data.Store(next)
					var err error
					if tc.tagged {
						err = cacheB.InvalidateTags(fmt.Sprint("t:", round))
					} else {
						err = fibercache.InvalidatePath(cacheB, target)
					}
					if err != nil {
						t.Error(err)
					}
				})
				wg.Wait()
				if got := body(b, target); got == old {
					t.Fatalf("round %d: B served %q after its invalidation returned", round, got)
				}
				if tc.twoLevel {
					eventually(t, fmt.Sprintf("round %d: A still serves %q", round, old), func() bool { return body(a, target) != old })
				} else if got := body(a, target); got == old {
					t.Fatalf("round %d: A served %q after the invalidation returned", round, got)
				}
			}
		})
	}
}
