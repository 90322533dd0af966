package cachekit

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// A view of a version is made once: later calls allocate nothing.
func TestWithVersionAllocatesOnce(t *testing.T) {
	c := New(Config{Storage: newTestMemory(t, MemoryConfig{MaxBytes: 4 << 20}), Version: 3})
	first := c.WithVersion(1000)
	if n := testing.AllocsPerRun(100, func() {
		if c.WithVersion(1000) != first || first.WithVersion(3) != c {
			t.Fatal("another Cache for one version")
		}
	}); n != 0 {
		t.Fatalf("WithVersion allocates %v per call after the first", n)
	}
	if first.hot != c.hot || first.stats != c.stats || first.marks != c.marks || first.hotID == 0 {
		t.Fatal("a view does not share the hot layer and counters, or shares the root's hot keys")
	}
}

// A version whose keys cannot fit MaxKeyLen gives a Cache whose every call
// fails with the reason, as New does for a bad Config.
func TestWithVersionKeyLength(t *testing.T) {
	c := New(Config{Prefix: strings.Repeat("p", 40), MaxKeyLen: 40 + 1 + 1 + 4 + 41})
	if err := c.Err(); err != nil {
		t.Fatal(err)
	}
	w := c.WithVersion(123456)
	if w.Err() == nil {
		t.Fatal("no error for a version whose keys do not fit")
	}
	if err := w.Set("k", []byte("v"), time.Minute); err == nil || !strings.Contains(err.Error(), "MaxKeyLen") {
		t.Fatalf("Set on that view: %v", err)
	}
	if _, err := c.IncrVersion("k", 123456); err == nil {
		t.Fatal("IncrVersion to that version: no error")
	}
}

