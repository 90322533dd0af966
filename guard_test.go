package cachekit

import (
	"errors"
	"io"
	"log/slog"
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

func testCircuitBreaker(t *testing.T) {
	f := &flaky{Memory: newTestMemory(t, MemoryConfig{MaxBytes: 4 << 20})}
	c := New(Config{Storage: f, CircuitThreshold: 3, CircuitCooldown: 50 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	f.fail.Store(true)
	load := func() ([]byte, error) { return []byte("v"), nil }
	for i := 0; i < 20; i++ {
		if v, err := c.GetOrSet("k", time.Minute, load); err != nil || string(v) != "v" {
			t.Fatalf("GetOrSet with a dead store: %q %v", v, err)
		}
	}
	s := c.Stats()
	if !s.CircuitOpen || s.CircuitOpens != 1 || s.Skipped == 0 {
		t.Fatalf("circuit did not open: %+v", s)
	}
	calls := f.calls.Load()
	c.GetOrSet("k", time.Minute, load)
	if f.calls.Load() != calls {
		t.Fatal("an open circuit still calls the store")
	}
	// The store comes back; after the cooldown one probe closes the circuit.
	f.fail.Store(false)
	time.Sleep(60 * time.Millisecond)
	c.GetOrSet("k", time.Minute, load)
	if c.Stats().CircuitOpen {
		t.Fatal("circuit still open after a successful probe")
	}
	c.GetOrSet("k", time.Minute, load)
	if _, ok, _ := c.Get("k"); !ok {
		t.Fatal("caching did not resume without a restart")
	}
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
