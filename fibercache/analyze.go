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
)

// analysis is what the middleware decided about a rendered response.
type analysis struct {
	reason      string // why it is not stored; "" when it is
	upstreamErr bool   // a 500, 502, 503 or 504: stale-if-error applies
	status      int
	ttl         time.Duration
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
}

func (an *analysis) reasonOr(def string) string {
	if an.reason != "" {
		return an.reason
	}
	return def
}

func (an *analysis) policy() cachekit.Policy {
	var p cachekit.Policy
	an.apply(&p)
	return p
}

// apply sets the TTL, stale windows and tags the analysis found on p.
func (an *analysis) apply(p *cachekit.Policy) {
	p.TTL = an.ttl
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
)

func classify(k []byte) int {
	switch {
	case equalFold(k, "Set-Cookie"):
		return hdrSetCookie
	case equalFold(k, "Cache-Control"):
		return hdrCacheControl
	case equalFold(k, "Pragma"):
		return hdrPragma
	case equalFold(k, "Vary"):
		return hdrVary
	case equalFold(k, "Surrogate-Key"):
		return hdrSurrogateKey
	case equalFold(k, "Expires"):
		return hdrExpires
	case equalFold(k, "Date"):
		return hdrDate
	case equalFold(k, "ETag"):
		return hdrETagClass
	case equalFold(k, "Last-Modified"):
		return hdrLastModifiedClass
	case equalFold(k, "Content-Encoding"):
		return hdrContentEncoding
	case equalFold(k, "Connection"):
		return hdrConnection
	case equalFold(k, "Content-Type"):
		return hdrContentType
	}
	for _, s := range skipHeaders {
		if equalFold(k, s) {
			return hdrSkip
		}
	}
	return hdrOther
}

// skipHeaders are never stored nor replayed: they belong to one response
// or one connection, or are the cache's own.
var skipHeaders = [...]string{
	"Content-Length", "Transfer-Encoding", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate",
	"Proxy-Authorization", "TE", "Trailer", "Trailers", "Upgrade", "Server", "Age", "X-Cache",
	"Cache-Status", "Surrogate-Control",
}

