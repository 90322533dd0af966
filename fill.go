package cachekit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"
)

// Policy says how long an entry lives and what invalidates it.
type Policy struct {
	// TTL is how long the entry is fresh: NoExpiry for ever, DefaultTTL for
	// the Cache's Config.DefaultTTL; with 0 or less the value is not
	// stored (see NoExpiry). A Fill may change it.
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
	// Absent, set by the caller of Load, says the key is known to hold
	// nothing (it was just read as missing, or it holds a random part
	// nothing was ever stored under): Load skips its lookup and fills at
	// once, still once for all concurrent callers of the key, and stores
	// the value as on any miss (over whatever the key holds by then).
	Absent bool

	// storeDown, set by Load when its lookup failed on the store (a
	// timeout, an open circuit): the fill runs without the store, so one
	// Load waits for at most one failing call.
	storeDown bool

	deps *deps // the collector of the fill this Policy was given to
}

// Context returns the context of the fill this Policy was given to: pass it
// to every cached read the fill makes (LoadContext, GetOrSetContext,
// FetchContext, GetContext, and AddTags), so that the entry the fill writes
// carries their tags. It carries the values, deadline and cancellation of
// the context given to LoadContext (none for Load, or for a background
// refresh). Outside a fill it is context.Background().
func (p *Policy) Context() context.Context {
	if p.deps == nil {
		return context.Background()
	}
	return p.deps.context()
}

func (p *Policy) check() error {
	if err := checkTTL("StaleWhileRevalidate", p.StaleWhileRevalidate); err != nil {
		return err
	}
	if err := checkTTL("StaleIfError", p.StaleIfError); err != nil {
		return err
	}
	for _, t := range p.Tags {
		if t == "" {
			return errEmptyTag
		}
	}
	return nil
}

func checkTTL(what string, d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("cachekit: negative %s %v", what, d)
	}
	return nil
}

// A Fill computes the value for a key on a miss. It gets a copy of the
// caller's Policy and may change it: set the TTL from what it computed, add
// tags, or set NoStore.
type Fill func(p *Policy) ([]byte, error)

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
	return c.load(noContext, key, p, fill)
}

// noContext is the context of Load: none.
var noContext context.Context

// load is LoadContext: Load recording what it read in the collector of the
// fill ctx carries, if any.
func (c *Cache) load(ctx context.Context, key string, p Policy, fill Fill) (Result, error) {
	if err := c.check(key); err != nil {
		return Result{}, err
	}
	if err := p.check(); err != nil {
		return Result{}, err
	}
	d := depsFrom(ctx)
	written := c.written.Load() // before the lookup: see loadMiss
	var r Result
	var lerr error
	if !p.Absent {
		r, lerr = c.lookupMemo(key, c.memoFrom(ctx))
	}
	c.count(key, r.Status)
	p.storeDown = lerr != nil && storeDown(lerr)
	if r.Status == Hit {
		if d != nil {
			d.addList(c, r.tags)
		}
		return r, nil
	}
	return c.loadMiss(ctx, d, key, p, fill, &r, written)
}

// loadMiss is Load past a fresh hit: a stale value with its refresh, or a
// fill. ctx is noContext for Load, and d the collector ctx carries.
// written is c.written as read before the caller's lookup: the flight looks
// the key up again only when this Cache wrote an entry since, so a miss
// costs one read of its key, not two, on a shared store.
func (c *Cache) loadMiss(ctx context.Context, d *deps, key string, p Policy, fill Fill, r *Result, written uint64) (Result, error) {
	if r.Status == Stale {
		if d != nil {
			d.addList(c, r.tags)
		}
		c.refresh(key, p, fill)
		return *r, nil
	}
	if ctx != nil {
		if err := ctx.Err(); err != nil {
			return Result{}, err
		}
	}
	fallback := r.fallback
	skey := c.keys.storageKey(kindEntry, key)
	leader := false
	joined, joinedAt := c.epochNow(), c.flightStart(key)
	v, err, _ := c.group.Do(skey, func() (any, error) {
		leader = true
		// A caller that missed just as the previous flight ended would
		// otherwise fill again: look once more inside the flight.
		epoch := c.epochNow()
		at := c.flightStart(key)
		if !p.storeDown && !p.Absent && c.written.Load() != written {
			if r, _ := c.lookup(key); r.Status == Hit {
				return fillResult{value: r.Value, epoch: epoch, list: r.tags}, nil
			}
		}
		f, err := c.runFill(ctx, skey, p, fill)
		f.at = at
		f.ctxGone = err != nil && ctx != nil && ctx.Err() != nil
		return f, err
	})
	shared := !leader
	if shared {
		c.stats.coalesced.Add(1)
	}
	var f fillResult
	if v != nil {
		f = v.(fillResult)
	}
	if shared && err != nil && f.ctxGone && (ctx == nil || ctx.Err() == nil) {
		// The fill failed because the caller that ran it went away, not
		// this one: run it for this caller.
		f, err = c.runFill(ctx, skey, p, fill)
	} else if err == nil && shared && (f.noStore || (f.epoch != joined && !c.flightCurrent(&f, joinedAt))) {
		// The value was meant for the caller that computed it only, or the
		// flight began before an invalidation this caller came after (a
		// write of another key since it began does not count:
		// flightCurrent).
		f, err = c.runFill(ctx, skey, p, fill)
	}
	if err != nil {
		if fallback != nil {
			c.stats.staleErrors.Add(1)
			fb := *fallback
			fb.FillErr = err
			if d != nil {
				d.addList(c, fb.tags)
			}
			return fb, nil
		}
		return Result{}, err
	}
	if d != nil {
		f.report(c, d)
	}
	return Result{Value: f.value, Status: Miss, Coalesced: shared, Stored: f.stored}, nil
}

