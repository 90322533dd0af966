package redisbus_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/internal/lowleveltest"
	"github.com/cachekit/cachekit/internal/testserver"
	"github.com/cachekit/cachekit/redisbus"
	storage "github.com/gofiber/storage/redis/v3"
	"github.com/redis/go-redis/v9"
)

func randomPrefix() string { return "a" + strconv.FormatUint(rand.Uint64(), 36) }

// atomicCache is one instance on Redis through redisbus.Atomic, with a
// client of its own (as another process would have) that counts its round
// trips.
func atomicCache(t testing.TB, prefix string) (*cachekit.Cache, *roundTrips) {
	t.Helper()
	client := redisClient(t)
	rt := &roundTrips{}
	client.AddHook(rt)
	c := cachekit.New(cachekit.Config{Storage: redisbus.Atomic(storage.NewFromConnection(client)), Prefix: prefix, Timeout: 5 * time.Second})
	if c.Err() != nil {
		t.Fatal(c.Err())
	}
	return c, rt
}

// roundTrips counts a client's commands and pipelines sent to the server.
type roundTrips struct{ n atomic.Int64 }

func (r *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }
func (r *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { r.n.Add(1); return next(ctx, cmd) }
}
func (r *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { r.n.Add(1); return next(ctx, cmds) }
}

func TestAtomicLowLevel(t *testing.T) {
	testserver.Addr(t, "CACHEKIT_REDIS_ADDR") // skip here, not inside a subtest
	lowleveltest.Run(t, func() *cachekit.Cache { c, _ := atomicCache(t, randomPrefix()); return c }, nil)
}

// Two processes (this test binary run again as a child) on one Redis: no
// increment lost, one Add wins, and one's Clear is the other's. The
// processes share no lock, so only Redis's SET NX and the compare-and-swap
// script keep them apart.
func TestAtomicAcrossProcesses(t *testing.T) {
	if prefix := os.Getenv("REDISBUS_CHILD_PREFIX"); prefix != "" {
		c, _ := atomicCache(t, prefix)
		fmt.Printf("wins=%d\n", hammer(t, c, 250))
		return
	}
	prefix := randomPrefix()
	a, _ := atomicCache(t, prefix)
	a.Set("n", []byte("0"), time.Minute)
	child := exec.Command(os.Args[0], "-test.run=^TestAtomicAcrossProcesses$", "-test.count=1")
	child.Env = append(os.Environ(), "REDISBUS_CHILD_PREFIX="+prefix)
	var out bytes.Buffer
	child.Stdout, child.Stderr = &out, &out
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	wins := hammer(t, a, 250)
	if err := child.Wait(); err != nil {
		t.Fatalf("child: %v\n%s", err, out.String())
	}
	var childWins int
	if _, err := fmt.Sscanf(out.String()[strings.Index(out.String(), "wins="):], "wins=%d", &childWins); err != nil {
		t.Fatalf("child said: %s", out.String())
	}
	if v, _, _ := a.Get("n"); string(v) != "500" {
		t.Fatalf("500 Incr over two processes: %q", v)
	}
	if n := wins + childWins; n != 1 {
		t.Fatalf("%d Adds over two processes won (%d here, %d there)", n, wins, childWins)
	}
	b, _ := atomicCache(t, prefix)
	if err := a.Clear(); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.GetMany("n", "once"); len(got) != 0 {
		t.Fatalf("another instance after Clear: %q", got)
	}
}

// hammer runs n goroutines that each Incr "n" and try to Add "once", and
// returns how many Adds won.
func hammer(t *testing.T, c *cachekit.Cache, n int) int {
	var wg sync.WaitGroup
	var wins atomic.Int32
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				_, err := c.Incr("n", 1)
				if err == nil {
					break
				}
				if !errors.Is(err, cachekit.ErrNotFound) { // the child may start before the parent's Set
					t.Error(err)
					break
				}
				time.Sleep(time.Millisecond)
			}
			if ok, err := c.Add("once", []byte("x"), time.Minute); err != nil {
				t.Error(err)
			} else if ok {
				wins.Add(1)
			}
		}()
	}
	wg.Wait()
	return int(wins.Load())
}

