package cachekit

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func newTestMemory(t testing.TB, cfg MemoryConfig) *Memory {
	t.Helper()
	m, err := NewMemory(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// evictions are the policies every Memory test runs over.
var evictions = []Eviction{EvictFIFO, EvictTinyLFU}

// eachEviction runs f as a subtest per policy.
func eachEviction(t *testing.T, f func(t *testing.T, ev Eviction)) {
	t.Helper()
	for _, ev := range evictions {
		t.Run(ev.String(), func(t *testing.T) { f(t, ev) })
	}
}

func TestMemoryGetSetDelete(t *testing.T) { eachEviction(t, testMemoryGetSetDelete) }

func testMemoryGetSetDelete(t *testing.T, ev Eviction) {
	m := newTestMemory(t, MemoryConfig{MaxBytes: 4 << 20, Eviction: ev})
	if v, err := m.Get("missing"); v != nil || err != nil {
		t.Fatalf("Get(missing) = %q, %v; want nil, nil", v, err)
	}
	if err := m.Set("k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	if v, _ := m.Get("k"); string(v) != "v" {
		t.Fatalf("Get(k) = %q", v)
	}
	if err := m.Delete("k"); err != nil {
		t.Fatal(err)
	}
	if err := m.Delete("k"); err != nil {
		t.Fatalf("deleting a missing key: %v", err)
	}
	if v, _ := m.Get("k"); v != nil {
		t.Fatalf("after Delete: %q", v)
	}
	// fiber.Storage: empty key or value is ignored without an error.
	if err := m.Set("", []byte("x"), 0); err != nil {
		t.Fatal(err)
	}
	if err := m.Set("e", nil, 0); err != nil {
		t.Fatal(err)
	}
	if err := m.Set("neg", []byte("x"), -time.Second); err == nil {
		t.Fatal("negative expiry: no error")
	}
}

func TestMemoryPerEntryTTL(t *testing.T) {
	eachEviction(t, func(t *testing.T, ev Eviction) {
		synctest.Test(t, func(t *testing.T) {
			m := newTestMemory(t, MemoryConfig{MaxBytes: 4 << 20, Eviction: ev})
			m.Set("short", []byte("a"), time.Second)
			m.Set("long", []byte("b"), time.Hour)
			m.Set("forever", []byte("c"), 0)
			time.Sleep(2 * time.Second)
			if v, _ := m.Get("short"); v != nil {
				t.Errorf("short-lived entry still there after its TTL: %q", v)
			}
			if v, _ := m.Get("long"); string(v) != "b" {
				t.Errorf("long-lived entry gone: %q", v)
			}
			if m.Stats().Expired != 1 {
				t.Errorf("Expired = %d, want 1", m.Stats().Expired)
			}
			// bigcache's life window is a century; otter's clean-up ticks
			// once a second, which makes a century of fake time too long.
			far := 100 * 365 * 24 * time.Hour
			if ev == EvictTinyLFU {
				far = 3 * time.Hour
			}
			time.Sleep(far)
			if v, _ := m.Get("forever"); string(v) != "c" {
				t.Errorf("entry without expiry gone: %q", v)
			}
			if v, _ := m.Get("long"); v != nil {
				t.Errorf("long-lived entry still there after %v: %q", far, v)
			}
		})
	})
}

// Under TinyLFU an expired entry gives its bytes back without being read.
func TestMemoryTinyLFUExpiryFreesBytes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newTestMemory(t, MemoryConfig{MaxBytes: 4 << 20, Eviction: EvictTinyLFU})
		val := bytes.Repeat([]byte("v"), 10<<10)
		for i := range 100 {
			m.Set(fmt.Sprint("k", i), val, time.Minute)
		}
		m.Set("stays", []byte("s"), 0)
		if s := m.Stats(); s.Entries != 101 || s.Capacity < 100*10<<10 {
			t.Fatalf("before expiry: %+v", s)
		}
		time.Sleep(2 * time.Minute)
		m.Get("stays") // otter's maintenance runs on reads and writes, and once a second
		s := m.Stats()
		if s.Entries != 1 || s.Capacity > 1<<10 || s.Expired != 100 {
			t.Fatalf("after expiry: %+v; want 1 entry, its bytes, 100 expired", s)
		}
	})
}

func TestMemoryRealTTL(t *testing.T) { eachEviction(t, testMemoryRealTTL) }

func testMemoryRealTTL(t *testing.T, ev Eviction) {
	synctest.Test(t, func(t *testing.T) {
		m := newTestMemory(t, MemoryConfig{MaxBytes: 1 << 20, Eviction: ev})
		m.Set("k", []byte("v"), 30*time.Millisecond)
		if v, _ := m.Get("k"); string(v) != "v" {
			t.Fatalf("fresh Get = %q", v)
		}
		time.Sleep(60 * time.Millisecond)
		if v, _ := m.Get("k"); v != nil {
			t.Fatalf("after expiry Get = %q", v)
		}
	})
}

func TestMemoryEvictsUnderMaxBytes(t *testing.T) { eachEviction(t, testMemoryEvictsUnderMaxBytes) }

