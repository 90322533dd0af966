package cachekit

import (
	"bytes"
	"context"
	"fmt"
	"hash/maphash"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
)

// Atomic is an optional interface of a fiber.Storage: the read-modify-write
// primitives Add, Incr and Touch are built on, done by the store itself, so
// they hold across every process that shares it. GetMany also uses it to read
// many keys in one round trip.
//
// Memory implements it with a striped lock; package redisbus wraps
// gofiber/storage/redis (redisbus.Atomic) with a pipeline, SET NX and a
// server-side compare-and-swap script. Over a store without it, the Cache
// does the same with a lock of its own: atomic between the callers of one
// process, not across processes (see Cache.Add).
type Atomic interface {
	// GetMany returns the value under each key in the order of keys, nil
	// for an absent one.
	GetMany(keys []string) ([][]byte, error)
	// SetIfAbsent stores val under key for exp (0: no expiry) only if key
	// holds no value, and reports whether it did.
	SetIfAbsent(key string, val []byte, exp time.Duration) (bool, error)
	// CompareAndSwap stores val under key for exp (0: no expiry) only if key
	// holds exactly old, and reports whether it did.
	CompareAndSwap(key string, old, val []byte, exp time.Duration) (bool, error)
}

var _ Atomic = (*Memory)(nil)

// memoryStripes is the number of locks a Memory's writes are spread over:
// Set and Delete take their key's, so a compare-and-swap, which holds it
// across its read and its write, is atomic against every other write.
const memoryStripes = 256

var stripeSeed = maphash.MakeSeed()

func stripeOf(key string) uint64 { return maphash.String(stripeSeed, key) % memoryStripes }

func (m *Memory) stripe(key string) *sync.Mutex { return &m.locks[stripeOf(key)] }

// GetMany returns the value under each key, nil for an absent or expired one.
func (m *Memory) GetMany(keys []string) ([][]byte, error) {
	out := make([][]byte, len(keys))
	for i, k := range keys {
		out[i], _ = m.Get(k)
	}
	return out, nil
}

// SetIfAbsent stores val under key for exp only if key holds no live value.
func (m *Memory) SetIfAbsent(key string, val []byte, exp time.Duration) (bool, error) {
	mu := m.stripe(key)
	mu.Lock()
	defer mu.Unlock()
	if b, _ := m.Get(key); b != nil {
		return false, nil
	}
	if err := m.set(key, val, exp); err != nil {
		return false, err
	}
	return true, nil
}

// CompareAndSwap stores val under key for exp only if key holds old.
func (m *Memory) CompareAndSwap(key string, old, val []byte, exp time.Duration) (bool, error) {
	mu := m.stripe(key)
	mu.Lock()
	defer mu.Unlock()
	if b, _ := m.Get(key); b == nil || !bytes.Equal(b, old) {
		return false, nil
	}
	if err := m.set(key, val, exp); err != nil {
		return false, err
	}
	return true, nil
}

// lockedStore does Atomic's calls over a plain fiber.Storage with a get and
// a set under a lock of this process: atomic between its own callers, not
// against plain Sets nor against other processes.
type lockedStore struct {
	s     fiber.Storage
	locks *[memoryStripes]sync.Mutex // the Cache's read-modify-write locks
	held  bool                       // the caller holds the key's lock for its whole read-modify-write
}

// lock takes key's lock unless the caller holds it.
func (l lockedStore) lock(key string) func() {
	if l.held {
		return func() {}
	}
	mu := &l.locks[stripeOf(key)]
	mu.Lock()
	return mu.Unlock
}

