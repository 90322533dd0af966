package fibercache

import (
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/proxy"
)

// Attacks on what issue #12 added (Strict, CDN-Cache-Control, the view
// helpers, Age and Date arithmetic). Each failed before its fix.

// personal renders a page that names the request's credentials, counted.
func personal(n *atomic.Int64, set func(c *fiber.Ctx)) fiber.Handler {
	return func(c *fiber.Ctx) error {
		set(c)
		return c.SendString("page of " + c.Get(fiber.HeaderAuthorization) + " #" + strconv.FormatInt(n.Add(1), 10))
	}
}

// A CDN-Cache-Control: public never makes a credentialed response storable
// under Strict: only Cache-Control's own public does (DESIGN rule 2).
func TestStrictCDNPublicDoesNotShareCredentialed(t *testing.T) {
	app := newApp()
	app.Use(New(Config{Cache: newCache(t), Strict: true}))
	var n atomic.Int64
	app.Get("/", personal(&n, func(c *fiber.Ctx) {
		c.Set(fiber.HeaderCacheControl, "max-age=60")
		c.Set("CDN-Cache-Control", "public, max-age=60")
	}))
	r := get(t, app, "/", fiber.HeaderAuthorization, "Bearer alice")
	expect(t, "alice's X-Cache", r.xcache(), "BYPASS")
	r = get(t, app, "/", fiber.HeaderAuthorization, "Bearer bob")
	expect(t, "bob's body", r.body, "page of Bearer bob #2")
	r = get(t, app, "/")
	expect(t, "anonymous body", r.body, "page of  #3")
}

// A handler that merges into a Cache-Control set in front (fibercache's
// own CacheControl helper, as Django's patch_cache_control) does not make
// the front's public its own: a credentialed page stays unshared.
func TestFrontPublicMergedByHandlerDoesNotCount(t *testing.T) {
	for _, strict := range []bool{false, true} {
		t.Run("strict="+strconv.FormatBool(strict), func(t *testing.T) {
			app := newApp()
			app.Use(func(c *fiber.Ctx) error {
				c.Set(fiber.HeaderCacheControl, "public, max-age=600") // a site-wide policy in front
				return c.Next()
			})
			app.Use(New(Config{Cache: newCache(t), Strict: strict}))
			var n atomic.Int64
			app.Get("/account", personal(&n, func(c *fiber.Ctx) { CacheControl(c, "must-revalidate") }))
			r := get(t, app, "/account", fiber.HeaderAuthorization, "Bearer alice")
			expect(t, "Cache-Control sent", r.header.Get(fiber.HeaderCacheControl), "public, max-age=600, must-revalidate")
			expect(t, "alice's X-Cache", r.xcache(), "BYPASS")
			r = get(t, app, "/account", fiber.HeaderAuthorization, "Bearer bob")
			expect(t, "bob's body", r.body, "page of Bearer bob #2")
			if strict {
				// The front's max-age is no freshness of the handler's.
				r = get(t, app, "/account")
				expect(t, "anonymous, Strict: not stored", r.cacheStatus(), "cachekit; fwd=uri-miss; detail=no-freshness")
			}
		})
	}
	// What the handler changes is its own: a smaller max-age counts.
	app := newApp()
	app.Use(func(c *fiber.Ctx) error { c.Set(fiber.HeaderCacheControl, "max-age=600"); return c.Next() })
	app.Use(New(Config{Cache: newCache(t), Strict: true}))
	var n atomic.Int64
	app.Get("/", personal(&n, func(c *fiber.Ctx) { CacheControl(c, "max-age=30") }))
	expect(t, "the handler's max-age", get(t, app, "/").cacheStatus(), "cachekit; fwd=uri-miss; stored")
	expect(t, "hit", get(t, app, "/").cacheStatus(), "cachekit; hit; ttl=30")
}

