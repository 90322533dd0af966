// Package missrt holds the round-trip rule of fibercache's page miss (issue
// 14: a page miss costs at most three reads, and the writes it needs) as
// one table of scenarios, run by fibercache's tests over a plain counting
// fiber.Storage and by redisbus's over real Redis, counted by the client.
package missrt

import (
	"net/http"
	"testing"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/fibercache"
	"github.com/gofiber/fiber/v2"
)

// MaxReads is the rule: no page miss (and no hit) reads more keys.
const MaxReads = 3

// Counts are the store calls of one step: reads (GET, or one per key of a
// multi-get) and writes (SET, SET NX, DEL, a compare-and-swap).
type Counts struct{ Reads, Writes int }

// Step is one request (or InvalidatePath, when Invalidate is set) and what
// it costs, on a store without Atomic (Plain) and with it (Atomic: a
// tag's new generation is one SET NX, a write, instead of a plain SET).
type Step struct {
	Name       string
	Target     string // the request target
	Lang       string // its Accept-Language, if any
	Invalidate string // InvalidatePath of this path instead of a request
	XCache     string
	Plain      Counts
	Atomic     Counts
}

// Steps are the scenarios, in the order they run (each builds on the
// state the ones before it left). Before issue 14's work on the miss path
// (this branch), on a plain store: first miss 3/2, hit 2/0, known path
// 2/1, first tagged 5/3, known tagged 3/1, tagged hit 3/0, first Vary'd
// 3/2, another variant 2/1, first tagged Vary'd 5/2, hit after learning
// 2/0 (reads/writes); on Redis the first tagged misses read 4 (one SET NX
// in place of the tag's second read).
func Steps() []Step {
	same := func(r, w int) (Counts, Counts) { return Counts{r, w}, Counts{r, w} }
	step := func(name, target, lang, xcache string, r, w int) Step {
		p, a := same(r, w)
		return Step{Name: name, Target: target, Lang: lang, XCache: xcache, Plain: p, Atomic: a}
	}
	inv := func(name, path string) Step {
		p, a := same(1, 2) // the fence, the record read, the record (or a tombstone)
		return Step{Name: name, Invalidate: path, Plain: p, Atomic: a}
	}
	return []Step{
		// The record read as missing, the page and the record written,
		// the fence read after the record write.
		step("first miss of a path", "/plain", "", "MISS", 2, 2),
		step("hit", "/plain", "", "HIT", 2, 0),
		step("miss of a known path (another query)", "/plain?q=1", "", "MISS", 2, 1),
		// A tag's first use: one read, one write of a fresh generation.
		step("first miss of a tagged page", "/tagged", "", "MISS", 3, 3),
		step("miss of a known tagged path", "/tagged?q=1", "", "MISS", 3, 1),
		step("tagged hit", "/tagged", "", "HIT", 3, 0),
		step("first miss of a page that learns its Vary list", "/vary", "en", "MISS", 2, 2),
		step("miss of another Vary'd variant", "/vary", "de", "MISS", 2, 1),
		step("first miss of a tagged page that learns its Vary list", "/taggedvary", "en", "MISS", 3, 2),
		step("hit after learning", "/vary", "en", "HIT", 2, 0),
		inv("InvalidatePath of a known path", "/plain"),
		step("miss after InvalidatePath", "/plain", "", "MISS", 2, 1),
		inv("InvalidatePath of a path with no record", "/fresh"),
		step("first miss under a tombstone", "/fresh", "", "MISS", 2, 2),
		step("hit under the record made over the tombstone", "/fresh", "", "HIT", 2, 0),
	}
}

// NewApp is the site the steps run on: the middleware over cache, and a
// page for each path the steps request (and /warm).
func NewApp(cache *cachekit.Cache) *fiber.App {
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Use(fibercache.New(fibercache.Config{Cache: cache, TTL: time.Minute}))
	for _, p := range []string{"/plain", "/fresh", "/warm"} {
		app.Get(p, func(c *fiber.Ctx) error { return c.SendString("page " + c.Path()) })
	}
	app.Get("/tagged", func(c *fiber.Ctx) error { fibercache.Tag(c, "product:1"); return c.SendString("tagged") })
	app.Get("/vary", func(c *fiber.Ctx) error {
		c.Vary("Accept-Language")
		return c.SendString("vary " + c.Get("Accept-Language"))
	})
	app.Get("/taggedvary", func(c *fiber.Ctx) error {
		fibercache.Tag(c, "product:2")
		c.Vary("Accept-Language")
		return c.SendString("tv " + c.Get("Accept-Language"))
	})
	return app
}

// Do runs one step on app over cache and returns its X-Cache ("" for an
// InvalidatePath).
func Do(t testing.TB, app *fiber.App, cache *cachekit.Cache, s Step) string {
	t.Helper()
	if s.Invalidate != "" {
		if err := fibercache.InvalidatePath(cache, s.Invalidate); err != nil {
			t.Fatal(err)
		}
		return ""
	}
	req, err := newRequest(s.Target, s.Lang)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := app.Test(req, -1)
	if err != nil {
		t.Fatalf("%s: %v", s.Target, err)
	}
	_ = resp.Body.Close()
	return resp.Header.Get("X-Cache")
}

// Run runs steps over cache, counting each with take (the calls since the
// last take, and a log of them) and checking them against want (Plain or
// Atomic) and MaxReads. The key space's generation is read and made once
// per Cache, by a request of another path before counting.
func Run(t *testing.T, cache *cachekit.Cache, steps []Step, want func(Step) Counts, take func() (Counts, string)) {
	app := NewApp(cache)
	Do(t, app, cache, Step{Target: "/warm"})
	take()
	for _, s := range steps {
		xc := Do(t, app, cache, s)
		got, log := take()
		t.Logf("%-55s %-4s %d reads, %d writes\n  %s", s.Name, xc, got.Reads, got.Writes, log)
		if xc != s.XCache {
			t.Errorf("%s: X-Cache %q, want %q", s.Name, xc, s.XCache)
		}
		if w := want(s); got != w {
			t.Errorf("%s: %d reads, %d writes; want %d and %d", s.Name, got.Reads, got.Writes, w.Reads, w.Writes)
		}
		if got.Reads > MaxReads {
			t.Errorf("%s: %d reads, more than %d", s.Name, got.Reads, MaxReads)
		}
	}
}

// newRequest is a GET of target with Accept-Language lang (none if empty).
func newRequest(target, lang string) (*http.Request, error) {
	req, err := http.NewRequest(http.MethodGet, "http://example.com"+target, nil)
	if err != nil {
		return nil, err
	}
	if lang != "" {
		req.Header.Set("Accept-Language", lang)
	}
	return req, nil
}
