package cachekit

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

func TestHotLayer(t *testing.T) {
	synctest.Test(t, testHotLayer)
}

func testHotLayer(t *testing.T) {
	c, m := newTestCache(t)
	if c.hot == nil {
		t.Fatal("no hot layer over a Memory store")
	}
	c.Set("k", []byte("v1"), time.Minute, "t")
	c.Get("k") // validated and kept
	// A hit no longer reads the store: remove the entry behind its back.
	m.Delete(c.keys.storageKey(kindEntry, "k"))
	if v, ok, _ := c.Get("k"); !ok || string(v) != "v1" {
		t.Fatalf("hot hit: %q %v", v, ok)
	}
	// An unrelated invalidation or write leaves it alone (the entry is
	// gone from the store: only the hot layer can serve it).
	c.InvalidateTags("unrelated")
	c.Set("other", []byte("o"), time.Minute, "t2")
	c.Delete("other2")
	if v, ok, _ := c.Get("k"); !ok || string(v) != "v1" {
		t.Fatalf("kept value dropped by an unrelated change: %q %v", v, ok)
	}
	// Its tag's invalidation drops it.
	c.InvalidateTags("t")
	if _, ok, _ := c.Get("k"); ok {
		t.Fatal("kept value served after its tag's invalidation")
	}
	// Set, Delete and InvalidateTags of the key itself are seen at once.
	c.Set("k", []byte("v2"), time.Minute, "t")
	c.Get("k")
	c.Set("k", []byte("v3"), time.Minute, "t")
	if v, _, _ := c.Get("k"); string(v) != "v3" {
		t.Fatalf("after Set: %q", v)
	}
	c.Delete("k")
	if _, ok, _ := c.Get("k"); ok {
		t.Fatal("after Delete: served")
	}
	// Time still applies.
	c.Set("short", []byte("s"), time.Minute)
	c.Get("short")
	time.Sleep(2 * time.Minute)
	if _, ok, _ := c.Get("short"); ok {
		t.Fatal("expired value served from the hot layer")
	}
	// Off over an external store without a Bus: others' invalidations are unseen.
	if New(Config{Storage: &flaky{Memory: m}}).hot != nil {
		t.Fatal("hot layer on over a store other instances may change")
	}
}

// Under -race: once InvalidateTags returns, no reader gets the old value.
func TestHotLayerNeverServesInvalidated(t *testing.T) {
	c, _ := newTestCache(t)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			key, tag := fmt.Sprint("k", g), fmt.Sprint("t", g)
			for i := 0; i < 300; i++ {
				want := fmt.Sprint("v", i)
				c.Set(key, []byte(want), time.Minute, tag)
				if v, ok, _ := c.Get(key); !ok || string(v) != want {
					t.Errorf("fresh value: %q %v, want %q", v, ok, want)
					return
				}
				c.InvalidateTags(tag)
				if v, ok, _ := c.Get(key); ok {
					t.Errorf("served %q after its tag was invalidated", v)
					return
				}
			}
		}(g)
	}
	wg.Wait()
}

// A reader that looks while Set is writing must not leave the old value in
// the hot layer once Set has returned.
func TestSetRacingReaderHotLayer(t *testing.T) {
	c, _ := newTestCache(t)
	c.Set("k", []byte("v1"), time.Minute)
	c.Get("k")
	var pauseNext atomic.Bool
	paused, resume := make(chan struct{}), make(chan struct{})
	c.now = func() time.Time {
		if pauseNext.CompareAndSwap(true, false) {
			close(paused)
			<-resume
		}
		return time.Now()
	}
	pauseNext.Store(true)
	done := make(chan struct{})
	go func() { c.Set("k", []byte("v2"), time.Minute); close(done) }()
	<-paused // Set is about to write
	for i := 0; i < 3; i++ {
		c.Get("k") // reads v1 and may keep it
	}
	close(resume)
	<-done
	if v, _, _ := c.Get("k"); string(v) != "v2" {
		t.Fatalf("after Set returned: %q", v)
	}
}

