package cachekit

import (
	"sync/atomic"
	"testing"
	"time"
)

// counted is a shared store (a real Memory, not seen as one) that counts
// its reads; multi also gives it a multi-get.
type counted struct {
	*Memory
	gets, multis atomic.Int64
}

func (s *counted) Get(key string) ([]byte, error) { s.gets.Add(1); return s.Memory.Get(key) }

// single hides Memory's GetMany: a store with no multi-get.
type single struct{ s *counted }

func (s single) Get(key string) ([]byte, error)                      { return s.s.Get(key) }
func (s single) Set(key string, val []byte, exp time.Duration) error { return s.s.Set(key, val, exp) }
func (s single) Delete(key string) error                             { return s.s.Delete(key) }
func (s single) Reset() error                                        { return s.s.Reset() }
func (s single) Close() error                                        { return nil }

type multi struct{ single }

func (s multi) GetMany(keys []string) ([][]byte, error) {
	s.s.multis.Add(1)
	return s.s.Memory.GetMany(keys)
}

// An entry under three tags: on a shared store with a multi-get its tags
// are read in one call; without, one read each. Either way, a moved or
// lost generation is a miss.
func TestTagsReadTogether(t *testing.T) {
	for _, tc := range []struct {
		name         string
		multi        bool
		gets, multis int64
	}{
		{"multi-get", true, 1, 1},
		{"no multi-get", false, 4, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := &counted{Memory: newTestMemory(t, MemoryConfig{MaxBytes: 4 << 20})}
			var c *Cache
			if tc.multi {
				c = New(Config{Storage: multi{single{cs}}, Prefix: "p"})
			} else {
				c = New(Config{Storage: single{cs}, Prefix: "p"})
			}
			if err := c.Set("k", []byte("v"), time.Minute, "a", "b", "c"); err != nil {
				t.Fatal(err)
			}
			c.Get("k") // the key space's generation is kept for a second after
			gets, multis := cs.gets.Load(), cs.multis.Load()
			if v, ok, err := c.Get("k"); !ok || string(v) != "v" || err != nil {
				t.Fatalf("Get: %q %v %v", v, ok, err)
			}
			if g, m := cs.gets.Load()-gets, cs.multis.Load()-multis; g != tc.gets || m != tc.multis {
				t.Fatalf("a hit on an entry with 3 tags: %d Gets and %d multi-gets, want %d and %d", g, m, tc.gets, tc.multis)
			}
			c.InvalidateTags("c")
			if _, ok, _ := c.Get("k"); ok {
				t.Fatal("served after its last tag was invalidated")
			}
			c.Set("k", []byte("v2"), time.Minute, "a", "b", "c")
			cs.Memory.Delete(c.keys.storageKey(kindTag, "b")) // a lost generation
			if _, ok, _ := c.Get("k"); ok {
				t.Fatal("served with one of its generations lost")
			}
		})
	}
}
