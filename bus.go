package cachekit

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
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

// A ContextBus is a Bus whose calls take a context. The Cache passes one
// that ends at its Timeout (Publish) or at Close (Subscribe's wait for the
// confirmation), so a Bus on a server that hangs does not hold the caller.
// Every Bus call is bounded by the Timeout anyway: the Cache stops waiting
// for a Publish that outlasts it, and New does not wait for Subscribe.
type ContextBus interface {
	Bus
	PublishContext(ctx context.Context, msg string) error
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
	c.changedContext(context.Background(), kind, name)
}

// changedContext is changed with the caller's context for the Publish.
func (c *Cache) changedContext(ctx context.Context, kind byte, name string) {
	c.drop(kind, name)
	if c.bus == nil {
		return
	}
	msg := string(kind) + name
	publish := func(ctx context.Context) error {
		if cb, ok := c.bus.bus.(ContextBus); ok {
			return cb.PublishContext(ctx, msg)
		}
		return c.bus.bus.Publish(msg)
	}
	var err error
	if c.guard != nil {
		err = c.guard.run(ctx, publish)
	} else {
		err = publish(ctx)
	}
	if err != nil {
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
	if (kind == msgTag && name == clearTag) || kind == 0 {
		c.space.Store(nil)
	}
	if kind != msgKey {
		// Before the hot layer's counters: a read that sees them moved
		// sees every render's memo emptied too, so it cannot validate an
		// old entry with a memo's old generation and keep it hot.
		c.tagChanges.Add(1)
	}
	c.moveMarks(kind, name)
	c.moveEpoch()
	c.changes.Add(1)
}

// moveMarks drops the hot copies a change makes wrong: the key's, every
// one under the tag, or all of them (for kind 0 and Clear).
func (c *Cache) moveMarks(kind byte, name string) {
	if c.marks == nil {
		return
	}
	if kind != msgKey {
		c.marks.tags.Add(1)
	}
	switch {
	case kind == 0 || (kind == msgTag && name == clearTag):
		c.marks.all.Add(1)
	case kind == msgTag:
		c.moveMark(kindTag, name)
	case kind == msgKey:
		c.moveMark(kindEntry, name)
	default: // a message this version does not know: drop everything
		c.marks.all.Add(1)
	}
}

// moveEpoch marks that something changed: a fill that began before it, or
// a read copied into Local, may predate the change. (The hot layer checks
// its versions instead, which move only for what changed: moveMarks.)
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
//
// New does not wait for the subscription longer than Config.Timeout: until
// it is confirmed, the Cache reads every generation from the shared store
// and keeps no hot values, as without a Bus; a subscription that fails is
// tried again every second until Close.
func (c *Cache) subscribe(bus Bus, timeout time.Duration) {
	c.bus = &busState{bus: bus, closing: make(chan struct{})} // before Subscribe: a message may come at once
	confirmed := make(chan struct{})
	go func() {
		defer c.recoverBackground("bus subscribe")
		for {
			stop, err := bus.Subscribe(c.onMessage)
			if err == nil {
				c.bus.mu.Lock()
				c.bus.stop = stop
				c.bus.mu.Unlock()
				c.onMessage("") // anything kept before now may have missed a message
				c.bus.live.Store(true)
				close(confirmed)
				select {
				case <-c.bus.closing:
					stop()
				default:
				}
				return
			}
			c.storageError(fmt.Errorf("cachekit: bus subscribe: %w", err))
			select {
			case <-c.bus.closing:
				return
			case <-time.After(time.Second):
			}
		}
	}()
	if timeout < 0 {
		timeout = time.Second
	}
	select {
	case <-confirmed:
	case <-time.After(timeout):
	}
}

// busState is a two-level Cache's view of its Bus.
type busState struct {
	bus     Bus
	live    atomic.Bool   // the subscription is confirmed: Local may keep generations, the hot layer values
	closing chan struct{} // closed by Close
	mu      sync.RWMutex  // drop excludes copyToLocal; protects stop
	stop    func()
}

// busLive reports whether this instance hears every Bus message now.
func (c *Cache) busLive() bool { return c.bus != nil && c.bus.live.Load() }

// onMessage handles another instance's change (or, for "", messages that
// may have been missed). A message names no version: the Cache and every
// view of it (WithVersion) drop the name, the version it was sent for
// among them.
func (c *Cache) onMessage(msg string) {
	kind, name := byte(0), ""
	if msg != "" {
		kind, name = msg[0], msg[1:]
	}
	c.drop(kind, name)
	for _, v := range c.views.all() {
		v.drop(kind, name)
	}
}

// Close stops the Cache's Bus subscription, if any. The storage is the
// caller's to close. Closing a view (WithVersion) closes the Cache it was
// made from, and so every view of it.
func (c *Cache) Close() error {
	c = c.base()
	if !c.closed.CompareAndSwap(false, true) {
		return nil
	}
	if c.bus != nil {
		close(c.bus.closing)
		c.bus.mu.Lock()
		stop := c.bus.stop
		c.bus.stop = nil
		c.bus.mu.Unlock()
		if stop != nil {
			stop()
		}
	}
	return nil
}
