package cachekit

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"

	"github.com/cachekit/cachekit/internal/keys"
)

// Django's per-call version= and incr_version/decr_version.
//
// A view (WithVersion) is a Cache that differs from the one it was made from
// only in the version part of its storage keys: it shares the store, the
// guard and its circuits, Local, the Bus, the hot layer, the counters and
// the error log. Everything keyed by version is its own: its entries, its
// tags (a tag's generation is "<prefix>:<version>:t:<tag>", so
// InvalidateTags on a view reaches that version's entries only, as Clear
// does), its key space's generation (Clear), and its fills in flight.

// viewSet is a root Cache's views by version, read without a lock: the map
// is replaced, never modified, once stored.
type viewSet struct {
	mu sync.Mutex // serialises add
	m  atomic.Pointer[map[int]*Cache]
}

func (s *viewSet) get(v int) *Cache {
	if m := s.m.Load(); m != nil {
		return (*m)[v]
	}
	return nil
}

// all returns the views; the map must not be modified.
func (s *viewSet) all() map[int]*Cache {
	if m := s.m.Load(); m != nil {
		return *m
	}
	return nil
}

// add returns the view of version v, made by mk if there is none yet.
func (s *viewSet) add(v int, mk func() *Cache) *Cache {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.all()
	if w, ok := old[v]; ok {
		return w
	}
	m := make(map[int]*Cache, len(old)+1)
	for k, w := range old {
		m[k] = w
	}
	w := mk()
	m[v] = w
	s.m.Store(&m)
	return w
}

// base returns the Cache a view was made from, or c itself.
func (c *Cache) base() *Cache {
	if c.root != nil {
		return c.root
	}
	return c
}

// Version returns the version part of c's keys: Config.Version, or the
// one given to WithVersion.
func (c *Cache) Version() int { return c.version }

// WithVersion returns the Cache for version v of c's keys (Django's
// version= argument of every call): c's own version gives the Cache New
// returned, any other a view over the same store, hot layer, circuits,
// Bus, coalescing and counters, differing only in the version part of its
// keys. Entries, tags (InvalidateTags) and Clear are per version, as with
// a second New with that Config.Version. It is cheap: the first call for a
// version makes its view, which the Cache keeps for its life (use a
// handful of versions, not one per request); later calls allocate nothing.
// Closing a view closes the Cache it was made from.
func (c *Cache) WithVersion(v int) *Cache {
	root := c.base()
	if v == root.version || root.err != nil {
		return root
	}
	if w := root.views.get(v); w != nil {
		return w
	}
	return root.views.add(v, func() *Cache { return root.view(v) })
}

// view makes the view of version v of c, a root Cache.
func (c *Cache) view(v int) *Cache {
	root := c
	w := &Cache{
		store: root.store, user: root.user, guard: root.guard, memory: root.memory,
		local: root.local, localTTL: root.localTTL, defaultTTL: root.defaultTTL,
		bus: root.bus, hot: root.hot, epoch: root.epoch, marks: root.marks,
		observe: root.observe, keys: root.keys, codec: root.codec, now: root.now, start: root.start,
		prefix: root.prefix, version: v, root: root, hotID: uint64(int64(v) - int64(root.version)),
		stats: root.stats, errlog: root.errlog, rmwLocks: root.rmwLocks, genLocks: root.genLocks, genMade: root.genMade,
	}
	w.keys.head = newKeyspace(root.prefix, v).head
	if min := len(w.keys.head) + 2 + keys.DigestLen; root.keys.max != 0 && root.keys.max < min {
		w.err = fmt.Errorf("cachekit: WithVersion(%d): Config.MaxKeyLen is %d; with this Prefix and version it must be at least %d", v, root.keys.max, min)
	}
	return w
}

