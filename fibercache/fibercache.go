// Package fibercache is Fiber middleware that caches whole pages, for the
// whole site (app.Use(fibercache.New())) or per route
// (app.Get("/x", fibercache.Page(time.Minute), h)), on a cachekit.Cache.
//
// It never lets one user's page reach another: a response is stored only
// when it carries no Set-Cookie, no private, no-store or no-cache, has a
// storable status (200 by default) and answers a request without
// credentials (Authorization, or cookies other than harmless ones), unless
// the response says public or per-user caching is configured. Keys hold the
// host, the request URI as sent, the forwarded headers and the values of the
// request headers the response varies on.
//
// Every response it handles carries X-Cache (HIT, MISS, STALE or BYPASS)
// and Cache-Status (RFC 9211). Hits carry Age, a strong ETag (made at store
// time when the handler set none) and answer conditional requests with 304.
// Concurrent misses of one page run the handler once; stale-while-revalidate
// and stale-if-error come from the core. Fragments of invalidation: Tag and
// the Surrogate-Key response header tag a page (cachekit.Cache.InvalidateTags
// drops it), InvalidatePath drops every variant of a path, and Purge serves
// PURGE requests guarded by a token.
package fibercache

import (
	"errors"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// New returns the page-caching middleware for the whole site (or a group).
// The response's s-maxage, max-age or Expires sets how long a page stays
// fresh; Config.TTL when it gives none. A config that cannot work panics
// here with a message that starts with "fibercache: ".
func New(config ...Config) fiber.Handler {
	cfg := configDefault(config...)
	return newMiddleware(cfg, false).handle
}

// Page returns the middleware for one route: app.Get("/x",
// fibercache.Page(5*time.Minute), handler). ttl wins over the response's own
// max-age (as Django's cache_page does); a response that must not be stored
// (private, no-store, Set-Cookie, ...) is still never stored.
func Page(ttl time.Duration, config ...Config) fiber.Handler {
	if ttl <= 0 {
		panic("fibercache: Page needs a positive TTL, got " + ttl.String())
	}
	cfg := configDefault(config...)
	cfg.TTL = ttl
	return newMiddleware(cfg, true).handle
}

// Tag tags the page being rendered: when any of its tags is invalidated
// (cachekit.Cache.InvalidateTags), the page is rendered afresh. Call it from
// the handler, before it returns. Empty tags are ignored.
func Tag(c *fiber.Ctx, tags ...string) {
	ts, _ := c.Context().UserValue(tagsKey{}).(*[]string)
	if ts == nil {
		ts = new([]string)
		c.Context().SetUserValue(tagsKey{}, ts)
	}
	for _, t := range tags {
		if t != "" {
			// The string may alias a request buffer (c.Params).
			*ts = append(*ts, string(append([]byte(nil), t...)))
		}
	}
}

// User-value keys.
type (
	tagsKey    struct{} // *[]string: Tag's tags
	handledKey struct{} // *middleware: the innermost instance that ran
	depthKey   struct{} // int: how many instances the request went through
	refreshKey struct{} // *refreshState: a background refresh request
)

var (
	errRetry    = errors.New("fibercache: the path's record changed; look up again")
	errUpstream = errors.New("fibercache: the handler answered with a server error")
	errNoReach  = errors.New("fibercache: the refresh request did not reach the middleware")
)

type middleware struct {
	cfg              Config
	cache            *cachekit.Cache
	routeTTL         bool
	harmlessExact    map[string]struct{}
	harmlessPrefix   []string
	userCookie       string
	userHeader       string
	userHeaderIsAuth bool
}

func newMiddleware(cfg Config, routeTTL bool) *middleware {
	if err := cfg.check(); err != nil {
		panic("fibercache: " + err.Error())
	}
	m := &middleware{cfg: cfg, cache: cfg.Cache, routeTTL: routeTTL, harmlessExact: map[string]struct{}{}}
	if m.cache == nil {
		m.cache = cachekit.Default()
		if err := m.cache.Err(); err != nil {
			panic("fibercache: cachekit.Default() cannot work: " + err.Error())
		}
	}
	for _, n := range cfg.HarmlessCookies {
		if len(n) > 0 && n[len(n)-1] == '*' {
			m.harmlessPrefix = append(m.harmlessPrefix, n[:len(n)-1])
		} else {
			m.harmlessExact[n] = struct{}{}
		}
	}
	m.userCookie = cfg.UserCookie
	m.userHeader = cfg.UserHeader
	m.userHeaderIsAuth = equalFold([]byte(cfg.UserHeader), "Authorization")
	m.cfg.Statuses = append([]int(nil), cfg.Statuses...)
	return m
}

func (m *middleware) harmless(name []byte) bool {
	if _, ok := m.harmlessExact[string(name)]; ok {
		return true
	}
	for _, p := range m.harmlessPrefix {
		if len(name) >= len(p) && string(name[:len(p)]) == p {
			return true
		}
	}
	return false
}

func (m *middleware) storable(status int) bool {
	for _, s := range m.cfg.Statuses {
		if s == status {
			return true
		}
	}
	return false
}

// handle is the middleware.
func (m *middleware) handle(c *fiber.Ctx) error {
	if m.cfg.Next != nil && m.cfg.Next(c) {
		return c.Next()
	}
	rctx := c.Context()
	// Instances nested on one route (a Page inside a site-wide New) key
	// apart: the inner one's page is never the outer one's, and an inner
	// load never waits for the outer load it runs inside.
	depth := enter(rctx, m)
	if v := rctx.UserValue(refreshKey{}); v != nil {
		if rs, ok := v.(*refreshState); ok && rs.m == m {
			return m.refresh(c, rs, depth)
		}
		return c.Next() // another instance's refresh
	}

	var head bool
	switch b2s(c.Request().Header.Method()) {
	case fiber.MethodGet:
	case fiber.MethodHead:
		head = true
	default:
		return m.pass(c, xBypass, "fwd=method", "")
	}

	s := getScratch()
	defer putScratch(s)
	s.rk = appendPathKey(s.rk[:0], 'r', c.Path())
	rr, _ := m.cache.Lookup(b2s(s.rk))
	var rec record
	haveRec := false
	if rr.Status == cachekit.Hit {
		rec, haveRec = decodeRecord(rr.Value)
	}
	req := &s.req
	req.depth = depth
	if haveRec {
		req.scan(c, m, &rec)
	} else {
		req.scan(c, m, nil)
	}

	switch {
	case req.upgrade:
		return m.pass(c, xBypass, "fwd=bypass", "upgrade")
	case req.cc.noStore:
		return m.pass(c, xBypass, "fwd=request", "no-store")
	}
	revalidate := req.cc.noCache || (req.pragmaNoCache && !req.cc.any)

	if haveRec && !revalidate {
		s.key = req.appendPageKey(s.key[:0], c, m, &rec)
		r, _ := m.cache.Lookup(b2s(s.key))
		if r.Status == cachekit.Hit {
			var e entry
			if decodeEntry(r.Value, &e) == nil && string(e.vary) == string(rec.vary) &&
				(!req.credentialed || e.flags&flagPublic != 0) {
				m.serve(c, &e, &r, req, kindHit, "")
				return nil
			}
		}
	}
	if req.credentialed {
		return m.credentialed(c, s, head)
	}
	if head {
		return m.pass(c, xMiss, "fwd=uri-miss", "head")
	}
	return m.miss(c, s, rec, haveRec, revalidate)
}

// enter records that the request reached m and returns how many instances
// it went through before.
func enter(rctx *fasthttp.RequestCtx, m *middleware) int {
	depth, _ := rctx.UserValue(depthKey{}).(int)
	rctx.SetUserValue(depthKey{}, depth+1)
	rctx.SetUserValue(handledKey{}, m)
	return depth
}

// pass runs the rest of the chain without the cache.
func (m *middleware) pass(c *fiber.Ctx, x []byte, fwd, detail string) error {
	err := c.Next()
	if m.innerHandled(c) {
		return err
	}
	stripSurrogateKey(c)
	setStatusHeaders(c, x, fwd, detail, false, false)
	return err
}

// innerHandled reports whether an inner fibercache instance (a Page inside
// a site-wide New) handled the request: it then owns the response.
func (m *middleware) innerHandled(c *fiber.Ctx) bool {
	h, _ := c.Context().UserValue(handledKey{}).(*middleware)
	return h != nil && h != m
}

// ensureRecord returns the path's record, making it (once for concurrent
// callers) when there is none.
func (m *middleware) ensureRecord(rkey string) (record, bool) {
	r, err := m.cache.Load(rkey, cachekit.Policy{}, func(*cachekit.Policy) ([]byte, error) {
		return encodeRecord(newNonce(), nil), nil
	})
	if err != nil {
		return record{}, false
	}
	return decodeRecord(r.Value)
}

// readRecord returns the path's current record.
func (m *middleware) readRecord(rkey string) (record, bool) {
	b, ok, _ := m.cache.Get(rkey)
	if !ok {
		return record{}, false
	}
	return decodeRecord(b)
}

// miss serves a request the cache could not answer at once: one render for
// all concurrent callers of the key, replayed to the others.
func (m *middleware) miss(c *fiber.Ctx, s *scratchState, rec record, haveRec, revalidate bool) error {
	rkey := string(s.rk)
	for attempt := 0; attempt < 3; attempt++ {
		if !haveRec || attempt > 0 {
			if rec, haveRec = m.ensureRecord(rkey); !haveRec {
				return m.pass(c, xMiss, "fwd=uri-miss", "record")
			}
			s.req = request{scratch: s.req.scratch[:0], depth: s.req.depth}
			s.req.scan(c, m, &rec)
		}
		key := string(s.req.appendPageKey(s.key[:0], c, m, &rec))
		if revalidate {
			// The client asked for a fresh copy: drop the stored one so
			// the load below renders (still once for all callers).
			_ = m.cache.Delete(key)
		}
		f := &fill{m: m, c: c, req: &s.req, rec: rec, rkey: rkey, key: key, revalidate: revalidate}
		r, err := m.cache.Load(key, f.policy(), f.run)
		if f.ran {
			return f.finish(r, err)
		}
		if errors.Is(err, errRetry) || errors.Is(r.FillErr, errRetry) {
			continue
		}
		if err != nil {
			// The render this request waited for failed: render its own.
			return m.pass(c, xMiss, "fwd=uri-miss", "collapsed-error")
		}
		var e entry
		if decodeEntry(r.Value, &e) != nil || string(e.vary) != string(rec.vary) {
			return m.pass(c, xMiss, "fwd=uri-miss", "mismatch")
		}
		switch {
		case r.Status == cachekit.Hit:
			m.serve(c, &e, &r, &s.req, kindHit, "")
		case r.Status == cachekit.Stale && r.FillErr != nil:
			m.serve(c, &e, &r, &s.req, kindStaleIfError, "")
		case r.Status == cachekit.Stale:
			m.serve(c, &e, &r, &s.req, kindStale, "")
		default:
			m.serve(c, &e, &r, &s.req, kindCollapsed, "")
		}
		return nil
	}
	return m.pass(c, xMiss, "fwd=uri-miss", "vary-unsettled")
}

// credentialed serves a request with credentials the middleware does not
// key on: it is answered from the cache only by a page stored as public,
// and its own response is stored only when it says public.
func (m *middleware) credentialed(c *fiber.Ctx, s *scratchState, head bool) error {
	rkey := string(s.rk)
	rec, haveRec := m.ensureRecord(rkey)
	var snap snapshot
	snap.take(c)
	err := c.Next()
	if err != nil || m.innerHandled(c) {
		if err != nil {
			stripSurrogateKey(c)
			setStatusHeaders(c, xBypass, "fwd=bypass", "credentials", false, false)
		}
		return err
	}
	if haveRec && !head {
		s.req = request{scratch: s.req.scratch[:0], depth: s.req.depth}
		s.req.scan(c, m, &rec)
		an := m.analyze(c, &snap, &rec, &s.req)
		if an.reason == "" && an.public && !an.varyChanged && len(an.tags) == 0 {
			key := string(s.req.appendPageKey(s.key[:0], c, m, &rec))
			r, _ := m.cache.Load(key, an.policy(), func(*cachekit.Policy) ([]byte, error) { return an.value, nil })
			stripSurrogateKey(c)
			an.decorate(c)
			if r.Stored {
				setStatusHeaders(c, xMiss, "fwd=uri-miss", "", true, false)
				m.downstream(c, an.flags(), an.ttl)
			} else {
				setStatusHeaders(c, xMiss, "fwd=uri-miss", "not-stored", false, false)
			}
			return nil
		}
	}
	stripSurrogateKey(c)
	setStatusHeaders(c, xBypass, "fwd=bypass", "credentials", false, false)
	return nil
}
