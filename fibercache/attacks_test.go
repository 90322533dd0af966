package fibercache

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/compress"
)

// The attacks of issue 11 §2, each a rule tried as an attacker would: one
// request primes or poisons, another (another user, host, header) must
// get its own render.

// echo renders "<n> <what the app reads>", n counting renders.
func echo(read func(c *fiber.Ctx) string) (fiber.Handler, *atomic.Int64) {
	var n atomic.Int64
	return func(c *fiber.Ctx) error {
		return c.SendString(fmt.Sprintf("%d %s", n.Add(1), read(c)))
	}, &n
}

// rawDo writes raw request bytes to a listening server (base from listen)
// and reads one response.
func rawDo(t *testing.T, base, raw string) result {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	var req *http.Request
	if strings.HasPrefix(raw, "HEAD ") {
		req = &http.Request{Method: http.MethodHead}
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return result{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

func TestCredentialHeaders(t *testing.T) {
	cases := []struct {
		name   string
		cfg    Config
		header string
		shared bool // the header is not a credential under cfg: pages are shared
	}{
		{name: "X-Api-Key", header: "X-Api-Key"},
		{name: "lower-case x-auth-token", header: "x-auth-token"},
		{name: "X-Access-Token", header: "X-Access-Token"},
		{name: "Api-Key", header: "Api-Key"},
		{name: "X-Csrf-Token", header: "X-CSRF-Token"},
		{name: "X-Amz-Security-Token", header: "X-Amz-Security-Token"},
		{name: "Authorization", header: "Authorization"},
		{name: "Proxy-Authorization", header: "Proxy-Authorization"},
		{name: "Proxy-Authorization with no other credential headers", cfg: Config{CredentialHeaders: []string{}}, header: "Proxy-Authorization"},
		{name: "a configured header", cfg: Config{CredentialHeaders: []string{"X-Tenant-Secret"}}, header: "X-Tenant-Secret"},
		{name: "the default list replaced", cfg: Config{CredentialHeaders: []string{"X-Tenant-Secret"}}, header: "X-Api-Key", shared: true},
		{name: "none configured", cfg: Config{CredentialHeaders: []string{}}, header: "X-Api-Key", shared: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Cache = newCache(t)
			app := newApp()
			app.Use(New(cfg))
			// A JWT middleware in front would read the header as this
			// handler does: the page is that user's.
			h, runs := echo(func(c *fiber.Ctx) string { return "user=" + c.Get(tc.header) })
			app.Get("/me", h)
			app.Get("/anon-first", h)

			// The user's page is not stored: another user and an
			// anonymous client get their own.
			a1 := get(t, app, "/me", tc.header, "alice")
			a2 := get(t, app, "/me", tc.header, "alice")
			b := get(t, app, "/me", tc.header, "bob")
			anon := get(t, app, "/me")
			if tc.shared {
				expect(t, "second request X-Cache", a2.xcache(), "HIT")
				return
			}
			expect(t, "credentialed X-Cache", a1.xcache(), "BYPASS")
			expect(t, "credentialed again X-Cache", a2.xcache(), "BYPASS")
			expect(t, "other user", b.body, "3 user=bob")
			expect(t, "anonymous", anon.body, "4 user=")
			// An anonymous page is stored, and never served to a
			// request with credentials.
			get(t, app, "/anon-first")
			r := get(t, app, "/anon-first", tc.header, "carol")
			expect(t, "credentialed after anonymous X-Cache", r.xcache(), "BYPASS")
			expect(t, "credentialed after anonymous", r.body, "6 user=carol")
			expect(t, "renders", runs.Load(), int64(6))
		})
	}
}

func TestCredentialHeadersConfig(t *testing.T) {
	for _, bad := range [][]string{{""}, {"X Api"}, {"X-Api-Key:"}, {strings.Repeat("x", 64)}} {
		func() {
			defer func() {
				r := recover()
				if s, _ := r.(string); !strings.HasPrefix(s, "fibercache: Config.CredentialHeaders") {
					t.Errorf("CredentialHeaders %q: panic %v", bad, r)
				}
			}()
			New(Config{Cache: newCache(t), CredentialHeaders: bad})
		}()
	}
	// The user header identifies the user even when it is a credential
	// header: per-user pages.
	app := newApp()
	app.Use(New(Config{Cache: newCache(t), UserHeader: "X-Api-Key"}))
	h, _ := echo(func(c *fiber.Ctx) string { return c.Get("X-Api-Key") })
	app.Get("/", h)
	get(t, app, "/", "X-Api-Key", "k1")
	expect(t, "per-user hit", get(t, app, "/", "X-Api-Key", "k1").body, "1 k1")
	expect(t, "another user", get(t, app, "/", "X-Api-Key", "k2").body, "2 k2")
}

// TestFrontHeadersNeverDecide: only the handler's response (the chain
// after fibercache) makes a response storable or sets its freshness.
func TestFrontHeadersNeverDecide(t *testing.T) {
	cases := []struct {
		name    string
		front   []string // set before c.Next by a middleware in front
		handler []string // set by the handler
		cookie  bool     // the request carries a session cookie
		stored  bool
		ttlWant string // Cache-Status of the hit, when stored
		reason  string // Cache-Status detail of the miss, when not stored
	}{
		{name: "front public, logged-in user (web cache deception)", front: []string{"Cache-Control", "public, max-age=3600"}, cookie: true, reason: "credentials"},
		{name: "front public via Surrogate-Control, logged-in", front: []string{"Surrogate-Control", "max-age=3600", "Cache-Control", "public"}, cookie: true, reason: "credentials"},
		{name: "front max-age does not set freshness", front: []string{"Cache-Control", "public, max-age=3600"}, stored: true, ttlWant: "cachekit; hit; ttl=60"},
		{name: "front s-maxage does not set freshness", front: []string{"Cache-Control", "s-maxage=3600"}, stored: true, ttlWant: "cachekit; hit; ttl=60"},
		{name: "front Expires does not set freshness", front: []string{"Expires", "Thu, 01 Jan 2099 00:00:00 GMT"}, stored: true, ttlWant: "cachekit; hit; ttl=60"},
		{name: "front expired Expires does not forbid", front: []string{"Expires", "Thu, 01 Jan 1970 00:00:00 GMT"}, stored: true, ttlWant: "cachekit; hit; ttl=60"},
		{name: "handler public, logged-in user", handler: []string{"Cache-Control", "public, max-age=30"}, cookie: true, stored: true, ttlWant: "cachekit; hit; ttl=30"},
		{name: "front no-store still forbids", front: []string{"Cache-Control", "no-store"}, reason: "no-store"},
		{name: "front private still forbids", front: []string{"Cache-Control", "private"}, reason: "private"},
		{name: "front Set-Cookie still forbids", front: []string{"Set-Cookie", "sid=1"}, reason: "set-cookie"},
		{name: "handler overrides a front public", front: []string{"Cache-Control", "public"}, handler: []string{"Cache-Control", "private"}, cookie: true, reason: "credentials"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			app := newApp()
			app.Use(func(c *fiber.Ctx) error {
				for i := 0; i+1 < len(tc.front); i += 2 {
					c.Response().Header.Add(tc.front[i], tc.front[i+1])
				}
				return c.Next()
			})
			app.Use(New(Config{Cache: newCache(t)}))
			var n atomic.Int64
			app.Get("/account/x.css", func(c *fiber.Ctx) error {
				for i := 0; i+1 < len(tc.handler); i += 2 {
					c.Set(tc.handler[i], tc.handler[i+1])
				}
				return c.SendString(fmt.Sprintf("%d user=%s", n.Add(1), c.Cookies("session")))
			})
			var hdr []string
			if tc.cookie {
				hdr = []string{"Cookie", "session=alice"}
			}
			first := get(t, app, "/account/x.css", hdr...)
			second := get(t, app, "/account/x.css", hdr...)
			anon := get(t, app, "/account/x.css")
			if !tc.stored {
				expect(t, "first Cache-Status detail", strings.Contains(first.cacheStatus(), "detail="+tc.reason), true)
				if second.xcache() == "HIT" || strings.Contains(anon.body, "alice") {
					t.Errorf("stored: second %s, anonymous got %q", second.xcache(), anon.body)
				}
				return
			}
			expect(t, "second X-Cache", second.xcache(), "HIT")
			expect(t, "hit Cache-Status", second.cacheStatus(), tc.ttlWant)
		})
	}
}

// TestEffectiveMethod: the cache keys and decides on the method the app
// routes on, whoever changed it.
func TestEffectiveMethod(t *testing.T) {
	override := func(c *fiber.Ctx) error {
		if m := c.Get("X-Override"); m != "" {
			c.Method(m)
		}
		if m := c.Query("_method"); m != "" {
			c.Method(m)
		}
		return c.Next()
	}
	cases := []struct {
		name   string
		front  bool // the override middleware is in front of fibercache (else after)
		hdr    []string
		target string
		detail string // the attacker's Cache-Status detail, "" for any
	}{
		{name: "override in front, by header", front: true, hdr: []string{"X-Override", "POST"}, target: "/x"},
		{name: "override in front, by query", front: true, target: "/x?_method=DELETE"},
		{name: "override after the cache", hdr: []string{"X-Override", "POST"}, target: "/x", detail: "method"},
		{name: "X-HTTP-Method-Override on a GET", hdr: []string{"X-HTTP-Method-Override", "POST"}, target: "/x", detail: "method-override"},
		{name: "X-Method-Override on a GET", hdr: []string{"X-Method-Override", "PUT"}, target: "/x", detail: "method-override"},
		{name: "X-HTTP-Method on a GET", hdr: []string{"x-http-method", "DELETE"}, target: "/x", detail: "method-override"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			app := newApp()
			if tc.front {
				app.Use(override)
			}
			app.Use(New(Config{Cache: newCache(t)}))
			if !tc.front {
				app.Use(override)
			}
			var n atomic.Int64
			page := func(what string) fiber.Handler {
				return func(c *fiber.Ctx) error {
					return c.SendString(fmt.Sprintf("%d %s", n.Add(1), what))
				}
			}
			app.Get("/x", page("get page"))
			app.Post("/x", page("post answer"))
			app.Put("/x", page("put answer"))
			app.Delete("/x", page("delete answer"))
			for i := 0; i < 2; i++ {
				r := get(t, app, tc.target, tc.hdr...)
				if r.xcache() == "HIT" || strings.Contains(r.body, "get page") && tc.detail != "method-override" {
					t.Errorf("attacker %d: %s %q", i, r.xcache(), r.body)
				}
				if tc.detail != "" && !strings.Contains(r.cacheStatus(), "detail="+tc.detail) {
					t.Errorf("attacker Cache-Status %q, want detail=%s", r.cacheStatus(), tc.detail)
				}
			}
			victim := get(t, app, "/x")
			if !strings.HasSuffix(victim.body, "get page") {
				t.Errorf("victim got %q", victim.body)
			}
			expect(t, "victim again", get(t, app, "/x").xcache(), "HIT")
		})
	}
}

