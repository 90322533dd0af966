package cachekit

import (
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gofiber/fiber/v2"
)

func TestStoreExpiry(t *testing.T) {
	for _, c := range []struct{ in, want time.Duration }{
		{0, MaxStoreTTL},
		{-time.Second, MaxStoreTTL},
		{time.Millisecond, 2 * time.Second},       // memcache drivers store < 1 s as no expiry;
		{999 * time.Millisecond, 2 * time.Second}, // whole-second stores drop a key up to 1 s early
		{time.Second, 2 * time.Second},            //
		{1500 * time.Millisecond, 3 * time.Second},
		{time.Hour, time.Hour + time.Second},
		{MaxStoreTTL - 2*time.Second, MaxStoreTTL - time.Second},
		{MaxStoreTTL - time.Millisecond, MaxStoreTTL},
		{31 * 24 * time.Hour, MaxStoreTTL},  // Memcached reads > 30 days as a Unix time
		{365 * 24 * time.Hour, MaxStoreTTL}, // max-age=31536000
	} {
		if got := storeExpiry(c.in); got != c.want {
			t.Errorf("storeExpiry(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

// expiries is a plain fiber.Storage over Memory that records the expiry of
// every write.
type expiries struct {
	*Memory
	mu  sync.Mutex
	exp map[string]time.Duration
}

func (e *expiries) Set(k string, v []byte, exp time.Duration) error {
	e.mu.Lock()
	e.exp[k] = exp
	e.mu.Unlock()
	return e.Memory.Set(k, v, exp)
}

// SetIfAbsent and CompareAndSwap record too: the embedded Memory makes
// expiries an Atomic store, which new generations are written through.
func (e *expiries) SetIfAbsent(k string, v []byte, exp time.Duration) (bool, error) {
	e.mu.Lock()
	e.exp[k] = exp
	e.mu.Unlock()
	return e.Memory.SetIfAbsent(k, v, exp)
}

func (e *expiries) CompareAndSwap(k string, old, v []byte, exp time.Duration) (bool, error) {
	e.mu.Lock()
	e.exp[k] = exp
	e.mu.Unlock()
	return e.Memory.CompareAndSwap(k, old, v, exp)
}

var _ fiber.Storage = (*expiries)(nil)

// Every key the Cache writes gets an expiry in whole seconds, at most
// MaxStoreTTL: entries with and without a TTL, tiny and huge TTLs, tag
// generations, invalidations.
func TestEveryWriteExpires(t *testing.T) {
	e := &expiries{Memory: newTestMemory(t, MemoryConfig{MaxBytes: 8 << 20}), exp: map[string]time.Duration{}}
	c := New(Config{Storage: e, Logger: quiet()})
	c.Set("forever", []byte("v"), NoExpiry, "a")
	c.Set("tiny", []byte("v"), 10*time.Millisecond, "b")
	c.Set("year", []byte("v"), 365*24*time.Hour)
	c.GetOrSet("filled", time.Minute, func() ([]byte, error) { return []byte("v"), nil }, "c")
	c.Load("swr", Policy{TTL: time.Second, StaleWhileRevalidate: time.Hour, StaleIfError: 40 * 24 * time.Hour},
		func(*Policy) ([]byte, error) { return []byte("v"), nil })
	c.InvalidateTags("a", "new")
	if len(e.exp) < 8 {
		t.Fatalf("only %d keys written: %v", len(e.exp), e.exp)
	}
	for k, exp := range e.exp {
		if exp <= 0 || exp > MaxStoreTTL || exp%time.Second != 0 {
			t.Errorf("%s written with expiry %v", k, exp)
		}
	}
	if exp := e.exp[c.keys.storageKey(kindEntry, "tiny")]; exp != 2*time.Second {
		t.Errorf("a 10 ms entry stored for %v, want 2 s", exp)
	}
}

// A generation runs out after generationTTL: an entry is stored for no
// longer than its generations have left, and once a generation is gone its
// entries read as misses, never revived by the generation made next.
func TestGenerationExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := &expiries{Memory: newTestMemory(t, MemoryConfig{MaxBytes: 8 << 20}), exp: map[string]time.Duration{}}
		c := New(Config{Storage: e, Logger: quiet()})
		c.Set("first", []byte("v1"), time.Hour, "t") // makes the generation
		time.Sleep(generationTTL - 24*time.Hour)
		c.Set("late", []byte("v2"), 7*24*time.Hour, "t")
		// The store gets what storeExpiry makes of the day left (a second
		// more, for stores that drop a key up to a second early), not
		// the week.
		if exp := e.exp[c.keys.storageKey(kindEntry, "late")]; exp > storeExpiry(24*time.Hour) {
			t.Fatalf("an entry outlives its generation: stored for %v, the generation has a day left", exp)
		}
		if v, ok, _ := c.Get("late"); !ok || string(v) != "v2" {
			t.Fatal("entry under a live generation not served")
		}
		time.Sleep(24*time.Hour + time.Second) // the generation is gone
		if _, ok, _ := c.Get("late"); ok {
			t.Fatal("served after its generation expired")
		}
		// An entry whose generation ran out, though the entry itself is
		// still in the store (another writer, another clock), is a miss,
		// also once a new generation exists.
		gk := c.keys.storageKey(kindTag, "t")
		c.Set("kept", []byte("old"), 24*time.Hour, "t")
		e.Memory.Delete(gk) // the generation runs out first
		c.Set("other", []byte("new"), time.Hour, "t")
		if _, ok, _ := c.Get("kept"); ok {
			t.Fatal("an entry revived after its generation expired")
		}
		if v, ok, _ := c.Get("other"); !ok || string(v) != "new" {
			t.Fatal("entry under the new generation not served")
		}
	})
}

// Incr and Touch write their entry with storeExpiry's rule once: the store
// wrappers that make a read-modify-write (the guard's over a store's own
// Atomic, the lock's over a plain store) apply it themselves, so it is not
// applied before them too (a second more each time).
func TestReadModifyWriteExpiry(t *testing.T) {
	for name, plain := range map[string]bool{"Atomic store": false, "plain store": true} {
		t.Run(name, func(t *testing.T) {
			e := &expiries{Memory: newTestMemory(t, MemoryConfig{MaxBytes: 8 << 20}), exp: map[string]time.Duration{}}
			var s fiber.Storage = e
			if plain {
				s = plainStore{e}
			}
			c := New(Config{Storage: s, Logger: quiet()})
			skey := c.keys.storageKey(kindEntry, "n")
			if err := c.Set("n", []byte("1"), time.Hour); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Incr("n", 1); err != nil {
				t.Fatal(err)
			}
			if got, want := e.exp[skey], storeExpiry(time.Hour); got != want {
				t.Errorf("Incr wrote an hour's entry for %v, want %v", got, want)
			}
			if ok, err := c.Touch("n", 1500*time.Millisecond); !ok || err != nil {
				t.Fatal(ok, err)
			}
			if got, want := e.exp[skey], storeExpiry(1500*time.Millisecond); got != want {
				t.Errorf("Touch(1.5 s) wrote the entry for %v, want %v", got, want)
			}
		})
	}
}
