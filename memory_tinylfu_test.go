package cachekit

import (
	"bytes"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// The weight an EvictTinyLFU entry counts against MaxBytes is what it takes
// on the heap, within 20%, for small and page-sized values: so the bound
// bounds memory, as bigcache's does.
func TestMemoryTinyLFUWeightIsHonest(t *testing.T) {
	for _, size := range []int{100, 1000, 2500, 10_000} {
		t.Run(strconv.Itoa(size), func(t *testing.T) {
			const n = 20_000
			val := bytes.Repeat([]byte("x"), size)
			keys := make([]string, n)
			for i := range keys {
				keys[i] = "ck:1:e:page:/products/" + strconv.Itoa(i)
			}
			before := heapAfterGC()
			m, err := NewMemory(MemoryConfig{MaxBytes: 1 << 30, Eviction: EvictTinyLFU})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			for _, k := range keys {
				if err := m.Set(k, val, time.Hour); err != nil {
					t.Fatal(err)
				}
			}
			heap := heapAfterGC() - before
			s := m.Stats()
			if s.Entries != n {
				t.Fatalf("%d entries held, want %d", s.Entries, n)
			}
			ratio := float64(s.Capacity) / float64(heap)
			t.Logf("value %d B: weighed %d B per entry, heap %d B per entry (%.2f)", size, s.Capacity/n, int64(heap)/n, ratio)
			if ratio < 0.8 || ratio > 1.2 {
				t.Errorf("weights %d B, heap %d B: the bound is off by more than 20%%", s.Capacity, heap)
			}
			runtime.KeepAlive(m)
		})
	}
}

func heapAfterGC() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// One page read between every two writes of pages read once, ten times the
// store's size of them: FIFO evicts the popular page at each turn of its
// ring, TinyLFU keeps it throughout. Through a Cache without its hot layer,
// so that every read is the store's.
func TestMemoryTinyLFUKeepsTheHotPage(t *testing.T) {
	misses := map[Eviction]int{}
	for _, ev := range evictions {
		m := newTestMemory(t, MemoryConfig{MaxBytes: 2 << 20, Eviction: ev})
		c := New(Config{Storage: m, HotBytes: -1})
		page := bytes.Repeat([]byte("p"), 10<<10)
		if err := c.Set("popular", page, NoExpiry); err != nil {
			t.Fatal(err)
		}
		for i := range 2000 { // 20 MB through a 2 MiB store
			if _, ok, _ := c.Get("popular"); !ok {
				misses[ev]++
				c.Set("popular", page, NoExpiry)
			}
			if err := c.Set("once:"+strconv.Itoa(i), page, NoExpiry); err != nil {
				t.Fatal(err)
			}
		}
		if ev == EvictTinyLFU && m.Stats().Evictions < 1000 {
			t.Errorf("TinyLFU: %d evictions, the stream did not fill the store", m.Stats().Evictions)
		}
	}
	t.Logf("misses on the popular page in 2,000 reads: %v", misses)
	if misses[EvictFIFO] < 5 {
		t.Errorf("FIFO missed the popular page %d times; the test no longer shows the difference", misses[EvictFIFO])
	}
	if misses[EvictTinyLFU] != 0 {
		t.Errorf("TinyLFU missed the popular page %d times, want 0", misses[EvictTinyLFU])
	}
}
