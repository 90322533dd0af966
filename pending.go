package cachekit

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// pendingTags are tags this instance invalidated while the store did not
// take the new generation (it hung or failed). Until a retry lands, this
// instance reads every entry under them as a miss, so the invalidation is
// never lost here, even when the store comes back with the old generation.
type pendingTags struct {
	n       atomic.Int32 // len(tags), read on the hit path
	mu      sync.Mutex   // protects tags and running
	tags    map[string]struct{}
	running bool // a retry loop runs
}

// pendingRetry is how often the pending writes are retried.
const pendingRetry = 200 * time.Millisecond

func (p *pendingTags) has(name []byte) bool {
	p.mu.Lock()
	_, ok := p.tags[string(name)]
	p.mu.Unlock()
	return ok
}

// add records t and starts the retry loop if none runs.
func (p *pendingTags) add(c *Cache, t string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tags == nil {
		p.tags = make(map[string]struct{})
	}
	if _, ok := p.tags[t]; !ok {
		p.tags[t] = struct{}{}
		p.n.Add(1)
	}
	if !p.running {
		p.running = true
		go c.retryPending()
	}
}

// retryPending writes a new generation for each pending tag until the store
// takes them all, or the Cache is closed.
func (c *Cache) retryPending() {
	defer c.recoverBackground("pending tags")
	p := &c.pending
	for {
		time.Sleep(pendingRetry)
		p.mu.Lock()
		if len(p.tags) == 0 || c.base().closed.Load() {
			p.running = false
			p.mu.Unlock()
			return
		}
		todo := make([]string, 0, len(p.tags))
		for t := range p.tags {
			todo = append(todo, t)
		}
		p.mu.Unlock()
		for _, t := range todo {
			ctx, cancel := c.opContext(context.Background())
			err := c.invalidateTag(ctx, t)
			cancel()
			if err != nil {
				break // still down: the next round
			}
			p.mu.Lock()
			delete(p.tags, t)
			p.n.Add(-1)
			p.mu.Unlock()
		}
	}
}
