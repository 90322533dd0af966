package fibercache

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"strconv"
	"strings"

	"github.com/cachekit/cachekit/internal/keys"
	"github.com/gofiber/fiber/v2"
)

// Keys. Every key fibercache writes through the core starts with "fc":
//
//	fcr:{<tag>}<path>   the path's record: a nonce and the learned Vary list (records.go)
//	fcf:{<tag>}<path>   the path's fence: rewritten by every InvalidatePath
//	fcp:{<tag>}<page>   a page (appendPageKey)
//
// <tag> is the path's hash tag (appendPathTag): a path's keys share it, so
// the core keeps them on one node of a sharded store and a page hit
// depends on one node, not two. A key that is too long or holds bytes a
// store may refuse (the part after the tag is not keys.Safe) keeps its
// "fc<kind>:{<tag>}" and has the rest replaced by its digest (keys.AppendDigest),
// so the core never has to digest (or allocate for) a key on the hit path.
const (
	maxPlainKey = 120 // leaves room for the core's prefix and version
	keyRecord   = 'r'
	keyFence    = 'f'
	keyPage     = 'p'
)

// appendPathKey appends the record (keyRecord) or fence (keyFence) key of
// path to dst. The path is normalised as routing sees it by default: ASCII
// lower case, no trailing slash, no query.
func appendPathKey(dst []byte, kind byte, path string) []byte {
	start := len(dst)
	dst = append(dst, 'f', 'c', kind, ':', '{', 0, 0, 0, 0, 0, 0, '}')
	path = normPath(path)
	from := len(dst)
	dst = append(dst, path...)
	// The path in lower case, the tag's hash of it (as
	// appendNormPathTag makes it), and whether it is keys.Safe.
	p := dst[from:]
	var h uint32
	var printable bool
	if len(p) < shortPath {
		h, printable = lowerHashShort(p)
	} else {
		lowerASCII(p)
		h = 2166136261 // FNV-1a
		for _, c := range p {
			h = (h ^ uint32(c)) * 16777619
		}
		printable = keys.Printable(p)
	}
	putPathTag(dst[from-pathTagLen:from], h)
	if len(dst)-start <= maxPlainKey && p[0] != keys.DigestMark && printable {
		return dst
	}
	return keys.AppendDigest(dst[:from], dst[from:])
}

// shortPath: a path shorter than this is lowered, hashed and checked in
// one pass over its bytes (lowerHashShort), a longer one a word at a time
// (lowerASCII, keys.Printable) beside the hash's pass.
const shortPath = 16

// lowerHashShort lowers the ASCII letters of p, and returns the FNV-1a
// hash of the result (as appendNormPathTag hashes it) and whether each of
// its bytes is one keys.Printable allows, in one pass.
func lowerHashShort(p []byte) (uint32, bool) {
	h := uint32(2166136261)
	bad := false
	for i, c := range p {
		if c-'A' <= 'Z'-'A' {
			c += 'a' - 'A'
			p[i] = c
		}
		bad = bad || c-'!' > '~'-'!' // not '!' to '~': a space, a control or a non-ASCII byte
		h = (h ^ uint32(c)) * 16777619
	}
	return h, !bad
}

// normPath is path as routing sees it by default, but for case: no query,
// no trailing slash.
func normPath(path string) string {
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	for len(path) > 1 && path[len(path)-1] == '/' {
		path = path[:len(path)-1]
	}
	if path == "" {
		path = "/"
	}
	return path
}

// appendPathTag appends the hash tag of path's keys: '{', six hex digits
// of a hash of the normalised path in lower case (normPath), '}'.
func appendPathTag(dst []byte, path string) []byte {
	return appendNormPathTag(dst, normPath(path))
}

// appendNormPathTag is appendPathTag for a path normPath returned.
func appendNormPathTag(dst []byte, path string) []byte {
	h := uint32(2166136261) // FNV-1a
	for i := 0; i < len(path); i++ {
		c := path[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		h = (h ^ uint32(c)) * 16777619
	}
	var t [pathTagLen]byte
	putPathTag(t[:], h)
	return append(dst, t[:]...)
}

// putPathTag writes the tag of hash h into t (pathTagLen bytes).
func putPathTag(t []byte, h uint32) {
	const hex = "0123456789abcdef"
	_ = t[pathTagLen-1]
	t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7] = '{', hex[h>>20&15], hex[h>>16&15], hex[h>>12&15], hex[h>>8&15], hex[h>>4&15], hex[h&15], '}'
}

