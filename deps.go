package cachekit

import (
	"context"
	"errors"
	"sync"
)

var errEmptyTag = errors.New("cachekit: empty tag")

// Dependencies propagate: whatever is cached and was built from another
// cached piece carries that piece's tags. Every fill runs with a collector
// of the tags it depends on, carried by a context (Policy.Context): every
// piece read under that context (a hit: the tags in its entry, with the
// generations the hit validated) or filled under it (the generations its
// entry was written with), and every tag AddTags attaches. The fill's entry
// is written under all of them, so an InvalidateTags of any reaches it.
//
// Each generation is taken before the data it guards is read: a hit's
// generations are the ones its entry was validated against, a nested fill's
// were read before its fill ran, and AddTags reads (or makes) them when it
// is called. An invalidation that lands later moves a generation the entry
// was written under, so the entry reads as a miss: none is lost, and no
// generation made during the fill needs to be distrusted.

// BindKey is the key under which a page's context travels in the map data of
// a template render: fibercache binds it (fiber's c.Bind joins every
// c.Render map), and {{cache}} blocks executed with such a map as $ read
// through it, so the page depends on them.
const BindKey = "__cachekit_context"

type depsKey struct{}

// deps collects what one fill depends on. A fill's nested pieces may be
// read from other goroutines (a handler's own workers), hence the mutex.
type deps struct {
	c          *Cache
	parent     context.Context
	ctx        context.Context // made on first use, under mu
	mu         sync.Mutex
	lists      [][]byte    // encoded tag lists of entries read (they alias those entries)
	gens       []taggedGen // generations of nested fills and AddTags
	unstorable bool        // a piece from another Cache's tags, or a generation AddTags could not read
	memo       *tagMemo    // the memo of the render the fill is (TagMemo), made on first use, under mu
}

// depsFrom returns the collector ctx carries, or nil.
func depsFrom(ctx context.Context) *deps {
	if ctx == nil {
		return nil
	}
	d, _ := ctx.Value(depsKey{}).(*deps)
	return d
}

// context returns the fill's context: its parent with the collector.
func (d *deps) context() context.Context {
	d.mu.Lock() // a fill may hand its context to goroutines of its own
	defer d.mu.Unlock()
	if d.ctx == nil {
		parent := d.parent
		if parent == nil {
			parent = context.Background()
		}
		d.ctx = context.WithValue(parent, depsKey{}, d)
	}
	return d.ctx
}

// sameSpace reports whether c's tags are d's: the same storage and keyspace,
// so a generation read through one validates through the other.
func (d *deps) sameSpace(c *Cache) bool {
	return c == d.c || (c.user == d.c.user && c.keys == d.c.keys)
}

// addList records the encoded tag list of an entry read by c. It keeps the
// slice, not a copy: the entry's buffer is never modified.
func (d *deps) addList(c *Cache, list []byte) {
	if d == nil {
		return
	}
	same := d.sameSpace(c)
	if same && len(list) == 0 {
		return
	}
	d.mu.Lock()
	if same {
		d.lists = append(d.lists, list)
	} else {
		d.unstorable = true
	}
	d.mu.Unlock()
}

// addGens records generations read by c.
func (d *deps) addGens(c *Cache, gens []taggedGen) {
	if d == nil {
		return
	}
	same := d.sameSpace(c)
	if same && len(gens) == 0 {
		return
	}
	d.mu.Lock()
	if same {
		d.gens = append(d.gens, gens...)
	} else {
		d.unstorable = true
	}
	d.mu.Unlock()
}

// add records the outcome of a read or fill made by c under d: the tags of
// the entry it read, or the generations a fill was written under.
func (d *deps) add(c *Cache, list []byte, gens []taggedGen) {
	if d == nil {
		return
	}
	d.addList(c, list)
	d.addGens(c, gens)
}

// merge returns gens with every collected generation added, each tag once.
// ok is false when the fill cannot be stored: one tag was seen with two
// generations (an invalidation landed between two reads, so the value mixes
// old and new data), or a piece came from another Cache's tags.
func (d *deps) merge(gens []taggedGen) (out []taggedGen, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.unstorable {
		return gens, false
	}
	if len(d.lists) == 0 && len(d.gens) == 0 {
		return gens, true
	}
	n := len(gens) + len(d.gens) + 2*len(d.lists)
	seen := make(map[string]int, n)
	out = make([]taggedGen, 0, n)
	put := func(tg taggedGen) bool {
		if i, dup := seen[tg.name]; dup {
			return out[i].gen == tg.gen
		}
		seen[tg.name] = len(out)
		out = append(out, tg)
		return true
	}
	for _, tg := range gens {
		if !put(tg) {
			return gens, false
		}
	}
	for _, tg := range d.gens {
		if !put(tg) {
			return gens, false
		}
	}
	for _, list := range d.lists {
		for rest := list; len(rest) > 0; {
			var name, gen []byte
			name, gen, rest = nextTag(rest)
			if i, dup := seen[string(name)]; dup { // no allocation for the lookup
				if [generationLen]byte(gen) != out[i].gen {
					return gens, false
				}
				continue
			}
			if !put(taggedGen{name: string(name), gen: [generationLen]byte(gen)}) {
				return gens, false
			}
		}
	}
	return out, true
}

// known reports whether tag was attached with a generation read before the
// data (AddTags): such a tag is not late.
func (d *deps) known(tag string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, tg := range d.gens {
		if tg.name == tag {
			return true
		}
	}
	return false
}

// AddTags attaches tags to the fill running under ctx (the context of a
// Fill, Policy.Context, or one derived from it): its entry is written under
// them, as if they were in its Policy. Each tag's generation is read (or
// made) now, so call AddTags before reading the data the tags guard: an
// invalidation that lands after the call then always reaches the entry. It
// does nothing when ctx carries no fill.
func AddTags(ctx context.Context, tags ...string) error {
	d := depsFrom(ctx)
	if d == nil || len(tags) == 0 {
		return nil
	}
	for _, t := range tags {
		if t == "" {
			return errEmptyTag
		}
	}
	if d.c.err != nil {
		return d.c.err
	}
	gens, err := d.c.generations(tags, nil, d.c.memoFrom(ctx))
	if err != nil {
		d.mu.Lock()
		d.unstorable = true // the generation is unknown: the fill's value must not be stored
		d.mu.Unlock()
		return err
	}
	d.addGens(d.c, gens)
	return nil
}

// Inherit makes the fill running under ctx depend on everything the fill
// running under from has depended on so far: for a value built by one fill
// and stored by another (fibercache stores a page whose Vary list it just
// learned under its new key). It does nothing when either carries no fill.
func Inherit(ctx, from context.Context) {
	d, s := depsFrom(ctx), depsFrom(from)
	if d == nil || s == nil || d == s {
		return
	}
	s.mu.Lock()
	lists, gens, unstorable := append([][]byte(nil), s.lists...), append([]taggedGen(nil), s.gens...), s.unstorable
	c := s.c
	s.mu.Unlock()
	d.mu.Lock()
	defer d.mu.Unlock()
	if unstorable || !d.sameSpace(c) {
		d.unstorable = true
		return
	}
	d.lists = append(d.lists, lists...)
	d.gens = append(d.gens, gens...)
}

// Collect returns a context derived from parent that collects what is read
// under it, as a fill's context does, for a value built before it is known
// whether, or under which key, it will be stored: pass the collected tags
// on to the fill that stores it with Inherit.
func (c *Cache) Collect(parent context.Context) context.Context {
	if parent == nil {
		parent = context.Background()
	}
	return (&deps{c: c, parent: parent}).context()
}
