package cachekit

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"
)

// refusedTagWrites is a real Memory seen as a shared store whose writes of
// one key (a tag's generation) fail while its reads work: a Redis out of
// memory under noeviction answers GET and refuses SET.
type refusedTagWrites struct {
	*Memory
	key  atomic.Pointer[string]
	fail atomic.Bool
}

func (s *refusedTagWrites) Set(k string, v []byte, ttl time.Duration) error {
	if s.fail.Load() && s.key.Load() != nil && *s.key.Load() == k {
		return errors.New("OOM command not allowed when used memory > 'maxmemory'")
	}
	return s.Memory.Set(k, v, ttl)
}

// onLog runs f on the first record logged.
type onLog struct {
	slog.Handler
	f    func()
	done atomic.Bool
}

func (h *onLog) Handle(ctx context.Context, r slog.Record) error {
	if h.done.CompareAndSwap(false, true) {
		h.f()
	}
	return nil
}

// An InvalidateTags (or a Clear) whose write the store refuses leaves the
// tag pending: this instance reads every entry under it as a miss until a
// retry lands. A read made after the invalidation moved the hot layer's
// counters, but before the tag was recorded as pending (here: while the
// error is logged), must not validate the old entry against the store's
// old generation and keep it hot, to be served after the call returned.
func TestPendingTagLeavesNoHotCopy(t *testing.T) {
	for _, tc := range []struct {
		name       string
		tag        string
		invalidate func(c *Cache) error
	}{
		{"InvalidateTags", "t", func(c *Cache) error { return c.InvalidateTags("t") }},
		{"Clear", clearTag, func(c *Cache) error { return c.Clear() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := &refusedTagWrites{Memory: newTestMemory(t, MemoryConfig{MaxBytes: 8 << 20})}
			var c *Cache
			h := &onLog{Handler: slog.NewTextHandler(discard{}, nil), f: func() {
				_, _, _ = c.Get("k") // after the invalidation's drop, before it returns
			}}
			c = New(Config{Storage: store, Prefix: "pw", Bus: &localBus{}, Local: newTestMemory(t, MemoryConfig{MaxBytes: 4 << 20}),
				Logger: slog.New(h)})
			if c.Err() != nil || c.hot == nil {
				t.Fatalf("two-level Cache with a Bus: err %v, hot %v", c.Err(), c.hot != nil)
			}
			t.Cleanup(func() { c.Close() })
			tk := c.keys.storageKey(kindTag, tc.tag)
			store.key.Store(&tk)
			if err := c.Set("k", []byte("old"), time.Hour, "t"); err != nil {
				t.Fatal(err)
			}
			for range 2 { // the second read is a hot hit
				if _, ok, _ := c.Get("k"); !ok {
					t.Fatal("the entry is not read")
				}
			}
			store.fail.Store(true)
			if err := tc.invalidate(c); err == nil {
				t.Fatal("the store took the write it refuses")
			}
			if !h.done.Load() {
				t.Fatal("the refused write was not logged")
			}
			if v, ok, _ := c.Get("k"); ok {
				t.Fatalf("after %s failed (pending), Get = %q: a hot copy kept during it", tc.name, v)
			}
		})
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
