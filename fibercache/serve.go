package fibercache

import (
	"net/http"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

var (
	hdrXCache       = []byte("X-Cache")
	hdrCacheStatus  = []byte("Cache-Status")
	hdrETag         = []byte("ETag")
	hdrAge          = []byte("Age")
	hdrLastModified = []byte("Last-Modified")
	hdrCacheCtl     = []byte("Cache-Control")
	hdrExpiresB     = []byte("Expires")

	xMiss   = []byte("MISS")
	xBypass = []byte("BYPASS")
)

// How a stored page is served.
type serveKind uint8

const (
	kindHit          serveKind = iota // fresh
	kindStale                         // inside stale-while-revalidate; a refresh runs
	kindStaleIfError                  // the render failed
	kindCollapsed                     // this request waited for another's render
	kindRevalidated                   // stale, refreshed by a 304 from the handler
)

// serve answers the request from a stored page pg: status, headers, the
// validators, Age, X-Cache and Cache-Status, and the body (none for HEAD:
// fasthttp drops it) or a 304 when the request's validators match.
//
// pp is pg's prepared form (hit.go), nil when it has none: its stored
// headers are then set one by one.
func (m *middleware) serve(c *fiber.Ctx, pg *page, pp *prepared, r *cachekit.Result, req *request, kind serveKind) {
	resp := c.Response()
	h := &resp.Header
	resp.SetStatusCode(pg.status)
	h.SetContentTypeBytes(pg.ctype)
	// The stored headers: those fasthttp keeps apart, and the list's
	// (sv.fixed) set below with the ETag and the hit's own, when prepared;
	// else set one by one.
	sv := served{etag: pg.etag, kind: kind}
	if pp != nil && pp.simple {
		for _, hd := range pp.apart {
			h.SetCanonical(hd.name, hd.value)
		}
		sv.fixed = pp.fixed
	} else {
		setStored(h, &m.list, pg)
	}
	// The page's ETag replaces one a middleware in front set, as the
	// handler's did on the miss: fasthttp's Set spells it "Etag", which
	// the ETag line would be sent beside.
	if len(pg.etag) > 0 && m.list.hasLineFold(h, "etag") {
		h.Del("ETag")
	}
	sendStoredDate(c, &m.list, pg) // date.go

	// Seconds of freshness left (negative when stale): the page's TTL
	// less its age, with no clock read.
	age := int64(r.Age / time.Second)
	sv.remaining = int64(pg.ttl) - age
	if pg.ttl == 0 {
		sv.remaining = 365 * 24 * 3600
	}
	// The age it had when stored (its Age, its Date) counts too; a
	// collapsed request's page, just rendered, has none.
	sv.age, sv.hasAge = age+int64(pg.age), kind != kindCollapsed || pg.age != 0
	if pg.flags&flagHasCC == 0 && m.cfg.CacheControl {
		var ccBuf [64]byte // here: zeroed only when sent
		var expBuf [32]byte
		sv.cacheControl, sv.expires = appendDownstream(ccBuf[:0], expBuf[:0], pg.flags, max(sv.remaining, 0), time.Now())
	}
	m.list.setServed(h, &sv)
	if pg.status == fiber.StatusOK && len(req.inm)|len(req.ims) != 0 && notModified(req, pg.etag, pg.lastModified) {
		resp.SetStatusCode(fiber.StatusNotModified)
		resp.ResetBody()
		return
	}
	// A copy into the response's own (pooled) buffer: pg.body is the
	// stored value, shared with every other hit, and a middleware outside
	// may edit the response body in place.
	resp.SetBody(pg.body)
}

// appendXCache appends the X-Cache value of a page served as kind to dst.
func appendXCache(dst []byte, kind serveKind) []byte {
	switch kind {
	case kindStale, kindStaleIfError:
		return append(dst, "STALE"...)
	case kindCollapsed:
		return append(dst, "MISS"...)
	}
	return append(dst, "HIT"...)
}

// appendCacheStatus appends the Cache-Status value of a page served as
// kind with remaining seconds of freshness (negative when stale) to dst.
func appendCacheStatus(dst []byte, kind serveKind, remaining int64) []byte {
	dst = append(dst, "cachekit; "...)
	switch kind {
	case kindHit:
		dst = append(dst, "hit; ttl="...)
		dst = appendInt(dst, remaining)
	case kindStale:
		dst = append(dst, "hit; ttl="...)
		dst = appendInt(dst, min(remaining, 0))
		dst = append(dst, "; detail=stale-while-revalidate"...)
	case kindStaleIfError:
		dst = append(dst, "fwd=stale; ttl="...)
		dst = appendInt(dst, min(remaining, 0))
		dst = append(dst, "; detail=stale-if-error"...)
	case kindCollapsed:
		dst = append(dst, "fwd=uri-miss; collapsed; stored"...)
	case kindRevalidated:
		dst = append(dst, "fwd=stale; fwd-status=304; stored; ttl="...)
		dst = appendInt(dst, remaining)
	}
	return dst
}

// setStored sets pg's stored headers one by one, in order.
func setStored(h *fasthttp.ResponseHeader, lv *listView, pg *page) {
	hs := pg.headers
	for i := 0; i < pg.nheaders; i++ {
		var hd header
		hd, hs = nextHeader(hs)
		switch {
		case seenBefore(pg.headers, i, hd.name):
			h.AddBytesKV(hd.name, hd.value)
		case maybeSpecial(hd.name):
			h.SetCanonical(hd.name, hd.value)
		default:
			lv.set(h, hd.name, hd.value)
		}
	}
}

// maybeSpecial reports whether the response header name may be one that
// fasthttp's SetCanonical keeps apart from its list (setSpecialHeader
// dispatches on the first letter: c, s, t, d).
func maybeSpecial(name []byte) bool {
	if len(name) == 0 {
		return true
	}
	switch name[0] | 0x20 {
	case 'c', 's', 't', 'd':
		return true
	}
	return false
}

// seenBefore reports whether one of the first i headers of the encoded list
// hs is named name.
func seenBefore(hs []byte, i int, name []byte) bool {
	for j := 0; j < i; j++ {
		var hd header
		hd, hs = nextHeader(hs)
		if string(hd.name) == string(name) {
			return true
		}
	}
	return false
}

// setStatusHeaders sets X-Cache and Cache-Status on a response the cache
// did not answer.
func setStatusHeaders(c *fiber.Ctx, x []byte, fwd, detail string, stored bool) {
	h := &c.Response().Header
	h.SetCanonical(hdrXCache, x)
	var buf [96]byte
	b := append(buf[:0], "cachekit; "...)
	b = append(b, fwd...)
	if stored {
		b = append(b, "; stored"...)
	}
	if detail != "" {
		b = append(b, "; detail="...)
		b = append(b, detail...)
	}
	h.SetCanonical(hdrCacheStatus, b)
	ensureDate(c) // date.go
}

// downstream sends Cache-Control and Expires for a page just stored, when
// configured and the handler set no Cache-Control.
func (m *middleware) downstream(c *fiber.Ctx, flags byte, ttl time.Duration) {
	if !m.cfg.CacheControl || flags&flagHasCC != 0 {
		return
	}
	secs := int64(ttl / time.Second)
	if ttl == 0 {
		secs = 365 * 24 * 3600
	}
	m.downstreamSeconds(c, flags, secs, time.Now())
}

// downstreamSeconds sends Cache-Control (max-age secs) and Expires (now
// plus secs), as SetCanonical would.
func (m *middleware) downstreamSeconds(c *fiber.Ctx, flags byte, secs int64, now time.Time) {
	h := &c.Response().Header
	var ccBuf [64]byte
	var expBuf [32]byte
	cc, exp := appendDownstream(ccBuf[:0], expBuf[:0], flags, secs, now)
	m.list.set(h, hdrCacheCtl, cc)
	m.list.set(h, hdrExpiresB, exp)
}

// appendDownstream appends the Cache-Control (max-age secs, private for a
// per-user page) and Expires (now plus secs) a response is sent with
// under Config.CacheControl to cc and exp.
func appendDownstream(cc, exp []byte, flags byte, secs int64, now time.Time) ([]byte, []byte) {
	if flags&flagPerUser != 0 {
		cc = append(cc, "private, max-age="...)
	} else {
		cc = append(cc, "public, max-age="...)
	}
	return appendInt(cc, secs), appendHTTPDate(exp, now.Unix()+secs)
}

// appendHTTPDate appends the IMF-fixdate (RFC 9110 §5.6.7) of the Unix
// time unix to dst, as time's AppendFormat with http.TimeFormat writes it
// in UTC, without its general machinery.
func appendHTTPDate(dst []byte, unix int64) []byte {
	if unix < 0 || unix >= 253402300800 { // before 1970, or from year 10000
		return time.Unix(unix, 0).UTC().AppendFormat(dst, http.TimeFormat)
	}
	days, secs := unix/86400, unix%86400
	// The civil date of days since 1970-01-01 (H. Hinnant's days_from_civil,
	// inverted): years of 400 from 0000-03-01.
	z := days + 719468
	era := z / 146097
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	day := doy - (153*mp+2)/5 + 1
	month, year := mp+3, yoe+era*400
	if month > 12 {
		month -= 12
		year++
	}
	dst = append(dst, shortDays[(days+4)%7]...) // 1970-01-01 was a Thursday
	dst = append(dst, ',', ' ')
	dst = appendDigits2(dst, day)
	dst = append(dst, ' ')
	dst = append(dst, months[month-1]...)
	dst = append(dst, ' ')
	dst = appendDigits2(dst, year/100)
	dst = appendDigits2(dst, year%100)
	dst = append(dst, ' ')
	dst = appendDigits2(dst, secs/3600)
	dst = append(dst, ':')
	dst = appendDigits2(dst, secs/60%60)
	dst = append(dst, ':')
	dst = appendDigits2(dst, secs%60)
	return append(dst, " GMT"...)
}

// appendDigits2 appends n (0 to 99) as two digits.
func appendDigits2(dst []byte, n int64) []byte {
	d := digitPairs[n]
	return append(dst, byte(d), byte(d>>8))
}

// stripSurrogateKey removes the Surrogate-Key header: its tags are for this
// cache, not for the client (unless Config.SurrogateHeaders).
func (m *middleware) stripSurrogateKey(c *fiber.Ctx) {
	if m.cfg.SurrogateHeaders {
		return // Config.SurrogateHeaders: for the CDN in front
	}
	c.Response().Header.Del("Surrogate-Key")
}

// notModified evaluates the request's conditional headers (RFC 9110 §13.2.2:
// If-None-Match, with weak comparison; else If-Modified-Since) against a
// page's validators.
func notModified(req *request, etag []byte, lastModified int64) bool {
	if len(req.inm) > 0 {
		return etagMatch(req.inm, etag)
	}
	if len(req.ims) > 0 && lastModified != 0 {
		t, err := http.ParseTime(b2s(req.ims))
		return err == nil && lastModified <= t.Unix()
	}
	return false
}

// etagMatch reports whether the If-None-Match list matches etag.
func etagMatch(list, etag []byte) bool {
	if len(etag) == 0 {
		return false
	}
	want := weakless(etag)
	for len(list) > 0 {
		for len(list) > 0 && (list[0] == ' ' || list[0] == '\t' || list[0] == ',') {
			list = list[1:]
		}
		if len(list) == 0 {
			break
		}
		if list[0] == '*' {
			return true
		}
		i := 0
		if len(list) >= 2 && list[0] == 'W' && list[1] == '/' {
			i = 2
		}
		if i < len(list) && list[i] == '"' {
			j := i + 1
			for j < len(list) && list[j] != '"' {
				j++
			}
			if j < len(list) {
				j++
			}
			if string(list[i:j]) == string(want) {
				return true
			}
			list = list[j:]
			continue
		}
		// not an entity-tag: skip to the next comma
		for len(list) > 0 && list[0] != ',' {
			list = list[1:]
		}
	}
	return false
}

func weakless(etag []byte) []byte {
	if len(etag) >= 2 && etag[0] == 'W' && etag[1] == '/' {
		return etag[2:]
	}
	return etag
}
