package cachekit

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/cachekit/cachekit/internal/testserver"
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/storage/redis/v3"
)

// The same behaviour suite runs over every store users pick: the embedded
// Memory, a real Redis (gofiber/storage/redis) and a real Memcached. make test
// starts the servers and passes their addresses in CACHEKIT_REDIS_ADDR and
// CACHEKIT_MEMCACHED_ADDR.

func TestMain(m *testing.M) {
	testserver.Announce("cachekit", "CACHEKIT_REDIS_ADDR", "CACHEKIT_MEMCACHED_ADDR")
	os.Exit(m.Run())
}

func redisStore(t testing.TB, addr string) fiber.Storage {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	s := redis.New(redis.Config{Host: host, Port: p})
	t.Cleanup(func() { s.Close() })
	return s
}

// memcachedStore is a fiber.Storage on gomemcache, the client that
// gofiber/storage/memcache wraps (that driver is not served by the module
// proxy this project builds from).
type memcachedStore struct{ c *memcache.Client }

func newMemcachedStore(addr string) *memcachedStore {
	c := memcache.New(addr)
	c.Timeout = time.Second
	return &memcachedStore{c}
}

func (s *memcachedStore) Get(key string) ([]byte, error) {
	it, err := s.c.Get(key)
	if errors.Is(err, memcache.ErrCacheMiss) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return it.Value, nil
}

func (s *memcachedStore) Set(key string, val []byte, exp time.Duration) error {
	if key == "" || len(val) == 0 {
		return nil
	}
	secs := int32((exp + time.Second - 1) / time.Second)
	return s.c.Set(&memcache.Item{Key: key, Value: val, Expiration: secs})
}

func (s *memcachedStore) Delete(key string) error {
	if err := s.c.Delete(key); err != nil && !errors.Is(err, memcache.ErrCacheMiss) {
		return err
	}
	return nil
}

func (s *memcachedStore) Reset() error { return s.c.DeleteAll() }
func (s *memcachedStore) Close() error { return s.c.Close() }

type storeCase struct {
	name string
	open func(t testing.TB) fiber.Storage
}

var storeCases = []storeCase{
	{"Memory", func(t testing.TB) fiber.Storage { return newTestMemory(t, MemoryConfig{MaxBytes: 8 << 20}) }},
	{"Memory-TinyLFU", func(t testing.TB) fiber.Storage {
		return newTestMemory(t, MemoryConfig{MaxBytes: 8 << 20, Eviction: EvictTinyLFU})
	}},
	{"Redis", func(t testing.TB) fiber.Storage { return redisStore(t, testserver.Addr(t, "CACHEKIT_REDIS_ADDR")) }},
	{"Memcached", func(t testing.TB) fiber.Storage {
		return newMemcachedStore(testserver.Addr(t, "CACHEKIT_MEMCACHED_ADDR"))
	}},
}

