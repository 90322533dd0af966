package cachekit

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
)

// readCounter is a real Memory seen as a shared store (no hot layer, no
// Local), counting its reads.
type readCounter struct {
	fiber.Storage
	n atomic.Int64
}

func (s *readCounter) Get(key string) ([]byte, error) {
	s.n.Add(1)
	return s.Storage.Get(key)
}

func memoCache(t *testing.T) (*Cache, *readCounter) {
	t.Helper()
	s := &readCounter{Storage: newTestMemory(t, MemoryConfig{})}
	// Wrapped, the Memory is an external store under the guard: the
	// default 100 ms Timeout is within a loaded machine's scheduling
	// delays ("make tag: storage call timed out" under load). These tests
	// count reads, not time.
	c := New(Config{Storage: s, Timeout: 10 * time.Second})
	if c.Err() != nil {
		t.Fatal(c.Err())
	}
	return c, s
}

// Under a memo, each tag is read once: two entries sharing a tag cost the
// second one its entry alone; without the memo, its entry and its tag.
func TestTagMemoReadsATagOnce(t *testing.T) {
	c, s := memoCache(t)
	for _, k := range []string{"a", "b"} {
		if err := c.Set(k, []byte(k), time.Minute, "shared"); err != nil {
			t.Fatal(err)
		}
	}
	get := func(ctx context.Context, k string) {
		t.Helper()
		if v, ok, err := c.GetContext(ctx, k); !ok || err != nil || string(v) != k {
			t.Fatalf("%s: %q %v %v", k, v, ok, err)
		}
	}
	reads := func(f func()) int64 {
		before := s.n.Load()
		f()
		return s.n.Load() - before
	}
	if n := reads(func() { get(nil, "a"); get(nil, "b") }); n != 4 {
		t.Errorf("without a memo: %d reads, want 4 (two entries, two tag reads)", n)
	}
	ctx := c.TagMemo(context.Background())
	if n := reads(func() { get(ctx, "a"); get(ctx, "b") }); n != 3 {
		t.Errorf("under a memo: %d reads, want 3 (two entries, one tag read)", n)
	}
	if c.TagMemo(ctx) != ctx {
		t.Error("TagMemo of a context with this Cache's memo made another")
	}
	// An invalidation through this Cache empties the memo: the next read
	// sees it.
	if err := c.InvalidateTags("shared"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := c.GetContext(ctx, "a"); ok {
		t.Error("an entry invalidated through the render's Cache was served from its memo")
	}
	// The Memory itself needs none: TagMemo leaves the context alone.
	mc := New(Config{Storage: newTestMemory(t, MemoryConfig{})})
	bg := context.Background()
	if mc.TagMemo(bg) != bg {
		t.Error("TagMemo on Memory changed the context")
	}
}

// A fill's context carries one memo for every TagMemo made from it (the
// templates of one page share it), and a fill under the memo stamps its
// entry with the memo's generation.
func TestTagMemoOfAFill(t *testing.T) {
	c, _ := memoCache(t)
	_, err := c.LoadContext(context.Background(), "page", Policy{TTL: time.Minute}, func(p *Policy) ([]byte, error) {
		m1, m2 := c.memoFrom(c.TagMemo(p.Context())), c.memoFrom(c.TagMemo(p.Context()))
		if m1 == nil || m1 != m2 {
			t.Errorf("two TagMemo of one fill: %p, %p", m1, m2)
		}
		return []byte("x"), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	other := New(Config{Storage: c.user})
	if err := c.Set("seed", []byte("s"), time.Minute, "t"); err != nil {
		t.Fatal(err)
	}
	ctx := c.TagMemo(context.Background())
	if _, ok, _ := c.GetContext(ctx, "seed"); !ok { // the memo reads t
		t.Fatal("seed missed")
	}
	if err := other.InvalidateTags("t"); err != nil { // unseen by c
		t.Fatal(err)
	}
	if _, err := c.LoadContext(ctx, "filled", Policy{TTL: time.Minute, Tags: []string{"t"}}, func(*Policy) ([]byte, error) { return []byte("f"), nil }); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := c.GetContext(ctx, "filled"); !ok {
		t.Error("under the memo, the entry filled with the memo's generation misses")
	}
	if _, ok, _ := other.Get("filled"); ok {
		t.Error("the entry filled under the old generation reads as a hit outside the render")
	}
}

// The memo keeps at most maxMemoTags generations.
func TestTagMemoBounded(t *testing.T) {
	c, _ := memoCache(t)
	ctx := c.TagMemo(context.Background())
	tags := make([]string, maxMemoTags+10)
	for i := range tags {
		tags[i] = "t" + strconv.Itoa(i)
	}
	if err := c.Set("k", []byte("v"), time.Minute, tags...); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := c.GetContext(ctx, "k"); !ok {
		t.Fatal("miss")
	}
	m := c.memoFrom(ctx)
	m.mu.Lock()
	n := len(m.gens)
	m.mu.Unlock()
	if n != maxMemoTags {
		t.Errorf("memo holds %d generations, want %d", n, maxMemoTags)
	}
}
