package fibercache

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// maxRounds bounds how often a request goes round the miss sequence again
// because the path's record moved under it.
const maxRounds = 3

// load answers a request the shared cache may both serve and store, in one
// sequence:
//
//  1. record: the path's record (read by handle; made here on the path's
//     first miss);
//  2. key: the page key under the record (keys.go);
//  3. load: one cache.Load of that key. A fresh or stale page comes back at
//     once; on a miss its fill, render.run, renders the page through the
//     rest of the chain, analyses the response (analyze.go) and returns
//     its stored form and policy, once for all concurrent callers;
//  4. answer: the render's own response (render.finish), or the page the
//     core returned (answer).
//
// A caller that waited for a render whose page it cannot use, and finds
// the record moved meanwhile (InvalidatePath, a Vary list learned), goes
// round again with the new record, at most maxRounds times.
//
// keyed says s.key already holds the page key under rec (hit made it).
func (m *middleware) load(c *fiber.Ctx, s *scratchState, rec record, haveRec, revalidate, keyed bool) error {
	// Without a record, rec is the provisional one (lookupRecord): the scan
	// in handle had no Vary list either.
	waited := false
	for round := 0; round < maxRounds; round++ {
		if round > 0 && !haveRec {
			s.recSeen = m.recordWrites.Load()
			rec, haveRec = m.lookupRecord(s.rk)
			s.req.reset()
			s.req.scan(c, m, &rec)
		}
		if round > 0 || !keyed {
			s.key = s.req.appendPageKeyTagged(s.key[:0], c, m, &rec, pathKeyTag(s.rk))
		}
		// A view of the pooled buffer, so that a hit allocates nothing:
		// the core keeps no reference to a key past the call.
		key := b2s(s.key)
		if revalidate {
			// The client asked for a fresh copy: drop the stored one so
			// the load below renders (still once for all callers).
			_ = m.cache.Delete(string(s.key))
		}
		switch st, mk := m.marks.check(key); st {
		case markHitForMiss:
			return m.pass(c, xMiss, "fwd=uri-miss", "uncacheable")
		case markFlight:
			// Another request renders this page: wait for it, a bounded
			// time, rather than in the core without a bound.
			if !mk.wait(m.cfg.LockTimeout) {
				return m.pass(c, xMiss, "fwd=uri-miss", "lock-timeout")
			}
			if st, _ := m.marks.check(key); st == markHitForMiss {
				return m.pass(c, xMiss, "fwd=uri-miss", "uncacheable")
			}
		}
		rd := &s.rd
		if rd.used {
			*rd = render{m: m, c: c, req: &s.req, rec: rec, rkey: s.rk, key: s.key, revalidate: revalidate, recSeen: s.recSeen, start: s.start}
		} else {
			// Still as putScratch left it: all but these is zero
			// (render.clear), and a hit writes none of the rest.
			rd.m, rd.c, rd.req, rd.rec, rd.rkey, rd.key = m, c, &s.req, rec, s.rk, s.key
			rd.revalidate, rd.recSeen, rd.start = revalidate, s.recSeen, s.start
		}
		var r cachekit.Result
		var err error
		if ctx := m.outerFill(c, s.req.depth); ctx != nil {
			// Inside another instance's render: the outer page depends on this one.
			r, err = m.cache.LoadContext(ctx, key, rd.policy(s.background, !haveRec), s.run)
		} else {
			r, err = m.cache.Load(key, rd.policy(s.background, !haveRec), s.run)
		}
		if rd.ran {
			return rd.finish(r, err)
		}
		if errors.Is(err, errRetry) || errors.Is(r.FillErr, errRetry) {
			haveRec, waited = false, true
			continue
		}
		if waited && r.Status == cachekit.Hit {
			// Found after waiting for the render that made the path's
			// record: this request was collapsed into it.
			r.Status = cachekit.Miss
		}
		return m.answer(c, &s.req, &rec, s.key, &r, err)
	}
	return m.pass(c, xMiss, "fwd=uri-miss", "vary-unsettled")
}

