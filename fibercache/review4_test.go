package fibercache

import (
	"bufio"
	"github.com/valyala/fasthttp"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
)

// TestCacheControlHitOneExpires: with Config.CacheControl, a page whose
// handler set Expires but no Cache-Control is sent with our Cache-Control
// and one Expires, ours, on the miss and on every hit (the hot layer's
// prepared lines included): two Expires lines make the response expired
// for every cache downstream (RFC 9111 §5.3).
func TestCacheControlHitOneExpires(t *testing.T) {
	for _, front := range []bool{false, true} {
		app := newApp()
		if front { // a middleware in front already wrote a line
			app.Use(func(c *fiber.Ctx) error { c.Set("X-Request-Id", "r"); return c.Next() })
		}
		app.Use(New(Config{Cache: newCache(t), CacheControl: true}))
		app.Get("/", func(c *fiber.Ctx) error {
			c.Set("Expires", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat))
			c.Set("X-Frame-Options", "DENY")
			return c.SendString("page")
		})
		for i := range 4 {
			r := get(t, app, "/")
			if want := map[bool]string{true: "HIT", false: "MISS"}[i > 0]; r.xcache() != want {
				t.Fatalf("front %v, request %d: X-Cache %q, want %q", front, i, r.xcache(), want)
			}
			if exp := r.header.Values("Expires"); len(exp) != 1 {
				t.Errorf("front %v, request %d (%s): Expires lines %q, want one", front, i, r.xcache(), exp)
			}
			if cc := r.header.Values("Cache-Control"); len(cc) != 1 || !strings.HasPrefix(cc[0], "public, max-age=") {
				t.Errorf("front %v, request %d: Cache-Control %q", front, i, cc)
			}
			expect(t, "X-Frame-Options", strings.Join(r.header.Values("X-Frame-Options"), ","), "DENY")
		}
	}
	// The hot layer's plan of a page is kept with its stored value: an
	// instance without CacheControl that planned it first, on the same
	// cache and key, must not make the next one send two.
	cache := newCache(t)
	handler := func(c *fiber.Ctx) error {
		c.Set("Expires", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat))
		return c.SendString("page")
	}
	plain, withCC := newApp(), newApp()
	plain.Use(New(Config{Cache: cache}))
	plain.Get("/", handler)
	withCC.Use(New(Config{Cache: cache, CacheControl: true}))
	withCC.Get("/", handler)
	for range 3 {
		get(t, plain, "/")
	}
	for i := range 3 {
		r := get(t, withCC, "/")
		if exp := r.header.Values("Expires"); r.xcache() != "HIT" || len(exp) != 1 {
			t.Errorf("second instance, request %d (%s): Expires lines %q, want one", i, r.xcache(), exp)
		}
	}
}

// TestScanListMatchesVisitAllUnnormalized: on an app that keeps header
// names as sent (fiber.Config.DisableHeaderNormalizing), where no name is
// fasthttp's normalized literal, the parsed-list pass still finds what
// VisitAll finds: lower- and mixed-case Cookie lines (several, some
// cookies collected by a middleware in front), credential and fixed
// headers.
func TestScanListMatchesVisitAllUnnormalized(t *testing.T) {
	pairs := newScanPairs(t)
	vary := &record{nonce: provisional.nonce, vary: []byte("Accept-Language,X-Key")}
	for _, hdrs := range []string{
		"cookie: _ga=1; session=alice\r\n",
		"COOKIE: session=alice\r\ncookie: session=bob\r\n",
		"cOoKiE: _ga=1; _gid=2\r\ncookie: sid=3\r\n",
		"cookie: =session=alice; session\r\n",
		"cookie:  session = \"alice\" ;_ga=1\r\nx-key: k\r\n",
		"authorization: Bearer t\r\ncookie: _ga=1\r\n",
		"x-user: u\r\nX-USER: v\r\ncookie: session=a\r\n",
		"x-forwarded-host: a\r\nX-Forwarded-Host: b\r\n",
		"cache-control: no-cache\r\npragma: no-cache\r\nif-none-match: \"e\"\r\n",
		"accept-language: de\r\nACCEPT-LANGUAGE: en\r\n",
		"x-http-method-override: DELETE\r\n",
	} {
		for _, collect := range []bool{false, true} {
			for ci, ms := range pairs {
				for _, rec := range []*record{nil, vary} {
					l, v := scanBothUnnormalized(t, ms, "GET / HTTP/1.1\r\nhost: h\r\n"+hdrs+"\r\n", rec, collect)
					if l != v {
						t.Errorf("%q, config %d, collect %v, vary %v:\n list  %s\n visit %s", hdrs, ci, collect, rec != nil, l, v)
					}
				}
			}
		}
	}
}

