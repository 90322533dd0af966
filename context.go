package cachekit

import (
	"context"
	"fmt"
	"time"
)

// The context variants. Each takes a context.Context and differs from the
// plain call in two ways:
//
//   - dependencies: when ctx is (or derives from) the context of a running
//     fill (Policy.Context; fibercache gives a page's handler one as
//     c.UserContext()), the tags of what the call read or filled join that
//     fill's entry, hits included;
//   - cancellation: a ctx already done fails a miss with ctx.Err() before
//     a fill runs, and the fill gets ctx's values, deadline and cancellation
//     through its own context. A hit is served whatever ctx says.
//
// A nil ctx is context.Background().

// LoadContext is Load with a context: see above.
func (c *Cache) LoadContext(ctx context.Context, key string, p Policy, fill Fill) (Result, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	return c.load(ctx, key, p, fill)
}

// GetContext is Get with a context: a hit's tags join the fill running
// under ctx.
func (c *Cache) GetContext(ctx context.Context, key string) (value []byte, ok bool, err error) {
	if err := c.check(key); err != nil {
		return nil, false, err
	}
	r, err := c.lookupMemo(key, c.memoFrom(ctx))
	c.count(key, r.Status)
	if r.Status != Hit {
		return nil, false, err
	}
	if d := depsFrom(ctx); d != nil {
		d.addList(c, r.tags)
	}
	return r.Value, true, err
}

// GetOrSetContext is GetOrSet with a context; load gets the fill's context,
// to pass to the cached reads it makes in turn.
func (c *Cache) GetOrSetContext(ctx context.Context, key string, ttl time.Duration, load func(ctx context.Context) ([]byte, error), tags ...string) ([]byte, error) {
	r, err := c.LoadContext(ctx, key, Policy{TTL: ttl, Tags: tags}, func(p *Policy) ([]byte, error) { return load(p.Context()) })
	return r.Value, err
}

// FetchContext is Fetch with a context; load gets the fill's context, to
// pass to the cached reads it makes in turn.
func FetchContext[T any](ctx context.Context, c *Cache, key string, ttl time.Duration, load func(ctx context.Context) (T, error), tags ...string) (T, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	var zero T
	var fresh *T // set when this call ran load: no need to decode
	fill := func(p *Policy) ([]byte, error) {
		v, err := load(p.Context())
		if err != nil {
			return nil, err
		}
		fresh = &v
		b, err := c.codec.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("cachekit: fetch %q: encoding %T: %w", key, v, err)
		}
		return b, nil
	}
	// A stale-while-revalidate refresh runs on its own goroutine, after
	// Fetch returned: it must not write fresh, which Fetch reads.
	background := func() Fill {
		return func(p *Policy) ([]byte, error) {
			v, err := load(p.Context())
			if err != nil {
				return nil, err
			}
			return c.codec.Marshal(v)
		}
	}
	r, err := c.LoadContext(ctx, key, Policy{TTL: ttl, Tags: tags, Background: background}, fill)
	if err != nil {
		return zero, err
	}
	if fresh != nil {
		return *fresh, nil
	}
	var v T
	if err := c.codec.Unmarshal(r.Value, &v); err != nil {
		c.stats.corrupt.Add(1)
		_ = c.Delete(key)
		r, err = c.LoadContext(ctx, key, Policy{TTL: ttl, Tags: tags, Background: background}, fill)
		if err != nil {
			return zero, err
		}
		if fresh != nil {
			return *fresh, nil
		}
		if err := c.codec.Unmarshal(r.Value, &v); err != nil {
			return zero, fmt.Errorf("cachekit: fetch %q: decoding %T: %w", key, v, err)
		}
	}
	return v, nil
}
