package cachekit

import "sync/atomic"

// A Bus carries tag invalidations between the instances that share one
// Storage. In the two-level mode (Config.Local), a Cache with a Bus keeps tag
// generations in Local too, so a hit makes no round trip to the shared store,
// and drops them the moment any instance invalidates the tag. Without a Bus,
// a two-level Cache reads every generation from the shared Storage.
//
// Package redisbus is a Bus on Redis pub/sub.
type Bus interface {
	// Publish tells every subscriber, this instance included, that tag was
	// invalidated.
	Publish(tag string) error
	// Subscribe calls fn with every published tag until stop is called. It
	// calls fn with "" when messages may have been missed (after a
	// reconnection): the subscriber then forgets everything it kept.
	Subscribe(fn func(tag string)) (stop func(), err error)
}

// busState is a two-level Cache's view of its Bus.
type busState struct {
	bus   Bus
	stop  func()
	epoch atomic.Uint64 // moves on every message: a generation read before it moved is not kept
}

// onMessage drops the local copy of an invalidated tag's generation, or
// everything Local holds after messages may have been missed.
func (c *Cache) onMessage(tag string) {
	c.bus.epoch.Add(1)
	if tag == "" {
		_ = c.local.Reset()
		return
	}
	_ = c.local.Delete(c.keys.storageKey(kindTag, tag))
}

// Close stops the Cache's Bus subscription, if any. The storage is the
// caller's to close.
func (c *Cache) Close() error {
	if c.bus != nil && c.bus.stop != nil {
		c.bus.stop()
	}
	return nil
}
