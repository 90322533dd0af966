package cachekit

import (
	"context"
	"errors"
	"time"
)

// Every storage call of the Cache goes through storeGet, storeSet and
// storeDelete: they pass the caller's context to the guard (which bounds
// the call by it and by Config.Timeout), and storeSet gives the store the
// expiry storeExpiry computes. A context-aware entry point (LoadContext and
// the like) passes its ctx down to them; the others pass
// context.Background().

func (c *Cache) storeGet(ctx context.Context, key string) ([]byte, error) {
	if c.guard != nil {
		return c.guard.get(ctx, key)
	}
	return c.store.Get(key)
}

// storeSet writes key for ttl (0: as long as the Cache writes anything).
func (c *Cache) storeSet(ctx context.Context, key string, val []byte, ttl time.Duration) error {
	exp := storeExpiry(ttl)
	if c.guard != nil {
		return c.guard.set(ctx, key, val, exp)
	}
	return c.store.Set(key, val, exp)
}

func (c *Cache) storeDelete(ctx context.Context, key string) error {
	if c.guard != nil {
		return c.guard.del(ctx, key)
	}
	return c.store.Delete(key)
}

// MaxStoreTTL is the longest expiry the Cache gives a store, and the one it
// gives every key it writes without a TTL of its own (an entry with TTL
// NoExpiry, a tag generation): every key it writes expires, even on stores
// that never evict (PostgreSQL, SQLite, bbolt, Redis without maxmemory). It
// is also Memcached's bound: Memcached reads a longer expiry as a Unix time.
// A NoExpiry entry stays fresh as long as the store keeps it.
const MaxStoreTTL = 30 * 24 * time.Hour

// storeExpiry is the expiry the Cache passes to a store for a key that
// should live ttl (0: no expiry of its own): whole seconds, rounded up
// (gofiber's memcache driver stores a sub-second expiry as none; Redis and
// SQL drivers round as well), plus one, at most MaxStoreTTL. The second
// more is for stores that count in whole seconds and drop a key up to a
// second early: the SQL drivers keep the Unix second of now+expiry and
// drop the key once the clock reaches it, Memcached's clock ticks once a
// second; with ceil(ttl) alone, a 300 ms entry written 100 ms before a
// whole second was gone 100 ms later. The Cache checks its own deadlines
// on every read, so a key that lives up to two seconds longer in the store
// is never served past its TTL.
func storeExpiry(ttl time.Duration) time.Duration {
	if ttl <= 0 || ttl >= MaxStoreTTL {
		return MaxStoreTTL
	}
	return min((ttl+time.Second-1).Truncate(time.Second)+time.Second, MaxStoreTTL)
}

// generationTTL is how long a tag generation lives in the store. An entry
// is stored for no longer than the generations it was written under have
// left: once a generation expires, a read finds it unknown, which is a miss,
// and the next write makes a new one.
const generationTTL = MaxStoreTTL

// entryExpiry bounds an entry's store expiry (exp, already from
// storeExpiry's rule or 0 for none) by what its generations have left at
// nowNano. ok is false when a generation has already run out.
func entryExpiry(exp time.Duration, gens []taggedGen, nowNano int64) (time.Duration, bool) {
	if exp <= 0 {
		exp = MaxStoreTTL
	}
	for i := range gens {
		left := time.Duration(genTime(gens[i].gen) + int64(generationTTL) - nowNano)
		if left < time.Second {
			return 0, false
		}
		exp = min(exp, left)
	}
	return exp, true
}

// storeDown reports whether err says the store is not answering in time,
// so the rest of the operation should go on without it.
func storeDown(err error) bool {
	return errors.Is(err, ErrTimeout) || errors.Is(err, ErrCircuitOpen) || errors.Is(err, ErrOverloaded)
}
