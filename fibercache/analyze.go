package fibercache

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"
	"github.com/valyala/fasthttp"
)

// analysis is what the middleware decided about a rendered response.
type analysis struct {
	reason      string // why it is not stored; "" when it is
	upstreamErr bool   // a 500, 502, 503 or 504: stale-if-error applies
	status      int
	ttl         time.Duration // how long it stays fresh from now
	age         time.Duration // how old it already is (its Age, its Date)
	swr, sie    time.Duration
	public      bool
	hasCC       bool
	perUser     bool
	vary        []byte // the Vary list the key must hold
	varyChanged bool   // vary differs from the record's
	tags        []string
	value       []byte // the stored form (when reason is "")

	etag         []byte // the page's ETag
	etagMade     bool   // made here: add it to the response
	lastModified int64
	lastModText  []byte
	lmMade       bool

	// revalidate: kept for keep past ttl, to be revalidated (revalidate.go)
	revalidate bool
	keep       time.Duration
}

func (an *analysis) reasonOr(def string) string {
	if an.reason != "" {
		return an.reason
	}
	return def
}

// life is how long the page stays in the store: its TTL and the longer
// stale window.
func (an *analysis) life() time.Duration { return an.ttl + an.keep + max(an.swr, an.sie) }

func (an *analysis) policy() cachekit.Policy {
	var p cachekit.Policy
	an.apply(&p)
	return p
}

// apply sets the TTL, stale windows and tags the analysis found on p.
func (an *analysis) apply(p *cachekit.Policy) {
	p.TTL = an.ttl + an.keep // the page itself knows when it is stale (page.ttl)
	p.StaleWhileRevalidate = an.swr
	p.StaleIfError = an.sie
	p.Tags = append(p.Tags, an.tags...)
}

func (an *analysis) flags() byte {
	var f byte
	if an.public {
		f |= flagPublic
	}
	if an.hasCC {
		f |= flagHasCC
	}
	if an.perUser {
		f |= flagPerUser
	}
	if !an.etagMade {
		f |= flagOwnETag
	}
	if !an.lmMade {
		f |= flagOwnLM
	}
	if an.revalidate {
		f |= flagRevalidate
	}
	return f
}

// decorate adds to the rendered response the validators made at store
// time, so that the client that caused the render can revalidate too.
func (an *analysis) decorate(c *fiber.Ctx) {
	h := &c.Response().Header
	if an.etagMade {
		h.SetCanonical(hdrETag, an.etag)
	}
	if an.lmMade {
		h.SetCanonical(hdrLastModified, an.lastModText)
	}
}

// Response header classes.
const (
	hdrOther = iota
	hdrSkip  // never stored: per-response, hop-by-hop, ours
	hdrSetCookie
	hdrCacheControl
	hdrPragma
	hdrVary
	hdrSurrogateKey
	hdrExpires
	hdrDate
	hdrETagClass
	hdrLastModifiedClass
	hdrContentEncoding
	hdrConnection
	hdrContentType
	hdrAgeClass
	hdrSurrogateControl
	hdrCDNCacheControl
)

func classify(k []byte) int {
	name := b2s(k)
	switch {
	case utils.EqualFold(name, "Set-Cookie"):
		return hdrSetCookie
	case utils.EqualFold(name, "Cache-Control"):
		return hdrCacheControl
	case utils.EqualFold(name, "Pragma"):
		return hdrPragma
	case utils.EqualFold(name, "Vary"):
		return hdrVary
	case utils.EqualFold(name, "Surrogate-Key"):
		return hdrSurrogateKey
	case utils.EqualFold(name, "Expires"):
		return hdrExpires
	case utils.EqualFold(name, "Date"):
		return hdrDate
	case utils.EqualFold(name, "ETag"):
		return hdrETagClass
	case utils.EqualFold(name, "Last-Modified"):
		return hdrLastModifiedClass
	case utils.EqualFold(name, "Content-Encoding"):
		return hdrContentEncoding
	case utils.EqualFold(name, "Connection"):
		return hdrConnection
	case utils.EqualFold(name, "Content-Type"):
		return hdrContentType
	case utils.EqualFold(name, "Age"):
		return hdrAgeClass
	case utils.EqualFold(name, "Surrogate-Control"):
		return hdrSurrogateControl
	case utils.EqualFold(name, "CDN-Cache-Control"):
		return hdrCDNCacheControl
	}
	for _, s := range skipHeaders {
		if utils.EqualFold(name, s) {
			return hdrSkip
		}
	}
	return hdrOther
}

