package cachekit

import (
	"sync/atomic"
	"testing"
	"time"
)

// panicAtomic is a real Memory seen as an external Atomic store whose
// driver panics in its read-modify-write calls while bad is set.
type panicAtomic struct {
	*Memory
	bad atomic.Bool
}

func (p *panicAtomic) SetIfAbsent(key string, val []byte, exp time.Duration) (bool, error) {
	if p.bad.Load() {
		panic("driver bug")
	}
	return p.Memory.SetIfAbsent(key, val, exp)
}

func (p *panicAtomic) CompareAndSwap(key string, old, val []byte, exp time.Duration) (bool, error) {
	if p.bad.Load() {
		panic("driver bug")
	}
	return p.Memory.CompareAndSwap(key, old, val, exp)
}

// A store whose Atomic calls panic fails Add and Incr with an error, as the
// guard's own calls do, and does not take the caller (or the process) down.
func TestReviewAtomicStorePanicIsAnError(t *testing.T) {
	s := &panicAtomic{Memory: newTestMemory(t, MemoryConfig{MaxBytes: 8 << 20})}
	c := New(Config{Storage: s, Timeout: time.Second, Logger: quiet()})
	if _, ok := c.atomics(); !ok {
		t.Fatal("not seen as Atomic")
	}
	s.bad.Store(true)
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("Add panicked: %v", r)
			}
		}()
		if _, err := c.Add("k", []byte("1"), time.Minute); err == nil {
			t.Fatal("Add on a panicking store: no error")
		}
	}()
	s.bad.Store(false)
	if added, err := c.Add("k", []byte("1"), time.Minute); err != nil || !added {
		t.Fatalf("Add once the store is sound: %v %v", added, err)
	}
}
