package dashboard_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/dashboard"
	"github.com/cachekit/cachekit/fibercache"
	"github.com/gofiber/fiber/v2"
)

const token = "s3cret-token"

// shop is a small app as a user would write it: a Recorder in front of a
// site-wide page cache, a few routes (one with its own Page cache), and
// the dashboard at /_cache.
type shop struct {
	app   *fiber.App
	cache *cachekit.Cache
	mem   *cachekit.Memory
	rec   *dashboard.Recorder
}

func newShop(t testing.TB, rcfg dashboard.RecorderConfig, dcfg dashboard.Config) *shop {
	t.Helper()
	mem, err := cachekit.NewMemory(cachekit.MemoryConfig{MaxBytes: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	rec := dashboard.NewRecorder(rcfg)
	cache := cachekit.New(cachekit.Config{Storage: mem, Observe: rec.Observe})
	t.Cleanup(func() { cache.Close() })
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Use(rec.Handler())
	app.Use(fibercache.New(fibercache.Config{
		Cache: cache,
		TTL:   time.Minute,
		Next:  func(c *fiber.Ctx) bool { return strings.HasPrefix(c.Path(), "/_cache") },
	}))
	app.Get("/", func(c *fiber.Ctx) error {
		fibercache.Tag(c, "catalog")
		return c.SendString("home")
	})
	app.Get("/c/:slug", func(c *fiber.Ctx) error {
		fibercache.Tag(c, "catalog")
		return c.SendString("category " + c.Params("slug"))
	})
	app.Get("/p/:id<int>", fibercache.Page(10*time.Minute, fibercache.Config{Cache: cache}), func(c *fiber.Ctx) error {
		return c.SendString("product " + c.Params("id"))
	})
	app.Group("/api").Get("/items/:id", func(c *fiber.Ctx) error {
		return c.JSON(fiber.Map{"id": c.Params("id")})
	})
	// Responses the cache will not store, each for its own reason.
	app.Get("/cookie", func(c *fiber.Ctx) error {
		c.Cookie(&fiber.Cookie{Name: "k", Value: "v"})
		return c.SendString("cookie")
	})
	app.Get("/private", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderCacheControl, "private")
		return c.SendString("private")
	})
	app.Get("/gone", func(c *fiber.Ctx) error { return c.Status(410).SendString("gone") })
	app.Post("/cart", func(c *fiber.Ctx) error { return c.SendString("added") })

	dcfg.Cache, dcfg.Memory, dcfg.Recorder = cache, mem, rec
	h := dashboard.New(dcfg)
	app.Get("/_cache", h)
	app.Post("/_cache", h)
	return &shop{app: app, cache: cache, mem: mem, rec: rec}
}

type response struct {
	status int
	header http.Header
	body   string
}

func (s *shop) do(t testing.TB, req *http.Request) response {
	t.Helper()
	res, err := s.app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{res.StatusCode, res.Header, string(b)}
}

func (s *shop) get(t testing.TB, target string, header ...string) response {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return s.do(t, req)
}

func (s *shop) post(t testing.TB, target string, form url.Values, header ...string) response {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return s.do(t, req)
}

var nonceRE = regexp.MustCompile(`name="nonce" value="([^"]+)"`)

// nonce reads a form nonce from the dashboard page.
func (s *shop) nonce(t testing.TB) string {
	t.Helper()
	r := s.get(t, "/_cache")
	m := nonceRE.FindStringSubmatch(r.body)
	if m == nil {
		t.Fatalf("no nonce on the page (%d)", r.status)
	}
	return m[1]
}

func wantX(t testing.TB, r response, x string) {
	t.Helper()
	if got := r.header.Get("X-Cache"); got != x {
		t.Fatalf("X-Cache %q, want %q (Cache-Status %q)", got, x, r.header.Get("Cache-Status"))
	}
}
