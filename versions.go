package cachekit

import (
	"hash/maphash"
	"sync/atomic"
	"unsafe"
)

// versions are what the hot layer checks a kept value against, kept by the
// Memory its Caches invalidate through (the store itself, or Local with a
// Bus), so that every Cache over one Memory sees every other's writes.
//
// A write moves one counter, not every kept value's: a Set, Delete or Bus
// message for key K moves the counter K's storage key hashes to, an
// InvalidateTags (or a message for a tag) the one of the tag's storage key;
// Clear, Memory.Reset and a Bus that may have lost messages move all. A
// kept value records all and the counters of its key and of each of its
// tags, read before the storage reads that validated it, and is served only
// while none of them has moved: a write to an unrelated key leaves it alone
// (two keys that hash to one counter drop each other's copies, which costs
// a storage read, never a wrong answer), and a reader that read the old
// value while a write ran recorded a counter the write moves after it.
type versions struct {
	all  atomic.Uint64
	tags atomic.Uint64 // moved by every invalidation of a tag (and with all): see flightCurrent
	seed maphash.Seed
	slot [versionSlots]atomic.Uint64
}

// versionSlots is the number of counters: 128 KiB per Memory, so that one
// unrelated write in a few thousand drops a given value.
const versionSlots = 1 << 14

// mark is one counter a kept value was validated at.
type mark struct {
	slot uint32
	seq  uint64
}

func newVersions() *versions { return &versions{seed: maphash.MakeSeed()} }

// slotOf returns the counter a storage key hashes to.
func (v *versions) slotOf(skey []byte) uint32 {
	return uint32(maphash.Bytes(v.seed, skey) & (versionSlots - 1))
}

// markOf reads the counter of a storage key.
func (v *versions) markOf(skey []byte) mark {
	i := v.slotOf(skey)
	return mark{slot: i, seq: v.slot[i].Load()}
}

// moveMark moves the counter of the storage key of kind and name. It runs
// after the write it stands for has landed.
func (c *Cache) moveMark(kind byte, name string) {
	bp := keyBufs.Get().(*[]byte)
	kb := c.keys.appendKey((*bp)[:0], kind, name)
	c.marks.slot[c.marks.slotOf(kb)].Add(1)
	*bp = kb[:0]
	keyBufs.Put(bp)
}

// valid reports whether none of the marks has moved since it was read.
func (v *versions) valid(marks []mark) bool {
	for _, m := range marks {
		if v.slot[m.slot].Load() != m.seq {
			return false
		}
	}
	return true
}

// keyMark reads the counter of the entry under key, before the read that
// validates it.
func (c *Cache) keyMark(key string) mark {
	bp := keyBufs.Get().(*[]byte)
	kb := c.keys.appendKey((*bp)[:0], kindEntry, key)
	m := c.marks.markOf(kb)
	*bp = kb[:0]
	keyBufs.Put(bp)
	return m
}

// tagMark reads the counter of a tag (name aliases an entry's buffer).
func (c *Cache) tagMark(name []byte) mark {
	bp := keyBufs.Get().(*[]byte)
	kb := c.keys.appendKey((*bp)[:0], kindTag, unsafe.String(unsafe.SliceData(name), len(name)))
	m := c.marks.markOf(kb)
	*bp = kb[:0]
	keyBufs.Put(bp)
	return m
}