// skipHeaders are never stored nor replayed: they belong to one response
// or one connection, or are the cache's own.
var skipHeaders = [...]string{
	"Content-Length", "Transfer-Encoding", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate",
	"Proxy-Authorization", "TE", "Trailer", "Trailers", "Upgrade", "Server", "X-Cache",
	"Cache-Status",
}

// analyze decides whether the response the chain produced may be stored,
// for how long, under which Vary list and tags, and encodes it. Each step
// is a function of its own below.
func (m *middleware) analyze(c *fiber.Ctx, snap *snapshot, rec *record, req *request) analysis {
	var an analysis
	resp := c.Response()
	an.status = resp.StatusCode()
	an.perUser = req.hasUser
	if m.innerHandled(c) {
		an.reason = "inner"
		return an
	}
	switch an.status {
	case 500, 502, 503, 504:
		an.upstreamErr = true
	}
	switch {
	case resp.IsBodyStream():
		an.reason = "stream"
	case !m.storable(an.status):
		an.reason = "status"
	}
	if an.reason != "" {
		return an
	}

	if meth := c.Method(); meth != fiber.MethodGet && meth != fiber.MethodHead {
		// A middleware after this one changed the method the app routed
		// on: this is an unsafe method's answer.
		an.reason = "method"
		return an
	}

	// Collect the headers, copied: the response may change after this.
	rh := collectHeaders(&resp.Header, snap)
	an.hasCC, an.public = rh.hasCC, rh.cc.public
	an.etag, an.lastModText = rh.etag, rh.lastModText
	if ts, _ := c.Context().UserValue(tagsKey{}).(*[]string); ts != nil {
		rh.tags = append(rh.tags, (*ts)...)
	}
	an.tags = slices.DeleteFunc(rh.tags, func(t string) bool { return t == "" })

	if m.cfg.Strict {
		rh.applyTargeted()
		an.public = rh.cc.public
	}
	if an.reason = refusal(&rh, req.credentialed); an.reason != "" {
		return an
	}
	now := time.Now()
	if an.ttl, an.age, an.reason = m.freshness(&rh, now); an.reason != "" {
		return an
	}
	an.swr, an.sie = m.staleWindows(&rh.cc)
	body := resp.Body()
	if len(body) > m.cfg.MaxBodySize {
		an.reason = "too-large"
		return an
	}
	if an.vary, an.varyChanged, an.reason = varyList(&rh, rec.vary); an.reason != "" {
		return an
	}
	an.validators(body, resp.Header.Peek(fiber.HeaderContentEncoding), now)
	if m.cfg.Strict && !m.routeTTL && (!an.etagMade || !an.lmMade) && an.swr == 0 && an.sie == 0 {
		// Kept stale for as long again as it was fresh (1 minute to a
		// day), for a conditional request to the handler to refresh.
		an.revalidate, an.keep = true, min(max(an.ttl, time.Minute), 24*time.Hour)
	}
	hdrs := replayHeaders(&rh, snap, m.cfg.SurrogateHeaders)
	hdrs = append(hdrs, header{name: hdrDateB, value: stampDate(c, &rh, now)}) // date.go
	an.value = an.encode(hdrs, resp.Header.ContentType(), body)
	return an
}

// responseHeader is one response header, copied, with its class.
type responseHeader struct {
	k, v  []byte
	class int
	front bool // set by middleware in front of this one, before it ran
}

