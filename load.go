package cachekit

import (
	"context"
	"fmt"
	"sync"
	"time"
	"unsafe"
)

// Status says where a value came from.
type Status uint8

const (
	// Miss: the value was computed by a fill (or nothing was found).
	Miss Status = iota
	// Hit: a fresh stored value.
	Hit
	// Stale: a stored value past its fresh window, served while a refresh
	// runs (stale-while-revalidate) or because the refresh failed
	// (stale-if-error).
	Stale
)

// String returns HIT, MISS or STALE, the values of the X-Cache header.
func (s Status) String() string {
	switch s {
	case Hit:
		return "HIT"
	case Stale:
		return "STALE"
	default:
		return "MISS"
	}
}

// Result is what Lookup and Load found.
type Result struct {
	// Value may be kept but must not be modified: a hit from the hot layer
	// is shared with every other caller of that key.
	Value  []byte
	Status Status
	// Age is how long ago the value was stored (0 on a miss).
	Age time.Duration
	// Expires is the end of the value's fresh window; zero for no expiry.
	Expires time.Time
	// Coalesced: this caller waited for another caller's fill.
	Coalesced bool
	// Stored: the fill's value was stored.
	Stored bool
	// FillErr is the fill's error when a stale value was served instead.
	FillErr error
	// fallback holds a value usable only if a fill fails (stale-if-error).
	fallback *Result
	// tags is the encoded tag list of the entry the value came from (it
	// aliases the entry's buffer): what a fill that reads it depends on.
	tags []byte
}

var keyBufs = sync.Pool{New: func() any { b := make([]byte, 0, MaxKeyLen+8); return &b }}

// Lookup returns what is stored under key without filling: Hit for a fresh
// value, Stale for one inside its stale-while-revalidate window, Miss
// otherwise. It is the cheap read for callers that handle misses themselves.
func (c *Cache) Lookup(key string) (r Result, err error) {
	if err = c.check(key); err != nil {
		return Result{}, err
	}
	r, err = c.lookup(key)
	c.count(key, r.Status)
	return r, err
}

// Peek is Lookup without counting: it adds nothing to Stats and calls no
// Observe. It is for the metadata a caller reads on its way to a value
// (fibercache's path records), which would otherwise count as lookups of
// their own and skew the hit ratio. A hit from the hot layer takes no lock
// and writes no memory shared with other cores.
func (c *Cache) Peek(key string) (r Result, err error) {
	if err = c.check(key); err != nil {
		return Result{}, err
	}
	if c.hotHit(key, &r) { // not through lookup: r is built where it is returned
		return r, nil
	}
	return c.lookupMiss(key)
}

// PeekStored is Peek reading the storage itself: never the hot layer nor,
// in the two-level mode, Local, and it copies what it reads into neither.
// It sees a write another instance made whose Bus message has not arrived
// yet: for a caller that decides on it what to write to the shared store
// (fibercache's fence check after a record write). Over a Memory it is
// Peek without the hot layer.
func (c *Cache) PeekStored(key string) (Result, error) {
	if err := c.check(key); err != nil {
		return Result{}, err
	}
	var b []byte
	if c.memory != nil {
		b = memoryGet(c.memory, &c.keys, kindEntry, key)
	} else {
		var err error
		if b, err = c.storeGet(context.Background(), c.keys.storageKey(kindEntry, key)); err != nil {
			c.storageError(err)
			return Result{}, fmt.Errorf("cachekit: get %q: %w", key, err)
		}
	}
	return c.storedResult(key, b, nil)
}

// count records one lookup's outcome.
func (c *Cache) count(key string, s Status) {
	switch s {
	case Hit:
		c.stats.hits.Add(1)
	case Stale:
		c.stats.stale.Add(1)
	default:
		c.stats.misses.Add(1)
	}
	if c.observe != nil {
		c.observe(key, s)
	}
}

// lookup reads and validates the entry under key, from the hot layer when
// it has it. It counts nothing but errors and corrupt entries.
func (c *Cache) lookup(key string) (r Result, err error) {
	if c.hotHit(key, &r) {
		return r, nil
	}
	return c.lookupMiss(key)
}

// hotHit sets r from the hot layer, if it holds a fresh value for key.
func (c *Cache) hotHit(key string, r *Result) bool {
	if c.hot == nil || (c.bus != nil && !c.bus.live.Load()) {
		return false
	}
	now := c.monoNow()
	v, ok := c.hot.get(key, c.hotID, now, c.marks)
	if !ok {
		return false
	}
	r.Value, r.Status, r.Age, r.tags = v.value, Hit, time.Duration(max(v.age+now-v.kept, 0)), v.tags
	if v.expires != 0 {
		r.Expires = time.Unix(0, v.expires)
	}
	return true
}

