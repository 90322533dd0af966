package fibercache

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"
)

// Forwarded headers: those that change what fiber's c.Protocol,
// c.Hostname and c.BaseURL report, and those apps and proxies trust to
// build URLs (a redirect's Location, an asset URL) or to route (a rewritten
// URL). The value of each one present is part of every key, so that a
// request cannot poison the page other requests read (unkeyed-header
// poisoning). All start with 'x' or 'f' (visitFixed relies on it).
var fwdHeaders = [...]string{
	"X-Forwarded-Host", "X-Forwarded-Proto", "X-Forwarded-Protocol", "X-Forwarded-Ssl", "X-Url-Scheme",
	"Forwarded", "X-Forwarded-Scheme", "X-Forwarded-Port", "X-Forwarded-Prefix", "X-Forwarded-Server",
	"X-Forwarded-Uri", "X-Host", "X-Original-Host", "X-Original-Url", "X-Rewrite-Url",
}

// methodOverrideHeaders are read by method-override middleware to turn a
// GET into another method. A GET that carries one bypasses the cache: its
// answer may be an unsafe method's, and keying on it would only store
// what no one else asks for.
var methodOverrideHeaders = [...]string{"X-Http-Method-Override", "X-Http-Method", "X-Method-Override"}

// Why a request is ambiguous: the cache cannot know which value the app
// reads, or the request has inputs the key cannot hold. It bypasses.
const (
	ambDuplicate = "duplicate-header"
	ambBody      = "body"
	ambOverride  = "method-override"
)

// request is what one pass over the request headers found. The slices
// alias the request; vary values are copied into scratch.
type request struct {
	host           []byte
	fwd            [len(fwdHeaders)][]byte
	fwdSeen        uint16 // bit i: fwd[i] was sent (maybe empty)
	cc             cacheControl
	pragmaNoCache  bool
	upgrade        bool
	authorization  bool   // Authorization, Proxy-Authorization or a Config.CredentialHeaders header present
	ambiguous      string // why the request must bypass (amb*), "" when it need not
	cookies        bool   // a Cookie header is present
	credentialed   bool   // credentials not accounted for by per-user caching
	user           []byte // the raw value while scanning
	userHash       [40]byte
	hasUser        bool
	userCookieSeen bool
	userHeaderSeen bool
	inm, ims       []byte

	// Vary values: the names come from the path's record; values found
	// are appended to scratch as (index, length, bytes).
	varyN     int
	vary      [maxVary][]byte
	varySeen  uint16 // bit i: a line of vary name i was seen
	varyLens  uint64 // bit n: a vary name is n bytes long (63: longer)
	ae        aeClass
	aeIndex   int // index of Accept-Encoding in vary, or -1
	cookieIdx int // index of Cookie in vary, or -1
	scratch   []byte

	depth int // fibercache instances the request went through before
	m     *middleware
}

// reset empties r for another scan, keeping its scratch buffer and depth.
// The arrays fwd, vary and userHash keep their old contents: they are read
// only under fwdSeen, varyN and hasUser, which reset clears (not clearing
// them saves the most of clearing r; TestRequestReset checks the rest).
func (r *request) reset() {
	r.host = nil
	r.fwdSeen = 0
	r.cc = cacheControl{}
	r.pragmaNoCache, r.upgrade, r.authorization, r.cookies, r.credentialed = false, false, false, false, false
	r.ambiguous = ""
	r.user, r.hasUser, r.userCookieSeen, r.userHeaderSeen = nil, false, false, false
	r.inm, r.ims = nil, nil
	r.varyN, r.varySeen, r.varyLens = 0, 0, 0
	r.ae = aeClass{}
	r.aeIndex, r.cookieIdx = 0, 0
	r.scratch = r.scratch[:0]
	r.m = nil
}

// scan reads the request headers once, into r as reset leaves it (see
// begin). rec may be nil (no record yet): the Vary values are then not
// collected.
func (r *request) scan(c *fiber.Ctx, m *middleware, rec *record) {
	r.begin(m, rec)
	h := &c.Request().Header
	if !r.scanList(h, m) {
		h.VisitAll(func(k, v []byte) { r.visit(k, v) })
		if r.cookies {
			h.VisitAllCookie(func(k, v []byte) { r.visitCookie(k, v) })
		}
	}
	if r.authorization {
		r.credentialed = !(m.userHeaderIsAuth && r.hasUser)
	}
	if cl := h.ContentLength(); cl > 0 || cl == -1 || len(c.Request().Body()) > 0 {
		// A body on a GET or HEAD (Content-Length or chunked):
		// c.FormValue and c.Body read it, the key cannot hold it.
		r.ambiguous = ambBody
	}
	if r.hasUser {
		sum := sha256.Sum256(r.user)
		hex.Encode(r.userHash[:], sum[:20])
		r.user = nil
	}
}

