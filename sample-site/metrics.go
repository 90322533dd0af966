package main

import (
	"fmt"
	"html/template"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/gofiber/fiber/v2"
)

// metrics counts what the caches do, per route (from the X-Cache header
// fibercache sets) and per fragment (from the core's Observe hook), and keeps
// a short history for the /_cache charts.
type metrics struct {
	routes    sync.Map // route pattern -> *outcomes
	fragments sync.Map // fragment name -> *outcomes
	bypass    sync.Map // Cache-Status detail -> *atomic.Uint64

	mu      sync.Mutex
	history []snapshot // oldest first, at most historyLen
	done    chan struct{}
	wg      sync.WaitGroup
}

const (
	historyLen   = 60
	historyEvery = 5 * time.Second
)

type outcomes struct{ hit, stale, miss, bypass atomic.Uint64 }

type counts struct{ Hit, Stale, Miss, Bypass uint64 }

func (o *outcomes) load() counts {
	return counts{o.hit.Load(), o.stale.Load(), o.miss.Load(), o.bypass.Load()}
}

// Served is every answer counted.
func (c counts) Served() uint64 { return c.Hit + c.Stale + c.Miss + c.Bypass }

// Ratio is the share of answers that came from the cache.
func (c counts) Ratio() float64 {
	if c.Served() == 0 {
		return 0
	}
	return float64(c.Hit+c.Stale) / float64(c.Served())
}

// Percent is Ratio as text, e.g. "87%".
func (c counts) Percent() string { return fmt.Sprintf("%.0f%%", c.Ratio()*100) }

type snapshot struct {
	at        time.Time
	routes    map[string]counts
	fragments map[string]counts
}

func newMetrics() *metrics { return &metrics{done: make(chan struct{})} }

func get(m *sync.Map, name string) *outcomes {
	if o, ok := m.Load(name); ok {
		return o.(*outcomes)
	}
	o, _ := m.LoadOrStore(name, new(outcomes))
	return o.(*outcomes)
}

// middleware records each response's X-Cache under its route.
func (m *metrics) middleware(c *fiber.Ctx) error {
	err := c.Next()
	xc := c.GetRespHeader("X-Cache")
	if xc == "" {
		return err
	}
	o := get(&m.routes, c.Method()+" "+c.Route().Path)
	switch xc {
	case "HIT":
		o.hit.Add(1)
	case "STALE":
		o.stale.Add(1)
	case "MISS":
		o.miss.Add(1)
	default:
		o.bypass.Add(1)
		reason := "bypass"
		cs := c.GetRespHeader("Cache-Status")
		for _, param := range []string{"detail=", "fwd="} {
			if i := strings.Index(cs, param); i >= 0 {
				reason = strings.Trim(strings.SplitN(cs[i:], ";", 2)[0], `" `)
				break
			}
		}
		n, _ := m.bypass.LoadOrStore(reason, new(atomic.Uint64))
		n.(*atomic.Uint64).Add(1)
	}
	return err
}

// observe is the core's hook: fragment keys are "fragment:<name>:<hash>".
func (m *metrics) observe(key string, s cachekit.Status) {
	rest, ok := strings.CutPrefix(key, "fragment:")
	if !ok {
		return
	}
	if i := strings.LastIndexByte(rest, ':'); i >= 0 {
		rest = rest[:i]
	}
	o := get(&m.fragments, rest)
	switch s {
	case cachekit.Hit:
		o.hit.Add(1)
	case cachekit.Stale:
		o.stale.Add(1)
	default:
		o.miss.Add(1)
	}
}

func collect(m *sync.Map) map[string]counts {
	out := map[string]counts{}
	m.Range(func(k, v any) bool {
		out[k.(string)] = v.(*outcomes).load()
		return true
	})
	return out
}

func (m *metrics) snap() {
	s := snapshot{at: time.Now(), routes: collect(&m.routes), fragments: collect(&m.fragments)}
	m.mu.Lock()
	m.history = append(m.history, s)
	if len(m.history) > historyLen {
		m.history = m.history[len(m.history)-historyLen:]
	}
	m.mu.Unlock()
}

