package cachekit

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// An InvalidateTags (or a Bus message for a tag) moves the tag's hot-layer
// counter and then empties every render's memo (Cache.tagChanges). A read
// under a memo that falls between the two must not take the memo's old
// generation as current: it would validate an entry of the old generation
// against the moved counter and keep it in the hot layer, where every
// later request would hit it after InvalidateTags returned. Here a render
// reads an entry under its memo in a loop while the tag is invalidated;
// once InvalidateTags has returned, a plain read must miss.
func TestTagMemoReadDuringInvalidateNeverKeepsTheOldEntry(t *testing.T) {
	store := shared{newTestMemory(t, MemoryConfig{MaxBytes: 8 << 20})}
	// A Timeout of 10 s: under load a 100 ms call timed out (seen at load 11).
	c := New(Config{Storage: store, Prefix: "mr", Bus: &localBus{}, Local: newTestMemory(t, MemoryConfig{MaxBytes: 4 << 20}), Timeout: 10 * time.Second,
		LocalTTL: time.Minute})
	if c.Err() != nil || c.hot == nil {
		t.Fatalf("two-level Cache with a Bus: err %v, hot %v", c.Err(), c.hot != nil)
	}
	t.Cleanup(func() { c.Close() })
	trials := 3000
	if testing.Short() {
		trials = 300
	}
	for i := range trials {
		tag, key := "t"+strconv.Itoa(i), "k"+strconv.Itoa(i)
		if err := c.Set(key, []byte("old"), time.Hour, tag); err != nil {
			t.Fatal(err)
		}
		ctx := c.TagMemo(context.Background())
		if _, ok, err := c.GetContext(ctx, key); !ok || err != nil {
			t.Fatalf("trial %d: the entry is not read: %v %v", i, ok, err)
		}
		var stop atomic.Bool
		var wg sync.WaitGroup
		started := make(chan struct{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			close(started)
			for !stop.Load() {
				_, _, _ = c.GetContext(ctx, key)
			}
		}()
		<-started
		if err := c.InvalidateTags(tag); err != nil {
			t.Fatal(err)
		}
		stop.Store(true)
		wg.Wait()
		if v, ok, _ := c.Get(key); ok {
			t.Fatalf("trial %d: after InvalidateTags(%q) returned, Get(%q) = %q (kept by a read under a render's memo)", i, tag, key, v)
		}
	}
}
