// Package prom is a Prometheus collector for a cachekit cache: the core's
// counters, the embedded store's size and evictions, and the dashboard
// Recorder's per-route, per-fragment, per-model and per-reason counts. Register it in
// one line:
//
//	prometheus.MustRegister(prom.New(prom.Config{Cache: cache, Recorder: rec}))
//
// It lives in a package of its own so that an app that mounts the
// dashboard page only does not link the Prometheus client.
package prom

import (
	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/dashboard"
	"github.com/prometheus/client_golang/prometheus"
)

// Config configures the collector.
type Config struct {
	// Cache is the cache whose counters are exported.
	//
	// Optional. Default: cachekit.Default()
	Cache *cachekit.Cache

	// Memory is the embedded store whose entries, bytes and evictions are
	// exported (the Local store in the two-level mode).
	//
	// Optional. Default: Cache.Storage() when it is a *cachekit.Memory,
	// else nil (no memory metrics)
	Memory *cachekit.Memory

	// Recorder supplies the per-route, per-fragment, per-model and
	// per-reason counters. Their label values are bounded by the Recorder:
	// route patterns, fragment names, model names, known reasons and
	// "other".
	//
	// Optional. Default: nil (no per-route, per-fragment or per-reason
	// metrics)
	Recorder *dashboard.Recorder

	// Namespace starts every metric name.
	//
	// Optional. Default: "cachekit"
	Namespace string

	// ConstLabels are added to every metric, e.g. {"cache": "pages"} when
	// a process exports several caches.
	//
	// Optional. Default: nil
	ConstLabels prometheus.Labels
}

// ConfigDefault is the default config.
var ConfigDefault = Config{Namespace: "cachekit"}

func configDefault(config ...Config) Config {
	cfg := ConfigDefault
	if len(config) > 0 {
		cfg = config[0]
	}
	if cfg.Cache == nil {
		cfg.Cache = cachekit.Default()
	}
	if cfg.Memory == nil {
		cfg.Memory, _ = cfg.Cache.Storage().(*cachekit.Memory)
	}
	if cfg.Namespace == "" {
		cfg.Namespace = ConfigDefault.Namespace
	}
	return cfg
}

type metric struct {
	desc *prometheus.Desc
	kind prometheus.ValueType
	read func(cachekit.Stats) float64
}

type collector struct {
	cfg    Config
	core   []metric
	mem    []metric
	memGet []func(cachekit.MemoryStats) float64

	route, fragment, model, bypass, unstored *prometheus.Desc
}

