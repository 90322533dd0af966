package fibercache

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"strconv"
	"sync"
	"unsafe"

	"github.com/gofiber/fiber/v2"
)

// Keys. Every key fibercache writes through the core starts with "fc":
//
//	fcr:<path>   the path's record: a nonce and the learned Vary list
//	fcf:<path>   the path's fence: rewritten by every InvalidatePath
//	fcp:...      a page (see appendPageKey)
//
// A key that is too long or holds bytes a store may refuse is replaced by
// its SHA-256 ("fcR:", "fcF:", "fcP:" + hex), so the core never has to
// digest (or allocate for) a key on the hit path.
const (
	maxPlainKey = 120 // leaves room for the core's prefix and version
	maxVary     = 8   // a response that varies on more headers is not stored
	nonceLen    = 16
)

// pathKey appends the record ("fcr"/"fcR") or fence ("fcf"/"fcF") key of
// path to dst. The path is normalised as routing sees it by default: ASCII
// lower case, no trailing slash, no query.
func appendPathKey(dst []byte, kind byte, path string) []byte {
	start := len(dst)
	dst = append(dst, 'f', 'c', kind, ':')
	for i := 0; i < len(path); i++ {
		if path[i] == '?' {
			path = path[:i]
			break
		}
	}
	for len(path) > 1 && path[len(path)-1] == '/' {
		path = path[:len(path)-1]
	}
	if path == "" {
		path = "/"
	}
	for i := 0; i < len(path); i++ {
		c := path[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return digestIfNeeded(dst, start, kind-('a'-'A'))
}

// digestIfNeeded replaces dst[start:] with "fc<upper>:" and the hex SHA-256
// of it when it is too long or not printable ASCII.
func digestIfNeeded(dst []byte, start int, upper byte) []byte {
	k := dst[start:]
	if len(k) <= maxPlainKey && printable(k) {
		return dst
	}
	sum := sha256.Sum256(k)
	dst = append(dst[:start], 'f', 'c', upper, ':')
	return hex.AppendEncode(dst, sum[:20])
}

func printable(b []byte) bool {
	for _, c := range b {
		if c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

// record is a path's record: a nonce that InvalidatePath replaces, and the
// Vary list learned from the path's responses.
type record struct {
	nonce []byte // nonceLen printable bytes
	vary  []byte // canonical header names, sorted, comma separated
}

const recordMagic = 'R'

func encodeRecord(nonce, vary []byte) []byte {
	b := make([]byte, 0, 2+len(nonce)+len(vary))
	b = append(b, recordMagic, '1')
	b = append(b, nonce...)
	return append(b, vary...)
}

func decodeRecord(b []byte) (record, bool) {
	if len(b) < 2+nonceLen || b[0] != recordMagic || b[1] != '1' {
		return record{}, false
	}
	return record{nonce: b[2 : 2+nonceLen], vary: b[2+nonceLen:]}, true
}

func (r record) equal(o record) bool {
	return string(r.nonce) == string(o.nonce) && string(r.vary) == string(o.vary)
}

// newNonce returns a fresh random nonce.
func newNonce() []byte {
	var raw [12]byte
	_, _ = rand.Read(raw[:])
	b := make([]byte, nonceLen)
	base64.RawURLEncoding.Encode(b, raw[:])
	return b
}

// varyNames splits a record's Vary list into dst; ok is false when it
// holds more than maxVary names.
func varyNames(list []byte, dst *[maxVary][]byte) (n int, ok bool) {
	for len(list) > 0 {
		i := 0
		for i < len(list) && list[i] != ',' {
			i++
		}
		if n == maxVary {
			return n, false
		}
		dst[n] = list[:i]
		n++
		if i < len(list) {
			i++
		}
		list = list[i:]
	}
	return n, true
}

// Forwarded headers that change what fiber's c.Protocol, c.Hostname and
// c.BaseURL report: their values are part of every key, so that a request
// cannot poison the entry other requests read (unkeyed-header poisoning).
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

// scratchState is pooled per request: the key buffer and the request pass.
type scratchState struct {
	key []byte
	rk  []byte
	req request
}

var scratchPool = sync.Pool{New: func() any {
	return &scratchState{key: make([]byte, 0, 256), rk: make([]byte, 0, 128)}
}}

func getScratch() *scratchState { return scratchPool.Get().(*scratchState) }

func putScratch(s *scratchState) {
	if cap(s.key) > 4096 || cap(s.req.scratch) > 4096 || cap(s.rk) > 4096 {
		return
	}
	scratch := s.req.scratch[:0]
	s.req = request{scratch: scratch}
	s.key = s.key[:0]
	s.rk = s.rk[:0]
	scratchPool.Put(s)
}

// scan reads the request headers once. rec may be nil (no record yet): the
// Vary values are then not collected.
func (r *request) scan(c *fiber.Ctx, m *middleware, rec *record) {
	r.m = m
	r.credentialed, r.hasUser, r.cookies, r.authorization = false, false, false, false
	r.cc = newCacheControl()
	r.aeIndex, r.cookieIdx = -1, -1
	r.varyN = 0
	if rec != nil {
		n, _ := varyNames(rec.vary, &r.vary)
		r.varyN = n
		for i := 0; i < n; i++ {
			switch {
			case equalFold(r.vary[i], "Accept-Encoding"):
				r.aeIndex = i
			case equalFold(r.vary[i], "Cookie"):
				r.cookieIdx = i
			}
		}
	}
	h := &c.Request().Header
	h.VisitAll(func(k, v []byte) { r.visit(k, v) })
	if r.cookies {
		h.VisitAllCookie(func(k, v []byte) { r.visitCookie(k, v) })
	}
	if r.authorization {
		r.credentialed = true
		if m.userHeaderIsAuth && r.hasUser {
			r.credentialed = false
		}
	}
	if r.hasUser {
		sum := sha256.Sum256(r.user)
		hex.Encode(r.userHash[:], sum[:20])
		r.user = nil
	}
}

func (r *request) visit(k, v []byte) {
	switch len(k) {
	case 4:
		if equalFold(k, "Host") {
			r.host = v
		}
	case 6:
		if equalFold(k, "Cookie") {
			r.cookies = len(v) > 0
		} else if equalFold(k, "Pragma") {
			if containsFold(v, "no-cache") {
				r.pragmaNoCache = true
			}
		}
	case 7:
		if equalFold(k, "Upgrade") {
			r.upgrade = true
		}
	case 12:
		if equalFold(k, "X-Url-Scheme") {
			r.fwd[4] = v
		}
	case 13:
		switch {
		case equalFold(k, "Authorization"):
			r.authorization = true
		case equalFold(k, "Cache-Control"):
			r.cc.parse(v)
		case equalFold(k, "If-None-Match"):
			r.inm = v
		}
	case 15:
		if equalFold(k, "X-Forwarded-Ssl") {
			r.fwd[3] = v
		}
	case 16:
		if equalFold(k, "X-Forwarded-Host") {
			r.fwd[0] = v
		}
	case 17:
		if equalFold(k, "X-Forwarded-Proto") {
			r.fwd[1] = v
		} else if equalFold(k, "If-Modified-Since") {
			r.ims = v
		}
	case 19:
		if equalFold(k, "Proxy-Authorization") {
			r.authorization = true
		}
	case 20:
		if equalFold(k, "X-Forwarded-Protocol") {
			r.fwd[2] = v
		}
	}
	m := r.m
	if m.userHeader != "" && equalFold(k, m.userHeader) && len(v) > 0 {
		r.user, r.hasUser = v, true
	}
	for i := 0; i < r.varyN; i++ {
		if !equalFoldBytes(k, r.vary[i]) {
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

// varyValueLen is the length appendVaryValue appends for vary name i.
func (r *request) varyValueLen(i int) int {
	if i == r.aeIndex {
		var b [8]byte
		return len(r.ae.appendClass(b[:0]))
	}
	n, first := 0, true
	s := r.scratch
	for len(s) > 0 {
		idx := int(s[0])
		l, w := binary.Uvarint(s[1:])
		s = s[1+w+int(l):]
		if idx != i {
			continue
		}
		if !first {
			n++
		}
		first = false
		n += int(l)
	}
	return n
}

// appendVaryValue appends the collected value(s) of vary name i to dst.
func (r *request) appendVaryValue(dst []byte, i int) []byte {
	if i == r.aeIndex {
		return r.ae.appendClass(dst)
	}
	s := r.scratch
	first := true
	for len(s) > 0 {
		idx := int(s[0])
		n, w := binary.Uvarint(s[1:])
		v := s[1+w : 1+w+int(n)]
		s = s[1+w+int(n):]
		if idx != i {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, v...)
	}
	return dst
}

// appendPageKey appends the key of the page the request asks for under rec
// to dst. The key holds, each length-prefixed: the method class (GET and
// HEAD share), the scheme, the host (lower case), the request URI exactly
// as sent (path and raw query: ?a=1&b=2 and ?b=2&a=1 are two entries), the
// forwarded headers, the user (per-user caching) and the value of every
// header in the record's Vary list.
func (r *request) appendPageKey(dst []byte, c *fiber.Ctx, m *middleware, rec *record) []byte {
	start := len(dst)
	dst = append(dst, "fcp:"...)
	dst = append(dst, m.cfg.KeyPrefix...)
	dst = append(dst, '|')
	dst = append(dst, rec.nonce...)
	dst = append(dst, '|', 'G', byte('0'+min(r.depth, 9)))
	if c.Context().IsTLS() {
		dst = append(dst, 's')
	} else {
		dst = append(dst, 'h')
	}
	hs := len(dst)
	dst = appendLenField(dst, r.host)
	for i := hs; i < len(dst); i++ { // host is case-insensitive
		if b := dst[i]; b >= 'A' && b <= 'Z' {
			dst[i] = b + 'a' - 'A'
		}
	}
	// The request target exactly as sent (c.OriginalURL), and the path
	// the handler sees when a middleware in front rewrote it.
	raw := c.Request().Header.RequestURI()
	dst = appendLenField(dst, raw)
	rawPath := raw
	for i, b := range raw {
		if b == '?' {
			rawPath = raw[:i]
			break
		}
	}
	if po := c.Request().URI().PathOriginal(); string(po) != string(rawPath) {
		dst = append(dst, 'r')
		dst = appendLenField(dst, po)
		dst = appendLenField(dst, c.Request().URI().QueryString())
	}
	for _, v := range r.fwd {
		if v == nil {
			dst = append(dst, '-')
			continue
		}
		dst = appendLenField(dst, v)
	}
	if r.hasUser {
		dst = append(dst, 'u')
		dst = append(dst, r.userHash[:]...)
	}
	dst = append(dst, '|')
	for i := 0; i < r.varyN; i++ {
		dst = strconv.AppendInt(dst, int64(r.varyValueLen(i)), 10)
		dst = append(dst, ':')
		dst = r.appendVaryValue(dst, i)
	}
	// Cookie and Authorization values never appear in a key in clear.
	if r.cookieIdx >= 0 || r.varyHasSecret() {
		sum := sha256.Sum256(dst[start:])
		dst = append(dst[:start], "fcP:"...)
		return hex.AppendEncode(dst, sum[:20])
	}
	return digestIfNeeded(dst, start, 'P')
}

func (r *request) varyHasSecret() bool {
	for i := 0; i < r.varyN; i++ {
		if equalFold(r.vary[i], "Authorization") || equalFold(r.vary[i], "Proxy-Authorization") {
			return true
		}
	}
	return false
}

func appendLenField(dst, v []byte) []byte {
	dst = strconv.AppendInt(dst, int64(len(v)), 10)
	dst = append(dst, ':')
	return append(dst, v...)
}

// containsFold reports whether b contains the lower-case ASCII s,
// ignoring case.
func containsFold(b []byte, s string) bool {
	for i := 0; i+len(s) <= len(b); i++ {
		if equalFoldASCII(b[i:i+len(s)], s) {
			return true
		}
	}
	return false
}

// aeClass is the normalised Accept-Encoding of a request: which of br,
// gzip, deflate and zstd it accepts (RFC 9110 §12.5.3: q=0 refuses, "*"
// stands for the codings not named). Two requests of one class accept the
// same codings, so one stored body suits both; a handful of classes exist
// in practice.
type aeClass struct {
	accept, refuse uint8 // bits: coding named with q>0 / with q=0
	star, starSeen bool
}

const (
	aeBr = 1 << iota
	aeGzip
	aeDeflate
	aeZstd
)

func (a *aeClass) add(v []byte) {
	for len(v) > 0 {
		i := 0
		for i < len(v) && v[i] != ',' {
			i++
		}
		a.element(v[:i])
		if i < len(v) {
			i++
		}
		v = v[i:]
	}
}

func (a *aeClass) element(el []byte) {
	// coding [ ; q=value ]
	i := 0
	for i < len(el) && (el[i] == ' ' || el[i] == '\t') {
		i++
	}
	s := i
	for i < len(el) && el[i] != ';' && el[i] != ' ' && el[i] != '\t' {
		i++
	}
	coding := el[s:i]
	zero := false
	for i < len(el) {
		if el[i] == ';' {
			j := i + 1
			for j < len(el) && (el[j] == ' ' || el[j] == '\t') {
				j++
			}
			if j+1 < len(el) && (el[j] == 'q' || el[j] == 'Q') && el[j+1] == '=' {
				zero = qIsZero(el[j+2:])
			}
		}
		i++
	}
	var bit uint8
	switch {
	case equalFoldASCII(coding, "br"):
		bit = aeBr
	case equalFoldASCII(coding, "gzip"), equalFoldASCII(coding, "x-gzip"):
		bit = aeGzip
	case equalFoldASCII(coding, "deflate"):
		bit = aeDeflate
	case equalFoldASCII(coding, "zstd"):
		bit = aeZstd
	case len(coding) == 1 && coding[0] == '*':
		a.starSeen = true
		a.star = !zero
		return
	default:
		return
	}
	if zero {
		a.refuse |= bit
	} else {
		a.accept |= bit
	}
}

// qIsZero reports whether a qvalue is 0 (0, 0., 0.0, 0.00, 0.000).
func qIsZero(q []byte) bool {
	i := 0
	for i < len(q) && q[i] == ' ' {
		i++
	}
	q = q[i:]
	if len(q) == 0 || q[0] != '0' {
		return false
	}
	for _, c := range q[1:] {
		switch c {
		case '.', '0':
		case ' ', '\t', ';', ',':
			return true
		default:
			return false
		}
	}
	return true
}

// accepted returns the codings the class accepts.
func (a *aeClass) accepted() uint8 {
	acc := a.accept &^ a.refuse
	if a.star {
		acc |= ^(a.accept | a.refuse) & (aeBr | aeGzip | aeDeflate | aeZstd)
	}
	return acc
}

func (a *aeClass) appendClass(dst []byte) []byte {
	acc := a.accepted()
	dst = append(dst, 'e')
	for i, l := range [...]byte{'b', 'g', 'd', 'z'} {
		if acc&(1<<i) != 0 {
			dst = append(dst, l)
		}
	}
	return dst
}

// b2s views b as a string without copying; b must not change while the
// string is used.
func b2s(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