// The hot layer's table: byte-bounded per shard whatever is put, a key
// found in either slot of its bucket, a second put of a key replacing the
// first, and values too large for it never kept.
func TestHotLayerTable(t *testing.T) {
	const total = 64 << 10
	for _, tc := range []struct {
		name  string
		keys  int
		value int
	}{
		{"few small", 10, 10},
		{"many small", 5000, 100},
		{"large", 200, 500},
		{"too large", 3, total},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHotLayer(total)
			vs, other := newVersions(), newVersions()
			other.all.Add(1)
			val := make([]byte, tc.value)
			for i := 0; i < tc.keys; i++ {
				k := fmt.Sprint("key", i)
				h.put(k, &hotValue{value: val, kept: int64(i)})
				if v, _, ok := h.get(k, noHint, 0, int64(i), vs); tc.value <= h.maxValue && (!ok || v.key != k) {
					t.Fatalf("%s not found right after its put", k)
				}
				if _, _, ok := h.get(k, noHint, 0, int64(i), other); ok {
					t.Fatalf("%s served at another epoch", k)
				}
			}
			var held int64
			for i := range h.shards {
				s := &h.shards[i]
				if s.bytes > h.budget || s.bytes < 0 {
					t.Fatalf("shard %d holds %d bytes; budget %d", i, s.bytes, h.budget)
				}
				held += s.bytes
			}
			var counted int64
			for i := range h.slots {
				if v := h.slots[i].Load(); v != nil {
					counted += v.size
				}
			}
			if held != counted {
				t.Fatalf("shards count %d bytes, slots hold %d", held, counted)
			}
			if tc.value > h.maxValue && held != 0 {
				t.Fatalf("kept %d bytes of values above maxValue", held)
			}
		})
	}
	h := newHotLayer(total)
	vs := newVersions()
	h.put("k", &hotValue{value: []byte("v1")})
	h.put("k", &hotValue{value: []byte("v2")})
	if v, _, ok := h.get("k", noHint, 0, 0, vs); !ok || string(v.value) != "v2" {
		t.Fatalf("second put: %v %v", v, ok)
	}
	n := 0
	for i := range h.slots {
		if v := h.slots[i].Load(); v != nil && v.key == "k" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("key held in %d slots", n)
	}
	if v, _, ok := h.get("k", noHint, 0, 10, vs); !ok || v == nil {
		t.Fatal("expiry applied to a value without one")
	}
	h.put("t", &hotValue{value: []byte("v"), freshTo: 5})
	if _, _, ok := h.get("t", noHint, 0, 5, vs); ok {
		t.Fatal("served at the end of its fresh window")
	}
	// A moved version: the value is not served, whatever else holds.
	h.put("m", &hotValue{value: []byte("v"), marks: []mark{{slot: 7, seq: 0}}})
	if _, _, ok := h.get("m", noHint, 0, 0, vs); !ok {
		t.Fatal("not served at its versions")
	}
	vs.slot[7].Add(1)
	if _, _, ok := h.get("m", noHint, 0, 0, vs); ok {
		t.Fatal("served after one of its versions moved")
	}
}

// A hit from the hot layer carries the stored entry's Age and Expires, and
// ends exactly where its TTL does.
func TestHotLayerAge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, m := newTestCache(t)
		c.Set("k", []byte("v"), time.Minute)
		time.Sleep(10 * time.Second)
		stored, _ := c.Lookup("k") // read from the store, then kept
		m.Delete(c.keys.storageKey(kindEntry, "k"))
		time.Sleep(5 * time.Second)
		hot, _ := c.Lookup("k")
		if stored.Age != 10*time.Second || hot.Status != Hit || hot.Age != 15*time.Second || !hot.Expires.Equal(stored.Expires) {
			t.Fatalf("stored %v %v %v, hot %v %v %v", stored.Status, stored.Age, stored.Expires, hot.Status, hot.Age, hot.Expires)
		}
		time.Sleep(45*time.Second - 1)
		if r, _ := c.Lookup("k"); r.Status != Hit {
			t.Fatal("not served just before the end of its TTL")
		}
		time.Sleep(time.Nanosecond) // to the very end
		if r, _ := c.Lookup("k"); r.Status == Hit {
			t.Fatal("served at the end of its TTL")
		}
	})
}

// Memory.Reset (fiber.Storage's Reset, the way to clear the whole store:
// Cache has no Clear) empties the store; the hot layer must not go on
// serving what the store no longer holds.
func TestHotLayerAfterMemoryReset(t *testing.T) {
	eachEviction(t, func(t *testing.T, ev Eviction) {
		c := New(Config{Storage: newTestMemory(t, MemoryConfig{MaxBytes: 8 << 20, Eviction: ev}), Prefix: "test"})
		c.Set("k", []byte("v1"), time.Minute)
		c.Get("k") // kept in the hot layer
		if err := c.Storage().Reset(); err != nil {
			t.Fatal(err)
		}
		if v, ok, _ := c.Get("k"); ok {
			t.Fatalf("served %q after the store was reset", v)
		}
		if c.Stats().Hits == 0 {
			t.Fatal("the first Get was not a hit: the test shows nothing")
		}
	})
}