// responseHeaders is what collectHeaders found in a response.
type responseHeaders struct {
	all                              []responseHeader
	cc                               cacheControl
	hasCC                            bool // the handler set Cache-Control
	setCookie, pragmaNoCache         bool
	varyStar, badVary                bool     // Vary: *, or a Vary name that is not a token
	names                            []string // the canonical Vary names
	expires, date, etag, lastModText []byte
	nExpires                         int    // Expires lines: more than one is invalid
	age                              []byte // the first Age line
	hasAge                           bool
	hop                              []string     // the names Connection lists
	encoded                          bool         // a Content-Encoding other than identity
	tags                             []string     // from Surrogate-Key
	front                            cacheControl // what Cache-Control set in front forbids
	targeted                         []byte       // the first CDN-Cache-Control line the chain set
	hasTargeted                      bool
}

// collectHeaders copies the response headers and reads those the analysis
// needs. Only the chain after this middleware decides that a response
// may be stored and for how long: a header that was already in snap (set
// in front, before this middleware ran) can only forbid (Set-Cookie,
// no-store, private, no-cache, Vary), never allow (public) nor set a
// freshness (max-age, s-maxage, Expires). A front policy that marks
// *.css public must not store a logged-in user's /account/x.css (web
// cache deception).
func collectHeaders(h *fasthttp.ResponseHeader, snap *snapshot) responseHeaders {
	rh := responseHeaders{cc: newCacheControl()}
	var used []bool
	if snap != nil {
		used = make([]bool, len(snap.pairs))
	}
	h.VisitAll(func(k, v []byte) {
		front := snap != nil && snap.has(k, v, used)
		rh.all = append(rh.all, responseHeader{append([]byte(nil), k...), append([]byte(nil), v...), classify(k), front})
	})
	for _, h := range rh.all {
		if h.front {
			rh.readFront(h)
		} else {
			rh.read(h)
		}
	}
	if snap != nil {
		rh.discountFront(snap, used)
	}
	return rh
}

// discountFront withholds credit from what a Cache-Control set in front
// lent to the chain's: a handler that merges into it (CacheControl(c,
// "max-age=60") after a front "public") makes a new line, but the public
// and the lifetimes it kept are still the front's, and never allow
// storing (DESIGN rule 2). A directive the front line had, with the same
// value, does not count; one the handler changed does.
func (rh *responseHeaders) discountFront(snap *snapshot, used []bool) {
	front := newCacheControl()
	replaced := false
	for i, p := range snap.pairs {
		if !used[i] && classify(p.name) == hdrCacheControl {
			front.parse(p.value)
			replaced = true
		}
	}
	if !replaced {
		return
	}
	cc := &rh.cc
	if front.public {
		cc.public = false
	}
	for _, d := range [...]struct{ got, front *int64 }{
		{&cc.maxAge, &front.maxAge}, {&cc.sMaxAge, &front.sMaxAge},
		{&cc.staleWhileRev, &front.staleWhileRev}, {&cc.staleIf, &front.staleIf},
	} {
		if *d.front >= 0 && *d.got == *d.front {
			*d.got = -1
		}
	}
}

// readFront takes in one header set in front of the middleware: only what
// forbids storing counts.
func (rh *responseHeaders) readFront(h responseHeader) {
	switch h.class {
	case hdrSetCookie, hdrPragma, hdrVary:
		rh.read(h)
	case hdrCacheControl:
		cc := newCacheControl()
		cc.parse(h.v)
		rh.cc.noStore = rh.cc.noStore || cc.noStore
		rh.cc.private = rh.cc.private || cc.private
		rh.cc.noCache = rh.cc.noCache || cc.noCache
		rh.front.noStore = rh.front.noStore || cc.noStore
		rh.front.private = rh.front.private || cc.private
		rh.front.noCache = rh.front.noCache || cc.noCache
	}
}