// TestFatGET: a GET or HEAD with a body bypasses: the app may read the
// body (c.FormValue), the key cannot hold it.
func TestFatGET(t *testing.T) {
	app := newApp()
	app.Use(New(Config{Cache: newCache(t)}))
	h, _ := echo(func(c *fiber.Ctx) string { return "q=" + c.FormValue("q") })
	app.Get("/search", h)
	base := listen(t, app)
	cases := []struct{ name, raw string }{
		{"Content-Length", "GET /search?x=1 HTTP/1.1\r\nHost: a\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 19\r\n\r\nq=<script>x</script"},
		{"chunked", "GET /search?x=1 HTTP/1.1\r\nHost: a\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n13\r\nq=<script>x</script\r\n0\r\n\r\n"},
		{"HEAD with a body", "HEAD /search?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 19\r\n\r\nq=<script>x</script"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for i := 0; i < 2; i++ {
				r := rawDo(t, base, tc.raw)
				expect(t, "X-Cache", r.xcache(), "BYPASS")
				expect(t, "Cache-Status", r.cacheStatus(), "cachekit; fwd=bypass; detail=body")
			}
			victim := rawDo(t, base, "GET /search?x=1 HTTP/1.1\r\nHost: a\r\n\r\n")
			if strings.Contains(victim.body, "script") {
				t.Errorf("victim got %q", victim.body)
			}
		})
	}
}

