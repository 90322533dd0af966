package cachekit

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The attacks on HotHint: a hint that leads to a slot another key (or
// another version of the key, or another Cache's value) now holds, or to
// a value an invalidation, a Bus message or its LocalTTL ended, must only
// cost the look.

// fixedClock sets c's clock to a fixed instant that tick moves by one
// hint tick.
func fixedClock(c *Cache) (tick func()) {
	clock := time.Unix(1_700_000_000, 0)
	c.now = func() time.Time { return clock }
	c.start = clock
	return func() { clock = clock.Add(1 << hotHintTick) }
}

// keepKey reads k through c.Lookup, which keeps a stored hit in the hot
// layer, and fails unless it is want.
func keepKey(t *testing.T, c *Cache, k, want string) {
	t.Helper()
	if r, err := c.Lookup(k); err != nil || r.Status != Hit || string(r.Value) != want {
		t.Fatalf("Lookup(%q) = %q %v %v, want %q", k, r.Value, r.Status, err, want)
	}
}

// TestHotHintSlotReusedByAnotherKey: keys of one bucket take each other's
// slots. A hint that leads to the slot a key was found in, now holding
// another key of its bucket, never gives that key's value: a miss while
// the key is not kept, its own value from its new slot once it is kept
// again.
func TestHotHintSlotReusedByAnotherKey(t *testing.T) {
	c, _ := newTestCache(t)
	tick := fixedClock(c)
	var same []string // keys of one bucket (at the root's version)
	b0 := c.hot.bucket("k0", 0)
	for i := 0; len(same) < 3; i++ {
		if k := "k" + strconv.Itoa(i); c.hot.bucket(k, 0) == b0 {
			same = append(same, k)
		}
	}
	a, b, d := same[0], same[1], same[2]
	for _, k := range same {
		if err := c.Set(k, []byte("value of "+k), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	keepKey(t, c, a, "value of "+a)
	var h HotHint
	var r Result
	if !c.HotView().LookupHint(a, &h, &r) {
		t.Fatal("a kept value missed")
	}
	aSlot := uint32(h.v.Load()) - 1
	tick()
	keepKey(t, c, b, "value of "+b) // the bucket's other slot
	tick()
	keepKey(t, c, d, "value of "+d) // replaces the older, a
	if got := c.hot.slots[aSlot].Load(); got == nil || got.key != d {
		t.Fatalf("slot %d holds %v, want %q (the layout this test relies on)", aSlot, got, d)
	}
	tick()
	if c.HotView().LookupHint(a, &h, &r) {
		t.Fatalf("LookupHint(%q) through its old slot, now %q's, found %q", a, d, r.Value)
	}
	if h.v.Load()&(1<<32-1) != uint64(aSlot)+1 {
		t.Fatal("a miss rewrote the hint")
	}
	// d through a's hint: d is in that slot (found at once).
	if !c.HotView().LookupHint(d, &h, &r) || string(r.Value) != "value of "+d {
		t.Fatalf("LookupHint(%q) = %q", d, r.Value)
	}
	tick()
	keepKey(t, c, a, "value of "+a) // kept again, in b's slot (older than d's)
	if c.hot.slots[aSlot].Load().key != d {
		t.Fatal("a replaced d")
	}
	for range 3 {
		tick()
		for _, k := range []string{a, d, b} {
			ok := c.HotView().LookupHint(k, &h, &r)
			_, kept := c.HotView().Peek(k)
			if ok != kept || ok && string(r.Value) != "value of "+k {
				t.Fatalf("LookupHint(%q) = %q %v, Peek %v", k, r.Value, ok, kept)
			}
		}
	}
}

// TestHotHintAcrossVersionsAndCaches: a hint shared by the views of one
// key at several versions (WithVersion: one hot layer, the key told apart
// by the view's id), and by two Caches (two hot layers), leads each
// lookup to its own value: the root's, a version's or the other Cache's
// value never answers another's lookup, whichever one the hint leads to.
func TestHotHintAcrossVersionsAndCaches(t *testing.T) {
	c, _ := newTestCache(t)
	tick := fixedClock(c)
	other, _ := newTestCache(t)
	otherTick := fixedClock(other)
	views := []*Cache{c, c.WithVersion(2), c.WithVersion(-3), other}
	for i, v := range views {
		if err := v.Set("k", []byte("k at "+strconv.Itoa(i)), time.Hour, "t"); err != nil {
			t.Fatal(err)
		}
		keepKey(t, v, "k", "k at "+strconv.Itoa(i))
	}
	var h HotHint
	for round := range 6 {
		for i, v := range views {
			if round%2 == 0 { // half the rounds in one tick: the hint leads to another's slot
				tick()
				otherTick()
			}
			var r Result
			if !v.HotView().LookupHint("k", &h, &r) || string(r.Value) != "k at "+strconv.Itoa(i) {
				t.Fatalf("round %d, view %d: %q", round, i, r.Value)
			}
		}
	}
	// The hint leads to version 2's value; the root's tag invalidation
	// and a Set at version -3 are seen through it.
	tick()
	var r Result
	if !views[1].HotView().LookupHint("k", &h, &r) {
		t.Fatal("version 2 missed")
	}
	if err := views[2].Set("k", []byte("new at -3"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if views[2].HotView().LookupHint("k", &h, &r) {
		t.Fatalf("version -3 after its Set: %q from the hot layer", r.Value)
	}
	if !views[1].HotView().LookupHint("k", &h, &r) || string(r.Value) != "k at 1" {
		t.Fatalf("version 2 after version -3's Set: %q", r.Value)
	}
	if !views[3].HotView().LookupHint("k", &h, &r) || string(r.Value) != "k at 3" {
		t.Fatalf("the other Cache through a hint of this one: %q", r.Value)
	}
}

// TestHotHintBusMessages: in the two-level mode, a value an instance's
// hint leads to is not served once another instance's Set, Delete or tag
// invalidation reached it over the Bus, nor after a message that may
// have been missed, nor past its LocalTTL share.
func TestHotHintBusMessages(t *testing.T) {
	store := shared{newTestMemory(t, MemoryConfig{MaxBytes: 4 << 20})}
	bus := &localBus{}
	newInstance := func(localTTL time.Duration) *Cache {
		c := New(Config{Storage: store, Prefix: "hint", Bus: bus, LocalTTL: localTTL,
			Local: newTestMemory(t, MemoryConfig{MaxBytes: 2 << 20})})
		if c.Err() != nil || c.hot == nil {
			t.Fatalf("two-level Cache: %v, hot %v", c.Err(), c.hot != nil)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	a, b := newInstance(time.Minute), newInstance(time.Minute)
	var h HotHint
	keep := func(v string) {
		t.Helper()
		if err := a.Set("k", []byte(v), time.Hour, "t"); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if got, ok, err := b.Get("k"); !ok || err != nil || string(got) != v {
				t.Fatalf("b.Get = %q %v %v, want %q", got, ok, err, v)
			}
		}
		var r Result
		if !b.HotView().LookupHint("k", &h, &r) || string(r.Value) != v || h.v.Load() == 0 {
			t.Fatalf("b's hot layer: %q, hint %x", r.Value, h.v.Load())
		}
	}
	for _, change := range []struct {
		name string
		f    func() error
	}{
		{"Set", func() error { return a.Set("k", []byte("changed"), time.Hour, "t") }},
		{"Delete", func() error { return a.Delete("k") }},
		{"InvalidateTags", func() error { return a.InvalidateTags("t") }},
		{"a missed message", func() error { b.onMessage(""); return nil }},
	} {
		keep("before " + change.name)
		if err := change.f(); err != nil {
			t.Fatal(err)
		}
		var r Result
		if b.HotView().LookupHint("k", &h, &r) {
			t.Fatalf("after a's %s, b's hint found %q", change.name, r.Value)
		}
	}
	// Past the hot layer's share of LocalTTL (half of it).
	c := newInstance(20 * time.Millisecond)
	if err := c.Set("short", []byte("v"), time.Hour); err != nil {
		t.Fatal(err)
	}
	keepKey(t, c, "short", "v")
	var r Result
	if !c.HotView().LookupHint("short", &h, &r) {
		t.Skip("the hot layer's LocalTTL share ended before the second read (a slow machine)")
	}
	time.Sleep(30 * time.Millisecond)
	if c.HotView().LookupHint("short", &h, &r) {
		t.Fatalf("a hint found %q past LocalTTL", r.Value)
	}
}

// TestHotHintConcurrent: goroutines look keys up through one shared hint
// (rewritten by each other as they go) while others Set the keys, drop
// their tag and Clear. A lookup never finds another key's value, nor a
// value older than the last change that returned before it began.
func TestHotHintConcurrent(t *testing.T) {
	c, _ := newTestCache(t)
	const nkeys = 6
	keysOf := make([]string, nkeys)
	var floor [nkeys]atomic.Int64 // the oldest generation a lookup may find
	var gen atomic.Int64
	for i := range keysOf {
		keysOf[i] = "key" + strconv.Itoa(i)
		if err := c.Set(keysOf[i], []byte(keysOf[i]+"=0"), time.Hour, "t"); err != nil {
			t.Fatal(err)
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var hints [2]HotHint
	errs := make(chan error, 16)
	for g := range 4 {
		wg.Go(func() {
			var r Result
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				i := (n + g) % nkeys
				k := keysOf[i]
				min := floor[i].Load()
				if !c.HotView().LookupHint(k, &hints[n%2], &r) {
					if _, err := c.Lookup(k); err != nil { // keep it again
						errs <- err
						return
					}
					continue
				}
				name, num, ok := strings.Cut(string(r.Value), "=")
				v, _ := strconv.ParseInt(num, 10, 64)
				if !ok || name != k || v < min {
					errs <- fmt.Errorf("LookupHint(%q) = %q, the oldest it may find %d", k, r.Value, min)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for n := 0; n < 3000; n++ {
			i := n % nkeys
			var err error
			switch n % 50 {
			case 17:
				err = c.InvalidateTags("t")
				g := gen.Load() + 1
				for j := range floor {
					floor[j].Store(g) // nothing stored before is valid
				}
			case 33:
				err = c.Clear()
				g := gen.Load() + 1
				for j := range floor {
					floor[j].Store(g)
				}
			default:
				g := gen.Add(1)
				err = c.Set(keysOf[i], []byte(keysOf[i]+"="+strconv.FormatInt(g, 10)), time.Hour, "t")
				floor[i].Store(g)
			}
			if err != nil {
				errs <- err
				break
			}
		}
		close(stop)
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestHotHintWrites: a hint is written at most once a tick, however many
// lookups go through it: never again for one key found where it leads,
// once a tick at most for keys that alternate.
func TestHotHintWrites(t *testing.T) {
	c, _ := newTestCache(t)
	tick := fixedClock(c)
	for _, k := range []string{"x", "y", "z"} {
		if err := c.Set(k, []byte(k), time.Hour); err != nil {
			t.Fatal(err)
		}
		keepKey(t, c, k, k)
	}
	var h HotHint
	var r Result
	if !c.HotView().LookupHint("x", &h, &r) {
		t.Fatal("x missed")
	}
	first := h.v.Load()
	for range 100 {
		tick()
		if !c.HotView().LookupHint("x", &h, &r) || h.v.Load() != first {
			t.Fatalf("one key's hint rewritten: %x, was %x", h.v.Load(), first)
		}
	}
	writes, last := 0, h.v.Load()
	const ticks = 50
	for range ticks {
		tick()
		for n := range 30 {
			k := []string{"x", "y", "z"}[n%3]
			if !c.HotView().LookupHint(k, &h, &r) || string(r.Value) != k {
				t.Fatalf("LookupHint(%q) = %q", k, r.Value)
			}
			if v := h.v.Load(); v != last {
				writes, last = writes+1, v
			}
		}
	}
	if writes > ticks {
		t.Fatalf("%d hint writes in %d ticks", writes, ticks)
	}
}
