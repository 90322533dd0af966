package cachekit

import (
	"math"
	"time"
)

// One TTL meaning, in every call that takes one (Set, SetMany, Add, Touch,
// GetOrSet, Fetch, Policy.TTL for Load, and the {{cache}} block and
// fibercache.Page on top of them), as close to Django's timeout as Go
// allows:
//
//	ttl > 0      the entry is fresh for ttl
//	NoExpiry     the entry never expires (Django's timeout=None); it lives
//	             until it is deleted, invalidated or evicted
//	DefaultTTL   the Cache's Config.DefaultTTL (Django's TIMEOUT, 300 s by
//	             default), what Django gives a call that omits its timeout
//	0            nothing is stored (Django's timeout=0, "expire at once"):
//	             Set deletes the key, Add and GetOrSet store nothing
//	ttl < 0      as 0 (Django's negative timeout): the key is deleted
//
// A TTL of a century or more is NoExpiry too, so that time arithmetic on
// it never overflows.
//
// Struct fields of a config are the one exception, by Go's convention: a
// zero Config.DefaultTTL (or fibercache.Config.TTL, gormcache.Config.TTL)
// means that field's default, not "do not store".
const (
	// NoExpiry is the TTL of an entry that never expires. It is the largest
	// time.Duration, so it compares as longer than any real TTL (min and
	// max over TTLs keep working), where a negative sentinel would read as
	// "expired". The store is still given an expiry (MaxStoreTTL, 30 days):
	// every key the Cache writes expires in the store, and a NoExpiry entry
	// stays fresh for as long as the store keeps it.
	NoExpiry time.Duration = math.MaxInt64

	// DefaultTTL stands for the Cache's Config.DefaultTTL. It is the most
	// negative time.Duration plus one: no real TTL, and not the value
	// time.Until and Time.Sub saturate to (math.MinInt64) for a time too
	// far in the past, which stays an ordinary negative TTL (delete).
	DefaultTTL time.Duration = math.MinInt64 + 1

	// DefaultEntryTTL is what a zero Config.DefaultTTL means: Django's
	// default TIMEOUT, 300 seconds.
	DefaultEntryTTL = 300 * time.Second
)

// neverTTL is where a TTL starts to mean NoExpiry: past it, now+ttl in
// Unix nanoseconds could overflow.
const neverTTL = 100 * 365 * 24 * time.Hour

// resolveTTL returns the TTL ttl stands for (Config.DefaultTTL for
// DefaultTTL) and whether anything is to be stored with it.
func (c *Cache) resolveTTL(ttl time.Duration) (time.Duration, bool) {
	if ttl == DefaultTTL {
		ttl = c.defaultTTL
	}
	return ttl, ttl > 0
}

// expires reports whether an entry stored for the (resolved, positive) ttl
// has a deadline: false for NoExpiry.
func expires(ttl time.Duration) bool { return ttl < neverTTL }

// DefaultTTL returns Config.DefaultTTL: what the DefaultTTL sentinel stands
// for in this Cache's calls (Django's cache.default_timeout).
func (c *Cache) DefaultTTL() time.Duration { return c.defaultTTL }