// answer serves the page cache.Load returned to a request that did not
// render it.
func (m *middleware) answer(c *fiber.Ctx, req *request, rec *record, key []byte, r *cachekit.Result, err error) error {
	if err != nil {
		// The render this request waited for failed: render its own.
		return m.pass(c, xMiss, "fwd=uri-miss", "collapsed-error")
	}
	var local page
	pg, pp, ok := m.pageOf(r, &local) // hit.go
	if !ok || len(pg.vary) != len(rec.vary) || len(pg.vary) > 0 && string(pg.vary) != string(rec.vary) {
		return m.pass(c, xMiss, "fwd=uri-miss", "mismatch")
	}
	switch {
	case r.Status == cachekit.Hit && stale(pg, r):
		local = *pg // revalidate decodes into it: never into a prepared page
		return m.revalidate(c, req, rec, key, &local)
	case r.Status == cachekit.Hit:
		m.serve(c, pg, pp, r, req, kindHit)
	case r.Status == cachekit.Stale && r.FillErr != nil:
		m.serve(c, pg, pp, r, req, kindStaleIfError)
	case r.Status == cachekit.Stale:
		m.serve(c, pg, pp, r, req, kindStale)
	default:
		m.serve(c, pg, pp, r, req, kindCollapsed)
	}
	return nil
}

// render is one request's render on a miss: the core runs it once for
// every concurrent caller of the key.
type render struct {
	m          *middleware
	c          *fiber.Ctx
	req        *request
	rec        record
	rkey       []byte // the record key (aliases the request's scratch)
	key        []byte // the page key (aliases the request's scratch)
	revalidate bool
	recSeen    uint64    // m.recordWrites before rec was read
	start      time.Time // when the request began: before rec was read

	// used: run was called. Only run (and what it calls) writes the
	// fields below; while used is false they are zero.
	used       bool
	ran        bool // this request rendered
	snap       snapshot
	an         analysis
	handlerErr error
	value      []byte
	err        error
	elsewhere  bool // stored under another key (the Vary list grew)
	stored     bool // stored by first's inner load
	fence      fence
}

// clear empties rd for another request: whole once run was called, else
// the fields load sets (the others are still zero).
func (rd *render) clear() {
	if rd.used {
		*rd = render{}
		return
	}
	rd.m, rd.c, rd.req, rd.rec, rd.rkey, rd.key = nil, nil, nil, record{}, nil, nil
	rd.revalidate, rd.recSeen, rd.start = false, 0, time.Time{}
}

// policy is the policy the page is loaded with; background makes the
// stale-while-revalidate refresh (render.background). A key under the
// provisional record, or under a record about to be made (its nonce is
// new), holds nothing: the caller sets absent, and the core skips its
// lookup (Policy.Absent).
func (rd *render) policy(background func() cachekit.Fill, absent bool) cachekit.Policy {
	return cachekit.Policy{
		TTL:                  rd.m.cfg.TTL,
		StaleWhileRevalidate: rd.m.cfg.StaleWhileRevalidate,
		StaleIfError:         rd.m.cfg.StaleIfError,
		Background:           background,
		Absent:               absent,
	}
}

// run renders the page through the rest of the chain and returns its
// stored form.
func (rd *render) run(p *cachekit.Policy) ([]byte, error) {
	rd.used = true
	if rd.ran {
		// The core runs the fill again for a caller whose value was not
		// to be shared; this caller has its response already.
		p.NoStore = true
		return rd.value, rd.err
	}
	m := rd.m
	// A caller that waited for a render it could not use runs its own:
	// first make sure the path's record still is the one it keyed with,
	// when this instance wrote a record since it was read (a render it
	// waited for learned a Vary list or made the record). A record moved
	// by anything else meanwhile only leaves this page under a nonce no
	// record holds: never found.
	if m.recordWrites.Load() != rd.recSeen {
		if cur, ok := m.lookupRecord(rd.rkey); ok != !rd.rec.provisional() || ok && !cur.equal(rd.rec) {
			return nil, errRetry
		}
	}
	// Requests for this key that come now wait in marks, a bounded time
	// (load); when the response cannot be stored, the key becomes a
	// hit-for-miss.
	key := string(rd.key)
	if mk := m.marks.begin(key); mk != nil {
		defer func() { m.marks.end(key, mk, rd.hitForMiss()) }()
	}
	if rd.rec.provisional() {
		return rd.first(p)
	}
	return rd.render(p)
}

