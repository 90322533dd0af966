// Package fibercache is Fiber middleware that caches whole pages, for the
// whole site (app.Use(fibercache.New())) or per route
// (app.Get("/x", fibercache.Page(time.Minute), h)), on a cachekit.Cache.
//
// It never lets one user's page reach another. A response is stored only
// when it has a storable status (200 by default), no Set-Cookie, no
// Cache-Control private, no-store or no-cache, no max-age=0, no Vary: *,
// a body that is not streamed, and answers a request without credentials
// (Authorization, Proxy-Authorization, Config.CredentialHeaders, or
// cookies other than harmless ones) unless the response says public or
// per-user caching (Config.UserCookie, Config.UserHeader) keys on that
// credential. Only the chain after the middleware decides: headers set in
// front of it, before it ran, can forbid storing but never allow it nor
// set a lifetime. A request with credentials is answered from the cache
// only by a page stored as public. Directive and header names match
// whatever their case. Request no-store bypasses the cache; request
// no-cache (or Pragma: no-cache) is answered from the cache, as Varnish
// and nginx do, unless Config.HonorRequestNoCache, which renders and
// stores afresh; max-age and the other request directives are not
// honoured.
//
// A page's key holds every request input the app can read for the page
// (appendPageKey in keys.go describes it): the method the app routes on
// (c.Method, after any override in front; the answer to an unsafe method
// is never stored), the host, the target, the forwarded headers apps and
// proxies trust, and the value of each request header the path's
// responses vary on (absent and empty apart). A request the key cannot
// describe bypasses: two lines of a keyed header, a GET or HEAD with a
// body, a method-override header (scan.go). The Vary list is learned per path,
// as Django does, in a small record that also holds a random nonce
// (records.go); every page key holds the nonce, so InvalidatePath drops all
// of a path's variants in two writes, whatever their number. Each page records the Vary list it
// was keyed with and is never served under another. Cookie and
// Authorization values never appear in a key.
//
// Freshness follows RFC 9111: s-maxage, max-age or Expires (dates as RFC
// 9110 §5.6.7 has them; an invalid or repeated Expires is expired), less
// the response's own age (its Age, its Date), else Config.TTL; Config.Strict
// stores only what the response allows, honours CDN-Cache-Control and
// revalidates stale pages that have the handler's own validator
// (revalidate.go). A successful unsafe method (POST, PUT, PATCH, DELETE,
// ...) drops the pages of its path and of its Location and
// Content-Location on the same host. CacheControl, NeverCache and
// PatchVary are Django's view helpers (views.go).
//
// Every response it handles carries X-Cache (HIT, MISS, STALE or BYPASS)
// and Cache-Status (RFC 9211), e.g. "cachekit; hit; ttl=42",
// "cachekit; fwd=uri-miss; stored", "cachekit; fwd=bypass; detail=credentials".
// Hits carry Age, the stored ETag (a weak one made from the body and its
// Content-Encoding when the handler set none) and Last-Modified, and answer If-None-Match and
// If-Modified-Since with 304. Per-response headers (Set-Cookie,
// hop-by-hop ones, the cache's own) and headers set by middleware in front
// of it are never replayed. A page is stored with its Date, which hits
// carry in an app with fiber.Config.DisableDefaultDate (else fasthttp
// writes the serve time; date.go).
//
// Concurrent misses of one page run the handler once; the others replay
// its response, or run their own when it was not storable, and wait at
// most Config.LockTimeout. A page whose response was not storable is a
// hit-for-miss for Config.HitForMiss: its requests go straight to the
// handler. Nothing is written for a response that is not stored, and
// every key written expires.
// Stale-while-revalidate (a background refresh through the app's handler)
// and stale-if-error come from the core. Tag and the Surrogate-Key response
// header (stripped before the response leaves) tag a page for
// cachekit.Cache.InvalidateTags, and Purge serves token-guarded PURGE
// requests. A storage error never fails a page: it is rendered uncached.
//
// # How it fits together
//
// One page request, file by file. handle (fibercache.go) reads the path's
// record (records.go) and scans the request headers once (scan.go, over
// fasthttp's parsed header list: headerlist.go); a
// request the cache must not touch goes straight on. HEAD and requests
// with credentials only look a page up (lookup, fibercache.go). Every
// other request first tries hit (hit.go): the page key and one read of the
// core's hot layer, a fresh page there answered at once from its form
// decoded once per kept value; anything else runs the miss sequence, load
// (render.go): it builds the
// page key (keys.go, with the Vary values of vary.go), waits a bounded
// time for a render of that key already running, or goes straight on for
// a hit-for-miss (flights.go), and makes one cache.Load. A path with no
// record yet renders under a provisional one; its record is written only
// after its first storable page (render.first). A stored page (page.go) is served by serve.go; on a miss the
// render runs the rest of the chain, analyze.go decides whether and for
// how long the response is stored and encodes it, and a response that
// varies on new headers has its Vary list learned (learn, render.go).
// The render runs under the fill's context (deps.go): the handler's
// c.UserContext() and the cachekit.BindKey binding of c.Render, so what the
// page reads through the cache joins its entry.
// InvalidatePath and Purge are in invalidate.go, Config and PurgeConfig in
// config.go, the Cache-Control parser in cachecontrol.go, CDN-Cache-Control
// in targeted.go, dates and Age in httpdate.go, the lifetime in
// freshness.go.
package fibercache

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/internal/keys"
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"
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
// (private, no-store, Set-Cookie, ...) is still never stored. ttl means what
// it means in the core (cachekit.NoExpiry): cachekit.DefaultTTL is the
// Cache's Config.DefaultTTL; cachekit.NoExpiry keeps the page fresh until it
// is invalidated, for at most cachekit.MaxStoreTTL (how long any key stays
// in the store); 0 stores nothing, as Django's cache_page(0): every request
// runs the handler, X-Cache: BYPASS (Cache-Status detail "ttl-0"), and a
// site-wide New around it does not store the page either. A negative ttl is
// a mistake in the route table: Page panics.
func Page(ttl time.Duration, config ...Config) fiber.Handler {
	if ttl < 0 && ttl != cachekit.DefaultTTL {
		panic("fibercache: Page needs a TTL of 0 or more, got " + ttl.String())
	}
	cfg := configDefault(config...)
	if ttl == 0 {
		return newMiddleware(cfg, true).uncached
	}
	cfg.TTL = ttl
	return newMiddleware(cfg, true).handle
}

