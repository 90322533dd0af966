package dashboard

import (
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/gofiber/fiber/v2"
)

// The path memo stays within its bound however many paths are seen.
func TestPathMemoBounded(t *testing.T) {
	rec := NewRecorder(RecorderConfig{MaxNames: 10})
	app := fiber.New()
	app.Use(rec.Handler())
	app.Use(func(c *fiber.Ctx) error {
		if strings.HasPrefix(c.Path(), "/hit/") { // answer as a site-wide cache hit would
			c.Set("X-Cache", "HIT")
			return nil
		}
		err := c.Next()
		c.Set("X-Cache", "MISS")
		return err
	})
	app.Get("/p/:id", func(c *fiber.Ctx) error { return c.SendString("p") })
	app.Get("/hit/:id", func(c *fiber.Ctx) error { return c.SendString("never reached") })
	for i := 0; i < 1000; i++ {
		for _, p := range []string{"/p/", "/hit/", "/none/"} {
			res, err := app.Test(httptest.NewRequest("GET", p+strconv.Itoa(i), nil))
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
		}
	}
	rec.resolve.mu.RLock()
	n := len(rec.resolve.paths)
	rec.resolve.mu.RUnlock()
	if n > rec.resolve.max {
		t.Fatalf("%d paths remembered, bound %d", n, rec.resolve.max)
	}
	r := rec.Routes()
	if r["GET /p/:id"].Miss != 1000 || r["GET /hit/:id"].Hit != 1000 || r[Other].Miss != 1000 || len(r) != 3 {
		t.Fatalf("routes %v", r)
	}
}

func TestNonceExpires(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	cache := cachekit.New(cachekit.Config{Storage: cachekit.NewDummy()})
	defer cache.Close()
	d := &board{cfg: configDefault(Config{Cache: cache, Token: "t"}), key: []byte("k"), now: func() time.Time { return now }}
	n := d.nonce()
	if !d.validNonce(n) {
		t.Fatal("a fresh nonce is refused")
	}
	now = now.Add(nonceTTL + time.Second)
	if d.validNonce(n) {
		t.Fatal("an expired nonce is accepted")
	}
	now = now.Add(-2 * nonceTTL)
	if d.validNonce(n) {
		t.Fatal("a nonce from the future is accepted")
	}
	for _, bad := range []string{"", ".", "x.y", strings.Replace(n, ".", ".0", 1)} {
		if d.validNonce(bad) {
			t.Fatalf("%q accepted", bad)
		}
	}
}

func TestNiceCeil(t *testing.T) {
	for v, want := range map[float64]float64{0: 1, 1: 1, 1.5: 2, 3: 5, 7: 10, 10: 10, 11: 20, 240: 500, 999: 1000} {
		if got := niceCeil(v); got != want {
			t.Errorf("niceCeil(%v) = %v, want %v", v, got, want)
		}
	}
}

// Recording, sampling and drawing the page run concurrently (go test -race).
func TestConcurrent(t *testing.T) {
	rec := NewRecorder(RecorderConfig{Interval: time.Millisecond, History: 50})
	cache := cachekit.New(cachekit.Config{Observe: rec.Observe})
	defer cache.Close()
	app := fiber.New()
	app.Use(rec.Handler())
	app.Get("/r/:n", func(c *fiber.Ctx) error {
		c.Set("X-Cache", []string{"HIT", "MISS", "BYPASS", "STALE"}[len(c.Params("n"))%4])
		c.Set("Cache-Status", "cachekit; fwd=bypass; detail="+[]string{"credentials", "method", "x"}[len(c.Params("n"))%3])
		cache.Get("fragment:f" + c.Params("n")[:1] + ":h")
		return nil
	})
	h := New(Config{Cache: cache, Recorder: rec, Token: "t"})
	app.Get("/_cache", h)
	app.Post("/_cache", h)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 150; i++ {
				target := "/r/" + strings.Repeat("n", 1+i%7)
				if i%25 == 0 {
					target = "/_cache"
				}
				res, err := app.Test(httptest.NewRequest("GET", target, nil), -1)
				if err != nil {
					t.Error(err)
					return
				}
				res.Body.Close()
			}
			req := httptest.NewRequest("POST", "/_cache", strings.NewReader(url.Values{"action": {"tag"}, "tag": {"x"}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if res, err := app.Test(req, -1); err != nil || res.StatusCode != 403 {
				t.Errorf("POST: %v %v", res.StatusCode, err)
			}
		}()
	}
	wg.Wait()
	if got := rec.Routes()["GET /r/:n"].Served(); got != 4*(150-6) {
		t.Fatalf("%d counted", got)
	}
}
