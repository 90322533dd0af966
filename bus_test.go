package cachekit

import (
	"slices"
	"sync"
	"testing"
	"time"
)

// localBus is a Bus inside one process: Publish calls every subscriber
// before it returns.
type localBus struct {
	mu   sync.Mutex // protects subs
	subs []func(string)
}

func (b *localBus) Publish(msg string) error {
	b.mu.Lock()
	subs := slices.Clone(b.subs)
	b.mu.Unlock()
	for _, fn := range subs {
		fn(msg)
	}
	return nil
}

func (b *localBus) Subscribe(fn func(string)) (func(), error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.subs = append(b.subs, fn)
	return func() {}, nil
}

// shared stands for a store other processes share: not a *Memory, so the
// Cache treats it as external.
type shared struct{ *Memory }

// Two instances in the two-level mode with a Bus: each keeps entries and
// generations in its Local store and its hot layer, and sees the other's
// invalidations, Sets and Deletes at once.
func TestBusTwoLevel(t *testing.T) {
	store := shared{newTestMemory(t, MemoryConfig{MaxBytes: 4 << 20})}
	bus := &localBus{}
	newInstance := func() *Cache {
		c := New(Config{Storage: store, Prefix: "bus", Bus: bus, Local: newTestMemory(t, MemoryConfig{MaxBytes: 2 << 20})})
		if c.Err() != nil || c.bus == nil || c.hot == nil {
			t.Fatalf("two-level Cache with a Bus: err %v, bus %v, hot %v", c.Err(), c.bus != nil, c.hot != nil)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	a, b := newInstance(), newInstance()
	a.Set("k", []byte("v1"), time.Minute, "t")
	for i := 0; i < 2; i++ { // the second read is served by b's hot layer
		if v, ok, _ := b.Get("k"); !ok || string(v) != "v1" {
			t.Fatalf("read %d on b: %q %v", i, v, ok)
		}
	}
	if b.Stats().LocalHits != 0 {
		t.Fatalf("LocalHits = %d before any entry was copied into Local", b.Stats().LocalHits)
	}
	a.InvalidateTags("t")
	if v, ok, _ := b.Get("k"); ok {
		t.Fatalf("b served %q after a invalidated its tag", v)
	}
	a.Set("k", []byte("v2"), time.Minute, "t")
	b.Get("k")
	a.Set("k", []byte("v3"), time.Minute, "t")
	if v, _, _ := b.Get("k"); string(v) != "v3" {
		t.Fatalf("b after a's Set: %q", v)
	}
	a.Delete("k")
	if v, ok, _ := b.Get("k"); ok {
		t.Fatalf("b served %q after a deleted it", v)
	}
	// A message that may have been missed makes b forget everything it kept.
	a.Set("k", []byte("v4"), time.Minute)
	b.Get("k")
	b.onMessage("")
	if n, _ := b.local.Get(b.keys.storageKey(kindEntry, "k")); n != nil {
		t.Fatal("Local kept an entry after a missed-messages signal")
	}
}

// lateBus confirms its subscription only after New stopped waiting for it.
type lateBus struct {
	localBus
	delay time.Duration
}

func (b *lateBus) Subscribe(fn func(string)) (func(), error) {
	time.Sleep(b.delay) // no synchronisation with New: the race detector sees what follows
	return b.localBus.Subscribe(fn)
}

// A subscription confirmed after New returned reads the Cache's layers (its
// first message empties them): New starts it only once every field is set,
// so this is free of races under -race whatever the timing. It failed under
// -race when the subscription started in the middle of the wiring.
func TestLateSubscriptionAfterWiring(t *testing.T) {
	for _, delay := range []time.Duration{0, 20 * time.Millisecond} {
		bus := &lateBus{delay: delay}
		c := New(Config{Storage: shared{newTestMemory(t, MemoryConfig{})}, Local: newTestMemory(t, MemoryConfig{}),
			Bus: bus, Timeout: time.Millisecond})
		if c.Err() != nil {
			t.Fatal(c.Err())
		}
		if err := c.Set("k", []byte("v"), time.Minute); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for !c.busLive() {
			if time.Now().After(deadline) {
				t.Fatalf("delay %v: the subscription never confirmed", delay)
			}
			time.Sleep(time.Millisecond)
		}
		if v, ok, err := c.Get("k"); !ok || err != nil || string(v) != "v" {
			t.Fatalf("delay %v: Get = %q %v %v", delay, v, ok, err)
		}
		c.Close()
	}
}
