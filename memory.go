package cachekit

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"

	"github.com/allegro/bigcache/v3"
	"github.com/gofiber/fiber/v2"
	"github.com/maypok86/otter/v2"
)

// MemoryConfig configures the embedded store. The zero value is a sound default:
// 128 MiB, 64 shards, oldest-first eviction.
type MemoryConfig struct {
	// MaxBytes bounds the memory the entries take, rounded up to a whole MiB.
	// When the store is full, entries are evicted to make room (which ones:
	// Eviction). 0 means 128 MiB.
	MaxBytes int64

	// Shards is the number of independently locked parts (a power of two).
	// More shards mean less lock contention; each entry must fit in one shard
	// (MaxBytes/Shards). 0 picks up to 64, keeping shards of at least 2 MiB.
	// Under EvictTinyLFU, which locks its own table's parts, it only sets
	// the largest entry, which is the same under both policies.
	Shards int

	// Eviction chooses which entries a full store drops: EvictFIFO (the
	// zero value: the oldest, bigcache) or EvictTinyLFU (the least often
	// read, otter's W-TinyLFU), which keeps a skewed workload's popular
	// entries and so more of its hits when the store is smaller than what
	// is cached (README, "Choosing the eviction").
	Eviction Eviction
}

// DefaultMemoryBytes is the size of a Memory made from a zero MemoryConfig.
const DefaultMemoryBytes = 128 << 20

const mib = 1 << 20

// Memory is the embedded store: a fiber.Storage on bigcache v3 (or, with
// EvictTinyLFU, otter v2) with a real per-entry expiry and a hard memory
// bound. Reads take no exclusive lock, so hits on all cores run in parallel.
//
// bigcache has one global life window and does not check expiry on Get, so
// Memory stores each entry's own deadline in front of its value and honours
// it on read.
type Memory struct {
	bc        *bigcache.BigCache           // EvictFIFO
	lfu       *otter.Cache[string, []byte] // EvictTinyLFU
	shardMax  int                          // largest wrapped entry one shard takes
	maxBytes  int64                        // after rounding
	evictions atomic.Uint64
	expired   atomic.Uint64
	// epoch moves whenever a Cache over this store sees a change that can
	// make a served value wrong; every Cache over the store shares it.
	epoch atomic.Uint64
	// marks are the hot layers' versions (versions.go), shared the same way.
	marks *versions
	bufs  sync.Pool

	// Set, Delete and the Atomic calls (atomic.go) take their key's lock.
	locks  [memoryStripes]sync.Mutex
	spaces sync.Map // key space generations (Memory.spaceGen), by keyspace head
}

var _ fiber.Storage = (*Memory)(nil)

// bigcache's own per-entry overhead: timestamp, hash, key length (its
// headersSizeInBytes), plus the queue's length prefix (at most a 32-bit
// varint) and one byte of margin.
const bigcacheOverhead = 8 + 8 + 2 + binary.MaxVarintLen32 + 1

// NewMemory returns an embedded store sized by cfg. It fails only on a
// config that cannot work (negative sizes, a shard count that is not a
// power of two, shards smaller than 64 KiB, an unknown Eviction).
func NewMemory(cfg MemoryConfig) (*Memory, error) {
	if cfg.Eviction > EvictTinyLFU {
		return nil, fmt.Errorf("cachekit: MemoryConfig.Eviction is not a policy (%v)", cfg.Eviction)
	}
	if cfg.MaxBytes < 0 {
		return nil, fmt.Errorf("cachekit: MemoryConfig.MaxBytes is negative (%d)", cfg.MaxBytes)
	}
	if cfg.Shards < 0 || (cfg.Shards > 0 && bits.OnesCount(uint(cfg.Shards)) != 1) {
		return nil, fmt.Errorf("cachekit: MemoryConfig.Shards must be a power of two, got %d", cfg.Shards)
	}
	maxBytes := cfg.MaxBytes
	if maxBytes == 0 {
		maxBytes = DefaultMemoryBytes
	}
	mb := int((maxBytes + mib - 1) / mib)
	shards := cfg.Shards
	if shards == 0 {
		shards = 64
		for shards > 1 && mb/shards < 2 {
			shards /= 2
		}
	}
	shardBytes := mb * mib / shards
	if shardBytes < 64<<10 {
		return nil, fmt.Errorf("cachekit: MemoryConfig gives shards of %d bytes (%d MiB over %d shards); use fewer shards or more MaxBytes", shardBytes, mb, shards)
	}
	m := &Memory{maxBytes: int64(mb) * mib, marks: newVersions()}
	// The largest entry that always fits is a little under a shard.
	m.shardMax = shardBytes - bigcacheOverhead - 1
	m.bufs.New = func() any { b := make([]byte, 0, 4096); return &b }
	if cfg.Eviction == EvictTinyLFU {
		lfu, err := newTinyLFU(m)
		if err != nil {
			return nil, err
		}
		m.lfu = lfu
		return m, nil
	}
	bc, err := bigcache.New(context.Background(), bigcache.Config{
		Shards: shards,
		// Expiry is per entry (see Get); bigcache's own window must never
		// evict, so it is longer than any entry lives.
		LifeWindow:  100 * 365 * 24 * time.Hour,
		CleanWindow: 0,
		// Sized so each shard's queue starts at its full size: a growing
		// queue refuses entries larger than what it may still grow by.
		MaxEntriesInWindow: shards * (shardBytes / 1024),
		MaxEntrySize:       1024,
		HardMaxCacheSize:   mb,
		Verbose:            false,
		OnRemoveWithReason: m.onRemove,
	})
	if err != nil {
		return nil, fmt.Errorf("cachekit: starting the memory store: %w", err)
	}
	m.bc = bc
	return m, nil
}