// fillResult is what one run of a Fill produced.
type fillResult struct {
	value   []byte
	stored  bool
	noStore bool
	epoch   uint64 // when the fill began

	// What the value depends on, for the fills around it: the generations
	// it was (or would have been) written under, or the tag list of the
	// entry a flight found; unsafe when they are not all known, so nothing
	// built from the value may be stored.
	gens   []taggedGen
	list   []byte
	unsafe bool

	ctxGone bool // the fill failed with its caller's context done

	at flightMarks // the versions when the flight began
}

// flightMarks are the versions (versions.go) of a flight's key when it
// began, before its reads.
type flightMarks struct {
	ok   bool // the Cache has versions
	all  uint64
	tags uint64
	key  mark
}

func (c *Cache) flightStart(key string) flightMarks {
	if c.marks == nil {
		return flightMarks{}
	}
	return flightMarks{ok: true, all: c.marks.all.Load(), tags: c.marks.tags.Load(), key: c.keyMark(key)}
}

// flightCurrent reports whether a caller that joined a flight after some
// write (joined: the versions then) may take its value as it would take a
// hit on the entry the flight stored: no invalidation of any tag came
// between the flight's start and the join (an invalidation may concern
// what the fill read without saying so), its key's version has not moved
// since the flight began (no Set, Delete or other write of the key;
// nothing dropped every value), and every tag the value was built under
// (the key space's and those of the reads its fill made) still has the
// generation it was built under: generations are random and never written
// twice, so an equal one proves no invalidation since. Writes of other
// keys are what is left: they change nothing the value depends on.
func (c *Cache) flightCurrent(f *fillResult, joined flightMarks) bool {
	if !f.at.ok || f.unsafe || len(f.gens) == 0 {
		return false // a value the flight found stored, or one whose dependencies are unknown
	}
	if joined.tags != f.at.tags || joined.all != f.at.all || c.marks.all.Load() != f.at.all || !c.marks.valid([]mark{f.at.key}) {
		return false
	}
	names := make([][]byte, len(f.gens))
	for i := range f.gens {
		names[i] = []byte(f.gens[i].name)
		if c.pending.n.Load() != 0 && c.pending.has(names[i]) {
			return false
		}
	}
	cur, err := c.tagGens(context.Background(), names, make([][]byte, 0, len(names)), nil) // the store's, not a render's
	if err != nil {
		return false
	}
	for i := range f.gens {
		if !bytes.Equal(cur[i], f.gens[i].gen[:]) {
			return false
		}
	}
	return true
}

// report records what f depends on in the collector of the caller's fill.
func (f *fillResult) report(c *Cache, d *deps) {
	d.add(c, f.list, f.gens)
	if f.unsafe {
		d.mu.Lock()
		d.unstorable = true
		d.mu.Unlock()
	}
}

