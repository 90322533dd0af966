// Package eviction measures the hit ratio of cachekit's Memory store under
// each of its policies (MemoryConfig.Eviction: EvictFIFO, bigcache, the
// default; EvictTinyLFU, otter's W-TinyLFU) beside a plain LRU and raw otter
// holding the same bytes. It is a module of its own so that the run, which
// takes minutes, stays out of the core's tests.
package eviction

import (
	"container/list"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/gofiber/fiber/v2"
	"github.com/maypok86/otter/v2"
)

// The hit ratio of Memory with each Eviction on a skewed workload, beside an
// LRU and raw otter (W-TinyLFU) holding the same bytes, at a few store sizes
// against the key space: the store alone (a miss sets the key), and a Cache
// over each store with every entry under one of 32 tags, where an evicted
// generation turns every entry of its tag (or of the whole key space) into a
// miss. It takes a while, so it runs only when asked:
//
//	cd bench/eviction && CACHEKIT_EVICTION=1 go test -run TestEvictionHitRatio -v .
func TestEvictionHitRatio(t *testing.T) {
	if os.Getenv("CACHEKIT_EVICTION") == "" {
		t.Skip("set CACHEKIT_EVICTION=1 to measure")
	}
	const (
		keySpace = 100 << 10 // keys, of about 1 KiB each: 100 MiB
		valueLen = 1000
		warm     = 300_000
		measured = 1_000_000
	)
	value := make([]byte, valueLen)
	keys, tags := make([]string, keySpace), make([]string, keySpace)
	for i, p := range rand.New(rand.NewPCG(1, 2)).Perm(keySpace) {
		keys[i] = "page:" + strconv.Itoa(p) // rank i is page p: hot keys spread over shards
		tags[i] = "tag" + strconv.Itoa(p%32)
	}
	policies := []struct {
		name string
		open func(t *testing.T, maxBytes int64) fiber.Storage
	}{
		{"Memory, EvictFIFO", func(t *testing.T, n int64) fiber.Storage { return newMemory(t, n, cachekit.EvictFIFO) }},
		{"Memory, EvictTinyLFU", func(t *testing.T, n int64) fiber.Storage { return newMemory(t, n, cachekit.EvictTinyLFU) }},
		{"LRU", func(t *testing.T, n int64) fiber.Storage { return newLRUStore(n) }},
		{"raw otter (W-TinyLFU)", func(t *testing.T, n int64) fiber.Storage { return newOtterStore(t, n) }},
	}
	names := make([]string, len(policies))
	for i, p := range policies {
		names[i] = p.name
	}
	var table strings.Builder
	fmt.Fprintf(&table, "\n| zipf s | store / key space | reads through | %s |\n|---|---|---|%s\n",
		strings.Join(names, " | "), strings.Repeat("---|", len(policies)))
	for _, s := range []float64{1.0, 1.2} {
		zipf := newZipf(keySpace, s)
		for _, pct := range []int64{1, 5, 20} {
			maxBytes := keySpace * 1024 * pct / 100
			for _, through := range []string{"store", "Cache, untagged", "Cache, 32 tags"} {
				row := fmt.Sprintf("| %.1f | %d%% (%d MiB) | %s |", s, pct, maxBytes>>20, through)
				for _, p := range policies {
					store := p.open(t, maxBytes)
					var get func(i int) bool
					var set func(i int)
					if through == "store" {
						get = func(i int) bool { b, _ := store.Get(keys[i]); return b != nil }
						set = func(i int) { _ = store.Set(keys[i], value, 0) }
					} else {
						c := cachekit.New(cachekit.Config{Storage: store, HotBytes: -1, Timeout: -1})
						get = func(i int) bool { _, ok, _ := c.Get(keys[i]); return ok }
						set = func(i int) { _ = c.Set(keys[i], value, cachekit.NoExpiry, tagsOf(through, tags[i])...) }
					}
					rng := rand.New(rand.NewPCG(3, uint64(pct)))
					hits := 0
					for i := range warm + measured {
						k := zipf.sample(rng)
						if get(k) {
							if i >= warm {
								hits++
							}
						} else {
							set(k)
						}
					}
					row += fmt.Sprintf(" %.1f%% |", 100*float64(hits)/measured)
				}
				table.WriteString(row + "\n")
			}
		}
	}
	t.Log(table.String())
}