// uniquePrefix keeps tests that share one server apart.
func uniquePrefix() string { return "t" + strconv.FormatUint(rand.Uint64(), 36) }

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestStores(t *testing.T) {
	for _, sc := range storeCases {
		t.Run(sc.name, func(t *testing.T) {
			store := sc.open(t)
			newCache := func() *Cache {
				return New(Config{Storage: store, Prefix: uniquePrefix(), Timeout: 2 * time.Second, Logger: quiet()})
			}
			t.Run("GetSetDelete", func(t *testing.T) {
				c := newCache()
				big := bytes.Repeat([]byte("0123456789"), 50_000) // 500 KB
				if err := c.Set("big", big, time.Minute); err != nil {
					t.Fatal(err)
				}
				if v, ok, err := c.Get("big"); !ok || err != nil || !bytes.Equal(v, big) {
					t.Fatalf("big value: ok=%v err=%v len=%d", ok, err, len(v))
				}
				c.Set("odd key with spaces and ünicode", []byte("v"), time.Minute)
				if v, ok, _ := c.Get("odd key with spaces and ünicode"); !ok || string(v) != "v" {
					t.Fatal("odd key not round-tripped")
				}
				c.Delete("big")
				if _, ok, _ := c.Get("big"); ok {
					t.Fatal("deleted entry served")
				}
			})
			t.Run("TTL", func(t *testing.T) {
				c := newCache()
				c.Set("k", []byte("v"), time.Second)
				if _, ok, _ := c.Get("k"); !ok {
					t.Fatal("fresh entry missing")
				}
				time.Sleep(1100 * time.Millisecond)
				if _, ok, _ := c.Get("k"); ok {
					t.Fatal("served after its TTL")
				}
			})
			t.Run("Tags", func(t *testing.T) {
				c := newCache()
				c.Set("a", []byte("a"), time.Minute, "x")
				c.Set("b", []byte("b"), time.Minute, "y")
				c.InvalidateTags("x")
				if _, ok, _ := c.Get("a"); ok {
					t.Fatal("invalidated entry served")
				}
				if _, ok, _ := c.Get("b"); !ok {
					t.Fatal("untouched entry lost")
				}
			})
			t.Run("LostGeneration", func(t *testing.T) {
				c := newCache()
				c.Set("k", []byte("old"), time.Minute, "t")
				c.InvalidateTags("t")
				store.Delete(c.keys.storageKey(kindTag, "t"))
				c.Set("other", []byte("new"), time.Minute, "t")
				if _, ok, _ := c.Get("k"); ok {
					t.Fatal("invalidated entry revived by a lost generation")
				}
			})
			t.Run("Coalescing", func(t *testing.T) {
				c := newCache()
				var runs atomic.Int32
				var wg sync.WaitGroup
				start := make(chan struct{})
				for i := 0; i < 200; i++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						v, err := c.GetOrSet("cold", time.Minute, func() ([]byte, error) {
							runs.Add(1)
							time.Sleep(100 * time.Millisecond)
							return []byte("v"), nil
						})
						if err != nil || string(v) != "v" {
							t.Errorf("GetOrSet: %q %v", v, err)
						}
					}()
				}
				close(start)
				wg.Wait()
				if n := runs.Load(); n != 1 {
					t.Fatalf("loader ran %d times for 200 concurrent misses", n)
				}
			})
			t.Run("Stale", func(t *testing.T) {
				c := newCache()
				now := time.Now()
				var mu sync.Mutex
				c.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
				p := Policy{TTL: time.Minute, StaleWhileRevalidate: time.Minute, StaleIfError: time.Hour}
				c.Load("k", p, func(*Policy) ([]byte, error) { return []byte("v1"), nil })
				mu.Lock()
				now = now.Add(90 * time.Second)
				mu.Unlock()
				refreshed := make(chan struct{})
				r, _ := c.Load("k", p, func(*Policy) ([]byte, error) { close(refreshed); return []byte("v2"), nil })
				if r.Status != Stale || string(r.Value) != "v1" {
					t.Fatalf("stale-while-revalidate: %v %q", r.Status, r.Value)
				}
				<-refreshed
				deadline := time.Now().Add(3 * time.Second)
				for r.Status != Hit && time.Now().Before(deadline) { // the refresh lands
					time.Sleep(5 * time.Millisecond)
					r, _ = c.Lookup("k")
				}
				if string(r.Value) != "v2" {
					t.Fatalf("refresh not stored: %v %q", r.Status, r.Value)
				}
				mu.Lock()
				now = now.Add(5 * time.Minute)
				mu.Unlock()
				r, _ = c.Load("k", p, func(*Policy) ([]byte, error) { return nil, errors.New("down") })
				if r.Status != Stale || string(r.Value) != "v2" || r.FillErr == nil {
					t.Fatalf("stale-if-error: %v %q %v", r.Status, r.Value, r.FillErr)
				}
			})
			t.Run("Corrupt", func(t *testing.T) {
				c := newCache()
				store.Set(c.keys.storageKey(kindEntry, "k"), []byte("random bytes, not an entry"), time.Minute)
				v, err := c.GetOrSet("k", time.Minute, func() ([]byte, error) { return []byte("fresh"), nil })
				if err != nil || string(v) != "fresh" || c.Stats().Corrupt == 0 {
					t.Fatalf("corrupt entry: %q %v %+v", v, err, c.Stats())
				}
			})
			t.Run("TwoInstances", func(t *testing.T) {
				if strings.HasPrefix(sc.name, "Memory") {
					t.Skip("an embedded store is not shared between machines")
				}
				prefix := uniquePrefix()
				for _, twoLevel := range []bool{false, true} {
					mk := func() *Cache {
						cfg := Config{Storage: store, Prefix: prefix, Timeout: 2 * time.Second, Logger: quiet()}
						if twoLevel {
							cfg.Local = newTestMemory(t, MemoryConfig{MaxBytes: 2 << 20})
							cfg.LocalTTL = time.Minute
						}
						return New(cfg)
					}
					a, b := mk(), mk()
					key := fmt.Sprint("page-", twoLevel)
					a.Set(key, []byte("from A"), time.Minute, "product:1")
					if v, ok, _ := b.Get(key); !ok || string(v) != "from A" {
						t.Fatalf("two-level=%v: B does not see A's entry", twoLevel)
					}
					b.Get(key) // B now holds it locally in the two-level mode
					if err := a.InvalidateTags("product:1"); err != nil {
						t.Fatal(err)
					}
					if _, ok, _ := b.Get(key); ok {
						t.Fatalf("two-level=%v: B serves what A invalidated", twoLevel)
					}
					if twoLevel && b.Stats().LocalHits == 0 {
						t.Fatal("two-level mode never read from Local")
					}
				}
			})
		})
	}
}

