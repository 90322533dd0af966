package fibercache

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"weak"

	"github.com/cachekit/cachekit"
)

// localRecords keeps path records read from a cache whose store is the
// embedded Memory, so that a hit costs one storage read (the page) instead
// of two. It is exact, not a cache with a lag: a Memory store is private to
// this process, so every record write (InvalidatePath, a record made on a
// first miss, a Vary list learned) happens here, and each one, after its
// storage write, clears the slot. A slot is filled only by a reader whose
// storage read began after the last clear (the epoch check below), so a
// slot never holds a record older than storage. A record evicted from the
// store but still held here is still valid: eviction is not invalidation.
// Stores shared between processes (Redis, ...) never use the table.
var localRecords recordTable

const recordSlots = 4096 // direct-mapped; a collision costs one storage read

type localRecord struct {
	cache weak.Pointer[cachekit.Cache]
	key   string
	rec   record // aliases the bytes read from storage, never written
}

type recordTable struct {
	mu    sync.Mutex
	epoch atomic.Uint64 // bumped by every clear
	slots [recordSlots]atomic.Pointer[localRecord]
}

var recordSeed = maphash.MakeSeed()

func (t *recordTable) slot(key []byte) *atomic.Pointer[localRecord] {
	return &t.slots[maphash.Bytes(recordSeed, key)%recordSlots]
}

// get returns the record held for key of cache.
func (t *recordTable) get(cache weak.Pointer[cachekit.Cache], key []byte) (record, bool) {
	lr := t.slot(key).Load()
	if lr == nil || lr.cache != cache || lr.key != string(key) {
		return record{}, false
	}
	return lr.rec, true
}

// install holds rec, read from storage after the epoch was e, unless a
// record write cleared a slot since.
func (t *recordTable) install(cache weak.Pointer[cachekit.Cache], key []byte, rec record, e uint64) {
	lr := &localRecord{cache: cache, key: string(key), rec: rec}
	s := t.slot(key)
	t.mu.Lock()
	if t.epoch.Load() == e {
		s.Store(lr)
	}
	t.mu.Unlock()
}

// clear drops what is held for key, whichever cache it belongs to. Every
// record write calls it after writing storage.
func (t *recordTable) clear(key string) {
	s := t.slot([]byte(key))
	t.mu.Lock()
	t.epoch.Add(1)
	s.Store(nil)
	t.mu.Unlock()
}
