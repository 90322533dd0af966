package cachekit_test

import (
	"testing"

	"github.com/cachekit/cachekit"
)

// Django's per-call version=n is, in cachekit, a second Cache with that
// Version over the same store (the README's "For Django users"): the two
// see their own entries only, and Clear of one leaves the other.
func TestVersionAsSecondCache(t *testing.T) {
	m, err := cachekit.NewMemory(cachekit.MemoryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	v1 := cachekit.New(cachekit.Config{Storage: m, Prefix: "site", Version: 1})
	v2 := cachekit.New(cachekit.Config{Storage: m, Prefix: "site", Version: 2})
	if err := v1.Set("k", []byte("one"), cachekit.DefaultTTL); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := v2.Get("k"); ok {
		t.Fatal("version 2 reads version 1's entry")
	}
	if err := v2.Set("k", []byte("two"), cachekit.DefaultTTL); err != nil {
		t.Fatal(err)
	}
	if err := v2.Clear(); err != nil {
		t.Fatal(err)
	}
	if v, ok, _ := v1.Get("k"); !ok || string(v) != "one" {
		t.Fatalf("version 1 after version 2's Clear: %q %v", v, ok)
	}
	if _, ok, _ := v2.Get("k"); ok {
		t.Fatal("version 2's entry survived its Clear")
	}
}
