package fibercache

import (
	"unsafe"

	"github.com/cachekit/cachekit"
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"
	"github.com/valyala/fasthttp"
)

// The hit path. A request the cache may serve and store (handle) whose
// path has a record first tries hit: the page key, the hit-for-miss and
// render marks, and one read of the core's hot layer (HotView.LookupHint,
// which counts the hit as Load would, led by the hint the path's decoded
// record keeps: the place of the path's last page, tried before hashing
// the key; what is found there is checked as any lookup's, so the hint
// never decides what is served). A fresh page found there is answered at
// once (answer), without the miss sequence's render state, policy and
// fill; anything else (no page in the hot layer, a mark, a nested
// instance) goes on to load exactly as before, which then reads the key
// as if hit had not run.
//
// A page the hot layer keeps is decoded once, not on every hit: the
// decoded page and the plan of its stored headers (prepared) are kept in
// the core's memo of that value (cachekit.Result.Memo), which lives and
// dies with the kept value. The memo is a function of the stored bytes
// alone; whether they may be served (freshness, invalidations, tags,
// Clear, a bus message) is decided by the core's lookup on every hit, so
// the memo can never serve a page the core would not.

// hit answers the request from a fresh page of the hot layer, and reports
// whether it did; when it did not, s.key holds the page key (load reuses
// it) and nothing was counted or written.
func (m *middleware) hit(c *fiber.Ctx, s *scratchState, rec *record, hv cachekit.HotView) (bool, error) {
	s.key = s.req.appendPageKeyTagged(s.key[:0], c, m, rec, pathKeyTag(s.rk))
	key := b2s(s.key)
	if st, _ := m.marks.check(key); st != markNone {
		return false, nil // load decides, as for any request
	}
	// The hint of the record (when it came from the hot layer) leads to
	// the path's page kept there without hashing the key again; what is
	// found, and whether it may be served, is the core's lookup of key.
	var r cachekit.Result
	if !hv.LookupHint(key, rec.hint, &r) {
		return false, nil
	}
	// What load does with the Hit cache.Load would have returned.
	return true, m.answer(c, &s.req, rec, s.key, &r, nil)
}

// prepared is a stored page decoded once (see above).
type prepared struct {
	src []byte // the stored value it was decoded from
	ok  bool   // it decodes; the rest is set only then
	pg  page
	// simple: the stored headers are set as planned below, together with
	// the hit's own: apart, the headers fasthttp keeps out of its header
	// list (set through SetCanonical), and those of the list, at
	// most maxPreparedPairs, with names distinct from each other and from
	// the hit's own (ETag, Age, X-Cache, Cache-Status). Otherwise serve
	// walks the stored headers one by one.
	simple bool
	apart  []header
	// fixed: those of the list, the lines a hit sets as they are, before
	// its ETag, Age, X-Cache and Cache-Status (setServed).
	fixed []hdrPair
}

// maxPreparedPairs is how many stored list headers a simple page has at
// most.
const maxPreparedPairs = 16

// pageOf returns the page r holds: its prepared form when the hot layer
// answered (nil, and pg decoded in place, otherwise), and whether it
// decodes.
func (m *middleware) pageOf(r *cachekit.Result, pg *page) (*page, *prepared, bool) {
	memo := r.Memo()
	if memo == nil {
		return pg, nil, decodePage(r.Value, pg) == nil
	}
	p, _ := memo.Load().(*prepared)
	if p == nil || len(p.src) != len(r.Value) || unsafe.SliceData(p.src) != unsafe.SliceData(r.Value) {
		p = m.prepare(r.Value)
		memo.Store(p)
	}
	return &p.pg, p, p.ok
}

// prepare decodes the stored page b and plans its headers.
func (m *middleware) prepare(b []byte) *prepared {
	p := &prepared{src: b}
	if decodePage(b, &p.pg) != nil {
		return p
	}
	p.ok = true
	p.simple = m.list.respOK
	var probe fasthttp.ResponseHeader
	hs := p.pg.headers
	for i := 0; i < p.pg.nheaders && p.simple; i++ {
		var hd header
		hd, hs = nextHeader(hs)
		switch {
		case seenBefore(p.pg.headers, i, hd.name) || ownHeader(hd.name):
			p.simple = false
		case p.pg.flags&flagHasCC == 0 && string(hd.name) == "Expires":
			// Config.CacheControl's Expires replaces it (setServed
			// appends its own after the fixed lines): set one by one.
			// Whatever the config: the plan is kept with the stored
			// value, which another instance may serve.
			p.simple = false
		case m.list.dateNoop && utils.EqualFold(b2s(hd.name), "Date"):
			// SetCanonical would drop it: nothing to set (a hit's stored
			// Date goes out through sendStoredDate).
		case maybeSpecial(hd.name):
			// Kept apart by fasthttp (Content-Encoding, Date, ...) if
			// SetCanonical leaves its list empty: then the order against
			// the list's lines does not matter.
			probe.Reset()
			probe.SetCanonical(hd.name, hd.value)
			if m.list.respLines(&probe) != 0 {
				p.simple = false
			}
			p.apart = append(p.apart, hd)
		case len(p.fixed) == maxPreparedPairs:
			p.simple = false
		default:
			p.fixed = append(p.fixed, hdrPair{name: string(hd.name), value: hd.value})
		}
	}
	if !p.simple {
		p.apart, p.fixed = nil, nil
	}
	return p
}

// ownHeader reports whether name is one of the headers a hit sets itself.
func ownHeader(name []byte) bool {
	for _, n := range [...]string{"ETag", "Age", "X-Cache", "Cache-Status"} {
		if utils.EqualFold(b2s(name), n) {
			return true
		}
	}
	return false
}
