package cachekit

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"unsafe"
)

// Tags are generation counters kept in the same storage as the entries. A
// generation is 16 bytes: 8 random, then the Unix nanoseconds of the moment
// it was made. An entry records the generation of each of its tags when it
// was written, and reads as a miss when any of them has moved or is gone.
// Invalidating writes a new random generation: one storage write per tag,
// whatever the number of entries under it, and no read-modify-write race.
// A generation lost to eviction or a store restart is made anew on the next
// write, and never equals the old one, so invalidated data cannot come back.

func newGeneration(nowNano int64) [generationLen]byte {
	var g [generationLen]byte
	binary.BigEndian.PutUint64(g[:8], rand.Uint64())
	binary.BigEndian.PutUint64(g[8:], uint64(nowNano))
	return g
}

func genTime(g [generationLen]byte) int64 { return int64(binary.BigEndian.Uint64(g[8:])) }

// InvalidateTags makes every entry stored under any of tags read as a miss.
// It costs one storage write per tag, whatever the number of entries. It
// returns within Config.Timeout whatever the store does, all tags together.
// A write the store did not take is an error, and is not lost for this
// instance: its copies are dropped at once, this instance reads the tag's
// entries as misses, and the write is retried in the background until the
// store takes it (then the Bus tells the others).
func (c *Cache) InvalidateTags(tags ...string) error {
	if c.err != nil {
		return c.err
	}
	for _, t := range tags {
		if t == "" {
			return fmt.Errorf("cachekit: invalidate: empty tag")
		}
	}
	ctx, cancel := c.opContext(context.Background())
	defer cancel()
	var errs []error
	for _, t := range tags {
		if err := c.invalidateTag(ctx, t); err != nil {
			c.storageError(err)
			c.pending.add(c, t)
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// invalidateTag writes a new generation for t and tells the other instances.
func (c *Cache) invalidateTag(ctx context.Context, t string) error {
	g := newGeneration(c.wallNow().UnixNano())
	tk := c.keys.storageKey(kindTag, t)
	// Before the write as well as after: a fill that reads the new
	// generation must see the epoch moved (the late-tag rule in fill).
	c.moveEpoch()
	err := c.storeSet(ctx, tk, g[:], generationTTL)
	c.changedContext(ctx, msgTag, t)
	if err != nil {
		return fmt.Errorf("cachekit: invalidate tag %q: %w", t, err)
	}
	c.stats.invalidations.Add(1)
	return nil
}

// opContext bounds one operation of several storage calls by one Timeout.
func (c *Cache) opContext(parent context.Context) (context.Context, context.CancelFunc) {
	if c.guard == nil {
		return parent, func() {}
	}
	return context.WithTimeout(parent, c.guard.timeout)
}

// generations returns the current generation of each tag, making the ones
// that do not exist yet.
func (c *Cache) generations(tags []string, dst []taggedGen) ([]taggedGen, error) {
	for _, t := range tags {
		tk := c.keys.storageKey(kindTag, t)
		b, err := c.storeGet(context.Background(), tk)
		if err != nil {
			c.storageError(err)
			return nil, fmt.Errorf("cachekit: read tag %q: %w", t, err)
		}
		tg := taggedGen{name: t}
		if len(b) == generationLen {
			copy(tg.gen[:], b)
		} else if tg.gen, err = c.makeGeneration(tk, b); err != nil {
			c.storageError(err)
			return nil, fmt.Errorf("cachekit: make tag %q: %w", t, err)
		}
		dst = append(dst, tg)
	}
	return dst, nil
}

// validTags reports whether every tag of e still has the generation e was
// written under.
func (c *Cache) validTags(e *entry) (bool, error) {
	for rest := e.tags; len(rest) > 0; {
		var name, gen []byte
		name, gen, rest = nextTag(rest)
		if c.pending.n.Load() != 0 && c.pending.has(name) {
			return false, nil // invalidated here; the store has not taken it yet
		}
		cur, err := c.getTag(name)
		if err != nil {
			c.storageError(err)
			return false, fmt.Errorf("read tag %q: %w", name, err)
		}
		if !bytes.Equal(cur, gen) {
			return false, nil
		}
	}
	return true, nil
}

// getTag reads a tag's generation; name aliases an entry's buffer.
func (c *Cache) getTag(name []byte) ([]byte, error) {
	if c.busLive() {
		tag := unsafe.String(unsafe.SliceData(name), len(name))
		if g := memoryGet(c.local, &c.keys, kindTag, tag); g != nil {
			return g, nil
		}
		epoch := c.epochNow()
		tk := c.keys.storageKey(kindTag, tag)
		g, err := c.storeGet(context.Background(), tk)
		if err == nil && len(g) == generationLen {
			c.copyToLocal(tk, g, epoch)
		}
		return g, err
	}
	if c.memory != nil {
		if len(name) == 0 { // clearTag
			return c.memory.spaceGen(c.keys.head), nil
		}
		return memoryGet(c.memory, &c.keys, kindTag, unsafe.String(unsafe.SliceData(name), len(name))), nil
	}
	if len(name) == 0 { // clearTag
		sc, err := c.sharedSpace()
		if err != nil {
			return nil, err
		}
		return sc.gen[:], nil
	}
	return c.storeGet(context.Background(), c.keys.storageKey(kindTag, string(name)))
}
