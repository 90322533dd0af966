package prom_test

import (
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/dashboard"
	"github.com/cachekit/cachekit/dashboard/prom"
	"github.com/cachekit/cachekit/fibercache"
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func newApp(t testing.TB) (*fiber.App, *cachekit.Cache, *cachekit.Memory, *dashboard.Recorder) {
	mem, err := cachekit.NewMemory(cachekit.MemoryConfig{MaxBytes: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	rec := dashboard.NewRecorder()
	cache := cachekit.New(cachekit.Config{Storage: mem, Observe: rec.Observe})
	t.Cleanup(func() { cache.Close() })
	app := fiber.New()
	app.Use(rec.Handler())
	app.Use(fibercache.New(fibercache.Config{Cache: cache, TTL: time.Minute}))
	app.Get("/c/:slug", func(c *fiber.Ctx) error { return c.SendString(c.Params("slug")) })
	return app, cache, mem, rec
}

func get(t testing.TB, app *fiber.App, target string, header ...string) string {
	req := httptest.NewRequest("GET", target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return string(b)
}

func TestCollector(t *testing.T) {
	app, cache, mem, rec := newApp(t)
	for i := 0; i < 4; i++ {
		get(t, app, "/c/lamps")
	}
	get(t, app, "/c/lamps", "Cookie", "session=1")
	rec.Observe("fragment:sidebar:ab", cachekit.Hit)
	rec.Observe("fragment:sidebar:ab", cachekit.Miss)
	rec.Observe("gorm:Product:products:pk:i7", cachekit.Hit)
	cache.InvalidateTags("catalog")

	c := prom.New(prom.Config{Cache: cache, Recorder: rec, ConstLabels: prometheus.Labels{"cache": "pages"}})
	if problems, err := testutil.CollectAndLint(c); err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %v", problems, err)
	}
	st, ms := cache.Stats(), mem.Stats()
	want := fmt.Sprintf(`
# HELP cachekit_hits_total Lookups answered with a fresh value.
# TYPE cachekit_hits_total counter
cachekit_hits_total{cache="pages"} %d
# HELP cachekit_misses_total Lookups that found nothing usable.
# TYPE cachekit_misses_total counter
cachekit_misses_total{cache="pages"} %d
# HELP cachekit_invalidations_total Tag generations bumped.
# TYPE cachekit_invalidations_total counter
cachekit_invalidations_total{cache="pages"} 1
# HELP cachekit_circuit_open 1 while the storage circuit is open, else 0.
# TYPE cachekit_circuit_open gauge
cachekit_circuit_open{cache="pages"} 0
# HELP cachekit_memory_max_bytes The embedded store's bound in bytes.
# TYPE cachekit_memory_max_bytes gauge
cachekit_memory_max_bytes{cache="pages"} %d
# HELP cachekit_memory_entries Entries held by the embedded store.
# TYPE cachekit_memory_entries gauge
cachekit_memory_entries{cache="pages"} %d
# HELP cachekit_route_responses_total Responses the page cache handled, per route pattern and outcome (hit, stale, miss, bypass).
# TYPE cachekit_route_responses_total counter
cachekit_route_responses_total{cache="pages",outcome="bypass",route="GET /c/:slug"} 1
cachekit_route_responses_total{cache="pages",outcome="hit",route="GET /c/:slug"} 3
cachekit_route_responses_total{cache="pages",outcome="miss",route="GET /c/:slug"} 1
cachekit_route_responses_total{cache="pages",outcome="stale",route="GET /c/:slug"} 0
# HELP cachekit_fragment_lookups_total {{cache}} block lookups, per block name and outcome (hit, stale, miss).
# TYPE cachekit_fragment_lookups_total counter
cachekit_fragment_lookups_total{cache="pages",fragment="sidebar",outcome="hit"} 1
cachekit_fragment_lookups_total{cache="pages",fragment="sidebar",outcome="miss"} 1
cachekit_fragment_lookups_total{cache="pages",fragment="sidebar",outcome="stale"} 0
# HELP cachekit_model_lookups_total GORM model cache (gormcache) lookups, per model and outcome (hit, stale, miss).
# TYPE cachekit_model_lookups_total counter
cachekit_model_lookups_total{cache="pages",model="Product",outcome="hit"} 1
cachekit_model_lookups_total{cache="pages",model="Product",outcome="miss"} 0
cachekit_model_lookups_total{cache="pages",model="Product",outcome="stale"} 0
# HELP cachekit_bypass_responses_total Responses the page cache bypassed, per reason.
# TYPE cachekit_bypass_responses_total counter
cachekit_bypass_responses_total{cache="pages",reason="credentials"} 1
`, st.Hits, st.Misses, ms.MaxBytes, ms.Entries)
	if st.Hits == 0 || ms.Entries == 0 {
		t.Fatalf("no traffic reached the cache: %+v %+v", st, ms)
	}
	if err := testutil.CollectAndCompare(c, strings.NewReader(want),
		"cachekit_hits_total", "cachekit_misses_total", "cachekit_invalidations_total", "cachekit_circuit_open",
		"cachekit_memory_max_bytes", "cachekit_memory_entries", "cachekit_route_responses_total",
		"cachekit_fragment_lookups_total", "cachekit_model_lookups_total", "cachekit_bypass_responses_total"); err != nil {
		t.Fatal(err)
	}
	// Every figure the issue names is there.
	n := testutil.CollectAndCount(c)
	for _, name := range []string{"hits", "misses", "stale", "coalesced", "stores", "invalidations", "errors", "timeouts", "memory_evictions", "memory_bytes", "circuit_open"} {
		full := "cachekit_" + name
		if name != "memory_bytes" && name != "circuit_open" {
			full += "_total"
		}
		if testutil.CollectAndCount(c, full) != 1 {
			t.Errorf("no %s", full)
		}
	}
	if n < 20 {
		t.Errorf("%d metrics", n)
	}
}

// The collector registers in one line, and a Fiber app serves it through
// the adaptor middleware.
func TestServeMetrics(t *testing.T) {
	app, cache, _, rec := newApp(t)
	reg := prometheus.NewRegistry()
	reg.MustRegister(prom.New(prom.Config{Cache: cache, Recorder: rec}))
	app.Get("/metrics", adaptor.HTTPHandler(promhttp.HandlerFor(reg, promhttp.HandlerOpts{})))
	get(t, app, "/c/a")
	get(t, app, "/c/a")
	body := get(t, app, "/metrics")
	for _, line := range []string{
		`cachekit_route_responses_total{outcome="hit",route="GET /c/:slug"} 1`,
		`cachekit_memory_max_bytes 4.194304e+06`,
		"# TYPE cachekit_stores_total counter",
	} {
		if !strings.Contains(body, line) {
			t.Fatalf("no %q in\n%s", line, body)
		}
	}
	// The scrape itself went through the site-wide cache as a page: a
	// real app puts /metrics in fibercache's Next. Here it is one more miss.
}

// Without a Recorder or a Memory the collector exports the core's counters
// only.
func TestCoreOnly(t *testing.T) {
	cache := cachekit.New(cachekit.Config{Storage: cachekit.NewDummy()})
	defer cache.Close()
	c := prom.New(prom.Config{Cache: cache})
	if n := testutil.CollectAndCount(c); n != 15 {
		t.Fatalf("%d metrics", n)
	}
	if testutil.CollectAndCount(c, "cachekit_route_responses_total") != 0 {
		t.Fatal("route metrics without a Recorder")
	}
}