// read takes in one collected header.
func (rh *responseHeaders) read(h responseHeader) {
	switch h.class {
	case hdrSetCookie:
		rh.setCookie = true
	case hdrCacheControl:
		rh.cc.parse(h.v)
		rh.hasCC = true
	case hdrPragma:
		rh.pragmaNoCache = rh.pragmaNoCache || containsFold(h.v, "no-cache")
	case hdrVary:
		rh.readVary(h.v)
	case hdrSurrogateKey:
		rh.tags = append(rh.tags, strings.Fields(string(h.v))...)
	case hdrExpires:
		rh.expires = h.v
		rh.nExpires++
	case hdrAgeClass:
		if !rh.hasAge {
			rh.age, rh.hasAge = h.v, true
		}
	case hdrCDNCacheControl:
		if !rh.hasTargeted {
			rh.targeted, rh.hasTargeted = h.v, true
		}
	case hdrDate:
		rh.date = h.v
	case hdrETagClass:
		rh.etag = h.v
	case hdrLastModifiedClass:
		rh.lastModText = h.v
	case hdrContentEncoding:
		rh.encoded = rh.encoded || len(h.v) > 0 && !utils.EqualFold(b2s(h.v), "identity")
	case hdrConnection:
		for _, n := range strings.Split(string(h.v), ",") {
			if n = strings.TrimSpace(n); n != "" {
				rh.hop = append(rh.hop, n)
			}
		}
	}
}

func (rh *responseHeaders) readVary(v []byte) {
	for _, n := range strings.Split(string(v), ",") {
		n = strings.TrimSpace(n)
		switch {
		case n == "":
		case n == "*":
			rh.varyStar = true
		case !isToken(n):
			rh.badVary = true
		default:
			rh.names = append(rh.names, canonicalHeader(n))
		}
	}
}

// refusal returns why a response with headers rh may not be stored for a
// request that carried credentials (credentialed) or not; "" when it may.
func refusal(rh *responseHeaders, credentialed bool) string {
	cc := &rh.cc
	switch {
	case rh.setCookie:
		return "set-cookie"
	case cc.noStore:
		return "no-store"
	case cc.private:
		return "private"
	case cc.noCache || (rh.pragmaNoCache && !cc.any):
		return "no-cache"
	case rh.varyStar || rh.badVary:
		return "vary-star"
	case credentialed && !cc.public:
		return "credentials"
	}
	return ""
}

// staleWindows returns the stale-while-revalidate and stale-if-error
// windows: the configured ones, else the response's; none when it says
// must-revalidate or proxy-revalidate.
func (m *middleware) staleWindows(cc *cacheControl) (swr, sie time.Duration) {
	if cc.mustRevalidate || cc.proxyRevalidate {
		return 0, 0
	}
	swr, sie = m.cfg.StaleWhileRevalidate, m.cfg.StaleIfError
	if swr == 0 && cc.staleWhileRev > 0 {
		swr = time.Duration(cc.staleWhileRev) * time.Second
	}
	if sie == 0 && cc.staleIf > 0 {
		sie = time.Duration(cc.staleIf) * time.Second
	}
	return swr, sie
}

// varyList returns the Vary list the page's key must hold: what the
// record already keys on (have), plus what this response varies on
// (Accept-Encoding when it is encoded, whatever it says: a compressed body
// must never reach a client that cannot read it). changed says it differs
// from have.
func varyList(rh *responseHeaders, have []byte) (vary []byte, changed bool, reason string) {
	names := slices.Clone(rh.names)
	if rh.encoded {
		names = append(names, "Accept-Encoding")
	}
	vary, ok := mergeVary(have, names)
	if !ok {
		return nil, false, "vary-too-many"
	}
	return vary, string(vary) != string(have), ""
}

