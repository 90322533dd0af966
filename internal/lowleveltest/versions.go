package lowleveltest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/cachekit/cachekit"
)

// RunVersions checks WithVersion, IncrVersion and DecrVersion on Caches from
// newCache, each with a prefix of its own (Run runs them too).
func RunVersions(t *testing.T, newCache func() *cachekit.Cache) {
	s := suite{newCache: newCache}
	for _, b := range versionBehaviours() {
		t.Run(b.name, func(t *testing.T) { b.test(t, s) })
	}
}

func versionBehaviours() []behaviour {
	return []behaviour{
		{"WithVersion", testWithVersion},
		{"IncrVersion", testIncrVersion},
		{"IncrVersionConcurrent", testIncrVersionConcurrent},
	}
}

// testWithVersion checks that a view keeps its own entries, tags and key
// space, and shares the counters.
func testWithVersion(t *testing.T, s suite) {
	c := s.newCache()
	v := c.Version()
	v2 := c.WithVersion(v + 2)
	if v2.Version() != v+2 || c.WithVersion(v+2) != v2 || v2.WithVersion(v) != c || c.WithVersion(v) != c {
		t.Fatal("WithVersion does not return one Cache per version")
	}
	set(t, c, "k", []byte("one"), time.Minute, "x")
	set(t, v2, "k", []byte("two"), time.Minute, "x")
	for i := range 2 { // the second read from the hot layer, where there is one
		if a, _, _ := c.Get("k"); string(a) != "one" {
			t.Fatalf("read %d at version %d: %q", i, v, a)
		}
		if b, _, _ := v2.Get("k"); string(b) != "two" {
			t.Fatalf("read %d at version %d: %q", i, v+2, b)
		}
	}
	if err := v2.InvalidateTags("x"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := v2.Get("k"); ok {
		t.Fatal("served after its version's tag was invalidated")
	}
	if a, _, _ := c.Get("k"); string(a) != "one" {
		t.Fatalf("another version's InvalidateTags reached this one: %q", a)
	}
	set(t, v2, "k", []byte("two"), time.Minute)
	if err := c.Clear(); err != nil {
		t.Fatal(err)
	}
	if b, _, _ := v2.Get("k"); string(b) != "two" {
		t.Fatalf("another version's Clear reached this one: %q", b)
	}
	if err := v2.Delete("k"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := v2.Get("k"); ok {
		t.Fatal("served after Delete")
	}
	if c.Stats() != v2.Stats() {
		t.Fatalf("a view counts apart: %+v, %+v", c.Stats(), v2.Stats())
	}
}

// testIncrVersion is IncrVersion's and DecrVersion's table.
func testIncrVersion(t *testing.T, s suite) {
	type check func(t *testing.T, c *cachekit.Cache, got int, err error)
	moved := func(from, to int, want string) check {
		return func(t *testing.T, c *cachekit.Cache, got int, err error) {
			t.Helper()
			if err != nil || got != to {
				t.Fatalf("returned %d, %v; want %d", got, err, to)
			}
			if v, ok, _ := c.WithVersion(to).Get("k"); !ok || string(v) != want {
				t.Fatalf("at version %d: %q %v, want %q", to, v, ok, want)
			}
			if from != to {
				if v, ok, _ := c.WithVersion(from).Get("k"); ok {
					t.Fatalf("still at version %d: %q", from, v)
				}
			}
		}
	}
	failed := func(target error, unchanged string) check {
		return func(t *testing.T, c *cachekit.Cache, got int, err error) {
			t.Helper()
			if !errors.Is(err, target) || got != c.Version() {
				t.Fatalf("returned %d, %v; want %d, %v", got, err, c.Version(), target)
			}
			v, ok, _ := c.Get("k")
			if unchanged == "" && ok || unchanged != "" && string(v) != unchanged {
				t.Fatalf("a failed call changed the value: %q %v", v, ok)
			}
			if v, ok, _ := c.WithVersion(c.Version() + 1).Get("k"); ok {
				t.Fatalf("a failed call wrote the next version: %q", v)
			}
		}
	}
	cases := []struct {
		name  string
		setup func(t *testing.T, c *cachekit.Cache)
		call  func(c *cachekit.Cache) (int, error)
		check check
	}{
		{"up one", nil, func(c *cachekit.Cache) (int, error) { return c.IncrVersion("k", 1) }, nil},
		{"up five", nil, func(c *cachekit.Cache) (int, error) { return c.IncrVersion("k", 5) }, nil},
		{"down (negative delta)", nil, func(c *cachekit.Cache) (int, error) { return c.IncrVersion("k", -2) }, nil},
		{"DecrVersion", nil, func(c *cachekit.Cache) (int, error) { return c.DecrVersion("k", 1) }, nil},
		{"from a view", nil, func(c *cachekit.Cache) (int, error) {
			w := c.WithVersion(c.Version() + 7)
			if err := w.Set("k", []byte("in view"), time.Minute, "x"); err != nil {
				return 0, err
			}
			return w.IncrVersion("k", 1)
		}, func(t *testing.T, c *cachekit.Cache, got int, err error) {
			moved(c.Version()+7, c.Version()+8, "in view")(t, c, got, err)
			if v, _, _ := c.Get("k"); string(v) != "v" {
				t.Fatalf("a view's IncrVersion moved the root's value: %q", v)
			}
		}},
		{"over a value at the new version", func(t *testing.T, c *cachekit.Cache) {
			set(t, c.WithVersion(c.Version()+1), "k", []byte("old there"), time.Minute)
		}, func(c *cachekit.Cache) (int, error) { return c.IncrVersion("k", 1) }, nil},
		{"delta 0 changes nothing", nil, func(c *cachekit.Cache) (int, error) { return c.IncrVersion("k", 0) },
			func(t *testing.T, c *cachekit.Cache, got int, err error) {
				moved(c.Version(), c.Version(), "v")(t, c, got, err)
			}},
		{"missing key", func(t *testing.T, c *cachekit.Cache) { c.Delete("k") },
			func(c *cachekit.Cache) (int, error) { return c.IncrVersion("k", 1) }, failed(cachekit.ErrNotFound, "")},
		{"missing key, delta 0", func(t *testing.T, c *cachekit.Cache) { c.Delete("k") },
			func(c *cachekit.Cache) (int, error) { return c.IncrVersion("k", 0) }, failed(cachekit.ErrNotFound, "")},
		{"invalidated entry", func(t *testing.T, c *cachekit.Cache) { c.InvalidateTags("x") },
			func(c *cachekit.Cache) (int, error) { return c.IncrVersion("k", 1) }, failed(cachekit.ErrNotFound, "")},
		{"empty key", nil, func(c *cachekit.Cache) (int, error) { return c.IncrVersion("", 1) }, failed(cachekit.ErrEmptyKey, "v")},
		{"empty key, DecrVersion", nil, func(c *cachekit.Cache) (int, error) { return c.DecrVersion("", 1) }, failed(cachekit.ErrEmptyKey, "v")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := s.newCache()
			set(t, c, "k", []byte("v"), time.Minute, "x")
			for range 2 { // a hot copy, where there is a hot layer
				if _, ok, _ := c.Get("k"); !ok {
					t.Fatal("set, then missing")
				}
			}
			if tc.setup != nil {
				tc.setup(t, c)
			}
			got, err := tc.call(c)
			check := tc.check
			if check == nil {
				check = func(t *testing.T, c *cachekit.Cache, got int, err error) {
					moved(c.Version(), got, "v")(t, c, got, err)
					if got == c.Version() {
						t.Fatal("the version did not change")
					}
				}
			}
			check(t, c, got, err)
		})
	}
	t.Run("keeps tags and TTL", func(t *testing.T) { testIncrVersionKeeps(t, s) })
}

// testIncrVersionKeeps checks that the moved entry keeps its fresh window
// and its tags, at the new version's generations.
func testIncrVersionKeeps(t *testing.T, s suite) {
	c := s.newCache()
	set(t, c, "k", []byte("v"), time.Hour, "x", "y")
	set(t, c, "forever", []byte("f"), cachekit.NoExpiry)
	before, _ := c.Lookup("k")
	time.Sleep(10 * time.Millisecond)
	to, err := c.IncrVersion("k", 1)
	if err != nil {
		t.Fatal(err)
	}
	w := c.WithVersion(to)
	after, _ := w.Lookup("k")
	if after.Status != cachekit.Hit || !after.Expires.Equal(before.Expires) || after.Age < before.Age+10*time.Millisecond {
		t.Fatalf("moved entry: %+v; before: %+v", after, before)
	}
	if _, err := w.Incr("k", 1); !errors.Is(err, cachekit.ErrNotNumber) {
		t.Fatalf("Incr of the moved value: %v", err)
	}
	if err := c.InvalidateTags("y"); err != nil { // the old version's tag
		t.Fatal(err)
	}
	if _, ok, _ := w.Get("k"); !ok {
		t.Fatal("the old version's InvalidateTags reached the moved entry")
	}
	if err := w.InvalidateTags("y"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := w.Get("k"); ok {
		t.Fatal("the moved entry does not answer its tag at its new version")
	}
	if _, err := c.IncrVersion("forever", 3); err != nil {
		t.Fatal(err)
	}
	if r, _ := c.WithVersion(c.Version() + 3).Lookup("forever"); r.Status != cachekit.Hit || !r.Expires.IsZero() {
		t.Fatalf("a NoExpiry entry moved: %+v", r)
	}
}

// testIncrVersionConcurrent: concurrent IncrVersions of one key by one each
// either move the value or find it gone; the value ends at the new version,
// never lost.
func testIncrVersionConcurrent(t *testing.T, s suite) {
	c := s.newCache()
	set(t, c, "k", []byte("v"), time.Minute)
	var wg sync.WaitGroup
	var mu sync.Mutex
	moved := 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := c.IncrVersion("k", 1)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil && got == c.Version()+1:
				moved++
			case errors.Is(err, cachekit.ErrNotFound):
			default:
				t.Errorf("IncrVersion: %d, %v", got, err)
			}
		}()
	}
	wg.Wait()
	if v, ok, _ := c.WithVersion(c.Version() + 1).Get("k"); moved == 0 || !ok || string(v) != "v" {
		t.Fatalf("%d moved it; at the new version: %q %v", moved, v, ok)
	}
	if _, ok, _ := c.Get("k"); ok {
		t.Fatal("still at the old version")
	}
}