// scanBothUnnormalized is scanBoth on a request read with its header
// names kept as sent.
func scanBothUnnormalized(t *testing.T, ms scanPair, raw string, rec *record, collect bool) (list, visit string) {
	t.Helper()
	app := fiber.New(fiber.Config{DisableHeaderNormalizing: true})
	var out [2]string
	app.Get("/*", func(c *fiber.Ctx) error {
		if collect {
			c.Cookies("x")
		}
		for i, m := range ms {
			r := request{scratch: make([]byte, 0, 64)}
			r.scan(c, m, rec)
			out[i] = scanSummary(&r)
		}
		return nil
	})
	var req fasthttp.Request
	req.Header.DisableNormalizing()
	if err := req.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
		t.Fatalf("%q: %v", raw, err)
	}
	var fctx fasthttp.RequestCtx
	fctx.Init(&req, nil, nil)
	app.Handler()(&fctx)
	return out[0], out[1]
}

// TestCookieLinesNeverCrossUsers: requests whose Cookie lines are spelled
// every odd way (case of the name on an app that keeps it, spacing, quotes,
// '=' in values, empty names, duplicate lines, the user cookie after
// cookies that are not harmless, many cookies) get from the cached app the
// body the same handler renders uncached for them: the user the app reads
// is the one the page was keyed for, whatever the cache served.
func TestCookieLinesNeverCrossUsers(t *testing.T) {
	handler := func(c *fiber.Ctx) error {
		c.Vary("X-Key") // an input the page says it varies on
		return c.SendString("user=" + c.Cookies("session") + " key=" + c.Get("X-Key") + " auth=" + c.Get("Authorization"))
	}
	users := []string{"alice", "bob", "alice2", "\"alice\"", "bob=x", ""}
	shapes := []func(u string) [][2]string{
		func(u string) [][2]string { return [][2]string{{"Cookie", "session=" + u}} },
		func(u string) [][2]string { return [][2]string{{"cookie", "_ga=1;session=" + u}} },
		func(u string) [][2]string { return [][2]string{{"COOKIE", "  session =  " + u + "  ; _gid=2"}} },
		func(u string) [][2]string {
			return [][2]string{{"Cookie", "_ga=1; _gid=2"}, {"cookie", "session=" + u}}
		},
		func(u string) [][2]string { return [][2]string{{"Cookie", "other=1; session=" + u}} },
		func(u string) [][2]string { return [][2]string{{"Cookie", "=session=" + u + "; session=" + u + "x"}} },
		func(u string) [][2]string {
			return [][2]string{{"Cookie", "session=" + u}, {"Cookie", "session=mallory"}}
		},
		func(u string) [][2]string { return [][2]string{{"Cookie", "session=" + u + ";session=mallory"}} },
		func(u string) [][2]string {
			return [][2]string{{"Cookie", strings.Repeat("_ga=1; ", 40) + "cookieconsent_status=dismiss; session=" + u}}
		},
		func(u string) [][2]string { return [][2]string{{"Cookie", "session=" + u}, {"x-key", u}} },
		func(u string) [][2]string { return [][2]string{{"Cookie", "session" + u}} },
		func(u string) [][2]string { return [][2]string{{"Cookie", "Session=" + u + "; session=" + u + "2"}} },
		func(u string) [][2]string { return [][2]string{{"Cookie", "session=\"" + u + "\""}} },
	}
	for _, cfg := range []Config{
		{UserCookie: "session"},
		{UserCookie: "session", CredentialHeaders: []string{"X-Key"}, HarmlessCookies: []string{"_ga", "other"}},
	} {
		for _, mode := range []int{0, 1, 2} { // normalized, as sent, collected in front
			norm := mode != 1
			cached := fiber.New(fiber.Config{DisableStartupMessage: true, DisableHeaderNormalizing: !norm})
			if mode == 2 { // a middleware in front had fasthttp collect the cookies
				cached.Use(func(c *fiber.Ctx) error { c.Cookies("x"); return c.Next() })
			}
			cfg.Cache, cfg.TTL = newCache(t), time.Hour
			cached.Use(New(cfg))
			cached.Get("/", handler)
			plain := fiber.New(fiber.Config{DisableStartupMessage: true, DisableHeaderNormalizing: !norm})
			plain.Get("/", handler)
			hits := 0
			for round := range 3 {
				for si, shape := range shapes {
					for _, u := range users {
						req := httptest.NewRequest(http.MethodGet, "/", nil)
						for _, kv := range shape(u) {
							req.Header[kv[0]] = append(req.Header[kv[0]], kv[1]) // the name as spelled
						}
						got, want := testBody(t, cached, req), testBody(t, plain, req.Clone(req.Context()))
						if got.body != want.body {
							t.Fatalf("config %+v, mode %d, round %d, shape %d, user %q: cached %q (%s), uncached %q",
								cfg.HarmlessCookies, mode, round, si, u, got.body, got.xcache(), want.body)
						}
						if got.xcache() == "HIT" {
							hits++
						}
					}
				}
			}
			if hits == 0 {
				t.Errorf("config %+v, mode %d: no hit at all (the test tests nothing)", cfg.HarmlessCookies, mode)
			}
		}
	}
}

