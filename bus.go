package cachekit

import (
	"fmt"
	"sync"
)

// A Bus carries invalidations between the instances that share one Storage.
// In the two-level mode (Config.Local), a Cache with a Bus keeps tag
// generations in Local too, so a hit makes no round trip to the shared store,
// and every instance drops its copies in Local the moment any instance
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

// changed runs after a write that can make served values wrong: it drops
// this instance.s copy in Local, moves the epoch, and tells the other
// instances, which do the same.
func (c *Cache) changed(kind byte, name string) {
	c.drop(kind, name)
	if c.bus == nil {
		return
	}
	if err := c.bus.bus.Publish(string(kind) + name); err != nil {
		// The others see it within LocalTTL.
		c.storageError(fmt.Errorf("bus publish: %w", err))
	}
}

// drop removes the copy in Local of a tag's generation or of a key's entry
// (everything, for kind 0), then moves the epoch: in that order, so a reader
// that sees the new epoch cannot find the old copy. It excludes copyToLocal.
func (c *Cache) drop(kind byte, name string) {
	if c.bus != nil {
		c.bus.mu.Lock()
		defer c.bus.mu.Unlock()
	}
	if c.local != nil {
		switch kind {
		case msgTag:
			_ = c.local.Delete(c.keys.storageKey(kindTag, name))
		case msgKey:
			_ = c.local.Delete(c.keys.storageKey(kindEntry, name))
		default:
			_ = c.local.Reset()
		}
	}
	c.moveEpoch()
}

// moveEpoch makes every value the hot layer keeps revalidate.
func (c *Cache) moveEpoch() {
	if c.epoch != nil {
		c.epoch.Add(1)
	}
}

// epochNow reads the epoch (0 when there is none).
func (c *Cache) epochNow() uint64 {
	if c.epoch == nil {
		return 0
	}
	return c.epoch.Load()
}

// copyToLocal copies an entry or generation read from the shared store into
// Local, unless the epoch moved since the read began: then the copy may be
// the very one a message dropped.
func (c *Cache) copyToLocal(skey string, b []byte, epoch uint64) {
	if c.bus != nil {
		c.bus.mu.RLock()
		defer c.bus.mu.RUnlock()
		if c.epochNow() != epoch {
			return
		}
	}
	_ = c.local.Set(skey, b, c.localTTL)
}

// subscribe starts a two-level Cache's Bus subscription. Without it,
// generations are read from the shared store on every read: slower, still
// exact.
func (c *Cache) subscribe(bus Bus) {
	c.bus = &busState{bus: bus} // before Subscribe: a message may come at once
	stop, err := bus.Subscribe(c.onMessage)
	if err != nil {
		c.errlog.log(fmt.Errorf("cachekit: bus subscribe: %w", err))
		c.bus = nil
		return
	}
	c.bus.stop = stop
}

// busState is a two-level Cache's view of its Bus.
type busState struct {
	bus  Bus
	stop func()
	mu   sync.RWMutex // drop excludes copyToLocal
}

// onMessage handles another instance's change (or, for "", messages that
// may have been missed).
func (c *Cache) onMessage(msg string) {
	if msg == "" {
		c.drop(0, "")
		return
	}
	c.drop(msg[0], msg[1:])
}

// Close stops the Cache's Bus subscription, if any. The storage is the
// caller's to close.
func (c *Cache) Close() error {
	if c.bus != nil && c.bus.stop != nil {
		c.bus.stop()
	}
	return nil
}