// TestDuplicateHeaderLines: two lines of a header the key holds bypass;
// the attacker's page (rendered from the first line, which fiber reads)
// never reaches the request that sends only the last.
func TestDuplicateHeaderLines(t *testing.T) {
	cases := []struct {
		name   string
		cfg    Config
		read   func(c *fiber.Ctx) string
		dup    []string // the attacker's headers
		victim []string
	}{
		{name: "X-Forwarded-Host", read: func(c *fiber.Ctx) string { return c.Hostname() },
			dup: []string{"X-Forwarded-Host", "evil.example", "X-Forwarded-Host", "good.example"}, victim: []string{"X-Forwarded-Host", "good.example"}},
		{name: "X-Forwarded-Proto", read: func(c *fiber.Ctx) string { return c.Protocol() },
			dup: []string{"X-Forwarded-Proto", "http", "X-Forwarded-Proto", "https"}, victim: []string{"X-Forwarded-Proto", "https"}},
		{name: "Forwarded", read: func(c *fiber.Ctx) string { return c.Get("Forwarded") },
			dup: []string{"Forwarded", "host=evil", "Forwarded", "host=good"}, victim: []string{"Forwarded", "host=good"}},
		{name: "X-Original-URL", read: func(c *fiber.Ctx) string { return c.Get("X-Original-URL") },
			dup: []string{"X-Original-URL", "/admin", "X-Original-URL", "/"}, victim: []string{"X-Original-URL", "/"}},
		{name: "a Vary'd header", read: func(c *fiber.Ctx) string { c.Vary("Accept-Language"); return c.Get("Accept-Language") },
			dup: []string{"Accept-Language", "evil", "Accept-Language", "en"}, victim: []string{"Accept-Language", "en"}},
		{name: "UserHeader", cfg: Config{UserHeader: "X-User"}, read: func(c *fiber.Ctx) string { return c.Get("X-User") },
			dup: []string{"X-User", "mallory", "X-User", "alice"}, victim: []string{"X-User", "alice"}},
		{name: "UserHeader, first line empty", cfg: Config{UserHeader: "X-User"}, read: func(c *fiber.Ctx) string { return "[" + c.Get("X-User") + "]" },
			dup: []string{"X-User", "", "X-User", "alice"}, victim: []string{"X-User", "alice"}},
		{name: "UserCookie twice", cfg: Config{UserCookie: "session"}, read: func(c *fiber.Ctx) string { return c.Cookies("session") },
			dup: []string{"Cookie", "session=mallory; session=alice"}, victim: []string{"Cookie", "session=alice"}},
		{name: "UserCookie on two Cookie lines", cfg: Config{UserCookie: "session"}, read: func(c *fiber.Ctx) string { return c.Cookies("session") },
			dup: []string{"Cookie", "session=mallory", "Cookie", "session=alice"}, victim: []string{"Cookie", "session=alice"}},
		{name: "Accept-Encoding, read by a compress middleware", read: func(c *fiber.Ctx) string { c.Vary("Accept-Encoding"); return c.Get("Accept-Encoding") },
			dup: []string{"Accept-Encoding", "evil", "Accept-Encoding", "gzip"}, victim: []string{"Accept-Encoding", "gzip"}},
		{name: "X-Forwarded-Prefix", read: func(c *fiber.Ctx) string { return c.Get("X-Forwarded-Prefix") },
			dup: []string{"X-Forwarded-Prefix", "/evil", "x-forwarded-prefix", "/app"}, victim: []string{"X-Forwarded-Prefix", "/app"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Cache = newCache(t)
			app := newApp()
			app.Use(New(cfg))
			h, _ := echo(tc.read)
			app.Get("/", h)
			get(t, app, "/", tc.victim...)     // a record with the Vary list
			_ = InvalidatePath(cfg.Cache, "/") // keeps the Vary list
			for i := 0; i < 2; i++ {
				r := get(t, app, "/", tc.dup...)
				expect(t, "attacker X-Cache", r.xcache(), "BYPASS")
				expect(t, "attacker Cache-Status", r.cacheStatus(), "cachekit; fwd=bypass; detail=duplicate-header")
			}
			v := get(t, app, "/", tc.victim...)
			if strings.Contains(v.body, "evil") || strings.Contains(v.body, "mallory") || strings.Contains(v.body, "admin") ||
				strings.HasSuffix(v.body, " http") || strings.Contains(v.body, "[]") {
				t.Errorf("victim got the attacker's page %q", v.body)
			}
		})
	}
}

