package gormcache_test

import (
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/gormcache"
	"github.com/cachekit/cachekit/internal/testserver"
	"github.com/cachekit/cachekit/redisbus"
	storage "github.com/gofiber/storage/redis/v3"
	"github.com/redis/go-redis/v9"
	"gorm.io/gorm"
)

// redisCache is one instance's Cache on the shared Redis: with a local
// Memory in front and invalidations on a redisbus Bus (twoLevel), or the
// Redis store alone.
func redisCache(t *testing.T, client *redis.Client, prefix string, twoLevel bool) *cachekit.Cache {
	t.Helper()
	// Timeout 10 s: these tests are about what the other instance sees,
	// not about a slow store; with the default 100 ms, a loaded machine
	// made an invalidation time out (kept pending on its writer only, so
	// the other instance read the deleted row from Redis).
	cfg := cachekit.Config{Storage: storage.NewFromConnection(client), Prefix: prefix, Timeout: 10 * time.Second}
	if twoLevel {
		local, err := cachekit.NewMemory(cachekit.MemoryConfig{MaxBytes: 4 << 20})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Local = local
		cfg.LocalTTL = time.Minute // long: only the bus can make B see A's write in time
		cfg.Bus = redisbus.New(client, "cachekit:gormtest:"+prefix)
	}
	c := cachekit.New(cfg)
	if err := c.Err(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Two instances of a site on one database and one real Redis, each with its
// own Cache and *gorm.DB: a write through GORM on A is seen by B's next read
// (with the bus, as soon as its message arrives; the bound here is generous
// for a loaded machine and the delay seen is logged), and B was reading from
// the cache until then (a raw write behind GORM's back stays unseen).
func TestTwoInstancesOnRedis(t *testing.T) {
	addr := testserver.Addr(t, "CACHEKIT_REDIS_ADDR")
	client := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { client.Close() })
	for _, twoLevel := range []bool{true, false} {
		name := map[bool]string{true: "two-level+bus", false: "redis-only"}[twoLevel]
		t.Run(name, func(t *testing.T) {
			eachDB(t, func(t *testing.T, e *env) {
				prefix := "gc" + strconv.FormatUint(rand.Uint64(), 36)
				open := func(c *cachekit.Cache) (*gorm.DB, *gormcache.Plugin) {
					db := e.open(t)
					plug := gormcache.New(c)
					must(t, db.Use(plug))
					return db, plug.(*gormcache.Plugin)
				}
				a, _ := open(redisCache(t, client, prefix, twoLevel))
				b, plugB := open(redisCache(t, client, prefix, twoLevel))

				u := User{Name: "v1", Email: "bus@x"}
				must(t, a.Create(&u).Error)
				mustUser(t, a, u.ID)
				for range 3 {
					if got := mustUser(t, b, u.ID); got.Name != "v1" {
						t.Fatalf("B reads %q", got.Name)
					}
				}
				if st := plugB.Stats()["User"]; st.Hits < 3 {
					t.Fatalf("B did not read A's entry from Redis: %+v", st)
				}
				e.behind(t, "UPDATE users SET name = ? WHERE id = ?", "behind", u.ID)
				if got := mustUser(t, b, u.ID); got.Name != "v1" {
					t.Fatalf("B reads %q: not from the cache", got.Name)
				}

				must(t, a.Model(&User{ID: u.ID}).Update("name", "v2").Error)
				start := time.Now()
				for {
					got := mustUser(t, b, u.ID)
					if got.Name == "v2" {
						break
					}
					if !twoLevel {
						t.Fatalf("B's next read after A's write: %q (the generations are in Redis)", got.Name)
					}
					if time.Since(start) > 2*time.Second {
						t.Fatalf("B still reads %q 2 s after A's write (LocalTTL is a minute)", got.Name)
					}
					time.Sleep(time.Millisecond)
				}
				t.Logf("B saw A's write after %v", time.Since(start))
				if got := mustUser(t, a, u.ID); got.Name != "v2" {
					t.Fatalf("A reads %q after its own write", got.Name)
				}
				// And back: a Delete on B is seen by A.
				must(t, b.Delete(&User{ID: u.ID}).Error)
				start = time.Now()
				for {
					var x User
					err := a.First(&x, u.ID).Error
					if err == gorm.ErrRecordNotFound {
						break
					}
					if !twoLevel || time.Since(start) > 2*time.Second {
						t.Fatalf("A still reads the deleted row after %v: %+v %v", time.Since(start), x, err)
					}
					time.Sleep(time.Millisecond)
				}
			})
		})
	}
}
