package cachekit

import (
	"context"
	"fmt"
	"time"
)

// Fences. A fence is a small value a caller writes to say that something
// changed, and reads back later to see whether it changed since: the
// negative information an invalidation leaves, which a reader must never
// take for "nothing happened" (fibercache's InvalidatePath writes one, and
// a page's first render reads it after its own write). An entry would not
// do: an entry that does not validate reads as absent, and one written by
// an instance whose copy of the key space's generation is not the store's
// (two instances that made it at once over a store without set-if-absent;
// a Clear whose news has not reached it) validates nowhere else. A fence
// is stored as it is given, outside the key space's generation and every
// tag (Clear does not hide it), and it is always read from the store
// itself: never from the hot layer or Local, so no copy of anything can
// make it unreadable. It is not replicated (Config.Replicas): a fence
// read that fails is an error, which the caller takes for "changed".

// SetFence writes value under the fence key for ttl (DefaultTTL: the
// Cache's default; NoExpiry: as long as the Cache keeps anything). The
// value should be one never written before (a random nonce), so that a
// reader can tell each write from the others.
func (c *Cache) SetFence(key string, value []byte, ttl time.Duration) error {
	if err := c.check(key); err != nil {
		return err
	}
	ttl, ok := c.resolveTTL(ttl)
	if !ok {
		return fmt.Errorf("cachekit: set fence %q: a fence needs a positive TTL, got %v", key, ttl)
	}
	if err := c.storeSet(context.Background(), c.keys.storageKey(kindFence, key), value, ttl); err != nil {
		c.storageError(err)
		return fmt.Errorf("cachekit: set fence %q: %w", key, err)
	}
	return nil
}

// Fence returns the value under the fence key, read from the store itself
// (nil: none, or expired). An error means the store did not answer.
func (c *Cache) Fence(key string) ([]byte, error) {
	if err := c.check(key); err != nil {
		return nil, err
	}
	b, err := c.storeGet(context.Background(), c.keys.storageKey(kindFence, key))
	if err != nil {
		c.storageError(err)
		return nil, fmt.Errorf("cachekit: read fence %q: %w", key, err)
	}
	return b, nil
}
