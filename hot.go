package cachekit

import (
	"hash/maphash"
	"strings"
	"sync"
)

// The hot layer keeps the values of recent hits in process, decoded, so a
// repeated hit touches no storage: no copy, no checksum, no tag reads. It is
// exact, not a window: every value records the invalidation epoch at which
// it was validated, and the epoch moves on every InvalidateTags, Set and
// Delete of this Cache and on every Bus message. It is on only when every
// invalidation is seen by this process: the storage is a Memory, or a Bus
// carries the other instances' invalidations.
//
// A hit takes no lock: values sits in a sync.Map, whose Load (a concurrent
// hash-trie since Go 1.24) only reads, so hits on all cores share no written
// cache line. Writers, on a miss, take their shard's mutex, which keeps the
// byte bound.

const hotShards = 32

// hotValue is one value the hot layer keeps, never modified once stored in
// hotLayer.values. Its times are Cache.monoNow readings, so that a hit reads
// the clock once, except expires, the wall-clock end of its fresh window for
// Result.Expires.
type hotValue struct {
	value   []byte // len == cap, shared by every hit, never modified
	epoch   uint64 // the invalidation epoch it was validated at
	kept    int64  // when it was validated
	age     int64  // its Result.Age then
	expires int64  // unix nanoseconds; 0: no expiry
	freshTo int64  // served until this (0: no expiry)
	until   int64  // and kept no longer than this (0: while fresh)
}

type hotShard struct {
	mu    sync.Mutex       // protects sizes, bytes, and this shard's keys in hotLayer.values
	sizes map[string]int64 // the bytes each of this shard's kept keys takes
	bytes int64            // the sum of sizes
}

type hotLayer struct {
	values   sync.Map // key -> *hotValue; read without a lock, written under the key's shard mu
	shards   [hotShards]hotShard
	budget   int64 // bytes per shard
	maxValue int
	seed     maphash.Seed
}

func newHotLayer(total int64) *hotLayer {
	h := &hotLayer{budget: total / hotShards, seed: maphash.MakeSeed()}
	h.maxValue = int(min(h.budget/4, 1<<20))
	for i := range h.shards {
		h.shards[i].sizes = map[string]int64{}
	}
	return h
}

func (h *hotLayer) shard(key string) *hotShard {
	return &h.shards[maphash.String(h.seed, key)%hotShards]
}

// get returns a fresh value for key validated at the current epoch; now is
// a Cache.monoNow reading.
func (h *hotLayer) get(key string, now int64, epoch uint64) (*hotValue, bool) {
	v, _ := h.values.Load(key)
	e, _ := v.(*hotValue)
	if e == nil || e.epoch != epoch || (e.freshTo != 0 && now >= e.freshTo) || (e.until != 0 && now >= e.until) {
		return nil, false
	}
	return e, true
}

// put keeps e, validated at e.epoch. A value validated before the epoch last
// moved is never served, so a put racing an invalidation is harmless.
func (h *hotLayer) put(key string, e *hotValue) {
	if len(e.value) > h.maxValue {
		return
	}
	e.value = e.value[:len(e.value):len(e.value)]
	size := int64(len(e.value) + len(key))
	s := h.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.sizes[key]; ok {
		s.bytes -= old
		delete(s.sizes, key)
	}
	for k, n := range s.sizes { // over budget: drop values, in map order
		if s.bytes+size <= h.budget {
			break
		}
		s.bytes -= n
		delete(s.sizes, k)
		h.values.Delete(k)
	}
	key = strings.Clone(key)
	s.sizes[key] = size
	s.bytes += size
	h.values.Store(key, e)
}