// runFill runs fill under the policy and stores the value. The fill's
// context (Policy.Context) is parent with the fill's own collector.
func (c *Cache) runFill(parent context.Context, skey string, p Policy, fill Fill) (fillResult, error) {
	if p.storeDown {
		// Without the store nothing is stored, and what the value was
		// built from is unknown: nothing built from it may be stored.
		epoch := c.epochNow() // before the fill, as below: a waiter after an invalidation refills
		p.deps = &deps{c: c, parent: parent}
		v, err := c.callFill(skey, fill, &p)
		return fillResult{value: v, noStore: p.NoStore, epoch: epoch, unsafe: true}, err
	}
	upfront := p.Tags
	gens, genErr := c.entryGenerations(upfront, c.memoFrom(parent))
	started := c.wallNow()
	epoch := c.epochNow()
	fp := p
	fp.Tags = append([]string(nil), p.Tags...)
	d := &deps{c: c, parent: parent}
	fp.deps = d
	v, err := c.callFill(skey, fill, &fp)
	if err != nil {
		return fillResult{}, err
	}
	all, depsOK := d.merge(gens)
	f := fillResult{value: v, noStore: fp.NoStore, epoch: epoch, gens: all, unsafe: genErr != nil || !depsOK}
	if !depsOK {
		c.stats.raceSkips.Add(1)
	}
	if _, store := c.resolveTTL(fp.TTL); fp.NoStore || f.unsafe || !store {
		return f, nil // a TTL of 0 or less: shared with the waiters, not stored
	}
	if err := fp.check(); err != nil {
		c.storageError(fmt.Errorf("fill for %q returned a bad policy: %w", skey, err))
		f.unsafe = true
		return f, nil
	}
	late := lateTags(upfront, fp.Tags)
	for i := 0; i < len(late); i++ {
		if d.known(late[i]) { // attached by AddTags: its generation predates the data
			late = append(late[:i], late[i+1:]...)
			i--
		}
	}
	if len(late) > 0 {
		// Tags known only after the fill: a generation that moved (or
		// appeared) while the fill ran may belong to an invalidation the
		// value predates, so such a value is not stored.
		lateGens, err := c.generations(late, nil, nil) // the store's: see below
		if err != nil {
			f.unsafe = true
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
				f.unsafe = true
				return f, nil
			}
		}
		all = append(all, lateGens...)
		f.gens = all
	}
	f.stored = c.writeEntry(skey, v, &fp, all) == nil
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
		defer c.recoverBackground(skey) // callFill recovers the fill's own panics
		_, err, _ := c.group.Do(skey, func() (any, error) { return c.runFill(context.Background(), skey, p, fill) })
		if err != nil {
			c.stats.refreshErrors.Add(1)
		}
	}()
}

// writeEntry encodes value as an entry with the policy's windows and the
// tag generations, and writes it under the storage key.
func (c *Cache) writeEntry(skey string, value []byte, p *Policy, gens []taggedGen) error {
	buf, exp, err := c.newEntry(value, p, gens)
	if err != nil {
		return err
	}
	return c.writeEncoded(skey, buf, exp)
}

// writeEncoded writes an encoded entry under the storage key, for exp (0:
// as long as the store may keep it), and into Local in the two-level mode.
func (c *Cache) writeEncoded(skey string, buf []byte, exp time.Duration) error {
	if c.local != nil {
		localExp := c.localTTL
		if exp > 0 && exp < localExp {
			localExp = exp
		}
		_ = c.local.Set(skey, buf, localExp)
	}
	err := c.storeSet(context.Background(), skey, buf, exp)
	c.written.Add(1) // after the write: see loadMiss
	if err != nil {
		c.storageError(err)
		return fmt.Errorf("cachekit: set: %w", err)
	}
	c.stats.stores.Add(1)
	return nil
}

// newEntry encodes value as an entry with the policy's windows and the tag
// generations, and returns it with the storage expiry it needs.
func (c *Cache) newEntry(value []byte, p *Policy, gens []taggedGen) ([]byte, time.Duration, error) {
	now := c.wallNow()
	e := entry{stored: now.UnixNano()}
	var exp time.Duration // 0: as long as the store may keep it
	ttl, ok := c.resolveTTL(p.TTL)
	if !ok {
		return nil, 0, fmt.Errorf("cachekit: set: TTL %v stores nothing", p.TTL) // callers delete or skip first
	}
	if expires(ttl) {
		e.fresh = now.Add(ttl).UnixNano()
		e.swr = now.Add(ttl + min(p.StaleWhileRevalidate, neverTTL)).UnixNano()
		e.sie = now.Add(ttl + min(p.StaleIfError, neverTTL)).UnixNano()
		exp = ttl + max(p.StaleWhileRevalidate, p.StaleIfError)
		if exp < 0 { // overflowed: the store's bound applies
			exp = 0
		}
	}
	// A Memory keeps its key space's generation in process, where it never
	// expires; every other generation bounds the entry's life in the store.
	stored := gens
	if c.memory != nil && len(gens) > 0 && gens[0].name == clearTag {
		stored = gens[1:]
	}
	exp, ok = entryExpiry(exp, stored, now.UnixNano())
	if !ok {
		return nil, 0, errors.New("cachekit: set: a tag generation ran out just now") // the entry would read as a miss
	}
	return encodeEntry(make([]byte, 0, entryFixed+entryCRC+len(value)+16+len(gens)*48), &e, gens, value), exp, nil
}