// uncached is Page(0)'s handler: the page is never stored, here or by an
// outer instance (it sees this one handled the request).
func (m *middleware) uncached(c *fiber.Ctx) error {
	if m.cfg.Next != nil && m.cfg.Next(c) {
		return c.Next()
	}
	enter(c.Context(), m)
	return m.pass(c, xBypass, "fwd=bypass", "ttl-0")
}

// Tag tags the page being rendered: when any of its tags is invalidated
// (cachekit.Cache.InvalidateTags), the page is rendered afresh. Call it from
// the handler, before it returns. Empty tags are ignored.
//
// Call it before the handler reads the data the tags guard: Tag reads (or
// makes) each tag's generation when it is called, and the page is stored
// under those generations, so an invalidation that lands after the call
// always reaches the page, and a tagged page is stored on its first render,
// on every store. (Tags read from data already fetched, or sent in a
// Surrogate-Key header, are taken once the handler returned, and a page
// whose such tag moved during the render is not stored.)
//
// Most pages need no Tag: the tags of the {{cache}} blocks the page renders
// through the loader, and of the cachekit reads the handler makes with
// c.UserContext() (cachekit.FetchContext, GetOrSetContext, LoadContext,
// GetContext), reach the page by themselves. Tag is for what no cached read
// of the render shows: data the handler reads elsewhere, or blocks rendered
// by another template engine.
func Tag(c *fiber.Ctx, tags ...string) {
	ts, _ := c.Context().UserValue(tagsKey{}).(*[]string)
	if ts == nil {
		ts = new([]string)
		c.Context().SetUserValue(tagsKey{}, ts)
	}
	for _, t := range tags {
		if t != "" {
			// The string may alias a request buffer (c.Params).
			t = strings.Clone(t)
			*ts = append(*ts, t)
			if ctx := fillContext(c); ctx != nil {
				_ = cachekit.AddTags(ctx, t) // an error makes the page unstorable
			}
		}
	}
}

