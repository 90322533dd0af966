package cachekit

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cachekit/cachekit/internal/keys"
)

func newTestCache(t testing.TB) (*Cache, *Memory) {
	t.Helper()
	m := newTestMemory(t, MemoryConfig{MaxBytes: 8 << 20})
	return New(Config{Storage: m, Prefix: "test"}), m
}

// clock is a settable time source for the Cache and its Memory.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func withClock(c *Cache, m *Memory) *clock {
	cl := &clock{t: time.Unix(1_800_000_000, 0)}
	c.now, m.now = cl.now, cl.now
	return cl
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
	c.Set("empty", []byte{}, 0)
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
	if err := c.Set("", []byte("v"), 0); !errors.Is(err, ErrEmptyKey) {
		t.Errorf("Set empty key: %v", err)
	}
	if _, _, err := c.Get(""); !errors.Is(err, ErrEmptyKey) {
		t.Errorf("Get empty key: %v", err)
	}
	if _, err := c.GetOrSet("", 0, func() ([]byte, error) { return nil, nil }); !errors.Is(err, ErrEmptyKey) {
		t.Errorf("GetOrSet empty key: %v", err)
	}
	if err := c.Set("k", []byte("v"), -time.Second); err == nil || !strings.Contains(err.Error(), "negative TTL") {
		t.Errorf("negative TTL: %v", err)
	}
	if _, err := c.Load("k", Policy{StaleIfError: -1}, nil); err == nil {
		t.Error("negative StaleIfError: no error")
	}
	if err := c.Set("k", []byte("v"), 0, ""); err == nil {
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
	c, m := newTestCache(t)
	cl := withClock(c, m)
	c.Set("k", []byte("v"), time.Minute)
	cl.add(59 * time.Second)
	if _, ok, _ := c.Get("k"); !ok {
		t.Fatal("expired early")
	}
	cl.add(2 * time.Second)
	if _, ok, _ := c.Get("k"); ok {
		t.Fatal("served after TTL")
	}
}

func TestPrefixAndVersionSeparate(t *testing.T) {
	m := newTestMemory(t, MemoryConfig{MaxBytes: 4 << 20})
	a := New(Config{Storage: m, Prefix: "a"})
	b := New(Config{Storage: m, Prefix: "b"})
	a2 := New(Config{Storage: m, Prefix: "a", Version: 2})
	a.Set("k", []byte("a"), 0)
	if _, ok, _ := b.Get("k"); ok {
		t.Error("prefix b sees prefix a's entry")
	}
	if _, ok, _ := a2.Get("k"); ok {
		t.Error("version 2 sees version 0's entry")
	}
}

func TestAnyStringIsAKey(t *testing.T) {
	c, m := newTestCache(t)
	names := []string{
		strings.Repeat("long", 200), "with space", "ctrl\x00\x01\n", "ünïcødé", "#hash", "a:b:c",
	}
	for i, k := range names {
		c.Set(k, []byte(fmt.Sprint(i)), 0)
	}
	for i, k := range names {
		v, ok, _ := c.Get(k)
		if !ok || string(v) != fmt.Sprint(i) {
			t.Errorf("key %q: %q %v", k, v, ok)
		}
		sk := c.keys.storageKey(kindEntry, k)
		if len(sk) > MaxKeyLen || !keys.Safe(strings.TrimPrefix(sk, "test:")) && !strings.Contains(sk, ":#") {
			t.Errorf("storage key %q unsafe for Memcached", sk)
		}
	}
	_ = m
}

func TestTagsInvalidate(t *testing.T) {
	c, _ := newTestCache(t)
	c.Set("p1", []byte("1"), 0, "product:1", "list")
	c.Set("p2", []byte("2"), 0, "product:2", "list")
	c.Set("other", []byte("o"), 0)
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
	c.Set("p1", []byte("1b"), 0, "product:1", "list")
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
	c.Set("k", []byte("old"), 0, "t")
	c.InvalidateTags("t")
	// The counter is lost...
	if err := m.Delete(c.keys.storageKey(kindTag, "t")); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := c.Get("k"); ok {
		t.Fatal("entry served with its tag's generation unknown")
	}
	// ...and made anew by the next write: the old entry still misses.
	c.Set("other", []byte("x"), 0, "t")
	if _, ok, _ := c.Get("k"); ok {
		t.Fatal("invalidated entry revived by a new generation")
	}
	if _, ok, _ := c.Get("other"); !ok {
		t.Fatal("entry under the new generation not served")
	}
	// Lost before any invalidation: also a miss, never a wrong hit.
	c.Set("k2", []byte("v"), 0, "u")
	m.Delete(c.keys.storageKey(kindTag, "u"))
	if _, ok, _ := c.Get("k2"); ok {
		t.Fatal("entry served with an unknown generation")
	}
}

