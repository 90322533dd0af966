package cachekit

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// flaky is the real Memory store with faults injected on demand.
type flaky struct {
	*Memory
	fail  atomic.Bool
	delay atomic.Int64 // nanoseconds every call sleeps
	calls atomic.Int64
}

var errInjected = errors.New("injected storage fault")

func (f *flaky) Get(k string) ([]byte, error) {
	f.calls.Add(1)
	if d := f.delay.Load(); d > 0 {
		time.Sleep(time.Duration(d))
	}
	if f.fail.Load() {
		return nil, errInjected
	}
	return f.Memory.Get(k)
}

func (f *flaky) Set(k string, v []byte, d time.Duration) error {
	f.calls.Add(1)
	if f.fail.Load() {
		return errInjected
	}
	if w := f.delay.Load(); w > 0 {
		time.Sleep(time.Duration(w))
	}
	return f.Memory.Set(k, v, d)
}

func TestCircuitBreaker(t *testing.T) {
	synctest.Test(t, testCircuitBreaker)
}

// A store that hangs for every key: after CircuitThreshold timeouts on
// different keys the whole store's circuit opens; after the cooldown one
// probe closes it and caching resumes.
func testCircuitBreaker(t *testing.T) {
	f := &flaky{Memory: newTestMemory(t, MemoryConfig{MaxBytes: 4 << 20})}
	c := New(Config{Storage: f, Timeout: 20 * time.Millisecond, CircuitThreshold: 3, CircuitCooldown: 50 * time.Millisecond, Logger: quiet()})
	f.delay.Store(int64(time.Second))
	load := func() ([]byte, error) { return []byte("v"), nil }
	for i := 0; i < 20; i++ {
		start := time.Now()
		if v, err := c.GetOrSet(fmt.Sprint("k", i), time.Minute, load); err != nil || string(v) != "v" {
			t.Fatalf("GetOrSet with a hung store: %q %v", v, err)
		}
		if d := time.Since(start); d > 25*time.Millisecond {
			t.Fatalf("one GetOrSet waited %v: more than one Timeout", d)
		}
	}
	s := c.Stats()
	if !s.CircuitOpen || s.Skipped == 0 || s.Timeouts != 3 {
		t.Fatalf("circuit did not open after 3 timeouts: %+v", s)
	}
	calls := f.calls.Load()
	c.GetOrSet("other", time.Minute, load)
	if f.calls.Load() != calls {
		t.Fatal("an open circuit still calls the store")
	}
	// The store comes back; after the cooldown one probe closes the circuit.
	f.delay.Store(0)
	time.Sleep(2 * time.Second) // the abandoned calls end, the cooldowns pass
	if s := c.Stats(); s.Running != 0 || s.Abandoned == 0 {
		t.Fatalf("abandoned calls: %+v", s)
	}
	c.GetOrSet("k", time.Minute, load)
	if c.Stats().CircuitOpen {
		t.Fatal("circuit still open after a successful probe")
	}
	c.GetOrSet("k", time.Minute, load)
	if _, ok, _ := c.Get("k"); !ok {
		t.Fatal("caching did not resume without a restart")
	}
}

// A store that refuses at once (a dead node: connection refused) opens no
// circuit: the calls cost nothing, and the keys that work stay cached.
func TestFastFailuresOpenNoCircuit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &shardy{Memory: newTestMemory(t, MemoryConfig{MaxBytes: 4 << 20})}
		c := New(Config{Storage: f, Timeout: 20 * time.Millisecond, CircuitThreshold: 2, Logger: quiet()})
		for i := 0; i < 300; i++ {
			key := fmt.Sprint("k", i%30)
			v, err := c.GetOrSet(key, time.Minute, func() ([]byte, error) { return []byte(key), nil })
			if err != nil || string(v) != key {
				t.Fatalf("GetOrSet: %q %v", v, err)
			}
		}
		s := c.Stats()
		if s.CircuitOpens != 0 || s.Skipped != 0 {
			t.Fatalf("fast failures opened a circuit: %+v", s)
		}
		if s.Hits < 150 {
			t.Fatalf("%d hits of 300: the live shards' keys should stay cached", s.Hits)
		}
	})
}

