package cachekit

import (
	"errors"
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

// Policy says how long an entry lives and what invalidates it.
type Policy struct {
	// TTL is how long the entry is fresh. 0 means no expiry.
	TTL time.Duration
	// StaleWhileRevalidate is how long after TTL the entry may still be
	// served while one refresh runs in the background.
	StaleWhileRevalidate time.Duration
	// StaleIfError is how long after TTL the entry may still be served when
	// the refresh fails.
	StaleIfError time.Duration
	// Tags invalidate the entry together (Cache.InvalidateTags).
	Tags []string
	// NoStore, set by a Fill, gives the value to its caller only: it is not
	// stored, and callers that waited for it run their own fill.
	NoStore bool
	// Background, when set, returns the Fill that a stale-while-revalidate
	// refresh runs on its own goroutine. It is called on the caller's
	// goroutine before Load returns the stale value, so it can copy the
	// request state the refresh needs. nil: the refresh runs the fill given
	// to Load.
	Background func() Fill
}

func (p *Policy) check() error {
	if err := checkTTL("TTL", p.TTL); err != nil {
		return err
	}
	if err := checkTTL("StaleWhileRevalidate", p.StaleWhileRevalidate); err != nil {
		return err
	}
	if err := checkTTL("StaleIfError", p.StaleIfError); err != nil {
		return err
	}
	for _, t := range p.Tags {
		if t == "" {
			return errors.New("cachekit: empty tag")
		}
	}
	return nil
}

// A Fill computes the value for a key on a miss. It gets a copy of the
// caller's Policy and may change it: set the TTL from what it computed, add
// tags, or set NoStore.
type Fill func(p *Policy) ([]byte, error)

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
// their own and skew the hit ratio.
func (c *Cache) Peek(key string) (r Result, err error) {
	if err = c.check(key); err != nil {
		return Result{}, err
	}
	if c.hotHit(key, &r) { // not through lookup: r is filled where it is returned
		return r, nil
	}
	return c.lookupMiss(key)
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

// hotHit fills r from the hot layer, if it holds a fresh value for key.
func (c *Cache) hotHit(key string, r *Result) bool {
	if c.hot == nil {
		return false
	}
	now := c.monoNow()
	v, ok := c.hot.get(key, now, c.epoch.Load())
	if !ok {
		return false
	}
	r.Value, r.Status, r.Age = v.value, Hit, time.Duration(v.age+now-v.kept)
	if v.expires != 0 {
		r.Expires = time.Unix(0, v.expires)
	}
	return true
}

// lookupMiss is lookup past the hot layer: it reads the storage, and keeps
// a hit in the hot layer when there is one.
func (c *Cache) lookupMiss(key string) (Result, error) {
	if c.hot == nil {
		return c.lookupStored(key)
	}
	now := c.monoNow()
	epoch := c.epoch.Load() // before the read: see hotLayer.put
	r, err := c.lookupStored(key)
	if r.Status == Hit {
		v := &hotValue{value: r.Value, epoch: epoch, kept: now, age: int64(r.Age)}
		if !r.Expires.IsZero() {
			v.expires = r.Expires.UnixNano()
			v.freshTo = now + int64(r.Expires.Sub(c.wallNow())) // measured after the read: never later than storage says
		}
		if c.bus != nil {
			v.until = now + int64(c.localTTL) // a lost message costs at most LocalTTL
		}
		c.hot.put(key, v)
	}
	return r, err
}

// lookupStored reads and validates the entry under key from the storage.
func (c *Cache) lookupStored(key string) (Result, error) {
	b, err := c.read(key)
	if err != nil {
		return Result{}, fmt.Errorf("cachekit: get %q: %w", key, err)
	}
	if b == nil {
		return Result{}, nil
	}
	e, err := decodeEntry(b)
	if err != nil {
		c.stats.corrupt.Add(1)
		return Result{}, nil
	}
	valid, err := c.validTags(&e)
	if err != nil {
		return Result{}, fmt.Errorf("cachekit: get %q: %w", key, err)
	}
	if !valid {
		return Result{}, nil
	}
	now := c.wallNow().UnixNano()
	r := Result{Value: e.value, Age: time.Duration(now - e.stored)}
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
		return Result{}, nil
	}
	return r, nil
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
		b, err = c.store.Get(c.keys.storageKey(kindEntry, key))
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

// Load returns the value under key, filling it on a miss:
//
//   - a fresh entry is a Hit;
//   - inside StaleWhileRevalidate, the stale value is returned at once and
//     one refresh runs in the background;
//   - otherwise fill runs, once for all concurrent callers of this key in
//     this process, and its value is stored under p unless the fill sets
//     NoStore; inside StaleIfError, a failed fill returns the stale value.
//
// A storage error never fails Load: it is counted and logged, and the fill's
// value is returned uncached. Load returns an error only for bad arguments
// or when fill fails with nothing stale to serve.
func (c *Cache) Load(key string, p Policy, fill Fill) (Result, error) {
	if err := c.check(key); err != nil {
		return Result{}, err
	}
	if err := p.check(); err != nil {
		return Result{}, err
	}
	r, _ := c.lookup(key)
	c.count(key, r.Status)
	switch r.Status {
	case Hit:
		return r, nil
	case Stale:
		c.refresh(key, p, fill)
		return r, nil
	}
	fallback := r.fallback
	skey := c.keys.storageKey(kindEntry, key)
	leader := false
	joined := c.epochNow()
	v, err, _ := c.group.Do(skey, func() (any, error) {
		leader = true
		// A caller that missed just as the previous flight ended would
		// otherwise fill again: look once more inside the flight.
		epoch := c.epochNow()
		if r, _ := c.lookup(key); r.Status == Hit {
			return fillResult{value: r.Value, epoch: epoch}, nil
		}
		return c.runFill(skey, p, fill)
	})
	shared := !leader
	if shared {
		c.stats.coalesced.Add(1)
	}
	var f fillResult
	if v != nil {
		f = v.(fillResult)
	}
	if err == nil && shared && (f.noStore || f.epoch != joined) {
		// The value was meant for the caller that computed it only, or the
		// flight began before an invalidation this caller came after.
		f, err = c.runFill(skey, p, fill)
	}
	if err != nil {
		if fallback != nil {
			c.stats.staleErrors.Add(1)
			fb := *fallback
			fb.FillErr = err
			return fb, nil
		}
		return Result{}, err
	}
	return Result{Value: f.value, Status: Miss, Coalesced: shared, Stored: f.stored}, nil
}

// fillResult is what one run of a Fill produced.
type fillResult struct {
	value   []byte
	stored  bool
	noStore bool
	epoch   uint64 // when the fill began
}

// runFill runs fill under the policy and stores the value.
func (c *Cache) runFill(skey string, p Policy, fill Fill) (fillResult, error) {
	upfront := p.Tags
	gens, genErr := c.generations(upfront, nil)
	started := c.wallNow()
	epoch := c.epochNow()
	fp := p
	fp.Tags = append([]string(nil), p.Tags...)
	v, err := fill(&fp)
	if err != nil {
		return fillResult{}, err
	}
	f := fillResult{value: v, noStore: fp.NoStore, epoch: epoch}
	if fp.NoStore || genErr != nil {
		return f, nil
	}
	if err := fp.check(); err != nil {
		c.storageError(fmt.Errorf("fill for %q returned a bad policy: %w", skey, err))
		return f, nil
	}
	if late := lateTags(upfront, fp.Tags); len(late) > 0 {
		// Tags known only after the fill: a generation that moved (or
		// appeared) while the fill ran may belong to an invalidation the
		// value predates, so such a value is not stored.
		lateGens, err := c.generations(late, nil)
		if err != nil {
			return f, nil
		}
		// On an embedded store this process sees every invalidation, and
		// InvalidateTags moves the epoch before it writes: an epoch that did
		// not move proves none happened, so a generation made during the
		// fill is simply new. (With a Bus, another instance's invalidation
		// reaches the store before its message reaches us: no such proof.)
		quiet := c.memory != nil && c.epochNow() == epoch
		for _, g := range lateGens {
			if genTime(g.gen) >= started.UnixNano() && !quiet {
				c.stats.raceSkips.Add(1)
				return f, nil
			}
		}
		gens = append(gens, lateGens...)
	}
	f.stored = c.writeEntry(skey, v, &fp, gens) == nil
	return f, nil
}

// lateTags returns the tags in after that are not in before.
func lateTags(before, after []string) []string {
	var late []string
next:
	for _, t := range after {
		for _, b := range before {
			if t == b {
				continue next
			}
		}
		late = append(late, t)
	}
	return late
}

// refresh starts one background fill for key unless one is running.
func (c *Cache) refresh(key string, p Policy, fill Fill) {
	skey := c.keys.storageKey(kindEntry, key)
	if _, running := c.refreshing.LoadOrStore(skey, struct{}{}); running {
		return
	}
	if p.Background != nil {
		fill = p.Background()
	}
	go func() {
		defer c.refreshing.Delete(skey)
		_, err, _ := c.group.Do(skey, func() (any, error) { return c.runFill(skey, p, fill) })
		if err != nil {
			c.stats.refreshErrors.Add(1)
		}
	}()
}

// writeEntry encodes value as an entry with the policy's windows and the
// tag generations, and writes it under the storage key.
func (c *Cache) writeEntry(skey string, value []byte, p *Policy, gens []taggedGen) error {
	now := c.wallNow()
	e := entry{stored: now.UnixNano()}
	var exp time.Duration
	if p.TTL > 0 {
		e.fresh = now.Add(p.TTL).UnixNano()
		e.swr = now.Add(p.TTL + p.StaleWhileRevalidate).UnixNano()
		e.sie = now.Add(p.TTL + p.StaleIfError).UnixNano()
		exp = p.TTL + max(p.StaleWhileRevalidate, p.StaleIfError)
	}
	buf := encodeEntry(make([]byte, 0, entryFixed+entryCRC+len(value)+16+len(gens)*48), &e, gens, value)
	if c.local != nil {
		localExp := c.localTTL
		if exp > 0 && exp < localExp {
			localExp = exp
		}
		_ = c.local.Set(skey, buf, localExp)
	}
	if err := c.store.Set(skey, buf, exp); err != nil {
		c.storageError(err)
		return fmt.Errorf("cachekit: set: %w", err)
	}
	c.stats.stores.Add(1)
	return nil
}
