package cachekit

import (
	"context"
	"sync"
	"testing"
	"time"
)

// A caller that waits for a fill run under another caller's context does not
// fail because that other caller went away (its client disconnected).
func TestReviewWaiterNotFailedByLeadersCancel(t *testing.T) {
	c := New(Config{Storage: newTestMemory(t, MemoryConfig{MaxBytes: 8 << 20}), Logger: quiet()})
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.LoadContext(ctx, "k", Policy{TTL: time.Minute}, func(p *Policy) ([]byte, error) {
			close(started)
			select { // a fill that honours its context, as it should
			case <-p.Context().Done():
				return nil, p.Context().Err()
			case <-time.After(2 * time.Second):
				return []byte("v"), nil
			}
		})
	}()
	<-started
	res := make(chan error, 1)
	go func() {
		r, err := c.Load("k", Policy{TTL: time.Minute}, func(p *Policy) ([]byte, error) { return []byte("v"), nil })
		if err == nil && string(r.Value) != "v" {
			t.Errorf("value %q", r.Value)
		}
		res <- err
	}()
	time.Sleep(50 * time.Millisecond) // the second caller waits in the flight
	cancel()                          // the first caller's client went away
	wg.Wait()
	if err := <-res; err != nil {
		t.Fatalf("a waiter failed with the leader's cancellation: %v", err)
	}
}
