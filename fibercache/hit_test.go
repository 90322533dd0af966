package fibercache

import (
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/gofiber/fiber/v2"
)

// memoEnv is one app whose page /p renders "v<n>", tagged "t", on its own
// Memory store, with the key of the page its hits read.
type memoEnv struct {
	mem     *cachekit.Memory
	cache   *cachekit.Cache
	app     *fiber.App
	renders atomic.Int64
	mu      sync.Mutex
	pageKey string
}

func newMemoEnv(t *testing.T, ttl time.Duration) *memoEnv {
	t.Helper()
	e := &memoEnv{}
	mem, err := cachekit.NewMemory(cachekit.MemoryConfig{MaxBytes: 16 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mem.Close() })
	e.mem = mem
	e.cache = cachekit.New(cachekit.Config{Storage: mem, Observe: func(key string, s cachekit.Status) {
		if s == cachekit.Hit && strings.Contains(key, "fcp:") {
			e.mu.Lock()
			e.pageKey = key[strings.Index(key, "fcp:"):]
			e.mu.Unlock()
		}
	}})
	e.app = newApp()
	e.app.Use(New(Config{Cache: e.cache, TTL: ttl}))
	e.app.Get("/p", func(c *fiber.Ctx) error {
		Tag(c, "t")
		return c.SendString("v" + strconv.FormatInt(e.renders.Add(1), 10))
	})
	return e
}

func (e *memoEnv) key() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.pageKey
}

// memoBody returns the body of the prepared page the hot layer's value of
// the page key holds in its memo ("" when it holds none).
func (e *memoEnv) memoBody(key string) string {
	r, ok := e.cache.HotView().Peek(key)
	if !ok {
		return ""
	}
	if p, _ := r.Memo().Load().(*prepared); p != nil {
		return string(p.pg.body)
	}
	return ""
}

// TestHitMemoNeverOutlivesItsValue: a hit decodes its page once, into the
// memo of the value the core's hot layer keeps; after any kind of
// invalidation the next request renders afresh (never the memo's page),
// and the hits after it serve, and memoise, the new page.
func TestHitMemoNeverOutlivesItsValue(t *testing.T) {
	for _, tc := range []struct {
		name       string
		ttl        time.Duration
		invalidate func(t *testing.T, e *memoEnv)
		// unstored: what the key holds is not a page; each request renders
		// (and never stores) until it expires.
		unstored bool
	}{
		{"InvalidateTags", time.Hour, func(t *testing.T, e *memoEnv) { check(t, e.cache.InvalidateTags("t")) }, false},
		{"InvalidatePath", time.Hour, func(t *testing.T, e *memoEnv) { check(t, InvalidatePath(e.cache, "/p")) }, false},
		{"Clear", time.Hour, func(t *testing.T, e *memoEnv) { check(t, e.cache.Clear()) }, false},
		{"Delete of the page key", time.Hour, func(t *testing.T, e *memoEnv) { check(t, e.cache.Delete(e.key())) }, false},
		{"Delete of the record key", time.Hour, func(t *testing.T, e *memoEnv) {
			check(t, e.cache.Delete(string(appendPathKey(nil, keyRecord, "/p"))))
		}, false},
		{"Set of the page key", time.Hour, func(t *testing.T, e *memoEnv) {
			check(t, e.cache.Set(e.key(), []byte("not a page"), time.Hour))
		}, true},
		{"Memory.Reset", time.Hour, func(t *testing.T, e *memoEnv) { check(t, e.mem.Reset()) }, false},
		{"TTL expiry", time.Second, func(t *testing.T, e *memoEnv) { time.Sleep(1100 * time.Millisecond) }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newMemoEnv(t, tc.ttl)
			if r := get(t, e.app, "/p"); r.xcache() != "MISS" || r.body != "v1" {
				t.Fatalf("first request: %s %q", r.xcache(), r.body)
			}
			for i := 0; i < 3; i++ {
				if r := get(t, e.app, "/p"); r.xcache() != "HIT" || r.body != "v1" {
					t.Fatalf("hit %d: %s %q", i, r.xcache(), r.body)
				}
			}
			key := e.key()
			if got := e.memoBody(key); got != "v1" {
				t.Fatalf("the hot layer's value of %q holds the prepared page %q, want v1", key, got)
			}
			tc.invalidate(t, e)
			r := get(t, e.app, "/p")
			if r.body != "v2" || r.xcache() == "HIT" {
				t.Fatalf("after %s: %s %q (%s), want a fresh render v2", tc.name, r.xcache(), r.body, r.cacheStatus())
			}
			if tc.unstored {
				for i := 3; i < 6; i++ {
					if r := get(t, e.app, "/p"); r.xcache() == "HIT" || r.body != "v"+strconv.Itoa(i) {
						t.Fatalf("request %d after %s: %s %q", i, tc.name, r.xcache(), r.body)
					}
				}
				if got := e.memoBody(key); got != "" {
					t.Fatalf("after %s the key's value holds the prepared page %q", tc.name, got)
				}
				return
			}
			for i := 0; i < 3; i++ {
				if r := get(t, e.app, "/p"); r.xcache() != "HIT" || r.body != "v2" {
					t.Fatalf("hit %d after %s: %s %q", i, tc.name, r.xcache(), r.body)
				}
			}
			if got := e.memoBody(e.key()); got != "v2" {
				t.Fatalf("after %s the prepared page is %q, want v2", tc.name, got)
			}
		})
	}
}