func (m *metrics) start(*cachekit.Cache, *cachekit.Memory) {
	m.snap()
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		t := time.NewTicker(historyEvery)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				m.snap()
			case <-m.done:
				return
			}
		}
	}()
}

func (m *metrics) stop() {
	select {
	case <-m.done:
	default:
		close(m.done)
		m.wg.Wait()
	}
}

// row is one line of a dashboard table: totals and a chart of the hit
// ratio over the last few minutes.
type row struct {
	Name   string
	Counts counts
	Chart  template.HTML
}

// rows builds the table for one family (routes or fragments).
func (m *metrics) rows(now map[string]counts, pick func(snapshot) map[string]counts) []row {
	m.mu.Lock()
	hist := append([]snapshot(nil), m.history...)
	m.mu.Unlock()
	hist = append(hist, snapshot{at: time.Now(), routes: now, fragments: now})
	var out []row
	for name, c := range now {
		var ratios []float64
		for i := 1; i < len(hist); i++ {
			prev := pick(hist[i-1])[name]
			cur := now[name]
			if i < len(hist)-1 {
				cur = pick(hist[i])[name]
			}
			d := counts{cur.Hit - prev.Hit, cur.Stale - prev.Stale, cur.Miss - prev.Miss, cur.Bypass - prev.Bypass}
			if d.Served() == 0 {
				ratios = append(ratios, -1) // no traffic in that interval
				continue
			}
			ratios = append(ratios, d.Ratio())
		}
		out = append(out, row{Name: name, Counts: c, Chart: sparkline(ratios)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Counts.Served() > out[j].Counts.Served() })
	return out
}

// sparkline draws hit ratios (0..1, -1 for no traffic) as an inline SVG.
func sparkline(ratios []float64) template.HTML {
	const w, h = 240.0, 48.0
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="spark" viewBox="0 0 %.0f %.0f" width="%.0f" height="%.0f" role="img" aria-label="hit ratio over time">`, w, h, w, h)
	fmt.Fprintf(&b, `<line x1="0" y1="%.1f" x2="%.0f" y2="%.1f" class="axis"/>`, h-1, w, h-1)
	n := historyLen
	step := w / float64(n)
	var pts []string
	flush := func() {
		if len(pts) > 0 {
			fmt.Fprintf(&b, `<polyline points="%s"/>`, strings.Join(pts, " "))
			pts = pts[:0]
		}
	}
	offset := n - len(ratios)
	for i, r := range ratios {
		if r < 0 {
			flush()
			continue
		}
		x := float64(offset+i) * step
		y := h - 2 - r*(h-4)
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, y))
		fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="2"/>`, x, y)
	}
	flush()
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // built from numbers only
}

type reason struct {
	Name  string
	Count uint64
}

func (m *metrics) reasons() []reason {
	var out []reason
	m.bypass.Range(func(k, v any) bool {
		out = append(out, reason{k.(string), v.(*atomic.Uint64).Load()})
		return true
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Count > out[j].Count })
	return out
}

// dashboard is /_cache.
func (s *site) dashboard(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	m := s.metrics
	stats, mem := s.cache.Stats(), s.memory.Stats()
	data := fiber.Map{
		"Stats":      stats,
		"HitRatio":   fmt.Sprintf("%.0f%%", stats.HitRatio()*100),
		"Memory":     mem,
		"MemoryUsed": fmt.Sprintf("%d MiB", mem.Capacity>>20),
		"Routes":     m.rows(collect(&m.routes), func(s snapshot) map[string]counts { return s.routes }),
		"Fragments":  m.rows(collect(&m.fragments), func(s snapshot) map[string]counts { return s.fragments }),
		"Reasons":    m.reasons(),
		"NeedsToken": s.cfg.AdminToken != "",
		"Store":      s.describe(),
		"Every":      historyEvery,
	}
	return s.render(c, "pages/cache", "Cache", data)
}
