package cachekit

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
)

// ErrCircuitOpen is returned, wrapped, for a storage call not made because
// the store (or the part of it that holds the key) was too slow recently and
// its circuit is open.
var ErrCircuitOpen = errors.New("cachekit: storage circuit open")

// ErrTimeout is returned, wrapped, for a storage call that took longer than
// Config.Timeout: the Cache stopped waiting for it.
var ErrTimeout = errors.New("cachekit: storage call timed out")

// ErrOverloaded is returned, wrapped, for a storage call not made because
// Config.MaxAbandoned calls the Cache stopped waiting for are still running.
var ErrOverloaded = errors.New("cachekit: too many abandoned storage calls still running")

// The drivers in gofiber/storage offer context-aware calls; through them a
// timeout also cancels the call instead of leaving it running.
type contextStorage interface {
	GetWithContext(ctx context.Context, key string) ([]byte, error)
	SetWithContext(ctx context.Context, key string, val []byte, exp time.Duration) error
	DeleteWithContext(ctx context.Context, key string) error
}

// breakerGroups is the number of key groups with a circuit of their own:
// keys are spread over them by a hash, so a group holds few hot keys, and
// a store node that hangs opens the circuits of its own keys only,
// whatever the client's sharding.
const breakerGroups = 1024

// guard bounds every call to an external store, whatever the store or its
// client does with a context: the call runs on its own goroutine under a
// deadline (Config.Timeout, or the caller's context when sooner), and the
// caller stops waiting when it passes. Calls abandoned that way and still
// running are bounded by maxAbandoned; past it, calls fail at once.
//
// Slow failures (a timeout, or an error after half the timeout) open
// circuits: the key's group at once, for the cooldown, and the whole store
// after threshold slow failures in a row during which no other call was
// answered (a store that hangs for every key, or so it seems: the whole
// store's circuit probes again after a fifth of the cooldown). After a
// slow failure, until a call is answered, calls get half the Timeout: a
// store that hangs costs a request one Timeout and two halves, not one
// Timeout per call. An open circuit skips its calls,
// then lets one call probe. Fast failures (connection refused) open nothing: they cost
// the caller no time, and one dead shard must not shut out the others. A
// closed circuit costs two atomic loads.
type guard struct {
	fiber.Storage
	ctxs         contextStorage // Storage, when it takes a context
	timeout      time.Duration  // set by newGuard, like the fields above
	threshold    int32
	cooldown     time.Duration
	maxAbandoned int64
	seed         maphash.Seed
	reps         *replicas // tag generations' replicas (Config.Replicas); nil: none

	all    breaker // the whole store
	groups [breakerGroups]breaker

	abandoned  atomic.Int64 // calls given up on and still running
	lastAnswer atomic.Int64 // unix nanoseconds of the last call answered (to within a millisecond)

	timeouts  atomic.Uint64 // counters, for Stats
	skipped   atomic.Uint64
	opened    atomic.Uint64
	overload  atomic.Uint64
	abandons  atomic.Uint64
	panics    atomic.Uint64
	slowFails atomic.Uint64
}

// breaker is one circuit, lock-free.
type breaker struct {
	failures  atomic.Int32 // slow failures since the last success
	openUntil atomic.Int64 // unix nanoseconds; 0 when closed
	probing   atomic.Bool  // a caller is probing after the cooldown
}

func newGuard(s fiber.Storage, timeout, cooldown time.Duration, threshold int, maxAbandoned int) *guard {
	g := &guard{Storage: s, timeout: timeout, cooldown: cooldown, threshold: int32(threshold),
		maxAbandoned: int64(maxAbandoned), seed: maphash.MakeSeed()}
	g.ctxs, _ = s.(contextStorage)
	return g
}

// allow reports whether a call may go through b now, and whether it is
// the probe.
func (b *breaker) allow(now int64) (ok, probe bool) {
	until := b.openUntil.Load()
	if until == 0 {
		return true, false
	}
	if now < until {
		return false, false
	}
	if b.probing.CompareAndSwap(false, true) { // one caller probes
		return true, true
	}
	return false, false
}

// success closes b.
func (b *breaker) success() {
	if b.failures.Load() != 0 {
		b.failures.Store(0)
	}
	if b.openUntil.Load() != 0 {
		b.openUntil.Store(0)
	}
	if b.probing.Load() {
		b.probing.Store(false)
	}
}

