package dashboard

import (
	"bytes"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/cachekit/cachekit"
	"github.com/gofiber/fiber/v2"
)

// Other is the name counts go under when a route, fragment or reason is not
// one the Recorder keeps apart: an unknown Cache-Status reason, a request
// no route matched, or a name past RecorderConfig.MaxNames.
const Other = "other"

// RecorderConfig configures a Recorder.
type RecorderConfig struct {
	// Next defines a function to skip recording a request when it returns
	// true.
	//
	// Optional. Default: nil
	Next func(c *fiber.Ctx) bool

	// Interval is the time between two points of the history the charts
	// draw.
	//
	// Optional. Default: 10 * time.Second
	Interval time.Duration

	// History is how many points the charts keep: they span
	// History * Interval.
	//
	// Optional. Default: 60 (ten minutes at the default Interval)
	History int

	// MaxNames bounds the distinct route patterns, and separately the
	// distinct fragment names, counted apart; the ones past it count under
	// "other". Route patterns and fragment names come from the app's code,
	// never from a request, so the bound is only a safety net.
	//
	// Optional. Default: 200
	MaxNames int

	// ModelPrefix is the gormcache Config.Prefix whose lookups Observe
	// counts per model ("gorm:<Model>:..." keys): the "Models" table.
	// Model names come from the app's types, bounded by MaxNames too.
	//
	// Optional. Default: "gorm" (gormcache's default)
	ModelPrefix string
}

// RecorderConfigDefault is the default config.
var RecorderConfigDefault = RecorderConfig{
	Next:        nil,
	Interval:    10 * time.Second,
	History:     60,
	MaxNames:    200,
	ModelPrefix: "gorm",
}

func recorderConfigDefault(config ...RecorderConfig) RecorderConfig {
	if len(config) < 1 {
		return RecorderConfigDefault
	}
	cfg := config[0]
	if cfg.Interval <= 0 {
		cfg.Interval = RecorderConfigDefault.Interval
	}
	if cfg.History <= 0 {
		cfg.History = RecorderConfigDefault.History
	}
	if cfg.MaxNames <= 0 {
		cfg.MaxNames = RecorderConfigDefault.MaxNames
	}
	if cfg.ModelPrefix == "" {
		cfg.ModelPrefix = RecorderConfigDefault.ModelPrefix
	}
	return cfg
}

// Counts are the outcomes counted for one route, fragment or model.
type Counts struct {
	Hit    uint64 // answered from the cache, fresh
	Stale  uint64 // answered from the cache, stale
	Miss   uint64 // rendered (and stored, when it could be)
	Bypass uint64 // the cache stepped aside (routes only)
}

// Served is every outcome counted.
func (c Counts) Served() uint64 { return c.Hit + c.Stale + c.Miss + c.Bypass }

// Ratio is the share of outcomes answered from the cache (Hit and Stale),
// or 0 when none was counted.
func (c Counts) Ratio() float64 {
	if c.Served() == 0 {
		return 0
	}
	return float64(c.Hit+c.Stale) / float64(c.Served())
}

func (c Counts) sub(o Counts) Counts {
	return Counts{c.Hit - o.Hit, c.Stale - o.Stale, c.Miss - o.Miss, c.Bypass - o.Bypass}
}

type outcome uint8

const (
	oHit outcome = iota
	oStale
	oMiss
	oBypass
)

type outcomes [4]atomic.Uint64

func (o *outcomes) load() Counts {
	return Counts{o[oHit].Load(), o[oStale].Load(), o[oMiss].Load(), o[oBypass].Load()}
}

// maxNameLen bounds one route pattern or fragment name; a longer one
// counts under Other.
const maxNameLen = 200

// family is a bounded set of named counters. Names are copied in: a key a
// caller built in a reused buffer never aliases a stored name.
type family struct {
	m     sync.Map // name -> *outcomes
	mu    sync.Mutex
	n     int
	max   int
	other outcomes
}

