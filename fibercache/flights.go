package fibercache

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
)

// marks are what one middleware instance knows, in this process, about
// the pages being rendered: a render running for a page key (its waiters
// give up after Config.LockTimeout, as with nginx's
// proxy_cache_lock_timeout), or a page key whose last render could not be
// stored (Varnish's hit-for-miss: for Config.HitForMiss its requests go
// straight to the handler, in parallel, instead of queueing behind a
// render they cannot use). Nothing of it reaches the store: a response
// that is not stored writes nothing (rule 8).
//
// A hit reads one atomic counter (written only when a render begins or
// ends) while no mark exists; otherwise it takes the read lock of one of
// markShards shards, picked by the key's hash, so hits on other keys do
// not contend. A lookup with a string key allocates nothing.
type marks struct {
	n      atomic.Int64 // marks held, over all shards
	seed   maphash.Seed
	shards [markShards]markShard
}

type markShard struct {
	mu sync.RWMutex
	m  map[string]*mark
	_  [40]byte // a shard per cache line
}

const markShards = 32

// maxMarks bounds the hit-for-miss marks a shard keeps: past it, expired
// ones are swept, and a new one is not kept when none had expired.
const maxMarks = 4096 / markShards

func (ms *marks) shard(key string) *markShard {
	if ms.seed == (maphash.Seed{}) {
		panic("fibercache: marks used before init")
	}
	return &ms.shards[maphash.String(ms.seed, key)%markShards]
}

func (ms *marks) init() { ms.seed = maphash.MakeSeed() }

// mark is a render running (done open) or a hit-for-miss (until set).
type mark struct {
	done  chan struct{} // closed when the render ends; nil for hit-for-miss
	until int64         // hit-for-miss: UnixNano it lasts until
}

type markState uint8

const (
	markNone markState = iota
	markFlight
	markHitForMiss
)

// check returns what is known about key.
func (ms *marks) check(key string) (markState, *mark) {
	if ms.n.Load() == 0 {
		return markNone, nil
	}
	sh := ms.shard(key)
	sh.mu.RLock()
	mk := sh.m[key]
	sh.mu.RUnlock()
	switch {
	case mk == nil:
		return markNone, nil
	case mk.done != nil:
		return markFlight, mk
	case time.Now().UnixNano() < mk.until:
		return markHitForMiss, mk
	}
	return markNone, nil
}

// begin marks a render of key as running and returns its mark, nil when
// one already runs (another instance's render of the same key).
func (ms *marks) begin(key string) *mark {
	sh := ms.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	old := sh.m[key]
	if old != nil && old.done != nil {
		return nil
	}
	if sh.m == nil {
		sh.m = map[string]*mark{}
	}
	mk := &mark{done: make(chan struct{})}
	sh.m[key] = mk
	if old == nil {
		ms.n.Add(1)
	}
	return mk
}

// end ends the render mk of key: the key is marked hit-for-miss for hfm
// when its response could not be stored (hfm > 0), and unmarked otherwise.
// Waiters are let go after the mark changed, so they see it.
func (ms *marks) end(key string, mk *mark, hfm time.Duration) {
	sh := ms.shard(key)
	sh.mu.Lock()
	if sh.m[key] == mk {
		delete(sh.m, key)
		ms.n.Add(-1)
		if hfm > 0 && ms.room(sh) {
			sh.m[key] = &mark{until: time.Now().Add(hfm).UnixNano()}
			ms.n.Add(1)
		}
	}
	sh.mu.Unlock()
	close(mk.done)
}

// room reports whether shard sh may keep another mark, sweeping expired
// ones when full. sh.mu is held.
func (ms *marks) room(sh *markShard) bool {
	if len(sh.m) < maxMarks {
		return true
	}
	now := time.Now().UnixNano()
	for k, mk := range sh.m {
		if mk.done == nil && mk.until <= now {
			delete(sh.m, k)
			ms.n.Add(-1)
		}
	}
	return len(sh.m) < maxMarks
}

// wait waits for the render mk to end, at most timeout; false when it did not.
func (mk *mark) wait(timeout time.Duration) bool {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-mk.done:
		return true
	case <-t.C:
		return false
	}
}
