package cachekit

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/maypok86/otter/v2"
)

// Eviction chooses which entries a full Memory drops to make room.
type Eviction uint8

const (
	// EvictFIFO drops the oldest entries first, whatever their use: bigcache
	// v3's ring buffers, the default. Reads take a shard's read lock only and
	// the entries are kept in a few large buffers, out of the garbage
	// collector's sight.
	EvictFIFO Eviction = iota

	// EvictTinyLFU keeps the entries read most often: otter v2's W-TinyLFU
	// (a small LRU window in front of a segmented LRU whose admission
	// compares an estimate of how often the newcomer and the victim were
	// asked for), bounded by MaxBytes as the entries' weights (their key,
	// value and bookkeeping). On a skewed workload it keeps the popular pages
	// and tag generations a FIFO store evicts with the rest (README, "Choosing
	// the eviction"). Each entry is an object of its own on the Go heap, and
	// a read costs a little more than EvictFIFO's.
	EvictTinyLFU
)

// String names the policy as MemoryConfig's docs do.
func (e Eviction) String() string {
	switch e {
	case EvictFIFO:
		return "FIFO"
	case EvictTinyLFU:
		return "TinyLFU"
	}
	return fmt.Sprintf("Eviction(%d)", uint8(e))
}

// tinyLFUOverhead is what an EvictTinyLFU entry takes beside its key and
// its value (with Memory's deadline in front): otter's node (its links in
// the policy's and the timer wheel's lists, expiry, weight, the key's and
// the value's headers) and its share of the hash table, measured by
// TestMemoryTinyLFUWeightIsHonest.
const tinyLFUOverhead = 96

// tinyLFUWeight is an entry's share of MaxBytes under EvictTinyLFU: what it
// takes on the heap, the rounding of its value up to Go's size classes
// (at most 12.5%) counted as a sixteenth.
func tinyLFUWeight(key string, val []byte) uint32 {
	return uint32(tinyLFUOverhead + len(key) + len(val) + len(val)/16)
}

// newTinyLFU starts the otter cache behind an EvictTinyLFU Memory.
func newTinyLFU(m *Memory) (*otter.Cache[string, []byte], error) {
	c, err := otter.New(&otter.Options[string, []byte]{
		MaximumWeight: uint64(m.maxBytes),
		Weigher:       tinyLFUWeight,
		// Each entry expires at the deadline Set wrote in front of its value.
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[string, []byte]) time.Duration {
			d := int64(binary.BigEndian.Uint64(e.Value))
			if d == 0 {
				return math.MaxInt64 // otter's "never"
			}
			return time.Duration(d - time.Now().UnixNano())
		}),
		OnDeletion: m.onDeletion,
		// Maintenance (eviction, expiry) and deletion events on the calling
		// goroutine, as bigcache evicts on the writer's: the store is within
		// its bound when Set returns, and no goroutine is started per write.
		// onDeletion only counts, so it is safe under otter's locks.
		Executor: func(fn func()) { fn() },
	})
	if err != nil {
		return nil, fmt.Errorf("cachekit: starting the memory store (TinyLFU): %w", err)
	}
	return c, nil
}

func (m *Memory) onDeletion(e otter.DeletionEvent[string, []byte]) {
	switch e.Cause {
	case otter.CauseOverflow:
		m.evictions.Add(1)
	case otter.CauseExpiration:
		m.expired.Add(1)
	}
}

// lfuGet is Get under EvictTinyLFU. otter removes an expired entry itself
// (counted in Expired by onDeletion); the check here covers the
// nanoseconds between its clock and this one. The value is copied, as
// bigcache's Get does: the stored one is shared with every other reader.
func (m *Memory) lfuGet(key string) []byte {
	b, ok := m.lfu.GetIfPresent(key)
	if !ok || len(b) < 8 {
		return nil
	}
	if d := int64(binary.BigEndian.Uint64(b)); d != 0 && time.Now().UnixNano() >= d {
		return nil
	}
	return append([]byte(nil), b[8:]...)
}

// lfuSet is set under EvictTinyLFU, with the deadline in front of a copy of
// val (otter keeps what it is given) and a copy of the key (which callers
// may build in a reused buffer).
func (m *Memory) lfuSet(key string, val []byte, deadline int64) {
	buf := make([]byte, 8, 8+len(val))
	binary.BigEndian.PutUint64(buf, uint64(deadline))
	m.lfu.Set(strings.Clone(key), append(buf, val...))
}
