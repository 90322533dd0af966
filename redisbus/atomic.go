package redisbus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/gofiber/fiber/v2"
	"github.com/redis/go-redis/v9"
)

// Conner is a fiber.Storage on go-redis that hands out its client, as
// github.com/gofiber/storage/redis/v3's Storage does with Conn.
type Conner interface {
	fiber.Storage
	Conn() redis.UniversalClient
}

// AtomicStorage is a Redis fiber.Storage that also implements
// cachekit.Atomic with Redis's own commands, so that a cachekit.Cache over it
// does Add, Incr and Touch atomically across every instance, and GetMany in
// one round trip per multi-get:
//
//   - GetMany: one pipeline of GETs (not MGET, which Redis Cluster refuses
//     for keys in different slots);
//   - SetIfAbsent: SET NX PX;
//   - CompareAndSwap: one Lua script that compares and sets on the server.
//
// cachekit stores checksummed entries that carry their own fresh and stale
// windows and tag generations, so Incr and Touch cannot be INCRBY and
// EXPIRE on the value: the Cache computes the new entry and the script
// stores it only if the entry is still the one it read (else the Cache
// reads again). Keys are single, so it works on Redis Cluster.
//
//	store := redisbus.Atomic(redis.New(redis.Config{...})) // github.com/gofiber/storage/redis/v3
//	cache := cachekit.New(cachekit.Config{Storage: store})
type AtomicStorage struct {
	Conner
	client redis.UniversalClient
	// Timeout bounds each of the Atomic calls (the Cache's Config.Timeout
	// bounds the others). Default: one second.
	Timeout time.Duration
}

var _ cachekit.Atomic = (*AtomicStorage)(nil)

// Atomic returns s with the cachekit.Atomic calls added. It wraps rather than
// being detected by the core, so that the core module never imports go-redis.
func Atomic(s Conner) *AtomicStorage {
	return &AtomicStorage{Conner: s, client: s.Conn(), Timeout: time.Second}
}

// Unwrap returns the storage Atomic wrapped.
func (s *AtomicStorage) Unwrap() Conner { return s.Conner }

func (s *AtomicStorage) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), s.Timeout)
}

// GetMany reads every key in one pipeline; nil for an absent key.
func (s *AtomicStorage) GetMany(keys []string) ([][]byte, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	pipe := s.client.Pipeline()
	cmds := make([]*redis.StringCmd, len(keys))
	for i, k := range keys {
		cmds[i] = pipe.Get(ctx, k)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("redisbus: get many: %w", err)
	}
	out := make([][]byte, len(keys))
	for i, cmd := range cmds {
		b, err := cmd.Bytes()
		switch {
		case errors.Is(err, redis.Nil):
		case err != nil:
			return nil, fmt.Errorf("redisbus: get many: %w", err)
		default:
			out[i] = b
		}
	}
	return out, nil
}

// SetIfAbsent is SET key val NX (PX exp when exp > 0).
func (s *AtomicStorage) SetIfAbsent(key string, val []byte, exp time.Duration) (bool, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	ok, err := s.client.SetNX(ctx, key, val, exp).Result()
	if err != nil {
		return false, fmt.Errorf("redisbus: set if absent %q: %w", key, err)
	}
	return ok, nil
}

var casScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local ms = tonumber(ARGV[3])
if ms > 0 then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ms)
else
  redis.call('SET', KEYS[1], ARGV[2])
end
return 1`)

// CompareAndSwap sets key to val for exp only if it holds old, in one script
// run on the server.
func (s *AtomicStorage) CompareAndSwap(key string, old, val []byte, exp time.Duration) (bool, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	ms := exp.Milliseconds()
	if exp > 0 && ms == 0 {
		ms = 1
	}
	n, err := casScript.Run(ctx, s.client, []string{key}, old, val, ms).Int()
	if err != nil {
		return false, fmt.Errorf("redisbus: compare and swap %q: %w", key, err)
	}
	return n == 1, nil
}

// GetWithContext, SetWithContext and DeleteWithContext let the Cache's
// timeout cancel the call, as with gofiber/storage/redis itself.

func (s *AtomicStorage) GetWithContext(ctx context.Context, key string) ([]byte, error) {
	if key == "" {
		return nil, nil
	}
	b, err := s.client.Get(ctx, key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	return b, err
}

func (s *AtomicStorage) SetWithContext(ctx context.Context, key string, val []byte, exp time.Duration) error {
	if key == "" || len(val) == 0 {
		return nil
	}
	return s.client.Set(ctx, key, val, exp).Err()
}

func (s *AtomicStorage) DeleteWithContext(ctx context.Context, key string) error {
	if key == "" {
		return nil
	}
	return s.client.Del(ctx, key).Err()
}
