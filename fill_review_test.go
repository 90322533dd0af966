package cachekit

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// slowGet is a real Memory whose Gets take longer than the Cache's Timeout
// while slow is set: every lookup fails with ErrTimeout (store down).
type slowGet struct {
	*Memory
	slow atomic.Bool
}

func (s *slowGet) Get(k string) ([]byte, error) {
	if s.slow.Load() {
		time.Sleep(60 * time.Millisecond)
	}
	return s.Memory.Get(k)
}

// With the store down, a fill that sets NoStore still gives its value to
// its own caller only: a caller waiting on the same key runs its own fill.
func TestReviewStoreDownNoStoreNotShared(t *testing.T) {
	s := &slowGet{Memory: newTestMemory(t, MemoryConfig{MaxBytes: 8 << 20})}
	c := New(Config{Storage: s, Timeout: 10 * time.Millisecond, Logger: quiet()})
	s.slow.Store(true)
	var wg sync.WaitGroup
	var got [2]string
	for i, who := range []string{"alice", "bob"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(i) * 60 * time.Millisecond)
			r, err := c.Load("k", Policy{TTL: time.Minute}, func(p *Policy) ([]byte, error) {
				p.NoStore = true // personal to this caller
				time.Sleep(300 * time.Millisecond)
				return []byte(who), nil
			})
			if err != nil {
				t.Error(err)
			}
			got[i] = string(r.Value)
		}()
	}
	wg.Wait()
	if got[0] != "alice" || got[1] != "bob" {
		t.Fatalf("a NoStore value reached another caller: alice got %q, bob got %q (coalesced %d)", got[0], got[1], c.Stats().Coalesced)
	}
}