// zipf samples ranks 0..n-1 with P(i) proportional to 1/(i+1)^s, s >= 0
// (math/rand's Zipf needs s > 1).
type zipf struct{ cdf []float64 }

func newZipf(n int, s float64) *zipf {
	z := &zipf{cdf: make([]float64, n)}
	sum := 0.0
	for i := range n {
		sum += 1 / math.Pow(float64(i+1), s)
		z.cdf[i] = sum
	}
	for i := range z.cdf {
		z.cdf[i] /= sum
	}
	return z
}

func (z *zipf) sample(r *rand.Rand) int {
	return min(sort.SearchFloat64s(z.cdf, r.Float64()), len(z.cdf)-1)
}

func newMemory(t *testing.T, maxBytes int64, ev cachekit.Eviction) *cachekit.Memory {
	m, err := cachekit.NewMemory(cachekit.MemoryConfig{MaxBytes: maxBytes, Eviction: ev})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// weight is what an entry takes of an EvictFIFO Memory's bytes: bigcache's
// header (its timestamp, hash, key length and queue length prefix: about 24
// bytes), the key, and Memory's deadline in front of the value. (EvictTinyLFU
// weighs its entries by what they take on the heap, about 13% more for these
// 1 KB values: its column holds that many fewer entries than raw otter's.)
func weight(key string, val []byte) uint32 {
	return uint32(24 + len(key) + 8 + len(val))
}

// otterStore is a fiber.Storage on otter's W-TinyLFU bounded by bytes as
// Memory is (expiry ignored: the workload sets none).
type otterStore struct{ c *otter.Cache[string, []byte] }

func newOtterStore(t *testing.T, maxBytes int64) *otterStore {
	c, err := otter.New(&otter.Options[string, []byte]{
		MaximumWeight: uint64(maxBytes),
		Weigher:       weight,
		Executor:      func(fn func()) { fn() }, // deletion events inline: deterministic
	})
	if err != nil {
		t.Fatal(err)
	}
	return &otterStore{c}
}

func (s *otterStore) Get(key string) ([]byte, error) { v, _ := s.c.GetIfPresent(key); return v, nil }
func (s *otterStore) Set(key string, val []byte, _ time.Duration) error {
	s.c.Set(key, append([]byte(nil), val...))
	return nil
}
func (s *otterStore) Delete(key string) error { s.c.Invalidate(key); return nil }
func (s *otterStore) Reset() error            { s.c.InvalidateAll(); return nil }
func (s *otterStore) Close() error            { return nil }

// lruStore is a fiber.Storage with least-recently-used eviction, bounded by
// bytes as Memory is.
type lruStore struct {
	mu         sync.Mutex
	max, bytes int64
	order      *list.List // front: most recent
	items      map[string]*list.Element
}

type lruItem struct {
	key string
	val []byte
}

func newLRUStore(maxBytes int64) *lruStore {
	return &lruStore{max: maxBytes, order: list.New(), items: map[string]*list.Element{}}
}

func (s *lruStore) Get(key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.items[key]; ok {
		s.order.MoveToFront(e)
		return e.Value.(*lruItem).val, nil
	}
	return nil, nil
}

func (s *lruStore) Set(key string, val []byte, _ time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.remove(key)
	it := &lruItem{key, append([]byte(nil), val...)}
	s.items[key] = s.order.PushFront(it)
	s.bytes += int64(weight(key, val))
	for s.bytes > s.max {
		s.remove(s.order.Back().Value.(*lruItem).key)
	}
	return nil
}

func (s *lruStore) remove(key string) {
	if e, ok := s.items[key]; ok {
		it := s.order.Remove(e).(*lruItem)
		delete(s.items, key)
		s.bytes -= int64(weight(it.key, it.val))
	}
}

func (s *lruStore) Delete(key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.remove(key)
	return nil
}
func (s *lruStore) Reset() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.order.Init()
	clear(s.items)
	s.bytes = 0
	return nil
}
func (s *lruStore) Close() error { return nil }

// tagsOf is the tag an entry is set under in the row named through.
func tagsOf(through, tag string) []string {
	if through == "Cache, untagged" {
		return nil
	}
	return []string{tag}
}
