package cachekit

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

// A fence reads back what was last written, on every kind of store, and
// nothing hides it: not Clear, not another instance's copy of the key
// space's generation, not the hot layer or Local.
func TestFence(t *testing.T) {
	for _, tc := range []struct {
		name string
		two  func(t *testing.T) (*Cache, *Cache)
	}{
		{"Memory", func(t *testing.T) (*Cache, *Cache) {
			m := newTestMemory(t, MemoryConfig{MaxBytes: 8 << 20})
			return New(Config{Storage: m}), New(Config{Storage: m})
		}},
		{"plain store", func(t *testing.T) (*Cache, *Cache) {
			m := newTestMemory(t, MemoryConfig{MaxBytes: 8 << 20})
			return New(Config{Storage: plainStore{m}}), New(Config{Storage: plainStore{m}})
		}},
		{"two-level", func(t *testing.T) (*Cache, *Cache) {
			m := newTestMemory(t, MemoryConfig{MaxBytes: 8 << 20})
			mk := func() *Cache {
				return New(Config{Storage: plainStore{m}, Local: newTestMemory(t, MemoryConfig{MaxBytes: 1 << 20})})
			}
			return mk(), mk()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := tc.two(t)
			if got, err := b.Fence("f"); err != nil || got != nil {
				t.Fatalf("before any write: %q, %v", got, err)
			}
			// b keeps its copy of the key space's generation; a moves it.
			if err := b.Set("warm", []byte("x"), time.Minute); err != nil {
				t.Fatal(err)
			}
			if err := a.Clear(); err != nil {
				t.Fatal(err)
			}
			for _, v := range []string{"one", "two"} {
				if err := a.SetFence("f", []byte(v), time.Minute); err != nil {
					t.Fatal(err)
				}
				for name, c := range map[string]*Cache{"writer": a, "other": b} {
					if got, err := c.Fence("f"); err != nil || !bytes.Equal(got, []byte(v)) {
						t.Fatalf("%s reads %q, %v; want %q", name, got, err, v)
					}
				}
			}
			if err := b.Clear(); err != nil {
				t.Fatal(err)
			}
			if got, _ := a.Fence("f"); string(got) != "two" {
				t.Fatalf("after Clear: %q, want the fence kept", got)
			}
			// An entry of the same name is another key.
			if err := a.Set("f", []byte("entry"), time.Minute); err != nil {
				t.Fatal(err)
			}
			if got, _ := b.Fence("f"); string(got) != "two" {
				t.Fatalf("an entry named f changed the fence: %q", got)
			}
		})
	}
}

func TestFenceBadInput(t *testing.T) {
	c := New(Config{Storage: newTestMemory(t, MemoryConfig{MaxBytes: 1 << 20})})
	if err := c.SetFence("", []byte("x"), time.Minute); !errors.Is(err, ErrEmptyKey) {
		t.Errorf("empty key: %v", err)
	}
	if _, err := c.Fence(""); !errors.Is(err, ErrEmptyKey) {
		t.Errorf("empty key read: %v", err)
	}
	for _, ttl := range []time.Duration{0, -time.Second} {
		if err := c.SetFence("f", []byte("x"), ttl); err == nil {
			t.Errorf("TTL %v: no error", ttl)
		}
	}
	if got, _ := c.Fence("f"); got != nil {
		t.Errorf("a refused write left %q", got)
	}
}
