package cachekit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"golang.org/x/sync/singleflight"
)

// Cache is a cache over one fiber.Storage. It is safe for concurrent use.
//
// New (or WithVersion, for a view) sets every field above closed and
// nothing writes them afterwards; the pointers among them are shared by a
// Cache and its views. closed, views and the fields from group on guard
// themselves.
type Cache struct {
	store      fiber.Storage // the storage, guarded when external
	user       fiber.Storage // the storage as given
	guard      *guard        // store, when guarded
	memory     *Memory       // store, when it is the embedded one
	local      *Memory       // Config.Local: the two-level mode's near store
	localTTL   time.Duration
	defaultTTL time.Duration  // Config.DefaultTTL: what DefaultTTL stands for
	bus        *busState      // two-level mode with a Bus
	hot        *hotLayer      // nil when off
	epoch      *atomic.Uint64 // the store's invalidation epoch, when this process sees every invalidation
	marks      *versions      // the hot layer's versions, beside epoch (versions.go)
	observe    func(key string, s Status)
	keys       keyspace
	codec      Codec
	now        func() time.Time // nil: the real clock; tests set their own before use
	start      time.Time        // when New ran: monoNow counts from it
	err        error            // why the Cache cannot work (a bad Config)
	prefix     string           // Config.Prefix
	version    int              // Config.Version, or the view's (WithVersion)
	root       *Cache           // the Cache a view was made from (WithVersion); nil for one New made
	hotID      uint64           // tells this version's hot values apart from the other views' (0: the root's)

	// Shared by a Cache and its views (WithVersion).
	stats    *counters                  // atomic
	errlog   *errorLog                  // errorLog.mu protects its state
	rmwLocks *[memoryStripes]sync.Mutex // serialise this Cache's read-modify-writes over a store that is not Atomic
	genLocks *[memoryStripes]sync.Mutex // makeGeneration's, apart: it runs inside read-modify-writes that hold rmwLocks
	genMade  *madeGens                  // the generations setGeneration wrote last (genLocks guard its slots)
	closed   atomic.Bool                // Close was called (the root's counts)
	views    viewSet                    // the root's views, by version

	// Per version.
	group      singleflight.Group        // coalesces concurrent fills of one storage key
	refreshing sync.Map                  // storage keys with a background refresh running; LoadOrStore claims one
	written    lineCounter               // entries this Cache wrote (or tried to): loadMiss's second look
	changes    atomic.Uint64             // changes drop saw: a Batch's check (batch.go)
	tagChanges atomic.Uint64             // the tag (and Clear, and lost-message) changes drop saw: a TagMemo's check (memo.go)
	pending    pendingTags               // invalidations the store has not taken yet
	space      atomic.Pointer[spaceCopy] // the key space's generation read from a shared store (lowlevel.go)
}

// New returns a Cache over cfg.Storage. It never panics: a config that
// cannot work makes every call of the returned Cache fail with the reason,
// which Err reports at once: every problem found, each naming its field.
func New(cfg Config) *Cache {
	cfg = configDefault(cfg)
	c := &Cache{
		user:       cfg.Storage,
		codec:      cfg.Codec,
		defaultTTL: cfg.DefaultTTL,
		observe:    cfg.Observe,
		errlog:     &errorLog{logger: cfg.Logger, every: cfg.ErrorLogInterval},
		keys:       keyspace{head: newKeyspace(cfg.Prefix, cfg.Version).head, max: cfg.MaxKeyLen},
		start:      time.Now(),
		prefix:     cfg.Prefix,
		version:    cfg.Version,
		stats:      new(counters),
		rmwLocks:   new([memoryStripes]sync.Mutex),
		genLocks:   new([memoryStripes]sync.Mutex),
		genMade:    new(madeGens),
	}
	if err := cfg.validate(); err != nil {
		c.err = err
		return c
	}
	c.err = c.wire(&cfg)
	if c.err == nil && c.local != nil && cfg.Bus != nil {
		// Once every field is set: the subscription's goroutine reads
		// them (a message drops hot values at once).
		c.subscribe(cfg.Bus, cfg.Timeout)
	}
	return c
}