// One hung shard of three: its keys' groups open, the others' stay
// closed, and the hit ratio stays near two thirds, even when two hung keys
// in a row open the whole store's circuit for a moment.
func TestOneHungShard(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &shardy{Memory: newTestMemory(t, MemoryConfig{MaxBytes: 4 << 20}), hang: true}
		c := New(Config{Storage: f, Timeout: 20 * time.Millisecond, CircuitCooldown: 5 * time.Second, Logger: quiet()})
		keys := make([]string, 60)
		for i := range keys {
			keys[i] = fmt.Sprint("page", i)
		}
		// Four clients at once, as a site serves: the answers of the live
		// shards come between the hung shard's timeouts.
		var mu sync.Mutex
		var slowest time.Duration
		var wg sync.WaitGroup
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				time.Sleep(time.Duration(w) * time.Millisecond)
				for round := 0; round < 5; round++ {
					for i := range keys {
						key := keys[(i+w*15)%len(keys)]
						start := time.Now()
						v, err := c.GetOrSet(key, time.Hour, func() ([]byte, error) { return []byte(key), nil })
						if err != nil || string(v) != key {
							t.Errorf("GetOrSet: %q %v", v, err)
						}
						mu.Lock()
						slowest = max(slowest, time.Since(start))
						mu.Unlock()
						time.Sleep(5 * time.Millisecond) // the next request
					}
				}
			}()
		}
		wg.Wait()
		s := c.Stats()
		if r := s.HitRatio(); r < 0.55 {
			t.Fatalf("hit ratio %.2f with one hung shard of three: %+v", r, s)
		}
		if slowest > 45*time.Millisecond {
			t.Fatalf("a call waited %v", slowest)
		}
		time.Sleep(2 * time.Second)
	})
}

// shardy is the real Memory store split in three shards by a hash of the
// key, as a Memcached client does; the last shard is dead: it refuses at
// once or, with hang, never answers.
type shardy struct {
	*Memory
	hang bool
}

func (s *shardy) dead(k string) bool { return crc32.ChecksumIEEE([]byte(k))%3 == 2 }

func (s *shardy) fault(k string) error {
	if !s.dead(k) {
		return nil
	}
	if s.hang {
		time.Sleep(time.Second)
	}
	return errInjected
}

func (s *shardy) Get(k string) ([]byte, error) {
	if err := s.fault(k); err != nil {
		return nil, err
	}
	return s.Memory.Get(k)
}

func (s *shardy) Set(k string, v []byte, d time.Duration) error {
	if err := s.fault(k); err != nil {
		return err
	}
	return s.Memory.Set(k, v, d)
}

func TestTimeoutBoundsSlowStore(t *testing.T) {
	synctest.Test(t, testTimeoutBoundsSlowStore)
}

func testTimeoutBoundsSlowStore(t *testing.T) {
	f := &flaky{Memory: newTestMemory(t, MemoryConfig{MaxBytes: 4 << 20})}
	c := New(Config{Storage: f, Timeout: 20 * time.Millisecond, CircuitThreshold: 1000, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	f.delay.Store(int64(500 * time.Millisecond))
	start := time.Now()
	v, err := c.GetOrSet("k", time.Minute, func() ([]byte, error) { return []byte("v"), nil })
	if err != nil || string(v) != "v" {
		t.Fatalf("slow store: %q %v", v, err)
	}
	if d := time.Since(start); d > 300*time.Millisecond {
		t.Fatalf("a slow store held the call for %v", d)
	}
	if c.Stats().Timeouts == 0 {
		t.Fatal("timeouts not counted")
	}
	time.Sleep(time.Second) // the abandoned calls end on their own
}
