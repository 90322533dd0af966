package prom_test

import (
	"fmt"
	"io"
	"net/http/httptest"
	"strings"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/dashboard"
	"github.com/cachekit/cachekit/dashboard/prom"
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Register the collector and serve /metrics from the Fiber app.
func Example() {
	rec := dashboard.NewRecorder()
	cache := cachekit.New(cachekit.Config{Observe: rec.Observe})
	defer cache.Close()

	reg := prometheus.NewRegistry() // or prometheus.MustRegister(...) on the default one
	reg.MustRegister(prom.New(prom.Config{Cache: cache, Recorder: rec}))

	app := fiber.New()
	app.Get("/metrics", adaptor.HTTPHandler(promhttp.HandlerFor(reg, promhttp.HandlerOpts{})))

	cache.Set("greeting", []byte("hello"), cachekit.NoExpiry)
	cache.Get("greeting")
	res, _ := app.Test(httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(res.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "cachekit_hits_total") || strings.HasPrefix(line, "cachekit_stores_total") {
			fmt.Println(line)
		}
	}
	// Output:
	// cachekit_hits_total 1
	// cachekit_stores_total 1
}