func testBody(t *testing.T, app *fiber.App, req *http.Request) result {
	t.Helper()
	resp, err := app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return result{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// TestScanListSpecialNamedHeaders: a UserHeader or credential header named
// as a header fasthttp keeps apart from its list (Host, User-Agent,
// Content-Type, Connection, Content-Length, Trailer, Transfer-Encoding)
// or as one the scan reads for itself is read by the list pass as
// VisitAll reads it.
func TestScanListSpecialNamedHeaders(t *testing.T) {
	names := []string{"Host", "User-Agent", "Content-Type", "Connection", "Content-Length", "Trailer",
		"Transfer-Encoding", "Cache-Control", "If-None-Match", "X-Forwarded-Host", "Pragma"}
	var pairs []scanPair
	for _, n := range names {
		pairs = append(pairs, newScanPair(t, Config{UserHeader: n}), newScanPair(t, Config{CredentialHeaders: []string{n}, UserCookie: "session"}))
	}
	for _, hdrs := range []string{
		"",
		"User-Agent: ua\r\nContent-Type: text/plain\r\nConnection: keep-alive\r\n",
		"Connection: close\r\nCache-Control: no-cache\r\nPragma: x\r\n",
		"Content-Length: 0\r\nTrailer: X-T\r\n",
		"Transfer-Encoding: chunked\r\n",
		"If-None-Match: \"e\"\r\nX-Forwarded-Host: a\r\nCookie: session=1\r\n",
	} {
		for ci, ms := range pairs {
			l, v, ok := scanBoth(t, ms, "GET / HTTP/1.1\r\nHost: h\r\n"+hdrs+"\r\n", nil, nil)
			if ok && l != v {
				t.Errorf("%q, config %d (%s):\n list  %s\n visit %s", hdrs, ci, names[ci/2], l, v)
			}
		}
	}
}

// TestHitLinesAsMiss: across app configs (DisableDefaultDate,
// DisableHeaderNormalizing, CacheControl), middlewares in front that
// already wrote lines (ETag, Age, X-Cache and Cache-Status, Date,
// Content-Type, Expires, a repeated line) and handlers that set the hit's
// own names themselves (in odd case too), every hit, HEAD and 304 sends
// no name more often than the miss did (once, for the hit's own) and
// every name the miss sent.
func TestHitLinesAsMiss(t *testing.T) {
	fronts := map[string]func(c *fiber.Ctx){
		"none": nil,
		"etag": func(c *fiber.Ctx) { c.Set("ETag", `"front"`) },
		"own":  func(c *fiber.Ctx) { c.Set("Age", "99"); c.Set("X-Cache", "FRONT"); c.Set("Cache-Status", "front") },
		"date": func(c *fiber.Ctx) {
			c.Set("Date", "Mon, 02 Jan 2006 15:04:05 GMT")
			c.Set("Content-Type", "text/plain")
		},
		"repeat": func(c *fiber.Ctx) { c.Response().Header.Add("X-Dup", "a"); c.Response().Header.Add("X-Dup", "b") },
		"exp":    func(c *fiber.Ctx) { c.Set("X-Frame-Options", "SAMEORIGIN"); c.Set("Expires", "0") },
	}
	handlers := map[string]fiber.Handler{
		"plain": func(c *fiber.Ctx) error { return c.SendString("page") },
		"own": func(c *fiber.Ctx) error {
			c.Set("ETag", `"own"`)
			c.Set("Last-Modified", "Mon, 02 Jan 2006 15:04:05 GMT")
			c.Response().Header.Add("X-Multi", "1")
			c.Response().Header.Add("X-Multi", "2")
			c.Type("json")
			return c.SendString(`{"a":1}`)
		},
		"odd": func(c *fiber.Ctx) error {
			for _, n := range []string{"etag", "age", "x-cache", "cache-status", "x-frame-options", "date"} {
				c.Response().Header.Set(n, "Mon, 02 Jan 2006 15:04:05 GMT")
			}
			c.Response().Header.Set("expires", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat))
			return c.SendString("odd")
		},
		"expires": func(c *fiber.Ctx) error {
			c.Set("Expires", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat))
			return c.SendString("exp")
		},
	}
	for _, cfg := range []string{"default", "nodate", "nonorm", "cc", "nodate+cc", "nonorm+cc"} {
		for fn, front := range fronts {
			for hn, handler := range handlers {
				app := fiber.New(fiber.Config{DisableStartupMessage: true, DisableDefaultDate: strings.Contains(cfg, "nodate"),
					DisableHeaderNormalizing: strings.Contains(cfg, "nonorm")})
				if front != nil {
					app.Use(func(c *fiber.Ctx) error { front(c); return c.Next() })
				}
				app.Use(New(Config{Cache: newCache(t), TTL: time.Hour, CacheControl: strings.Contains(cfg, "cc")}))
				app.Get("/", handler)
				what := cfg + "/" + fn + "/" + hn
				miss := get(t, app, "/")
				for i, r := range []result{get(t, app, "/"), get(t, app, "/"), do(t, app, http.MethodHead, "/"),
					get(t, app, "/", "If-None-Match", "*"), get(t, app, "/")} {
					if r.xcache() != "HIT" {
						t.Fatalf("%s, request %d: X-Cache %q", what, i, r.xcache())
					}
					for name, vs := range r.header {
						// A name the chain sent in two spellings (kept
						// apart on an app without normalizing) is as
						// many lines on the miss.
						if len(vs) > max(1, len(miss.header[name])) {
							t.Errorf("%s, request %d (status %d): %s sent %d times (the miss: %d): %q", what, i, r.status, name, len(vs), len(miss.header[name]), vs)
						}
					}
					if r.status != http.StatusOK {
						continue
					}
					for name := range miss.header {
						if _, ok := r.header[name]; !ok && name != "Content-Length" {
							t.Errorf("%s, request %d: %s, sent by the miss, lost", what, i, name)
						}
					}
				}
			}
		}
	}
}
