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

// TestHotViewLookupHint: a HotHint only leads the lookup; LookupHint finds
// exactly what Lookup finds, whatever the hint remembers: the value kept
// for the key (never the one of the hint's other key, with one hint shared
// by two keys), nothing after a Set, a tag's invalidation or Clear until
// the value is kept again, and nothing past its fresh window. It counts a
// hit as Lookup does, and writes the hint at most once a tick.
func TestHotViewLookupHint(t *testing.T) {
	c, _ := newTestCache(t)
	clock := time.Unix(1_700_000_000, 0)
	c.now = func() time.Time { return clock }
	c.start = clock
	check := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	keep := func(k string) {
		t.Helper()
		if r, err := c.Lookup(k); err != nil || r.Status != Hit {
			t.Fatalf("Lookup(%q): %v %v", k, r.Status, err)
		}
	}
	check(c.Set("a", []byte("va"), time.Minute, "t"))
	check(c.Set("b", []byte("vb"), time.Minute))
	keep("a")
	keep("b")
	var h HotHint
	// lookup looks k up through h in a new tick, after which h leads to
	// the place k was found in: every lookup but the first of a key after
	// a keep goes through its hint.
	lookup := func(k, want string) {
		t.Helper()
		clock = clock.Add(1 << hotHintTick)
		var r Result
		ok := c.HotView().LookupHint(k, &h, &r)
		if ok && c.hot.slots[uint32(h.v.Load())-1].Load() != r.hot {
			t.Fatalf("LookupHint(%q): the hint does not lead to the value found", k)
		}
		r2, ok2 := c.HotView().Peek(k)
		switch {
		case want == "" && (ok || ok2):
			t.Fatalf("LookupHint(%q) found %q (%v), Peek %v: want nothing", k, r.Value, ok, ok2)
		case want != "" && (!ok || string(r.Value) != want || r.Memo() != r2.Memo() || r.Status != Hit):
			t.Fatalf("LookupHint(%q) = %q %v %v, want %q, the memo Peek finds", k, r.Value, ok, r.Status, want)
		}
	}
	lookup("a", "va")
	first := h.v.Load()
	if first == 0 {
		t.Fatal("the hint remembers nothing after a hit")
	}
	var rb Result
	if ok := c.HotView().LookupHint("b", &h, &rb); !ok || string(rb.Value) != "vb" || h.v.Load() != first {
		t.Fatalf("b through a's hint in the same tick: %q %v, hint rewritten %v", rb.Value, ok, h.v.Load() != first)
	}
	lookup("b", "vb") // a new tick: now b's place
	lookup("a", "va")
	hits := c.Stats().Hits
	lookup("a", "va")
	if got := c.Stats().Hits - hits; got != 1 {
		t.Fatalf("a LookupHint hit counted %d hits", got)
	}
	for _, change := range []struct {
		name string
		f    func() error
	}{
		{"Set", func() error { return c.Set("a", []byte("va2"), time.Minute, "t") }},
		{"InvalidateTags", func() error { return c.InvalidateTags("t") }},
		{"Clear", c.Clear},
	} {
		if _, ok := c.HotView().Peek("a"); !ok {
			check(c.Set("a", []byte("va"), time.Minute, "t"))
			keep("a")
		}
		lookup("a", "va") // the hint now leads to a's place
		check(change.f())
		lookup("a", "")
		hits := c.Stats().Hits
		if c.HotView().LookupHint("a", &h, new(Result)) || c.Stats().Hits != hits {
			t.Fatalf("after %s: a miss counted", change.name)
		}
	}
	check(c.Set("a", []byte("va"), time.Second))
	keep("a")
	lookup("a", "va")
	clock = clock.Add(2 * time.Second)
	if c.HotView().LookupHint("a", &h, new(Result)) { // its place, past its fresh window
		t.Fatal("LookupHint served a value past its fresh window")
	}
	if c.HotView().LookupHint("", &h, new(Result)) {
		t.Fatal("LookupHint of an empty key found a value")
	}
	if (HotView{}).LookupHint("a", &h, new(Result)) {
		t.Fatal("a view without a hot layer found a value")
	}
	if !c.HotView().LookupHint("b", nil, new(Result)) && c.hot != nil {
		if _, ok2 := c.HotView().Peek("b"); ok2 {
			t.Fatal("LookupHint without a hint missed what Peek finds")
		}
	}
}

// TestHotViewTime: a view's Time is its instant, with a monotonic reading:
// between clock readings taken before and after the view, and zero for a
// view without a hot layer.
func TestHotViewTime(t *testing.T) {
	c, _ := newTestCache(t)
	before := time.Now()
	hv := c.HotView()
	after := time.Now()
	got := hv.Time()
	if got.Before(before) || got.After(after) {
		t.Fatalf("view time %v outside [%v, %v]", got, before, after)
	}
	if d := time.Since(got); d < 0 || d > time.Since(before) {
		t.Fatalf("time.Since(view time) = %v, since before = %v", d, time.Since(before))
	}
	if got.Round(0) == got {
		t.Fatal("the view's time has no monotonic reading")
	}
	if !(HotView{}).Time().IsZero() {
		t.Fatal("a view without a hot layer has a time")
	}
}
