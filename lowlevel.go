package cachekit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"time"
)

// Django's low-level calls: GetMany, SetMany, DeleteMany, Add, Incr, Touch
// and Clear.
//
// Add, Incr and Touch read the entry, decide, and write it back with a
// compare-and-swap (or, for Add on an absent key, a set-if-absent), retried
// when another writer got there first. How far that holds depends on the
// store (Atomic): on Memory, and on Redis through redisbus.Atomic, across
// every caller of every process sharing the store; on any other store, a
// get then a set under a lock of this process: between this process's
// callers only, so two processes may both Add one key, and an Incr in one
// process may overwrite another's.

// ErrNotFound is returned, wrapped, by Incr for a key that holds no fresh
// value.
var ErrNotFound = errors.New("cachekit: no such key")

// ErrNotNumber is returned, wrapped, by Incr for a value that is not a
// base-10 int64, or that the delta would take out of int64's range.
var ErrNotNumber = errors.New("cachekit: value is not an integer")

// errContended ends a read-modify-write that lost too many races in a row.
var errContended = errors.New("cachekit: too many concurrent writers")

// maxSwaps bounds the retries of one read-modify-write.
const maxSwaps = 1000

// clearTag is the implicit tag of every entry: its generation is the whole
// key space's, which Clear moves. No user tag is empty, so it names nothing
// else.
const clearTag = ""

var clearTags = []string{clearTag}

// entryGenerations returns the generations an entry is written under: the
// key space's (Clear) and each tag's.
func (c *Cache) entryGenerations(tags []string, memo *tagMemo) ([]taggedGen, error) {
	gens := make([]taggedGen, 0, 1+len(tags))
	if c.memory != nil {
		tg := taggedGen{name: clearTag}
		copy(tg.gen[:], c.memory.spaceGen(c.keys.head))
		gens = append(gens, tg)
	} else if !c.busLive() {
		sc, err := c.sharedSpace()
		if err != nil {
			return nil, err
		}
		gens = append(gens, taggedGen{name: clearTag, gen: sc.gen})
	} else {
		var err error
		if gens, err = c.generations(clearTags, gens, nil); err != nil {
			return nil, err
		}
	}
	return c.generations(tags, gens, memo)
}

// spaceGen returns the generation of the key space that starts with head.
// Memory keeps it beside bigcache, not in it: a FIFO store would evict the
// one key every read depends on at each turn of its shard's ring, and so
// empty the whole cache. Every Cache over a Memory runs in this process, so
// this is as exact as a stored generation.
func (m *Memory) spaceGen(head string) []byte {
	if g, ok := m.spaces.Load(head); ok {
		return g.(*[generationLen]byte)[:]
	}
	g := newGeneration(time.Now().UnixNano())
	actual, _ := m.spaces.LoadOrStore(head, &g)
	return actual.(*[generationLen]byte)[:]
}

// Clear makes every entry of this Cache's prefix and version read as a
// miss, on every instance and in every hot layer, at the cost of one storage
// write, whatever the number of entries: it moves the generation of the
// whole key space, which every entry is written under, as InvalidateTags
// moves a tag's. Unlike the store's Reset, it works on Redis Cluster and
// Memcached, and leaves other prefixes and versions alone. The old entries
// stay in the store until they expire or are evicted. This instance sees
// its Clear at once, the others at once with a Bus and within a second
// (spaceCopyTTL) without one.
func (c *Cache) Clear() error {
	if c.err != nil {
		return c.err
	}
	g := newGeneration(c.wallNow().UnixNano())
	c.moveEpoch() // before and after, as InvalidateTags
	var err error
	if c.memory != nil {
		c.memory.spaces.Store(c.keys.head, &g)
	} else {
		err = c.storeSet(context.Background(), c.keys.storageKey(kindTag, clearTag), g[:], generationTTL)
	}
	if err != nil {
		// As InvalidateTags: never lost here, retried; pending before the
		// drop moves the hot layer's counters (see invalidateTag).
		c.pending.add(c, clearTag)
	}
	c.changed(msgTag, clearTag) // drops the copy of the key space's generation
	if c.memory == nil && err == nil {
		// After the drop: this instance's copy is the new generation.
		c.space.Store(&spaceCopy{gen: g, at: c.monoNow()})
	}
	if err != nil {
		c.storageError(err)
		return fmt.Errorf("cachekit: clear: %w", err)
	}
	c.stats.invalidations.Add(1)
	return nil
}