// New returns the collector. Collect reads the counters when Prometheus
// scrapes; nothing is kept in between.
func New(config ...Config) prometheus.Collector {
	cfg := configDefault(config...)
	c := &collector{cfg: cfg}
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(cfg.Namespace, "", name), help, labels, cfg.ConstLabels)
	}
	counter := func(name, help string, read func(cachekit.Stats) uint64) metric {
		return metric{desc(name, help), prometheus.CounterValue, func(s cachekit.Stats) float64 { return float64(read(s)) }}
	}
	c.core = []metric{
		counter("hits_total", "Lookups answered with a fresh value.", func(s cachekit.Stats) uint64 { return s.Hits }),
		counter("misses_total", "Lookups that found nothing usable.", func(s cachekit.Stats) uint64 { return s.Misses }),
		counter("stale_total", "Lookups answered with a stale value (while revalidating or on error).", func(s cachekit.Stats) uint64 { return s.Stale }),
		counter("coalesced_total", "Callers that waited for another caller's fill.", func(s cachekit.Stats) uint64 { return s.Coalesced }),
		counter("stores_total", "Entries written.", func(s cachekit.Stats) uint64 { return s.Stores }),
		counter("invalidations_total", "Tag generations bumped.", func(s cachekit.Stats) uint64 { return s.Invalidations }),
		counter("errors_total", "Storage errors (the request went on uncached).", func(s cachekit.Stats) uint64 { return s.Errors }),
		counter("corrupt_total", "Entries that failed to decode, read as misses.", func(s cachekit.Stats) uint64 { return s.Corrupt }),
		counter("refresh_errors_total", "Background refreshes whose fill failed.", func(s cachekit.Stats) uint64 { return s.RefreshErrors }),
		counter("race_skips_total", "Values not stored because a tag moved while they were computed.", func(s cachekit.Stats) uint64 { return s.RaceSkips }),
		counter("local_hits_total", "Two-level mode: entries read from the local store.", func(s cachekit.Stats) uint64 { return s.LocalHits }),
		counter("timeouts_total", "Storage calls abandoned after the configured timeout.", func(s cachekit.Stats) uint64 { return s.Timeouts }),
		counter("skipped_total", "Storage calls not made while the circuit was open.", func(s cachekit.Stats) uint64 { return s.Skipped }),
		counter("circuit_opens_total", "Times the storage circuit opened.", func(s cachekit.Stats) uint64 { return s.CircuitOpens }),
		{desc("circuit_open", "1 while the storage circuit is open, else 0."), prometheus.GaugeValue, func(s cachekit.Stats) float64 {
			if s.CircuitOpen {
				return 1
			}
			return 0
		}},
	}
	if cfg.Memory != nil {
		c.mem = []metric{
			{desc: desc("memory_entries", "Entries held by the embedded store."), kind: prometheus.GaugeValue},
			{desc: desc("memory_bytes", "Bytes the embedded store has allocated."), kind: prometheus.GaugeValue},
			{desc: desc("memory_max_bytes", "The embedded store's bound in bytes."), kind: prometheus.GaugeValue},
			{desc: desc("memory_evictions_total", "Entries the embedded store dropped to make room."), kind: prometheus.CounterValue},
			{desc: desc("memory_expired_total", "Entries the embedded store found expired on read."), kind: prometheus.CounterValue},
		}
		c.memGet = []func(cachekit.MemoryStats) float64{
			func(m cachekit.MemoryStats) float64 { return float64(m.Entries) },
			func(m cachekit.MemoryStats) float64 { return float64(m.Capacity) },
			func(m cachekit.MemoryStats) float64 { return float64(m.MaxBytes) },
			func(m cachekit.MemoryStats) float64 { return float64(m.Evictions) },
			func(m cachekit.MemoryStats) float64 { return float64(m.Expired) },
		}
	}
	if cfg.Recorder != nil {
		c.route = desc("route_responses_total", "Responses the page cache handled, per route pattern and outcome (hit, stale, miss, bypass).", "route", "outcome")
		c.fragment = desc("fragment_lookups_total", "{{cache}} block lookups, per block name and outcome (hit, stale, miss).", "fragment", "outcome")
		c.model = desc("model_lookups_total", "GORM model cache (gormcache) lookups, per model and outcome (hit, stale, miss).", "model", "outcome")
		c.bypass = desc("bypass_responses_total", "Responses the page cache bypassed, per reason.", "reason")
		c.unstored = desc("unstored_responses_total", "Responses that missed and were not stored, per reason.", "reason")
	}
	return c
}

// Describe sends every metric's description.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range c.core {
		ch <- m.desc
	}
	for _, m := range c.mem {
		ch <- m.desc
	}
	if c.cfg.Recorder != nil {
		ch <- c.route
		ch <- c.fragment
		ch <- c.model
		ch <- c.bypass
		ch <- c.unstored
	}
}

// Collect reads the counters.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	st := c.cfg.Cache.Stats()
	for _, m := range c.core {
		ch <- prometheus.MustNewConstMetric(m.desc, m.kind, m.read(st))
	}
	if c.cfg.Memory != nil {
		ms := c.cfg.Memory.Stats()
		for i, m := range c.mem {
			ch <- prometheus.MustNewConstMetric(m.desc, m.kind, c.memGet[i](ms))
		}
	}
	r := c.cfg.Recorder
	if r == nil {
		return
	}
	for name, n := range r.Routes() {
		outcomes(ch, c.route, name, n, true)
	}
	for name, n := range r.Fragments() {
		outcomes(ch, c.fragment, name, n, false)
	}
	for name, n := range r.Models() {
		outcomes(ch, c.model, name, n, false)
	}
	for reason, n := range r.Bypasses() {
		ch <- prometheus.MustNewConstMetric(c.bypass, prometheus.CounterValue, float64(n), reason)
	}
	for reason, n := range r.NotStored() {
		ch <- prometheus.MustNewConstMetric(c.unstored, prometheus.CounterValue, float64(n), reason)
	}
}

func outcomes(ch chan<- prometheus.Metric, d *prometheus.Desc, name string, n dashboard.Counts, bypass bool) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(n.Hit), name, "hit")
	ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(n.Stale), name, "stale")
	ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(n.Miss), name, "miss")
	if bypass {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(n.Bypass), name, "bypass")
	}
}