func TestCorruptEntryIsAMissAndOverwritten(t *testing.T) {
	m := newTestMemory(t, MemoryConfig{MaxBytes: 8 << 20})
	// The test writes into the store behind the Cache's back, which the hot
	// layer (rightly) does not see.
	c := New(Config{Storage: m, Prefix: "test", HotBytes: -1})
	c.Set("k", []byte("value"), 0, "t")
	sk := c.keys.storageKey(kindEntry, "k")
	good, _ := m.Get(sk)
	cases := map[string][]byte{
		"random":    []byte("\x8f\x01garbage that is not an entry at all........................"),
		"truncated": good[:len(good)-3],
		"bitflip":   append(append([]byte(nil), good[:20]...), append([]byte{good[20] ^ 0x40}, good[21:]...)...),
		"short":     []byte("CK"),
	}
	for name, b := range cases {
		m.Set(sk, b, 0)
		before := c.Stats().Corrupt
		if _, ok, err := c.Get("k"); ok || err != nil {
			t.Errorf("%s: ok=%v err=%v", name, ok, err)
		}
		if c.Stats().Corrupt <= before {
			t.Errorf("%s: corrupt entry not counted", name)
		}
		v, err := c.GetOrSet("k", 0, func() ([]byte, error) { return []byte("fresh"), nil })
		if err != nil || string(v) != "fresh" {
			t.Errorf("%s: GetOrSet = %q %v", name, v, err)
		}
		if v, ok, _ := c.Get("k"); !ok || string(v) != "fresh" {
			t.Errorf("%s: not overwritten: %q", name, v)
		}
	}
}

func TestGetOrSetCoalesces(t *testing.T) {
	c, _ := newTestCache(t)
	var runs atomic.Int32
	release := make(chan struct{})
	var wg sync.WaitGroup
	const n = 1000
	results := make([][]byte, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			v, err := c.GetOrSet("cold", time.Minute, func() ([]byte, error) {
				runs.Add(1)
				<-release
				return []byte("value"), nil
			})
			if err != nil {
				t.Error(err)
			}
			results[i] = v
		}(i)
	}
	// Let every goroutine reach the cache, then let the one loader finish.
	for c.Stats().Misses < n && runs.Load() <= 1 {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	if r := runs.Load(); r != 1 {
		t.Fatalf("loader ran %d times for %d concurrent misses", r, n)
	}
	for i, v := range results {
		if string(v) != "value" {
			t.Fatalf("goroutine %d got %q", i, v)
		}
	}
	if s := c.Stats(); s.Coalesced != n-1 {
		t.Errorf("Coalesced = %d, want %d", s.Coalesced, n-1)
	}
}

func TestNoStoreIsNotShared(t *testing.T) {
	c, _ := newTestCache(t)
	var runs atomic.Int32
	release := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r, err := c.Load("personal", Policy{TTL: time.Minute}, func(p *Policy) ([]byte, error) {
				runs.Add(1)
				<-release
				p.NoStore = true
				return []byte(fmt.Sprint("for ", i)), nil
			})
			if err != nil || string(r.Value) != fmt.Sprint("for ", i) {
				t.Errorf("goroutine %d got %q (%v): another caller's value", i, r.Value, err)
			}
		}(i)
	}
	for c.Stats().Misses < 20 {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	if runs.Load() != 20 {
		t.Errorf("fill ran %d times, want 20", runs.Load())
	}
	if _, ok, _ := c.Get("personal"); ok {
		t.Error("NoStore value stored")
	}
}

