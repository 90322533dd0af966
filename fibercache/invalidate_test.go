package fibercache

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/gofiber/fiber/v2"
)

func TestInvalidatePathDropsEveryVariant(t *testing.T) {
	cache := newCache(t)
	app := newApp()
	app.Use(New(Config{Cache: cache}))
	app.Use(New(Config{Cache: cache, KeyPrefix: "other"})) // another prefix, same path
	var runs atomic.Int64
	h := func(c *fiber.Ctx) error {
		c.Vary("Accept-Language")
		return c.SendString(fmt.Sprintf("%s %s %s %d", c.Hostname(), c.OriginalURL(), c.Get("Accept-Language"), runs.Add(1)))
	}
	app.Get("/blog/post", h)
	app.Get("/about", h)

	variants := [][]string{
		{"/blog/post"},
		{"/blog/post?page=2"},
		{"/blog/post", "Accept-Language", "fr"},
		{"/blog/post", "Host", "other.example"},
		{"/Blog/Post/"},
	}
	reqs := func() []result {
		var rs []result
		for _, v := range variants {
			rs = append(rs, get(t, app, v[0], v[1:]...))
		}
		return rs
	}
	reqs()
	reqs() // the second round learns nothing new...
	for i, r := range reqs() {
		expect(t, fmt.Sprintf("variant %d before", i), r.xcache(), "HIT")
	}
	get(t, app, "/about")
	expect(t, "/about", get(t, app, "/about").xcache(), "HIT")

	if err := InvalidatePath(cache, "/blog/post/"); err != nil {
		t.Fatal(err)
	}
	for i, r := range reqs() {
		expect(t, fmt.Sprintf("variant %d after", i), r.xcache(), "MISS")
	}
	for i, r := range reqs() {
		expect(t, fmt.Sprintf("variant %d rendered again", i), r.xcache(), "HIT")
	}
	expect(t, "other path untouched", get(t, app, "/about").xcache(), "HIT")
}

func TestPurge(t *testing.T) {
	cache := newCache(t)
	app := fiber.New(fiber.Config{DisableStartupMessage: true, RequestMethods: append(fiber.DefaultMethods[:len(fiber.DefaultMethods):len(fiber.DefaultMethods)], "PURGE")})
	app.Use("/open", Purge(PurgeConfig{Cache: cache})) // no token: refuses all
	app.Use(Purge(PurgeConfig{Cache: cache, Token: "s3cret"}))
	app.Use(New(Config{Cache: cache}))
	var runs atomic.Int64
	app.Get("/*", func(c *fiber.Ctx) error {
		c.Set("Surrogate-Key", "all")
		return c.SendString(fmt.Sprint(c.Path(), runs.Add(1)))
	})
	warm := func(path string) {
		for i := 0; i < 3; i++ {
			if get(t, app, path).xcache() == "HIT" {
				return
			}
		}
		t.Fatalf("%s never became a hit", path)
	}
	warm("/a")
	warm("/open/x")

	r := do(t, app, "PURGE", "/a")
	expect(t, "no token", r.status, 403)
	r = do(t, app, "PURGE", "/a", "X-Purge-Token", "guess")
	expect(t, "wrong token", r.status, 403)
	r = do(t, app, "PURGE", "/open/x", "X-Purge-Token", "")
	expect(t, "handler without a token configured", r.status, 403)
	r = do(t, app, "PURGE", "/open/x", "X-Purge-Token", "s3cret")
	expect(t, "a token configured elsewhere does not open it", r.status, 403)
	expect(t, "nothing purged", get(t, app, "/a").xcache(), "HIT")
	expect(t, "nothing purged", get(t, app, "/open/x").xcache(), "HIT")

	r = do(t, app, "PURGE", "/a", "X-Purge-Token", "s3cret")
	expect(t, "purge by path", r.status, 200)
	expect(t, "purged", get(t, app, "/a").xcache(), "MISS")

	warm("/a")
	r = do(t, app, "PURGE", "/", "X-Purge-Token", "s3cret", "Surrogate-Key", "all")
	expect(t, "purge by key", r.status, 200)
	expect(t, "purged by key", get(t, app, "/a").xcache(), "MISS")
	expect(t, "purged by key", get(t, app, "/open/x").xcache(), "MISS")
}

// pausingStore forwards to a real store and, once armed, holds a read of
// a path record (done) until released: the first one after skip others.
// A request or InvalidatePath is caught between its reads and writes.
type pausingStore struct {
	fiber.Storage
	armed            atomic.Bool
	skip             atomic.Int32
	reached, release chan struct{}
}

