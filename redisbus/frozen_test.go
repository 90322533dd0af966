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
// ignores deadlines): no request waits more than 2.5 Timeouts (one, two
// halves, and headroom), InvalidateTags returns in about one Timeout with
// an error, this instance stops serving what it invalidated, and after
// SIGCONT the invalidation reaches Redis and caching resumes.
//
// The Timeout is a second, not 100 ms: a loaded 2-core machine adds a few
// hundred milliseconds of scheduling to a request (548 ms was seen against
// a bound of 250 ms); with a second those fit in the headroom (half a
// Timeout, more when this run's requests with Redis up were slow), and a
// request that waited one Timeout per call, or for Redis, exceeds it.
func TestRedisFrozenUnderPages(t *testing.T) {
	const timeout = time.Second
	for _, twoLevel := range []bool{false, true} {
		t.Run("two-level="+strconv.FormatBool(twoLevel), func(t *testing.T) {
			server := testserver.Redis(t)
			client := goredis.NewClient(&goredis.Options{Addr: server.Addr}) // no ContextTimeoutEnabled: the worst case
			t.Cleanup(func() { client.Close() })
			cfg := cachekit.Config{Storage: redisstore.NewFromConnection(client), Timeout: timeout,
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
			var live time.Duration // the slowest request with Redis up: this run's scheduling delays
			for id := 0; id < 10; id++ {
				for i := 0; i < 3; i++ {
					start := time.Now()
					hit := do(t, app, "GET", "/p/"+strconv.Itoa(id)).xcache == "HIT"
					live = max(live, time.Since(start))
					if hit {
						break
					}
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
			// One Timeout and two halves, plus headroom: half a Timeout, or
			// three times the slowest request with Redis up when this run
			// is slower than that.
			if bound := 2*timeout + max(timeout/2, 3*live); slowest > bound {
				t.Fatalf("a request waited %v with Redis frozen (Timeout %v, bound %v, slowest with Redis up %v)", slowest, timeout, bound, live)
			}
			if s.Timeouts == 0 || s.Abandoned == 0 || s.Running > int64(cachekit.DefaultMaxAbandoned) {
				t.Fatalf("timeouts not counted or abandoned calls unbounded: %+v", s)
			}

			server.Cont()
			resumed := time.Now()
			// The key groups' circuits that opened stay open for the
			// CircuitCooldown: the deadlines below are past it.
			deadline := resumed.Add(cachekit.DefaultCircuitCooldown + 10*time.Second)
			for {
				r := do(t, app, "GET", "/p/3")
				if r.xcache == "HIT" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("caching did not resume within %v of SIGCONT", cachekit.DefaultCircuitCooldown+10*time.Second)
				}
				time.Sleep(20 * time.Millisecond)
			}
			t.Logf("caching resumed %v after SIGCONT", time.Since(resumed))
			// The invalidation reached Redis: a fresh instance does not
			// serve the old page either.
			deadline = time.Now().Add(cachekit.DefaultCircuitCooldown + 10*time.Second) // the pending retry waits out its group's circuit
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