// failure records a slow failure; it reports whether b opened.
func (b *breaker) failure(threshold int32, cooldown time.Duration) bool {
	until := time.Now().Add(cooldown).UnixNano()
	if b.probing.Load() {
		// The probe failed: stay open for another cooldown.
		b.openUntil.Store(until)
		b.probing.Store(false)
		return false
	}
	if b.failures.Add(1) >= threshold && b.openUntil.CompareAndSwap(0, until) {
		return true
	}
	return false
}

func (g *guard) group(key string) *breaker {
	return &g.groups[maphash.String(g.seed, key)%breakerGroups]
}

// allow reports whether a call for key may go to the store now, and the
// key's group.
func (g *guard) allow(key string) (*breaker, bool) {
	b := g.group(key)
	if g.all.openUntil.Load() == 0 && b.openUntil.Load() == 0 {
		return b, true
	}
	now := time.Now().UnixNano()
	ok, probe := b.allow(now)
	if ok {
		if ok, _ = g.all.allow(now); !ok && probe {
			b.probing.Store(false) // not made: another call probes the group
		}
	}
	if !ok {
		g.skipped.Add(1)
		return b, false
	}
	return b, true
}

// done records a call's outcome. A slow failure counts against the whole
// store only when no other call was answered while it waited: with one
// hung node, the others answer meanwhile.
func (g *guard) done(b *breaker, start time.Time, err error, slow bool) {
	if err == nil || !slow {
		b.success()
		g.all.success()
		if now := time.Now().UnixNano(); now-g.lastAnswer.Load() > int64(time.Millisecond) {
			g.lastAnswer.Store(now)
		}
		return
	}
	g.slowFails.Add(1)
	if b.failure(1, g.cooldown) {
		g.opened.Add(1)
	}
	if g.lastAnswer.Load() >= start.UnixNano() {
		return
	}
	if g.all.failure(g.threshold, max(g.cooldown/5, g.timeout)) {
		g.opened.Add(1)
	}
}

// Get, Set and Delete make guard a fiber.Storage; the Cache's own calls go
// through get, set and del, which take the caller's context.

// Get reads key under the guard.
func (g *guard) Get(key string) ([]byte, error) { return g.get(context.Background(), key) }

// Set writes key under the guard.
func (g *guard) Set(key string, val []byte, exp time.Duration) error {
	return g.set(context.Background(), key, val, exp)
}

// Delete removes key under the guard.
func (g *guard) Delete(key string) error { return g.del(context.Background(), key) }

func (g *guard) get(ctx context.Context, key string) ([]byte, error) {
	if g.reps.of(key) {
		return g.getReplicated(ctx, key)
	}
	return g.getOne(ctx, key)
}

func (g *guard) set(ctx context.Context, key string, val []byte, exp time.Duration) error {
	if g.reps.of(key) {
		return g.setReplicated(ctx, key, val, exp)
	}
	return g.setOne(ctx, key, val, exp)
}

func (g *guard) del(ctx context.Context, key string) error {
	if g.reps.of(key) {
		return g.delReplicated(ctx, key)
	}
	return g.delOne(ctx, key)
}

func (g *guard) getOne(ctx context.Context, key string) ([]byte, error) {
	return g.call(ctx, "get", key, func(ctx context.Context) ([]byte, error) {
		if g.ctxs != nil {
			return g.ctxs.GetWithContext(ctx, key)
		}
		return g.Storage.Get(key)
	})
}

func (g *guard) setOne(ctx context.Context, key string, val []byte, exp time.Duration) error {
	_, err := g.call(ctx, "set", key, func(ctx context.Context) ([]byte, error) {
		if g.ctxs != nil {
			return nil, g.ctxs.SetWithContext(ctx, key, val, exp)
		}
		return nil, g.Storage.Set(key, val, exp)
	})
	return err
}

func (g *guard) delOne(ctx context.Context, key string) error {
	_, err := g.call(ctx, "delete", key, func(ctx context.Context) ([]byte, error) {
		if g.ctxs != nil {
			return nil, g.ctxs.DeleteWithContext(ctx, key)
		}
		return nil, g.Storage.Delete(key)
	})
	return err
}

