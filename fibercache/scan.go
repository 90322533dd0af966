package fibercache

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"
)

// Forwarded headers that change what fiber's c.Protocol, c.Hostname and
// c.BaseURL report: their values are part of every key, so that a request
// cannot poison the page other requests read (unkeyed-header poisoning).
var fwdHeaders = [...]string{"X-Forwarded-Host", "X-Forwarded-Proto", "X-Forwarded-Protocol", "X-Forwarded-Ssl", "X-Url-Scheme"}

// request is what one pass over the request headers found. The slices
// alias the request; vary values are copied into scratch.
type request struct {
	host          []byte
	fwd           [len(fwdHeaders)][]byte
	cc            cacheControl
	pragmaNoCache bool
	upgrade       bool
	authorization bool   // Authorization or Proxy-Authorization present
	cookies       bool   // a Cookie header is present
	credentialed  bool   // credentials not accounted for by per-user caching
	user          []byte // the raw value while scanning
	userHash      [40]byte
	hasUser       bool
	inm, ims      []byte

	// Vary values: the names come from the path's record; values found
	// are appended to scratch as (index, length, bytes).
	varyN     int
	vary      [maxVary][]byte
	ae        aeClass
	aeIndex   int // index of Accept-Encoding in vary, or -1
	cookieIdx int // index of Cookie in vary, or -1
	scratch   []byte

	depth int // fibercache instances the request went through before
	m     *middleware
}

// reset empties r for another scan, keeping its scratch buffer and depth.
func (r *request) reset() {
	*r = request{scratch: r.scratch[:0], depth: r.depth}
}

// scan reads the request headers once. rec may be nil (no record yet): the
// Vary values are then not collected.
func (r *request) scan(c *fiber.Ctx, m *middleware, rec *record) {
	r.m = m
	r.credentialed, r.hasUser, r.cookies, r.authorization = false, false, false, false
	r.cc = newCacheControl()
	r.varyN, r.aeIndex, r.cookieIdx = 0, -1, -1
	if rec != nil {
		r.setVary(rec.vary)
	}
	h := &c.Request().Header
	h.VisitAll(func(k, v []byte) { r.visit(k, v) })
	if r.cookies {
		h.VisitAllCookie(func(k, v []byte) { r.visitCookie(k, v) })
	}
	if r.authorization {
		r.credentialed = !(m.userHeaderIsAuth && r.hasUser)
	}
	if r.hasUser {
		sum := sha256.Sum256(r.user)
		hex.Encode(r.userHash[:], sum[:20])
		r.user = nil
	}
}

// visit reads one request header.
func (r *request) visit(k, v []byte) {
	r.visitFixed(k, v)
	m := r.m
	if m.userHeader != "" && len(v) > 0 && utils.EqualFold(b2s(k), m.userHeader) {
		r.user, r.hasUser = v, true
	}
	for i := 0; i < r.varyN; i++ {
		if !utils.EqualFoldBytes(k, r.vary[i]) {
			continue
		}
		if i == r.aeIndex {
			r.ae.add(v)
			continue
		}
		r.scratch = append(r.scratch, byte(i))
		r.scratch = binary.AppendUvarint(r.scratch, uint64(len(v)))
		r.scratch = append(r.scratch, v...)
	}
}

// visitFixed reads the headers every request is scanned for, told apart by
// length first so that most headers cost one comparison.
func (r *request) visitFixed(k, v []byte) {
	name := b2s(k)
	switch len(k) {
	case 4:
		if utils.EqualFold(name, "Host") {
			r.host = v
		}
	case 6:
		if utils.EqualFold(name, "Cookie") {
			r.cookies = len(v) > 0
		} else if utils.EqualFold(name, "Pragma") && containsFold(v, "no-cache") {
			r.pragmaNoCache = true
		}
	case 7:
		r.upgrade = r.upgrade || utils.EqualFold(name, "Upgrade")
	case 13:
		switch {
		case utils.EqualFold(name, "Authorization"):
			r.authorization = true
		case utils.EqualFold(name, "Cache-Control"):
			r.cc.parse(v)
		case utils.EqualFold(name, "If-None-Match"):
			r.inm = v
		}
	case 17:
		if utils.EqualFold(name, "If-Modified-Since") {
			r.ims = v
		}
	case 19:
		r.authorization = r.authorization || utils.EqualFold(name, "Proxy-Authorization")
	}
	for i, f := range fwdHeaders {
		if len(f) == len(k) && utils.EqualFold(name, f) {
			r.fwd[i] = v
		}
	}
}

func (r *request) visitCookie(k, v []byte) {
	m := r.m
	if m.userCookie != "" && string(k) == m.userCookie {
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
