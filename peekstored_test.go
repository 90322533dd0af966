package cachekit

import (
	"testing"
	"time"
)

// PeekStored reads the shared store itself: a write another instance made
// whose Bus message has not arrived (here: b has no Bus at all) is seen at
// once, where Peek answers from Local or the hot layer. Over a Memory it
// answers as Peek.
func TestPeekStored(t *testing.T) {
	store := shared{newTestMemory(t, MemoryConfig{MaxBytes: 4 << 20})}
	a := New(Config{Storage: store, Bus: &localBus{}, Local: newTestMemory(t, MemoryConfig{MaxBytes: 2 << 20})})
	b := New(Config{Storage: store})
	for _, c := range []*Cache{a, b} {
		if err := c.Err(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
	}
	if err := a.Set("k", []byte("v1"), time.Minute); err != nil {
		t.Fatal(err)
	}
	for range 2 { // into Local, then the hot layer
		if r, _ := a.Peek("k"); string(r.Value) != "v1" {
			t.Fatalf("Peek = %q, want v1", r.Value)
		}
	}
	if err := b.Set("k", []byte("v2"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if r, _ := a.Peek("k"); string(r.Value) != "v1" {
		t.Fatalf("Peek = %q: the copy kept, as no message came (the case PeekStored is for)", r.Value)
	}
	if r, err := a.PeekStored("k"); err != nil || r.Status != Hit || string(r.Value) != "v2" {
		t.Fatalf("PeekStored = %q %v %v, want v2, a hit", r.Value, r.Status, err)
	}
	if err := b.Delete("k"); err != nil {
		t.Fatal(err)
	}
	if r, err := a.PeekStored("k"); err != nil || r.Status == Hit {
		t.Fatalf("PeekStored after a delete = %q %v %v, want no hit", r.Value, r.Status, err)
	}
	if _, err := a.PeekStored(""); err == nil {
		t.Fatal("PeekStored of an empty key: no error")
	}

	m := New(Config{Storage: newTestMemory(t, MemoryConfig{MaxBytes: 1 << 20})})
	_ = m.Set("k", []byte("v"), time.Minute, "t")
	if r, _ := m.PeekStored("k"); string(r.Value) != "v" {
		t.Fatalf("over a Memory: %q, want v", r.Value)
	}
	_ = m.InvalidateTags("t")
	if r, _ := m.PeekStored("k"); r.Status == Hit {
		t.Fatal("over a Memory: an invalidated entry is a hit")
	}
}