// call runs one storage operation for key: skipped while its circuit is
// open, bounded by the deadline otherwise.
func (g *guard) call(ctx context.Context, op, key string, fn func(context.Context) ([]byte, error)) ([]byte, error) {
	b, ok := g.allow(key)
	if !ok {
		return nil, fmt.Errorf("%s %q: %w", op, key, ErrCircuitOpen)
	}
	start := time.Now()
	limit := g.deadline()
	v, err, slow := g.bounded(ctx, func(ctx context.Context) ([]byte, error) { return fn(ctx) })
	if err != nil && !slow && time.Since(start) >= limit/2 {
		slow = true // an error that took this long is a slow store too
	}
	if !errors.Is(err, errCallerGone) {
		g.done(b, start, err, slow)
	}
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w", op, key, err)
	}
	return v, nil
}

// errCallerGone: the caller's context ended first; the store is not to blame.
var errCallerGone = errors.New("cachekit: the caller's context ended")

// One bounded call's state: the caller and the call's goroutine each try
// to move it from running; the one that loses knows what the other did.
const (
	callRunning int32 = iota
	callDone
	callAbandoned
)

type callResult struct {
	v   []byte
	err error
}

// bounded runs fn on its own goroutine under the guard's deadline (or the
// caller's, when sooner) and waits for it until then. slow reports a call
// given up on, or one that failed with the deadline.
func (g *guard) bounded(parent context.Context, fn func(context.Context) ([]byte, error)) (v []byte, err error, slow bool) {
	if err := parent.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", errCallerGone, err), false
	}
	if n := g.abandoned.Load(); g.maxAbandoned > 0 && n >= g.maxAbandoned {
		g.overload.Add(1)
		return nil, fmt.Errorf("%w (%d)", ErrOverloaded, n), true
	}
	ctx, cancel := context.WithTimeout(parent, g.deadline())
	var state atomic.Int32
	ch := make(chan callResult, 1)
	go func() {
		defer cancel()
		var r callResult
		func() {
			defer func() {
				if p := recover(); p != nil {
					g.panics.Add(1)
					r = callResult{err: fmt.Errorf("cachekit: the store panicked: %v\n%s", p, debug.Stack())}
				}
			}()
			r.v, r.err = fn(ctx)
		}()
		if !state.CompareAndSwap(callRunning, callDone) {
			g.abandoned.Add(-1) // the caller gave up on it
			return
		}
		ch <- r
	}()
	select {
	case r := <-ch:
		return g.result(parent, r.v, r.err)
	case <-ctx.Done():
	}
	if !state.CompareAndSwap(callRunning, callAbandoned) {
		r := <-ch // it finished just now
		return g.result(parent, r.v, r.err)
	}
	g.abandoned.Add(1)
	g.abandons.Add(1)
	cancel()
	if parent.Err() != nil {
		return nil, fmt.Errorf("%w: %w", errCallerGone, parent.Err()), false
	}
	g.timeouts.Add(1)
	return nil, fmt.Errorf("%w after %v", ErrTimeout, g.timeout), true
}

// deadline is how long a call may take: the Timeout, or half of it while
// the store is suspect (a slow failure with no answer since). A store that
// hangs then costs a request one Timeout and two halves before its circuit
// opens; a node that answers does so well within half.
func (g *guard) deadline() time.Duration {
	if g.all.failures.Load() > 0 {
		return g.timeout / 2
	}
	return g.timeout
}

func (g *guard) result(parent context.Context, v []byte, err error) ([]byte, error, bool) {
	if err == nil {
		return v, nil, false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		if parent.Err() != nil {
			return nil, fmt.Errorf("%w: %w", errCallerGone, err), false
		}
		g.timeouts.Add(1)
		return nil, fmt.Errorf("%w after %v: %w", ErrTimeout, g.timeout, err), true
	}
	return nil, err, false
}

// run bounds a call that is not a storage call (a Bus's Publish) the same
// way, without a circuit.
func (g *guard) run(ctx context.Context, fn func(context.Context) error) error {
	_, err, _ := g.bounded(ctx, func(ctx context.Context) ([]byte, error) { return nil, fn(ctx) })
	return err
}