// TestTrustedHeadersKeyed: a header the handler reflects, sent by an
// attacker, never reaches a request without it.
func TestTrustedHeadersKeyed(t *testing.T) {
	for _, name := range append(fwdHeaders[:], "x-forwarded-prefix", "X-REWRITE-URL") {
		t.Run(name, func(t *testing.T) {
			app := newApp()
			app.Use(New(Config{Cache: newCache(t)}))
			h, _ := echo(func(c *fiber.Ctx) string { return "base=" + c.Get(name) })
			app.Get("/", h)
			get(t, app, "/", name, "evil")
			expect(t, "attacker stored under its own key", get(t, app, "/", name, "evil").xcache(), "HIT")
			v := get(t, app, "/")
			expect(t, "victim without the header", v.body, "2 base=")
			e := get(t, app, "/", name, "")
			if e.body == "1 base=evil" {
				t.Errorf("empty header got the attacker's page")
			}
		})
	}
}

// TestHitBodyNotWritable: an outer middleware that edits a hit's body in
// place changes that response only.
func TestHitBodyNotWritable(t *testing.T) {
	for _, edit := range []struct {
		name string
		f    func(b []byte)
	}{
		{"first byte", func(b []byte) { b[0] = 'X' }},
		{"every byte", func(b []byte) {
			for i := range b {
				b[i] = '!'
			}
		}},
		{"upper case", func(b []byte) { copy(b, bytes.ToUpper(b)) }},
	} {
		t.Run(edit.name, func(t *testing.T) {
			app := newApp()
			app.Use(func(c *fiber.Ctx) error {
				err := c.Next()
				if c.Get("X-Edit") != "" {
					edit.f(c.Response().Body())
				}
				return err
			})
			app.Use(New(Config{Cache: newCache(t)}))
			app.Get("/", func(c *fiber.Ctx) error { return c.SendString("the page") })
			get(t, app, "/")
			for i := 0; i < 3; i++ {
				get(t, app, "/", "X-Edit", "1")
			}
			r := get(t, app, "/")
			expect(t, "X-Cache", r.xcache(), "HIT")
			expect(t, "body", r.body, "the page")
		})
	}
}