// hitForMiss is how long the page key is to be a hit-for-miss after this
// render: Config.HitForMiss when its response could not be stored for a
// reason of the page's own (not a server error, which may pass, nor this
// request's method). Such requests answer X-Cache: MISS with
// detail=uncacheable.
func (rd *render) hitForMiss() time.Duration {
	switch {
	case !rd.ran:
		return 0
	case rd.handlerErr != nil:
		if serverError(rd.handlerErr) {
			return 0
		}
	case rd.an.reason == "" || rd.an.upstreamErr || rd.an.reason == "method":
		// "method": this request's own method override, not the page's.
		return 0
	}
	return rd.m.cfg.HitForMiss
}

// first is a path's first render (no record yet). Nothing is stored under
// the provisional key. The record it will make gets its nonce now, and the
// page renders inside a cache.Load of its key under that record, so the
// core stores a storable page (tags and all) on this first render; commit
// writes the record just before, and only for a storable response.
func (rd *render) first(p *cachekit.Policy) ([]byte, error) {
	p.NoStore = true
	rd.rec = newRecord(nil, rd.rec.fence) // the fence of the tombstone read, if any
	rd.rec.pending = true
	key := string(rd.req.appendPageKey(nil, rd.c, rd.m, &rd.rec))
	r, err := rd.m.cache.Load(key, rd.policy(nil, true), func(ip *cachekit.Policy) ([]byte, error) { return rd.render(ip) })
	// The record is written after the page: a record write inside the
	// fill would keep the core from storing a page tagged while it
	// rendered. Until it lands the page is unreachable; if it fails, the
	// page expires unseen.
	rd.stored = r.Stored && rd.m.rewriteRecord(string(rd.rkey), rd.fence.key, rd.rec, rd.rec, rd.start, rd.an.life())
	return r.Value, err
}

// render renders the page under rd.rec.
func (rd *render) render(p *cachekit.Policy) ([]byte, error) {
	m := rd.m
	rd.ran = true
	// The fence as the request read it is in rd.rec (records.go, Fences):
	// a render that writes the record with a nonce pages are stored under
	// compares it with the one after its record write, to see an
	// InvalidatePath that landed between (needFence); the others skip that
	// read.
	fence := fence{skipped: true}
	if rd.needFence() {
		fence = pathFence(rd.c.Path(), rd.start)
	}
	rd.fence = fence
	rd.snap.take(rd.c)
	leave := enterFill(rd.c, p.Context())
	err := rd.c.Next()
	leave()
	if err != nil {
		rd.handlerErr = err
		p.NoStore = true
		if serverError(err) {
			rd.err = err // stale-if-error may answer instead
		}
		return nil, rd.err
	}
	rd.value, rd.err, rd.elsewhere = m.commit(rd.c, &rd.snap, p, rd.rec, string(rd.rkey), fence, rd.req, &rd.an)
	return rd.value, rd.err
}

// fence is how a render checks the path's fence after a record write: the
// fence key, and when the request began (the fence it compares with is
// the one the record it read holds).
type fence struct {
	key   string
	start time.Time
	// skipped: not to be read (needFence). Such a render never writes a record
	// that a page it stores is keyed under: a Vary list it learns gets a
	// record with a new nonce, its page unstored (learn), and its record
	// is not extended.
	skipped bool
}

// needFence reports whether this render checks the path's fence: the
// path's first render (it makes the record its page is stored under), or
// one whose record would expire within a page's life (finish extends it,
// keeping its nonce). Any other render writes a record only to learn a
// Vary list, with a new nonce and without storing its own page, which
// needs no fence: a record with a new nonce brings back nothing
// invalidated, and the pages stored under it are rendered by requests
// that read it after it was written.
func (rd *render) needFence() bool {
	if rd.rec.provisional() || rd.rec.pending {
		return true
	}
	if rd.rec.expires.IsZero() {
		return false // never expires, or not stored: nothing to extend
	}
	cfg := &rd.m.cfg
	horizon := max(cfg.TTL+max(cfg.StaleWhileRevalidate, cfg.StaleIfError), minRecordLife) + minRecordLife
	return rd.rec.expires.Before(time.Now().Add(horizon))
}

