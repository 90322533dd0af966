package cachekit

import (
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// hotOnly reports whether c serves key from its hot layer alone: the entry
// is removed from the store behind c's back first, so only a kept value
// can answer.
func hotOnly(t *testing.T, c *Cache, m *Memory, key string) (string, bool) {
	t.Helper()
	if err := m.Delete(c.keys.storageKey(kindEntry, key)); err != nil {
		t.Fatal(err)
	}
	v, ok, err := c.Get(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(v), ok
}

// What each change drops from the hot layer: exactly what it makes wrong.
func TestHotVersions(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(c *Cache, m *Memory) error
		gone   []string // the keys whose kept values the change drops
	}{
		{"Set of one key", func(c *Cache, _ *Memory) error { return c.Set("b", []byte("new"), time.Minute) }, []string{"b"}},
		{"Delete of one key", func(c *Cache, _ *Memory) error { return c.Delete("c") }, []string{"c"}},
		{"Set of an unknown key", func(c *Cache, _ *Memory) error { return c.Set("zz", []byte("z"), time.Minute, "t1") }, nil},
		{"Add, Incr, Touch", func(c *Cache, _ *Memory) error {
			if _, err := c.Add("n", []byte("1"), time.Minute); err != nil {
				return err
			}
			if _, err := c.Incr("n", 1); err != nil {
				return err
			}
			_, err := c.Touch("n", time.Hour)
			return err
		}, nil},
		{"SetMany", func(c *Cache, _ *Memory) error {
			return c.SetMany(map[string][]byte{"a": []byte("x"), "e": []byte("y")}, time.Minute)
		}, []string{"a"}},
		{"InvalidateTags of one tag", func(c *Cache, _ *Memory) error { return c.InvalidateTags("t1") }, []string{"a", "b"}},
		{"InvalidateTags of the other", func(c *Cache, _ *Memory) error { return c.InvalidateTags("t2") }, []string{"b", "c"}},
		{"InvalidateTags of both", func(c *Cache, _ *Memory) error { return c.InvalidateTags("t1", "t2") }, []string{"a", "b", "c"}},
		{"InvalidateTags of an unused tag", func(c *Cache, _ *Memory) error { return c.InvalidateTags("t3") }, nil},
		{"Clear", func(c *Cache, _ *Memory) error { return c.Clear() }, []string{"a", "b", "c", "d"}},
		{"Memory.Reset", func(_ *Cache, m *Memory) error { return m.Reset() }, []string{"a", "b", "c", "d"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, m := newTestCache(t)
			c.Set("a", []byte("va"), time.Minute, "t1")
			c.Set("b", []byte("vb"), time.Minute, "t1", "t2")
			c.Set("c", []byte("vc"), time.Minute, "t2")
			c.Set("d", []byte("vd"), time.Minute)
			for _, k := range []string{"a", "b", "c", "d"} {
				if _, ok, _ := c.Get(k); !ok { // kept in the hot layer
					t.Fatalf("%s: not stored", k)
				}
			}
			if err := tc.change(c, m); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"a", "b", "c", "d"} {
				gone := false
				for _, g := range tc.gone {
					gone = gone || g == k
				}
				v, ok := hotOnly(t, c, m, k)
				switch {
				case gone && ok:
					t.Errorf("%s: still served (%q) from the hot layer", k, v)
				case !gone && (!ok || v != "v"+k):
					t.Errorf("%s: dropped by a change that does not concern it (%q %v)", k, v, ok)
				}
			}
		})
	}
}

// Two Caches over one Memory share its versions: a write through one drops
// the other's kept value of that key, and only that one.
func TestHotVersionsTwoCaches(t *testing.T) {
	m := newTestMemory(t, MemoryConfig{MaxBytes: 8 << 20})
	a, b := New(Config{Storage: m, Prefix: "p"}), New(Config{Storage: m, Prefix: "p"})
	a.Set("k", []byte("v1"), time.Minute, "t")
	a.Set("other", []byte("o"), time.Minute)
	b.Get("k")
	b.Get("other")
	a.Set("k", []byte("v2"), time.Minute, "t")
	if v, _, _ := b.Get("k"); string(v) != "v2" {
		t.Fatalf("b after a's Set: %q", v)
	}
	if v, ok := hotOnly(t, b, m, "other"); !ok || v != "o" {
		t.Fatalf("b's kept value of another key dropped: %q %v", v, ok)
	}
	a.InvalidateTags("t")
	if v, ok, _ := b.Get("k"); ok {
		t.Fatalf("b served %q after a invalidated its tag", v)
	}
}