// TestRepresentations: an ETag names one representation; an empty Vary'd
// header and an absent one are two requests.
func TestRepresentations(t *testing.T) {
	big := strings.Repeat("compressible text ", 200)
	t.Run("compress outside", func(t *testing.T) {
		app := newApp()
		app.Use(compress.New())
		app.Use(New(Config{Cache: newCache(t)}))
		app.Get("/", func(c *fiber.Ctx) error { return c.SendString(big) })
		base := listen(t, app)
		client := newClient(t, 1)
		client.Transport.(*http.Transport).DisableCompression = true
		var etags = map[string]string{}
		for _, ae := range []string{"gzip", "identity", "gzip", "br"} {
			r := fetch(t, client, base+"/", "Accept-Encoding", ae)
			enc := r.header.Get("Content-Encoding")
			et := r.header.Get("ETag")
			if prev, ok := etags[et]; ok && prev != enc && !strings.HasPrefix(et, "W/") {
				t.Errorf("strong ETag %s names %q and %q", et, prev, enc)
			}
			etags[et] = enc
			if enc == "gzip" {
				zr, err := gzip.NewReader(strings.NewReader(r.body))
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(zr)
				expect(t, "gunzipped", string(b), big)
			}
		}
	})
	t.Run("compress inside", func(t *testing.T) {
		app := newApp()
		app.Use(New(Config{Cache: newCache(t)}))
		app.Use(compress.New())
		app.Get("/", func(c *fiber.Ctx) error { return c.SendString(big) })
		base := listen(t, app)
		client := newClient(t, 1)
		client.Transport.(*http.Transport).DisableCompression = true
		g := fetch(t, client, base+"/", "Accept-Encoding", "gzip")
		i := fetch(t, client, base+"/", "Accept-Encoding", "identity")
		expect(t, "gzip Content-Encoding", g.header.Get("Content-Encoding"), "gzip")
		expect(t, "identity Content-Encoding", i.header.Get("Content-Encoding"), "")
		if g.header.Get("ETag") == i.header.Get("ETag") {
			t.Errorf("one ETag %s for gzip and identity", g.header.Get("ETag"))
		}
	})
	for _, name := range []string{"X-Flag", "Accept-Language", "X-Requested-With"} {
		t.Run("empty and absent "+name, func(t *testing.T) {
			app := newApp()
			app.Use(New(Config{Cache: newCache(t)}))
			h, _ := echo(func(c *fiber.Ctx) string {
				c.Vary(name)
				present := false
				c.Request().Header.VisitAll(func(k, _ []byte) { present = present || strings.EqualFold(string(k), name) })
				return fmt.Sprintf("present=%v", present)
			})
			app.Get("/", h)
			base := listen(t, app)
			// Through raw bytes: clients drop empty header values.
			rawDo(t, base, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
			e1 := rawDo(t, base, "GET / HTTP/1.1\r\nHost: a\r\n"+name+":\r\n\r\n")
			e2 := rawDo(t, base, "GET / HTTP/1.1\r\nHost: a\r\n"+name+": \r\n\r\n")
			a := rawDo(t, base, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
			if strings.HasSuffix(e1.body, "present=false") {
				t.Skipf("the server drops empty %s lines", name)
			}
			expect(t, "empty", e1.body, "2 present=true")
			expect(t, "empty again", e2.body, "2 present=true")
			expect(t, "absent", a.body, "1 present=false")
		})
	}
}

// countingStorage is a fiber.Storage over a real Memory that counts the
// writes and remembers the keys written without an expiry.
type countingStorage struct {
	*cachekit.Memory
	mu       sync.Mutex
	writes   int
	noExpiry []string
	ttls     map[string]time.Duration
}

func (s *countingStorage) Set(key string, val []byte, exp time.Duration) error {
	s.mu.Lock()
	s.writes++
	if exp <= 0 {
		s.noExpiry = append(s.noExpiry, key)
	}
	s.ttls[key] = exp
	s.mu.Unlock()
	return s.Memory.Set(key, val, exp)
}

func newCountingCache(t *testing.T) (*cachekit.Cache, *countingStorage) {
	t.Helper()
	mem, err := cachekit.NewMemory(cachekit.MemoryConfig{MaxBytes: 16 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mem.Close() })
	st := &countingStorage{Memory: mem, ttls: map[string]time.Duration{}}
	c := cachekit.New(cachekit.Config{Storage: st})
	if err := c.Err(); err != nil {
		t.Fatal(err)
	}
	return c, st
}

// TestNothingWrittenForWhatIsNotStored: a response that is not stored
// writes nothing, whatever the number of paths; every key written for one
// that is has an expiry, and a record outlives the pages it keys.
func TestNothingWrittenForWhatIsNotStored(t *testing.T) {
	cases := []struct {
		name    string
		handler fiber.Handler
		hdr     []string
		method  string
	}{
		{name: "404", handler: func(c *fiber.Ctx) error { return c.Status(404).SendString("no such page") }},
		{name: "handler error", handler: func(c *fiber.Ctx) error { return fiber.ErrNotFound }},
		{name: "credentialed bypass", hdr: []string{"Cookie", "session=alice"}, handler: func(c *fiber.Ctx) error { return c.SendString("yours") }},
		{name: "X-Api-Key bypass", hdr: []string{"X-Api-Key", "k"}, handler: func(c *fiber.Ctx) error { return c.SendString("yours") }},
		{name: "Set-Cookie", handler: func(c *fiber.Ctx) error { c.Cookie(&fiber.Cookie{Name: "sid", Value: "1"}); return c.SendString("x") }},
		{name: "private", handler: func(c *fiber.Ctx) error { c.Set("Cache-Control", "private"); return c.SendString("x") }},
		{name: "no-store", handler: func(c *fiber.Ctx) error { c.Set("Cache-Control", "no-store"); return c.SendString("x") }},
		{name: "Vary: *", handler: func(c *fiber.Ctx) error { c.Set("Vary", "*"); return c.SendString("x") }},
		{name: "500", handler: func(c *fiber.Ctx) error { return c.Status(500).SendString("x") }},
		{name: "HEAD", method: http.MethodHead, handler: func(c *fiber.Ctx) error { return c.SendString("x") }},
		{name: "request no-store", hdr: []string{"Cache-Control", "no-store"}, handler: func(c *fiber.Ctx) error { return c.SendString("x") }},
		{name: "duplicate header", hdr: []string{"X-Forwarded-Host", "a", "X-Forwarded-Host", "b"}, handler: func(c *fiber.Ctx) error { return c.SendString("x") }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cache, st := newCountingCache(t)
			app := newApp()
			app.Use(New(Config{Cache: cache}))
			app.Get("/*", tc.handler)
			method := tc.method
			if method == "" {
				method = http.MethodGet
			}
			for i := 0; i < 300; i++ {
				do(t, app, method, fmt.Sprintf("/p%d?i=%d", i, i), tc.hdr...)
			}
			expect(t, "storage writes", st.writes, 0)
		})
	}
	t.Run("stored pages", func(t *testing.T) {
		cache, st := newCountingCache(t)
		app := newApp()
		app.Use(New(Config{Cache: cache, StaleWhileRevalidate: time.Hour}))
		app.Get("/short", func(c *fiber.Ctx) error { return c.SendString("x") })
		app.Get("/long", func(c *fiber.Ctx) error { c.Set("Cache-Control", "max-age=86400"); return c.SendString("x") })
		app.Get("/vary", func(c *fiber.Ctx) error { c.Vary("Accept-Language"); return c.SendString("x") })
		app.Get("/public", func(c *fiber.Ctx) error { c.Set("Cache-Control", "public"); return c.SendString("x") })
		get(t, app, "/short")
		get(t, app, "/short?b")
		get(t, app, "/long")
		get(t, app, "/vary", "Accept-Language", "en")
		get(t, app, "/vary", "Accept-Language", "fr")
		get(t, app, "/public", "Cookie", "session=1")
		expect(t, "public page for a credentialed request stored", get(t, app, "/public").xcache(), "HIT")
		if err := InvalidatePath(cache, "/short"); err != nil {
			t.Fatal(err)
		}
		if err := InvalidatePath(cache, "/never-seen"); err != nil {
			t.Fatal(err)
		}
		if len(st.noExpiry) > 0 {
			t.Errorf("keys written without an expiry: %q", st.noExpiry)
		}
		// Each record lives at least as long as its longest page.
		found := false
		for key, ttl := range st.ttls {
			if strings.Contains(key, "fcr:"+string(appendPathTag(nil, "/long"))+"/long") {
				found = true
				if ttl < 24*time.Hour+time.Hour {
					t.Errorf("record %s lives %v, less than its page", key, ttl)
				}
			}
		}
		if !found {
			t.Errorf("no record written for /long: %v", st.ttls)
		}
		if st.writes > 16 {
			t.Errorf("%d writes for 6 pages and 2 invalidations", st.writes)
		}
	})
}

// burst sends n concurrent GETs and returns how long the slowest took.
func burst(t *testing.T, client *http.Client, url string, n int) (time.Duration, []result) {
	t.Helper()
	var wg sync.WaitGroup
	res := make([]result, n)
	start := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i] = fetch(t, client, url)
		}()
	}
	wg.Wait()
	return time.Since(start), res
}