func (s *pausingStore) Get(key string) ([]byte, error) {
	v, err := s.Storage.Get(key)
	if strings.Contains(key, ":fcr:") && s.armed.Load() && s.skip.Add(-1) < 0 && s.armed.CompareAndSwap(true, false) {
		close(s.reached)
		<-s.release
	}
	return v, err
}

// An InvalidatePath that begins while a path's first render runs (the
// path has no record yet) and reads the path's record before that render
// makes it: the page that render stores must still never be served once
// InvalidatePath has returned.
func TestInvalidatePathDuringFirstRender(t *testing.T) {
	mem, err := cachekit.NewMemory(cachekit.MemoryConfig{MaxBytes: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mem.Close() })
	store := &pausingStore{Storage: mem, reached: make(chan struct{}), release: make(chan struct{})}
	cache := cachekit.New(cachekit.Config{Storage: store}) // no hot layer: a shared store
	app := newApp()
	app.Use(New(Config{Cache: cache, TTL: time.Minute}))
	var data atomic.Value
	data.Store("v1")
	rendering, proceed := make(chan struct{}), make(chan struct{})
	var first atomic.Bool
	app.Get("/p", func(c *fiber.Ctx) error {
		v := data.Load().(string)
		if first.CompareAndSwap(false, true) {
			close(rendering)
			<-proceed
		}
		return c.SendString(v)
	})
	base := listen(t, app)
	client := newClient(t, 2)
	fetch := func() (string, string) {
		resp, err := client.Get(base + "/p")
		if err != nil {
			t.Error(err)
			return "", ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b), resp.Header.Get("X-Cache")
	}
	done := make(chan string)
	go func() { body, _ := fetch(); done <- body }()
	<-rendering // the render has read v1
	data.Store("v2")
	store.armed.Store(true)
	invalidated := make(chan error)
	go func() { invalidated <- InvalidatePath(cache, "/p") }()
	<-store.reached // InvalidatePath has read the record: none yet
	close(proceed)
	expect(t, "first render", <-done, "v1") // stored its page and made the record
	close(store.release)
	if err := <-invalidated; err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if body, xc := fetch(); body != "v2" {
			t.Fatalf("request %d after InvalidatePath: %q (X-Cache %s), want v2", i, body, xc)
		}
	}
}

// A known path's render that learns a Vary list reads no fence: it
// writes a record with a new nonce and stores nothing under it. An
// InvalidatePath whose record write that overwrites (it lands between the
// render's check of the record and its write) must still never let the
// render's page be served once it has returned.
func TestInvalidatePathDuringVaryLearning(t *testing.T) {
	mem, err := cachekit.NewMemory(cachekit.MemoryConfig{MaxBytes: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mem.Close() })
	store := &pausingStore{Storage: mem, reached: make(chan struct{}), release: make(chan struct{})}
	cache := cachekit.New(cachekit.Config{Storage: store}) // no hot layer: a shared store
	app := newApp()
	app.Use(New(Config{Cache: cache, TTL: time.Minute}))
	var data atomic.Value
	data.Store("v1")
	var vary atomic.Bool
	app.Get("/p", func(c *fiber.Ctx) error {
		if vary.Load() {
			c.Vary("X-Theme")
		}
		return c.SendString(data.Load().(string))
	})
	base := listen(t, app)
	client := newClient(t, 2)
	fetch := func(target string) (string, string) {
		req, _ := http.NewRequest(http.MethodGet, base+target, nil)
		req.Header.Set("X-Theme", "dark")
		resp, err := client.Do(req)
		if err != nil {
			t.Error(err)
			return "", ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b), resp.Header.Get("X-Cache")
	}
	if body, _ := fetch("/p"); body != "v1" {
		t.Fatalf("first render: %q", body)
	}
	if _, xc := fetch("/p"); xc != "HIT" {
		t.Fatalf("not stored: X-Cache %s", xc)
	}
	// The page starts to vary; a request for another query string reads
	// the record, renders v1, checks the record again before rewriting
	// it, and waits there.
	vary.Store(true)
	store.skip.Store(1)
	store.armed.Store(true)
	done := make(chan string)
	go func() { body, _ := fetch("/p?q=1"); done <- body }()
	<-store.reached
	data.Store("v2")
	if err := InvalidatePath(cache, "/p"); err != nil {
		t.Fatal(err)
	}
	close(store.release) // the render's record write overwrites InvalidatePath's
	expect(t, "the learning render", <-done, "v1")
	for i := 0; i < 2; i++ {
		for _, target := range []string{"/p", "/p?q=1"} {
			if body, xc := fetch(target); body != "v2" {
				t.Fatalf("request %d for %s after InvalidatePath: %q (X-Cache %s), want v2", i, target, body, xc)
			}
		}
	}
}