// validators makes the ETag and Last-Modified (now) the handler did not
// set. The ETag is made from the body and its Content-Encoding, and weak:
// a strong ETag names one representation, byte for byte, and a compress
// middleware outside the cache serves the page's body gzip'd to some
// clients and as it is to others, under the ETag it finds. A weak one
// still answers If-None-Match (weak comparison).
func (an *analysis) validators(body, encoding []byte, now time.Time) {
	if len(an.etag) == 0 {
		h := sha256.New()
		h.Write(encoding)
		h.Write([]byte{0})
		h.Write(body)
		var sum [sha256.Size]byte
		h.Sum(sum[:0])
		an.etag = make([]byte, 0, 28)
		an.etag = append(an.etag, 'W', '/', '"')
		an.etag = base64.RawURLEncoding.AppendEncode(an.etag, sum[:18])
		an.etag = append(an.etag, '"')
		an.etagMade = true
	}
	if lm, err := http.ParseTime(string(an.lastModText)); len(an.lastModText) > 0 && err == nil {
		an.lastModified = lm.Unix()
	} else {
		an.lastModText = now.UTC().AppendFormat(nil, http.TimeFormat)
		an.lastModified = now.Unix()
		an.lmMade = true
	}
}

// replayHeaders returns the headers a hit replays: those the chain after
// this middleware set, less per-response ones. Headers set before (a
// request ID) are the hit's own. surrogate keeps Surrogate-Key and
// Surrogate-Control (Config.SurrogateHeaders).
func replayHeaders(rh *responseHeaders, snap *snapshot, surrogate bool) []header {
	used := make([]bool, len(snap.pairs))
	var hdrs []header
	for _, h := range rh.all {
		switch h.class {
		case hdrOther, hdrCacheControl, hdrPragma, hdrVary, hdrExpires, hdrContentEncoding, hdrCDNCacheControl:
		case hdrSurrogateKey, hdrSurrogateControl:
			if !surrogate {
				continue
			}
		default:
			continue
		}
		if slices.ContainsFunc(rh.hop, func(n string) bool { return utils.EqualFold(b2s(h.k), n) }) {
			continue
		}
		if snap.has(h.k, h.v, used) {
			continue
		}
		hdrs = append(hdrs, header{name: h.k, value: h.v})
	}
	return hdrs
}

// encode returns the stored form of the page: the analysis, the replayed
// headers hdrs (Last-Modified added), the content type and the body.
func (an *analysis) encode(hdrs []header, ctype, body []byte) []byte {
	hdrs = append(hdrs, header{name: hdrLastModified, value: an.lastModText})
	pg := page{
		flags:        an.flags(),
		status:       an.status,
		lastModified: an.lastModified,
		ttl:          uint32(min(an.ttl/time.Second, 1<<32-1)),
		age:          uint32(min(an.age/time.Second, 1<<32-1)),
		vary:         an.vary,
		ctype:        ctype,
		etag:         an.etag,
		body:         body,
	}
	if an.etagMade || an.lmMade {
		pg.flags |= flagGenerate
	}
	size := pageFixed + len(pg.vary) + len(pg.ctype) + len(pg.etag) + len(body) + 16
	for _, h := range hdrs {
		size += len(h.name) + len(h.value) + 4
	}
	return appendPage(make([]byte, 0, size), &pg, hdrs)
}

// snapshot is the response headers as they stood before the chain after
// this middleware ran: headers set earlier (by middleware in front) are
// not part of the page.
type snapshot struct {
	pairs []header
}

func (s *snapshot) take(c *fiber.Ctx) {
	s.pairs = s.pairs[:0]
	c.Response().Header.VisitAll(func(k, v []byte) {
		s.pairs = append(s.pairs, header{append([]byte(nil), k...), append([]byte(nil), v...)})
	})
}

// has reports whether k: v was in the snapshot and not matched before.
func (s *snapshot) has(k, v []byte, used []bool) bool {
	for i, p := range s.pairs {
		if !used[i] && string(p.name) == string(k) && string(p.value) == string(v) {
			used[i] = true
			return true
		}
	}
	return false
}

// restore puts the response back as it was before the chain ran.
func (s *snapshot) restore(c *fiber.Ctx) {
	resp := c.Response()
	resp.Reset()
	for _, p := range s.pairs {
		if utils.EqualFold(b2s(p.name), "Content-Length") {
			continue
		}
		resp.Header.AddBytesKV(p.name, p.value)
	}
}
