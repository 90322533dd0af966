package fibercache

import (
	"compress/gzip"
	"io"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/compress"
)

func gunzip(t *testing.T, s string) string {
	t.Helper()
	zr, err := gzip.NewReader(strings.NewReader(s))
	if err != nil {
		t.Fatalf("not gzip: %v", err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var bigPage = strings.Repeat("<p>a paragraph of html that compresses well</p>\n", 60)

func TestCompressOutside(t *testing.T) {
	cache := newCache(t)
	app := newApp()
	app.Use(compress.New())
	app.Use(New(Config{Cache: cache}))
	var runs atomic.Int64
	app.Get("/", func(c *fiber.Ctx) error {
		runs.Add(1)
		c.Type("html")
		return c.SendString(bigPage)
	})
	r := get(t, app, "/", "Accept-Encoding", "gzip")
	expect(t, "gzip miss", r.header.Get("Content-Encoding"), "gzip")
	expect(t, "gzip miss body", gunzip(t, r.body), bigPage)
	r = get(t, app, "/", "Accept-Encoding", "gzip")
	expect(t, "gzip hit", r.xcache(), "HIT")
	expect(t, "gzip hit encoding", r.header.Get("Content-Encoding"), "gzip")
	expect(t, "gzip hit body", gunzip(t, r.body), bigPage)
	r = get(t, app, "/")
	expect(t, "identity hit (stored uncompressed)", r.xcache(), "HIT")
	expect(t, "identity encoding", r.header.Get("Content-Encoding"), "")
	expect(t, "identity body", r.body, bigPage)
	expect(t, "runs", runs.Load(), int64(1))
}

func TestCompressInside(t *testing.T) {
	cache := newCache(t)
	app := newApp()
	app.Use(New(Config{Cache: cache}))
	app.Use(compress.New())
	var runs atomic.Int64
	app.Get("/", func(c *fiber.Ctx) error {
		runs.Add(1)
		c.Type("html")
		return c.SendString(bigPage)
	})
	r := get(t, app, "/", "Accept-Encoding", "gzip")
	expect(t, "gzip miss encoding", r.header.Get("Content-Encoding"), "gzip")
	expect(t, "gzip miss stored", r.cacheStatus(), "cachekit; fwd=uri-miss; stored")
	r = get(t, app, "/", "Accept-Encoding", "GZIP")
	expect(t, "gzip hit", r.xcache(), "HIT")
	expect(t, "gzip hit body", gunzip(t, r.body), bigPage)
	expect(t, "Vary replayed", r.header.Get("Vary"), "Accept-Encoding")

	r = get(t, app, "/")
	expect(t, "a client without gzip is not served the gzip entry", r.xcache(), "MISS")
	expect(t, "identity encoding", r.header.Get("Content-Encoding"), "")
	expect(t, "identity body", r.body, bigPage)
	r = get(t, app, "/")
	expect(t, "identity hit", r.xcache(), "HIT")
	expect(t, "identity hit body", r.body, bigPage)
	expect(t, "identity hit encoding", r.header.Get("Content-Encoding"), "")

	r = get(t, app, "/", "Accept-Encoding", "gzip;q=0, deflate")
	if r.header.Get("Content-Encoding") == "gzip" {
		t.Errorf("a client refusing gzip got gzip")
	}
	r = get(t, app, "/", "Accept-Encoding", "br")
	expect(t, "br miss", r.xcache(), "MISS")
	expect(t, "br encoding", r.header.Get("Content-Encoding"), "br")
	expect(t, "runs", runs.Load(), int64(4))
}

// TestCompressedBodyNeverReachesAClientThatCannotReadIt: with compress
// inside the cache, the stored body is encoded; a client without that
// encoding must get its own.
func TestAcceptEncodingClasses(t *testing.T) {
	a := func(v string) string {
		var c aeClass
		c.add([]byte(v))
		return string(c.appendClass(nil))
	}
	for in, want := range map[string]string{
		"":                          "e",
		"gzip":                      "eg",
		"gzip, deflate, br, zstd":   "ebgdz",
		"GZIP;q=0.5, br;q=0":        "eg",
		"*":                         "ebgdz",
		"*, gzip;q=0":               "ebdz",
		"identity":                  "e",
		"x-gzip":                    "eg",
		"gzip;q=0.000":              "e",
		"br;q=0.001":                "eb",
		" gzip ; q=0 , deflate":     "ed",
		"compress, gzip;level=1":    "eg",
		"br,gzip;q=1.0":             "ebg",
		"*;q=0":                     "e",
		"gzip, gzip;q=0":            "e",
		"deflate;q=0, *;q=0.5, zzz": "ebgz",
	} {
		if got := a(in); got != want {
			t.Errorf("class(%q) = %q, want %q", in, got, want)
		}
	}
}
