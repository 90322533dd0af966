package fibercache

import (
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
// A hit reads one atomic counter while no mark exists, and takes a read
// lock otherwise; a lookup with a string key allocates nothing.
type marks struct {
	n  atomic.Int64 // len(m), read without the lock
	mu sync.RWMutex
	m  map[string]*mark
}

// maxMarks bounds the hit-for-miss marks kept: past it, expired ones are
// swept, and a new one is not kept when none had expired.
const maxMarks = 4096

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
	ms.mu.RLock()
	mk := ms.m[key]
	ms.mu.RUnlock()
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
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if mk := ms.m[key]; mk != nil && mk.done != nil {
		return nil
	}
	if ms.m == nil {
		ms.m = map[string]*mark{}
	}
	mk := &mark{done: make(chan struct{})}
	ms.m[key] = mk
	ms.n.Store(int64(len(ms.m)))
	return mk
}

// end ends the render mk of key: the key is marked hit-for-miss for hfm
// when its response could not be stored (hfm > 0), and unmarked otherwise.
// Waiters are let go after the mark changed, so they see it.
func (ms *marks) end(key string, mk *mark, hfm time.Duration) {
	ms.mu.Lock()
	if ms.m[key] == mk {
		delete(ms.m, key)
		if hfm > 0 && ms.room() {
			ms.m[key] = &mark{until: time.Now().Add(hfm).UnixNano()}
		}
	}
	ms.n.Store(int64(len(ms.m)))
	ms.mu.Unlock()
	close(mk.done)
}

// room reports whether another mark may be kept, sweeping expired ones
// when full. ms.mu is held.
func (ms *marks) room() bool {
	if len(ms.m) < maxMarks {
		return true
	}
	now := time.Now().UnixNano()
	for k, mk := range ms.m {
		if mk.done == nil && mk.until <= now {
			delete(ms.m, k)
		}
	}
	return len(ms.m) < maxMarks
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