func (m *Memory) onRemove(_ string, _ []byte, reason bigcache.RemoveReason) {
	if reason == bigcache.NoSpace {
		m.evictions.Add(1)
	}
}

// Get returns the value stored under key, or nil, nil when there is none or
// it has expired.
func (m *Memory) Get(key string) ([]byte, error) {
	if key == "" {
		return nil, nil
	}
	if m.lfu != nil {
		return m.lfuGet(key), nil
	}
	b, err := m.bc.Get(key)
	if err != nil {
		if errors.Is(err, bigcache.ErrEntryNotFound) {
			return nil, nil
		}
		return nil, fmt.Errorf("cachekit: memory get %q: %w", key, err)
	}
	if len(b) < 8 {
		// Not written by Set: treat as absent and clear it.
		_ = m.bc.Delete(key)
		return nil, nil
	}
	if d := int64(binary.BigEndian.Uint64(b)); d != 0 && time.Now().UnixNano() >= d {
		m.expired.Add(1)
		_ = m.bc.Delete(key)
		return nil, nil
	}
	return b[8:], nil
}

// Set stores val under key for exp (0: no expiry). An empty key or value is
// ignored, as fiber.Storage says. It fails only for an entry larger than one
// shard (see MemoryConfig.Shards), or a negative exp.
func (m *Memory) Set(key string, val []byte, exp time.Duration) error {
	mu := m.stripe(key)
	mu.Lock()
	defer mu.Unlock()
	return m.set(key, val, exp)
}

// set is Set with key's stripe lock held.
func (m *Memory) set(key string, val []byte, exp time.Duration) error {
	if exp < 0 {
		return fmt.Errorf("cachekit: memory set %q: negative expiry %v", key, exp)
	}
	if key == "" || len(val) == 0 {
		return nil
	}
	if n := 8 + len(key) + len(val); n > m.shardMax {
		return fmt.Errorf("cachekit: memory set %q: entry of %d bytes is larger than one shard (%d bytes); raise MemoryConfig.MaxBytes or lower Shards", key, n, m.shardMax)
	}
	var deadline int64
	if exp > 0 {
		deadline = time.Now().Add(exp).UnixNano()
	}
	if m.lfu != nil {
		m.lfuSet(key, val, deadline)
		return nil
	}
	bp := m.bufs.Get().(*[]byte)
	buf := binary.BigEndian.AppendUint64((*bp)[:0], uint64(deadline))
	buf = append(buf, val...)
	err := m.bc.Set(key, buf)
	*bp = buf[:0]
	if cap(buf) <= 1<<20 {
		m.bufs.Put(bp)
	}
	if err != nil {
		return fmt.Errorf("cachekit: memory set %q: %w", key, err)
	}
	return nil
}

// Delete removes key. A missing key is not an error.
func (m *Memory) Delete(key string) error {
	if key == "" {
		return nil
	}
	mu := m.stripe(key)
	mu.Lock()
	defer mu.Unlock()
	if m.lfu != nil {
		m.lfu.Invalidate(key)
		return nil
	}
	if err := m.bc.Delete(key); err != nil && !errors.Is(err, bigcache.ErrEntryNotFound) {
		return fmt.Errorf("cachekit: memory delete %q: %w", key, err)
	}
	return nil
}

// Reset removes every entry, and makes every Cache over the store drop the
// values its hot layer keeps.
func (m *Memory) Reset() error {
	var err error
	if m.lfu != nil {
		m.lfu.InvalidateAll()
	} else {
		err = m.bc.Reset()
	}
	// After: a reader that sees the new epoch finds the store empty.
	m.marks.all.Add(1)
	m.marks.tags.Add(1)
	m.epoch.Add(1)
	return err
}

// Close releases the store. It must not be used afterwards.
func (m *Memory) Close() error {
	if m.lfu != nil {
		m.lfu.StopAllGoroutines()
		return nil
	}
	return m.bc.Close()
}

// MemoryStats describes a Memory store at one moment.
type MemoryStats struct {
	Entries int // entries held, expired ones not yet overwritten included (EvictTinyLFU: an estimate)
	// Capacity is the bytes held against MaxBytes: what the shards have
	// allocated (EvictFIFO), the weights of the entries held (EvictTinyLFU).
	Capacity  int64
	MaxBytes  int64  // the bound
	Evictions uint64 // entries dropped to make room
	// Expired counts the entries found expired on read (EvictFIFO), or
	// dropped at their expiry, read or not (EvictTinyLFU).
	Expired  uint64
	Eviction Eviction // the policy
}

// Stats reports the store's size and evictions.
func (m *Memory) Stats() MemoryStats {
	if m.lfu != nil {
		return MemoryStats{
			Entries:   m.lfu.EstimatedSize(),
			Capacity:  int64(m.lfu.WeightedSize()),
			MaxBytes:  m.maxBytes,
			Evictions: m.evictions.Load(),
			Expired:   m.expired.Load(),
			Eviction:  EvictTinyLFU,
		}
	}
	return MemoryStats{
		Entries:   m.bc.Len(),
		Capacity:  int64(m.bc.Capacity()),
		MaxBytes:  m.maxBytes,
		Evictions: m.evictions.Load(),
		Expired:   m.expired.Load(),
	}
}