// begin readies r for a pass over the headers of a request for m under
// rec. r is as reset leaves it (zero but scratch and depth): every scan
// is of a request just reset or made, a pooled scratchState is reset when
// put back (putScratch), so begin sets only what is not zero before a pass
// (TestScanAfterReset).
func (r *request) begin(m *middleware, rec *record) {
	r.m = m
	r.cc = newCacheControl()
	r.aeIndex, r.cookieIdx = -1, -1
	if rec != nil {
		r.setVary(rec.vary)
		for i := 0; i < r.varyN; i++ {
			r.varyLens |= 1 << min(len(r.vary[i]), 63)
		}
	}
}

// visit reads one request header.
func (r *request) visit(k, v []byte) {
	r.visitFixed(k, v)
	m := r.m
	if m.userHeader != "" && len(k) == len(m.userHeader) && utils.EqualFold(b2s(k), m.userHeader) {
		if r.userHeaderSeen {
			r.ambiguous = ambDuplicate
		}
		r.userHeaderSeen = true
		if len(v) > 0 {
			r.user, r.hasUser = v, true
		}
	} else if m.credLens&(1<<min(len(k), 63)) != 0 && m.isCredentialHeader(k) {
		r.authorization = true
	}
	for i := 0; i < r.varyN; i++ {
		if !utils.EqualFoldBytes(k, r.vary[i]) {
			continue
		}
		if r.varySeen&(1<<i) != 0 {
			// Two lines: fiber's c.Get reads the first, others join them.
			r.ambiguous = ambDuplicate
		}
		r.varySeen |= 1 << i
		if i == r.aeIndex {
			r.ae.add(v)
			continue
		}
		r.scratch = append(r.scratch, byte(i))
		r.scratch = binary.AppendUvarint(r.scratch, uint64(len(v)))
		r.scratch = append(r.scratch, v...)
	}
}

// isName reports whether the request header name is canon: the literal
// fasthttp's normalized names match without a call (isName inlines, and
// canon is a constant), then ignoring case.
func isName(name, canon string) bool {
	return name == canon || utils.EqualFold(name, canon)
}

// visitFixed reads the headers every request is scanned for, told apart by
// length first so that most headers cost one comparison. Each name is
// compared as the literal fasthttp's normalized names match without a call,
// then ignoring case; none of them is a forwarded or override header (those
// start with 'x' or 'f'), so a match returns at once.
func (r *request) visitFixed(k, v []byte) {
	name := b2s(k)
	switch len(k) {
	case 4:
		if isName(name, "Host") {
			r.host = v
		}
		return
	case 6:
		if isName(name, "Cookie") {
			r.cookies = len(v) > 0
			return
		}
		if isName(name, "Pragma") {
			if containsFold(v, "no-cache") {
				r.pragmaNoCache = true
			}
			return
		}
	case 7:
		if isName(name, "Upgrade") {
			r.upgrade = true
			return
		}
	case 13:
		switch {
		case isName(name, "Cache-Control"):
			r.cc.parse(v)
			return
		case isName(name, "Authorization"):
			r.authorization = true
			return
		case isName(name, "If-None-Match"):
			r.inm = v
			return
		}
	case 17:
		if isName(name, "If-Modified-Since") {
			r.ims = v
			return
		}
	case 19:
		if isName(name, "Proxy-Authorization") {
			r.authorization = true
			return
		}
	}
	if len(k) < 6 || k[0]|0x20 != 'x' && k[0]|0x20 != 'f' {
		return
	}
	for i, f := range fwdHeaders {
		if len(f) == len(k) && utils.EqualFold(name, f) {
			if r.fwdSeen&(1<<i) != 0 {
				// fiber reads the first line (Peek), a proxy may read
				// the last: the key cannot hold "the" value.
				r.ambiguous = ambDuplicate
			}
			r.fwd[i], r.fwdSeen = v, r.fwdSeen|1<<i
			return
		}
	}
	for _, f := range methodOverrideHeaders {
		if len(f) == len(k) && utils.EqualFold(name, f) {
			r.ambiguous = ambOverride
		}
	}
}

func (r *request) visitCookie(k, v []byte) {
	m := r.m
	if m.userCookie != "" && string(k) == m.userCookie {
		if r.userCookieSeen {
			r.ambiguous = ambDuplicate // two cookies of that name
		}
		r.userCookieSeen = true
		if len(v) > 0 && !r.hasUser {
			r.user, r.hasUser = v, true
		}
		return
	}
	if !m.harmless(k) {
		r.credentialed = true
	}
}

// containsFold reports whether b contains the ASCII s, ignoring case.
func containsFold(b []byte, s string) bool {
	for i := 0; i+len(s) <= len(b); i++ {
		if utils.EqualFold(b2s(b[i:i+len(s)]), s) {
			return true
		}
	}
	return false
}
