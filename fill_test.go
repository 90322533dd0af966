package cachekit

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

func TestGetOrSetCoalesces(t *testing.T) {
	synctest.Test(t, testGetOrSetCoalesces)
}

func testGetOrSetCoalesces(t *testing.T) {
	c, _ := newTestCache(t)
	var runs atomic.Int32
	release := make(chan struct{})
	var wg sync.WaitGroup
	const n = 1000
	results := make([][]byte, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			v, err := c.GetOrSet("cold", time.Minute, func() ([]byte, error) {
				runs.Add(1)
				<-release
				return []byte("value"), nil
			})
			if err != nil {
				t.Error(err)
			}
			results[i] = v
		}(i)
	}
	// Every goroutine reaches the cache: one runs the loader, the others wait
	// for it. Then the loader finishes.
	synctest.Wait()
	close(release)
	wg.Wait()
	if r := runs.Load(); r != 1 {
		t.Fatalf("loader ran %d times for %d concurrent misses", r, n)
	}
	for i, v := range results {
		if string(v) != "value" {
			t.Fatalf("goroutine %d got %q", i, v)
		}
	}
	if s := c.Stats(); s.Coalesced != n-1 {
		t.Errorf("Coalesced = %d, want %d", s.Coalesced, n-1)
	}
}

func TestNoStoreIsNotShared(t *testing.T) {
	synctest.Test(t, testNoStoreIsNotShared)
}

func testNoStoreIsNotShared(t *testing.T) {
	c, _ := newTestCache(t)
	var runs atomic.Int32
	release := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r, err := c.Load("personal", Policy{TTL: time.Minute}, func(p *Policy) ([]byte, error) {
				runs.Add(1)
				<-release
				p.NoStore = true
				return []byte(fmt.Sprint("for ", i)), nil
			})
			if err != nil || string(r.Value) != fmt.Sprint("for ", i) {
				t.Errorf("goroutine %d got %q (%v): another caller's value", i, r.Value, err)
			}
		}(i)
	}
	synctest.Wait() // one fill runs, the others wait for it
	close(release)
	wg.Wait()
	if runs.Load() != 20 {
		t.Errorf("fill ran %d times, want 20", runs.Load())
	}
	if _, ok, _ := c.Get("personal"); ok {
		t.Error("NoStore value stored")
	}
}

func TestStaleWhileRevalidate(t *testing.T) {
	synctest.Test(t, testStaleWhileRevalidate)
}

func testStaleWhileRevalidate(t *testing.T) {
	c, _ := newTestCache(t)
	p := Policy{TTL: time.Minute, StaleWhileRevalidate: time.Minute}
	var fills atomic.Int32
	gate := make(chan struct{}) // holds the refresh until the stale reads are done
	fill := func(*Policy) ([]byte, error) {
		n := fills.Add(1)
		if n > 1 {
			<-gate
		}
		return []byte(fmt.Sprint("v", n)), nil
	}
	r, _ := c.Load("k", p, fill)
	if r.Status != Miss || string(r.Value) != "v1" {
		t.Fatalf("first load: %v %q", r.Status, r.Value)
	}
	time.Sleep(90 * time.Second) // stale, inside the window
	for i := 0; i < 5; i++ {
		r, err := c.Load("k", p, fill)
		if err != nil || r.Status != Stale || string(r.Value) != "v1" {
			t.Fatalf("stale load %d: %v %q %v", i, r.Status, r.Value, err)
		}
	}
	close(gate)
	synctest.Wait() // the refresh has landed
	r, _ = c.Lookup("k")
	if r.Status != Hit || string(r.Value) != "v2" {
		t.Fatalf("after refresh: %v %q", r.Status, r.Value)
	}
	if n := fills.Load(); n != 2 {
		t.Fatalf("fill ran %d times; one refresh expected", n)
	}
	time.Sleep(3 * time.Minute) // beyond both windows
	r, _ = c.Load("k", p, func(*Policy) ([]byte, error) { return []byte("v3"), nil })
	if r.Status != Miss || string(r.Value) != "v3" {
		t.Fatalf("beyond the stale window: %v %q", r.Status, r.Value)
	}
}

func TestStaleIfError(t *testing.T) {
	synctest.Test(t, testStaleIfError)
}

func testStaleIfError(t *testing.T) {
	c, _ := newTestCache(t)
	p := Policy{TTL: time.Minute, StaleIfError: time.Hour}
	fail := errors.New("database down")
	c.Load("k", p, func(*Policy) ([]byte, error) { return []byte("good"), nil })
	time.Sleep(2 * time.Minute)
	r, err := c.Load("k", p, func(*Policy) ([]byte, error) { return nil, fail })
	if err != nil || r.Status != Stale || string(r.Value) != "good" || !errors.Is(r.FillErr, fail) {
		t.Fatalf("stale-if-error: %v %q err=%v fillErr=%v", r.Status, r.Value, err, r.FillErr)
	}
	// A successful fill replaces it.
	r, _ = c.Load("k", p, func(*Policy) ([]byte, error) { return []byte("new"), nil })
	if r.Status != Miss || string(r.Value) != "new" {
		t.Fatalf("refill: %v %q", r.Status, r.Value)
	}
	time.Sleep(2 * time.Hour)
	if _, err := c.Load("k", p, func(*Policy) ([]byte, error) { return nil, fail }); !errors.Is(err, fail) {
		t.Fatalf("beyond stale-if-error: err = %v", err)
	}
	// Outside the stale window Lookup is a plain miss.
	if r, _ := c.Lookup("k"); r.Status != Miss || r.Value != nil {
		t.Fatalf("Lookup: %v %q", r.Status, r.Value)
	}
}

