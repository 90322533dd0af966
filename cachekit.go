// Package cachekit is the cache core behind cachekit's template loader,
// {{cache}} blocks and Fiber middleware: keys with a prefix and version, TTLs,
// tags invalidated in O(1), in-process coalescing of concurrent misses,
// stale-while-revalidate and stale-if-error, and counters.
//
// A Cache runs over any fiber.Storage: the embedded Memory store (bigcache)
// by default, or Redis, Memcached and the other gofiber/storage drivers when a
// site runs on several machines. The cache is never the reason a request
// fails: storage errors are counted, logged once per burst, and the caller
// gets its value computed afresh.
package cachekit

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"golang.org/x/sync/singleflight"
)

// Config configures a Cache. The zero value is usable: a private Memory
// store, no prefix, version 0, JSON for Fetch.
type Config struct {
	// Storage holds the entries and the tag generations. nil means a new
	// Memory store with a zero MemoryConfig.
	Storage fiber.Storage

	// Prefix starts every key (Django's KEY_PREFIX), so several sites or
	// environments can share one store. Printable ASCII without spaces or
	// ':', at most 64 bytes.
	Prefix string

	// Version is part of every key (Django's VERSION): bump it to leave every
	// entry written under the old version behind at once.
	Version int

	// Codec encodes the values Fetch stores. nil means JSON.
	Codec Codec

	// Logger receives storage errors, at most one line per ErrorLogInterval.
	// nil means slog.Default().
	Logger *slog.Logger

	// ErrorLogInterval is the shortest time between two logged storage
	// errors; the ones in between are counted and reported with the next
	// line. 0 means 10 seconds.
	ErrorLogInterval time.Duration

	// Timeout bounds each call to an external Storage (not to Memory): a
	// slower call is abandoned and the request goes on uncached. 0 means
	// 100 ms; negative means no bound and no circuit breaker.
	Timeout time.Duration

	// CircuitThreshold is how many consecutive failed calls to an external
	// Storage open the circuit: the Cache stops calling the store for
	// CircuitCooldown, then lets one call through to probe it, and resumes
	// when it answers. 0 means 5.
	CircuitThreshold int

	// CircuitCooldown is how long an open circuit stays open. 0 means 5 s.
	CircuitCooldown time.Duration

	// Local turns on the two-level mode: a Memory store in front of a shared
	// Storage. Reads try Local first; tag generations are always read from
	// the shared Storage, so a tag invalidated on one instance is seen by
	// every instance on its next read. A key Set or Deleted on another
	// instance is seen within LocalTTL.
	Local *Memory

	// LocalTTL bounds how long Local keeps a copy of a shared entry (and,
	// with a Bus, of a tag generation). 0 means one second.
	LocalTTL time.Duration

	// HotBytes bounds the hot layer: the values of recent hits kept in
	// process, so that a repeated hit reads no storage at all. It is exact:
	// any InvalidateTags, Set or Delete of this Cache, or Bus message, makes
	// every kept value revalidate. It is used only when this process sees
	// every invalidation: the Storage is a Memory used by this Cache alone,
	// or a Bus is set. 0 means 16 MiB; negative turns it off.
	HotBytes int64

	// Observe, when set, is called with the key and the outcome (Hit,
	// Stale or Miss) of every Lookup and Load, for per-key-family metrics
	// such as a dashboard's hit ratio per fragment. It runs on the hit
	// path: keep it cheap and never block in it.
	Observe func(key string, s Status)

	// Bus, in the two-level mode, carries tag invalidations between
	// instances, so tag generations can be kept in Local as well: a hit then
	// costs no round trip to the shared store. A tag invalidated on another
	// instance is seen as soon as its message arrives, and within LocalTTL
	// if the message is lost.
	Bus Bus
}

// Cache is a cache over one fiber.Storage. It is safe for concurrent use.
type Cache struct {
	store      fiber.Storage // the storage, guarded when external
	user       fiber.Storage // the storage as given
	guard      *guard        // store, when guarded
	memory     *Memory       // store, when it is the embedded one
	local      *Memory       // the two-level mode's near store
	localTTL   time.Duration
	bus        *busState      // two-level mode with a Bus
	hot        *hotLayer      // nil when off
	epoch      *atomic.Uint64 // the store's invalidation epoch, when this process sees every invalidation
	observe    func(key string, s Status)
	keys       keyspace
	codec      Codec
	errlog     errorLog
	group      singleflight.Group
	refreshing sync.Map // storage keys with a background refresh running
	stats      counters
	now        func() time.Time // nil: the real clock; tests set their own
	start      time.Time        // when New ran: monoNow counts from it
	err        error
}

