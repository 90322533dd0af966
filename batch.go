package cachekit

import "context"

// Batch is what one Prefetch found: the fresh values of many keys read
// together (LookupMany's two round trips), for a caller that then asks for
// them one at a time, as a template asks for the cards of a collection
// while it renders them (fragments' {{range}} prefetch). A Batch belongs
// to one render: it is not safe for concurrent use, and it is not a cache
// of its own.
//
// A value is handed out by Take only while nothing has changed in this
// Cache since the Prefetch began: a Set, Delete or InvalidateTags made
// through it, a Bus message from another instance, a Clear. After any of
// them Take finds nothing, and the caller reads as it would have without
// the Batch, so an InvalidateTags that has returned is never answered from
// a Batch read before it. Changes made through another Cache over the same
// Memory (or the same Local, with a Bus) count too. (An invalidation made
// by another instance, or another Cache over a shared store, that no Bus
// reports cannot be seen without a read; such a change is as concurrent
// with a Batch as with any read, and the tags of every value taken still
// reach the fill around the caller, whose entry then reads as a miss.)
//
// Take may be called from many goroutines.
type Batch struct {
	c       *Cache
	changes uint64
	epoch   uint64
	hits    map[string]Result
}

// Prefetch reads keys as LookupMany does and keeps their Hits in a Batch.
// Unlike LookupMany it counts nothing in Stats and adds nothing to a fill's
// dependencies: Take does both, for the keys actually used. On an error
// (a bad key, a store that fails) the Batch holds what could be read, or
// nothing: every Take of a missing key is answered false, and the caller's
// own read reports the trouble.
func (c *Cache) Prefetch(ctx context.Context, keys ...string) *Batch {
	b := &Batch{c: c}
	if len(keys) == 0 || c.checkKeys(keys) != nil {
		return b
	}
	if ctx == nil {
		ctx = context.Background()
	}
	b.changes, b.epoch = c.changes.Load(), c.epochNow() // before every read
	out := make([]Result, len(keys))
	todo := make([]int, 0, len(keys))
	for i, k := range keys {
		if !c.hotHit(k, &out[i]) {
			todo = append(todo, i)
		}
	}
	if len(todo) > 0 {
		_ = c.lookupMany(ctx, keys, todo, out) // logged and counted as a storage error there
	}
	b.hits = make(map[string]Result, len(keys))
	for i, k := range keys {
		if out[i].Status == Hit {
			b.hits[k] = out[i]
		}
	}
	return b
}

// Take returns the fresh value Prefetch found under key, and counts it as a
// Lookup hit; the entry's tags join the fill running under ctx, as a hit of
// LookupMany's does. ok is false when the Batch holds nothing for key, when
// the value's fresh window ended since, or when anything has changed in
// the Cache since the Prefetch (see Batch): the caller then reads key as it
// would have without the Batch. A nil Batch holds nothing.
func (b *Batch) Take(ctx context.Context, key string) (r Result, ok bool) {
	if b == nil || len(b.hits) == 0 {
		return Result{}, false
	}
	c := b.c
	if c.changes.Load() != b.changes || c.epochNow() != b.epoch {
		return Result{}, false
	}
	if r, ok = b.hits[key]; !ok {
		return Result{}, false
	}
	if !r.Expires.IsZero() && !c.wallNow().Before(r.Expires) {
		return Result{}, false
	}
	c.count(key, Hit)
	if d := depsFrom(ctx); d != nil {
		d.addList(c, r.tags)
	}
	return r, true
}

// Remote reports whether the Cache's reads may leave the process: false on
// the embedded Memory, where a read costs no round trip and a Prefetch
// saves nothing; true on any other store, Local or not.
func (c *Cache) Remote() bool { return c.memory == nil }
