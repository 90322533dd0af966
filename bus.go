package cachekit

import (
	"fmt"
	"sync/atomic"
)

// A Bus carries invalidations between the instances that share one Storage.
// In the two-level mode (Config.Local), a Cache with a Bus keeps tag
// generations in Local too, so a hit makes no round trip to the shared store,
// and every instance drops its local copies the moment any instance
// invalidates a tag, or sets or deletes a key. Without a Bus, a two-level
// Cache reads every generation from the shared Storage.
//
// Messages are opaque to the Bus. Package redisbus is a Bus on Redis pub/sub.
type Bus interface {
	// Publish sends msg to every subscriber, this instance included.
	Publish(msg string) error
	// Subscribe calls fn with every published message until stop is called.
	// It calls fn with "" when messages may have been missed (after a
	// reconnection): the subscriber then forgets everything it kept.
	Subscribe(fn func(msg string)) (stop func(), err error)
}

// Bus messages: a kind byte, then a tag or a key.
const (
	msgTag = 't'
	msgKey = 'k'
)

// publish tells the other instances to drop their local copy of a tag's
// generation or of a key's entry. A lost message costs at most LocalTTL.
func (c *Cache) publish(kind byte, name string) {
	if c.bus == nil {
		return
	}
	msg := string(kind) + name
	c.onMessage(msg)
	if err := c.bus.bus.Publish(msg); err != nil {
		c.storageError(fmt.Errorf("bus publish: %w", err))
	}
}

// busState is a two-level Cache's view of its Bus.
type busState struct {
	bus   Bus
	stop  func()
	epoch atomic.Uint64 // moves on every message: a generation read before it moved is not kept
}

// onMessage drops the local copy of an invalidated tag's generation or of a
// changed key's entry, or everything Local holds after messages may have
// been missed.
func (c *Cache) onMessage(msg string) {
	c.bus.epoch.Add(1)
	c.invalidated()
	if msg == "" {
		_ = c.local.Reset()
		return
	}
	switch msg[0] {
	case msgTag:
		_ = c.local.Delete(c.keys.storageKey(kindTag, msg[1:]))
	case msgKey:
		_ = c.local.Delete(c.keys.storageKey(kindEntry, msg[1:]))
	}
}

// Close stops the Cache's Bus subscription, if any. The storage is the
// caller's to close.
func (c *Cache) Close() error {
	if c.bus != nil && c.bus.stop != nil {
		c.bus.stop()
	}
	return nil
}