// Under -race, with readers re-inserting what they read while a writer
// writes: once a Set has returned, no reader gets an older value, and once
// an InvalidateTags has returned, none gets a value it invalidated.
func TestHotVersionsConcurrentWriters(t *testing.T) {
	c, _ := newTestCache(t)
	const keys, rounds, readers = 4, 300, 4
	var committed [keys]atomic.Int64 // the last version whose Set returned
	var tagged [keys]atomic.Int64    // the last version whose tag was invalidated
	for k := range keys {
		c.Set("k"+strconv.Itoa(k), []byte("0"), time.Minute, "t"+strconv.Itoa(k))
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := i % keys
				floor, dead := committed[k].Load(), tagged[k].Load()
				v, ok, err := c.Get("k" + strconv.Itoa(k))
				if err != nil || !ok {
					continue // invalidated, or between an invalidation and the next Set
				}
				n, _ := strconv.ParseInt(string(v), 10, 64)
				if n < floor {
					t.Errorf("k%d: read version %d after Set of %d returned", k, n, floor)
					return
				}
				if n <= dead && dead > 0 {
					t.Errorf("k%d: read version %d after its tag was invalidated at %d", k, n, dead)
					return
				}
			}
		}()
	}
	for k := range keys {
		wg.Add(1)
		go func(k int) {
			defer wg.Done()
			key, tag := "k"+strconv.Itoa(k), "t"+strconv.Itoa(k)
			for i := int64(1); i <= rounds; i++ {
				if err := c.Set(key, []byte(strconv.FormatInt(i, 10)), time.Minute, tag); err != nil {
					t.Error(err)
					return
				}
				committed[k].Store(i)
				if i%10 == 0 {
					c.InvalidateTags(tag)
					tagged[k].Store(i)
				}
			}
		}(k)
	}
	time.Sleep(10 * time.Millisecond)
	for k := range keys {
		for committed[k].Load() < rounds {
			time.Sleep(time.Millisecond)
		}
	}
	close(stop)
	wg.Wait()
}

// With a Bus, another instance's message drops only what it names: a Set
// of one key, one tag; and "" (messages may have been lost) drops all.
func TestHotVersionsBus(t *testing.T) {
	store := shared{newTestMemory(t, MemoryConfig{MaxBytes: 4 << 20})}
	bus := &localBus{}
	newInstance := func() *Cache {
		c := New(Config{Storage: store, Prefix: "bus", Bus: bus, Local: newTestMemory(t, MemoryConfig{MaxBytes: 2 << 20})})
		if c.hot == nil {
			t.Fatal("no hot layer with a Bus")
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	a, b := newInstance(), newInstance()
	keep := func() {
		for i, tag := range []string{"t1", "t2", "t3"} {
			k := fmt.Sprint("k", i+1)
			a.Set(k, []byte("v"+k), time.Minute, tag)
			if v, ok, _ := b.Get(k); !ok || string(v) != "v"+k {
				t.Fatalf("b: %s = %q %v", k, v, ok)
			}
		}
	}
	// served reports whether b serves key from its hot layer alone.
	served := func(key string) bool {
		store.Delete(b.keys.storageKey(kindEntry, key))
		b.local.Delete(b.keys.storageKey(kindEntry, key))
		_, ok, _ := b.Get(key)
		return ok
	}
	keep()
	a.Set("k1", []byte("new"), time.Minute, "t1")
	if v, _, _ := b.Get("k1"); string(v) != "new" {
		t.Fatalf("b after a's Set: %q", v)
	}
	a.InvalidateTags("t2")
	if _, ok, _ := b.Get("k2"); ok {
		t.Fatal("b served k2 after a invalidated t2")
	}
	if !served("k3") {
		t.Fatal("b dropped k3 on messages that do not name it")
	}
	keep()
	b.onMessage("")
	for _, k := range []string{"k1", "k2", "k3"} {
		if served(k) {
			t.Fatalf("b served %s after a lost-messages signal", k)
		}
	}
}