// New returns a Cache over cfg.Storage. It never panics: a config that
// cannot work makes every call of the returned Cache fail with the reason,
// which Err reports at once.
func New(cfg Config) *Cache {
	c := &Cache{store: cfg.Storage, codec: cfg.Codec, start: time.Now(), observe: cfg.Observe}
	if c.codec == nil {
		c.codec = JSON{}
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	c.errlog = errorLog{logger: logger, every: cfg.ErrorLogInterval}
	if c.errlog.every <= 0 {
		c.errlog.every = 10 * time.Second
	}
	if err := checkPrefix(cfg.Prefix); err != nil {
		c.err = err
	}
	if c.store == nil {
		m, err := NewMemory(MemoryConfig{})
		if err != nil {
			c.err = err
		}
		c.store = m
	}
	c.user = c.store
	c.memory, _ = c.store.(*Memory)
	if err := checkTTL("Timeout", max(cfg.Timeout, 0)); err != nil {
		c.err = err
	}
	if cfg.CircuitThreshold < 0 || cfg.CircuitCooldown < 0 || cfg.LocalTTL < 0 {
		c.err = fmt.Errorf("cachekit: negative CircuitThreshold, CircuitCooldown or LocalTTL")
	}
	if c.memory == nil && cfg.Timeout >= 0 {
		c.guard = newGuard(c.store, orDefault(cfg.Timeout, 100*time.Millisecond),
			orDefault(cfg.CircuitCooldown, 5*time.Second), int(orDefault(time.Duration(cfg.CircuitThreshold), 5)))
		c.store = c.guard
	}
	if cfg.Local != nil {
		if cfg.Local == c.memory {
			c.err = errors.New("cachekit: Config.Local is the Storage itself; give a separate Memory")
		}
		c.local = cfg.Local
		c.localTTL = orDefault(cfg.LocalTTL, time.Second)
	}
	if cfg.Bus != nil {
		if c.local == nil {
			c.err = errors.New("cachekit: Config.Bus needs Config.Local (the two-level mode)")
		} else {
			c.bus = &busState{bus: cfg.Bus}
			stop, err := cfg.Bus.Subscribe(c.onMessage)
			if err != nil {
				// Without the subscription, generations are read from the
				// shared store on every read: slower, still exact.
				c.errlog.log(fmt.Errorf("cachekit: bus subscribe: %w", err))
				c.bus = nil
			} else {
				c.bus.stop = stop
			}
		}
	}
	switch {
	case c.memory != nil:
		c.epoch = &c.memory.epoch
	case c.bus != nil:
		c.epoch = &c.local.epoch
	}
	if cfg.HotBytes >= 0 && c.epoch != nil {
		c.hot = newHotLayer(orDefault64(cfg.HotBytes, 16<<20))
	}
	c.keys = newKeyspace(cfg.Prefix, cfg.Version)
	return c
}

func orDefault64(n, def int64) int64 {
	if n == 0 {
		return def
	}
	return n
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

func checkPrefix(p string) error {
	if len(p) > 64 {
		return fmt.Errorf("cachekit: Config.Prefix is %d bytes long; at most 64", len(p))
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c <= ' ' || c >= 0x7f || c == ':' {
			return fmt.Errorf("cachekit: Config.Prefix %q has byte %q at %d; use printable ASCII without spaces or ':'", p, c, i)
		}
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

func checkTTL(what string, d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("cachekit: negative %s %v", what, d)
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

// Set stores value under key for ttl (0: no expiry), tagged with tags: when
// any of them is invalidated, the entry reads as a miss.
func (c *Cache) Set(key string, value []byte, ttl time.Duration, tags ...string) error {
	if err := c.check(key); err != nil {
		return err
	}
	p := Policy{TTL: ttl, Tags: tags}
	if err := p.check(); err != nil {
		return err
	}
	gens, err := c.generations(p.Tags, nil)
	if err != nil {
		return err
	}
	err = c.store1(c.keys.storageKey(kindEntry, key), value, &p, gens)
	c.changed(msgKey, key) // after the write: see drop
	return err
}

// Delete removes the entry under key.
func (c *Cache) Delete(key string) error {
	if err := c.check(key); err != nil {
		return err
	}
	skey := c.keys.storageKey(kindEntry, key)
	err := c.store.Delete(skey)
	c.changed(msgKey, key)
	if err != nil {
		c.storageError(err)
		return fmt.Errorf("cachekit: delete %q: %w", key, err)
	}
	return nil
}

// GetOrSet returns the value under key, or runs load, stores its result for
// ttl under tags, and returns it. Concurrent misses on one key in this
// process run load once and all get its result. A storage error never fails
// the call: load's value is returned uncached.
func (c *Cache) GetOrSet(key string, ttl time.Duration, load func() ([]byte, error), tags ...string) ([]byte, error) {
	r, err := c.Load(key, Policy{TTL: ttl, Tags: tags}, func(*Policy) ([]byte, error) { return load() })
	return r.Value, err
}
