package cachekit

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// clearStore is a real Memory standing for a shared store (not a *Memory
// to the Cache) whose writes or reads of the key-space generation can fail
// or lag.
type clearStore struct {
	*Memory
	key     string
	failSet atomic.Bool
	slowGet atomic.Bool
	reading chan struct{}
}

func (s *clearStore) Set(k string, v []byte, exp time.Duration) error {
	if k == s.key && s.failSet.Load() {
		return errors.New("store refused the write")
	}
	return s.Memory.Set(k, v, exp)
}

func (s *clearStore) Get(k string) ([]byte, error) {
	v, err := s.Memory.Get(k)
	if k == s.key && s.slowGet.Load() {
		s.slowGet.Store(false)
		close(s.reading)
		time.Sleep(200 * time.Millisecond) // the answer is on its way
	}
	return v, err
}

func newClearStore(t *testing.T) (*clearStore, *Cache) {
	s := &clearStore{Memory: newTestMemory(t, MemoryConfig{MaxBytes: 8 << 20}), reading: make(chan struct{})}
	c := New(Config{Storage: s, Timeout: 5 * time.Second, Logger: quiet()})
	s.key = c.keys.storageKey(kindTag, clearTag)
	return s, c
}

// A Clear the store did not take is still seen here: once the store is
// back, the entries from before it are not served again.
func TestReviewClearNotTakenStaysHere(t *testing.T) {
	s, c := newClearStore(t)
	if err := c.Set("k", []byte("old"), time.Hour); err != nil {
		t.Fatal(err)
	}
	s.failSet.Store(true)
	if err := c.Clear(); err == nil {
		t.Fatal("Clear on a store that refused the write: no error")
	}
	s.failSet.Store(false) // the store is back, with the old generation
	if v, ok, _ := c.Get("k"); ok {
		t.Fatalf("after this instance's Clear, Get served %q", v)
	}
}

// A read of the key-space generation that began before a Clear and ended
// after it does not put the old generation back in this instance's copy.
func TestReviewClearRacingSpaceRead(t *testing.T) {
	s, c := newClearStore(t)
	// Another instance wrote the entry; this one has no copy yet.
	other := New(Config{Storage: s, Timeout: 5 * time.Second, Logger: quiet()})
	if err := other.Set("k", []byte("old"), time.Hour); err != nil {
		t.Fatal(err)
	}
	s.slowGet.Store(true)
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Get("k") // began before the Clear: may see "old"
	}()
	<-s.reading
	if err := c.Clear(); err != nil {
		t.Fatal(err)
	}
	<-done
	if v, ok, _ := c.Get("k"); ok {
		t.Fatalf("after this instance's Clear, Get served %q", v)
	}
}
