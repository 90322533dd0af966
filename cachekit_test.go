package cachekit

import (
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

func newTestCache(t testing.TB) (*Cache, *Memory) {
	t.Helper()
	m := newTestMemory(t, MemoryConfig{MaxBytes: 8 << 20})
	return New(Config{Storage: m, Prefix: "test"}), m
}

func TestGetSetDelete(t *testing.T) {
	c, _ := newTestCache(t)
	if _, ok, err := c.Get("k"); ok || err != nil {
		t.Fatalf("empty cache: ok=%v err=%v", ok, err)
	}
	if err := c.Set("k", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	v, ok, err := c.Get("k")
	if !ok || err != nil || string(v) != "v" {
		t.Fatalf("Get = %q %v %v", v, ok, err)
	}
	// An empty value is a value.
	c.Set("empty", []byte{}, NoExpiry)
	if v, ok, _ := c.Get("empty"); !ok || len(v) != 0 {
		t.Fatalf("empty value: %q %v", v, ok)
	}
	c.Delete("k")
	if _, ok, _ := c.Get("k"); ok {
		t.Fatal("deleted entry still served")
	}
}

func TestBadInput(t *testing.T) {
	c, _ := newTestCache(t)
	if err := c.Set("", []byte("v"), NoExpiry); !errors.Is(err, ErrEmptyKey) {
		t.Errorf("Set empty key: %v", err)
	}
	if _, _, err := c.Get(""); !errors.Is(err, ErrEmptyKey) {
		t.Errorf("Get empty key: %v", err)
	}
	if _, err := c.GetOrSet("", NoExpiry, func() ([]byte, error) { return nil, nil }); !errors.Is(err, ErrEmptyKey) {
		t.Errorf("GetOrSet empty key: %v", err)
	}
	if _, err := c.Load("k", Policy{StaleIfError: -1}, nil); err == nil {
		t.Error("negative StaleIfError: no error")
	}
	if err := c.Set("k", []byte("v"), NoExpiry, ""); err == nil {
		t.Error("empty tag: no error")
	}
	if err := c.InvalidateTags(""); err == nil {
		t.Error("invalidating an empty tag: no error")
	}
	bad := New(Config{Prefix: "has space"})
	if bad.Err() == nil {
		t.Fatal("bad prefix: Err() is nil")
	}
	if err := bad.Set("k", []byte("v"), 0); err == nil || !strings.Contains(err.Error(), "Prefix") {
		t.Errorf("bad prefix Set: %v", err)
	}
	// A nil storage means a private embedded store.
	c2 := New(Config{})
	if _, ok := c2.Storage().(*Memory); !ok || c2.Err() != nil {
		t.Fatalf("nil Storage: %T %v", c2.Storage(), c2.Err())
	}
}

func TestTTLExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, _ := newTestCache(t)
		c.Set("k", []byte("v"), time.Minute)
		time.Sleep(59 * time.Second)
		if _, ok, _ := c.Get("k"); !ok {
			t.Fatal("expired early")
		}
		time.Sleep(2 * time.Second)
		if _, ok, _ := c.Get("k"); ok {
			t.Fatal("served after TTL")
		}
	})
}

func TestPrefixAndVersionSeparate(t *testing.T) {
	m := newTestMemory(t, MemoryConfig{MaxBytes: 4 << 20})
	a := New(Config{Storage: m, Prefix: "a"})
	b := New(Config{Storage: m, Prefix: "b"})
	a2 := New(Config{Storage: m, Prefix: "a", Version: 2})
	a.Set("k", []byte("a"), NoExpiry)
	if _, ok, _ := b.Get("k"); ok {
		t.Error("prefix b sees prefix a's entry")
	}
	if _, ok, _ := a2.Get("k"); ok {
		t.Error("version 2 sees version 0's entry")
	}
}

func TestDefaultIsShared(t *testing.T) {
	if a, b := Default(), Default(); a != b || a.Err() != nil {
		t.Fatal("Default is not one working Cache")
	}
}
