package fibercache

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/gofiber/fiber/v2"
)

// callCounter is a fiber.Storage that forwards every call to a real store
// and counts the calls: a shared store's round trips. The core keeps no
// hot copies over it (it is not a Memory), as over Redis without Local.
type callCounter struct {
	fiber.Storage
	mu         sync.Mutex
	gets, sets int
	log        []string
}

func (s *callCounter) Get(key string) ([]byte, error) {
	s.mu.Lock()
	s.gets++
	s.log = append(s.log, "GET "+key)
	s.mu.Unlock()
	return s.Storage.Get(key)
}

func (s *callCounter) Set(key string, val []byte, exp time.Duration) error {
	s.mu.Lock()
	s.sets++
	s.log = append(s.log, "SET "+key)
	s.mu.Unlock()
	return s.Storage.Set(key, val, exp)
}

func (s *callCounter) Delete(key string) error {
	s.mu.Lock()
	s.sets++
	s.log = append(s.log, "DEL "+key)
	s.mu.Unlock()
	return s.Storage.Delete(key)
}

// take returns the counts since the last take and resets them.
func (s *callCounter) take() (gets, sets int, log string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	gets, sets, log = s.gets, s.sets, strings.Join(s.log, "\n  ")
	s.gets, s.sets, s.log = 0, 0, nil
	return gets, sets, log
}

// TestMissRoundTrips counts the store calls of a page miss on a shared
// store, per scenario, and holds each to what it costs now: a miss of a
// known path two reads (record, page: no fence, needFence) and its page
// write; a path's first miss reads its record, the fence before and after
// the render, and writes the page and the record (its page keys hold a
// new nonce: nothing to look up, Policy.Absent). Tag generations add
// theirs.
func TestMissRoundTrips(t *testing.T) {
	mem, err := cachekit.NewMemory(cachekit.MemoryConfig{MaxBytes: 16 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mem.Close() })
	store := &callCounter{Storage: mem}
	cache := cachekit.New(cachekit.Config{Storage: store})
	app := newApp()
	app.Use(New(Config{Cache: cache, TTL: time.Minute}))
	app.Get("/plain", func(c *fiber.Ctx) error { return c.SendString("plain") })
	app.Get("/tagged", func(c *fiber.Ctx) error { Tag(c, "product:1"); return c.SendString("tagged") })
	app.Get("/vary", func(c *fiber.Ctx) error {
		c.Vary("Accept-Language")
		return c.SendString("vary " + c.Get("Accept-Language"))
	})
	app.Get("/taggedvary", func(c *fiber.Ctx) error {
		Tag(c, "product:2")
		c.Vary("Accept-Language")
		return c.SendString("tv " + c.Get("Accept-Language"))
	})
	// The key space's generation (Cache.Clear) is read and made once per
	// Cache: a page of another path does it before counting.
	app.Get("/warm", func(c *fiber.Ctx) error { return c.SendString("warm") })
	get(t, app, "/warm")
	store.take()
	type step struct {
		name, target, lang, xcache string
		maxGets, maxSets           int
	}
	for _, s := range []step{
		// Before issue 14's round-trip work (GETs/SETs): 11/2, 2/0, 5/1,
		// 13/3, 6/1, 3/0, 13/2, 5/1, 13/2, 2/0; before Policy.Absent:
		// 6/2, 2/0, 3/1, 8/3, 4/1, 3/0, 7/2, 3/1, 8/2, 2/0; before
		// needFence: 3/2, 2/0, 3/1, 5/3, 4/1, 3/0, 3/2, 3/1, 5/2, 2/0. A tag's first
		// use reads its generation twice here (the read, then the
		// read-if-absent of a store without Atomic: one SET NX on Redis).
		{"first miss of a path", "/plain", "", "MISS", 3, 2},
		{"hit", "/plain", "", "HIT", 2, 0},
		{"miss of a known path (another query)", "/plain?q=1", "", "MISS", 2, 1},
		{"first miss of a tagged page", "/tagged", "", "MISS", 5, 3},
		{"miss of a known tagged path", "/tagged?q=1", "", "MISS", 3, 1},
		{"tagged hit", "/tagged", "", "HIT", 3, 0},
		{"first miss of a page that learns its Vary list", "/vary", "en", "MISS", 3, 2},
		{"miss of another Vary'd variant", "/vary", "de", "MISS", 2, 1},
		{"first miss of a tagged page that learns its Vary list", "/taggedvary", "en", "MISS", 5, 2},
		{"hit after learning", "/vary", "en", "HIT", 2, 0},
	} {
		var hdr []string
		if s.lang != "" {
			hdr = []string{"Accept-Language", s.lang}
		}
		r := get(t, app, s.target, hdr...)
		gets, sets, log := store.take()
		t.Logf("%-55s %-4s %d GETs, %d SETs\n  %s", s.name, r.xcache(), gets, sets, log)
		if r.xcache() != s.xcache {
			t.Errorf("%s: X-Cache %s, want %s (%s)", s.name, r.xcache(), s.xcache, r.cacheStatus())
		}
		if gets > s.maxGets || sets > s.maxSets {
			t.Errorf("%s: %d GETs, %d SETs; want at most %d and %d", s.name, gets, sets, s.maxGets, s.maxSets)
		}
	}
}
