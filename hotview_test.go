package cachekit

import (
	"testing"
	"time"
)

// TestHotViewAndMemo: a HotView reads the hot layer only, Lookup counting
// a hit as Lookup does and nothing on a miss; every hit on one kept value
// gets the same Memo, which goes with the value (a Set, a tag's
// invalidation, Clear), and a value read from the storage has none.
func TestHotViewAndMemo(t *testing.T) {
	c, _ := newTestCache(t)
	check := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	check(c.Set("k", []byte("v1"), time.Minute, "t"))
	if _, ok := c.HotView().Lookup("k"); ok {
		t.Fatal("HotView found a value the hot layer does not keep yet")
	}
	if s := c.Stats(); s.Hits != 0 || s.Misses != 0 {
		t.Fatalf("a HotView miss counted: %+v", s)
	}
	r, err := c.Lookup("k") // read from the storage, then kept
	check(err)
	if r.Memo() != nil {
		t.Fatal("a value read from the storage has a memo")
	}
	hv := c.HotView()
	r1, ok1 := hv.Lookup("k")
	r2, ok2 := c.HotView().Peek("k")
	if !ok1 || !ok2 || string(r1.Value) != "v1" || r1.Memo() == nil || r1.Memo() != r2.Memo() {
		t.Fatalf("hot hits: %v %v, memos %p %p", ok1, ok2, r1.Memo(), r2.Memo())
	}
	if s := c.Stats(); s.Hits != 2 { // Lookup's and HotView.Lookup's, not Peek's
		t.Fatalf("hits counted: %d, want 2", s.Hits)
	}
	r1.Memo().Store("decoded v1")
	if got, _ := r2.Memo().Load().(string); got != "decoded v1" {
		t.Fatalf("memo %q", got)
	}
	for _, change := range []struct {
		name string
		f    func() error
	}{
		{"Set", func() error { return c.Set("k", []byte("v2"), time.Minute, "t") }},
		{"InvalidateTags", func() error { return c.InvalidateTags("t") }},
		{"Clear", c.Clear},
	} {
		r, _ := c.HotView().Peek("k")
		if r.Memo() == nil {
			if _, err := c.Lookup("k"); err != nil { // keep it again
				t.Fatal(err)
			}
		}
		if r, ok := c.HotView().Peek("k"); ok {
			r.Memo().Store("before " + change.name)
		}
		check(change.f())
		if r, ok := c.HotView().Peek("k"); ok {
			t.Fatalf("after %s the hot layer still serves %q (memo %v)", change.name, r.Value, r.Memo().Load())
		}
		if r, _ := c.Lookup("k"); r.Status == Hit {
			if r2, ok := c.HotView().Peek("k"); !ok || r2.Memo().Load() != nil {
				t.Fatalf("after %s the new value's memo is %v", change.name, r2.Memo().Load())
			}
		}
	}
}
