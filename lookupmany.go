package cachekit

import (
	"bytes"
	"context"
	"fmt"
)

// LookupMany is Lookup of many keys at once, for a page that shows a
// collection: the results are in the order of keys (a key may repeat).
// Values the hot layer keeps are served from it; the others are read
// together: on a shared store with a multi-get (redisbus.Atomic), one round
// trip for all their entries (Local first in the two-level mode) and one
// for the generations of all their tags, each tag read once however many
// entries carry it; on any other store, one read each. Each result counts
// as a Lookup in Stats.
//
// ctx is as in the context variants: the tags of each Hit join the fill
// running under ctx (a caller that serves a Stale value should read it
// through LoadContext, which also starts its refresh). A nil ctx is
// context.Background(). On a storage error, the keys that needed the store
// are misses and the error is returned with the results.
func (c *Cache) LookupMany(ctx context.Context, keys ...string) ([]Result, error) {
	if err := c.checkKeys(keys); err != nil {
		return nil, err
	}
	if ctx == nil {
		ctx = context.Background()
	}
	out := make([]Result, len(keys))
	todo := make([]int, 0, len(keys))
	for i, k := range keys {
		if !c.hotHit(k, &out[i]) {
			todo = append(todo, i)
		}
	}
	var err error
	if len(todo) > 0 {
		if err = c.lookupMany(ctx, keys, todo, out); err != nil {
			err = fmt.Errorf("cachekit: lookup many: %w", err)
		}
	}
	d := depsFrom(ctx)
	for i, k := range keys {
		c.count(k, out[i].Status)
		if d != nil && out[i].Status == Hit {
			d.addList(c, out[i].tags)
		}
	}
	return out, err
}

// lookupMany reads and validates the entries of keys[i] for i in todo into
// out, keeping hits in the hot layer as lookupMiss does.
func (c *Cache) lookupMany(ctx context.Context, keys []string, todo []int, out []Result) error {
	hot := c.hot != nil
	now := c.monoNow()
	var all uint64
	var marks [][]mark // per todo: its key's version, then its tags'
	if hot {
		// Before the reads: see hotLayer.put.
		all = c.marks.all.Load()
		marks = make([][]mark, len(todo))
		for j, i := range todo {
			marks[j] = append(make([]mark, 0, 4), c.keyMark(keys[i]))
		}
	}
	raws, err := c.readMany(ctx, keys, todo)
	if err != nil {
		return err
	}
	entries := make([]entry, len(todo))
	found := make([]bool, len(todo))
	index := map[string]int{} // a tag's place in names
	var names [][]byte
	for j, b := range raws {
		if b == nil {
			continue
		}
		e, err := decodeEntry(b)
		if err != nil {
			c.stats.corrupt.Add(1)
			c.errlog.log(fmt.Errorf("cachekit: the entry under %q does not decode (%w); read as a miss", keys[todo[j]], err))
			continue
		}
		entries[j], found[j] = e, true
		for rest := e.tags; len(rest) > 0; {
			var name []byte
			name, _, rest = nextTag(rest)
			if _, seen := index[string(name)]; !seen {
				index[string(name)] = len(names)
				names = append(names, name)
			}
		}
	}
	var tagMarks []mark
	if hot {
		tagMarks = make([]mark, len(names))
		for n, name := range names {
			if len(name) > 0 { // the key space's generation moves versions.all
				tagMarks[n] = c.tagMark(name)
			}
		}
	}
	cur, err := c.tagGens(ctx, names, make([][]byte, 0, len(names)), c.memoFrom(ctx))
	if err != nil {
		c.storageError(err)
		return err
	}
	pending := c.pending.n.Load() != 0
	for j, i := range todo {
		if !found[j] {
			continue
		}
		e := &entries[j]
		valid := true
		for rest := e.tags; len(rest) > 0 && valid; {
			var name, gen []byte
			name, gen, rest = nextTag(rest)
			n := index[string(name)]
			// A pending tag: invalidated here, the store has not taken it yet.
			valid = bytes.Equal(cur[n], gen) && !(pending && c.pending.has(name))
			if hot && len(name) > 0 {
				marks[j] = append(marks[j], tagMarks[n])
			}
		}
		if !valid {
			continue
		}
		out[i] = c.entryResult(e)
		if hot {
			c.keepHot(keys[i], &out[i], now, all, marks[j])
		}
	}
	return nil
}

// readMany is read for keys[i], i in todo: Local first in the two-level
// mode, then the store in one multi-get for the rest (storeGetMany).
func (c *Cache) readMany(ctx context.Context, keys []string, todo []int) ([][]byte, error) {
	out := make([][]byte, len(todo))
	if c.memory != nil {
		for j, i := range todo {
			out[j] = memoryGet(c.memory, &c.keys, kindEntry, keys[i])
		}
		return out, nil
	}
	epoch := c.epochNow() // before the reads: see copyToLocal
	miss := make([]int, 0, len(todo))
	skeys := make([]string, 0, len(todo))
	for j, i := range todo {
		if c.local != nil {
			if b := memoryGet(c.local, &c.keys, kindEntry, keys[i]); b != nil {
				c.stats.localHits.Add(1)
				out[j] = b
				continue
			}
		}
		miss, skeys = append(miss, j), append(skeys, c.keys.storageKey(kindEntry, keys[i]))
	}
	if len(skeys) == 0 {
		return out, nil
	}
	got, err := c.storeGetMany(ctx, skeys)
	if err != nil {
		c.storageError(err)
		return nil, err
	}
	for m, j := range miss {
		out[j] = got[m]
		if got[m] != nil && c.local != nil {
			c.copyToLocal(skeys[m], got[m], epoch)
		}
	}
	return out, nil
}
