package cachekit

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
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
	// hot is the hot layer's value this one is, nil when it was read
	// from the storage (Memo).
	hot *hotValue
}

// Memo returns the slot where a caller may keep its own form of r.Value
// (a decoded page, say) for as long as the hot layer keeps that value:
// every hit answered with the same kept value gets the same slot, and a
// value the hot layer replaces or drops takes its slot with it. It is nil
// when r did not come from the hot layer. What is kept there must be made
// from r.Value alone, never from anything else about the hit (its Age,
// its Status): the slot is shared by every caller of the key, and whether
// the value may be served is decided by each lookup, not by the slot.
func (r *Result) Memo() *Memo {
	if r.hot == nil {
		return nil
	}
	return &r.hot.memo
}

// A Memo is Result.Memo's slot. Its methods are safe for concurrent use.
type Memo struct{ p atomic.Pointer[any] }

// Load returns what Store kept, nil if nothing.
func (m *Memo) Load() any {
	if p := m.p.Load(); p != nil {
		return *p
	}
	return nil
}

// Store keeps v, in place of what was kept.
func (m *Memo) Store(v any) { m.p.Store(&v) }

// A HotView reads the hot layer at one instant, the clock read once: the
// reads one request makes (fibercache's path record, then its page) cost
// one clock reading, not one each. It is for one goroutine and a few
// reads in a row: its instant does not move, so a value whose fresh
// window ends meanwhile still reads as fresh from it, for as long as the
// view is used.
type HotView struct {
	c   *Cache
	now int64
}

// HotView returns a view of the hot layer at the current instant.
func (c *Cache) HotView() HotView {
	if c.hot == nil || c.err != nil {
		return HotView{}
	}
	return HotView{c: c, now: c.monoNow()}
}

// Time returns the view's instant as a time.Time with its monotonic
// reading (time.Since measures from it), for a caller that needs the time
// its reads were made at and would otherwise read the clock again. It is
// zero for the view of a Cache without a hot layer (HotView then reads no
// clock).
func (v HotView) Time() time.Time {
	if v.c == nil {
		return time.Time{}
	}
	return v.c.start.Add(time.Duration(v.now))
}

// Peek is Cache.Peek for a fresh value the hot layer holds (nothing is
// counted): ok is false, and no storage read, otherwise.
func (v HotView) Peek(key string) (r Result, ok bool) {
	if v.c == nil || key == "" {
		return Result{}, false
	}
	if _, ok := v.c.hotHitAt(key, noHint, v.now, &r); !ok {
		return Result{}, false
	}
	return r, true
}

// Lookup is Cache.Lookup for a fresh value the hot layer holds, counted as
// Lookup counts a hit: it touches no storage and takes no lock. When the
// hot layer holds no fresh value for key, ok is false and nothing is
// counted, so that the caller can go on to Load or Lookup as it would
// have, as if Lookup had not been called.
func (v HotView) Lookup(key string) (r Result, ok bool) {
	ok = v.LookupHint(key, nil, &r)
	return r, ok
}

// LookupHint is Lookup trying first the place of the hot layer h
// remembers (nil: none), which saves hashing key when the value is still
// kept there; then h remembers where key's value is kept. It finds
// exactly what Lookup finds: a place holds a value for one key, which is
// checked as Lookup checks it (fresh, its versions unmoved: no
// invalidation, tag invalidation, Clear or Bus message since it was
// validated), so a hint that no longer fits only costs the look. It sets
// *r to the Result Lookup returns (a zero Result when ok is false), in
// place: a hit copies none of it.
func (v HotView) LookupHint(key string, h *HotHint, r *Result) (ok bool) {
	*r = Result{}
	if v.c == nil || key == "" {
		return false
	}
	var hint uint64
	if h != nil {
		hint = h.v.Load()
	}
	slot, ok := v.c.hotHitAt(key, uint64(uint32(hint))-1, v.now, r)
	if !ok {
		return false
	}
	if h != nil {
		h.remember(hint, slot, v.now)
	}
	v.c.count(key, Hit)
	return true
}

// A HotHint remembers where the hot layer kept the value a lookup found
// (HotView.LookupHint), for the next lookup of the same key, such as a
// decoded form kept in a Result.Memo may hold for the key it leads to
// (fibercache's path record, for the path's page). It is only a hint:
// what a lookup finds never depends on it. Its zero value remembers
// nothing; it is safe for concurrent use.
type HotHint struct {
	// v is the slot plus one (low 32 bits; 0: none) and, above it, the
	// hotHintTick of the view that wrote it.
	v atomic.Uint64
}

// hotHintTick: a HotHint is rewritten at most once per 2^20 ns (about a
// millisecond) of the clock of the views that use it, so that lookups of
// keys that share one hint and alternate (a path's variants) do not write
// it on every hit: it then leads to one of them, and the others are
// looked up as without it.
const hotHintTick = 20

// remember keeps slot (found at now) in place of hint, h's value as the
// lookup read it, unless it is the same or was written this tick.
func (h *HotHint) remember(hint, slot uint64, now int64) {
	tick := uint64(now) >> hotHintTick & (1<<32 - 1)
	if uint64(uint32(hint)) == slot+1 || (hint != 0 && hint>>32 == tick) {
		return
	}
	h.v.Store(tick<<32 | (slot + 1))
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
	return c.lookupMiss(key, nil)
}

