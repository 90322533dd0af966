package fibercache

import (
	"strings"
	"testing"

	"github.com/cachekit/cachekit/internal/keys"
	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

func parseCC(s string) cacheControl {
	cc := newCacheControl()
	cc.parse([]byte(s))
	return cc
}

func TestParseCacheControl(t *testing.T) {
	cases := []struct {
		in   string
		want cacheControl
	}{
		{"", cacheControl{maxAge: -1, sMaxAge: -1, staleWhileRev: -1, staleIf: -1}},
		{"private", cacheControl{private: true, any: true, maxAge: -1, sMaxAge: -1, staleWhileRev: -1, staleIf: -1}},
		{"PRIVATE", cacheControl{private: true, any: true, maxAge: -1, sMaxAge: -1, staleWhileRev: -1, staleIf: -1}},
		{"Public, Max-Age=60", cacheControl{public: true, any: true, maxAge: 60, sMaxAge: -1, staleWhileRev: -1, staleIf: -1}},
		{`max-age="120", s-maxage = 30`, cacheControl{any: true, maxAge: 120, sMaxAge: 30, staleWhileRev: -1, staleIf: -1}},
		{"max-age=60, max-age=10", cacheControl{any: true, maxAge: 10, sMaxAge: -1, staleWhileRev: -1, staleIf: -1}},
		{"max-age=abc", cacheControl{any: true, maxAge: 0, sMaxAge: -1, staleWhileRev: -1, staleIf: -1}},
		{"max-age", cacheControl{any: true, maxAge: 0, sMaxAge: -1, staleWhileRev: -1, staleIf: -1}},
		{"max-age=-5", cacheControl{any: true, maxAge: 0, sMaxAge: -1, staleWhileRev: -1, staleIf: -1}},
		{"max-age=99999999999999999999", cacheControl{any: true, maxAge: deltaMax, sMaxAge: -1, staleWhileRev: -1, staleIf: -1}},
		{`no-cache="Set-Cookie, X-Foo", public`, cacheControl{noCache: true, public: true, any: true, maxAge: -1, sMaxAge: -1, staleWhileRev: -1, staleIf: -1}},
		{`x-ext="a, private", max-age=5`, cacheControl{any: true, maxAge: 5, sMaxAge: -1, staleWhileRev: -1, staleIf: -1}},
		{"no-store,,, ,must-revalidate", cacheControl{noStore: true, mustRevalidate: true, any: true, maxAge: -1, sMaxAge: -1, staleWhileRev: -1, staleIf: -1}},
		{"stale-while-revalidate=30, stale-if-error=600, proxy-revalidate", cacheControl{proxyRevalidate: true, any: true, maxAge: -1, sMaxAge: -1, staleWhileRev: 30, staleIf: 600}},
		{"private_x, xprivate, pri vate", cacheControl{any: true, maxAge: -1, sMaxAge: -1, staleWhileRev: -1, staleIf: -1}},
		{`"junk", private`, cacheControl{private: true, any: true, maxAge: -1, sMaxAge: -1, staleWhileRev: -1, staleIf: -1}},
	}
	for _, tc := range cases {
		if got := parseCC(tc.in); got != tc.want {
			t.Errorf("parse(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

// FuzzParseCacheControl: the parser never panics nor loops, directive names
// match whatever their case, and a field split over two lines means the
// same as the joined line.
func FuzzParseCacheControl(f *testing.F) {
	for _, s := range []string{"private", "Public, max-age=60", `no-cache="a, b"`, "max-age=\"1", `\"`, ",=,", "s-maxage=0, max-age=9", "stale-if-error=1;x"} {
		f.Add(s, "no-store")
	}
	f.Fuzz(func(t *testing.T, s, s2 string) {
		cc := parseCC(s)
		if up := parseCC(strings.ToUpper(s)); up != cc {
			t.Errorf("case changes the meaning of %q: %+v vs %+v", s, cc, up)
		}
		for _, v := range []int64{cc.maxAge, cc.sMaxAge, cc.staleWhileRev, cc.staleIf} {
			if v < -1 || v > deltaMax {
				t.Errorf("%q: delta out of range %d", s, v)
			}
		}
		if strings.Count(s, `"`)%2 == 0 && strings.Count(s, `\`) == 0 {
			two := newCacheControl()
			two.parse([]byte(s))
			two.parse([]byte(s2))
			joined := parseCC(s + "," + s2)
			if strings.Count(s2, `"`) == 0 && two != joined {
				t.Errorf("%q + %q: two lines %+v, one line %+v", s, s2, two, joined)
			}
		}
	})
}

func TestEntryRoundTrip(t *testing.T) {
	e := page{flags: flagPublic | flagHasCC, status: 203, lastModified: 1700000000,
		vary: []byte("Accept-Encoding,Accept-Language"), ctype: []byte("text/html; charset=utf-8"),
		etag: []byte(`"abc"`), body: []byte("<p>body</p>")}
	hdrs := []header{{[]byte("Vary"), []byte("Accept-Language")}, {[]byte("Link"), []byte("</a>")}, {[]byte("Link"), []byte("</b>")}}
	b := appendPage(nil, &e, hdrs)
	var d page
	if err := decodePage(b, &d); err != nil {
		t.Fatal(err)
	}
	if d.flags != e.flags || d.status != e.status || d.lastModified != e.lastModified ||
		string(d.vary) != string(e.vary) || string(d.ctype) != string(e.ctype) ||
		string(d.etag) != string(e.etag) || string(d.body) != string(e.body) || d.nheaders != 3 {
		t.Fatalf("round trip: %+v", d)
	}
	hs := d.headers
	for i, want := range hdrs {
		var h header
		h, hs = nextHeader(hs)
		if string(h.name) != string(want.name) || string(h.value) != string(want.value) {
			t.Errorf("header %d = %s: %s", i, h.name, h.value)
		}
	}
	for i := 0; i < len(b)-len(e.body); i++ {
		if err := decodePage(b[:i], &d); err == nil {
			t.Errorf("truncated page of %d bytes decoded", i)
		}
	}
}

// FuzzDecodeEntry: decoding any bytes never panics, and what decodes
// re-encodes to the same bytes.
func FuzzDecodeEntry(f *testing.F) {
	e := page{status: 200, vary: []byte("Accept-Encoding"), ctype: []byte("text/html"), etag: []byte(`"x"`), body: []byte("body")}
	f.Add(appendPage(nil, &e, []header{{[]byte("X-A"), []byte("1")}}))
	f.Add([]byte("FC\x01\x00\x00\xc8"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var d page
		if decodePage(b, &d) != nil {
			return
		}
		var hdrs []header
		hs := d.headers
		for i := 0; i < d.nheaders; i++ {
			var h header
			h, hs = nextHeader(hs)
			hdrs = append(hdrs, h)
		}
		if len(hs) != 0 {
			t.Fatalf("headers left over: %q", hs)
		}
		var d2 page
		if err := decodePage(appendPage(nil, &d, hdrs), &d2); err != nil {
			t.Fatalf("re-encoded page does not decode: %v", err)
		}
		if d2.flags != d.flags || d2.status != d.status || d2.lastModified != d.lastModified ||
			string(d2.vary) != string(d.vary) || string(d2.ctype) != string(d.ctype) ||
			string(d2.etag) != string(d.etag) || string(d2.headers) != string(d.headers) || string(d2.body) != string(d.body) {
			t.Fatalf("re-encoded page decodes differently")
		}
	})
}

// keyFor builds the page key of a request through a real fiber context.
var keyApp = fiber.New()

func keyFor(m *middleware, rec *record, host, uri string, hdr ...string) string {
	k, _ := keyAndURI(m, rec, host, uri, hdr...)
	return k
}

// keyAndURI is keyFor, and the request URI as fasthttp holds it.
func keyAndURI(m *middleware, rec *record, host, uri string, hdr ...string) (string, string) {
	app := keyApp
	fctx := &fasthttp.RequestCtx{}
	fctx.Request.Header.SetHost(host)
	fctx.Request.SetRequestURI(uri)
	for i := 0; i+1 < len(hdr); i += 2 {
		fctx.Request.Header.Add(hdr[i], hdr[i+1])
	}
	c := app.AcquireCtx(fctx)
	defer app.ReleaseCtx(c)
	var r request
	r.scan(c, m, rec)
	return string(r.appendPageKey(nil, c, m, rec)), string(c.Request().Header.RequestURI())
}

// FuzzPageKey: keys never panic, are always storable as they are (short,
// printable), and two requests that differ in host, URI, a forwarded
// header or a Vary value never share a key.
func FuzzPageKey(f *testing.F) {
	f.Add("example.com", "/a?b=1", "en", "", "example.com", "/a?b=2", "en", "")
	f.Add("a.example", "/", "fr", "x.example", "A.EXAMPLE", "/", "fr", "x.example")
	f.Add("h", "/x y", "", "", "h", "/x%20y", "", "")
	f.Add("h", "/p", "a,b", "", "h", "/p", "a", "b")
	m := newMiddleware(configDefault(Config{Cache: nil}), false)
	rec := &record{nonce: []byte("0123456789abcdef"), vary: []byte("Accept-Language,X-Other")}
	f.Fuzz(func(t *testing.T, h1, u1, v1, x1, h2, u2, v2, x2 string) {
		for _, s := range []string{h1, u1, v1, x1, h2, u2, v2, x2} {
			if strings.ContainsAny(s, "\r\n\x00") || s != strings.TrimSpace(s) {
				return // not representable in a parsed request
			}
		}
		if h1 == "" || h2 == "" || !strings.HasPrefix(u1, "/") || !strings.HasPrefix(u2, "/") {
			return
		}
		k1, n1 := keyAndURI(m, rec, h1, u1, "Accept-Language", v1, "X-Forwarded-Host", x1)
		k2, n2 := keyAndURI(m, rec, h2, u2, "Accept-Language", v2, "X-Forwarded-Host", x2)
		for _, k := range []string{k1, k2} {
			if len(k) > maxPlainKey || !keys.Safe(k) {
				t.Fatalf("key %q is not storable as it is", k)
			}
		}
		same := string(appendLower(nil, h1)) == string(appendLower(nil, h2)) && n1 == n2 && v1 == v2 && x1 == x2
		if (k1 == k2) != same {
			t.Fatalf("requests (%q %q %q %q) and (%q %q %q %q): keys %q and %q", h1, u1, v1, x1, h2, u2, v2, x2, k1, k2)
		}
	})
}

func appendLower(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}