// User-value keys.
type (
	tagsKey    struct{} // *[]string: Tag's tags
	visitKey   struct{} // *visit: the innermost instance that ran, and how many did
	refreshKey struct{} // *refreshState: a background refresh request
	fillKey    struct{} // context.Context: the fill the page renders in
)

var (
	errRetry    = errors.New("fibercache: the path's record changed; look up again")
	errUpstream = errors.New("fibercache: the handler answered with a server error")
	errNoReach  = errors.New("fibercache: the refresh request did not reach the middleware")
)

// middleware is one New or Page instance. Nothing in it changes after
// newMiddleware: requests share it without a lock. Per-request state is a
// pooled scratchState; what persists (records, fences, pages) is in the
// cache.
type middleware struct {
	cfg              Config
	cache            *cachekit.Cache             // cfg.Cache, or cachekit.Default()
	routeTTL         bool                        // Page: cfg.TTL wins over the response's
	harmlessExact    map[string]struct{}         // cfg.HarmlessCookies without '*'
	harmlessPrefix   []string                    // those ending in '*', without it
	harmlessByLen    [harmlessShort + 1][]string // harmlessExact's names up to harmlessShort bytes, by length
	userCookie       string
	userHeader       string
	userHeaderIsAuth bool  // userHeader is Authorization: it identifies, not credentials
	marks            marks // renders running and hit-for-miss keys (flights.go)
	credHeaders      []string
	credLens         uint64         // bit n: a credential header name is n bytes long
	statuses         [400 / 8]uint8 // bit s-200: status s may be stored
	list             listView       // fasthttp's parsed header list (headerlist.go)
	interest         interest       // the header names the scan reads (headerlist.go)
	// recordWrites counts the record writes of this instance: a render
	// checks the path's record again only when one happened since its
	// request read it (render.run), not at the cost of a read every miss.
	prefixSafe   bool   // "fcp:{tag}" cfg.KeyPrefix "|" is a key keys.Safe keeps as it is
	keyHead      string // cfg.KeyPrefix "|": what page keys hold after their tag
	recordWrites atomic.Uint64
	visits       [8]visit // visitAt's, made by newMiddleware
}

// isCredentialHeader reports whether k is one of cfg.CredentialHeaders.
func (m *middleware) isCredentialHeader(k []byte) bool {
	for _, n := range m.credHeaders {
		if len(n) == len(k) && utils.EqualFold(b2s(k), n) {
			return true
		}
	}
	return false
}

