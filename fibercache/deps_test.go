package fibercache

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/gofiber/fiber/v2"
)

// sharedStore stands for a store other processes share: not a
// *cachekit.Memory, so the core cannot prove from its epoch that nothing
// was invalidated during a render.
type sharedStore struct{ *cachekit.Memory }

// memBus is a cachekit.Bus inside one process.
type memBus struct {
	mu   sync.Mutex
	subs []func(string)
}

func (b *memBus) Publish(msg string) error {
	b.mu.Lock()
	subs := append([]func(string){}, b.subs...)
	b.mu.Unlock()
	for _, fn := range subs {
		fn(msg)
	}
	return nil
}

func (b *memBus) Subscribe(fn func(string)) (func(), error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.subs = append(b.subs, fn)
	return func() {}, nil
}

func newMemory(t testing.TB) *cachekit.Memory {
	m, err := cachekit.NewMemory(cachekit.MemoryConfig{MaxBytes: 16 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}

// The caches the dependency rules must hold on.
func depCaches(t *testing.T) map[string]*cachekit.Cache {
	cs := map[string]*cachekit.Cache{
		"memory": cachekit.New(cachekit.Config{Storage: newMemory(t)}),
		"shared": cachekit.New(cachekit.Config{Storage: sharedStore{newMemory(t)}}),
		"two-level+bus": cachekit.New(cachekit.Config{Storage: sharedStore{newMemory(t)},
			Local: newMemory(t), Bus: &memBus{}}),
	}
	for _, c := range cs {
		if err := c.Err(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
	}
	return cs
}

// A page depends on what its handler read through the cache with
// c.UserContext(), on what it tagged, on every store; a tagged page is
// stored on its first render.
func TestPageDependencies(t *testing.T) {
	type product struct{ Name string }
	cases := []struct {
		name    string
		warm    bool   // the data is in the cache before the first page render
		handler string // how the handler reads
		tag     string // what is invalidated
		gone    bool   // the page renders again after the invalidation
	}{
		{name: "FetchContext miss", handler: "fetch", tag: "p:1", gone: true},
		{name: "FetchContext hit", warm: true, handler: "fetch", tag: "p:1", gone: true},
		{name: "GetOrSetContext hit", warm: true, handler: "getorset", tag: "p:1", gone: true},
		{name: "Tag, before the data", handler: "tag", tag: "p:1", gone: true},
		{name: "Tag, then an edit during the render", handler: "tag+edit", tag: "", gone: true},
		{name: "an unrelated tag", handler: "fetch", tag: "p:2", gone: false},
	}
	for cname, cache := range depCaches(t) {
		for i, tc := range cases {
			path := fmt.Sprintf("/p/%d", i)
			p1 := "p:1@" + cname + path // a brand-new tag: its generation is made during the first render
			t.Run(cname+"/"+tc.name, func(t *testing.T) {
				name := "lamp"
				var renders atomic.Int64
				key := fmt.Sprintf("product:%s:%s", cname, tc.name)
				if tc.warm {
					cachekit.Fetch(cache, key, time.Minute, func() (product, error) { return product{name}, nil }, p1)
				}
				app := newApp()
				app.Get(path, Page(time.Minute, Config{Cache: cache}), func(c *fiber.Ctx) error {
					renders.Add(1)
					var shown string
					switch tc.handler {
					case "fetch":
						p, err := cachekit.FetchContext(c.UserContext(), cache, key, time.Minute, func(context.Context) (product, error) {
							return product{name}, nil
						}, p1)
						if err != nil {
							return err
						}
						shown = p.Name
					case "getorset":
						b, err := cache.GetOrSetContext(c.UserContext(), key, time.Minute, func(context.Context) ([]byte, error) {
							return []byte(name), nil
						}, p1)
						if err != nil {
							return err
						}
						shown = string(b)
					case "tag":
						Tag(c, p1)
						shown = name
					case "tag+edit":
						Tag(c, p1)
						if renders.Load() == 1 {
							cache.InvalidateTags(p1) // an edit lands while the page renders
						}
						shown = name
					}
					return c.SendString("<p>" + shown + "</p>")
				})
				r := get(t, app, path)
				if r.xcache() != "MISS" || !strings.Contains(r.cacheStatus(), "stored") {
					t.Fatalf("first render: X-Cache %s, Cache-Status %q: a page is stored on its first render", r.xcache(), r.cacheStatus())
				}
				if tc.handler != "tag+edit" {
					if r := get(t, app, path); r.xcache() != "HIT" {
						t.Fatalf("second request: %s", r.xcache())
					}
				}
				name = "LAMP"
				if tc.tag == "p:1" {
					cache.InvalidateTags(p1)
				} else if tc.tag != "" {
					cache.InvalidateTags(tc.tag)
				}
				r = get(t, app, path)
				if rerendered := r.xcache() == "MISS"; rerendered != tc.gone {
					t.Fatalf("after InvalidateTags(%q): X-Cache %s (%q), want a render %v", tc.tag, r.xcache(), r.body, tc.gone)
				}
				if tc.gone && !strings.Contains(r.body, "LAMP") {
					t.Fatalf("re-rendered page shows %q", r.body)
				}
			})
		}
	}
}

// A Page inside a site-wide New: the outer page depends on the inner one,
// which it may get from the cache.
func TestNestedInstancesDependencies(t *testing.T) {
	cache := newCache(t)
	name := "lamp"
	app := newApp()
	app.Use(New(Config{Cache: cache, TTL: time.Minute}))
	app.Get("/p", Page(time.Minute, Config{Cache: cache}), func(c *fiber.Ctx) error {
		Tag(c, "p:1")
		return c.SendString(name)
	})
	if r := get(t, app, "/p"); r.xcache() != "MISS" {
		t.Fatal(r.xcache())
	}
	if r := get(t, app, "/p"); r.xcache() != "HIT" {
		t.Fatal(r.xcache())
	}
	name = "LAMP"
	cache.InvalidateTags("p:1")
	if r := get(t, app, "/p"); r.body != "LAMP" {
		t.Fatalf("after the inner page's tag moved: %q %s", r.body, r.xcache())
	}
}

// A public page rendered for a request with credentials is stored with what
// it was built from, like any other.
func TestCredentialedPublicPageDependencies(t *testing.T) {
	cache := newCache(t)
	name := "lamp"
	app := newApp()
	app.Get("/pub", Page(time.Minute, Config{Cache: cache}), func(c *fiber.Ctx) error {
		b, err := cache.GetOrSetContext(c.UserContext(), "pub-data", time.Minute, func(context.Context) ([]byte, error) {
			return []byte(name), nil
		}, "p:1")
		if err != nil {
			return err
		}
		c.Set("Cache-Control", "public")
		return c.Send(b)
	})
	if r := get(t, app, "/pub", "Authorization", "Bearer x"); !strings.Contains(r.cacheStatus(), "stored") {
		t.Fatalf("credentialed public page: %s %q", r.xcache(), r.cacheStatus())
	}
	if r := get(t, app, "/pub"); r.xcache() != "HIT" || r.body != "lamp" {
		t.Fatalf("anonymous: %s %q", r.xcache(), r.body)
	}
	name = "LAMP"
	cache.Delete("pub-data")
	cache.InvalidateTags("p:1")
	if r := get(t, app, "/pub"); r.body != "LAMP" {
		t.Fatalf("after InvalidateTags(p:1): %s %q", r.xcache(), r.body)
	}
}
