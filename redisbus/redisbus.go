// Package redisbus carries cachekit tag invalidations between instances over
// Redis pub/sub, so a two-level cachekit.Cache (a local Memory in front of a
// shared Redis) serves hits without a round trip and still sees another
// instance's invalidation at once.
//
//	client := goredis.NewClient(&goredis.Options{
//		Addr:                  "127.0.0.1:6379",
//		ContextTimeoutEnabled: true, // go-redis ignores deadlines without it
//		DialTimeout:           time.Second,
//		ReadTimeout:           500 * time.Millisecond,
//		WriteTimeout:          500 * time.Millisecond,
//		DialerRetries:         1, // a dead Redis fails at once
//	})
//	cache := cachekit.New(cachekit.Config{
//		Storage: redis.NewFromConnection(client), // github.com/gofiber/storage/redis/v3
//		Local:   local,                           // a *cachekit.Memory
//		Bus:     redisbus.New(client, "cachekit:shop"),
//	})
package redisbus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/redis/go-redis/v9"
)

// Bus is a cachekit.Bus on one Redis pub/sub channel.
type Bus struct {
	client  redis.UniversalClient
	channel string
	timeout time.Duration
}

var _ cachekit.ContextBus = (*Bus)(nil)

// New returns a Bus publishing on channel through client. Instances that
// share a store must use the same channel; sites that share a Redis server
// use different ones.
func New(client redis.UniversalClient, channel string) *Bus {
	return &Bus{client: client, channel: channel, timeout: time.Second}
}

// Publish sends tag to every subscriber, waiting at most a second.
func (b *Bus) Publish(tag string) error {
	ctx, cancel := context.WithTimeout(context.Background(), b.timeout)
	defer cancel()
	return b.PublishContext(ctx, tag)
}

// PublishContext sends tag to every subscriber. A cachekit.Cache calls it
// with a context that ends at its Timeout; the client must have
// ContextTimeoutEnabled for go-redis to honour it (the Cache stops waiting
// either way).
func (b *Bus) PublishContext(ctx context.Context, tag string) error {
	if err := b.client.Publish(ctx, b.channel, tag).Err(); err != nil {
		return fmt.Errorf("redisbus: publish on %q: %w", b.channel, err)
	}
	return nil
}

// Subscribe calls fn with every tag published on the channel, and with ""
// each time the subscription is (re)established, since messages may have
// been missed while it was down. It fails when Redis does not confirm the
// subscription within a second.
func (b *Bus) Subscribe(fn func(tag string)) (stop func(), err error) {
	ctx, cancel := context.WithCancel(context.Background())
	ps := b.client.Subscribe(ctx, b.channel)
	confirm, cancelConfirm := context.WithTimeout(ctx, b.timeout)
	_, err = ps.Receive(confirm)
	cancelConfirm()
	if err != nil {
		cancel()
		ps.Close()
		return nil, fmt.Errorf("redisbus: subscribe to %q: %w", b.channel, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			msg, err := ps.Receive(ctx)
			if ctx.Err() != nil {
				return
			}
			switch m := msg.(type) {
			case *redis.Message:
				fn(m.Payload)
			case *redis.Subscription:
				if m.Kind == "subscribe" {
					fn("") // re-subscribed after a drop: forget what was kept
				}
			}
			if err != nil && !errors.Is(err, context.Canceled) {
				select { // Redis is down: go-redis reconnects on the next call
				case <-time.After(100 * time.Millisecond):
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return func() {
		cancel()
		ps.Close()
		<-done
	}, nil
}