func newMiddleware(cfg Config, routeTTL bool) *middleware {
	if err := cfg.check(); err != nil {
		panic("fibercache: " + err.Error())
	}
	m := &middleware{cfg: cfg, cache: cfg.Cache, routeTTL: routeTTL, harmlessExact: map[string]struct{}{}}
	m.marks.init()
	for i := range m.visits {
		m.visits[i] = visit{m: m, n: i}
	}
	m.list = newListView()
	if m.cache == nil {
		m.cache = cachekit.Default()
		if err := m.cache.Err(); err != nil {
			panic("fibercache: cachekit.Default() cannot work: " + err.Error())
		}
	}
	m.cfg.TTL = pageTTL(m.cfg.TTL, m.cache)
	for _, n := range cfg.HarmlessCookies {
		if len(n) > 0 && n[len(n)-1] == '*' {
			m.harmlessPrefix = append(m.harmlessPrefix, n[:len(n)-1])
		} else {
			m.harmlessExact[n] = struct{}{}
		}
	}
	for _, n := range cfg.HarmlessCookies { // in the order given: the likeliest first
		if _, exact := m.harmlessExact[n]; exact && len(n) <= harmlessShort && !slices.Contains(m.harmlessByLen[len(n)], n) {
			m.harmlessByLen[len(n)] = append(m.harmlessByLen[len(n)], n)
		}
	}
	m.userCookie = cfg.UserCookie
	m.userHeader = cfg.UserHeader
	m.userHeaderIsAuth = utils.EqualFold(cfg.UserHeader, "Authorization")
	m.cfg.Statuses = append([]int(nil), cfg.Statuses...)
	for _, s := range cfg.Statuses {
		m.statuses[(s-200)/8] |= 1 << ((s - 200) % 8)
	}
	for _, n := range cfg.CredentialHeaders {
		if utils.EqualFold(n, "Authorization") || utils.EqualFold(n, "Proxy-Authorization") {
			continue // always counted
		}
		m.credHeaders = append(m.credHeaders, n)
		m.credLens |= 1 << len(n)
	}
	m.interest = newInterest(m)
	m.keyHead = m.cfg.KeyPrefix + "|"
	m.prefixSafe = keys.Safe(m.keyHead)
	return m
}

// pageTTL resolves a configured page TTL: cachekit.DefaultTTL is the
// Cache's Config.DefaultTTL, and a TTL longer than the store keeps any key
// (cachekit.NoExpiry among them) is cachekit.MaxStoreTTL, which keeps the
// page's record, stale windows and Cache-Control arithmetic in range.
func pageTTL(ttl time.Duration, c *cachekit.Cache) time.Duration {
	if ttl == cachekit.DefaultTTL {
		ttl = c.DefaultTTL()
	}
	return min(ttl, cachekit.MaxStoreTTL)
}

// harmlessShort: harmless cookie names up to this long are looked up by
// length (middleware.harmlessByLen), longer ones in the map.
const harmlessShort = 32

// harmless reports whether the cookie name is one of cfg.HarmlessCookies:
// the few exact names of its length compared in turn (cheaper than hashing
// the name), then the prefixes, each by its first byte first.
func (m *middleware) harmless(name []byte) bool {
	if len(name) <= harmlessShort {
		for _, n := range m.harmlessByLen[len(name)] {
			if n == string(name) {
				return true
			}
		}
	} else if _, ok := m.harmlessExact[string(name)]; ok {
		return true
	}
	for _, p := range m.harmlessPrefix {
		if len(name) >= len(p) && (len(p) == 0 || name[0] == p[0] && string(name[:len(p)]) == p) {
			return true
		}
	}
	return false
}

func (m *middleware) storable(status int) bool {
	return status >= 200 && status <= 599 && m.statuses[(status-200)/8]&(1<<((status-200)%8)) != 0
}

// handle is the middleware: it reads the path's record and scans the
// request once, then either bypasses the cache, answers from it without
// storing (lookup: HEAD and requests with credentials), or runs the miss
// sequence, which also serves hits (load, render.go).
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

	// The method the app routes on: a method-override middleware in front
	// changes c.Method, not the request line.
	var head bool
	switch c.Method() {
	case fiber.MethodGet:
	case fiber.MethodHead:
		head = true
	default:
		err := m.pass(c, xBypass, "fwd=method", "")
		m.invalidateUnsafe(c, err)
		return err
	}

	s := getScratch()
	defer putScratch(s)
	s.rk = appendPathKey(s.rk[:0], keyRecord, c.Path())
	s.recSeen = m.recordWrites.Load()
	hv := m.cache.HotView() // one clock reading for the record and the page
	// When the request began, before its record is read: taken from hv
	// when the request leaves the hit path (a hit needs none), read now
	// when hv holds no instant.
	s.start = time.Time{}
	if hv == (cachekit.HotView{}) {
		s.start = requestStart(c, hv)
	}
	var rec record
	haveRec := m.lookupRecordIn(hv, s.rk, &rec)
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
	case req.ambiguous != "":
		return m.pass(c, xBypass, "fwd=bypass", req.ambiguous)
	case req.cc.noStore:
		return m.pass(c, xBypass, "fwd=request", "no-store")
	}
	revalidate := m.cfg.HonorRequestNoCache && (req.cc.noCache || (req.pragmaNoCache && !req.cc.any))
	if req.credentialed || head {
		s.began(c, hv)
		return m.lookup(c, s, rec, haveRec && !revalidate, head)
	}
	keyed := false
	if haveRec && !revalidate && m.outerFill(c, depth) == nil {
		// Not nested in another instance's render (whose page would
		// depend on this one): a fresh page of the hot layer is
		// answered at once (hit.go).
		if done, err := m.hit(c, s, &rec, hv); done {
			return err
		}
		keyed = true
	}
	s.began(c, hv)
	return m.load(c, s, rec, haveRec, revalidate, keyed)
}