// GetMany of 24 keys, each under two tags, is two round trips: the entries,
// then every tag generation (the key space's included).
func TestGetManyRoundTrips(t *testing.T) {
	c, rt := atomicCache(t, randomPrefix())
	keys := make([]string, 24)
	for i := range keys {
		keys[i] = "card" + strconv.Itoa(i)
		c.Set(keys[i], []byte("v"), time.Minute, "cards", "card:"+strconv.Itoa(i%4))
	}
	before := rt.n.Load()
	got, err := c.GetMany(keys...)
	if err != nil || len(got) != 24 {
		t.Fatalf("GetMany: %d of 24, %v", len(got), err)
	}
	if n := rt.n.Load() - before; n != 2 {
		t.Fatalf("GetMany of 24 keys: %d round trips, want 2", n)
	}
}

func BenchmarkGetMany24(b *testing.B) {
	c, rt := atomicCache(b, randomPrefix())
	keys := make([]string, 24)
	for i := range keys {
		keys[i] = "card" + strconv.Itoa(i)
		c.Set(keys[i], make([]byte, 1000), time.Hour, "cards")
	}
	b.Run("Redis/GetMany", func(b *testing.B) {
		before := rt.n.Load()
		for b.Loop() {
			if got, _ := c.GetMany(keys...); len(got) != 24 {
				b.Fatal("miss")
			}
		}
		b.ReportMetric(float64(rt.n.Load()-before)/float64(b.N), "roundtrips/op")
	})
	b.Run("Redis/24xGet", func(b *testing.B) {
		before := rt.n.Load()
		for b.Loop() {
			for _, k := range keys {
				if _, ok, _ := c.Get(k); !ok {
					b.Fatal("miss")
				}
			}
		}
		b.ReportMetric(float64(rt.n.Load()-before)/float64(b.N), "roundtrips/op")
	})
}

func BenchmarkIncr(b *testing.B) {
	c, rt := atomicCache(b, randomPrefix())
	c.Set("n", []byte("0"), time.Hour)
	b.Run("Redis", func(b *testing.B) {
		before := rt.n.Load()
		for b.Loop() {
			if _, err := c.Incr("n", 1); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(rt.n.Load()-before)/float64(b.N), "roundtrips/op")
	})
	b.Run("Redis/parallel-distinct-keys", func(b *testing.B) {
		var next atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			k := "n" + strconv.FormatInt(next.Add(1), 10)
			c.Set(k, []byte("0"), time.Hour)
			for pb.Next() {
				if _, err := c.Incr(k, 1); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}

// Clear on one instance of a two-level site with a Bus reaches the other's
// Local and hot copies: with LocalTTL a minute, only the bus can do it.
func TestClearReachesOtherInstancesHotCopies(t *testing.T) {
	client := redisClient(t)
	prefix := "clr" + strconv.FormatUint(rand.Uint64(), 36)
	a, b := instance(t, client, prefix, true), instance(t, client, prefix, true)
	a.Set("page", []byte("v1"), time.Hour)
	for range 3 { // the later reads are B's hot copy
		if v, ok, _ := b.Get("page"); !ok || string(v) != "v1" {
			t.Fatalf("B does not see A's entry: %q %v", v, ok)
		}
	}
	start := time.Now()
	if err := a.Clear(); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := a.Get("page"); ok {
		t.Fatal("A serves what it cleared")
	}
	for {
		if _, ok, _ := b.Get("page"); !ok {
			break
		}
		if time.Since(start) > 2*time.Second {
			t.Fatal("B still serves the entry 2 s after A's Clear (LocalTTL is a minute)")
		}
		time.Sleep(time.Millisecond)
	}
	t.Logf("B saw the Clear after %v", time.Since(start))
}