func (f *family) get(name string) *outcomes {
	if o, ok := f.m.Load(name); ok {
		return o.(*outcomes)
	}
	if name == Other || len(name) > maxNameLen || !utf8.ValidString(name) {
		return &f.other
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if o, ok := f.m.Load(name); ok {
		return o.(*outcomes)
	}
	if f.n >= f.max {
		return &f.other
	}
	o := new(outcomes)
	f.m.Store(strings.Clone(name), o)
	f.n++
	return o
}

func (f *family) snapshot() map[string]Counts {
	out := map[string]Counts{}
	f.m.Range(func(k, v any) bool {
		out[k.(string)] = v.(*outcomes).load()
		return true
	})
	if c := f.other.load(); c.Served() > 0 {
		out[Other] = c
	}
	return out
}

// The reasons fibercache gives in Cache-Status (the detail parameter, or
// the fwd parameter when there is none) for a response it did not store.
// Any other value counts under Other.
var knownReasons = []string{
	"body", "bypass", "collapsed-error", "credentials", "duplicate-header", "error", "expired",
	"head", "inner", "lock-timeout", "max-age-0", "method", "method-override", "mismatch",
	"no-cache", "no-store", "not-stored", "private", "record", "request", "set-cookie", "status",
	"stream", "too-large", "ttl-0", "uncacheable", "upgrade", "vary-star", "vary-too-many", "vary-unsettled",
}

// KnownReasons returns the reasons counted apart, in order: what
// fibercache's Cache-Status gives as the detail (or, for a bypass without
// one, the fwd parameter) of a response it did not store. Any other
// value counts under Other.
func KnownReasons() []string { return append([]string(nil), knownReasons...) }

var reasonIndex = func() map[string]int {
	m := make(map[string]int, len(knownReasons))
	for i, r := range knownReasons {
		m[r] = i
	}
	return m
}()

// reasonCounts counts per known reason, plus one slot for Other.
type reasonCounts []atomic.Uint64

func (rc reasonCounts) snapshot() map[string]uint64 {
	out := map[string]uint64{}
	for i := range rc {
		if n := rc[i].Load(); n > 0 {
			if i == len(knownReasons) {
				out[Other] = n
			} else {
				out[knownReasons[i]] = n
			}
		}
	}
	return out
}

// Recorder counts what the caches do: per route, from the X-Cache and
// Cache-Status headers fibercache sets (Handler), and per {{cache}}
// fragment, from the core's lookups (Observe). It keeps a short history for
// the dashboard's charts. Its memory is bounded whatever the traffic: routes
// are counted by pattern ("GET /c/:slug"), never by raw path, and reasons
// outside a fixed list count under Other. It is safe for concurrent use.
type Recorder struct {
	cfg       RecorderConfig
	routes    family
	fragments family
	models    family       // gormcache lookups, per model
	bypass    reasonCounts // BYPASS responses by reason
	unstored  reasonCounts // MISS responses not stored, by reason

	resolve     routeResolver
	hist        history
	modelPrefix string // "gorm:"

	cache  atomic.Pointer[cachekit.Cache]
	memory atomic.Pointer[cachekit.Memory]
}

// NewRecorder returns a Recorder. Mount its Handler in front of fibercache
// and pass its Observe to cachekit.Config:
//
//	rec := dashboard.NewRecorder()
//	cache := cachekit.New(cachekit.Config{Storage: mem, Observe: rec.Observe})
//	app.Use(rec.Handler())
//	app.Use(fibercache.New(fibercache.Config{Cache: cache}))
func NewRecorder(config ...RecorderConfig) *Recorder {
	cfg := recorderConfigDefault(config...)
	r := &Recorder{
		cfg:      cfg,
		bypass:   make(reasonCounts, len(knownReasons)+1),
		unstored: make(reasonCounts, len(knownReasons)+1),
	}
	r.routes.max = cfg.MaxNames
	r.fragments.max = cfg.MaxNames
	r.models.max = cfg.MaxNames
	r.modelPrefix = cfg.ModelPrefix + ":"
	r.resolve.max = 4 * cfg.MaxNames
	r.hist.init(cfg.Interval, cfg.History)
	return r
}

// watch makes the history sample c's and m's counters as well (the
// dashboard and the collector call it with their Config's Cache and
// Memory). The first Cache and Memory given stay.
func (r *Recorder) watch(c *cachekit.Cache, m *cachekit.Memory) {
	if c != nil {
		r.cache.CompareAndSwap(nil, c)
	}
	if m != nil {
		r.memory.CompareAndSwap(nil, m)
	}
}

// Handler returns the middleware that records each response's cache
// outcome under the route that served it. Mount it with app.Use in front of
// the page cache (fibercache.New or any Page route): it reads the headers
// after the rest of the chain ran, so a hit the site-wide cache answered
// counts under the route the request would have reached ("GET /c/:slug"),
// not under the middleware's own.
func (r *Recorder) Handler() fiber.Handler {
	return func(c *fiber.Ctx) error {
		if r.cfg.Next != nil && r.cfg.Next(c) {
			return c.Next()
		}
		err := c.Next()
		r.record(c)
		return err
	}
}

var (
	hdrXCache      = []byte("X-Cache")
	hdrCacheStatus = []byte("Cache-Status")
)

func (r *Recorder) record(c *fiber.Ctx) {
	h := &c.Response().Header
	xc := h.PeekBytes(hdrXCache)
	var o outcome
	switch string(xc) {
	case "HIT":
		o = oHit
	case "STALE":
		o = oStale
	case "MISS":
		o = oMiss
	case "BYPASS":
		o = oBypass
	default:
		return // not a response the page cache handled
	}
	r.routes.get(r.resolve.label(c)).add(o)
	if o == oMiss || o == oBypass {
		if i, ok := reasonOf(h.PeekBytes(hdrCacheStatus), o == oBypass); ok {
			if o == oBypass {
				r.bypass[i].Add(1)
			} else {
				r.unstored[i].Add(1)
			}
		}
	}
	r.hist.maybeSample(r, time.Now())
}

func (o *outcomes) add(x outcome) { o[x].Add(1) }

// reasonOf finds the reason in a Cache-Status value such as
// "cachekit; fwd=bypass; detail=credentials": the detail parameter, or for
// a bypass the fwd parameter when there is no detail. It reads the header's
// bytes in place and returns an index into knownReasons (len(knownReasons)
// for an unknown one): nothing of the header buffer, which the next
// response reuses, is kept. ok is false for a miss that was stored.
func reasonOf(cs []byte, bypass bool) (i int, ok bool) {
	var detail, fwd []byte
	stored := false
	for len(cs) > 0 {
		var part []byte
		part, cs, _ = bytes.Cut(cs, []byte{';'})
		part = bytes.TrimSpace(part)
		k, v, _ := bytes.Cut(part, []byte{'='})
		v = bytes.Trim(v, `" `)
		switch string(k) {
		case "detail":
			detail = v
		case "fwd":
			fwd = v
		case "stored":
			stored = true
		}
	}
	reason := detail
	if len(reason) == 0 {
		if !bypass {
			return 0, false // a miss without a reason: stored, or about to be
		}
		reason = fwd
	}
	if !bypass && stored {
		return 0, false
	}
	if j, ok := reasonIndex[string(reason)]; ok {
		return j, true
	}
	return len(knownReasons), true
}

// Observe counts a core lookup: pass it as cachekit.Config.Observe. Keys
// of {{cache}} blocks ("fragment:<name>:<hash>") count under the block's
// name, keys of the GORM model cache ("gorm:<Model>:...", see
// gormcache.ModelOf) under the model's name; other keys are not counted
// here (pages count through Handler).
func (r *Recorder) Observe(key string, s cachekit.Status) {
	var o *outcomes
	if rest, ok := strings.CutPrefix(key, "fragment:"); ok {
		if i := strings.LastIndexByte(rest, ':'); i >= 0 {
			rest = rest[:i]
		}
		o = r.fragments.get(rest)
	} else if rest, ok := strings.CutPrefix(key, r.modelPrefix); ok {
		model, _, ok := strings.Cut(rest, ":")
		if !ok || model == "" {
			return
		}
		o = r.models.get(model)
	} else {
		return
	}
	switch s {
	case cachekit.Hit:
		o.add(oHit)
	case cachekit.Stale:
		o.add(oStale)
	default:
		o.add(oMiss)
	}
	r.hist.maybeSample(r, time.Now())
}

// Routes returns the counts per route pattern, such as "GET /c/:slug".
func (r *Recorder) Routes() map[string]Counts { return r.routes.snapshot() }

// Fragments returns the counts per {{cache}} block name.
func (r *Recorder) Fragments() map[string]Counts { return r.fragments.snapshot() }

// Models returns the counts per GORM model of the gormcache plugin's
// lookups (Hit, Stale, Miss), such as "Product".
func (r *Recorder) Models() map[string]Counts { return r.models.snapshot() }

// Bypasses returns how many responses the page cache bypassed (X-Cache:
// BYPASS), per reason: "credentials", "method", "no-store", ...
func (r *Recorder) Bypasses() map[string]uint64 { return r.bypass.snapshot() }

// NotStored returns how many responses missed and were not stored, per
// reason: "set-cookie", "private", "status", ...
func (r *Recorder) NotStored() map[string]uint64 { return r.unstored.snapshot() }