// lookup answers a request the shared cache may serve but not store under
// its own rules: a HEAD (answered from the GET page, never rendered into
// it) or a request with credentials the middleware does not key on (served
// only a page stored as public). look says a stored page may answer.
func (m *middleware) lookup(c *fiber.Ctx, s *scratchState, rec record, look, head bool) error {
	req := &s.req
	if look {
		s.key = req.appendPageKeyTagged(s.key[:0], c, m, &rec, pathKeyTag(s.rk))
		r, _ := m.cache.Lookup(b2s(s.key))
		if r.Status == cachekit.Hit {
			var local page
			if pg, pp, ok := m.pageOf(&r, &local); ok && string(pg.vary) == string(rec.vary) &&
				(!req.credentialed || pg.flags&flagPublic != 0) && !stale(pg, &r) {
				m.serve(c, pg, pp, &r, req, kindHit)
				return nil
			}
		}
	}
	if req.credentialed {
		return m.credentialed(c, s, head)
	}
	return m.pass(c, xMiss, "fwd=uri-miss", "head")
}

// scratchState is pooled per request: the key buffers, the request pass
// and the render a miss runs.
type scratchState struct {
	key []byte
	rk  []byte
	req request
	rd  render
	// recSeen is m.recordWrites as read before the path's record was.
	recSeen uint64
	// start is when the request began (requestStart): before the path's
	// record was read. Set once the request leaves the hit path (began).
	start time.Time
	// run and background are rd's methods as values, made once per
	// scratchState so that a cache.Load on the hit path allocates nothing.
	run        func(*cachekit.Policy) ([]byte, error)
	background func() cachekit.Fill
}

var scratchPool = sync.Pool{New: func() any {
	s := &scratchState{key: make([]byte, 0, 256), rk: make([]byte, 0, 128)}
	s.run = s.rd.run
	s.background = s.rd.background
	return s
}}

func getScratch() *scratchState { return scratchPool.Get().(*scratchState) }

func putScratch(s *scratchState) {
	if cap(s.key) > 4096 || cap(s.req.scratch) > 4096 || cap(s.rk) > 4096 {
		return
	}
	s.req.reset()
	if s.rd.m != nil { // else as the last clear left it: a hit sets none of it (load sets m)
		s.rd.clear()
	}
	s.key = s.key[:0]
	s.rk = s.rk[:0]
	scratchPool.Put(s)
}

// enter records that the request reached m and returns how many instances
// it went through before.
func enter(rctx *fasthttp.RequestCtx, m *middleware) int {
	depth := 0
	if v, _ := rctx.UserValue(visitKey{}).(*visit); v != nil {
		depth = v.n
	}
	rctx.SetUserValue(visitKey{}, m.visitAt(depth+1))
	return depth
}

// visit is what a request's visitKey holds: the innermost fibercache
// instance it reached (m), and how many it went through (n, m included).
// A middleware makes its first few once (middleware.visits), never
// changed after: a request sets one user value, allocating nothing.
type visit struct {
	m *middleware
	n int
}

