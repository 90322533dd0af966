package cachekit

import "testing"

func TestTagsInvalidate(t *testing.T) {
	c, _ := newTestCache(t)
	c.Set("p1", []byte("1"), NoExpiry, "product:1", "list")
	c.Set("p2", []byte("2"), NoExpiry, "product:2", "list")
	c.Set("other", []byte("o"), NoExpiry)
	if err := c.InvalidateTags("product:1"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := c.Get("p1"); ok {
		t.Error("p1 served after its tag was invalidated")
	}
	if _, ok, _ := c.Get("p2"); !ok {
		t.Error("p2 lost though its tags did not move")
	}
	c.InvalidateTags("list")
	if _, ok, _ := c.Get("p2"); ok {
		t.Error("p2 served after list was invalidated")
	}
	if _, ok, _ := c.Get("other"); !ok {
		t.Error("untagged entry lost")
	}
	// Written after the invalidation: served again.
	c.Set("p1", []byte("1b"), NoExpiry, "product:1", "list")
	if v, ok, _ := c.Get("p1"); !ok || string(v) != "1b" {
		t.Errorf("rewritten entry: %q %v", v, ok)
	}
	if s := c.Stats(); s.Invalidations != 2 {
		t.Errorf("Invalidations = %d", s.Invalidations)
	}
}

// The rule: a lost generation (evicted, store restarted) never brings
// invalidated data back.
func TestLostGenerationNeverRevives(t *testing.T) {
	c, m := newTestCache(t)
	c.Set("k", []byte("old"), NoExpiry, "t")
	c.InvalidateTags("t")
	// The counter is lost...
	if err := m.Delete(c.keys.storageKey(kindTag, "t")); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := c.Get("k"); ok {
		t.Fatal("entry served with its tag's generation unknown")
	}
	// ...and made anew by the next write: the old entry still misses.
	c.Set("other", []byte("x"), NoExpiry, "t")
	if _, ok, _ := c.Get("k"); ok {
		t.Fatal("invalidated entry revived by a new generation")
	}
	if _, ok, _ := c.Get("other"); !ok {
		t.Fatal("entry under the new generation not served")
	}
	// Lost before any invalidation: also a miss, never a wrong hit.
	c.Set("k2", []byte("v"), NoExpiry, "u")
	m.Delete(c.keys.storageKey(kindTag, "u"))
	if _, ok, _ := c.Get("k2"); ok {
		t.Fatal("entry served with an unknown generation")
	}
}
