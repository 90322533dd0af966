package redisbus_test

import (
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/internal/testserver"
	"github.com/cachekit/cachekit/redisbus"
	storage "github.com/gofiber/storage/redis/v3"
	"github.com/redis/go-redis/v9"
)

func TestMain(m *testing.M) {
	testserver.Announce("redisbus", "CACHEKIT_REDIS_ADDR")
	os.Exit(m.Run())
}

func redisClient(t testing.TB) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: testserver.Addr(t, "CACHEKIT_REDIS_ADDR")})
	t.Cleanup(func() { c.Close() })
	return c
}

// instance is one machine of a site: a local Memory in front of the shared
// Redis, with invalidations on the bus.
func instance(t testing.TB, client *redis.Client, prefix string, hot bool) *cachekit.Cache {
	t.Helper()
	local, err := cachekit.NewMemory(cachekit.MemoryConfig{MaxBytes: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	c := cachekit.New(cachekit.Config{
		Storage:  storage.NewFromConnection(client),
		Prefix:   prefix,
		Local:    local,
		LocalTTL: time.Minute, // long: only the bus can make B see A's invalidation in time
		Bus:      redisbus.New(client, "cachekit:test:"+prefix),
		HotBytes: map[bool]int64{true: 0, false: -1}[hot],
	})
	if c.Err() != nil {
		t.Fatal(c.Err())
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestInvalidationReachesOtherInstances(t *testing.T) {
	client := redisClient(t)
	prefix := "bus" + strconv.FormatUint(rand.Uint64(), 36)
	a, b := instance(t, client, prefix, true), instance(t, client, prefix, false)

	a.Set("page", []byte("v1"), time.Hour, "product:1")
	for i := 0; i < 3; i++ {
		if v, ok, _ := b.Get("page"); !ok || string(v) != "v1" {
			t.Fatalf("B does not see A's entry: %q %v", v, ok)
		}
	}
	if b.Stats().LocalHits == 0 {
		t.Fatal("B never read from its Local store")
	}
	start := time.Now()
	if err := a.InvalidateTags("product:1"); err != nil {
		t.Fatal(err)
	}
	for {
		if _, ok, _ := b.Get("page"); !ok {
			break
		}
		if time.Since(start) > 2*time.Second {
			t.Fatal("B still serves the entry 2 s after A invalidated it (LocalTTL is a minute)")
		}
		time.Sleep(time.Millisecond)
	}
	t.Logf("B saw the invalidation after %v", time.Since(start))
	// A (with its hot layer) never serves it, not even for a moment.
	if _, ok, _ := a.Get("page"); ok {
		t.Fatal("A serves what it invalidated")
	}
}

func TestSubscribeFailsClearlyWithoutRedis(t *testing.T) {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	defer client.Close()
	if _, err := redisbus.New(client, "x").Subscribe(func(string) {}); err == nil {
		t.Fatal("Subscribe to a dead Redis: no error")
	}
	// A Cache whose Bus cannot subscribe still works, reading generations
	// from the shared store.
	local, _ := cachekit.NewMemory(cachekit.MemoryConfig{MaxBytes: 1 << 20})
	c := cachekit.New(cachekit.Config{Storage: cachekit.NewDummy(), Local: local, Bus: redisbus.New(client, "x")})
	if c.Err() != nil {
		t.Fatal(c.Err())
	}
}

// A hit on a tagged 2.5 KB entry: the embedded store alone, the two-level
// mode reading the generation from Redis, and the two-level mode with the bus.
func BenchmarkTwoLevelHit(b *testing.B) {
	client := redisClient(b)
	val := make([]byte, 2500)
	run := func(b *testing.B, c *cachekit.Cache) {
		for i := 0; i < 64; i++ {
			c.Set("page"+strconv.Itoa(i), val, time.Hour, "pages")
		}
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if r, _ := c.Lookup("page" + strconv.Itoa(i%64)); r.Status != cachekit.Hit {
					panic("miss")
				}
				i++
			}
		})
	}
	b.Run("Memory", func(b *testing.B) { run(b, cachekit.New(cachekit.Config{})) })
	b.Run("two-level", func(b *testing.B) {
		local, _ := cachekit.NewMemory(cachekit.MemoryConfig{MaxBytes: 8 << 20})
		run(b, cachekit.New(cachekit.Config{Storage: storage.NewFromConnection(client), Prefix: "b" + strconv.FormatUint(rand.Uint64(), 36), Local: local}))
	})
	b.Run("two-level-bus", func(b *testing.B) {
		run(b, instance(b, client, "b"+strconv.FormatUint(rand.Uint64(), 36), false))
	})
	b.Run("two-level-bus-hot", func(b *testing.B) {
		run(b, instance(b, client, "b"+strconv.FormatUint(rand.Uint64(), 36), true))
	})
}

// slowBus delivers messages late, as a loaded network may.
type slowBus struct{ *redisbus.Bus }

func (b slowBus) Subscribe(fn func(string)) (func(), error) {
	return b.Bus.Subscribe(func(m string) { time.AfterFunc(300*time.Millisecond, func() { fn(m) }) })
}

// Instance B invalidates a tag while A renders a page that adds that tag
// late. B's write reaches Redis before its message reaches A: A must not
// store the page it rendered before the edit.
func TestLateTagInvalidatedElsewhereDuringFill(t *testing.T) {
	client := redisClient(t)
	prefix := "bus" + strconv.FormatUint(rand.Uint64(), 36)
	local, _ := cachekit.NewMemory(cachekit.MemoryConfig{MaxBytes: 4 << 20})
	a := cachekit.New(cachekit.Config{Storage: storage.NewFromConnection(client), Prefix: prefix, Local: local,
		Bus: slowBus{redisbus.New(client, "cachekit:test:"+prefix)}})
	defer a.Close()
	b := instance(t, client, prefix, true)
	a.InvalidateTags("product:9") // the tag exists
	r, err := a.Load("page", cachekit.Policy{TTL: time.Hour}, func(p *cachekit.Policy) ([]byte, error) {
		b.InvalidateTags("product:9")
		p.Tags = append(p.Tags, "product:9")
		return []byte("rendered before the edit"), nil
	})
	if err != nil || r.Stored {
		t.Fatalf("A stored a page that predates B's invalidation (stored=%v, err=%v)", r.Stored, err)
	}
}