// visitAt returns m's visit for n instances.
func (m *middleware) visitAt(n int) *visit {
	if n < len(m.visits) {
		return &m.visits[n]
	}
	return &visit{m: m, n: n}
}

// pass runs the rest of the chain without the cache.
func (m *middleware) pass(c *fiber.Ctx, x []byte, fwd, detail string) error {
	err := c.Next()
	if m.innerHandled(c) {
		return err
	}
	m.stripSurrogateKey(c)
	setStatusHeaders(c, x, fwd, detail, false)
	return err
}

// innerHandled reports whether an inner fibercache instance (a Page inside
// a site-wide New) handled the request: it then owns the response.
func (m *middleware) innerHandled(c *fiber.Ctx) bool {
	v, _ := c.Context().UserValue(visitKey{}).(*visit)
	return v != nil && v.m != m
}

// credentialed serves a request with credentials the middleware does not
// key on: it is answered from the cache only by a page stored as public,
// and its own response is stored only when it says public.
func (m *middleware) credentialed(c *fiber.Ctx, s *scratchState, head bool) error {
	// No record is made here: a credentialed response is stored only when
	// public, under a record a storable anonymous response made.
	rec, haveRec := m.lookupRecord(s.rk) // the provisional record if none
	f := pathFence(c.Path(), s.start)
	var snap snapshot
	snap.take(c)
	deps := m.cache.Collect(c.UserContext()) // what the page is built from, should it be stored
	leave := enterFill(c, deps)
	err := c.Next()
	leave()
	if err != nil || m.innerHandled(c) {
		if err != nil {
			m.stripSurrogateKey(c)
			setStatusHeaders(c, xBypass, "fwd=bypass", "credentials", false)
		}
		return err
	}
	if !head {
		s.req.reset()
		s.req.scan(c, m, &rec)
		an := m.analyze(c, &snap, &rec, &s.req)
		if an.reason == "" && an.public && len(an.tags) == 0 {
			var stored bool
			if an.varyChanged || !haveRec {
				// A new Vary list, or the path's first storable
				// response: the record is made or rewritten first.
				stored = m.learn(c, &s.req, rec, string(s.rk), f, &an, deps)
			} else {
				m.extendRecord(string(s.rk), f.key, rec, f.start, an.life())
				key := string(s.req.appendPageKey(s.key[:0], c, m, &rec))
				r, _ := m.cache.Load(key, an.policy(), func(p *cachekit.Policy) ([]byte, error) {
					cachekit.Inherit(p.Context(), deps) // what the page was built from
					return an.value, nil
				})
				stored = r.Stored
			}
			m.stripSurrogateKey(c)
			an.decorate(c)
			if stored {
				setStatusHeaders(c, xMiss, "fwd=uri-miss", "", true)
				m.downstream(c, an.flags(), an.ttl)
			} else {
				setStatusHeaders(c, xMiss, "fwd=uri-miss", "not-stored", false)
			}
			return nil
		}
	}
	m.stripSurrogateKey(c)
	setStatusHeaders(c, xBypass, "fwd=bypass", "credentials", false)
	return nil
}

// began sets s.start, unless handle did (hv, the request's view of the
// hot layer, holds no instant).
func (s *scratchState) began(c *fiber.Ctx, hv cachekit.HotView) {
	if s.start.IsZero() {
		s.start = requestStart(c, hv)
	}
}

// requestStart returns when the request began: fasthttp's RequestCtx.Time
// (set as its server reads each request, before the handlers run), or,
// for a context not served by a fasthttp server, the instant of hv, the
// request's view of the hot layer, taken before the path's record was read
// (HotView.Time: one clock reading for both), else (hv holds no instant:
// handle calls it before the record is read) now.
func requestStart(c *fiber.Ctx, hv cachekit.HotView) time.Time {
	if t := c.Context().Time(); !t.IsZero() {
		return t
	}
	if t := hv.Time(); !t.IsZero() {
		return t
	}
	return time.Now()
}

// b2s views b as a string without copying; b must not change while the
// string is used.
func b2s(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
