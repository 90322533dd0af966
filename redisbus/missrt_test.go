package redisbus_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/internal/missrt"
	"github.com/cachekit/cachekit/internal/testserver"
	"github.com/cachekit/cachekit/redisbus"
	"github.com/gofiber/fiber/v2"
	storage "github.com/gofiber/storage/redis/v3"
	"github.com/redis/go-redis/v9"
)

// commandCounter counts the commands a go-redis client sends, by what they
// do to the store: reads (GET; each GET of a pipeline) and writes (SET,
// SET NX, DEL, the compare-and-swap script). Connection set-up (HELLO,
// CLIENT) is not a store call.
type commandCounter struct {
	mu  sync.Mutex
	n   missrt.Counts
	log []string
}

func (c *commandCounter) note(cmd redis.Cmder) {
	name := strings.ToLower(cmd.Name())
	c.mu.Lock()
	defer c.mu.Unlock()
	switch name {
	case "get", "mget":
		c.n.Reads += max(1, len(cmd.Args())-1)
	case "set", "setnx", "del", "evalsha", "eval", "pexpire", "expire":
		c.n.Writes++
	case "hello", "client", "ping", "select":
		return
	default:
		c.n.Writes++ // unknown: counted, so that it shows
	}
	args := cmd.Args()
	s := name
	if len(args) > 1 {
		if k, ok := args[1].(string); ok {
			s += " " + k
		}
	}
	for _, a := range args[min(3, len(args)):] {
		if v, ok := a.(string); ok && strings.EqualFold(v, "nx") {
			s += " NX"
		}
	}
	c.log = append(c.log, s)
}

func (c *commandCounter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *commandCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { c.note(cmd); return next(ctx, cmd) }
}
func (c *commandCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, cmd := range cmds {
			c.note(cmd)
		}
		return next(ctx, cmds)
	}
}

func (c *commandCounter) take() (missrt.Counts, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, log := c.n, strings.Join(c.log, "\n  ")
	c.n, c.log = missrt.Counts{}, nil
	return n, log
}

// The page-miss round-trip rule (missrt) over real Redis, counted by the
// client: through redisbus.Atomic (a tag's new generation is a SET NX) and
// through gofiber's redis storage alone (a plain fiber.Storage). One
// instance alone on Redis (no Local): every read is a round trip.
func TestMissRoundTripsOnRedis(t *testing.T) {
	testserver.Addr(t, "CACHEKIT_REDIS_ADDR") // skip here, not inside a subtest
	for _, tc := range []struct {
		name   string
		atomic bool
	}{
		{"redisbus.Atomic", true},
		{"gofiber redis storage", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := redisClient(t)
			cc := &commandCounter{}
			client.AddHook(cc)
			var store fiber.Storage = storage.NewFromConnection(client)
			want := func(s missrt.Step) missrt.Counts { return s.Plain }
			if tc.atomic {
				store = redisbus.Atomic(storage.NewFromConnection(client))
				want = func(s missrt.Step) missrt.Counts { return s.Atomic }
			}
			cache := cachekit.New(cachekit.Config{Storage: store, Prefix: randomPrefix(), Timeout: 5 * time.Second})
			if cache.Err() != nil {
				t.Fatal(cache.Err())
			}
			missrt.Run(t, cache, missrt.Steps(), want, cc.take)
		})
	}
}