// TestHitForMiss: a page whose response cannot be stored is remembered as
// such, so a burst of requests renders in parallel instead of queueing
// behind one render that none of them can use.
func TestHitForMiss(t *testing.T) {
	const render = 100 * time.Millisecond
	cases := []struct {
		name string
		page func(c *fiber.Ctx) error
	}{
		{"Set-Cookie", func(c *fiber.Ctx) error { c.Cookie(&fiber.Cookie{Name: "sid", Value: "1"}); return c.SendString("x") }},
		{"private", func(c *fiber.Ctx) error { c.Set("Cache-Control", "private"); return c.SendString("x") }},
		{"404", func(c *fiber.Ctx) error { return c.Status(404).SendString("x") }},
		{"handler error 404", func(c *fiber.Ctx) error { return fiber.ErrNotFound }},
		{"max-age=0", func(c *fiber.Ctx) error { c.Set("Cache-Control", "max-age=0"); return c.SendString("x") }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			app := newApp()
			app.Use(New(Config{Cache: newCache(t), HitForMiss: time.Second}))
			// In the second burst every render waits, up to 3 s (less than the
			// 5 s LockTimeout after which queued requests render anyway), until all
			// 20 are inside the handler at once: requests queued behind one
			// render could never all be inside, whatever the machine's load.
			var runs, inside atomic.Int64
			var armed, apart atomic.Bool
			all := make(chan struct{})
			app.Get("/slow", func(c *fiber.Ctx) error {
				runs.Add(1)
				if !armed.Load() {
					time.Sleep(render)
					return tc.page(c)
				}
				if inside.Add(1) == 20 {
					close(all)
				}
				select {
				case <-all:
				case <-time.After(3 * time.Second):
					apart.Store(true)
				}
				return tc.page(c)
			})
			base := listen(t, app)
			client := newClient(t, 20)
			burst(t, client, base+"/slow", 20) // learns that /slow is not storable
			before := runs.Load()
			armed.Store(true)
			_, res := burst(t, client, base+"/slow", 20)
			expect(t, "renders in the second burst", runs.Load()-before, int64(20))
			if apart.Load() {
				t.Errorf("the second burst's renders never ran all at once: requests queued behind one render")
			}
			for _, r := range res {
				if !strings.Contains(r.cacheStatus(), "detail=uncacheable") {
					t.Errorf("Cache-Status %q, want detail=uncacheable", r.cacheStatus())
					break
				}
			}
		})
	}
	t.Run("ends after HitForMiss", func(t *testing.T) {
		app := newApp()
		app.Use(New(Config{Cache: newCache(t), HitForMiss: 100 * time.Millisecond}))
		var cookie atomic.Bool
		cookie.Store(true)
		app.Get("/", func(c *fiber.Ctx) error {
			if cookie.Load() {
				c.Cookie(&fiber.Cookie{Name: "sid", Value: "1"})
			}
			return c.SendString("x")
		})
		get(t, app, "/")
		expect(t, "within HitForMiss", get(t, app, "/").cacheStatus(), "cachekit; fwd=uri-miss; detail=uncacheable")
		cookie.Store(false)
		time.Sleep(150 * time.Millisecond)
		expect(t, "after HitForMiss", get(t, app, "/").cacheStatus(), "cachekit; fwd=uri-miss; stored")
		expect(t, "stored", get(t, app, "/").xcache(), "HIT")
	})
	t.Run("another key is not affected", func(t *testing.T) {
		app := newApp()
		app.Use(New(Config{Cache: newCache(t)}))
		app.Get("/", func(c *fiber.Ctx) error {
			if c.Query("u") != "" {
				c.Cookie(&fiber.Cookie{Name: "sid", Value: "1"})
			}
			return c.SendString("x")
		})
		get(t, app, "/?u=1")
		get(t, app, "/")
		expect(t, "the page without the query", get(t, app, "/").xcache(), "HIT")
	})
}