// pathTagLen is the length of a path's hash tag ("{" six hex digits "}").
const pathTagLen = 8

// pathKeyTag returns the hash tag inside the record or fence key k made
// by appendPathKey (at the start of its buffer), nil when k is not one.
func pathKeyTag(k []byte) []byte {
	if len(k) < 4+pathTagLen || k[4] != '{' || k[4+pathTagLen-1] != '}' {
		return nil
	}
	return k[4 : 4+pathTagLen]
}

// fenceKey returns the fence key of path.
func fenceKey(path string) string { return string(appendPathKey(nil, keyFence, path)) }

// appendPageKey appends the key of the page the request asks for under rec
// to dst. This is the one description of a page key. It holds, after
// "fcp:", the middleware's KeyPrefix and the record's nonce (so that
// InvalidatePath, which replaces the nonce, drops every variant at once),
// then (every part of variable length prefixed with its length):
//
//   - the method class ('G': GET and HEAD share pages; HEAD is answered
//     from the GET page) and how many fibercache instances the request went
//     through before this one (a Page inside a site-wide New keys apart);
//   - the scheme ('s' over TLS, 'h' otherwise) and the host (lower case);
//   - the request target exactly as sent (c.OriginalURL: path and raw
//     query, so ?a=1&b=2 and ?b=2&a=1 are two pages), and the path and
//     query the handler sees when a middleware in front rewrote them;
//   - each forwarded header present (fwdHeaders, scan.go: those fiber's
//     c.BaseURL reads and those apps and proxies trust, such as Forwarded,
//     X-Forwarded-Prefix, X-Original-URL), as its index and value;
//   - the user (a digest of the cookie or header value) for per-user pages;
//   - the value of every header in the record's Vary list, Accept-Encoding
//     reduced to the class of codings accepted (vary.go).
//
// Cookie and Authorization values never appear in a key in clear: a key
// that varies on them is digested whole.
func (r *request) appendPageKey(dst []byte, c *fiber.Ctx, m *middleware, rec *record) []byte {
	return r.appendPageKeyTagged(dst, c, m, rec, nil)
}

// appendPageKeyTagged is appendPageKey with the path's hash tag given:
// pathKeyTag of the record key made from c.Path() for this request, with
// no handler run since (nil: computed here).
func (r *request) appendPageKeyTagged(dst []byte, c *fiber.Ctx, m *middleware, rec *record, tag []byte) []byte {
	start := len(dst)
	dst = append(dst, 'f', 'c', keyPage, ':')
	if len(tag) == pathTagLen {
		dst = append(dst, tag...)
	} else {
		dst = appendPathTag(dst, c.Path())
	}
	from := len(dst)
	// Whether the part after the tag is keys.Safe is checked as it is
	// built, over the parts that come from the request, the record and
	// the config only: the rest is printable by construction.
	dst = append(dst, m.keyHead...) // cfg.KeyPrefix "|"
	ns := len(dst)                  // from here to the end, checked at once
	dst = append(dst, rec.nonce...)
	scheme := byte('h')
	if c.Context().IsTLS() {
		scheme = 's'
	}
	dst = append(dst, '|', 'G', byte('0'+min(r.depth, 9)), scheme)
	dst = appendInt(dst, int64(len(r.host)))
	dst = append(dst, ':')
	hs := len(dst)
	dst = append(dst, r.host...)
	lowerASCII(dst[hs:]) // host is case-insensitive
	dst = appendTarget(dst, c)
	for seen := r.fwdSeen; seen != 0; seen &= seen - 1 {
		i := bits.TrailingZeros16(seen) // in index order, as fwdHeaders
		dst = append(dst, byte('A'+i))
		dst = appendLenField(dst, r.fwd[i])
	}
	if r.hasUser {
		dst = append(dst, 'u')
		dst = append(dst, r.userHash[:]...)
	}
	dst = append(dst, '|')
	dst = r.appendVaryValues(dst)
	if r.cookieIdx >= 0 || r.varyHasSecret() {
		return keys.AppendDigest(dst[:from], dst[from:])
	}
	// keys.Safe of dst[from:]: its start (the prefix) was checked once.
	if len(dst)-start <= maxPlainKey && m.prefixSafe && keys.Printable(dst[ns:]) {
		return dst
	}
	return keys.AppendDigest(dst[:from], dst[from:])
}