// lookupMiss is lookup past the hot layer: it reads the storage, and keeps
// a hit in the hot layer when there is one.
func (c *Cache) lookupMiss(key string) (Result, error) {
	if c.hot == nil {
		return c.lookupStored(key, nil)
	}
	now := c.monoNow()
	// Before the reads: see hotLayer.put.
	all := c.marks.all.Load()
	marks := make([]mark, 1, 4)
	marks[0] = c.keyMark(key)
	r, err := c.lookupStored(key, &marks)
	c.keepHot(key, &r, now, all, marks)
	return r, err
}

// keepHot keeps a hit in the hot layer, validated at all and marks, read
// before the reads that found it, at now (a monoNow reading taken then).
func (c *Cache) keepHot(key string, r *Result, now int64, all uint64, marks []mark) {
	if r.Status != Hit || (c.bus != nil && !c.bus.live.Load()) {
		return
	}
	v := &hotValue{id: c.hotID, value: r.Value, tags: r.tags, all: all, marks: marks, kept: now, age: int64(r.Age)}
	if !r.Expires.IsZero() {
		v.expires = r.Expires.UnixNano()
		v.freshTo = now + int64(r.Expires.Sub(c.wallNow())) // measured after the read: never later than storage says
	}
	if c.bus != nil {
		v.until = now + int64(c.localTTL) // half of LocalTTL: a lost message costs at most LocalTTL
	}
	c.hot.put(key, v)
}

// lookupStored reads and validates the entry under key from the storage.
// With marks, it appends the version of each of the entry's tags to it,
// read before the tag's generation.
func (c *Cache) lookupStored(key string, marks *[]mark) (Result, error) {
	b, err := c.read(key)
	if err != nil {
		return Result{}, fmt.Errorf("cachekit: get %q: %w", key, err)
	}
	return c.storedResult(key, b, marks)
}

// storedResult validates the stored bytes b read under key (nil: none), as
// lookupStored.
func (c *Cache) storedResult(key string, b []byte, marks *[]mark) (Result, error) {
	if b == nil {
		return Result{}, nil
	}
	e, err := decodeEntry(b)
	if err != nil {
		c.stats.corrupt.Add(1)
		c.errlog.log(fmt.Errorf("cachekit: the entry under %q does not decode (%w); read as a miss", key, err))
		return Result{}, nil
	}
	valid, err := c.validTags(&e, marks)
	if err != nil {
		return Result{}, fmt.Errorf("cachekit: get %q: %w", key, err)
	}
	if !valid {
		return Result{}, nil
	}
	return c.entryResult(&e), nil
}

// entryResult is what a read finds in a decoded entry whose tags are valid:
// Hit, Stale, a Miss with a fallback (inside StaleIfError), or nothing.
func (c *Cache) entryResult(e *entry) Result {
	now := c.wallNow().UnixNano()
	r := Result{Value: e.value, Age: time.Duration(now - e.stored), tags: e.tags}
	if r.Age < 0 {
		r.Age = 0
	}
	if e.fresh != 0 {
		r.Expires = time.Unix(0, e.fresh)
	}
	switch {
	case e.fresh == 0 || now < e.fresh:
		r.Status = Hit
	case now < e.swr:
		r.Status = Stale
	case now < e.sie:
		r.Status = Miss
		fb := r
		fb.Status = Stale
		r.Value = nil
		r.fallback = &fb
	default:
		return Result{}
	}
	return r
}

// read returns the stored bytes under key: from Local first in the two-level
// mode, then from the storage (copying the entry into Local).
func (c *Cache) read(key string) ([]byte, error) {
	if c.local != nil {
		if b := memoryGet(c.local, &c.keys, kindEntry, key); b != nil {
			c.stats.localHits.Add(1)
			return b, nil
		}
	}
	var b []byte
	var err error
	epoch := c.epochNow()
	if c.memory != nil {
		b, err = memoryGet(c.memory, &c.keys, kindEntry, key), nil
	} else {
		b, err = c.storeGet(context.Background(), c.keys.storageKey(kindEntry, key))
	}
	if err != nil {
		c.storageError(err)
		return nil, err
	}
	if b != nil && c.local != nil {
		c.copyToLocal(c.keys.storageKey(kindEntry, key), b, epoch)
	}
	return b, nil
}

// memoryGet reads from the embedded store with the storage key built in a
// pooled buffer: Memory copies what it returns and keeps nothing of the key,
// so the hit path allocates only the value's copy.
func memoryGet(m *Memory, ks *keyspace, kind byte, key string) []byte {
	bp := keyBufs.Get().(*[]byte)
	kb := ks.appendKey((*bp)[:0], kind, key)
	b, _ := m.Get(unsafe.String(unsafe.SliceData(kb), len(kb)))
	*bp = kb[:0]
	keyBufs.Put(bp)
	return b
}
