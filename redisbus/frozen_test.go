package redisbus_test

import (
	"errors"
	"io"
	"log/slog"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/internal/testserver"
	"github.com/cachekit/cachekit/redisbus"
	redisstore "github.com/gofiber/storage/redis/v3"
	goredis "github.com/redis/go-redis/v9"
)

// Redis frozen by SIGSTOP under fibercache pages, one level and two-level
// with the bus, with the client as gofiber's redis.New builds it (go-redis
// ignores deadlines): with Timeout 100 ms no request waits more than 250
// ms, InvalidateTags returns in about one Timeout with an error, this
// instance stops serving what it invalidated, and after SIGCONT the
// invalidation reaches Redis and caching resumes.
func TestRedisFrozenUnderPages(t *testing.T) {
	for _, twoLevel := range []bool{false, true} {
		t.Run("two-level="+strconv.FormatBool(twoLevel), func(t *testing.T) {
			server := testserver.Redis(t)
			client := goredis.NewClient(&goredis.Options{Addr: server.Addr}) // no ContextTimeoutEnabled: the worst case
			t.Cleanup(func() { client.Close() })
			cfg := cachekit.Config{Storage: redisstore.NewFromConnection(client), Timeout: 100 * time.Millisecond,
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
			if twoLevel {
				local, _ := cachekit.NewMemory(cachekit.MemoryConfig{MaxBytes: 8 << 20})
				cfg.Local, cfg.LocalTTL = local, time.Minute
				cfg.Bus = redisbus.New(client, "cachekit:frozen")
			}
			cache := cachekit.New(cfg)
			t.Cleanup(func() { cache.Close() })
			var renders atomic.Int64
			app := siteApp(cache, &renders)
			for id := 0; id < 10; id++ {
				for i := 0; i < 3 && do(t, app, "GET", "/p/"+strconv.Itoa(id)).xcache != "HIT"; i++ {
				}
			}
			if r := do(t, app, "GET", "/p/1"); r.xcache != "HIT" {
				t.Fatalf("not warm: %s", r.xcache)
			}

			server.Stop()
			defer server.Cont()
			var slowest time.Duration
			for i := 0; i < 60; i++ {
				id := strconv.Itoa(i % 15) // 10 cached, 5 never
				start := time.Now()
				r := do(t, app, "GET", "/p/"+id)
				slowest = max(slowest, time.Since(start))
				if r.status != 200 || r.body != "product "+id {
					t.Fatalf("request %d with Redis frozen: %d %q", i, r.status, r.body)
				}
			}
			start := time.Now()
			err := cache.InvalidateTags("product:1", "product:2")
			took := time.Since(start)
			if err == nil || !(errors.Is(err, cachekit.ErrTimeout) || errors.Is(err, cachekit.ErrCircuitOpen)) {
				t.Fatalf("InvalidateTags with Redis frozen: %v, want a timeout or open circuit", err)
			}
			slowest = max(slowest, took)
			if r := do(t, app, "GET", "/p/1"); r.xcache == "HIT" {
				t.Fatal("this instance serves a page it invalidated while Redis was frozen")
			}
			s := cache.Stats()
			t.Logf("Redis frozen: slowest request %v, InvalidateTags %v; %+v", slowest, took, s)
			if slowest > 250*time.Millisecond {
				t.Fatalf("a request waited %v with Redis frozen (Timeout 100 ms)", slowest)
			}
			if s.Timeouts == 0 || s.Abandoned == 0 || s.Running > int64(cachekit.DefaultMaxAbandoned) {
				t.Fatalf("timeouts not counted or abandoned calls unbounded: %+v", s)
			}

			server.Cont()
			resumed := time.Now()
			deadline := resumed.Add(10 * time.Second)
			for {
				r := do(t, app, "GET", "/p/3")
				if r.xcache == "HIT" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("caching did not resume within 10 s of SIGCONT")
				}
				time.Sleep(20 * time.Millisecond)
			}
			t.Logf("caching resumed %v after SIGCONT", time.Since(resumed))
			// The invalidation reached Redis: a fresh instance does not
			// serve the old page either.
			deadline = time.Now().Add(5 * time.Second)
			for {
				other := cachekit.New(cachekit.Config{Storage: redisstore.NewFromConnection(client), Logger: cfg.Logger})
				r := do(t, siteApp(other, &renders), "GET", "/p/1")
				if r.xcache != "HIT" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the invalidation made while Redis was frozen never reached it")
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}
