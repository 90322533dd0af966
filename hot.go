package cachekit

import (
	"hash/maphash"
	"strings"
	"sync"
)

// The hot layer keeps the values of recent hits in process, decoded, so a
// repeated hit touches no storage: no copy, no checksum, no tag reads. It is
// exact, not a window: every entry records the invalidation epoch at which
// it was validated, and the epoch moves on every InvalidateTags, Set and
// Delete of this Cache and on every Bus message. It is on only when every
// invalidation is seen by this process: the storage is a Memory, or a Bus
// carries the other instances' invalidations.

const hotShards = 32

type hotEntry struct {
	value  []byte // len == cap, shared by every hit, never modified
	epoch  uint64
	stored int64
	fresh  int64 // 0: no expiry
	until  int64 // kept no longer than this (0: while fresh)
}

type hotShard struct {
	mu    sync.RWMutex
	m     map[string]*hotEntry
	bytes int64
}

type hotLayer struct {
	shards   [hotShards]hotShard
	budget   int64 // bytes per shard
	maxValue int
	seed     maphash.Seed
}

func newHotLayer(total int64) *hotLayer {
	h := &hotLayer{budget: total / hotShards, seed: maphash.MakeSeed()}
	h.maxValue = int(min(h.budget/4, 1<<20))
	for i := range h.shards {
		h.shards[i].m = map[string]*hotEntry{}
	}
	return h
}

func (h *hotLayer) shard(key string) *hotShard {
	return &h.shards[maphash.String(h.seed, key)%hotShards]
}

// get returns a fresh value for key validated at the current epoch.
func (h *hotLayer) get(key string, now int64, epoch uint64) (*hotEntry, bool) {
	s := h.shard(key)
	s.mu.RLock()
	e := s.m[key]
	s.mu.RUnlock()
	if e == nil || e.epoch != epoch || (e.fresh != 0 && now >= e.fresh) || (e.until != 0 && now >= e.until) {
		return nil, false
	}
	return e, true
}

// put keeps a value validated at epoch. A value validated before the epoch
// last moved is never served, so a put racing an invalidation is harmless.
func (h *hotLayer) put(key string, value []byte, epoch uint64, stored, fresh, until int64) {
	if len(value) > h.maxValue {
		return
	}
	e := &hotEntry{value: value[:len(value):len(value)], epoch: epoch, stored: stored, fresh: fresh, until: until}
	s := h.shard(key)
	s.mu.Lock()
	if old := s.m[key]; old != nil {
		s.bytes -= int64(len(old.value) + len(key))
		delete(s.m, key)
	}
	for k, v := range s.m { // over budget: drop entries, in map order
		if s.bytes+int64(len(value)+len(key)) <= h.budget {
			break
		}
		s.bytes -= int64(len(v.value) + len(k))
		delete(s.m, k)
	}
	s.m[strings.Clone(key)] = e
	s.bytes += int64(len(value) + len(key))
	s.mu.Unlock()
}