// checkKeys is check for a list of keys: any empty key fails the whole call
// before anything is read or written.
func (c *Cache) checkKeys(keys []string) error {
	if c.err != nil {
		return c.err
	}
	for i, k := range keys {
		if k == "" {
			return fmt.Errorf("%w (key %d of %d)", ErrEmptyKey, i+1, len(keys))
		}
	}
	return nil
}

// GetMany returns the fresh value of each of keys that has one; absent,
// expired and invalidated keys are not in the map. It is LookupMany: values
// the hot layer keeps cost nothing, and on an external store with a
// multi-get (redisbus.Atomic) the rest cost two round trips whatever the
// number of keys: one for the entries, one for the generations of all their
// tags. On any other store it reads each entry and tag in turn. On a
// storage error it returns what it found and the error.
func (c *Cache) GetMany(keys ...string) (map[string][]byte, error) {
	rs, err := c.LookupMany(context.Background(), keys...)
	if rs == nil {
		return nil, err
	}
	out := make(map[string][]byte, len(keys))
	for i, r := range rs {
		if r.Status == Hit {
			out[keys[i]] = r.Value
		}
	}
	return out, err
}

// SetMany stores each value under its key for ttl, tagged with tags, as Set
// does (a ttl of 0 or less deletes them); the tags' generations are read
// once for all of them. A bad key or tag fails the call before anything is
// written; storage errors are joined, and the other keys are still written.
func (c *Cache) SetMany(values map[string][]byte, ttl time.Duration, tags ...string) error {
	for k := range values {
		if err := c.check(k); err != nil {
			return err
		}
	}
	if c.err != nil {
		return c.err
	}
	p := Policy{TTL: ttl, Tags: tags}
	if err := p.check(); err != nil {
		return err
	}
	if _, ok := c.resolveTTL(ttl); !ok { // as Set: nothing stored, the keys deleted
		var errs []error
		for k := range values {
			if err := c.Delete(k); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}
	gens, err := c.entryGenerations(p.Tags, nil)
	if err != nil {
		return err
	}
	var errs []error
	for k, v := range values {
		if err := c.writeEntry(c.keys.storageKey(kindEntry, k), v, &p, gens); err != nil {
			errs = append(errs, fmt.Errorf("%q: %w", k, err))
		}
		c.changed(msgKey, k)
	}
	return errors.Join(errs...)
}

// DeleteMany removes the entry under each key. An empty key fails the call
// before anything is deleted; storage errors are joined, and the other keys
// are still deleted.
func (c *Cache) DeleteMany(keys ...string) error {
	if err := c.checkKeys(keys); err != nil {
		return err
	}
	var errs []error
	for _, k := range keys {
		if err := c.Delete(k); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Add stores value under key for ttl, tagged with tags, only if key holds no
// fresh value (an expired, stale or invalidated entry counts as absent), and
// reports whether it did. Of concurrent Adds of one key exactly one wins:
// across processes on Memory and on an Atomic store (redisbus.Atomic), in
// this process only on any other store, where Add is a get then a set. With
// a ttl of 0 or less it stores nothing and reports whether key was absent.
func (c *Cache) Add(key string, value []byte, ttl time.Duration, tags ...string) (bool, error) {
	if err := c.check(key); err != nil {
		return false, err
	}
	p := Policy{TTL: ttl, Tags: tags}
	if err := p.check(); err != nil {
		return false, err
	}
	if _, ok := c.resolveTTL(ttl); !ok {
		// As Django's add with timeout 0: report whether it would have
		// won, store nothing.
		r, err := c.lookup(key)
		return r.Status != Hit && err == nil, err
	}
	gens, err := c.entryGenerations(p.Tags, nil)
	if err != nil {
		return false, err
	}
	buf, exp, err := c.newEntry(value, &p, gens)
	if err != nil {
		return false, err
	}
	skey := c.keys.storageKey(kindEntry, key)
	a, done := c.rmw(skey)
	defer done()
	for i := range maxSwaps {
		backoff(i)
		ok, err := a.SetIfAbsent(skey, buf, exp)
		if err != nil {
			return false, c.atomicError("add", key, err)
		}
		if !ok {
			old, err := c.readRaw(a, skey)
			if err != nil {
				return false, c.atomicError("add", key, err)
			}
			if old == nil {
				continue // gone since: try again
			}
			if _, live, err := c.liveEntry(old); err != nil || live {
				return false, err
			}
			if ok, err = a.CompareAndSwap(skey, old, buf, exp); err != nil {
				return false, c.atomicError("add", key, err)
			}
		}
		if ok {
			c.stats.stores.Add(1)
			c.changed(msgKey, key)
			return true, nil
		}
	}
	return false, fmt.Errorf("cachekit: add %q: %w", key, errContended)
}

// Incr adds delta (negative: subtracts) to the base-10 integer stored under
// key and returns the new value; the entry keeps its TTL, windows and tags.
// A key with no fresh value is ErrNotFound, a value that is not an int64 (or
// would overflow) ErrNotNumber: then nothing is changed. No increment is lost
// to concurrent ones: across processes on Memory and on an Atomic store, in
// this process only on any other store.
func (c *Cache) Incr(key string, delta int64) (int64, error) {
	if err := c.check(key); err != nil {
		return 0, err
	}
	var n int64
	live, err := c.swapLive("incr", key, func(e *entry) ([]byte, time.Duration, bool, error) {
		var err error
		if n, err = strconv.ParseInt(string(e.value), 10, 64); err != nil {
			return nil, 0, false, fmt.Errorf("cachekit: incr %q: %w: %.40q", key, ErrNotNumber, e.value)
		}
		if (delta > 0 && n > math.MaxInt64-delta) || (delta < 0 && n < math.MinInt64-delta) {
			return nil, 0, false, fmt.Errorf("cachekit: incr %q: %w: %d%+d overflows int64", key, ErrNotNumber, n, delta)
		}
		n += delta
		return strconv.AppendInt(nil, n, 10), c.remaining(e), false, nil
	})
	if err != nil {
		return 0, err
	}
	if !live {
		return 0, fmt.Errorf("cachekit: incr %q: %w", key, ErrNotFound)
	}
	return n, nil
}

// Touch gives the fresh entry under key a new ttl from now (NoExpiry: none,
// DefaultTTL: Config.DefaultTTL), keeping its value, tags and stale windows,
// and reports whether there was one. It is atomic against other writers as
// Incr is. A ttl of 0 or less expires the entry at once (Django's touch with
// timeout 0): it is deleted.
func (c *Cache) Touch(key string, ttl time.Duration) (bool, error) {
	if err := c.check(key); err != nil {
		return false, err
	}
	ttl, store := c.resolveTTL(ttl)
	return c.swapLive("touch", key, func(e *entry) ([]byte, time.Duration, bool, error) {
		if !store {
			return nil, 0, true, nil
		}
		var swr, sie time.Duration // the stale windows
		if e.fresh != 0 {
			swr, sie = time.Duration(e.swr-e.fresh), time.Duration(e.sie-e.fresh)
		}
		e.fresh, e.swr, e.sie = 0, 0, 0
		var exp time.Duration
		if expires(ttl) {
			now := c.wallNow()
			e.fresh = now.Add(ttl).UnixNano()
			e.swr, e.sie = e.fresh+int64(swr), e.fresh+int64(sie)
			exp = ttl + max(swr, sie)
		}
		return e.value, exp, false, nil
	})
}

// swapLive rewrites the live entry under key, atomically against other
// writers (Incr and Touch): rewrite returns the new value and how long the
// store keeps it (never 0: every key expires), or del to delete the entry
// instead. live reports whether there was a live entry; on an error it is
// false and nothing is changed.
func (c *Cache) swapLive(op, key string, rewrite func(e *entry) (value []byte, exp time.Duration, del bool, err error)) (live bool, err error) {
	skey := c.keys.storageKey(kindEntry, key)
	a, done := c.rmw(skey)
	defer done()
	for i := range maxSwaps {
		backoff(i)
		old, err := c.readRaw(a, skey)
		if err != nil {
			return false, c.atomicError(op, key, err)
		}
		e, live, err := c.liveEntry(old)
		if err != nil || !live {
			return false, err
		}
		value, exp, del, err := rewrite(&e)
		if err != nil {
			return false, err
		}
		if del {
			return true, c.Delete(key)
		}
		buf := encodeEntry(make([]byte, 0, len(old)), &e, entryGens(&e), value)
		sexp := storeExpiry(exp)
		switch a.(type) {
		case guardedAtomic, lockedStore: // they apply storeExpiry themselves
			sexp = exp
		}
		ok, err := a.CompareAndSwap(skey, old, buf, sexp)
		if err != nil {
			return false, c.atomicError(op, key, err)
		}
		if ok {
			c.changed(msgKey, key)
			return true, nil
		}
	}
	return false, fmt.Errorf("cachekit: %s %q: %w", op, key, errContended)
}

// readRaw reads the stored bytes under a storage key from the store itself,
// never from Local: a read-modify-write must see what the others see.
func (c *Cache) readRaw(a Atomic, skey string) ([]byte, error) {
	if c.memory != nil {
		return c.memory.Get(skey)
	}
	if _, ok := a.(lockedStore); ok {
		return c.store.Get(skey)
	}
	bs, err := a.GetMany([]string{skey})
	if err != nil {
		return nil, err
	}
	return bs[0], nil
}

// liveEntry decodes b and reports whether it is fresh and valid, as Get
// would find it. A corrupt entry is not live.
func (c *Cache) liveEntry(b []byte) (entry, bool, error) {
	if b == nil {
		return entry{}, false, nil
	}
	e, err := decodeEntry(b)
	if err != nil {
		return entry{}, false, nil
	}
	valid, err := c.validTags(&e, nil, nil)
	if err != nil {
		return entry{}, false, fmt.Errorf("cachekit: %w", err)
	}
	if !valid || (e.fresh != 0 && c.wallNow().UnixNano() >= e.fresh) {
		return entry{}, false, nil
	}
	return e, true, nil
}

// entryGens lists the tag generations of a decoded entry, to write it anew.
func entryGens(e *entry) []taggedGen {
	var gens []taggedGen
	for rest := e.tags; len(rest) > 0; {
		var name, gen []byte
		name, gen, rest = nextTag(rest)
		tg := taggedGen{name: string(name)}
		copy(tg.gen[:], gen)
		gens = append(gens, tg)
	}
	return gens
}

// remaining is the storage expiry that keeps a live entry as long as its
// windows last (0: no expiry).
func (c *Cache) remaining(e *entry) time.Duration {
	if e.fresh == 0 {
		return 0
	}
	return max(time.Duration(max(e.swr, e.sie)-c.wallNow().UnixNano()), time.Millisecond)
}

// backoff waits before the attempt-th retry of a read-modify-write that
// lost a race: a random while, growing to a millisecond, so that many
// writers of one key do not all retry at once.
func backoff(attempt int) {
	if attempt > 0 {
		time.Sleep(rand.N(time.Duration(min(attempt, 20)) * 50 * time.Microsecond))
	}
}

// atomicError counts and wraps a storage error of a read-modify-write.
func (c *Cache) atomicError(op, key string, err error) error {
	c.storageError(err)
	return fmt.Errorf("cachekit: %s %q: %w", op, key, err)
}

// spaceCopy is this process's copy of the key space's generation on a
// shared store without a live Bus, so that a read does not make a round
// trip for it, nor fail when the one node that holds it is down. It is
// never modified once stored in Cache.space.
type spaceCopy struct {
	gen [generationLen]byte
	at  int64 // monoNow when read
}

// spaceCopyTTL is how long a spaceCopy is used before the store is read
// again: without a Bus, another instance's Clear is seen within it.
const spaceCopyTTL = DefaultLocalTTL

// sharedSpace returns the key space's generation on a shared store without
// a live Bus: this process's copy while it is younger than spaceCopyTTL,
// else the store's (made when missing). When the store does not answer,
// the last copy read stands in: no Clear can land on a store that does not
// answer, and the copy is read again as soon as it does.
func (c *Cache) sharedSpace() (*spaceCopy, error) {
	now := c.monoNow()
	sc := c.space.Load()
	if sc != nil && now-sc.at < int64(spaceCopyTTL) {
		return sc, nil
	}
	gens, err := c.generations(clearTags, nil, nil)
	if err != nil {
		if sc != nil {
			return sc, nil
		}
		return nil, err
	}
	fresh := &spaceCopy{gen: gens[0].gen, at: now}
	// Not over a copy a Clear (or a drop) put there while the read ran:
	// the generation read may be the one that Clear replaced.
	c.space.CompareAndSwap(sc, fresh)
	return fresh, nil
}