// IncrVersion moves the fresh value under key from c's version to version
// c.Version()+delta and returns that version (Django's incr_version): the
// value, its tags and what is left of its TTL and stale windows are written
// at the new version, then the entry at c's version is deleted. A key with
// no fresh value at c's version is ErrNotFound (Django's ValueError), and
// nothing is changed; so is an empty key (ErrEmptyKey). A delta of 0
// changes nothing and returns c's version (Django's deletes the value).
// The tags are re-stamped with the new version's generations: an entry
// invalidated at the old version is not moved, and the moved one answers
// InvalidateTags on the new version's Cache (WithVersion).
//
// After it returns, no hot copy of the old version is served, here or (with
// a Bus) on other instances. The new value is written before the old one is
// deleted, so the value is never lost: when the delete fails, the value is
// at both versions, and IncrVersion returns the new version with the error.
// On any other error it returns c's version. Like Django's, it is a read,
// a write and a delete, not one atomic step: concurrent IncrVersions of one
// key each move the value they read (it may end at several new versions,
// never nowhere), and a write to the old key between the read and the
// delete is deleted.
func (c *Cache) IncrVersion(key string, delta int) (int, error) {
	if err := c.check(key); err != nil {
		return c.version, err
	}
	to := c.version + delta
	if (delta > 0 && to < c.version) || (delta < 0 && to > c.version) {
		return c.version, fmt.Errorf("cachekit: incr version %q: version %d%+d overflows int", key, c.version, delta)
	}
	if delta == 0 {
		r, err := c.lookup(key)
		if err != nil {
			return c.version, err
		}
		if r.Status != Hit {
			return c.version, fmt.Errorf("cachekit: incr version %q: %w", key, ErrNotFound)
		}
		return c.version, nil
	}
	dst := c.WithVersion(to)
	if err := dst.Err(); err != nil {
		return c.version, err
	}
	if err := c.moveTo(dst, key); err != nil {
		return c.version, err
	}
	if err := c.deleteMoved(key); err != nil {
		return to, fmt.Errorf("cachekit: incr version %q: moved to version %d, the old entry is left: %w", key, to, err)
	}
	return to, nil
}

// deleteMoved deletes the entry under key that IncrVersion moved. A delete
// that fails because the entry is gone already (a concurrent IncrVersion
// deleted it; some drivers, gofiber/storage/memcache's, fail the delete of
// an absent key) is not an error.
func (c *Cache) deleteMoved(key string) error {
	skey := c.keys.storageKey(kindEntry, key)
	err := c.storeDelete(context.Background(), skey)
	c.changed(msgKey, key)
	if err == nil {
		return nil
	}
	if b, gerr := c.storeGet(context.Background(), skey); gerr == nil && b == nil {
		return nil
	}
	c.storageError(err)
	return fmt.Errorf("cachekit: delete %q: %w", key, err)
}

// DecrVersion is IncrVersion(key, -delta) (Django's decr_version).
func (c *Cache) DecrVersion(key string, delta int) (int, error) {
	if delta == math.MinInt { // it has no opposite
		return c.version, fmt.Errorf("cachekit: decr version %q: delta %d overflows int", key, delta)
	}
	return c.IncrVersion(key, -delta)
}

// moveTo writes the fresh entry under key at c's version to dst's version,
// under dst's generations of its tags, keeping its times.
func (c *Cache) moveTo(dst *Cache, key string) error {
	a, _ := c.atomics()
	old, err := c.readRaw(a, c.keys.storageKey(kindEntry, key))
	if err != nil {
		return c.atomicError("incr version", key, err)
	}
	e, live, err := c.liveEntry(old)
	if err != nil {
		return err
	}
	if !live {
		return fmt.Errorf("cachekit: incr version %q: %w", key, ErrNotFound)
	}
	var names []string
	for rest := e.tags; len(rest) > 0; {
		var name []byte
		name, _, rest = nextTag(rest)
		if len(name) > 0 { // the key space's: entryGenerations adds dst's
			names = append(names, string(name))
		}
	}
	gens, err := dst.entryGenerations(names, nil)
	if err != nil {
		return fmt.Errorf("cachekit: incr version %q: %w", key, err)
	}
	stored := gens // as newEntry: a Memory's key space generation never expires
	if dst.memory != nil && len(gens) > 0 && gens[0].name == clearTag {
		stored = gens[1:]
	}
	exp, ok := entryExpiry(c.remaining(&e), stored, c.wallNow().UnixNano())
	if !ok {
		return fmt.Errorf("cachekit: incr version %q: a tag generation ran out just now", key)
	}
	buf := encodeEntry(make([]byte, 0, len(old)+len(gens)*8), &e, gens, e.value)
	err = dst.writeEncoded(dst.keys.storageKey(kindEntry, key), buf, exp)
	dst.changed(msgKey, key) // after the write: see drop
	if err != nil {
		return fmt.Errorf("cachekit: incr version %q: %w", key, err)
	}
	return nil
}