// analyze decides whether the response the chain produced may be stored,
// for how long, under which Vary list and tags, and encodes it.
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
	if resp.IsBodyStream() {
		an.reason = "stream"
		return an
	}
	if !m.storable(an.status) {
		an.reason = "status"
		return an
	}

	// Collect the headers, copied: the response may change after this.
	type kv struct {
		k, v  []byte
		class int
	}
	var all []kv
	resp.Header.VisitAll(func(k, v []byte) {
		all = append(all, kv{append([]byte(nil), k...), append([]byte(nil), v...), classify(k)})
	})
	cc := newCacheControl()
	var (
		setCookie, pragmaNoCache, varyStar, badVary bool
		names                                       []string
		expires, date                               []byte
		hop                                         []string
		encoded                                     bool
	)
	for _, h := range all {
		switch h.class {
		case hdrSetCookie:
			setCookie = true
		case hdrCacheControl:
			cc.parse(h.v)
			an.hasCC = true
		case hdrPragma:
			pragmaNoCache = pragmaNoCache || containsFold(h.v, "no-cache")
		case hdrVary:
			for _, n := range strings.Split(string(h.v), ",") {
				n = strings.TrimSpace(n)
				switch {
				case n == "":
				case n == "*":
					varyStar = true
				case !isToken(n):
					badVary = true
				default:
					names = append(names, canonicalHeader(n))
				}
			}
		case hdrSurrogateKey:
			an.tags = append(an.tags, strings.Fields(string(h.v))...)
		case hdrExpires:
			expires = h.v
		case hdrDate:
			date = h.v
		case hdrETagClass:
			an.etag = h.v
		case hdrLastModifiedClass:
			an.lastModText = h.v
		case hdrContentEncoding:
			if len(h.v) > 0 && !equalFoldASCII(h.v, "identity") {
				encoded = true
			}
		case hdrConnection:
			for _, n := range strings.Split(string(h.v), ",") {
				if n = strings.TrimSpace(n); n != "" {
					hop = append(hop, n)
				}
			}
		}
	}
	if ts, _ := c.Context().UserValue(tagsKey{}).(*[]string); ts != nil {
		an.tags = append(an.tags, (*ts)...)
	}
	an.tags = slices.DeleteFunc(an.tags, func(t string) bool { return t == "" })
	an.public = cc.public

	switch {
	case setCookie:
		an.reason = "set-cookie"
	case cc.noStore:
		an.reason = "no-store"
	case cc.private:
		an.reason = "private"
	case cc.noCache || (pragmaNoCache && !cc.any):
		an.reason = "no-cache"
	case varyStar || badVary:
		an.reason = "vary-star"
	case req.credentialed && !cc.public:
		an.reason = "credentials"
	}
	if an.reason != "" {
		return an
	}

	// Freshness: the route's TTL wins; else s-maxage, max-age, Expires.
	now := time.Now()
	switch {
	case cc.sMaxAge == 0, cc.sMaxAge < 0 && cc.maxAge == 0:
		an.reason = "max-age-0"
	case m.routeTTL:
		an.ttl = m.cfg.TTL
	case cc.sMaxAge > 0:
		an.ttl = time.Duration(cc.sMaxAge) * time.Second
	case cc.maxAge > 0:
		an.ttl = time.Duration(cc.maxAge) * time.Second
	case expires != nil:
		exp, err := http.ParseTime(string(expires))
		base := now
		if d, derr := http.ParseTime(string(date)); date != nil && derr == nil {
			base = d
		}
		if err != nil || !exp.After(base) {
			an.reason = "expired"
		} else {
			an.ttl = exp.Sub(base)
		}
	default:
		an.ttl = m.cfg.TTL
	}
	if an.reason != "" {
		return an
	}
	an.swr, an.sie = m.cfg.StaleWhileRevalidate, m.cfg.StaleIfError
	if an.swr == 0 && cc.staleWhileRev > 0 {
		an.swr = time.Duration(cc.staleWhileRev) * time.Second
	}
	if an.sie == 0 && cc.staleIf > 0 {
		an.sie = time.Duration(cc.staleIf) * time.Second
	}
	if cc.mustRevalidate || cc.proxyRevalidate {
		an.swr, an.sie = 0, 0
	}

	body := resp.Body()
	if len(body) > m.cfg.MaxBodySize {
		an.reason = "too-large"
		return an
	}

	// The Vary list: what the record already keys on, plus what this
	// response varies on (Accept-Encoding when it is encoded, whatever it
	// says: a compressed body must never reach a client that cannot read it).
	if encoded {
		names = append(names, "Accept-Encoding")
	}
	have := string(rec.vary)
	if have != "" {
		names = append(names, strings.Split(have, ",")...)
	}
	slices.Sort(names)
	names = slices.Compact(names)
	if len(names) > maxVary {
		an.reason = "vary-too-many"
		return an
	}
	an.vary = []byte(strings.Join(names, ","))
	an.varyChanged = string(an.vary) != have

	// Validators.
	if len(an.etag) == 0 {
		sum := sha256.Sum256(body)
		an.etag = make([]byte, 0, 26)
		an.etag = append(an.etag, '"')
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

	// The headers to replay: those the chain after this middleware set,
	// less per-response ones. Headers set before (a request ID) are
	// the hit's own.
	used := make([]bool, len(snap.pairs))
	var hdrs []header
	for _, h := range all {
		switch h.class {
		case hdrOther, hdrCacheControl, hdrPragma, hdrVary, hdrExpires, hdrContentEncoding:
		default:
			continue
		}
		if slices.ContainsFunc(hop, func(n string) bool { return equalFold(h.k, n) }) {
			continue
		}
		if snap.has(h.k, h.v, used) {
			continue
		}
		hdrs = append(hdrs, header{name: h.k, value: h.v})
	}
	hdrs = append(hdrs, header{name: hdrLastModified, value: an.lastModText})
	e := entry{
		flags:        an.flags(),
		status:       an.status,
		lastModified: an.lastModified,
		ttl:          uint32(min(an.ttl/time.Second, 1<<32-1)),
		vary:         an.vary,
		ctype:        resp.Header.ContentType(),
		etag:         an.etag,
		body:         body,
	}
	if an.etagMade || an.lmMade {
		e.flags |= flagGenerate
	}
	size := entryFixed + len(e.vary) + len(e.ctype) + len(e.etag) + len(body) + 16
	for _, h := range hdrs {
		size += len(h.name) + len(h.value) + 4
	}
	an.value = appendEntry(make([]byte, 0, size), &e, hdrs)
	return an
}

// canonicalHeader writes a header name the way fasthttp normalises it.
func canonicalHeader(n string) string {
	b := []byte(n)
	upper := true
	for i, c := range b {
		switch {
		case upper && c >= 'a' && c <= 'z':
			b[i] = c - ('a' - 'A')
		case !upper && c >= 'A' && c <= 'Z':
			b[i] = c + ('a' - 'A')
		}
		upper = c == '-'
	}
	return string(b)
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
		if equalFold(p.name, "Content-Length") {
			continue
		}
		resp.Header.AddBytesKV(p.name, p.value)
	}
}
