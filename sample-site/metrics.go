package main

import (
	"strings"

	"github.com/cachekit/cachekit/dashboard"
	"github.com/cachekit/cachekit/dashboard/prom"
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// The site's monitoring, as any cachekit user sets it up: a Recorder in
// front of the page cache (per-route outcomes) whose Observe the core calls
// (per-fragment outcomes), the dashboard at /_cache and Prometheus metrics
// at /metrics.

// uncached says which paths the page cache leaves alone: the dashboard and
// the metrics are never pages to store.
func uncached(c *fiber.Ctx) bool {
	p := c.Path()
	return strings.HasPrefix(p, "/_cache") || p == "/metrics"
}

// monitoring mounts /_cache (GET draws it, POST runs its invalidate forms,
// guarded by the admin token; without one, in -dev, it is read-only) and
// /metrics.
func (s *site) monitoring(app *fiber.App) {
	h := dashboard.New(dashboard.Config{
		Cache:    s.cache,
		Memory:   s.memory,
		Recorder: s.metrics,
		Token:    s.cfg.AdminToken,
		Title:    "Cache: " + s.describe(),
	})
	app.Get("/_cache", h)
	app.Post("/_cache", h)

	reg := prometheus.NewRegistry() // per site: tests run several
	reg.MustRegister(prom.New(prom.Config{Cache: s.cache, Memory: s.memory, Recorder: s.metrics}))
	app.Get("/metrics", adaptor.HTTPHandler(promhttp.HandlerFor(reg, promhttp.HandlerOpts{})))
}
