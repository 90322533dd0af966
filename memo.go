package cachekit

import (
	"context"
	"strings"
	"sync"
)

// A render's memo of tag generations. Over a shared store every read
// validates its entry against the current generation of each of its tags,
// one round trip per read (or per Prefetch); a page whose blocks share
// tags reads the same generation again for every block. TagMemo gives a
// render a memo: the first read of a tag's generation under its context
// keeps it, and every later read, Prefetch and fill under that context
// takes it from there.
//
// Why this is safe. Generations are unique values, never reused
// (tags.go): an entry stamped with generation G that matches the memo's G
// was filled before any invalidation that came after the memo read G. So
// a render serves a snapshot as of its memo's reads, all of which happen
// after the render began: an InvalidateTags that returned before the
// request began is never missed. An invalidation from elsewhere (another
// instance, another Cache over the store) that lands during the render may
// not be seen by the rest of it, as a read that came a moment earlier would
// not have seen it; but no stale entry outlives the render: an entry filled
// during the render is stamped with the memo's generation, older than or
// equal to the store's, so once the render ends it reads as a miss if the
// tag moved (at worst a hit is lost, never a stale entry kept), and a page
// built from the render records the memo's generations too, so it reads as
// a miss as well. An invalidation made through this Cache (or reported to
// it by its Bus) during the render empties the memo before the next read
// (Cache.tagChanges), so in-process changes are seen exactly as without
// it.
//
// The memo lives in the context and dies with it; it keeps at most
// maxMemoTags generations. It is used only over a shared store: the
// embedded Memory checks its tags in memory, exactly, at no cost to save.

type memoKey struct{}

// maxMemoTags bounds the generations one memo keeps; a render with more
// tags reads the others as it would without a memo.
const maxMemoTags = 1024

// tagMemo is one render's memo of the generations of its Cache's tags.
type tagMemo struct {
	c    *Cache
	mu   sync.Mutex // a render may read from goroutines of its own
	seen uint64     // c.tagChanges when gens was filled
	gens map[string][]byte
}

// TagMemo returns ctx with a memo of tag generations for one render (see
// above): the blocks, Prefetches and fills read under it read each tag's
// generation once. When ctx already carries this Cache's memo it is
// returned as it is; when it carries a fill of this Cache (a page's
// context), the memo is the fill's own, made on first use, so every
// template a page renders shares one. On the embedded Memory, or on a
// Cache that cannot work, it returns ctx unchanged. A nil ctx is
// context.Background(). fragments gives every render of a template set
// over a shared store one.
func (c *Cache) TagMemo(ctx context.Context) context.Context {
	if ctx == nil {
		ctx = context.Background()
	}
	if c.memory != nil || c.err != nil || c.memoFrom(ctx) != nil {
		return ctx
	}
	var m *tagMemo
	if d := depsFrom(ctx); d != nil && d.c == c {
		d.mu.Lock()
		if d.memo == nil {
			d.memo = c.newMemo()
		}
		m = d.memo
		d.mu.Unlock()
	} else {
		m = c.newMemo()
	}
	return context.WithValue(ctx, memoKey{}, m)
}

func (c *Cache) newMemo() *tagMemo {
	return &tagMemo{c: c, seen: c.tagChanges.Load(), gens: map[string][]byte{}}
}

// memoFrom returns the memo of c that ctx carries, or nil.
func (c *Cache) memoFrom(ctx context.Context) *tagMemo {
	if ctx == nil || c.memory != nil {
		return nil
	}
	m, _ := ctx.Value(memoKey{}).(*tagMemo)
	if m == nil || m.c != c {
		return nil
	}
	return m
}

// stamp is what a read records before it reads generations from the
// store, to put them in the memo after (put).
func (m *tagMemo) stamp() uint64 {
	if m == nil {
		return 0
	}
	return m.c.tagChanges.Load()
}

// sync empties the memo if this Cache has seen an invalidation since it
// was filled. Called with mu held.
func (m *tagMemo) sync() {
	if n := m.c.tagChanges.Load(); n != m.seen {
		clear(m.gens)
		m.seen = n
	}
}

// get returns the generation the memo keeps for the named tag.
func (m *tagMemo) get(name string) ([]byte, bool) {
	if m == nil {
		return nil, false
	}
	m.mu.Lock()
	m.sync()
	g, ok := m.gens[name]
	m.mu.Unlock()
	return g, ok
}

// put keeps the generation of the named tag, read from the store after
// stamp was taken, unless an invalidation came since (the value may then
// be older than it), the generation is not one (a tag not stored), or the
// memo is full. The memo keeps gen, which is never modified, and a copy of
// name, which may alias an entry's buffer.
func (m *tagMemo) put(stamp uint64, name string, gen []byte) {
	if m == nil || len(gen) != generationLen || len(name) == 0 {
		return
	}
	m.mu.Lock()
	m.sync()
	if m.seen == stamp && len(m.gens) < maxMemoTags {
		if _, ok := m.gens[name]; !ok {
			m.gens[strings.Clone(name)] = gen
		}
	}
	m.mu.Unlock()
}
