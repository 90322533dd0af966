package fibercache

import (
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/gofiber/fiber/v2"
)

// equivEnv is one app for TestHitPathMatchesLoad: its handlers echo every
// input a page may depend on, so a page served to the wrong request shows
// in its body.
type equivEnv struct {
	app     *fiber.App
	cache   *cachekit.Cache
	renders atomic.Int64
}

func newEquivEnv(t *testing.T, hotBytes int64, cfg Config) *equivEnv {
	t.Helper()
	mem, err := cachekit.NewMemory(cachekit.MemoryConfig{MaxBytes: 16 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mem.Close() })
	e := &equivEnv{cache: cachekit.New(cachekit.Config{Storage: mem, HotBytes: hotBytes})}
	check(t, e.cache.Err())
	cfg.Cache = e.cache
	e.app = newApp()
	e.app.Use(func(c *fiber.Ctx) error {
		// A middleware in front that sets headers of its own.
		c.Set("X-Front", "1")
		c.Set("Etag", `"front"`)
		return c.Next()
	})
	e.app.Use(New(cfg))
	echo := func(c *fiber.Ctx) string {
		n := e.renders.Add(1)
		return "n=" + strconv.FormatInt(n, 10) + " host=" + c.Hostname() + " base=" + c.BaseURL() +
			" al=" + c.Get("Accept-Language") + " sid=" + c.Cookies("sid") + " auth=" + c.Get("Authorization") +
			" uri=" + c.OriginalURL() + " method=" + c.Method()
	}
	e.app.Get("/p", func(c *fiber.Ctx) error { return c.SendString(echo(c)) })
	e.app.Get("/v", func(c *fiber.Ctx) error {
		c.Vary("Accept-Language")
		return c.SendString(echo(c))
	})
	e.app.Get("/e", func(c *fiber.Ctx) error {
		c.Set("ETag", `"e1"`)
		c.Set("Last-Modified", "Mon, 02 Jan 2006 15:04:05 GMT")
		return c.SendString(echo(c))
	})
	e.app.Get("/h", func(c *fiber.Ctx) error {
		// Many headers: more than a prepared page plans, repeated ones,
		// special ones.
		for i := range 20 {
			c.Set("X-H"+strconv.Itoa(i), strconv.Itoa(i))
		}
		c.Append("X-Dup", "a")
		c.Response().Header.Add("X-Dup", "b")
		c.Set("Content-Language", "fr")
		c.Set("Server", "equiv")
		c.Set("Date", "Mon, 02 Jan 2006 15:04:05 GMT")
		return c.SendString(echo(c))
	})
	e.app.Get("/vc", func(c *fiber.Ctx) error {
		c.Vary("Cookie", "X-Forwarded-Host")
		return c.SendString(echo(c))
	})
	e.app.Get("/ve", func(c *fiber.Ctx) error {
		c.Vary("Accept-Encoding", "User-Agent")
		c.Set("Content-Encoding", "identity")
		return c.SendString(echo(c) + " ua=" + c.Get("User-Agent") + " ae=" + c.Get("Accept-Encoding"))
	})
	pcfg := cfg
	pcfg.KeyPrefix = "inner"
	e.app.Get("/nested", Page(time.Minute, pcfg), func(c *fiber.Ctx) error {
		return c.SendString(echo(c))
	})
	e.app.Get("/pub", func(c *fiber.Ctx) error {
		c.Set("Cache-Control", "public, max-age=60")
		return c.SendString(echo(c))
	})
	return e
}

var ttlRE = regexp.MustCompile(`ttl=\d+`)