// wire builds the layers of a Cache over a valid Config: the store and its
// guard, the two-level mode and its Bus, the epoch and the hot layer.
func (c *Cache) wire(cfg *Config) error {
	if cfg.Storage == nil {
		m, err := NewMemory(MemoryConfig{})
		if err != nil {
			return err
		}
		c.user = m
	}
	c.store = c.user
	if aliasesReads(c.user) {
		c.store = copyingStore{c.user}
	}
	c.memory, _ = c.store.(*Memory)
	if _, off := c.user.(dummy); c.memory == nil && cfg.Timeout >= 0 && (!off || cfg.Bus != nil) {
		// (A Dummy answers at once and holds nothing: nothing to bound,
		// unless a Bus is configured, whose publishes the guard bounds.)
		c.guard = newGuard(c.store, cfg.Timeout, cfg.CircuitCooldown, cfg.CircuitThreshold, cfg.MaxAbandoned)
		c.store = c.guard
		c.keys.place = true
		if cfg.Replicas > 1 {
			c.guard.reps = newReplicas(cfg.Replicas, c.keys, cfg.Prefix)
		}
	}
	if cfg.Local != nil {
		c.local, c.localTTL = cfg.Local, cfg.LocalTTL
		if cfg.Bus != nil {
			// A served value passes through at most two layers kept for
			// localTTL each (a copy in Local, then the hot layer): half of
			// LocalTTL each keeps a lost message's cost within LocalTTL.
			c.localTTL = max(cfg.LocalTTL/2, time.Millisecond)
		}
	}
	twoLevel := c.local != nil && cfg.Bus != nil
	switch {
	case c.memory != nil:
		c.epoch, c.marks = &c.memory.epoch, c.memory.marks
	case twoLevel:
		c.epoch, c.marks = &c.local.epoch, c.local.marks
	}
	if cfg.HotBytes >= 0 && c.epoch != nil {
		c.hot = newHotLayer(cfg.HotBytes)
	}
	return nil
}

var (
	defaultOnce  sync.Once
	defaultCache *Cache
)

// Default returns the process-wide Cache on an embedded Memory store of
// DefaultMemoryBytes. The template loader and the middleware use it when
// they are given no Cache.
func Default() *Cache {
	defaultOnce.Do(func() { defaultCache = New(Config{}) })
	return defaultCache
}

// wallNow reads the wall clock.
func (c *Cache) wallNow() time.Time {
	if c.now != nil {
		return c.now()
	}
	return time.Now()
}

// monoNow is the time since New in nanoseconds on the monotonic clock: one
// clock read, where time.Now makes two, for the hot layer's hit path. It
// follows a clock a test sets.
func (c *Cache) monoNow() int64 {
	if c.now != nil {
		return int64(c.now().Sub(c.start))
	}
	return int64(time.Since(c.start))
}

// Err reports why the Cache cannot work (a bad Config), or nil.
func (c *Cache) Err() error { return c.err }

// Storage returns the store the Cache writes to, as given in Config.
func (c *Cache) Storage() fiber.Storage { return c.user }

// ErrEmptyKey is returned for an empty key.
var ErrEmptyKey = errors.New("cachekit: empty key")

func (c *Cache) check(key string) error {
	if c.err != nil {
		return c.err
	}
	if key == "" {
		return ErrEmptyKey
	}
	return nil
}

// Get returns the fresh value stored under key. ok is false on a miss, an
// expired or invalidated entry, or a storage error (also returned, wrapped).
func (c *Cache) Get(key string) (value []byte, ok bool, err error) {
	r, err := c.Lookup(key)
	if r.Status != Hit {
		return nil, false, err
	}
	return r.Value, true, err
}

// Set stores value under key for ttl, tagged with tags: when any of them is
// invalidated, the entry reads as a miss. As Django's set: NoExpiry never
// expires, DefaultTTL is Config.DefaultTTL, and a ttl of 0 or less stores
// nothing and deletes the key (see NoExpiry).
func (c *Cache) Set(key string, value []byte, ttl time.Duration, tags ...string) error {
	if err := c.check(key); err != nil {
		return err
	}
	p := Policy{TTL: ttl, Tags: tags}
	if err := p.check(); err != nil {
		return err
	}
	if _, ok := c.resolveTTL(ttl); !ok {
		return c.Delete(key)
	}
	gens, err := c.entryGenerations(p.Tags, nil)
	if err != nil {
		return err
	}
	err = c.writeEntry(c.keys.storageKey(kindEntry, key), value, &p, gens)
	c.changed(msgKey, key) // after the write: see drop
	return err
}

// Delete removes the entry under key.
func (c *Cache) Delete(key string) error {
	if err := c.check(key); err != nil {
		return err
	}
	skey := c.keys.storageKey(kindEntry, key)
	err := c.storeDelete(context.Background(), skey)
	c.changed(msgKey, key)
	if err != nil {
		c.storageError(err)
		return fmt.Errorf("cachekit: delete %q: %w", key, err)
	}
	return nil
}

// GetOrSet returns the value under key, or runs load, stores its result for
// ttl under tags, and returns it. A ttl of 0 or less stores nothing (load
// runs on every miss), as Django's get_or_set; see NoExpiry. Concurrent
// misses on one key in this process run load once and all get its result. A
// storage error never fails the call: load's value is returned uncached.
func (c *Cache) GetOrSet(key string, ttl time.Duration, load func() ([]byte, error), tags ...string) ([]byte, error) {
	r, err := c.Load(key, Policy{TTL: ttl, Tags: tags}, func(*Policy) ([]byte, error) { return load() })
	return r.Value, err
}

// lineCounter is an atomic counter alone on its cache line: every Load
// reads it, and the counters written on every hit are kept off its line.
type lineCounter struct {
	_ [64]byte
	atomic.Uint64
	_ [56]byte
}