func TestStaleWhileRevalidate(t *testing.T) {
	c, m := newTestCache(t)
	cl := withClock(c, m)
	p := Policy{TTL: time.Minute, StaleWhileRevalidate: time.Minute}
	var fills atomic.Int32
	gate := make(chan struct{}) // holds the refresh until the stale reads are done
	fill := func(*Policy) ([]byte, error) {
		n := fills.Add(1)
		if n > 1 {
			<-gate
		}
		return []byte(fmt.Sprint("v", n)), nil
	}
	r, _ := c.Load("k", p, fill)
	if r.Status != Miss || string(r.Value) != "v1" {
		t.Fatalf("first load: %v %q", r.Status, r.Value)
	}
	cl.add(90 * time.Second) // stale, inside the window
	for i := 0; i < 5; i++ {
		r, err := c.Load("k", p, fill)
		if err != nil || r.Status != Stale || string(r.Value) != "v1" {
			t.Fatalf("stale load %d: %v %q %v", i, r.Status, r.Value, err)
		}
	}
	close(gate)
	deadline := time.Now().Add(5 * time.Second)
	for r.Status != Hit && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
		r, _ = c.Lookup("k")
	}
	if r.Status != Hit || string(r.Value) != "v2" {
		t.Fatalf("after refresh: %v %q", r.Status, r.Value)
	}
	if n := fills.Load(); n != 2 {
		t.Fatalf("fill ran %d times; one refresh expected", n)
	}
	cl.add(3 * time.Minute) // beyond both windows
	r, _ = c.Load("k", p, func(*Policy) ([]byte, error) { return []byte("v3"), nil })
	if r.Status != Miss || string(r.Value) != "v3" {
		t.Fatalf("beyond the stale window: %v %q", r.Status, r.Value)
	}
}

func TestStaleIfError(t *testing.T) {
	c, m := newTestCache(t)
	cl := withClock(c, m)
	p := Policy{TTL: time.Minute, StaleIfError: time.Hour}
	fail := errors.New("database down")
	c.Load("k", p, func(*Policy) ([]byte, error) { return []byte("good"), nil })
	cl.add(2 * time.Minute)
	r, err := c.Load("k", p, func(*Policy) ([]byte, error) { return nil, fail })
	if err != nil || r.Status != Stale || string(r.Value) != "good" || !errors.Is(r.FillErr, fail) {
		t.Fatalf("stale-if-error: %v %q err=%v fillErr=%v", r.Status, r.Value, err, r.FillErr)
	}
	// A successful fill replaces it.
	r, _ = c.Load("k", p, func(*Policy) ([]byte, error) { return []byte("new"), nil })
	if r.Status != Miss || string(r.Value) != "new" {
		t.Fatalf("refill: %v %q", r.Status, r.Value)
	}
	cl.add(2 * time.Hour)
	if _, err := c.Load("k", p, func(*Policy) ([]byte, error) { return nil, fail }); !errors.Is(err, fail) {
		t.Fatalf("beyond stale-if-error: err = %v", err)
	}
	// Outside the stale window Lookup is a plain miss.
	if r, _ := c.Lookup("k"); r.Status != Miss || r.Value != nil {
		t.Fatalf("Lookup: %v %q", r.Status, r.Value)
	}
}

// A tag added by the fill, invalidated while the fill ran: the value may
// predate the invalidation, so it is not stored.
func TestLateTagInvalidatedDuringFill(t *testing.T) {
	c, _ := newTestCache(t)
	// A brand-new tag, with no invalidation during the fill: stored.
	r0, _ := c.Load("fresh-tag", Policy{TTL: time.Minute}, func(p *Policy) ([]byte, error) {
		p.Tags = append(p.Tags, "brand-new")
		return []byte("v"), nil
	})
	if !r0.Stored {
		t.Fatal("value with a brand-new late tag not stored though nothing was invalidated")
	}
	c.InvalidateTags("late") // the tag exists
	r, _ := c.Load("k", Policy{TTL: time.Minute}, func(p *Policy) ([]byte, error) {
		c.InvalidateTags("late") // an edit lands while the page renders
		p.Tags = append(p.Tags, "late")
		return []byte("maybe old"), nil
	})
	if r.Stored {
		t.Fatal("value stored though its late tag moved during the fill")
	}
	if c.Stats().RaceSkips != 1 {
		t.Errorf("RaceSkips = %d", c.Stats().RaceSkips)
	}
	r, _ = c.Load("k", Policy{TTL: time.Minute}, func(p *Policy) ([]byte, error) {
		p.Tags = append(p.Tags, "late")
		return []byte("new"), nil
	})
	if !r.Stored {
		t.Fatal("quiet fill with a late tag not stored")
	}
	c.InvalidateTags("late")
	if _, ok, _ := c.Get("k"); ok {
		t.Fatal("late tag did not invalidate")
	}
}

