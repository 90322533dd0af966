package fibercache

import (
	"bufio"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

func TestRequestNoCacheAndNoStore(t *testing.T) {
	cache := newCache(t)
	app := newApp()
	app.Use(New(Config{Cache: cache, HonorRequestNoCache: true}))
	h, runs := counting("page")
	app.Get("/", h)
	app.Get("/cold", h)

	get(t, app, "/")
	r := get(t, app, "/", "Cache-Control", "no-cache")
	expect(t, "no-cache X-Cache", r.xcache(), "MISS")
	expect(t, "no-cache Cache-Status", r.cacheStatus(), "cachekit; fwd=request; stored")
	expect(t, "no-cache body", r.body, "page 2")
	r = get(t, app, "/")
	expect(t, "after no-cache", r.body, "page 2")
	expect(t, "after no-cache X-Cache", r.xcache(), "HIT")
	r = get(t, app, "/", "Pragma", "no-cache")
	expect(t, "Pragma: no-cache revalidates", r.body, "page 3")
	r = get(t, app, "/", "Cache-Control", "NO-CACHE")
	expect(t, "directive case", r.body, "page 4")

	r = get(t, app, "/cold", "Cache-Control", "no-store")
	expect(t, "no-store X-Cache", r.xcache(), "BYPASS")
	expect(t, "no-store Cache-Status", r.cacheStatus(), "cachekit; fwd=request; detail=no-store")
	r = get(t, app, "/cold")
	expect(t, "no-store stored nothing", r.xcache(), "MISS")
	r = get(t, app, "/cold", "Cache-Control", "max-age=0, No-Store")
	expect(t, "no-store is not served from the cache", r.xcache(), "BYPASS")
	expect(t, "runs", runs.Load(), int64(7))
}

// TestRequestNoCacheIgnored: by default a shared cache answers a hard
// reload from the cache (Varnish, nginx): no client can make every request
// render nor empty the hot layer.
func TestRequestNoCacheIgnored(t *testing.T) {
	cache := newCache(t)
	app := newApp()
	app.Use(New(Config{Cache: cache}))
	h, runs := counting("page")
	app.Get("/", h)
	get(t, app, "/")
	for _, hdr := range [][]string{
		{"Cache-Control", "no-cache"},
		{"Pragma", "no-cache"},
		{"Cache-Control", "NO-CACHE, max-age=0"},
		{"Cache-Control", "max-age=0"},
		{"Cache-Control", "no-cache", "Pragma", "no-cache"},
	} {
		r := get(t, app, "/", hdr...)
		expect(t, strings.Join(hdr, " ")+" X-Cache", r.xcache(), "HIT")
		expect(t, strings.Join(hdr, " ")+" body", r.body, "page 1")
	}
	expect(t, "runs", runs.Load(), int64(1))
}

func TestPerUserHeader(t *testing.T) {
	cache := newCache(t)
	app := newApp()
	app.Use(New(Config{Cache: cache, UserHeader: "Authorization", CacheControl: true}))
	app.Get("/", func(c *fiber.Ctx) error { return c.SendString("hi " + c.Get("Authorization")) })
	get(t, app, "/", "Authorization", "Bearer a")
	r := get(t, app, "/", "Authorization", "Bearer a")
	expect(t, "user a hit", r.body, "hi Bearer a")
	expect(t, "user a X-Cache", r.xcache(), "HIT")
	if cc := r.header.Get("Cache-Control"); !strings.HasPrefix(cc, "private, max-age=") {
		t.Errorf("a per-user page went downstream as %q", cc)
	}
	r = get(t, app, "/", "Authorization", "Bearer b")
	expect(t, "user b", r.body, "hi Bearer b")
	r = get(t, app, "/")
	expect(t, "anonymous", r.body, "hi ")
}

// TestRequestReset: reset leaves every field of a request as a zero one
// but scratch (emptied, its buffer kept), depth (kept) and the arrays read
// only under a count or a bit that reset clears (fwd under fwdSeen, vary
// under varyN, userHash under hasUser). A field added to request must be
// cleared by reset, or listed here with the reason it need not be.
func TestRequestReset(t *testing.T) {
	kept := map[string]bool{"scratch": true, "depth": true, "fwd": true, "vary": true, "userHash": true}
	var r request
	v := reflect.ValueOf(&r).Elem()
	for i := 0; i < v.NumField(); i++ { // every field set to something
		f := v.Field(i)
		f = reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem()
		switch f.Kind() {
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Int, reflect.Int64:
			f.SetInt(3)
		case reflect.Uint16, reflect.Uint64:
			f.SetUint(3)
		case reflect.String:
			f.SetString("x")
		case reflect.Slice:
			f.Set(reflect.ValueOf([]byte("x")))
		case reflect.Pointer:
			f.Set(reflect.New(f.Type().Elem()))
		case reflect.Struct:
			for j := 0; j < f.NumField(); j++ {
				g := f.Field(j)
				g = reflect.NewAt(g.Type(), unsafe.Pointer(g.UnsafeAddr())).Elem()
				switch g.Kind() {
				case reflect.Bool:
					g.SetBool(true)
				case reflect.Int64:
					g.SetInt(3)
				case reflect.Uint8:
					g.SetUint(3)
				default:
					t.Fatalf("field %s.%s: kind %s not handled by this test", v.Type().Field(i).Name, f.Type().Field(j).Name, g.Kind())
				}
			}
		case reflect.Array:
			f.Index(0).Set(reflect.ValueOf(f.Index(0).Interface()))
		default:
			t.Fatalf("field %s: kind %s not handled by this test", v.Type().Field(i).Name, f.Kind())
		}
		if f.IsZero() && f.Kind() != reflect.Array {
			t.Fatalf("field %s not set", v.Type().Field(i).Name)
		}
	}
	r.reset()
	for i := 0; i < v.NumField(); i++ {
		name := v.Type().Field(i).Name
		if f := v.Field(i); !kept[name] && !f.IsZero() {
			t.Errorf("reset leaves %s = %v", name, f)
		}
	}
	if r.depth != 3 || len(r.scratch) != 0 || cap(r.scratch) == 0 {
		t.Errorf("depth %d, scratch %q (cap %d): depth and the scratch buffer are kept, emptied", r.depth, r.scratch, cap(r.scratch))
	}
}

// readSummary is scanSummary of what is read of r: fwd under fwdSeen,
// userHash under hasUser, vary under varyN (reset keeps the rest).
func readSummary(r request) string {
	for i := range r.fwd {
		if r.fwdSeen&(1<<i) == 0 {
			r.fwd[i] = nil
		}
	}
	if !r.hasUser {
		r.userHash = [40]byte{}
	}
	return scanSummary(&r) + fmt.Sprintf(" varyN=%d %q", r.varyN, r.vary[:r.varyN])
}

// TestScanAfterReset: a request scanned, reset and scanned again holds what
// a new one scanning the second request holds, whatever the first scan
// left (begin sets only what reset does not zero).
func TestScanAfterReset(t *testing.T) {
	cfg := configDefault(Config{Cache: newCache(t), TTL: time.Hour, UserCookie: "session", UserHeader: "X-User"})
	m := newMiddleware(cfg, false)
	vary := &record{nonce: provisional.nonce, vary: []byte("Accept-Encoding,Accept-Language,Cookie")}
	reqs := []string{
		"Host: a\r\nCookie: session=1; sid=2\r\nX-User: u\r\nCache-Control: no-store, max-age=3\r\nPragma: no-cache\r\n" +
			"Upgrade: websocket\r\nIf-None-Match: \"e\"\r\nIf-Modified-Since: x\r\nX-Forwarded-Host: f\r\nX-Forwarded-Host: g\r\n" +
			"Authorization: b\r\nAccept-Encoding: gzip;q=0, br\r\nAccept-Language: de\r\nContent-Length: 1\r\n\r\nx",
		"Host: b\r\nX-HTTP-Method-Override: PUT\r\n\r\n",
		"Host: c\r\n\r\n",
	}
	var r request
	var got, want string
	app := fiber.New()
	app.Get("/*", func(c *fiber.Ctx) error {
		for _, rec := range []*record{nil, vary} {
			r.reset()
			r.scan(c, m, rec)
			got = readSummary(r)
			fresh := request{}
			fresh.scan(c, m, rec)
			if want = readSummary(fresh); got != want {
				return nil
			}
		}
		return nil
	})
	h := app.Handler()
	for _, first := range reqs {
		for _, second := range reqs {
			for _, raw := range []string{first, second} {
				var req fasthttp.Request
				if err := req.Read(bufio.NewReader(strings.NewReader("GET /p HTTP/1.1\r\n" + raw))); err != nil {
					t.Fatal(err)
				}
				var fctx fasthttp.RequestCtx
				fctx.Init(&req, nil, nil)
				h(&fctx)
				if got != want {
					t.Fatalf("after %q, %q:\n reset %s\n new   %s", first, raw, got, want)
				}
			}
		}
	}
}

// TestCookieCredentialHeaderCollected: with Cookie named a credential
// header, a request with cookies is never stored for others, also when a
// middleware in front had fasthttp collect the cookies (the parsed-list
// pass then finds no Cookie line: it goes through VisitAll, which reads
// the joined one). Before, such a request's page, built from its cookie,
// was stored and answered to the next anonymous request.
func TestCookieCredentialHeaderCollected(t *testing.T) {
	for _, collect := range []bool{false, true} {
		app := newApp()
		app.Use(func(c *fiber.Ctx) error {
			if collect {
				c.Cookies("theme")
			}
			return c.Next()
		})
		app.Use(New(Config{Cache: newCache(t), CredentialHeaders: []string{"Cookie"}}))
		app.Get("/p", func(c *fiber.Ctx) error { return c.SendString("page for " + c.Cookies("_ga")) })
		if r := get(t, app, "/p", "Cookie", "_ga=secret"); r.body != "page for secret" {
			t.Fatalf("collect %v: %q", collect, r.body)
		}
		for range 2 {
			if r := get(t, app, "/p"); r.body != "page for " {
				t.Fatalf("collect %v: an anonymous request got %q (X-Cache %s)", collect, r.body, r.xcache())
			}
		}
	}
}
