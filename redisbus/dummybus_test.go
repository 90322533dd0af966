package redisbus_test

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/internal/testserver"
	"github.com/cachekit/cachekit/redisbus"
	goredis "github.com/redis/go-redis/v9"
)

// A Dummy store with the two-level mode's Bus ("cache off" by Storage
// alone, Local and Bus left configured): the Bus is still a network call,
// bounded by the Timeout as the Bus documentation promises. With Redis
// frozen, InvalidateTags returns in about one Timeout, not after the
// client's own ReadTimeout (go-redis ignores the deadline without
// ContextTimeoutEnabled: 3 s by default, never with -1).
func TestDummyStoreBusPublishBounded(t *testing.T) {
	const timeout = 200 * time.Millisecond
	server := testserver.Redis(t)
	client := goredis.NewClient(&goredis.Options{Addr: server.Addr}) // no ContextTimeoutEnabled: the worst case
	t.Cleanup(func() { client.Close() })
	local, err := cachekit.NewMemory(cachekit.MemoryConfig{MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	cache := cachekit.New(cachekit.Config{Storage: cachekit.NewDummy(), Local: local, LocalTTL: time.Minute,
		Bus: redisbus.New(client, "cachekit:dummybus"), Timeout: timeout,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := cache.Err(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cache.Close() })
	server.Stop()
	t.Cleanup(server.Cont) // registered last, runs first: before the cache and the client close
	start := time.Now()
	_ = cache.InvalidateTags("t") // the publish fails (logged), InvalidateTags returns
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("InvalidateTags over a Dummy with a frozen Bus took %v (Timeout %v)", took, timeout)
	}
}
