package cachekit

import (
	"context"
	"testing"
	"time"
)

// A Batch hands out what Prefetch read (two calls on a store with a
// multi-get) until anything changes in the Cache; a value past its fresh
// window, a key it did not read, or one that missed is not handed out.
func TestBatch(t *testing.T) {
	m, err := NewMemory(MemoryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	s := &counted{Memory: m}
	c := New(Config{Storage: multi{single{s}}})
	for _, k := range []string{"a", "b", "c"} {
		if err := c.Set(k, []byte("v"+k), time.Minute, "t:"+k, "all"); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Set("short", []byte("s"), 30*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	reads := func() int64 { return s.gets.Load() + s.multis.Load() }
	before, hits := reads(), c.Stats().Hits
	b := c.Prefetch(context.Background(), "a", "b", "c", "short", "absent")
	if got := reads() - before; got != 2 {
		t.Errorf("Prefetch of 5 keys: %d store calls, want 2", got)
	}
	if c.Stats().Hits != hits {
		t.Errorf("Prefetch counted hits")
	}
	if r, ok := b.Take(context.Background(), "a"); !ok || string(r.Value) != "va" || r.Status != Hit {
		t.Errorf("Take(a) = %q %v %v", r.Value, r.Status, ok)
	}
	if c.Stats().Hits != hits+1 {
		t.Errorf("Take did not count its hit")
	}
	if _, ok := b.Take(context.Background(), "absent"); ok {
		t.Errorf("Take of a key that missed")
	}
	if _, ok := b.Take(context.Background(), "other"); ok {
		t.Errorf("Take of a key not read")
	}
	time.Sleep(40 * time.Millisecond)
	if _, ok := b.Take(context.Background(), "short"); ok {
		t.Errorf("Take of a value past its fresh window")
	}
	if got := reads() - before; got != 2 {
		t.Errorf("Takes read the store: %d calls", got)
	}
	// The tags of a value taken reach the fill around the caller.
	ctx := c.Collect(context.Background())
	if _, ok := b.Take(ctx, "b"); !ok {
		t.Fatal("Take(b)")
	}
	if _, err := c.LoadContext(context.Background(), "page", Policy{TTL: time.Minute}, func(p *Policy) ([]byte, error) {
		Inherit(p.Context(), ctx)
		return []byte("page"), nil
	}); err != nil {
		t.Fatal(err)
	}
	// Any change voids the Batch: here an invalidation of a tag of c only.
	if err := c.InvalidateTags("t:c"); err != nil {
		t.Fatal(err)
	}
	if _, ok := b.Take(context.Background(), "c"); ok {
		t.Errorf("Take(c) after its tag was invalidated")
	}
	if _, ok := b.Take(context.Background(), "a"); ok {
		t.Errorf("Take(a) after a change")
	}
	if err := c.InvalidateTags("t:b"); err != nil {
		t.Fatal(err)
	}
	if r, _ := c.Lookup("page"); r.Status != Miss {
		t.Errorf("page after its piece's tag moved: %v", r.Status)
	}
	var nb *Batch
	if _, ok := nb.Take(context.Background(), "a"); ok {
		t.Errorf("nil Batch")
	}
	if _, ok := c.Prefetch(context.Background(), "a", "").Take(context.Background(), "a"); ok {
		t.Errorf("Prefetch with an empty key kept something")
	}
}

func TestRemote(t *testing.T) {
	c := New(Config{})
	defer c.Storage().(*Memory).Close()
	m, err := NewMemory(MemoryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if c.Remote() || !New(Config{Storage: single{&counted{Memory: m}}}).Remote() {
		t.Errorf("Remote: embedded %v, shared %v", c.Remote(), New(Config{Storage: single{&counted{Memory: m}}}).Remote())
	}
}
