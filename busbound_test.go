package cachekit

import (
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// lossyBus delivers every message to every subscriber, or to none while
// lose is set.
type lossyBus struct {
	mu   sync.Mutex
	subs []func(string)
	lose atomic.Bool
}

func (b *lossyBus) Publish(msg string) error {
	if b.lose.Load() {
		return nil
	}
	b.mu.Lock()
	subs := append([]func(string){}, b.subs...)
	b.mu.Unlock()
	for _, fn := range subs {
		fn(msg)
	}
	return nil
}

func (b *lossyBus) Subscribe(fn func(string)) (func(), error) {
	b.mu.Lock()
	b.subs = append(b.subs, fn)
	b.mu.Unlock()
	return func() {}, nil
}

// A lost bus message costs at most LocalTTL: instance B serves what A
// invalidated for no longer than LocalTTL after the invalidation, whatever
// it read when — here a key first read just before B's copy of the tag's
// generation runs out, the case that used to cost twice LocalTTL.
func TestLostMessageBoundedByLocalTTL(t *testing.T) {
	const localTTL = time.Second
	for _, firstRead := range []time.Duration{0, localTTL/2 - 10*time.Millisecond, localTTL - 10*time.Millisecond} {
		synctest.Test(t, func(t *testing.T) {
			store := shared{newTestMemory(t, MemoryConfig{MaxBytes: 8 << 20})}
			bus := &lossyBus{}
			mk := func() *Cache {
				c := New(Config{Storage: store, Local: newTestMemory(t, MemoryConfig{MaxBytes: 4 << 20}),
					LocalTTL: localTTL, Bus: bus, Logger: quiet()})
				t.Cleanup(func() { c.Close() })
				return c
			}
			a, b := mk(), mk()
			a.Set("x", []byte("x"), time.Hour, "t")
			a.Set("k", []byte("old"), time.Hour, "t")
			if _, ok, _ := b.Get("x"); !ok { // B keeps the generation of t
				t.Fatal("B does not see A's entry")
			}
			time.Sleep(time.Millisecond)
			bus.lose.Store(true)
			if err := a.InvalidateTags("t"); err != nil {
				t.Fatal(err)
			}
			invalidated := time.Now()
			time.Sleep(firstRead)
			var lastHit time.Duration = -1
			for time.Since(invalidated) < 3*localTTL {
				if _, ok, _ := b.Get("k"); ok {
					lastHit = time.Since(invalidated)
				}
				time.Sleep(10 * time.Millisecond)
			}
			if lastHit >= localTTL {
				t.Fatalf("first read %v after the invalidation: B served the invalidated entry %v after it (LocalTTL %v)", firstRead, lastHit, localTTL)
			}
			t.Logf("first read %v after: last stale hit %v after the invalidation", firstRead, lastHit)
		})
	}
}