// A far Expires saturates (as delta-seconds do) instead of overflowing
// into "already stale".
func TestFarExpiresIsStored(t *testing.T) {
	app := newApp()
	app.Use(New(Config{Cache: newCache(t), Strict: true}))
	app.Get("/", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderExpires, c.Query("e"))
		return c.SendString("x")
	})
	for _, e := range []string{"Sat, 01 Jan 2400 00:00:00 GMT", "Fri, 31 Dec 9999 23:59:59 GMT"} {
		q := "/?e=" + url.QueryEscape(e)
		expect(t, e+" first", get(t, app, q).cacheStatus(), "cachekit; fwd=uri-miss; stored")
		expect(t, e+" second", get(t, app, q).xcache(), "HIT")
	}
}

// dateOrigin is an origin (net/http) that sends the Date given in ?d, and
// max-age=60.
func dateOrigin(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Date"] = []string{r.URL.Query().Get("d")}
		w.Header().Set("Cache-Control", "max-age=60")
		_, _ = w.Write([]byte("origin"))
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

// An ancient Date from upstream (a reverse proxy's origin) makes the
// response stale, never fresh for longer than its max-age: the age
// saturates instead of wrapping a Duration (before: a max-age=60 response
// dated 274 AD was fresh for 272 days, with a garbage Age).
func TestAncientDateIsStale(t *testing.T) {
	base := dateOrigin(t)
	app := newApp()
	app.Use(New(Config{Cache: newCache(t)}))
	app.Use(func(c *fiber.Ctx) error { return proxy.Do(c, base+c.OriginalURL()) })
	for _, d := range []string{"Thu, 01 Jan 0274 00:00:00 GMT", "Mon, 01 Jan 0001 00:00:00 GMT"} {
		q := "/x?d=" + url.QueryEscape(d)
		r := get(t, app, q)
		expect(t, d+": body", r.body, "origin")
		expect(t, d+": not stored", r.cacheStatus(), "cachekit; fwd=uri-miss; detail=stale")
		expect(t, d+": second", get(t, app, q).xcache(), "MISS")
	}
}

// A successful POST whose Location names a percent-encoded path drops that
// path's pages: the path is compared in the form c.Path() has it (before,
// the decoded Location path never matched, and the page stayed).
func TestUnsafeLocationEncodedPath(t *testing.T) {
	for _, unescape := range []bool{false, true} {
		for _, loc := range []string{"/caf%C3%A9", "/Caf%c3%a9", "http://example.com/caf%C3%A9", "/x/../caf%C3%A9"} {
			t.Run(strconv.FormatBool(unescape)+" "+loc, func(t *testing.T) {
				app := fiber.New(fiber.Config{DisableStartupMessage: true, UnescapePath: unescape})
				app.Use(New(Config{Cache: newCache(t), TTL: time.Hour}))
				h, runs := counting("p")
				app.Get("/*", h)
				app.Post("/*", func(c *fiber.Ctx) error {
					c.Set(fiber.HeaderLocation, loc)
					return c.SendStatus(fiber.StatusSeeOther)
				})
				get(t, app, "/caf%C3%A9", "Host", "example.com")
				expect(t, "hit", get(t, app, "/caf%C3%A9", "Host", "example.com").xcache(), "HIT")
				do(t, app, fiber.MethodPost, "/comment", "Host", "example.com")
				expect(t, "after the POST", get(t, app, "/caf%C3%A9", "Host", "example.com").xcache(), "MISS")
				expect(t, "renders", runs.Load(), int64(2))
			})
		}
	}
}

// A 304 from the handler during revalidation that makes the page personal
// or unstorable (Set-Cookie, private, no-store, a new Vary, a CDN public)
// never leaves an updated page for others: the entry is dropped (or, for
// a CDN public, kept but never shared with credentials).
func TestRevalidation304CannotMakePagePersonal(t *testing.T) {
	for _, add := range []string{"Set-Cookie", "private", "no-store", "vary", "cdn-public"} {
		t.Run(add, func(t *testing.T) {
			inBubble(t, func(t *testing.T) {
				app := newApp()
				app.Use(New(Config{Cache: newCache(t), Strict: true}))
				var renders atomic.Int64
				app.Get("/", func(c *fiber.Ctx) error {
					c.Set(fiber.HeaderCacheControl, "max-age=10")
					c.Set(fiber.HeaderETag, `"v"`)
					if c.Fresh() {
						switch add {
						case "Set-Cookie":
							c.Cookie(&fiber.Cookie{Name: "sid", Value: "alice"})
						case "private":
							c.Set(fiber.HeaderCacheControl, "private, max-age=10")
						case "no-store":
							c.Set(fiber.HeaderCacheControl, "no-store")
						case "vary":
							c.Set(fiber.HeaderVary, "X-User")
						case "cdn-public":
							c.Set("CDN-Cache-Control", "public, max-age=100")
						}
						return c.SendStatus(fiber.StatusNotModified)
					}
					return c.SendString("body " + strconv.FormatInt(renders.Add(1), 10))
				})
				get(t, app, "/")
				time.Sleep(11 * time.Second)
				get(t, app, "/") // revalidates: the handler answers 304
				r := get(t, app, "/")
				if add == "cdn-public" {
					expect(t, "kept for anonymous requests", r.xcache(), "HIT")
				} else {
					expect(t, "after the 304: rendered again", r.body, "body 2")
					expect(t, "no Set-Cookie replayed", r.header.Get(fiber.HeaderSetCookie), "")
				}
				r = get(t, app, "/", fiber.HeaderAuthorization, "Bearer bob")
				expect(t, "credentialed: never the shared page", r.xcache(), "BYPASS")
			})
		})
	}
}

// The view helpers called by middleware in front of the cache (not by the
// handler) are front headers: CacheControl's public and max-age never
// allow storing nor set a lifetime, NeverCache still forbids, PatchVary
// still varies the key.
func TestViewHelpersInFront(t *testing.T) {
	cases := []struct {
		name   string
		front  func(c *fiber.Ctx)
		cred   bool
		status string // Cache-Status of the first response
	}{
		{"CacheControl public, credentialed", func(c *fiber.Ctx) { CacheControl(c, "public", "max-age=600") }, true, "cachekit; fwd=bypass; detail=credentials"},
		{"CacheControl max-age, Strict needs the handler's", func(c *fiber.Ctx) { CacheControl(c, "public", "max-age=600") }, false, "cachekit; fwd=uri-miss; detail=no-freshness"},
		{"NeverCache forbids", NeverCache, false, "cachekit; fwd=uri-miss; detail=no-store"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			app := newApp()
			app.Use(func(c *fiber.Ctx) error { tc.front(c); return c.Next() })
			app.Use(New(Config{Cache: newCache(t), Strict: true}))
			var n atomic.Int64
			app.Get("/", personal(&n, func(*fiber.Ctx) {}))
			var hdr []string
			if tc.cred {
				hdr = []string{fiber.HeaderAuthorization, "Bearer alice"}
			}
			expect(t, "Cache-Status", get(t, app, "/", hdr...).cacheStatus(), tc.status)
			expect(t, "second", get(t, app, "/").body, "page of  #2")
		})
	}
	// PatchVary in front: the key varies on the header.
	app := newApp()
	app.Use(func(c *fiber.Ctx) error { PatchVary(c, "X-Lang"); return c.Next() })
	app.Use(New(Config{Cache: newCache(t), Strict: true}))
	app.Get("/", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderCacheControl, "max-age=60")
		return c.SendString("lang " + c.Get("X-Lang"))
	})
	get(t, app, "/", "X-Lang", "en")
	expect(t, "en hit", get(t, app, "/", "X-Lang", "en").body, "lang en")
	expect(t, "fr is another variant", get(t, app, "/", "X-Lang", "fr").body, "lang fr")
}