func pathFence(path string, start time.Time) fence {
	return fence{key: fenceKey(path), start: start}
}

// commit analyses the response the chain produced and returns what the
// core should store under p. A response that varies on headers the path's
// record did not list is stored by learn under its new key (elsewhere),
// never under this one.
func (m *middleware) commit(c *fiber.Ctx, snap *snapshot, p *cachekit.Policy, rec record, rkey string,
	f fence, req *request, an *analysis) (value []byte, err error, elsewhere bool) {
	*an = m.analyze(c, snap, &rec, req)
	switch {
	case an.reason != "":
		p.NoStore = true
		if an.upstreamErr {
			return nil, errUpstream, false
		}
		return nil, nil, false
	case an.varyChanged:
		p.NoStore = true
		return an.value, nil, m.learn(c, req, rec, rkey, f, an, p.Context())
	}
	an.apply(p)
	return an.value, nil, false
}

// learn is where a Vary list is learned: the path's record is rewritten to
// list an.vary (learnVary) and the page stored under the key it has under
// the new record. It runs inside the render, before the callers waiting
// for it are let go, so that they find the new record and the page under
// it when they go round again. A tagged page is not stored here: only the
// core's own fill checks that its tags were not invalidated while it
// rendered.
func (m *middleware) learn(c *fiber.Ctx, req *request, rec record, rkey string, f fence, an *analysis, render context.Context) bool {
	if f.skipped {
		m.relearnVary(rkey, rec, an.vary, an.life())
		return false
	}
	nrec, ok := m.learnVary(rkey, f.key, rec, an.vary, f.start, an.life())
	if !ok || len(an.tags) > 0 {
		return false
	}
	nreq := request{depth: req.depth, scratch: make([]byte, 0, 64)}
	nreq.scan(c, m, &nrec)
	key := string(nreq.appendPageKey(nil, c, m, &nrec))
	value := an.value
	lp := an.policy()
	lp.Absent = true // under the new record's nonce, which nothing was stored under
	r, _ := m.cache.Load(key, lp, func(p *cachekit.Policy) ([]byte, error) {
		cachekit.Inherit(p.Context(), render) // what the render read
		return value, nil
	})
	return r.Stored
}

// serverError reports whether a handler's error becomes a 5xx response
// (fiber's error handler answers 500 for errors that are not a
// *fiber.Error): only those let stale-if-error serve a stale page
// (RFC 5861). A 404 or 403 from a handler is the page's answer.
func serverError(err error) bool {
	var fe *fiber.Error
	if errors.As(err, &fe) {
		return fe.Code >= 500
	}
	return true
}

// finish completes the response of the request that rendered.
func (rd *render) finish(r cachekit.Result, err error) error {
	c, m := rd.c, rd.m
	if m.innerHandled(c) {
		return rd.handlerErr // an inner instance owns the response
	}
	if rd.handlerErr != nil || err != nil || r.FillErr != nil {
		if r.Status == cachekit.Stale && r.Value != nil {
			var pg page
			if decodePage(r.Value, &pg) == nil {
				rd.snap.restore(c)
				m.serve(c, &pg, nil, &r, rd.req, kindStaleIfError)
				return nil
			}
		}
		m.stripSurrogateKey(c)
		if rd.handlerErr != nil {
			setStatusHeaders(c, xMiss, "fwd=uri-miss", "error", false)
			return rd.handlerErr
		}
		setStatusHeaders(c, xMiss, "fwd=uri-miss", rd.an.reasonOr("status"), false)
		return nil
	}
	m.stripSurrogateKey(c)
	fwd := "fwd=uri-miss"
	if rd.revalidate {
		fwd = "fwd=request"
	}
	stored := r.Stored || rd.elsewhere || rd.stored
	if rd.an.reason == "" {
		rd.an.decorate(c)
	}
	if !stored {
		setStatusHeaders(c, xMiss, fwd, rd.an.reasonOr("not-stored"), false)
		return nil
	}
	setStatusHeaders(c, xMiss, fwd, "", true)
	if r.Stored && !rd.fence.skipped {
		// After the store, not inside the fill: a record write there
		// would keep the core from storing a page tagged while it
		// rendered.
		m.extendRecord(string(rd.rkey), rd.fence.key, rd.rec, rd.start, rd.an.life())
	}
	m.downstream(c, rd.an.flags(), rd.an.ttl)
	if rd.an.status == fiber.StatusOK && notModified(rd.req, rd.an.etag, rd.an.lastModified) {
		c.Response().SetStatusCode(fiber.StatusNotModified)
		c.Response().ResetBody()
	}
	return nil
}

