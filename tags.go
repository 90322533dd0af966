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
			c.storageError(err) // t is pending (invalidateTag)
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
	if err != nil {
		// Pending before the hot layer's counters move (changedContext):
		// a read in between would validate an entry against the store's
		// old generation and keep it hot past the invalidation.
		c.pending.add(c, t)
	}
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
// that do not exist yet. It reads them in one multi-get on a store that has
// one. With a render's memo (memo.go) it takes the generations the memo
// keeps and keeps those it reads or makes: an entry filled during the
// render is stamped with the generation the render validates against.
func (c *Cache) generations(tags []string, dst []taggedGen, memo *tagMemo) ([]taggedGen, error) {
	if len(tags) == 0 {
		return dst, nil
	}
	stamp := memo.stamp() // before every read: see tagMemo.put
	start := len(dst)
	tks := make([]string, 0, len(tags))
	var todoBuf [batchTags]int
	todo := todoBuf[:0] // the places in dst still to read
	for _, t := range tags {
		tg := taggedGen{name: t}
		if g, ok := memo.get(t); ok {
			copy(tg.gen[:], g)
		} else {
			todo = append(todo, len(dst)-start)
			tks = append(tks, c.keys.storageKey(kindTag, t))
		}
		dst = append(dst, tg)
	}
	if len(tks) == 0 {
		return dst, nil
	}
	seen := c.genMade.seq.Load() // before the read: see setGeneration
	got, err := c.storeGetMany(context.Background(), tks)
	if err != nil {
		c.storageError(err)
		return nil, fmt.Errorf("cachekit: read tags %q: %w", tags, err)
	}
	for j, i := range todo {
		tg := &dst[start+i]
		if b := got[j]; len(b) == generationLen {
			copy(tg.gen[:], b)
		} else if tg.gen, err = c.makeGeneration(tks[j], b, seen); err != nil {
			c.storageError(err)
			return nil, fmt.Errorf("cachekit: make tag %q: %w", tg.name, err)
		}
		if memo != nil {
			g := tg.gen // a copy: dst is the caller's
			memo.put(stamp, tg.name, g[:])
		}
	}
	return dst, nil
}

// batchTags is how many tags an entry's validation handles without
// allocating.
const batchTags = 8

// validTags reports whether every tag of e still has the generation e was
// written under. It reads the generations together: one multi-get on a
// shared store that has one (tagGens). With marks, it first appends the
// version of each tag to it (see lookupMiss). With a memo, the generations
// are the render's (tagGens).
func (c *Cache) validTags(e *entry, marks *[]mark, memo *tagMemo) (bool, error) {
	var nameBuf, wantBuf, curBuf [batchTags][]byte
	names, want := nameBuf[:0], wantBuf[:0]
	for rest := e.tags; len(rest) > 0; {
		var name, gen []byte
		name, gen, rest = nextTag(rest)
		names, want = append(names, name), append(want, gen)
	}
	if len(names) == 0 {
		return true, nil
	}
	if marks != nil {
		for _, name := range names {
			if len(name) > 0 { // the key space's generation moves versions.all
				*marks = append(*marks, c.tagMark(name))
			}
		}
	}
	// After the marks: a tag made pending before its marks moved (see
	// invalidateTag) is seen here if they were read moved.
	if c.pending.n.Load() != 0 {
		for _, name := range names {
			if c.pending.has(name) {
				return false, nil // invalidated here; the store has not taken it yet
			}
		}
	}
	cur, err := c.tagGens(context.Background(), names, curBuf[:0], memo)
	if err != nil {
		c.storageError(err)
		return false, err
	}
	for i := range names {
		if !bytes.Equal(cur[i], want[i]) {
			return false, nil
		}
	}
	return true, nil
}

// tagGens appends the current generation of each named tag to dst (nil for
// one that is not stored): from Local first with a live Bus, from the
// embedded store, or from the shared store in one multi-get for all the
// tags that must be read there (storeGetMany); with a render's memo
// (memo.go), from the memo first, keeping there what the store gave. Names
// alias an entry's buffer.
func (c *Cache) tagGens(ctx context.Context, names [][]byte, dst [][]byte, memo *tagMemo) ([][]byte, error) {
	if c.memory != nil {
		for _, name := range names {
			if len(name) == 0 { // clearTag
				dst = append(dst, c.memory.spaceGen(c.keys.head))
			} else {
				dst = append(dst, memoryGet(c.memory, &c.keys, kindTag, unsafe.String(unsafe.SliceData(name), len(name))))
			}
		}
		return dst, nil
	}
	live := c.busLive()
	epoch := c.epochNow() // before every read: see copyToLocal
	stamp := memo.stamp() // before every read: see tagMemo.put
	start := len(dst)
	var missBuf [batchTags]int
	var keyBuf [batchTags]string
	miss, tks := missBuf[:0], keyBuf[:0]
	for i, name := range names {
		tag := unsafe.String(unsafe.SliceData(name), len(name))
		switch {
		case live:
			if g := memoryGet(c.local, &c.keys, kindTag, tag); g != nil {
				dst = append(dst, g)
				continue
			}
		case len(name) == 0: // clearTag, without a live Bus
			sc, err := c.sharedSpace()
			if err != nil {
				return nil, err
			}
			dst = append(dst, sc.gen[:])
			continue
		}
		if g, ok := memo.get(tag); ok {
			dst = append(dst, g)
			continue
		}
		dst = append(dst, nil)
		miss, tks = append(miss, i), append(tks, c.keys.storageKey(kindTag, tag))
	}
	if len(tks) == 0 {
		return dst, nil
	}
	got, err := c.storeGetMany(ctx, tks)
	if err != nil {
		return nil, fmt.Errorf("read tags: %w", err)
	}
	for j, i := range miss {
		dst[start+i] = got[j]
		if live && len(got[j]) == generationLen {
			c.copyToLocal(tks[j], got[j], epoch)
		}
		memo.put(stamp, unsafe.String(unsafe.SliceData(names[i]), len(names[i])), got[j])
	}
	return dst, nil
}

// multiGetter is a store that reads many keys in one round trip: Atomic's
// GetMany (redisbus.Atomic: one pipeline), or any store with that method.
type multiGetter interface {
	GetMany(keys []string) ([][]byte, error)
}

// storeGetMany reads keys from the store: in one call to its GetMany when
// it has one (bounded by the guard as a single Get is), else one Get each;
// replicated tag generations always one Get each, through their replicas.
func (c *Cache) storeGetMany(ctx context.Context, keys []string) ([][]byte, error) {
	mg, ok := c.user.(multiGetter)
	if c.guard != nil && c.guard.reps.of(keys[0]) {
		ok = false // generations are read from their replicas (guard.get), not from their own keys
	}
	if !ok || len(keys) == 1 {
		out := make([][]byte, len(keys))
		for i, k := range keys {
			b, err := c.storeGet(ctx, k)
			if err != nil {
				return nil, err
			}
			out[i] = b
		}
		return out, nil
	}
	if c.guard == nil {
		return mg.GetMany(keys)
	}
	var out [][]byte // written by the call; read only once it has returned
	_, err := c.guard.call(ctx, "get many", keys[0], func(context.Context) ([]byte, error) {
		got, err := mg.GetMany(keys)
		out = got
		return nil, err
	})
	if err != nil {
		return nil, err
	}
	if len(out) != len(keys) {
		return nil, fmt.Errorf("get many: %d values for %d keys", len(out), len(keys))
	}
	return out, nil
}
