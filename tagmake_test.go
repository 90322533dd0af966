package cachekit

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
)

// tagCalls is a plain fiber.Storage (no Atomic, no multi-get) over a real
// Memory that counts the reads and writes of the generation of the tag
// named tag (its replicas' too).
type tagCalls struct {
	s          fiber.Storage
	tag        string
	gets, sets atomic.Int64
}

func (s *tagCalls) isTagKey(k string) bool {
	return strings.Contains(k, ":t:") && strings.Contains(k, s.tag)
}

func (s *tagCalls) Get(k string) ([]byte, error) {
	if s.isTagKey(k) {
		s.gets.Add(1)
	}
	return s.s.Get(k)
}

func (s *tagCalls) Set(k string, v []byte, exp time.Duration) error {
	if s.isTagKey(k) {
		s.sets.Add(1)
	}
	return s.s.Set(k, v, exp)
}

func (s *tagCalls) Delete(k string) error { return s.s.Delete(k) }
func (s *tagCalls) Reset() error          { return s.s.Reset() }
func (s *tagCalls) Close() error          { return nil }

// atomicTagCalls is tagCalls over a store whose own Atomic holds across
// processes (the Memory's, as redisbus.Atomic's on Redis).
type atomicTagCalls struct {
	*tagCalls
	m *Memory
}

func (s atomicTagCalls) GetMany(keys []string) ([][]byte, error) { return s.m.GetMany(keys) }
func (s atomicTagCalls) SetIfAbsent(k string, v []byte, exp time.Duration) (bool, error) {
	if s.isTagKey(k) {
		s.sets.Add(1)
	}
	return s.m.SetIfAbsent(k, v, exp)
}
func (s atomicTagCalls) CompareAndSwap(k string, old, v []byte, exp time.Duration) (bool, error) {
	if s.isTagKey(k) {
		s.sets.Add(1)
	}
	return s.m.CompareAndSwap(k, old, v, exp)
}

// A tag's first use reads its generation once: over a plain store the
// read that finds it missing is followed by one plain write of a fresh
// one (before: a second read, the emulated set-if-absent); over a store
// with its own Atomic by one set-if-absent; replicated, by one read and
// one write of each replica.
func TestNewTagReadOnce(t *testing.T) {
	for _, tc := range []struct {
		name       string
		atomic     bool
		replicas   int
		gets, sets int64
	}{
		{"plain store", false, 0, 1, 1},
		{"store with Atomic", true, 0, 1, 1},
		{"replicated generations", false, 3, 3, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := &tagCalls{s: newTestMemory(t, MemoryConfig{MaxBytes: 4 << 20}), tag: "new"}
			var store fiber.Storage = calls
			if tc.atomic {
				store = atomicTagCalls{calls, calls.s.(*Memory)}
			}
			c := New(Config{Storage: store, Replicas: tc.replicas, Logger: quiet()})
			calls.gets.Store(0)
			calls.sets.Store(0)
			r, err := c.Load("k", Policy{TTL: time.Minute, Tags: []string{"new"}}, func(*Policy) ([]byte, error) { return []byte("v"), nil })
			if err != nil || !r.Stored {
				t.Fatalf("load: %v stored %v", err, r.Stored)
			}
			if g, s := calls.gets.Load(), calls.sets.Load(); g != tc.gets || s != tc.sets {
				t.Errorf("first use of a tag: %d reads, %d writes of it; want %d and %d", g, s, tc.gets, tc.sets)
			}
			if v, ok, _ := c.Get("k"); !ok || string(v) != "v" {
				t.Fatal("the entry stored under the new generation is not a hit")
			}
			if err := c.InvalidateTags("new"); err != nil {
				t.Fatal(err)
			}
			if _, ok, _ := c.Get("k"); ok {
				t.Fatal("served after its tag was invalidated")
			}
		})
	}
}

