package cachekit

import (
	"strconv"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
)

func TestLowLevelHotLayer(t *testing.T) {
	m := newTestMemory(t, MemoryConfig{MaxBytes: 8 << 20})
	c := New(Config{Storage: m, Prefix: "hot"})
	other := New(Config{Storage: m, Prefix: "other"})
	other.Set("k", []byte("kept"), time.Minute)
	for i := range 10 {
		c.Set("k"+strconv.Itoa(i), []byte("v"), time.Minute)
	}
	for range 2 { // the second round is served by the hot layer
		if got, _ := c.GetMany("k0", "k1", "k9"); len(got) != 3 {
			t.Fatalf("GetMany before Clear: %d of 3", len(got))
		}
	}
	if err := c.Clear(); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if v, ok, _ := c.Get("k" + strconv.Itoa(i)); ok {
			t.Fatalf("k%d served after Clear: %q", i, v)
		}
	}
	if v, ok, _ := other.Get("k"); !ok || string(v) != "kept" {
		t.Fatal("Clear reached another prefix")
	}
	// The hot copy of a value written after Clear, then Memory.Reset.
	c.Set("k", []byte("v"), time.Minute)
	for range 2 {
		if _, ok, _ := c.Get("k"); !ok {
			t.Fatal("set after Clear: missing")
		}
	}
	if err := m.Reset(); err != nil {
		t.Fatal(err)
	}
	if v, ok, _ := c.Get("k"); ok {
		t.Fatalf("hot copy served after Memory.Reset: %q", v)
	}
}

// TestAtomicFallbackIsPerProcess documents what holds on a store that is not
// Atomic: Add is a get then a set under this process's lock.
func TestAtomicFallbackIsPerProcess(t *testing.T) {
	c := New(Config{Storage: plainStore{newTestMemory(t, MemoryConfig{MaxBytes: 8 << 20})}})
	if _, cross := c.atomics(); cross {
		t.Fatal("a plain store reported as atomic across processes")
	}
	m, _ := NewMemory(MemoryConfig{MaxBytes: 8 << 20})
	defer m.Close()
	if _, cross := New(Config{Storage: m}).atomics(); !cross {
		t.Fatal("Memory not atomic")
	}
}

// plainStore hides everything but fiber.Storage.
type plainStore struct{ fiber.Storage }

// On Memory the key space's generation is not in bigcache: a full store
// turning its ring evicts old entries, never the generation every entry
// depends on.
func TestKeySpaceGenerationSurvivesEviction(t *testing.T) {
	m := newTestMemory(t, MemoryConfig{MaxBytes: 1 << 20})
	c := New(Config{Storage: m, HotBytes: -1})
	val := make([]byte, 1000)
	for i := range 5000 {
		c.Set("k"+strconv.Itoa(i), val, time.Minute)
	}
	if m.Stats().Evictions == 0 {
		t.Fatal("the store did not fill")
	}
	for i := 4900; i < 5000; i++ {
		if _, ok, _ := c.Get("k" + strconv.Itoa(i)); !ok {
			t.Fatalf("recent entry k%d lost after the store turned over", i)
		}
	}
	c.Clear()
	if _, ok, _ := c.Get("k4999"); ok {
		t.Fatal("served after Clear")
	}
}
