package cachekit

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// refusingAtomic is a real Memory seen as an external Atomic store that
// refuses writes of one key while refuse is set.
type refusingAtomic struct {
	*Memory
	key    string
	refuse atomic.Bool
}

func (s *refusingAtomic) Set(k string, v []byte, exp time.Duration) error {
	if k == s.key && s.refuse.Load() {
		return errors.New("store refused the write")
	}
	return s.Memory.Set(k, v, exp)
}

// An invalidation the store did not take is never lost here: GetMany's
// two-round-trip path does not serve what it invalidated either.
func TestReviewGetManyPendingInvalidation(t *testing.T) {
	s := &refusingAtomic{Memory: newTestMemory(t, MemoryConfig{MaxBytes: 8 << 20})}
	c := New(Config{Storage: s, Logger: quiet(), HotBytes: -1})
	s.key = c.keys.storageKey(kindTag, "t")
	for _, k := range []string{"a", "b"} {
		if err := c.Set(k, []byte(k), time.Hour, "t"); err != nil {
			t.Fatal(err)
		}
	}
	s.refuse.Store(true)
	if err := c.InvalidateTags("t"); err == nil {
		t.Fatal("no error from a refused invalidation")
	}
	s.refuse.Store(false) // back, with the old generation, before the retry
	if _, ok, _ := c.Get("a"); ok {
		t.Fatal("Get served an invalidated entry")
	}
	if m, _ := c.GetMany("a", "b"); len(m) != 0 {
		t.Fatalf("GetMany served invalidated entries: %q", m)
	}
}