// Concurrent first uses of one tag in one process share one write: every
// entry they store is a hit afterwards (none stamped with a generation
// another maker overwrote).
func TestNewTagMakersShareOneWrite(t *testing.T) {
	calls := &tagCalls{s: newTestMemory(t, MemoryConfig{MaxBytes: 8 << 20}), tag: "shared"}
	c := New(Config{Storage: calls})
	c.Get("warm") // the key space's generation
	calls.sets.Store(0)
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Go(func() {
			k := "k" + strconv.Itoa(i)
			if _, err := c.Load(k, Policy{TTL: time.Minute, Tags: []string{"shared"}}, func(*Policy) ([]byte, error) { return []byte(k), nil }); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := calls.sets.Load(); n != 1 {
		t.Errorf("%d writes of the new tag's generation by one process; want 1", n)
	}
	for i := range 32 {
		if _, ok, _ := c.Get("k" + strconv.Itoa(i)); !ok {
			t.Errorf("k%d: stored under a generation that did not stay", i)
		}
	}
}

// Two instances over one plain store make the same new tag at once, while
// a third invalidates it after each change of the data: whatever the
// interleaving (either maker's write may overwrite the other's, or the
// invalidation's), once InvalidateTags returns no instance ever serves
// data older than the change.
func TestNewTagRaceNeverStale(t *testing.T) {
	mem := newTestMemory(t, MemoryConfig{MaxBytes: 32 << 20})
	store := jittery{mem}
	a, b, inv := New(Config{Storage: store}), New(Config{Storage: store}), New(Config{Storage: store})
	var data atomic.Int64
	for round := range 100 {
		tag := fmt.Sprint("race", round)
		key := fmt.Sprint("k", round)
		fill := func(p *Policy) ([]byte, error) {
			return []byte(strconv.FormatInt(data.Load(), 10)), nil
		}
		var wg sync.WaitGroup
		var changed atomic.Int64 // the data as of the last invalidation that returned
		changed.Store(-1)
		for _, c := range []*Cache{a, b, a, b} {
			wg.Go(func() {
				for range 3 {
					_, _ = c.Load(key, Policy{TTL: time.Minute, Tags: []string{tag}}, fill)
				}
			})
		}
		wg.Go(func() {
			v := data.Add(1)
			if err := inv.InvalidateTags(tag); err != nil {
				t.Error(err)
			}
			changed.Store(v)
		})
		wg.Wait()
		want := changed.Load()
		for _, c := range []*Cache{a, b, inv} {
			if v, ok, _ := c.Get(key); ok {
				if n, _ := strconv.ParseInt(string(v), 10, 64); n < want {
					t.Fatalf("round %d: served %d after the invalidation of data %d returned", round, n, want)
				}
			}
		}
	}
}

// jittery is a plain store (no Atomic) whose calls take a random few tens
// of microseconds, as a network store's do: concurrent calls interleave.
type jittery struct{ m *Memory }

func pause() { time.Sleep(time.Duration(rand.IntN(50)) * time.Microsecond) }

func (s jittery) Get(k string) ([]byte, error) {
	pause()
	v, err := s.m.Get(k)
	pause()
	return v, err
}

func (s jittery) Set(k string, v []byte, exp time.Duration) error {
	pause()
	err := s.m.Set(k, v, exp)
	pause()
	return err
}

func (s jittery) Delete(k string) error { return s.m.Delete(k) }
func (s jittery) Reset() error          { return s.m.Reset() }
func (s jittery) Close() error          { return nil }

// gated is a plain store over m whose write of one key waits for a signal:
// it tells on reached when the write begins, and goes on when release
// closes.
type gated struct {
	m                *Memory
	key              string
	reached, release chan struct{}
}

func (s gated) Get(k string) ([]byte, error) { return s.m.Get(k) }
func (s gated) Set(k string, v []byte, exp time.Duration) error {
	if k == s.key {
		close(s.reached)
		<-s.release
	}
	return s.m.Set(k, v, exp)
}
func (s gated) Delete(k string) error { return s.m.Delete(k) }
func (s gated) Reset() error          { return s.m.Reset() }
func (s gated) Close() error          { return nil }

// The interleaving the race above may miss, forced: instance B reads a
// new tag as missing, and its write of a fresh generation lands only after
// instance A made the tag, stored an entry built from the old data, and the
// tag was invalidated. B's write overwrites the invalidation's generation,
// and A's entry still reads as a miss: B's generation is its own, not A's.
func TestNewTagLateWriteOverInvalidation(t *testing.T) {
	mem := newTestMemory(t, MemoryConfig{MaxBytes: 8 << 20})
	a := New(Config{Storage: plainStore{mem}})
	probe := New(Config{Storage: plainStore{mem}})
	tk := probe.keys.storageKey(kindTag, "late")
	store := gated{m: mem, key: tk, reached: make(chan struct{}), release: make(chan struct{})}
	b := New(Config{Storage: store})
	for _, c := range []*Cache{a, b, probe} {
		c.Get("warm") // the key space's generation
	}
	data := "old"
	fillOf := func(v string) Fill { return func(*Policy) ([]byte, error) { return []byte(v), nil } }
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = b.Load("kb", Policy{TTL: time.Minute, Tags: []string{"late"}}, fillOf("new"))
	}()
	<-store.reached // B read the tag as missing; its write waits
	if _, err := a.Load("ka", Policy{TTL: time.Minute, Tags: []string{"late"}}, fillOf(data)); err != nil {
		t.Fatal(err)
	}
	if v, ok, _ := a.Get("ka"); !ok || string(v) != "old" {
		t.Fatalf("A's entry: %q %v", v, ok)
	}
	data = "new"
	if err := probe.InvalidateTags("late"); err != nil {
		t.Fatal(err)
	}
	close(store.release)
	<-done
	for _, c := range []*Cache{a, b, probe} {
		if v, ok, _ := c.Get("ka"); ok {
			t.Fatalf("served %q, built before the invalidation, after it returned", v)
		}
	}
	if v, ok, _ := b.Get("kb"); !ok || string(v) != "new" {
		t.Errorf("B's entry under its own generation: %q %v", v, ok)
	}
}
