package cachekit

import (
	"context"
	"encoding/json"
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
	return FetchContext(context.Background(), c, key, ttl, func(context.Context) (T, error) { return load() }, tags...)
}
