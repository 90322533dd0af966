package cachekit

import (
	"context"
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

// LookupMany: results in the order of keys (repeats included), the hot
// layer first, then every other entry and every distinct tag together;
// hits kept in the hot layer; invalidated, absent and corrupt entries
// misses; a stale entry Stale.
func TestLookupMany(t *testing.T) {
	for _, tc := range []struct {
		name  string
		multi bool
		hot   bool
	}{
		{"multi-get", true, false},
		{"no multi-get", false, false},
		{"Memory with its hot layer", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := &counted{Memory: newTestMemory(t, MemoryConfig{MaxBytes: 4 << 20})}
			var c *Cache
			switch {
			case tc.hot:
				c = New(Config{Storage: cs.Memory, Prefix: "p"})
			case tc.multi:
				c = New(Config{Storage: multi{single{cs}}, Prefix: "p"})
			default:
				c = New(Config{Storage: single{cs}, Prefix: "p"})
			}
			keys := []string{"c0", "c1", "c2", "c3", "gone", "c1", "bad", "old"}
			for i := range 4 {
				c.Set(keys[i], []byte("v"+keys[i]), time.Minute, "cards", "card:"+string(rune('0'+i%2)))
			}
			c.Set("bad", []byte("x"), time.Minute)
			cs.Memory.Set(c.keys.storageKey(kindEntry, "bad"), []byte("not an entry at all, not at all"), time.Minute)
			c.Load("old", Policy{TTL: time.Nanosecond, StaleWhileRevalidate: time.Hour}, func(*Policy) ([]byte, error) { return []byte("vold"), nil })
			time.Sleep(time.Millisecond)
			c.Get("c0") // the key space's generation is read; c0 in the hot layer, if any
			gets, multis := cs.gets.Load(), cs.multis.Load()
			rs, err := c.LookupMany(context.Background(), keys...)
			if err != nil || len(rs) != len(keys) {
				t.Fatalf("LookupMany: %d results, %v", len(rs), err)
			}
			want := []Status{Hit, Hit, Hit, Hit, Miss, Hit, Miss, Stale}
			for i, r := range rs {
				if r.Status != want[i] || (r.Status == Hit && string(r.Value) != "v"+keys[i]) {
					t.Errorf("%s: %v %q, want %v", keys[i], r.Status, r.Value, want[i])
				}
			}
			if tc.multi {
				// The entries, then the two card tags and "cards" (c0's
				// from the same read as the others').
				if g, m := cs.gets.Load()-gets, cs.multis.Load()-multis; g != 0 || m != 2 {
					t.Fatalf("%d Gets and %d multi-gets, want 0 and 2", g, m)
				}
			}
			c.InvalidateTags("card:1")
			rs, _ = c.LookupMany(context.Background(), keys[:4]...)
			for i, r := range rs {
				if hit := r.Status == Hit; hit != (i%2 == 0) {
					t.Errorf("after card:1's invalidation, %s: %v", keys[i], r.Status)
				}
			}
			if tc.hot { // kept: served with the store emptied behind the Cache's back
				cs.Memory.Delete(c.keys.storageKey(kindEntry, "c2"))
				if rs, _ := c.LookupMany(context.Background(), "c2"); rs[0].Status != Hit {
					t.Fatal("LookupMany's hit not kept in the hot layer")
				}
			}
			if _, err := c.LookupMany(context.Background(), "a", ""); err == nil {
				t.Fatal("no error for an empty key")
			}
		})
	}
}

// A hit of LookupMany under a fill's context gives that fill its tags.
func TestLookupManyDeps(t *testing.T) {
	c, _ := newTestCache(t)
	c.Set("card", []byte("v"), time.Minute, "product:1")
	c.Load("page", Policy{TTL: time.Minute}, func(p *Policy) ([]byte, error) {
		rs, err := c.LookupMany(p.Context(), "card")
		if err != nil || rs[0].Status != Hit {
			t.Fatalf("card: %v %v", rs, err)
		}
		return []byte("page"), nil
	})
	c.InvalidateTags("product:1")
	if _, ok, _ := c.Get("page"); ok {
		t.Fatal("the page survived the invalidation of a card it read")
	}
}