// A tag added by the fill, invalidated while the fill ran: the value may
// predate the invalidation, so it is not stored.
func TestLateTagInvalidatedDuringFill(t *testing.T) {
	c, _ := newTestCache(t)
	// A brand-new tag, with no invalidation during the fill: stored.
	r0, _ := c.Load("fresh-tag", Policy{TTL: time.Minute}, func(p *Policy) ([]byte, error) {
		p.Tags = append(p.Tags, "brand-new")
		return []byte("v"), nil
	})
	if !r0.Stored {
		t.Fatal("value with a brand-new late tag not stored though nothing was invalidated")
	}
	c.InvalidateTags("late") // the tag exists
	r, _ := c.Load("k", Policy{TTL: time.Minute}, func(p *Policy) ([]byte, error) {
		c.InvalidateTags("late") // an edit lands while the page renders
		p.Tags = append(p.Tags, "late")
		return []byte("maybe old"), nil
	})
	if r.Stored {
		t.Fatal("value stored though its late tag moved during the fill")
	}
	if c.Stats().RaceSkips != 1 {
		t.Errorf("RaceSkips = %d", c.Stats().RaceSkips)
	}
	r, _ = c.Load("k", Policy{TTL: time.Minute}, func(p *Policy) ([]byte, error) {
		p.Tags = append(p.Tags, "late")
		return []byte("new"), nil
	})
	if !r.Stored {
		t.Fatal("quiet fill with a late tag not stored")
	}
	c.InvalidateTags("late")
	if _, ok, _ := c.Get("k"); ok {
		t.Fatal("late tag did not invalidate")
	}
}

// A caller that misses after an invalidation, while a fill that began
// before it is still running, renders its own value.
func TestLateJoinerAfterInvalidation(t *testing.T) {
	synctest.Test(t, testLateJoinerAfterInvalidation)
}

func testLateJoinerAfterInvalidation(t *testing.T) {
	c, _ := newTestCache(t)
	started, gate := make(chan struct{}), make(chan struct{})
	var leader []byte
	done := make(chan struct{})
	go func() {
		r, _ := c.Load("page", Policy{TTL: time.Minute}, func(*Policy) ([]byte, error) {
			close(started)
			<-gate
			return []byte("before the edit"), nil
		})
		leader = r.Value
		close(done)
	}()
	<-started
	c.InvalidateTags("product:1") // the edit lands while the page renders
	var follower Result
	joined := make(chan struct{})
	go func() {
		follower, _ = c.Load("page", Policy{TTL: time.Minute}, func(*Policy) ([]byte, error) {
			return []byte("after the edit"), nil
		})
		close(joined)
	}()
	synctest.Wait() // the follower waits inside the leader's flight
	close(gate)
	<-done
	<-joined
	if string(leader) != "before the edit" || string(follower.Value) != "after the edit" {
		t.Fatalf("leader %q, follower %q", leader, follower.Value)
	}
}

// Policy.Absent: Load fills without looking the key up (a value stored
// there is not returned but replaced), once for concurrent callers, and
// stores the fill's value as on any miss.
func TestLoadAbsent(t *testing.T) { synctest.Test(t, testLoadAbsent) }

func testLoadAbsent(t *testing.T) {
	c, _ := newTestCache(t)
	if err := c.Set("k", []byte("old"), time.Minute); err != nil {
		t.Fatal(err)
	}
	var fills atomic.Int32
	gate := make(chan struct{})
	fill := func(*Policy) ([]byte, error) {
		fills.Add(1)
		<-gate
		return []byte("new"), nil
	}
	p := Policy{TTL: time.Minute, Absent: true}
	var wg sync.WaitGroup
	results := make([]Result, 8)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], _ = c.Load("k", p, fill)
		}()
	}
	synctest.Wait() // every caller is in the fill or waiting for it
	close(gate)
	wg.Wait()
	if n := fills.Load(); n != 1 {
		t.Fatalf("fill ran %d times, want once", n)
	}
	if n := c.Stats().Coalesced; n != uint64(len(results)-1) {
		t.Fatalf("%d callers coalesced, want %d", n, len(results)-1)
	}
	for i, r := range results {
		if r.Status != Miss || string(r.Value) != "new" {
			t.Fatalf("caller %d: %v %q, want a miss with the fill's value", i, r.Status, r.Value)
		}
	}
	if r, _ := c.Lookup("k"); r.Status != Hit || string(r.Value) != "new" {
		t.Fatalf("after: %v %q, want the fill's value stored", r.Status, r.Value)
	}
}
