package fibercache

import (
	"bufio"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// FuzzRequestHeaders: whatever headers a request carries, the middleware
// answers it without a 5xx, with X-Cache, and a request with two lines of
// a header the key holds bypasses.
func FuzzRequestHeaders(f *testing.F) {
	for _, s := range []string{
		"X-Forwarded-Host: a\r\nX-Forwarded-Host: b",
		"Cache-Control: no-cache, max-age=\"1",
		"Cache-Control: max-age=99999999999999999999999, s-maxage=-1",
		"Accept-Encoding: gzip;q=0.\r\nAccept-Language: \r\nX-Flag:",
		"X-Api-Key: k\r\nCookie: a=b; session=x; session=y",
		"Content-Length: 3\r\n\r\nabc",
		"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0",
		"X-HTTP-Method-Override: POST",
		"If-None-Match: W/\"x\", *, \"\r\nIf-Modified-Since: yesterday",
		"Forwarded: for=\"[::1]\";host=evil\r\nX-Original-URL: /admin",
		"X-User: a\r\nx-user: b",
		"Pragma: no-cache\r\nUpgrade: websocket",
		"Authorization: Basic\r\nProxy-Authorization:",
	} {
		f.Add("GET", s)
		f.Add("HEAD", s)
	}
	cache := newCache(f)
	app := newApp()
	app.Use(New(Config{Cache: cache, UserHeader: "X-User", UserCookie: "session"}))
	app.Get("/", func(c *fiber.Ctx) error {
		c.Vary("Accept-Language", "X-Flag")
		return c.SendString("page " + c.Hostname() + c.Get("X-Flag") + c.FormValue("q"))
	})
	handler := app.Handler()
	f.Fuzz(func(t *testing.T, method, hdrs string) {
		if method != "GET" && method != "HEAD" {
			return
		}
		raw := method + " / HTTP/1.1\r\nHost: example.com\r\n" + hdrs + "\r\n\r\n"
		var req fasthttp.Request
		if err := req.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
			return // not a request fasthttp's server would hand on
		}
		dup := ""
		for _, name := range []string{"X-Forwarded-Host", "X-User", "X-Flag", "Forwarded"} {
			if len(req.Header.PeekAll(name)) > 1 {
				dup = name
			}
		}
		var fctx fasthttp.RequestCtx
		fctx.Init(&req, nil, nil)
		handler(&fctx)
		if st := fctx.Response.StatusCode(); st >= 500 {
			t.Fatalf("status %d for %q", st, raw)
		}
		x := string(fctx.Response.Header.Peek("X-Cache"))
		if x == "" {
			t.Fatalf("no X-Cache for %q", raw)
		}
		if dup != "" && x != "BYPASS" {
			t.Fatalf("two %s lines: X-Cache %q for %q", dup, x, raw)
		}
	})
}