func testMemoryEvictsUnderMaxBytes(t *testing.T, ev Eviction) {
	m := newTestMemory(t, MemoryConfig{MaxBytes: 2 << 20, Shards: 2, Eviction: ev})
	val := bytes.Repeat([]byte("x"), 10<<10)
	for i := 0; i < 1000; i++ { // 10 MB into a 2 MiB store
		if err := m.Set(fmt.Sprint("k", i), val, 0); err != nil {
			t.Fatalf("Set %d failed for lack of room: %v", i, err)
		}
	}
	s := m.Stats()
	if s.Evictions == 0 {
		t.Error("no evictions counted")
	}
	if s.Capacity > 2<<20 {
		t.Errorf("capacity %d beyond MaxBytes", s.Capacity)
	}
	if v, _ := m.Get("k999"); !bytes.Equal(v, val) {
		t.Error("newest entry missing")
	}
	if n := s.Entries; n < 100 || n > 2<<20/(10<<10) {
		t.Errorf("%d entries of 10 KiB held in 2 MiB", n)
	}
	// FIFO drops the oldest; TinyLFU keeps some of them, since no newcomer
	// was asked for more often than what it would evict.
	if v, _ := m.Get("k0"); ev == EvictFIFO && v != nil {
		t.Error("oldest entry not evicted")
	}
}

func TestMemoryLargeEntries(t *testing.T) { eachEviction(t, testMemoryLargeEntries) }

func testMemoryLargeEntries(t *testing.T, ev Eviction) {
	m := newTestMemory(t, MemoryConfig{MaxBytes: 8 << 20, Shards: 4, Eviction: ev}) // 2 MiB shards
	big := bytes.Repeat([]byte("y"), 1<<20)                                         // far above bigcache's default entry size
	if err := m.Set("big", big, 0); err != nil {
		t.Fatal(err)
	}
	if v, _ := m.Get("big"); !bytes.Equal(v, big) {
		t.Fatal("large entry not read back")
	}
	m.Set("neighbour", []byte("n"), 0)
	huge := bytes.Repeat([]byte("z"), 3<<20)
	err := m.Set("huge", huge, 0)
	if err == nil || !strings.Contains(err.Error(), "larger than one shard") {
		t.Fatalf("entry larger than a shard: err = %v", err)
	}
	if v, _ := m.Get("big"); !bytes.Equal(v, big) {
		t.Error("a refused entry evicted others")
	}
}

func TestNewMemoryBadConfig(t *testing.T) {
	for _, cfg := range []MemoryConfig{{MaxBytes: -1}, {Shards: 3}, {Shards: -2}, {MaxBytes: 1 << 20, Shards: 64},
		{Eviction: EvictTinyLFU + 1}, {MaxBytes: 1 << 20, Shards: 64, Eviction: EvictTinyLFU}} {
		if _, err := NewMemory(cfg); err == nil {
			t.Errorf("NewMemory(%+v): no error", cfg)
		}
	}
	m := newTestMemory(t, MemoryConfig{MaxBytes: 1}) // rounds up to 1 MiB
	if m.Stats().MaxBytes != 1<<20 {
		t.Errorf("MaxBytes = %d", m.Stats().MaxBytes)
	}
}

func TestDummyStoresNothing(t *testing.T) {
	d := NewDummy()
	d.Set("k", []byte("v"), 0)
	if v, err := d.Get("k"); v != nil || err != nil {
		t.Fatalf("Dummy Get = %q, %v", v, err)
	}
	c := New(Config{Storage: d})
	n := 0
	for i := 0; i < 3; i++ {
		c.GetOrSet("k", time.Minute, func() ([]byte, error) { n++; return []byte("v"), nil })
	}
	if n != 3 {
		t.Fatalf("loader ran %d times over Dummy, want 3", n)
	}
}

// Writers, readers and a Reset at once over a store that keeps evicting:
// the race detector's test, and the bound holds once they are done.
func TestMemoryConcurrentEviction(t *testing.T) {
	eachEviction(t, func(t *testing.T, ev Eviction) {
		m := newTestMemory(t, MemoryConfig{MaxBytes: 2 << 20, Eviction: ev})
		val := bytes.Repeat([]byte("c"), 10<<10)
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 500 {
					k := fmt.Sprint("k", g, "-", i%300)
					if b, _ := m.Get(k); b != nil && !bytes.Equal(b, val) {
						t.Errorf("%s: a torn value", k)
						return
					}
					if err := m.Set(k, val, time.Minute); err != nil {
						t.Error(err)
						return
					}
					if g == 0 && i == 250 {
						m.Reset()
					}
				}
			}()
		}
		wg.Wait()
		m.Set("last", val, time.Minute) // runs what maintenance the writers left
		s := m.Stats()
		if s.Evictions == 0 || s.Capacity > s.MaxBytes {
			t.Errorf("after the writers: %+v", s)
		}
		// FIFO keeps the newest write. W-TinyLFU's admission may turn a
		// newcomer away when its window overflows (a key asked for once
		// loses to a victim asked for more): then it is absent, never
		// another value.
		switch v, _ := m.Get("last"); {
		case v == nil && ev == EvictTinyLFU:
		case !bytes.Equal(v, val):
			t.Errorf("the last write reads %d bytes, want the %d written", len(v), len(val))
		}
	})
}
