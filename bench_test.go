package cachekit

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/allegro/bigcache/v3"
	"github.com/cachekit/cachekit/internal/testserver"
	fibermemory "github.com/gofiber/storage/memory/v2"
)

// The peers of Memory for a parallel Get hit: raw bigcache (the floor) and
// gofiber/storage/memory (what fiber users reach for).
func BenchmarkGetHit(b *testing.B) {
	const keys = 1024
	val := bytes.Repeat([]byte("x"), 2500)
	key := func(i int) string { return "page:/products/" + strconv.Itoa(i%keys) }

	b.Run("bigcache-raw", func(b *testing.B) {
		bc, _ := bigcache.New(context.Background(), bigcache.Config{Shards: 64, LifeWindow: time.Hour, MaxEntriesInWindow: 64 * 1024, MaxEntrySize: 1024, HardMaxCacheSize: 128})
		for i := 0; i < keys; i++ {
			bc.Set(key(i), val)
		}
		runParallelGets(b, keys, func(k string) []byte { v, _ := bc.Get(k); return v }, key)
	})
	b.Run("Memory", func(b *testing.B) {
		m := newTestMemory(b, MemoryConfig{})
		for i := 0; i < keys; i++ {
			m.Set(key(i), val, time.Hour)
		}
		runParallelGets(b, keys, func(k string) []byte { v, _ := m.Get(k); return v }, key)
	})
	b.Run("Memory-TinyLFU", func(b *testing.B) {
		m := newTestMemory(b, MemoryConfig{Eviction: EvictTinyLFU})
		for i := 0; i < keys; i++ {
			m.Set(key(i), val, time.Hour)
		}
		runParallelGets(b, keys, func(k string) []byte { v, _ := m.Get(k); return v }, key)
	})
	b.Run("fiber-storage-memory", func(b *testing.B) {
		s := fibermemory.New(fibermemory.Config{GCInterval: time.Hour})
		defer s.Close()
		for i := 0; i < keys; i++ {
			s.Set(key(i), val, time.Hour)
		}
		runParallelGets(b, keys, func(k string) []byte { v, _ := s.Get(k); return v }, key)
	})
	b.Run("Cache-on-Memory", func(b *testing.B) {
		c, _ := newTestCache(b)
		for i := 0; i < keys; i++ {
			c.Set(key(i), val, time.Hour)
		}
		runParallelGets(b, keys, func(k string) []byte { r, _ := c.Lookup(k); return r.Value }, key)
	})
	// Each policy through a Cache, with the hot layer (a hit rarely reads the
	// store) and without (every hit is the store's).
	for _, ev := range []Eviction{EvictFIFO, EvictTinyLFU} {
		for _, hot := range []int64{0, -1} {
			name := "Cache-" + ev.String() + map[int64]string{0: "", -1: "-nohot"}[hot]
			b.Run(name, func(b *testing.B) {
				c := New(Config{Storage: newTestMemory(b, MemoryConfig{Eviction: ev}), Prefix: "test", HotBytes: hot})
				for i := 0; i < keys; i++ {
					c.Set(key(i), val, time.Hour, "products")
				}
				runParallelGets(b, keys, func(k string) []byte { r, _ := c.Lookup(k); return r.Value }, key)
			})
		}
	}
	b.Run("Cache-on-Memory-tagged", func(b *testing.B) {
		c, _ := newTestCache(b)
		for i := 0; i < keys; i++ {
			c.Set(key(i), val, time.Hour, "products")
		}
		runParallelGets(b, keys, func(k string) []byte { r, _ := c.Lookup(k); return r.Value }, key)
	})
}

func runParallelGets(b *testing.B, keys int, get func(string) []byte, key func(int) string) {
	names := make([]string, keys)
	for i := range names {
		names[i] = key(i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if len(get(names[i%keys])) == 0 {
				panic("miss in a hit benchmark")
			}
			i++
		}
	})
}

// InvalidateTags costs the same whatever the number of entries under the tag.
func BenchmarkInvalidateTags(b *testing.B) {
	for _, n := range []int{1, 1_000_000} {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			m := newTestMemory(b, MemoryConfig{MaxBytes: 512 << 20})
			c := New(Config{Storage: m})
			v := []byte("v")
			for i := 0; i < n; i++ {
				if err := c.Set("k"+strconv.Itoa(i), v, NoExpiry, "big"); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				c.InvalidateTags("big")
			}
			b.StopTimer()
			if _, ok, _ := c.Get("k0"); ok {
				b.Fatal("entry survived invalidation")
			}
		})
	}
}

// A hit on an entry with one tag: over Memory, over Redis, and in the
// two-level mode over Redis (entry from Local, the tag's generation from
// Redis: one round trip).
func BenchmarkStoreHit(b *testing.B) {
	val := bytes.Repeat([]byte("x"), 2500)
	run := func(b *testing.B, c *Cache) {
		for i := 0; i < 64; i++ {
			c.Set("page"+strconv.Itoa(i), val, time.Hour, "pages")
		}
		runParallelGets(b, 64, func(k string) []byte { r, _ := c.Lookup(k); return r.Value }, func(i int) string { return "page" + strconv.Itoa(i) })
	}
	b.Run("Memory", func(b *testing.B) { c, _ := newTestCache(b); run(b, c) })
	b.Run("Redis", func(b *testing.B) {
		store := redisStore(b, testserver.Addr(b, "CACHEKIT_REDIS_ADDR"))
		run(b, New(Config{Storage: store, Prefix: uniquePrefix(), Timeout: time.Second}))
	})
	b.Run("Redis-two-level", func(b *testing.B) {
		store := redisStore(b, testserver.Addr(b, "CACHEKIT_REDIS_ADDR"))
		run(b, New(Config{Storage: store, Prefix: uniquePrefix(), Timeout: time.Second, Local: newTestMemory(b, MemoryConfig{MaxBytes: 8 << 20})}))
	})
}

// A hit through Peek (no Stats, no Observe): the read fibercache makes for
// its path records, served by the hot layer.
func BenchmarkPeek(b *testing.B) {
	const keys = 1024
	val := bytes.Repeat([]byte("r"), 64)
	key := func(i int) string { return "rec:/products/" + strconv.Itoa(i%keys) }
	c, _ := newTestCache(b)
	for i := 0; i < keys; i++ {
		c.Set(key(i), val, time.Hour)
	}
	runParallelGets(b, keys, func(k string) []byte { r, _ := c.Peek(k); return r.Value }, key)
}
