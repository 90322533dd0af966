package cachekit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
)

// ErrCircuitOpen is returned, wrapped, for a storage call not made because
// the store failed repeatedly and the circuit is open.
var ErrCircuitOpen = errors.New("cachekit: storage circuit open")

// ErrTimeout is returned, wrapped, for a storage call that took longer than
// Config.Timeout.
var ErrTimeout = errors.New("cachekit: storage call timed out")

// The drivers in gofiber/storage offer context-aware calls; a timeout through
// them cancels the call instead of leaving it running.
type contextStorage interface {
	GetWithContext(ctx context.Context, key string) ([]byte, error)
	SetWithContext(ctx context.Context, key string, val []byte, exp time.Duration) error
	DeleteWithContext(ctx context.Context, key string) error
}

// guard bounds every call to an external store by a timeout, and stops
// calling a store that keeps failing for a while (a circuit breaker), then
// lets one call through to probe it. A closed circuit costs one atomic load.
type guard struct {
	fiber.Storage
	ctxs      contextStorage // Storage, when it takes a context
	timeout   time.Duration  // set by newGuard, like the fields above
	threshold int32
	cooldown  time.Duration

	// The circuit's state, read with atomic loads: done changes it under mu;
	// allow only claims the probe, with a CompareAndSwap of probing.
	mu        sync.Mutex   // serialises done's changes of failures, openUntil and probing
	failures  atomic.Int32 // consecutive
	openUntil atomic.Int64 // unix nanoseconds; 0 when closed
	probing   atomic.Bool  // a caller is probing a store after the cooldown

	timeouts atomic.Uint64 // counters, for Stats
	skipped  atomic.Uint64
	opened   atomic.Uint64
}

func newGuard(s fiber.Storage, timeout, cooldown time.Duration, threshold int) *guard {
	g := &guard{Storage: s, timeout: timeout, cooldown: cooldown, threshold: int32(threshold)}
	g.ctxs, _ = s.(contextStorage)
	return g
}

// allow reports whether a call may go to the store now.
func (g *guard) allow() bool {
	until := g.openUntil.Load()
	if until == 0 {
		return true
	}
	if time.Now().UnixNano() < until {
		g.skipped.Add(1)
		return false
	}
	// Cooldown over: one caller probes, the others keep skipping.
	if g.probing.CompareAndSwap(false, true) {
		return true
	}
	g.skipped.Add(1)
	return false
}

func (g *guard) done(err error) {
	if err == nil {
		if g.failures.Load() != 0 || g.openUntil.Load() != 0 || g.probing.Load() {
			g.mu.Lock()
			g.failures.Store(0)
			g.openUntil.Store(0)
			g.probing.Store(false)
			g.mu.Unlock()
		}
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.probing.Load() {
		// The probe failed: stay open for another cooldown.
		g.openUntil.Store(time.Now().Add(g.cooldown).UnixNano())
		g.probing.Store(false)
		return
	}
	if g.failures.Add(1) >= g.threshold && g.openUntil.Load() == 0 {
		g.openUntil.Store(time.Now().Add(g.cooldown).UnixNano())
		g.opened.Add(1)
	}
}

// Get reads key under the guard.
func (g *guard) Get(key string) ([]byte, error) {
	return g.call("get", key,
		func(ctx context.Context) ([]byte, error) { return g.ctxs.GetWithContext(ctx, key) },
		func() ([]byte, error) { return g.Storage.Get(key) })
}

// Set writes key under the guard.
func (g *guard) Set(key string, val []byte, exp time.Duration) error {
	_, err := g.call("set", key,
		func(ctx context.Context) ([]byte, error) { return nil, g.ctxs.SetWithContext(ctx, key, val, exp) },
		func() ([]byte, error) { return nil, g.Storage.Set(key, val, exp) })
	return err
}

// Delete removes key under the guard.
func (g *guard) Delete(key string) error {
	_, err := g.call("delete", key,
		func(ctx context.Context) ([]byte, error) { return nil, g.ctxs.DeleteWithContext(ctx, key) },
		func() ([]byte, error) { return nil, g.Storage.Delete(key) })
	return err
}

// call runs one storage operation: skipped while the circuit is open,
// bounded by the timeout otherwise.
func (g *guard) call(op, key string, withCtx func(context.Context) ([]byte, error), plain func() ([]byte, error)) ([]byte, error) {
	if !g.allow() {
		return nil, fmt.Errorf("%s %q: %w", op, key, ErrCircuitOpen)
	}
	var v []byte
	var err error
	if g.ctxs != nil {
		ctx, cancel := context.WithTimeout(context.Background(), g.timeout)
		v, err = withCtx(ctx)
		cancel()
		if err != nil && errors.Is(err, context.DeadlineExceeded) {
			g.timeouts.Add(1)
			err = fmt.Errorf("%w after %v: %w", ErrTimeout, g.timeout, err)
		}
	} else {
		v, err = g.wait(plain)
	}
	g.done(err)
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w", op, key, err)
	}
	return v, nil
}

// wait runs a call that takes no context on its own goroutine and gives up
// waiting after the timeout; the call ends on its own.
func (g *guard) wait(plain func() ([]byte, error)) ([]byte, error) {
	type result struct {
		v   []byte
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := plain()
		ch <- result{v, err}
	}()
	t := time.NewTimer(g.timeout)
	defer t.Stop()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-t.C:
		g.timeouts.Add(1)
		return nil, fmt.Errorf("%w after %v", ErrTimeout, g.timeout)
	}
}