// flaky is the real Memory store with faults injected on demand.
type flaky struct {
	*Memory
	fail  atomic.Bool
	delay atomic.Int64 // nanoseconds every call sleeps
	calls atomic.Int64
}

var errInjected = errors.New("injected storage fault")

func (f *flaky) Get(k string) ([]byte, error) {
	f.calls.Add(1)
	if d := f.delay.Load(); d > 0 {
		time.Sleep(time.Duration(d))
	}
	if f.fail.Load() {
		return nil, errInjected
	}
	return f.Memory.Get(k)
}

func (f *flaky) Set(k string, v []byte, d time.Duration) error {
	f.calls.Add(1)
	if f.fail.Load() {
		return errInjected
	}
	if w := f.delay.Load(); w > 0 {
		time.Sleep(time.Duration(w))
	}
	return f.Memory.Set(k, v, d)
}

func TestCircuitBreaker(t *testing.T) {
	f := &flaky{Memory: newTestMemory(t, MemoryConfig{MaxBytes: 4 << 20})}
	c := New(Config{Storage: f, CircuitThreshold: 3, CircuitCooldown: 50 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	f.fail.Store(true)
	load := func() ([]byte, error) { return []byte("v"), nil }
	for i := 0; i < 20; i++ {
		if v, err := c.GetOrSet("k", time.Minute, load); err != nil || string(v) != "v" {
			t.Fatalf("GetOrSet with a dead store: %q %v", v, err)
		}
	}
	s := c.Stats()
	if !s.CircuitOpen || s.CircuitOpens != 1 || s.Skipped == 0 {
		t.Fatalf("circuit did not open: %+v", s)
	}
	calls := f.calls.Load()
	c.GetOrSet("k", time.Minute, load)
	if f.calls.Load() != calls {
		t.Fatal("an open circuit still calls the store")
	}
	// The store comes back; after the cooldown one probe closes the circuit.
	f.fail.Store(false)
	time.Sleep(60 * time.Millisecond)
	c.GetOrSet("k", time.Minute, load)
	if c.Stats().CircuitOpen {
		t.Fatal("circuit still open after a successful probe")
	}
	c.GetOrSet("k", time.Minute, load)
	if _, ok, _ := c.Get("k"); !ok {
		t.Fatal("caching did not resume without a restart")
	}
}

func TestTimeoutBoundsSlowStore(t *testing.T) {
	f := &flaky{Memory: newTestMemory(t, MemoryConfig{MaxBytes: 4 << 20})}
	c := New(Config{Storage: f, Timeout: 20 * time.Millisecond, CircuitThreshold: 1000, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	f.delay.Store(int64(500 * time.Millisecond))
	start := time.Now()
	v, err := c.GetOrSet("k", time.Minute, func() ([]byte, error) { return []byte("v"), nil })
	if err != nil || string(v) != "v" {
		t.Fatalf("slow store: %q %v", v, err)
	}
	if d := time.Since(start); d > 300*time.Millisecond {
		t.Fatalf("a slow store held the call for %v", d)
	}
	if c.Stats().Timeouts == 0 {
		t.Fatal("timeouts not counted")
	}
}

func TestStorageErrorsNeverFailLoad(t *testing.T) {
	var logs bytes.Buffer
	f := &flaky{Memory: newTestMemory(t, MemoryConfig{MaxBytes: 4 << 20})}
	c := New(Config{Storage: f, Logger: slog.New(slog.NewTextHandler(&logs, nil)), ErrorLogInterval: time.Hour, Timeout: -1})
	f.fail.Store(true)
	for i := 0; i < 50; i++ {
		v, err := c.GetOrSet("k", time.Minute, func() ([]byte, error) { return []byte("computed"), nil }, "tag")
		if err != nil || string(v) != "computed" {
			t.Fatalf("GetOrSet with a failing store: %q %v", v, err)
		}
	}
	if c.Stats().Errors == 0 {
		t.Error("storage errors not counted")
	}
	if n := strings.Count(logs.String(), "storage error"); n != 1 {
		t.Errorf("logged %d lines for one burst, want 1:\n%s", n, logs.String())
	}
	f.fail.Store(false)
	c.GetOrSet("k", time.Minute, func() ([]byte, error) { return []byte("computed"), nil }, "tag")
	if _, ok, _ := c.Get("k"); !ok {
		t.Error("caching did not resume when the store recovered")
	}
	f.fail.Store(true)
	if _, _, err := c.Get("k"); err == nil || !errors.Is(err, errInjected) {
		t.Errorf("Get reports the storage error wrapped: %v", err)
	}
}

func TestFetch(t *testing.T) {
	c, m := newTestCache(t)
	type product struct {
		ID    int
		Name  string
		Price float64
	}
	loads := 0
	load := func() ([]product, error) {
		loads++
		return []product{{1, "Lamp", 19.5}, {2, "Desk", 120}}, nil
	}
	for i := 0; i < 3; i++ {
		ps, err := Fetch(c, "products", time.Minute, load, "products")
		if err != nil || len(ps) != 2 || ps[1].Name != "Desk" {
			t.Fatalf("Fetch: %+v %v", ps, err)
		}
	}
	if loads != 1 {
		t.Fatalf("loaded %d times", loads)
	}
	c.InvalidateTags("products")
	Fetch(c, "products", time.Minute, load, "products")
	if loads != 2 {
		t.Fatalf("after invalidation loaded %d times", loads)
	}
	// A stored value that no longer decodes is reloaded.
	c.Set("products", []byte("{not json"), 0, "products")
	ps, err := Fetch(c, "products", time.Minute, load, "products")
	if err != nil || len(ps) != 2 || loads != 3 {
		t.Fatalf("undecodable value: %+v %v loads=%d", ps, err, loads)
	}
	_, err = Fetch(c, "boom", time.Minute, func() (int, error) { return 0, io.ErrUnexpectedEOF })
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("load error: %v", err)
	}
	_ = m
}

func TestDefaultIsShared(t *testing.T) {
	if Default() != Default() || Default().Err() != nil {
		t.Fatal("Default is not one working Cache")
	}
}

func TestStatsHitRatio(t *testing.T) {
	c, _ := newTestCache(t)
	c.GetOrSet("k", 0, func() ([]byte, error) { return []byte("v"), nil })
	c.GetOrSet("k", 0, func() ([]byte, error) { return []byte("v"), nil })
	c.GetOrSet("k", 0, func() ([]byte, error) { return []byte("v"), nil })
	s := c.Stats()
	if s.Hits != 2 || s.Misses != 1 || s.Stores != 1 {
		t.Fatalf("stats: %+v", s)
	}
	if r := s.HitRatio(); r < 0.66 || r > 0.67 {
		t.Fatalf("HitRatio = %v", r)
	}
}

func TestObserve(t *testing.T) {
	var mu sync.Mutex
	seen := map[string][]Status{}
	c := New(Config{Storage: newTestMemory(t, MemoryConfig{MaxBytes: 4 << 20}), Observe: func(k string, s Status) {
		mu.Lock()
		seen[k] = append(seen[k], s)
		mu.Unlock()
	}})
	load := func() ([]byte, error) { return []byte("v"), nil }
	c.GetOrSet("a", 0, load)
	c.GetOrSet("a", 0, load)
	c.Lookup("b")
	if fmt.Sprint(seen["a"]) != "[MISS HIT]" || fmt.Sprint(seen["b"]) != "[MISS]" {
		t.Fatalf("observed %v", seen)
	}
}

func TestHotLayer(t *testing.T) {
	c, m := newTestCache(t)
	if c.hot == nil {
		t.Fatal("no hot layer over a Memory store")
	}
	c.Set("k", []byte("v1"), time.Minute, "t")
	c.Get("k") // validated and kept
	// A hit no longer reads the store: remove the entry behind its back.
	m.Delete(c.keys.storageKey(kindEntry, "k"))
	if v, ok, _ := c.Get("k"); !ok || string(v) != "v1" {
		t.Fatalf("hot hit: %q %v", v, ok)
	}
	// Any invalidation makes every kept value revalidate.
	c.InvalidateTags("unrelated")
	if _, ok, _ := c.Get("k"); ok {
		t.Fatal("kept value served after an invalidation")
	}
	// Set, Delete and InvalidateTags of the key itself are seen at once.
	c.Set("k", []byte("v2"), time.Minute, "t")
	c.Get("k")
	c.Set("k", []byte("v3"), time.Minute, "t")
	if v, _, _ := c.Get("k"); string(v) != "v3" {
		t.Fatalf("after Set: %q", v)
	}
	c.Delete("k")
	if _, ok, _ := c.Get("k"); ok {
		t.Fatal("after Delete: served")
	}
	// Time still applies.
	cl := withClock(c, m)
	c.Set("short", []byte("s"), time.Minute)
	c.Get("short")
	cl.add(2 * time.Minute)
	if _, ok, _ := c.Get("short"); ok {
		t.Fatal("expired value served from the hot layer")
	}
	// Off over an external store without a Bus: others' invalidations are unseen.
	if New(Config{Storage: &flaky{Memory: m}}).hot != nil {
		t.Fatal("hot layer on over a store other instances may change")
	}
}

// Under -race: once InvalidateTags returns, no reader gets the old value.
func TestHotLayerNeverServesInvalidated(t *testing.T) {
	c, _ := newTestCache(t)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			key, tag := fmt.Sprint("k", g), fmt.Sprint("t", g)
			for i := 0; i < 300; i++ {
				want := fmt.Sprint("v", i)
				c.Set(key, []byte(want), time.Minute, tag)
				if v, ok, _ := c.Get(key); !ok || string(v) != want {
					t.Errorf("fresh value: %q %v, want %q", v, ok, want)
					return
				}
				c.InvalidateTags(tag)
				if v, ok, _ := c.Get(key); ok {
					t.Errorf("served %q after its tag was invalidated", v)
					return
				}
			}
		}(g)
	}
	wg.Wait()
}

// A reader that looks while Set is writing must not leave the old value in
// the hot layer once Set has returned.
func TestSetRacingReaderHotLayer(t *testing.T) {
	c, _ := newTestCache(t)
	c.Set("k", []byte("v1"), time.Minute)
	c.Get("k")
	var pauseNext atomic.Bool
	paused, resume := make(chan struct{}), make(chan struct{})
	c.now = func() time.Time {
		if pauseNext.CompareAndSwap(true, false) {
			close(paused)
			<-resume
		}
		return time.Now()
	}
	pauseNext.Store(true)
	done := make(chan struct{})
	go func() { c.Set("k", []byte("v2"), time.Minute); close(done) }()
	<-paused // Set is about to write
	for i := 0; i < 3; i++ {
		c.Get("k") // reads v1 and may keep it
	}
	close(resume)
	<-done
	if v, _, _ := c.Get("k"); string(v) != "v2" {
		t.Fatalf("after Set returned: %q", v)
	}
}

// A caller that misses after an invalidation, while a fill that began
// before it is still running, renders its own value.
func TestLateJoinerAfterInvalidation(t *testing.T) {
	c, _ := newTestCache(t)
	started, gate := make(chan struct{}), make(chan struct{})
	var leader []byte
	done := make(chan struct{})
	go func() {
		r, _ := c.Load("page", Policy{TTL: time.Minute}, func(*Policy) ([]byte, error) {
			close(started)
			<-gate
			return []byte("before the edit"), nil
		})
		leader = r.Value
		close(done)
	}()
	<-started
	c.InvalidateTags("product:1") // the edit lands while the page renders
	misses := c.Stats().Misses
	var follower Result
	joined := make(chan struct{})
	go func() {
		follower, _ = c.Load("page", Policy{TTL: time.Minute}, func(*Policy) ([]byte, error) {
			return []byte("after the edit"), nil
		})
		close(joined)
	}()
	for c.Stats().Misses == misses {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // inside the flight
	close(gate)
	<-done
	<-joined
	if string(leader) != "before the edit" || string(follower.Value) != "after the edit" {
		t.Fatalf("leader %q, follower %q", leader, follower.Value)
	}
}
