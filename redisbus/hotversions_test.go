package redisbus_test

import (
	"context"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/redisbus"
	storage "github.com/gofiber/storage/redis/v3"
)

// An entry under three tags is validated in two round trips over
// redisbus.Atomic: the entry, then its tags' generations in one pipeline.
// Over the plain driver, without a multi-get, it is one per tag.
func TestTagsReadInOneRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name   string
		atomic bool
		want   int64
	}{
		{"redisbus.Atomic", true, 2},
		{"plain driver", false, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := redisClient(t)
			rt := &roundTrips{}
			client.AddHook(rt)
			var store cachekit.Config
			if tc.atomic {
				store.Storage = redisbus.Atomic(storage.NewFromConnection(client))
			} else {
				store.Storage = storage.NewFromConnection(client)
			}
			store.Prefix, store.Timeout = randomPrefix(), 5*time.Second
			c := cachekit.New(store)
			if err := c.Set("card", []byte("v"), time.Minute, "a", "b", "c"); err != nil {
				t.Fatal(err)
			}
			c.Get("card") // reads the key space's generation, kept for a second
			before := rt.n.Load()
			if v, ok, err := c.Get("card"); !ok || string(v) != "v" || err != nil {
				t.Fatalf("Get: %q %v %v", v, ok, err)
			}
			if n := rt.n.Load() - before; n != tc.want {
				t.Fatalf("a hit on an entry with 3 tags: %d round trips, want %d", n, tc.want)
			}
			c.InvalidateTags("b")
			if _, ok, _ := c.Get("card"); ok {
				t.Fatal("served after one of its tags was invalidated")
			}
		})
	}
}

// heardBus is a redisbus.Bus that records the messages its subscriber
// has handled (after the Cache's handler returned): a test waits for the
// message it is about instead of guessing how long pub/sub takes.
type heardBus struct {
	*redisbus.Bus
	mu    sync.Mutex
	heard []string
}

func (h *heardBus) Subscribe(fn func(msg string)) (stop func(), err error) {
	return h.Bus.Subscribe(func(msg string) {
		fn(msg)
		h.mu.Lock()
		h.heard = append(h.heard, msg)
		h.mu.Unlock()
	})
}

// waitHeard waits up to 10 s for a message naming name (a key or a tag,
// after the kind byte) to have been handled.
func (h *heardBus) waitHeard(t *testing.T, name string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		h.mu.Lock()
		seen := slices.ContainsFunc(h.heard, func(m string) bool { return len(m) > 0 && m[1:] == name })
		h.mu.Unlock()
		if seen {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the bus did not deliver the message naming %q within 10 s", name)
		}
	}
}

// With a Bus, another instance's Set or InvalidateTags drops from this
// instance's hot layer only what it names: an entry it does not name is
// still served after it is gone from Redis and from Local, which only the
// hot layer can do.
//
// b waits for each message a sends before the reads that follow it: a
// message that names k3, delivered late, drops b's hot copy of k3 as it
// must, and pub/sub delivers when it delivers (under load, after b's
// reads). b's Timeout is long so New returns with the subscription
// confirmed (the hot layer keeps values only then) and no read times out.
func TestBusMessagesDropOnlyWhatTheyName(t *testing.T) {
	client := redisClient(t)
	prefix := "hv" + strconv.FormatUint(rand.Uint64(), 36)
	a := instance(t, client, prefix, true)
	local, err := cachekit.NewMemory(cachekit.MemoryConfig{MaxBytes: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	bus := &heardBus{Bus: redisbus.New(client, "cachekit:test:"+prefix)}
	b := cachekit.New(cachekit.Config{
		Storage: storage.NewFromConnection(client), Prefix: prefix, Local: local,
		LocalTTL: time.Minute, Bus: bus, Timeout: 10 * time.Second,
	})
	t.Cleanup(func() { b.Close() })
	for i, tag := range []string{"t1", "t2", "t3"} {
		k := "k" + strconv.Itoa(i+1)
		a.Set(k, []byte("v"+k), time.Hour, tag)
		bus.waitHeard(t, k)
		for range 2 { // the second read is b's hot copy
			if v, ok, _ := b.Get(k); !ok || string(v) != "v"+k {
				t.Fatalf("b: %s = %q %v", k, v, ok)
			}
		}
	}
	until := func(what string, done func() bool) {
		t.Helper()
		for start := time.Now(); !done(); time.Sleep(time.Millisecond) {
			if time.Since(start) > 10*time.Second {
				t.Fatalf("b still serves %s 10 s later (LocalTTL is a minute)", what)
			}
		}
	}
	a.Set("k1", []byte("new"), time.Hour, "t1")
	until("k1's old value after a's Set", func() bool { v, _, _ := b.Get("k1"); return string(v) == "new" })
	a.InvalidateTags("t2")
	until("k2 after a invalidated t2", func() bool { _, ok, _ := b.Get("k2"); return !ok })
	bus.waitHeard(t, "t2") // handled in full, not only begun
	// k3: gone from Redis and from b's Local, behind the Cache's back.
	skey := prefix + ":0:e:k3"
	if err := client.Del(context.Background(), skey).Err(); err != nil {
		t.Fatal(err)
	}
	local.Delete(skey)
	if v, ok, _ := b.Get("k3"); !ok || string(v) != "vk3" {
		t.Fatalf("b dropped k3 on messages that do not name it: %q %v", v, ok)
	}
}

// LookupMany of 24 cards, each under two tags, over redisbus.Atomic: two
// round trips, as GetMany.
func TestLookupManyRoundTrips(t *testing.T) {
	c, rt := atomicCache(t, randomPrefix())
	keys := make([]string, 24)
	for i := range keys {
		keys[i] = "card" + strconv.Itoa(i)
		c.Set(keys[i], []byte("v"), time.Minute, "cards", "card:"+strconv.Itoa(i%4))
	}
	before := rt.n.Load()
	rs, err := c.LookupMany(context.Background(), keys...)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rs {
		if r.Status != cachekit.Hit {
			t.Fatalf("%s: %v", keys[i], r.Status)
		}
	}
	if n := rt.n.Load() - before; n != 2 {
		t.Fatalf("LookupMany of 24 keys: %d round trips, want 2", n)
	}
}

// A hit on an entry under three tags over Redis (no Local, no hot layer):
// through redisbus.Atomic (a pipeline for the tags) and the plain driver.
func BenchmarkHit3Tags(b *testing.B) {
	for _, atomic := range []bool{true, false} {
		name := map[bool]string{true: "Redis/Atomic", false: "Redis/plain"}[atomic]
		b.Run(name, func(b *testing.B) {
			client := redisClient(b)
			rt := &roundTrips{}
			client.AddHook(rt)
			cfg := cachekit.Config{Storage: storage.NewFromConnection(client), Prefix: randomPrefix(), Timeout: 5 * time.Second}
			if atomic {
				cfg.Storage = redisbus.Atomic(storage.NewFromConnection(client))
			}
			c := cachekit.New(cfg)
			c.Set("card", make([]byte, 1000), time.Hour, "a", "b", "c")
			before := rt.n.Load()
			for b.Loop() {
				if _, ok, _ := c.Get("card"); !ok {
					b.Fatal("miss")
				}
			}
			b.ReportMetric(float64(rt.n.Load()-before)/float64(b.N), "roundtrips/op")
		})
	}
}
