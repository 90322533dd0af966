package cachekit

import (
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// GetMany of 24 keys against 24 Gets on Memory (hot layer on and off), and
// Incr; redisbus's BenchmarkGetMany24 and BenchmarkIncr are the Redis side.
func BenchmarkGetMany24(b *testing.B) {
	for _, hot := range []int64{0, -1} {
		name := map[int64]string{0: "Memory", -1: "Memory-nohot"}[hot]
		m := newTestMemory(b, MemoryConfig{MaxBytes: 8 << 20})
		c := New(Config{Storage: m, HotBytes: hot})
		keys := make([]string, 24)
		for i := range keys {
			keys[i] = "card" + strconv.Itoa(i)
			c.Set(keys[i], make([]byte, 1000), time.Hour, "cards")
		}
		b.Run(name+"/GetMany", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if got, _ := c.GetMany(keys...); len(got) != 24 {
					b.Fatal("miss")
				}
			}
		})
		b.Run(name+"/24xGet", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				for _, k := range keys {
					if _, ok, _ := c.Get(k); !ok {
						b.Fatal("miss")
					}
				}
			}
		})
	}
}

func BenchmarkIncr(b *testing.B) {
	m := newTestMemory(b, MemoryConfig{MaxBytes: 8 << 20})
	c := New(Config{Storage: m})
	c.Set("n", []byte("0"), time.Hour)
	b.Run("Memory", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.Incr("n", 1); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Memory/parallel-one-key", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := c.Incr("n", 1); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	b.Run("Memory/parallel-distinct-keys", func(b *testing.B) {
		var next atomic.Int64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			k := "n" + strconv.FormatInt(next.Add(1), 10)
			c.Set(k, []byte("0"), time.Hour)
			for pb.Next() {
				if _, err := c.Incr(k, 1); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}

// IncrVersion moving a tagged 1 KB value between two versions and back,
// against the same move by hand (Get at one version, Set at the other,
// Delete), on Memory; and WithVersion of a version already seen.
func BenchmarkIncrVersion(b *testing.B) {
	c := New(Config{Storage: newTestMemory(b, MemoryConfig{MaxBytes: 8 << 20}), Version: 1})
	views := [2]*Cache{c, c.WithVersion(2)}
	c.Set("k", make([]byte, 1000), time.Hour, "t")
	b.Run("IncrVersion", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := views[i].IncrVersion("k", 1-2*i); err != nil {
				b.Fatal(err)
			}
			i ^= 1
		}
		if i == 1 { // back at version 1 for the next run
			views[1].IncrVersion("k", -1)
		}
	})
	b.Run("Get+Set+Delete", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			from, to := views[i], views[i^1]
			v, ok, _ := from.Get("k")
			if !ok {
				b.Fatal("miss")
			}
			if err := to.Set("k", v, time.Hour, "t"); err != nil {
				b.Fatal(err)
			}
			if err := from.Delete("k"); err != nil {
				b.Fatal(err)
			}
			i ^= 1
		}
		if i == 1 {
			views[1].IncrVersion("k", -1)
		}
	})
	b.Run("WithVersion", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if c.WithVersion(2) != views[1] {
				b.Fatal("another view")
			}
		}
	})
}