// refreshState marks a background refresh request; the middleware instance
// it belongs to renders into it.
type refreshState struct {
	m       *middleware
	rec     record
	rkey    string
	start   time.Time // when the request that read rec began
	p       *cachekit.Policy
	reached bool
	value   []byte
	err     error
}

// background builds the stale-while-revalidate refresh. It runs on the
// request's goroutine: it copies the request, so the refresh never touches
// this fiber.Ctx, which is recycled when the handler returns. The refresh
// runs the request through the app's whole handler again, marked so that
// this middleware renders instead of looking up.
func (rd *render) background() cachekit.Fill {
	req := new(fasthttp.Request)
	rd.c.Request().CopyTo(req)
	rctx := rd.c.Context()
	conn := &bgConn{localAddr: rctx.LocalAddr(), remoteAddr: rctx.RemoteAddr()}
	var nc net.Conn = conn
	if st := rctx.TLSConnectionState(); st != nil {
		nc = &bgTLSConn{bgConn: conn, state: *st}
	}
	handler := rd.c.App().Server().Handler
	m, rec, rkey, start := rd.m, rd.rec, string(rd.rkey), rd.start
	return func(p *cachekit.Policy) ([]byte, error) {
		ctx := new(fasthttp.RequestCtx)
		ctx.Init2(nc, nopLogger{}, false)
		req.CopyTo(&ctx.Request)
		rs := &refreshState{m: m, rec: rec, rkey: rkey, start: start, p: p}
		ctx.SetUserValue(refreshKey{}, rs)
		handler(ctx)
		if !rs.reached {
			return nil, errNoReach
		}
		return rs.value, rs.err
	}
}

// refresh renders a page for a background refresh.
func (m *middleware) refresh(c *fiber.Ctx, rs *refreshState, depth int) error {
	rs.reached = true
	fence := pathFence(c.Path(), rs.start)
	var snap snapshot
	snap.take(c)
	leave := enterFill(c, rs.p.Context())
	err := c.Next()
	leave()
	if err != nil {
		rs.p.NoStore = true
		if serverError(err) {
			rs.err = err
		}
		return err
	}
	s := getScratch()
	defer putScratch(s)
	s.req.depth = depth
	s.req.scan(c, m, &rs.rec)
	var an analysis
	rs.value, rs.err, _ = m.commit(c, &snap, rs.p, rs.rec, rs.rkey, fence, &s.req, &an)
	return nil
}

// bgConn stands for the client's connection in a background refresh.
type bgConn struct{ localAddr, remoteAddr net.Addr }

func (*bgConn) Read([]byte) (int, error)         { return 0, errors.New("fibercache: refresh connection") }
func (*bgConn) Write(b []byte) (int, error)      { return len(b), nil }
func (*bgConn) Close() error                     { return nil }
func (c *bgConn) LocalAddr() net.Addr            { return c.localAddr }
func (c *bgConn) RemoteAddr() net.Addr           { return c.remoteAddr }
func (*bgConn) SetDeadline(time.Time) error      { return nil }
func (*bgConn) SetReadDeadline(time.Time) error  { return nil }
func (*bgConn) SetWriteDeadline(time.Time) error { return nil }

// bgTLSConn makes the refresh of a request that came over TLS see TLS
// (c.Protocol, c.Secure), so it renders the same page.
type bgTLSConn struct {
	*bgConn
	state tls.ConnectionState
}

func (*bgTLSConn) Handshake() error                       { return nil }
func (c *bgTLSConn) ConnectionState() tls.ConnectionState { return c.state }

type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}
