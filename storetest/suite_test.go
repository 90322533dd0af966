package storetest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/fibercache"
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/storage/postgres/v3"
	"github.com/gofiber/storage/sqlite3/v2"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func prefix() string { return "t" + strconv.FormatUint(rand.Uint64()%1e9, 36) }

func newCache(t testing.TB, s fiber.Storage, p string) *cachekit.Cache {
	t.Helper()
	c := cachekit.New(cachekit.Config{Storage: s, Prefix: p, MaxKeyLen: 64, Timeout: time.Second, Logger: quiet()})
	if err := c.Err(); err != nil {
		t.Fatal(err)
	}
	return c
}

// The core's store behaviour, over each driver.
func TestDrivers(t *testing.T) {
	for _, d := range drivers {
		t.Run(d.name, func(t *testing.T) {
			store := d.open(t)
			t.Run("GetSetDelete", func(t *testing.T) {
				c := newCache(t, store, prefix())
				big := bytes.Repeat([]byte("0123456789"), 50_000) // 500 KB
				if err := c.Set("big", big, time.Minute); err != nil {
					t.Fatal(err)
				}
				if v, ok, err := c.Get("big"); !ok || err != nil || !bytes.Equal(v, big) {
					t.Fatalf("big value: ok=%v err=%v len=%d", ok, err, len(v))
				}
				odd := "odd key with spaces, ünicode and " + strings.Repeat("x", 300)
				if err := c.Set(odd, []byte("v"), time.Minute); err != nil {
					t.Fatal(err)
				}
				if v, ok, _ := c.Get(odd); !ok || string(v) != "v" {
					t.Fatal("odd key not round-tripped")
				}
				c.Delete("big")
				if _, ok, _ := c.Get("big"); ok {
					t.Fatal("deleted entry served")
				}
			})
			t.Run("TTL", func(t *testing.T) {
				c := newCache(t, store, prefix())
				const ttl = 300 * time.Millisecond                                   // sub-second: the core rounds what the store gets
				if err := c.Set("year", []byte("v"), 365*24*time.Hour); err != nil { // past Memcached's 30 days
					t.Fatal(err)
				}
				if _, ok, _ := c.Get("year"); !ok {
					t.Fatal(`fresh entry "year" missing`)
				}
				// A read that ends within the TTL of its Set's start must
				// hit. Each try starts its Set 100 ms before a whole second
				// of the wall clock and reads 20 ms after it: stores that
				// count expiry in whole seconds (the SQL drivers keep the
				// Unix second of now+expiry) must still hold the entry
				// there. Under load (-race, a slow disk) the Set and the
				// Get can take the whole TTL: that try shows nothing, and
				// the next one, on a new key, runs, for up to 10 s.
				var key string
				var setDone time.Time
				for try, deadline := 0, time.Now().Add(10*time.Second); ; try++ {
					key = "short" + strconv.Itoa(try)
					second := time.Now().Add(time.Second + 100*time.Millisecond).Truncate(time.Second)
					time.Sleep(time.Until(second.Add(-100 * time.Millisecond)))
					start := time.Now()
					if err := c.Set(key, []byte("v"), ttl); err != nil {
						t.Fatal(err)
					}
					setDone = time.Now()
					time.Sleep(time.Until(second.Add(20 * time.Millisecond)))
					_, ok, err := c.Get(key)
					if time.Since(start) < ttl {
						if !ok {
							t.Fatalf("fresh entry %q missing %v after its Set (%v)", key, time.Since(start), err)
						}
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("no Set and Get within %v in 10 s", ttl)
					}
				}
				// A read that starts after the TTL from the Set's end must
				// miss, whatever the store keeps (whole seconds).
				time.Sleep(time.Until(setDone.Add(ttl + 100*time.Millisecond)))
				if _, ok, _ := c.Get(key); ok {
					t.Fatal("served after its TTL")
				}
				if _, ok, _ := c.Get("year"); !ok {
					t.Fatal("a one-year entry is gone at once")
				}
			})
			t.Run("Tags", func(t *testing.T) {
				c := newCache(t, store, prefix())
				c.Set("a", []byte("a"), time.Minute, "x")
				c.Set("b", []byte("b"), time.Minute, "y")
				if err := c.InvalidateTags("x"); err != nil {
					t.Fatal(err)
				}
				if _, ok, _ := c.Get("a"); ok {
					t.Fatal("invalidated entry served")
				}
				if _, ok, _ := c.Get("b"); !ok {
					t.Fatal("untouched entry lost")
				}
			})
			t.Run("Coalescing", func(t *testing.T) {
				c := newCache(t, store, prefix())
				var runs atomic.Int32
				var wg sync.WaitGroup
				for i := 0; i < 50; i++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						v, err := c.GetOrSet("cold", time.Minute, func() ([]byte, error) {
							runs.Add(1)
							time.Sleep(100 * time.Millisecond)
							return []byte("v"), nil
						})
						if err != nil || string(v) != "v" {
							t.Errorf("GetOrSet: %q %v", v, err)
						}
					}()
				}
				wg.Wait()
				if n := runs.Load(); n != 1 {
					t.Fatalf("loader ran %d times for 50 concurrent misses", n)
				}
			})
			t.Run("TwoInstances", func(t *testing.T) {
				if d.name == "bbolt" {
					t.Skip("bbolt locks its file: one process only")
				}
				p := prefix()
				a, b := newCache(t, store, p), newCache(t, store, p)
				a.Set("k", []byte("from A"), time.Minute, "product:1")
				if v, ok, _ := b.Get("k"); !ok || string(v) != "from A" {
					t.Fatal("B does not see A's entry")
				}
				a.InvalidateTags("product:1")
				if _, ok, _ := b.Get("k"); ok {
					t.Fatal("B serves what A invalidated")
				}
			})
		})
	}
}