// lowerASCII lowers the ASCII letters of b, eight bytes at a time, the
// last bytes as the word that ends b (it overlaps the word before, whose
// letters, lowered, are lowered again: no change).
func lowerASCII(b []byte) {
	if len(b) < 8 {
		lowerBytes(b)
		return
	}
	i := 0
	for ; i+8 <= len(b); i += 8 {
		lowerWord(b[i : i+8 : i+8])
	}
	if i < len(b) {
		lowerWord(b[len(b)-8:])
	}
}

// lowerWord lowers the ASCII letters of the eight bytes w.
func lowerWord(w []byte) {
	x := binary.LittleEndian.Uint64(w)
	if x&0x8080808080808080 != 0 {
		lowerBytes(w) // a carry would cross a byte of 0x80 or more
		return
	}
	// The high bit of each byte that is >= 'A' and not >= 'Z'+1.
	if up := (x + 0x3f3f3f3f3f3f3f3f) &^ (x + 0x2525252525252525) & 0x8080808080808080; up != 0 {
		binary.LittleEndian.PutUint64(w, x|up>>2)
	}
}

func lowerBytes(b []byte) {
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
}

// appendTarget appends the request target exactly as sent (c.OriginalURL),
// and the path and query the handler sees when a middleware in front
// rewrote the path.
func appendTarget(dst []byte, c *fiber.Ctx) []byte {
	raw := c.Request().Header.RequestURI()
	dst = appendLenField(dst, raw)
	rawPath := raw
	if i := bytes.IndexByte(raw, '?'); i >= 0 {
		rawPath = raw[:i]
	}
	if po := c.Request().URI().PathOriginal(); string(po) != string(rawPath) {
		dst = append(dst, 'r')
		dst = appendLenField(dst, po)
		dst = appendLenField(dst, c.Request().URI().QueryString())
	}
	return dst
}

func appendLenField(dst, v []byte) []byte {
	dst = appendInt(dst, int64(len(v)))
	dst = append(dst, ':')
	return append(dst, v...)
}

// appendInt is strconv.AppendInt(dst, n, 10), its common small values
// (lengths, ages, TTLs: below 10^8) written two digits at a time from a
// table, those below 10^4 at once.
func appendInt(dst []byte, n int64) []byte {
	if n < 0 || n >= 1e8 {
		return strconv.AppendInt(dst, n, 10)
	}
	u := uint32(n)
	switch {
	case u < 10:
		return append(dst, byte('0'+u))
	case u < 100:
		d := digitPairs[u]
		return append(dst, byte(d), byte(d>>8))
	case u < 1000:
		d := digitPairs[u%100]
		return append(dst, byte('0'+u/100), byte(d), byte(d>>8))
	case u < 10000:
		return binary.LittleEndian.AppendUint32(dst, uint32(digitPairs[u/100])|uint32(digitPairs[u%100])<<16)
	}
	var b [8]byte
	i := len(b)
	for u >= 100 {
		q := u / 100
		i -= 2
		binary.LittleEndian.PutUint16(b[i:], digitPairs[u-100*q])
		u = q
	}
	if u >= 10 {
		i -= 2
		binary.LittleEndian.PutUint16(b[i:], digitPairs[u])
	} else {
		i--
		b[i] = byte('0' + u)
	}
	return append(dst, b[i:]...)
}

// digitPairs[n] is the two digits of n (below 100), the first in the low
// byte: as bytes in memory, "00" to "99".
var digitPairs = func() (t [100]uint16) {
	for n := range t {
		t[n] = uint16('0'+n/10) | uint16('0'+n%10)<<8
	}
	return t
}()
