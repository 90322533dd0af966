package cachekit

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestObserve(t *testing.T) {
	var mu sync.Mutex
	seen := map[string][]Status{}
	c := New(Config{Storage: newTestMemory(t, MemoryConfig{MaxBytes: 4 << 20}), Observe: func(k string, s Status) {
		mu.Lock()
		seen[k] = append(seen[k], s)
		mu.Unlock()
	}})
	load := func() ([]byte, error) { return []byte("v"), nil }
	c.GetOrSet("a", NoExpiry, load)
	c.GetOrSet("a", NoExpiry, load)
	c.Lookup("b")
	if fmt.Sprint(seen["a"]) != "[MISS HIT]" || fmt.Sprint(seen["b"]) != "[MISS]" {
		t.Fatalf("observed %v", seen)
	}
}

// Peek is Lookup without counting: nothing in Stats, no Observe call.
func TestPeekCountsNothing(t *testing.T) {
	observed := 0
	c := New(Config{Storage: newTestMemory(t, MemoryConfig{MaxBytes: 4 << 20}), Observe: func(string, Status) { observed++ }})
	c.Set("k", []byte("v"), time.Minute)
	for i := 0; i < 3; i++ { // from the storage, then from the hot layer
		if r, err := c.Peek("k"); err != nil || r.Status != Hit || string(r.Value) != "v" {
			t.Fatalf("Peek %d: %v %q %v", i, r.Status, r.Value, err)
		}
	}
	if r, _ := c.Peek("missing"); r.Status != Miss {
		t.Fatalf("Peek of a missing key: %v", r.Status)
	}
	if _, err := c.Peek(""); err != ErrEmptyKey {
		t.Fatalf("Peek of an empty key: %v", err)
	}
	if s := c.Stats(); s.Hits+s.Misses+s.Stale != 0 || observed != 0 {
		t.Fatalf("Peek counted: %+v, %d observed", s, observed)
	}
}
