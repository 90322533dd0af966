package fibercache

import (
	"bytes"
	"crypto/tls"
	"errors"
	"net"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// fill is one request's render on a miss: the core runs it once for every
// concurrent caller of the key.
type fill struct {
	m          *middleware
	c          *fiber.Ctx
	req        *request
	rec        record
	rkey, key  string
	revalidate bool

	ran        bool // this request rendered
	snap       snapshot
	an         analysis
	handlerErr error
	value      []byte
	err        error
	elsewhere  bool // stored under another key (the Vary list grew)
}

func (f *fill) policy() cachekit.Policy {
	return cachekit.Policy{
		TTL:                  f.m.cfg.TTL,
		StaleWhileRevalidate: f.m.cfg.StaleWhileRevalidate,
		StaleIfError:         f.m.cfg.StaleIfError,
		Background:           f.background,
	}
}

// run renders the page through the rest of the chain and returns its
// stored form.
func (f *fill) run(p *cachekit.Policy) ([]byte, error) {
	if f.ran {
		// The core runs the fill again for a caller whose value was not
		// to be shared; this caller has its response already.
		p.NoStore = true
		return f.value, f.err
	}
	m := f.m
	// A caller that waited for a render it could not use runs its own:
	// first make sure the path's record still is the one it keyed with.
	if cur, ok := m.readRecord(f.rkey); !ok || !cur.equal(f.rec) {
		return nil, errRetry
	}
	f.ran = true
	fkey := fenceKey(f.rkey)
	fence, fenceErr := m.readFence(fkey)
	f.snap.take(f.c)
	err := f.c.Next()
	if err != nil {
		f.handlerErr = err
		p.NoStore = true
		if serverError(err) {
			f.err = err // stale-if-error may answer instead
		}
		return nil, f.err
	}
	f.value, f.err, f.elsewhere = m.commit(f.c, &f.snap, p, f.rec, f.rkey, fence, fenceErr, f.req, &f.an)
	return f.value, f.err
}

// commit analyses the response the chain produced and returns what the
// core should store under p. When the response varies on headers the
// path's record did not list, the record is updated and the page stored
// under its new key (elsewhere), never under the old one.
func (m *middleware) commit(c *fiber.Ctx, snap *snapshot, p *cachekit.Policy, rec record, rkey string,
	fence []byte, fenceErr error, req *request, an *analysis) (value []byte, err error, elsewhere bool) {
	*an = m.analyze(c, snap, &rec, req)
	if an.reason != "" {
		p.NoStore = true
		if an.upstreamErr {
			return nil, errUpstream, false
		}
		return nil, nil, false
	}
	if !an.varyChanged {
		an.apply(p)
		return an.value, nil, false
	}
	p.NoStore = true
	nrec, ok := m.learnVary(rkey, rec, an.vary, fence, fenceErr)
	if !ok || len(an.tags) > 0 {
		// A tagged page is stored only through the core's own fill,
		// which checks its tags were not invalidated while it rendered.
		return an.value, nil, false
	}
	nreq := request{depth: req.depth, scratch: make([]byte, 0, 64)}
	nreq.scan(c, m, &nrec)
	key := string(nreq.appendPageKey(nil, c, m, &nrec))
	value = an.value
	r, _ := m.cache.Load(key, an.policy(), func(*cachekit.Policy) ([]byte, error) { return value, nil })
	return value, nil, r.Stored
}

// learnVary replaces the path's record with one listing vary and a new
// nonce, unless the record moved while the page rendered. An
// InvalidatePath that ran meanwhile is seen through the fence it rewrites
// first: the record is then invalidated again, so this write can never undo
// it.
func (m *middleware) learnVary(rkey string, rec record, vary []byte, fence0 []byte, fenceErr error) (record, bool) {
	cur, ok := m.readRecord(rkey)
	if !ok || !cur.equal(rec) || fenceErr != nil {
		return record{}, false
	}
	nrec := record{nonce: newNonce(), vary: vary}
	err := m.cache.Set(rkey, encodeRecord(nrec.nonce, nrec.vary), 0)
	localRecords.clear(rkey)
	if err != nil {
		return record{}, false
	}
	fence1, err := m.readFence(fenceKey(rkey))
	if err != nil || !bytes.Equal(fence0, fence1) {
		_ = m.cache.Set(rkey, encodeRecord(newNonce(), vary), 0)
		localRecords.clear(rkey)
		return record{}, false
	}
	return nrec, true
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

func (m *middleware) readFence(fkey string) ([]byte, error) {
	b, _, err := m.cache.Get(fkey)
	return b, err
}

// fenceKey turns a record key into the path's fence key.
func fenceKey(rkey string) string {
	b := []byte(rkey)
	if len(b) > 2 {
		b[2] = b[2] - 'r' + 'f' // fcr -> fcf, fcR -> fcF
	}
	return string(b)
}

// finish completes the response of the request that rendered.
func (f *fill) finish(r cachekit.Result, err error) error {
	c, m := f.c, f.m
	if m.innerHandled(c) {
		return f.handlerErr // an inner instance owns the response
	}
	if f.handlerErr != nil || err != nil || r.FillErr != nil {
		if r.Status == cachekit.Stale && r.Value != nil {
			var e entry
			if decodeEntry(r.Value, &e) == nil {
				f.snap.restore(c)
				m.serve(c, &e, &r, f.req, kindStaleIfError)
				return nil
			}
		}
		stripSurrogateKey(c)
		if f.handlerErr != nil {
			setStatusHeaders(c, xMiss, "fwd=uri-miss", "error", false)
			return f.handlerErr
		}
		setStatusHeaders(c, xMiss, "fwd=uri-miss", f.an.reasonOr("status"), false)
		return nil
	}
	stripSurrogateKey(c)
	fwd := "fwd=uri-miss"
	if f.revalidate {
		fwd = "fwd=request"
	}
	stored := r.Stored || f.elsewhere
	if f.an.reason == "" {
		f.an.decorate(c)
	}
	if !stored {
		setStatusHeaders(c, xMiss, fwd, f.an.reasonOr("not-stored"), false)
		return nil
	}
	setStatusHeaders(c, xMiss, fwd, "", true)
	m.downstream(c, f.an.flags(), f.an.ttl)
	if f.an.status == fiber.StatusOK && notModified(f.req, f.an.etag, f.an.lastModified) {
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
func (f *fill) background() cachekit.Fill {
	req := new(fasthttp.Request)
	f.c.Request().CopyTo(req)
	rctx := f.c.Context()
	conn := &bgConn{local: rctx.LocalAddr(), remote: rctx.RemoteAddr()}
	var nc net.Conn = conn
	if st := rctx.TLSConnectionState(); st != nil {
		nc = &bgTLSConn{bgConn: conn, state: *st}
	}
	handler := f.c.App().Server().Handler
	m, rec, rkey := f.m, f.rec, f.rkey
	return func(p *cachekit.Policy) ([]byte, error) {
		ctx := new(fasthttp.RequestCtx)
		ctx.Init2(nc, nopLogger{}, false)
		req.CopyTo(&ctx.Request)
		rs := &refreshState{m: m, rec: rec, rkey: rkey, p: p}
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
	fence, fenceErr := m.readFence(fenceKey(rs.rkey))
	var snap snapshot
	snap.take(c)
	if err := c.Next(); err != nil {
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
	rs.value, rs.err, _ = m.commit(c, &snap, rs.p, rs.rec, rs.rkey, fence, fenceErr, &s.req, &an)
	return nil
}

// bgConn stands for the client's connection in a background refresh.
type bgConn struct{ local, remote net.Addr }

func (*bgConn) Read([]byte) (int, error)         { return 0, errors.New("fibercache: refresh connection") }
func (*bgConn) Write(b []byte) (int, error)      { return len(b), nil }
func (*bgConn) Close() error                     { return nil }
func (c *bgConn) LocalAddr() net.Addr            { return c.local }
func (c *bgConn) RemoteAddr() net.Addr           { return c.remote }
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
