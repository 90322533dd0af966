package storetest

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/internal/testserver"
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/storage/bbolt/v2"
	"github.com/gofiber/storage/memcache"
	"github.com/gofiber/storage/postgres/v3"
	"github.com/gofiber/storage/redis/v3"
	"github.com/gofiber/storage/sqlite3/v2"
	goredis "github.com/redis/go-redis/v9"
)

func TestMain(m *testing.M) {
	testserver.Announce("storetest", "CACHEKIT_REDIS_ADDR", "CACHEKIT_REDIS_CLUSTER_ADDRS", "CACHEKIT_MEMCACHED_ADDRS", "CACHEKIT_POSTGRES_DSN")
	os.Exit(m.Run())
}

// A driver, set up the way the README says.
type driver struct {
	name string
	open func(t testing.TB) fiber.Storage
	// keys lists every key of the store with its TTL (negative: none), for
	// the stores that can say; nil otherwise.
	keys func(t testing.TB, s fiber.Storage) map[string]time.Duration
}

// redisOptions are the client options the README gives: go-redis honours
// context deadlines only with ContextTimeoutEnabled, and gives up on a
// dead server quickly.
func redisOptions(addr string) *goredis.Options {
	return &goredis.Options{Addr: addr, ContextTimeoutEnabled: true,
		DialTimeout: time.Second, ReadTimeout: 500 * time.Millisecond, WriteTimeout: 500 * time.Millisecond,
		PoolTimeout: 500 * time.Millisecond, DialerRetries: 1, DialerRetryTimeout: time.Millisecond}
}

func clusterOptions(addrs []string) *goredis.ClusterOptions {
	return &goredis.ClusterOptions{Addrs: addrs, ContextTimeoutEnabled: true,
		DialTimeout: time.Second, ReadTimeout: 500 * time.Millisecond, WriteTimeout: 500 * time.Millisecond,
		PoolTimeout: 500 * time.Millisecond, MaxRedirects: 1, MinRetryBackoff: -1,
		// go-redis retries a refused dial 5 times, 100 ms apart: a dead
		// node would cost every call on its slots a second.
		DialerRetries: 1, DialerRetryTimeout: time.Millisecond}
}

func redisKeys(t testing.TB, c goredis.UniversalClient) map[string]time.Duration {
	t.Helper()
	ctx := t.Context()
	out := map[string]time.Duration{}
	var mu sync.Mutex // ForEachMaster runs on every master at once
	scan := func(c *goredis.Client) {
		iter := c.Scan(ctx, 0, "*", 1000).Iterator()
		for iter.Next(ctx) {
			k := iter.Val()
			ttl, err := c.PTTL(ctx, k).Result()
			if err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			out[k] = ttl
			mu.Unlock()
		}
		if err := iter.Err(); err != nil {
			t.Fatal(err)
		}
	}
	switch c := c.(type) {
	case *goredis.ClusterClient:
		if err := c.ForEachMaster(ctx, func(ctx context.Context, m *goredis.Client) error { scan(m); return nil }); err != nil {
			t.Fatal(err)
		}
	case *goredis.Client:
		scan(c)
	}
	return out
}

var drivers = []driver{
	// The embedded store with its other eviction policy, against the
	// default Memory TestPageHit compares every driver with.
	{name: "Memory-TinyLFU", open: func(t testing.TB) fiber.Storage {
		m, err := cachekit.NewMemory(cachekit.MemoryConfig{MaxBytes: 32 << 20, Eviction: cachekit.EvictTinyLFU})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		return m
	}},
	{name: "Redis", open: func(t testing.TB) fiber.Storage {
		client := goredis.NewClient(redisOptions(testserver.Addr(t, "CACHEKIT_REDIS_ADDR")))
		t.Cleanup(func() { client.Close() })
		return redis.NewFromConnection(client)
	}, keys: func(t testing.TB, s fiber.Storage) map[string]time.Duration {
		return redisKeys(t, s.(*redis.Storage).Conn())
	}},
	{name: "RedisCluster", open: func(t testing.TB) fiber.Storage {
		client := goredis.NewClusterClient(clusterOptions(strings.Split(testserver.Addr(t, "CACHEKIT_REDIS_CLUSTER_ADDRS"), ",")))
		t.Cleanup(func() { client.Close() })
		return redis.NewFromConnection(client)
	}, keys: func(t testing.TB, s fiber.Storage) map[string]time.Duration {
		return redisKeys(t, s.(*redis.Storage).Conn())
	}},
	{name: "Memcached", open: func(t testing.TB) fiber.Storage {
		return memcache.New(memcache.Config{Servers: testserver.Addr(t, "CACHEKIT_MEMCACHED_ADDRS")})
	}},
	{name: "PostgreSQL", open: func(t testing.TB) fiber.Storage {
		table := "cachekit_" + strconv.FormatInt(time.Now().UnixNano(), 36)
		s := &pgStore{postgres.New(postgres.Config{ConnectionURI: dsnURI(testserver.Addr(t, "CACHEKIT_POSTGRES_DSN")),
			Table: table, GCInterval: time.Hour}), table}
		t.Cleanup(func() { s.Close() })
		return s
	}, keys: func(t testing.TB, s fiber.Storage) map[string]time.Duration {
		return sqlKeys(t, s)
	}},
	{name: "SQLite", open: func(t testing.TB) fiber.Storage {
		s := sqlite3.New(sqlite3.Config{Database: filepath.Join(t.TempDir(), "cache.db"), Table: "cachekit", GCInterval: time.Hour})
		t.Cleanup(func() { s.Close() })
		return s
	}, keys: func(t testing.TB, s fiber.Storage) map[string]time.Duration {
		return sqlKeys(t, s)
	}},
	{name: "bbolt", open: func(t testing.TB) fiber.Storage {
		s := bbolt.New(bbolt.Config{Database: filepath.Join(t.TempDir(), "cache.bolt"), Bucket: "cachekit"})
		t.Cleanup(func() { s.Close() })
		return s
	}},
}

// dsnURI turns make test's key=value DSN into the URI the postgres driver takes.
func dsnURI(dsn string) string {
	f := map[string]string{}
	for _, kv := range strings.Fields(dsn) {
		k, v, _ := strings.Cut(kv, "=")
		f[k] = v
	}
	return "postgres://" + f["user"] + "@" + net.JoinHostPort(f["host"], f["port"]) + "/" + f["dbname"] + "?sslmode=" + f["sslmode"]
}