// TestLockTimeout: requests coalesced behind a render that does not return
// give up after Config.LockTimeout and render their own.
func TestLockTimeout(t *testing.T) {
	expect(t, "default LockTimeout", ConfigDefault.LockTimeout, 5*time.Second)
	for _, lt := range []time.Duration{100 * time.Millisecond, 300 * time.Millisecond} {
		t.Run(lt.String(), func(t *testing.T) {
			app := newApp()
			app.Use(New(Config{Cache: newCache(t), LockTimeout: lt}))
			release := make(chan struct{})
			var once sync.Once
			free := func() { once.Do(func() { close(release) }) }
			t.Cleanup(free)
			app.Get("/", func(c *fiber.Ctx) error {
				if c.Get("X-Lead") != "" { // not keyed: the same page
					<-release // a render that does not return (until the test lets it)
					return c.SendString("leader")
				}
				return c.SendString("own")
			})
			base := listen(t, app)
			client := newClient(t, 10)
			lead := make(chan result, 1)
			go func() { lead <- fetch(t, client, base+"/", "X-Lead", "1") }()
			time.Sleep(100 * time.Millisecond) // the leader's render runs
			took, res := burst(t, client, base+"/", 8)
			if took > lt+4*time.Second { // bounded, with room for a loaded machine
				t.Errorf("waiters held %v, LockTimeout %v", took, lt)
			}
			if took < lt {
				t.Errorf("waiters gave up after %v, before LockTimeout %v", took, lt)
			}
			for _, r := range res {
				expect(t, "waiter body", r.body, "own")
				expect(t, "waiter Cache-Status", r.cacheStatus(), "cachekit; fwd=uri-miss; detail=lock-timeout")
			}
			free()
			l := <-lead
			expect(t, "leader", l.body, "leader")
			expect(t, "leader Cache-Status", l.cacheStatus(), "cachekit; fwd=uri-miss; stored")
			expect(t, "then a hit", fetch(t, client, base+"/").body, "leader")
		})
	}
}