// pageApp serves /p/:id (tagged) and answers 404 for anything else.
func pageApp(c *cachekit.Cache) *fiber.App {
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Use(fibercache.New(fibercache.Config{Cache: c, TTL: time.Hour}))
	app.Get("/p/:id", func(ctx *fiber.Ctx) error {
		fibercache.Tag(ctx, "product:"+ctx.Params("id"))
		return ctx.SendString("product " + ctx.Params("id"))
	})
	return app
}

func get(t testing.TB, app *fiber.App, target string) (int, string, string) {
	t.Helper()
	resp, err := app.Test(httptest.NewRequest("GET", target, nil), -1)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("X-Cache"), string(b)
}

func warm(t testing.TB, app *fiber.App, target string) {
	for i := 0; i < 3; i++ {
		if _, x, _ := get(t, app, target); x == "HIT" {
			return
		}
	}
	t.Fatalf("%s never became a hit", target)
}

// hitTime is the mean time of a page hit.
func hitTime(t testing.TB, app *fiber.App, n int) time.Duration {
	warm(t, app, "/p/1")
	start := time.Now()
	for i := 0; i < n; i++ {
		if _, x, _ := get(t, app, "/p/1"); x != "HIT" {
			t.Fatalf("hit %d: %s", i, x)
		}
	}
	return time.Since(start) / time.Duration(n)
}

// A page hit over each driver, against the embedded Memory in the same run.
func TestPageHit(t *testing.T) {
	memory := hitTime(t, pageApp(cachekit.New(cachekit.Config{})), 300)
	for _, d := range drivers {
		t.Run(d.name, func(t *testing.T) {
			store := d.open(t)
			took := hitTime(t, pageApp(newCache(t, store, prefix())), 300)
			t.Logf("page hit over %s: %v (Memory %v: %.1fx)", d.name, took, memory, float64(took)/float64(memory))
			if d.name != "Redis" && d.name != "RedisCluster" && d.name != "Memcached" {
				return // Replicas are for sharded stores
			}
			rc := cachekit.New(cachekit.Config{Storage: store, Prefix: prefix(), MaxKeyLen: 64, Timeout: time.Second, Logger: quiet(), Replicas: 3})
			rtook := hitTime(t, pageApp(rc), 300)
			t.Logf("page hit over %s with Replicas 3: %v (%.2fx Replicas 1)", d.name, rtook, float64(rtook)/float64(took))
		})
	}
}

// 3,000 requests for distinct missing paths leave no key without an expiry,
// on the stores that never evict.
func TestNotFoundLeavesNoPermanentKeys(t *testing.T) {
	for _, d := range drivers {
		if d.keys == nil {
			continue
		}
		t.Run(d.name, func(t *testing.T) {
			store := d.open(t)
			p := prefix()
			app := pageApp(newCache(t, store, p))
			for i := 0; i < 3000; i++ {
				if code, _, _ := get(t, app, "/missing/"+strconv.Itoa(i)); code != 404 {
					t.Fatalf("status %d", code)
				}
			}
			keys := d.keys(t, store)
			var mine, permanent []string
			for k, ttl := range keys {
				if !strings.HasPrefix(k, p+":") {
					continue
				}
				mine = append(mine, k)
				if ttl < 0 {
					permanent = append(permanent, k)
				}
			}
			slices.Sort(permanent)
			t.Logf("%s: %d keys after 3,000 distinct 404s, %d without an expiry", d.name, len(mine), len(permanent))
			if len(permanent) > 0 {
				t.Fatalf("%d keys without an expiry, e.g. %q", len(permanent), permanent[:min(5, len(permanent))])
			}
		})
	}
}

// sqlKeys lists the keys of a SQL driver's table with their TTL (negative:
// none; the drivers store 0 for no expiry).
func sqlKeys(t testing.TB, s fiber.Storage) map[string]time.Duration {
	t.Helper()
	out := map[string]time.Duration{}
	now := time.Now().Unix()
	add := func(k string, e int64) {
		if e == 0 {
			out[k] = -1
		} else {
			out[k] = time.Duration(e-now) * time.Second
		}
	}
	switch s := s.(type) {
	case *pgStore:
		rows, err := s.Conn().Query(context.Background(), "SELECT k, e FROM "+s.table)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var k string
			var e int64
			if err := rows.Scan(&k, &e); err != nil {
				t.Fatal(err)
			}
			add(k, e)
		}
	case *sqlite3.Storage:
		rows, err := s.Conn().Query("SELECT k, e FROM cachekit")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var k string
			var e int64
			if err := rows.Scan(&k, &e); err != nil {
				t.Fatal(err)
			}
			add(k, e)
		}
	default:
		t.Fatalf("no key listing for %T", s)
	}
	return out
}

// pgStore is the postgres driver with the name of its table.
type pgStore struct {
	*postgres.Storage
	table string
}

var _ = fmt.Sprint
