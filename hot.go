package cachekit

import (
	"hash/maphash"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The hot layer keeps the values of recent hits in process, decoded, so a
// repeated hit touches no storage: no copy, no checksum, no tag reads. It is
// exact, not a window: every value records the versions (versions.go) of
// its key and of each of its tags at which it was validated, and a write
// moves only the versions of what it changed, so a Set of one key leaves
// the other keys' values alone, and an InvalidateTags drops every value
// under the tag at once. It is on only when every invalidation is seen by
// this process: the storage is a Memory, or a Bus carries the other
// instances' invalidations.
//
// A hit takes no lock and writes nothing: the values sit in a table of
// atomic pointers, two slots per bucket, so hits on all cores share no
// written cache line. Writers, on a miss, take their bucket's shard mutex,
// which keeps the byte bound. A key whose bucket is full replaces the older
// of its two values: the table is a cache of a cache, and a value it drops
// is read from storage on the next hit.

const (
	hotShards     = 32
	hotMinBuckets = 512     // at least 16 per shard
	hotMaxBuckets = 32768   // 512 KiB of slots
	hotBucketSpan = 1024    // one bucket per KiB of budget
	hotMaxValue   = 1 << 20 // larger values are never kept
	hotWays       = 2       // slots per bucket
	hotShardMask  = hotShards - 1
)

// hotValue is one value the hot layer keeps, never modified once stored in
// a slot. Its times are Cache.monoNow readings, so that a hit reads the
// clock once, except expires, the wall-clock end of its fresh window for
// Result.Expires.
type hotValue struct {
	// What a hit checks first, together.
	key     string
	id      uint64               // Cache.hotID of the version it was read at
	all     uint64               // versions.all when it was validated
	freshTo int64                // served until this (0: no expiry)
	until   int64                // and kept no longer than this (0: while fresh)
	marks   []mark               // the versions of its key, then of each of its tags, read before its validation
	inline  [hotInlineMarks]mark // marks' backing array when they fit: one allocation, adjacent lines

	value   []byte    // len == cap, shared by every hit, never modified
	tags    []byte    // the entry's encoded tag list (same buffer as value)
	size    int64     // len(key) + len(value): what it takes of the budget
	kept    int64     // when it was validated
	age     int64     // its Result.Age then
	expires time.Time // Result.Expires; zero: no expiry

	// memo is Result.Memo's slot: the one field written after the value
	// is stored in a slot, by a caller's first hit on it.
	memo Memo
}

// hotInlineMarks is how many marks (a key and its tags) a hotValue holds
// without a second allocation.
const hotInlineMarks = 4

type hotShard struct {
	mu    sync.Mutex // protects bytes, hand, and every write to this shard's slots
	bytes int64      // the sum of the sizes of the values in this shard's slots
	hand  uint64     // the next of this shard's buckets to clear when over budget
}

type hotLayer struct {
	slots    []atomic.Pointer[hotValue] // bucket b is slots[hotWays*b:][:hotWays]; read without a lock
	buckets  uint64                     // a power of two; bucket b belongs to shards[b%hotShards]
	shards   [hotShards]hotShard
	budget   int64 // bytes per shard
	maxValue int
	seed     maphash.Seed
}

func newHotLayer(total int64) *hotLayer {
	h := &hotLayer{budget: total / hotShards, seed: maphash.MakeSeed(), buckets: hotMinBuckets}
	h.maxValue = int(min(h.budget/4, hotMaxValue))
	for h.buckets < hotMaxBuckets && int64(h.buckets)*hotBucketSpan < total {
		h.buckets *= 2
	}
	h.slots = make([]atomic.Pointer[hotValue], hotWays*h.buckets)
	return h
}

// bucket returns the bucket of key at the version id stands for (0 for a
// root Cache's), so that versions of one key do not share one bucket.
func (h *hotLayer) bucket(key string, id uint64) uint64 {
	return (maphash.String(h.seed, key) + id*0x9e3779b97f4a7c15) & (h.buckets - 1)
}

// get returns a fresh value for key at the version id stands for, whose
// versions have not moved, and its slot; now is a Cache.monoNow reading.
// hint is a slot to try first (hotHint): when it holds key at id, that is
// the value the key's bucket holds (a key is put only in its own bucket,
// never in both of its slots), found without hashing key.
func (h *hotLayer) get(key string, hint uint64, id uint64, now int64, vs *versions) (*hotValue, uint64, bool) {
	if hint < uint64(len(h.slots)) {
		if e := h.slots[hint].Load(); e != nil && e.key == key && e.id == id {
			return e, hint, h.fresh(e, now, vs)
		}
	}
	b := hotWays * h.bucket(key, id)
	e := h.slots[b].Load()
	if e == nil || e.key != key || e.id != id {
		b++
		if e = h.slots[b].Load(); e == nil || e.key != key || e.id != id {
			return nil, 0, false
		}
	}
	return e, b, h.fresh(e, now, vs)
}

// fresh reports whether e may be served at now: fresh, and validated at
// versions that have not moved since.
func (h *hotLayer) fresh(e *hotValue, now int64, vs *versions) bool {
	return e.all == vs.all.Load() && (e.freshTo == 0 || now < e.freshTo) && (e.until == 0 || now < e.until) && vs.valid(e.marks)
}

// put keeps e (at the version e.id stands for), validated at e.all and
// e.marks. A value whose versions moved since they were read is never
// served, so a put racing an invalidation is harmless.
func (h *hotLayer) put(key string, e *hotValue) {
	e.size = int64(len(key) + len(e.value))
	if len(e.value) > h.maxValue || e.size > h.budget {
		return
	}
	e.key = strings.Clone(key)
	if len(e.marks) <= hotInlineMarks {
		e.marks = e.inline[:copy(e.inline[:], e.marks)]
	}
	e.value = e.value[:len(e.value):len(e.value)]
	b := h.bucket(key, e.id)
	s := &h.shards[b&hotShardMask]
	s.mu.Lock()
	defer s.mu.Unlock()
	i := h.slotFor(b, key, e.id)
	h.clear(s, i)
	for s.bytes+e.size > h.budget { // over budget: clear this shard's buckets in turn
		s.hand = (s.hand + 1) % (h.buckets / hotShards)
		other := hotWays * (s.hand*hotShards + b&hotShardMask)
		h.clear(s, other)
		h.clear(s, other+1)
	}
	s.bytes += e.size
	h.slots[i].Store(e)
}

// slotFor picks the slot of bucket b that key (at id) goes to: the one
// holding it, else an empty one, else the one validated longer ago. Its
// shard's mu is held.
func (h *hotLayer) slotFor(b uint64, key string, id uint64) uint64 {
	i := hotWays * b
	first, second := h.slots[i].Load(), h.slots[i+1].Load()
	switch {
	case first != nil && first.key == key && first.id == id:
		return i
	case second != nil && second.key == key && second.id == id:
		return i + 1 // never two values of one key (at one version) in a bucket
	case first == nil:
		return i
	case second == nil || second.kept < first.kept:
		return i + 1
	}
	return i
}

// clear empties slot i of shard s, whose mu is held.
func (h *hotLayer) clear(s *hotShard, i uint64) {
	if old := h.slots[i].Swap(nil); old != nil {
		s.bytes -= old.size
	}
}