// Memcached evicts under pressure, the tag generations too: a lost
// generation must never bring invalidated data back.
func TestMemcachedEvictionNeverRevives(t *testing.T) {
	mc := testserver.Start(t, "CACHEKIT_MEMCACHED_SERVER", func(port int) []string {
		return []string{"-l", "127.0.0.1", "-p", strconv.Itoa(port), "-U", "0", "-m", "2", "-u", "root"}
	})
	store := newMemcachedStore(mc.Addr)
	c := New(Config{Storage: store, Timeout: 2 * time.Second, Logger: quiet()})
	for i := 0; i < 50; i++ {
		c.Set(fmt.Sprint("old", i), []byte("stale"), time.Hour, "t")
	}
	c.InvalidateTags("t")
	tagKey := c.keys.storageKey(kindTag, "t")
	// memcached evicts per slab class: fill with items of the generation's
	// size, many times its memory, without touching the generation (a read
	// would protect it in memcached's LRU).
	// Rounds of writes until memcached reports evictions (its stats, not a
	// read of the generation), at most 200,000 writes.
	filler := bytes.Repeat([]byte("f"), generationLen)
	for round := 0; round < 10 && memcachedEvictions(t, mc.Addr) == 0; round++ {
		var wg sync.WaitGroup
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := 0; i < 2_500; i++ {
					store.Set(fmt.Sprintf(":0:t:fill-%d-%d-%05d", round, w, i), filler, time.Hour)
				}
			}(w)
		}
		wg.Wait()
	}
	if g, _ := store.Get(tagKey); g != nil {
		t.Fatal("memcached never evicted the tag generation; the test proves nothing")
	}
	c.Set("new", []byte("fresh"), time.Hour, "t") // makes a new generation
	for i := 0; i < 50; i++ {
		if v, ok, _ := c.Get(fmt.Sprint("old", i)); ok {
			t.Fatalf("invalidated entry old%d revived after eviction: %q", i, v)
		}
	}
	// The filler evicts the key space's generation (Clear's) too, and this
	// instance learns so at its next refresh of it (every second): an
	// entry set just before reads as a miss once, the safe way. Once the
	// generations are settled, a new entry is served.
	served := false
	for try := 0; try < 3 && !served; try++ {
		if try > 0 {
			time.Sleep(1100 * time.Millisecond)
			c.Set("new", []byte("fresh"), time.Hour, "t")
		}
		v, ok, _ := c.Get("new")
		served = ok && string(v) == "fresh"
	}
	if !served {
		t.Fatal("entry under the new generation not served")
	}
}

// memcachedEvictions reads the "evictions" counter of memcached's stats.
func memcachedEvictions(t *testing.T, addr string) int {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(conn, "stats\r\n"); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(conn)
	for sc.Scan() {
		line := sc.Text()
		if line == "END" {
			break
		}
		if n, ok := strings.CutPrefix(line, "STAT evictions "); ok {
			v, _ := strconv.Atoi(n)
			return v
		}
	}
	return 0
}

// Kill redis-server in the middle of a load of 2,000 calls: every call gets
// the right value, none fails; restart it and caching resumes.
func TestRedisDiesUnderLoad(t *testing.T) {
	server := testserver.Redis(t)
	store := redisStore(t, server.Addr)
	c := New(Config{Storage: store, Timeout: 50 * time.Millisecond, CircuitCooldown: 100 * time.Millisecond, Logger: quiet()})
	var done atomic.Int32
	var failures atomic.Int32
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 250; i++ {
				key := fmt.Sprint("page", (w*250+i)%40)
				want := "body of " + key
				v, err := c.GetOrSet(key, time.Minute, func() ([]byte, error) { return []byte(want), nil })
				if err != nil || string(v) != want {
					failures.Add(1)
				}
				if done.Add(1) == 600 {
					server.Kill()
				}
			}
		}(w)
	}
	wg.Wait()
	if f := failures.Load(); f != 0 {
		t.Fatalf("%d of 2000 calls failed or got a wrong value while Redis died", f)
	}
	if c.Stats().Errors == 0 {
		t.Fatal("Redis was killed but no storage error was counted")
	}
	server.Restart()
	restarted := time.Now()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c.GetOrSet("after", time.Minute, func() ([]byte, error) { return []byte("x"), nil })
		if _, ok, _ := c.Get("after"); ok {
			t.Logf("caching resumed %v after redis-server restarted", time.Since(restarted))
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("caching did not resume after Redis came back")
}