// LookupHot returns the value the hot layer keeps for key, when it holds a
// fresh one: the cheapest read there is (no storage read, no lock shared by
// all callers, no fill). It counts as a Lookup hit and, like a hit of
// LoadContext, adds the entry's tags to the fill running under ctx (nil for
// none). ok is false when the hot layer has nothing fresh for key, or when
// the Cache has no hot layer (a shared store without Local and a Bus, or
// a negative Config.HotBytes): read key with Load or LoadContext then,
// which also reports a bad key (a key they refuse is never in the hot
// layer). The value must not be modified. LookupHot keeps nothing of key,
// which may alias a buffer the caller reuses, or its stack: key does not
// escape (Config.Observe, when set, is given a copy). fragments' {{cache}} blocks
// try it first, so a hit pays neither a fill's setup nor a Policy's checks.
func (c *Cache) LookupHot(ctx context.Context, key string) (value []byte, ok bool) {
	var r Result
	if !c.hotHit(key, &r) {
		return nil, false
	}
	// Counted without handing key to Observe (count would): key may be in
	// the caller's stack frame (a {{cache}} block makes it there), which
	// stays there only while nothing it is passed to can keep it; a func
	// value's parameters are taken to keep theirs. Observe gets a copy.
	c.stats.hits.Add(1)
	if c.observe != nil {
		c.observe(strings.Clone(key), Hit)
	}
	if d := depsFrom(ctx); d != nil {
		d.addList(c, r.tags)
	}
	return r.Value, true
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
	return c.storedResult(key, b, nil, nil)
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
	return c.lookupMemo(key, nil)
}

// lookupMemo is lookup validating against a render's memo (memo.go).
func (c *Cache) lookupMemo(key string, memo *tagMemo) (r Result, err error) {
	if c.hotHit(key, &r) {
		return r, nil
	}
	return c.lookupMiss(key, memo)
}

// hotHit sets r from the hot layer, if it holds a fresh value for key.
func (c *Cache) hotHit(key string, r *Result) bool {
	if c.hot == nil {
		return false
	}
	_, ok := c.hotHitAt(key, noHint, c.monoNow(), r)
	return ok
}

// noHint is a hotHitAt hint that is no slot.
const noHint = ^uint64(0)

// hotHitAt is hotHit at now, a monoNow reading, trying the slot hint first
// (hotLayer.get); it returns the slot the value was found in. c.hot is not
// nil.
func (c *Cache) hotHitAt(key string, hint uint64, now int64, r *Result) (uint64, bool) {
	if c.bus != nil && !c.bus.live.Load() {
		return 0, false
	}
	v, slot, ok := c.hot.get(key, hint, c.hotID, now, c.marks)
	if !ok {
		return 0, false
	}
	r.Value, r.Status, r.Age, r.tags, r.hot = v.value, Hit, time.Duration(max(v.age+now-v.kept, 0)), v.tags, v
	r.Expires = v.expires
	return slot, true
}

// lookupMiss is lookup past the hot layer: it reads the storage, and keeps
// a hit in the hot layer when there is one.
func (c *Cache) lookupMiss(key string, memo *tagMemo) (Result, error) {
	if c.hot == nil {
		return c.lookupStored(key, nil, memo)
	}
	now := c.monoNow()
	// Before the reads: see hotLayer.put.
	all := c.marks.all.Load()
	marks := make([]mark, 1, 4)
	marks[0] = c.keyMark(key)
	r, err := c.lookupStored(key, &marks, memo)
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
		v.expires = time.Unix(0, r.Expires.UnixNano())      // as it was returned when read from a hit's nanoseconds
		v.freshTo = now + int64(r.Expires.Sub(c.wallNow())) // measured after the read: never later than storage says
	}
	if c.bus != nil {
		v.until = now + int64(c.localTTL) // half of LocalTTL: a lost message costs at most LocalTTL
	}
	c.hot.put(key, v)
}

// lookupStored reads and validates the entry under key from the storage.
// With marks, it appends the version of each of the entry's tags to it,
// read before the tag's generation. With a memo, the generations are the
// render's (memo.go).
func (c *Cache) lookupStored(key string, marks *[]mark, memo *tagMemo) (Result, error) {
	b, err := c.read(key)
	if err != nil {
		return Result{}, fmt.Errorf("cachekit: get %q: %w", key, err)
	}
	return c.storedResult(key, b, marks, memo)
}

// storedResult validates the stored bytes b read under key (nil: none), as
// lookupStored.
func (c *Cache) storedResult(key string, b []byte, marks *[]mark, memo *tagMemo) (Result, error) {
	if b == nil {
		return Result{}, nil
	}
	e, err := decodeEntry(b)
	if err != nil {
		c.stats.corrupt.Add(1)
		c.errlog.log(fmt.Errorf("cachekit: the entry under %q does not decode (%w); read as a miss", key, err))
		return Result{}, nil
	}
	valid, err := c.validTags(&e, marks, memo)
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