func check(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestPreparedPageOnce: the hits on one kept value share one prepared
// page; a value read from the storage (not the hot layer) has no memo and
// is decoded where it is used.
func TestPreparedPageOnce(t *testing.T) {
	e := newMemoEnv(t, time.Hour)
	get(t, e.app, "/p")
	get(t, e.app, "/p")
	m := newMiddleware(configDefault(Config{Cache: e.cache}), false)
	r1, ok1 := e.cache.HotView().Lookup(e.key())
	r2, ok2 := e.cache.HotView().Lookup(e.key())
	if !ok1 || !ok2 {
		t.Fatal("the page is not in the hot layer")
	}
	var a, b page
	pg1, p1, _ := m.pageOf(&r1, &a)
	pg2, p2, _ := m.pageOf(&r2, &b)
	if p1 == nil || p1 != p2 || pg1 != pg2 || pg1 == &a {
		t.Fatalf("two hits on one value: prepared %p and %p", p1, p2)
	}
	stored, err := e.cache.Peek(e.key()) // served by the hot layer too
	check(t, err)
	stored.Value = append([]byte(nil), stored.Value...)
	var c page
	plain := cachekit.Result{Value: stored.Value, Status: cachekit.Hit}
	pg3, p3, ok := m.pageOf(&plain, &c)
	if !ok || p3 != nil || pg3 != &c || string(c.body) != "v1" {
		t.Fatalf("a value without a memo: prepared %p, page %p (%q)", p3, pg3, c.body)
	}
}

// TestHitHintVariants: the hint a path's record keeps (the hot layer's
// place of the path's last page) only leads the lookup. Variants of one
// path asked for in turn, across hint ticks (by query and by the Vary
// header each), are each answered with their own page; an InvalidatePath
// and a tag's invalidation are seen at once, through a hint that leads to
// the old value.
func TestHitHintVariants(t *testing.T) {
	c := newCache(t)
	app := newApp()
	app.Use(New(Config{Cache: c, TTL: time.Hour}))
	renders := 0
	app.Get("/p", func(ctx *fiber.Ctx) error {
		renders++
		Tag(ctx, "t")
		ctx.Set("Vary", "X-Variant")
		return ctx.SendString(ctx.Query("q") + "|" + ctx.Get("X-Variant") + "|" + strconv.Itoa(renders))
	})
	type variant struct{ q, x string }
	variants := []variant{{"1", "a"}, {"2", "a"}, {"1", "b"}, {"", ""}}
	bodies := map[variant]string{}
	target := func(v variant) string {
		if v.q == "" {
			return "/p"
		}
		return "/p?q=" + v.q
	}
	ask := func(v variant) result {
		t.Helper()
		if v.x == "" {
			return get(t, app, target(v))
		}
		return get(t, app, target(v), "X-Variant", v.x)
	}
	for _, v := range variants { // the first learns the Vary list
		ask(v)
	}
	for _, v := range variants {
		r := ask(v)
		if !strings.HasPrefix(r.body, v.q+"|"+v.x+"|") {
			t.Fatalf("%v: %s %q", v, r.xcache(), r.body)
		}
		bodies[v] = r.body
	}
	serveAll := func(want func(v variant, r result)) {
		t.Helper()
		for round := 0; round < 4; round++ {
			for _, v := range variants {
				want(v, ask(v))
			}
			time.Sleep(2 * time.Millisecond) // a new hint tick
		}
	}
	serveAll(func(v variant, r result) {
		if r.xcache() != "HIT" || r.body != bodies[v] {
			t.Fatalf("%v: %s %q, want HIT %q", v, r.xcache(), r.body, bodies[v])
		}
	})
	for _, inv := range []struct {
		name string
		f    func() error
	}{
		{"InvalidatePath", func() error { return InvalidatePath(c, "/p") }},
		{"InvalidateTags", func() error { return c.InvalidateTags("t") }},
	} {
		last := variants[len(variants)-1]
		if r := ask(last); r.xcache() != "HIT" { // the hint now leads to last's page
			t.Fatalf("before %s: %s", inv.name, r.xcache())
		}
		if err := inv.f(); err != nil {
			t.Fatal(err)
		}
		for _, v := range variants {
			r := ask(v)
			if r.xcache() == "HIT" || r.body == bodies[v] || !strings.HasPrefix(r.body, v.q+"|"+v.x+"|") {
				t.Fatalf("after %s, %v: %s %q (old %q)", inv.name, v, r.xcache(), r.body, bodies[v])
			}
			bodies[v] = r.body
		}
		serveAll(func(v variant, r result) {
			if r.xcache() != "HIT" || r.body != bodies[v] {
				t.Fatalf("after %s, %v: %s %q, want HIT %q", inv.name, v, r.xcache(), r.body, bodies[v])
			}
		})
	}
}
