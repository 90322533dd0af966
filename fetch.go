package cachekit

import (
	"encoding/json"
	"fmt"
	"time"
)

// Codec turns application values into bytes for Fetch.
type Codec interface {
	Marshal(v any) ([]byte, error)
	Unmarshal(data []byte, v any) error
}

// JSON is the default Codec, encoding/json.
type JSON struct{}

// Marshal encodes v as JSON.
func (JSON) Marshal(v any) ([]byte, error) { return json.Marshal(v) }

// Unmarshal decodes JSON data into v.
func (JSON) Unmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }

// Fetch is Django's cache.get_or_set for application data: it returns the
// value stored under key, decoded with the Cache's Codec, or runs load,
// stores its result for ttl under tags and returns it. Concurrent misses run
// load once. A stored value that no longer decodes (a struct changed shape in
// a deploy) is a miss and is overwritten.
func Fetch[T any](c *Cache, key string, ttl time.Duration, load func() (T, error), tags ...string) (T, error) {
	var zero T
	var fresh *T // set when this call ran load: no need to decode
	fill := func(*Policy) ([]byte, error) {
		v, err := load()
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
		return func(*Policy) ([]byte, error) {
			v, err := load()
			if err != nil {
				return nil, err
			}
			return c.codec.Marshal(v)
		}
	}
	r, err := c.Load(key, Policy{TTL: ttl, Tags: tags, Background: background}, fill)
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
		r, err = c.Load(key, Policy{TTL: ttl, Tags: tags, Background: background}, fill)
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
