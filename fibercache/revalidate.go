package fibercache

import (
	"errors"

	"github.com/cachekit/cachekit"
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"
)

// Revalidation (RFC 9111 §4.3), under Config.Strict. A page whose handler
// gave it a validator (an ETag or a Last-Modified of its own) is kept past
// its freshness (analysis.keep); once stale (its age past page.ttl), the
// request runs the handler with If-None-Match / If-Modified-Since carrying
// the stored validators instead of the client's. A 304 freshens the stored
// page: its headers are updated from the 304 (§3.2; Content-Length and the
// per-response ones aside), its freshness is computed again from them, and
// the stored body is kept, so a handler that checks c.Fresh() skips its
// render. A full response replaces the page as a render would. The
// refreshed page depends on what the stored one did (its tags) and on
// what the revalidating render read.
//
// Concurrent requests for a stale page each revalidate (none waits for
// another's). A page whose response is not storable any more is dropped.

var errNoPage = errors.New("fibercache: the stored page went away")

// stale reports whether pg, of age r.Age, is past its freshness and is to
// be revalidated.
func stale(pg *page, r *cachekit.Result) bool {
	return pg.flags&flagRevalidate != 0 && int64(r.Age) >= int64(pg.ttl)*1e9
}

// revalidate answers a request for the stale page pg stored under key.
func (m *middleware) revalidate(c *fiber.Ctx, req *request, rec *record, key []byte, pg *page) error {
	skey := string(key)
	// What the stored page depends on: read under a collector.
	old := m.cache.Collect(c.UserContext())
	r, _ := m.cache.LoadContext(old, skey, cachekit.Policy{}, func(p *cachekit.Policy) ([]byte, error) {
		p.NoStore = true
		return nil, errNoPage
	})
	if r.Status != cachekit.Hit || decodePage(r.Value, pg) != nil || !stale(pg, &r) {
		return m.pass(c, xMiss, "fwd=stale", "revalidate-raced")
	}

	rq := &c.Request().Header
	inm, ims := string(req.inm), string(req.ims) // the client's, copied
	rq.Del(fiber.HeaderIfNoneMatch)
	rq.Del(fiber.HeaderIfModifiedSince)
	if pg.flags&flagOwnETag != 0 && len(pg.etag) > 0 {
		rq.SetBytesV(fiber.HeaderIfNoneMatch, pg.etag)
	}
	if lm := storedHeader(pg, hdrLastModified); pg.flags&flagOwnLM != 0 && lm != nil {
		rq.SetBytesV(fiber.HeaderIfModifiedSince, lm)
	}
	var snap snapshot
	snap.take(c)
	deps := m.cache.Collect(c.UserContext())
	leave := enterFill(c, deps)
	err := c.Next()
	leave()
	// The client's own conditionals again, for the answer below.
	rq.Del(fiber.HeaderIfNoneMatch)
	rq.Del(fiber.HeaderIfModifiedSince)
	if inm != "" {
		rq.Set(fiber.HeaderIfNoneMatch, inm)
	}
	if ims != "" {
		rq.Set(fiber.HeaderIfModifiedSince, ims)
	}
	req.inm, req.ims = []byte(inm), []byte(ims)
	if err != nil || m.innerHandled(c) {
		if err != nil {
			m.stripSurrogateKey(c)
			setStatusHeaders(c, xMiss, "fwd=stale", "revalidate-error", false)
		}
		return err
	}
	notMod := c.Response().StatusCode() == fiber.StatusNotModified
	if notMod {
		freshened(c, &snap, pg)
	}
	an := m.analyze(c, &snap, rec, req)
	if an.reason != "" || an.varyChanged || (notMod && an.status != pg.status) {
		_ = m.cache.Delete(skey)
		m.stripSurrogateKey(c)
		setStatusHeaders(c, xMiss, "fwd=stale", an.reasonOr("vary-changed"), false)
		return nil
	}
	_ = m.cache.Delete(skey)
	value := an.value
	nr, _ := m.cache.Load(skey, an.policy(), func(p *cachekit.Policy) ([]byte, error) {
		cachekit.Inherit(p.Context(), deps)
		if notMod {
			cachekit.Inherit(p.Context(), old)
		}
		return value, nil
	})
	m.stripSurrogateKey(c)
	if notMod {
		var npg page
		if decodePage(value, &npg) == nil {
			snap.restore(c)
			m.serve(c, &npg, nil, &cachekit.Result{}, req, kindRevalidated)
			return nil
		}
	}
	an.decorate(c)
	setStatusHeaders(c, xMiss, "fwd=stale", "", nr.Stored)
	if an.status == fiber.StatusOK && notModified(req, an.etag, an.lastModified) {
		c.Response().SetStatusCode(fiber.StatusNotModified)
		c.Response().ResetBody()
	}
	return nil
}

// freshened turns the 304 in c's response into the stored page pg updated
// with the 304's headers (RFC 9111 §3.2): each header the 304 sends
// replaces the stored ones of that name; Content-Length and the
// per-response and hop-by-hop ones are never taken from it; the body is
// the stored one. A validator made at store time is left out: the
// analysis makes it again from the same body.
func freshened(c *fiber.Ctx, snap *snapshot, pg *page) {
	resp := c.Response()
	rh := collectHeaders(&resp.Header, snap)
	snap.restore(c)
	h := &resp.Header
	fresh := func(name []byte) bool {
		for _, x := range rh.all {
			if !x.front && x.class != hdrSkip && utils.EqualFold(b2s(x.k), b2s(name)) {
				return true
			}
		}
		return false
	}
	resp.SetStatusCode(pg.status)
	h.SetContentTypeBytes(pg.ctype)
	hs := pg.headers
	for i := 0; i < pg.nheaders; i++ {
		var hd header
		hd, hs = nextHeader(hs)
		if fresh(hd.name) || pg.flags&flagOwnLM == 0 && string(hd.name) == string(hdrLastModified) {
			continue
		}
		h.AddBytesKV(hd.name, hd.value)
	}
	if pg.flags&flagOwnETag != 0 && !fresh(hdrETag) {
		h.SetCanonical(hdrETag, pg.etag)
	}
	for _, x := range rh.all {
		if x.front || x.class == hdrSkip || x.class == hdrContentType {
			continue
		}
		h.AddBytesKV(x.k, x.v)
	}
	resp.SetBody(pg.body)
}

// storedHeader returns the value of the first stored header named name
// (canonical), or nil.
func storedHeader(pg *page, name []byte) []byte {
	hs := pg.headers
	for i := 0; i < pg.nheaders; i++ {
		var hd header
		hd, hs = nextHeader(hs)
		if string(hd.name) == string(name) {
			return hd.value
		}
	}
	return nil
}