// Closing a view closes its root, once.
func TestWithVersionClose(t *testing.T) {
	c := New(Config{Storage: newTestMemory(t, MemoryConfig{MaxBytes: 4 << 20})})
	if err := c.WithVersion(2).Close(); err != nil || !c.closed.Load() {
		t.Fatalf("Close of a view: %v, root closed %v", err, c.closed.Load())
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

// Two instances with a Bus: a view's writes reach the other instance's view
// of that version (its Local and hot copies), and IncrVersion on one leaves
// no old copy served on the other.
func TestWithVersionBus(t *testing.T) {
	store := shared{newTestMemory(t, MemoryConfig{MaxBytes: 4 << 20})}
	bus := &localBus{}
	newInstance := func() *Cache {
		c := New(Config{Storage: store, Prefix: "vbus", Bus: bus, Local: newTestMemory(t, MemoryConfig{MaxBytes: 2 << 20})})
		if c.Err() != nil || c.hot == nil {
			t.Fatalf("two-level Cache: %v", c.Err())
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	a, b := newInstance(), newInstance()
	a2, b2 := a.WithVersion(2), b.WithVersion(2)
	read := func(c *Cache, want string) {
		t.Helper()
		for i := range 2 { // the second from the hot layer
			v, ok, err := c.Get("k")
			if want == "" && ok || want != "" && string(v) != want {
				t.Fatalf("read %d at version %d: %q %v %v, want %q", i, c.Version(), v, ok, err, want)
			}
		}
	}
	if err := a2.Set("k", []byte("one"), time.Minute); err != nil {
		t.Fatal(err)
	}
	read(b2, "one")
	a2.Set("k", []byte("two"), time.Minute)
	read(b2, "two")
	if n, _ := b.local.Get(b2.keys.storageKey(kindEntry, "k")); string(n) == "" {
		t.Fatal("b's view kept nothing in Local")
	}
	to, err := a2.IncrVersion("k", 1)
	if err != nil || to != 3 {
		t.Fatalf("IncrVersion: %d, %v", to, err)
	}
	read(b2, "")
	read(b.WithVersion(3), "two")
	if _, err := b.IncrVersion("k", 1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("IncrVersion of a key only another version holds: %v", err)
	}
	// A message that may have been missed reaches the views too.
	a.WithVersion(3).Set("k", []byte("three"), time.Minute)
	read(b.WithVersion(3), "three")
	b.onMessage("")
	if n, _ := b.local.Get(b.WithVersion(3).keys.storageKey(kindEntry, "k")); n != nil {
		t.Fatal("a view's copy in Local kept after a missed-messages signal")
	}
}

// Two versions of one key in one hot bucket are two values: each version
// is served its own.
func TestHotVersionsOfOneKey(t *testing.T) {
	h := newHotLayer(1 << 20)
	vs := newVersions()
	id := uint64(1)
	for h.bucket("k", id) != h.bucket("k", 0) {
		id++
	}
	h.put("k", &hotValue{value: []byte("root")})
	h.put("k", &hotValue{id: id, value: []byte("view")})
	if v, _, ok := h.get("k", noHint, 0, 0, vs); !ok || string(v.value) != "root" {
		t.Fatalf("root's value: %v %v", v, ok)
	}
	if v, _, ok := h.get("k", noHint, id, 0, vs); !ok || string(v.value) != "view" {
		t.Fatalf("view's value: %v %v", v, ok)
	}
	if _, _, ok := h.get("k", noHint, id+1, 0, vs); ok {
		t.Fatal("served to a version that kept nothing")
	}
}

// failing fails the writes (Set or Delete) of keys that start with prefix.
type failing struct {
	*Memory
	op, prefix string
}

func (f failing) Set(k string, v []byte, exp time.Duration) error {
	if f.op == "set" && strings.HasPrefix(k, f.prefix) {
		return errors.New("disk full")
	}
	return f.Memory.Set(k, v, exp)
}

func (f failing) Delete(k string) error {
	if f.op == "delete" && strings.HasPrefix(k, f.prefix) {
		return errors.New("read-only replica")
	}
	return f.Memory.Delete(k)
}

// The value is never lost: a write at the new version that fails leaves
// the old one in place; a delete of the old one that fails leaves both.
func TestIncrVersionNeverLoses(t *testing.T) {
	for _, tc := range []struct {
		op         string
		wantV      int
		old, moved bool
	}{
		{"set", 1, true, false},
		{"delete", 2, true, true},
	} {
		t.Run(tc.op, func(t *testing.T) {
			f := failing{newTestMemory(t, MemoryConfig{MaxBytes: 4 << 20}), tc.op, "p:2:e:"}
			if tc.op == "delete" {
				f.prefix = "p:1:e:"
			}
			c := New(Config{Storage: f, Prefix: "p", Version: 1, Logger: quiet()})
			if err := c.Set("k", []byte("v"), time.Minute); err != nil {
				t.Fatal(err)
			}
			v, err := c.IncrVersion("k", 1)
			if err == nil || v != tc.wantV {
				t.Fatalf("IncrVersion with a failing %s: %d, %v", tc.op, v, err)
			}
			if got, ok, _ := c.Get("k"); ok != tc.old || ok && string(got) != "v" {
				t.Fatalf("at version 1: %q %v, want it there: %v", got, ok, tc.old)
			}
			if got, ok, _ := c.WithVersion(2).Get("k"); ok != tc.moved || ok && string(got) != "v" {
				t.Fatalf("at version 2: %q %v, want it there: %v", got, ok, tc.moved)
			}
		})
	}
}

// With Replicas, a view's tag generations are replicated as the root's
// are, under keys of their own.
func TestWithVersionReplicas(t *testing.T) {
	m := newTestMemory(t, MemoryConfig{MaxBytes: 4 << 20})
	c := New(Config{Storage: shared{m}, Prefix: "site", Version: 1, Replicas: 3, Logger: quiet()})
	if err := c.Err(); err != nil {
		t.Fatal(err)
	}
	r := c.guard.reps
	for key, want := range map[string]string{
		"site:1:t:x": "site:1:", "site:-12:t:x": "site:-12:", "site:7:t:": "site:7:",
		"site:1:e:x": "", "site:-:t:x": "", "site::t:x": "", "site:1a:t:x": "", "sitex:1:t:x": "", "other:1:t:x": "", "site:1-:t:x": "",
	} {
		if head, ok := r.headOf(key); head != want || ok != (want != "") {
			t.Errorf("headOf(%q) = %q %v, want %q", key, head, ok, want)
		}
	}
	w := c.WithVersion(7)
	for _, v := range []*Cache{c, w} {
		if err := v.Set("k", []byte("v"), time.Minute, "tg"); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	for _, v := range []*Cache{c, w} {
		tk := v.keys.storageKey(kindTag, "tg")
		if b, _ := m.Get(tk); b != nil {
			t.Fatalf("version %d: the generation stored unreplicated under %q", v.Version(), tk)
		}
		for j := range r.n {
			rk := r.replicaKey(tk, j)
			if b, _ := m.Get(rk); len(b) != generationLen || seen[rk] || !strings.HasPrefix(rk, v.keys.head) {
				t.Fatalf("version %d: replica %d under %q: %d bytes, seen %v", v.Version(), j, rk, len(b), seen[rk])
			}
			seen[rk] = true
		}
	}
	if err := w.InvalidateTags("tg"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := w.Get("k"); ok {
		t.Fatal("served after its tag was invalidated")
	}
	if _, ok, _ := c.Get("k"); !ok {
		t.Fatal("another version's invalidation reached the root")
	}
}
