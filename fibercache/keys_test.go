package fibercache

import (
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/cachekit/cachekit/internal/keys"
	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

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

func TestPathKey(t *testing.T) {
	long := "/" + strings.Repeat("a", 200)
	tag := func(p string) string { return string(appendPathTag(nil, p)) }
	if tag("/Blog/Post/") != tag("/blog/post") || tag("/a") == tag("/b") || len(tag("/a")) != 8 {
		t.Errorf("path tags: %q %q %q", tag("/Blog/Post/"), tag("/a"), tag("/b"))
	}
	cases := []struct {
		name string
		kind byte
		path string
		want string
	}{
		{"record", keyRecord, "/Blog/Post", "fcr:" + tag("/blog/post") + "/blog/post"},
		{"fence", keyFence, "/blog/post", "fcf:" + tag("/blog/post") + "/blog/post"},
		{"trailing slash", keyRecord, "/blog/", "fcr:" + tag("/blog") + "/blog"},
		{"root", keyRecord, "/", "fcr:" + tag("/") + "/"},
		{"empty", keyRecord, "", "fcr:" + tag("/") + "/"},
		{"only slashes", keyRecord, "///", "fcr:" + tag("/") + "/"},
		{"query dropped", keyRecord, "/a?b=1", "fcr:" + tag("/a") + "/a"},
		{"space digested", keyRecord, "/a b", "fcr:" + tag("/a b") + string(keys.AppendDigest(nil, "/a b"))},
		{"long digested", keyFence, long, "fcf:" + tag(long) + string(keys.AppendDigest(nil, long))},
		{"digest mark digested", keyRecord, "#x", "fcr:" + tag("#x") + string(keys.AppendDigest(nil, "#x"))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(appendPathKey([]byte("pre"), tc.kind, tc.path)); got != "pre"+tc.want {
				t.Errorf("appendPathKey(%c, %q) = %q, want %q", tc.kind, tc.path, got, "pre"+tc.want)
			}
		})
	}
	if fenceKey("/A/") != "fcf:"+tag("/a")+"/a" {
		t.Errorf("fenceKey = %q", fenceKey("/A/"))
	}
}

// TestPathKeyTag: the tag a hit takes from the path's record key is the
// one appendPageKey makes from the path itself, for short and digested
// record keys alike.
func TestPathKeyTag(t *testing.T) {
	for _, p := range []string{"/", "/blog", "/Blog/", "/a?b=1", "/caf\xc3\xa9", "/" + strings.Repeat("long/", 60), "/a b"} {
		for _, kind := range []byte{keyRecord, keyFence} {
			got := pathKeyTag(appendPathKey(nil, kind, p))
			if want := appendPathTag(nil, p); string(got) != string(want) {
				t.Errorf("%q: tag %q, want %q", p, got, want)
			}
		}
	}
	if pathKeyTag([]byte("fcr:short")) != nil {
		t.Error("a key without a tag gave one")
	}
}

// TestAppendInt: appendInt writes what strconv.AppendInt writes, on both
// sides of each of its limits.
func TestAppendInt(t *testing.T) {
	ns := []int64{-10000, -1, 0, 1, 9, 10, 42, 99, 100, 101, 999, 1000, 3600, 9999, 10000, 10001, 86400, 99999,
		100000, 999999, 1000000, 31536000, 99999999, 100000000, 1 << 40, math.MaxInt64, math.MinInt64}
	for n := int64(0); n < 200000; n += 7 {
		ns = append(ns, n)
	}
	for _, n := range ns {
		if got, want := string(appendInt([]byte("x"), n)), "x"+strconv.FormatInt(n, 10); got != want {
			t.Errorf("appendInt(%d) = %q, want %q", n, got, want)
		}
	}
}
