package fibercache

import (
	"bytes"
	"strings"
	"testing"

	"github.com/cachekit/cachekit/internal/keys"
	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// plainOrDigest is the rule the key builders apply, written the plain way:
// the whole part after "fc<kind>:{<tag>}" checked at once (keys.Safe), the
// key kept when it is safe and short enough, else that part digested.
func plainOrDigest(key []byte) []byte {
	from := 4 + pathTagLen
	if len(key) <= maxPlainKey && keys.Safe(key[from:]) {
		return key
	}
	return keys.AppendDigest(append([]byte(nil), key[:from]...), key[from:])
}

// TestPathKeyOnePass: appendPathKey, which lowers, hashes and checks the
// path in one pass, makes the key the plain construction makes, and the
// tag appendPathTag makes.
func TestPathKeyOnePass(t *testing.T) {
	for _, path := range []string{"/", "/blog", "/Blog/", "/a b", "/caf\xc3\xa9", "/x\x7f", "#x", "/" + strings.Repeat("A", 200),
		"/" + strings.Repeat("b", maxPlainKey-13), "/" + strings.Repeat("b", maxPlainKey-12), "/q?x=1", "//"} {
		for _, kind := range []byte{keyRecord, keyFence} {
			got := appendPathKey([]byte("pre"), kind, path)[3:]
			np := normPath(path)
			plain := append([]byte{'f', 'c', kind, ':'}, appendPathTag(nil, path)...)
			plain = append(plain, strings.ToLower(np)...)
			if np != strings.ToLower(np) { // ToLower touches non-ASCII too; the key lowers ASCII only
				plain = append(plain[:4+pathTagLen], np...)
				for i := 4 + pathTagLen; i < len(plain); i++ {
					if c := plain[i]; c >= 'A' && c <= 'Z' {
						plain[i] = c + 'a' - 'A'
					}
				}
			}
			if want := plainOrDigest(plain); !bytes.Equal(got, want) {
				t.Errorf("appendPathKey(%q, %q) = %q, want %q", kind, path, got, want)
			}
			if tag := pathKeyTag(got); string(tag) != string(appendPathTag(nil, path)) {
				t.Errorf("tag of %q: %q, want %q", path, tag, appendPathTag(nil, path))
			}
		}
	}
}

// TestPathKeyEveryByte: appendPathKey makes the plain construction's key
// (ASCII lowered, FNV-1a tag, keys.Safe or digested) for every byte at
// every place of paths on both sides of shortPath.
func TestPathKeyEveryByte(t *testing.T) {
	for n := 1; n <= shortPath+9; n++ {
		for pos := 1; pos < n; pos++ {
			for c := 0; c < 256; c++ {
				if c == '?' || (c == '/' && pos == n-1) {
					continue // normPath's: a query, a trailing slash
				}
				for _, fill := range []byte{'a', 'Z', '-'} {
					path := append([]byte{'/'}, bytes.Repeat([]byte{fill}, n-1)...)
					path[pos] = byte(c)
					got := appendPathKey(nil, keyRecord, string(path))
					lower := bytes.Clone(path)
					lowerBytes(lower)
					plain := append([]byte{'f', 'c', keyRecord, ':'}, appendPathTag(nil, string(path))...)
					if want := plainOrDigest(append(plain, lower...)); !bytes.Equal(got, want) {
						t.Fatalf("appendPathKey(%q) = %q, want %q", path, got, want)
					}
				}
			}
		}
	}
}

// FuzzPathKey: appendPathKey is the plain construction for any path.
func FuzzPathKey(f *testing.F) {
	f.Add("/Blog")
	f.Add("/a b/C")
	f.Add("/caf\xc3\xa9/Menu?x=1")
	f.Add("/" + strings.Repeat("Ab", 20) + "/")
	f.Fuzz(func(t *testing.T, path string) {
		got := appendPathKey(nil, keyFence, path)
		lower := []byte(normPath(path))
		lowerBytes(lower)
		plain := append([]byte{'f', 'c', keyFence, ':'}, appendPathTag(nil, path)...)
		if want := plainOrDigest(append(plain, lower...)); !bytes.Equal(got, want) {
			t.Fatalf("appendPathKey(%q) = %q, want %q", path, got, want)
		}
	})
}

// TestPageKeyChecksParts: the page key, checked part by part as it is
// built, is digested exactly when the plain rule digests it: whatever part
// holds a byte a store may refuse (the config's prefix, the record's nonce,
// the host, the target, a forwarded header, a Vary value) or makes it too
// long.
func TestPageKeyChecksParts(t *testing.T) {
	type tc struct {
		name, prefix, nonce, host, uri string
		hdr                            []string
	}
	long := "/" + strings.Repeat("p", 90)
	for _, c := range []tc{
		{name: "plain", host: "example.com", uri: "/blog?page=2"},
		{name: "upper host", host: "Example.COM", uri: "/blog"},
		{name: "prefix digest mark", prefix: "#p", host: "h", uri: "/"},
		{name: "prefix plain", prefix: "site1", host: "h", uri: "/"},
		{name: "nonce", nonce: "0123456789abcd\x01f", host: "h", uri: "/"},
		{name: "host byte", host: "h\x7fx", uri: "/"},
		{name: "uri byte", host: "h", uri: "/a\x80b"},
		{name: "uri long", host: "h", uri: long},
		{name: "uri near long", host: "h", uri: long[:40]},
		{name: "forwarded space", host: "h", uri: "/", hdr: []string{"X-Forwarded-Host", "a b"}},
		{name: "forwarded plain", host: "h", uri: "/", hdr: []string{"X-Forwarded-Prefix", "/app"}},
		{name: "vary space", host: "h", uri: "/", hdr: []string{"Accept-Language", "en, fr"}},
		{name: "vary plain", host: "h", uri: "/", hdr: []string{"Accept-Language", "en"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := newMiddleware(configDefault(Config{Cache: newCache(t), KeyPrefix: c.prefix}), false)
			nonce := c.nonce
			if nonce == "" {
				nonce = "0123456789abcdef"
			}
			rec := &record{nonce: []byte(nonce), vary: []byte("Accept-Language")}
			fctx := &fasthttp.RequestCtx{}
			fctx.Request.Header.SetHost(c.host)
			fctx.Request.SetRequestURI(c.uri)
			for i := 0; i+1 < len(c.hdr); i += 2 {
				fctx.Request.Header.Add(c.hdr[i], c.hdr[i+1])
			}
			app := fiber.New()
			ctx := app.AcquireCtx(fctx)
			defer app.ReleaseCtx(ctx)
			var r request
			r.scan(ctx, m, rec)
			got := r.appendPageKey(nil, ctx, m, rec)
			// The same parts, laid out plainly: keys.Safe would see the
			// same tail, so the key the plain rule keeps or digests.
			m2 := newMiddleware(configDefault(Config{Cache: m.cache, KeyPrefix: c.prefix}), false)
			m2.prefixSafe = false // every key digested: the digest of the plain layout
			plainTail := r.appendPageKey(nil, ctx, m2, rec)
			if !bytes.Equal(plainTail[:4+pathTagLen], got[:4+pathTagLen]) {
				t.Fatalf("tags differ: %q %q", got, plainTail)
			}
			tail := plainLayout(t, &r, ctx, m, rec)
			if want := plainOrDigest(tail); !bytes.Equal(got, want) {
				t.Errorf("key %q, want %q", got, want)
			}
			if !bytes.Equal(plainTail, keys.AppendDigest(append([]byte(nil), got[:4+pathTagLen]...), tail[4+pathTagLen:])) {
				t.Errorf("digested key %q is not the digest of the plain layout %q", plainTail, tail)
			}
		})
	}
}

// plainLayout is the page key before any digest: its parts appended one
// after the other, as appendPageKey describes them.
func plainLayout(t *testing.T, r *request, c *fiber.Ctx, m *middleware, rec *record) []byte {
	t.Helper()
	k := append([]byte("fcp:"), appendPathTag(nil, c.Path())...)
	k = append(k, m.cfg.KeyPrefix...)
	k = append(k, '|')
	k = append(k, rec.nonce...)
	k = append(k, '|', 'G', byte('0'+min(r.depth, 9)), 'h')
	k = appendLenField(k, bytes.ToLower(r.host))
	raw := c.Request().Header.RequestURI()
	k = appendLenField(k, raw)
	rawPath, _, _ := bytes.Cut(raw, []byte("?"))
	if po := c.Request().URI().PathOriginal(); !bytes.Equal(po, rawPath) {
		k = append(k, 'r')
		k = appendLenField(k, po)
		k = appendLenField(k, c.Request().URI().QueryString())
	}
	for i := range fwdHeaders {
		if r.fwdSeen&(1<<i) != 0 {
			k = append(k, byte('A'+i))
			k = appendLenField(k, r.fwd[i])
		}
	}
	k = append(k, '|')
	return r.appendVaryValues(k)
}

// TestLowerASCIIWords: lowerASCII, eight bytes at a time, lowers exactly
// the bytes 'A' to 'Z', whatever surrounds them (every byte value, at every
// place of words and tails).
func TestLowerASCIIWords(t *testing.T) {
	for n := 1; n <= 19; n++ {
		for pos := 0; pos < n; pos++ {
			for v := 0; v < 256; v++ {
				for _, fill := range []byte{'a', 'Z', 0x80, '@', '['} {
					b := bytes.Repeat([]byte{fill}, n)
					b[pos] = byte(v)
					want := append([]byte(nil), b...)
					lowerBytes(want)
					lowerASCII(b)
					if !bytes.Equal(b, want) {
						t.Fatalf("n %d, byte %#x at %d in %q: %q, want %q", n, v, pos, fill, b, want)
					}
				}
			}
		}
	}
}

// FuzzLowerASCII: lowerASCII is lowerBytes.
func FuzzLowerASCII(f *testing.F) {
	f.Add([]byte("Example.COM:8080"))
	f.Add([]byte("\xc3\x89COLE/Path"))
	f.Fuzz(func(t *testing.T, b []byte) {
		want := append([]byte(nil), b...)
		lowerBytes(want)
		lowerASCII(b)
		if !bytes.Equal(b, want) {
			t.Fatalf("%q, want %q", b, want)
		}
	})
}
