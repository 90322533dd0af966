package cachekit

import (
	"context"
	"testing"
	"time"
)

// LookupHot answers from the hot layer only: a kept hit, counted, its tags
// joining the fill around it; nothing for a key not kept, a key written
// since, or a Cache without a hot layer; and it keeps nothing of the key.
func TestLookupHot(t *testing.T) {
	var observed []string
	c := New(Config{Storage: newTestMemory(t, MemoryConfig{}), Observe: func(key string, s Status) {
		if s == Hit {
			observed = append(observed, key)
		}
	}})
	ctx := context.Background()
	if _, ok := c.LookupHot(ctx, "k"); ok {
		t.Fatal("a key never stored is in the hot layer")
	}
	if err := c.Set("k", []byte("v"), time.Minute, "t"); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.LookupHot(ctx, "k"); ok {
		t.Fatal("a key never read is in the hot layer")
	}
	if _, ok, _ := c.Get("k"); !ok { // keeps it hot
		t.Fatal("miss")
	}
	buf := []byte("k")
	hits := c.Stats().Hits
	v, ok := c.LookupHot(ctx, string(buf))
	if !ok || string(v) != "v" {
		t.Fatalf("LookupHot after a hit: %q, %v", v, ok)
	}
	if got := c.Stats().Hits - hits; got != 1 {
		t.Errorf("hits counted: %d, want 1", got)
	}
	buf[0] = 'x'
	if len(observed) == 0 || observed[len(observed)-1] != "k" {
		t.Errorf("observed %q", observed)
	}
	// Its tags join the fill around it: the page reads as a miss once t moves.
	if _, err := c.LoadContext(ctx, "page", Policy{TTL: time.Minute}, func(p *Policy) ([]byte, error) {
		if _, ok := c.LookupHot(p.Context(), "k"); !ok {
			t.Error("miss inside the fill")
		}
		return []byte("page"), nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := c.InvalidateTags("t"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := c.Get("page"); ok {
		t.Error("the page built from k's hot copy survived an invalidation of k's tag")
	}
	if _, ok := c.LookupHot(ctx, "k"); ok {
		t.Error("k's hot copy survived an invalidation of its tag")
	}
	c.Get("k")
	if err := c.Set("k", []byte("w"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if v, ok := c.LookupHot(ctx, "k"); ok {
		t.Errorf("k's hot copy survived a Set of k: %q", v)
	}
	off := New(Config{Storage: newTestMemory(t, MemoryConfig{}), HotBytes: -1})
	off.Set("k", []byte("v"), time.Minute)
	off.Get("k")
	if _, ok := off.LookupHot(ctx, "k"); ok {
		t.Error("a hit from a Cache without a hot layer")
	}
}