// TestRecordOutlivesItsPages: a page stored late in its record's life
// extends the record, so it stays reachable for its whole TTL; the
// record's writes stay few.
func TestRecordOutlivesItsPages(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		cache, st := newCountingCache(t)
		app := newApp()
		app.Use(New(Config{Cache: cache, TTL: 10 * time.Minute}))
		h, _ := counting("page")
		app.Get("/x", h)
		get(t, app, "/x")
		time.Sleep(15 * time.Minute)
		get(t, app, "/x?b") // stored at 15 min, fresh until 25 min
		time.Sleep(9 * time.Minute)
		expect(t, "the late page at 24 min", get(t, app, "/x?b").xcache(), "HIT")
		if len(st.noExpiry) > 0 {
			t.Errorf("keys without an expiry: %q", st.noExpiry)
		}
		if st.writes > 5 {
			t.Errorf("%d writes for two pages", st.writes)
		}
	})
}

// TestDuplicateHost: fasthttp keeps one Host (the last line) and hides the
// others, so the key holds exactly the host the app reads (c.Hostname):
// the page rendered for "good" is stored as good's, and "evil" gets its own.
func TestDuplicateHost(t *testing.T) {
	app := newApp()
	app.Use(New(Config{Cache: newCache(t)}))
	h, _ := echo(func(c *fiber.Ctx) string { return c.Hostname() })
	app.Get("/", h)
	base := listen(t, app)
	for _, tc := range []struct{ raw, want string }{
		{"GET / HTTP/1.1\r\nHost: evil\r\nHost: good\r\n\r\n", "1 good"},
		{"GET / HTTP/1.1\r\nHost: good\r\n\r\n", "1 good"},
		{"GET / HTTP/1.1\r\nHost: evil\r\n\r\n", "2 evil"},
		{"GET / HTTP/1.1\r\nHost: good\r\nHost: evil\r\n\r\n", "2 evil"},
		{"GET / HTTP/1.1\r\nHost: GOOD\r\n\r\n", "1 good"},
	} {
		expect(t, fmt.Sprintf("%q", tc.raw), rawDo(t, base, tc.raw).body, tc.want)
	}
}
