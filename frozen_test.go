package cachekit

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cachekit/cachekit/internal/testserver"
)

// A redis-server frozen by SIGSTOP, through gofiber's redis.New (go-redis
// with its 3 s read timeout, deadlines ignored): every call of the core
// returns within the Timeout and a margin, from many goroutines at once;
// the abandoned calls stay bounded; values are always right; after SIGCONT
// caching resumes, and the invalidation made while frozen is not lost.
func TestRedisFrozenCore(t *testing.T) {
	server := testserver.Redis(t)
	store := redisStore(t, server.Addr)
	// A Timeout long beside what a loaded machine adds to a call (a few
	// hundred ms under -race at load 15), so that the bounds below test
	// the Timeout, not the machine.
	const timeout = time.Second
	c := New(Config{Storage: store, Timeout: timeout, MaxAbandoned: 32, Logger: quiet()})
	for i := 0; i < 20; i++ {
		c.Set(fmt.Sprint("k", i), []byte(fmt.Sprint("v", i)), time.Hour, "t")
	}
	server.Stop()
	defer server.Cont()
	var mu sync.Mutex
	var slowest time.Duration
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				key := fmt.Sprint("k", (w+i)%30)
				start := time.Now()
				v, err := c.GetOrSet(key, time.Hour, func() ([]byte, error) { return []byte("fresh " + key), nil }, "t")
				d := time.Since(start)
				if err != nil || (string(v) != "fresh "+key && string(v) != "v"+key[1:]) {
					t.Errorf("GetOrSet(%s) with Redis frozen: %q %v", key, v, err)
				}
				mu.Lock()
				slowest = max(slowest, d)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	start := time.Now()
	err := c.InvalidateTags("t", "u", "w")
	took := time.Since(start)
	if err == nil {
		t.Fatal("InvalidateTags with Redis frozen: no error")
	}
	s := c.Stats()
	t.Logf("slowest GetOrSet %v, InvalidateTags %v; %+v", slowest, took, s)
	if slowest > 2*timeout+timeout/2 || took > timeout+timeout/2 {
		t.Fatalf("a call waited %v, InvalidateTags %v, with Redis frozen (Timeout %v)", slowest, took, timeout)
	}
	if s.Timeouts == 0 || s.Running > 32 {
		t.Fatalf("timeouts not counted, or abandoned calls past the bound: %+v", s)
	}
	if _, ok, _ := c.Get("k1"); ok {
		t.Fatal("an entry served after its tag was invalidated")
	}
	if !errors.Is(err, ErrTimeout) && !errors.Is(err, ErrCircuitOpen) {
		t.Fatalf("InvalidateTags: %v", err)
	}

	server.Cont()
	// A bound on resuming at all, not on how fast (measured elsewhere): a
	// loaded 2-core machine under -race takes seconds to drain the calls
	// the freeze left running.
	deadline := time.Now().Add(30 * time.Second)
	for {
		c.Set("after", []byte("x"), time.Hour)
		if _, ok, _ := c.Get("after"); ok && c.pending.n.Load() == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("caching did not resume, or the pending invalidation never landed: %+v", c.Stats())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Another instance, which never saw the invalidation, reads it from Redis.
	other := New(Config{Storage: store, Logger: quiet()})
	if _, ok, _ := other.Get("k1"); ok {
		t.Fatal("the invalidation made while Redis was frozen was lost")
	}
}