func (l lockedStore) GetMany(keys []string) ([][]byte, error) {
	out := make([][]byte, len(keys))
	for i, k := range keys {
		b, err := l.s.Get(k)
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

func (l lockedStore) SetIfAbsent(key string, val []byte, exp time.Duration) (bool, error) {
	defer l.lock(key)()
	b, err := l.s.Get(key)
	if err != nil || b != nil {
		return false, err
	}
	if err := l.s.Set(key, val, storeExpiry(exp)); err != nil {
		return false, err
	}
	return true, nil
}

func (l lockedStore) CompareAndSwap(key string, old, val []byte, exp time.Duration) (bool, error) {
	defer l.lock(key)()
	b, err := l.s.Get(key)
	if err != nil || b == nil || !bytes.Equal(b, old) {
		return false, err
	}
	if err := l.s.Set(key, val, storeExpiry(exp)); err != nil {
		return false, err
	}
	return true, nil
}

// guardedAtomic makes an external store's Atomic calls skip the store while
// its circuit is open and count their failures toward opening it. The calls
// are not bounded by Config.Timeout: an abandoned compare-and-swap may still
// land, so the store's own client bounds them (redisbus.Atomic does).
type guardedAtomic struct {
	a Atomic
	g *guard
}

func (ga guardedAtomic) run(op, key string, f func() error) error {
	b, ok := ga.g.allow(key)
	if !ok {
		return fmt.Errorf("%s %q: %w", op, key, ErrCircuitOpen)
	}
	start := time.Now()
	err := func() (err error) {
		defer func() { // as the guard's own calls: a driver's panic is an error
			if p := recover(); p != nil {
				ga.g.panics.Add(1)
				err = fmt.Errorf("cachekit: the store panicked: %v\n%s", p, debug.Stack())
			}
		}()
		return f()
	}()
	// As the guard's own calls: an error that took half the time limit is
	// a slow store, which counts toward opening the circuits.
	ga.g.done(b, start, err, err != nil && time.Since(start) >= ga.g.deadline()/2)
	return err
}

func (ga guardedAtomic) GetMany(keys []string) (out [][]byte, err error) {
	if ga.g.reps != nil {
		return ga.getManyReplicated(keys)
	}
	if len(keys) == 0 {
		return nil, nil
	}
	// Under the first key's circuit, as storeGetMany: a read-modify-write
	// reads one key, whose node's circuit alone it is to count against.
	err = ga.run("get many", keys[0], func() (err error) { out, err = ga.a.GetMany(keys); return err })
	return out, err
}

func (ga guardedAtomic) SetIfAbsent(key string, val []byte, exp time.Duration) (ok bool, err error) {
	err = ga.run("add", key, func() (err error) { ok, err = ga.a.SetIfAbsent(key, val, storeExpiry(exp)); return err })
	return ok, err
}

func (ga guardedAtomic) CompareAndSwap(key string, old, val []byte, exp time.Duration) (ok bool, err error) {
	err = ga.run("compare and swap", key, func() (err error) { ok, err = ga.a.CompareAndSwap(key, old, val, storeExpiry(exp)); return err })
	return ok, err
}

// atomics returns the store's Atomic calls and whether they hold across
// processes (false: only between this process's callers).
func (c *Cache) atomics() (Atomic, bool) {
	if c.memory != nil {
		return c.memory, true
	}
	if a, ok := c.user.(Atomic); ok {
		if c.guard != nil {
			return guardedAtomic{a, c.guard}, true
		}
		return a, true
	}
	return lockedStore{s: c.store, locks: c.rmwLocks}, false
}

// rmw returns the Atomic calls for a read-modify-write of skey, and the
// function that ends it. On an external store the whole read-modify-write
// holds this process's lock for the key, so this process's callers queue
// instead of racing and retrying over the network: only other processes
// can make its compare-and-swap fail (over a store that is not Atomic, none
// can).
func (c *Cache) rmw(skey string) (Atomic, func()) {
	a, _ := c.atomics()
	if c.memory != nil {
		return a, func() {}
	}
	mu := &c.rmwLocks[stripeOf(skey)]
	mu.Lock()
	if l, ok := a.(lockedStore); ok {
		l.held = true
		a = l
	}
	return a, mu.Unlock
}

// makeGeneration makes the generation under tk that a read found missing (or
// malformed: old). seen is c.genMade.seq as read before that read.
//
// Over a store whose own Atomic holds across processes (Memory,
// redisbus.Atomic), with a set-if-absent: one call, and concurrent makers
// of a new tag all write under the one generation stored. Otherwise (a
// plain fiber.Storage, whose set-if-absent would be a second read, or
// replicated generations) with a plain write of a fresh one: no second
// read (setGeneration).
func (c *Cache) makeGeneration(tk string, old []byte, seen uint64) (g [generationLen]byte, err error) {
	a, shared := c.atomics()
	if !shared || (c.guard != nil && c.guard.reps != nil) {
		return c.setGeneration(tk, seen)
	}
	for range maxSwaps {
		g = newGeneration(c.wallNow().UnixNano())
		var ok bool
		if old == nil {
			ok, err = a.SetIfAbsent(tk, g[:], generationTTL)
		} else {
			ok, err = a.CompareAndSwap(tk, old, g[:], generationTTL)
		}
		if err != nil || ok {
			return g, err
		}
		if old, err = c.readRaw(a, tk); err != nil {
			return g, err
		}
		if len(old) == generationLen {
			copy(g[:], old)
			return g, nil
		}
	}
	return g, errContended
}

// setGeneration writes a fresh generation under tk with a plain write, for
// a read that found none (makeGeneration), and returns it.
//
// Why a plain write is safe: a generation is random and written once, by
// the call that made it, so an entry stamped with generation g matches only
// while tk still holds g. The entry's data is read after this write
// returned (a fill reads a tag's generation before the data it guards:
// AddTags); an invalidation that makes it stale comes after that data
// changed, so after this write, and writes another fresh generation: from
// then on tk never holds g again. Two makers racing (two processes, or this
// one and another) overwrite each other: the entries stamped with the
// overwritten generation read as misses (a lost hit), never as hits. A
// write that overwrites an invalidation's generation writes a new one,
// which nothing stored before that invalidation carries. (Replicated: the
// write goes to every replica, as an invalidation's.)
//
// This process's makers of one tag share one write: a maker that read the
// tag as missing before a write made here completed (seen) takes that
// write's generation instead of writing another.
func (c *Cache) setGeneration(tk string, seen uint64) ([generationLen]byte, error) {
	i := stripeOf(tk)
	mu := &c.genLocks[i]
	mu.Lock()
	defer mu.Unlock()
	slot := &c.genMade.slots[i]
	if slot.key == tk && slot.seq > seen {
		return slot.gen, nil
	}
	g := newGeneration(c.wallNow().UnixNano())
	if err := c.storeSet(context.Background(), tk, g[:], generationTTL); err != nil {
		return g, err
	}
	*slot = madeGen{key: tk, gen: g, seq: c.genMade.seq.Add(1)}
	return g, nil
}

// madeGens are the generations setGeneration wrote last, one per lock
// stripe (the stripe's lock guards its slot), and seq counts those writes.
type madeGens struct {
	seq   atomic.Uint64
	slots [memoryStripes]madeGen
}

type madeGen struct {
	key string
	gen [generationLen]byte
	seq uint64 // madeGens.seq after the write
}

// getManyReplicated is GetMany with tag generations replicated: those are
// read through the guard, the other keys in one call of the store's own.
func (ga guardedAtomic) getManyReplicated(keys []string) ([][]byte, error) {
	out := make([][]byte, len(keys))
	var plain []string
	var at []int
	for i, k := range keys {
		if !ga.g.reps.of(k) {
			plain, at = append(plain, k), append(at, i)
			continue
		}
		v, err := ga.g.get(context.Background(), k)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	if len(plain) == 0 {
		return out, nil
	}
	var vs [][]byte
	err := ga.run("get many", plain[0], func() (err error) { vs, err = ga.a.GetMany(plain); return err })
	if err != nil {
		return nil, err
	}
	for j, i := range at {
		if j < len(vs) {
			out[i] = vs[j]
		}
	}
	return out, nil
}