// norm is what a response must agree on, hot layer or not: its status,
// headers but Date and Age (the clock), and body.
func norm(r result) string {
	var b strings.Builder
	b.WriteString(strconv.Itoa(r.status))
	names := make([]string, 0, len(r.header))
	for k := range r.header {
		// Last-Modified is the clock's too, unless the handler set it
		// (/e): two renders a moment apart may cross a second.
		if k == "Last-Modified" && r.header.Get(k) != "Mon, 02 Jan 2006 15:04:05 GMT" {
			continue
		}
		if k != "Date" && k != "Age" && k != "Expires" {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	for _, k := range names {
		v := strings.Join(r.header[k], ",")
		if k == "Cache-Status" || k == "Cache-Control" {
			v = ttlRE.ReplaceAllString(v, "ttl=N")
			v = regexp.MustCompile(`max-age=\d+`).ReplaceAllString(v, "max-age=N")
		}
		b.WriteString("\n" + k + ": " + v)
	}
	b.WriteString("\n\n" + r.body)
	return b.String()
}

// TestHitPathMatchesLoad: the same requests, in the same order, to an app
// whose Cache has a hot layer (hits answered by the hit path, hit.go) and
// to one without (every hit through load): every response is the same
// (status, headers, body), for other users, hosts, forwarded headers,
// Vary'd headers, credentials, HEAD and conditional requests.
func TestHitPathMatchesLoad(t *testing.T) {
	for _, cfg := range []struct {
		name string
		cfg  Config
	}{
		{"default", Config{TTL: time.Hour}},
		{"per-user", Config{TTL: time.Hour, UserCookie: "sid", CacheControl: true}},
		{"per-user header", Config{TTL: time.Hour, UserHeader: "X-User", KeyPrefix: "kp"}},
		{"strict", Config{TTL: time.Hour, Strict: true, HonorRequestNoCache: true}},
	} {
		t.Run(cfg.name, func(t *testing.T) {
			hot := newEquivEnv(t, 0, cfg.cfg)
			cold := newEquivEnv(t, -1, cfg.cfg)
			type rq struct {
				method, target string
				hdr            []string
			}
			var reqs []rq
			for _, path := range []string{"/p", "/v", "/e", "/h", "/pub", "/p?a=1", "/P", "/p/", "/nested", "/vc", "/ve"} {
				for _, hdr := range [][]string{
					nil,
					nil,
					{"Host", "other.example"},
					{"Host", "OTHER.example"},
					{"X-Forwarded-Host", "evil.example"},
					{"X-Forwarded-Proto", "https"},
					{"Forwarded", "host=evil.example"},
					{"Accept-Language", "fr"},
					{"Accept-Language", "de"},
					{"Accept-Language", ""},
					{"Cookie", "sid=alice"},
					{"Cookie", "sid=bob"},
					{"Cookie", "sid=alice; other=x"},
					{"Cookie", "_ga=1"},
					{"Authorization", "Bearer alice"},
					{"X-Api-Key", "k"},
					{"X-User", "alice"},
					{"X-User", "bob"},
					{"If-None-Match", `"e1"`},
					{"If-None-Match", `"front"`},
					{"If-Modified-Since", "Mon, 02 Jan 2006 15:04:05 GMT"},
					{"Accept-Encoding", "gzip"},
					{"Accept-Encoding", "br, gzip"},
					{"User-Agent", "a b"},
					{"User-Agent", "a\x01b"},
					{"Accept-Language", "fr", "Accept-Language", "de"},
					{"Cookie", "sid=alice", "X-Forwarded-Host", "x"},
					{"X-Http-Method-Override", "DELETE"},
					{"Cache-Control", "no-cache"},
					nil,
				} {
					reqs = append(reqs, rq{http.MethodGet, path, hdr})
					reqs = append(reqs, rq{http.MethodHead, path, hdr})
				}
			}
			// Twice: the second round hits what the first stored.
			for round := range 2 {
				for i, q := range reqs {
					a := do(t, hot.app, q.method, q.target, q.hdr...)
					b := do(t, cold.app, q.method, q.target, q.hdr...)
					if na, nb := norm(a), norm(b); na != nb {
						t.Fatalf("round %d, request %d: %s %s %q:\nhot layer:\n%s\n\nwithout:\n%s", round, i, q.method, q.target, q.hdr, na, nb)
					}
				}
			}
			if hot.cache.Stats().Hits == 0 {
				t.Fatal("no hits")
			}
		})
	}
}

// TestHitPathVersions: two apps over one Memory, one through the Cache and
// one through its view at another version (WithVersion): each serves its
// own pages from the hot layer (never the other's decoded page), and an
// invalidation through one (InvalidateTags, InvalidatePath, Clear) reaches
// its own pages only.
func TestHitPathVersions(t *testing.T) {
	mem, err := cachekit.NewMemory(cachekit.MemoryConfig{MaxBytes: 16 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mem.Close() })
	base := cachekit.New(cachekit.Config{Storage: mem})
	check(t, base.Err())
	view := base.WithVersion(2)
	check(t, view.Err())
	var renders atomic.Int64
	mk := func(c *cachekit.Cache, name string) *fiber.App {
		app := newApp()
		app.Use(New(Config{Cache: c, TTL: time.Hour}))
		app.Get("/p", func(fc *fiber.Ctx) error {
			Tag(fc, "t")
			return fc.SendString(name + strconv.FormatInt(renders.Add(1), 10))
		})
		return app
	}
	apps := map[string]*fiber.App{"base": mk(base, "base"), "view": mk(view, "view")}
	caches := map[string]*cachekit.Cache{"base": base, "view": view}
	want := map[string]string{}
	// settle: the first render after the invalidation may not keep its
	// page, and the next one must (a Clear leaves the path's fence, which
	// a record it cannot read no longer holds: one render more, records.go).
	serve := func(name string, fresh bool, settle ...bool) {
		t.Helper()
		for i := range 3 {
			r := get(t, apps[name], "/p")
			if !strings.HasPrefix(r.body, name) {
				t.Fatalf("%s served %q", name, r.body)
			}
			if i == 1 && len(settle) > 0 && r.xcache() != "HIT" {
				want[name] = r.body
				continue
			}
			if i == 0 && fresh {
				if r.xcache() == "HIT" || r.body == want[name] {
					t.Fatalf("%s: %s %q after its invalidation, had %q", name, r.xcache(), r.body, want[name])
				}
				want[name] = r.body
				continue
			}
			if r.xcache() != "HIT" || r.body != want[name] {
				t.Fatalf("%s request %d: %s %q, want a hit of %q", name, i, r.xcache(), r.body, want[name])
			}
		}
	}
	serve("base", true)
	serve("view", true)
	for _, inv := range []struct {
		name string
		do   func(c *cachekit.Cache) error
	}{
		{"InvalidateTags", func(c *cachekit.Cache) error { return c.InvalidateTags("t") }},
		{"InvalidatePath", func(c *cachekit.Cache) error { return InvalidatePath(c, "/p") }},
		{"Clear", func(c *cachekit.Cache) error { return c.Clear() }},
	} {
		for _, who := range []string{"view", "base"} {
			other := map[string]string{"view": "base", "base": "view"}[who]
			check(t, inv.do(caches[who]))
			if inv.name == "Clear" {
				serve(who, true, true)
			} else {
				serve(who, true)
			}
			if inv.name != "InvalidatePath" {
				serve(other, false)
			} else {
				// Whether a path's record is per version or not, the
				// other app serves its own page, fresh or renewed.
				r := get(t, apps[other], "/p")
				if r.xcache() == "HIT" && r.body != want[other] {
					t.Fatalf("%s after %s on %s: %q", other, inv.name, who, r.body)
				}
				if r.xcache() != "HIT" {
					want[other] = r.body
				}
				serve(other, false)
			}
		}
	}
}
